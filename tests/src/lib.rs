//! The end-to-end test harness of smackql.
//!
//! Tests run against real services, never mocks:
//! - [`services::ensure`] starts Cassandra and Kafka with
//!   `docker/dev-services up` when they are not running (under a file lock, so
//!   parallel test binaries share one set), and fails loudly when it cannot;
//! - [`gateway::TestGateway`] runs an [`smackql::Application`] in-process on
//!   port 0 and connects to it with a real Postgres client;
//! - [`slt`] runs `.slt` files over the wire and in-process;
//! - [`clients`] installs real client programs of other languages (Python
//!   ADBC, the Flight SQL JDBC driver);
//! - [`process`] runs the `smackql` binary as a child, for tests that kill it;
//! - [`kafka`] creates topics and produces exactly the messages a test needs;
//! - every test works in a keyspace or topic of its own ([`unique_name`]).

pub mod ad_events;
pub mod all_types;
pub mod clients;
pub mod gateway;
pub mod kafka;
pub mod pg_types;
pub mod process;
pub mod services;
pub mod slt;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A name no other test uses: `prefix_<pid>_<time>_<counter>`, valid as a
/// CQL keyspace or a Kafka topic (lower case, under 48 characters).
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}_{}_{nanos:x}_{n}", std::process::id())
}

/// The repository's root directory.
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(|| std::path::PathBuf::from("."))
}
