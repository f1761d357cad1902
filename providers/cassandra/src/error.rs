//! The Cassandra provider's errors, and how they reach DataFusion.

use datafusion::error::DataFusionError;
use smackql_providers_common::{ErrorClass, ProviderError};

/// A result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong between a SQL query and Cassandra.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No session could be opened to any contact point.
    #[error("Cassandra is unavailable at {contact_points}: {reason}")]
    Unavailable {
        /// The configured contact points, comma-separated.
        contact_points: String,
        /// Why connecting failed.
        reason: String,
    },

    /// A request failed; `class` says whether retrying may help.
    #[error("Cassandra request failed for {table}: {reason}")]
    Request {
        /// `keyspace.table`
        table: String,
        /// The failure's class.
        class: ErrorClass,
        /// The driver's message.
        reason: String,
    },

    /// A cell could not be decoded into its Arrow type.
    #[error("cannot read column {column} of {table}: {reason}")]
    Decode {
        /// `keyspace.table`
        table: String,
        /// The column.
        column: String,
        /// Why the cell does not decode.
        reason: String,
    },

    /// A row to write has no value for a primary-key column.
    #[error("cannot write to {table}: row {row} has no value for primary-key column {column}")]
    MissingKey {
        /// `keyspace.table`
        table: String,
        /// The key column.
        column: String,
        /// The row's position in the statement's input, from 1.
        row: u64,
    },

    /// A value cannot be written to its column.
    #[error("cannot write column {column} of {table}: {reason}")]
    Encode {
        /// `keyspace.table`
        table: String,
        /// The column.
        column: String,
        /// Why the value cannot be written.
        reason: String,
    },

    /// The operation is disabled by the gateway's configuration.
    #[error("{0}")]
    Forbidden(String),

    /// A keyspace or table a statement names does not exist.
    #[error("{0}")]
    NotFound(String),

    /// A table definition Cassandra cannot accept.
    #[error("invalid table definition: {0}")]
    InvalidDefinition(String),

    /// The statement is not one this provider can run.
    #[error("{0}")]
    Unsupported(String),

    /// A CQL type smackql cannot represent.
    #[error("unsupported CQL type {0}")]
    UnsupportedType(String),

    /// An Arrow error while assembling a batch.
    #[error(transparent)]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
}

impl Error {
    /// The class front ends map this error by.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Unavailable { .. } => ErrorClass::Unavailable,
            Error::Request { class, .. } => *class,
            Error::Decode { .. } | Error::Encode { .. } => ErrorClass::InvalidInput,
            Error::MissingKey { .. } => ErrorClass::MissingKey,
            Error::Unsupported(_) => ErrorClass::Unsupported,
            Error::InvalidDefinition(_) => ErrorClass::InvalidDefinition,
            Error::Forbidden(_) => ErrorClass::PermissionDenied,
            Error::NotFound(_) => ErrorClass::NotFound,
            Error::UnsupportedType(_) => ErrorClass::Unsupported,
            Error::Arrow(_) => ErrorClass::Internal,
        }
    }

    /// A request error, classified from the driver's error.
    pub(crate) fn request(table: &str, err: &scylla::errors::ExecutionError) -> Self {
        Error::Request {
            table: table.to_string(),
            class: classify_execution(err),
            reason: err.to_string(),
        }
    }

    /// A response that does not have the shape asked for.
    pub(crate) fn response(table: &str, err: &dyn std::fmt::Display) -> Self {
        Error::Request {
            table: table.to_string(),
            class: ErrorClass::Internal,
            reason: err.to_string(),
        }
    }

    /// A preparation error, classified from the driver's error.
    pub(crate) fn prepare(table: &str, err: &scylla::errors::PrepareError) -> Self {
        use scylla::errors::PrepareError;
        let class = match err {
            PrepareError::ConnectionPoolError(_) => ErrorClass::Unavailable,
            PrepareError::AllAttemptsFailed { first_attempt } => attempt_class(first_attempt),
            _ => ErrorClass::Internal,
        };
        Error::Request {
            table: table.to_string(),
            class,
            reason: err.to_string(),
        }
    }
}

fn classify_execution(err: &scylla::errors::ExecutionError) -> ErrorClass {
    use scylla::errors::ExecutionError;
    match err {
        ExecutionError::ConnectionPoolError(_) | ExecutionError::EmptyPlan => {
            ErrorClass::Unavailable
        }
        ExecutionError::RequestTimeout(_) => ErrorClass::Timeout,
        ExecutionError::LastAttemptError(attempt) => attempt_class(attempt),
        ExecutionError::PrepareError(prepare) => Error::prepare("", prepare).class(),
        ExecutionError::BadQuery(_) => ErrorClass::InvalidInput,
        _ => ErrorClass::Internal,
    }
}

fn attempt_class(err: &scylla::errors::RequestAttemptError) -> ErrorClass {
    use scylla::errors::{DbError, RequestAttemptError};
    match err {
        RequestAttemptError::DbError(db, _) => match db {
            DbError::Unavailable { .. } | DbError::Overloaded | DbError::IsBootstrapping => {
                ErrorClass::Unavailable
            }
            DbError::ReadTimeout { .. } | DbError::WriteTimeout { .. } => ErrorClass::Timeout,
            DbError::AlreadyExists { .. } => ErrorClass::AlreadyExists,
            DbError::SyntaxError | DbError::Invalid => ErrorClass::InvalidInput,
            DbError::Unauthorized | DbError::AuthenticationError => ErrorClass::PermissionDenied,
            _ => ErrorClass::Internal,
        },
        RequestAttemptError::BrokenConnectionError(_)
        | RequestAttemptError::UnableToAllocStreamId => ErrorClass::Unavailable,
        _ => ErrorClass::Internal,
    }
}

impl From<Error> for DataFusionError {
    fn from(err: Error) -> Self {
        let class = err.class();
        ProviderError::new(class, "cassandra", err).into()
    }
}
