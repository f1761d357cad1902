//! The protocols clients speak to smackql.

pub mod flight;
pub mod pg;
