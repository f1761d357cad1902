//! Background jobs of a gateway.

pub mod views;
