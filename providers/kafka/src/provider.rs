//! A Kafka topic as a DataFusion [`TableProvider`].

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{FieldRef, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::SchemaExt;
use datafusion::datasource::sink::DataSinkExec;
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use datafusion::physical_plan::ExecutionPlan;
use futures::Stream;

use crate::avro::{self, AvroReader};
use crate::connection::SharedKafka;
use crate::error::Error;
use crate::exec::{spawn_reader, KafkaScanExec, KafkaScanSpec, ReadBatch, ScanMetrics, ScanMode};
use crate::json::JsonLayout;
use crate::options::{Format, KafkaTableOptions, Partitioner};
use crate::pushdown::{self, PartitionRange};
use crate::schema::table_schema;
use crate::session_options::{KafkaSessionOptions, StreamFrom};
use crate::sink::KafkaDataSink;

/// A topic read as a table: each query reads a snapshot, from the start of
/// each partition (or the pushed-down offsets) up to the end offsets taken
/// when the query is planned.
#[derive(Debug)]
pub struct KafkaTableProvider {
    kafka: SharedKafka,
    name: String,
    topic: String,
    declared: usize,
    schema: SchemaRef,
    options: KafkaTableOptions,
    /// The writer schema of plain Avro messages.
    avro_schema: Option<String>,
    parallelism: usize,
}

impl KafkaTableProvider {
    /// The table over `topic` with the `declared` value columns, read
    /// `parallelism` partitions at a time.
    pub fn try_new(
        kafka: SharedKafka,
        topic: &str,
        declared: &[FieldRef],
        options: KafkaTableOptions,
        parallelism: usize,
    ) -> Result<Self, Error> {
        let schema = table_schema(declared, &options)?;
        // What the format needs is checked now, when the table is declared.
        let avro_schema = match options.format {
            Format::Avro => {
                let json = avro::writer_schema(&options.avro, declared)?;
                AvroReader::try_new(
                    Arc::new(Schema::new(declared.to_vec())),
                    &options.avro,
                    Some(&json),
                    kafka.schema_registry(),
                )?;
                Some(json)
            }
            Format::Json => {
                JsonLayout::try_new(declared, &options.json_paths)?;
                None
            }
            Format::Csv | Format::Raw => None,
        };
        Ok(Self {
            kafka,
            name: topic.to_string(),
            topic: topic.to_string(),
            declared: declared.len(),
            schema,
            options,
            avro_schema,
            parallelism,
        })
    }

    /// Names the table in errors and in `system.kafka_decode_errors`.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The offsets a scan with `filters` reads, given the partitions'
    /// `watermarks`: see [`pushdown`] for what each filter does. A stream
    /// reads on past the high watermarks, from them if `from_latest` and no
    /// filter sets a lower bound.
    async fn ranges(
        &self,
        watermarks: &[(i32, i64, i64)],
        filters: &[Expr],
        mode: ScanMode,
        from_latest: bool,
    ) -> Result<Vec<PartitionRange>> {
        let keyed = self.options.partitioner == Partitioner::Murmur2;
        let mut ranges = match mode {
            ScanMode::Bounded => pushdown::ranges(watermarks, filters, keyed),
            ScanMode::Streaming => {
                let start_latest = from_latest && !pushdown::has_lower_bound(filters);
                let open: Vec<(i32, i64, i64)> = watermarks
                    .iter()
                    .map(|&(p, low, high)| (p, if start_latest { high } else { low }, i64::MAX))
                    .collect();
                pushdown::ranges(&open, filters, keyed)
            }
        };
        let Some(bounds) = pushdown::time_bounds(filters) else {
            return Ok(ranges);
        };
        let partitions: Vec<i32> = ranges
            .iter()
            .filter(|r| !r.is_empty())
            .map(|r| r.partition)
            .collect();
        if partitions.is_empty() {
            return Ok(ranges);
        }
        // Record times are never negative; an earlier bound narrows nothing.
        if bounds.from > 0 {
            let starts = self
                .kafka
                .offsets_for_times(&self.topic, &partitions, bounds.from)
                .await?;
            for (partition, start) in starts {
                if let Some(range) = ranges.iter_mut().find(|r| r.partition == partition) {
                    range.start = start.map_or(range.end, |s| range.start.max(s));
                }
            }
        }
        if mode == ScanMode::Bounded
            && bounds.to < i64::MAX
            && self.kafka.broker_stamped(&self.topic).await?
        {
            let ends = self
                .kafka
                .offsets_for_times(&self.topic, &partitions, bounds.to.max(0))
                .await?;
            for (partition, end) in ends {
                if let (Some(range), Some(end)) =
                    (ranges.iter_mut().find(|r| r.partition == partition), end)
                {
                    range.end = range.end.min(end);
                }
            }
        }
        for range in &mut ranges {
            range.end = range.end.max(range.start);
        }
        Ok(ranges)
    }
}

#[async_trait]
impl TableProvider for KafkaTableProvider {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(pushdown::classify(filters))
    }

    async fn insert_into(
        &self,
        _state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if insert_op != InsertOp::Append {
            return Err(Error::Columns(format!(
                "{insert_op} is not supported for Kafka topic '{}': a topic is only appended to",
                self.topic
            ))
            .into());
        }
        self.schema
            .logically_equivalent_names_and_types(&input.schema())?;
        let sink = KafkaDataSink::new(
            self.kafka.clone(),
            &self.topic,
            self.schema.clone(),
            self.declared,
            self.options.clone(),
            self.avro_schema.clone(),
        )?;
        Ok(Arc::new(DataSinkExec::new(input, Arc::new(sink), None)))
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let session = state
            .config_options()
            .extensions
            .get::<KafkaSessionOptions>()
            .cloned()
            .unwrap_or_default();
        let mode = match self.options.streaming || session.streaming {
            true => ScanMode::Streaming,
            false => ScanMode::Bounded,
        };
        let from_latest = session
            .stream_from()
            .map_err(DataFusionError::Configuration)?
            == StreamFrom::Latest;
        let watermarks = self.kafka.watermarks(&self.topic).await?;
        let ranges = self.ranges(&watermarks, filters, mode, from_latest).await?;
        let projection = projection
            .cloned()
            .unwrap_or_else(|| (0..self.schema.fields().len()).collect());
        let spec = self.spec(projection, ranges, limit, mode);
        Ok(Arc::new(KafkaScanExec::try_new(
            self.kafka.clone(),
            spec,
            self.parallelism,
        )?))
    }
}

/// Where [`KafkaTableProvider::stream`] starts in each partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamStart {
    /// At the first message kept.
    Earliest,
    /// After the last message there is now.
    Latest,
    /// At these offsets, by partition; partitions not named start at the
    /// first message kept.
    Offsets(BTreeMap<i32, i64>),
    /// At the offsets this consumer group committed; partitions without a
    /// committed offset start at the first message kept.
    Group(String),
    /// Only the partitions named, each at its offset (or at its first
    /// message kept, if that is later).
    Only(BTreeMap<i32, i64>),
}

/// Batches of a stream with where each partition's reading stands after
/// each; see [`KafkaTableProvider::stream`].
pub struct KafkaStream {
    schema: SchemaRef,
    batches: Pin<Box<dyn Stream<Item = Result<ReadBatch>> + Send>>,
}

impl KafkaStream {
    /// The schema of the batches.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

impl std::fmt::Debug for KafkaStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaStream")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl Stream for KafkaStream {
    type Item = Result<ReadBatch>;

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.batches.as_mut().poll_next(cx)
    }
}

impl KafkaTableProvider {
    fn spec(
        &self,
        projection: Vec<usize>,
        ranges: Vec<PartitionRange>,
        limit: Option<usize>,
        mode: ScanMode,
    ) -> KafkaScanSpec {
        KafkaScanSpec {
            table: self.name.clone(),
            topic: self.topic.clone(),
            table_schema: self.schema.clone(),
            declared: self.declared,
            projection,
            options: self.options.clone(),
            avro_schema: self.avro_schema.clone(),
            ranges,
            limit,
            mode,
        }
    }

    /// Streams the partitions of the topic (every one, unless `start` names
    /// some) from `start` on, with one reader: each item is a batch of the `projection`ed columns (all when
    /// `None`) with the offset to read next in each partition, so a
    /// consumer that stores those offsets with what it made of the batch can
    /// start again exactly there. Batches may be empty when only messages
    /// that were left out arrived. The stream ends only with an error or
    /// when dropped.
    pub async fn stream(
        &self,
        projection: Option<Vec<usize>>,
        start: StreamStart,
    ) -> Result<KafkaStream> {
        let watermarks = self.kafka.watermarks(&self.topic).await?;
        let committed = match &start {
            StreamStart::Group(group) => self.kafka.committed(group, &self.topic).await?,
            _ => BTreeMap::new(),
        };
        let ranges = watermarks
            .iter()
            .filter(|(partition, _, _)| match &start {
                StreamStart::Only(offsets) => offsets.contains_key(partition),
                _ => true,
            })
            .map(|&(partition, low, high)| {
                let start = match &start {
                    StreamStart::Earliest => low,
                    StreamStart::Latest => high,
                    StreamStart::Offsets(offsets) | StreamStart::Only(offsets) => {
                        offsets.get(&partition).copied().unwrap_or(low)
                    }
                    StreamStart::Group(_) => committed.get(&partition).copied().unwrap_or(low),
                };
                PartitionRange {
                    partition,
                    start: start.max(low),
                    end: i64::MAX,
                }
            })
            .collect::<Vec<_>>();
        let projection = projection.unwrap_or_else(|| (0..self.schema.fields().len()).collect());
        let schema = Arc::new(self.schema.project(&projection)?);
        let spec = Arc::new(self.spec(projection, ranges.clone(), None, ScanMode::Streaming));
        let metrics = ExecutionPlanMetricsSet::new();
        let batches = spawn_reader(
            self.kafka.clone(),
            spec,
            schema.clone(),
            ranges,
            ScanMetrics::new(&metrics, 0),
        );
        Ok(KafkaStream {
            schema,
            batches: Box::pin(batches),
        })
    }
}
