//! The Flight SQL service: statements, prepared statements, updates,
//! catalog listings and cancellation, over the same sessions and SQL
//! handling as the Postgres front end.
//!
//! `GetFlightInfo` plans a statement (for its schema) and hands out a ticket
//! naming it; `DoGet` runs it and streams its batches as DataFusion makes
//! them. A batch is encoded only when the client's HTTP/2 window has room,
//! so a slow reader slows the scan instead of filling memory. A full scan of
//! a Cassandra table is handed out as several endpoints, one per output
//! partition, which a client may read in parallel (see [`super::split`]).

use std::pin::Pin;
use std::sync::{Arc, Mutex};

use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::metadata::{SqlInfoData, XdbcTypeInfoData};
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionCancelQueryRequest, ActionCancelQueryResult, ActionClosePreparedStatementRequest,
    ActionCreatePreparedStatementRequest, ActionCreatePreparedStatementResult, Any,
    CommandGetCatalogs, CommandGetCrossReference, CommandGetDbSchemas, CommandGetExportedKeys,
    CommandGetImportedKeys, CommandGetPrimaryKeys, CommandGetSqlInfo, CommandGetTableTypes,
    CommandGetTables, CommandGetXdbcTypeInfo, CommandPreparedStatementQuery,
    CommandPreparedStatementUpdate, CommandStatementQuery, CommandStatementUpdate,
    DoPutPreparedStatementResult, ProstMessageExt, SqlInfo, TicketStatementQuery,
};
use arrow_flight::{
    Action, CancelFlightInfoRequest, CancelFlightInfoResult, CancelStatus, FlightDescriptor,
    FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse, IpcMessage, SchemaAsIpc,
    Ticket,
};
use datafusion::arrow::array::{Array, RecordBatch, UInt64Array};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::arrow::ipc::writer::IpcWriteOptions;
use datafusion::common::ParamValues;
use datafusion::error::DataFusionError;
use datafusion::physical_plan::SendableRecordBatchStream;
use futures::{Stream, StreamExt, TryStreamExt};
use prost::Message;
use tokio_util::sync::CancellationToken;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status, Streaming};

use super::auth::{Authenticator, FlightSession};
use super::errors::{arrow_status, status};
use super::metadata;
use super::split::{self, SplitPlan};
use super::statement::{
    number_placeholders, parameter_row, parameter_schema, to_wire, wire_schema, TicketBody,
};
use super::store::{random_key, Expiring};
use crate::sql::{PlannedStatement, SqlRunner};
use smackql_cassandra::CassandraConnection;

type DoGetStream = <SmackqlFlightSql as FlightService>::DoGetStream;

/// The action newer clients cancel with (Flight RPC's, not Flight SQL's).
const CANCEL_FLIGHT_INFO: &str = "CancelFlightInfo";

/// A prepared statement, planned once, with the parameter values last
/// bound to it.
#[derive(Debug)]
struct Prepared {
    session: Arc<FlightSession>,
    planned: PlannedStatement,
    parameter_types: Vec<Option<DataType>>,
    parameters: Mutex<Option<RecordBatch>>,
}

/// A query handed out in a `FlightInfo`, until its endpoints are read.
#[derive(Debug, Default)]
struct Query {
    cancel: CancellationToken,
    /// The plan whose output partitions its endpoints name, when split.
    split: Option<SplitPlan>,
}

/// The Flight SQL service of one gateway.
pub(crate) struct SmackqlFlightSql {
    auth: Arc<Authenticator>,
    cassandra: Arc<CassandraConnection>,
    sql: SqlRunner,
    prepared: Expiring<Prepared>,
    queries: Arc<Expiring<Query>>,
    sql_info: SqlInfoData,
    xdbc: XdbcTypeInfoData,
}

impl SmackqlFlightSql {
    /// A service keeping at most `max_prepared` prepared statements, each
    /// closed after `idle` unused.
    pub(crate) fn new(
        auth: Arc<Authenticator>,
        cassandra: Arc<CassandraConnection>,
        sql: SqlRunner,
        max_prepared: usize,
        idle: std::time::Duration,
    ) -> Result<Self, DataFusionError> {
        Ok(Self {
            auth,
            cassandra,
            sql,
            prepared: Expiring::new(max_prepared, idle),
            // Queries planned but not fetched yet, or running.
            queries: Arc::new(Expiring::new(max_prepared, idle)),
            sql_info: metadata::sql_info()?,
            xdbc: metadata::xdbc_type_info()?,
        })
    }

    /// Ends idle sessions, prepared statements and queries never fetched.
    pub(crate) fn sweep(&self) {
        self.auth.sweep();
        self.prepared.sweep();
        self.queries.sweep();
    }

    fn session(&self, metadata: &MetadataMap) -> Result<Arc<FlightSession>, Status> {
        self.auth.session(metadata)
    }

    /// The session of a catalog listing, once Cassandra's keyspaces are
    /// known: listings name them, and a gateway connects lazily.
    async fn listing_session(&self, metadata: &MetadataMap) -> Result<Arc<FlightSession>, Status> {
        let session = self.session(metadata)?;
        self.cassandra
            .session()
            .await
            .map_err(|e| status(&DataFusionError::from(e)))?;
        Ok(session)
    }

    /// The prepared statement under `handle`, if the caller may use it.
    fn prepared(&self, metadata: &MetadataMap, handle: &[u8]) -> Result<Arc<Prepared>, Status> {
        let caller = self.session(metadata)?;
        let prepared = self.prepared.get(handle).ok_or_else(|| {
            Status::not_found("the prepared statement is closed or has expired; prepare it again")
        })?;
        if self.auth.required() && caller.user != prepared.session.user {
            return Err(Status::not_found(
                "the prepared statement is closed or has expired; prepare it again",
            ));
        }
        Ok(prepared)
    }

    async fn plan(&self, session: &FlightSession, sql: &str) -> Result<PlannedStatement, Status> {
        self.sql
            .plan(&session.context, &number_placeholders(sql))
            .await
            .map_err(|e| status(&e))
    }

    /// A `FlightInfo` whose tickets name `body`: one endpoint per output
    /// partition of `split`, or a single one.
    fn statement_info(
        &self,
        schema: &Schema,
        mut body: TicketBody,
        split: Option<SplitPlan>,
        descriptor: FlightDescriptor,
    ) -> Result<Response<FlightInfo>, Status> {
        body.query_id = random_key();
        let partitions = split.as_ref().map(SplitPlan::partitions);
        self.queries.insert(
            body.query_id.clone(),
            Arc::new(Query {
                cancel: CancellationToken::new(),
                split,
            }),
        );
        let mut info = FlightInfo::new()
            .try_with_schema(&wire_schema(schema))
            .map_err(arrow_status)?
            .with_descriptor(descriptor);
        let parts: Vec<Option<u32>> = match partitions {
            Some(n) => (0..n as u32).map(Some).collect(),
            None => vec![None],
        };
        for partition in parts {
            body.partition = partition;
            let ticket = TicketStatementQuery {
                statement_handle: body.encode_to_vec().into(),
            };
            info = info.with_endpoint(
                FlightEndpoint::new().with_ticket(Ticket::new(ticket.as_any().encode_to_vec())),
            );
        }
        Ok(Response::new(info))
    }

    /// `planned`, with `params`, as a plan of independent partitions, when
    /// it is a full scan that splits into more than one.
    async fn split(
        &self,
        session: &FlightSession,
        planned: &PlannedStatement,
        params: Option<ParamValues>,
    ) -> Result<Option<SplitPlan>, Status> {
        let PlannedStatement::Plan(plan) = planned else {
            return Ok(None);
        };
        if !split::may_split(plan) {
            return Ok(None);
        }
        let plan = match params {
            Some(params) => plan.clone().replace_params_with_values(&params),
            None => Ok(plan.clone()),
        }
        .map_err(|e| status(&e))?;
        let physical = session
            .context
            .state()
            .create_physical_plan(&plan)
            .await
            .map_err(|e| status(&e))?;
        Ok(split::partitions(&physical).map(|n| SplitPlan::new(physical, n, session.user.clone())))
    }

    /// Runs one partition of a split query's plan.
    fn run_partition(
        &self,
        metadata: &MetadataMap,
        query_id: &[u8],
        partition: usize,
    ) -> Result<SendableRecordBatchStream, Status> {
        let caller = self.session(metadata)?;
        let ended = || Status::not_found("the query has ended or expired; run it again");
        let query = self.queries.get(query_id).ok_or_else(ended)?;
        let split = query.split.as_ref().ok_or_else(ended)?;
        if self.auth.required() && caller.user != split.user {
            return Err(ended());
        }
        if partition >= split.partitions() {
            return Err(Status::invalid_argument(
                "the ticket was not issued by this server",
            ));
        }
        split
            .plan
            .execute(partition, caller.context.task_ctx())
            .map_err(|e| status(&e))
    }

    /// Runs `prepared` with its bound parameters: once, or once per bound
    /// row with the results one after the other.
    async fn run_prepared(
        &self,
        prepared: &Prepared,
        rows: Option<RecordBatch>,
    ) -> Result<SendableRecordBatchStream, DataFusionError> {
        let session = &prepared.session.context;
        let rows = match rows {
            Some(rows) => Some(rows),
            None => prepared.parameters.lock().ok().and_then(|p| p.clone()),
        };
        let batch = match (prepared.parameter_types.is_empty(), rows) {
            (true, _) => {
                return self
                    .sql
                    .execute(session, prepared.planned.clone(), None)
                    .await
            }
            (false, Some(batch)) if batch.num_rows() > 0 => batch,
            (false, _) => {
                return Err(DataFusionError::Plan(format!(
                    "the statement has {} parameters, but no values were bound",
                    prepared.parameter_types.len()
                )))
            }
        };
        if batch.num_rows() == 1 {
            let params = parameter_row(&batch, 0, &prepared.parameter_types)?;
            return self
                .sql
                .execute(session, prepared.planned.clone(), Some(params))
                .await;
        }
        let mut streams = Vec::with_capacity(batch.num_rows());
        for row in 0..batch.num_rows() {
            let params = parameter_row(&batch, row, &prepared.parameter_types)?;
            streams.push(
                self.sql
                    .execute(session, prepared.planned.clone(), Some(params))
                    .await?,
            );
        }
        let schema = streams[0].schema();
        Ok(Box::pin(
            datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
                schema,
                futures::stream::iter(streams).flatten(),
            ),
        ))
    }

    /// Streams `rows`, the rows of `partition` of a split query or all of
    /// them, to the client as Flight data, stopping when the query is
    /// cancelled.
    fn stream(
        &self,
        rows: SendableRecordBatchStream,
        query_id: Vec<u8>,
        partition: Option<usize>,
    ) -> DoGetStream {
        let token = self
            .queries
            .get(&query_id)
            .map(|q| q.cancel.clone())
            .unwrap_or_default();
        let guard = QueryGuard {
            queries: self.queries.clone(),
            id: query_id,
            partition,
        };
        let wire = wire_schema(&rows.schema());
        let batch_wire = wire.clone();
        let batches = rows.map(move |batch| {
            let batch = batch.map_err(|e| FlightError::Tonic(Box::new(status(&e))))?;
            to_wire(batch, &batch_wire).map_err(FlightError::Arrow)
        });
        let data = FlightDataEncoderBuilder::new()
            .with_schema(wire)
            .build(batches)
            .map_err(Status::from);
        let cancellable =
            futures::stream::unfold(Some((Box::pin(data), token, guard)), |state| async move {
                let (mut data, token, guard) = state?;
                tokio::select! {
                    biased;
                    () = token.cancelled() => {
                        Some((Err(Status::cancelled("the query was cancelled")), None))
                    }
                    item = data.next() => item.map(|item| (item, Some((data, token, guard)))),
                }
            });
        Box::pin(cancellable)
    }

    /// A `FlightInfo` for one of the foreign key listings.
    fn foreign_keys_info(
        &self,
        query: impl ProstMessageExt,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(request.metadata())?;
        command_info(
            query,
            &metadata::foreign_keys_schema(),
            request.into_inner(),
        )
    }

    /// The foreign keys of any table: none.
    fn no_foreign_keys(&self, metadata: &MetadataMap) -> Result<Response<DoGetStream>, Status> {
        self.session(metadata)?;
        Ok(batch_response(metadata::no_foreign_keys()))
    }

    /// Cancels the queries whose tickets `info` holds; whether any was found.
    fn cancel(&self, info: &FlightInfo) -> bool {
        let mut found = false;
        for endpoint in &info.endpoint {
            let Some(body) = endpoint.ticket.as_ref().and_then(ticket_body) else {
                continue;
            };
            if let Some(query) = self.queries.get(&body.query_id) {
                query.cancel.cancel();
                found = true;
            }
        }
        tracing::info!(found, "flight sql cancel request");
        found
    }
}

/// Forgets a query once its stream ends or the client goes away; a split
/// query once every partition's stream has.
struct QueryGuard {
    queries: Arc<Expiring<Query>>,
    id: Vec<u8>,
    partition: Option<usize>,
}

impl Drop for QueryGuard {
    fn drop(&mut self) {
        let last = match (self.partition, self.queries.get(&self.id)) {
            (Some(partition), Some(query)) => query
                .split
                .as_ref()
                .is_none_or(|split| split.end(partition)),
            _ => true,
        };
        if last {
            self.queries.remove(&self.id);
        }
    }
}

/// The body of one of our statement tickets.
fn ticket_body(ticket: &Ticket) -> Option<TicketBody> {
    let any = Any::decode(ticket.ticket.as_ref()).ok()?;
    let query: TicketStatementQuery = any.unpack().ok()??;
    TicketBody::decode(query.statement_handle.as_ref()).ok()
}

/// The Arrow IPC bytes of `schema`, as prepared statement results carry it.
fn schema_bytes(schema: &Schema) -> Result<bytes::Bytes, Status> {
    let IpcMessage(bytes) = SchemaAsIpc::new(schema, &IpcWriteOptions::default())
        .try_into()
        .map_err(arrow_status)?;
    Ok(bytes)
}

/// One batch, as a `DoGet` response.
fn batch_response(batch: RecordBatch) -> Response<DoGetStream> {
    let schema = batch.schema();
    let data = FlightDataEncoderBuilder::new()
        .with_schema(schema)
        .build(futures::stream::once(async move { Ok(batch) }))
        .map_err(Status::from);
    Response::new(Box::pin(data))
}

/// A `FlightInfo` for a metadata command: its ticket is the command itself.
fn command_info(
    command: impl ProstMessageExt,
    schema: &Schema,
    descriptor: FlightDescriptor,
) -> Result<Response<FlightInfo>, Status> {
    let ticket = Ticket::new(command.as_any().encode_to_vec());
    let info = FlightInfo::new()
        .try_with_schema(schema)
        .map_err(arrow_status)?
        .with_endpoint(FlightEndpoint::new().with_ticket(ticket))
        .with_descriptor(descriptor);
    Ok(Response::new(info))
}

/// The parameter rows a `DoPut` carries (none when it carries no batches).
async fn read_parameters(stream: PeekableFlightDataStream) -> Result<Option<RecordBatch>, Status> {
    // The stream itself, not its inner stream: the first message, already
    // peeked at, holds the schema.
    // Messages without data (the first may carry only the command) are
    // not batches.
    let data = stream
        .try_filter(|data| futures::future::ready(!data.data_header.is_empty()))
        .map_err(|s| FlightError::Tonic(Box::new(s)));
    let batches: Vec<RecordBatch> = FlightRecordBatchStream::new_from_flight_data(data)
        .try_collect()
        .await
        .map_err(|e| Status::invalid_argument(format!("cannot read the parameter values: {e}")))?;
    let Some(first) = batches.first() else {
        return Ok(None);
    };
    let batch = concat_batches(&first.schema(), &batches).map_err(arrow_status)?;
    Ok(Some(batch))
}

/// The rows an update changed: the `count` DataFusion reports for `INSERT`,
/// the rows a query returned, 0 for a schema statement.
async fn affected_rows(stream: SendableRecordBatchStream) -> Result<i64, DataFusionError> {
    let schema = stream.schema();
    let is_count = schema.fields().len() == 1
        && schema.field(0).name() == "count"
        && schema.field(0).data_type() == &DataType::UInt64;
    // Counted as the rows arrive: a query run as an update is not held in
    // memory.
    let total = stream
        .try_fold(0u64, |total, b| {
            let rows = if is_count {
                b.column(0)
                    .as_any()
                    .downcast_ref::<UInt64Array>()
                    .map(|c| c.iter().flatten().sum())
                    .unwrap_or(0)
            } else {
                b.num_rows() as u64
            };
            futures::future::ready(Ok(total + rows))
        })
        .await?;
    Ok(i64::try_from(total).unwrap_or(i64::MAX))
}

#[tonic::async_trait]
impl FlightSqlService for SmackqlFlightSql {
    type FlightService = SmackqlFlightSql;

    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<
        Response<Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>>,
        Status,
    > {
        let (token, _) = self.auth.handshake(request.metadata())?;
        let reply = HandshakeResponse {
            protocol_version: 0,
            payload: token.clone().into(),
        };
        let stream: Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>> =
            Box::pin(futures::stream::once(async move { Ok(reply) }));
        let mut response = Response::new(stream);
        let header = format!("Bearer {token}")
            .parse()
            .map_err(|_| Status::internal("cannot encode the session token"))?;
        response.metadata_mut().insert("authorization", header);
        Ok(response)
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let session = self.session(request.metadata())?;
        let planned = self.plan(&session, &query.query).await?;
        let split = self.split(&session, &planned, None).await?;
        let body = TicketBody {
            sql: query.query,
            ..Default::default()
        };
        self.statement_info(&planned.schema(), body, split, request.into_inner())
    }

    async fn get_flight_info_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let handle = query.prepared_statement_handle.to_vec();
        let prepared = self.prepared(request.metadata(), &handle)?;
        // Split only when it runs once: with no parameters, or one row of
        // values bound.
        let bound = prepared.parameters.lock().ok().and_then(|p| p.clone());
        let params = match (prepared.parameter_types.is_empty(), bound) {
            (true, _) => Some(None),
            (false, Some(rows)) if rows.num_rows() == 1 => Some(Some(
                parameter_row(&rows, 0, &prepared.parameter_types).map_err(|e| status(&e))?,
            )),
            (false, _) => None,
        };
        let split = match params {
            Some(params) => {
                self.split(&prepared.session, &prepared.planned, params)
                    .await?
            }
            None => None,
        };
        let body = TicketBody {
            prepared: handle,
            ..Default::default()
        };
        self.statement_info(
            &prepared.planned.schema(),
            body,
            split,
            request.into_inner(),
        )
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let body = TicketBody::decode(ticket.statement_handle.as_ref())
            .map_err(|_| Status::invalid_argument("the ticket was not issued by this server"))?;
        if self
            .queries
            .get(&body.query_id)
            .is_some_and(|q| q.cancel.is_cancelled())
        {
            return Err(Status::cancelled("the query was cancelled"));
        }
        if let Some(partition) = body.partition {
            let partition = partition as usize;
            let rows = self.run_partition(request.metadata(), &body.query_id, partition)?;
            return Ok(Response::new(self.stream(
                rows,
                body.query_id,
                Some(partition),
            )));
        }
        let rows = if body.prepared.is_empty() {
            let session = self.session(request.metadata())?;
            let planned = self.plan(&session, &body.sql).await?;
            self.sql.execute(&session.context, planned, None).await
        } else {
            let prepared = self.prepared(request.metadata(), &body.prepared)?;
            self.run_prepared(&prepared, None).await
        }
        .map_err(|e| status(&e))?;
        Ok(Response::new(self.stream(rows, body.query_id, None)))
    }

    async fn do_get_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let prepared = self.prepared(request.metadata(), &query.prepared_statement_handle)?;
        let rows = self
            .run_prepared(&prepared, None)
            .await
            .map_err(|e| status(&e))?;
        Ok(Response::new(self.stream(rows, random_key(), None)))
    }

    async fn do_put_statement_update(
        &self,
        command: CommandStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let session = self.session(request.metadata())?;
        let planned = self.plan(&session, &command.query).await?;
        let run = async {
            let rows = self.sql.execute(&session.context, planned, None).await?;
            affected_rows(rows).await
        };
        run.await.map_err(|e| status(&e))
    }

    async fn do_put_prepared_statement_query(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        let prepared = self.prepared(request.metadata(), &query.prepared_statement_handle)?;
        let rows = read_parameters(request.into_inner()).await?;
        if let Some(rows) = &rows {
            // Checked now, so a wrong binding fails here and not at DoGet.
            for row in 0..rows.num_rows() {
                parameter_row(rows, row, &prepared.parameter_types).map_err(|e| status(&e))?;
            }
        }
        if let Ok(mut bound) = prepared.parameters.lock() {
            *bound = rows;
        }
        Ok(DoPutPreparedStatementResult {
            prepared_statement_handle: Some(query.prepared_statement_handle),
        })
    }

    async fn do_put_prepared_statement_update(
        &self,
        query: CommandPreparedStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let prepared = self.prepared(request.metadata(), &query.prepared_statement_handle)?;
        let rows = read_parameters(request.into_inner()).await?;
        let run = async {
            let stream = self.run_prepared(&prepared, rows).await?;
            affected_rows(stream).await
        };
        run.await.map_err(|e| status(&e))
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let session = self.session(request.metadata())?;
        let planned = self.plan(&session, &query.query).await?;
        let parameter_types = planned.parameter_types().map_err(|e| status(&e))?;
        // An empty result schema tells the JDBC driver to run an update.
        let dataset_schema = if planned.is_update() {
            Schema::empty()
        } else {
            wire_schema(&planned.schema()).as_ref().clone()
        };
        let handle = random_key();
        let result = ActionCreatePreparedStatementResult {
            prepared_statement_handle: handle.clone().into(),
            dataset_schema: schema_bytes(&dataset_schema)?,
            parameter_schema: schema_bytes(&parameter_schema(&parameter_types))?,
        };
        self.prepared.insert(
            handle,
            Arc::new(Prepared {
                session,
                planned,
                parameter_types,
                parameters: Mutex::new(None),
            }),
        );
        Ok(result)
    }

    async fn do_action_close_prepared_statement(
        &self,
        query: ActionClosePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<(), Status> {
        let handle = query.prepared_statement_handle;
        // Closing one already gone is not an error: it is closed.
        if self.prepared(request.metadata(), &handle).is_ok() {
            self.prepared.remove(&handle);
        }
        Ok(())
    }

    async fn do_action_cancel_query(
        &self,
        query: ActionCancelQueryRequest,
        request: Request<Action>,
    ) -> Result<ActionCancelQueryResult, Status> {
        self.session(request.metadata())?;
        let info = FlightInfo::decode(query.info.as_ref())
            .map_err(|_| Status::invalid_argument("the FlightInfo to cancel cannot be read"))?;
        // CancelResult, which arrow-flight does not export: the same values
        // as CancelStatus.
        let result = if self.cancel(&info) {
            CancelStatus::Cancelled
        } else {
            CancelStatus::NotCancellable
        };
        Ok(ActionCancelQueryResult {
            result: result as i32,
        })
    }

    async fn do_action_fallback(
        &self,
        request: Request<Action>,
    ) -> Result<Response<<Self as FlightService>::DoActionStream>, Status> {
        if request.get_ref().r#type != CANCEL_FLIGHT_INFO {
            return Err(Status::unimplemented(format!(
                "action '{}' is not supported",
                request.get_ref().r#type
            )));
        }
        self.session(request.metadata())?;
        let cancel = CancelFlightInfoRequest::decode(request.get_ref().body.as_ref())
            .map_err(|_| Status::invalid_argument("the CancelFlightInfo request cannot be read"))?;
        let info = cancel
            .info
            .ok_or_else(|| Status::invalid_argument("CancelFlightInfo names no FlightInfo"))?;
        let status = if self.cancel(&info) {
            CancelStatus::Cancelled
        } else {
            CancelStatus::NotCancellable
        };
        let result = arrow_flight::Result {
            body: CancelFlightInfoResult {
                status: status as i32,
            }
            .encode_to_vec()
            .into(),
        };
        Ok(Response::new(Box::pin(futures::stream::once(async move {
            Ok(result)
        }))))
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(request.metadata())?;
        let schema = query.clone().into_builder(&self.sql_info).schema();
        command_info(query, &schema, request.into_inner())
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.session(request.metadata())?;
        let batch = query
            .into_builder(&self.sql_info)
            .build()
            .map_err(|e| Status::internal(e.to_string()))?;
        Ok(batch_response(batch))
    }

    async fn get_flight_info_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(request.metadata())?;
        let schema = query.into_builder(&self.xdbc).schema();
        command_info(query, &schema, request.into_inner())
    }

    async fn do_get_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.session(request.metadata())?;
        let batch = query
            .into_builder(&self.xdbc)
            .build()
            .map_err(|e| Status::internal(e.to_string()))?;
        Ok(batch_response(batch))
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(request.metadata())?;
        let schema = query.into_builder().schema();
        command_info(query, &schema, request.into_inner())
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.session(request.metadata())?;
        let mut builder = query.into_builder();
        builder.append(smackql_catalog::CATALOG_NAME);
        Ok(batch_response(
            builder
                .build()
                .map_err(|e| Status::internal(e.to_string()))?,
        ))
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(request.metadata())?;
        let schema = query.clone().into_builder().schema();
        command_info(query, &schema, request.into_inner())
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let session = self.listing_session(request.metadata()).await?;
        let batch = metadata::db_schemas(&session.context, query).map_err(|e| status(&e))?;
        Ok(batch_response(batch))
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(request.metadata())?;
        let schema = query.clone().into_builder().schema();
        command_info(query, &schema, request.into_inner())
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let session = self.listing_session(request.metadata()).await?;
        let batch = metadata::tables(&session.context, query)
            .await
            .map_err(|e| status(&e))?;
        Ok(batch_response(batch))
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(request.metadata())?;
        let schema = query.into_builder().schema();
        command_info(query, &schema, request.into_inner())
    }

    async fn do_get_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.session(request.metadata())?;
        let mut builder = query.into_builder();
        for kind in metadata::TABLE_TYPES {
            builder.append(kind);
        }
        Ok(batch_response(
            builder
                .build()
                .map_err(|e| Status::internal(e.to_string()))?,
        ))
    }

    async fn get_flight_info_primary_keys(
        &self,
        query: CommandGetPrimaryKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(request.metadata())?;
        command_info(
            query,
            &metadata::primary_keys_schema(),
            request.into_inner(),
        )
    }

    async fn do_get_primary_keys(
        &self,
        query: CommandGetPrimaryKeys,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let session = self.listing_session(request.metadata()).await?;
        let batch = metadata::primary_keys(&session.context, query)
            .await
            .map_err(|e| status(&e))?;
        Ok(batch_response(batch))
    }

    async fn get_flight_info_exported_keys(
        &self,
        query: CommandGetExportedKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.foreign_keys_info(query, request)
    }

    async fn do_get_exported_keys(
        &self,
        _query: CommandGetExportedKeys,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.no_foreign_keys(request.metadata())
    }

    async fn get_flight_info_imported_keys(
        &self,
        query: CommandGetImportedKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.foreign_keys_info(query, request)
    }

    async fn do_get_imported_keys(
        &self,
        _query: CommandGetImportedKeys,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.no_foreign_keys(request.metadata())
    }

    async fn get_flight_info_cross_reference(
        &self,
        query: CommandGetCrossReference,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.foreign_keys_info(query, request)
    }

    async fn do_get_cross_reference(
        &self,
        _query: CommandGetCrossReference,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.no_foreign_keys(request.metadata())
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}
