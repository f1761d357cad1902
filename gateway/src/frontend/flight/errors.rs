//! gRPC status codes for smackql's errors.
//!
//! Errors are classified once, into PostgreSQL's SQLSTATEs (see
//! [`crate::frontend::pg::errors`]); the Flight SQL front end derives its
//! status codes from those, so both front ends agree on what went wrong.

use datafusion::error::DataFusionError;
use tonic::{Code, Status};

use crate::frontend::pg::errors::{classify, sqlstate};

/// The status a Flight SQL client receives for `err`, with the same
/// message a Postgres client would see and the SQLSTATE in a header.
pub(crate) fn status(err: &DataFusionError) -> Status {
    let (state, message) = classify(err);
    let code = code(state);
    tracing::debug!(%state, ?code, %message, "flight sql call failed");
    let mut status = Status::new(code, message);
    if let Ok(value) = state.parse() {
        status.metadata_mut().insert("x-sqlstate", value);
    }
    status
}

/// The gRPC code of a SQLSTATE.
fn code(state: &str) -> Code {
    match state {
        sqlstate::UNDEFINED_TABLE => Code::NotFound,
        sqlstate::DUPLICATE_TABLE => Code::AlreadyExists,
        sqlstate::INSUFFICIENT_PRIVILEGE => Code::PermissionDenied,
        sqlstate::FEATURE_NOT_SUPPORTED => Code::Unimplemented,
        sqlstate::CONNECTION_FAILURE => Code::Unavailable,
        sqlstate::QUERY_CANCELED => Code::Cancelled,
        sqlstate::OUT_OF_MEMORY => Code::ResourceExhausted,
        sqlstate::SYSTEM_ERROR | sqlstate::INTERNAL_ERROR => Code::Internal,
        // Syntax errors, unknown columns and functions, type mismatches and
        // bad values: the client's statement is wrong.
        _ => Code::InvalidArgument,
    }
}

/// An Arrow error while building a response: a server fault.
pub(crate) fn arrow_status(err: datafusion::arrow::error::ArrowError) -> Status {
    status(&DataFusionError::ArrowError(Box::new(err), None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::parser::ParserError;
    use smackql_providers_common::{ErrorClass, ProviderError};

    #[test]
    fn codes_follow_the_error() {
        let syntax = DataFusionError::SQL(
            Box::new(ParserError::ParserError("Expected: an expression".into())),
            None,
        );
        let status = status(&syntax);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().starts_with("syntax error"), "{status:?}");
        assert_eq!(status.metadata().get("x-sqlstate").unwrap(), "42601");

        let missing = DataFusionError::Plan("table 'smackql.ks.nope' not found".into());
        assert_eq!(super::status(&missing).code(), Code::NotFound);

        let down: DataFusionError = ProviderError::new(
            ErrorClass::Unavailable,
            "cassandra",
            "Cassandra is unavailable",
        )
        .into();
        assert_eq!(super::status(&down).code(), Code::Unavailable);

        let denied: DataFusionError =
            ProviderError::new(ErrorClass::PermissionDenied, "kafka", "not allowed").into();
        assert_eq!(super::status(&denied).code(), Code::PermissionDenied);
    }
}
