//! Kafka topics as DataFusion tables: declared schemas, bounded scans,
//! decoding of message values, and the message metadata as columns.
//!
//! A table reads a snapshot of its topic: each partition from its first
//! offset (or a pushed-down one) up to the end offset taken when the query
//! is planned, with `read_committed` isolation, so a `count(*)` over an idle
//! topic gives the same number every time and aborted transactions are never
//! seen. Every table has the columns `_partition`, `_offset`, `_timestamp`,
//! `_key` and `_headers` after its declared ones.
//!
//! This crate depends on DataFusion and the `rdkafka` driver only.

mod connection;
mod decode;
mod error;
mod exec;
pub mod options;
mod provider;
pub mod pushdown;
pub mod schema;
mod sink;

pub use connection::{KafkaConnection, KafkaOptions, SharedKafka};
pub use error::Error;
pub use exec::{KafkaScanExec, KafkaScanSpec};
pub use options::{KafkaTableOptions, TopicSettings};
pub use provider::KafkaTableProvider;
pub use sink::KafkaDataSink;
