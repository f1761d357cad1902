//! What smackql's table providers share: the provider error with its class,
//! and its conversion into [`DataFusionError`].
//!
//! Providers (`smackql-cassandra`, `smackql-kafka`) wrap their own errors in a
//! [`ProviderError`] when they hand them to DataFusion, so front ends can tell a
//! backend outage from a bad request without knowing any driver:
//!
//! ```
//! use datafusion::error::DataFusionError;
//! use smackql_providers_common::{ErrorClass, ProviderError};
//!
//! let err: DataFusionError =
//!     ProviderError::new(ErrorClass::Unavailable, "cassandra", "no node answered").into();
//! let found = ProviderError::find(&err).expect("a provider error");
//! assert_eq!(found.class(), ErrorClass::Unavailable);
//! ```
//!
//! This crate depends on DataFusion only, never on a driver.

mod error;

pub use error::{ErrorClass, ProviderError};
