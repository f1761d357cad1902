//! Table sizes from Cassandra's `system.size_estimates`, which decide how
//! many token ranges a full scan is split into.
//!
//! Each node estimates the partitions and mean partition size of its own
//! primary ranges, from its SSTables, every few minutes. The node that
//! answers gives its share of the ring; scaled by the fraction of the ring
//! it covers, that is the table's size. A table never flushed has no
//! estimate yet.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use scylla::client::session::Session;
use tracing::debug;

use crate::token::{ring_fraction, TokenRange};

/// How long an estimate is used before it is read again. Cassandra itself
/// refreshes them every five minutes by default.
const ESTIMATE_TTL: Duration = Duration::from_secs(60);

/// Token ranges per full scan when the table's size is unknown (the
/// caller's minimum applies when higher).
pub const DEFAULT_SPLITS: usize = 64;

/// The most token ranges one full scan is split into.
pub const MAX_SPLITS: usize = 16_384;

/// How many token ranges a full scan of a table of `estimated` bytes is
/// split into: one per `split_bytes`, at least `min`.
pub fn split_target(estimated: Option<u64>, split_bytes: u64, min: usize) -> usize {
    match estimated {
        None => DEFAULT_SPLITS.max(min),
        Some(bytes) => usize::try_from(bytes.div_ceil(split_bytes.max(1)))
            .unwrap_or(MAX_SPLITS)
            .clamp(min.max(1), MAX_SPLITS),
    }
}

/// The table size that one node's estimates imply: their bytes, scaled by
/// the fraction of the ring their ranges cover.
pub fn scale_estimates(rows: &[(TokenRange, u64)]) -> Option<u64> {
    if rows.is_empty() {
        return None;
    }
    let ranges: Vec<TokenRange> = rows.iter().map(|(r, _)| *r).collect();
    let fraction = ring_fraction(&ranges);
    if fraction <= 0.0 {
        return None;
    }
    let bytes: u64 = rows.iter().map(|(_, b)| *b).fold(0, u64::saturating_add);
    Some((bytes as f64 / fraction) as u64)
}

/// When an estimate was read, and the estimate (if Cassandra had one).
type Reading = (Instant, Option<u64>);

/// Estimates by table, kept for [`ESTIMATE_TTL`].
#[derive(Debug, Default)]
pub(crate) struct SizeCache {
    tables: Mutex<HashMap<(String, String), Reading>>,
}

impl SizeCache {
    /// The estimated size of `keyspace.table` in bytes, if Cassandra has one.
    pub(crate) async fn get(&self, session: &Session, keyspace: &str, table: &str) -> Option<u64> {
        let key = (keyspace.to_string(), table.to_string());
        if let Some((read, estimate)) = self.tables.lock().ok()?.get(&key).copied() {
            if read.elapsed() < ESTIMATE_TTL {
                return estimate;
            }
        }
        let estimate = read(session, keyspace, table).await;
        if let Ok(mut tables) = self.tables.lock() {
            tables.insert(key, (Instant::now(), estimate));
        }
        estimate
    }
}

/// The estimated size of every table the answering node has estimates of,
/// together, in bytes.
pub(crate) async fn total(session: &Session) -> Option<u64> {
    let tables = estimates(session, None).await?;
    let sizes: Vec<u64> = tables.values().filter_map(|r| scale_estimates(r)).collect();
    (!sizes.is_empty()).then(|| sizes.into_iter().fold(0, u64::saturating_add))
}

async fn read(session: &Session, keyspace: &str, table: &str) -> Option<u64> {
    let tables = estimates(session, Some((keyspace, table))).await?;
    scale_estimates(tables.get(&(keyspace.to_string(), table.to_string()))?)
}

/// Token ranges and their estimated bytes from `system.size_estimates`, by
/// table: of one table, or of all.
async fn estimates(
    session: &Session,
    table: Option<(&str, &str)>,
) -> Option<HashMap<(String, String), Vec<(TokenRange, u64)>>> {
    const COLUMNS: &str = "SELECT keyspace_name, table_name, range_start, range_end, \
                           mean_partition_size, partitions_count FROM system.size_estimates";
    let result = match table {
        Some(key) => {
            let cql = format!("{COLUMNS} WHERE keyspace_name = ? AND table_name = ?");
            session.query_unpaged(cql, key).await
        }
        None => session.query_unpaged(COLUMNS, ()).await,
    };
    let rows = match result {
        Ok(result) => match result.into_rows_result() {
            Ok(rows) => rows,
            Err(err) => {
                debug!(error = %err, "no size estimates");
                return None;
            }
        },
        Err(err) => {
            debug!(error = %err, "no size estimates");
            return None;
        }
    };
    type Row = (String, String, String, String, Option<i64>, Option<i64>);
    let mut tables: HashMap<(String, String), Vec<(TokenRange, u64)>> = HashMap::new();
    for row in rows.rows::<Row>().ok()? {
        let Ok((keyspace, table, start, end, mean, count)) = row else {
            continue;
        };
        let Some(range) = start.parse().ok().zip(end.parse().ok()) else {
            continue;
        };
        let bytes = u64::try_from(mean.unwrap_or(0).max(0))
            .unwrap_or(0)
            .saturating_mul(u64::try_from(count.unwrap_or(0).max(0)).unwrap_or(0));
        let range = TokenRange {
            start: range.0,
            end: range.1,
        };
        tables
            .entry((keyspace, table))
            .or_default()
            .push((range, bytes));
    }
    Some(tables)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn split_count_follows_the_size() {
        assert_eq!(split_target(None, 64 * MIB, 4), DEFAULT_SPLITS);
        assert_eq!(split_target(Some(0), 64 * MIB, 4), 4);
        assert_eq!(split_target(Some(MIB), 64 * MIB, 4), 4);
        assert_eq!(split_target(Some(640 * MIB), 64 * MIB, 4), 10);
        assert_eq!(split_target(Some(u64::MAX), 64 * MIB, 4), MAX_SPLITS);
    }

    #[test]
    fn one_nodes_estimates_scale_to_the_ring() {
        // A node holding a quarter of the ring, with 100 MiB of it.
        let quarter = TokenRange {
            start: 0,
            end: i64::MAX / 2,
        };
        let size = scale_estimates(&[(quarter, 100 * MIB)]).unwrap();
        assert!(
            (size as f64 / (400 * MIB) as f64 - 1.0).abs() < 1e-6,
            "{size}"
        );
        assert_eq!(scale_estimates(&[]), None);
    }
}
