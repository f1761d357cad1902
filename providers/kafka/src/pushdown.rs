//! Filters on `_partition` and `_offset` → the offsets a scan reads.
//!
//! `_partition = n`, `_partition IN (...)` and comparisons of `_offset`
//! with constants (`=`, `<`, `<=`, `>`, `>=`, `BETWEEN`) narrow the
//! per-partition offset ranges. Kafka answers them exactly, so DataFusion
//! does not filter again. Everything else stays with DataFusion.

use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator, TableProviderFilterPushDown};

use crate::schema::{OFFSET, PARTITION};

/// The offsets of one partition a scan reads: `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionRange {
    /// The partition.
    pub partition: i32,
    /// The first offset read.
    pub start: i64,
    /// The offset after the last one read.
    pub end: i64,
}

impl PartitionRange {
    /// How many offsets the range spans (messages, markers and gaps).
    pub fn len(&self) -> i64 {
        (self.end - self.start).max(0)
    }

    /// Whether it reads nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What one filter restricts.
#[derive(Debug, Clone, PartialEq)]
enum Restriction {
    /// These partitions only.
    Partitions(Vec<i32>),
    /// Offsets in `start..end`.
    Offsets(i64, i64),
}

/// How DataFusion should treat each of `filters`.
pub fn classify(filters: &[&Expr]) -> Vec<TableProviderFilterPushDown> {
    filters
        .iter()
        .map(|f| match restriction(f) {
            Some(_) => TableProviderFilterPushDown::Exact,
            None => TableProviderFilterPushDown::Unsupported,
        })
        .collect()
}

/// The ranges to read: for each partition in `watermarks` (partition, low,
/// high) that `filters` allow, the offsets between its watermarks that they
/// allow.
pub fn ranges(watermarks: &[(i32, i64, i64)], filters: &[Expr]) -> Vec<PartitionRange> {
    let restrictions: Vec<Restriction> = filters.iter().filter_map(restriction).collect();
    watermarks
        .iter()
        .filter(|(partition, _, _)| {
            restrictions.iter().all(|r| match r {
                Restriction::Partitions(allowed) => allowed.contains(partition),
                Restriction::Offsets(..) => true,
            })
        })
        .map(|&(partition, low, high)| {
            let (mut start, mut end) = (low, high);
            for r in &restrictions {
                if let Restriction::Offsets(from, to) = r {
                    start = start.max(*from);
                    end = end.min(*to);
                }
            }
            PartitionRange {
                partition,
                start,
                end: end.max(start),
            }
        })
        .collect()
}

fn restriction(filter: &Expr) -> Option<Restriction> {
    match filter {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            if *op == Operator::Or {
                let (Restriction::Partitions(mut a), Restriction::Partitions(b)) =
                    (restriction(left)?, restriction(right)?)
                else {
                    return None;
                };
                a.extend(b);
                return Some(Restriction::Partitions(a));
            }
            let (column, op, value) = match (left.as_ref(), right.as_ref()) {
                (Expr::Column(c), Expr::Literal(v, _)) => (c.name.as_str(), *op, v),
                (Expr::Literal(v, _), Expr::Column(c)) => (c.name.as_str(), op.swap()?, v),
                _ => return None,
            };
            let value = integer(value)?;
            match (column, op) {
                (PARTITION, Operator::Eq) => {
                    Some(Restriction::Partitions(vec![i32::try_from(value).ok()?]))
                }
                (OFFSET, Operator::Eq) => Some(Restriction::Offsets(value, value.checked_add(1)?)),
                (OFFSET, Operator::Gt) => {
                    Some(Restriction::Offsets(value.checked_add(1)?, i64::MAX))
                }
                (OFFSET, Operator::GtEq) => Some(Restriction::Offsets(value, i64::MAX)),
                (OFFSET, Operator::Lt) => Some(Restriction::Offsets(i64::MIN, value)),
                (OFFSET, Operator::LtEq) => {
                    Some(Restriction::Offsets(i64::MIN, value.checked_add(1)?))
                }
                _ => None,
            }
        }
        Expr::InList(list) if !list.negated => {
            let Expr::Column(c) = list.expr.as_ref() else {
                return None;
            };
            if c.name != PARTITION {
                return None;
            }
            list.list
                .iter()
                .map(|e| match e {
                    Expr::Literal(v, _) => i32::try_from(integer(v)?).ok(),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()
                .map(Restriction::Partitions)
        }
        Expr::Between(Between {
            expr,
            negated: false,
            low,
            high,
        }) => match (expr.as_ref(), low.as_ref(), high.as_ref()) {
            (Expr::Column(c), Expr::Literal(low, _), Expr::Literal(high, _))
                if c.name == OFFSET =>
            {
                Some(Restriction::Offsets(
                    integer(low)?,
                    integer(high)?.checked_add(1)?,
                ))
            }
            _ => None,
        },
        _ => None,
    }
}

/// A non-null integer literal as `i64`.
fn integer(value: &ScalarValue) -> Option<i64> {
    match value {
        ScalarValue::Int8(Some(v)) => Some(i64::from(*v)),
        ScalarValue::Int16(Some(v)) => Some(i64::from(*v)),
        ScalarValue::Int32(Some(v)) => Some(i64::from(*v)),
        ScalarValue::Int64(Some(v)) => Some(*v),
        ScalarValue::UInt8(Some(v)) => Some(i64::from(*v)),
        ScalarValue::UInt16(Some(v)) => Some(i64::from(*v)),
        ScalarValue::UInt32(Some(v)) => Some(i64::from(*v)),
        ScalarValue::UInt64(Some(v)) => i64::try_from(*v).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::{col, lit};

    use super::*;

    const WATERMARKS: [(i32, i64, i64); 3] = [(0, 0, 10), (1, 5, 20), (2, 0, 0)];

    fn range(partition: i32, start: i64, end: i64) -> PartitionRange {
        PartitionRange {
            partition,
            start,
            end,
        }
    }

    #[test]
    fn no_filters_read_between_the_watermarks() {
        assert_eq!(
            ranges(&WATERMARKS, &[]),
            vec![range(0, 0, 10), range(1, 5, 20), range(2, 0, 0)]
        );
    }

    #[test]
    fn partitions_and_offsets_narrow_the_ranges() {
        let filters = [
            col(PARTITION).in_list(vec![lit(1), lit(2)], false),
            col(OFFSET).gt_eq(lit(7i64)),
            lit(12i64).gt(col(OFFSET)),
        ];
        let refs: Vec<&Expr> = filters.iter().collect();
        assert!(classify(&refs)
            .iter()
            .all(|c| *c == TableProviderFilterPushDown::Exact));
        assert_eq!(
            ranges(&WATERMARKS, &filters),
            vec![range(1, 7, 12), range(2, 7, 7)]
        );
        let between = [
            col(PARTITION).eq(lit(0)),
            col(OFFSET).between(lit(3i64), lit(4i64)),
        ];
        assert_eq!(ranges(&WATERMARKS, &between), vec![range(0, 3, 5)]);
        let beyond = [col(OFFSET).gt(lit(100i64))];
        assert!(ranges(&WATERMARKS, &beyond)
            .iter()
            .all(PartitionRange::is_empty));
    }

    #[test]
    fn other_filters_stay_with_datafusion() {
        let filters = [
            col("views").gt(lit(1)),
            col(OFFSET).gt(col(PARTITION)),
            col(PARTITION).eq(lit(ScalarValue::Int32(None))),
            col(PARTITION).in_list(vec![lit(1)], true),
        ];
        let refs: Vec<&Expr> = filters.iter().collect();
        assert!(classify(&refs)
            .iter()
            .all(|c| *c == TableProviderFilterPushDown::Unsupported));
    }
}
