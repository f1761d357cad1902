//! What exists in smackql: the `smackql` catalog that SQL names resolve in.
//!
//! The catalog owns the namespace, not the data. Schemas come from
//! [`SchemaSource`]s that the gateway injects (the keyspaces of a Cassandra
//! cluster, for instance), plus schemas registered locally (`public`, and
//! `pg_catalog` from the Postgres front end). Tables declared in SQL over
//! data elsewhere (`CREATE EXTERNAL TABLE ... STORED AS KAFKA`) are
//! [`DefinedTables`], kept in a shared [`DefinitionStore`], and so are
//! [`MaterializedViews`], which read as views over the Cassandra tables
//! that hold them ([`ViewOverlay`]). This crate names
//! no driver: sources, stores and table factories arrive as trait objects.
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
pub mod definitions;
pub mod script;
pub mod types;
pub mod views;

pub use catalog::{SchemaSource, SmackqlCatalog, CATALOG_NAME, DEFAULT_SCHEMA};
pub use definitions::{
    DefinedTables, Definition, DefinitionStore, ExternalTable, ExternalTableFactory,
};
pub use views::{Dimension, MaterializedView, MaterializedViews, ViewOverlay};
