//! Filters on `_partition`, `_offset` and `_timestamp` → the offsets a scan
//! reads.
//!
//! `_partition = n`, `_partition IN (...)` and comparisons of `_offset`
//! with constants (`=`, `<`, `<=`, `>`, `>=`, `BETWEEN`) narrow the
//! per-partition offset ranges. Kafka answers them exactly, so DataFusion
//! does not filter again.
//!
//! Comparisons of `_timestamp` with constants become time bounds, which the
//! scan turns into offsets with Kafka's offsets-for-times lookup (the first
//! offset of each partition whose record time is at or after a time). A
//! lower bound skips every message before that offset, all of which are
//! older. An upper bound ends the read at the first message at or after it,
//! which is exact only when record times never go back within a partition:
//! the scan uses it for topics whose brokers stamp the time
//! (`message.timestamp.type=LogAppendTime`) and reads to the end otherwise.
//! DataFusion filters `_timestamp` again either way. Everything else stays
//! with DataFusion.

use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator, TableProviderFilterPushDown};

use crate::schema::{OFFSET, PARTITION, TIMESTAMP};

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
    /// Record times in `from..to`, in milliseconds since the epoch.
    Times(i64, i64),
}

/// Bounds on record times: `from..to` in milliseconds since the epoch,
/// either end open (`i64::MIN`, `i64::MAX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeBounds {
    /// The earliest time allowed.
    pub from: i64,
    /// The first time no longer allowed.
    pub to: i64,
}

/// How DataFusion should treat each of `filters`.
pub fn classify(filters: &[&Expr]) -> Vec<TableProviderFilterPushDown> {
    filters
        .iter()
        .map(|f| match restriction(f) {
            Some(Restriction::Times(..)) => TableProviderFilterPushDown::Inexact,
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
                Restriction::Offsets(..) | Restriction::Times(..) => true,
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

/// The time bounds `filters` set on `_timestamp`, if any.
pub fn time_bounds(filters: &[Expr]) -> Option<TimeBounds> {
    filters
        .iter()
        .filter_map(|f| match restriction(f)? {
            Restriction::Times(from, to) => Some(TimeBounds { from, to }),
            _ => None,
        })
        .reduce(|a, b| TimeBounds {
            from: a.from.max(b.from),
            to: a.to.min(b.to),
        })
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
            if column == TIMESTAMP {
                return time_restriction(op, value);
            }
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
            (Expr::Column(c), Expr::Literal(low, _), Expr::Literal(high, _))
                if c.name == TIMESTAMP =>
            {
                let (Restriction::Times(from, _), Restriction::Times(_, to)) = (
                    time_restriction(Operator::GtEq, low)?,
                    time_restriction(Operator::LtEq, high)?,
                ) else {
                    return None;
                };
                Some(Restriction::Times(from, to))
            }
            _ => None,
        },
        _ => None,
    }
}

/// `_timestamp <op> value` as a range of whole milliseconds.
fn time_restriction(op: Operator, value: &ScalarValue) -> Option<Restriction> {
    // The value as a fraction of milliseconds: `units / per_ms`.
    let (units, per_ms) = match value {
        ScalarValue::TimestampSecond(Some(v), _) => (i128::from(*v) * 1000, 1),
        ScalarValue::TimestampMillisecond(Some(v), _) => (i128::from(*v), 1),
        ScalarValue::TimestampMicrosecond(Some(v), _) => (i128::from(*v), 1000),
        ScalarValue::TimestampNanosecond(Some(v), _) => (i128::from(*v), 1_000_000),
        _ => return None,
    };
    let floor = i64::try_from(units.div_euclid(per_ms)).ok()?;
    let ceil = i64::try_from(-(-units).div_euclid(per_ms)).ok()?;
    let (from, to) = match op {
        Operator::Eq if floor == ceil => (floor, floor.checked_add(1)?),
        // No whole millisecond equals it.
        Operator::Eq => (ceil, ceil),
        Operator::Gt => (floor.checked_add(1)?, i64::MAX),
        Operator::GtEq => (ceil, i64::MAX),
        Operator::Lt => (i64::MIN, ceil),
        Operator::LtEq => (i64::MIN, floor.checked_add(1)?),
        _ => return None,
    };
    Some(Restriction::Times(from, to))
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
    fn timestamp_comparisons_become_inexact_time_bounds() {
        let at = |ns: i64| {
            lit(ScalarValue::TimestampNanosecond(
                Some(ns),
                Some("UTC".into()),
            ))
        };
        let filters = [
            col(TIMESTAMP).gt(at(1_500_000)),    // after 1.5 ms: from 2 ms
            col(TIMESTAMP).lt_eq(at(9_000_000)), // up to 9 ms: to 10 ms
            at(8_000_001).gt(col(TIMESTAMP)),    // before 8.000001 ms: to 9 ms
        ];
        let refs: Vec<&Expr> = filters.iter().collect();
        assert!(classify(&refs)
            .iter()
            .all(|c| *c == TableProviderFilterPushDown::Inexact));
        assert_eq!(time_bounds(&filters), Some(TimeBounds { from: 2, to: 9 }));
        let between = [col(TIMESTAMP).between(
            lit(ScalarValue::TimestampMillisecond(Some(5), None)),
            lit(ScalarValue::TimestampSecond(Some(1), None)),
        )];
        assert_eq!(
            time_bounds(&between),
            Some(TimeBounds { from: 5, to: 1001 })
        );
        let exact = [col(TIMESTAMP).eq(lit(ScalarValue::TimestampMicrosecond(Some(7000), None)))];
        assert_eq!(time_bounds(&exact), Some(TimeBounds { from: 7, to: 8 }));
        // Time bounds do not narrow offsets by themselves.
        assert_eq!(ranges(&WATERMARKS, &filters), ranges(&WATERMARKS, &[]));
        assert_eq!(time_bounds(&[col(OFFSET).gt(lit(1i64))]), None);
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
