//! Where materialized views keep their progress, and the leases that give
//! each view one maintainer at a time, in [`META_KEYSPACE`]:
//!
//! - `view_progress`: per view and source partition, the offset up to which
//!   the view is complete (`committed`) and the end of the batch being
//!   applied (`pending`), with the view's owner and last error as static
//!   columns. One view is one Cassandra partition, so what is written for
//!   it in one statement is applied atomically.
//! - `view_refreshes`: per recomputed view, one row per refresh, keyed by
//!   its period (the start of the period of a scheduled refresh, or the
//!   time of a manual one): who ran it, when it started and finished, and
//!   every attempt (`runs`, a set, so attempts that ran at once would all
//!   show). A scheduled period whose row says finished is not refreshed
//!   again.
//! - `view_members`: per continuous view, the gateways maintaining it,
//!   each row with a TTL renewed while its gateway lives; they divide the
//!   view's source partitions between them.
//! - `view_lookups`: per continuous view that joins dimension tables, and
//!   per source partition, the dimension rows its latest batch read (one
//!   encoded blob per dimension, with the batch's offsets), so that a batch
//!   redone after a crash joins what the first attempt joined.
//! - `view_fences`: per continuous view, the base of the write timestamps
//!   its maintenance gives what it writes for a batch (`epoch`), fixed once
//!   by the first gateway to maintain the view.
//! - `leases`: a name, its owner, and a TTL; taken and renewed with
//!   lightweight transactions, so at most one owner holds a lease at once.
//!
//! Reads and writes run at `QUORUM` (`SERIAL` for the transactions), so a
//! gateway taking a view over reads what the previous owner wrote.

use std::sync::Arc;
use std::time::Duration;

use scylla::response::query_result::QueryResult;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::unprepared::Statement;
use scylla::statement::{Consistency, SerialConsistency};
use scylla::value::CqlTimestamp;
use tokio::sync::OnceCell;

use crate::connection::SharedConnection;
use crate::definitions::{applied, ensure_meta_table, META_KEYSPACE};
use crate::error::{Error, Result};

const PROGRESS: &str = "view_progress";
const LEASES: &str = "leases";
const REFRESHES: &str = "view_refreshes";
const MEMBERS: &str = "view_members";
const LOOKUPS: &str = "view_lookups";
const FENCES: &str = "view_fences";

/// The write timestamp of a forgotten view's deletions: later than any
/// write maintenance makes (see [`ViewProgressTable::begin`]).
const FORGOTTEN_AT: i64 = i64::MAX / 2;

/// One refresh of a recomputed view.
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshRecord {
    /// The refresh's period: milliseconds since the epoch.
    pub period: i64,
    /// Who ran it last.
    pub owner: Option<String>,
    /// When its last attempt started, in milliseconds since the epoch.
    pub started_at: Option<i64>,
    /// When it finished; `None` while it runs, or when it failed.
    pub finished_at: Option<i64>,
    /// Rows it wrote.
    pub rows: Option<i64>,
    /// Every attempt, as `started_at@owner` (milliseconds since the epoch,
    /// zero-padded), in order.
    pub runs: Vec<String>,
    /// Why its last attempt failed.
    pub error: Option<String>,
}

fn now_millis() -> CqlTimestamp {
    CqlTimestamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0),
    )
}

/// Where one source partition of a view stands.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionProgress {
    /// The source Kafka partition.
    pub partition: i32,
    /// Every event before this offset is in the view.
    pub committed: i64,
    /// The end of the batch being applied, if one is.
    pub pending: Option<i64>,
    /// When `committed` last moved, in milliseconds since the epoch.
    pub updated_at: Option<i64>,
    /// Events per second folded in by the last batch.
    pub rows_per_second: Option<f64>,
}

/// A view's progress: its partitions, and the view-wide facts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ViewProgress {
    /// Each source partition the view has read.
    pub partitions: Vec<PartitionProgress>,
    /// The gateway maintaining it, as it last wrote.
    pub owner: Option<String>,
    /// The last error maintenance met, cleared by the next success.
    pub last_error: Option<String>,
}

/// `smackql_meta.view_progress` and `smackql_meta.leases`.
#[derive(Debug)]
pub struct ViewProgressTable {
    connection: SharedConnection,
    replication_factor: u32,
    ready: OnceCell<()>,
}

impl ViewProgressTable {
    /// The tables, through `connection`; their keyspace, when smackql has
    /// to create it, gets `replication_factor` replicas.
    pub fn new(connection: SharedConnection, replication_factor: u32) -> Arc<Self> {
        Arc::new(Self {
            connection,
            replication_factor: replication_factor.max(1),
            ready: OnceCell::new(),
        })
    }

    async fn ensure(&self) -> Result<()> {
        self.ready
            .get_or_try_init(|| async {
                ensure_meta_table(
                    &self.connection,
                    self.replication_factor,
                    PROGRESS,
                    "(view_id text, source_partition int, committed bigint, pending bigint, \
                     updated_at timestamp, rows_per_second double, owner text static, \
                     last_error text static, PRIMARY KEY ((view_id), source_partition))",
                )
                .await?;
                ensure_meta_table(
                    &self.connection,
                    self.replication_factor,
                    REFRESHES,
                    "(view_id text, period bigint, owner text, started_at timestamp, \
                     finished_at timestamp, rows bigint, runs set<text>, error text, \
                     PRIMARY KEY ((view_id), period)) WITH CLUSTERING ORDER BY (period DESC)",
                )
                .await?;
                ensure_meta_table(
                    &self.connection,
                    self.replication_factor,
                    MEMBERS,
                    "(view_id text, owner text, PRIMARY KEY ((view_id), owner))",
                )
                .await?;
                ensure_meta_table(
                    &self.connection,
                    self.replication_factor,
                    LOOKUPS,
                    "(view_id text, source_partition int, batch_from bigint, batch_to bigint, \
                     rows frozen<list<blob>>, PRIMARY KEY ((view_id), source_partition))",
                )
                .await?;
                ensure_meta_table(
                    &self.connection,
                    self.replication_factor,
                    FENCES,
                    "(view_id text PRIMARY KEY, epoch bigint)",
                )
                .await?;
                ensure_meta_table(
                    &self.connection,
                    self.replication_factor,
                    LEASES,
                    "(name text PRIMARY KEY, owner text)",
                )
                .await
            })
            .await
            .map(|_| ())
    }

    async fn run(
        &self,
        table: &str,
        cql: String,
        values: impl scylla::serialize::row::SerializeRow,
    ) -> Result<QueryResult> {
        self.ensure().await?;
        let session = self.connection.session().await?;
        let mut statement = Statement::new(cql);
        statement.set_consistency(Consistency::Quorum);
        statement.set_serial_consistency(Some(SerialConsistency::Serial));
        statement.set_request_timeout(Some(self.connection.options().request_timeout));
        session
            .query_unpaged(statement, values)
            .await
            .map_err(|e| Error::request(&format!("{META_KEYSPACE}.{table}"), &e))
    }

    /// The progress of view `view_id`.
    pub async fn progress(&self, view_id: &str) -> Result<ViewProgress> {
        let table = format!("{META_KEYSPACE}.{PROGRESS}");
        let result = self
            .run(
                PROGRESS,
                format!(
                    "SELECT source_partition, committed, pending, updated_at, rows_per_second, \
                     owner, last_error FROM {table} WHERE view_id = ?"
                ),
                (view_id,),
            )
            .await?;
        let rows = result
            .into_rows_result()
            .map_err(|e| Error::response(&table, &e))?;
        type Row = (
            Option<i32>,
            Option<i64>,
            Option<i64>,
            Option<CqlTimestamp>,
            Option<f64>,
            Option<String>,
            Option<String>,
        );
        let mut progress = ViewProgress::default();
        for row in rows
            .rows::<Row>()
            .map_err(|e| Error::response(&table, &e))?
        {
            let (partition, committed, pending, updated_at, rate, owner, error) =
                row.map_err(|e| Error::response(&table, &e))?;
            progress.owner = owner;
            progress.last_error = error;
            // The static columns of a view without partitions come alone.
            let Some(partition) = partition else {
                continue;
            };
            progress.partitions.push(PartitionProgress {
                partition,
                committed: committed.unwrap_or(0),
                pending: pending.filter(|p| *p > committed.unwrap_or(0)),
                updated_at: updated_at.map(|t| t.0),
                rows_per_second: rate,
            });
        }
        Ok(progress)
    }

    /// The base of the write timestamps of view `view_id`'s maintenance:
    /// `proposed` if no gateway fixed one before, else the one it fixed.
    pub async fn fence_epoch(&self, view_id: &str, proposed: i64) -> Result<i64> {
        let table = format!("{META_KEYSPACE}.{FENCES}");
        self.run(
            FENCES,
            format!("INSERT INTO {table} (view_id, epoch) VALUES (?, ?) IF NOT EXISTS"),
            (view_id, proposed),
        )
        .await?;
        let result = self
            .run(
                FENCES,
                format!("SELECT epoch FROM {table} WHERE view_id = ?"),
                (view_id,),
            )
            .await?;
        let rows = result
            .into_rows_result()
            .map_err(|e| Error::response(&table, &e))?;
        match rows
            .maybe_first_row::<(Option<i64>,)>()
            .map_err(|e| Error::response(&table, &e))?
        {
            Some((Some(epoch),)) => Ok(epoch),
            _ => Err(Error::response(&table, &"the view's epoch was not stored")),
        }
    }

    /// Records that the batch of `partition` from `committed` up to
    /// `pending` is being applied, written at `write_time` (microseconds):
    /// a write with an earlier time that arrives later changes nothing.
    pub async fn begin(
        &self,
        view_id: &str,
        partition: i32,
        committed: i64,
        pending: i64,
        write_time: i64,
    ) -> Result<()> {
        self.run(
            PROGRESS,
            format!(
                "UPDATE {META_KEYSPACE}.{PROGRESS} USING TIMESTAMP ? \
                 SET committed = ?, pending = ? WHERE view_id = ? AND source_partition = ?"
            ),
            (write_time, committed, pending, view_id, partition),
        )
        .await
        .map(|_| ())
    }

    /// Records that every event of `partition` before `committed` is in the
    /// view, written at `write_time` as [`Self::begin`] is, and by `owner`
    /// at `rows_per_second` (written at the clock's time). A batch ends
    /// pending by being committed: `pending` no longer lies beyond
    /// `committed`. Both writes go in one batch of the view's partition, so
    /// they apply together.
    pub async fn commit(
        &self,
        view_id: &str,
        partition: i32,
        committed: i64,
        write_time: i64,
        owner: &str,
        rows_per_second: f64,
    ) -> Result<()> {
        self.ensure().await?;
        let table = format!("{META_KEYSPACE}.{PROGRESS}");
        let session = self.connection.session().await?;
        let mut batch = Batch::new(BatchType::Unlogged);
        batch.append_statement(Statement::new(format!(
            "UPDATE {table} USING TIMESTAMP ? SET committed = ?, pending = ? \
             WHERE view_id = ? AND source_partition = ?"
        )));
        batch.append_statement(Statement::new(format!(
            "UPDATE {table} SET updated_at = ?, rows_per_second = ?, owner = ? \
             WHERE view_id = ? AND source_partition = ?"
        )));
        batch.set_consistency(Consistency::Quorum);
        batch.set_request_timeout(Some(self.connection.options().request_timeout));
        let values = (
            (write_time, committed, committed, view_id, partition),
            (now_millis(), rows_per_second, owner, view_id, partition),
        );
        session
            .batch(&batch, values)
            .await
            .map_err(|e| Error::request(&table, &e))
            .map(|_| ())
    }

    /// Records the last error of view `view_id`, met by `owner`; `None`
    /// clears it.
    pub async fn record_error(
        &self,
        view_id: &str,
        owner: &str,
        error: Option<&str>,
    ) -> Result<()> {
        self.run(
            PROGRESS,
            format!(
                "UPDATE {META_KEYSPACE}.{PROGRESS} SET last_error = ?, owner = ? WHERE view_id = ?"
            ),
            (error, owner, view_id),
        )
        .await
        .map(|_| ())
    }

    /// Stores `rows`, the dimension rows (one blob per dimension) that the
    /// batch of `partition` from `from` up to `to` joins, in one write at
    /// `write_time` (as [`Self::begin`]'s), replacing those of the
    /// partition's batch before.
    pub async fn save_lookups(
        &self,
        view_id: &str,
        partition: i32,
        from: i64,
        to: i64,
        rows: &[Vec<u8>],
        write_time: i64,
    ) -> Result<()> {
        self.run(
            LOOKUPS,
            format!(
                "INSERT INTO {META_KEYSPACE}.{LOOKUPS} \
                 (view_id, source_partition, batch_from, batch_to, rows) VALUES (?, ?, ?, ?, ?) \
                 USING TIMESTAMP ?"
            ),
            (view_id, partition, from, to, rows, write_time),
        )
        .await
        .map(|_| ())
    }

    /// The dimension rows stored for the batch of `partition` from `from`
    /// up to `to`; `None` when the stored ones are of another batch, or
    /// there are none.
    pub async fn lookups(
        &self,
        view_id: &str,
        partition: i32,
        from: i64,
        to: i64,
    ) -> Result<Option<Vec<Vec<u8>>>> {
        let table = format!("{META_KEYSPACE}.{LOOKUPS}");
        let result = self
            .run(
                LOOKUPS,
                format!(
                    "SELECT batch_from, batch_to, rows FROM {table} \
                     WHERE view_id = ? AND source_partition = ?"
                ),
                (view_id, partition),
            )
            .await?;
        let rows = result
            .into_rows_result()
            .map_err(|e| Error::response(&table, &e))?;
        let row = rows
            .maybe_first_row::<(Option<i64>, Option<i64>, Option<Vec<Vec<u8>>>)>()
            .map_err(|e| Error::response(&table, &e))?;
        Ok(match row {
            Some((Some(f), Some(t), rows)) if f == from && t == to => {
                Some(rows.unwrap_or_default())
            }
            _ => None,
        })
    }

    /// Forgets the progress, refreshes, stored lookups and epoch of view
    /// `view_id`.
    pub async fn forget(&self, view_id: &str) -> Result<()> {
        // Maintenance writes at timestamps of its own, past the clock's,
        // and a view's id is never used again: the deletion is stamped
        // past any of them, so no late write brings a row back either.
        for table in [PROGRESS, REFRESHES, LOOKUPS, FENCES] {
            self.run(
                table,
                format!("DELETE FROM {META_KEYSPACE}.{table} USING TIMESTAMP ? WHERE view_id = ?"),
                (FORGOTTEN_AT, view_id),
            )
            .await?;
        }
        Ok(())
    }

    /// The latest refreshes of view `view_id`, newest first, at most
    /// `limit`.
    pub async fn refreshes(&self, view_id: &str, limit: i32) -> Result<Vec<RefreshRecord>> {
        self.select_refreshes("LIMIT ?", (view_id, limit.max(1)))
            .await
    }

    /// The refresh of view `view_id` for `period`, if one was begun.
    pub async fn refresh(&self, view_id: &str, period: i64) -> Result<Option<RefreshRecord>> {
        Ok(self
            .select_refreshes("AND period = ?", (view_id, period))
            .await?
            .pop())
    }

    async fn select_refreshes(
        &self,
        rest: &str,
        values: impl scylla::serialize::row::SerializeRow,
    ) -> Result<Vec<RefreshRecord>> {
        let table = format!("{META_KEYSPACE}.{REFRESHES}");
        let result = self
            .run(
                REFRESHES,
                format!(
                    "SELECT period, owner, started_at, finished_at, rows, runs, error \
                     FROM {table} WHERE view_id = ? {rest}"
                ),
                values,
            )
            .await?;
        let rows = result
            .into_rows_result()
            .map_err(|e| Error::response(&table, &e))?;
        type Row = (
            i64,
            Option<String>,
            Option<CqlTimestamp>,
            Option<CqlTimestamp>,
            Option<i64>,
            Option<Vec<String>>,
            Option<String>,
        );
        let mut out = Vec::new();
        for row in rows
            .rows::<Row>()
            .map_err(|e| Error::response(&table, &e))?
        {
            let (period, owner, started_at, finished_at, rows, runs, error) =
                row.map_err(|e| Error::response(&table, &e))?;
            out.push(RefreshRecord {
                period,
                owner,
                started_at: started_at.map(|t| t.0),
                finished_at: finished_at.map(|t| t.0),
                rows,
                runs: runs.unwrap_or_default(),
                error,
            });
        }
        Ok(out)
    }

    /// Records that `owner` begins an attempt at the refresh of `view_id`
    /// for `period`.
    pub async fn begin_refresh(&self, view_id: &str, period: i64, owner: &str) -> Result<()> {
        let now = now_millis();
        // Zero-padded, so the set sorts attempts by time.
        let run = vec![format!("{:013}@{owner}", now.0)];
        self.run(
            REFRESHES,
            format!(
                "UPDATE {META_KEYSPACE}.{REFRESHES} SET owner = ?, started_at = ?, \
                 finished_at = null, runs = runs + ?, error = null \
                 WHERE view_id = ? AND period = ?"
            ),
            (owner, now, run, view_id, period),
        )
        .await
        .map(|_| ())
    }

    /// Records how the refresh of `view_id` for `period` ended: `Ok` with
    /// the rows written, or the error that stopped it. Refreshes older
    /// than `keep_since` are forgotten when one finishes.
    pub async fn end_refresh(
        &self,
        view_id: &str,
        period: i64,
        outcome: std::result::Result<i64, &str>,
        keep_since: i64,
    ) -> Result<()> {
        let table = format!("{META_KEYSPACE}.{REFRESHES}");
        match outcome {
            Ok(rows) => {
                self.run(
                    REFRESHES,
                    format!(
                        "UPDATE {table} SET finished_at = ?, rows = ?, error = null \
                         WHERE view_id = ? AND period = ?"
                    ),
                    (now_millis(), rows, view_id, period),
                )
                .await?;
                self.run(
                    REFRESHES,
                    format!("DELETE FROM {table} WHERE view_id = ? AND period < ?"),
                    (view_id, keep_since),
                )
                .await?;
            }
            Err(error) => {
                self.run(
                    REFRESHES,
                    format!("UPDATE {table} SET error = ? WHERE view_id = ? AND period = ?"),
                    (error, view_id, period),
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Takes or renews lease `name` for `owner` for `ttl`; returns whether
    /// `owner` holds it now.
    pub async fn acquire_lease(&self, name: &str, owner: &str, ttl: Duration) -> Result<bool> {
        let table = format!("{META_KEYSPACE}.{LEASES}");
        let seconds = i32::try_from(ttl.as_secs().max(1)).unwrap_or(i32::MAX);
        let renewed = self
            .run(
                LEASES,
                format!("UPDATE {table} USING TTL ? SET owner = ? WHERE name = ? IF owner = ?"),
                (seconds, owner, name, owner),
            )
            .await?;
        if applied(&table, renewed)? {
            return Ok(true);
        }
        let taken = self
            .run(
                LEASES,
                format!(
                    "INSERT INTO {table} (name, owner) VALUES (?, ?) IF NOT EXISTS USING TTL ?"
                ),
                (name, owner, seconds),
            )
            .await?;
        applied(&table, taken)
    }

    /// The leases held now whose names start with `prefix`. Reads every
    /// lease: there is one per view partition being worked, so few.
    pub async fn held_leases(&self, prefix: &str) -> Result<Vec<String>> {
        let table = format!("{META_KEYSPACE}.{LEASES}");
        let result = self
            .run(LEASES, format!("SELECT name FROM {table}"), ())
            .await?;
        let rows = result
            .into_rows_result()
            .map_err(|e| Error::response(&table, &e))?;
        let names = rows
            .rows::<(String,)>()
            .map_err(|e| Error::response(&table, &e))?;
        let mut held = Vec::new();
        for row in names {
            let (name,) = row.map_err(|e| Error::response(&table, &e))?;
            if name.starts_with(prefix) {
                held.push(name);
            }
        }
        Ok(held)
    }

    /// Who holds lease `name`, if anyone.
    pub async fn lease_owner(&self, name: &str) -> Result<Option<String>> {
        let table = format!("{META_KEYSPACE}.{LEASES}");
        let result = self
            .run(
                LEASES,
                format!("SELECT owner FROM {table} WHERE name = ?"),
                (name,),
            )
            .await?;
        let rows = result
            .into_rows_result()
            .map_err(|e| Error::response(&table, &e))?;
        Ok(rows
            .maybe_first_row::<(Option<String>,)>()
            .map_err(|e| Error::response(&table, &e))?
            .and_then(|(owner,)| owner))
    }

    /// Records that `owner` maintains view `view_id`, for `ttl` unless
    /// renewed.
    pub async fn join_view(&self, view_id: &str, owner: &str, ttl: Duration) -> Result<()> {
        let seconds = i32::try_from(ttl.as_secs().max(1)).unwrap_or(i32::MAX);
        self.run(
            MEMBERS,
            format!(
                "INSERT INTO {META_KEYSPACE}.{MEMBERS} (view_id, owner) VALUES (?, ?) USING TTL ?"
            ),
            (view_id, owner, seconds),
        )
        .await
        .map(|_| ())
    }

    /// Records that `owner` no longer maintains view `view_id`.
    pub async fn leave_view(&self, view_id: &str, owner: &str) -> Result<()> {
        self.run(
            MEMBERS,
            format!("DELETE FROM {META_KEYSPACE}.{MEMBERS} WHERE view_id = ? AND owner = ?"),
            (view_id, owner),
        )
        .await
        .map(|_| ())
    }

    /// How many gateways maintain view `view_id` now.
    pub async fn view_members(&self, view_id: &str) -> Result<usize> {
        let table = format!("{META_KEYSPACE}.{MEMBERS}");
        let result = self
            .run(
                MEMBERS,
                format!("SELECT owner FROM {table} WHERE view_id = ?"),
                (view_id,),
            )
            .await?;
        let rows = result
            .into_rows_result()
            .map_err(|e| Error::response(&table, &e))?;
        Ok(rows.rows_num())
    }

    /// Gives lease `name` up, if `owner` holds it.
    pub async fn release_lease(&self, name: &str, owner: &str) -> Result<()> {
        let table = format!("{META_KEYSPACE}.{LEASES}");
        self.run(
            LEASES,
            format!("DELETE FROM {table} WHERE name = ? IF owner = ?"),
            (name, owner),
        )
        .await
        .map(|_| ())
    }
}
