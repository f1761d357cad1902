//! Counts of messages that did not decode, per table and partition, shown
//! as the table `system.kafka_decode_errors`.
//!
//! A count grows each time a scan meets such a message, so a topic read
//! twice counts its bad messages twice. Counts live in the gateway's memory
//! and start again from zero when it restarts.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use datafusion::arrow::array::{
    ArrayRef, Int32Builder, Int64Builder, RecordBatch, StringBuilder, TimestampMillisecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{MemTable, TableProvider};
use datafusion::error::Result;

use crate::options::OnError;

/// One message that did not decode.
#[derive(Debug, Clone)]
pub(crate) struct BadMessage<'a> {
    pub table: &'a str,
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub policy: OnError,
    pub reason: &'a str,
}

#[derive(Debug, Clone)]
struct Tally {
    topic: String,
    policy: OnError,
    messages: u64,
    last_offset: i64,
    last_reason: String,
    last_seen_ms: i64,
}

/// The counts of one gateway, shared by every scan.
#[derive(Debug, Default)]
pub struct DecodeErrors {
    tallies: Mutex<BTreeMap<(String, i32), Tally>>,
}

impl DecodeErrors {
    pub(crate) fn record(&self, bad: &BadMessage<'_>) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let Ok(mut tallies) = self.tallies.lock() else {
            return;
        };
        let tally = tallies
            .entry((bad.table.to_string(), bad.partition))
            .or_insert_with(|| Tally {
                topic: bad.topic.to_string(),
                policy: bad.policy,
                messages: 0,
                last_offset: bad.offset,
                last_reason: String::new(),
                last_seen_ms: now,
            });
        tally.topic = bad.topic.to_string();
        tally.policy = bad.policy;
        tally.messages += 1;
        tally.last_offset = bad.offset;
        tally.last_reason = bad.reason.to_string();
        tally.last_seen_ms = now;
    }

    /// The schema of `system.kafka_decode_errors`.
    pub fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("table_name", DataType::Utf8, false),
            Field::new("topic", DataType::Utf8, false),
            Field::new("partition", DataType::Int32, false),
            Field::new("on_error", DataType::Utf8, false),
            Field::new("messages", DataType::Int64, false),
            Field::new("last_offset", DataType::Int64, false),
            Field::new("last_reason", DataType::Utf8, false),
            Field::new(
                "last_seen",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                false,
            ),
        ]))
    }

    /// The counts as of now, as a batch of [`Self::schema`].
    pub fn snapshot(&self) -> Result<RecordBatch> {
        let tallies = self.tallies.lock().map(|t| t.clone()).unwrap_or_default();
        let mut table = StringBuilder::new();
        let mut topic = StringBuilder::new();
        let mut partition = Int32Builder::new();
        let mut policy = StringBuilder::new();
        let mut messages = Int64Builder::new();
        let mut last_offset = Int64Builder::new();
        let mut last_reason = StringBuilder::new();
        let mut last_seen = TimestampMillisecondBuilder::new();
        for ((name, part), tally) in &tallies {
            table.append_value(name);
            topic.append_value(&tally.topic);
            partition.append_value(*part);
            policy.append_value(tally.policy.to_string());
            messages.append_value(i64::try_from(tally.messages).unwrap_or(i64::MAX));
            last_offset.append_value(tally.last_offset);
            last_reason.append_value(&tally.last_reason);
            last_seen.append_value(tally.last_seen_ms);
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(table.finish()),
            Arc::new(topic.finish()),
            Arc::new(partition.finish()),
            Arc::new(policy.finish()),
            Arc::new(messages.finish()),
            Arc::new(last_offset.finish()),
            Arc::new(last_reason.finish()),
            Arc::new(last_seen.finish().with_timezone("UTC")),
        ];
        Ok(RecordBatch::try_new(Self::schema(), columns)?)
    }
}

/// `system.kafka_decode_errors`: each query sees the counts as they are
/// when it is planned.
#[derive(Debug)]
pub struct DecodeErrorsTable {
    errors: Arc<DecodeErrors>,
}

impl DecodeErrorsTable {
    /// The table over `errors`.
    pub fn new(errors: Arc<DecodeErrors>) -> Self {
        Self { errors }
    }
}

#[async_trait::async_trait]
impl TableProvider for DecodeErrorsTable {
    fn schema(&self) -> SchemaRef {
        DecodeErrors::schema()
    }

    fn table_type(&self) -> datafusion::datasource::TableType {
        datafusion::datasource::TableType::View
    }

    async fn scan(
        &self,
        state: &dyn datafusion::catalog::Session,
        projection: Option<&Vec<usize>>,
        filters: &[datafusion::logical_expr::Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        let table = MemTable::try_new(DecodeErrors::schema(), vec![vec![self.errors.snapshot()?]])?;
        table.scan(state, projection, filters, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::AsArray;

    #[test]
    fn counts_grow_per_table_and_partition() {
        let errors = DecodeErrors::default();
        for offset in [3, 9] {
            errors.record(&BadMessage {
                table: "kafka.t",
                topic: "t",
                partition: 1,
                offset,
                policy: OnError::Skip,
                reason: "bad",
            });
        }
        let batch = errors.snapshot().unwrap();
        assert_eq!(batch.num_rows(), 1);
        let messages = batch
            .column(4)
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        assert_eq!(messages.value(0), 2);
        let last = batch
            .column(5)
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        assert_eq!(last.value(0), 9);
    }
}
