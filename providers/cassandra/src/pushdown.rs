//! SQL predicates → CQL restrictions, as pure functions.
//!
//! A predicate is pushed down only when Cassandra answers it exactly, so it
//! is reported [`TableProviderFilterPushDown::Exact`] and DataFusion does not
//! evaluate it again. Everything else stays `Unsupported` and is evaluated by
//! DataFusion above the scan.
//!
//! What is pushed down so far:
//! - `=` and `IN (...)` on every partition-key column, or a bounded range
//!   (`BETWEEN`, or `>=` with `<=`) on an integer or date key column, which
//!   is the list of values in it. The cross product of the lists becomes one
//!   partition read each (a prepared `SELECT ... WHERE pk1 = ? AND pk2 = ?`,
//!   which the driver routes to a replica of that partition), up to
//!   [`KeyLayout::max_reads`].
//! - within those partitions, `=` on a prefix of the clustering key and a
//!   range (`<`, `<=`, `>`, `>=`, `BETWEEN`) on the clustering column after
//!   it, as CQL restrictions of each partition read.
//! - comparisons of `token(pk...)` with a constant, which narrow the token
//!   ranges a full scan reads.
//! - `=` and ranges on columns with an SAI index that answers them exactly
//!   (see [`crate::indexes`]), added to whatever else the scan reads.
//!
//! Clustering restrictions without the full partition key would need
//! `ALLOW FILTERING`, which smackql never adds on its own; DataFusion
//! filters those rows instead.
//!
//! Values are always bound, never written into the CQL text.

use std::collections::HashMap;

use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use scylla::cluster::metadata::{ColumnKind, ColumnType, NativeType};
use scylla::value::{CqlDate, CqlTimestamp, CqlTimeuuid, CqlValue};

use crate::cql::quote_identifier;
use crate::indexes::IndexedColumn;
use crate::provider::ColumnMeta;
use crate::token::TokenRange;

/// The most partitions one scan reads by key unless configured otherwise;
/// above it, the table is scanned and DataFusion filters.
pub const DEFAULT_MAX_PARTITION_READS: usize = 1000;

/// A table's key columns, and how many partition reads one scan may make.
#[derive(Debug, Clone, Copy)]
pub struct KeyLayout<'a> {
    /// Every column of the table.
    pub columns: &'a [ColumnMeta],
    /// The partition-key columns, in key order.
    pub partition_key: &'a [String],
    /// The most partitions one scan reads by key.
    pub max_reads: usize,
    /// Columns with an SAI index that answers predicates exactly.
    pub indexed: &'a [IndexedColumn],
}

impl<'a> KeyLayout<'a> {
    /// The layout of a table, with the default read limit.
    pub fn new(columns: &'a [ColumnMeta], partition_key: &'a [String]) -> Self {
        Self {
            columns,
            partition_key,
            max_reads: DEFAULT_MAX_PARTITION_READS,
            indexed: &[],
        }
    }

    fn column(&self, name: &str) -> Option<&'a ColumnMeta> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// The partitions a scan reads by key: for each partition, one bound value
/// per partition-key column, in key order.
pub type PartitionKeys = Vec<Vec<CqlValue>>;

/// The rows of each partition read: `=` on a prefix of the clustering key,
/// then at most one range on the clustering column after that prefix.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusteringSlice {
    /// `column = value`, in clustering-key order.
    pub equal: Vec<(String, CqlValue)>,
    /// A range on the next clustering column.
    pub range: Option<ColumnRange>,
}

/// A range on one clustering column; at least one side is set.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnRange {
    /// The clustering column.
    pub column: String,
    /// `column > value` or `column >= value`.
    pub lower: Option<RangeBound>,
    /// `column < value` or `column <= value`.
    pub upper: Option<RangeBound>,
}

/// One side of a [`ColumnRange`].
#[derive(Debug, Clone, PartialEq)]
pub struct RangeBound {
    /// The bound value.
    pub value: CqlValue,
    /// Whether the bound itself is in the range.
    pub inclusive: bool,
}

impl ClusteringSlice {
    /// Whether the slice restricts nothing.
    pub fn is_empty(&self) -> bool {
        self.equal.is_empty() && self.range.is_none()
    }

    /// The CQL restrictions, each with a `?` for its value.
    pub fn restrictions(&self) -> Vec<String> {
        restrictions_of(&self.equal, self.range.iter())
    }

    /// The values bound to [`ClusteringSlice::restrictions`], in order.
    pub fn values(&self) -> Vec<CqlValue> {
        values_of(&self.equal, self.range.iter())
    }
}

/// `column = ?` for each equality, then each range's bounds.
fn restrictions_of<'a>(
    equal: &[(String, CqlValue)],
    ranges: impl Iterator<Item = &'a ColumnRange>,
) -> Vec<String> {
    let mut out: Vec<String> = equal
        .iter()
        .map(|(c, _)| format!("{} = ?", quote_identifier(c)))
        .collect();
    for range in ranges {
        range.restrictions(&mut out);
    }
    out
}

/// The values bound to [`restrictions_of`], in order.
fn values_of<'a>(
    equal: &[(String, CqlValue)],
    ranges: impl Iterator<Item = &'a ColumnRange>,
) -> Vec<CqlValue> {
    let mut out: Vec<CqlValue> = equal.iter().map(|(_, v)| v.clone()).collect();
    for range in ranges {
        range.values(&mut out);
    }
    out
}

impl ColumnRange {
    /// Appends the CQL restrictions, each with a `?` for its value.
    fn restrictions(&self, out: &mut Vec<String>) {
        let column = quote_identifier(&self.column);
        if let Some(lower) = &self.lower {
            let op = if lower.inclusive { ">=" } else { ">" };
            out.push(format!("{column} {op} ?"));
        }
        if let Some(upper) = &self.upper {
            let op = if upper.inclusive { "<=" } else { "<" };
            out.push(format!("{column} {op} ?"));
        }
    }

    /// Appends the values bound to [`ColumnRange::restrictions`].
    fn values(&self, out: &mut Vec<CqlValue>) {
        out.extend(self.lower.iter().map(|b| b.value.clone()));
        out.extend(self.upper.iter().map(|b| b.value.clone()));
    }
}

/// Restrictions on columns with an exact SAI index, added to whatever else
/// the scan reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IndexFilter {
    /// `column = value`.
    pub equal: Vec<(String, CqlValue)>,
    /// Ranges, at most one per column.
    pub ranges: Vec<ColumnRange>,
}

impl IndexFilter {
    /// Whether the filter restricts nothing.
    pub fn is_empty(&self) -> bool {
        self.equal.is_empty() && self.ranges.is_empty()
    }

    /// The CQL restrictions, each with a `?` for its value.
    pub fn restrictions(&self) -> Vec<String> {
        restrictions_of(&self.equal, self.ranges.iter())
    }

    /// The values bound to [`IndexFilter::restrictions`], in order.
    pub fn values(&self) -> Vec<CqlValue> {
        values_of(&self.equal, self.ranges.iter())
    }
}

/// The partitions a scan reads by key, and the rows it reads in each.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyPlan {
    /// One bound-value tuple per partition.
    pub keys: PartitionKeys,
    /// The clustering restrictions applied to every partition read.
    pub slice: ClusteringSlice,
}

/// How DataFusion should treat each of `filters`.
///
/// Partition-key restrictions win: when they apply, token restrictions are
/// left to DataFusion. Otherwise restrictions on `token(pk...)` narrow the
/// token ranges a full scan reads.
pub fn classify_filters(
    filters: &[&Expr],
    layout: &KeyLayout<'_>,
) -> Vec<TableProviderFilterPushDown> {
    let allowed = allowed_key_values(filters.iter().copied(), layout);
    let key_plan = plan_partition_keys(filters.iter().copied(), layout, &allowed);
    let has_key = key_plan.is_some();
    let (mut used, hints): (Vec<usize>, Vec<usize>) = match key_plan {
        Some((_, used)) => (used, Vec::new()),
        None => (
            filters
                .iter()
                .enumerate()
                .filter(|(_, f)| token_restriction(f, layout.partition_key).is_some())
                .map(|(i, _)| i)
                .collect(),
            // Restrictions on part of the partition key cannot be
            // applied alone, but a join may supply the rest of the key
            // (see `lookup`); they reach the scan as hints.
            allowed
                .into_values()
                .flat_map(|(_, positions)| positions)
                .collect(),
        ),
    };
    plan_index_filter(filters.iter().copied(), layout, has_key, &mut used);
    (0..filters.len())
        .map(|i| {
            if used.contains(&i) {
                TableProviderFilterPushDown::Exact
            } else if hints.contains(&i) {
                TableProviderFilterPushDown::Inexact
            } else {
                TableProviderFilterPushDown::Unsupported
            }
        })
        .collect()
}

/// The token range that the `token(pk...)` restrictions among `filters`
/// allow, or `None` when there are none.
pub fn token_bounds(filters: &[Expr], partition_key: &[String]) -> Option<TokenRange> {
    filters
        .iter()
        .filter_map(|f| token_restriction(f, partition_key))
        .reduce(|a, b| a.intersect(&b))
}

/// `token(pk...) <op> literal` (either way round) as a token range.
fn token_restriction(filter: &Expr, partition_key: &[String]) -> Option<TokenRange> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = filter else {
        return None;
    };
    let (call, op, value) = match (left.as_ref(), right.as_ref()) {
        (Expr::ScalarFunction(f), Expr::Literal(v, _)) => (f, *op, v),
        (Expr::Literal(v, _), Expr::ScalarFunction(f)) => (f, op.swap()?, v),
        _ => return None,
    };
    if call.func.name() != "token" || call.args.len() != partition_key.len() {
        return None;
    }
    let args_are_key = call
        .args
        .iter()
        .zip(partition_key)
        .all(|(arg, key)| matches!(arg, Expr::Column(c) if &c.name == key));
    if !args_are_key {
        return None;
    }
    let ScalarValue::Int64(Some(x)) = value else {
        return None;
    };
    let x = *x;
    let full = TokenRange::FULL;
    // Ranges are (start, end]: `>= x` is `> x - 1`, `< x` is `<= x - 1`.
    Some(match op {
        Operator::Gt => TokenRange { start: x, ..full },
        Operator::GtEq => TokenRange {
            start: x.saturating_sub(1),
            ..full
        },
        Operator::Lt => TokenRange {
            end: x.saturating_sub(1),
            ..full
        },
        Operator::LtEq => TokenRange { end: x, ..full },
        Operator::Eq => TokenRange {
            start: x.saturating_sub(1),
            end: x,
        },
        _ => return None,
    })
}

/// The partitions that `filters` restrict the scan to, if they pin down the
/// whole partition key.
pub fn partition_keys(filters: &[Expr], layout: &KeyLayout<'_>) -> Option<PartitionKeys> {
    key_plan(filters, layout).map(|plan| plan.keys)
}

/// The partitions `filters` restrict the scan to and the clustering slice
/// read in each, if they pin down the whole partition key.
pub fn key_plan(filters: &[Expr], layout: &KeyLayout<'_>) -> Option<KeyPlan> {
    let allowed = allowed_key_values(filters.iter(), layout);
    plan_partition_keys(filters.iter(), layout, &allowed).map(|(plan, _)| plan)
}

/// The restrictions among `filters` that SAI indexes answer, given what the
/// partition key and `token()` restrictions already take.
pub fn index_filter(filters: &[Expr], layout: &KeyLayout<'_>) -> IndexFilter {
    if layout.indexed.is_empty() {
        return IndexFilter::default();
    }
    let allowed = allowed_key_values(filters.iter(), layout);
    let (has_key, mut used) = match plan_partition_keys(filters.iter(), layout, &allowed) {
        Some((_, used)) => (true, used),
        None => (
            false,
            filters
                .iter()
                .enumerate()
                .filter(|(_, f)| token_restriction(f, layout.partition_key).is_some())
                .map(|(i, _)| i)
                .collect(),
        ),
    };
    plan_index_filter(filters.iter(), layout, has_key, &mut used)
}

/// For each partition-key column, the values `filters` allow and the
/// positions of the filters that say so; columns they leave open are absent.
pub fn allowed_key_values<'a>(
    filters: impl Iterator<Item = &'a Expr> + Clone,
    layout: &KeyLayout<'_>,
) -> HashMap<String, (Vec<CqlValue>, Vec<usize>)> {
    let mut allowed: HashMap<String, (Vec<CqlValue>, Vec<usize>)> = HashMap::new();
    // `=` and `IN`: the first usable filter on a column wins, later ones
    // stay with DataFusion.
    for (position, filter) in filters.clone().enumerate() {
        let Some((column, values)) = key_restriction(filter) else {
            continue;
        };
        if !layout.partition_key.iter().any(|k| k == column) || allowed.contains_key(column) {
            continue;
        }
        let Some(meta) = layout.column(column) else {
            continue;
        };
        let Some(bound) = values
            .iter()
            .map(|v| to_cql(v, &meta.cql_type))
            .collect::<Option<Vec<_>>>()
        else {
            continue;
        };
        allowed.insert(column.to_string(), (dedup(bound), vec![position]));
    }
    // A bounded range on a column of integers or dates is a list too.
    for key in layout.partition_key {
        if allowed.contains_key(key) {
            continue;
        }
        let Some(meta) = layout.column(key) else {
            continue;
        };
        let mut lower: Option<RangeBound> = None;
        let mut upper: Option<RangeBound> = None;
        let mut positions = Vec::new();
        for (position, filter) in filters.clone().enumerate() {
            let Some((l, u)) = range_restriction(filter, meta) else {
                continue;
            };
            // A filter is used whole or not at all.
            if (l.is_some() && lower.is_some()) || (u.is_some() && upper.is_some()) {
                continue;
            }
            lower = lower.or(l);
            upper = upper.or(u);
            positions.push(position);
        }
        let (Some(lower), Some(upper)) = (lower, upper) else {
            continue;
        };
        if let Some(values) = enumerate_range(&lower, &upper, &meta.cql_type, layout.max_reads) {
            allowed.insert(key.clone(), (values, positions));
        }
    }
    allowed
}

/// Every value of a discrete key type between two bounds, if there are at
/// most `max` of them.
fn enumerate_range(
    lower: &RangeBound,
    upper: &RangeBound,
    cql: &ColumnType<'_>,
    max: usize,
) -> Option<Vec<CqlValue>> {
    let as_i64 = |v: &CqlValue| -> Option<i64> {
        Some(match v {
            CqlValue::TinyInt(x) => i64::from(*x),
            CqlValue::SmallInt(x) => i64::from(*x),
            CqlValue::Int(x) => i64::from(*x),
            CqlValue::BigInt(x) => *x,
            CqlValue::Date(CqlDate(x)) => i64::from(*x),
            _ => return None,
        })
    };
    let from = as_i64(&lower.value)?.checked_add(i64::from(!lower.inclusive))?;
    let to = as_i64(&upper.value)?.checked_sub(i64::from(!upper.inclusive))?;
    if to < from {
        return Some(Vec::new());
    }
    if u64::try_from(to - from).ok()? >= max as u64 {
        return None;
    }
    let ColumnType::Native(native) = cql else {
        return None;
    };
    (from..=to)
        .map(|x| {
            Some(match native {
                NativeType::TinyInt => CqlValue::TinyInt(i8::try_from(x).ok()?),
                NativeType::SmallInt => CqlValue::SmallInt(i16::try_from(x).ok()?),
                NativeType::Int => CqlValue::Int(i32::try_from(x).ok()?),
                NativeType::BigInt => CqlValue::BigInt(x),
                NativeType::Date => CqlValue::Date(CqlDate(u32::try_from(x).ok()?)),
                _ => return None,
            })
        })
        .collect()
}

/// The key plan and the positions of the filters it consumed.
fn plan_partition_keys<'a>(
    filters: impl Iterator<Item = &'a Expr>,
    layout: &KeyLayout<'_>,
    allowed: &HashMap<String, (Vec<CqlValue>, Vec<usize>)>,
) -> Option<(KeyPlan, Vec<usize>)> {
    if layout.partition_key.is_empty() {
        return None;
    }
    let restrictions: Vec<&(Vec<CqlValue>, Vec<usize>)> = layout
        .partition_key
        .iter()
        .map(|k| allowed.get(k))
        .collect::<Option<_>>()?;
    let columns: Vec<&[CqlValue]> = restrictions.iter().map(|(v, _)| v.as_slice()).collect();
    let keys = cross_product(&columns, layout.max_reads)?;
    let mut used: Vec<usize> = restrictions
        .iter()
        .flat_map(|(_, positions)| positions.iter().copied())
        .collect();
    let slice = plan_clustering_slice(filters, layout.columns, &mut used);
    Some((KeyPlan { keys, slice }, used))
}

/// One key per combination of a value of each column, in order; `None`
/// when there would be more than `max`.
pub fn cross_product(columns: &[&[CqlValue]], max: usize) -> Option<PartitionKeys> {
    let mut keys: Vec<Vec<CqlValue>> = vec![Vec::new()];
    for values in columns {
        if keys.len().checked_mul(values.len())? > max {
            return None;
        }
        keys = keys
            .iter()
            .flat_map(|prefix| {
                values.iter().map(move |v| {
                    let mut key = prefix.clone();
                    key.push(v.clone());
                    key
                })
            })
            .collect();
    }
    Some(keys)
}

/// The clustering slice `filters` allow, skipping the positions in `used`
/// and adding the ones it consumes.
fn plan_clustering_slice<'a>(
    filters: impl Iterator<Item = &'a Expr>,
    columns: &[ColumnMeta],
    used: &mut Vec<usize>,
) -> ClusteringSlice {
    let filters: Vec<(usize, &Expr)> = filters
        .enumerate()
        .filter(|(i, _)| !used.contains(i))
        .collect();
    let mut slice = ClusteringSlice::default();
    for column in columns
        .iter()
        .filter(|c| matches!(c.kind, ColumnKind::Clustering))
    {
        let equal = filters.iter().find_map(|(i, f)| {
            let (name, values) = key_restriction(f)?;
            match values.as_slice() {
                [value] if name == column.name => Some((*i, to_cql(value, &column.cql_type)?)),
                _ => None,
            }
        });
        if let Some((position, value)) = equal {
            slice.equal.push((column.name.clone(), value));
            used.push(position);
            continue;
        }
        // No `=` on this column: a range on it ends the slice.
        if orders_like_arrow(&column.cql_type) {
            slice.range = column_range(&filters, column, used);
        }
        break;
    }
    slice
}

/// The range that `filters` (other than those in `used`) set on `column`,
/// adding the positions it consumes to `used`. One filter per side; a
/// second bound on a side stays with DataFusion.
fn column_range(
    filters: &[(usize, &Expr)],
    column: &ColumnMeta,
    used: &mut Vec<usize>,
) -> Option<ColumnRange> {
    let mut range = ColumnRange {
        column: column.name.clone(),
        lower: None,
        upper: None,
    };
    for (position, filter) in filters {
        if used.contains(position) {
            continue;
        }
        let Some((lower, upper)) = range_restriction(filter, column) else {
            continue;
        };
        if (lower.is_some() && range.lower.is_some()) || (upper.is_some() && range.upper.is_some())
        {
            continue;
        }
        range.lower = range.lower.take().or(lower);
        range.upper = range.upper.take().or(upper);
        used.push(*position);
    }
    (range.lower.is_some() || range.upper.is_some()).then_some(range)
}

/// `=` and ranges on columns with an exact SAI index, among the filters not
/// in `used`; adds the positions it consumes to `used`.
///
/// Regular columns qualify, and clustering columns when no partition key
/// is given (with one, the clustering slice covers them). Equality needs a
/// type whose CQL equality is SQL's (not floating point: `NaN`, `-0`);
/// ranges need a numeric, date or timestamp column, which SAI indexes
/// in order.
fn plan_index_filter<'a>(
    filters: impl Iterator<Item = &'a Expr>,
    layout: &KeyLayout<'_>,
    has_key: bool,
    used: &mut Vec<usize>,
) -> IndexFilter {
    let filters: Vec<(usize, &Expr)> = filters.enumerate().collect();
    let mut out = IndexFilter::default();
    for indexed in layout.indexed {
        let Some(column) = layout.column(&indexed.column) else {
            continue;
        };
        let usable = match column.kind {
            ColumnKind::Regular => true,
            ColumnKind::Clustering => !has_key,
            _ => false,
        };
        let seen = out.equal.iter().any(|(c, _)| *c == column.name)
            || out.ranges.iter().any(|r| r.column == column.name);
        if !usable || seen || !index_equality_is_exact(&column.cql_type) {
            continue;
        }
        let equal = filters.iter().find_map(|(i, f)| {
            if used.contains(i) {
                return None;
            }
            let (name, values) = key_restriction(f)?;
            match values.as_slice() {
                [value] if name == column.name => Some((*i, to_cql(value, &column.cql_type)?)),
                _ => None,
            }
        });
        if let Some((position, value)) = equal {
            out.equal.push((column.name.clone(), value));
            used.push(position);
        } else if index_orders_exactly(&column.cql_type) {
            out.ranges.extend(column_range(&filters, column, used));
        }
    }
    out
}

/// Whether an SAI `=` on a column of type `cql` matches what SQL's `=`
/// matches.
fn index_equality_is_exact(cql: &ColumnType<'_>) -> bool {
    matches!(
        cql,
        ColumnType::Native(
            NativeType::TinyInt
                | NativeType::SmallInt
                | NativeType::Int
                | NativeType::BigInt
                | NativeType::Text
                | NativeType::Ascii
                | NativeType::Boolean
                | NativeType::Date
                | NativeType::Timestamp
        )
    )
}

/// Whether SAI answers ranges on a column of type `cql`, in the order SQL
/// compares them.
fn index_orders_exactly(cql: &ColumnType<'_>) -> bool {
    matches!(
        cql,
        ColumnType::Native(
            NativeType::TinyInt
                | NativeType::SmallInt
                | NativeType::Int
                | NativeType::BigInt
                | NativeType::Date
                | NativeType::Timestamp
        )
    )
}

/// Whether Cassandra orders values of `cql` exactly as DataFusion compares
/// their Arrow form, so a pushed-down range returns the same rows.
fn orders_like_arrow(cql: &ColumnType<'_>) -> bool {
    matches!(
        cql,
        ColumnType::Native(
            NativeType::TinyInt
                | NativeType::SmallInt
                | NativeType::Int
                | NativeType::BigInt
                | NativeType::Text
                | NativeType::Ascii
                | NativeType::Blob
                | NativeType::Date
                | NativeType::Timestamp
        )
    )
}

/// `column <op> literal` (either way round) or `column BETWEEN a AND b`, as
/// the lower and upper bound it sets.
fn range_restriction(
    filter: &Expr,
    column: &ColumnMeta,
) -> Option<(Option<RangeBound>, Option<RangeBound>)> {
    let is_column = |e: &Expr| matches!(e, Expr::Column(c) if c.name == column.name);
    let bound = |v: &ScalarValue, inclusive: bool| {
        to_cql(v, &column.cql_type).map(|value| RangeBound { value, inclusive })
    };
    match filter {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let (op, value) = match (left.as_ref(), right.as_ref()) {
                (c, Expr::Literal(v, _)) if is_column(c) => (*op, v),
                (Expr::Literal(v, _), c) if is_column(c) => (op.swap()?, v),
                _ => return None,
            };
            match op {
                Operator::Gt => Some((Some(bound(value, false)?), None)),
                Operator::GtEq => Some((Some(bound(value, true)?), None)),
                Operator::Lt => Some((None, Some(bound(value, false)?))),
                Operator::LtEq => Some((None, Some(bound(value, true)?))),
                _ => None,
            }
        }
        Expr::Between(Between {
            expr,
            negated: false,
            low,
            high,
        }) if is_column(expr) => match (low.as_ref(), high.as_ref()) {
            (Expr::Literal(low, _), Expr::Literal(high, _)) => {
                Some((Some(bound(low, true)?), Some(bound(high, true)?)))
            }
            _ => None,
        },
        _ => None,
    }
}

fn dedup(values: Vec<CqlValue>) -> Vec<CqlValue> {
    let mut out: Vec<CqlValue> = Vec::with_capacity(values.len());
    for v in values {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// `col = literal`, `literal = col`, `col IN (literals)`, or an `OR` of
/// those on one column (DataFusion rewrites short `IN` lists that way).
fn key_restriction(filter: &Expr) -> Option<(&str, Vec<&ScalarValue>)> {
    match filter {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Or,
            right,
        }) => {
            let (column, mut values) = key_restriction(left)?;
            let (other, more) = key_restriction(right)?;
            if column != other {
                return None;
            }
            values.extend(more);
            Some((column, values))
        }
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq,
            right,
        }) => match (left.as_ref(), right.as_ref()) {
            (Expr::Column(c), Expr::Literal(v, _)) | (Expr::Literal(v, _), Expr::Column(c)) => {
                Some((c.name.as_str(), vec![v]))
            }
            _ => None,
        },
        Expr::InList(in_list) if !in_list.negated => {
            let Expr::Column(c) = in_list.expr.as_ref() else {
                return None;
            };
            let values = in_list
                .list
                .iter()
                .map(|e| match e {
                    Expr::Literal(v, _) => Some(v),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()?;
            Some((c.name.as_str(), values))
        }
        _ => None,
    }
}

/// The CQL value of `value` for a column of type `cql`, when the two agree
/// exactly. A null never matches a key, so it is not pushed down either.
pub fn to_cql(value: &ScalarValue, cql: &ColumnType<'_>) -> Option<CqlValue> {
    let ColumnType::Native(native) = cql else {
        return None;
    };
    Some(match (native, value) {
        (NativeType::TinyInt, ScalarValue::Int8(Some(v))) => CqlValue::TinyInt(*v),
        (NativeType::SmallInt, ScalarValue::Int16(Some(v))) => CqlValue::SmallInt(*v),
        (NativeType::Int, ScalarValue::Int32(Some(v))) => CqlValue::Int(*v),
        (NativeType::BigInt, ScalarValue::Int64(Some(v))) => CqlValue::BigInt(*v),
        (NativeType::Text, ScalarValue::Utf8(Some(v)) | ScalarValue::Utf8View(Some(v))) => {
            CqlValue::Text(v.clone())
        }
        (NativeType::Ascii, ScalarValue::Utf8(Some(v)) | ScalarValue::Utf8View(Some(v)))
            if v.is_ascii() =>
        {
            CqlValue::Ascii(v.clone())
        }
        (NativeType::Boolean, ScalarValue::Boolean(Some(v))) => CqlValue::Boolean(*v),
        (NativeType::Float, ScalarValue::Float32(Some(v))) => CqlValue::Float(*v),
        (NativeType::Double, ScalarValue::Float64(Some(v))) => CqlValue::Double(*v),
        (NativeType::Blob, ScalarValue::Binary(Some(v))) => CqlValue::Blob(v.clone()),
        (NativeType::Date, ScalarValue::Date32(Some(days))) => {
            // CQL dates count days from 2^31 days before the epoch.
            let raw = i64::from(*days) + (1i64 << 31);
            CqlValue::Date(CqlDate(u32::try_from(raw).ok()?))
        }
        (NativeType::Timestamp, ScalarValue::TimestampMillisecond(Some(ms), _)) => {
            CqlValue::Timestamp(CqlTimestamp(*ms))
        }
        (NativeType::Uuid, ScalarValue::FixedSizeBinary(16, Some(v))) => {
            CqlValue::Uuid(CqlTimeuuid::from_bytes(v.as_slice().try_into().ok()?).into())
        }
        (NativeType::Timeuuid, ScalarValue::FixedSizeBinary(16, Some(v))) => {
            CqlValue::Timeuuid(CqlTimeuuid::from_bytes(v.as_slice().try_into().ok()?))
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::{col, lit};
    use scylla::cluster::metadata::ColumnKind;

    fn columns() -> Vec<ColumnMeta> {
        vec![
            ColumnMeta {
                name: "campaign_id".into(),
                cql_type: ColumnType::Native(NativeType::BigInt),
                kind: ColumnKind::PartitionKey,
            },
            ColumnMeta {
                name: "day".into(),
                cql_type: ColumnType::Native(NativeType::Date),
                kind: ColumnKind::PartitionKey,
            },
            ColumnMeta {
                name: "views".into(),
                cql_type: ColumnType::Native(NativeType::Int),
                kind: ColumnKind::Regular,
            },
        ]
    }

    fn pk() -> Vec<String> {
        vec!["campaign_id".into(), "day".into()]
    }

    /// `PRIMARY KEY ((campaign_id, day), kind, ts)`
    fn clustered() -> Vec<ColumnMeta> {
        let mut out = columns();
        out.insert(
            2,
            ColumnMeta {
                name: "kind".into(),
                cql_type: ColumnType::Native(NativeType::Text),
                kind: ColumnKind::Clustering,
            },
        );
        out.insert(
            3,
            ColumnMeta {
                name: "ts".into(),
                cql_type: ColumnType::Native(NativeType::Timestamp),
                kind: ColumnKind::Clustering,
            },
        );
        out
    }

    fn ts(ms: i64) -> Expr {
        lit(ScalarValue::TimestampMillisecond(
            Some(ms),
            Some("UTC".into()),
        ))
    }

    fn key() -> [Expr; 2] {
        [
            col("campaign_id").eq(lit(7i64)),
            col("day").eq(lit(ScalarValue::Date32(Some(1)))),
        ]
    }

    /// [`clustered`] plus `city text` and `score double`; `views`, `city`,
    /// `score` and the clustering column `ts` have SAI indexes.
    fn indexed_columns() -> (Vec<ColumnMeta>, Vec<IndexedColumn>) {
        let mut columns = clustered();
        for (name, native) in [("city", NativeType::Text), ("score", NativeType::Double)] {
            columns.push(ColumnMeta {
                name: name.into(),
                cql_type: ColumnType::Native(native),
                kind: ColumnKind::Regular,
            });
        }
        let indexed = ["views", "city", "score", "ts"]
            .into_iter()
            .map(|c| IndexedColumn {
                column: c.into(),
                index: format!("{c}_idx"),
            })
            .collect();
        (columns, indexed)
    }

    #[test]
    fn indexed_columns_take_equality_and_ranges() {
        let (columns, indexed) = indexed_columns();
        let pk = pk();
        let layout = KeyLayout {
            indexed: &indexed,
            ..KeyLayout::new(&columns, &pk)
        };
        let filters = [
            col("city").eq(lit("Paris")),
            col("views").gt_eq(lit(10i32)),
            col("views").lt(lit(20i32)),
            col("views").lt(lit(30i32)),
            // Floating-point equality is not SQL's: stays with DataFusion.
            col("score").eq(lit(1.5f64)),
            // Text has no order in SAI.
            col("city").gt(lit("A")),
            col("ts").gt(ts(5)),
        ];
        let refs: Vec<&Expr> = filters.iter().collect();
        use TableProviderFilterPushDown::{Exact, Unsupported};
        assert_eq!(
            classify_filters(&refs, &layout),
            vec![
                Exact,
                Exact,
                Exact,
                Unsupported,
                Unsupported,
                Unsupported,
                Exact
            ]
        );
        let index = index_filter(&filters, &layout);
        assert_eq!(
            index.restrictions(),
            vec![
                "\"city\" = ?",
                "\"views\" >= ?",
                "\"views\" < ?",
                "\"ts\" > ?"
            ]
        );
        assert_eq!(
            index.values(),
            vec![
                CqlValue::Text("Paris".into()),
                CqlValue::Int(10),
                CqlValue::Int(20),
                CqlValue::Timestamp(CqlTimestamp(5))
            ]
        );

        // With the partition key, the clustering slice takes `ts`, and the
        // index adds the regular columns to each partition read.
        let filters: Vec<Expr> = key()
            .into_iter()
            .chain([
                col("city").eq(lit("Paris")),
                col("kind").eq(lit("click")),
                col("ts").gt(ts(5)),
            ])
            .collect();
        let refs: Vec<&Expr> = filters.iter().collect();
        assert!(classify_filters(&refs, &layout).iter().all(|c| *c == Exact));
        assert_eq!(
            index_filter(&filters, &layout).restrictions(),
            vec!["\"city\" = ?"]
        );
        let plan = key_plan(&filters, &layout).unwrap();
        assert_eq!(
            plan.slice.restrictions(),
            vec!["\"kind\" = ?", "\"ts\" > ?"]
        );

        // Without indexes nothing changes.
        let plain = KeyLayout::new(&columns, &pk);
        assert!(index_filter(&filters, &plain).is_empty());
    }

    #[test]
    fn clustering_prefix_and_range_go_with_the_key() {
        let filters: Vec<Expr> = key()
            .into_iter()
            .chain([
                col("ts").lt(ts(100)),
                col("kind").eq(lit("view")),
                ts(10).lt_eq(col("ts")),
                col("ts").gt(ts(20)),
                col("views").eq(lit(1i32)),
            ])
            .collect();
        let refs: Vec<&Expr> = filters.iter().collect();
        use TableProviderFilterPushDown::{Exact, Unsupported};
        assert_eq!(
            classify_filters(&refs, &KeyLayout::new(&clustered(), &pk())),
            vec![Exact, Exact, Exact, Exact, Exact, Unsupported, Unsupported]
        );
        let plan = key_plan(&filters, &KeyLayout::new(&clustered(), &pk())).expect("plan");
        assert_eq!(
            plan.slice.restrictions(),
            vec!["\"kind\" = ?", "\"ts\" >= ?", "\"ts\" < ?"]
        );
        assert_eq!(
            plan.slice.values(),
            vec![
                CqlValue::Text("view".into()),
                CqlValue::Timestamp(CqlTimestamp(10)),
                CqlValue::Timestamp(CqlTimestamp(100))
            ]
        );
    }

    #[test]
    fn a_range_needs_the_prefix_before_it() {
        // `ts` comes after `kind`; without `kind = ...` it is not pushed.
        let filters: Vec<Expr> = key().into_iter().chain([col("ts").gt(ts(1))]).collect();
        let plan = key_plan(&filters, &KeyLayout::new(&clustered(), &pk())).expect("plan");
        assert!(plan.slice.is_empty());
        // A range on the first clustering column ends the slice.
        let filters: Vec<Expr> = key()
            .into_iter()
            .chain([col("kind").between(lit("a"), lit("m")), col("ts").eq(ts(1))])
            .collect();
        let refs: Vec<&Expr> = filters.iter().collect();
        assert_eq!(
            classify_filters(&refs, &KeyLayout::new(&clustered(), &pk()))[3],
            TableProviderFilterPushDown::Unsupported
        );
        let plan = key_plan(&filters, &KeyLayout::new(&clustered(), &pk())).expect("plan");
        assert_eq!(
            plan.slice.restrictions(),
            vec!["\"kind\" >= ?", "\"kind\" <= ?"]
        );
    }

    #[test]
    fn bounded_date_ranges_on_the_key_are_value_lists() {
        let day = |d: i32| lit(ScalarValue::Date32(Some(d)));
        let filters = [
            col("campaign_id").in_list(vec![lit(1i64), lit(2i64)], false),
            col("day").between(day(10), day(12)),
        ];
        let refs: Vec<&Expr> = filters.iter().collect();
        let (columns, pk) = (columns(), pk());
        let layout = KeyLayout::new(&columns, &pk);
        let classified = classify_filters(&refs, &layout);
        assert_eq!(classified, vec![TableProviderFilterPushDown::Exact; 2]);
        let keys = partition_keys(&filters, &layout).expect("keys");
        assert_eq!(keys.len(), 6);
        assert_eq!(keys[5][1], CqlValue::Date(CqlDate((1 << 31) + 12)));

        // `>` and `<` from two filters; exclusive bounds drop the ends.
        let filters = [
            col("campaign_id").eq(lit(1i64)),
            col("day").gt(day(10)),
            col("day").lt(day(13)),
        ];
        assert_eq!(partition_keys(&filters, &layout).expect("keys").len(), 2);

        // One side only, or too many values: not a list.
        let filters = [col("campaign_id").eq(lit(1i64)), col("day").gt(day(10))];
        assert!(partition_keys(&filters, &layout).is_none());
        let filters = [
            col("campaign_id").eq(lit(1i64)),
            col("day").between(day(0), day(5000)),
        ];
        assert!(partition_keys(&filters, &layout).is_none());

        // A BETWEEN whose lower side is taken already is not half-used.
        let filters = [
            col("campaign_id").eq(lit(1i64)),
            col("day").gt_eq(day(10)),
            col("day").between(day(5), day(11)),
        ];
        let refs: Vec<&Expr> = filters.iter().collect();
        assert_eq!(
            classify_filters(&refs, &layout)[2],
            TableProviderFilterPushDown::Unsupported
        );
    }

    #[test]
    fn clustering_filters_without_the_key_stay_with_datafusion() {
        let filters = [col("kind").eq(lit("view")), col("ts").gt(ts(1))];
        let refs: Vec<&Expr> = filters.iter().collect();
        assert_eq!(
            classify_filters(&refs, &KeyLayout::new(&clustered(), &pk())),
            vec![TableProviderFilterPushDown::Unsupported; 2]
        );
    }

    #[test]
    fn full_key_equality_is_exact() {
        let filters = [
            col("campaign_id").eq(lit(7i64)),
            col("day").eq(lit(ScalarValue::Date32(Some(20_000)))),
            col("views").gt(lit(3i32)),
        ];
        let refs: Vec<&Expr> = filters.iter().collect();
        assert_eq!(
            classify_filters(&refs, &KeyLayout::new(&columns(), &pk())),
            vec![
                TableProviderFilterPushDown::Exact,
                TableProviderFilterPushDown::Exact,
                TableProviderFilterPushDown::Unsupported
            ]
        );
        let keys = partition_keys(&filters, &KeyLayout::new(&columns(), &pk())).expect("keys");
        assert_eq!(
            keys,
            vec![vec![
                CqlValue::BigInt(7),
                CqlValue::Date(CqlDate((1 << 31) + 20_000))
            ]]
        );
    }

    #[test]
    fn in_lists_multiply() {
        let filters = [
            col("campaign_id").in_list(vec![lit(1i64), lit(2i64), lit(2i64)], false),
            lit(ScalarValue::Date32(Some(1))).eq(col("day")),
        ];
        let keys = partition_keys(&filters, &KeyLayout::new(&columns(), &pk())).expect("keys");
        assert_eq!(keys.len(), 2, "duplicates read once");
    }

    #[test]
    fn partial_keys_are_not_pushed() {
        // Only as a hint for lookup joins, which DataFusion checks again.
        let filters = [col("campaign_id").eq(lit(7i64))];
        let refs: Vec<&Expr> = filters.iter().collect();
        assert_eq!(
            classify_filters(&refs, &KeyLayout::new(&columns(), &pk())),
            vec![TableProviderFilterPushDown::Inexact]
        );
        assert!(partition_keys(&filters, &KeyLayout::new(&columns(), &pk())).is_none());
    }

    #[test]
    fn mismatched_types_and_nulls_are_not_pushed() {
        let filters = [
            col("campaign_id").eq(lit(7i32)),
            col("day").eq(lit(ScalarValue::Date32(Some(1)))),
        ];
        assert!(partition_keys(&filters, &KeyLayout::new(&columns(), &pk())).is_none());
        let filters = [
            col("campaign_id").eq(lit(ScalarValue::Int64(None))),
            col("day").eq(lit(ScalarValue::Date32(Some(1)))),
        ];
        assert!(partition_keys(&filters, &KeyLayout::new(&columns(), &pk())).is_none());
    }

    #[test]
    fn too_many_partitions_fall_back_to_a_scan() {
        let many: Vec<Expr> = (0..40i64).map(lit).collect();
        let days: Vec<Expr> = (0..30i32)
            .map(|d| lit(ScalarValue::Date32(Some(d))))
            .collect();
        let filters = [
            col("campaign_id").in_list(many, false),
            col("day").in_list(days, false),
        ];
        assert!(partition_keys(&filters, &KeyLayout::new(&columns(), &pk())).is_none());
    }

    #[test]
    fn or_chains_on_one_column_are_in_lists() {
        let filters = [
            col("campaign_id")
                .eq(lit(1i64))
                .or(col("campaign_id").eq(lit(2i64))),
            col("day").eq(lit(ScalarValue::Date32(Some(1)))),
        ];
        let keys = partition_keys(&filters, &KeyLayout::new(&columns(), &pk())).expect("keys");
        assert_eq!(keys.len(), 2);
        // An OR across columns restricts neither.
        let filters = [
            col("campaign_id")
                .eq(lit(1i64))
                .or(col("day").eq(lit(ScalarValue::Date32(Some(1))))),
            col("day").eq(lit(ScalarValue::Date32(Some(1)))),
        ];
        assert!(partition_keys(&filters, &KeyLayout::new(&columns(), &pk())).is_none());
    }

    fn token(args: Vec<Expr>) -> Expr {
        use datafusion::arrow::datatypes::DataType;
        use datafusion::logical_expr::{create_udf, ColumnarValue, Volatility};
        let udf = create_udf(
            "token",
            vec![DataType::Int64, DataType::Date32],
            DataType::Int64,
            Volatility::Immutable,
            std::sync::Arc::new(|_: &[ColumnarValue]| unreachable!("never evaluated")),
        );
        udf.call(args)
    }

    #[test]
    fn token_comparisons_narrow_the_ring() {
        let t = || token(vec![col("campaign_id"), col("day")]);
        let filters = [t().gt_eq(lit(-100i64)), lit(50i64).gt(t())];
        let refs: Vec<&Expr> = filters.iter().collect();
        assert_eq!(
            classify_filters(&refs, &KeyLayout::new(&columns(), &pk())),
            vec![TableProviderFilterPushDown::Exact; 2]
        );
        assert_eq!(
            token_bounds(&filters, &pk()),
            Some(TokenRange {
                start: -101,
                end: 49
            })
        );
        assert_eq!(
            token_bounds(&[t().eq(lit(7i64))], &pk()),
            Some(TokenRange { start: 6, end: 7 })
        );
        assert!(token_bounds(&[t().gt(lit(5i64)), t().lt(lit(3i64))], &pk())
            .is_some_and(|r| r.is_empty()));
        // Not the partition key, or not in key order: left to DataFusion.
        let wrong = [token(vec![col("day"), col("campaign_id")]).gt(lit(0i64))];
        assert_eq!(token_bounds(&wrong, &pk()), None);
        let refs: Vec<&Expr> = wrong.iter().collect();
        assert_eq!(
            classify_filters(&refs, &KeyLayout::new(&columns(), &pk())),
            vec![TableProviderFilterPushDown::Unsupported]
        );
    }

    #[test]
    fn negated_in_lists_are_not_pushed() {
        let filters = [
            col("campaign_id").in_list(vec![lit(1i64)], true),
            col("day").eq(lit(ScalarValue::Date32(Some(1)))),
        ];
        assert!(partition_keys(&filters, &KeyLayout::new(&columns(), &pk())).is_none());
    }
}
