//! Catalog queries of specific clients, adjusted before parsing.
//!
//! Most client catalog queries run as sent, through datafusion-postgres's
//! rewrites and smackql's functions. A few use PostgreSQL features that
//! say nothing about smackql's objects; their fragments are replaced here
//! by what PostgreSQL would answer for those objects.

use std::borrow::Cow;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    visit_expressions_mut, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList,
    FunctionArguments, Ident, Join, JoinConstraint, JoinOperator, ObjectName, Query, Select,
    SetExpr, TableFactor, Value, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// `(fragment as the client sends it, replacement)`.
const REPLACEMENTS: &[(&str, &str)] = &[
    // psql's `\d+`: a table's storage options and its TOAST table's, which
    // no smackql table has. psql's `\d` sends `''` in its place.
    (
        "pg_catalog.array_to_string(c.reloptions || array(select 'toast.' || x from \
         pg_catalog.unnest(tc.reloptions) x), ', ')",
        "''",
    ),
    // Metabase's `describe-fields`: the comment of each column, found
    // through its table's name cast to `regclass`. No smackql column has
    // a comment.
    (
        "COL_DESCRIPTION(CAST(CAST(FORMAT('%I.%I', CAST(\"c\".\"table_schema\" AS TEXT), \
         CAST(\"c\".\"table_name\" AS TEXT)) AS REGCLASS) AS OID), \"c\".\"ordinal_position\")",
        "CAST(NULL AS TEXT)",
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
    // pgjdbc's `getImportedKeys` and `getExportedKeys` ask PostgreSQL's
    // compile-time limit on index columns first.
    (
        "SELECT setting FROM pg_catalog.pg_settings WHERE name='max_index_keys'",
        "SELECT '32' AS setting",
    ),
    // DBeaver's attributes of a composite type: both its row number and
    // `a.*` are named `attnum`, which DataFusion calls ambiguous. No
    // smackql relation has a dropped column, so attribute numbers have no
    // gaps and equal their row numbers.
    (
        "c.relname,row_number() OVER (ORDER BY a.attnum) as attnum,a.*,",
        "c.relname,a.*,",
    ),
    // psqlODBC's `SQLPrimaryKeys`: `'t'` is a boolean for PostgreSQL.
    ("i.indisprimary = 't'", "i.indisprimary = true"),
    // pgjdbc's `getIndexInfo`: an element of an `int2vector`, which counts
    // from 0 in PostgreSQL and is a list counting from 1 here.
    (
        "tmp.I_INDOPTION[tmp.ORDINAL_POSITION - 1]",
        "tmp.I_INDOPTION[tmp.ORDINAL_POSITION]",
    ),
];

/// PostgreSQL's set-returning functions that clients call in select
/// lists, as sent and as smackql's function returning their rows as a
/// list: pgjdbc's `information_schema._pg_expandarray`, SQLAlchemy's and
/// pgcli's `generate_subscripts`, and DBeaver's `aclexplode`.
const SET_RETURNING: &[(&str, &str)] = &[
    ("information_schema._pg_expandarray(", "_pg_expandarray"),
    ("generate_subscripts(", "generate_subscripts"),
    ("aclexplode(", "aclexplode"),
];

/// asyncpg's type introspection (`INTRO_LOOKUP_TYPES`) starts so: a
/// recursive walk through domains, composites, ranges and arrays, with
/// correlated subqueries inside `CASE` that DataFusion cannot plan.
const ASYNCPG_TYPE_INTROSPECTION: &str = "WITH RECURSIVE typeinfo_tree(";

/// What asyncpg's type introspection finds among smackql's types, which
/// has no domains, composite types or ranges: the types asked for (depth 0)
/// and the elements of those that are arrays (depth 1). Its columns have
/// the types asyncpg decodes without introspection (`oid`, `int4`, `text`,
/// `text[]`), and its one parameter is the `oid[]` of types asked for.
const ASYNCPG_TYPES: &str = "SELECT DISTINCT t.oid AS oid, ns.nspname AS ns, t.typname AS name, \
    t.typtype AS kind, CAST(NULL AS INT) AS basetype, t.typelem AS elemtype, \
    elem_t.typdelim AS elemdelim, CAST(NULL AS INT) AS range_subtype, \
    CAST(NULL AS TEXT[]) AS attrtypoids, CAST(NULL AS TEXT[]) AS attrnames, \
    CASE WHEN t.oid = ANY($1::oid[]) THEN 0 ELSE 1 END AS depth, \
    CAST(NULL AS TEXT) AS basetype_name, \
    CASE WHEN t.typelem = 0 THEN NULL ELSE pg_catalog.format_type(t.typelem, NULL) END \
    AS elemtype_name, CAST(NULL AS TEXT) AS range_subtype_name \
    FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace ns ON ns.oid = t.typnamespace \
    LEFT JOIN pg_catalog.pg_type elem_t \
    ON t.typlen = -1 AND t.typelem != 0 AND t.typelem = elem_t.oid \
    WHERE t.oid = ANY($1::oid[]) OR t.oid IN \
    (SELECT a.typelem FROM pg_catalog.pg_type a WHERE a.oid = ANY($1::oid[])) \
    ORDER BY depth DESC";

/// `sql` with the known client fragments replaced.
pub(crate) fn adjust(sql: &str) -> Cow<'_, str> {
    if sql.trim_start().starts_with(ASYNCPG_TYPE_INTROSPECTION) {
        return Cow::Borrowed(ASYNCPG_TYPES);
    }
    let mut sql = Cow::Borrowed(sql);
    for (fragment, replacement) in REPLACEMENTS {
        if sql.contains(fragment) {
            sql = Cow::Owned(sql.replace(fragment, replacement));
        }
    }
    if VECTORS.iter().any(|v| sql.contains(v)) {
        sql = Cow::Owned(shift_vector_subscripts(&sql));
    }
    let lower = sql.to_ascii_lowercase();
    if SET_RETURNING.iter().any(|(sent, _)| lower.contains(sent)) {
        sql = Cow::Owned(field_access(&unnest_set_returning(&sql)));
    }
    if needs_rewriting(&sql) {
        if let Some(rewritten) = rewrite(&sql) {
            sql = Cow::Owned(rewritten);
        }
    }
    sql
}

/// Catalog tables whose scalar subqueries inside `CASE` are NULL for every
/// smackql object: no column has a default (`pg_attrdef`) or a sequence
/// (`pg_sequence`), and every column has `attcollation` 0, so lookups of
/// collations (`pg_collation`, `pg_type.typcollation`, with
/// `pg_namespace`) never decide a result. DataFusion cannot plan a
/// correlated subquery inside `CASE`; SQLAlchemy's `get_columns` sends
/// four.
const NULL_IN_CASE: &[&str] = &[
    "pg_attrdef",
    "pg_sequence",
    "pg_collation",
    "pg_type",
    "pg_namespace",
];

/// Whether `sql` may hold what [`rewrite`] changes; most queries are not
/// parsed twice.
fn needs_rewriting(sql: &str) -> bool {
    let upper = sql.to_ascii_uppercase();
    upper.contains(" ESCAPE ")
        || (upper.contains("CASE") && upper.contains("PG_ATTRDEF"))
        || (upper.contains("LATERAL") && upper.contains("ACLEXPLODE("))
}

/// `sql` with `LIKE ... ESCAPE 'c'` as `LIKE like_escape(..., 'c')`, the
/// subqueries of [`NULL_IN_CASE`] inside `CASE` as NULL, and `CROSS JOIN
/// LATERAL aclexplode(...)` as a join (see [`LateralAcls`]); `None` when it
/// does not parse, leaving the error to the planner.
fn rewrite(sql: &str) -> Option<String> {
    let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).ok()?;
    for statement in &mut statements {
        let _ = statement.visit(&mut LateralAcls);
        let _ = visit_expressions_mut(statement, |expr| {
            match expr {
                Expr::Like {
                    pattern,
                    escape_char,
                    ..
                }
                | Expr::ILike {
                    pattern,
                    escape_char,
                    ..
                } => {
                    if let Some(escape) = escape_char.take() {
                        let escape = Expr::Value(escape);
                        let original =
                            std::mem::replace(pattern.as_mut(), Expr::value(Value::Null));
                        **pattern = call("like_escape", vec![original, escape]);
                    }
                }
                Expr::Case { .. } => {
                    let _ = visit_expressions_mut(expr, |inner| {
                        if matches!(inner, Expr::Subquery(query) if reads_only(query, NULL_IN_CASE))
                        {
                            *inner = Expr::value(Value::Null);
                        }
                        ControlFlow::<()>::Continue(())
                    });
                }
                _ => {}
            }
            ControlFlow::<()>::Continue(())
        });
    }
    Some(
        statements
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; "),
    )
}

/// Rewrites `CROSS JOIN LATERAL aclexplode(x.acl) AS a`, which DataFusion
/// cannot plan (a table function of an outer column), as a join with the
/// rows that `aclexplode` gives each distinct ACL of `x`'s table:
/// `JOIN (...) AS a ON a.__acl = x.acl`. A NULL ACL, as every ACL of
/// smackql's catalog is, joins nothing, as it explodes to nothing.
struct LateralAcls;

impl VisitorMut for LateralAcls {
    type Break = ();

    fn post_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        for from in &mut select.from {
            for at in 0..from.joins.len() {
                let earlier: Vec<&TableFactor> = std::iter::once(&from.relation)
                    .chain(from.joins[..at].iter().map(|j| &j.relation))
                    .collect();
                if let Some(join) = lateral_acl_join(&from.joins[at], &earlier) {
                    from.joins[at] = join;
                }
            }
        }
        ControlFlow::Continue(())
    }
}

/// `join` rewritten by [`LateralAcls`], when it is `CROSS JOIN LATERAL
/// aclexplode(x.column) [AS a]` and `x` is among `earlier`.
fn lateral_acl_join(join: &Join, earlier: &[&TableFactor]) -> Option<Join> {
    let TableFactor::Function {
        lateral: true,
        name,
        args,
        with_ordinality: false,
        alias,
    } = &join.relation
    else {
        return None;
    };
    let called = name.0.last()?.as_ident()?.value.to_ascii_lowercase();
    if called != "aclexplode" || !matches!(join.join_operator, JoinOperator::CrossJoin(_)) {
        return None;
    }
    let [FunctionArg::Unnamed(FunctionArgExpr::Expr(acl))] = args.as_slice() else {
        return None;
    };
    let Expr::CompoundIdentifier(parts) = acl else {
        return None;
    };
    let [table, _column] = parts.as_slice() else {
        return None;
    };
    let source = earlier.iter().find(|factor| match factor {
        TableFactor::Table { name, alias, .. } => match alias {
            Some(alias) => alias.name.value.eq_ignore_ascii_case(&table.value),
            None => name
                .0
                .last()
                .and_then(|part| part.as_ident())
                .is_some_and(|last| last.value.eq_ignore_ascii_case(&table.value)),
        },
        _ => false,
    })?;
    if alias.as_ref().is_some_and(|a| !a.columns.is_empty()) {
        return None;
    }
    let alias = alias
        .as_ref()
        .map_or_else(|| "aclexplode".to_string(), |a| a.name.to_string());
    let rows = format!(
        "(SELECT __acl, get_field(__item, 'grantor') AS grantor, \
         get_field(__item, 'grantee') AS grantee, \
         get_field(__item, 'privilege_type') AS privilege_type, \
         get_field(__item, 'is_grantable') AS is_grantable \
         FROM (SELECT __acl, unnest(aclexplode(__acl)) AS __item \
         FROM (SELECT DISTINCT {acl} AS __acl FROM {source}) AS __acls) AS __items) AS {alias}"
    );
    let dialect = PostgreSqlDialect {};
    let relation = Parser::new(&dialect)
        .try_with_sql(&rows)
        .ok()?
        .parse_table_factor()
        .ok()?;
    let on = Parser::new(&dialect)
        .try_with_sql(&format!("{alias}.__acl = {acl}"))
        .ok()?
        .parse_expr()
        .ok()?;
    Some(Join {
        relation,
        global: false,
        join_operator: JoinOperator::Inner(JoinConstraint::On(on)),
    })
}

/// Whether `query` is a plain select whose tables are all among `tables`.
fn reads_only(query: &Query, tables: &[&str]) -> bool {
    let SetExpr::Select(select) = query.body.as_ref() else {
        return false;
    };
    let named = |factor: &TableFactor| match factor {
        TableFactor::Table { name, .. } => name
            .0
            .last()
            .and_then(|part| part.as_ident())
            .is_some_and(|ident| tables.contains(&ident.value.to_ascii_lowercase().as_str())),
        _ => false,
    };
    !select.from.is_empty()
        && select
            .from
            .iter()
            .all(|from| named(&from.relation) && from.joins.iter().all(|j| named(&j.relation)))
}

/// A call of function `name`.
fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|arg| FunctionArg::Unnamed(FunctionArgExpr::Expr(arg)))
                .collect(),
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

/// `sql` with each call of a set-returning function of [`SET_RETURNING`] in
/// a select list, `f(a)`, as `unnest(f(a))`, and each `(f(a)).x` as
/// `get_field(unnest(f(a)), 'x')`: the rows of a set-returning function,
/// as DataFusion unnests a list in a select list.
fn unnest_set_returning(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(((at, open), function)) = SET_RETURNING
        .iter()
        .filter_map(|(sent, function)| Some((find_call(rest, sent)?, *function)))
        .min_by_key(|((at, _), _)| *at)
    {
        let Some(close) = closing_paren(rest, open) else {
            break;
        };
        let argument = &rest[open + 1..close];
        let call = format!("unnest({function}({argument}))");
        // `(call).field`
        let before = rest[..at].trim_end();
        let after = rest[close + 1..].trim_start();
        let field = after
            .strip_prefix(").")
            .and_then(field_name)
            .filter(|_| before.ends_with('('));
        if let Some((length, field)) = field {
            out.push_str(&before[..before.len() - 1]);
            out.push_str(&format!("get_field({call}, '{field}')"));
            rest = &after[2 + length..];
        } else {
            out.push_str(&rest[..at]);
            out.push_str(&call);
            rest = &rest[close + 1..];
        }
    }
    out.push_str(rest);
    out
}

/// Where `sql` calls `name(` (in any case, with or without a
/// `pg_catalog.` qualifier) other than as a table in `FROM` or `JOIN`: the
/// call's start and its opening parenthesis.
fn find_call(sql: &str, name: &str) -> Option<(usize, usize)> {
    // ASCII case changes keep every byte where it is.
    let lower = sql.to_ascii_lowercase();
    let mut from = 0;
    while let Some(found) = lower[from..].find(name) {
        let open = from + found + name.len() - 1;
        let mut at = from + found;
        if lower[..at].ends_with("pg_catalog.") {
            at -= "pg_catalog.".len();
        }
        let previous = sql[..at]
            .trim_end()
            .rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let word_start = sql[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'));
        if word_start && !matches!(previous.as_str(), "FROM" | "JOIN" | "LATERAL") {
            return Some((at, open));
        }
        from += found + name.len();
    }
    None
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
            let (length, field) = field_name(rest[end..].strip_prefix(").")?)?;
            let starts_word = rest[..open]
                .chars()
                .next_back()
                .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
            (starts_word && !column.is_empty()).then_some((column, field, end + 2 + length))
        });
        match access {
            Some((column, field, end)) => {
                out.push_str(&rest[..open]);
                out.push_str(&format!("get_field({column}, '{field}')"));
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

/// The field name `text` starts with, and how long it is written: a
/// quoted name as it is, an unquoted one in lower case.
fn field_name(text: &str) -> Option<(usize, String)> {
    if let Some(quoted) = text.strip_prefix('"') {
        let end = quoted.find('"').filter(|&end| end > 0)?;
        return Some((end + 2, quoted[..end].replace('\'', "''")));
    }
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    (end > 0).then(|| (end, text[..end].to_ascii_lowercase()))
}

/// Subscripted vectors of `pg_index`, which count from 0 in PostgreSQL and
/// are lists counting from 1 here.
const VECTORS: &[&str] = &[".indkey[", ".indoption[", ".indclass[", ".indcollation["];

/// `sql` with each subscript `x.indkey[e]` of a [`VECTORS`] column as
/// `x.indkey[(e) + 1]`.
fn shift_vector_subscripts(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut rest = sql;
    while let Some((at, vector)) = VECTORS
        .iter()
        .filter_map(|v| Some((rest.find(v)?, *v)))
        .min_by_key(|(at, _)| *at)
    {
        let open = at + vector.len() - 1;
        let Some(close) = closing_bracket(rest, open) else {
            break;
        };
        out.push_str(&rest[..=open]);
        out.push_str(&format!("({}) + 1]", &rest[open + 1..close]));
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

/// The position of the `]` that closes the `[` at `open`.
fn closing_bracket(sql: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in sql[open..].char_indices() {
        match c {
            '[' => depth += 1,
            ']' => {
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
    fn metabase_index_columns_unnest_in_upper_case_with_quoted_fields() {
        let sent = "SELECT \"ci\".\"oid\" AS \"ci_oid\", \
                    (INFORMATION_SCHEMA._PG_EXPANDARRAY(\"i\".\"indkey\")).\"n\" AS \"pos\" \
                    FROM \"pg_catalog\".\"pg_index\" AS \"i\"";
        assert_eq!(
            adjust(sent),
            "SELECT \"ci\".\"oid\" AS \"ci_oid\", \
             get_field(unnest(_pg_expandarray(\"i\".\"indkey\")), 'n') AS \"pos\" \
             FROM \"pg_catalog\".\"pg_index\" AS \"i\""
        );
        assert_eq!(
            field_access("(t.c).\"Mixed\", (t.c).Lower"),
            "get_field(t.c, 'Mixed'), get_field(t.c, 'lower')"
        );
    }

    #[test]
    fn acl_explosions_are_unnested_in_select_lists_and_joined_in_from() {
        assert_eq!(
            adjust("SELECT relname, (aclexplode(relacl)).grantee as granteeI FROM pg_class"),
            "SELECT relname, get_field(unnest(aclexplode(relacl)), 'grantee') as granteeI \
             FROM pg_class"
        );
        assert_eq!(
            adjust(
                "SELECT c.relname, acl.privilege_type FROM pg_catalog.pg_class c \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) AS acl WHERE acl.grantee = 0"
            ),
            "SELECT c.relname, acl.privilege_type FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             INNER JOIN (SELECT __acl, get_field(__item, 'grantor') AS grantor, \
             get_field(__item, 'grantee') AS grantee, \
             get_field(__item, 'privilege_type') AS privilege_type, \
             get_field(__item, 'is_grantable') AS is_grantable \
             FROM (SELECT __acl, unnest(aclexplode(__acl)) AS __item \
             FROM (SELECT DISTINCT c.relacl AS __acl FROM pg_catalog.pg_class c) AS __acls) \
             AS __items) AS acl ON acl.__acl = c.relacl WHERE acl.grantee = 0"
        );
    }

    #[test]
    fn sqlalchemy_schema_names_escape_with_like_escape() {
        let sent = "SELECT pg_catalog.pg_namespace.nspname FROM pg_catalog.pg_namespace \
                    WHERE (pg_catalog.pg_namespace.nspname NOT LIKE $1 || '%' ESCAPE '/')";
        assert_eq!(
            adjust(sent),
            "SELECT pg_catalog.pg_namespace.nspname FROM pg_catalog.pg_namespace \
             WHERE (pg_catalog.pg_namespace.nspname NOT LIKE like_escape($1 || '%', '/'))"
        );
    }

    #[test]
    fn catalog_subqueries_in_case_are_null() {
        let sent = "SELECT a.attname, CASE WHEN a.atthasdef THEN (SELECT \
                    pg_catalog.pg_get_expr(d.adbin, d.adrelid) FROM pg_catalog.pg_attrdef AS d \
                    WHERE d.adrelid = a.attrelid) ELSE NULL END AS \"default\", \
                    CASE WHEN a.x THEN (SELECT 1 FROM ks.t) END AS kept \
                    FROM pg_catalog.pg_attribute AS a";
        assert_eq!(
            adjust(sent),
            "SELECT a.attname, CASE WHEN a.atthasdef THEN NULL ELSE NULL END AS \"default\", \
             CASE WHEN a.x THEN (SELECT 1 FROM ks.t) END AS kept \
             FROM pg_catalog.pg_attribute AS a"
        );
    }

    #[test]
    fn generate_subscripts_of_a_select_list_is_unnested() {
        assert_eq!(
            adjust(
                "SELECT unnest(i.indkey) AS attnum, pg_catalog.generate_subscripts(i.indkey, $1) \
                 AS ord FROM pg_catalog.pg_index AS i JOIN generate_subscripts(x, 1) AS s ON true"
            ),
            "SELECT unnest(i.indkey) AS attnum, unnest(generate_subscripts(i.indkey, $1)) \
             AS ord FROM pg_catalog.pg_index AS i JOIN generate_subscripts(x, 1) AS s ON true"
        );
    }

    #[test]
    fn vector_subscripts_count_from_one() {
        assert_eq!(
            adjust("SELECT ta.attnum = i.indkey[ia.attnum-1], i.indoption[a[1]] FROM t"),
            "SELECT ta.attnum = i.indkey[(ia.attnum-1) + 1], i.indoption[(a[1]) + 1] FROM t"
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
