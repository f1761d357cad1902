//! `on_error 'dead_letter'`: a message that does not decode is copied, key,
//! value and headers as they were, to the table's dead-letter topic, with
//! headers that say where it came from and why it was refused:
//! `smackql.source.topic`, `smackql.source.partition`,
//! `smackql.source.offset` and `smackql.error`.
//!
//! A scan waits until Kafka has acknowledged the copies before it hands on
//! the batch the message was in, so a refused message is never dropped
//! unrecorded. A gateway copies a message once, however often it is scanned
//! after the copy was acknowledged; scans running at the same moment, and
//! other gateways, may each copy it, and the source headers tell such copies
//! apart from distinct messages.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use datafusion::error::Result;
use rdkafka::message::{BorrowedMessage, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};

use crate::connection::SharedKafka;
use crate::error::Error;

/// How long a copy may wait for its acknowledgement.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

/// Positions remembered as copied, at most; past that the memory starts
/// again (and a message may be copied twice).
const REMEMBERED: usize = 1_000_000;

/// The messages one gateway has copied, by topic, partition and offset.
#[derive(Debug, Default)]
pub(crate) struct DeadLettered {
    copied: Mutex<HashSet<(String, i32, i64)>>,
}

impl DeadLettered {
    fn contains(&self, position: &(String, i32, i64)) -> bool {
        self.copied.lock().is_ok_and(|c| c.contains(position))
    }

    fn insert(&self, position: (String, i32, i64)) {
        if let Ok(mut copied) = self.copied.lock() {
            if copied.len() >= REMEMBERED {
                copied.clear();
            }
            copied.insert(position);
        }
    }
}

/// The copies one scan sends, to one topic.
pub(crate) struct DeadLetters {
    kafka: SharedKafka,
    topic: String,
    /// Made when the first message is refused.
    producer: Option<FutureProducer>,
    pending: Vec<((String, i32, i64), DeliveryFuture)>,
}

impl DeadLetters {
    pub(crate) fn new(kafka: SharedKafka, topic: &str) -> Self {
        Self {
            kafka,
            topic: topic.to_string(),
            producer: None,
            pending: Vec::new(),
        }
    }

    /// Sends a copy of `message`, refused for `reason`; [`Self::flush`]
    /// waits for it.
    pub(crate) fn send(&mut self, message: &BorrowedMessage<'_>, reason: &str) -> Result<()> {
        let position = (
            message.topic().to_string(),
            message.partition(),
            message.offset(),
        );
        if self.kafka.dead_lettered().contains(&position) {
            return Ok(());
        }
        if self.producer.is_none() {
            let producer: FutureProducer = self
                .kafka
                .producer_config(DELIVERY_TIMEOUT)
                .create()
                .map_err(|e| Error::kafka("creating the dead-letter producer", e))?;
            self.producer = Some(producer);
        }
        let Some(producer) = &self.producer else {
            return Ok(());
        };
        let partition = message.partition().to_string();
        let offset = message.offset().to_string();
        let mut headers = OwnedHeaders::new();
        if let Some(original) = message.headers() {
            for header in original.iter() {
                headers = headers.insert(header);
            }
        }
        for (key, value) in [
            ("smackql.source.topic", message.topic()),
            ("smackql.source.partition", &partition),
            ("smackql.source.offset", &offset),
            ("smackql.error", reason),
        ] {
            headers = headers.insert(Header {
                key,
                value: Some(value),
            });
        }
        let mut record: FutureRecord<'_, [u8], [u8]> =
            FutureRecord::to(&self.topic).headers(headers);
        if let Some(key) = message.key() {
            record = record.key(key);
        }
        if let Some(value) = message.payload() {
            record = record.payload(value);
        }
        if let Some(time) = message.timestamp().to_millis() {
            record = record.timestamp(time);
        }
        match producer.send_result(record) {
            Ok(delivery) => {
                self.pending.push((position, delivery));
                Ok(())
            }
            Err((e, _)) => Err(self.failed(e.to_string())),
        }
    }

    /// Waits until every copy sent is acknowledged; fails the scan if one
    /// was refused, so the message it copies is not lost.
    pub(crate) fn flush(&mut self) -> Result<()> {
        for (position, delivery) in self.pending.drain(..) {
            match futures::executor::block_on(delivery) {
                Ok(Ok(_)) => self.kafka.dead_lettered().insert(position),
                Ok(Err((e, _))) => {
                    return Err(Error::Produce {
                        topic: self.topic.clone(),
                        reason: format!("the dead-letter copy was refused: {e}"),
                    }
                    .into())
                }
                Err(_) => {
                    return Err(Error::Produce {
                        topic: self.topic.clone(),
                        reason: "the dead-letter producer stopped".into(),
                    }
                    .into())
                }
            }
        }
        Ok(())
    }

    fn failed(&self, reason: String) -> datafusion::error::DataFusionError {
        Error::Produce {
            topic: self.topic.clone(),
            reason: format!("cannot copy a message to the dead-letter topic: {reason}"),
        }
        .into()
    }
}
