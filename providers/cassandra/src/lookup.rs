//! Lookup joins: partition reads for the keys the other side of a join has.
//!
//! When a query's filters pin some partition-key columns but not all, the
//! scan cannot read by key on its own. If the open columns are join keys,
//! DataFusion's hash join builds its (small) side first and then publishes a
//! dynamic filter on the probe side: `key IN (values seen)`, or a `CASE` of
//! such lists per hash partition. The scan takes that filter, and when it is
//! complete by the time the scan starts, reads just the partitions in the
//! cross product of the fixed values and the join's values, instead of the
//! whole table.
//!
//! This is only ever an optimisation: a superset of the matching rows is
//! read, and the join (and any filter above the scan) still decides what
//! matches. When the filter is not complete yet (another operator feeds it
//! from this very scan, like a `TopK`), has no usable value lists, or would
//! need more than the configured number of reads, the scan reads the table
//! as planned.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::Schema;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Expr, Operator};
use datafusion::physical_expr::expressions::{
    BinaryExpr, CaseExpr, Column, DynamicFilterPhysicalExpr, InListExpr, Literal,
};
use datafusion::physical_expr::PhysicalExpr;
use futures::FutureExt;
use scylla::cluster::metadata::ColumnType;
use scylla::value::CqlValue;

use crate::pushdown::{allowed_key_values, cross_product, to_cql, KeyLayout, PartitionKeys};

/// A scan that may turn into partition reads once a join publishes keys.
#[derive(Debug, Clone)]
pub struct LookupSpec {
    /// Each partition-key column in key order, with its CQL type and the
    /// values the query's own filters fix (`None`: the join supplies them).
    pub columns: Vec<(String, ColumnType<'static>, Option<Vec<CqlValue>>)>,
    /// The most partitions to read by key.
    pub max_reads: usize,
}

impl LookupSpec {
    /// The lookup a scan with `filters` can do: some partition-key column is
    /// left open by the filters, and every open one is in `projected` (join
    /// keys must be in the scan's output to be filtered on).
    pub fn plan(filters: &[Expr], layout: &KeyLayout<'_>, projected: &Schema) -> Option<Self> {
        let mut fixed = allowed_key_values(filters.iter(), layout);
        let mut columns = Vec::with_capacity(layout.partition_key.len());
        for key in layout.partition_key {
            let meta = layout.columns.iter().find(|c| &c.name == key)?;
            let values = fixed.remove(key).map(|(values, _)| values);
            if values.is_none() && projected.index_of(key).is_err() {
                return None;
            }
            columns.push((key.clone(), meta.cql_type.clone(), values));
        }
        let open = columns.iter().any(|(_, _, values)| values.is_none());
        open.then_some(Self {
            columns,
            max_reads: layout.max_reads,
        })
    }

    /// What `EXPLAIN` shows: which columns come from where.
    pub fn describe(&self) -> String {
        self.columns
            .iter()
            .map(|(name, _, values)| match values {
                Some(values) => format!("{name}: {} values", values.len()),
                None => format!("{name}: from join"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The partitions to read, given the dynamic filters pushed into the scan
    /// (whose columns refer to `schema`), or `None` to read the table.
    pub fn keys(
        &self,
        dynamic_filters: &[Arc<dyn PhysicalExpr>],
        schema: &Schema,
    ) -> Option<PartitionKeys> {
        let mut from_join: HashMap<String, Vec<ScalarValue>> = HashMap::new();
        for filter in dynamic_filters {
            let dynamic = filter.downcast_ref::<DynamicFilterPhysicalExpr>()?;
            // Complete means the join's build side is known; anything else
            // would wait on rows this scan has not produced yet.
            dynamic.wait_complete().now_or_never()?;
            let current = dynamic.current().ok()?;
            if let Constraint::Values(values) = constraint(&current, schema) {
                for (column, list) in values {
                    from_join.entry(column).or_insert(list);
                }
            } else {
                // The filter admits no row at all.
                return Some(Vec::new());
            }
        }
        let mut lists: Vec<Vec<CqlValue>> = Vec::with_capacity(self.columns.len());
        for (name, cql, fixed) in &self.columns {
            let list = match fixed {
                Some(values) => values.clone(),
                None => {
                    let scalars = from_join.get(name)?;
                    let mut values: Vec<CqlValue> = Vec::with_capacity(scalars.len());
                    for scalar in scalars {
                        // A null never matches a key; other values must
                        // convert exactly, or the lookup is off.
                        if scalar.is_null() {
                            continue;
                        }
                        let value = to_cql(scalar, cql)?;
                        if !values.contains(&value) {
                            values.push(value);
                        }
                    }
                    values
                }
            };
            lists.push(list);
        }
        let refs: Vec<&[CqlValue]> = lists.iter().map(Vec::as_slice).collect();
        cross_product(&refs, self.max_reads)
    }
}

/// What a predicate says about the values of columns.
#[derive(Debug, Clone, PartialEq)]
enum Constraint {
    /// No row passes.
    Nothing,
    /// Each named column is one of its values; other columns are free.
    Values(HashMap<String, Vec<ScalarValue>>),
}

impl Constraint {
    fn free() -> Self {
        Constraint::Values(HashMap::new())
    }

    /// Both hold: each column keeps the shorter list.
    fn and(self, other: Self) -> Self {
        match (self, other) {
            (Constraint::Nothing, _) | (_, Constraint::Nothing) => Constraint::Nothing,
            (Constraint::Values(mut a), Constraint::Values(b)) => {
                for (column, list) in b {
                    match a.get(&column) {
                        Some(existing) if existing.len() <= list.len() => {}
                        _ => {
                            a.insert(column, list);
                        }
                    }
                }
                Constraint::Values(a)
            }
        }
    }

    /// Either holds: only columns listed by both stay, with both lists.
    fn or(self, other: Self) -> Self {
        match (self, other) {
            (Constraint::Nothing, x) | (x, Constraint::Nothing) => x,
            (Constraint::Values(a), Constraint::Values(mut b)) => Constraint::Values(
                a.into_iter()
                    .filter_map(|(column, mut list)| {
                        let more = b.remove(&column)?;
                        list.extend(more);
                        Some((column, list))
                    })
                    .collect(),
            ),
        }
    }
}

/// The column values `expr` restricts rows to (a superset of what it
/// admits), reading only `AND`, `OR`, `CASE`, `IN` lists, `=` and boolean
/// literals; everything else restricts nothing.
fn constraint(expr: &Arc<dyn PhysicalExpr>, schema: &Schema) -> Constraint {
    let column_name = |e: &Arc<dyn PhysicalExpr>| -> Option<String> {
        let column = e.downcast_ref::<Column>()?;
        let field = schema.fields().get(column.index())?;
        (field.name() == column.name()).then(|| column.name().to_string())
    };
    if let Some(literal) = expr.downcast_ref::<Literal>() {
        return match literal.value() {
            ScalarValue::Boolean(Some(false)) | ScalarValue::Boolean(None) => Constraint::Nothing,
            _ => Constraint::free(),
        };
    }
    if let Some(binary) = expr.downcast_ref::<BinaryExpr>() {
        return match binary.op() {
            Operator::And => {
                constraint(binary.left(), schema).and(constraint(binary.right(), schema))
            }
            Operator::Or => {
                constraint(binary.left(), schema).or(constraint(binary.right(), schema))
            }
            Operator::Eq => {
                let (l, r) = (binary.left(), binary.right());
                let pair = column_name(l)
                    .zip(r.downcast_ref::<Literal>())
                    .or_else(|| column_name(r).zip(l.downcast_ref::<Literal>()));
                match pair {
                    Some((column, value)) => {
                        Constraint::Values(HashMap::from([(column, vec![value.value().clone()])]))
                    }
                    None => Constraint::free(),
                }
            }
            _ => Constraint::free(),
        };
    }
    if let Some(in_list) = expr.downcast_ref::<InListExpr>() {
        if in_list.negated() {
            return Constraint::free();
        }
        let Some(column) = column_name(in_list.expr()) else {
            return Constraint::free();
        };
        let values: Option<Vec<ScalarValue>> = in_list
            .list()
            .iter()
            .map(|e| e.downcast_ref::<Literal>().map(|l| l.value().clone()))
            .collect();
        return match values {
            Some(values) => Constraint::Values(HashMap::from([(column, values)])),
            None => Constraint::free(),
        };
    }
    if let Some(case) = expr.downcast_ref::<CaseExpr>() {
        // A row passes through one branch: the union of the branches.
        let branches = case
            .when_then_expr()
            .iter()
            .map(|(_, then)| then)
            .chain(case.else_expr());
        return branches
            .map(|branch| constraint(branch, schema))
            .reduce(Constraint::or)
            .unwrap_or_else(Constraint::free);
    }
    Constraint::free()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{DataType, Field};
    use datafusion::physical_expr::expressions::{in_list, lit};

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("campaign_id", DataType::Int64, true),
            Field::new("views", DataType::Int64, true),
        ])
    }

    fn campaign() -> Arc<dyn PhysicalExpr> {
        Arc::new(Column::new("campaign_id", 0))
    }

    fn list(values: &[i64]) -> Arc<dyn PhysicalExpr> {
        let list = values.iter().map(|v| lit(*v)).collect();
        in_list(campaign(), list, &false, &schema()).expect("in list")
    }

    fn and(a: Arc<dyn PhysicalExpr>, b: Arc<dyn PhysicalExpr>) -> Arc<dyn PhysicalExpr> {
        Arc::new(BinaryExpr::new(a, Operator::And, b))
    }

    fn values(c: Constraint) -> Vec<i64> {
        let Constraint::Values(map) = c else {
            panic!("expected values")
        };
        let mut out: Vec<i64> = map["campaign_id"]
            .iter()
            .map(|v| match v {
                ScalarValue::Int64(Some(x)) => *x,
                other => panic!("{other:?}"),
            })
            .collect();
        out.sort_unstable();
        out
    }

    #[test]
    fn reads_in_lists_under_bounds() {
        // What a hash join publishes for a small build side.
        let bounds = Arc::new(BinaryExpr::new(campaign(), Operator::GtEq, lit(3i64)));
        let expr = and(bounds, list(&[3, 5, 9]));
        assert_eq!(values(constraint(&expr, &schema())), vec![3, 5, 9]);
    }

    #[test]
    fn unions_case_branches() {
        // Per hash partition: one list each, and `false` for an empty one.
        let when = |n: i64| (lit(n), list(&[n * 10]));
        let case = CaseExpr::try_new(
            Some(lit(0i64)),
            vec![when(1), when(2), (lit(3i64), lit(false))],
            Some(list(&[7])),
        )
        .expect("case");
        let expr: Arc<dyn PhysicalExpr> = Arc::new(case);
        assert_eq!(values(constraint(&expr, &schema())), vec![7, 10, 20]);
    }

    #[test]
    fn anything_else_restricts_nothing() {
        let other: Arc<dyn PhysicalExpr> =
            Arc::new(BinaryExpr::new(campaign(), Operator::Gt, lit(3i64)));
        assert_eq!(constraint(&other, &schema()), Constraint::free());
        // An OR with a free branch is free.
        let either: Arc<dyn PhysicalExpr> =
            Arc::new(BinaryExpr::new(list(&[1]), Operator::Or, lit(true)));
        assert_eq!(constraint(&either, &schema()), Constraint::free());
        assert_eq!(constraint(&lit(false), &schema()), Constraint::Nothing);
        // A column whose name does not match the schema at its index is
        // not trusted.
        let stale: Arc<dyn PhysicalExpr> = Arc::new(BinaryExpr::new(
            Arc::new(Column::new("views", 0)),
            Operator::Eq,
            lit(1i64),
        ));
        assert_eq!(constraint(&stale, &schema()), Constraint::free());
    }
}
