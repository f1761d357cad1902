//! Scripts: several statements in one string, as a client sends them in one
//! simple-protocol query (`psql -c "…; …"`) or one Flight SQL call.

use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::tokenizer::{Location, Token, Tokenizer};

/// The statements of `sql`, split at every `;` outside quotes, comments and
/// dollar-quoted bodies, each from its first word (comments before it are
/// left out) to before its `;`. Pieces with no statement in them, only
/// blanks or comments, are left out. A script that does not tokenize is
/// returned whole, for the parser to report.
pub fn statements(sql: &str) -> Vec<&str> {
    let Ok(tokens) = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize_with_location() else {
        return vec![sql];
    };
    let offsets = Offsets::new(sql);
    let mut pieces = Vec::new();
    // Where the statement being read starts, once a word of it is read.
    let mut start = None;
    for token in &tokens {
        match &token.token {
            Token::Whitespace(_) => {}
            Token::SemiColon => {
                let Some(end) = offsets.byte(token.span.start) else {
                    return vec![sql];
                };
                if let Some(start) = start.take() {
                    pieces.push(&sql[start..end]);
                }
            }
            _ if start.is_none() => {
                let Some(at) = offsets.byte(token.span.start) else {
                    return vec![sql];
                };
                start = Some(at);
            }
            _ => {}
        }
    }
    if let Some(start) = start {
        pieces.push(&sql[start..]);
    }
    pieces
}

/// Byte offsets of the tokenizer's (line, column) locations.
struct Offsets<'a> {
    sql: &'a str,
    /// The byte offset where each line starts.
    lines: Vec<usize>,
}

impl<'a> Offsets<'a> {
    fn new(sql: &'a str) -> Self {
        let lines = std::iter::once(0)
            .chain(sql.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self { sql, lines }
    }

    /// Lines and columns count from 1; a column counts characters.
    fn byte(&self, at: Location) -> Option<usize> {
        let line_start = *self
            .lines
            .get(usize::try_from(at.line).ok()?.checked_sub(1)?)?;
        let column = usize::try_from(at.column).ok()?.checked_sub(1)?;
        let line = &self.sql[line_start..];
        let within = match line.char_indices().nth(column) {
            Some((i, _)) => i,
            None if line.chars().count() == column => line.len(),
            None => return None,
        };
        Some(line_start + within)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_semicolons_outside_quotes_and_comments() {
        let sql = "CREATE EXTERNAL TABLE kafka.t (a int) STORED AS KAFKA LOCATION 'x;y';\n\
                   -- a comment; still a comment\n\
                   SELECT 'ü;', $$a;b$$, \"c;d\" FROM t; /* ; */ REFRESH MATERIALIZED VIEW ks.v;\n";
        assert_eq!(
            statements(sql),
            vec![
                "CREATE EXTERNAL TABLE kafka.t (a int) STORED AS KAFKA LOCATION 'x;y'",
                "SELECT 'ü;', $$a;b$$, \"c;d\" FROM t",
                "REFRESH MATERIALIZED VIEW ks.v",
            ]
        );
    }

    #[test]
    fn keeps_a_single_statement_and_drops_empty_ones() {
        assert_eq!(statements("SELECT 1"), vec!["SELECT 1"]);
        assert_eq!(statements("SELECT 1;;  ;"), vec!["SELECT 1"]);
        assert!(statements(" ; ").is_empty());
        // A comment after the last statement is no statement of its own.
        assert_eq!(statements("SELECT 1; -- done"), vec!["SELECT 1"]);
        assert_eq!(statements("SELECT 1 -- done"), vec!["SELECT 1 -- done"]);
        // An unterminated string does not tokenize: the script stays whole.
        assert_eq!(
            statements("SELECT 'a; SELECT 2"),
            vec!["SELECT 'a; SELECT 2"]
        );
    }
}
