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
];

/// `sql` with the known client fragments replaced.
pub(crate) fn adjust(sql: &str) -> Cow<'_, str> {
    let mut sql = Cow::Borrowed(sql);
    for (fragment, replacement) in REPLACEMENTS {
        if sql.contains(fragment) {
            sql = Cow::Owned(sql.replace(fragment, replacement));
        }
    }
    sql
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
}
