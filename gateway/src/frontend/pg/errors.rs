//! The one mapping from smackql's errors to PostgreSQL SQLSTATEs.
//!
//! Every error bound for a Postgres client passes through [`ErrorMapper`]:
//! parse, plan, execution and streaming errors alike. Clients, drivers and
//! dashboards branch on the code (retry on 08006, report a typo on 42601), so
//! each error gets the code PostgreSQL itself would send, and a message
//! without internals.

use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;
use datafusion::sql::sqlparser::parser::ParserError;
use datafusion_postgres::pgwire::api::{ClientInfo, ErrorHandler};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError};
use smackql_providers_common::{ErrorClass, ProviderError};

use crate::pg_functions::UnrecognizedSetting;

/// An error with SQLSTATE `code`, for the client.
pub(crate) fn user_error(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".to_string(),
        code.to_string(),
        message.into(),
    )))
}

/// SQLSTATEs smackql sends, by name.
pub mod sqlstate {
    /// `syntax_error`
    pub const SYNTAX_ERROR: &str = "42601";
    /// `undefined_table`
    pub const UNDEFINED_TABLE: &str = "42P01";
    /// `undefined_column`
    pub const UNDEFINED_COLUMN: &str = "42703";
    /// `undefined_function`
    pub const UNDEFINED_FUNCTION: &str = "42883";
    /// `undefined_object`: an unknown configuration parameter.
    pub const UNDEFINED_OBJECT: &str = "42704";
    /// `datatype_mismatch`
    pub const DATATYPE_MISMATCH: &str = "42804";
    /// `duplicate_table`
    pub const DUPLICATE_TABLE: &str = "42P07";
    /// `syntax_error_or_access_rule_violation`
    pub const SYNTAX_OR_ACCESS: &str = "42000";
    /// `insufficient_privilege`
    pub const INSUFFICIENT_PRIVILEGE: &str = "42501";
    /// `feature_not_supported`
    pub const FEATURE_NOT_SUPPORTED: &str = "0A000";
    /// `connection_failure`: a backend (Cassandra, Kafka) cannot be reached.
    pub const CONNECTION_FAILURE: &str = "08006";
    /// `system_error`: a backend failed in a way the client cannot fix.
    pub const SYSTEM_ERROR: &str = "58000";
    /// `query_canceled`: cancelled by the client or timed out.
    pub const QUERY_CANCELED: &str = "57014";
    /// `data_exception`
    pub const DATA_EXCEPTION: &str = "22000";
    /// `invalid_table_definition`
    pub const INVALID_TABLE_DEFINITION: &str = "42P16";
    /// `not_null_violation`
    pub const NOT_NULL_VIOLATION: &str = "23502";
    /// `division_by_zero`
    pub const DIVISION_BY_ZERO: &str = "22012";
    /// `numeric_value_out_of_range`
    pub const NUMERIC_OUT_OF_RANGE: &str = "22003";
    /// `invalid_text_representation`
    pub const INVALID_TEXT: &str = "22P02";
    /// `invalid_parameter_value`
    pub const INVALID_PARAMETER: &str = "22023";
    /// `out_of_memory`
    pub const OUT_OF_MEMORY: &str = "53200";
    /// `internal_error`
    pub const INTERNAL_ERROR: &str = "XX000";
}

/// Rewrites errors into PostgreSQL's codes before pgwire sends them.
#[derive(Debug, Default, Clone, Copy)]
pub struct ErrorMapper;

impl ErrorHandler for ErrorMapper {
    fn on_error<C>(&self, client: &C, error: &mut PgWireError)
    where
        C: ClientInfo,
    {
        if let PgWireError::InvalidPassword(_) = error {
            // pgwire names the SCRAM user, which clients leave empty; name
            // the user the client logged in as, in PostgreSQL's words.
            let user = client.metadata().get("user").cloned().unwrap_or_default();
            *error = PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".to_string(),
                "28P01".to_string(),
                format!("password authentication failed for user \"{user}\""),
            )));
            return;
        }
        if let Some(info) = map_error(error) {
            tracing::debug!(code = %info.code, message = %info.message, "query failed");
            *error = PgWireError::UserError(Box::new(info));
        }
    }
}

/// The PostgreSQL error for `error`, or `None` to keep pgwire's own (which
/// already carries a code: protocol and authentication errors).
pub fn map_error(error: &PgWireError) -> Option<ErrorInfo> {
    let PgWireError::ApiError(inner) = error else {
        return None;
    };
    let (code, message) = if let Some(df) = inner.downcast_ref::<DataFusionError>() {
        classify(df)
    } else if let Some(parse) = inner.downcast_ref::<ParserError>() {
        (sqlstate::SYNTAX_ERROR, parser_message(parse))
    } else {
        (sqlstate::INTERNAL_ERROR, inner.to_string())
    };
    Some(ErrorInfo::new(
        "ERROR".to_string(),
        code.to_string(),
        message,
    ))
}

/// The SQLSTATE and client-facing message of a DataFusion error.
pub fn classify(err: &DataFusionError) -> (&'static str, String) {
    if let Some(provider) = ProviderError::find(err) {
        let code = match provider.class() {
            ErrorClass::Unavailable => sqlstate::CONNECTION_FAILURE,
            ErrorClass::Timeout => sqlstate::QUERY_CANCELED,
            ErrorClass::InvalidInput => sqlstate::DATA_EXCEPTION,
            ErrorClass::MissingKey => sqlstate::NOT_NULL_VIOLATION,
            ErrorClass::InvalidDefinition => sqlstate::INVALID_TABLE_DEFINITION,
            ErrorClass::AlreadyExists => sqlstate::DUPLICATE_TABLE,
            ErrorClass::NotFound => sqlstate::UNDEFINED_TABLE,
            ErrorClass::Unsupported => sqlstate::FEATURE_NOT_SUPPORTED,
            ErrorClass::PermissionDenied => sqlstate::INSUFFICIENT_PRIVILEGE,
            ErrorClass::Internal => sqlstate::SYSTEM_ERROR,
        };
        return (code, provider.to_string());
    }
    let message = err.message().trim().to_string();
    let code = match err {
        DataFusionError::SQL(parse, _) => return (sqlstate::SYNTAX_ERROR, parser_message(parse)),
        DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => {
            return classify(inner)
        }
        DataFusionError::Shared(inner) => return classify(inner),
        DataFusionError::External(inner) if inner.is::<UnrecognizedSetting>() => {
            return (sqlstate::UNDEFINED_OBJECT, inner.to_string())
        }
        DataFusionError::Collection(errors) if !errors.is_empty() => return classify(&errors[0]),
        DataFusionError::NotImplemented(_) => sqlstate::FEATURE_NOT_SUPPORTED,
        DataFusionError::ResourcesExhausted(_) => sqlstate::OUT_OF_MEMORY,
        DataFusionError::Configuration(_) => sqlstate::INVALID_PARAMETER,
        DataFusionError::SchemaError(schema, _) => schema_code(schema),
        DataFusionError::Plan(m) => plan_code(m),
        DataFusionError::Execution(m) if m.contains("Divide by zero") => sqlstate::DIVISION_BY_ZERO,
        DataFusionError::ArrowError(arrow, _) => arrow_code(arrow),
        _ => sqlstate::INTERNAL_ERROR,
    };
    (code, message)
}

fn parser_message(err: &ParserError) -> String {
    match err {
        ParserError::ParserError(m) | ParserError::TokenizerError(m) => {
            format!("syntax error: {m}")
        }
        ParserError::RecursionLimitExceeded => "statement is nested too deeply".to_string(),
    }
}

fn schema_code(err: &datafusion::common::SchemaError) -> &'static str {
    use datafusion::common::SchemaError;
    match err {
        SchemaError::FieldNotFound { .. } => sqlstate::UNDEFINED_COLUMN,
        SchemaError::AmbiguousReference { .. } => "42702",
        SchemaError::DuplicateQualifiedField { .. }
        | SchemaError::DuplicateUnqualifiedField { .. } => "42701",
    }
}

fn plan_code(message: &str) -> &'static str {
    let m = message.to_ascii_lowercase();
    if (m.contains("table") && m.contains("not found"))
        || m.contains("failed to resolve schema")
        || m.contains("no such table")
    {
        sqlstate::UNDEFINED_TABLE
    } else if m.starts_with("role") && m.contains("does not exist") {
        sqlstate::UNDEFINED_OBJECT
    } else if m.contains("already exists") {
        sqlstate::DUPLICATE_TABLE
    } else if m.contains("invalid function") || m.contains("function") && m.contains("not found") {
        sqlstate::UNDEFINED_FUNCTION
    } else if m.contains("no field named") || m.contains("column") && m.contains("not found") {
        sqlstate::UNDEFINED_COLUMN
    } else if m.contains("cannot coerce")
        || m.contains("cannot infer common")
        || m.contains("type coercion")
    {
        sqlstate::DATATYPE_MISMATCH
    } else {
        sqlstate::SYNTAX_OR_ACCESS
    }
}

fn arrow_code(err: &ArrowError) -> &'static str {
    match err {
        ArrowError::DivideByZero => sqlstate::DIVISION_BY_ZERO,
        ArrowError::CastError(_) | ArrowError::ParseError(_) => sqlstate::INVALID_TEXT,
        ArrowError::ArithmeticOverflow(_) => sqlstate::NUMERIC_OUT_OF_RANGE,
        ArrowError::ComputeError(m) if m.contains("overflow") => sqlstate::NUMERIC_OUT_OF_RANGE,
        ArrowError::InvalidArgumentError(_) => sqlstate::DATA_EXCEPTION,
        ArrowError::MemoryError(_) => sqlstate::OUT_OF_MEMORY,
        _ => sqlstate::INTERNAL_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smackql_providers_common::ErrorClass;

    fn code(err: DataFusionError) -> &'static str {
        classify(&err).0
    }

    #[test]
    fn plan_errors() {
        assert_eq!(
            code(DataFusionError::Plan(
                "table 'smackql.public.nope' not found".into()
            )),
            sqlstate::UNDEFINED_TABLE
        );
        assert_eq!(
            code(DataFusionError::Plan("Invalid function 'nope'".into())),
            sqlstate::UNDEFINED_FUNCTION
        );
        assert_eq!(
            code(DataFusionError::NotImplemented("x".into())),
            sqlstate::FEATURE_NOT_SUPPORTED
        );
        assert_eq!(
            code(DataFusionError::Plan("role \"bob\" does not exist".into())),
            sqlstate::UNDEFINED_OBJECT
        );
    }

    #[test]
    fn parser_errors_are_syntax_errors() {
        let err = DataFusionError::SQL(
            Box::new(ParserError::ParserError(
                "Expected: end of statement".into(),
            )),
            None,
        );
        let (code, message) = classify(&err);
        assert_eq!(code, sqlstate::SYNTAX_ERROR);
        assert!(message.starts_with("syntax error"), "{message}");
    }

    #[test]
    fn provider_errors_keep_their_class() {
        let err: DataFusionError = ProviderError::new(
            ErrorClass::Unavailable,
            "cassandra",
            "Cassandra is unavailable",
        )
        .into();
        let wrapped = err.context("while scanning");
        assert_eq!(
            classify(&wrapped),
            (
                sqlstate::CONNECTION_FAILURE,
                "Cassandra is unavailable".to_string()
            )
        );
    }

    #[test]
    fn arrow_errors() {
        assert_eq!(
            code(DataFusionError::ArrowError(
                Box::new(ArrowError::DivideByZero),
                None
            )),
            sqlstate::DIVISION_BY_ZERO
        );
    }

    #[test]
    fn other_errors_pass_through() {
        assert!(map_error(&PgWireError::InvalidPassword("a".into())).is_none());
        let info = map_error(&PgWireError::ApiError(Box::new(ParserError::ParserError(
            "bad".into(),
        ))))
        .expect("mapped");
        assert_eq!(info.code, sqlstate::SYNTAX_ERROR);
    }

    #[test]
    fn messages_have_no_backtraces() {
        let err = DataFusionError::Plan("table 'x' not found".into());
        let (_, message) = classify(&err);
        assert_eq!(message, "table 'x' not found");
    }
}
