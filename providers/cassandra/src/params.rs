//! Scans of statements with parameters (`$1`, `$2`, ...), planned once and
//! bound for each execution.
//!
//! A prepared statement's plan can be optimized and turned into a physical
//! plan before its parameters are known. Its scans then see filters such as
//! `campaign_id = $1`. They are classified as if the placeholder were a value
//! of its declared type, so a filter that Cassandra answers for any such
//! value is pushed down [`Exact`](TableProviderFilterPushDown::Exact), and
//! DataFusion keeps no copy of it above the scan.
//!
//! Whether a filter goes down can still depend on the value: a `NULL`, text
//! that is not ASCII for an `ascii` column, or a key range too wide to list.
//! So binding classifies the filters again with the real values, and refuses
//! (returns `None`) when the answer differs; the caller then plans the
//! statement afresh with its values in place.

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::error::Result;
use datafusion::logical_expr::expr::Placeholder;
use datafusion::logical_expr::Expr;

/// Whether any of `filters` has a placeholder.
pub fn has_placeholders(filters: &[Expr]) -> bool {
    filters.iter().any(|filter| {
        let mut found = false;
        // The closure never fails, so neither does the walk.
        let _ = filter.apply(|e| {
            found = matches!(e, Expr::Placeholder(_));
            Ok(if found {
                TreeNodeRecursion::Stop
            } else {
                TreeNodeRecursion::Continue
            })
        });
        found
    })
}

/// `filters` with each typed placeholder replaced by a non-null value of its
/// type, for classifying them before their values are known. Placeholders of
/// other types stay, and no pushdown accepts them.
pub fn with_representatives(filters: &[&Expr]) -> Vec<Expr> {
    filters
        .iter()
        .map(|filter| {
            (*filter)
                .clone()
                .transform_up(|e| match &e {
                    Expr::Placeholder(Placeholder {
                        field: Some(field), ..
                    }) => Ok(match representative(field.data_type()) {
                        Some(value) => Transformed::yes(Expr::Literal(value, None)),
                        None => Transformed::no(e),
                    }),
                    _ => Ok(Transformed::no(e)),
                })
                .map(|t| t.data)
                .unwrap_or_else(|_| (*filter).clone())
        })
        .collect()
}

/// `filters` with their placeholders replaced by `params`.
pub fn bind(filters: &[Expr], params: &ParamValues) -> Result<Vec<Expr>> {
    filters
        .iter()
        .map(|filter| {
            filter
                .clone()
                .transform_up(|e| match e {
                    Expr::Placeholder(Placeholder { id, .. }) => {
                        let (value, metadata) =
                            params.get_placeholders_with_values(&id)?.into_inner();
                        Ok(Transformed::yes(Expr::Literal(value, metadata)))
                    }
                    other => Ok(Transformed::no(other)),
                })
                .map(|t| t.data)
        })
        .collect()
}

/// A non-null value of `data_type`, for the types that a pushdown accepts.
fn representative(data_type: &DataType) -> Option<ScalarValue> {
    Some(match data_type {
        DataType::Int8 => ScalarValue::Int8(Some(0)),
        DataType::Int16 => ScalarValue::Int16(Some(0)),
        DataType::Int32 => ScalarValue::Int32(Some(0)),
        DataType::Int64 => ScalarValue::Int64(Some(0)),
        DataType::Float32 => ScalarValue::Float32(Some(0.0)),
        DataType::Float64 => ScalarValue::Float64(Some(0.0)),
        DataType::Boolean => ScalarValue::Boolean(Some(false)),
        DataType::Utf8 => ScalarValue::Utf8(Some(String::new())),
        DataType::Utf8View => ScalarValue::Utf8View(Some(String::new())),
        DataType::Binary => ScalarValue::Binary(Some(Vec::new())),
        DataType::Date32 => ScalarValue::Date32(Some(0)),
        DataType::Timestamp(TimeUnit::Millisecond, tz) => {
            ScalarValue::TimestampMillisecond(Some(0), tz.clone())
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::datatypes::Field;
    use datafusion::prelude::{col, lit};

    use super::*;

    fn placeholder(id: &str, data_type: DataType) -> Expr {
        Expr::Placeholder(Placeholder {
            id: id.into(),
            field: Some(Arc::new(Field::new("", data_type, true))),
        })
    }

    #[test]
    fn finds_placeholders_anywhere_in_a_filter() {
        let with = col("a")
            .eq(lit(1))
            .and(col("b").eq(placeholder("$1", DataType::Int64)));
        assert!(has_placeholders(&[col("c").eq(lit(2)), with]));
        assert!(!has_placeholders(&[col("a").eq(lit(1))]));
    }

    #[test]
    fn representatives_are_typed_non_null_values() {
        let filter = col("a").eq(placeholder("$1", DataType::Int64));
        let classified = with_representatives(&[&filter]);
        assert_eq!(classified, vec![col("a").eq(lit(0i64))]);
        // An unusable type keeps its placeholder.
        let other = col("a").eq(placeholder("$1", DataType::Decimal128(10, 2)));
        assert_eq!(with_representatives(&[&other]), vec![other.clone()]);
    }

    #[test]
    fn binding_puts_each_value_in_its_place() {
        let filter = col("a")
            .eq(placeholder("$1", DataType::Int64))
            .and(col("b").eq(placeholder("$2", DataType::Utf8)));
        let params = ParamValues::List(vec![
            ScalarValue::Int64(Some(7)).into(),
            ScalarValue::Utf8(None).into(),
        ]);
        let bound = bind(&[filter], &params).unwrap();
        assert_eq!(
            bound,
            vec![col("a")
                .eq(lit(7i64))
                .and(col("b").eq(lit(ScalarValue::Utf8(None))))]
        );
        let missing = ParamValues::List(vec![]);
        assert!(bind(&[col("a").eq(placeholder("$1", DataType::Int64))], &missing).is_err());
    }
}
