//! Keeps continuous materialized views fresh from Kafka, exactly once, and
//! runs the schedules of recomputed views ([`super::refresh`]).
//!
//! The gateways sharing a catalog divide each continuous view's source
//! partitions between them. Each one that maintains views registers as a
//! member of the view (`smackql_meta.view_members`, rows with a TTL it
//! renews), and holds at most its share of the partitions: their count
//! divided by the members', rounded up. Each partition it holds has a lease
//! of its own (a lightweight transaction with a TTL in
//! `smackql_meta.leases`), so one gateway works a partition at a time, and
//! another takes it over within a lease period when its owner dies. A
//! gateway hands a partition back (to even the shares out when another
//! joins) only between two batches.
//!
//! The owner of source partition `p` folds micro-batch after micro-batch of
//! offsets `[from, to)` into the view, in its own task:
//!
//! 1. Read `p`'s progress: `committed` (every event before it is in the
//!    view) and `pending` (the end of a batch begun and not committed).
//! 2. If a batch is pending, its range is `[committed, pending)` again.
//!    Otherwise take the events that the partition's feed (one streaming
//!    consumer kept from batch to batch, `jobs/feed.rs`) has read since
//!    `committed`, at most `max_batch_messages`, or a second's worth of a
//!    paced view's rate; `to` is the offset after them. Record `pending =
//!    to` *before* writing anything.
//! 3. Run the view's query over exactly those offsets, grouped by the view's
//!    keys: the batch's partial aggregates per group.
//! 4. Read the stored partial row of each of those groups for `p` (one
//!    Cassandra partition per group, several read at once; a row this
//!    worker wrote or read before is taken from its memory instead, see
//!    `jobs/stored.rs`) and write `stored ⊕ partial` with `_applied_to =
//!    to`, skipping every group whose row already says `_applied_to >=
//!    to`.
//! 5. Record `committed = to`.
//!
//! Why this is exactly once on Cassandra's real guarantees (a write to one
//! row is atomic and isolated; writes to several rows are not, together;
//! nothing here uses counters):
//!
//! - A partial row belongs to one group *and one source partition*, so only
//!   the owner of `p` ever writes it, and each write replaces the whole
//!   row, the aggregate and its `_applied_to` together.
//! - Batches of `p` are applied in offset order and never overlap: a batch
//!   starts at `committed`, and `committed` only moves to the end of a
//!   batch whose every row is written.
//! - A crash (or a lost lease) at any point leaves `pending` recorded, so the
//!   next owner redoes *the same range*: Kafka offsets never change, and the
//!   view's query is deterministic, so it computes the same partials. (A
//!   view that joins dimension tables would not be, as the tables may change
//!   between two attempts; so the rows a batch joins are stored before it
//!   begins, and a redone batch joins those: see `jobs/lookups.rs`.) Each
//!   group's row was either written by the first attempt (it says
//!   `_applied_to = to`, and is skipped) or not (it still holds the state
//!   from before the batch, and the partial is merged into it once). A row
//!   cannot hold part of a batch: it is one write.
//! - A group's row can only say `_applied_to >= to` if this batch (or a
//!   later one, which needs this one committed) wrote it, so skipping never
//!   loses events.
//!
//! Leases are not trusted to keep a former owner quiet. Each batch must
//! finish within the lease it began in (it is cut off otherwise, and redone
//! by whoever holds the lease next), but a write already sent when the
//! lease ends may still arrive afterwards, after the next owner's writes.
//! So what a batch writes carries a write timestamp that grows with the
//! batch's end offset `to` (see [`Fence`]): `pending`, the stored lookups
//! and the partial rows at `epoch + 2·to`, `committed` at `epoch + 2·to +
//! 1`. Cassandra keeps, of two writes of a cell, the one with the later
//! timestamp, whichever arrives last: a late write of an earlier batch
//! (a partial row, or `committed` moving back) changes nothing once a later
//! batch has written. A replay by the new owner concurrent with the old
//! owner's last writes of the *same* batch is harmless: both write the same
//! values at the same timestamps. `epoch` is fixed once per view, by the
//! first gateway to maintain it, a minute past its clock, so that it comes
//! after any write made before (at Cassandra's clock) even with some clock
//! skew.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::{cast, filter_record_batch, is_not_null};
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::common::{JoinType, ParamValues, ScalarValue, TableReference};
use datafusion::datasource::{provider_as_source, MemTable};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{cast as cast_expr, lit, Expr, LogicalPlan, LogicalPlanBuilder};
use datafusion::prelude::SessionContext;
use smackql_cassandra::progress::{PartitionProgress, ViewProgressTable};
use smackql_cassandra::CassandraCatalog;
use smackql_catalog::views::{merge_expr, MaterializedView, Refresh, APPLIED_TO, SOURCE_PARTITION};
use smackql_catalog::{MaterializedViews, CATALOG_NAME};
use smackql_kafka::{KafkaTableProvider, SharedKafka};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::col_named;
use super::feed::Feed;
use super::lookups::{chunks, decode, encode, look_up, read_slice, substitute, truncate, Sources};
use super::refresh::Recomputer;
use super::stored::{nullable, project, rows_at, StoredRows};
use crate::session::SessionFactory;
use crate::views::{as_cassandra, source_topic, view_table, TableWatch};

/// How often a gateway reloads the catalog's views, by default: a view
/// dropped elsewhere stops being maintained here within it.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(2);

/// The lease of source partition `partition` of view `view_id`.
pub(crate) fn partition_lease(view_id: &str, partition: i32) -> String {
    format!("view:{view_id}:{partition}")
}

/// A task working one source partition of a view.
#[derive(Debug)]
struct Worker {
    /// Asks it to stop after its current batch.
    stop: CancellationToken,
    /// Ends with whether it stopped on an error.
    task: JoinHandle<bool>,
}

/// How maintenance paces itself.
#[derive(Debug, Clone)]
pub struct MaintenanceSettings {
    /// How often an idle view looks for new events.
    pub poll_interval: Duration,
    /// The most offsets one batch of one partition covers.
    pub max_batch_messages: i64,
    /// The most offsets per second one partition folds in, if limited.
    pub max_rate_per_partition: Option<f64>,
    /// How long a view's lease lasts without renewal.
    pub lease_ttl: Duration,
    /// How often the list of views is read again.
    pub reload_interval: Duration,
}

impl Default for MaintenanceSettings {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_millis(200),
            max_batch_messages: 200_000,
            max_rate_per_partition: None,
            lease_ttl: Duration::from_secs(10),
            reload_interval: RELOAD_INTERVAL,
        }
    }
}

/// Maintains every continuous view whose lease this gateway gets.
#[derive(Debug)]
pub struct ViewMaintainer {
    views: Arc<MaterializedViews>,
    progress: Arc<ViewProgressTable>,
    cassandra: CassandraCatalog,
    kafka: SharedKafka,
    sessions: Arc<SessionFactory>,
    recomputer: Arc<Recomputer>,
    owner: String,
    settings: MaintenanceSettings,
}

impl ViewMaintainer {
    /// A maintainer of `views`, known to the others as `owner`; scheduled
    /// views are refreshed through `recomputer`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        views: Arc<MaterializedViews>,
        progress: Arc<ViewProgressTable>,
        cassandra: CassandraCatalog,
        kafka: SharedKafka,
        sessions: Arc<SessionFactory>,
        recomputer: Arc<Recomputer>,
        owner: String,
        settings: MaintenanceSettings,
    ) -> Self {
        Self {
            views,
            progress,
            cassandra,
            kafka,
            sessions,
            recomputer,
            owner,
            settings,
        }
    }

    /// Runs until `shutdown` fires: one task per view, started when a view
    /// appears and stopped when it goes.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut tasks: HashMap<String, (CancellationToken, JoinHandle<()>)> = HashMap::new();
        let mut failing = false;
        loop {
            match self.views.reload().await {
                Ok(broken) => {
                    failing = false;
                    for reason in broken {
                        warn!(%reason, "a stored materialized view cannot be read");
                    }
                }
                Err(err) if !failing => {
                    warn!(error = %err, "cannot read the materialized views");
                    failing = true;
                }
                Err(_) => {}
            }
            if !failing {
                let current: HashSet<String> =
                    self.views.list().iter().map(|v| v.id.clone()).collect();
                tasks.retain(|id, (stop, _)| {
                    let keep = current.contains(id);
                    if !keep {
                        stop.cancel();
                    }
                    keep
                });
                for view in self.views.list() {
                    tasks.entry(view.id.clone()).or_insert_with(|| {
                        let stop = shutdown.child_token();
                        let me = self.clone();
                        let task = tokio::spawn({
                            let stop = stop.clone();
                            async move { me.maintain(view, stop).await }
                        });
                        (stop, task)
                    });
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(self.settings.reload_interval) => {}
            }
        }
        for (_, (stop, task)) in tasks {
            stop.cancel();
            task.await.ok();
        }
    }

    /// Maintains `view` until `stop`.
    async fn maintain(self: Arc<Self>, view: Arc<MaterializedView>, stop: CancellationToken) {
        match view.refresh {
            Refresh::Continuous => self.maintain_continuous(view, stop).await,
            Refresh::Every(every) => {
                self.recomputer
                    .schedule(&view, every, &self.owner, &stop)
                    .await
            }
            // Refreshed by REFRESH MATERIALIZED VIEW alone.
            Refresh::Manual => {}
        }
    }

    /// Keeps this gateway's share of a continuous view's source partitions
    /// until `stop`: every third of a lease period it renews its membership
    /// of the view, counts the members, hands back partitions beyond its
    /// share and takes free ones up to it. Each partition it holds is worked
    /// by its own task, under its own lease.
    async fn maintain_continuous(
        self: Arc<Self>,
        view: Arc<MaterializedView>,
        stop: CancellationToken,
    ) {
        let mut workers: BTreeMap<i32, Worker> = BTreeMap::new();
        // Partitions whose work failed, with the back-off before this
        // gateway takes them again, and when that ends.
        let mut backoff: HashMap<i32, (Duration, Instant)> = HashMap::new();
        let mut failing = false;
        let mut watch = TableWatch::default();
        let mut orphaned = false;
        loop {
            let finished: Vec<i32> = workers
                .iter()
                .filter(|(_, w)| w.task.is_finished())
                .map(|(p, _)| *p)
                .collect();
            for partition in finished {
                let Some(worker) = workers.remove(&partition) else {
                    continue;
                };
                if worker.task.await.unwrap_or(true) {
                    watch.failed();
                    let now = Instant::now();
                    // Doubled while failures follow each other closely.
                    let delay = match backoff.get(&partition) {
                        Some((delay, until)) if now < *until + Duration::from_secs(60) => {
                            (*delay * 2).min(Duration::from_secs(30))
                        }
                        _ => Duration::from_millis(500),
                    };
                    backoff.insert(partition, (delay, now + delay));
                }
            }
            let resting: HashSet<i32> = backoff
                .iter()
                .filter(|(_, (_, until))| Instant::now() < *until)
                .map(|(p, _)| *p)
                .collect();
            if let Some(reason) = watch.missing(&self.cassandra, &view).await {
                if !orphaned {
                    warn!(view = %view.qualified_name(), %reason, "a materialized view's table is missing; its maintenance waits");
                    // Their last errors are older than this one.
                    for worker in workers.values() {
                        worker.stop.cancel();
                    }
                    for (_, worker) in std::mem::take(&mut workers) {
                        worker.task.await.ok();
                    }
                    self.progress.leave_view(&view.id, &self.owner).await.ok();
                    self.progress
                        .record_error(&view.id, &self.owner, Some(&reason))
                        .await
                        .ok();
                    orphaned = true;
                }
            } else {
                if orphaned {
                    info!(view = %view.qualified_name(), "a materialized view's table is back; maintaining it again");
                    orphaned = false;
                }
                self.rebalance(&view, &mut workers, &resting, &stop, &mut failing)
                    .await;
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(self.settings.lease_ttl / 3) => {}
            }
        }
        for worker in workers.values() {
            worker.stop.cancel();
        }
        for (_, worker) in workers {
            worker.task.await.ok();
        }
        self.progress.leave_view(&view.id, &self.owner).await.ok();
        debug!(view = %view.qualified_name(), "maintenance stopped");
    }

    /// [`Self::balance`], noting a failure (once while it lasts) in the log
    /// and the view's progress.
    async fn rebalance(
        self: &Arc<Self>,
        view: &Arc<MaterializedView>,
        workers: &mut BTreeMap<i32, Worker>,
        resting: &HashSet<i32>,
        stop: &CancellationToken,
        failing: &mut bool,
    ) {
        match self.balance(view, workers, resting, stop).await {
            Ok(()) => *failing = false,
            Err(err) => {
                let message = err.to_string();
                if !*failing {
                    warn!(view = %view.qualified_name(), error = %message, "cannot share out a materialized view's partitions; retrying");
                }
                *failing = true;
                self.progress
                    .record_error(&view.id, &self.owner, Some(&message))
                    .await
                    .ok();
            }
        }
    }

    /// One round of sharing out `view`'s partitions; see
    /// [`Self::maintain_continuous`].
    async fn balance(
        self: &Arc<Self>,
        view: &Arc<MaterializedView>,
        workers: &mut BTreeMap<i32, Worker>,
        resting: &HashSet<i32>,
        stop: &CancellationToken,
    ) -> Result<()> {
        let ttl = self.settings.lease_ttl;
        self.progress.join_view(&view.id, &self.owner, ttl).await?;
        let members = self.progress.view_members(&view.id).await?.max(1);
        let topic = source_topic(&self.sessions.new_session(), view).await?;
        let partitions: Vec<i32> = self
            .kafka
            .watermarks(&topic)
            .await?
            .into_iter()
            .map(|(partition, _, _)| partition)
            .collect();
        let share = partitions.len().div_ceil(members);
        // Partitions beyond the share go back once their batch ends; they
        // stay listed until their task is done, so they are not taken
        // again meanwhile.
        let active: Vec<i32> = workers
            .iter()
            .filter(|(_, w)| !w.stop.is_cancelled())
            .map(|(p, _)| *p)
            .collect();
        for partition in active.iter().skip(share) {
            if let Some(worker) = workers.get(partition) {
                worker.stop.cancel();
            }
        }
        let mut held = active.len().min(share);
        for &partition in &partitions {
            if held >= share {
                break;
            }
            if workers.contains_key(&partition) || resting.contains(&partition) {
                continue;
            }
            let lease = partition_lease(&view.id, partition);
            let asked = Instant::now();
            if !self
                .progress
                .acquire_lease(&lease, &self.owner, ttl)
                .await?
            {
                continue;
            }
            debug!(view = %view.qualified_name(), partition, owner = %self.owner, "took a source partition of a materialized view");
            let worker_stop = stop.child_token();
            let task = tokio::spawn({
                let (me, view, worker_stop) = (self.clone(), view.clone(), worker_stop.clone());
                async move { me.work(view, partition, asked, worker_stop).await }
            });
            workers.insert(
                partition,
                Worker {
                    stop: worker_stop,
                    task,
                },
            );
            held += 1;
        }
        Ok(())
    }

    /// Works source partition `partition` of `view`, whose lease this
    /// gateway took at `leased_at`, until `stop` or the lease is lost; then
    /// gives the lease up. Returns whether it stopped on an error.
    async fn work(
        self: Arc<Self>,
        view: Arc<MaterializedView>,
        partition: i32,
        leased_at: Instant,
        stop: CancellationToken,
    ) -> bool {
        let lease = partition_lease(&view.id, partition);
        let outcome = self
            .work_while_leased(&view, partition, &lease, leased_at, &stop)
            .await;
        let failed = outcome.is_err();
        if let Err(err) = outcome {
            let message = err.to_string();
            warn!(view = %view.qualified_name(), partition, error = %message, "materialized view maintenance failed; retrying");
            self.progress
                .record_error(&view.id, &self.owner, Some(&message))
                .await
                .ok();
        }
        self.progress.release_lease(&lease, &self.owner).await.ok();
        failed
    }

    /// Folds batch after batch of `partition` into `view` while this
    /// gateway holds `lease`. A batch begins only between `stop`'s checks,
    /// so a stopped worker never leaves a write in flight.
    async fn work_while_leased(
        &self,
        view: &MaterializedView,
        partition: i32,
        lease: &str,
        leased_at: Instant,
        stop: &CancellationToken,
    ) -> Result<()> {
        let session = self.sessions.new_session();
        let topic = source_topic(&session, view).await?;
        let plan = session
            .state()
            .create_logical_plan(&view.partial_sql())
            .await?;
        let fence = Fence {
            epoch: self
                .progress
                .fence_epoch(&view.id, Fence::proposed_epoch())
                .await?,
        };
        let raw = fence.table(view, view_table(&self.cassandra, view).await?)?;
        let mut stored = StoredRows::new(
            stored_schema(view, &raw.schema())?,
            view.keys.len(),
            if view.ttl.is_some() {
                0
            } else {
                STORED_ROWS_BYTES
            },
        )?;
        let sources = Sources::resolve(&session, view).await?;
        let joins = !view.dimensions.is_empty();
        let kafka_source = sources
            .source
            .as_ref()
            .downcast_ref::<KafkaTableProvider>()
            .ok_or_else(|| {
                DataFusionError::Plan(format!(
                    "the source of materialized view {} is not a Kafka table",
                    view.qualified_name()
                ))
            })?;
        // The events read ahead, with the committed offset (if any) they
        // follow.
        let mut feed: Option<(Option<i64>, Feed)> = None;
        // A paced view folds at most a second's worth of offsets at a time.
        let pace = match (
            view.max_rate_per_partition,
            self.settings.max_rate_per_partition,
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let max_batch = pace.map_or(self.settings.max_batch_messages, |rate| {
            self.settings
                .max_batch_messages
                .min((rate.ceil() as i64).max(1))
        });
        let ttl = self.settings.lease_ttl;
        let mut renewed_at = leased_at;
        let mut had_error = true;
        // While the lease is held, this gateway is the only writer of the
        // partition's progress, so it keeps it in memory after reading it
        // once.
        let mut known = self.partition_progress(view, partition).await?;
        loop {
            if stop.is_cancelled() {
                return Ok(());
            }
            // Batches begin only while the lease has two thirds left, and
            // are cut off when it ends.
            if renewed_at.elapsed() > ttl / 3 {
                let asked = Instant::now();
                if !self.progress.acquire_lease(lease, &self.owner, ttl).await? {
                    info!(view = %view.qualified_name(), partition, "lost the lease of a source partition");
                    return Ok(());
                }
                if asked >= renewed_at + ttl {
                    // The lease may have lapsed, and another gateway may
                    // have worked the partition meanwhile: what this one
                    // knows may be out of date.
                    known = self.partition_progress(view, partition).await?;
                    stored.clear();
                }
                renewed_at = asked;
            }
            let lease_end = renewed_at + ttl;
            let round = Instant::now();
            // A batch begun before is redone over its recorded range, read
            // again; a new one takes the events the feed has read since.
            let (from, mut to, begun, events) = match &known {
                Some(PartitionProgress {
                    committed,
                    pending: Some(pending),
                    ..
                }) => (*committed, *pending, true, None),
                _ => {
                    let committed = known.as_ref().map(|p| p.committed);
                    let current = match feed.take() {
                        Some((follows, open)) if follows == committed => {
                            feed.insert((follows, open))
                        }
                        stale => {
                            drop(stale);
                            let watermarks = self.kafka.watermarks(&topic).await?;
                            let Some(&(_, low, _)) = watermarks.iter().find(|w| w.0 == partition)
                            else {
                                return Ok(());
                            };
                            let start = committed.map_or(low, |c| c.max(low));
                            let opened = Feed::open(kafka_source, partition, start).await?;
                            feed.insert((committed, opened))
                        }
                    };
                    let feed = &mut current.1;
                    let from = feed.position();
                    let wait = self.settings.poll_interval;
                    let (events, to) = tokio::select! {
                        () = stop.cancelled() => return Ok(()),
                        taken = feed.take(from + max_batch, wait) => taken?,
                    };
                    (from, to, false, Some(events))
                }
            };
            if to > from {
                let params = ParamValues::List(vec![
                    ScalarValue::Int32(Some(partition)).into(),
                    ScalarValue::Int64(Some(from)).into(),
                    ScalarValue::Int64(Some(to)).into(),
                ]);
                let mut partial = plan.clone().replace_params_with_values(&params)?;
                if joins {
                    // The batch's events and the dimension rows they join,
                    // stored before the batch begins.
                    let inputs = self.joined_inputs(
                        &session, view, &sources, partition, from, &mut to, begun, events, fence,
                    );
                    let (slice, rows) = tokio::time::timeout_at(lease_end.into(), inputs)
                        .await
                        .map_err(|_| lease_overrun(view))??;
                    partial = substitute(partial, view, &sources, slice, rows)?;
                } else if let Some(events) = events {
                    partial = substitute(partial, view, &sources, events, Vec::new())?;
                }
                if !begun {
                    self.progress
                        .begin(&view.id, partition, from, to, fence.batch(to))
                        .await?;
                }
                let entry = known.get_or_insert(PartitionProgress {
                    partition,
                    committed: from,
                    pending: None,
                    updated_at: None,
                    rows_per_second: None,
                });
                entry.committed = from;
                entry.pending = Some(to);
                let started = Instant::now();
                let batch = self.apply(&session, partial, view, &raw, partition, to, &mut stored);
                let done = tokio::time::timeout_at(lease_end.into(), batch)
                    .await
                    .map_err(|_| lease_overrun(view))??;
                let applied = started.elapsed();
                let rate = (to - from) as f64 / applied.as_secs_f64().max(1e-6);
                self.progress
                    .commit(&view.id, partition, to, fence.commit(to), &self.owner, rate)
                    .await?;
                debug!(
                    view = %view.qualified_name(),
                    partition,
                    from,
                    to,
                    groups = done.groups,
                    unread_groups = done.unknown,
                    aggregate_ms = done.aggregate.as_millis() as u64,
                    read_ms = done.read.as_millis() as u64,
                    write_ms = done.write.as_millis() as u64,
                    applied_ms = applied.as_millis() as u64,
                    round_ms = round.elapsed().as_millis() as u64,
                    "folded a batch"
                );
                entry.committed = to;
                entry.pending = None;
                // The feed goes on from here only if it took exactly this
                // batch's events.
                match &mut feed {
                    Some((follows, f)) if f.position() == to => *follows = Some(to),
                    _ => feed = None,
                }
                // Paced: the next batch waits until this one's offsets
                // fit the rate limit.
                if let Some(pace) = pace {
                    let paced = Duration::from_secs_f64((to - from) as f64 / pace);
                    tokio::select! {
                        () = stop.cancelled() => return Ok(()),
                        () = tokio::time::sleep_until((started + paced).into()) => {}
                    }
                }
            }
            if had_error {
                self.progress
                    .record_error(&view.id, &self.owner, None)
                    .await?;
                had_error = false;
            }
        }
    }

    /// The stored progress of source partition `partition` of `view`.
    async fn partition_progress(
        &self,
        view: &MaterializedView,
        partition: i32,
    ) -> Result<Option<PartitionProgress>> {
        Ok(self
            .progress
            .progress(&view.id)
            .await?
            .partitions
            .into_iter()
            .find(|p| p.partition == partition))
    }

    /// The events of `partition` from `from` up to `to` (`events` when
    /// given, read otherwise) and the rows of `view`'s dimension tables that
    /// they join. A batch already `begun` joins the rows stored when it
    /// began; a new one reads them by key and stores them, first shortening
    /// the batch (`to`) while they are too large to store in one write.
    #[allow(clippy::too_many_arguments)]
    async fn joined_inputs(
        &self,
        session: &SessionContext,
        view: &MaterializedView,
        sources: &Sources,
        partition: i32,
        from: i64,
        to: &mut i64,
        begun: bool,
        events: Option<Vec<RecordBatch>>,
        fence: Fence,
    ) -> Result<(Vec<RecordBatch>, Vec<Vec<RecordBatch>>)> {
        let mut slice = match events {
            Some(events) => events,
            None => read_slice(session, &sources.source, partition, from, *to).await?,
        };
        if begun {
            let stored = self
                .progress
                .lookups(&view.id, partition, from, *to)
                .await?
                .filter(|rows| rows.len() == view.dimensions.len())
                .ok_or_else(|| {
                    DataFusionError::Execution(format!(
                        "the dimension rows joined by the unfinished batch [{from}, {to}) of \
                         partition {partition} of {} are not stored, so it cannot be redone \
                         exactly",
                        view.qualified_name()
                    ))
                })?;
            let rows = stored.iter().map(|b| decode(b)).collect::<Result<_>>()?;
            return Ok((slice, rows));
        }
        loop {
            let rows = look_up(session, view, sources, &slice).await?;
            let encoded: Vec<Vec<u8>> = rows
                .iter()
                .zip(&sources.dimensions)
                .map(|(rows, table)| encode(&table.schema(), rows))
                .collect::<Result<_>>()?;
            let size: usize = encoded.iter().map(Vec::len).sum();
            if size > MAX_LOOKUP_BYTES && *to - from > 1 {
                *to = from + (*to - from) / 2;
                slice = truncate(&slice, *to)?;
                continue;
            }
            if size > MAX_LOOKUP_BYTES {
                return Err(DataFusionError::Execution(format!(
                    "the dimension rows that offset {from} of partition {partition} of {} \
                     joins take {size} bytes, more than the {MAX_LOOKUP_BYTES} a batch may \
                     store",
                    view.qualified_name()
                )));
            }
            self.progress
                .save_lookups(&view.id, partition, from, *to, &encoded, fence.batch(*to))
                .await?;
            return Ok((slice, rows));
        }
    }

    /// Folds `partial`, the partial aggregates of the batch of source
    /// partition `partition` that ends at `to`, into the view's table
    /// `raw`. The groups' stored rows come from `stored` where it knows
    /// them, and are read from `raw` otherwise; `stored` then knows every
    /// row the batch read or wrote.
    #[allow(clippy::too_many_arguments)]
    async fn apply(
        &self,
        session: &SessionContext,
        partial: LogicalPlan,
        view: &MaterializedView,
        raw: &Arc<dyn TableProvider>,
        partition: i32,
        to: i64,
        stored: &mut StoredRows,
    ) -> Result<Applied> {
        let started = Instant::now();
        let partials = session
            .execute_logical_plan(partial)
            .await?
            .collect()
            .await?;
        let aggregated = started.elapsed();
        let raw_schema = raw.schema();
        let partials = conform(&partials, view, &raw_schema)?;
        if partials.iter().all(|b| b.num_rows() == 0) {
            return Ok(Applied {
                aggregate: aggregated,
                ..Applied::default()
            });
        }
        let key_names: Vec<&str> = view.keys.iter().map(|k| k.name.as_str()).collect();

        // The stored rows of the batch's groups: known ones from memory,
        // the others by partition reads.
        let mut known = Vec::new();
        let mut unknown = Vec::new();
        for batch in &partials {
            let keys = key_names
                .iter()
                .map(|k| {
                    batch.column_by_name(k).cloned().ok_or_else(|| {
                        DataFusionError::Internal(format!("key {k} missing from the partials"))
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let (found, missing) = stored.known(&keys)?;
            known.extend(found);
            if !missing.is_empty() {
                unknown.push(rows_at(batch, missing)?);
            }
        }
        let read = self
            .read_stored(session, view, raw, partition, &unknown, stored.schema())
            .await?;
        let looked_up = started.elapsed();
        let groups: usize = partials.iter().map(RecordBatch::num_rows).sum();
        let unknown: usize = unknown.iter().map(RecordBatch::num_rows).sum();
        let stored_rows = MemTable::try_new(
            stored.schema().clone(),
            vec![known.into_iter().chain(read.iter().cloned()).collect()],
        )?;
        let stored_rows = session.read_table(Arc::new(stored_rows))?.alias("s")?;
        let batch = session.read_batches(partials)?.alias("p")?;
        let on: Vec<Expr> = key_names
            .iter()
            .map(|k| qualified("p", k).eq(qualified("s", k)))
            .collect();
        let joined = batch.join_on(stored_rows, JoinType::Left, on)?;
        let stored_at = Expr::Column(datafusion::common::Column::new(Some("s"), APPLIED_TO));
        let fresh = joined.filter(stored_at.clone().is_null().or(stored_at.lt(lit(to))))?;

        let state_columns = view.state_columns();
        let mut output = Vec::with_capacity(raw_schema.fields().len());
        for field in raw_schema.fields() {
            let name = field.name().as_str();
            let value = if name == SOURCE_PARTITION {
                lit(partition)
            } else if name == APPLIED_TO {
                lit(to)
            } else if key_names.contains(&name) {
                qualified("p", name)
            } else if let Some(state) = state_columns.iter().find(|c| c.name == name) {
                merge_expr(state.merge, qualified("s", name), qualified("p", name))?
            } else {
                // A column added to the table by hand stays empty.
                lit(ScalarValue::try_from(field.data_type())?)
            };
            output.push(cast_expr(value, field.data_type().clone()).alias(name));
        }
        let merged = fresh.select(output)?.collect().await?;
        if merged.iter().any(|b| b.num_rows() > 0) {
            let reference =
                TableReference::full(CATALOG_NAME, view.schema.as_str(), view.name.as_str());
            let insert = LogicalPlanBuilder::insert_into(
                session
                    .read_batches(merged.clone())?
                    .into_unoptimized_plan(),
                reference,
                provider_as_source(raw.clone()),
                InsertOp::Append,
            )?
            .build()?;
            session
                .execute_logical_plan(insert)
                .await?
                .collect()
                .await?;
        }
        let merged_at = started.elapsed();
        // Written: the rows read, then those written over them, are what
        // Cassandra holds.
        for batch in &read {
            stored.remember(batch)?;
        }
        for batch in &merged {
            stored.remember(&project(batch, stored.schema())?)?;
        }
        Ok(Applied {
            groups,
            unknown,
            aggregate: aggregated,
            read: looked_up - aggregated,
            write: merged_at - looked_up,
        })
    }

    /// The stored rows, for `partition`, of the groups of `groups` (batches
    /// of partials), read from `raw` by partition key, with the columns of
    /// `schema`.
    async fn read_stored(
        &self,
        session: &SessionContext,
        view: &MaterializedView,
        raw: &Arc<dyn TableProvider>,
        partition: i32,
        groups: &[RecordBatch],
        schema: &SchemaRef,
    ) -> Result<Vec<RecordBatch>> {
        // Distinct partition keys, sorted, then read a bounded number of
        // partitions per query.
        let mut tuples: Vec<Vec<ScalarValue>> = Vec::new();
        let mut seen = HashSet::new();
        for batch in groups {
            let columns = view
                .partition_key
                .iter()
                .map(|key| {
                    batch.column_by_name(key).ok_or_else(|| {
                        DataFusionError::Internal(format!("key {key} missing from the partials"))
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            for row in 0..batch.num_rows() {
                let tuple = columns
                    .iter()
                    .map(|c| ScalarValue::try_from_array(c, row))
                    .collect::<Result<Vec<_>>>()?;
                if seen.insert(tuple.clone()) {
                    tuples.push(tuple);
                }
            }
        }
        tuples.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        let columns: Vec<Expr> = schema
            .fields()
            .iter()
            .map(|f| col_named(f.name()))
            .collect();
        let mut rows = Vec::new();
        for chunk in chunks(&tuples) {
            let mut filter = col_named(SOURCE_PARTITION).eq(lit(partition));
            for (i, key) in view.partition_key.iter().enumerate() {
                let mut distinct = HashSet::new();
                let values: Vec<Expr> = chunk
                    .iter()
                    .filter(|t| distinct.insert(&t[i]))
                    .map(|t| lit(t[i].clone()))
                    .collect();
                filter = filter.and(col_named(key).in_list(values, false));
            }
            let read = session
                .read_table(raw.clone())?
                .filter(filter)?
                .select(columns.clone())?
                .collect()
                .await?;
            for batch in read {
                rows.push(RecordBatch::try_new(
                    schema.clone(),
                    batch.columns().to_vec(),
                )?);
            }
        }
        Ok(rows)
    }
}

/// What folding one batch did, for the log.
#[derive(Debug, Default)]
struct Applied {
    /// The groups the batch touched.
    groups: usize,
    /// Those whose stored row had to be read.
    unknown: usize,
    /// Computing the partial aggregates.
    aggregate: Duration,
    /// Reading stored rows.
    read: Duration,
    /// Merging and writing.
    write: Duration,
}

/// The write timestamps (microseconds) of what maintenance writes for one
/// view, growing with each batch's end offset: of two batches of a source
/// partition, the later one's writes win in Cassandra whichever arrive
/// last. (Partial rows and progress belong to one source partition each,
/// whose offsets only grow.)
#[derive(Debug, Clone, Copy)]
struct Fence {
    epoch: i64,
}

impl Fence {
    /// Microseconds of write time per offset: a batch's writes, then its
    /// commit, come before the next batch's.
    const PER_OFFSET: i64 = 2;

    /// The epoch a gateway proposes for a view: a minute past its clock.
    fn proposed_epoch() -> i64 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        now.saturating_add(60_000_000)
    }

    /// What the batch ending at `to` writes first: its stored lookups, its
    /// `pending`, its partial rows.
    fn batch(self, to: i64) -> i64 {
        self.epoch
            .saturating_add(to.saturating_mul(Self::PER_OFFSET))
    }

    /// Its `committed`, after all of those.
    fn commit(self, to: i64) -> i64 {
        self.batch(to).saturating_add(1)
    }

    /// The view's table `raw`, into which rows are written at
    /// [`Self::batch`] of their applied offset.
    fn table(
        self,
        view: &MaterializedView,
        raw: Arc<dyn TableProvider>,
    ) -> Result<Arc<dyn TableProvider>> {
        let fenced =
            as_cassandra(view, &raw)?.with_write_time(APPLIED_TO, self.epoch, Self::PER_OFFSET)?;
        Ok(Arc::new(fenced))
    }
}

/// The most bytes of stored rows a worker keeps in memory ([`StoredRows`]):
/// about 8,000 groups with an `approx_distinct` sketch each.
const STORED_ROWS_BYTES: usize = 32 << 20;

/// The columns of a view's stored row that a batch merges into: the keys,
/// the partial aggregates and the applied offset, typed as in its table
/// `raw` and nullable.
fn stored_schema(view: &MaterializedView, raw: &Schema) -> Result<SchemaRef> {
    let names = view
        .keys
        .iter()
        .map(|k| k.name.clone())
        .chain(view.state_columns().into_iter().map(|c| c.name))
        .chain([APPLIED_TO.to_string()]);
    let fields = names
        .map(|n| raw.field_with_name(&n).cloned())
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(nullable(&Schema::new(fields)))
}

/// The most bytes of dimension rows one batch stores; a batch whose rows
/// take more is cut shorter.
const MAX_LOOKUP_BYTES: usize = 4 << 20;

fn lease_overrun(view: &MaterializedView) -> DataFusionError {
    DataFusionError::Execution(format!(
        "a batch of {} took longer than the lease; it is redone",
        view.qualified_name()
    ))
}

fn qualified(relation: &str, name: &str) -> Expr {
    Expr::Column(datafusion::common::Column::new(Some(relation), name))
}

/// The partials cast to the types of the view's table, with groups whose
/// key is null left out: a Cassandra key cannot be null.
fn conform(
    partials: &[RecordBatch],
    view: &MaterializedView,
    raw: &SchemaRef,
) -> Result<Vec<RecordBatch>> {
    let mut out = Vec::with_capacity(partials.len());
    let names: Vec<String> = view
        .keys
        .iter()
        .map(|k| k.name.clone())
        .chain(view.state_columns().into_iter().map(|c| c.name))
        .collect();
    let fields: Vec<Field> = names
        .iter()
        .map(|n| {
            raw.field_with_name(n)
                .map(|f| f.as_ref().clone().with_nullable(true))
        })
        .collect::<std::result::Result<_, _>>()?;
    let schema = Arc::new(Schema::new(fields));
    for batch in partials {
        let mut columns = Vec::with_capacity(names.len());
        for (name, field) in names.iter().zip(schema.fields()) {
            let column = batch.column_by_name(name).ok_or_else(|| {
                DataFusionError::Internal(format!("column {name} missing from the partials"))
            })?;
            columns.push(cast(column, field.data_type())?);
        }
        let mut batch = RecordBatch::try_new(schema.clone(), columns)?;
        for key in &view.keys {
            let keep =
                is_not_null(batch.column_by_name(&key.name).ok_or_else(|| {
                    DataFusionError::Internal(format!("key {} missing", key.name))
                })?)?;
            if keep.true_count() < batch.num_rows() {
                debug!(view = %view.qualified_name(), key = %key.name, "groups with a null key are left out");
                batch = filter_record_batch(&batch, &keep)?;
            }
        }
        out.push(batch);
    }
    Ok(out)
}
