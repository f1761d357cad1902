//! Background jobs of a gateway.

pub mod refresh;
pub mod views;
