//! Kafka topics as DataFusion tables: declared schemas, bounded and
//! streaming scans, decoding (JSON, Avro, CSV, raw) and the producer sink.
//!
//! This crate depends on DataFusion, the `rdkafka` driver and
//! `smackql-providers-common` only.
