//! Catalog queries of specific clients, adjusted before parsing.
//!
//! Most client catalog queries run as sent, through datafusion-postgres's
//! rewrites and smackql's functions. A few use PostgreSQL features that
//! say nothing about smackql's objects; their fragments are replaced here
//! by what PostgreSQL would answer for those objects.

use std::borrow::Cow;

/// `(fragment as the client sends it, replacement)`.
const REPLACEMENTS: &[(&str, &str)] = &[
    // psql's `\d+`: a table's storage options and its TOAST table's, which
    // no smackql table has. psql's `\d` sends `''` in its place.
    (
        "pg_catalog.array_to_string(c.reloptions || array(select 'toast.' || x from \
         pg_catalog.unnest(tc.reloptions) x), ', ')",
        "''",
    ),
    // pgjdbc's `getTypeInfo`: a correlated scalar subquery in a filter,
    // which DataFusion cannot plan; the same filter as a semi-join.
    (
        "(t.typrelid = 0 OR (SELECT c.relkind = 'c' FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid))",
        "(t.typrelid = 0 OR t.typrelid IN (SELECT c.oid FROM pg_catalog.pg_class c WHERE c.relkind = 'c'))",
    ),
    // pgjdbc's type lookup: `pg_type.typinput` holds the input function's
    // name here, not its `regproc` oid.
    (
        "typinput='pg_catalog.array_in'::regproc",
        "typinput='array_in'",
    ),
    // pgjdbc's `getIndexInfo`: an element of an `int2vector`, which is
    // text here.
    (
        "tmp.I_INDOPTION[tmp.ORDINAL_POSITION - 1]",
        "CAST(split_part(tmp.I_INDOPTION, ' ', CAST(tmp.ORDINAL_POSITION AS INT)) AS SMALLINT)",
    ),
];

/// PostgreSQL's `information_schema._pg_expandarray`, a set-returning
/// function that pgjdbc calls in select lists.
const EXPAND_ARRAY: &str = "information_schema._pg_expandarray(";

/// `sql` with the known client fragments replaced.
pub(crate) fn adjust(sql: &str) -> Cow<'_, str> {
    let mut sql = Cow::Borrowed(sql);
    for (fragment, replacement) in REPLACEMENTS {
        if sql.contains(fragment) {
            sql = Cow::Owned(sql.replace(fragment, replacement));
        }
    }
    if sql.contains(EXPAND_ARRAY) {
        sql = Cow::Owned(field_access(&expand_arrays(&sql)));
    }
    sql
}

/// `sql` with each `information_schema._pg_expandarray(a)` of a select
/// list as `unnest(_pg_expandarray(a))`, and each `(...(a)).f` as
/// `get_field(unnest(_pg_expandarray(a)), 'f')`: the rows of a set-returning
/// function in a select list, as DataFusion unnests them.
fn expand_arrays(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find(EXPAND_ARRAY) {
        let open = at + EXPAND_ARRAY.len() - 1;
        let Some(close) = closing_paren(rest, open) else {
            break;
        };
        let argument = &rest[open + 1..close];
        let call = format!("unnest(_pg_expandarray({argument}))");
        // `(call).field`
        let before = rest[..at].trim_end();
        let after = rest[close + 1..].trim_start();
        let field = after
            .strip_prefix(").")
            .map(identifier)
            .filter(|f| !f.is_empty() && before.ends_with('('));
        if let Some(field) = field {
            out.push_str(&before[..before.len() - 1]);
            out.push_str(&format!("get_field({call}, '{}')", field.to_lowercase()));
            rest = &after[2 + field.len()..];
        } else {
            out.push_str(&rest[..at]);
            out.push_str(&call);
            rest = &rest[close + 1..];
        }
    }
    out.push_str(rest);
    out
}

/// `sql` with each composite field access `(a.b).f` (a parenthesized
/// column) as `get_field(a.b, 'f')`, which DataFusion plans.
fn field_access(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(open) = rest.find('(') {
        let inner_end = rest[open + 1..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .map(|n| open + 1 + n);
        let access = inner_end.and_then(|end| {
            let column = &rest[open + 1..end];
            let field = identifier(rest[end..].strip_prefix(").")?);
            let starts_word = rest[..open]
                .chars()
                .next_back()
                .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
            (starts_word && !column.is_empty() && !field.is_empty()).then_some((
                column,
                field,
                end + 2 + field.len(),
            ))
        });
        match access {
            Some((column, field, end)) => {
                out.push_str(&rest[..open]);
                out.push_str(&format!("get_field({column}, '{}')", field.to_lowercase()));
                rest = &rest[end..];
            }
            None => {
                out.push_str(&rest[..=open]);
                rest = &rest[open + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The identifier `text` starts with.
fn identifier(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// The position of the parenthesis that closes the one at `open`, skipping
/// quoted text.
fn closing_paren(sql: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    for (i, c) in sql[open..].char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => {
                depth -= 1;
                if depth == 0 {
                    return Some(open + i);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psql_verbose_table_details_drop_storage_options() {
        let sent = "SELECT c.relchecks, c.relispartition, pg_catalog.array_to_string(c.reloptions \
                    || array(select 'toast.' || x from pg_catalog.unnest(tc.reloptions) x), ', ')\n\
                    , c.reltablespace FROM pg_catalog.pg_class c";
        assert_eq!(
            adjust(sent),
            "SELECT c.relchecks, c.relispartition, ''\n, c.reltablespace FROM pg_catalog.pg_class c"
        );
        assert!(matches!(adjust("select 1"), Cow::Borrowed(_)));
    }

    #[test]
    fn pgjdbc_primary_keys_unnest_the_expanded_array() {
        let sent = "SELECT a.attname AS COLUMN_NAME,   \
                    (information_schema._pg_expandarray(con.conkey)).n AS KEY_SEQ, \
                    information_schema._pg_expandarray(con.conkey) AS KEYS FROM t \
                    ) result where  result.A_ATTNUM = (result.KEYS).x ";
        assert_eq!(
            adjust(sent),
            "SELECT a.attname AS COLUMN_NAME,   \
             get_field(unnest(_pg_expandarray(con.conkey)), 'n') AS KEY_SEQ, \
             unnest(_pg_expandarray(con.conkey)) AS KEYS FROM t \
             ) result where  result.A_ATTNUM = get_field(result.KEYS, 'x') "
        );
    }

    #[test]
    fn field_access_leaves_calls_and_subqueries() {
        assert_eq!(
            field_access("count(x).y, (a.b).c, (select 1).d, f((k).x)"),
            "count(x).y, get_field(a.b, 'c'), (select 1).d, f(get_field(k, 'x'))"
        );
    }
}
