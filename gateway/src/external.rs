//! Tables declared over Kafka topics: `CREATE EXTERNAL TABLE ... STORED AS
//! KAFKA` and `DROP TABLE`, with their definitions kept in Cassandra.
//!
//! The catalog crate owns what a definition is and how the declared tables
//! are served ([`DefinedTables`]); this module plugs in the concrete parts:
//! the Cassandra table that stores definitions and the Kafka factory that
//! turns one into a table.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::TableProvider;
use datafusion::error::{DataFusionError, Result};
use datafusion::sql::parser::CreateExternalTable;
use smackql_cassandra::definitions::{DefinitionTable, StoredDefinition};
use smackql_cassandra::CassandraConnection;
use smackql_catalog::{
    DefinedTables, Definition, DefinitionStore, ExternalTable, ExternalTableFactory, DEFAULT_SCHEMA,
};
use smackql_kafka::{KafkaTableOptions, KafkaTableProvider, SharedKafka};
use smackql_providers_common::{ErrorClass, ProviderError};

/// The `STORED AS` of tables over Kafka topics.
pub const KAFKA: &str = "KAFKA";

/// The schema that always exists for Kafka tables.
pub const KAFKA_SCHEMA: &str = "kafka";

/// Definitions of one kind in `smackql_meta.definitions`.
#[derive(Debug)]
pub struct CassandraDefinitions {
    table: Arc<DefinitionTable>,
    kind: &'static str,
}

impl CassandraDefinitions {
    /// The definitions of `kind` (see [`smackql_cassandra::definitions`]).
    pub fn new(table: Arc<DefinitionTable>, kind: &'static str) -> Self {
        Self { table, kind }
    }
}

#[async_trait]
impl DefinitionStore for CassandraDefinitions {
    async fn list(&self) -> Result<Vec<Definition>> {
        Ok(self
            .table
            .list(self.kind)
            .await?
            .into_iter()
            .map(|d| Definition {
                schema: d.schema,
                name: d.name,
                sql: d.sql,
            })
            .collect())
    }

    async fn insert(&self, definition: &Definition) -> Result<bool> {
        Ok(self
            .table
            .insert(
                self.kind,
                &StoredDefinition {
                    schema: definition.schema.clone(),
                    name: definition.name.clone(),
                    sql: definition.sql.clone(),
                },
            )
            .await?)
    }

    async fn remove(&self, schema: &str, name: &str) -> Result<bool> {
        Ok(self.table.remove(self.kind, schema, name).await?)
    }
}

/// Builds tables over Kafka topics.
#[derive(Debug)]
pub struct KafkaTables {
    kafka: SharedKafka,
    parallelism: usize,
}

impl KafkaTables {
    /// Tables read from `kafka`, `parallelism` partitions at a time.
    pub fn new(kafka: SharedKafka, parallelism: usize) -> Self {
        Self { kafka, parallelism }
    }
}

#[async_trait]
impl ExternalTableFactory for KafkaTables {
    async fn create(&self, table: &ExternalTable) -> Result<Arc<dyn TableProvider>> {
        let options = KafkaTableOptions::parse(&table.options)?;
        Ok(Arc::new(
            KafkaTableProvider::try_new(
                self.kafka.clone(),
                &table.location,
                &table.columns,
                options,
                self.parallelism,
            )?
            .with_name(format!("{}.{}", table.schema, table.name)),
        ))
    }

    async fn declare(&self, table: &ExternalTable) -> Result<()> {
        let options = KafkaTableOptions::parse(&table.options)?;
        if let Some(settings) = options.create_topic {
            self.kafka.create_topic(&table.location, settings).await?;
        } else if !self.kafka.has_topic(&table.location).await? {
            return Err(ProviderError::new(
                ErrorClass::NotFound,
                "kafka",
                format!(
                    "topic '{}' does not exist in Kafka; create it first, or add \
                     OPTIONS ('topic.partitions' '<n>') to have smackql create it",
                    table.location
                ),
            )
            .into());
        }
        Ok(())
    }
}

/// `CREATE EXTERNAL TABLE` and `DROP TABLE` of declared tables.
#[derive(Debug)]
pub struct ExternalDdl {
    tables: Arc<DefinedTables>,
    cassandra: Arc<CassandraConnection>,
}

impl ExternalDdl {
    /// Statements on `tables`; `cassandra` tells which schemas are
    /// keyspaces, where external tables may not go.
    pub fn new(tables: Arc<DefinedTables>, cassandra: Arc<CassandraConnection>) -> Self {
        Self { tables, cassandra }
    }

    /// Whether `DROP TABLE schema.name` is this module's.
    pub fn drops(&self, schema: &str) -> bool {
        self.tables.has_schema(schema)
    }

    /// Declares a table. Returns whether it was created (`false` when it
    /// existed and `IF NOT EXISTS` was given).
    pub async fn create(&self, create: &CreateExternalTable) -> Result<bool> {
        let table = ExternalTable::from_statement(create)?;
        if matches!(
            table.schema.as_str(),
            DEFAULT_SCHEMA | "pg_catalog" | "information_schema"
        ) {
            return Err(self.misplaced(&table, "is the gateway's own"));
        }
        if !self.tables.has_schema(&table.schema) {
            if !self.cassandra.has_keyspace(&table.schema) {
                // Not known yet, or Cassandra is unreachable: ask it.
                self.cassandra.refresh_schema().await.ok();
            }
            if self.cassandra.has_keyspace(&table.schema) {
                return Err(self.misplaced(&table, "is a Cassandra keyspace"));
            }
        }
        self.tables.create(table).await
    }

    fn misplaced(&self, table: &ExternalTable, why: &str) -> DataFusionError {
        ProviderError::new(
            ErrorClass::InvalidDefinition,
            "catalog",
            format!(
                "schema \"{}\" {why}; declare external tables in a schema of their own, \
                 such as {KAFKA_SCHEMA}.{}",
                table.schema, table.name
            ),
        )
        .into()
    }

    /// Forgets the table; its topic stays.
    pub async fn drop_table(&self, schema: &str, name: &str, if_exists: bool) -> Result<()> {
        if !self.tables.drop_table(schema, name).await? && !if_exists {
            return Err(ProviderError::new(
                ErrorClass::NotFound,
                "catalog",
                format!("table {schema}.{name} does not exist"),
            )
            .into());
        }
        Ok(())
    }
}
