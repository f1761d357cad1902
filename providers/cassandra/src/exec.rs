//! The scan [`ExecutionPlan`]: paged, prepared CQL decoded straight into
//! Arrow batches, one batch per page.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{RecordBatch, RecordBatchOptions};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::ParamValues;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::expressions::DynamicFilterPhysicalExpr;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::apply_expression_roots;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::filter_pushdown::{
    ChildPushdownResult, FilterPushdownPhase, FilterPushdownPropagation, PushedDown,
};
use datafusion::physical_plan::metrics::{
    Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet, Time,
};
use datafusion::physical_plan::stream::{
    RecordBatchReceiverStreamBuilder, RecordBatchStreamAdapter,
};
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};
use futures::{StreamExt, TryStreamExt};
use scylla::client::session::Session;
use scylla::deserialize::row::ColumnIterator;
use scylla::response::{PagingState, PagingStateResponse};
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlValue;
use tracing::Instrument;

use crate::connection::SharedConnection;
use crate::cql;
use crate::error::Error;
use crate::lookup::LookupSpec;
use crate::provider::{ColumnMeta, ScanTemplate};
use crate::pushdown::{IndexFilter, KeyPlan};
use crate::session_options::RequestOptions;
use crate::token::TokenRange;
use crate::types::ColumnDecoder;

/// What one scan reads.
#[derive(Debug, Clone)]
pub struct ScanSpec {
    /// The keyspace.
    pub keyspace: String,
    /// The table.
    pub table: String,
    /// The columns to return, in output order.
    pub columns: Vec<ColumnMeta>,
    /// The column selected when `columns` is empty.
    pub fallback_column: String,
    /// The output schema.
    pub schema: SchemaRef,
    /// The partition-key columns, in key order.
    pub partition_key: Vec<String>,
    /// What part of the table to read.
    pub target: ScanTarget,
    /// Restrictions that SAI indexes answer, added to every query.
    pub index: IndexFilter,
    /// Consistency level and timeout of each request.
    pub request: RequestOptions,
    /// At most this many rows, if set.
    pub limit: Option<usize>,
}

/// What part of a table a scan reads.
#[derive(Debug, Clone)]
pub enum ScanTarget {
    /// These partitions, by key (possibly none at all), and a clustering
    /// slice of each.
    Partitions(Box<KeyPlan>),
    /// These token ranges, several at a time.
    TokenRanges(Vec<TokenRange>),
    /// The whole table, with one plain paged query (for a small `LIMIT`).
    Table,
}

impl ScanSpec {
    /// The CQL text sent to Cassandra; values are bound, never spliced in.
    pub fn cql(&self) -> String {
        let names: Vec<&str> = if self.columns.is_empty() {
            vec![self.fallback_column.as_str()]
        } else {
            self.columns.iter().map(|c| c.name.as_str()).collect()
        };
        let mut text = cql::select(&self.keyspace, &self.table, &names);
        match &self.target {
            ScanTarget::Partitions(plan) => {
                let mut restrictions: Vec<String> = self
                    .partition_key
                    .iter()
                    .map(|c| format!("{} = ?", cql::quote_identifier(c)))
                    .collect();
                restrictions.extend(plan.slice.restrictions());
                restrictions.extend(self.index.restrictions());
                text.push_str(" WHERE ");
                text.push_str(&restrictions.join(" AND "));
            }
            ScanTarget::TokenRanges(_) => {
                let key = self
                    .partition_key
                    .iter()
                    .map(|c| cql::quote_identifier(c))
                    .collect::<Vec<_>>()
                    .join(", ");
                text.push_str(&format!(" WHERE token({key}) > ? AND token({key}) <= ?"));
                for restriction in self.index.restrictions() {
                    text.push_str(" AND ");
                    text.push_str(&restriction);
                }
            }
            ScanTarget::Table if !self.index.is_empty() => {
                text.push_str(" WHERE ");
                text.push_str(&self.index.restrictions().join(" AND "));
            }
            ScanTarget::Table => {}
        }
        if self.limit.is_some() {
            text.push_str(" LIMIT ?");
        }
        text
    }

    fn qualified_name(&self) -> String {
        format!("{}.{}", self.keyspace, self.table)
    }
}

/// Reads a Cassandra table with paged, prepared CQL.
#[derive(Debug, Clone)]
pub struct CassandraScanExec {
    connection: SharedConnection,
    spec: ScanSpec,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
    /// Output partitions; token ranges are dealt out among them.
    streams: usize,
    /// Partition reads this scan may do instead, with keys from a join.
    lookup: Option<Arc<LookupSpec>>,
    /// Dynamic filters that joins above pushed into this scan.
    dynamic_filters: Vec<Arc<dyn PhysicalExpr>>,
    /// Set when the scan waits for its statement's parameters: it is a
    /// template that [`Self::bind`] turns into the scan to run.
    template: Option<Arc<ScanTemplate>>,
}

impl CassandraScanExec {
    /// A scan of `spec` through `connection`, reading up to `parallelism`
    /// token ranges at once.
    pub fn new(connection: SharedConnection, spec: ScanSpec, parallelism: usize) -> Self {
        let streams = match &spec.target {
            ScanTarget::TokenRanges(ranges) => parallelism.clamp(1, ranges.len().max(1)),
            // Partitions are read several at a time too.
            ScanTarget::Partitions(plan) => parallelism.clamp(1, plan.keys.len().max(1)),
            ScanTarget::Table => 1,
        };
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(spec.schema.clone()),
            Partitioning::UnknownPartitioning(streams),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Self {
            connection,
            spec,
            properties,
            metrics: ExecutionPlanMetricsSet::new(),
            streams,
            lookup: None,
            dynamic_filters: Vec::new(),
            template: None,
        }
    }

    /// Makes this scan a template, to be bound before it runs.
    pub(crate) fn with_template(mut self, template: Arc<ScanTemplate>) -> Self {
        self.template = Some(template);
        self
    }

    /// Whether this scan waits for parameter values.
    pub fn is_template(&self) -> bool {
        self.template.is_some()
    }

    /// Whether this is a full scan by token range whose output partitions
    /// read disjoint ranges and can run apart from each other (no join
    /// supplies keys to it, and no parameters are missing).
    pub fn reads_token_ranges(&self) -> bool {
        matches!(self.spec.target, ScanTarget::TokenRanges(_))
            && self.template.is_none()
            && (self.lookup.is_none() || self.dynamic_filters.is_empty())
    }

    /// The scan to run for one execution of its statement: with `params` in
    /// place of its placeholders if it is a template, or a fresh copy of
    /// itself otherwise. `None` when the values change which filters go
    /// down to Cassandra; then the statement must be planned again with
    /// its values.
    pub async fn bind(&self, params: &ParamValues) -> Result<Option<Self>> {
        match &self.template {
            Some(template) => template.bind(params).await,
            None => {
                let mut fresh = self.clone();
                fresh.metrics = ExecutionPlanMetricsSet::new();
                Ok(Some(fresh))
            }
        }
    }

    /// Lets the scan read by key once a join supplies the open key columns.
    pub fn with_lookup(mut self, lookup: Option<LookupSpec>) -> Self {
        self.lookup = lookup.map(Arc::new);
        self
    }

    /// The bound values of each query output partition `partition` runs to
    /// read `target`.
    fn queries_of(&self, target: &ScanTarget, partition: usize) -> Vec<Vec<CqlValue>> {
        let index = self.spec.index.values();
        match target {
            ScanTarget::Partitions(plan) => {
                let slice = plan.slice.values();
                plan.keys
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| i % self.streams == partition)
                    .map(|(_, key)| key.iter().chain(&slice).chain(&index).cloned().collect())
                    .collect()
            }
            ScanTarget::TokenRanges(ranges) => ranges
                .iter()
                .enumerate()
                .filter(|(i, _)| i % self.streams == partition)
                .map(|(_, r)| {
                    [CqlValue::BigInt(r.start), CqlValue::BigInt(r.end)]
                        .into_iter()
                        .chain(index.iter().cloned())
                        .collect()
                })
                .collect(),
            ScanTarget::Table => vec![index],
        }
    }

    /// What this scan reads.
    pub fn spec(&self) -> &ScanSpec {
        &self.spec
    }
}

impl DisplayAs for CassandraScanExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match t {
            DisplayFormatType::Default | DisplayFormatType::Verbose => {
                if self.template.is_some() {
                    return write!(
                        f,
                        "CassandraScanExec: table={}, parameters not bound",
                        self.spec.qualified_name()
                    );
                }
                write!(f, "CassandraScanExec: cql=[{}]", self.spec.cql())?;
                match &self.spec.target {
                    ScanTarget::Partitions(plan) => write!(f, ", partitions={}", plan.keys.len())?,
                    ScanTarget::TokenRanges(ranges) => write!(
                        f,
                        ", partitions=all, token_ranges={}, streams={}",
                        ranges.len(),
                        self.streams
                    )?,
                    ScanTarget::Table => write!(f, ", partitions=all")?,
                }
                if let Some(limit) = self.spec.limit {
                    write!(f, ", limit={limit}")?;
                }
                write!(f, "{}", self.spec.request)?;
                if let (Some(lookup), false) = (&self.lookup, self.dynamic_filters.is_empty()) {
                    write!(
                        f,
                        ", lookup=[{}], join_filters={}",
                        lookup.describe(),
                        self.dynamic_filters.len()
                    )?;
                }
                Ok(())
            }
            DisplayFormatType::TreeRender => {
                writeln!(f, "table={}", self.spec.qualified_name())?;
                if let ScanTarget::Partitions(plan) = &self.spec.target {
                    writeln!(f, "partitions={}", plan.keys.len())?;
                }
                write!(f, "cql={}", self.spec.cql())
            }
        }
    }
}

impl ExecutionPlan for CassandraScanExec {
    fn name(&self) -> &'static str {
        "CassandraScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        // Joins publish their dynamic filter only when a consumer holds it.
        apply_expression_roots(self.dynamic_filters.iter(), f)
    }

    fn handle_child_pushdown_result(
        &self,
        _phase: FilterPushdownPhase,
        child_pushdown_result: ChildPushdownResult,
        _config: &ConfigOptions,
    ) -> Result<FilterPushdownPropagation<Arc<dyn ExecutionPlan>>> {
        // Filters are never applied here (DataFusion keeps evaluating them);
        // a join's dynamic filter is only kept to choose partitions to read.
        let filters = child_pushdown_result.parent_filters;
        let mut propagation = FilterPushdownPropagation::with_parent_pushdown_result(vec![
                PushedDown::No;
                filters.len()
            ]);
        if self.lookup.is_some() {
            let dynamic: Vec<Arc<dyn PhysicalExpr>> = filters
                .into_iter()
                .map(|f| f.filter)
                .filter(|f| f.downcast_ref::<DynamicFilterPhysicalExpr>().is_some())
                .collect();
            if !dynamic.is_empty() {
                let mut updated = self.clone();
                updated.metrics = ExecutionPlanMetricsSet::new();
                updated.dynamic_filters.extend(dynamic);
                let updated: Arc<dyn ExecutionPlan> = Arc::new(updated);
                propagation = propagation.with_updated_node(updated);
            }
        }
        Ok(propagation)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.is_empty() {
            Ok(self)
        } else {
            datafusion::common::internal_err!("CassandraScanExec has no children")
        }
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if self.template.is_some() {
            return Err(DataFusionError::Execution(format!(
                "the scan of {} needs the values of its statement's parameters",
                self.spec.qualified_name()
            )));
        }
        if partition >= self.streams {
            return datafusion::common::internal_err!(
                "CassandraScanExec has {} partitions, asked for {partition}",
                self.streams
            );
        }
        if self.lookup.is_some() && !self.dynamic_filters.is_empty() {
            // The join's keys are known only once its build side is done,
            // which is after this call and before the first poll.
            let exec = self.clone();
            let schema = self.spec.schema.clone();
            let stream =
                futures::stream::once(async move { exec.start(partition, true) }).try_flatten();
            return Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)));
        }
        self.start(partition, false)
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

impl CassandraScanExec {
    /// Starts reading output partition `partition`, by the keys a join
    /// published if `use_join_keys` and they are usable.
    fn start(&self, partition: usize, use_join_keys: bool) -> Result<SendableRecordBatchStream> {
        let mut spec = self.spec.clone();
        let join_keys = match (&self.lookup, use_join_keys) {
            (Some(lookup), true) => lookup.keys(&self.dynamic_filters, &self.spec.schema),
            _ => None,
        };
        if let Some(keys) = join_keys {
            spec.target = ScanTarget::Partitions(Box::new(KeyPlan {
                keys,
                ..KeyPlan::default()
            }));
        }
        let queries = self.queries_of(&spec.target, partition);
        let metrics = ScanMetrics::new(&self.metrics, partition);
        if matches!(spec.target, ScanTarget::Partitions(_)) {
            metrics.partition_reads.add(queries.len());
        }
        let schema = spec.schema.clone();
        let single_query = queries.len() <= 1 && !matches!(spec.target, ScanTarget::TokenRanges(_));
        // Partitions are read several at a time, each one's pages in order,
        // unless a limit asks for them one after another.
        let concurrent = matches!(spec.target, ScanTarget::Partitions(_))
            && spec.limit.is_none()
            && queries.len() > 1;
        let reader = PageReader {
            connection: self.connection.clone(),
            spec,
            queries: queries.into_iter(),
            metrics,
            state: None,
            remaining: None,
        };
        if single_query {
            // One partition (or one plain query): read in the caller's task,
            // which saves a task and a channel hop on every point query.
            return Ok(Box::pin(RecordBatchStreamAdapter::new(
                schema,
                reader.into_stream(),
            )));
        }
        // Many queries: a task reads ahead while the consumer works, with
        // two pages waiting at most (and a page per partition read in
        // flight), so a slow consumer slows the scan.
        let mut builder = RecordBatchReceiverStreamBuilder::new(schema, 2);
        let tx = builder.tx();
        let span = tracing::debug_span!("cassandra_scan", table = %reader.spec.qualified_name());
        builder.spawn(
            async move {
                let mut batches = if concurrent {
                    reader
                        .per_query()
                        .flatten_unordered(PARTITION_READS_IN_FLIGHT)
                        .boxed()
                } else {
                    reader.into_stream().boxed()
                };
                while let Some(batch) = batches.next().await {
                    let failed = batch.is_err();
                    // The receiver may be gone; then nobody is waiting.
                    if tx.send(batch).await.is_err() || failed {
                        break;
                    }
                }
                Ok(())
            }
            .instrument(span),
        );
        Ok(builder.build())
    }
}

#[derive(Clone)]
struct ScanMetrics {
    output_rows: Count,
    pages: Count,
    partition_reads: Count,
    remote_time: Time,
    decode_time: Time,
}

impl ScanMetrics {
    fn new(set: &ExecutionPlanMetricsSet, partition: usize) -> Self {
        Self {
            output_rows: MetricBuilder::new(set).output_rows(partition),
            pages: MetricBuilder::new(set).counter("pages", partition),
            partition_reads: MetricBuilder::new(set).counter("partition_reads", partition),
            remote_time: MetricBuilder::new(set).subset_time("remote_time", partition),
            decode_time: MetricBuilder::new(set).subset_time("decode_time", partition),
        }
    }
}

/// Partition reads one output stream of a scan has in flight at most.
const PARTITION_READS_IN_FLIGHT: usize = 16;

/// Reads the pages of a scan's queries one after another.
struct PageReader {
    connection: SharedConnection,
    spec: ScanSpec,
    /// The bound values of the queries still to start: a partition's key, a
    /// token range, or nothing; `LIMIT ?` is added last when set.
    queries: std::vec::IntoIter<Vec<CqlValue>>,
    metrics: ScanMetrics,
    /// Set once the statement is prepared.
    state: Option<ReaderState>,
    /// Rows still wanted under the scan's limit.
    remaining: Option<usize>,
}

struct ReaderState {
    session: Arc<Session>,
    prepared: PreparedStatement,
    decoders: Vec<ColumnDecoder>,
    /// The query being paged through: its statement, values and next page.
    current: Option<(PreparedStatement, Vec<CqlValue>, PagingState)>,
}

impl PageReader {
    /// A reader of each query on its own, in order.
    fn per_query(
        self,
    ) -> impl futures::Stream<
        Item = std::pin::Pin<Box<dyn futures::Stream<Item = Result<RecordBatch>> + Send>>,
    > + Send {
        let Self {
            connection,
            spec,
            queries,
            metrics,
            ..
        } = self;
        futures::stream::iter(queries.map(move |query| {
            let reader = PageReader {
                connection: connection.clone(),
                spec: spec.clone(),
                queries: vec![query].into_iter(),
                metrics: metrics.clone(),
                state: None,
                remaining: None,
            };
            reader.into_stream().boxed()
        }))
    }

    fn into_stream(self) -> impl futures::Stream<Item = Result<RecordBatch>> + Send {
        futures::stream::try_unfold(self, |mut reader| async move {
            Ok(reader.next_batch().await?.map(|batch| (batch, reader)))
        })
    }

    async fn open(&mut self) -> Result<ReaderState> {
        let table = self.spec.qualified_name();
        let session = self.connection.session().await?;
        let mut prepared = self.connection.prepare(&table, &self.spec.cql()).await?;
        self.spec.request.apply(&mut prepared);
        let types = self.connection.options().types;
        let decoders = self
            .spec
            .columns
            .iter()
            .map(|c| ColumnDecoder::try_new(&c.cql_type, types))
            .collect::<Result<Vec<_>, Error>>()?;
        self.remaining = self.spec.limit;
        Ok(ReaderState {
            session,
            prepared,
            decoders,
            current: None,
        })
    }

    /// The next non-empty batch, or `None` when every query is read.
    async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        if self.state.is_none() {
            self.state = Some(self.open().await?);
        }
        let Some(state) = self.state.as_mut() else {
            return Ok(None);
        };
        loop {
            if self.remaining == Some(0) {
                return Ok(None);
            }
            let (statement, values, paging) = match state.current.take() {
                Some(current) => current,
                None => {
                    let Some(mut values) = self.queries.next() else {
                        return Ok(None);
                    };
                    // A token range goes to a replica that owns it.
                    let mut statement = state.prepared.clone();
                    if let (ScanTarget::TokenRanges(_), Some(CqlValue::BigInt(end))) =
                        (&self.spec.target, values.get(1))
                    {
                        statement.set_load_balancing_policy(Some(
                            self.connection.token_range_routing(
                                &self.spec.keyspace,
                                &self.spec.table,
                                *end,
                            ),
                        ));
                    }
                    if let Some(left) = self.remaining {
                        values.push(CqlValue::Int(i32::try_from(left).unwrap_or(i32::MAX)));
                    }
                    (statement, values, PagingState::start())
                }
            };
            let started = Instant::now();
            let (result, next) = state
                .session
                .execute_single_page(&statement, &values, paging)
                .await
                .map_err(|e| Error::request(&self.spec.qualified_name(), &e))?;
            self.metrics.remote_time.add_elapsed(started);
            self.metrics.pages.add(1);
            if let PagingStateResponse::HasMorePages { state: next } = next {
                state.current = Some((statement, values, next));
            }

            let rows = result
                .into_rows_result()
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            let decode_started = Instant::now();
            let batch = decode_page(&self.spec, &rows, &mut state.decoders, self.remaining)?;
            self.metrics.decode_time.add_elapsed(decode_started);
            self.metrics.output_rows.add(batch.num_rows());
            if let Some(left) = self.remaining.as_mut() {
                *left = left.saturating_sub(batch.num_rows());
            }
            if batch.num_rows() > 0 {
                return Ok(Some(batch));
            }
        }
    }
}

fn decode_page(
    spec: &ScanSpec,
    rows: &scylla::response::query_result::QueryRowsResult,
    decoders: &mut [ColumnDecoder],
    remaining: Option<usize>,
) -> Result<RecordBatch> {
    let iter = rows
        .rows::<ColumnIterator<'_, '_>>()
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    let mut count = 0usize;
    for row in iter {
        if remaining.is_some_and(|left| count >= left) {
            break;
        }
        let row = row.map_err(|e| DataFusionError::External(Box::new(e)))?;
        if !decoders.is_empty() {
            for (column, decoder) in row.zip(decoders.iter_mut()) {
                let column = column.map_err(|e| DataFusionError::External(Box::new(e)))?;
                let cell = column.slice.map(|s| s.as_slice());
                decoder.append(cell).map_err(|e| Error::Decode {
                    table: spec.qualified_name(),
                    column: column.spec.name().to_string(),
                    reason: e.to_string(),
                })?;
            }
        }
        count += 1;
    }
    let arrays = decoders
        .iter_mut()
        .map(ColumnDecoder::finish)
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(RecordBatch::try_new_with_options(
        spec.schema.clone(),
        arrays,
        &RecordBatchOptions::new().with_row_count(Some(count)),
    )?)
}
