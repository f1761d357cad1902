//! Server-side cursors: `DECLARE name [NO SCROLL] CURSOR [WITH HOLD] FOR
//! query`, `FETCH [n] FROM name` and `CLOSE name | ALL`, which Tableau and
//! psqlODBC (`UseDeclareFetch=1`) use to read a result in chunks.
//!
//! A cursor is a portal of the connection: its query starts when it is
//! declared, and each `FETCH` takes the next rows of its stream, encoded as
//! every other result is (see [`super::encoding`]). Cursors only move
//! forward, and live until closed or the connection ends, `WITH HOLD` or
//! not, since smackql's transactions do not end them.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::common::ParamValues;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    CloseCursor, Declare, DeclareType, FetchDirection, Ident, Statement, Value,
};
use datafusion_postgres::hooks::{HookClient, QueryHook};
use datafusion_postgres::pgwire::api::portal::{Format, Portal};
use datafusion_postgres::pgwire::api::results::{QueryResponse, Response, Tag};
use datafusion_postgres::pgwire::api::stmt::StoredStatement;
use datafusion_postgres::pgwire::api::store::PortalStore;
use datafusion_postgres::pgwire::api::ClientInfo;
use datafusion_postgres::pgwire::error::{PgWireError, PgWireResult};

use super::column_names;
use super::encoding;
use super::errors::user_error;
use super::handlers::no_result;

/// Runs `DECLARE`, `FETCH` and `CLOSE` with smackql's encodings.
#[derive(Debug)]
pub(crate) struct CursorHook;

impl CursorHook {
    async fn run(
        statement: &Statement,
        session: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        Some(match statement {
            Statement::Declare { stmts } => declare(stmts, session, client).await,
            Statement::Fetch {
                name, direction, ..
            } => fetch(name, direction, session, client).await,
            Statement::Close { cursor } => {
                let store = client.portal_store();
                match cursor {
                    CloseCursor::All => store.clear_portals(),
                    CloseCursor::Specific { name } => store.rm_portal(&name.value),
                }
                Ok(Response::Execution(Tag::new("CLOSE CURSOR")))
            }
            _ => return None,
        })
    }
}

#[async_trait]
impl QueryHook for CursorHook {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        session_context: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        Self::run(statement, session_context, client).await
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _session_context: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        matches!(
            statement,
            Statement::Declare { .. } | Statement::Fetch { .. } | Statement::Close { .. }
        )
        .then(|| Ok(no_result()))
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _logical_plan: &LogicalPlan,
        _params: &ParamValues,
        session_context: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        Self::run(statement, session_context, client).await
    }
}

async fn declare(
    declarations: &[Declare],
    session: &SessionContext,
    client: &mut dyn HookClient,
) -> PgWireResult<Response> {
    for declaration in declarations {
        if declaration.declare_type != Some(DeclareType::Cursor) {
            return Err(user_error("0A000", "only DECLARE ... CURSOR is supported"));
        }
        let Some(name) = declaration.names.first() else {
            return Err(user_error("42601", "DECLARE CURSOR needs a name"));
        };
        let Some(query) = &declaration.for_query else {
            return Err(user_error("42601", "DECLARE CURSOR needs FOR and a query"));
        };
        if client.portal_store().get_portal(&name.value).is_some() {
            return Err(user_error(
                "42P03",
                format!("cursor \"{}\" already exists", name.value),
            ));
        }
        let sql = query.to_string();
        let frame = session
            .sql(&sql)
            .await
            .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
        let names = column_names::query_names(query);
        let rows =
            encoding::encode_dataframe(frame, &Format::UnifiedText, None, names.as_deref()).await?;
        let statement = Arc::new(StoredStatement::new(
            name.value.clone(),
            (sql, None),
            vec![],
        ));
        let portal = Portal::new_cursor(name.value.clone(), statement);
        portal.start(rows).await;
        client.portal_store().put_portal(Arc::new(portal));
    }
    Ok(Response::Execution(Tag::new("DECLARE CURSOR")))
}

async fn fetch(
    name: &Ident,
    direction: &FetchDirection,
    session: &SessionContext,
    client: &mut dyn HookClient,
) -> PgWireResult<Response> {
    // `None`: every row left.
    let count = match direction {
        FetchDirection::Next | FetchDirection::Forward { limit: None } => Some(1),
        FetchDirection::Count { limit } | FetchDirection::Forward { limit: Some(limit) } => {
            match &limit.value {
                Value::Number(n, _) => Some(n.parse::<usize>().map_err(|_| {
                    user_error("22023", format!("FETCH count {n} is not a row count"))
                })?),
                other => {
                    return Err(user_error(
                        "42601",
                        format!("FETCH count {other} is not a number"),
                    ))
                }
            }
        }
        FetchDirection::All | FetchDirection::ForwardAll => None,
        _ => {
            return Err(user_error(
                "55000",
                "cursor can only scan forward: FETCH [NEXT | n | ALL | FORWARD ...]",
            ))
        }
    };
    let missing = || user_error("34000", format!("cursor \"{}\" does not exist", name.value));
    let entry = client
        .portal_store()
        .get_portal(&name.value)
        .ok_or_else(missing)?;
    let portal = Arc::clone(entry.value().ok_or_else(missing)?);
    // A count of 0 means every row, as for a portal's Execute.
    let mut rows = portal.fetch(count.unwrap_or(0)).await?.response;
    if rows.row_schema().is_empty() {
        // An exhausted cursor still describes its columns, with no rows.
        let (sql, _) = &portal.statement.statement;
        let frame = session
            .sql(sql)
            .await
            .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
        let names = column_names::names_of_sql(sql);
        let schema = column_names::renamed(frame.schema().as_arrow(), names.as_deref());
        let fields = encoding::pg_fields(&schema, &Format::UnifiedText, None)?;
        rows = QueryResponse::new(Arc::new(fields), futures::stream::empty());
    }
    // `FETCH n`, as PostgreSQL tags it; psqlODBC checks.
    rows.set_command_tag("FETCH");
    Ok(Response::Query(rows))
}
