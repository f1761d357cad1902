//! A shared, lazily opened session to the cluster.
//!
//! The gateway must start, and keep serving everything else, while Cassandra
//! is down. So nothing connects at start-up: the first query that needs
//! Cassandra opens the session, and a failed attempt is retried by the next
//! query. Once open, the driver itself reconnects to nodes that come back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::cluster::ClusterState;
use scylla::policies::load_balancing::{DefaultPolicy, LoadBalancingPolicy};
use scylla::statement::prepared::PreparedStatement;
use tracing::{info, warn};

use crate::config::CassandraOptions;
use crate::error::{Error, Result};
use crate::indexes::{IndexCache, IndexedColumn};
use crate::routing::TokenRangeRouting;
use crate::sizes::{split_target, SizeCache};
use crate::token::{plan_splits, ring_fraction, TokenRange};

/// The cluster connection every Cassandra table shares.
#[derive(Debug)]
pub struct CassandraConnection {
    options: CassandraOptions,
    session: RwLock<Option<Arc<Session>>>,
    /// Serialises connection attempts, so a burst of queries against a down
    /// cluster makes one attempt, not one each.
    connecting: tokio::sync::Mutex<()>,
    prepared: Mutex<PreparedCache<PreparedStatement>>,
    /// The driver's default plan, which token-range routing falls back to.
    default_routing: Arc<DefaultPolicy>,
    indexes: IndexCache,
    sizes: SizeCache,
}

impl CassandraConnection {
    /// A connection that opens on first use.
    pub fn new(options: CassandraOptions) -> Self {
        Self {
            options,
            session: RwLock::new(None),
            connecting: tokio::sync::Mutex::new(()),
            prepared: Mutex::new(PreparedCache::default()),
            default_routing: Arc::new(DefaultPolicy::default()),
            indexes: IndexCache::default(),
            sizes: SizeCache::default(),
        }
    }

    /// A load-balancing policy that sends a read of the token range ending
    /// at `end` of `keyspace.table` to a replica of that range.
    pub fn token_range_routing(
        &self,
        keyspace: &str,
        table: &str,
        end: i64,
    ) -> Arc<dyn LoadBalancingPolicy> {
        Arc::new(TokenRangeRouting::new(
            keyspace,
            table,
            end,
            self.default_routing.clone(),
        ))
    }

    /// The connection profile.
    pub fn options(&self) -> &CassandraOptions {
        &self.options
    }

    /// The open session, without trying to open one.
    pub fn current(&self) -> Option<Arc<Session>> {
        self.session.read().ok().and_then(|s| s.clone())
    }

    /// The cluster's schema and topology as last read, if connected.
    pub fn cluster_state(&self) -> Option<Arc<ClusterState>> {
        self.current().map(|s| s.get_cluster_state())
    }

    /// The open session, opening it first if needed.
    pub async fn session(&self) -> Result<Arc<Session>> {
        if let Some(session) = self.current() {
            return Ok(session);
        }
        let _attempt = self.connecting.lock().await;
        if let Some(session) = self.current() {
            return Ok(session);
        }
        let session = Arc::new(self.open().await?);
        if let Ok(mut slot) = self.session.write() {
            *slot = Some(session.clone());
        }
        Ok(session)
    }

    async fn open(&self) -> Result<Session> {
        let o = &self.options;
        let mut builder = SessionBuilder::new()
            .known_nodes(&o.contact_points)
            .connection_timeout(o.connect_timeout)
            .cluster_metadata_refresh_interval(o.metadata_refresh_interval);
        if let (Some(user), Some(password)) = (&o.username, &o.password) {
            builder = builder.user(user, password);
        }
        let unavailable = |reason: String| Error::Unavailable {
            contact_points: o.contact_points.join(","),
            reason,
        };
        let built = tokio::time::timeout(o.connect_timeout * 2, builder.build()).await;
        match built {
            Ok(Ok(session)) => {
                info!(contact_points = ?o.contact_points, "connected to Cassandra");
                Ok(session)
            }
            Ok(Err(err)) => {
                warn!(contact_points = ?o.contact_points, error = %err, "cannot connect to Cassandra");
                Err(unavailable(err.to_string()))
            }
            Err(_) => Err(unavailable(format!(
                "no answer within {:?}",
                o.connect_timeout * 2
            ))),
        }
    }

    /// A prepared statement for `cql`, prepared once per session.
    pub async fn prepare(&self, table: &str, cql: &str) -> Result<PreparedStatement> {
        if let Some(found) = self.prepared.lock().ok().and_then(|mut m| m.get(cql)) {
            return Ok(found);
        }
        let session = self.session().await?;
        let mut prepared = session
            .prepare(cql)
            .await
            .map_err(|e| Error::prepare(table, &e))?;
        prepared.set_request_timeout(Some(self.options.request_timeout));
        prepared.set_page_size(self.options.page_size);
        if let Ok(mut cache) = self.prepared.lock() {
            cache.insert(cql, prepared.clone());
        }
        Ok(prepared)
    }

    /// Runs a schema change (`CREATE TABLE`, `DROP TABLE`) on `table`, waits
    /// until every node agrees on the new schema, and re-reads it, so the
    /// change is visible to the next query.
    pub async fn change_schema(&self, table: &str, cql: &str) -> Result<()> {
        let session = self.session().await?;
        let mut statement = scylla::statement::unprepared::Statement::new(cql);
        statement.set_request_timeout(Some(self.options.request_timeout));
        session
            .query_unpaged(statement, ())
            .await
            .map_err(|e| Error::request(table, &e))?;
        if let Err(err) = session.await_schema_agreement().await {
            warn!(error = %err, "no schema agreement after a schema change");
        }
        self.refresh_schema().await
    }

    /// The columns of `keyspace.table` with an SAI index that answers
    /// predicates exactly (see [`crate::indexes`]).
    pub async fn indexes(&self, keyspace: &str, table: &str) -> Result<Arc<[IndexedColumn]>> {
        let session = self.session().await?;
        self.indexes.get(&session, keyspace, table).await
    }

    /// The estimated size of `keyspace.table` in bytes, from Cassandra's
    /// size estimates; `None` while Cassandra has none (a table never
    /// flushed to disk, say).
    pub async fn estimated_bytes(&self, keyspace: &str, table: &str) -> Result<Option<u64>> {
        let session = self.session().await?;
        Ok(self.sizes.get(&session, keyspace, table).await)
    }

    /// The estimated size of every table together, in bytes: what
    /// `pg_database_size` answers. `None` when Cassandra has no estimate.
    pub async fn estimated_total_bytes(&self) -> Result<Option<u64>> {
        let session = self.session().await?;
        Ok(crate::sizes::total(&session).await)
    }

    /// The token ranges a full scan of `keyspace.table` within `bounds`
    /// reads: `scan_splits` of them, or one per `scan_split_bytes` of the
    /// table's estimated size, never crossing a token of the ring.
    pub async fn token_splits(
        &self,
        keyspace: &str,
        table: &str,
        bounds: TokenRange,
    ) -> Result<Vec<TokenRange>> {
        let session = self.session().await?;
        let o = &self.options;
        let whole = match o.scan_splits {
            Some(n) => n,
            // Many ranges per stream, so streams finish close together
            // even when ranges hold different amounts of data.
            None => split_target(
                self.sizes.get(&session, keyspace, table).await,
                o.scan_split_bytes,
                o.scan_parallelism.saturating_mul(16),
            ),
        };
        // The share of the ring inside the bounds gets its share of ranges.
        let target = ((whole as f64) * ring_fraction(&[bounds])).ceil() as usize;
        let ring: Vec<i64> = session
            .get_cluster_state()
            .replica_locator()
            .ring()
            .iter()
            .map(|(token, _)| token.value())
            .collect();
        Ok(plan_splits(bounds, &ring, target.max(1)))
    }

    /// Whether the cluster has `keyspace`, as last read.
    pub fn has_keyspace(&self, keyspace: &str) -> bool {
        self.cluster_state()
            .is_some_and(|state| state.get_keyspace(keyspace).is_some())
    }

    /// Whether the cluster has `keyspace.table`, as last read.
    pub fn has_table(&self, keyspace: &str, table: &str) -> bool {
        self.cluster_state().is_some_and(|state| {
            state
                .get_keyspace(keyspace)
                .is_some_and(|ks| ks.tables.contains_key(table))
        })
    }

    /// Re-reads the cluster's schema now.
    pub async fn refresh_schema(&self) -> Result<()> {
        let session = self.session().await?;
        if let Err(err) = session.refresh_metadata().await {
            warn!(error = %err, "refreshing Cassandra metadata failed");
        }
        Ok(())
    }
}

/// The most prepared statements kept per connection. Query shapes, not
/// values, make statements, so a working set is far smaller; the bound
/// keeps ad-hoc shapes from growing memory without end.
const MAX_PREPARED: usize = 1024;

/// Prepared statements by CQL text; the least recently used goes first.
#[derive(Debug)]
struct PreparedCache<T> {
    statements: HashMap<String, (T, u64)>,
    clock: u64,
    capacity: usize,
}

impl<T: Clone> Default for PreparedCache<T> {
    fn default() -> Self {
        Self {
            statements: HashMap::new(),
            clock: 0,
            capacity: MAX_PREPARED,
        }
    }
}

impl<T: Clone> PreparedCache<T> {
    fn get(&mut self, cql: &str) -> Option<T> {
        self.clock += 1;
        let clock = self.clock;
        self.statements.get_mut(cql).map(|(statement, used)| {
            *used = clock;
            statement.clone()
        })
    }

    fn insert(&mut self, cql: &str, statement: T) {
        if self.statements.len() >= self.capacity && !self.statements.contains_key(cql) {
            let oldest = self
                .statements
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                self.statements.remove(&oldest);
            }
        }
        self.clock += 1;
        self.statements
            .insert(cql.to_string(), (statement, self.clock));
    }
}

/// Shared handle to a [`CassandraConnection`].
pub type SharedConnection = Arc<CassandraConnection>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepared_cache_drops_the_least_recently_used() {
        let mut cache = PreparedCache {
            capacity: 2,
            ..PreparedCache::default()
        };
        cache.insert("a", 1);
        cache.insert("b", 2);
        assert_eq!(cache.get("a"), Some(1));
        cache.insert("c", 3);
        assert_eq!(cache.get("b"), None, "b was used least recently");
        assert_eq!(cache.get("a"), Some(1));
        assert_eq!(cache.get("c"), Some(3));
        assert_eq!(cache.statements.len(), 2);
    }
}
