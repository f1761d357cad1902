//! Building CQL text. Identifiers are always quoted; values are never
//! spliced into the text, they are bound to prepared statements.

/// Quotes a CQL identifier: `Mixed"Case` becomes `"Mixed""Case"`.
pub fn quote_identifier(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// `"keyspace"."table"`
pub fn qualified_table(keyspace: &str, table: &str) -> String {
    format!("{}.{}", quote_identifier(keyspace), quote_identifier(table))
}

/// `SELECT "a", "b" FROM "ks"."t"`, or the first column only when no
/// column is needed (for `count(*)`), since CQL has no empty select list.
pub fn select(keyspace: &str, table: &str, columns: &[&str]) -> String {
    let list = columns
        .iter()
        .map(|c| quote_identifier(c))
        .collect::<Vec<_>>()
        .join(", ");
    format!("SELECT {list} FROM {}", qualified_table(keyspace, table))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_identifiers() {
        assert_eq!(quote_identifier("views"), "\"views\"");
        assert_eq!(quote_identifier("Mixed\"Case"), "\"Mixed\"\"Case\"");
        assert_eq!(quote_identifier("select"), "\"select\"");
    }

    #[test]
    fn builds_selects() {
        assert_eq!(
            select("ks", "Events", &["a", "b"]),
            "SELECT \"a\", \"b\" FROM \"ks\".\"Events\""
        );
    }
}
