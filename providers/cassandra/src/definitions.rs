//! The table where smackql keeps the definitions declared through it
//! (`CREATE EXTERNAL TABLE ... STORED AS KAFKA`), so that they survive
//! restarts and every gateway replica sees the same ones.
//!
//! It lives in keyspace [`META_KEYSPACE`], created on first use with
//! `SimpleStrategy` and the configured replication factor; create the
//! keyspace beforehand to choose another strategy. Writes are lightweight
//! transactions, so two replicas declaring the same table at once cannot
//! both succeed, and every request runs at `QUORUM` (`SERIAL` for the
//! transactions).

use std::sync::Arc;

use scylla::response::query_result::QueryResult;
use scylla::statement::unprepared::Statement;
use scylla::statement::{Consistency, SerialConsistency};
use tokio::sync::OnceCell;

use crate::connection::SharedConnection;
use crate::cql::quote_identifier;
use crate::error::{Error, Result};

/// The keyspace of smackql's own tables.
pub const META_KEYSPACE: &str = "smackql_meta";

/// The table of definitions in [`META_KEYSPACE`], partitioned by kind and
/// clustered by schema and name.
pub const DEFINITIONS: &str = "definitions";

/// The kind of the definitions of tables over Kafka topics.
pub const EXTERNAL_TABLE: &str = "external_table";

/// The kind of the definitions of materialized views.
pub const MATERIALIZED_VIEW: &str = "materialized_view";

/// One stored definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDefinition {
    /// The schema of the table.
    pub schema: String,
    /// The table's name.
    pub name: String,
    /// The statement that declared it.
    pub sql: String,
}

/// `smackql_meta.definitions`.
#[derive(Debug)]
pub struct DefinitionTable {
    connection: SharedConnection,
    replication_factor: u32,
    ready: OnceCell<()>,
}

impl DefinitionTable {
    /// The table, through `connection`; its keyspace, when smackql has to
    /// create it, gets `replication_factor` replicas.
    pub fn new(connection: SharedConnection, replication_factor: u32) -> Arc<Self> {
        Arc::new(Self {
            connection,
            replication_factor: replication_factor.max(1),
            ready: OnceCell::new(),
        })
    }

    fn qualified() -> String {
        format!("{META_KEYSPACE}.{DEFINITIONS}")
    }

    /// Creates the keyspace and table unless they exist. Retried by the
    /// next call when it fails.
    async fn ensure(&self) -> Result<()> {
        self.ready
            .get_or_try_init(|| {
                ensure_meta_table(
                    &self.connection,
                    self.replication_factor,
                    DEFINITIONS,
                    "(kind text, schema_name text, name text, definition text, \
                     PRIMARY KEY ((kind), schema_name, name))",
                )
            })
            .await
            .map(|_| ())
    }

    fn statement(&self, cql: String) -> Statement {
        let mut statement = Statement::new(cql);
        statement.set_consistency(Consistency::Quorum);
        statement.set_serial_consistency(Some(SerialConsistency::Serial));
        statement.set_request_timeout(Some(self.connection.options().request_timeout));
        statement
    }

    /// Runs `cql` with `values` on the table, creating it first if needed.
    async fn run(
        &self,
        cql: String,
        values: impl scylla::serialize::row::SerializeRow,
    ) -> Result<QueryResult> {
        self.ensure().await?;
        let session = self.connection.session().await?;
        session
            .query_unpaged(self.statement(cql), values)
            .await
            .map_err(|e| Error::request(&Self::qualified(), &e))
    }

    /// Every stored definition of `kind`.
    pub async fn list(&self, kind: &str) -> Result<Vec<StoredDefinition>> {
        let table = Self::qualified();
        let result = self
            .run(
                format!("SELECT schema_name, name, definition FROM {table} WHERE kind = ?"),
                (kind,),
            )
            .await?;
        let rows = result
            .into_rows_result()
            .map_err(|e| Error::response(&table, &e))?;
        rows.rows::<(String, String, String)>()
            .map_err(|e| Error::response(&table, &e))?
            .map(|row| {
                let (schema, name, sql) = row.map_err(|e| Error::response(&table, &e))?;
                Ok(StoredDefinition { schema, name, sql })
            })
            .collect()
    }

    /// Stores `definition` of `kind` unless one of that kind, schema and
    /// name exists; returns whether it was stored.
    pub async fn insert(&self, kind: &str, definition: &StoredDefinition) -> Result<bool> {
        let table = Self::qualified();
        let result = self
            .run(
                format!(
                    "INSERT INTO {table} (kind, schema_name, name, definition) \
                     VALUES (?, ?, ?, ?) IF NOT EXISTS"
                ),
                (kind, &definition.schema, &definition.name, &definition.sql),
            )
            .await?;
        applied(&table, result)
    }

    /// Removes the definition of `kind` of `schema.name`; returns whether
    /// there was one.
    pub async fn remove(&self, kind: &str, schema: &str, name: &str) -> Result<bool> {
        let table = Self::qualified();
        let result = self
            .run(
                format!(
                    "DELETE FROM {table} WHERE kind = ? AND schema_name = ? AND name = ? IF EXISTS"
                ),
                (kind, schema, name),
            )
            .await?;
        applied(&table, result)
    }
}

/// Creates [`META_KEYSPACE`] (with `replication_factor` replicas) and its
/// table `table` with `columns` (the column list and primary key), unless
/// they exist.
pub(crate) async fn ensure_meta_table(
    connection: &SharedConnection,
    replication_factor: u32,
    table: &str,
    columns: &str,
) -> Result<()> {
    // Schema changes wait for agreement across the cluster; a gateway
    // starting where the table exists makes none.
    connection.session().await?;
    if connection.has_table(META_KEYSPACE, table) {
        return Ok(());
    }
    let keyspace = quote_identifier(META_KEYSPACE);
    connection
        .change_schema(
            META_KEYSPACE,
            &format!(
                "CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = \
                 {{'class': 'SimpleStrategy', 'replication_factor': {replication_factor}}}"
            ),
        )
        .await?;
    connection
        .change_schema(
            &format!("{META_KEYSPACE}.{table}"),
            &format!(
                "CREATE TABLE IF NOT EXISTS {keyspace}.{} {columns}",
                quote_identifier(table)
            ),
        )
        .await
}

/// The `[applied]` column of a lightweight transaction's answer.
pub(crate) fn applied(table: &str, result: QueryResult) -> Result<bool> {
    let rows = result
        .into_rows_result()
        .map_err(|e| Error::response(table, &e))?;
    let index = rows
        .column_specs()
        .iter()
        .position(|c| c.name() == "[applied]")
        .ok_or_else(|| Error::response(table, &"no [applied] column in the answer"))?;
    let mut iter = rows
        .rows::<scylla::value::Row>()
        .map_err(|e| Error::response(table, &e))?;
    let row = iter
        .next()
        .ok_or_else(|| Error::response(table, &"an empty answer"))?
        .map_err(|e| Error::response(table, &e))?;
    match row.columns.get(index) {
        Some(Some(scylla::value::CqlValue::Boolean(applied))) => Ok(*applied),
        other => Err(Error::response(
            table,
            &format!("[applied] is {other:?}, not a boolean"),
        )),
    }
}
