//! What exists in smackql: the `smackql` catalog that SQL names resolve in.
//!
//! The catalog owns the namespace, not the data. Schemas come from
//! [`SchemaSource`]s that the gateway injects (the keyspaces of a Cassandra
//! cluster, for instance), plus schemas registered locally (`public`, and
//! `pg_catalog` from the Postgres front end). This crate names no driver:
//! sources arrive as trait objects.
//!
//! ```
//! use std::sync::Arc;
//! use datafusion::catalog::CatalogProvider;
//! use smackql_catalog::SmackqlCatalog;
//!
//! let catalog = SmackqlCatalog::new(vec![]);
//! assert_eq!(catalog.schema_names(), vec!["public".to_string()]);
//! assert!(catalog.schema("public").is_some());
//! ```

mod catalog;

pub use catalog::{SchemaSource, SmackqlCatalog, CATALOG_NAME, DEFAULT_SCHEMA};
