//! The protocols clients speak to smackql.

pub mod pg;
