//! SQL functions of smackql: scalar functions such as Cassandra's `token()`,
//! HyperLogLog sketches (`hll_sketch`, `hll_union`, `hll_merge`,
//! `hll_cardinality`): mergeable states of distinct counts that
//! materialized views store and combine, and uuids written as text
//! (`to_uuid`, the `uuid` SQL type, and comparisons of uuids with text).
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

mod hll;
mod token;
mod uuid;

use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use datafusion::prelude::SessionContext;

pub use hll::{Hll, HllCardinality, HllMerge, HllSketch, HllUnion};
pub use token::{murmur3_token, TokenFunc};
pub use uuid::{
    format_uuid, parse_uuid, ToUuid, UuidText, UuidTextCoercion, UuidTypePlanner, UUID,
};

/// Registers every smackql function in `ctx`.
pub fn register_all(ctx: &SessionContext) {
    ctx.register_udf(ScalarUDF::new_from_impl(TokenFunc::default()));
    ctx.register_udf(ScalarUDF::new_from_impl(ToUuid::default()));
    ctx.register_udf(ScalarUDF::new_from_impl(ToUuid::lenient()));
    ctx.register_udf(ScalarUDF::new_from_impl(UuidText::default()));
    ctx.register_udf(ScalarUDF::new_from_impl(HllMerge::default()));
    ctx.register_udf(ScalarUDF::new_from_impl(HllCardinality::default()));
    ctx.register_udaf(AggregateUDF::new_from_impl(HllSketch::default()));
    ctx.register_udaf(AggregateUDF::new_from_impl(HllUnion::default()));
}
