//! Per-session Cassandra settings, set from SQL:
//!
//! ```sql
//! SET cassandra.consistency = 'LOCAL_QUORUM';
//! SET cassandra.request_timeout_ms = 5000;
//! ```
//!
//! They live in DataFusion's session configuration, so each connection has
//! its own, and `information_schema.df_settings` shows them. A session's
//! setting wins over the table's (from the gateway's configuration), which
//! wins over the connection's default.

use std::fmt;
use std::time::Duration;

use datafusion::common::config::ConfigExtension;
use datafusion::common::extensions_options;
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::Consistency;

extensions_options! {
    /// Cassandra settings of one SQL session.
    pub struct CassandraSessionOptions {
        /// Consistency level of reads and writes: ANY, ONE, TWO, THREE,
        /// QUORUM, ALL, LOCAL_QUORUM, EACH_QUORUM or LOCAL_ONE. Empty means
        /// the table's level, or the driver's default (LOCAL_QUORUM).
        pub consistency: String, default = String::new()
        /// How long one request (one page of a scan, one write) may take, in
        /// milliseconds; 0 means the table's or the connection's timeout.
        pub request_timeout_ms: u64, default = 0
    }
}

/// How requests to one table are sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestOptions {
    /// The consistency level; the driver's default when `None`.
    pub consistency: Option<Consistency>,
    /// The request timeout; the connection's when `None`.
    pub timeout: Option<Duration>,
}

impl RequestOptions {
    /// These options where set, `fallback` where not.
    pub fn or(self, fallback: RequestOptions) -> RequestOptions {
        RequestOptions {
            consistency: self.consistency.or(fallback.consistency),
            timeout: self.timeout.or(fallback.timeout),
        }
    }

    /// Sets them on a prepared statement.
    pub fn apply(&self, prepared: &mut PreparedStatement) {
        if let Some(consistency) = self.consistency {
            prepared.set_consistency(consistency);
        }
        if let Some(timeout) = self.timeout {
            prepared.set_request_timeout(Some(timeout));
        }
    }

    /// The options a session's settings ask for.
    pub fn from_session(session: &CassandraSessionOptions) -> Result<Self, String> {
        Ok(RequestOptions {
            consistency: parse_consistency(&session.consistency)?,
            timeout: (session.request_timeout_ms > 0)
                .then(|| Duration::from_millis(session.request_timeout_ms)),
        })
    }
}

/// `, consistency=LocalOne, request_timeout=5s` for what is set.
impl fmt::Display for RequestOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(consistency) = self.consistency {
            write!(f, ", consistency={consistency}")?;
        }
        if let Some(timeout) = self.timeout {
            write!(f, ", request_timeout={timeout:?}")?;
        }
        Ok(())
    }
}

impl ConfigExtension for CassandraSessionOptions {
    const PREFIX: &'static str = "cassandra";
}

/// Parses a consistency level, case-insensitively; empty is "default".
pub fn parse_consistency(text: &str) -> Result<Option<Consistency>, String> {
    let level = match text.trim().to_ascii_uppercase().as_str() {
        "" => return Ok(None),
        "ANY" => Consistency::Any,
        "ONE" => Consistency::One,
        "TWO" => Consistency::Two,
        "THREE" => Consistency::Three,
        "QUORUM" => Consistency::Quorum,
        "ALL" => Consistency::All,
        "LOCAL_QUORUM" => Consistency::LocalQuorum,
        "EACH_QUORUM" => Consistency::EachQuorum,
        "LOCAL_ONE" => Consistency::LocalOne,
        other => {
            return Err(format!(
                "invalid cassandra.consistency {other:?}: expected one of ANY, ONE, TWO, \
                 THREE, QUORUM, ALL, LOCAL_QUORUM, EACH_QUORUM, LOCAL_ONE"
            ))
        }
    };
    Ok(Some(level))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_levels() {
        assert_eq!(parse_consistency(""), Ok(None));
        assert_eq!(
            parse_consistency("local_quorum"),
            Ok(Some(Consistency::LocalQuorum))
        );
        assert_eq!(parse_consistency(" ONE "), Ok(Some(Consistency::One)));
        assert!(parse_consistency("MOST")
            .unwrap_err()
            .contains("LOCAL_QUORUM"));
    }
}
