//! `information_schema` as DataFusion builds it, with each column's
//! `data_type` named as PostgreSQL names the type the column is sent as
//! (`integer`, `text`, `uuid`, `json`, `ARRAY`), not as its Arrow type, and
//! primary-key columns not nullable.
//! `columns` also has PostgreSQL's `udt_catalog`, `udt_schema` and
//! `udt_name` (the type's own name: `int4`, `timestamptz`, `_text`), and
//! `is_identity`, `is_generated` and `is_updatable`; its `ordinal_position`
//! counts from 1, as PostgreSQL's does. Grafana's column picker
//! and other tools read it.
//!
//! `table_constraints` and `key_column_usage` list each table's primary key
//! as `pg_catalog.pg_constraint` has it; Metabase finds key columns through
//! them. `table_privileges` and `routine_privileges` list what the user
//! may do, which is what every user may do (DBeaver's permission tabs read
//! them).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray, StringBuilder};
use datafusion::arrow::compute::{cast, concat_batches, unary};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt64Type};
use datafusion::catalog::information_schema::InformationSchemaProvider;
use datafusion::catalog::{CatalogProviderList, SchemaProvider, Session, TableProvider};
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::MemTable;
use datafusion::datasource::TableType;
use datafusion::execution::SessionState;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::collect;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;

use datafusion_postgres::pgwire::api::Type;

use crate::frontend::pg::wire_type;
use crate::pg_catalog::primary_key;
use crate::pg_functions::sql_type_name;

/// Registers `information_schema` in `ctx`'s catalog `catalog`; the
/// session's own must be off (`with_information_schema(false)`), since it
/// takes precedence.
pub fn install(ctx: &SessionContext, catalog: &str) -> Result<()> {
    let list = ctx.state().catalog_list().clone();
    let provider = ctx
        .catalog(catalog)
        .ok_or_else(|| DataFusionError::Configuration(format!("no catalog {catalog}")))?;
    provider.register_schema(
        "information_schema",
        Arc::new(InformationSchema {
            inner: InformationSchemaProvider::new(list.clone()),
            catalogs: list,
        }),
    )?;
    Ok(())
}

#[derive(Debug)]
struct InformationSchema {
    inner: InformationSchemaProvider,
    catalogs: Arc<dyn CatalogProviderList>,
}

#[async_trait]
impl SchemaProvider for InformationSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.inner.table_names();
        names.extend(QUERY_TABLES.iter().map(|t| t.name.to_string()));
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(keys) = QUERY_TABLES
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(name))
        {
            return Ok(Some(Arc::new(keys.clone())));
        }
        let Some(table) = self.inner.table(name).await? else {
            return Ok(None);
        };
        if !name.eq_ignore_ascii_case("columns") {
            return Ok(Some(table));
        }
        // Built when scanned: pg_catalog's tables ask for every table while
        // they are built, and columns reads them.
        let mut fields = table.schema().fields().to_vec();
        fields.extend(
            ADDED_COLUMNS
                .iter()
                .map(|name| Arc::new(Field::new(*name, DataType::Utf8, true))),
        );
        Ok(Some(Arc::new(Columns {
            inner: table,
            schema: Arc::new(Schema::new(fields)),
            catalogs: self.catalogs.clone(),
        })))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
            || QUERY_TABLES
                .iter()
                .any(|t| t.name.eq_ignore_ascii_case(name))
    }
}

/// A table of `information_schema` answered by a query over `pg_catalog`.
#[derive(Debug, Clone)]
struct CatalogQuery {
    name: &'static str,
    /// Its columns: text, but for those named here as integers.
    columns: &'static [&'static str],
    integers: &'static [&'static str],
    sql: &'static str,
}

/// PostgreSQL's constraint tables, holding primary keys (the only
/// constraints Cassandra has), and its privilege tables: every user who
/// may connect may read every relation, insert into tables and call every
/// function, so those privileges are listed as the current user's.
const QUERY_TABLES: [CatalogQuery; 4] = [
    CatalogQuery {
        name: "table_constraints",
        columns: &[
            "constraint_catalog",
            "constraint_schema",
            "constraint_name",
            "table_catalog",
            "table_schema",
            "table_name",
            "constraint_type",
            "is_deferrable",
            "initially_deferred",
            "enforced",
            "nulls_distinct",
        ],
        integers: &[],
        sql: "SELECT current_database() AS constraint_catalog, n.nspname AS constraint_schema, \
              c.conname AS constraint_name, current_database() AS table_catalog, \
              n.nspname AS table_schema, r.relname AS table_name, \
              CASE c.contype WHEN 'p' THEN 'PRIMARY KEY' WHEN 'u' THEN 'UNIQUE' \
              WHEN 'f' THEN 'FOREIGN KEY' WHEN 'c' THEN 'CHECK' END AS constraint_type, \
              'NO' AS is_deferrable, 'NO' AS initially_deferred, 'YES' AS enforced, \
              NULL AS nulls_distinct \
              FROM pg_catalog.pg_constraint c \
              JOIN pg_catalog.pg_class r ON r.oid = c.conrelid \
              JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace",
    },
    CatalogQuery {
        name: "key_column_usage",
        columns: &[
            "constraint_catalog",
            "constraint_schema",
            "constraint_name",
            "table_catalog",
            "table_schema",
            "table_name",
            "column_name",
            "ordinal_position",
            "position_in_unique_constraint",
        ],
        integers: &["ordinal_position", "position_in_unique_constraint"],
        sql: "SELECT current_database() AS constraint_catalog, n.nspname AS constraint_schema, \
              c.conname AS constraint_name, current_database() AS table_catalog, \
              n.nspname AS table_schema, r.relname AS table_name, a.attname AS column_name, \
              array_position(c.conkey, a.attnum) AS ordinal_position, \
              NULL AS position_in_unique_constraint \
              FROM pg_catalog.pg_constraint c \
              JOIN pg_catalog.pg_class r ON r.oid = c.conrelid \
              JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace \
              JOIN pg_catalog.pg_attribute a ON a.attrelid = r.oid AND a.attnum = ANY(c.conkey) \
              WHERE c.contype IN ('p', 'u', 'f')",
    },
    CatalogQuery {
        name: "table_privileges",
        columns: &[
            "grantor",
            "grantee",
            "table_catalog",
            "table_schema",
            "table_name",
            "privilege_type",
            "is_grantable",
            "with_hierarchy",
        ],
        integers: &[],
        sql: "SELECT session_user AS grantor, session_user AS grantee, \
              current_database() AS table_catalog, n.nspname AS table_schema, \
              c.relname AS table_name, p.privilege_type, 'NO' AS is_grantable, \
              'YES' AS with_hierarchy \
              FROM pg_catalog.pg_class c \
              JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
              JOIN (VALUES ('SELECT'), ('INSERT')) AS p(privilege_type) \
                ON p.privilege_type = 'SELECT' OR c.relkind = 'r' \
              WHERE c.relkind IN ('r', 'v', 'm') \
                AND n.nspname NOT IN ('pg_catalog', 'information_schema')",
    },
    CatalogQuery {
        name: "routine_privileges",
        columns: &[
            "grantor",
            "grantee",
            "specific_catalog",
            "specific_schema",
            "specific_name",
            "routine_catalog",
            "routine_schema",
            "routine_name",
            "privilege_type",
            "is_grantable",
        ],
        integers: &[],
        sql: "SELECT session_user AS grantor, session_user AS grantee, \
              current_database() AS specific_catalog, n.nspname AS specific_schema, \
              p.proname || '_' || CAST(p.oid AS TEXT) AS specific_name, \
              current_database() AS routine_catalog, n.nspname AS routine_schema, \
              p.proname AS routine_name, 'EXECUTE' AS privilege_type, 'NO' AS is_grantable \
              FROM pg_catalog.pg_proc p \
              JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace",
    },
];

#[async_trait]
impl TableProvider for CatalogQuery {
    fn schema(&self) -> SchemaRef {
        let fields: Vec<Field> = self
            .columns
            .iter()
            .map(|name| {
                let data_type = if self.integers.contains(name) {
                    DataType::Int32
                } else {
                    DataType::Utf8
                };
                Field::new(*name, data_type, true)
            })
            .collect();
        Arc::new(Schema::new(fields))
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let Some(session) = state.as_any().downcast_ref::<SessionState>() else {
            return Err(DataFusionError::Internal(format!(
                "information_schema.{} needs a SessionState",
                self.name
            )));
        };
        let batches = SessionContext::new_with_state(session.clone())
            .sql(self.sql)
            .await?
            .collect()
            .await?;
        let schema = self.schema();
        let batches = batches
            .iter()
            .map(|batch| {
                let columns = batch
                    .columns()
                    .iter()
                    .zip(schema.fields())
                    .map(|(column, field)| cast(column, field.data_type()))
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                RecordBatch::try_new(Arc::clone(&schema), columns).map_err(Into::into)
            })
            .collect::<Result<Vec<_>>>()?;
        MemTable::try_new(schema, vec![batches])?
            .scan(state, projection, filters, limit)
            .await
    }
}

/// The columns of PostgreSQL's `information_schema.columns` that
/// DataFusion's lacks, in the order they are added.
const ADDED_COLUMNS: [&str; 6] = [
    "udt_catalog",
    "udt_schema",
    "udt_name",
    "is_identity",
    "is_generated",
    "is_updatable",
];

/// A table's catalog, schema and name.
type TableName<'a> = (&'a str, &'a str, &'a str);

/// `information_schema.columns` with PostgreSQL's type names.
#[derive(Debug)]
struct Columns {
    inner: Arc<dyn TableProvider>,
    /// DataFusion's columns, then [`ADDED_COLUMNS`].
    schema: SchemaRef,
    catalogs: Arc<dyn CatalogProviderList>,
}

#[async_trait]
impl TableProvider for Columns {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let plan = self.inner.scan(state, None, &[], None).await?;
        let batches = collect(plan, state.task_ctx()).await?;
        let columns = concat_batches(&self.inner.schema(), &batches)?;
        let columns = self.postgres_types(&columns).await?;
        MemTable::try_new(self.schema(), vec![vec![columns]])?
            .scan(state, projection, filters, limit)
            .await
    }
}

impl Columns {
    /// `columns` with `data_type` as PostgreSQL names each column's type,
    /// and [`ADDED_COLUMNS`].
    async fn postgres_types(&self, columns: &RecordBatch) -> Result<RecordBatch> {
        let text = |name: &str| {
            columns
                .column_by_name(name)
                .and_then(|c| c.as_string_opt::<i32>())
                .ok_or_else(|| {
                    DataFusionError::Internal(format!("information_schema.columns has no {name}"))
                })
        };
        let (catalog, schema, table, column, data_type, is_nullable) = (
            text("table_catalog")?,
            text("table_schema")?,
            text("table_name")?,
            text("column_name")?,
            text("data_type")?,
            text("is_nullable")?,
        );
        let mut named = StringBuilder::new();
        let mut udt_name = StringBuilder::new();
        let mut nullable = StringBuilder::new();
        // Rows of one table are consecutive: look each table up once.
        let mut current: Option<(TableName<'_>, Option<SchemaRef>, Vec<String>)> = None;
        for row in 0..columns.num_rows() {
            let key = (catalog.value(row), schema.value(row), table.value(row));
            if current.as_ref().is_none_or(|(k, _, _)| *k != key) {
                let provider = match self.catalogs.catalog(key.0) {
                    Some(c) => match c.schema(key.1) {
                        Some(s) => s.table(key.2).await.ok().flatten(),
                        None => None,
                    },
                    None => None,
                };
                let primary_key = provider
                    .as_ref()
                    .map(|t| primary_key(t).into_iter().map(|(_, c)| c).collect())
                    .unwrap_or_default();
                current = Some((key, provider.map(|t| t.schema()), primary_key));
            }
            // A primary-key column is never NULL, as in pg_attribute.
            let in_key = current
                .as_ref()
                .is_some_and(|(_, _, k)| k.iter().any(|c| c == column.value(row)));
            if in_key {
                nullable.append_value("NO");
            } else {
                nullable.append_option((!is_nullable.is_null(row)).then(|| is_nullable.value(row)));
            }
            let provider = current.as_ref().and_then(|(_, s, _)| s.clone());
            let postgres = provider.and_then(|schema| {
                let field = schema.field_with_name(column.value(row)).ok()?;
                let pg = wire_type(&Arc::new(field.clone())).ok()?;
                // The canonical type of its oid: arrow-pg names records by
                // their fields.
                Some(Type::from_oid(pg.oid()).unwrap_or(pg))
            });
            match &postgres {
                Some(pg) => {
                    named.append_value(match pg.kind() {
                        postgres_types::Kind::Array(_) => "ARRAY".to_string(),
                        _ => sql_type_name(pg),
                    });
                    udt_name.append_value(pg.name());
                }
                None => {
                    if data_type.is_null(row) {
                        named.append_null();
                    } else {
                        named.append_value(data_type.value(row));
                    }
                    udt_name.append_null();
                }
            }
        }
        let rows = columns.num_rows();
        let constant = |value: &str| -> ArrayRef { Arc::new(StringArray::from(vec![value; rows])) };
        let index = columns.schema().index_of("data_type")?;
        let mut arrays = columns.columns().to_vec();
        arrays[index] = Arc::new(named.finish());
        let index = columns.schema().index_of("is_nullable")?;
        arrays[index] = Arc::new(nullable.finish());
        // DataFusion counts positions from 0, PostgreSQL from 1.
        let index = columns.schema().index_of("ordinal_position")?;
        let from_zero = arrays[index]
            .as_primitive_opt::<UInt64Type>()
            .ok_or_else(|| DataFusionError::Internal("ordinal_position is not UInt64".into()))?;
        arrays[index] = Arc::new(unary::<_, _, UInt64Type>(from_zero, |p| p + 1));
        arrays.extend([
            Arc::new(catalog.clone()) as ArrayRef,
            constant("pg_catalog"),
            Arc::new(udt_name.finish()),
            constant("NO"),
            constant("NEVER"),
            constant("YES"),
        ]);
        RecordBatch::try_new(self.schema(), arrays).map_err(Into::into)
    }
}
