//! Per-session Cassandra settings, set from SQL:
//!
//! ```sql
//! SET cassandra.consistency = 'LOCAL_QUORUM';
//! ```
//!
//! They live in DataFusion's session configuration, so each connection has
//! its own, and `information_schema.df_settings` shows them.

use datafusion::common::config::ConfigExtension;
use datafusion::common::extensions_options;
use scylla::statement::Consistency;

extensions_options! {
    /// Cassandra settings of one SQL session.
    pub struct CassandraSessionOptions {
        /// Consistency level of reads: ANY, ONE, TWO, THREE, QUORUM, ALL,
        /// LOCAL_QUORUM, EACH_QUORUM or LOCAL_ONE. Empty means the
        /// driver's default (LOCAL_QUORUM).
        pub consistency: String, default = String::new()
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
