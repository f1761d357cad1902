//! The connection profile: how to reach a Cassandra cluster, and the
//! defaults its tables are read with.

use std::fmt;
use std::time::Duration;

use std::collections::HashMap;

use crate::session_options::RequestOptions;
use crate::types::TypeOptions;

/// How to connect to a Cassandra cluster and read from it.
#[derive(Clone)]
pub struct CassandraOptions {
    /// `host:port` of one or more nodes; the driver discovers the rest.
    pub contact_points: Vec<String>,
    /// User name for Cassandra's password authenticator, if it has one.
    pub username: Option<String>,
    /// Password for `username`.
    pub password: Option<String>,
    /// How long opening a connection may take.
    pub connect_timeout: Duration,
    /// How long one request (one page of a scan) may take.
    pub request_timeout: Duration,
    /// Rows per page of a scan; each page becomes one Arrow batch.
    pub page_size: i32,
    /// How often the driver re-reads the schema, so created and dropped
    /// keyspaces and tables appear without a restart. Lookups of names it
    /// does not know yet re-read it at once.
    pub metadata_refresh_interval: Duration,
    /// Choices in the CQL → Arrow type mapping.
    pub types: TypeOptions,
    /// Token ranges a full scan is split into; `None` sizes them from the
    /// table's size estimate, one per `scan_split_bytes`.
    pub scan_splits: Option<usize>,
    /// Bytes of table data per token range, when `scan_splits` is not set.
    pub scan_split_bytes: u64,
    /// Token ranges read at once by one full scan.
    pub scan_parallelism: usize,
    /// Write requests (each one partition's rows) in flight at once for one
    /// `INSERT`.
    pub write_parallelism: usize,
    /// The most partitions one scan reads by key (from its filters, or from
    /// the other side of a join); above it, the table is scanned.
    pub max_partition_reads: usize,
    /// Per-table request options, by `keyspace.table`; a session's
    /// settings win over them.
    pub tables: HashMap<String, RequestOptions>,
}

impl Default for CassandraOptions {
    fn default() -> Self {
        Self {
            contact_points: vec!["127.0.0.1:9042".to_string()],
            username: None,
            password: None,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            page_size: 5000,
            metadata_refresh_interval: Duration::from_secs(10),
            types: TypeOptions::default(),
            scan_splits: None,
            scan_split_bytes: 64 << 20,
            scan_parallelism: 4,
            write_parallelism: 32,
            max_partition_reads: crate::pushdown::DEFAULT_MAX_PARTITION_READS,
            tables: HashMap::new(),
        }
    }
}

impl fmt::Debug for CassandraOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CassandraOptions")
            .field("contact_points", &self.contact_points)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("page_size", &self.page_size)
            .field("metadata_refresh_interval", &self.metadata_refresh_interval)
            .field("types", &self.types)
            .field("scan_splits", &self.scan_splits)
            .field("scan_split_bytes", &self.scan_split_bytes)
            .field("scan_parallelism", &self.scan_parallelism)
            .field("write_parallelism", &self.write_parallelism)
            .field("max_partition_reads", &self.max_partition_reads)
            .field("tables", &self.tables)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_password() {
        let options = CassandraOptions {
            password: Some("hunter2".into()),
            ..Default::default()
        };
        let shown = format!("{options:?}");
        assert!(!shown.contains("hunter2"));
        assert!(shown.contains("<redacted>"));
    }
}
