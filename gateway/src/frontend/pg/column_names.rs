//! The names PostgreSQL gives the columns of a query's result.
//!
//! DataFusion names an unaliased expression by its text: `count(*)`,
//! `ks.events.user_id` for `user_id::text`, `Int64(1)`. PostgreSQL names it
//! after what it computes: a column by the column's name (`user_id`), a
//! function call by the function (`count`), a cast by what it casts or
//! else by the type (`text` for `1::text`), and anything else `?column?`.
//! Clients show these names, and many read values by them (a pandas frame's
//! columns, a dashboard's series), so the Postgres front end describes
//! results with PostgreSQL's names. Two columns may share a name, as in
//! PostgreSQL; inside DataFusion they keep their own unique names.

use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::sql::sqlparser::ast::{
    AccessExpr, DataType as SqlType, Expr, Ident, Query, SelectItem, SetExpr, Statement,
    TrimWhereField,
};
use std::sync::Arc;

/// The name PostgreSQL gives each column of `statement`'s result, when it
/// is a query whose select list names every column (no `*`); `None`
/// otherwise, and the names DataFusion gives stand.
pub(crate) fn result_names(statement: &Statement) -> Option<Vec<String>> {
    let Statement::Query(query) = statement else {
        return None;
    };
    query_names(query)
}

/// [`result_names`] of the statement `sql`.
pub(crate) fn names_of_sql(sql: &str) -> Option<Vec<String>> {
    let dialect = datafusion::sql::sqlparser::dialect::PostgreSqlDialect {};
    let statements = datafusion::sql::sqlparser::parser::Parser::parse_sql(&dialect, sql).ok()?;
    match statements.as_slice() {
        [statement] => result_names(statement),
        _ => None,
    }
}

/// [`result_names`] of a query.
pub(crate) fn query_names(query: &Query) -> Option<Vec<String>> {
    let mut body = query.body.as_ref();
    // A set operation's columns are named by its first select.
    loop {
        match body {
            SetExpr::SetOperation { left, .. } => body = left,
            SetExpr::Query(inner) => return query_names(inner),
            SetExpr::Select(select) => {
                return select
                    .projection
                    .iter()
                    .map(|item| match item {
                        SelectItem::UnnamedExpr(expr) => Some(column_name(expr)),
                        SelectItem::ExprWithAlias { alias, .. } => Some(ident_name(alias)),
                        _ => None,
                    })
                    .collect();
            }
            _ => return None,
        }
    }
}

/// `schema` with its columns named `names`, when there is a name for each.
pub(crate) fn renamed(schema: &Schema, names: Option<&[String]>) -> SchemaRef {
    match names {
        Some(names) if names.len() == schema.fields().len() => {
            let fields: Vec<Field> = schema
                .fields()
                .iter()
                .zip(names)
                .map(|(field, name)| field.as_ref().clone().with_name(name))
                .collect();
            Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
        }
        _ => Arc::new(schema.clone()),
    }
}

/// PostgreSQL's name for an unaliased select item `expr`.
fn column_name(expr: &Expr) -> String {
    figure(expr).unwrap_or_else(|| "?column?".to_string())
}

/// The name `expr` gives a column, if it gives one (PostgreSQL's
/// `FigureColname`).
fn figure(expr: &Expr) -> Option<String> {
    Some(match expr {
        Expr::Identifier(ident) => ident_name(ident),
        Expr::CompoundIdentifier(parts) => ident_name(parts.last()?),
        Expr::CompoundFieldAccess { root, access_chain } => match access_chain.last() {
            Some(AccessExpr::Dot(Expr::Identifier(field))) => ident_name(field),
            Some(AccessExpr::Dot(_)) => return None,
            Some(AccessExpr::Subscript(_)) | None => return figure(root),
        },
        Expr::Function(function) => match function.name.0.last()?.as_ident() {
            Some(name) => ident_name(name),
            None => return None,
        },
        Expr::Cast {
            expr, data_type, ..
        } => return figure(expr).or_else(|| Some(type_name(data_type))),
        Expr::Nested(inner) => return figure(inner),
        Expr::TypedString(typed) => type_name(&typed.data_type),
        Expr::Interval(_) => "interval".into(),
        Expr::Case { .. } => "case".into(),
        Expr::Array(_) => "array".into(),
        Expr::Exists { .. } => "exists".into(),
        Expr::Tuple(_) => "row".into(),
        Expr::Subquery(query) => {
            return query_names(query).and_then(|names| names.into_iter().next())
        }
        Expr::Extract { .. } => "extract".into(),
        Expr::Substring { .. } => "substring".into(),
        Expr::Position { .. } => "position".into(),
        Expr::Overlay { .. } => "overlay".into(),
        Expr::Ceil { .. } => "ceil".into(),
        Expr::Floor { .. } => "floor".into(),
        Expr::AtTimeZone { .. } => "timezone".into(),
        Expr::Trim { trim_where, .. } => match trim_where {
            Some(TrimWhereField::Leading) => "ltrim".into(),
            Some(TrimWhereField::Trailing) => "rtrim".into(),
            _ => "btrim".into(),
        },
        _ => return None,
    })
}

/// An identifier as PostgreSQL keeps it: folded to lower case unless
/// quoted.
fn ident_name(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

/// PostgreSQL's own name of `data_type` (`integer` is `int4`).
fn type_name(data_type: &SqlType) -> String {
    let written = data_type.to_string().to_lowercase();
    let written = written.trim_end_matches("[]");
    let base = written.split('(').next().unwrap_or(written).trim();
    let name = match base {
        "int" | "integer" | "int4" => "int4",
        "bigint" | "int8" => "int8",
        "smallint" | "int2" => "int2",
        "real" | "float4" => "float4",
        "double precision" | "double" | "float" | "float8" => "float8",
        "boolean" | "bool" => "bool",
        "varchar" | "character varying" => "varchar",
        "char" | "character" => "bpchar",
        "decimal" | "dec" | "numeric" => "numeric",
        "timestamp with time zone" | "timestamptz" => "timestamptz",
        "timestamp without time zone" | "timestamp" => "timestamp",
        "time with time zone" | "timetz" => "timetz",
        "time without time zone" | "time" => "time",
        other => other.rsplit('.').next().unwrap_or(other).trim_matches('"'),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn names(sql: &str) -> Option<Vec<String>> {
        let statement = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0);
        result_names(&statement)
    }

    #[test]
    fn columns_are_named_as_postgresql_names_them() {
        assert_eq!(
            names(
                "SELECT user_id::text, ks.t.\"Name\", COUNT(*), count(x) AS n, 1, 1::text, \
                 now()::date, CAST(ts AS timestamp with time zone), x + 1, (a).b, \
                 CASE WHEN x THEN 1 END, (SELECT max(v) FROM u), DATE '2024-01-01', \
                 upper(s), trim(s), l[1], EXISTS (SELECT 1), 'x'::integer[] \
                 FROM ks.t"
            )
            .unwrap(),
            [
                "user_id", "Name", "count", "n", "?column?", "text", "now", "ts", "?column?", "b",
                "case", "max", "date", "upper", "btrim", "l", "exists", "int4",
            ]
        );
    }

    #[test]
    fn set_operations_take_their_first_select_and_stars_keep_datafusion_names() {
        assert_eq!(
            names("SELECT a, count(*) FROM t GROUP BY a UNION ALL SELECT b, 2 FROM u").unwrap(),
            ["a", "count"]
        );
        assert_eq!(names("SELECT *, count(*) FROM t"), None);
        assert_eq!(names("SELECT t.* FROM t"), None);
        assert_eq!(names("INSERT INTO t VALUES (1)"), None);
        assert_eq!(names("VALUES (1, 2)"), None);
    }

    #[test]
    fn a_schema_takes_the_names_when_there_is_one_per_column() {
        let schema = Arc::new(Schema::new(vec![
            Field::new(
                "count(*)",
                datafusion::arrow::datatypes::DataType::Int64,
                false,
            ),
            Field::new(
                "count(x)",
                datafusion::arrow::datatypes::DataType::Int64,
                false,
            ),
        ]));
        let names = ["count".to_string(), "count".to_string()];
        let named = renamed(&schema, Some(&names));
        assert_eq!(named.field(0).name(), "count");
        assert_eq!(named.field(1).name(), "count");
        assert_eq!(named.field(0).data_type(), schema.field(0).data_type());
        assert_eq!(renamed(&schema, Some(&names[..1])), schema);
        assert_eq!(renamed(&schema, None), schema);
    }
}
