//! Kafka topics as DataFusion tables: declared schemas, bounded scans,
//! decoding of message values, and the message metadata as columns.
//!
//! A table reads a snapshot of its topic: each partition from its first
//! offset (or a pushed-down one) up to the end offset taken when the query
//! is planned, with `read_committed` isolation, so a `count(*)` over an idle
//! topic gives the same number every time and aborted transactions are never
//! seen. A table declared with `'scan.mode' 'streaming'`, or a session with
//! `SET kafka.streaming = true`, streams instead; and
//! [`KafkaTableProvider::stream`] streams from given offsets with the end
//! offsets of each batch, for consumers that keep their own positions. Every table has the columns `_partition`, `_offset`, `_timestamp`,
//! `_key` and `_headers` after its declared ones.
//!
//! This crate depends on DataFusion and the `rdkafka` driver only.

mod avro;
mod connection;
mod dead_letter;
mod decode;
mod decode_errors;
mod error;
mod exec;
mod json;
pub mod options;
mod provider;
pub mod pushdown;
pub mod schema;
mod session_options;
mod sink;

pub use avro::SchemaRegistry;
pub use connection::{KafkaConnection, KafkaOptions, SharedKafka};
pub use decode_errors::{DecodeErrors, DecodeErrorsTable};
pub use error::Error;
pub use exec::{KafkaScanExec, KafkaScanSpec, ReadBatch, ScanMode};
pub use options::{KafkaTableOptions, TopicSettings};
pub use provider::{KafkaStream, KafkaTableProvider, StreamStart};
pub use session_options::KafkaSessionOptions;
pub use sink::KafkaDataSink;
