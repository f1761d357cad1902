//! Scans of a topic, decoded into Arrow batches.
//!
//! A bounded scan reads each partition from its start offset up to the end
//! offset taken when the query was planned. A streaming scan reads from its
//! start offsets on and never ends by itself: it hands on what has arrived
//! whenever a partition is caught up, and stops when its reader goes away
//! (or a limit is reached).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{
    ArrayRef, BinaryBuilder, Int32Builder, Int64Builder, MapBuilder, MapFieldNames, RecordBatch,
    RecordBatchOptions, StringBuilder, TimestampMillisecondBuilder,
};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{
    Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};
use futures::{Stream, StreamExt};
use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

use crate::connection::{Reader, ReaderContext, SharedKafka};
use crate::decode::ValueDecoder;
use crate::error::Error;
use crate::options::{KafkaTableOptions, KeyFormat};
use crate::pushdown::PartitionRange;

/// Messages decoded into one batch at most.
const BATCH_MESSAGES: usize = 8192;

/// How long a scan waits for Kafka without getting anything before it fails.
const STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest a stream holds a message back while gathering a batch of
/// [`BATCH_MESSAGES`]: under a steady flow that never fills one quickly, a
/// batch is handed on at least this often.
const STREAM_LINGER: Duration = Duration::from_millis(50);

/// Whether a scan ends at the offsets taken when it was planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScanMode {
    /// Up to the end offsets taken when planned: a snapshot.
    #[default]
    Bounded,
    /// On and on, as messages arrive.
    Streaming,
}

/// One batch a scan read, with where the reading of each partition stands
/// after it: the offset to read next. Messages that were left out (skipped
/// or dead-lettered) count as read.
#[derive(Debug, Clone)]
pub struct ReadBatch {
    /// The rows.
    pub batch: RecordBatch,
    /// For each partition read so far, the offset after the last message
    /// read. Only streaming scans keep them; a bounded scan's are empty.
    pub ends: BTreeMap<i32, i64>,
    /// The partitions whose every message has been read, as of when the
    /// reader last reached their end (Kafka tells it so). Only streaming
    /// scans keep them.
    pub at_end: BTreeSet<i32>,
}

/// What one scan reads.
#[derive(Debug, Clone)]
pub struct KafkaScanSpec {
    /// The table's qualified name, for errors and counts.
    pub table: String,
    /// The topic.
    pub topic: String,
    /// The table's whole schema (declared columns, then metadata).
    pub table_schema: SchemaRef,
    /// How many of its columns are declared (decoded from the value).
    pub declared: usize,
    /// The columns returned, as indices into `table_schema`.
    pub projection: Vec<usize>,
    /// The table's options.
    pub options: KafkaTableOptions,
    /// The writer schema of plain Avro messages, as JSON.
    pub avro_schema: Option<String>,
    /// The offsets read in each partition.
    pub ranges: Vec<PartitionRange>,
    /// Each output stream stops after this many rows.
    pub limit: Option<usize>,
    /// Whether the scan ends.
    pub mode: ScanMode,
}

/// Reads Kafka partitions between fixed offsets.
#[derive(Debug)]
pub struct KafkaScanExec {
    kafka: SharedKafka,
    spec: Arc<KafkaScanSpec>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
    /// The ranges of each output stream.
    streams: Vec<Vec<PartitionRange>>,
}

impl KafkaScanExec {
    /// A scan of `spec`, reading up to `parallelism` partitions at once.
    pub fn try_new(kafka: SharedKafka, spec: KafkaScanSpec, parallelism: usize) -> Result<Self> {
        let schema = Arc::new(spec.table_schema.project(&spec.projection)?);
        let reading: Vec<PartitionRange> = spec
            .ranges
            .iter()
            .copied()
            .filter(|r| !r.is_empty())
            .collect();
        let count = parallelism.clamp(1, reading.len().max(1));
        let streams = balance(reading, count);
        let boundedness = match spec.mode {
            ScanMode::Bounded => Boundedness::Bounded,
            ScanMode::Streaming => Boundedness::Unbounded {
                requires_infinite_memory: false,
            },
        };
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            Partitioning::UnknownPartitioning(count),
            EmissionType::Incremental,
            boundedness,
        ));
        Ok(Self {
            kafka,
            spec: Arc::new(spec),
            schema,
            properties,
            metrics: ExecutionPlanMetricsSet::new(),
            streams,
        })
    }

    /// What this scan reads.
    pub fn spec(&self) -> &KafkaScanSpec {
        &self.spec
    }
}

impl DisplayAs for KafkaScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ranges: Vec<String> = self
            .spec
            .ranges
            .iter()
            .map(|r| match r.end {
                i64::MAX => format!("{}:[{}, ..)", r.partition, r.start),
                end => format!("{}:[{}, {end})", r.partition, r.start),
            })
            .collect();
        write!(
            f,
            "KafkaScanExec: topic={}, format={}, offsets=[{}]",
            self.spec.topic,
            self.spec.options.format,
            ranges.join(", ")
        )?;
        if self.spec.mode == ScanMode::Streaming {
            write!(f, ", streaming")?;
        }
        if let Some(limit) = self.spec.limit {
            write!(f, ", limit={limit}")?;
        }
        Ok(())
    }
}

impl ExecutionPlan for KafkaScanExec {
    fn name(&self) -> &'static str {
        "KafkaScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.is_empty() {
            Ok(self)
        } else {
            datafusion::common::internal_err!("KafkaScanExec has no children")
        }
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let Some(ranges) = self.streams.get(partition).cloned() else {
            return datafusion::common::internal_err!(
                "KafkaScanExec has {} partitions, asked for {partition}",
                self.streams.len()
            );
        };
        let batches = spawn_reader(
            self.kafka.clone(),
            self.spec.clone(),
            self.schema.clone(),
            ranges,
            ScanMetrics::new(&self.metrics, partition),
        )
        .map(|read| read.map(|read| read.batch));
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            batches,
        )))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// `ranges` dealt out to `count` streams, longest first to the stream with
/// the fewest offsets so far, so that no stream reads much more than the
/// others (a scan ends with its slowest stream).
fn balance(mut ranges: Vec<PartitionRange>, count: usize) -> Vec<Vec<PartitionRange>> {
    ranges.sort_by_key(|r| (std::cmp::Reverse(r.len()), r.partition));
    let mut streams: Vec<(i64, Vec<PartitionRange>)> = vec![(0, Vec::new()); count];
    for range in ranges {
        if let Some(least) = streams.iter_mut().min_by_key(|(load, _)| *load) {
            least.0 = least.0.saturating_add(range.len());
            least.1.push(range);
        }
    }
    streams.into_iter().map(|(_, ranges)| ranges).collect()
}

/// Reads `ranges` on a blocking thread, two batches ahead of the consumer at
/// most. The thread stops soon after the stream is dropped; a failure, or a
/// panic, of the thread ends the stream with an error.
pub(crate) fn spawn_reader(
    kafka: SharedKafka,
    spec: Arc<KafkaScanSpec>,
    schema: SchemaRef,
    ranges: Vec<PartitionRange>,
    metrics: ScanMetrics,
) -> impl Stream<Item = Result<ReadBatch>> + Send + 'static {
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    let reader = tokio::task::spawn_blocking(move || {
        if let Err(err) = read(&kafka, &spec, schema, &ranges, &metrics, &tx) {
            // Nobody may be listening any more; then nobody needs it.
            let _ = tx.blocking_send(Err(err));
        }
    });
    let batches = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let outcome = futures::stream::once(async move {
        match reader.await {
            Ok(()) => None,
            Err(e) => Some(Err(DataFusionError::External(Box::new(Error::Stopped(
                format!("a Kafka reader stopped: {e}"),
            ))))),
        }
    })
    .filter_map(futures::future::ready);
    batches.chain(outcome)
}

pub(crate) struct ScanMetrics {
    output_rows: Count,
    messages: Count,
    skipped: Count,
}

impl ScanMetrics {
    pub(crate) fn new(set: &ExecutionPlanMetricsSet, partition: usize) -> Self {
        Self {
            output_rows: MetricBuilder::new(set).output_rows(partition),
            messages: MetricBuilder::new(set).counter("messages", partition),
            skipped: MetricBuilder::new(set).counter("skipped_messages", partition),
        }
    }
}

/// Reads `ranges` with one consumer, sending batches to `tx` until every
/// range is done, the limit is reached, or the receiver goes away.
fn read(
    kafka: &SharedKafka,
    spec: &KafkaScanSpec,
    schema: SchemaRef,
    ranges: &[PartitionRange],
    metrics: &ScanMetrics,
    tx: &tokio::sync::mpsc::Sender<Result<ReadBatch>>,
) -> Result<()> {
    if ranges.is_empty() {
        return Ok(());
    }
    let streaming = spec.mode == ScanMode::Streaming;
    let consumer: Reader = kafka
        .consumer_config()
        .create_with_context(ReaderContext)
        .map_err(|e| Error::kafka("creating a consumer", e))?;
    let mut assignment = TopicPartitionList::new();
    for range in ranges {
        assignment
            .add_partition_offset(&spec.topic, range.partition, Offset::Offset(range.start))
            .map_err(|e| Error::kafka("assigning partitions", e))?;
    }
    consumer
        .assign(&assignment)
        .map_err(|e| Error::kafka(format!("reading topic '{}'", spec.topic), e))?;

    // Partitions still being read, with their end offsets.
    let mut open: HashMap<i32, i64> = ranges.iter().map(|r| (r.partition, r.end)).collect();
    let mut output = Output {
        spec,
        schema,
        decoder: ValueDecoder::try_new(spec, kafka)?,
        remaining: spec.limit,
        metrics,
        tx,
        ends: BTreeMap::new(),
        at_end: BTreeSet::new(),
        sent_at_end: BTreeSet::new(),
    };
    let mut pending: Vec<BorrowedMessage<'_>> = Vec::with_capacity(BATCH_MESSAGES);
    let mut heard = Instant::now();
    // When the oldest message of `pending` arrived.
    let mut pending_since = Instant::now();
    while !open.is_empty() && output.remaining != Some(0) {
        if tx.is_closed() {
            return Ok(());
        }
        let polled = consumer.poll(Duration::from_millis(100));
        if polled.is_some() {
            heard = Instant::now();
        } else if streaming {
            // Nothing new: hand on what has arrived.
            if !output.emit(&mut pending)? {
                return Ok(());
            }
            continue;
        } else if heard.elapsed() > STALL_TIMEOUT {
            return Err(Error::Stopped(format!(
                "Kafka sent nothing for {}s while topic '{}' was being read",
                STALL_TIMEOUT.as_secs(),
                spec.topic
            ))
            .into());
        }
        let message = match polled {
            None => continue,
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                if !streaming {
                    close(&consumer, &spec.topic, partition, &mut open);
                } else {
                    output.at_end.insert(partition);
                    if !output.emit(&mut pending)? {
                        return Ok(());
                    }
                }
                continue;
            }
            Some(Err(e)) => {
                return Err(Error::kafka(format!("reading topic '{}'", spec.topic), e).into())
            }
            Some(Ok(message)) => message,
        };
        let partition = message.partition();
        let Some(&end) = open.get(&partition) else {
            continue; // fetched before its partition was closed
        };
        if message.offset() >= end {
            close(&consumer, &spec.topic, partition, &mut open);
            continue;
        }
        if message.offset() + 1 >= end {
            close(&consumer, &spec.topic, partition, &mut open);
        }
        output.at_end.remove(&partition);
        if pending.is_empty() {
            pending_since = Instant::now();
        }
        pending.push(message);
        let lingered = streaming && pending_since.elapsed() >= STREAM_LINGER;
        if (output.is_full(&pending) || lingered) && !output.emit(&mut pending)? {
            return Ok(());
        }
    }
    output.emit(&mut pending)?;
    Ok(())
}

/// Stops reading `partition`.
fn close(consumer: &Reader, topic: &str, partition: i32, open: &mut HashMap<i32, i64>) {
    if open.remove(&partition).is_some() {
        let mut list = TopicPartitionList::new();
        list.add_partition(topic, partition);
        // Pausing only saves fetching what is not needed; messages that
        // still arrive for the partition are dropped.
        let _ = consumer.pause(&list);
    }
}

/// Where decoded batches go, and how many rows may still go there.
struct Output<'a> {
    spec: &'a KafkaScanSpec,
    /// The projected schema of the batches.
    schema: SchemaRef,
    decoder: ValueDecoder,
    remaining: Option<usize>,
    metrics: &'a ScanMetrics,
    tx: &'a tokio::sync::mpsc::Sender<Result<ReadBatch>>,
    /// Where each partition's reading stands.
    ends: BTreeMap<i32, i64>,
    /// The partitions read to their end (see [`ReadBatch::at_end`]), now
    /// and as last sent.
    at_end: BTreeSet<i32>,
    sent_at_end: BTreeSet<i32>,
}

impl Output<'_> {
    /// Whether `pending` holds a batch's worth of messages.
    fn is_full(&self, pending: &[BorrowedMessage<'_>]) -> bool {
        pending.len() >= BATCH_MESSAGES || self.remaining.is_some_and(|left| pending.len() >= left)
    }

    /// Decodes and sends the pending messages; `false` once the receiver
    /// has gone away.
    fn emit(&mut self, pending: &mut Vec<BorrowedMessage<'_>>) -> Result<bool> {
        let streaming = self.spec.mode == ScanMode::Streaming;
        if pending.is_empty() {
            // A stream says so when it reaches the end of a partition, even
            // with nothing new to hand on.
            if !streaming || self.at_end == self.sent_at_end {
                return Ok(true);
            }
            return Ok(self.send(RecordBatch::new_empty(self.schema.clone())));
        }
        self.metrics.messages.add(pending.len());
        if streaming {
            for message in pending.iter() {
                self.ends.insert(message.partition(), message.offset() + 1);
            }
        }
        let (values, kept) = self.decoder.decode(pending)?;
        self.metrics.skipped.add(pending.len() - kept.len());
        let mut batch = assemble(self.spec, &self.schema, values, pending, &kept)?;
        pending.clear();
        if let Some(left) = self.remaining.as_mut() {
            if batch.num_rows() > *left {
                batch = batch.slice(0, *left);
            }
            *left -= batch.num_rows();
        }
        self.metrics.output_rows.add(batch.num_rows());
        // A stream hands on empty batches too: they move its ends on.
        if batch.num_rows() == 0 && !streaming {
            return Ok(true);
        }
        Ok(self.send(batch))
    }

    /// Sends `batch` with where the reading stands; `false` once the
    /// receiver has gone away.
    fn send(&mut self, batch: RecordBatch) -> bool {
        self.sent_at_end.clone_from(&self.at_end);
        let read = ReadBatch {
            batch,
            ends: self.ends.clone(),
            at_end: self.at_end.clone(),
        };
        self.tx.blocking_send(Ok(read)).is_ok()
    }
}

/// The projected batch: decoded values (one row per kept message), then the
/// metadata of the kept messages.
fn assemble(
    spec: &KafkaScanSpec,
    schema: &SchemaRef,
    values: Vec<ArrayRef>,
    messages: &[BorrowedMessage<'_>],
    kept: &[usize],
) -> Result<RecordBatch> {
    let mut metadata: HashMap<usize, ArrayRef> = HashMap::new();
    for &column in spec.projection.iter().filter(|c| **c >= spec.declared) {
        let kept_messages = kept.iter().map(|&i| &messages[i]);
        let array: ArrayRef = match column - spec.declared {
            0 => {
                let mut b = Int32Builder::with_capacity(kept.len());
                kept_messages.for_each(|m| b.append_value(m.partition()));
                Arc::new(b.finish())
            }
            1 => {
                let mut b = Int64Builder::with_capacity(kept.len());
                kept_messages.for_each(|m| b.append_value(m.offset()));
                Arc::new(b.finish())
            }
            2 => {
                let mut b = TimestampMillisecondBuilder::with_capacity(kept.len());
                kept_messages.for_each(|m| b.append_option(m.timestamp().to_millis()));
                Arc::new(b.finish().with_timezone("UTC"))
            }
            3 => match spec.options.key_format {
                KeyFormat::Bytes => {
                    let mut b = BinaryBuilder::new();
                    kept_messages.for_each(|m| b.append_option(m.key()));
                    Arc::new(b.finish())
                }
                KeyFormat::Text => {
                    let mut b = StringBuilder::new();
                    for m in kept_messages {
                        match m.key().map(std::str::from_utf8) {
                            None => b.append_null(),
                            Some(Ok(text)) => b.append_value(text),
                            Some(Err(_)) => {
                                return Err(Error::Decode {
                                    topic: spec.topic.clone(),
                                    partition: m.partition(),
                                    offset: m.offset(),
                                    reason: "the key is not UTF-8 text; declare the table \
                                             with 'key.format' 'bytes' to read it"
                                        .into(),
                                }
                                .into())
                            }
                        }
                    }
                    Arc::new(b.finish())
                }
            },
            _ => {
                let names = MapFieldNames {
                    entry: "entries".into(),
                    key: "key".into(),
                    value: "value".into(),
                };
                let mut b =
                    MapBuilder::new(Some(names), StringBuilder::new(), BinaryBuilder::new());
                for m in kept_messages {
                    match m.headers() {
                        None => b.append(false)?,
                        Some(headers) => {
                            for header in headers.iter() {
                                b.keys().append_value(header.key);
                                b.values().append_option(header.value);
                            }
                            b.append(true)?;
                        }
                    }
                }
                Arc::new(b.finish())
            }
        };
        metadata.insert(column, array);
    }
    let mut values = values.into_iter().map(Some).collect::<Vec<_>>();
    let columns = spec
        .projection
        .iter()
        .map(|&c| {
            if c < spec.declared {
                values[c]
                    .take()
                    .ok_or_else(|| DataFusionError::Internal(format!("column {c} projected twice")))
            } else {
                metadata
                    .remove(&c)
                    .ok_or_else(|| DataFusionError::Internal(format!("column {c} projected twice")))
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new_with_options(
        schema.clone(),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(kept.len())),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_get_about_the_same_number_of_offsets() {
        let range = |partition, end| PartitionRange {
            partition,
            start: 0,
            end,
        };
        let streams = balance(
            vec![range(0, 10), range(1, 100), range(2, 60), range(3, 50)],
            2,
        );
        let loads: Vec<i64> = streams
            .iter()
            .map(|s| s.iter().map(PartitionRange::len).sum())
            .collect();
        assert_eq!(loads, vec![110, 110]);
        assert_eq!(balance(vec![range(0, 5)], 1)[0], vec![range(0, 5)]);
    }
}
