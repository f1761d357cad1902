//! SQL text run in-process the way the front ends run it: schema statements
//! go to [`Ddl`], everything else to DataFusion.
//!
//! The Postgres front end goes through datafusion-postgres's hooks; the
//! Flight SQL front end and in-process callers go through [`SqlRunner`],
//! which makes the same choices, so a statement does the same on both.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::ParamValues;
use datafusion::common::TableReference;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::utils::merge_schema;
use datafusion::logical_expr::{Cast, Expr, ExprSchemable, LogicalPlan, TryCast};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::CreateExternalTable;
use datafusion::sql::sqlparser::ast::{
    visit_expressions, visit_expressions_mut, AccessExpr, CastKind, DataType as SqlType,
    Expr as SqlExpr, Query, SelectItem, SetExpr, Statement, TableObject, Value, VisitMut,
    VisitorMut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use smackql_catalog::definitions::parse_external_tables;
use smackql_catalog::views::parse_refresh;

use crate::ddl::Ddl;

/// Runs SQL scripts in a session.
#[derive(Debug, Clone)]
pub struct SqlRunner {
    ddl: Arc<Ddl>,
}

/// One statement, planned but not run yet.
#[derive(Debug, Clone)]
pub enum PlannedStatement {
    /// A query, `INSERT`, `SET` or other statement DataFusion runs.
    Plan(LogicalPlan),
    /// A schema statement on a Cassandra keyspace or a declared table.
    Ddl(Box<Statement>),
    /// `CREATE EXTERNAL TABLE`, one or more.
    External(Vec<CreateExternalTable>),
    /// `REFRESH MATERIALIZED VIEW schema.name`.
    Refresh(String, String),
}

impl PlannedStatement {
    /// The schema of the rows it returns: empty for schema statements, one
    /// `count` column for `INSERT`.
    pub fn schema(&self) -> SchemaRef {
        match self {
            PlannedStatement::Plan(plan) => Arc::clone(plan.schema().inner()),
            PlannedStatement::Ddl(_)
            | PlannedStatement::External(_)
            | PlannedStatement::Refresh(..) => Arc::new(Schema::empty()),
        }
    }

    /// Whether it changes data or the schema rather than reading: what
    /// clients call an update.
    pub fn is_update(&self) -> bool {
        match self {
            PlannedStatement::Plan(plan) => matches!(
                plan,
                LogicalPlan::Dml(_)
                    | LogicalPlan::Ddl(_)
                    | LogicalPlan::Copy(_)
                    | LogicalPlan::Statement(_)
            ),
            PlannedStatement::Ddl(_)
            | PlannedStatement::External(_)
            | PlannedStatement::Refresh(..) => true,
        }
    }

    /// The types of its `$n` parameters, by position (`None` where the
    /// statement does not say).
    pub fn parameter_types(
        &self,
    ) -> Result<Vec<Option<datafusion::arrow::datatypes::DataType>>, DataFusionError> {
        let PlannedStatement::Plan(plan) = self else {
            return Ok(Vec::new());
        };
        let mut types: Vec<_> = placeholder_types(plan)?.into_iter().collect();
        types.sort_by_key(|(id, _)| {
            id.trim_start_matches('$')
                .parse::<u32>()
                .unwrap_or(u32::MAX)
        });
        Ok(types.into_iter().map(|(_, t)| t).collect())
    }
}

/// The type of each `$n` placeholder of `plan`, as PostgreSQL types a
/// parameter: as DataFusion inferred it from what the placeholder is
/// compared with or assigned to; else the type it is cast to (`$1::uuid`,
/// `CAST($2 AS timestamptz)`); else, for `x = ANY($3)`, a list of `x`'s
/// type. `None` where none of these says.
pub fn placeholder_types(
    plan: &LogicalPlan,
) -> Result<HashMap<String, Option<DataType>>, DataFusionError> {
    let mut types = plan.get_parameter_types()?;
    if types.values().all(Option::is_some) {
        return Ok(types);
    }
    plan.apply_with_subqueries(|node| {
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                let (id, data_type) = match e {
                    Expr::Cast(Cast { expr, field }) | Expr::TryCast(TryCast { expr, field }) => {
                        let Expr::Placeholder(placeholder) = expr.as_ref() else {
                            return Ok(TreeNodeRecursion::Continue);
                        };
                        (&placeholder.id, field.data_type().clone())
                    }
                    // `x = ANY($n)`, as DataFusion plans it.
                    Expr::ScalarFunction(call) if call.name() == "array_has" => {
                        let [Expr::Placeholder(placeholder), needle] = call.args.as_slice() else {
                            return Ok(TreeNodeRecursion::Continue);
                        };
                        let Ok(item) = needle.get_type(&merge_schema(&node.inputs())) else {
                            return Ok(TreeNodeRecursion::Continue);
                        };
                        (&placeholder.id, DataType::new_list(item, true))
                    }
                    _ => return Ok(TreeNodeRecursion::Continue),
                };
                if let Some(slot @ None) = types.get_mut(id) {
                    *slot = Some(data_type);
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    })?;
    Ok(types)
}

impl SqlRunner {
    /// A runner that sends Cassandra schema statements to `ddl`.
    pub fn new(ddl: Arc<Ddl>) -> Self {
        Self { ddl }
    }

    /// Runs every statement of `sql` in order, and returns the rows of the
    /// last one (none for a schema statement).
    pub async fn run(
        &self,
        session: &SessionContext,
        sql: &str,
    ) -> Result<Vec<RecordBatch>, DataFusionError> {
        let pieces = smackql_catalog::script::statements(sql);
        if pieces.len() > 1 {
            let mut last = Vec::new();
            for piece in pieces {
                last = Box::pin(self.run(session, piece)).await?;
            }
            return Ok(last);
        }
        if let Some(creates) = parse_external_tables(sql) {
            for create in &creates {
                self.ddl.create_external(create).await?;
            }
            return Ok(Vec::new());
        }
        if let Some(refresh) = parse_refresh(sql) {
            let (schema, name) = refresh?;
            self.ddl.refresh_view(&schema, &name).await?;
            return Ok(Vec::new());
        }
        let statements = parse(sql)?;
        let mut last = Vec::new();
        for statement in statements {
            let planned = self.plan_statement(session, statement).await?;
            let stream = self.execute(session, planned, None).await?;
            last = datafusion::physical_plan::common::collect(stream).await?;
        }
        Ok(last)
    }

    /// Plans `sql`, which must be exactly one statement.
    pub async fn plan(
        &self,
        session: &SessionContext,
        sql: &str,
    ) -> Result<PlannedStatement, DataFusionError> {
        if let Some(creates) = parse_external_tables(sql) {
            return Ok(PlannedStatement::External(creates));
        }
        if let Some(refresh) = parse_refresh(sql) {
            let (schema, name) = refresh?;
            return Ok(PlannedStatement::Refresh(schema, name));
        }
        let mut statements = parse(sql)?;
        match statements.len() {
            1 => {}
            0 => return Err(DataFusionError::Plan("the statement is empty".into())),
            n => {
                return Err(DataFusionError::Plan(format!(
                    "expected one statement, got {n}; send them one at a time"
                )))
            }
        }
        let statement = statements.remove(0);
        self.plan_statement(session, statement).await
    }

    async fn plan_statement(
        &self,
        session: &SessionContext,
        statement: Statement,
    ) -> Result<PlannedStatement, DataFusionError> {
        if self.ddl.handles(&statement) {
            return Ok(PlannedStatement::Ddl(Box::new(statement)));
        }
        let statement = composite_fields(&statement).unwrap_or(statement);
        let statement = show_views_query(statement)?;
        let statement = uuids_in_values(session, &statement)
            .await
            .unwrap_or(statement);
        let statement = datafusion::sql::parser::Statement::Statement(Box::new(statement));
        let plan = session.state().statement_to_plan(statement).await?;
        Ok(PlannedStatement::Plan(plan))
    }

    /// Runs a planned statement with its parameter values, and streams its
    /// rows. Schema statements run to completion before this returns, and
    /// return no rows.
    pub async fn execute(
        &self,
        session: &SessionContext,
        planned: PlannedStatement,
        params: Option<ParamValues>,
    ) -> Result<SendableRecordBatchStream, DataFusionError> {
        let empty = || -> SendableRecordBatchStream {
            Box::pin(RecordBatchStreamAdapter::new(
                Arc::new(Schema::empty()),
                futures::stream::empty(),
            ))
        };
        match planned {
            PlannedStatement::Plan(plan) => {
                let plan = match params {
                    Some(params) => plan.replace_params_with_values(&params)?,
                    None => plan,
                };
                session
                    .execute_logical_plan(plan)
                    .await?
                    .execute_stream()
                    .await
            }
            PlannedStatement::Ddl(statement) => {
                if let Some(done) = self.ddl.execute(&statement).await {
                    done?;
                }
                Ok(empty())
            }
            PlannedStatement::External(creates) => {
                for create in &creates {
                    self.ddl.create_external(create).await?;
                }
                Ok(empty())
            }
            PlannedStatement::Refresh(schema, name) => {
                self.ddl.refresh_view(&schema, &name).await?;
                Ok(empty())
            }
        }
    }
}

/// `SHOW MATERIALIZED VIEWS` as the query that answers it; any other
/// statement as it is.
pub fn show_views_query(statement: Statement) -> Result<Statement, DataFusionError> {
    if !matches!(
        statement,
        Statement::ShowViews {
            materialized: true,
            ..
        }
    ) {
        return Ok(statement);
    }
    parse(crate::views::SHOW_QUERY)?
        .pop()
        .ok_or_else(|| DataFusionError::Internal("SHOW MATERIALIZED VIEWS has no query".into()))
}

/// `INSERT … VALUES` with uuids written as text, read as PostgreSQL reads
/// them: each string literal bound for a uuid column becomes `'…'::uuid`.
/// `None` if the statement has no such literal.
///
/// The SQL planner checks each VALUES row against the table's types before
/// any analyzer rule runs, so [`smackql_udfs::UuidTextCoercion`] cannot do
/// this one. A table or column that does not resolve is left for the
/// planner to report.
pub async fn uuids_in_values(session: &SessionContext, statement: &Statement) -> Option<Statement> {
    let Statement::Insert(insert) = statement else {
        return None;
    };
    let TableObject::TableName(name) = &insert.table else {
        return None;
    };
    let SetExpr::Values(values) = insert.source.as_ref()?.body.as_ref() else {
        return None;
    };
    let is_text = |e: &SqlExpr| {
        matches!(
            e,
            SqlExpr::Value(v) if matches!(
                v.value,
                Value::SingleQuotedString(_) | Value::EscapedStringLiteral(_)
            )
        )
    };
    if !values
        .rows
        .iter()
        .any(|row| row.content.iter().any(is_text))
    {
        return None;
    }
    let table = session
        .table_provider(TableReference::from(name.to_string()))
        .await
        .ok()?
        .schema();
    let targets: Vec<usize> = if insert.columns.is_empty() {
        (0..table.fields().len()).collect()
    } else {
        insert
            .columns
            .iter()
            .map(|column| {
                let ident = column.0.last()?.as_ident()?;
                let name = match ident.quote_style {
                    Some(_) => ident.value.clone(),
                    None => ident.value.to_lowercase(),
                };
                table.index_of(&name).ok()
            })
            .collect::<Option<_>>()?
    };
    let mut rewritten = statement.clone();
    let Statement::Insert(insert) = &mut rewritten else {
        return None;
    };
    let SetExpr::Values(values) = insert.source.as_mut()?.body.as_mut() else {
        return None;
    };
    let mut changed = false;
    for row in &mut values.rows {
        for (value, target) in row.content.iter_mut().zip(&targets) {
            if *table.field(*target).data_type() == smackql_udfs::UUID && is_text(value) {
                let text = std::mem::replace(value, SqlExpr::value(Value::Null));
                *value = SqlExpr::Cast {
                    kind: CastKind::DoubleColon,
                    expr: Box::new(text),
                    data_type: SqlType::Uuid,
                    array: false,
                    format: None,
                };
                changed = true;
            }
        }
    }
    changed.then_some(rewritten)
}

/// `statement` with PostgreSQL's field selection from a composite value,
/// `(expr).field` (a Cassandra UDT or tuple, or a function's record), as
/// DataFusion plans it, by the field's name as a string; a select item made
/// of one is named after its field, as PostgreSQL names it. `None` when the
/// statement selects no field so.
pub fn composite_fields(statement: &Statement) -> Option<Statement> {
    let found = visit_expressions(statement, |expr| {
        if selects_field(expr) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    if found.is_continue() {
        return None;
    }
    let mut rewritten = statement.clone();
    let _ = rewritten.visit(&mut FieldSelectionNames);
    let _ = visit_expressions_mut(&mut rewritten, |expr| {
        if !selects_field(expr) {
            return ControlFlow::<()>::Continue(());
        }
        if let SqlExpr::CompoundFieldAccess { access_chain, .. } = expr {
            for access in access_chain.iter_mut() {
                if let AccessExpr::Dot(SqlExpr::Identifier(field)) = access {
                    let name = match field.quote_style {
                        Some(_) => field.value.clone(),
                        None => field.value.to_lowercase(),
                    };
                    *access = AccessExpr::Dot(SqlExpr::value(Value::SingleQuotedString(name)));
                }
            }
        }
        ControlFlow::<()>::Continue(())
    });
    Some(rewritten)
}

/// Whether `expr` selects a field by name from a computed value:
/// `(expr).field`, not `table.column[i]`, whose root names a column and
/// which DataFusion resolves itself.
fn selects_field(expr: &SqlExpr) -> bool {
    matches!(expr, SqlExpr::CompoundFieldAccess { root, access_chain }
        if !matches!(root.as_ref(), SqlExpr::Identifier(_) | SqlExpr::CompoundIdentifier(_))
            && access_chain.iter().any(|a| matches!(a, AccessExpr::Dot(SqlExpr::Identifier(_)))))
}

/// Names the field selections of every query it visits
/// ([`name_field_selections`]).
struct FieldSelectionNames;

impl VisitorMut for FieldSelectionNames {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        name_field_selections(query);
        ControlFlow::Continue(())
    }
}

/// Names each unnamed select item of `query` that ends in `.field` after
/// that field.
fn name_field_selections(query: &mut Query) {
    fn in_set(body: &mut SetExpr) {
        match body {
            SetExpr::Select(select) => {
                for item in &mut select.projection {
                    let SelectItem::UnnamedExpr(expr) = item else {
                        continue;
                    };
                    let field = match &*expr {
                        SqlExpr::CompoundFieldAccess { access_chain, .. }
                            if selects_field(expr) =>
                        {
                            access_chain.last()
                        }
                        _ => None,
                    };
                    let Some(AccessExpr::Dot(SqlExpr::Identifier(field))) = field else {
                        continue;
                    };
                    let alias = field.clone();
                    let expr = std::mem::replace(expr, SqlExpr::value(Value::Null));
                    *item = SelectItem::ExprWithAlias { expr, alias };
                }
            }
            SetExpr::SetOperation { left, right, .. } => {
                in_set(left);
                in_set(right);
            }
            // Nested queries are visited on their own.
            _ => {}
        }
    }
    in_set(&mut query.body);
}

fn parse(sql: &str) -> Result<Vec<Statement>, DataFusionError> {
    Parser::parse_sql(&PostgreSqlDialect {}, sql)
        .map_err(|e| DataFusionError::SQL(Box::new(e), None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::TimeUnit;

    fn rewritten(sql: &str) -> Option<String> {
        composite_fields(&parse(sql).unwrap().remove(0)).map(|s| s.to_string())
    }

    #[test]
    fn composite_fields_are_selected_by_name() {
        assert_eq!(
            rewritten("SELECT (c).x, (c).\"Y\" AS y FROM t WHERE (f(c)).Z > 1").as_deref(),
            Some("SELECT (c).'x' AS x, (c).'Y' AS y FROM t WHERE (f(c)).'z' > 1")
        );
        assert_eq!(
            rewritten("SELECT a FROM t UNION SELECT (SELECT (c).x FROM u) FROM v").as_deref(),
            Some("SELECT a FROM t UNION SELECT (SELECT (c).'x' AS x FROM u) FROM v")
        );
        assert_eq!(
            rewritten("SELECT t.c, a[1], s['f'], tmp.opts[tmp.i], t.a[1].b FROM t"),
            None
        );
    }

    #[tokio::test]
    async fn placeholders_take_the_type_they_are_cast_to_or_compared_with() {
        let ctx = SessionContext::new();
        ctx.sql("CREATE TABLE t (id BIGINT, name TEXT) AS VALUES (1, 'a')")
            .await
            .unwrap();
        let types = |sql: &'static str| {
            let ctx = ctx.clone();
            async move {
                let plan = ctx.state().create_logical_plan(sql).await.unwrap();
                let mut types: Vec<_> = placeholder_types(&plan).unwrap().into_iter().collect();
                types.sort();
                types
            }
        };
        assert_eq!(
            types("SELECT $1::timestamp, CAST($2 AS INT), $3 FROM t WHERE id = $4").await,
            vec![
                (
                    "$1".into(),
                    Some(DataType::Timestamp(TimeUnit::Nanosecond, None))
                ),
                ("$2".into(), Some(DataType::Int32)),
                ("$3".into(), None),
                ("$4".into(), Some(DataType::Int64)),
            ]
        );
        assert_eq!(
            types("SELECT name FROM t WHERE id = ANY($1) AND id IN (SELECT id FROM t WHERE id = $2::smallint)")
                .await,
            vec![
                ("$1".into(), Some(DataType::new_list(DataType::Int64, true))),
                ("$2".into(), Some(DataType::Int16)),
            ]
        );
    }
}
