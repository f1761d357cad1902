//! Tables declared in SQL over data that lives elsewhere (Kafka topics),
//! kept in a [`DefinitionStore`] that every gateway replica shares.
//!
//! A definition is stored as the `CREATE EXTERNAL TABLE` statement that made
//! it. Each gateway keeps the definitions it has read in memory, reads them
//! again on [`DefinedTables::reload`] (a background job calls it) and when a
//! query names a table it does not know yet, so a table declared through one
//! replica is found by the next query on any other.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, FieldRef, Schema};
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::common::config::ConfigOptions;
use datafusion::common::TableReference;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::planner::{ContextProvider, TypePlanner};
use datafusion::logical_expr::{AggregateUDF, HigherOrderUDF, ScalarUDF, TableSource, WindowUDF};
use datafusion::sql::parser::{CreateExternalTable, DFParserBuilder, Statement as DFStatement};
use datafusion::sql::planner::SqlToRel;
use datafusion::sql::sqlparser::ast::{Ident, ObjectName, Value};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use smackql_providers_common::{ErrorClass, ProviderError};

use crate::types::SqlTypes;
use crate::CATALOG_NAME;

/// How soon after reading the store a lookup of an unknown table reads it
/// again. Bounds the reads that a query naming a missing table causes.
const MISS_RELOAD_AFTER: Duration = Duration::from_millis(500);

/// One stored definition: the statement that declared a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    /// The schema the table is in.
    pub schema: String,
    /// The table's name.
    pub name: String,
    /// The `CREATE EXTERNAL TABLE` statement.
    pub sql: String,
}

/// Where definitions are kept: a store every gateway replica reads.
#[async_trait]
pub trait DefinitionStore: Debug + Send + Sync {
    /// Every definition, as of now.
    async fn list(&self) -> Result<Vec<Definition>>;

    /// Stores `definition` unless a table of that schema and name is stored
    /// already, atomically across replicas. Returns whether it was stored.
    async fn insert(&self, definition: &Definition) -> Result<bool>;

    /// Removes the definition of `schema.name`; returns whether there was one.
    async fn remove(&self, schema: &str, name: &str) -> Result<bool>;
}

/// Builds the tables of one `STORED AS` kind from their definitions.
#[async_trait]
pub trait ExternalTableFactory: Debug + Send + Sync {
    /// The table `definition` declares. Fails on options, columns or a
    /// location the kind cannot use, with a message naming the culprit.
    async fn create(&self, definition: &ExternalTable) -> Result<Arc<dyn TableProvider>>;

    /// Called once when `definition` is declared, after [`Self::create`]
    /// accepted it and before it is stored: makes what the definition asks
    /// for (a topic) and checks that what it reads exists.
    async fn declare(&self, _definition: &ExternalTable) -> Result<()> {
        Ok(())
    }
}

/// A parsed `CREATE EXTERNAL TABLE`.
#[derive(Debug, Clone)]
pub struct ExternalTable {
    /// The schema.
    pub schema: String,
    /// The table's name.
    pub name: String,
    /// What stores the data (`STORED AS`), upper case: `KAFKA`.
    pub stored_as: String,
    /// `LOCATION`: for Kafka, the topic.
    pub location: String,
    /// The declared columns.
    pub columns: Vec<FieldRef>,
    /// `OPTIONS`, with names in lower case.
    pub options: BTreeMap<String, String>,
    /// `IF NOT EXISTS`.
    pub if_not_exists: bool,
    /// The statement, as stored.
    pub sql: String,
}

fn invalid(message: impl Into<String>) -> DataFusionError {
    ProviderError::new(ErrorClass::InvalidDefinition, "catalog", message.into()).into()
}

fn unsupported(message: impl Into<String>) -> DataFusionError {
    ProviderError::new(ErrorClass::Unsupported, "catalog", message.into()).into()
}

/// An identifier as SQL resolves it: folded to lower case unless quoted.
pub fn normalize(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

/// `schema.table` (or `smackql.schema.table`) of `name`.
pub fn schema_and_table(name: &ObjectName) -> Option<(String, String)> {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|p| p.as_ident().map(normalize))
        .collect::<Option<_>>()?;
    match parts.as_slice() {
        [schema, table] => Some((schema.clone(), table.clone())),
        [catalog, schema, table] if catalog == CATALOG_NAME => {
            Some((schema.clone(), table.clone()))
        }
        _ => None,
    }
}

/// The `CREATE EXTERNAL TABLE` statements of `sql`, or `None` when `sql`
/// has other statements or does not parse as DataFusion SQL.
pub fn parse_external_tables(sql: &str) -> Option<Vec<CreateExternalTable>> {
    let statements = DFParserBuilder::new(sql)
        .with_dialect(&PostgreSqlDialect {})
        .build()
        .ok()?
        .parse_statements()
        .ok()?;
    statements
        .into_iter()
        .map(|s| match s {
            DFStatement::CreateExternalTable(create) => Some(create),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()
        .filter(|s| !s.is_empty())
}

impl ExternalTable {
    /// Checks and converts a parsed statement. Clauses that mean nothing
    /// for a table over a stream of messages are refused by name.
    pub fn from_statement(create: &CreateExternalTable) -> Result<Self> {
        let Some((schema, name)) = schema_and_table(&create.name) else {
            return Err(invalid(format!(
                "name the schema of external table {}, as in kafka.{}",
                create.name,
                create
                    .name
                    .0
                    .last()
                    .map(|p| p.to_string())
                    .unwrap_or_default()
            )));
        };
        let refuse =
            |clause: &str| unsupported(format!("{clause} is not supported for {schema}.{name}"));
        if create.or_replace {
            return Err(refuse("OR REPLACE"));
        }
        if create.temporary {
            return Err(refuse("TEMPORARY"));
        }
        if create.unbounded {
            return Err(refuse("UNBOUNDED"));
        }
        if !create.table_partition_cols.is_empty() {
            return Err(refuse("PARTITIONED BY"));
        }
        if !create.order_exprs.is_empty() {
            return Err(refuse("WITH ORDER"));
        }
        if !create.constraints.is_empty()
            || create.columns.iter().any(|c| {
                c.options.iter().any(|o| {
                    !matches!(
                        o.option,
                        datafusion::sql::sqlparser::ast::ColumnOption::Null
                            | datafusion::sql::sqlparser::ast::ColumnOption::NotNull
                    )
                })
            })
        {
            return Err(refuse("a column constraint or default"));
        }
        let location = match create.locations.as_slice() {
            [one] if !one.is_empty() => one.clone(),
            _ => return Err(invalid(format!("{schema}.{name} needs one LOCATION"))),
        };
        let context = TypesOnly::default();
        let planner = SqlToRel::new(&context);
        let columns: Schema = planner.build_schema(create.columns.clone())?;
        let mut seen = BTreeSet::new();
        for field in columns.fields() {
            if !seen.insert(field.name().clone()) {
                return Err(invalid(format!(
                    "column {} of {schema}.{name} is declared twice",
                    field.name()
                )));
            }
        }
        let mut options = BTreeMap::new();
        for (key, value) in &create.options {
            let value = match value {
                Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
                Value::Number(n, _) => n.to_string(),
                Value::Boolean(b) => b.to_string(),
                other => {
                    return Err(invalid(format!(
                        "option '{key}' of {schema}.{name} takes a string, not {other}"
                    )))
                }
            };
            if options.insert(key.to_lowercase(), value).is_some() {
                return Err(invalid(format!(
                    "option '{key}' of {schema}.{name} is given twice"
                )));
            }
        }
        Ok(Self {
            schema,
            name,
            stored_as: create.file_type.to_uppercase(),
            location,
            columns: columns.fields().iter().cloned().collect(),
            options,
            if_not_exists: create.if_not_exists,
            sql: definition_sql(create),
        })
    }

    /// Parses a stored definition.
    pub fn parse(sql: &str) -> Result<Self> {
        match parse_external_tables(sql).as_deref() {
            Some([one]) => Self::from_statement(one),
            _ => Err(invalid(format!(
                "not one CREATE EXTERNAL TABLE statement: {sql}"
            ))),
        }
    }
}

/// The statement as stored: what declares the table, without `IF NOT
/// EXISTS`. (DataFusion's own rendering leaves out columns and options.)
fn definition_sql(create: &CreateExternalTable) -> String {
    let columns: Vec<String> = create.columns.iter().map(|c| c.to_string()).collect();
    let mut sql = format!(
        "CREATE EXTERNAL TABLE {} ({}) STORED AS {} LOCATION {}",
        create.name,
        columns.join(", "),
        create.file_type,
        Value::SingleQuotedString(create.locations.join(","))
    );
    if !create.options.is_empty() {
        let options: Vec<String> = create
            .options
            .iter()
            .map(|(k, v)| format!("{} {v}", Value::SingleQuotedString(k.clone())))
            .collect();
        sql.push_str(&format!(" OPTIONS ({})", options.join(", ")));
    }
    sql
}

/// Just enough of a planning context to convert column types.
#[derive(Debug, Default)]
struct TypesOnly {
    options: ConfigOptions,
}

impl ContextProvider for TypesOnly {
    fn get_table_source(&self, name: TableReference) -> Result<Arc<dyn TableSource>> {
        Err(DataFusionError::Plan(format!("table '{name}' not found")))
    }
    fn get_type_planner(&self) -> Option<Arc<dyn TypePlanner>> {
        Some(Arc::new(SqlTypes))
    }
    fn get_function_meta(&self, _: &str) -> Option<Arc<ScalarUDF>> {
        None
    }
    fn get_higher_order_meta(&self, _: &str) -> Option<Arc<HigherOrderUDF>> {
        None
    }
    fn get_aggregate_meta(&self, _: &str) -> Option<Arc<AggregateUDF>> {
        None
    }
    fn get_window_meta(&self, _: &str) -> Option<Arc<WindowUDF>> {
        None
    }
    fn get_variable_type(&self, _: &[String]) -> Option<DataType> {
        None
    }
    fn options(&self) -> &ConfigOptions {
        &self.options
    }
    fn udf_names(&self) -> Vec<String> {
        Vec::new()
    }
    fn higher_order_function_names(&self) -> Vec<String> {
        Vec::new()
    }
    fn udaf_names(&self) -> Vec<String> {
        Vec::new()
    }
    fn udwf_names(&self) -> Vec<String> {
        Vec::new()
    }
}

/// A known definition and, once a query needed it, its table.
#[derive(Debug)]
struct Entry {
    /// The definition, or why it cannot be used (kept, so that a query
    /// naming the table gets the reason rather than "not found").
    table: std::result::Result<Arc<ExternalTable>, String>,
    sql: String,
    provider: Option<Arc<dyn TableProvider>>,
}

#[derive(Debug, Default)]
struct Known {
    tables: BTreeMap<(String, String), Entry>,
    loaded: Option<Instant>,
    /// Changes made through this gateway, and when: a reload that read the
    /// store before one of them must not undo it.
    changed: BTreeMap<(String, String), Instant>,
}

/// The declared tables, as schemas of the catalog.
#[derive(Debug)]
pub struct DefinedTables {
    store: Arc<dyn DefinitionStore>,
    factories: BTreeMap<String, Arc<dyn ExternalTableFactory>>,
    /// Schemas that exist even with no table in them.
    schemas: Vec<String>,
    known: RwLock<Known>,
}

impl DefinedTables {
    /// Definitions kept in `store`, built by the factory of their
    /// `STORED AS` kind (keys in upper case). `schemas` exist even when
    /// empty.
    pub fn new(
        store: Arc<dyn DefinitionStore>,
        factories: BTreeMap<String, Arc<dyn ExternalTableFactory>>,
        schemas: Vec<String>,
    ) -> Self {
        Self {
            store,
            factories,
            schemas,
            known: RwLock::new(Known::default()),
        }
    }

    /// Whether `schema` holds declared tables (or may).
    pub fn has_schema(&self, schema: &str) -> bool {
        self.schemas.iter().any(|s| s == schema)
            || self
                .known
                .read()
                .map(|k| k.tables.keys().any(|(s, _)| s == schema))
                .unwrap_or(false)
    }

    /// Whether `schema.name` is a declared table, as last read.
    pub fn has_table(&self, schema: &str, name: &str) -> bool {
        self.known
            .read()
            .map(|k| {
                k.tables
                    .contains_key(&(schema.to_string(), name.to_string()))
            })
            .unwrap_or(false)
    }

    /// Reads every definition from the store again. Tables whose
    /// definition did not change keep their provider.
    pub async fn reload(&self) -> Result<()> {
        let started = Instant::now();
        let stored = self.store.list().await?;
        let mut known = self
            .known
            .write()
            .map_err(|_| DataFusionError::Internal("the catalog's lock is poisoned".into()))?;
        let mut previous = std::mem::take(&mut known.tables);
        // What changed here since the read began stays as it is now.
        let recent: BTreeSet<(String, String)> = known
            .changed
            .iter()
            .filter(|(_, at)| **at >= started)
            .map(|(key, _)| key.clone())
            .collect();
        known.changed.retain(|_, at| *at >= started);
        for key in &recent {
            if let Some(entry) = previous.remove(key) {
                known.tables.insert(key.clone(), entry);
            }
        }
        for definition in stored {
            let key = (definition.schema.clone(), definition.name.clone());
            if recent.contains(&key) {
                continue;
            }
            let entry = match previous.remove(&key) {
                Some(entry) if entry.sql == definition.sql => entry,
                _ => Entry {
                    table: ExternalTable::parse(&definition.sql)
                        .map(Arc::new)
                        .map_err(|e| e.to_string()),
                    sql: definition.sql,
                    provider: None,
                },
            };
            known.tables.insert(key, entry);
        }
        known.loaded = Some(Instant::now());
        Ok(())
    }

    /// Declares `table`: checks it by building it, then stores it. Returns
    /// whether it was created (`false`: it existed and `IF NOT EXISTS` was
    /// given).
    pub async fn create(&self, table: ExternalTable) -> Result<bool> {
        let factory = self.factory(&table.stored_as)?;
        let provider = factory.create(&table).await?;
        factory.declare(&table).await?;
        let definition = Definition {
            schema: table.schema.clone(),
            name: table.name.clone(),
            sql: table.sql.clone(),
        };
        if !self.store.insert(&definition).await? {
            if table.if_not_exists {
                return Ok(false);
            }
            return Err(ProviderError::new(
                ErrorClass::AlreadyExists,
                "catalog",
                format!("relation {}.{} already exists", table.schema, table.name),
            )
            .into());
        }
        if let Ok(mut known) = self.known.write() {
            known
                .changed
                .insert((table.schema.clone(), table.name.clone()), Instant::now());
            known.tables.insert(
                (table.schema.clone(), table.name.clone()),
                Entry {
                    sql: table.sql.clone(),
                    table: Ok(Arc::new(table)),
                    provider: Some(provider),
                },
            );
        }
        Ok(true)
    }

    /// Forgets the definition of `schema.name`; the data it reads stays.
    /// Returns whether there was one.
    pub async fn drop_table(&self, schema: &str, name: &str) -> Result<bool> {
        let removed = self.store.remove(schema, name).await?;
        if let Ok(mut known) = self.known.write() {
            let key = (schema.to_string(), name.to_string());
            known.tables.remove(&key);
            known.changed.insert(key, Instant::now());
        }
        Ok(removed)
    }

    fn factory(&self, kind: &str) -> Result<&Arc<dyn ExternalTableFactory>> {
        self.factories.get(&kind.to_uppercase()).ok_or_else(|| {
            unsupported(format!(
                "STORED AS {kind} is not supported here; use one of: {}",
                self.factories
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
    }

    fn table_names(&self, schema: &str) -> Vec<String> {
        self.known
            .read()
            .map(|k| {
                // Listings skip definitions that cannot be used; a query
                // naming one is told why.
                k.tables
                    .iter()
                    .filter(|((s, _), entry)| s == schema && entry.table.is_ok())
                    .map(|((_, n), _)| n.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// What the last read knows of `schema.name`.
    fn lookup(&self, schema: &str, name: &str) -> Option<Lookup> {
        let known = self.known.read().ok()?;
        let entry = known.tables.get(&(schema.to_string(), name.to_string()))?;
        Some(match (&entry.provider, &entry.table) {
            (Some(provider), _) => Lookup::Built(provider.clone()),
            (None, Ok(table)) => Lookup::Declared(table.clone()),
            (None, Err(reason)) => Lookup::Broken(reason.clone()),
        })
    }

    fn read_recently(&self) -> bool {
        self.known
            .read()
            .ok()
            .and_then(|k| k.loaded)
            .is_some_and(|at| at.elapsed() < MISS_RELOAD_AFTER)
    }

    /// The table `schema.name`, built on first use.
    async fn table(&self, schema: &str, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let mut found = self.lookup(schema, name);
        if found.is_none() && !self.read_recently() {
            self.reload().await?;
            found = self.lookup(schema, name);
        }
        let table = match found {
            None => return Ok(None),
            Some(Lookup::Built(provider)) => return Ok(Some(provider)),
            Some(Lookup::Broken(reason)) => {
                return Err(invalid(format!(
                    "the stored definition of {schema}.{name} cannot be used: {reason}"
                )))
            }
            Some(Lookup::Declared(table)) => table,
        };
        let provider = self.factory(&table.stored_as)?.create(&table).await?;
        if let Ok(mut known) = self.known.write() {
            if let Some(entry) = known
                .tables
                .get_mut(&(schema.to_string(), name.to_string()))
                .filter(|e| e.sql == table.sql)
            {
                entry.provider = Some(provider.clone());
            }
        }
        Ok(Some(provider))
    }

    /// The schemas to list.
    pub fn schema_names(&self) -> Vec<String> {
        let mut names: BTreeSet<String> = self.schemas.iter().cloned().collect();
        if let Ok(known) = self.known.read() {
            names.extend(known.tables.keys().map(|(s, _)| s.clone()));
        }
        names.into_iter().collect()
    }

    /// `schema` as a schema of the catalog, when it holds declared tables.
    pub fn schema(self: &Arc<Self>, schema: &str) -> Option<Arc<dyn SchemaProvider>> {
        self.has_schema(schema).then(|| {
            Arc::new(DefinedSchema {
                tables: self.clone(),
                schema: schema.to_string(),
            }) as Arc<dyn SchemaProvider>
        })
    }
}

enum Lookup {
    Built(Arc<dyn TableProvider>),
    Declared(Arc<ExternalTable>),
    Broken(String),
}

/// One schema of declared tables.
#[derive(Debug)]
struct DefinedSchema {
    tables: Arc<DefinedTables>,
    schema: String,
}

#[async_trait]
impl SchemaProvider for DefinedSchema {
    fn table_names(&self) -> Vec<String> {
        self.tables.table_names(&self.schema)
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        self.tables.table(&self.schema, name).await
    }

    fn table_exist(&self, name: &str) -> bool {
        self.tables.has_table(&self.schema, name)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use datafusion::datasource::empty::EmptyTable;

    use super::*;

    #[derive(Debug, Default)]
    struct MemoryStore(Mutex<BTreeMap<(String, String), String>>);

    #[async_trait]
    impl DefinitionStore for MemoryStore {
        async fn list(&self) -> Result<Vec<Definition>> {
            Ok(self
                .0
                .lock()
                .unwrap()
                .iter()
                .map(|((schema, name), sql)| Definition {
                    schema: schema.clone(),
                    name: name.clone(),
                    sql: sql.clone(),
                })
                .collect())
        }
        async fn insert(&self, d: &Definition) -> Result<bool> {
            let mut map = self.0.lock().unwrap();
            let key = (d.schema.clone(), d.name.clone());
            if map.contains_key(&key) {
                return Ok(false);
            }
            map.insert(key, d.sql.clone());
            Ok(true)
        }
        async fn remove(&self, schema: &str, name: &str) -> Result<bool> {
            Ok(self
                .0
                .lock()
                .unwrap()
                .remove(&(schema.to_string(), name.to_string()))
                .is_some())
        }
    }

    #[derive(Debug)]
    struct Empty;

    #[async_trait]
    impl ExternalTableFactory for Empty {
        async fn create(&self, table: &ExternalTable) -> Result<Arc<dyn TableProvider>> {
            if table.options.contains_key("bad") {
                return Err(invalid("unknown option 'bad'"));
            }
            Ok(Arc::new(EmptyTable::new(Arc::new(Schema::new(
                table.columns.clone(),
            )))))
        }
    }

    fn tables(store: Arc<MemoryStore>) -> Arc<DefinedTables> {
        let factories: BTreeMap<String, Arc<dyn ExternalTableFactory>> =
            [("KAFKA".to_string(), Arc::new(Empty) as _)].into();
        Arc::new(DefinedTables::new(store, factories, vec!["kafka".into()]))
    }

    fn table(sql: &str) -> ExternalTable {
        ExternalTable::parse(sql).unwrap()
    }

    #[test]
    fn parses_columns_location_and_options() {
        let t = table(
            "CREATE EXTERNAL TABLE Kafka.\"Ad_Events\" (id bigint NOT NULL, user_id uuid, \
             cost decimal(12,4), ts timestamp) STORED AS kafka LOCATION 'ad-events' \
             OPTIONS (format 'json', 'timestamp.column' 'ts', 'Topic.Partitions' 6)",
        );
        assert_eq!((t.schema.as_str(), t.name.as_str()), ("kafka", "Ad_Events"));
        assert_eq!(t.stored_as, "KAFKA");
        assert_eq!(t.location, "ad-events");
        let types: Vec<_> = t.columns.iter().map(|f| f.data_type().clone()).collect();
        assert_eq!(
            types,
            vec![
                DataType::Int64,
                DataType::FixedSizeBinary(16),
                DataType::Decimal128(12, 4),
                DataType::Timestamp(datafusion::arrow::datatypes::TimeUnit::Nanosecond, None),
            ]
        );
        assert!(!t.columns[0].is_nullable());
        assert_eq!(t.columns[1].extension_type_name(), Some("arrow.uuid"));
        assert_eq!(t.options["format"], "json");
        assert_eq!(t.options["timestamp.column"], "ts");
        assert_eq!(t.options["topic.partitions"], "6");
        // What is stored parses back to the same table.
        let again = table(&t.sql);
        assert_eq!(again.columns, t.columns);
        assert_eq!(again.options, t.options);
    }

    #[test]
    fn refuses_what_a_topic_table_cannot_mean() {
        for (sql, says) in [
            ("CREATE EXTERNAL TABLE t (a int) STORED AS KAFKA LOCATION 'x'", "schema"),
            ("CREATE EXTERNAL TABLE k.t (a int) STORED AS KAFKA LOCATION 'x' OPTIONS (f 'a', f 'b')", "twice"),
            ("CREATE EXTERNAL TABLE k.t (a int, A int) STORED AS KAFKA LOCATION 'x'", "twice"),
            ("CREATE UNBOUNDED EXTERNAL TABLE k.t (a int) STORED AS KAFKA LOCATION 'x'", "UNBOUNDED"),
            ("CREATE EXTERNAL TABLE k.t (a int PRIMARY KEY) STORED AS KAFKA LOCATION 'x'", "constraint"),
            ("CREATE EXTERNAL TABLE k.t (a int) STORED AS KAFKA LOCATION ''", "LOCATION"),
        ] {
            let err = ExternalTable::parse(sql).unwrap_err().to_string();
            assert!(err.contains(says), "{sql}: {err}");
        }
    }

    #[test]
    fn only_external_tables_are_taken() {
        assert!(parse_external_tables("SELECT 1").is_none());
        assert!(parse_external_tables(
            "CREATE EXTERNAL TABLE k.t (a int) STORED AS KAFKA LOCATION 'x'; SELECT 1"
        )
        .is_none());
        assert_eq!(
            parse_external_tables(
                "CREATE EXTERNAL TABLE k.t (a int) STORED AS KAFKA LOCATION 'x';\
                 CREATE EXTERNAL TABLE k.u (a int) STORED AS KAFKA LOCATION 'y'"
            )
            .map(|v| v.len()),
            Some(2)
        );
    }

    #[tokio::test]
    async fn a_table_declared_elsewhere_is_found_by_the_next_lookup() {
        let store = Arc::new(MemoryStore::default());
        let here = tables(store.clone());
        let there = tables(store.clone());
        assert!(here
            .create(table(
                "CREATE EXTERNAL TABLE kafka.t (a int) STORED AS KAFKA LOCATION 'x'"
            ))
            .await
            .unwrap());
        let schema = there.schema("kafka").unwrap();
        assert!(schema.table("t").await.unwrap().is_some());
        assert_eq!(schema.table_names(), vec!["t"]);
        assert!(schema.table("missing").await.unwrap().is_none());

        // Dropped here, gone there after a reload; the store forgets it.
        assert!(here.drop_table("kafka", "t").await.unwrap());
        there.reload().await.unwrap();
        assert!(there
            .schema("kafka")
            .unwrap()
            .table("t")
            .await
            .unwrap()
            .is_none());
        assert!(!here.drop_table("kafka", "t").await.unwrap());
    }

    #[tokio::test]
    async fn duplicates_and_bad_definitions_are_refused() {
        let store = Arc::new(MemoryStore::default());
        let tables = tables(store.clone());
        let sql = "CREATE EXTERNAL TABLE kafka.t (a int) STORED AS KAFKA LOCATION 'x'";
        assert!(tables.create(table(sql)).await.unwrap());
        let err = tables.create(table(sql)).await.unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
        let quiet = sql.replace("TABLE kafka", "TABLE IF NOT EXISTS kafka");
        assert!(!tables.create(table(&quiet)).await.unwrap());

        let bad =
            "CREATE EXTERNAL TABLE kafka.u (a int) STORED AS KAFKA LOCATION 'x' OPTIONS (bad 'x')";
        let err = tables.create(table(bad)).await.unwrap_err();
        assert!(err.to_string().contains("'bad'"), "{err}");
        assert_eq!(store.list().await.unwrap().len(), 1, "nothing stored");

        let other = "CREATE EXTERNAL TABLE kafka.v (a int) STORED AS PARQUET LOCATION 'x'";
        let err = tables.create(table(other)).await.unwrap_err();
        assert!(err.to_string().contains("KAFKA"), "{err}");

        // A stored definition that no longer parses says why when queried.
        store
            .insert(&Definition {
                schema: "kafka".into(),
                name: "w".into(),
                sql: "CREATE nonsense".into(),
            })
            .await
            .unwrap();
        tables.reload().await.unwrap();
        let schema = tables.schema("kafka").unwrap();
        let err = schema.table("w").await.unwrap_err();
        assert!(err.to_string().contains("cannot be used"), "{err}");
        assert_eq!(schema.table_names(), vec!["t"], "listings skip it");
    }
}
