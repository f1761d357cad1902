//! Materialized views in SQL: `CREATE MATERIALIZED VIEW`, `DROP
//! MATERIALIZED VIEW`, `REFRESH MATERIALIZED VIEW`, `SHOW MATERIALIZED
//! VIEWS` and the table `system.materialized_views`.
//!
//! What a view stores and how it merges is the catalog's
//! ([`smackql_catalog::views`]); keeping it fresh is [`crate::jobs::views`]'s
//! (continuous views) and [`crate::jobs::refresh`]'s (recomputed views). This module checks a definition against the
//! tables it names, creates the view's Cassandra table, and reports
//! progress.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use datafusion::arrow::array::{
    Float64Builder, Int32Builder, Int64Builder, RecordBatch, StringBuilder,
    TimestampMillisecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{SchemaProvider, Session, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::common::TableReference;
use datafusion::datasource::{MemTable, TableType};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{CreateView, ObjectType, Statement};
use smackql_cassandra::progress::{RefreshRecord, ViewProgress, ViewProgressTable};
use smackql_cassandra::types::cql_type_for;
use smackql_cassandra::{cql, CassandraCatalog, CassandraConnection, CassandraTableProvider};
use smackql_catalog::definitions::schema_and_table;
use smackql_catalog::views::{MaterializedView, Refresh, APPLIED_TO, REFRESH_ID, SOURCE_PARTITION};
use smackql_catalog::{MaterializedViews, CATALOG_NAME};
use smackql_kafka::{KafkaTableProvider, SharedKafka};
use smackql_providers_common::{ErrorClass, ProviderError};
use tracing::warn;

use crate::jobs::refresh::{now_millis, Recomputer, Refreshed};
use crate::jobs::views::{partition_lease, RELOAD_INTERVAL};
use crate::session::SessionFactory;

/// `SHOW MATERIALIZED VIEWS` answers this query.
pub const SHOW_QUERY: &str = "SELECT schema_name, view_name, refresh, state, source, \
     sum(lag_messages) AS lag_messages, max(lag_seconds) AS lag_seconds, \
     max(last_refresh) AS last_refresh, max(last_error) AS last_error \
     FROM system.materialized_views GROUP BY schema_name, view_name, refresh, state, source \
     ORDER BY schema_name, view_name";

/// How long `REFRESH MATERIALIZED VIEW` of a continuous view waits for it
/// to catch up before it gives up.
const REFRESH_TIMEOUT: Duration = Duration::from_secs(120);

fn error(class: ErrorClass, message: impl Into<String>) -> DataFusionError {
    ProviderError::new(class, "materialized view", message.into()).into()
}

/// The statements on materialized views, and their progress.
#[derive(Debug)]
pub struct ViewDdl {
    views: Arc<MaterializedViews>,
    progress: Arc<ViewProgressTable>,
    cassandra: Arc<CassandraConnection>,
    kafka: SharedKafka,
    sessions: Arc<SessionFactory>,
    recomputer: Arc<Recomputer>,
    owner: String,
}

impl ViewDdl {
    /// Statements on `views`, whose tables live in `cassandra` and whose
    /// sources are read from `kafka`; `sessions` plan their queries, and
    /// `recomputer` runs the refreshes they ask for, as `owner`.
    pub fn new(
        views: Arc<MaterializedViews>,
        progress: Arc<ViewProgressTable>,
        cassandra: Arc<CassandraConnection>,
        kafka: SharedKafka,
        sessions: Arc<SessionFactory>,
        recomputer: Arc<Recomputer>,
        owner: String,
    ) -> Self {
        Self {
            views,
            progress,
            cassandra,
            kafka,
            sessions,
            recomputer,
            owner,
        }
    }

    /// Whether `statement` is one of this module's.
    pub fn handles(statement: &Statement) -> bool {
        matches!(
            statement,
            Statement::CreateView(CreateView {
                materialized: true,
                ..
            }) | Statement::Drop {
                object_type: ObjectType::MaterializedView,
                ..
            }
        )
    }

    /// Creates a view: checks it, creates its table and stores it. Returns
    /// whether it was created (`false`: it existed and `IF NOT EXISTS` was
    /// given).
    pub async fn create(&self, create: &CreateView) -> Result<bool> {
        let view = MaterializedView::from_statement(create, &new_view_id())?;
        let qualified = view.qualified_name();
        self.views.reload().await?;
        if self.views.get(&view.schema, &view.name).is_some() {
            return if create.if_not_exists {
                Ok(false)
            } else {
                Err(error(
                    ErrorClass::AlreadyExists,
                    format!("materialized view {qualified} already exists"),
                ))
            };
        }
        if !self.cassandra.has_keyspace(&view.schema) {
            self.cassandra.refresh_schema().await?;
        }
        if !self.cassandra.has_keyspace(&view.schema) {
            return Err(error(
                ErrorClass::NotFound,
                format!(
                    "keyspace \"{}\" does not exist; a materialized view lives in a keyspace \
                     (CREATE SCHEMA {} first)",
                    view.schema, view.schema
                ),
            ));
        }
        if self.cassandra.has_table(&view.schema, &view.name) {
            return Err(error(
                ErrorClass::AlreadyExists,
                format!(
                    "table {qualified} already exists; choose another name for the view, or \
                     drop the table first (DROP TABLE {qualified}, with \
                     cassandra.allow_drop_table = true; a table left by DROP MATERIALIZED VIEW \
                     without PURGE is one)"
                ),
            ));
        }
        let session = self.sessions.new_session();
        let table = if view.refresh.is_recomputed() {
            let plan = session
                .state()
                .create_logical_plan(view.query_sql())
                .await?;
            recomputed_table_cql(&view, plan.schema().as_arrow())?
        } else {
            self.check_continuous_source(&session, &view).await?;
            self.check_dimensions(&session, &view).await?;
            let plan = session
                .state()
                .create_logical_plan(&view.partial_sql())
                .await?;
            table_cql(&view, plan.schema().as_arrow())?
        };
        self.cassandra.change_schema(&qualified, &table).await?;
        let recomputed = view.refresh.is_recomputed();
        let view = Arc::new(view);
        if !self.views.create(view.as_ref().clone()).await? {
            return Err(error(
                ErrorClass::AlreadyExists,
                format!(
                    "materialized view {qualified} was created meanwhile through another gateway"
                ),
            ));
        }
        if recomputed {
            // Filled at once, as PostgreSQL fills a new materialized view.
            let period = match view.refresh {
                Refresh::Every(every) => {
                    let every = (every.as_millis() as i64).max(1);
                    let now = now_millis();
                    now - now.rem_euclid(every)
                }
                _ => now_millis(),
            };
            self.refresh_now(&view, period).await.map_err(|e| {
                error(
                    ErrorClass::Unavailable,
                    format!(
                        "materialized view {qualified} is created, but its first refresh \
                         failed ({e}); it is refreshed again {}",
                        match view.refresh {
                            Refresh::Manual => "by REFRESH MATERIALIZED VIEW".to_string(),
                            other => other.name(),
                        }
                    ),
                )
            })?;
        }
        Ok(true)
    }

    /// Checks that a continuous view reads a Kafka table.
    async fn check_continuous_source(
        &self,
        session: &SessionContext,
        view: &MaterializedView,
    ) -> Result<()> {
        let qualified = view.qualified_name();
        let source = TableReference::full(
            CATALOG_NAME,
            view.source_schema.as_str(),
            view.source_table.as_str(),
        );
        let provider = session.table_provider(source).await.map_err(|_| {
            error(
                ErrorClass::NotFound,
                format!(
                    "materialized view {qualified} reads {}.{}, which does not exist",
                    view.source_schema, view.source_table
                ),
            )
        })?;
        if provider
            .as_ref()
            .downcast_ref::<KafkaTableProvider>()
            .is_none()
        {
            return Err(error(
                ErrorClass::Unsupported,
                format!(
                    "materialized view {qualified} reads {}.{}, which is not a Kafka table; \
                     a continuous view reads one Kafka table. Recompute views over other \
                     tables on a schedule (refresh = 'every 10 minutes') or on demand \
                     (refresh = 'manual')",
                    view.source_schema, view.source_table
                ),
            ));
        }
        Ok(())
    }

    /// Checks that each table a continuous view joins is a Cassandra table,
    /// joined on its whole partition key, so that a batch reads just the
    /// rows its events join.
    async fn check_dimensions(
        &self,
        session: &SessionContext,
        view: &MaterializedView,
    ) -> Result<()> {
        let qualified = view.qualified_name();
        for dimension in &view.dimensions {
            let name = dimension.qualified_name();
            let reference = TableReference::full(
                CATALOG_NAME,
                dimension.schema.as_str(),
                dimension.table.as_str(),
            );
            let provider = session.table_provider(reference).await.map_err(|_| {
                error(
                    ErrorClass::NotFound,
                    format!("materialized view {qualified} joins {name}, which does not exist"),
                )
            })?;
            let Some(table) = provider.as_ref().downcast_ref::<CassandraTableProvider>() else {
                return Err(error(
                    ErrorClass::Unsupported,
                    format!(
                        "materialized view {qualified} joins {name}, which is not a Cassandra \
                         table; a continuous view joins its Kafka table with Cassandra tables \
                         only. Recompute views over other joins (refresh = 'every 10 minutes')"
                    ),
                ));
            };
            if let Some((_, column)) = dimension
                .keys
                .iter()
                .find(|(_, c)| table.schema().field_with_name(c).is_err())
            {
                return Err(error(
                    ErrorClass::InvalidDefinition,
                    format!("materialized view {qualified} joins {name} on {column}, which {name} does not have"),
                ));
            }
            let joined: Vec<&str> = dimension.keys.iter().map(|(_, c)| c.as_str()).collect();
            let missing: Vec<&str> = table
                .partition_key()
                .iter()
                .map(String::as_str)
                .filter(|c| !joined.contains(c))
                .collect();
            if !missing.is_empty() {
                return Err(error(
                    ErrorClass::Unsupported,
                    format!(
                        "materialized view {qualified} joins {name} without its partition key \
                         column{} {}; join on the whole partition key ({}), so that each batch \
                         reads just the rows its events join, or recompute the view \
                         (refresh = 'every 10 minutes')",
                        if missing.len() > 1 { "s" } else { "" },
                        missing.join(", "),
                        table.partition_key().join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Refreshes a recomputed view for `period` now, waiting while another
    /// refresh of it runs.
    async fn refresh_now(&self, view: &MaterializedView, period: i64) -> Result<u64> {
        // Distinct from the gateway's own name, so the gateway's scheduler
        // and this statement never share the lease.
        let owner = format!("{}/statement-{:08x}", self.owner, rand::random::<u32>());
        let started = Instant::now();
        loop {
            match self.recomputer.refresh(view, period, &owner, false).await? {
                Refreshed::Rows(rows) => return Ok(rows),
                Refreshed::AlreadyDone => return Ok(0),
                Refreshed::Busy if started.elapsed() < REFRESH_TIMEOUT => {
                    tokio::time::sleep(Duration::from_millis(200)).await
                }
                Refreshed::Busy => {
                    return Err(error(
                        ErrorClass::Unavailable,
                        format!(
                            "another refresh of materialized view {} ran for longer than {} s",
                            view.qualified_name(),
                            REFRESH_TIMEOUT.as_secs()
                        ),
                    ))
                }
            }
        }
    }

    /// Drops a view: its maintenance stops, and its table goes too when
    /// `purge` (`DROP MATERIALIZED VIEW ... PURGE`).
    pub async fn drop_view(&self, statement: &Statement) -> Result<()> {
        let Statement::Drop {
            names,
            if_exists,
            purge,
            cascade,
            ..
        } = statement
        else {
            return Err(DataFusionError::Internal(
                "not DROP MATERIALIZED VIEW".into(),
            ));
        };
        if *cascade {
            return Err(error(
                ErrorClass::Unsupported,
                "DROP MATERIALIZED VIEW ... CASCADE is not supported; nothing depends on a view, \
                 and PURGE drops its table as well",
            ));
        }
        for name in names {
            let Some((schema, view_name)) = schema_and_table(name) else {
                return Err(error(
                    ErrorClass::InvalidDefinition,
                    format!("name the keyspace of view {name}, as in ks.{name}"),
                ));
            };
            self.views.reload().await?;
            let Some(view) = self.views.get(&schema, &view_name) else {
                if *if_exists {
                    continue;
                }
                return Err(error(
                    ErrorClass::NotFound,
                    format!("materialized view {schema}.{view_name} does not exist"),
                ));
            };
            self.views.drop_view(&schema, &view_name).await?;
            // A batch or refresh in flight writes its progress and lookups
            // under its lease; forgetting them before it ends would leave
            // its writes behind.
            self.await_maintainers(&view).await?;
            self.progress.forget(&view.id).await?;
            if *purge {
                let cql = format!(
                    "DROP TABLE IF EXISTS {}",
                    cql::qualified_table(&schema, &view_name)
                );
                self.cassandra
                    .change_schema(&view.qualified_name(), &cql)
                    .await?;
            }
        }
        Ok(())
    }

    /// Waits until every gateway has stopped maintaining dropped `view`:
    /// each notices the drop when it next reloads the catalog (so none takes
    /// a lease of the view after two reload intervals), finishes the batch
    /// or refresh it is in, and gives its leases up; a lease it cannot give
    /// up ends within its TTL.
    async fn await_maintainers(&self, view: &MaterializedView) -> Result<()> {
        tokio::time::sleep(2 * RELOAD_INTERVAL).await;
        let prefix = format!("view:{}", view.id);
        let deadline = tokio::time::Instant::now() + 2 * self.recomputer.lease_ttl();
        loop {
            let held = self.progress.held_leases(&prefix).await?;
            if held.is_empty() {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                warn!(
                    view = %view.qualified_name(),
                    leases = ?held,
                    "dropping a view whose leases are still held"
                );
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// `REFRESH MATERIALIZED VIEW`: recomputes a scheduled or manual view
    /// now; for a continuous view, waits until it holds every event its
    /// source had when the statement began.
    pub async fn refresh(&self, schema: &str, name: &str) -> Result<()> {
        self.views.reload().await?;
        let Some(view) = self.views.get(schema, name) else {
            return Err(error(
                ErrorClass::NotFound,
                format!("materialized view {schema}.{name} does not exist"),
            ));
        };
        if view.refresh.is_recomputed() {
            return self.refresh_now(&view, now_millis()).await.map(|_| ());
        }
        let topic = self.topic_of(&view).await?;
        let targets = self.kafka.watermarks(&topic).await?;
        let started = Instant::now();
        loop {
            let progress = self.progress.progress(&view.id).await?;
            let behind = targets.iter().any(|&(partition, low, high)| {
                high > low
                    && progress
                        .partitions
                        .iter()
                        .find(|p| p.partition == partition)
                        .is_none_or(|p| p.committed < high)
            });
            if !behind {
                return Ok(());
            }
            if started.elapsed() > REFRESH_TIMEOUT {
                let reason = progress
                    .last_error
                    .map(|e| format!("; its last error: {e}"))
                    .unwrap_or_default();
                return Err(error(
                    ErrorClass::Unavailable,
                    format!(
                        "materialized view {schema}.{name} did not catch up with its source \
                         within {} s{reason}",
                        REFRESH_TIMEOUT.as_secs()
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The topic a view reads.
    async fn topic_of(&self, view: &MaterializedView) -> Result<String> {
        source_topic(&self.sessions.new_session(), view).await
    }

    /// The rows of `system.materialized_views`; of the views in keyspace
    /// `only_schema` alone when it is given.
    async fn status(&self, only_schema: Option<&str>) -> Result<RecordBatch> {
        let mut rows = StatusRows::default();
        self.views.reload().await.ok();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        for view in self.views.list() {
            if only_schema.is_some_and(|schema| schema != view.schema) {
                continue;
            }
            let progress = self.progress.progress(&view.id).await.ok();
            if view.refresh.is_recomputed() {
                let refreshes = self.progress.refreshes(&view.id, 20).await.ok();
                rows.push_recomputed(&view, progress.as_ref(), refreshes.as_deref(), now);
                continue;
            }
            let watermarks = match self.topic_of(&view).await {
                Ok(topic) => self.kafka.watermarks(&topic).await.ok(),
                Err(_) => None,
            };
            let mut owners = HashMap::new();
            for &(partition, _, _) in watermarks.as_deref().unwrap_or_default() {
                let lease = partition_lease(&view.id, partition);
                if let Ok(Some(owner)) = self.progress.lease_owner(&lease).await {
                    owners.insert(partition, owner);
                }
            }
            rows.push_view(
                &view,
                progress.as_ref(),
                watermarks.as_deref(),
                &owners,
                now,
            );
        }
        rows.finish()
    }
}

/// How long a view's table found missing is taken to stay missing before
/// the cluster is asked again (a new table reaches this gateway's copy of
/// the schema by itself, sooner).
const MISSING_TABLE_RECHECK: Duration = Duration::from_secs(30);

/// Notices that a view's table has gone (dropped outside smackql, with its
/// keyspace for instance), so that maintenance waits for it instead of
/// taking leases and failing over and over.
#[derive(Debug, Default)]
pub(crate) struct TableWatch {
    /// When the cluster last confirmed the table missing.
    confirmed_missing: Option<Instant>,
    /// Whether the maintenance failed since the last look, so this
    /// gateway's copy of the schema may be out of date.
    suspect: bool,
}

impl TableWatch {
    /// Notes that the view's maintenance failed: the next look reads the
    /// cluster's schema again first, in case the table went without this
    /// gateway hearing of it.
    pub(crate) fn failed(&mut self) {
        self.suspect = true;
    }

    /// Why `view` cannot be maintained now, if its table is missing. This
    /// gateway's copy of the schema is trusted when it lists the table;
    /// otherwise the cluster is asked, at most every
    /// [`MISSING_TABLE_RECHECK`]. An unreachable cluster is not a missing
    /// table: that is for the maintenance's own retries.
    pub(crate) async fn missing(
        &mut self,
        cassandra: &CassandraCatalog,
        view: &MaterializedView,
    ) -> Option<String> {
        if std::mem::take(&mut self.suspect) {
            cassandra.connection().refresh_schema().await.ok();
        }
        let keyspace = cassandra.keyspace(&view.schema);
        if keyspace.table_exist(&view.name) {
            self.confirmed_missing = None;
            return None;
        }
        let recent = self
            .confirmed_missing
            .is_some_and(|at| at.elapsed() < MISSING_TABLE_RECHECK);
        if !recent {
            if !matches!(keyspace.table(&view.name).await, Ok(None)) {
                self.confirmed_missing = None;
                return None;
            }
            self.confirmed_missing = Some(Instant::now());
        }
        Some(format!(
            "the table {0} {TABLE_MISSING}; maintenance resumes once it exists again, and \
             DROP MATERIALIZED VIEW {0} forgets the view",
            view.qualified_name()
        ))
    }
}

/// What the error a view records when its table is missing says.
pub(crate) const TABLE_MISSING: &str = "of the materialized view is missing";

/// The Cassandra table of `view`, as it is stored (partials, or rows with
/// their refresh marker).
pub(crate) async fn view_table(
    cassandra: &CassandraCatalog,
    view: &MaterializedView,
) -> Result<Arc<dyn TableProvider>> {
    cassandra
        .keyspace(&view.schema)
        .table(&view.name)
        .await?
        .ok_or_else(|| {
            DataFusionError::Plan(format!(
                "the table {} of the materialized view is missing",
                view.qualified_name()
            ))
        })
}

/// `raw`, the table of `view`, as the Cassandra table it is.
pub(crate) fn as_cassandra<'a>(
    view: &MaterializedView,
    raw: &'a Arc<dyn TableProvider>,
) -> Result<&'a CassandraTableProvider> {
    raw.as_ref()
        .downcast_ref::<CassandraTableProvider>()
        .ok_or_else(|| {
            DataFusionError::Internal(format!(
                "the table of {} is not a Cassandra table",
                view.qualified_name()
            ))
        })
}

/// The topic of the Kafka table `view` reads, as `session` resolves it.
pub(crate) async fn source_topic(
    session: &SessionContext,
    view: &MaterializedView,
) -> Result<String> {
    let source = TableReference::full(
        CATALOG_NAME,
        view.source_schema.as_str(),
        view.source_table.as_str(),
    );
    let provider = session.table_provider(source).await?;
    provider
        .as_ref()
        .downcast_ref::<KafkaTableProvider>()
        .map(|k| k.topic().to_string())
        .ok_or_else(|| {
            error(
                ErrorClass::InvalidDefinition,
                format!(
                    "the source {}.{} of {} is no longer a Kafka table",
                    view.source_schema,
                    view.source_table,
                    view.qualified_name()
                ),
            )
        })
}

/// A fresh, unique id for a view.
fn new_view_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{nanos:x}-{:016x}", rand::random::<u64>())
}

/// `CREATE TABLE` of a continuous view's table: the keys, the source
/// partition, the partial aggregates (typed as `partials` computes them)
/// and the applied offset.
fn table_cql(view: &MaterializedView, partials: &Schema) -> Result<String> {
    let mut columns = Vec::new();
    for key in &view.keys {
        columns.push(typed_column(view, partials.field_with_name(&key.name)?)?);
    }
    columns.push(format!("{} int", cql::quote_identifier(SOURCE_PARTITION)));
    for state in view.state_columns() {
        columns.push(typed_column(view, partials.field_with_name(&state.name)?)?);
    }
    columns.push(format!("{} bigint", cql::quote_identifier(APPLIED_TO)));
    Ok(create_table(view, columns, Some(SOURCE_PARTITION)))
}

/// `CREATE TABLE` of a recomputed view's table: its columns, typed as its
/// query `result` computes them, and the refresh marker.
fn recomputed_table_cql(view: &MaterializedView, result: &Schema) -> Result<String> {
    let names = view.column_names();
    if result.fields().len() != names.len() {
        return Err(DataFusionError::Plan(format!(
            "the query of materialized view {} yields {} columns, not {}",
            view.qualified_name(),
            result.fields().len(),
            names.len()
        )));
    }
    let mut columns = Vec::new();
    for (name, field) in names.iter().zip(result.fields()) {
        columns.push(typed_column(
            view,
            &field.as_ref().clone().with_name(*name),
        )?);
    }
    columns.push(format!("{} bigint", cql::quote_identifier(REFRESH_ID)));
    Ok(create_table(view, columns, None))
}

/// `"name" type` of a view's column.
fn typed_column(view: &MaterializedView, field: &Field) -> Result<String> {
    let name = field.name();
    let cql_type = cql_type_for(field.data_type()).map_err(|e| {
        error(
            ErrorClass::Unsupported,
            format!(
                "column {name} of materialized view {} cannot be stored: {e}",
                view.qualified_name()
            ),
        )
    })?;
    Ok(format!("{} {cql_type}", cql::quote_identifier(name)))
}

/// `CREATE TABLE` of a view's table with `columns`, keyed by the view's
/// keys, then `last_clustering` when given.
fn create_table(
    view: &MaterializedView,
    columns: Vec<String>,
    last_clustering: Option<&str>,
) -> String {
    let partition: Vec<String> = view
        .partition_key
        .iter()
        .map(|k| cql::quote_identifier(k))
        .collect();
    let clustering: Vec<(String, bool)> = view
        .clustering
        .iter()
        .map(|(k, desc)| (cql::quote_identifier(k), *desc))
        .chain(last_clustering.map(|c| (cql::quote_identifier(c), false)))
        .collect();
    let key = if clustering.is_empty() {
        format!("({})", partition.join(", "))
    } else {
        let names: Vec<&str> = clustering.iter().map(|(k, _)| k.as_str()).collect();
        format!("({}), {}", partition.join(", "), names.join(", "))
    };
    let mut cql = format!(
        "CREATE TABLE {} ({}, PRIMARY KEY ({key}))",
        cql::qualified_table(&view.schema, &view.name),
        columns.join(", "),
    );
    let mut with = Vec::new();
    if clustering.iter().any(|(_, desc)| *desc) {
        let order: Vec<String> = clustering
            .iter()
            .map(|(k, desc)| format!("{k} {}", if *desc { "DESC" } else { "ASC" }))
            .collect();
        with.push(format!("CLUSTERING ORDER BY ({})", order.join(", ")));
    }
    if let Some(ttl) = view.ttl {
        with.push(format!("default_time_to_live = {ttl}"));
    }
    if !with.is_empty() {
        cql.push_str(" WITH ");
        cql.push_str(&with.join(" AND "));
    }
    cql
}

#[derive(Default)]
struct StatusRows {
    schema: StringBuilder,
    name: StringBuilder,
    refresh: StringBuilder,
    state: StringBuilder,
    source: StringBuilder,
    partition: Int32Builder,
    committed: Int64Builder,
    end: Int64Builder,
    lag: Int64Builder,
    lag_seconds: Float64Builder,
    rate: Float64Builder,
    last_refresh: TimestampMillisecondBuilder,
    owner: StringBuilder,
    last_error: StringBuilder,
    view_id: StringBuilder,
}

impl StatusRows {
    fn schema() -> SchemaRef {
        let ts = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
        Arc::new(Schema::new(vec![
            Field::new("schema_name", DataType::Utf8, false),
            Field::new("view_name", DataType::Utf8, false),
            Field::new("refresh", DataType::Utf8, false),
            Field::new("state", DataType::Utf8, false),
            Field::new("source", DataType::Utf8, false),
            Field::new("source_partition", DataType::Int32, true),
            Field::new("committed_offset", DataType::Int64, true),
            Field::new("end_offset", DataType::Int64, true),
            Field::new("lag_messages", DataType::Int64, true),
            Field::new("lag_seconds", DataType::Float64, true),
            Field::new("rows_per_second", DataType::Float64, true),
            Field::new("last_refresh", ts, true),
            Field::new("owner", DataType::Utf8, true),
            Field::new("last_error", DataType::Utf8, true),
            Field::new("view_id", DataType::Utf8, false),
        ]))
    }

    fn push_view(
        &mut self,
        view: &MaterializedView,
        progress: Option<&ViewProgress>,
        watermarks: Option<&[(i32, i64, i64)]>,
        owners: &HashMap<i32, String>,
        now: i64,
    ) {
        let state = match (progress, watermarks) {
            (None, _) | (_, None) => "unknown",
            (Some(p), _) if p.last_error.is_some() => "failing",
            (Some(p), _) if p.owner.is_none() => "starting",
            (Some(p), Some(w)) => {
                let behind = w.iter().any(|&(partition, _, high)| {
                    p.partitions
                        .iter()
                        .find(|x| x.partition == partition)
                        .is_none_or(|x| x.committed < high)
                });
                if behind {
                    "catching up"
                } else {
                    "current"
                }
            }
        };
        let mut partitions: Vec<(i32, Option<i64>)> = match watermarks {
            Some(w) => w.iter().map(|&(p, _, high)| (p, Some(high))).collect(),
            None => progress
                .map(|p| p.partitions.iter().map(|x| (x.partition, None)).collect())
                .unwrap_or_default(),
        };
        if partitions.is_empty() {
            partitions.push((-1, None));
        }
        for (partition, end) in partitions {
            self.schema.append_value(&view.schema);
            self.view_id.append_value(&view.id);
            self.name.append_value(&view.name);
            self.refresh.append_value(view.refresh.name());
            self.state.append_value(state);
            self.source
                .append_value(format!("{}.{}", view.source_schema, view.source_table));
            let mine =
                progress.and_then(|p| p.partitions.iter().find(|x| x.partition == partition));
            if partition < 0 {
                self.partition.append_null();
            } else {
                self.partition.append_value(partition);
            }
            let committed = mine.map(|m| m.committed);
            self.committed.append_option(committed);
            self.end.append_option(end);
            let lag = end.map(|e| (e - committed.unwrap_or(0)).max(0));
            self.lag.append_option(lag);
            // Seconds since the partition last moved, while it is behind.
            let lag_seconds = match (lag, mine.and_then(|m| m.updated_at)) {
                (Some(0), _) => Some(0.0),
                (Some(_), Some(at)) => Some(((now - at).max(0)) as f64 / 1000.0),
                _ => None,
            };
            self.lag_seconds.append_option(lag_seconds);
            self.rate
                .append_option(mine.and_then(|m| m.rows_per_second));
            self.last_refresh
                .append_option(mine.and_then(|m| m.updated_at));
            self.owner.append_option(owners.get(&partition).cloned());
            self.last_error
                .append_option(progress.and_then(|p| p.last_error.clone()));
        }
    }

    /// The row of a recomputed view: its last refresh, with the age of
    /// its contents as `lag_seconds`.
    fn push_recomputed(
        &mut self,
        view: &MaterializedView,
        progress: Option<&ViewProgress>,
        refreshes: Option<&[RefreshRecord]>,
        now: i64,
    ) {
        let latest = refreshes.and_then(|r| r.first());
        let done = refreshes.and_then(|r| r.iter().find(|x| x.finished_at.is_some()));
        let state = match (progress, refreshes) {
            (None, _) | (_, None) => "unknown",
            (Some(p), _) if p.last_error.is_some() => "failing",
            _ if latest.is_some_and(|l| l.finished_at.is_none() && l.error.is_none()) => {
                "refreshing"
            }
            _ => match (done, view.refresh) {
                (None, _) => "empty",
                (Some(done), Refresh::Every(every)) => {
                    let every = (every.as_millis() as i64).max(1);
                    if done.period >= now - now.rem_euclid(every) {
                        "current"
                    } else {
                        "due"
                    }
                }
                (Some(_), _) => "current",
            },
        };
        self.schema.append_value(&view.schema);
        self.view_id.append_value(&view.id);
        self.name.append_value(&view.name);
        self.refresh.append_value(view.refresh.name());
        self.state.append_value(state);
        self.source.append_value(view.sources.join(", "));
        self.partition.append_null();
        self.committed.append_null();
        self.end.append_null();
        self.lag.append_null();
        let started = done.and_then(|d| d.started_at);
        self.lag_seconds
            .append_option(started.map(|at| (now - at).max(0) as f64 / 1000.0));
        let rate = match (done, started, done.and_then(|d| d.finished_at)) {
            (Some(d), Some(start), Some(end)) => d
                .rows
                .map(|rows| rows as f64 / ((end - start).max(1) as f64 / 1000.0)),
            _ => None,
        };
        self.rate.append_option(rate);
        self.last_refresh
            .append_option(done.and_then(|d| d.finished_at));
        self.owner
            .append_option(latest.and_then(|l| l.owner.clone()));
        self.last_error
            .append_option(progress.and_then(|p| p.last_error.clone()));
    }

    fn finish(mut self) -> Result<RecordBatch> {
        let columns: Vec<datafusion::arrow::array::ArrayRef> = vec![
            Arc::new(self.schema.finish()),
            Arc::new(self.name.finish()),
            Arc::new(self.refresh.finish()),
            Arc::new(self.state.finish()),
            Arc::new(self.source.finish()),
            Arc::new(self.partition.finish()),
            Arc::new(self.committed.finish()),
            Arc::new(self.end.finish()),
            Arc::new(self.lag.finish()),
            Arc::new(self.lag_seconds.finish()),
            Arc::new(self.rate.finish()),
            Arc::new(self.last_refresh.finish().with_timezone("UTC")),
            Arc::new(self.owner.finish()),
            Arc::new(self.last_error.finish()),
            Arc::new(self.view_id.finish()),
        ];
        Ok(RecordBatch::try_new(Self::schema(), columns)?)
    }
}

/// `system.materialized_views`: one row per view and source partition,
/// read from the shared progress table and Kafka when a query is planned.
#[derive(Debug)]
pub struct MaterializedViewsTable {
    ddl: Arc<ViewDdl>,
}

impl MaterializedViewsTable {
    /// The table over the views of `ddl`.
    pub fn new(ddl: Arc<ViewDdl>) -> Self {
        Self { ddl }
    }
}

#[async_trait]
impl TableProvider for MaterializedViewsTable {
    fn schema(&self) -> SchemaRef {
        StatusRows::schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    /// Filters reach the scan, which reads only the views of a keyspace a
    /// filter names; every filter is still applied to the rows.
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // A `schema_name = '...'` filter limits the views read.
        let only_schema = filters.iter().find_map(|f| match f {
            Expr::BinaryExpr(b) if b.op == Operator::Eq => {
                match (b.left.as_ref(), b.right.as_ref()) {
                    (Expr::Column(c), Expr::Literal(ScalarValue::Utf8(Some(v)), _))
                    | (Expr::Literal(ScalarValue::Utf8(Some(v)), _), Expr::Column(c))
                        if c.name == "schema_name" =>
                    {
                        Some(v.clone())
                    }
                    _ => None,
                }
            }
            _ => None,
        });
        let batch = self.ddl.status(only_schema.as_deref()).await?;
        MemTable::try_new(StatusRows::schema(), vec![vec![batch]])?
            .scan(state, projection, filters, limit)
            .await
    }
}
