//! Per-session Kafka settings, set from SQL:
//!
//! ```sql
//! SET kafka.streaming = true;          -- SELECTs on Kafka tables stream
//! SET kafka.stream_from = 'earliest';  -- from the start, not new messages only
//! ```
//!
//! A streaming `SELECT` starts where its filters on `_offset` or
//! `_timestamp` say, else at the end of each partition (`latest`) or its
//! start (`earliest`), and runs until the client stops it or its `LIMIT`
//! is reached.

use datafusion::common::config::ConfigExtension;
use datafusion::common::extensions_options;

extensions_options! {
    /// Kafka settings of one SQL session.
    pub struct KafkaSessionOptions {
        /// Whether SELECTs on Kafka tables stream new messages as they
        /// arrive instead of reading a snapshot.
        pub streaming: bool, default = false
        /// Where a streaming SELECT without offset or time filters starts:
        /// 'latest' (new messages only) or 'earliest'.
        pub stream_from: String, default = "latest".to_string()
    }
}

impl ConfigExtension for KafkaSessionOptions {
    const PREFIX: &'static str = "kafka";
}

/// Where a stream starts when its filters do not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamFrom {
    Latest,
    Earliest,
}

impl KafkaSessionOptions {
    pub(crate) fn stream_from(&self) -> Result<StreamFrom, String> {
        match self.stream_from.trim().to_ascii_lowercase().as_str() {
            "latest" | "" => Ok(StreamFrom::Latest),
            "earliest" => Ok(StreamFrom::Earliest),
            other => Err(format!(
                "invalid kafka.stream_from {other:?}: expected 'latest' or 'earliest'"
            )),
        }
    }
}
