//! Errors of the Kafka provider.

use datafusion::error::DataFusionError;
use rdkafka::types::RDKafkaErrorCode;
use smackql_providers_common::{ErrorClass, ProviderError};

/// A Kafka table could not be declared, read or written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An option has a value it cannot take.
    #[error("option '{name}' cannot be '{value}': expected {allowed}")]
    Option {
        /// The option.
        name: String,
        /// The value given.
        value: String,
        /// What it may be.
        allowed: String,
    },
    /// An option smackql does not know.
    #[error("unknown option '{name}' for a Kafka table; known options: {known}")]
    UnknownOption {
        /// The option.
        name: String,
        /// The options there are.
        known: String,
    },
    /// The declared columns do not suit the format.
    #[error("{0}")]
    Columns(String),
    /// A message could not be decoded.
    #[error("cannot decode the message at offset {offset} of partition {partition} of topic '{topic}': {reason}")]
    Decode {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The message's offset.
        offset: i64,
        /// Why.
        reason: String,
    },
    /// Kafka refused or could not be reached.
    #[error("Kafka: {context}: {source}")]
    Kafka {
        /// What was being done.
        context: String,
        /// The client's error.
        #[source]
        source: rdkafka::error::KafkaError,
    },
    /// A background task stopped before finishing.
    #[error("{0}")]
    Stopped(String),
    /// A message could not be written.
    #[error("cannot write to topic '{topic}': {reason}")]
    Produce {
        /// The topic.
        topic: String,
        /// Why.
        reason: String,
    },
    /// The topic does not exist.
    #[error("topic '{0}' does not exist in Kafka")]
    NoTopic(String),
}

impl Error {
    pub(crate) fn kafka(context: impl Into<String>, source: rdkafka::error::KafkaError) -> Self {
        Self::Kafka {
            context: context.into(),
            source,
        }
    }
}

impl Error {
    /// What kind of failure this is, for the front ends.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Option { .. } | Error::UnknownOption { .. } | Error::Columns(_) => {
                ErrorClass::InvalidDefinition
            }
            Error::Decode { .. } => ErrorClass::InvalidInput,
            Error::NoTopic(_) => ErrorClass::NotFound,
            Error::Kafka { source, .. } => match source.rdkafka_error_code() {
                Some(
                    RDKafkaErrorCode::TopicAuthorizationFailed
                    | RDKafkaErrorCode::ClusterAuthorizationFailed
                    | RDKafkaErrorCode::GroupAuthorizationFailed,
                ) => ErrorClass::PermissionDenied,
                Some(
                    RDKafkaErrorCode::InvalidReplicationFactor
                    | RDKafkaErrorCode::InvalidPartitions,
                ) => ErrorClass::InvalidDefinition,
                _ => ErrorClass::Unavailable,
            },
            Error::Produce { .. } => ErrorClass::Unavailable,
            Error::Stopped(_) => ErrorClass::Internal,
        }
    }
}

impl From<Error> for DataFusionError {
    fn from(err: Error) -> Self {
        ProviderError::new(err.class(), "kafka", err).into()
    }
}
