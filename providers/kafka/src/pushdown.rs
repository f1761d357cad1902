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
//! DataFusion filters `_timestamp` again either way.
//!
//! `_key = k` and `_key IN (...)` read only the partitions those keys hash to
//! when the table's producers partition by key as the Java client does
//! (murmur2 of the key bytes, the `key.partitioner` option's default).
//! Other keys share those partitions, so DataFusion filters again.
//! Everything else stays with DataFusion.

use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator, TableProviderFilterPushDown};

use crate::schema::{KEY, OFFSET, PARTITION, TIMESTAMP};

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
    /// Messages with one of these keys.
    Keys(Vec<Vec<u8>>),
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
            Some(Restriction::Times(..) | Restriction::Keys(_)) => {
                TableProviderFilterPushDown::Inexact
            }
            Some(_) => TableProviderFilterPushDown::Exact,
            None => TableProviderFilterPushDown::Unsupported,
        })
        .collect()
}

/// The ranges to read: for each partition in `watermarks` (partition, low,
/// high) that `filters` allow, the offsets between its watermarks that they
/// allow. Key filters choose partitions only if `keyed`, when producers
/// partition by the murmur2 hash of the key.
pub fn ranges(
    watermarks: &[(i32, i64, i64)],
    filters: &[Expr],
    keyed: bool,
) -> Vec<PartitionRange> {
    let restrictions: Vec<Restriction> = filters.iter().filter_map(restriction).collect();
    let count = i32::try_from(watermarks.len()).unwrap_or(i32::MAX);
    watermarks
        .iter()
        .filter(|(partition, _, _)| {
            restrictions.iter().all(|r| match r {
                Restriction::Partitions(allowed) => allowed.contains(partition),
                Restriction::Keys(keys) if keyed => keys
                    .iter()
                    .any(|key| key_partition(key, count) == *partition),
                Restriction::Keys(_) | Restriction::Offsets(..) | Restriction::Times(..) => true,
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

/// Whether `filters` set a lower bound on `_offset` or `_timestamp`.
pub fn has_lower_bound(filters: &[Expr]) -> bool {
    filters.iter().filter_map(restriction).any(|r| match r {
        Restriction::Offsets(from, _) | Restriction::Times(from, _) => from > i64::MIN,
        Restriction::Partitions(_) | Restriction::Keys(_) => false,
    })
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
                return match (restriction(left)?, restriction(right)?) {
                    (Restriction::Partitions(mut a), Restriction::Partitions(b)) => {
                        a.extend(b);
                        Some(Restriction::Partitions(a))
                    }
                    (Restriction::Keys(mut a), Restriction::Keys(b)) => {
                        a.extend(b);
                        Some(Restriction::Keys(a))
                    }
                    _ => None,
                };
            }
            let (column, op, value) = match (left.as_ref(), right.as_ref()) {
                (Expr::Column(c), Expr::Literal(v, _)) => (c.name.as_str(), *op, v),
                (Expr::Literal(v, _), Expr::Column(c)) => (c.name.as_str(), op.swap()?, v),
                _ => return None,
            };
            if column == TIMESTAMP {
                return time_restriction(op, value);
            }
            if column == KEY {
                return (op == Operator::Eq).then(|| Some(Restriction::Keys(vec![key(value)?])))?;
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
            if c.name == KEY {
                return list
                    .list
                    .iter()
                    .map(|e| match e {
                        Expr::Literal(v, _) => key(v),
                        _ => None,
                    })
                    .collect::<Option<Vec<_>>>()
                    .map(Restriction::Keys);
            }
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

/// The bytes of a non-null key literal.
fn key(value: &ScalarValue) -> Option<Vec<u8>> {
    match value {
        ScalarValue::Utf8(Some(v))
        | ScalarValue::LargeUtf8(Some(v))
        | ScalarValue::Utf8View(Some(v)) => Some(v.as_bytes().to_vec()),
        ScalarValue::Binary(Some(v))
        | ScalarValue::LargeBinary(Some(v))
        | ScalarValue::BinaryView(Some(v)) => Some(v.clone()),
        _ => None,
    }
}

/// The partition, of `count`, that the Java client's default partitioner
/// (and librdkafka's `murmur2_random`) gives a message keyed `key`.
pub fn key_partition(key: &[u8], count: i32) -> i32 {
    (murmur2(key) & 0x7fff_ffff) % count.max(1)
}

/// Kafka's murmur2 hash of `data` (`Utils.murmur2` in the Java client).
fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let length = data.len();
    let mut h = SEED ^ (length as u32);
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
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
            ranges(&WATERMARKS, &[], false),
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
            ranges(&WATERMARKS, &filters, false),
            vec![range(1, 7, 12), range(2, 7, 7)]
        );
        let between = [
            col(PARTITION).eq(lit(0)),
            col(OFFSET).between(lit(3i64), lit(4i64)),
        ];
        assert_eq!(ranges(&WATERMARKS, &between, false), vec![range(0, 3, 5)]);
        let beyond = [col(OFFSET).gt(lit(100i64))];
        assert!(ranges(&WATERMARKS, &beyond, false)
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
        assert_eq!(
            ranges(&WATERMARKS, &filters, false),
            ranges(&WATERMARKS, &[], false)
        );
        assert_eq!(time_bounds(&[col(OFFSET).gt(lit(1i64))]), None);
    }

    #[test]
    fn murmur2_matches_the_java_client() {
        // Vectors from the Kafka client's own tests of `Utils.murmur2`.
        for (key, hash) in [
            (&b"21"[..], -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ] {
            assert_eq!(murmur2(key), hash, "{:?}", std::str::from_utf8(key));
        }
    }

    #[test]
    fn key_equalities_choose_partitions_when_keyed() {
        let watermarks: Vec<(i32, i64, i64)> = (0..6).map(|p| (p, 0, 10)).collect();
        let filters = [col(KEY).eq(lit("foobar"))];
        let refs: Vec<&Expr> = filters.iter().collect();
        assert_eq!(classify(&refs), vec![TableProviderFilterPushDown::Inexact]);
        let wanted = key_partition(b"foobar", 6);
        let read: Vec<i32> = ranges(&watermarks, &filters, true)
            .iter()
            .map(|r| r.partition)
            .collect();
        assert_eq!(read, vec![wanted]);
        assert_eq!(ranges(&watermarks, &filters, false).len(), 6);
        let either = [col(KEY)
            .eq(lit("foobar"))
            .or(col(KEY).in_list(vec![lit("21")], false))];
        let read: Vec<i32> = ranges(&watermarks, &either, true)
            .iter()
            .map(|r| r.partition)
            .collect();
        let mut expected = vec![wanted, key_partition(b"21", 6)];
        expected.sort_unstable();
        expected.dedup();
        assert_eq!(read, expected);
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
