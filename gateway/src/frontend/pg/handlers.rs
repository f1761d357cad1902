//! The handlers of one Postgres connection: its own session, start-up,
//! queries with cancellation, and the error mapping.
//!
//! Query planning and execution are datafusion-postgres's
//! [`DfSessionService`]. What smackql adds around it:
//! - each connection gets its own `SessionContext`, so `SET` stays local;
//! - a cancel request stops the running query even after its rows started
//!   streaming (datafusion-postgres only races the planning step);
//! - `SHOW server_version` agrees with the start-up parameter and `version()`.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use datafusion::common::{DFSchema, ParamValues};
use datafusion::logical_expr::{EmptyRelation, LogicalPlan};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion_postgres::hooks::cursor::CursorStatementHook;
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::pgwire::api::auth::StartupHandler;
use datafusion_postgres::pgwire::api::cancel::{CancelHandler, DefaultCancelHandler};
use datafusion_postgres::pgwire::api::portal::Portal;
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::pgwire::api::results::{
    DataRowEncoder, FieldFormat, FieldInfo, QueryResponse, Response, SendableRowStream, Tag,
};
use datafusion_postgres::pgwire::api::store::PortalStore;
use datafusion_postgres::pgwire::api::{
    ClientInfo, ClientPortalStore, ConnectionManager, ErrorHandler, PgWireServerHandlers, Type,
};
use datafusion_postgres::pgwire::error::{PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::cancel::CancelRequest;
use datafusion_postgres::pgwire::messages::PgWireBackendMessage;
use datafusion_postgres::{DfSessionService, QueryHook};
use futures::{Sink, StreamExt};
use tokio_util::sync::CancellationToken;

use super::auth::Startup;
use super::errors::ErrorMapper;
use crate::ddl::CassandraDdl;
use crate::session::server_version;

/// Running queries by the `(pid, secret key)` their clients were given, so a
/// cancel request arriving on another connection can stop them.
#[derive(Debug, Default)]
pub(crate) struct CancelRegistry {
    running: Mutex<HashMap<(i32, Bytes), Arc<QueryCancel>>>,
}

impl CancelRegistry {
    fn register(&self, key: (i32, Bytes), cancel: Arc<QueryCancel>) {
        if let Ok(mut running) = self.running.lock() {
            running.entry(key).or_insert(cancel);
        }
    }

    fn unregister(&self, key: &(i32, Bytes)) {
        if let Ok(mut running) = self.running.lock() {
            running.remove(key);
        }
    }

    fn cancel(&self, key: &(i32, Bytes)) -> bool {
        let found = self.running.lock().ok().and_then(|r| r.get(key).cloned());
        match found {
            Some(cancel) => {
                cancel.cancel();
                true
            }
            None => false,
        }
    }
}

/// The cancellation token of a connection's current query.
#[derive(Debug, Default)]
pub(crate) struct QueryCancel {
    current: Mutex<CancellationToken>,
}

impl QueryCancel {
    /// A fresh token for a query that starts now.
    fn begin(&self) -> CancellationToken {
        let token = CancellationToken::new();
        if let Ok(mut current) = self.current.lock() {
            *current = token.clone();
        }
        token
    }

    fn cancel(&self) {
        if let Ok(current) = self.current.lock() {
            current.cancel();
        }
    }
}

/// Routes cancel requests to the query they name.
#[derive(Debug)]
pub(crate) struct SmackqlCancelHandler {
    registry: Arc<CancelRegistry>,
    pgwire: DefaultCancelHandler,
}

impl SmackqlCancelHandler {
    pub(crate) fn new(registry: Arc<CancelRegistry>, connections: Arc<ConnectionManager>) -> Self {
        Self {
            registry,
            pgwire: DefaultCancelHandler::new(connections),
        }
    }
}

#[async_trait]
impl CancelHandler for SmackqlCancelHandler {
    async fn on_cancel_request(&self, request: CancelRequest) {
        let key = (request.pid, request.secret_key.to_bytes());
        let found = self.registry.cancel(&key);
        tracing::info!(pid = request.pid, found, "cancel request");
        // pgwire's own signal covers a query still in its planning step.
        self.pgwire.on_cancel_request(request).await;
    }
}

/// Everything one connection needs, created when it is accepted.
pub(crate) struct ConnectionHandlers {
    queries: Arc<QueryService>,
    startup: Arc<Startup>,
    cancel: Arc<SmackqlCancelHandler>,
}

impl ConnectionHandlers {
    pub(crate) fn new(
        session: SessionContext,
        startup: Startup,
        registry: Arc<CancelRegistry>,
        cancel: Arc<SmackqlCancelHandler>,
        ddl: Arc<CassandraDdl>,
    ) -> Self {
        let hooks: Vec<Arc<dyn QueryHook>> = vec![
            Arc::new(ServerVersionHook),
            Arc::new(DdlHook(ddl)),
            Arc::new(CursorStatementHook),
            Arc::new(SetShowHook),
            Arc::new(TransactionStatementHook),
        ];
        let inner = DfSessionService::new_with_hooks(Arc::new(session), hooks);
        Self {
            queries: Arc::new(QueryService {
                inner,
                cancel: Arc::new(QueryCancel::default()),
                registry,
                key: Mutex::new(None),
            }),
            startup: Arc::new(startup),
            cancel,
        }
    }
}

impl PgWireServerHandlers for ConnectionHandlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.queries.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.queries.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.startup.clone()
    }

    fn error_handler(&self) -> Arc<impl ErrorHandler> {
        Arc::new(ErrorMapper)
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        self.cancel.clone()
    }
}

/// datafusion-postgres's service, with cancellable result streams.
pub(crate) struct QueryService {
    inner: DfSessionService,
    cancel: Arc<QueryCancel>,
    registry: Arc<CancelRegistry>,
    key: Mutex<Option<(i32, Bytes)>>,
}

impl QueryService {
    /// Registers this connection for cancel requests (once) and starts a
    /// query's cancellation scope.
    fn begin<C: ClientInfo>(&self, client: &C) -> CancellationToken {
        if let Ok(mut key) = self.key.lock() {
            if key.is_none() {
                let (pid, secret) = client.pid_and_secret_key();
                let k = (pid, secret.to_bytes());
                self.registry.register(k.clone(), self.cancel.clone());
                *key = Some(k);
            }
        }
        self.cancel.begin()
    }
}

impl Drop for QueryService {
    fn drop(&mut self) {
        if let Ok(key) = self.key.lock() {
            if let Some(key) = key.as_ref() {
                self.registry.unregister(key);
            }
        }
    }
}

/// Ends `rows` with a `query_canceled` error once `token` fires. Dropping the
/// inner stream stops the DataFusion plan behind it, and with it the scans.
fn cancellable(rows: SendableRowStream, token: CancellationToken) -> SendableRowStream {
    Box::pin(futures::stream::unfold(
        Some((rows, token)),
        |state| async move {
            let (mut rows, token) = state?;
            tokio::select! {
                biased;
                () = token.cancelled() => Some((Err(PgWireError::QueryCanceled), None)),
                item = rows.next() => item.map(|item| (item, Some((rows, token)))),
            }
        },
    ))
}

fn with_cancel(response: Response, token: &CancellationToken) -> Response {
    match response {
        Response::Query(mut query) => {
            let rows = std::mem::replace(&mut query.data_rows, Box::pin(futures::stream::empty()));
            query.data_rows = cancellable(rows, token.clone());
            Response::Query(query)
        }
        other => other,
    }
}

async fn until_cancelled<T>(
    token: &CancellationToken,
    work: impl std::future::Future<Output = PgWireResult<T>>,
) -> PgWireResult<T> {
    tokio::select! {
        biased;
        () = token.cancelled() => Err(PgWireError::QueryCanceled),
        result = work => result,
    }
}

#[async_trait]
impl SimpleQueryHandler for QueryService {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let token = self.begin(client);
        let responses = until_cancelled(
            &token,
            <DfSessionService as SimpleQueryHandler>::do_query(&self.inner, client, query),
        )
        .await?;
        Ok(responses
            .into_iter()
            .map(|r| with_cancel(r, &token))
            .collect())
    }
}

#[async_trait]
impl ExtendedQueryHandler for QueryService {
    type Statement = <DfSessionService as ExtendedQueryHandler>::Statement;
    type QueryParser = <DfSessionService as ExtendedQueryHandler>::QueryParser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        self.inner.query_parser()
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
        max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let token = self.begin(client);
        let response = until_cancelled(
            &token,
            <DfSessionService as ExtendedQueryHandler>::do_query(
                &self.inner,
                client,
                portal,
                max_rows,
            ),
        )
        .await?;
        Ok(with_cancel(response, &token))
    }
}

/// Answers `SHOW server_version` with what the start-up parameter says, in
/// both protocols. datafusion-postgres's own answer names DataFusion, which
/// version-parsing drivers reject.
#[derive(Debug)]
struct ServerVersionHook;

impl ServerVersionHook {
    fn matches(statement: &Statement) -> bool {
        matches!(statement, Statement::ShowVariable { variable }
            if variable.len() == 1
                && variable[0].value.eq_ignore_ascii_case("server_version"))
    }

    fn response() -> PgWireResult<Response> {
        let fields = Arc::new(vec![FieldInfo::new(
            "server_version".to_string(),
            None,
            None,
            Type::TEXT,
            FieldFormat::Text,
        )]);
        let mut encoder = DataRowEncoder::new(fields.clone());
        encoder.encode_field(&Some(server_version()))?;
        let row = encoder.take_row();
        Ok(Response::Query(QueryResponse::new(
            fields,
            futures::stream::once(async move { Ok(row) }),
        )))
    }
}

#[async_trait]
impl QueryHook for ServerVersionHook {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        _session_context: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        Self::matches(statement).then(Self::response)
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        session_context: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        if !Self::matches(statement) {
            return None;
        }
        // A plan with the right result shape, so Describe reports one text column.
        let plan = session_context
            .sql("SELECT '' AS server_version")
            .await
            .map(|df| df.logical_plan().clone())
            .map_err(|e| PgWireError::ApiError(Box::new(e)));
        Some(plan)
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _logical_plan: &LogicalPlan,
        _params: &ParamValues,
        _session_context: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        Self::matches(statement).then(Self::response)
    }
}

/// Runs schema statements on Cassandra keyspaces (see [`CassandraDdl`]).
#[derive(Debug)]
struct DdlHook(Arc<CassandraDdl>);

impl DdlHook {
    async fn run(&self, statement: &Statement) -> Option<PgWireResult<Response>> {
        let outcome = self.0.execute(statement).await?;
        Some(
            outcome
                .map(|done| Response::Execution(Tag::new(done.tag())))
                .map_err(|e| PgWireError::ApiError(Box::new(e))),
        )
    }
}

#[async_trait]
impl QueryHook for DdlHook {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        _session_context: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        self.run(statement).await
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _session_context: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        // A statement without a result: an empty plan describes it.
        self.0.handles(statement).then(|| {
            Ok(LogicalPlan::EmptyRelation(EmptyRelation {
                produce_one_row: false,
                schema: Arc::new(DFSchema::empty()),
            }))
        })
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _logical_plan: &LogicalPlan,
        _params: &ParamValues,
        _session_context: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        self.run(statement).await
    }
}
