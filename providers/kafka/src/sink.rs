//! `INSERT INTO` a Kafka table: each row becomes one message.
//!
//! The value is the row's declared columns in the table's format. The
//! metadata columns, when the statement gives them, set the rest: `_key`
//! the key (else the column named by the `key` option, as text), `_partition`
//! the partition (else the producer's partitioner picks it from the key),
//! `_timestamp` the record time (else the `timestamp.column` option's
//! column, else the time of sending) and `_headers` the headers. `_offset`
//! is Kafka's to assign.
//!
//! Messages go through an idempotent producer with `acks=all`, so a retried
//! send is never written twice, and the statement reports its row count only
//! once every message is acknowledged. When one is refused the statement
//! fails: the messages acknowledged before it stay in the topic (Kafka has
//! no rollback outside transactions).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, FixedSizeBinaryArray, MapArray, RecordBatch, StringArray,
};
use datafusion::arrow::compute::{cast, CastOptions};
use datafusion::arrow::datatypes::{DataType, FieldRef, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::json::LineDelimitedWriter;
use datafusion::arrow::util::display::FormatOptions;
use datafusion::datasource::sink::DataSink;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::metrics::{
    Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet,
};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType};
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

use arrow_avro::schema::{FingerprintStrategy, SCHEMA_METADATA_KEY};
use arrow_avro::writer::format::{AvroBinaryFormat, AvroSoeFormat};
use arrow_avro::writer::WriterBuilder;

use crate::connection::SharedKafka;
use crate::decode::{as_text_field, is_uuid};
use crate::error::Error;
use crate::json::JsonLayout;
use crate::options::{Format, KafkaTableOptions};
use crate::schema::{HEADERS, KEY, OFFSET, PARTITION, TIMESTAMP};

/// Messages sent and not yet acknowledged, at most.
const IN_FLIGHT: usize = 10_000;

/// How long one message may wait for its acknowledgement, retries included.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(60);

/// Writes rows of one Kafka table as messages.
#[derive(Debug)]
pub struct KafkaDataSink {
    kafka: SharedKafka,
    topic: String,
    schema: SchemaRef,
    declared: usize,
    options: KafkaTableOptions,
    /// The writer schema of Avro values, as JSON.
    avro_schema: Option<String>,
    /// Where JSON values put each declared column.
    json: Option<JsonLayout>,
    metrics: ExecutionPlanMetricsSet,
}

impl KafkaDataSink {
    /// A sink for `topic`, whose table has `schema` (the `declared` value
    /// columns, then the metadata columns).
    pub fn new(
        kafka: SharedKafka,
        topic: &str,
        schema: SchemaRef,
        declared: usize,
        options: KafkaTableOptions,
        avro_schema: Option<String>,
    ) -> Result<Self, Error> {
        let json = match options.format {
            Format::Json => {
                let text: Vec<FieldRef> = schema
                    .fields()
                    .iter()
                    .take(declared)
                    .map(as_text_field)
                    .collect();
                Some(JsonLayout::try_new(&text, &options.json_paths)?)
            }
            _ => None,
        };
        Ok(Self {
            kafka,
            topic: topic.to_string(),
            schema,
            declared,
            options,
            avro_schema,
            json,
            metrics: ExecutionPlanMetricsSet::new(),
        })
    }

    fn column(&self, batch: &RecordBatch, name: &str) -> Option<ArrayRef> {
        let index = self.schema.index_of(name).ok()?;
        let column = batch.column(index);
        (column.null_count() < column.len()).then(|| column.clone())
    }

    /// The value of each row of `batch`.
    async fn values(&self, batch: &RecordBatch) -> Result<Vec<Option<Vec<u8>>>> {
        let declared = batch.project(&(0..self.declared).collect::<Vec<_>>())?;
        match self.options.format {
            Format::Raw => {
                let column = declared.column(0);
                Ok(match column.data_type() {
                    DataType::Binary => column
                        .as_binary::<i32>()
                        .iter()
                        .map(|v| v.map(<[u8]>::to_vec))
                        .collect(),
                    _ => text(column)?
                        .iter()
                        .map(|v| v.map(|s| s.as_bytes().to_vec()))
                        .collect(),
                })
            }
            Format::Json => {
                let declared = uuids_as_text(&declared)?;
                let nested = match &self.json {
                    Some(layout) if !layout.is_flat() => layout.nest(declared.columns())?,
                    _ => declared,
                };
                let mut out = Vec::with_capacity(nested.num_rows() * 64);
                let mut writer = LineDelimitedWriter::new(&mut out);
                writer.write(&nested)?;
                writer.finish()?;
                // One line per row: JSON escapes the newlines inside strings.
                Ok(out
                    .split(|b| *b == b'\n')
                    .take(nested.num_rows())
                    .map(|line| Some(line.to_vec()))
                    .collect())
            }
            Format::Csv => {
                let declared = uuids_as_text(&declared)?;
                // Row by row: a quoted field may hold a line break.
                (0..declared.num_rows())
                    .map(|row| {
                        let mut out = Vec::with_capacity(64);
                        let mut writer = datafusion::arrow::csv::WriterBuilder::new()
                            .with_header(false)
                            .with_delimiter(self.options.csv_delimiter)
                            .build(&mut out);
                        writer.write(&declared.slice(row, 1))?;
                        drop(writer);
                        while out.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                            out.pop();
                        }
                        Ok(Some(out))
                    })
                    .collect()
            }
            Format::Avro => {
                let encoded = self.avro_encoder(&declared).await?;
                Ok(encoded)
            }
        }
    }

    /// Each row of `declared` as one Avro value: a plain datum, or in the
    /// Confluent wire format under the id the registry gives the writer
    /// schema (subject `<topic>-value`).
    async fn avro_encoder(&self, declared: &RecordBatch) -> Result<Vec<Option<Vec<u8>>>> {
        let Some(json) = self.avro_schema.clone() else {
            return Err(Error::Columns("an Avro table needs its writer schema".into()).into());
        };
        let mut metadata = declared.schema().metadata().clone();
        metadata.insert(SCHEMA_METADATA_KEY.to_string(), json.clone());
        let schema = Schema::new_with_metadata(declared.schema().fields().clone(), metadata);
        let batch = declared.clone().with_schema(Arc::new(schema.clone()))?;
        let builder = WriterBuilder::new(schema);
        let avro_error = |e: arrow_avro::errors::AvroError| -> DataFusionError {
            Error::Columns(format!("cannot write the rows as Avro: {e}")).into()
        };
        let rows = if self.options.avro.confluent {
            let Some(registry) = self.kafka.schema_registry() else {
                return Err(Error::Columns(
                    "'avro.confluent' needs a schema registry: set kafka.schema_registry_url"
                        .into(),
                )
                .into());
            };
            let subject = format!("{}-value", self.topic);
            let id = tokio::task::spawn_blocking(move || registry.register(&subject, &json))
                .await
                .map_err(|e| Error::Stopped(format!("the schema registry call stopped: {e}")))?
                .map_err(|e| Error::Produce {
                    topic: self.topic.clone(),
                    reason: format!("the schema registry refused the schema: {e}"),
                })?;
            let mut encoder = builder
                .with_fingerprint_strategy(FingerprintStrategy::Id(id))
                .build_encoder::<AvroSoeFormat>()
                .map_err(avro_error)?;
            encoder.encode(&batch).map_err(avro_error)?;
            encoder.flush()
        } else {
            let mut encoder = builder
                .build_encoder::<AvroBinaryFormat>()
                .map_err(avro_error)?;
            encoder.encode(&batch).map_err(avro_error)?;
            encoder.flush()
        };
        Ok(rows.iter().map(|row| Some(row.to_vec())).collect())
    }

    /// The key of each row: `_key` where given, else the `key` option's
    /// column as text.
    fn keys(&self, batch: &RecordBatch) -> Result<Vec<Option<Vec<u8>>>> {
        let rows = batch.num_rows();
        let mut keys = vec![None; rows];
        if let Some(column) = self.options.key_column.as_deref() {
            let index = self.schema.index_of(column)?;
            for (key, value) in keys.iter_mut().zip(text(batch.column(index))?.iter()) {
                *key = value.map(|v| v.as_bytes().to_vec());
            }
        }
        if let Some(given) = self.column(batch, KEY) {
            let given: Vec<Option<Vec<u8>>> = match given.data_type() {
                DataType::Binary => given
                    .as_binary::<i32>()
                    .iter()
                    .map(|v| v.map(<[u8]>::to_vec))
                    .collect(),
                _ => text(&given)?
                    .iter()
                    .map(|v| v.map(|s| s.as_bytes().to_vec()))
                    .collect(),
            };
            for (key, given) in keys.iter_mut().zip(given) {
                if given.is_some() {
                    *key = given;
                }
            }
        }
        Ok(keys)
    }

    /// The record time of each row, in milliseconds since the epoch.
    fn timestamps(&self, batch: &RecordBatch) -> Result<Vec<Option<i64>>> {
        let mut times = vec![None; batch.num_rows()];
        let mut fill = |column: ArrayRef| -> Result<()> {
            let millis = cast(&column, &DataType::Timestamp(TimeUnit::Millisecond, None))?;
            let millis =
                millis.as_primitive::<datafusion::arrow::datatypes::TimestampMillisecondType>();
            for (time, value) in times.iter_mut().zip(millis.iter()) {
                if value.is_some() {
                    *time = value;
                }
            }
            Ok(())
        };
        if let Some(name) = &self.options.timestamp_column {
            if let Some(column) = self.column(batch, name) {
                fill(column)?;
            }
        }
        if let Some(column) = self.column(batch, TIMESTAMP) {
            fill(column)?;
        }
        Ok(times)
    }

    fn partitions(&self, batch: &RecordBatch) -> Vec<Option<i32>> {
        match self.column(batch, PARTITION) {
            Some(column) => column
                .as_primitive::<datafusion::arrow::datatypes::Int32Type>()
                .iter()
                .collect(),
            None => vec![None; batch.num_rows()],
        }
    }

    fn headers(&self, batch: &RecordBatch) -> Vec<Option<OwnedHeaders>> {
        let Some(column) = self.column(batch, HEADERS) else {
            return vec![None; batch.num_rows()];
        };
        let map: &MapArray = column.as_map();
        (0..batch.num_rows())
            .map(|row| {
                if map.is_null(row) {
                    return None;
                }
                let entries = map.value(row);
                let names = entries.column(0).as_string::<i32>();
                let values = entries.column(1).as_binary::<i32>();
                let mut headers = OwnedHeaders::new_with_capacity(entries.len());
                for i in 0..entries.len() {
                    headers = headers.insert(Header {
                        key: names.value(i),
                        value: (!values.is_null(i)).then(|| values.value(i)),
                    });
                }
                Some(headers)
            })
            .collect()
    }

    fn producer(&self) -> Result<FutureProducer> {
        Ok(self
            .kafka
            .producer_config(DELIVERY_TIMEOUT)
            .create()
            .map_err(|e| Error::kafka("creating a producer", e))?)
    }
}

/// Text of each value of `column`, as SQL would cast it.
fn text(column: &ArrayRef) -> Result<StringArray> {
    let options = CastOptions {
        safe: false,
        format_options: FormatOptions::default(),
    };
    let cast = datafusion::arrow::compute::cast_with_options(column, &DataType::Utf8, &options)?;
    Ok(cast.as_string::<i32>().clone())
}

/// `batch` with UUID columns as their usual text form.
fn uuids_as_text(batch: &RecordBatch) -> Result<RecordBatch> {
    let schema = batch.schema();
    if !schema.fields().iter().any(is_uuid) {
        return Ok(batch.clone());
    }
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns = Vec::with_capacity(schema.fields().len());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        if is_uuid(field) {
            let bytes: &FixedSizeBinaryArray = column.as_fixed_size_binary();
            let text: StringArray = bytes.iter().map(|v| v.map(uuid_text)).collect();
            columns.push(Arc::new(text) as ArrayRef);
        } else {
            columns.push(column.clone());
        }
        fields.push(as_text_field(field));
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

fn uuid_text(bytes: &[u8]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

impl DisplayAs for KafkaDataSink {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "KafkaDataSink: topic={}, format={}",
            self.topic, self.options.format
        )
    }
}

#[async_trait]
impl DataSink for KafkaDataSink {
    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    async fn write_all(
        &self,
        mut data: SendableRecordBatchStream,
        _context: &Arc<TaskContext>,
    ) -> Result<u64> {
        let rows: Count = MetricBuilder::new(&self.metrics).output_rows(0);
        let producer = self.producer()?;
        let mut pending = FuturesUnordered::new();
        let mut written = 0u64;
        let failed = |err: String| -> DataFusionError {
            Error::Produce {
                topic: self.topic.clone(),
                reason: err,
            }
            .into()
        };
        while let Some(batch) = data.next().await {
            let batch = batch?;
            if self.column(&batch, OFFSET).is_some() {
                return Err(Error::Columns(format!(
                    "{OFFSET} is assigned by Kafka; leave it out of INSERT INTO a Kafka table"
                ))
                .into());
            }
            let values = self.values(&batch).await?;
            let keys = self.keys(&batch)?;
            let times = self.timestamps(&batch)?;
            let partitions = self.partitions(&batch);
            let headers = self.headers(&batch);
            for row in 0..batch.num_rows() {
                let mut record: FutureRecord<'_, Vec<u8>, Vec<u8>> = FutureRecord::to(&self.topic);
                if let Some(value) = &values[row] {
                    record = record.payload(value);
                }
                if let Some(key) = &keys[row] {
                    record = record.key(key);
                }
                if let Some(partition) = partitions[row] {
                    record = record.partition(partition);
                }
                if let Some(time) = times[row] {
                    record = record.timestamp(time);
                }
                if let Some(headers) = headers[row].clone() {
                    record = record.headers(headers);
                }
                // Queues the message; the future resolves on acknowledgement.
                match producer.send_result(record) {
                    Ok(delivery) => pending.push(delivery),
                    Err((err, _)) => return Err(failed(err.to_string())),
                }
                while pending.len() >= IN_FLIGHT {
                    acknowledged(pending.next().await, &failed)?;
                    written += 1;
                }
            }
            rows.add(batch.num_rows());
        }
        while !pending.is_empty() {
            acknowledged(pending.next().await, &failed)?;
            written += 1;
        }
        Ok(written)
    }
}

type Delivery = Result<
    rdkafka::producer::future_producer::OwnedDeliveryResult,
    futures::channel::oneshot::Canceled,
>;

fn acknowledged(
    delivery: Option<Delivery>,
    failed: &impl Fn(String) -> DataFusionError,
) -> Result<()> {
    match delivery {
        Some(Ok(Ok(_))) => Ok(()),
        Some(Ok(Err((err, _)))) => Err(failed(err.to_string())),
        Some(Err(_)) => Err(failed("the producer stopped".into())),
        None => Ok(()),
    }
}
