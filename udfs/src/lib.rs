//! SQL functions of smackql: scalar functions such as Cassandra's `token()`,
//! and aggregate functions with mergeable states (sketches) that
//! materialized views can store and combine.
//!
//! Each function is one `ScalarUDFImpl` or `AggregateUDFImpl` in a file of
//! its own. This crate depends on DataFusion only.
