//! Background jobs of a gateway.

mod feed;
mod lookups;
pub mod refresh;
mod stored;
pub mod views;

/// A column by its exact name (no case folding, no qualifier parsing).
fn col_named(name: &str) -> datafusion::logical_expr::Expr {
    datafusion::logical_expr::Expr::Column(datafusion::common::Column::new_unqualified(name))
}
