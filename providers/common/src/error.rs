//! The error type that crosses from a provider, through DataFusion, to a front end.

use std::error::Error as StdError;
use std::fmt;

use datafusion::error::DataFusionError;

/// What kind of failure a provider saw, and so what a client can do about it.
///
/// Front ends map each class to one protocol code (a SQLSTATE, a gRPC code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The backend cannot be reached or has too few live replicas; retrying
    /// later may succeed.
    Unavailable,
    /// The backend did not answer in time; retrying may succeed.
    Timeout,
    /// The request is wrong: bad option, value of the wrong type.
    InvalidInput,
    /// A row to write has no value for a key column.
    MissingKey,
    /// A table or view definition is invalid (no key, unknown column).
    InvalidDefinition,
    /// What a statement creates exists already.
    AlreadyExists,
    /// A table or schema a statement names does not exist.
    NotFound,
    /// The request is valid SQL that this provider does not support.
    Unsupported,
    /// The backend refused the credentials or the operation.
    PermissionDenied,
    /// The backend or the provider broke an invariant.
    Internal,
}

impl ErrorClass {
    /// Whether retrying the same request later may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorClass::Unavailable | ErrorClass::Timeout)
    }
}

/// An error raised by a table provider, classified for the front ends.
///
/// It travels inside [`DataFusionError::External`]; [`ProviderError::find`]
/// digs it out again, however DataFusion wrapped it on the way.
#[derive(Debug)]
pub struct ProviderError {
    class: ErrorClass,
    system: &'static str,
    source: Box<dyn StdError + Send + Sync>,
}

impl ProviderError {
    /// Wraps `source`, raised while talking to `system` ("cassandra", "kafka").
    pub fn new(
        class: ErrorClass,
        system: &'static str,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        Self {
            class,
            system,
            source: source.into(),
        }
    }

    /// The class of failure.
    pub fn class(&self) -> ErrorClass {
        self.class
    }

    /// The backend the provider was talking to.
    pub fn system(&self) -> &'static str {
        self.system
    }

    /// The provider's own error.
    pub fn inner(&self) -> &(dyn StdError + Send + Sync + 'static) {
        self.source.as_ref()
    }

    /// Finds a provider error anywhere inside `err`: behind context, shared
    /// wrappers, Arrow's external errors or another error's source chain.
    pub fn find(err: &DataFusionError) -> Option<&ProviderError> {
        find_in(err)
    }
}

fn find_in<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a ProviderError> {
    if let Some(found) = err.downcast_ref::<ProviderError>() {
        return Some(found);
    }
    if let Some(df) = err.downcast_ref::<DataFusionError>() {
        let next: Option<&(dyn StdError + 'static)> = match df {
            DataFusionError::External(inner) => Some(inner.as_ref()),
            DataFusionError::Context(_, inner) => Some(inner.as_ref()),
            DataFusionError::Shared(inner) => Some(inner.as_ref()),
            DataFusionError::ArrowError(inner, _) => Some(inner.as_ref()),
            DataFusionError::Collection(errors) => {
                return errors.iter().find_map(|e| find_in(e));
            }
            _ => None,
        };
        if let Some(next) = next {
            return find_in(next);
        }
    }
    if let Some(datafusion::arrow::error::ArrowError::ExternalError(inner)) =
        err.downcast_ref::<datafusion::arrow::error::ArrowError>()
    {
        return find_in(inner.as_ref());
    }
    err.source().and_then(find_in)
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.source)
    }
}

impl StdError for ProviderError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(self.source.as_ref())
    }
}

impl From<ProviderError> for DataFusionError {
    fn from(err: ProviderError) -> Self {
        DataFusionError::External(Box::new(err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn found_behind_wrappers() {
        let err: DataFusionError =
            ProviderError::new(ErrorClass::Timeout, "cassandra", "read timed out").into();
        let wrapped = DataFusionError::Shared(Arc::new(err.context("scanning ks.t")));
        let found = ProviderError::find(&wrapped).expect("found");
        assert_eq!(found.class(), ErrorClass::Timeout);
        assert_eq!(found.system(), "cassandra");
        assert_eq!(found.to_string(), "read timed out");
    }

    #[test]
    fn found_inside_arrow_errors() {
        let inner: DataFusionError =
            ProviderError::new(ErrorClass::Unavailable, "kafka", "broker down").into();
        let arrow = datafusion::arrow::error::ArrowError::ExternalError(Box::new(inner));
        let err = DataFusionError::ArrowError(Box::new(arrow), None);
        assert_eq!(
            ProviderError::find(&err).map(ProviderError::class),
            Some(ErrorClass::Unavailable)
        );
    }

    #[test]
    fn absent_from_plain_errors() {
        let err = DataFusionError::Plan("table 'x' not found".into());
        assert!(ProviderError::find(&err).is_none());
        assert!(!ErrorClass::InvalidInput.is_retryable());
        assert!(ErrorClass::Timeout.is_retryable());
    }
}
