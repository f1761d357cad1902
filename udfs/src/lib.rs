//! SQL functions of smackql: scalar functions such as Cassandra's `token()`,
//! and, with the features that need them, aggregate functions with mergeable
//! states that materialized views can store and combine.
//!
//! Each function is one `ScalarUDFImpl` or `AggregateUDFImpl` in a file of
//! its own. This crate depends on DataFusion only.
//!
//! ```
//! use datafusion::prelude::SessionContext;
//!
//! let ctx = SessionContext::new();
//! smackql_udfs::register_all(&ctx);
//! assert!(ctx.state().scalar_functions().contains_key("token"));
//! ```

mod token;

use datafusion::logical_expr::ScalarUDF;
use datafusion::prelude::SessionContext;

pub use token::{murmur3_token, TokenFunc};

/// Registers every smackql function in `ctx`.
pub fn register_all(ctx: &SessionContext) {
    ctx.register_udf(ScalarUDF::new_from_impl(TokenFunc::default()));
}
