//! The queries of a view: the partial aggregates of a batch, the merge of
//! a batch into stored partials, and the merge that users read.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::datasource::provider_as_source;
use datafusion::error::Result;
use datafusion::functions_aggregate::expr_fn::{max, min, sum};
use datafusion::logical_expr::{
    cast, is_null, when, AggregateUDF, Expr, LogicalPlan, LogicalPlanBuilder, ScalarUDF,
};
use datafusion::sql::sqlparser::ast::Ident;
use smackql_udfs::{HllCardinality, HllMerge, HllUnion};

use super::{AggregateKind, Column, MaterializedView, Merge};
use crate::CATALOG_NAME;

impl MaterializedView {
    /// The query that computes the partial aggregates of a batch: the
    /// view's query limited to source partition `$1` and offsets `$2`
    /// (inclusive) to `$3` (exclusive). It returns the keys, then the
    /// [`Self::state_columns`].
    pub fn partial_sql(&self) -> String {
        let quote = |name: &str| Ident::with_quote('"', name).to_string();
        let mut items: Vec<String> = self
            .keys
            .iter()
            .map(|k| format!("{} AS {}", k.expr, quote(&k.name)))
            .collect();
        for a in &self.aggregates {
            let arg = a.arg.as_deref().unwrap_or("*");
            match a.kind {
                AggregateKind::Count => items.push(format!("count({arg}) AS {}", quote(&a.name))),
                AggregateKind::Sum => items.push(format!("sum({arg}) AS {}", quote(&a.name))),
                AggregateKind::Min => items.push(format!("min({arg}) AS {}", quote(&a.name))),
                AggregateKind::Max => items.push(format!("max({arg}) AS {}", quote(&a.name))),
                AggregateKind::ApproxDistinct => {
                    items.push(format!("hll_sketch({arg}) AS {}", quote(&a.name)))
                }
                AggregateKind::Avg => {
                    items.push(format!(
                        "sum({arg}) AS {}",
                        quote(&format!("{}__sum", a.name))
                    ));
                    items.push(format!(
                        "count({arg}) AS {}",
                        quote(&format!("{}__count", a.name))
                    ));
                }
            }
        }
        let source = quote(&self.source_ref);
        let mut filter = format!(
            "{source}._partition = $1 AND {source}._offset >= $2 AND {source}._offset < $3"
        );
        if let Some(selection) = &self.selection {
            filter = format!("({selection}) AND {filter}");
        }
        format!(
            "SELECT {} FROM {} WHERE {filter} GROUP BY {}",
            items.join(", "),
            self.from,
            self.group_by.join(", ")
        )
    }

    /// What a user querying the view reads: `raw`, the view's table of
    /// partials, merged by group.
    pub fn merged_plan(&self, raw: Arc<dyn TableProvider>) -> Result<LogicalPlan> {
        let raw_schema = raw.schema();
        let reference =
            TableReference::full(CATALOG_NAME, self.schema.as_str(), self.name.as_str());
        let group: Vec<Expr> = self.keys.iter().map(|k| col_named(&k.name)).collect();
        let merged: Vec<Expr> = self
            .state_columns()
            .into_iter()
            .map(|c| {
                let column = col_named(&c.name);
                match c.merge {
                    Merge::Add => sum(column),
                    Merge::Min => min(column),
                    Merge::Max => max(column),
                    Merge::Sketch => {
                        AggregateUDF::new_from_impl(HllUnion::default()).call(vec![column])
                    }
                }
                .alias(&c.name)
            })
            .collect();
        let mut output = Vec::with_capacity(self.columns.len());
        for column in &self.columns {
            output.push(match *column {
                Column::Key(k) => col_named(&self.keys[k].name),
                Column::Aggregate(a) => {
                    let a = &self.aggregates[a];
                    match a.kind {
                        AggregateKind::Avg => {
                            let sum_name = format!("{}__sum", a.name);
                            let total = col_named(&sum_name);
                            let count = col_named(&format!("{}__count", a.name));
                            let decimal = raw_schema
                                .field_with_name(&sum_name)
                                .map(|f| matches!(f.data_type(), DataType::Decimal128(..)))
                                .unwrap_or(false);
                            if decimal {
                                total / count
                            } else {
                                cast(total, DataType::Float64) / cast(count, DataType::Float64)
                            }
                            .alias(&a.name)
                        }
                        AggregateKind::ApproxDistinct => {
                            ScalarUDF::new_from_impl(HllCardinality::default())
                                .call(vec![col_named(&a.name)])
                                .alias(&a.name)
                        }
                        _ => col_named(&a.name),
                    }
                }
                Column::Value(v) => col_named(&self.values[v]),
            });
        }
        LogicalPlanBuilder::scan(reference, provider_as_source(raw), None)?
            .aggregate(group, merged)?
            .project(output)?
            .build()
    }
}

impl MaterializedView {
    /// What a user querying a recomputed view reads: its table `raw`, the
    /// view's columns in select-list order (without the refresh marker).
    pub fn recomputed_plan(&self, raw: Arc<dyn TableProvider>) -> Result<LogicalPlan> {
        let reference =
            TableReference::full(CATALOG_NAME, self.schema.as_str(), self.name.as_str());
        LogicalPlanBuilder::scan(reference, provider_as_source(raw), None)?
            .project(self.column_names().into_iter().map(col_named))?
            .build()
    }

    /// What a user querying the view reads, from its table `raw`.
    pub fn read_plan(&self, raw: Arc<dyn TableProvider>) -> Result<LogicalPlan> {
        if self.refresh.is_recomputed() {
            self.recomputed_plan(raw)
        } else {
            self.merged_plan(raw)
        }
    }
}

/// A column by its exact name (no case folding, no qualifier parsing).
fn col_named(name: &str) -> Expr {
    Expr::Column(datafusion::common::Column::new_unqualified(name))
}

/// The merged value of a partial column: `stored` (null when the group has
/// no partial yet) combined with the batch's `partial`.
pub fn merge_expr(merge: Merge, stored: Expr, partial: Expr) -> Result<Expr> {
    let pick_partial = match merge {
        Merge::Sketch => {
            return Ok(ScalarUDF::new_from_impl(HllMerge::default()).call(vec![stored, partial]))
        }
        Merge::Add => None,
        Merge::Min => Some(partial.clone().lt(stored.clone())),
        Merge::Max => Some(partial.clone().gt(stored.clone())),
    };
    let both = match pick_partial {
        None => stored.clone() + partial.clone(),
        Some(condition) => when(condition, partial.clone()).otherwise(stored.clone())?,
    };
    when(is_null(partial.clone()), stored.clone())
        .when(is_null(stored), partial)
        .otherwise(both)
}
