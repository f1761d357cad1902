//! `pg_catalog` as datafusion-pg-catalog builds it, plus what only smackql
//! knows about its objects, so that tools show keys and views:
//!
//! - a Cassandra table's primary key is a unique index `<table>_pkey`
//!   (`pg_class` kind `i`, `pg_index`) and a primary-key constraint
//!   (`pg_constraint`), with `pg_get_indexdef` and `pg_get_constraintdef`
//!   describing them;
//! - a materialized view is kind `m` in `pg_class` and listed in
//!   `pg_matviews` with its query;
//! - a column's type in `pg_attribute` is the type its values are sent as
//!   (a Cassandra `uuid` is `uuid`, a `map` is `json`), and primary-key
//!   columns are `NOT NULL`.
//!
//! It also fills gaps that DBeaver's navigator finds: `pg_class.relacl`,
//! `pg_extension.extconfig` as `oid[]`, the views `pg_sequences`,
//! `pg_policies` and `pg_available_extensions`, `pg_rewrite` without the
//! rules of PostgreSQL's own views (which smackql does not have), and
//! `pg_get_functiondef` (see [`crate::pg_functiondef`]).
//!
//! Every other table comes from datafusion-pg-catalog unchanged.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use async_trait::async_trait;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Int64Builder, RecordBatch, StringBuilder, UInt32Array,
};
use datafusion::arrow::compute::{concat_batches, take_record_batch};
use datafusion::arrow::datatypes::{DataType, Field, Int16Type, Int32Type, SchemaRef};
use datafusion::catalog::{CatalogProviderList, SchemaProvider, TableProvider};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::datasource::{MemTable, TableType, ViewTable};
use datafusion::execution::SessionStateBuilder;
use datafusion::logical_expr::async_udf::{AsyncScalarUDF, AsyncScalarUDFImpl};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use datafusion::physical_plan::collect;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::catalog_info::CatalogInfo;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::{
    PgCatalogSchemaProvider, PgCatalogStaticTables,
};
use smackql_cassandra::{CassandraTableProvider, SharedConnection};

use crate::frontend::pg::{wire_type, PG_VECTOR_METADATA};
use crate::pg_functiondef::FunctionDefinitions;

/// Added to a table's oid: the oid of its primary-key index.
const INDEX_OID_OFFSET: i32 = 0x2000_0000;
/// Added to a table's oid: the oid of its primary-key constraint.
const CONSTRAINT_OID_OFFSET: i32 = 0x4000_0000;
/// `pg_am` oid of btree, which psql prints as the index method.
const BTREE: i32 = 403;

/// The definitions `pg_get_indexdef` and `pg_get_constraintdef` return, by
/// oid, as last listed.
#[derive(Debug, Default)]
pub struct KeyDefinitions {
    /// Index oid: the `CREATE INDEX` statement and the column names.
    indexes: RwLock<HashMap<i32, (String, Vec<String>)>>,
    /// Constraint oid: `PRIMARY KEY (...)`.
    constraints: RwLock<HashMap<i32, String>>,
    /// Materialized view oid: its query.
    views: RwLock<HashMap<i32, String>>,
    /// Cassandra table oid: the table, whose size Cassandra estimates.
    tables: RwLock<HashMap<i32, Arc<dyn TableProvider>>>,
}

/// Replaces `pg_catalog` in `ctx`'s catalog `catalog` with one that knows
/// smackql's keys and views, and registers the functions that describe
/// them.
pub fn install(ctx: &SessionContext, catalog: &str, cassandra: SharedConnection) -> Result<()> {
    let provider = ctx
        .catalog(catalog)
        .ok_or_else(|| DataFusionError::Configuration(format!("no catalog {catalog}")))?;
    // datafusion-pg-catalog's tables list `pg_catalog` itself; they must
    // see its plain tables, not those derived from them here.
    let plain = Arc::new(OnceLock::new());
    let catalogs = PlainPgCatalog {
        list: ctx.state().catalog_list().clone(),
        plain: plain.clone(),
    };
    let statics = Arc::new(PgCatalogStaticTables::try_new()?);
    ctx.register_udf(ScalarUDF::new_from_impl(FunctionDefinitions::new(
        &statics,
    )?));
    let inner: Arc<dyn SchemaProvider> = Arc::new(PgCatalogSchemaProvider::try_new(
        catalogs,
        statics,
        EmptyContextProvider,
    )?);
    plain
        .set(inner.clone())
        .map_err(|_| DataFusionError::Internal("pg_catalog installed twice".into()))?;
    let keys = Arc::new(KeyDefinitions::default());
    provider.register_schema(
        "pg_catalog",
        Arc::new(SmackqlPgCatalog {
            inner,
            catalogs: ctx.state().catalog_list().clone(),
            catalog: catalog.to_string(),
            keys: keys.clone(),
        }),
    )?;
    ctx.register_udf(ScalarUDF::new_from_impl(Describe::index(keys.clone())));
    ctx.register_udf(ScalarUDF::new_from_impl(Describe::constraint(keys.clone())));
    ctx.register_udf(ScalarUDF::new_from_impl(Describe::view(keys.clone())));
    for name in [
        "pg_table_size",
        "pg_relation_size",
        "pg_total_relation_size",
        "pg_database_size",
    ] {
        let size = Size::new(name, keys.clone(), cassandra.clone());
        ctx.register_udf(AsyncScalarUDF::new(Arc::new(size)).into_scalar_udf());
    }
    Ok(())
}

/// The session's catalogs as datafusion-pg-catalog reads them: with the
/// plain `pg_catalog` in place of [`SmackqlPgCatalog`].
#[derive(Debug, Clone)]
struct PlainPgCatalog {
    list: Arc<dyn CatalogProviderList>,
    plain: Arc<OnceLock<Arc<dyn SchemaProvider>>>,
}

impl PlainPgCatalog {
    fn schema(&self, catalog: &str, schema: &str) -> Option<Arc<dyn SchemaProvider>> {
        if schema == "pg_catalog" {
            return self.plain.get().cloned();
        }
        self.list.catalog(catalog)?.schema(schema)
    }
}

#[async_trait]
impl CatalogInfo for PlainPgCatalog {
    async fn catalog_names(&self) -> Result<Vec<String>> {
        Ok(CatalogProviderList::catalog_names(self.list.as_ref()))
    }

    async fn schema_names(&self, catalog: &str) -> Result<Option<Vec<String>>> {
        Ok(self.list.catalog(catalog).map(|c| c.schema_names()))
    }

    async fn table_names(&self, catalog: &str, schema: &str) -> Result<Option<Vec<String>>> {
        Ok(self.schema(catalog, schema).map(|s| s.table_names()))
    }

    async fn table_schema(
        &self,
        catalog: &str,
        schema: &str,
        table: &str,
    ) -> Result<Option<SchemaRef>> {
        match self.schema(catalog, schema) {
            Some(provider) => Ok(provider.table(table).await?.map(|t| t.schema())),
            None => Ok(None),
        }
    }

    async fn table_type(
        &self,
        catalog: &str,
        schema: &str,
        table: &str,
    ) -> Result<Option<TableType>> {
        match self.schema(catalog, schema) {
            Some(provider) => provider.table_type(table).await,
            None => Ok(None),
        }
    }
}

#[derive(Debug)]
struct SmackqlPgCatalog {
    inner: Arc<dyn SchemaProvider>,
    catalogs: Arc<dyn CatalogProviderList>,
    catalog: String,
    keys: Arc<KeyDefinitions>,
}

/// A relation of `pg_class` that smackql describes further.
struct Relation {
    /// Its row in datafusion-pg-catalog's `pg_class`.
    row: usize,
    oid: i32,
    namespace: i32,
    schema: String,
    name: String,
    /// Attribute numbers and names of its primary key, if it has one.
    key: Vec<(i16, String)>,
    /// The query of a materialized view.
    view_query: Option<String>,
    /// The type oid of each column, as sent over the wire; `None` where
    /// datafusion-pg-catalog's own type stands.
    column_types: Vec<Option<i32>>,
    /// The table.
    provider: Arc<dyn TableProvider>,
}

#[async_trait]
impl SchemaProvider for SmackqlPgCatalog {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.inner.table_names();
        names.extend(ADDED_VIEWS.iter().map(|(name, _)| name.to_string()));
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let lower = name.to_ascii_lowercase();
        if let Some(batch) = self.added_view(&lower).await? {
            let table = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
            return Ok(Some(Arc::new(table)));
        }
        if !matches!(
            lower.as_str(),
            "pg_class" | "pg_index" | "pg_constraint" | "pg_matviews" | "pg_attribute"
        ) {
            return self.inner.table(name).await;
        }
        let Some(class) = self.inner.table("pg_class").await? else {
            return Ok(None);
        };
        let Some(base) = self.inner.table(&lower).await? else {
            return Ok(None);
        };
        let class = read_all(&class).await?;
        let relations = self.relations(&class).await?;
        self.remember(&relations);
        let batch = match lower.as_str() {
            "pg_class" => with_null_columns(&pg_class(&class, &relations)?, &class_options())?,
            "pg_index" => integer_lists(
                &append(&read_all(&base).await?, pg_index_rows(&relations))?,
                INDEX_VECTORS,
            )?,
            "pg_constraint" => integer_lists(
                &append(&read_all(&base).await?, pg_constraint_rows(&relations))?,
                CONSTRAINT_ARRAYS,
            )?,
            "pg_attribute" => pg_attribute(&read_all(&base).await?, &relations)?,
            _ => append(&read_all(&base).await?, pg_matviews_rows(&relations))?,
        };
        let table = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
        Ok(Some(Arc::new(table)))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
            || ADDED_VIEWS
                .iter()
                .any(|(added, _)| added.eq_ignore_ascii_case(name))
    }
}

impl SmackqlPgCatalog {
    /// The tables and views of `pg_catalog` that datafusion-pg-catalog
    /// lacks or types differently; `None` for the others.
    async fn added_view(&self, name: &str) -> Result<Option<RecordBatch>> {
        match name {
            // `extconfig` is `oid[]` and `extcondition` `text[]`, which
            // tools `unnest`; no extension has configuration tables.
            "pg_extension" => {
                let Some(table) = self.inner.table(name).await? else {
                    return Ok(None);
                };
                let extensions = read_all(&table).await?;
                let lists = [
                    ("extconfig", DataType::new_list(DataType::Int32, true)),
                    ("extcondition", DataType::new_list(DataType::Utf8, true)),
                ];
                Ok(Some(with_null_columns(&extensions, &lists)?))
            }
            // PostgreSQL's own rules, for views smackql does not have, are
            // left out: a rule belongs to a relation of `pg_class`.
            "pg_rewrite" => {
                let (Some(rules), Some(class)) = (
                    self.inner.table(name).await?,
                    self.inner.table("pg_class").await?,
                ) else {
                    return Ok(None);
                };
                let (rules, class) = (read_all(&rules).await?, read_all(&class).await?);
                let relations: std::collections::HashSet<i32> = int32_column(&class, "oid")?
                    .values()
                    .iter()
                    .copied()
                    .collect();
                let on = int32_column(&rules, "ev_class")?;
                let kept: Vec<u32> = (0..rules.num_rows())
                    .filter(|&row| on.is_valid(row) && relations.contains(&on.value(row)))
                    .map(|row| row as u32)
                    .collect();
                Ok(Some(take_record_batch(&rules, &UInt32Array::from(kept))?))
            }
            "pg_available_extensions" => {
                let Some(table) = self.inner.table("pg_extension").await? else {
                    return Ok(None);
                };
                let installed = read_all(&table).await?;
                let names = string_column(&installed, "extname")?;
                let versions = string_column(&installed, "extversion")?;
                let rows = (0..installed.num_rows())
                    .map(|row| {
                        let name = names.value(row);
                        HashMap::from([
                            ("name", ScalarValue::from(name)),
                            ("default_version", ScalarValue::from(versions.value(row))),
                            ("installed_version", ScalarValue::from(versions.value(row))),
                            (
                                "comment",
                                match name {
                                    "plpgsql" => ScalarValue::from("PL/pgSQL procedural language"),
                                    _ => ScalarValue::Utf8(None),
                                },
                            ),
                        ])
                    })
                    .collect();
                Ok(Some(append(&added_view_schema(name)?, rows)?))
            }
            // `nspacl` is an `aclitem[]`, as `pg_class.relacl` is: NULL
            // (the default privileges) for every schema.
            "pg_namespace" => {
                let Some(table) = self.inner.table(name).await? else {
                    return Ok(None);
                };
                let namespaces = read_all(&table).await?;
                let acl = [("nspacl", DataType::new_list(DataType::Utf8, true))];
                Ok(Some(with_null_columns(&namespaces, &acl)?))
            }
            // smackql has no sequences and no row security policies.
            "pg_sequences" | "pg_policies" => Ok(Some(added_view_schema(name)?)),
            _ => Ok(None),
        }
    }

    /// The user tables and views of `class`.
    async fn relations(&self, class: &RecordBatch) -> Result<Vec<Relation>> {
        let namespaces = match self.inner.table("pg_namespace").await? {
            Some(table) => read_all(&table).await?,
            None => return Ok(Vec::new()),
        };
        let nsp_oid = int32_column(&namespaces, "oid")?;
        let nsp_name = string_column(&namespaces, "nspname")?;
        let schema_of: HashMap<i32, String> = (0..namespaces.num_rows())
            .map(|i| (nsp_oid.value(i), nsp_name.value(i).to_string()))
            .collect();
        let Some(catalog) = self.catalogs.catalog(&self.catalog) else {
            return Ok(Vec::new());
        };
        let oid = int32_column(class, "oid")?;
        let name = string_column(class, "relname")?;
        let namespace = int32_column(class, "relnamespace")?;
        let kind = string_column(class, "relkind")?;
        let mut relations = Vec::new();
        for row in 0..class.num_rows() {
            let Some(schema) = schema_of.get(&namespace.value(row)) else {
                continue;
            };
            if matches!(schema.as_str(), "pg_catalog" | "information_schema")
                || !matches!(kind.value(row), "r" | "v")
            {
                continue;
            }
            let Some(provider) = catalog.schema(schema) else {
                continue;
            };
            // A table that vanished meanwhile, or whose schema cannot be
            // read now, is listed without a key.
            let Ok(Some(table)) = provider.table(name.value(row)).await else {
                continue;
            };
            let (key, view_query) = describe(&table);
            let column_types = table
                .schema()
                .fields()
                .iter()
                .map(|field| wire_type(field).ok().map(|t| t.oid() as i32))
                .collect();
            relations.push(Relation {
                row,
                oid: oid.value(row),
                namespace: namespace.value(row),
                schema: schema.clone(),
                name: name.value(row).to_string(),
                key,
                view_query,
                column_types,
                provider: table,
            });
        }
        Ok(relations)
    }

    /// Keeps the definitions of `relations`' keys for the describing
    /// functions.
    fn remember(&self, relations: &[Relation]) {
        let mut indexes = HashMap::new();
        let mut constraints = HashMap::new();
        let views: HashMap<i32, String> = relations
            .iter()
            .filter_map(|r| Some((r.oid, format!(" {};", r.view_query.as_ref()?))))
            .collect();
        for relation in relations.iter().filter(|r| !r.key.is_empty()) {
            let columns: Vec<String> = relation.key.iter().map(|(_, c)| quote(c)).collect();
            indexes.insert(
                relation.oid + INDEX_OID_OFFSET,
                (
                    format!(
                        "CREATE UNIQUE INDEX {} ON {}.{} USING btree ({})",
                        quote(&format!("{}_pkey", relation.name)),
                        quote(&relation.schema),
                        quote(&relation.name),
                        columns.join(", ")
                    ),
                    relation.key.iter().map(|(_, c)| c.clone()).collect(),
                ),
            );
            constraints.insert(
                relation.oid + CONSTRAINT_OID_OFFSET,
                format!("PRIMARY KEY ({})", columns.join(", ")),
            );
        }
        if let Ok(mut known) = self.keys.indexes.write() {
            known.extend(indexes);
        }
        if let Ok(mut known) = self.keys.constraints.write() {
            known.extend(constraints);
        }
        if let Ok(mut known) = self.keys.views.write() {
            known.extend(views);
        }
        let tables = relations
            .iter()
            .filter(|r| {
                r.provider
                    .as_ref()
                    .downcast_ref::<CassandraTableProvider>()
                    .is_some()
            })
            .map(|r| (r.oid, r.provider.clone()));
        if let Ok(mut known) = self.keys.tables.write() {
            known.extend(tables);
        }
    }
}

/// The primary key (attribute numbers and names) of a Cassandra table, and
/// the query of a materialized view.
fn describe(table: &Arc<dyn TableProvider>) -> (Vec<(i16, String)>, Option<String>) {
    if table
        .as_ref()
        .downcast_ref::<CassandraTableProvider>()
        .is_some()
    {
        return (primary_key(table), None);
    }
    let query = table
        .as_ref()
        .downcast_ref::<ViewTable>()
        .and_then(|view| view.definition())
        .and_then(|sql| Parser::parse_sql(&PostgreSqlDialect {}, sql).ok())
        .and_then(|statements| match statements.as_slice() {
            [Statement::CreateView(create)] if create.materialized => {
                Some(create.query.to_string())
            }
            _ => None,
        });
    (Vec::new(), query)
}

/// The primary key of a Cassandra table, as attribute numbers and names;
/// empty for any other table.
pub(crate) fn primary_key(table: &Arc<dyn TableProvider>) -> Vec<(i16, String)> {
    let Some(cassandra) = table.as_ref().downcast_ref::<CassandraTableProvider>() else {
        return Vec::new();
    };
    let schema = table.schema();
    cassandra
        .primary_key()
        .filter_map(|column| {
            let index = schema.index_of(column).ok()?;
            Some((i16::try_from(index + 1).ok()?, column.to_string()))
        })
        .collect()
}

/// `name` as a SQL identifier, quoted when it must be.
pub(crate) fn quote(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// Columns of `pg_class` that datafusion-pg-catalog leaves out, NULL for
/// every relation: `reloptions` (storage options, which SQLAlchemy reads)
/// and `relacl` (access privileges, which DBeaver reads; an `aclitem[]`,
/// sent as text).
fn class_options() -> [(&'static str, DataType); 2] {
    let text_list = DataType::new_list(DataType::Utf8, true);
    [("reloptions", text_list.clone()), ("relacl", text_list)]
}

/// `batch` with each of `columns` of the type given, NULL in every row: a
/// column it lacks is added, and one of another type whose values are all
/// NULL is retyped; any other is left as it is.
fn with_null_columns(batch: &RecordBatch, columns: &[(&str, DataType)]) -> Result<RecordBatch> {
    let schema = batch.schema();
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut arrays = batch.columns().to_vec();
    for (name, data_type) in columns {
        let nulls = datafusion::arrow::array::new_null_array(data_type, batch.num_rows());
        let field = Field::new(*name, data_type.clone(), true);
        match schema.index_of(name) {
            Ok(i) if arrays[i].null_count() == arrays[i].len() => {
                fields[i] = field;
                arrays[i] = nulls;
            }
            Ok(_) => {}
            Err(_) => {
                fields.push(field);
                arrays.push(nulls);
            }
        }
    }
    RecordBatch::try_new(
        Arc::new(datafusion::arrow::datatypes::Schema::new(fields)),
        arrays,
    )
    .map_err(Into::into)
}

/// Views of `pg_catalog` that datafusion-pg-catalog does not have, with
/// their columns as PostgreSQL's (`name` as text, arrays as lists).
const ADDED_VIEWS: [(&str, &[(&str, ColumnType)]); 3] = [
    (
        "pg_sequences",
        &[
            ("schemaname", ColumnType::Text),
            ("sequencename", ColumnType::Text),
            ("sequenceowner", ColumnType::Text),
            ("data_type", ColumnType::Text),
            ("start_value", ColumnType::BigInt),
            ("min_value", ColumnType::BigInt),
            ("max_value", ColumnType::BigInt),
            ("increment_by", ColumnType::BigInt),
            ("cycle", ColumnType::Bool),
            ("cache_size", ColumnType::BigInt),
            ("last_value", ColumnType::BigInt),
        ],
    ),
    (
        "pg_policies",
        &[
            ("schemaname", ColumnType::Text),
            ("tablename", ColumnType::Text),
            ("policyname", ColumnType::Text),
            ("permissive", ColumnType::Text),
            ("roles", ColumnType::TextList),
            ("cmd", ColumnType::Text),
            ("qual", ColumnType::Text),
            ("with_check", ColumnType::Text),
        ],
    ),
    (
        "pg_available_extensions",
        &[
            ("name", ColumnType::Text),
            ("default_version", ColumnType::Text),
            ("installed_version", ColumnType::Text),
            ("comment", ColumnType::Text),
        ],
    ),
];

#[derive(Debug, Clone, Copy)]
enum ColumnType {
    Text,
    TextList,
    BigInt,
    Bool,
}

/// An empty batch of the added view `name` (see [`ADDED_VIEWS`]).
fn added_view_schema(name: &str) -> Result<RecordBatch> {
    let (_, columns) = ADDED_VIEWS
        .iter()
        .find(|(added, _)| *added == name)
        .ok_or_else(|| DataFusionError::Internal(format!("pg_catalog has no view {name}")))?;
    let fields: Vec<Field> = columns
        .iter()
        .map(|(column, t)| {
            let data_type = match t {
                ColumnType::Text => DataType::Utf8,
                ColumnType::TextList => DataType::new_list(DataType::Utf8, true),
                ColumnType::BigInt => DataType::Int64,
                ColumnType::Bool => DataType::Boolean,
            };
            Field::new(*column, data_type, true)
        })
        .collect();
    Ok(RecordBatch::new_empty(Arc::new(
        datafusion::arrow::datatypes::Schema::new(fields),
    )))
}

/// `class` with materialized views as kind `m`, keyed tables marked as
/// indexed, and a row per primary-key index.
fn pg_class(class: &RecordBatch, relations: &[Relation]) -> Result<RecordBatch> {
    let kind = string_column(class, "relkind")?;
    let mut kinds: Vec<ScalarValue> = (0..class.num_rows())
        .map(|i| ScalarValue::from(kind.value(i)))
        .collect();
    let has_index = class
        .column_by_name("relhasindex")
        .and_then(|c| c.as_boolean_opt())
        .ok_or_else(|| DataFusionError::Internal("pg_class has no relhasindex".into()))?;
    let mut indexed: Vec<ScalarValue> = (0..class.num_rows())
        .map(|i| ScalarValue::Boolean(Some(has_index.value(i))))
        .collect();
    for relation in relations {
        if relation.view_query.is_some() {
            kinds[relation.row] = ScalarValue::from("m");
        }
        if !relation.key.is_empty() {
            indexed[relation.row] = ScalarValue::Boolean(Some(true));
        }
    }
    let class = replace(class, "relkind", kinds)?;
    let class = replace(&class, "relhasindex", indexed)?;

    let keyed: Vec<&Relation> = relations.iter().filter(|r| !r.key.is_empty()).collect();
    if keyed.is_empty() {
        return Ok(class);
    }
    let rows = UInt32Array::from_iter_values(keyed.iter().map(|r| r.row as u32));
    let mut indexes = take_record_batch(&class, &rows)?;
    let column = |f: &dyn Fn(&Relation) -> ScalarValue| keyed.iter().map(|r| f(r)).collect();
    indexes = replace(
        &indexes,
        "oid",
        column(&|r| ScalarValue::from(r.oid + INDEX_OID_OFFSET)),
    )?;
    indexes = replace(
        &indexes,
        "relname",
        column(&|r| ScalarValue::from(format!("{}_pkey", r.name))),
    )?;
    indexes = replace(&indexes, "relkind", column(&|_| ScalarValue::from("i")))?;
    indexes = replace(&indexes, "relam", column(&|_| ScalarValue::from(BTREE)))?;
    indexes = replace(&indexes, "reltype", column(&|_| ScalarValue::from(0)))?;
    indexes = replace(
        &indexes,
        "relhasindex",
        column(&|_| ScalarValue::Boolean(Some(false))),
    )?;
    indexes = replace(
        &indexes,
        "relnatts",
        column(&|r| ScalarValue::Int16(Some(r.key.len() as i16))),
    )?;
    concat_batches(&class.schema(), [&class, &indexes]).map_err(Into::into)
}

/// `attributes` with the types of smackql's columns as they are sent, and
/// primary-key columns `NOT NULL`.
fn pg_attribute(attributes: &RecordBatch, relations: &[Relation]) -> Result<RecordBatch> {
    let by_oid: HashMap<i32, &Relation> = relations.iter().map(|r| (r.oid, r)).collect();
    let relation = int32_column(attributes, "attrelid")?;
    let number = attributes
        .column_by_name("attnum")
        .and_then(|c| c.as_primitive_opt::<Int16Type>())
        .ok_or_else(|| DataFusionError::Internal("pg_attribute has no attnum".into()))?;
    let (Some(types), Some(not_null)) = (
        attributes.column_by_name("atttypid"),
        attributes.column_by_name("attnotnull"),
    ) else {
        return Err(DataFusionError::Internal(
            "pg_attribute has no atttypid or attnotnull".into(),
        ));
    };
    let mut new_types = Vec::with_capacity(attributes.num_rows());
    let mut new_not_null = Vec::with_capacity(attributes.num_rows());
    for row in 0..attributes.num_rows() {
        let found = by_oid.get(&relation.value(row));
        let attnum = number.value(row);
        let sent = found.and_then(|r| {
            let index = usize::try_from(attnum).ok()?.checked_sub(1)?;
            r.column_types.get(index).copied().flatten()
        });
        new_types.push(match sent {
            Some(oid) => ScalarValue::Int32(Some(oid)),
            None => ScalarValue::try_from_array(types, row)?,
        });
        let keyed = found.is_some_and(|r| r.key.iter().any(|(n, _)| *n == attnum));
        new_not_null.push(if keyed {
            ScalarValue::Boolean(Some(true))
        } else {
            ScalarValue::try_from_array(not_null, row)?
        });
    }
    let attributes = replace(attributes, "atttypid", new_types)?;
    let attributes = replace(&attributes, "attnotnull", new_not_null)?;
    // A primary-key index has an attribute per key column, as in
    // PostgreSQL; psqlODBC finds key columns through them.
    let index_columns = relations
        .iter()
        .flat_map(|r| {
            r.key
                .iter()
                .zip(1i16..)
                .map(move |((number, name), position)| {
                    let type_oid = usize::try_from(*number)
                        .ok()
                        .and_then(|n| r.column_types.get(n.checked_sub(1)?).copied().flatten());
                    let mut row = HashMap::from([
                        ("attrelid", ScalarValue::from(r.oid + INDEX_OID_OFFSET)),
                        ("attname", ScalarValue::from(name.as_str())),
                        ("attnum", ScalarValue::Int16(Some(position))),
                        ("attnotnull", ScalarValue::Boolean(Some(true))),
                        ("attislocal", ScalarValue::Boolean(Some(true))),
                        ("attstattarget", ScalarValue::Int32(Some(-1))),
                        ("atttypmod", ScalarValue::Int32(Some(-1))),
                        ("attalign", ScalarValue::from("i")),
                        ("attstorage", ScalarValue::from("p")),
                        ("attidentity", ScalarValue::from("")),
                        ("attgenerated", ScalarValue::from("")),
                    ]);
                    if let Some(oid) = type_oid {
                        row.insert("atttypid", ScalarValue::Int32(Some(oid)));
                    }
                    row
                })
        })
        .collect();
    append(&attributes, index_columns)
}

fn pg_index_rows(relations: &[Relation]) -> Vec<HashMap<&'static str, ScalarValue>> {
    relations
        .iter()
        .filter(|r| !r.key.is_empty())
        .map(|r| {
            let count = r.key.len() as i16;
            let numbers: Vec<String> = r.key.iter().map(|(n, _)| n.to_string()).collect();
            let zeros = vec!["0"; r.key.len()].join(" ");
            HashMap::from([
                ("indexrelid", ScalarValue::from(r.oid + INDEX_OID_OFFSET)),
                ("indrelid", ScalarValue::from(r.oid)),
                ("indnatts", ScalarValue::Int16(Some(count))),
                ("indnkeyatts", ScalarValue::Int16(Some(count))),
                ("indisunique", ScalarValue::Boolean(Some(true))),
                ("indisprimary", ScalarValue::Boolean(Some(true))),
                ("indimmediate", ScalarValue::Boolean(Some(true))),
                ("indisvalid", ScalarValue::Boolean(Some(true))),
                ("indisready", ScalarValue::Boolean(Some(true))),
                ("indislive", ScalarValue::Boolean(Some(true))),
                ("indkey", ScalarValue::from(numbers.join(" "))),
                ("indcollation", ScalarValue::from(zeros.clone())),
                ("indclass", ScalarValue::from(zeros.clone())),
                ("indoption", ScalarValue::from(zeros)),
            ])
        })
        .collect()
}

/// The columns of `pg_index` that are PostgreSQL vectors: their element
/// type and the vector type they are sent as.
const INDEX_VECTORS: &[(&str, DataType, Option<&str>)] = &[
    ("indkey", DataType::Int16, Some("int2vector")),
    ("indoption", DataType::Int16, Some("int2vector")),
    ("indcollation", DataType::Int32, Some("oidvector")),
    ("indclass", DataType::Int32, Some("oidvector")),
];

/// The columns of `pg_constraint` that are `int2[]`.
const CONSTRAINT_ARRAYS: &[(&str, DataType, Option<&str>)] = &[
    ("conkey", DataType::Int16, None),
    ("confkey", DataType::Int16, None),
];

/// `batch` with text columns of integers (`1 2` as a vector prints, `{1,2}`
/// as an array does) as lists of their element type, which clients
/// `unnest` and subscript. A column with a vector type is sent as that
/// vector (see [`PG_VECTOR_METADATA`]); its subscripts count from 1 here,
/// from 0 in PostgreSQL, and `client_queries` shifts them.
fn integer_lists(
    batch: &RecordBatch,
    lists: &[(&str, DataType, Option<&str>)],
) -> Result<RecordBatch> {
    let mut fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    let mut columns = batch.columns().to_vec();
    for (name, element, vector) in lists {
        let Ok(position) = batch.schema().index_of(name) else {
            continue;
        };
        let Some(text) = columns[position].as_string_opt::<i32>() else {
            continue;
        };
        let list_type = DataType::new_list(element.clone(), true);
        let values = text
            .iter()
            .map(|list| match list {
                Some(list) => {
                    let items = list
                        .split(|c: char| c == ',' || c.is_whitespace() || "{}[]".contains(c))
                        .filter(|n| !n.is_empty())
                        .map(|n| ScalarValue::try_from_string(n.to_string(), element))
                        .collect::<Result<Vec<_>>>()?;
                    Ok(ScalarValue::List(ScalarValue::new_list_nullable(
                        &items, element,
                    )))
                }
                None => ScalarValue::try_from(&list_type),
            })
            .collect::<Result<Vec<_>>>()?;
        columns[position] = if values.is_empty() {
            datafusion::arrow::array::new_empty_array(&list_type)
        } else {
            ScalarValue::iter_to_array(values)?
        };
        let field = Field::new(*name, list_type, true);
        fields[position] = match vector {
            Some(vector) => {
                field.with_metadata([(PG_VECTOR_METADATA.to_string(), vector.to_string())].into())
            }
            None => field,
        };
    }
    RecordBatch::try_new(
        Arc::new(datafusion::arrow::datatypes::Schema::new(fields)),
        columns,
    )
    .map_err(Into::into)
}

fn pg_constraint_rows(relations: &[Relation]) -> Vec<HashMap<&'static str, ScalarValue>> {
    relations
        .iter()
        .filter(|r| !r.key.is_empty())
        .map(|r| {
            let numbers: Vec<String> = r.key.iter().map(|(n, _)| n.to_string()).collect();
            HashMap::from([
                ("oid", ScalarValue::from(r.oid + CONSTRAINT_OID_OFFSET)),
                ("conname", ScalarValue::from(format!("{}_pkey", r.name))),
                ("connamespace", ScalarValue::from(r.namespace)),
                ("contype", ScalarValue::from("p")),
                ("convalidated", ScalarValue::Boolean(Some(true))),
                ("conrelid", ScalarValue::from(r.oid)),
                ("conindid", ScalarValue::from(r.oid + INDEX_OID_OFFSET)),
                ("confupdtype", ScalarValue::from(" ")),
                ("confdeltype", ScalarValue::from(" ")),
                ("confmatchtype", ScalarValue::from(" ")),
                ("conislocal", ScalarValue::Boolean(Some(true))),
                ("connoinherit", ScalarValue::Boolean(Some(true))),
                (
                    "conkey",
                    ScalarValue::from(format!("{{{}}}", numbers.join(","))),
                ),
            ])
        })
        .collect()
}

fn pg_matviews_rows(relations: &[Relation]) -> Vec<HashMap<&'static str, ScalarValue>> {
    relations
        .iter()
        .filter_map(|r| {
            let query = r.view_query.as_ref()?;
            Some(HashMap::from([
                ("schemaname", ScalarValue::from(r.schema.as_str())),
                ("matviewname", ScalarValue::from(r.name.as_str())),
                ("matviewowner", ScalarValue::from("postgres")),
                ("hasindexes", ScalarValue::Boolean(Some(false))),
                ("ispopulated", ScalarValue::Boolean(Some(true))),
                ("definition", ScalarValue::from(format!(" {query};"))),
            ]))
        })
        .collect()
}

/// Every row of `table`.
async fn read_all(table: &Arc<dyn TableProvider>) -> Result<RecordBatch> {
    let state = SessionStateBuilder::new().build();
    let plan = table.scan(&state, None, &[], None).await?;
    let batches = collect(plan, state.task_ctx()).await?;
    concat_batches(&table.schema(), &batches).map_err(Into::into)
}

/// `base` with `rows` after its own; a column a row does not name gets NULL,
/// or the type's zero where NULL is not allowed.
fn append(
    base: &RecordBatch,
    rows: Vec<HashMap<&'static str, ScalarValue>>,
) -> Result<RecordBatch> {
    if rows.is_empty() {
        return Ok(base.clone());
    }
    let schema = base.schema();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let values = rows
            .iter()
            .map(|row| match row.get(field.name().as_str()) {
                Some(value) => value.cast_to(field.data_type()),
                None => absent(field),
            })
            .collect::<Result<Vec<_>>>()?;
        columns.push(ScalarValue::iter_to_array(values)?);
    }
    let added = RecordBatch::try_new(schema.clone(), columns)?;
    concat_batches(&schema, [base, &added]).map_err(Into::into)
}

/// The value of a column a row leaves out.
fn absent(field: &Field) -> Result<ScalarValue> {
    if field.is_nullable() {
        return ScalarValue::try_from(field.data_type());
    }
    match field.data_type() {
        DataType::Utf8 => Ok(ScalarValue::from("")),
        DataType::Boolean => Ok(ScalarValue::Boolean(Some(false))),
        other => ScalarValue::new_zero(other),
    }
}

/// `batch` with column `name` replaced by `values`.
fn replace(batch: &RecordBatch, name: &str, values: Vec<ScalarValue>) -> Result<RecordBatch> {
    let schema: SchemaRef = batch.schema();
    let Ok(index) = schema.index_of(name) else {
        return Ok(batch.clone());
    };
    if values.is_empty() {
        return Ok(batch.clone());
    }
    let data_type = schema.field(index).data_type();
    let values = values
        .into_iter()
        .map(|v| v.cast_to(data_type))
        .collect::<Result<Vec<_>>>()?;
    let mut columns = batch.columns().to_vec();
    columns[index] = ScalarValue::iter_to_array(values)?;
    RecordBatch::try_new(schema, columns).map_err(Into::into)
}

fn int32_column<'a>(
    batch: &'a RecordBatch,
    name: &str,
) -> Result<&'a datafusion::arrow::array::Int32Array> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_primitive_opt::<Int32Type>())
        .ok_or_else(|| DataFusionError::Internal(format!("pg_catalog has no int column {name}")))
}

fn string_column<'a>(
    batch: &'a RecordBatch,
    name: &str,
) -> Result<&'a datafusion::arrow::array::StringArray> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_string_opt::<i32>())
        .ok_or_else(|| DataFusionError::Internal(format!("pg_catalog has no text column {name}")))
}

/// `pg_get_indexdef(oid [, column, pretty])`,
/// `pg_get_constraintdef(oid [, pretty])` and `pg_get_viewdef(oid [,
/// pretty])` of smackql's keys and materialized views; empty for
/// PostgreSQL's own catalog entries, as datafusion-pg-catalog answers.
#[derive(Debug)]
struct Describe {
    name: &'static str,
    signature: Signature,
    keys: Arc<KeyDefinitions>,
}

impl PartialEq for Describe {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Describe {}

impl std::hash::Hash for Describe {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl Describe {
    fn index(keys: Arc<KeyDefinitions>) -> Self {
        Self {
            name: "pg_get_indexdef",
            signature: Signature::new(
                TypeSignature::OneOf(vec![TypeSignature::Any(1), TypeSignature::Any(3)]),
                Volatility::Stable,
            ),
            keys,
        }
    }

    fn constraint(keys: Arc<KeyDefinitions>) -> Self {
        Self {
            name: "pg_get_constraintdef",
            signature: Signature::new(
                TypeSignature::OneOf(vec![TypeSignature::Any(1), TypeSignature::Any(2)]),
                Volatility::Stable,
            ),
            keys,
        }
    }

    fn view(keys: Arc<KeyDefinitions>) -> Self {
        Self {
            name: "pg_get_viewdef",
            signature: Signature::new(
                TypeSignature::OneOf(vec![TypeSignature::Any(1), TypeSignature::Any(2)]),
                Volatility::Stable,
            ),
            keys,
        }
    }

    fn definition(&self, oid: i32, column: i64) -> String {
        if self.name == "pg_get_viewdef" {
            return self
                .keys
                .views
                .read()
                .ok()
                .and_then(|v| v.get(&oid).cloned())
                .unwrap_or_default();
        }
        if self.name == "pg_get_constraintdef" {
            return self
                .keys
                .constraints
                .read()
                .ok()
                .and_then(|c| c.get(&oid).cloned())
                .unwrap_or_default();
        }
        let indexes = self.keys.indexes.read().ok();
        let Some((statement, columns)) = indexes.as_ref().and_then(|i| i.get(&oid)) else {
            return String::new();
        };
        match usize::try_from(column) {
            Ok(0) => statement.clone(),
            Ok(n) => columns.get(n - 1).cloned().unwrap_or_default(),
            Err(_) => String::new(),
        }
    }
}

impl ScalarUDFImpl for Describe {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let oids = args.args[0].to_array(rows)?;
        let oids = datafusion::arrow::compute::cast(&oids, &DataType::Int32)?;
        let oids = oids.as_primitive::<Int32Type>();
        let columns = match (self.name, args.args.get(1)) {
            ("pg_get_indexdef", Some(column)) => {
                let column =
                    datafusion::arrow::compute::cast(&column.to_array(rows)?, &DataType::Int64)?;
                Some(column)
            }
            _ => None,
        };
        let mut out = StringBuilder::new();
        for row in 0..oids.len() {
            if oids.is_null(row) {
                out.append_null();
                continue;
            }
            let column = columns
                .as_ref()
                .map(|c| c.as_primitive::<datafusion::arrow::datatypes::Int64Type>())
                .filter(|c| !c.is_null(row))
                .map_or(0, |c| c.value(row));
            out.append_value(self.definition(oids.value(row), column));
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// `pg_table_size(oid)`, `pg_relation_size(oid [, fork])`,
/// `pg_total_relation_size(oid)` of a Cassandra table, and
/// `pg_database_size(name)`: Cassandra's estimate of the bytes on disk (of
/// every table, for the database). NULL where Cassandra has no estimate
/// yet (a table never flushed) and for relations that are not Cassandra
/// tables, rather than a made-up size.
#[derive(Debug)]
struct Size {
    name: &'static str,
    signature: Signature,
    keys: Arc<KeyDefinitions>,
    cassandra: SharedConnection,
}

impl PartialEq for Size {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Size {}

impl std::hash::Hash for Size {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl Size {
    fn new(name: &'static str, keys: Arc<KeyDefinitions>, cassandra: SharedConnection) -> Self {
        let arguments = if name == "pg_relation_size" {
            TypeSignature::OneOf(vec![TypeSignature::Any(1), TypeSignature::Any(2)])
        } else {
            TypeSignature::Any(1)
        };
        Self {
            name,
            signature: Signature::new(arguments, Volatility::Volatile),
            keys,
            cassandra,
        }
    }

    /// The estimated bytes of the Cassandra table with oid `oid`.
    async fn table_bytes(&self, oid: i32) -> Option<i64> {
        let table = self.keys.tables.read().ok()?.get(&oid).cloned()?;
        let cassandra = table.as_ref().downcast_ref::<CassandraTableProvider>()?;
        let bytes = cassandra.estimated_bytes().await.ok()??;
        i64::try_from(bytes).ok()
    }
}

impl ScalarUDFImpl for Size {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Err(DataFusionError::Internal(format!(
            "{} is evaluated asynchronously",
            self.name
        )))
    }
}

#[async_trait]
impl AsyncScalarUDFImpl for Size {
    async fn invoke_async_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let first = args.args[0].to_array(rows)?;
        let mut out = Int64Builder::with_capacity(rows);
        if self.name == "pg_database_size" {
            let total = self
                .cassandra
                .estimated_total_bytes()
                .await
                .ok()
                .flatten()
                .and_then(|b| i64::try_from(b).ok());
            for row in 0..rows {
                out.append_option(total.filter(|_| !first.is_null(row)));
            }
            return Ok(ColumnarValue::Array(Arc::new(out.finish())));
        }
        let oids = datafusion::arrow::compute::cast(&first, &DataType::Int32)?;
        let oids = oids.as_primitive::<Int32Type>();
        let mut known: HashMap<i32, Option<i64>> = HashMap::new();
        for row in 0..rows {
            if oids.is_null(row) {
                out.append_null();
                continue;
            }
            let oid = oids.value(row);
            let bytes = match known.get(&oid) {
                Some(bytes) => *bytes,
                None => {
                    let bytes = self.table_bytes(oid).await;
                    known.insert(oid, bytes);
                    bytes
                }
            };
            out.append_option(bytes);
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}
