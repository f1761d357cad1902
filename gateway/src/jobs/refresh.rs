//! Recomputes scheduled and manual materialized views.
//!
//! A refresh runs the view's query whole and replaces the view's contents
//! with the result:
//!
//! 1. It takes the view's lease (`view:<id>` in `smackql_meta.leases`, a
//!    lightweight transaction with a TTL), so one refresh of a view runs at a
//!    time across every gateway sharing the catalog. The lease is renewed
//!    every third of its TTL while the refresh runs; a refresh that cannot
//!    renew it stops.
//! 2. Under the lease it reads the refresh's record in
//!    `smackql_meta.view_refreshes`, keyed by its period. A scheduled period
//!    whose record says finished is not refreshed again: this check, made
//!    while holding the lease that the finishing refresh held until after
//!    it recorded the finish, is what keeps every period to one refresh
//!    across replicas. A refresh that died midway left its record
//!    unfinished, and the next holder of the lease runs it again.
//! 3. It records the attempt, then upserts every row of the result with
//!    [`REFRESH_ID`] set to the time the attempt started, which no other
//!    attempt shares. Rows whose key is null are left out: a Cassandra key
//!    cannot be null.
//! 4. It deletes every row of the table whose marker differs: the groups
//!    the query no longer yields. It reads the table at `LOCAL_QUORUM`, as
//!    it wrote, so it sees its own writes and cannot delete a group it just
//!    wrote.
//! 5. It records the refresh finished.
//!
//! Each row is replaced in one write, so a reader sees, for every group,
//! either the previous refresh's row or this one's. A refresh that fails
//! midway therefore leaves the previous contents readable, some groups
//! already updated; groups that disappeared are only deleted after every
//! row of the new result is written.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use datafusion::arrow::array::{Array, RecordBatch, UInt64Array};
use datafusion::common::{Column, TableReference};
use datafusion::datasource::provider_as_source;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{cast, lit, Expr, LogicalPlanBuilder};
use datafusion::physical_plan::collect;
use datafusion::scalar::ScalarValue;
use smackql_cassandra::progress::ViewProgressTable;
use smackql_cassandra::CassandraCatalog;
use smackql_catalog::views::{MaterializedView, Refresh, REFRESH_ID};
use smackql_catalog::CATALOG_NAME;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::col_named;
use crate::session::SessionFactory;
use crate::views::{as_cassandra, view_table, TableWatch, TABLE_MISSING};

/// How a refresh went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refreshed {
    /// It ran and wrote this many rows.
    Rows(u64),
    /// Its period was refreshed already.
    AlreadyDone,
    /// Another refresh of the view holds its lease.
    Busy,
}

/// Runs refreshes of recomputed views.
#[derive(Debug)]
pub struct Recomputer {
    progress: Arc<ViewProgressTable>,
    cassandra: CassandraCatalog,
    sessions: Arc<SessionFactory>,
    lease_ttl: Duration,
}

/// Milliseconds since the epoch.
pub(crate) fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Recomputer {
    /// Refreshes whose progress is kept in `progress`, writing through
    /// `cassandra` and planning with `sessions`; a view's lease lasts
    /// `lease_ttl` without renewal.
    pub fn new(
        progress: Arc<ViewProgressTable>,
        cassandra: CassandraCatalog,
        sessions: Arc<SessionFactory>,
        lease_ttl: Duration,
    ) -> Self {
        Self {
            progress,
            cassandra,
            sessions,
            lease_ttl,
        }
    }

    /// How long a view's lease lasts without renewal.
    pub fn lease_ttl(&self) -> Duration {
        self.lease_ttl
    }

    /// Refreshes `view` as `owner` for `period` (milliseconds since the
    /// epoch), unless its lease is held by another (`Busy`) or, when
    /// `once_per_period`, the period was refreshed already.
    pub async fn refresh(
        &self,
        view: &MaterializedView,
        period: i64,
        owner: &str,
        once_per_period: bool,
    ) -> Result<Refreshed> {
        let lease = format!("view:{}", view.id);
        if !self
            .progress
            .acquire_lease(&lease, owner, self.lease_ttl)
            .await?
        {
            return Ok(Refreshed::Busy);
        }
        let outcome = self
            .refresh_leased(view, period, owner, once_per_period, &lease)
            .await;
        self.progress.release_lease(&lease, owner).await.ok();
        let error = match &outcome {
            Ok(Refreshed::Rows(_)) => None,
            Ok(_) => return outcome,
            Err(err) => Some(err.to_string()),
        };
        self.progress
            .record_error(&view.id, owner, error.as_deref())
            .await
            .ok();
        outcome
    }

    async fn refresh_leased(
        &self,
        view: &MaterializedView,
        period: i64,
        owner: &str,
        once_per_period: bool,
        lease: &str,
    ) -> Result<Refreshed> {
        let leased_at = Instant::now();
        let record = self.progress.refresh(&view.id, period).await?;
        if once_per_period && record.as_ref().is_some_and(|r| r.finished_at.is_some()) {
            return Ok(Refreshed::AlreadyDone);
        }
        self.progress.begin_refresh(&view.id, period, owner).await?;
        let marker = now_millis();
        let started = Instant::now();
        let outcome = tokio::select! {
            outcome = self.recompute(view, marker) => outcome,
            lost = self.keep_lease(lease, owner, leased_at) => Err(lost),
        };
        let keep = match view.refresh {
            Refresh::Every(every) => period - (every.as_millis() as i64 * 100).max(3_600_000),
            _ => period - 3_600_000,
        };
        match &outcome {
            Ok(rows) => {
                self.progress
                    .end_refresh(&view.id, period, Ok(*rows as i64), keep)
                    .await?;
                info!(view = %view.qualified_name(), rows, seconds = started.elapsed().as_secs_f64(), "refreshed a materialized view");
            }
            Err(err) => {
                let message = err.to_string();
                self.progress
                    .end_refresh(&view.id, period, Err(&message), keep)
                    .await
                    .ok();
            }
        }
        outcome.map(Refreshed::Rows)
    }

    /// Renews `lease` every third of its TTL; returns the reason once it
    /// cannot, which ends the refresh.
    async fn keep_lease(&self, lease: &str, owner: &str, leased_at: Instant) -> DataFusionError {
        let ttl = self.lease_ttl;
        let mut renewed_at = leased_at;
        loop {
            tokio::time::sleep_until((renewed_at + ttl / 3).into()).await;
            let asked = Instant::now();
            let renewal = self.progress.acquire_lease(lease, owner, ttl);
            match tokio::time::timeout_at((renewed_at + ttl).into(), renewal).await {
                Ok(Ok(true)) => renewed_at = asked,
                Ok(Ok(false)) => {
                    return DataFusionError::Execution(
                        "lost the view's lease during the refresh; it is run again".into(),
                    )
                }
                Ok(Err(err)) => return err.into(),
                Err(_) => {
                    return DataFusionError::Execution(
                        "could not renew the view's lease in time; the refresh is run again".into(),
                    )
                }
            }
        }
    }

    /// Runs the view's query and replaces the table's contents with its
    /// result, marking every row with `marker`; returns the rows written.
    async fn recompute(&self, view: &MaterializedView, marker: i64) -> Result<u64> {
        let session = self.sessions.new_session();
        session
            .sql("SET cassandra.consistency = 'LOCAL_QUORUM'")
            .await?
            .collect()
            .await?;
        let raw = view_table(&self.cassandra, view).await?;
        let table = as_cassandra(view, &raw)?;
        let query = session.sql(view.query_sql()).await?;
        let names = view.column_names();
        if query.schema().fields().len() != names.len() {
            return Err(DataFusionError::Plan(format!(
                "the query of {} yields {} columns, not {}",
                view.qualified_name(),
                query.schema().fields().len(),
                names.len()
            )));
        }
        let raw_schema = raw.schema();
        let mut output = Vec::with_capacity(raw_schema.fields().len());
        for field in raw_schema.fields() {
            let name = field.name().as_str();
            let value = if name == REFRESH_ID {
                lit(marker)
            } else if let Some(i) = names.iter().position(|n| *n == name) {
                let (qualifier, column) = query.schema().qualified_field(i);
                Expr::Column(Column::from((qualifier, column)))
            } else {
                // A column added to the table by hand stays empty.
                lit(ScalarValue::try_from(field.data_type())?)
            };
            output.push(cast(value, field.data_type().clone()).alias(name));
        }
        let mut rows = query.select(output)?;
        for key in &view.keys {
            rows = rows.filter(col_named(&key.name).is_not_null())?;
        }
        let reference =
            TableReference::full(CATALOG_NAME, view.schema.as_str(), view.name.as_str());
        let insert = LogicalPlanBuilder::insert_into(
            rows.into_unoptimized_plan(),
            reference,
            provider_as_source(raw.clone()),
            InsertOp::Append,
        )?
        .build()?;
        let written = count(
            &session
                .execute_logical_plan(insert)
                .await?
                .collect()
                .await?,
        );

        let key: Vec<Expr> = table.primary_key().map(col_named).collect();
        let stale = session
            .read_table(raw.clone())?
            .filter(
                col_named(REFRESH_ID)
                    .is_null()
                    .or(col_named(REFRESH_ID).not_eq(lit(marker))),
            )?
            .select(key)?
            .create_physical_plan()
            .await?;
        let delete = table.delete_by_key(&session.state(), stale)?;
        let deleted = count(&collect(delete, session.task_ctx()).await?);
        if deleted > 0 {
            info!(view = %view.qualified_name(), groups = deleted, "removed groups that disappeared");
        }
        Ok(written)
    }

    /// Refreshes a scheduled view once in every period of `every`, until
    /// `stop`.
    pub async fn schedule(
        &self,
        view: &MaterializedView,
        every: Duration,
        owner: &str,
        stop: &CancellationToken,
    ) {
        let period_ms = (every.as_millis() as i64).max(1);
        let mut delay = Duration::from_millis(500);
        let mut watch = TableWatch::default();
        let mut orphaned = false;
        loop {
            if let Some(reason) = watch.missing(&self.cassandra, view).await {
                if !orphaned {
                    warn!(view = %view.qualified_name(), %reason, "a materialized view's table is missing; its refreshes wait");
                    self.progress
                        .record_error(&view.id, owner, Some(&reason))
                        .await
                        .ok();
                    orphaned = true;
                }
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(self.lease_ttl / 3) => {}
                }
                continue;
            }
            if orphaned {
                info!(view = %view.qualified_name(), "a materialized view's table is back; refreshing it again");
                self.progress.record_error(&view.id, owner, None).await.ok();
                orphaned = false;
            }
            let now = now_millis();
            let period = now - now.rem_euclid(period_ms);
            // A plain read first: most looks find the period done, and
            // need no lightweight transaction.
            let done = matches!(
                self.progress.refresh(&view.id, period).await,
                Ok(Some(record)) if record.finished_at.is_some()
            );
            // Another gateway may have found the table gone before this
            // one's copy of the schema heard of it: look at the cluster's
            // before beginning a period that would fail.
            if !done && self.reported_missing(view).await {
                watch.failed();
                if watch.missing(&self.cassandra, view).await.is_some() {
                    continue;
                }
            }
            let outcome = if done {
                Ok(Refreshed::AlreadyDone)
            } else {
                self.refresh(view, period, owner, true).await
            };
            let wait = match outcome {
                Ok(Refreshed::Rows(_) | Refreshed::AlreadyDone) => {
                    delay = Duration::from_millis(500);
                    // Until the next period begins.
                    Duration::from_millis((period + period_ms - now_millis()).max(0) as u64)
                }
                // Whoever holds the lease may fail; look again soon.
                Ok(Refreshed::Busy) => (self.lease_ttl / 3).min(Duration::from_millis(250)),
                Err(err) => {
                    watch.failed();
                    warn!(view = %view.qualified_name(), error = %err, "refresh of a materialized view failed; retrying");
                    let wait = delay;
                    delay = (delay * 2).min(Duration::from_secs(30));
                    wait
                }
            };
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Whether a gateway recorded, as the view's last error, that its table
    /// is missing.
    async fn reported_missing(&self, view: &MaterializedView) -> bool {
        self.progress
            .progress(&view.id)
            .await
            .ok()
            .and_then(|p| p.last_error)
            .is_some_and(|e| e.contains(TABLE_MISSING))
    }
}

/// The count a DML plan reports.
fn count(batches: &[RecordBatch]) -> u64 {
    batches
        .iter()
        .filter_map(|b| b.column(0).as_any().downcast_ref::<UInt64Array>())
        .flat_map(|a| (0..a.len()).map(move |i| a.value(i)))
        .sum()
}
