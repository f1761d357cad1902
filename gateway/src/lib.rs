//! smackql: a SQL gateway for Cassandra and Kafka.
//!
//! This crate is the composition root, the only one that names concrete
//! providers. It owns configuration ([`config`]), session assembly
//! ([`session`]), the front ends ([`frontend`]), the background
//! [`jobs`] (materialized view maintenance) and the [`Application`] that
//! runs them; `main.rs` only parses flags and installs logging.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use smackql::{config::Config, Application};
//! use tokio_util::sync::CancellationToken;
//!
//! let mut config = Config::default();
//! config.pg.listen = "127.0.0.1:0".parse()?;
//! let app = Application::build(config).await?;
//! println!("psql -h 127.0.0.1 -p {}", app.pg_addr().port());
//! let stop = CancellationToken::new();
//! app.run_until_stopped(stop).await;
//! # Ok(())
//! # }
//! ```

pub mod app;
pub mod config;
pub mod ddl;
pub mod demo;
pub mod external;
pub mod frontend;
pub mod information_schema;
pub mod jobs;
pub mod pg_catalog;
mod pg_functiondef;
pub mod pg_functions;
pub mod schema_registry;
pub mod session;
pub mod sql;
pub mod views;

pub use app::{Application, StartError};
