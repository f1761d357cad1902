//! End-to-end tests against real Cassandra and Kafka, through a gateway
//! running in-process on port 0.

mod auth;
mod cassandra;
mod demo;
mod drivers;
mod flight;
mod kafka;
mod kafka_formats;
mod kafka_tables;
mod pg_wire;
mod prepared;
mod psql;
mod sai;
mod slt;
mod types;
mod views;
mod views_recomputed;
mod writes;
