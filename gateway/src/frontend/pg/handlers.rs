//! The handlers of one Postgres connection: its own session, start-up,
//! queries with cancellation, and the error mapping.
//!
//! Query planning and execution are datafusion-postgres's
//! [`DfSessionService`]. What smackql adds around it:
//! - each connection gets its own `SessionContext`, so `SET` stays local;
//! - a cancel request stops the running query even after its rows started
//!   streaming (datafusion-postgres only races the planning step);
//! - `SHOW server_version` agrees with the start-up parameter and `version()`,
//!   and `SHOW` answers PostgreSQL's fixed parameters and smackql's
//!   settings;
//! - savepoints are accepted, as drivers send them inside transactions;
//! - query results are encoded by [`super::encoding`], so UUIDs, exact
//!   decimals, addresses and maps reach clients in their Postgres types.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use super::cursors::CursorHook;
use async_trait::async_trait;
use bytes::Bytes;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DFSchema, ParamValues, ScalarValue};
use datafusion::logical_expr::{EmptyRelation, LogicalPlan};
use datafusion::physical_plan::execute_stream;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::CreateExternalTable;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion_postgres::arrow_pg::datatypes::df::deserialize_parameters_with_server_types;
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::pgwire::api::auth::StartupHandler;
use datafusion_postgres::pgwire::api::cancel::{CancelHandler, DefaultCancelHandler};
use datafusion_postgres::pgwire::api::portal::Format;
use datafusion_postgres::pgwire::api::portal::Portal;
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::pgwire::api::results::{
    DataRowEncoder, FieldFormat, FieldInfo, QueryResponse, Response, SendableRowStream, Tag,
};
use datafusion_postgres::pgwire::api::stmt::{QueryParser, StoredStatement};
use datafusion_postgres::pgwire::api::store::PortalStore;
use datafusion_postgres::pgwire::api::{
    ClientInfo, ClientPortalStore, ConnectionManager, ErrorHandler, PgWireServerHandlers, Type,
};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::cancel::CancelRequest;
use datafusion_postgres::pgwire::messages::response::TransactionStatus;
use datafusion_postgres::pgwire::messages::startup::ParameterStatus;
use datafusion_postgres::pgwire::messages::PgWireBackendMessage;
use datafusion_postgres::pgwire::types::format::FormatOptions;
use datafusion_postgres::pgwire::types::FromSqlText;
use datafusion_postgres::{DfSessionService, Parser, QueryHook};
use futures::{Sink, StreamExt};
use tokio_util::sync::CancellationToken;

use super::auth::Startup;
use super::client_queries;
use super::column_names;
use super::encoding;
use super::errors::{user_error, ErrorMapper};
use super::prepared::{self, Lookup, PreparedPlans, ReadyPlan};
use crate::ddl::Ddl;
use crate::pg_functions::{setting, FIXED_SETTINGS};
use crate::sql::placeholder_types;
use smackql_catalog::definitions::parse_external_tables;
use smackql_catalog::views::parse_refresh;

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
        ddl: Arc<Ddl>,
    ) -> Self {
        let plans = Arc::new(PreparedPlans::default());
        let hooks: Vec<Arc<dyn QueryHook>> = vec![
            // First: it only watches.
            Arc::new(SessionChangeHook(plans.clone())),
            Arc::new(ServerSettingsHook),
            Arc::new(TimeZoneHook),
            Arc::new(SavepointHook),
            Arc::new(DdlHook(ddl.clone())),
            Arc::new(CursorHook),
            Arc::new(SetShowHook),
            Arc::new(TransactionStatementHook),
            // Last: every other query.
            Arc::new(SelectHook),
        ];
        let session = Arc::new(session);
        let inner = DfSessionService::new_with_hooks(session.clone(), hooks);
        Self {
            queries: Arc::new(QueryService {
                parser: Arc::new(WireParser(inner.query_parser())),
                inner,
                session,
                ddl,
                cancel: Arc::new(QueryCancel::default()),
                plans,
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
    parser: Arc<WireParser>,
    session: Arc<SessionContext>,
    ddl: Arc<Ddl>,
    cancel: Arc<QueryCancel>,
    plans: Arc<StatementPlans>,
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
        if let Some(pieces) = script_with_own_statements(query) {
            // One statement at a time, as if sent one by one: each query's
            // rows are read before the next statement runs. The first that
            // fails ends the script, after the answers before it.
            let mut responses = Vec::with_capacity(pieces.len());
            for piece in pieces {
                let error = match <Self as SimpleQueryHandler>::do_query(self, client, piece).await
                {
                    Ok(answers) => {
                        for answer in answers {
                            responses.push(read_rows(answer).await);
                        }
                        continue;
                    }
                    Err(PgWireError::UserError(info)) => *info,
                    Err(err) => match super::errors::map_error(&err) {
                        Some(info) => info,
                        None => return Err(err),
                    },
                };
                if responses.is_empty() {
                    return Err(PgWireError::UserError(Box::new(error)));
                }
                responses.push(Response::Error(Box::new(error)));
                break;
            }
            return Ok(responses);
        }
        let token = self.begin(client);
        // DataFusion's own statements, which the Postgres parser refuses.
        if let Some(creates) = external_tables(query) {
            return until_cancelled(&token, self.create_external(&creates)).await;
        }
        if let Some(refresh) = parse_refresh(query) {
            return until_cancelled(&token, self.refresh(refresh))
                .await
                .map(|r| vec![r]);
        }
        let query = client_queries::adjust(query);
        let responses = until_cancelled(
            &token,
            <DfSessionService as SimpleQueryHandler>::do_query(&self.inner, client, &query),
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
    type QueryParser = WireParser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        self.parser.clone()
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
        // Kept as text by `WireParser::parse_sql`.
        let creates = match &portal.statement.statement {
            (sql, None) => external_tables(sql),
            _ => None,
        };
        let refresh = match &portal.statement.statement {
            (sql, None) => parse_refresh(sql),
            _ => None,
        };
        if let Some(refresh) = refresh {
            return until_cancelled(&token, self.refresh(refresh)).await;
        }
        let response = match (&portal.statement.statement, creates) {
            ((_, Some((Statement::Query(_), plan))), _) => {
                until_cancelled(&token, self.query_with_parameters(client, portal, plan)).await?
            }
            ((_, Some((Statement::Insert(_), plan))), _) if portal.parameter_len() > 0 => {
                if client.transaction_status() == TransactionStatus::Error {
                    return Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                        "ERROR".into(),
                        "25P01".into(),
                        "current transaction is aborted, commands ignored until end of \
                         transaction block"
                            .into(),
                    ))));
                }
                until_cancelled(&token, self.insert_with_parameters(client, portal, plan)).await?
            }
            (_, Some(creates)) => {
                let done = until_cancelled(&token, self.create_external(&creates)).await?;
                done.into_iter().last().unwrap_or(Response::EmptyQuery)
            }
            _ => {
                until_cancelled(
                    &token,
                    <DfSessionService as ExtendedQueryHandler>::do_query(
                        &self.inner,
                        client,
                        portal,
                        max_rows,
                    ),
                )
                .await?
            }
        };
        Ok(with_cancel(response, &token))
    }
}

impl QueryService {
    /// `REFRESH MATERIALIZED VIEW`, as [`parse_refresh`] read it.
    async fn refresh(
        &self,
        refresh: Result<(String, String), datafusion::error::DataFusionError>,
    ) -> PgWireResult<Response> {
        let api = |e| PgWireError::ApiError(Box::new(e));
        let (schema, name) = refresh.map_err(api)?;
        let done = self.ddl.refresh_view(&schema, &name).await.map_err(api)?;
        Ok(Response::Execution(Tag::new(done.tag())))
    }

    /// Runs `CREATE EXTERNAL TABLE` statements in order, stopping at the
    /// first that fails.
    async fn create_external(
        &self,
        creates: &[CreateExternalTable],
    ) -> PgWireResult<Vec<Response>> {
        let mut responses = Vec::with_capacity(creates.len());
        for create in creates {
            let done = self
                .ddl
                .create_external(create)
                .await
                .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
            responses.push(Response::Execution(Tag::new(done.tag())));
        }
        Ok(responses)
    }

    /// Binds the portal's parameters into `plan` and runs it, with results
    /// encoded by [`encoding`]. A statement executed again reuses its plan
    /// (see [`prepared`](super::prepared)); otherwise the plan is optimized
    /// once, when it is turned into a physical plan.
    async fn query_with_parameters<C: ClientInfo>(
        &self,
        client: &C,
        portal: &Portal<<Self as ExtendedQueryHandler>::Statement>,
        plan: &LogicalPlan,
    ) -> PgWireResult<Response> {
        let ready = match self.plans.lookup(&portal.statement) {
            Lookup::Ready(ready) => Some(ready),
            Lookup::Again => {
                let (inferred, wire) = self.parameter_types(portal, plan)?;
                let planning = prepared::plan_for_reuse(&self.session, plan, inferred, wire);
                let ready = match planning.await {
                    Ok(ready) => Some(Arc::new(ready)),
                    Err(reason) => {
                        tracing::debug!(
                            statement = %portal.statement.id,
                            %reason,
                            "plan of a statement executed again is not reused"
                        );
                        None
                    }
                };
                self.plans.store(
                    &portal.statement,
                    ready.clone().map_or(Lookup::Unusable, Lookup::Ready),
                );
                ready
            }
            Lookup::First | Lookup::Unusable => None,
        };
        let params = match &ready {
            Some(ready) => bind_parameters(portal, &ready.inferred, &ready.wire)?,
            None => {
                let (inferred, wire) = self.parameter_types(portal, plan)?;
                bind_parameters(portal, &inferred, &wire)?
            }
        };
        if let Some(ready) = ready {
            if let Some(response) = self.run_prepared(client, portal, &ready, &params).await? {
                return Ok(response);
            }
        }
        let plan = plan
            .clone()
            .replace_params_with_values(&params)
            .map_err(api_error)?;
        let df = with_statement_timeout(client, self.session.execute_logical_plan(plan)).await?;
        let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
        let names = statement_names(&portal.statement.statement);
        let response = encoding::encode_dataframe(
            df,
            &portal.result_column_format,
            Some(options),
            names.as_deref(),
        )
        .await?;
        Ok(Response::Query(response))
    }

    /// Runs a plan made for reuse with `params`, or `None` when they need a
    /// plan of their own.
    async fn run_prepared<C: ClientInfo>(
        &self,
        client: &C,
        portal: &Portal<<Self as ExtendedQueryHandler>::Statement>,
        ready: &ReadyPlan,
        params: &ParamValues,
    ) -> PgWireResult<Option<Response>> {
        let binding = prepared::bind(&ready.physical, params);
        let Some(physical) = with_statement_timeout(client, binding).await? else {
            return Ok(None);
        };
        let batches = execute_stream(physical, ready.task.clone()).map_err(api_error)?;
        let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
        let names = statement_names(&portal.statement.statement);
        let response = encoding::encode_stream(
            &column_names::renamed(&ready.schema, names.as_deref()),
            batches,
            &portal.result_column_format,
            Some(options),
        )?;
        Ok(Some(Response::Query(response)))
    }

    /// Binds the portal's parameters into an `INSERT` and runs it,
    /// answering with its row count. Decoded as queries' parameters are, so
    /// a uuid may be bound as a uuid or as text.
    async fn insert_with_parameters<C: ClientInfo>(
        &self,
        client: &C,
        portal: &Portal<<Self as ExtendedQueryHandler>::Statement>,
        plan: &LogicalPlan,
    ) -> PgWireResult<Response> {
        let (inferred, wire) = self.parameter_types(portal, plan)?;
        let params = bind_parameters(portal, &inferred, &wire)?;
        let bound = async { plan.clone().replace_params_with_values(&params) };
        run_insert(client, &self.session, bound).await
    }

    /// The types of the statement's parameters: as DataFusion inferred them
    /// and as sent on the wire, by position.
    fn parameter_types(
        &self,
        portal: &Portal<<Self as ExtendedQueryHandler>::Statement>,
        plan: &LogicalPlan,
    ) -> PgWireResult<(Vec<Option<DataType>>, Vec<Type>)> {
        let wire = self
            .parser
            .get_parameter_types(&portal.statement.statement)?;
        // `$n` is parameter n; one the plan does not use has no type.
        let mut inferred: Vec<Option<DataType>> = Vec::new();
        for (id, data_type) in placeholder_types(plan).map_err(api_error)? {
            let Some(index) = parameter_number(&id).and_then(|n| n.checked_sub(1)) else {
                continue;
            };
            if inferred.len() <= index {
                inferred.resize(index + 1, None);
            }
            inferred[index] = data_type;
        }
        Ok((inferred, wire))
    }
}

/// The names PostgreSQL gives the columns of a parsed statement's result
/// (see [`column_names`]).
fn statement_names<P>(statement: &(String, Option<(Statement, P)>)) -> Option<Vec<String>> {
    let (_, Some((statement, _))) = statement else {
        return None;
    };
    column_names::result_names(statement)
}

/// The parameter types datafusion-postgres lists (those the plan uses, in
/// order) spaced so that `$n` is the nth, also when the plan does not use
/// some: a client may bind a value that is not needed.
fn spaced_parameter_types(plan: &LogicalPlan, types: Vec<Type>) -> PgWireResult<Vec<Type>> {
    let mut numbers: Vec<usize> = plan
        .get_parameter_types()
        .map_err(api_error)?
        .keys()
        .filter_map(|id| parameter_number(id))
        .collect();
    numbers.sort_unstable();
    if numbers.len() != types.len() || numbers.iter().enumerate().all(|(i, n)| *n == i + 1) {
        return Ok(types);
    }
    let mut spaced = vec![Type::UNKNOWN; numbers.last().copied().unwrap_or_default()];
    for (number, data_type) in numbers.into_iter().zip(types) {
        if let Some(slot) = number.checked_sub(1).and_then(|i| spaced.get_mut(i)) {
            *slot = data_type;
        }
    }
    Ok(spaced)
}

/// `n` of placeholder `$n`.
fn parameter_number(id: &str) -> Option<usize> {
    id.strip_prefix('$')?.parse().ok()
}

/// The numbers of the parameters `sql` casts to `oid[]`.
fn oid_array_parameters(sql: &str) -> Vec<usize> {
    let mut numbers = Vec::new();
    for cast in ["::oid[]", "::pg_catalog.oid[]"] {
        let mut rest = sql;
        while let Some(at) = rest.find(cast) {
            let before = &rest[..at];
            let digits = before.len() - before.trim_end_matches(|c: char| c.is_ascii_digit()).len();
            if digits > 0 && before[..before.len() - digits].ends_with('$') {
                if let Ok(n) = before[before.len() - digits..].parse() {
                    numbers.push(n);
                }
            }
            rest = &rest[at + cast.len()..];
        }
    }
    numbers
}

/// The portal's parameter values, decoded as `inferred` and `wire` say.
/// uuids are decoded here (see [`uuid_parameters`]); arrow-pg decodes the
/// rest.
fn bind_parameters<S: Clone>(
    portal: &Portal<S>,
    inferred: &[Option<DataType>],
    wire: &[Type],
) -> PgWireResult<ParamValues> {
    let uuids = uuid_parameters(portal, inferred, wire)?;
    if uuids.is_empty() {
        return decode_parameters(portal, inferred, wire);
    }
    // arrow-pg sees each uuid as a null text, and its value is put back.
    let count = portal.parameter_len();
    let (mut types, mut values) = (
        portal.statement.parameter_types.clone(),
        portal.parameters.clone(),
    );
    let (mut inferred, mut wire) = (inferred.to_vec(), wire.to_vec());
    types.resize(count, None);
    inferred.resize(count, None);
    wire.resize(count, Type::UNKNOWN);
    for (i, _) in &uuids {
        values[*i] = None;
        types[*i] = Some(Type::TEXT);
        inferred[*i] = None;
        wire[*i] = Type::TEXT;
    }
    let statement = StoredStatement::new(
        portal.statement.id.clone(),
        portal.statement.statement.clone(),
        types,
    );
    let mut stripped = Portal::new_cursor(portal.name.clone(), Arc::new(statement));
    stripped.parameter_format = portal.parameter_format.clone();
    stripped.parameters = values;
    let mut params = decode_parameters(&stripped, &inferred, &wire)?;
    if let ParamValues::List(list) = &mut params {
        for (i, value) in uuids {
            if let Some(slot) = list.get_mut(i) {
                *slot = value.into();
            }
        }
    }
    Ok(params)
}

/// The uuid parameters of the portal, by position, decoded: those the
/// client sends as `uuid`, and those it sends as text (or untyped) where the
/// statement expects a uuid. A uuid may arrive in binary (its 16 bytes) or
/// as text in any form PostgreSQL reads. `uuid[]` parameters (`id =
/// ANY($1)`) are decoded here too, as lists.
fn uuid_parameters<S: Clone>(
    portal: &Portal<S>,
    inferred: &[Option<DataType>],
    wire: &[Type],
) -> PgWireResult<Vec<(usize, ScalarValue)>> {
    let mut uuids = Vec::new();
    for i in 0..portal.parameter_len() {
        let known = |t: &Type| *t != Type::UNKNOWN;
        let sent = portal
            .statement
            .parameter_types
            .get(i)
            .cloned()
            .flatten()
            .filter(known)
            .or_else(|| wire.get(i).cloned().filter(known));
        let wanted = inferred.get(i).cloned().flatten();
        let raw = portal.parameters.get(i).cloned().flatten();
        let binary = portal.parameter_format.is_binary(i);
        let wants_uuids = matches!(
            &wanted,
            Some(DataType::List(item)) if *item.data_type() == smackql_udfs::UUID
        );
        let textual_array = matches!(
            sent,
            None | Some(Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BYTEA_ARRAY)
        );
        if sent == Some(Type::UUID_ARRAY) || wants_uuids && textual_array {
            let text = matches!(
                &wanted,
                Some(DataType::List(item)) if matches!(item.data_type(), DataType::Utf8)
            );
            let item_type = if text {
                DataType::Utf8
            } else {
                smackql_udfs::UUID
            };
            let value = match raw {
                // A NULL array, not an empty one.
                None => {
                    ScalarValue::try_from(DataType::new_list(item_type, true)).map_err(api_error)?
                }
                Some(raw) => {
                    let scalars: Vec<ScalarValue> = uuid_array(&raw, binary)?
                        .into_iter()
                        .map(|item| match text {
                            true => ScalarValue::Utf8(item.map(|b| smackql_udfs::format_uuid(&b))),
                            false => ScalarValue::FixedSizeBinary(16, item.map(Vec::from)),
                        })
                        .collect();
                    ScalarValue::List(ScalarValue::new_list_nullable(&scalars, &item_type))
                }
            };
            uuids.push((i, value));
            continue;
        }
        let wants_uuid = wanted.as_ref() == Some(&smackql_udfs::UUID);
        let textual = matches!(
            sent,
            None | Some(Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::BYTEA)
        );
        if !(sent == Some(Type::UUID) || wants_uuid && textual) {
            continue;
        }
        let bytes = match raw {
            None => None,
            Some(raw) if binary && raw.len() == 16 => {
                if matches!(sent, Some(Type::UUID | Type::BYTEA)) {
                    Some(<[u8; 16]>::try_from(raw.as_ref()).unwrap_or_default())
                } else {
                    Some(uuid_from_text(&raw)?)
                }
            }
            Some(raw) => Some(uuid_from_text(&raw)?),
        };
        let value = match wanted {
            Some(DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8) => {
                let text = bytes.map(|b| smackql_udfs::format_uuid(&b));
                ScalarValue::Utf8(text)
                    .cast_to(wanted.as_ref().unwrap_or(&DataType::Utf8))
                    .map_err(api_error)?
            }
            _ => ScalarValue::FixedSizeBinary(16, bytes.map(Vec::from)),
        };
        uuids.push((i, value));
    }
    Ok(uuids)
}

/// The uuid a text parameter spells, or a 22P02 error.
fn uuid_from_text(raw: &[u8]) -> PgWireResult<[u8; 16]> {
    let text = String::from_utf8_lossy(raw);
    smackql_udfs::parse_uuid(&text).map_err(|e| {
        let message = match e {
            datafusion::arrow::error::ArrowError::ParseError(m) => m,
            other => other.to_string(),
        };
        invalid_text(message)
    })
}

/// A 22P02 (invalid text representation) error.
fn invalid_text(message: String) -> PgWireError {
    user_error("22P02", message)
}

/// The items of a one-dimensional `uuid[]` parameter: in PostgreSQL's
/// binary array format (of `uuid` or of text items), or as text
/// (`{6f1c…,NULL,"6f1c…"}`).
fn uuid_array(raw: &[u8], binary: bool) -> PgWireResult<Vec<Option<[u8; 16]>>> {
    if !binary {
        let malformed = || {
            let text = String::from_utf8_lossy(raw);
            invalid_text(format!("malformed array literal: \"{text}\""))
        };
        let trimmed = raw.trim_ascii();
        if trimmed.is_empty() {
            return Err(malformed());
        }
        // pgwire reads PostgreSQL's array text (quotes, escapes, NULL).
        let items = <Vec<Option<String>>>::from_sql_text(
            &Type::TEXT_ARRAY,
            trimmed,
            &FormatOptions::default(),
        )
        .map_err(|_| malformed())?;
        return items
            .into_iter()
            .map(|item| {
                item.map(|item| uuid_from_text(item.trim().as_bytes()))
                    .transpose()
            })
            .collect();
    }
    let malformed = || invalid_text("malformed binary uuid[] parameter".to_string());
    let mut rest = raw;
    let next = |rest: &mut &[u8]| -> PgWireResult<i32> {
        let (word, tail) = rest.split_first_chunk::<4>().ok_or_else(malformed)?;
        *rest = tail;
        Ok(i32::from_be_bytes(*word))
    };
    let dimensions = next(&mut rest)?;
    let _has_nulls = next(&mut rest)?;
    let item_type = next(&mut rest)? as u32;
    if dimensions == 0 {
        return Ok(Vec::new());
    }
    if dimensions != 1 {
        return Err(invalid_text(
            "a uuid[] parameter must have one dimension".to_string(),
        ));
    }
    let count = usize::try_from(next(&mut rest)?).map_err(|_| malformed())?;
    let _lower_bound = next(&mut rest)?;
    let mut items = Vec::with_capacity(count.min(rest.len() / 4));
    for _ in 0..count {
        let length = next(&mut rest)?;
        let Ok(length) = usize::try_from(length) else {
            items.push(None);
            continue;
        };
        let (item, tail) = rest.split_at_checked(length).ok_or_else(malformed)?;
        rest = tail;
        items.push(Some(if item_type == Type::UUID.oid() {
            <[u8; 16]>::try_from(item).map_err(|_| malformed())?
        } else {
            uuid_from_text(item)?
        }));
    }
    Ok(items)
}

/// The portal's parameter values, decoded by arrow-pg.
fn decode_parameters<S: Clone>(
    portal: &Portal<S>,
    inferred: &[Option<DataType>],
    wire: &[Type],
) -> PgWireResult<ParamValues> {
    let inferred: Vec<Option<&DataType>> = inferred.iter().map(Option::as_ref).collect();
    // An `oid[]` is decoded as the `int4[]` it is stored as.
    let wire: Vec<Option<&Type>> = wire
        .iter()
        .map(|t| {
            Some(if *t == Type::OID_ARRAY {
                &Type::INT4_ARRAY
            } else {
                t
            })
        })
        .collect();
    deserialize_parameters_with_server_types(portal, &inferred, &wire)
}

fn api_error(e: datafusion::error::DataFusionError) -> PgWireError {
    PgWireError::ApiError(Box::new(e))
}

/// Runs `planning` within the client's `statement_timeout`, if one is set.
async fn with_statement_timeout<C: ClientInfo + ?Sized, T>(
    client: &C,
    planning: impl std::future::Future<Output = datafusion::error::Result<T>>,
) -> PgWireResult<T> {
    let timeout = client
        .metadata()
        .get(STATEMENT_TIMEOUT_METADATA)
        .and_then(|ms| ms.parse::<u64>().ok())
        .filter(|&ms| ms > 0)
        .map(std::time::Duration::from_millis);
    let planned = match timeout {
        Some(timeout) => tokio::time::timeout(timeout, planning).await.map_err(|_| {
            PgWireError::UserError(Box::new(ErrorInfo::new(
                "ERROR".into(),
                "57014".into(),
                "canceling statement due to statement timeout".into(),
            )))
        })?,
        None => planning.await,
    };
    planned.map_err(api_error)
}

/// The client metadata key where datafusion-postgres keeps `SET
/// statement_timeout`, in milliseconds.
const STATEMENT_TIMEOUT_METADATA: &str = "statement_timeout_ms";

/// datafusion-postgres's parser, describing results in the Postgres types
/// that [`encoding`] sends.
pub(crate) struct WireParser(Arc<Parser>);

#[async_trait]
impl QueryParser for WireParser {
    type Statement = <Parser as QueryParser>::Statement;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        types: &[Option<Type>],
    ) -> PgWireResult<Option<Self::Statement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        // Statements only DataFusion's parser reads are kept as text, and
        // run by `do_query`.
        if external_tables(sql).is_some() || parse_refresh(sql).is_some() {
            return Ok(Some((sql.to_string(), None)));
        }
        self.0
            .parse_sql(client, &client_queries::adjust(sql), types)
            .await
    }

    fn get_parameter_types(&self, statement: &Self::Statement) -> PgWireResult<Vec<Type>> {
        let types = self.0.get_parameter_types(statement)?;
        let (sql, Some((_, plan))) = statement else {
            return Ok(types);
        };
        let mut types = spaced_parameter_types(plan, types)?;
        // A placeholder the plan types as a uuid is a `uuid`, and a list of
        // them a `uuid[]` (datafusion-postgres says `bytea`, their sixteen
        // bytes).
        for (id, data_type) in placeholder_types(plan).map_err(api_error)? {
            let slot = parameter_number(&id)
                .and_then(|n| n.checked_sub(1))
                .and_then(|i| types.get_mut(i));
            let Some(slot) = slot else { continue };
            match data_type {
                Some(smackql_udfs::UUID) => *slot = Type::UUID,
                Some(DataType::List(item)) if *item.data_type() == smackql_udfs::UUID => {
                    *slot = Type::UUID_ARRAY;
                }
                _ => {}
            }
        }
        // `$n::oid[]` is an `oid[]`, as asyncpg's type introspection needs
        // it described; datafusion-postgres says `int4[]`.
        for number in oid_array_parameters(sql) {
            if let Some(slot) = number.checked_sub(1).and_then(|i| types.get_mut(i)) {
                *slot = Type::OID_ARRAY;
            }
        }
        Ok(types)
    }

    fn get_result_schema(
        &self,
        statement: &Self::Statement,
        format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        match statement {
            (_, Some((_, plan))) if !matches!(plan, LogicalPlan::Ddl(_) | LogicalPlan::Dml(_)) => {
                let names = statement_names(statement);
                encoding::pg_fields(
                    &column_names::renamed(plan.schema().as_arrow(), names.as_deref()),
                    format.unwrap_or(&Format::UnifiedText),
                    None,
                )
            }
            _ => self.0.get_result_schema(statement, format),
        }
    }
}

/// Runs `insert` in the simple protocol, and answers with its row count.
async fn insert_rows(
    insert: &Statement,
    session_context: &SessionContext,
    client: &dyn HookClient,
) -> PgWireResult<Response> {
    let insert = datafusion::sql::parser::Statement::Statement(Box::new(insert.clone()));
    let state = session_context.state();
    run_insert(client, session_context, state.statement_to_plan(insert)).await
}

/// Plans and runs an `INSERT` within the client's `statement_timeout`, and
/// answers with its row count.
async fn run_insert<C: ClientInfo + ?Sized>(
    client: &C,
    session: &SessionContext,
    plan: impl std::future::Future<Output = datafusion::error::Result<LogicalPlan>>,
) -> PgWireResult<Response> {
    let running = async {
        let plan = plan.await?;
        session.execute_logical_plan(plan).await?.collect().await
    };
    let batches = with_statement_timeout(client, running).await?;
    Ok(inserted(&batches))
}

/// The answer to an `INSERT` that returned `batches`: its row count.
fn inserted(batches: &[datafusion::arrow::array::RecordBatch]) -> Response {
    let rows = batches
        .first()
        .and_then(|batch| batch.column_by_name("count"))
        .and_then(|count| {
            count
                .as_any()
                .downcast_ref::<datafusion::arrow::array::UInt64Array>()
        })
        .map_or(0, |count| count.value(0));
    Response::Execution(
        Tag::new("INSERT")
            .with_oid(0)
            .with_rows(usize::try_from(rows).unwrap_or(usize::MAX)),
    )
}

/// Runs queries in the simple protocol, encoding their results with
/// [`encoding`].
#[derive(Debug)]
struct SelectHook;

#[async_trait]
impl QueryHook for SelectHook {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        session_context: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        let fields = crate::sql::composite_fields(statement);
        let statement = fields.as_ref().unwrap_or(statement);
        if let Some(insert) = crate::sql::uuids_in_values(session_context, statement).await {
            return Some(insert_rows(&insert, session_context, client).await);
        }
        let statement = match crate::sql::show_views_query(statement.clone()) {
            Ok(statement @ Statement::Query(_)) => statement,
            Ok(_) => return None,
            Err(e) => return Some(Err(PgWireError::ApiError(Box::new(e)))),
        };
        let names = column_names::result_names(&statement);
        let statement = datafusion::sql::parser::Statement::Statement(Box::new(statement));
        let planning = async {
            let plan = session_context.state().statement_to_plan(statement).await?;
            session_context.execute_logical_plan(plan).await
        };
        let response = async {
            let df = with_statement_timeout(&*client, planning).await?;
            let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
            encoding::encode_dataframe(df, &Format::UnifiedText, Some(options), names.as_deref())
                .await
        };
        Some(response.await.map(Response::Query))
    }

    /// `SHOW MATERIALIZED VIEWS` is planned as the query that answers it,
    /// which then runs as any prepared query, and uuids written as text in
    /// `INSERT … VALUES` as uuids; other statements are left to the default
    /// planning.
    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        session_context: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        let fields = crate::sql::composite_fields(statement);
        let rewritten = fields.is_some();
        let statement = fields.as_ref().unwrap_or(statement);
        let planned =
            if let Some(insert) = crate::sql::uuids_in_values(session_context, statement).await {
                insert
            } else if rewritten && matches!(statement, Statement::Query(_)) {
                statement.clone()
            } else if matches!(
                statement,
                Statement::ShowViews {
                    materialized: true,
                    ..
                }
            ) {
                match crate::sql::show_views_query(statement.clone()) {
                    Ok(query) => query,
                    Err(e) => return Some(Err(api_error(e))),
                }
            } else {
                return None;
            };
        let planned = datafusion::sql::parser::Statement::Statement(Box::new(planned));
        let plan = session_context.state().statement_to_plan(planned).await;
        Some(plan.map_err(api_error))
    }

    async fn handle_extended_query(
        &self,
        _statement: &Statement,
        _logical_plan: &LogicalPlan,
        _params: &ParamValues,
        _session_context: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        None
    }
}

/// The plans of a connection's prepared statements.
type StatementPlans = PreparedPlans<<DfSessionService as ExtendedQueryHandler>::Statement>;

/// Forgets the connection's reusable plans when a statement may change the
/// session they were made with (`SET`, schema statements, and so on).
struct SessionChangeHook(Arc<StatementPlans>);

impl SessionChangeHook {
    fn observe(&self, statement: &Statement) {
        let keeps_session = matches!(
            statement,
            Statement::Query(_)
                | Statement::Insert(_)
                | Statement::Update(_)
                | Statement::Delete(_)
                | Statement::Explain { .. }
                | Statement::ShowVariable { .. }
                | Statement::StartTransaction { .. }
                | Statement::Commit { .. }
                | Statement::Rollback { .. }
                | Statement::Declare { .. }
                | Statement::Fetch { .. }
                | Statement::Close { .. }
        );
        if !keeps_session {
            self.0.clear();
        }
    }
}

impl Debug for SessionChangeHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionChangeHook")
    }
}

#[async_trait]
impl QueryHook for SessionChangeHook {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        _session_context: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        self.observe(statement);
        None
    }

    async fn handle_extended_parse_query(
        &self,
        _statement: &Statement,
        _session_context: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        None
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _logical_plan: &LogicalPlan,
        _params: &ParamValues,
        _session_context: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        self.observe(statement);
        None
    }
}

/// Answers `SHOW` of PostgreSQL's fixed parameters (`server_version` as the
/// start-up parameter says, `standard_conforming_strings`, ...) and of the
/// session's own settings (`cassandra.*`, `kafka.*`, `datafusion.*`), in
/// both protocols. datafusion-postgres's own answers name DataFusion as the
/// version, which version-parsing drivers reject, and leave the others
/// empty.
#[derive(Debug)]
struct ServerSettingsHook;

impl ServerSettingsHook {
    /// The parameter `statement` shows and its value, when it is one of
    /// these.
    fn shown(statement: &Statement, session: &SessionContext) -> Option<(String, String)> {
        let Statement::ShowVariable { variable } = statement else {
            return None;
        };
        let name = variable
            .iter()
            .map(|part| part.value.as_str())
            .collect::<Vec<_>>()
            .join(".")
            .to_ascii_lowercase();
        let fixed = name == "server_version"
            || name == "server_version_num"
            || name == "timezone"
            || FIXED_SETTINGS.iter().any(|(key, _)| *key == name);
        if !fixed && !name.contains('.') {
            return None;
        }
        let value = setting(&name, session.state().config_options())?;
        Some((name, value))
    }

    fn response(name: String, value: String) -> PgWireResult<Response> {
        let fields = Arc::new(vec![FieldInfo::new(
            name,
            None,
            None,
            Type::TEXT,
            FieldFormat::Text,
        )]);
        let mut encoder = DataRowEncoder::new(fields.clone());
        encoder.encode_field(&Some(value))?;
        let row = encoder.take_row();
        Ok(Response::Query(QueryResponse::new(
            fields,
            futures::stream::once(async move { Ok(row) }),
        )))
    }
}

#[async_trait]
impl QueryHook for ServerSettingsHook {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        session_context: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        let (name, value) = Self::shown(statement, session_context)?;
        Some(Self::response(name, value))
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        session_context: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        let (name, _) = Self::shown(statement, session_context)?;
        // A plan with the right result shape, so Describe reports one text
        // column.
        let plan = session_context
            .sql(&format!("SELECT '' AS \"{}\"", name.replace('"', "")))
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
        session_context: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        let (name, value) = Self::shown(statement, session_context)?;
        Some(Self::response(name, value))
    }
}

/// `SET TIME ZONE 'Europe/Berlin'` and `SET timezone = ...`: the session's
/// `TimeZone`, in which `timestamptz` (`now()`, `x::timestamptz`) plans and
/// which `SHOW timezone` and `current_setting('TimeZone')` answer. A name
/// that is no time zone is refused (22023), as PostgreSQL refuses it;
/// `LOCAL` and `DEFAULT` go back to UTC.
#[derive(Debug)]
struct TimeZoneHook;

impl TimeZoneHook {
    /// The zone `statement` sets, or `None` when it sets none.
    fn zone(statement: &Statement) -> Option<PgWireResult<String>> {
        use datafusion::sql::sqlparser::ast::{ContextModifier, Expr as SqlExpr, Set, Value};
        let Statement::Set(set) = statement else {
            return None;
        };
        let value = match set {
            Set::SetTimeZone {
                local: false,
                value,
            } => value,
            Set::SingleAssignment {
                scope: None | Some(ContextModifier::Session),
                hivevar: false,
                variable,
                values,
            } if values.len() == 1
                && matches!(
                    variable.to_string().to_ascii_lowercase().as_str(),
                    "timezone" | "time zone"
                ) =>
            {
                &values[0]
            }
            _ => return None,
        };
        let name = match value {
            SqlExpr::Value(v) => match &v.value {
                Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
                Value::Number(n, _) => n.clone(),
                other => other.to_string(),
            },
            SqlExpr::Identifier(ident) => ident.value.clone(),
            SqlExpr::UnaryOp { op, expr } => format!("{op}{expr}"),
            other => other.to_string(),
        };
        let name = match name.to_ascii_uppercase().as_str() {
            "LOCAL" | "DEFAULT" => "UTC".to_string(),
            _ => name,
        };
        Some(
            match name.parse::<datafusion::arrow::array::timezone::Tz>() {
                Ok(_) => Ok(name),
                Err(_) => Err(user_error(
                    "22023",
                    format!("invalid value for parameter \"TimeZone\": \"{name}\""),
                )),
            },
        )
    }

    async fn set(
        statement: &Statement,
        session: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        let zone = match Self::zone(statement)? {
            Ok(zone) => zone,
            Err(e) => return Some(Err(e)),
        };
        session
            .state_ref()
            .write()
            .config_mut()
            .options_mut()
            .execution
            .time_zone = Some(zone.clone());
        // Where datafusion-postgres keeps the client's zone.
        client
            .metadata_mut()
            .insert("timezone".to_string(), zone.clone());
        let status = ParameterStatus::new("TimeZone".to_string(), zone);
        if let Err(e) = client
            .send_message(PgWireBackendMessage::ParameterStatus(status))
            .await
        {
            return Some(Err(e));
        }
        Some(Ok(Response::Execution(Tag::new("SET"))))
    }
}

#[async_trait]
impl QueryHook for TimeZoneHook {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        session_context: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        Self::set(statement, session_context, client).await
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _session_context: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        Self::zone(statement).map(|zone| zone.map(|_| no_result()))
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _logical_plan: &LogicalPlan,
        _params: &ParamValues,
        session_context: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        Self::set(statement, session_context, client).await
    }
}

/// The plan that describes a statement without a result.
pub(crate) fn no_result() -> LogicalPlan {
    LogicalPlan::EmptyRelation(EmptyRelation {
        produce_one_row: false,
        schema: Arc::new(DFSchema::empty()),
    })
}

/// Accepts `SAVEPOINT`, `RELEASE SAVEPOINT` and `ROLLBACK TO SAVEPOINT`,
/// which drivers send around their own statements (psycopg 3 wraps its
/// type lookups in one). Like `BEGIN` and `ROLLBACK`, they do not make
/// Cassandra or Kafka writes transactional: each write is applied when its
/// statement runs.
#[derive(Debug)]
struct SavepointHook;

impl SavepointHook {
    fn tag(statement: &Statement) -> Option<&'static str> {
        match statement {
            Statement::Savepoint { .. } => Some("SAVEPOINT"),
            Statement::ReleaseSavepoint { .. } => Some("RELEASE"),
            Statement::Rollback {
                savepoint: Some(_), ..
            } => Some("ROLLBACK"),
            _ => None,
        }
    }
}

#[async_trait]
impl QueryHook for SavepointHook {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        _session_context: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        Self::tag(statement).map(|tag| Ok(Response::Execution(Tag::new(tag))))
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _session_context: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        Self::tag(statement).map(|_| Ok(no_result()))
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _logical_plan: &LogicalPlan,
        _params: &ParamValues,
        _session_context: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        Self::tag(statement).map(|tag| Ok(Response::Execution(Tag::new(tag))))
    }
}

/// Runs schema statements on Cassandra keyspaces (see [`Ddl`]).
#[derive(Debug)]
struct DdlHook(Arc<Ddl>);

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
        self.0.handles(statement).then(|| Ok(no_result()))
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

/// `response` with its rows, if it has any, read to the end (an error among
/// them stays in its place).
async fn read_rows(response: Response) -> Response {
    match response {
        Response::Query(mut query) => {
            let rows = std::mem::replace(&mut query.data_rows, Box::pin(futures::stream::empty()));
            let rows: Vec<_> = rows.collect().await;
            query.data_rows = Box::pin(futures::stream::iter(rows));
            Response::Query(query)
        }
        other => other,
    }
}

/// The statements of a script of several, if one of them is `CREATE
/// EXTERNAL TABLE` or `REFRESH MATERIALIZED VIEW`, which only smackql reads.
fn script_with_own_statements(sql: &str) -> Option<Vec<&str>> {
    // A cheap test first: this runs for every query received.
    let lower = sql.to_ascii_lowercase();
    if !lower.contains("external") && !lower.contains("refresh") {
        return None;
    }
    let pieces = smackql_catalog::script::statements(sql);
    let own = |piece: &&str| external_tables(piece).is_some() || parse_refresh(piece).is_some();
    (pieces.len() > 1 && pieces.iter().any(own)).then_some(pieces)
}

fn external_tables(sql: &str) -> Option<Vec<CreateExternalTable>> {
    // A cheap test first: this runs for every statement received.
    let starts_create = sql
        .trim_start()
        .get(..6)
        .is_some_and(|s| s.eq_ignore_ascii_case("create"));
    if !starts_create || !sql.to_ascii_lowercase().contains("external") {
        return None;
    }
    parse_external_tables(sql)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "123e4567-e89b-12d3-a456-426614174000";

    fn a() -> [u8; 16] {
        smackql_udfs::parse_uuid(A).unwrap()
    }

    /// PostgreSQL's binary array format: one dimension of `items`, each of
    /// type `oid`.
    fn binary_array(oid: u32, items: &[Option<&[u8]>]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend(1i32.to_be_bytes());
        out.extend(i32::from(items.iter().any(Option::is_none)).to_be_bytes());
        out.extend(oid.to_be_bytes());
        out.extend((items.len() as i32).to_be_bytes());
        out.extend(1i32.to_be_bytes());
        for item in items {
            match item {
                Some(bytes) => {
                    out.extend((bytes.len() as i32).to_be_bytes());
                    out.extend(*bytes);
                }
                None => out.extend((-1i32).to_be_bytes()),
            }
        }
        out
    }

    #[test]
    fn uuid_arrays_are_read_as_text_and_in_binary() {
        let text = format!("{{{A}, NULL,\"{}\"}}", A.to_uppercase());
        assert_eq!(
            uuid_array(text.as_bytes(), false).unwrap(),
            vec![Some(a()), None, Some(a())]
        );
        assert_eq!(uuid_array(b"{}", false).unwrap(), vec![]);
        let binary = binary_array(Type::UUID.oid(), &[Some(&a()), None]);
        assert_eq!(uuid_array(&binary, true).unwrap(), vec![Some(a()), None]);
        let as_text = binary_array(Type::TEXT.oid(), &[Some(A.as_bytes())]);
        assert_eq!(uuid_array(&as_text, true).unwrap(), vec![Some(a())]);
        let empty = [
            0i32.to_be_bytes(),
            0i32.to_be_bytes(),
            2950i32.to_be_bytes(),
        ]
        .concat();
        assert_eq!(uuid_array(&empty, true).unwrap(), vec![]);
    }

    #[test]
    fn malformed_uuid_arrays_are_invalid_text() {
        let sqlstate = |e: PgWireError| match e {
            PgWireError::UserError(info) => info.code,
            other => panic!("{other:?}"),
        };
        for text in ["{not-a-uuid}", "123e4567", "{{1},{2}}"] {
            let e = uuid_array(text.as_bytes(), false).unwrap_err();
            assert_eq!(sqlstate(e), "22P02", "{text}");
        }
        let truncated = binary_array(Type::UUID.oid(), &[Some(&a())]);
        let e = uuid_array(&truncated[..truncated.len() - 3], true).unwrap_err();
        assert_eq!(sqlstate(e), "22P02");
        let short = binary_array(Type::UUID.oid(), &[Some(&[1, 2, 3])]);
        assert_eq!(sqlstate(uuid_array(&short, true).unwrap_err()), "22P02");
    }

    #[test]
    fn time_zones_are_set_by_name_and_unknown_ones_refused() {
        let zone = |sql: &str| {
            let dialect = datafusion::sql::sqlparser::dialect::PostgreSqlDialect {};
            let statement = datafusion::sql::sqlparser::parser::Parser::parse_sql(&dialect, sql)
                .unwrap()
                .remove(0);
            TimeZoneHook::zone(&statement).map(|z| z.map_err(|e| e.to_string()))
        };
        assert_eq!(
            zone("SET TIME ZONE 'Europe/Berlin'"),
            Some(Ok("Europe/Berlin".into()))
        );
        assert_eq!(zone("SET timezone = 'UTC'"), Some(Ok("UTC".into())));
        assert_eq!(
            zone("SET SESSION TIMEZONE TO 'Asia/Tokyo'"),
            Some(Ok("Asia/Tokyo".into()))
        );
        assert_eq!(zone("SET LOCAL TIMEZONE TO 'Asia/Tokyo'"), None);
        assert_eq!(zone("SET TimeZone TO '+02:00'"), Some(Ok("+02:00".into())));
        assert_eq!(zone("SET TIME ZONE LOCAL"), Some(Ok("UTC".into())));
        assert_eq!(zone("SET search_path = x"), None);
        assert!(matches!(
            zone("SET TIME ZONE 'Nowhere/Atlantis'"),
            Some(Err(_))
        ));
    }
}
