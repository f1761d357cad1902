//! Cassandra tables as DataFusion tables.
//!
//! This crate owns everything between a SQL scan and Cassandra: discovery of
//! keyspaces and tables from the driver's cluster metadata
//! ([`CassandraCatalog`]), the CQL → Arrow type mapping ([`types`]), and the
//! scan ([`CassandraScanExec`]), which sends prepared CQL with bound values
//! and decodes each page straight into an Arrow batch.
//!
//! It depends on DataFusion, the `scylla` driver and `smackql-providers-common`
//! only; it knows nothing of the gateway or the catalog that uses it.
//!
//! ```no_run
//! use std::sync::Arc;
//! use smackql_cassandra::{CassandraCatalog, CassandraConnection, CassandraOptions};
//!
//! let connection = Arc::new(CassandraConnection::new(CassandraOptions {
//!     contact_points: vec!["127.0.0.1:9042".into()],
//!     ..Default::default()
//! }));
//! let catalog = CassandraCatalog::new(connection);
//! // Each keyspace is a DataFusion SchemaProvider:
//! let shop = catalog.keyspace("shop");
//! # let _ = shop;
//! ```

mod catalog;
mod config;
mod connection;
pub mod cql;
pub mod ddl;
pub mod definitions;
pub mod encode;
mod error;
mod exec;
pub mod indexes;
pub mod lookup;
pub mod params;
pub mod progress;
mod provider;
pub mod pushdown;
mod routing;
mod session_options;
mod sink;
pub mod sizes;
pub mod token;
pub mod types;

pub use catalog::{CassandraCatalog, KeyspaceSchemaProvider, INTERNAL_KEYSPACES};
pub use config::CassandraOptions;
pub use connection::{CassandraConnection, SharedConnection};
pub use error::{Error, Result};
pub use exec::{CassandraScanExec, ScanSpec, ScanTarget};
pub use provider::{CassandraTableProvider, ColumnMeta};
pub use session_options::{parse_consistency, CassandraSessionOptions, RequestOptions};
pub use sink::{CassandraDataSink, WriteTime};
