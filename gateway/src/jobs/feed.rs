//! The events of one source partition of a continuous view, read ahead by
//! one streaming Kafka consumer that a worker keeps from batch to batch.
//!
//! Without it, each batch would plan a bounded scan: ask Kafka for the
//! partition's offsets, make a consumer, and wait for its first fetch,
//! before reading a single event. A feed instead has the events that
//! arrived since the last batch at hand, so a batch begins as soon as they
//! are there. Which offsets a batch covers is still decided, and recorded,
//! before anything is written (see `jobs/views.rs`); the feed only supplies
//! the events. A batch that is redone reads its fixed range again with a
//! bounded scan.

use std::collections::BTreeMap;
use std::time::Duration;

use datafusion::arrow::array::{Int64Array, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::compute::kernels::cmp::{gt_eq, lt};
use datafusion::error::{DataFusionError, Result};
use futures::{FutureExt, StreamExt};
use smackql_kafka::{KafkaStream, KafkaTableProvider, ReadBatch, StreamStart};

/// How long a batch goes on gathering events, from the first one, while the
/// reader has not reached the partition's end. A backlog is then folded in
/// batches of about this much reading, and under a steady stream (where
/// the reader seldom sees the end, as events keep coming) a batch is taken
/// at least this often.
const GATHER: Duration = Duration::from_millis(300);

/// Events of one partition, read from a starting offset on.
pub(super) struct Feed {
    stream: KafkaStream,
    partition: i32,
    /// Read but not taken yet, in offset order.
    buffered: Vec<RecordBatch>,
    /// The offset after the last event taken: where the next batch begins.
    taken: i64,
    /// The offset after the last event read.
    read: i64,
    /// Whether the reader has read every event of the partition (as of its
    /// last look): otherwise it is behind, catching up on a backlog.
    at_end: bool,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed")
            .field("partition", &self.partition)
            .field("taken", &self.taken)
            .field("read", &self.read)
            .finish_non_exhaustive()
    }
}

impl Feed {
    /// A feed of `partition` of `source`'s topic from offset `from` on.
    pub(super) async fn open(
        source: &KafkaTableProvider,
        partition: i32,
        from: i64,
    ) -> Result<Self> {
        let stream = source
            .stream(None, StreamStart::Only(BTreeMap::from([(partition, from)])))
            .await?;
        Ok(Self {
            stream,
            partition,
            buffered: Vec::new(),
            taken: from,
            read: from,
            at_end: false,
        })
    }

    /// Where the next batch taken begins.
    pub(super) fn position(&self) -> i64 {
        self.taken
    }

    /// The events from [`Self::position`] up to an offset `to` of at most
    /// `limit`, and `to`: what has arrived, after waiting up to `wait` for
    /// something when nothing has. `to` is the position when nothing
    /// arrived. Once something has, the batch ends as soon as the reader
    /// reaches the partition's end; short of it, the reader goes on for up
    /// to [`GATHER`] (or `limit`), so a backlog is folded in large batches
    /// and new events in small ones.
    pub(super) async fn take(
        &mut self,
        limit: i64,
        wait: Duration,
    ) -> Result<(Vec<RecordBatch>, i64)> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut gathering_until = None;
        loop {
            // Whatever is ready, without waiting.
            while self.read < limit {
                match self.stream.next().now_or_never() {
                    Some(item) => self.push(item)?,
                    None => break,
                }
            }
            let any = self.read > self.taken;
            if self.read >= limit || (any && self.at_end) {
                break;
            }
            let until = if any {
                *gathering_until.get_or_insert_with(|| tokio::time::Instant::now() + GATHER)
            } else {
                deadline
            };
            match tokio::time::timeout_at(until, self.stream.next()).await {
                Ok(item) => self.push(item)?,
                Err(_) => break,
            }
        }
        let to = self.read.min(limit);
        let mut taken = Vec::new();
        let mut kept = Vec::new();
        for batch in std::mem::take(&mut self.buffered) {
            if to >= self.read {
                taken.push(batch);
                continue;
            }
            let offsets = offsets(&batch)?;
            let bound = Int64Array::new_scalar(to);
            taken.push(filter_record_batch(&batch, &lt(offsets, &bound)?)?);
            let later = filter_record_batch(&batch, &gt_eq(offsets, &bound)?)?;
            if later.num_rows() > 0 {
                kept.push(later);
            }
        }
        self.buffered = kept;
        self.taken = to;
        Ok((taken, to))
    }

    /// Adds what the reader sent.
    fn push(&mut self, item: Option<Result<ReadBatch>>) -> Result<()> {
        let read = item.ok_or_else(|| {
            DataFusionError::Execution(format!(
                "the reading of source partition {} ended",
                self.partition
            ))
        })??;
        if let Some(&end) = read.ends.get(&self.partition) {
            self.read = self.read.max(end);
        }
        self.at_end = read.at_end.contains(&self.partition);
        if read.batch.num_rows() > 0 {
            self.buffered.push(read.batch);
        }
        Ok(())
    }
}

fn offsets(batch: &RecordBatch) -> Result<&Int64Array> {
    batch
        .column_by_name("_offset")
        .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
        .ok_or_else(|| DataFusionError::Internal("events without an _offset".into()))
}
