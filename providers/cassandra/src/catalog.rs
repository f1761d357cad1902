//! Keyspaces as SQL schemas, read live from the driver's cluster metadata.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::error::Result;

use scylla::cluster::metadata::ColumnKind;

use crate::connection::SharedConnection;
use crate::provider::CassandraTableProvider;

/// Keyspaces that belong to Cassandra itself, or to smackql's own catalog
/// store. They are left out of listings but can still be queried by name.
pub const INTERNAL_KEYSPACES: &[&str] = &[
    "system",
    "system_auth",
    "system_distributed",
    "system_schema",
    "system_traces",
    "system_views",
    "system_virtual_schema",
    "smackql_meta",
];

/// The keyspaces of one Cassandra cluster.
#[derive(Debug, Clone)]
pub struct CassandraCatalog {
    connection: SharedConnection,
}

impl CassandraCatalog {
    /// The keyspaces reachable through `connection`.
    pub fn new(connection: SharedConnection) -> Self {
        Self { connection }
    }

    /// The connection this catalog reads through.
    pub fn connection(&self) -> &SharedConnection {
        &self.connection
    }

    /// User keyspaces, as of the last metadata read. Empty while Cassandra
    /// has not been reached yet.
    pub fn keyspace_names(&self) -> Vec<String> {
        let Some(state) = self.connection.cluster_state() else {
            return Vec::new();
        };
        let mut names: Vec<String> = state
            .keyspaces_iter()
            .map(|(name, _)| name.to_string())
            .filter(|name| !INTERNAL_KEYSPACES.contains(&name.as_str()))
            .collect();
        names.sort();
        names
    }

    /// The schema of keyspace `name`.
    ///
    /// Any name gets a schema: whether the keyspace exists is decided when a
    /// table is looked up, which can wait for Cassandra. A keyspace created a
    /// moment ago is found, and a query against an unreachable cluster fails
    /// with "Cassandra is unavailable" rather than "no such schema".
    pub fn keyspace(&self, name: &str) -> Arc<KeyspaceSchemaProvider> {
        Arc::new(KeyspaceSchemaProvider {
            connection: self.connection.clone(),
            keyspace: name.to_string(),
        })
    }

    /// Whether the keyspace is known, as of the last metadata read.
    pub fn keyspace_exists(&self, name: &str) -> bool {
        self.connection
            .cluster_state()
            .is_some_and(|state| state.get_keyspace(name).is_some())
    }
}

/// The tables of one keyspace.
#[derive(Debug)]
pub struct KeyspaceSchemaProvider {
    connection: SharedConnection,
    keyspace: String,
}

impl KeyspaceSchemaProvider {
    async fn lookup(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let Some(state) = self.connection.cluster_state() else {
            return Ok(None);
        };
        let Some(table) = state
            .get_keyspace(&self.keyspace)
            .and_then(|k| k.tables.get(name))
            .filter(|table| is_complete(table))
        else {
            return Ok(None);
        };
        let indexed = self.connection.indexes(&self.keyspace, name).await?;
        let provider = CassandraTableProvider::try_new(
            self.connection.clone(),
            &self.keyspace,
            name,
            table,
            indexed,
        )?;
        Ok(Some(Arc::new(provider)))
    }
}

/// Whether the driver's metadata of a table is whole: its key columns are
/// all among its columns and the other way round. Metadata read while a
/// table is being created can be missing parts; such a table is looked up
/// again after a refresh rather than shown without its key.
fn is_complete(table: &scylla::cluster::metadata::Table) -> bool {
    let keys = table.partition_key.len() + table.clustering_key.len();
    let key_columns = table
        .columns
        .values()
        .filter(|c| matches!(c.kind, ColumnKind::PartitionKey | ColumnKind::Clustering))
        .count();
    !table.partition_key.is_empty()
        && key_columns == keys
        && table
            .partition_key
            .iter()
            .chain(&table.clustering_key)
            .all(|k| table.columns.contains_key(k))
}

#[async_trait]
impl SchemaProvider for KeyspaceSchemaProvider {
    fn table_names(&self) -> Vec<String> {
        let Some(state) = self.connection.cluster_state() else {
            return Vec::new();
        };
        let mut names: Vec<String> = state
            .get_keyspace(&self.keyspace)
            .map(|k| k.tables.keys().cloned().collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        // Connects first if needed, so an unreachable cluster is an error
        // that says so, not a missing table.
        self.connection.session().await?;
        if let Some(found) = self.lookup(name).await? {
            return Ok(Some(found));
        }
        // Unknown as of the last read: the table may be new, and its
        // metadata may still be arriving.
        for delay_ms in [0, 50, 200, 500] {
            tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
            self.connection.refresh_schema().await?;
            if let Some(found) = self.lookup(name).await? {
                return Ok(Some(found));
            }
            if !self.table_exist(name) {
                break;
            }
        }
        Ok(None)
    }

    fn table_exist(&self, name: &str) -> bool {
        self.connection.cluster_state().is_some_and(|state| {
            state
                .get_keyspace(&self.keyspace)
                .is_some_and(|k| k.tables.contains_key(name))
        })
    }
}
