//! The Arrow Flight SQL front end, through real clients: the `arrow-flight`
//! Rust client, the Python ADBC driver and the Flight SQL JDBC driver.

use std::sync::Arc;
use std::time::Duration;

use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::sql::{CommandGetDbSchemas, CommandGetPrimaryKeys, CommandGetTables, SqlInfo};
use arrow_flight::{CancelFlightInfoRequest, FlightInfo};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type, Schema};
use datafusion::arrow::util::display::array_value_to_string;
use futures::{StreamExt, TryStreamExt};
use prost::Message;
use smackql_tests::clients;
use smackql_tests::gateway::{KeyspaceFixture, TestGateway};
use smackql_tests::services::{self, cql};
use tonic::transport::Channel;
use tonic::Code;

type Client = FlightSqlServiceClient<Channel>;

/// Every batch of a `FlightInfo`'s endpoints.
async fn fetch(client: &mut Client, info: FlightInfo) -> Result<Vec<RecordBatch>, tonic::Status> {
    let mut batches = Vec::new();
    for endpoint in info.endpoint {
        let ticket = endpoint.ticket.expect("endpoint has a ticket");
        let stream = client.do_get(ticket).await.map_err(to_status)?;
        let mut part: Vec<RecordBatch> = stream.try_collect().await.map_err(to_status)?;
        batches.append(&mut part);
    }
    Ok(batches)
}

fn to_status(err: impl Into<arrow_flight::error::FlightError>) -> tonic::Status {
    match err.into() {
        arrow_flight::error::FlightError::Tonic(status) => *status,
        other => tonic::Status::unknown(other.to_string()),
    }
}

/// Runs `sql` over Flight SQL, returning its batches.
async fn query(client: &mut Client, sql: &str) -> Result<Vec<RecordBatch>, tonic::Status> {
    let info = client
        .execute(sql.to_string(), None)
        .await
        .map_err(to_status)?;
    fetch(client, info).await
}

/// Every row of `batches` as text, with [`normalize`] applied.
fn rows_as_text(batches: &[RecordBatch]) -> Vec<Vec<Option<String>>> {
    let mut rows = Vec::new();
    for batch in batches {
        for row in 0..batch.num_rows() {
            let values = batch
                .columns()
                .iter()
                .map(|column| {
                    if column.is_null(row) {
                        return None;
                    }
                    let text = array_value_to_string(column, row).expect("displayable");
                    Some(normalize(column.data_type(), &text))
                })
                .collect();
            rows.push(values);
        }
    }
    rows
}

/// The rows of `sql` over Postgres wire, in the spelling of
/// [`rows_as_text`] for a result of `schema`.
async fn pg_rows(
    client: &tokio_postgres::Client,
    sql: &str,
    schema: &Schema,
) -> Vec<Vec<Option<String>>> {
    smackql_tests::gateway::text_rows(client, sql)
        .await
        .into_iter()
        .map(|row| {
            row.into_iter()
                .zip(schema.fields())
                .map(|(v, f)| v.map(|v| normalize(f.data_type(), &v)))
                .collect()
        })
        .collect()
}

/// A value's text in one spelling for both front ends: Postgres writes
/// `t`, `0` and `2024-01-10 10:20:00.000000+00` where Arrow writes `true`,
/// `0.0` and `2024-01-10T10:20:00Z`.
fn normalize(data_type: &DataType, text: &str) -> String {
    match data_type {
        DataType::Boolean => match text {
            "true" | "t" => "t".into(),
            _ => "f".into(),
        },
        DataType::Float32 | DataType::Float64 => text
            .parse::<f64>()
            .map(|f| f.to_string())
            .unwrap_or_else(|_| text.to_string()),
        DataType::Timestamp(_, _) => {
            let t = text.replace('T', " ");
            let t = t.trim_end_matches('Z').trim_end_matches("+00");
            let t = t.strip_suffix(".000000").unwrap_or(t);
            t.to_string()
        }
        _ => text.to_string(),
    }
}

/// A keyspace with `campaigns (id int PRIMARY KEY, name text, views
/// bigint)`, rows 1..3, and `mixed`, a table of several types; then a
/// gateway (with `user` and its password, if given) and a Postgres client.
async fn fixture(prefix: &str, user: Option<(&str, &str)>) -> KeyspaceFixture {
    let session = services::cassandra().await;
    let ks = smackql_tests::unique_name(prefix);
    services::create_keyspace(&session, &ks).await;
    cql(
        &session,
        &format!("CREATE TABLE \"{ks}\".campaigns (id int PRIMARY KEY, name text, views bigint)"),
    )
    .await;
    for (id, name, views) in [(1, "alpha", 10), (2, "beta", 20), (3, "gamma", 30)] {
        cql(
            &session,
            &format!(
                "INSERT INTO \"{ks}\".campaigns (id, name, views) VALUES ({id}, '{name}', {views})"
            ),
        )
        .await;
    }
    cql(
        &session,
        &format!(
            "CREATE TABLE \"{ks}\".mixed (k int, c int, b boolean, d double, t text, \
             ts timestamp, PRIMARY KEY (k, c))"
        ),
    )
    .await;
    for k in 0..4 {
        for c in 0..5 {
            let b = (k + c) % 2 == 0;
            let t = if c == 3 {
                "null".to_string()
            } else {
                format!("'k{k}c{c}'")
            };
            cql(
                &session,
                &format!(
                    "INSERT INTO \"{ks}\".mixed (k, c, b, d, t, ts) VALUES \
                     ({k}, {c}, {b}, {}, {t}, '2024-0{}-1{c} 10:2{c}:00+0000')",
                    k as f64 * 1.5 + c as f64 / 4.0,
                    k + 1
                ),
            )
            .await;
        }
    }
    let gateway = TestGateway::start_with(|config| {
        if let Some((name, password)) = user {
            TestGateway::with_user(config, name, password);
        }
    })
    .await;
    let client = match user {
        Some((name, password)) => gateway
            .try_client(name, Some(password))
            .await
            .expect("connects with a password"),
        None => gateway.client().await,
    };
    KeyspaceFixture {
        session,
        keyspace: ks,
        gateway,
        client,
    }
}

#[tokio::test]
async fn flight_and_postgres_return_the_same_rows() {
    let fx = fixture("flight_same", None).await;
    let mut flight = fx.gateway.flight().await;
    let mixed = fx.table("mixed");
    for sql in [
        format!("SELECT k, c, b, d, t, ts FROM {mixed} ORDER BY k, c"),
        format!("SELECT k, count(*) AS n, sum(d) AS total, max(t) AS last FROM {mixed} GROUP BY k ORDER BY k"),
        format!("SELECT t, d FROM {mixed} WHERE k = 2 AND c >= 1 ORDER BY c"),
        "SELECT 1 AS one, 'x' AS x, true AS yes, CAST(NULL AS int) AS nothing".to_string(),
    ] {
        let batches = query(&mut flight, &sql).await.expect(&sql);
        let over_flight = rows_as_text(&batches);
        let over_pg = pg_rows(&fx.client, &sql, &batches[0].schema()).await;
        assert!(!over_pg.is_empty(), "{sql} returned no rows");
        assert_eq!(over_flight, over_pg, "{sql}");
    }

    // Types arrive as Arrow types, not text.
    let batches = query(
        &mut flight,
        &format!("SELECT k, t, ts FROM {mixed} LIMIT 1"),
    )
    .await
    .unwrap();
    let schema = batches[0].schema();
    assert_eq!(schema.field(0).data_type(), &DataType::Int32);
    assert_eq!(schema.field(1).data_type(), &DataType::Utf8);
    assert!(matches!(
        schema.field(2).data_type(),
        DataType::Timestamp(_, _)
    ));
}

#[tokio::test]
async fn full_scans_are_split_into_endpoints_read_in_parallel() {
    let fx = fixture("flight_split", None).await;
    let mixed = fx.table("mixed");
    let mut flight = fx.gateway.flight().await;
    let sql = format!("SELECT k, c, b, d, t, ts FROM {mixed} WHERE d >= 0");
    let info = flight.execute(sql.clone(), None).await.unwrap();
    let endpoints = info.endpoint.clone();
    assert!(
        endpoints.len() > 1,
        "a full scan is one endpoint per partition: {} endpoint(s)",
        endpoints.len()
    );
    let schema = info.clone().try_decode_schema().unwrap();

    // Every endpoint at once, each over its own connection.
    let reads = endpoints.iter().map(|endpoint| {
        let ticket = endpoint.ticket.clone().expect("endpoint has a ticket");
        let gateway = &fx.gateway;
        async move {
            let mut client = gateway.flight().await;
            let stream = client.do_get(ticket).await.map_err(to_status)?;
            stream
                .try_collect::<Vec<RecordBatch>>()
                .await
                .map_err(to_status)
        }
    });
    let parts = futures::future::try_join_all(reads).await.unwrap();
    let mut over_flight = rows_as_text(&parts.concat());
    let mut over_pg = pg_rows(&fx.client, &sql, &schema).await;
    over_flight.sort();
    over_pg.sort();
    assert_eq!(over_flight.len(), 20);
    assert_eq!(over_flight, over_pg);

    // Once every endpoint was read, the query is gone.
    let ticket = endpoints[0].ticket.clone().unwrap();
    let again = match flight.do_get(ticket).await {
        Ok(stream) => stream.try_collect::<Vec<RecordBatch>>().await.err(),
        Err(err) => Some(err),
    };
    let status = to_status(again.expect("a read query cannot be read again"));
    assert_eq!(status.code(), Code::NotFound, "{status}");

    // What combines partitions, or reads by key, is one endpoint.
    for sql in [
        format!("SELECT k, c FROM {mixed} ORDER BY k, c"),
        format!("SELECT count(*) FROM {mixed}"),
        format!("SELECT k, c FROM {mixed} LIMIT 5"),
        format!("SELECT c, t FROM {mixed} WHERE k = 2"),
        format!("SELECT a.k FROM {mixed} AS a JOIN {mixed} AS b ON a.k = b.c"),
    ] {
        let info = flight.execute(sql.clone(), None).await.unwrap();
        assert_eq!(info.endpoint.len(), 1, "{sql}");
        fetch(&mut flight, info).await.expect(&sql);
    }

    // A prepared statement with one row of values bound is split too.
    let mut prepared = flight
        .prepare(format!("SELECT k, d FROM {mixed} WHERE d > ?"), None)
        .await
        .unwrap();
    let values =
        RecordBatch::try_from_iter([("$1", Arc::new(Float64Array::from(vec![3.0])) as ArrayRef)])
            .unwrap();
    prepared.set_parameters(values).unwrap();
    let info = prepared.execute().await.unwrap();
    assert!(
        info.endpoint.len() > 1,
        "{} endpoint(s)",
        info.endpoint.len()
    );
    let batches = fetch(&mut flight, info).await.unwrap();
    let above: Vec<f64> = batches
        .iter()
        .flat_map(|b| b.column(1).as_primitive::<Float64Type>().values().to_vec())
        .collect();
    let row = fx
        .client
        .query_one(&format!("SELECT count(*) FROM {mixed} WHERE d > 3"), &[])
        .await
        .unwrap();
    assert_eq!(above.len() as i64, row.get::<_, i64>(0));
    assert!(above.iter().all(|d| *d > 3.0), "{above:?}");
    prepared.close().await.unwrap();

    // Cancelling the FlightInfo cancels every endpoint.
    let info = flight.execute(sql.clone(), None).await.unwrap();
    let action = arrow_flight::Action::new(
        "CancelFlightInfo",
        CancelFlightInfoRequest::new(info.clone()).encode_to_vec(),
    );
    let mut results = flight.do_action(action).await.unwrap();
    let result = results.message().await.unwrap().expect("a result");
    let result = arrow_flight::CancelFlightInfoResult::decode(result.body).unwrap();
    assert_eq!(result.status, arrow_flight::CancelStatus::Cancelled as i32);
    for endpoint in info.endpoint {
        let status = match flight.do_get(endpoint.ticket.unwrap()).await {
            Ok(stream) => to_status(
                stream
                    .try_collect::<Vec<RecordBatch>>()
                    .await
                    .expect_err("a cancelled query is not read"),
            ),
            Err(err) => to_status(err),
        };
        assert_eq!(status.code(), Code::Cancelled, "{status}");
    }
}

#[tokio::test]
async fn flight_lists_the_catalog() {
    let fx = fixture("flight_meta", None).await;
    let ks = fx.keyspace.clone();
    let mut flight = fx.gateway.flight().await;

    let info = flight.get_catalogs().await.unwrap();
    let catalogs = fetch(&mut flight, info).await.unwrap();
    assert_eq!(
        rows_as_text(&catalogs),
        vec![vec![Some("smackql".to_string())]]
    );

    let info = flight
        .get_db_schemas(CommandGetDbSchemas {
            catalog: None,
            db_schema_filter_pattern: Some(ks.clone()),
        })
        .await
        .unwrap();
    let schemas = rows_as_text(&fetch(&mut flight, info).await.unwrap());
    assert_eq!(
        schemas,
        vec![vec![Some("smackql".into()), Some(ks.clone())]]
    );

    let info = flight
        .get_tables(CommandGetTables {
            catalog: Some("smackql".into()),
            db_schema_filter_pattern: Some(ks.clone()),
            table_name_filter_pattern: Some("%".into()),
            table_types: vec![],
            include_schema: true,
        })
        .await
        .unwrap();
    let tables = fetch(&mut flight, info).await.unwrap();
    let names: Vec<_> = rows_as_text(&tables)
        .into_iter()
        .map(|r| (r[2].clone().unwrap(), r[3].clone().unwrap()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("campaigns".into(), "TABLE".into()),
            ("mixed".into(), "TABLE".into())
        ]
    );
    // The schema of each table, as Arrow IPC.
    let schema_bytes = tables[0].column(4).as_binary::<i32>().value(0).to_vec();
    let message = arrow_flight::IpcMessage(schema_bytes.into());
    let schema = datafusion::arrow::datatypes::Schema::try_from(message).unwrap();
    let fields: Vec<_> = schema.fields().iter().map(|f| f.name().clone()).collect();
    assert_eq!(fields, ["id", "name", "views"]);

    let info = flight
        .get_primary_keys(CommandGetPrimaryKeys {
            catalog: None,
            db_schema: Some(ks.clone()),
            table: "mixed".into(),
        })
        .await
        .unwrap();
    let keys = rows_as_text(&fetch(&mut flight, info).await.unwrap());
    let keys: Vec<_> = keys
        .iter()
        .map(|r| (r[3].clone().unwrap(), r[5].clone().unwrap()))
        .collect();
    assert_eq!(keys, [("k".into(), "1".into()), ("c".into(), "2".into())]);

    let info = flight.get_table_types().await.unwrap();
    let types = rows_as_text(&fetch(&mut flight, info).await.unwrap());
    assert!(
        types.contains(&vec![Some("TABLE".to_string())]),
        "{types:?}"
    );

    let info = flight
        .get_sql_info(vec![
            SqlInfo::FlightSqlServerName,
            SqlInfo::SqlIdentifierQuoteChar,
        ])
        .await
        .unwrap();
    let info = fetch(&mut flight, info).await.unwrap();
    let text = datafusion::arrow::util::pretty::pretty_format_batches(&info)
        .unwrap()
        .to_string();
    assert!(text.contains("smackql"), "{text}");
    assert!(text.contains('"'), "{text}");

    let info = flight.get_xdbc_type_info(Default::default()).await.unwrap();
    let types = fetch(&mut flight, info).await.unwrap();
    let names = rows_as_text(&types);
    assert!(
        names.iter().any(|r| r[0].as_deref() == Some("bigint")),
        "{names:?}"
    );
}

#[tokio::test]
async fn flight_prepared_statements_and_updates() {
    let fx = fixture("flight_prep", None).await;
    let campaigns = fx.table("campaigns");
    let mut flight = fx.gateway.flight().await;

    // A query with a parameter, bound twice.
    let mut prepared = flight
        .prepare(
            format!("SELECT name, views FROM {campaigns} WHERE id = ?"),
            None,
        )
        .await
        .unwrap();
    let params = prepared.parameter_schema().unwrap().clone();
    assert_eq!(params.fields().len(), 1);
    assert_eq!(params.field(0).data_type(), &DataType::Int32);
    let dataset = prepared.dataset_schema().unwrap().clone();
    let columns: Vec<_> = dataset.fields().iter().map(|f| f.name().clone()).collect();
    assert_eq!(columns, ["name", "views"]);
    for (id, name) in [(2, "beta"), (3, "gamma")] {
        let batch =
            RecordBatch::try_from_iter([("$1", Arc::new(Int64Array::from(vec![id])) as ArrayRef)])
                .unwrap();
        prepared.set_parameters(batch).unwrap();
        let info = prepared.execute().await.unwrap();
        let rows = rows_as_text(&fetch(&mut flight, info).await.unwrap());
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0][0].as_deref(), Some(name));
    }
    prepared.close().await.unwrap();

    // A parameter is typed by its cast, as PostgreSQL types it, and text
    // bound to a uuid is read as one.
    let mut cast = flight
        .prepare(
            "SELECT CAST(CAST(? AS uuid) AS text), CAST(? AS timestamptz) = TIMESTAMPTZ '2024-01-01 08:00:00+00'"
                .into(),
            None,
        )
        .await
        .unwrap();
    let params = cast.parameter_schema().unwrap().clone();
    assert_eq!(params.field(0).data_type(), &DataType::FixedSizeBinary(16));
    assert!(matches!(
        params.field(1).data_type(),
        DataType::Timestamp(_, Some(_))
    ));
    let batch = RecordBatch::try_from_iter([
        (
            "$1",
            Arc::new(StringArray::from(vec![
                "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
            ])) as ArrayRef,
        ),
        (
            "$2",
            Arc::new(StringArray::from(vec!["2024-01-01 10:00:00+02"])) as ArrayRef,
        ),
    ])
    .unwrap();
    cast.set_parameters(batch).unwrap();
    let info = cast.execute().await.unwrap();
    let rows = rows_as_text(&fetch(&mut flight, info).await.unwrap());
    assert_eq!(
        rows,
        [[
            Some("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".to_string()),
            Some("t".to_string())
        ]]
    );
    cast.close().await.unwrap();

    // INSERT as an update, with the rows it wrote.
    let inserted = flight
        .execute_update(
            format!("INSERT INTO {campaigns} (id, name, views) VALUES (4, 'delta', 40), (5, 'epsilon', 50)"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(inserted, 2);

    // A prepared INSERT, once per bound row.
    let mut insert = flight
        .prepare(
            format!("INSERT INTO {campaigns} (id, name, views) VALUES ($1, $2, $3)"),
            None,
        )
        .await
        .unwrap();
    assert!(
        insert.dataset_schema().unwrap().fields().is_empty(),
        "an update has no result schema"
    );
    let rows = RecordBatch::try_from_iter([
        ("id", Arc::new(Int32Array::from(vec![6, 7])) as ArrayRef),
        (
            "name",
            Arc::new(StringArray::from(vec!["zeta", "eta"])) as ArrayRef,
        ),
        (
            "views",
            Arc::new(Int64Array::from(vec![60, 70])) as ArrayRef,
        ),
    ])
    .unwrap();
    insert.set_parameters(rows).unwrap();
    assert_eq!(insert.execute_update().await.unwrap(), 2);
    insert.close().await.unwrap();

    // DDL as an update: a Cassandra table, then visible to both front ends.
    let created = flight
        .execute_update(
            format!(
                "CREATE TABLE \"{}\".extra (id int PRIMARY KEY, v text)",
                fx.keyspace
            ),
            None,
        )
        .await
        .unwrap();
    assert_eq!(created, 0);
    let batches = query(
        &mut flight,
        &format!("SELECT count(*) FROM {}", fx.table("extra")),
    )
    .await
    .unwrap();
    assert_eq!(batches[0].column(0).as_primitive::<Int64Type>().value(0), 0);

    let row = fx
        .client
        .query_one(
            &format!("SELECT count(*), sum(views) FROM {campaigns}"),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 7);
    assert_eq!(row.get::<_, i64>(1), 280);
}

#[tokio::test]
async fn flight_errors_have_grpc_codes() {
    let gateway = TestGateway::start().await;
    let mut flight = gateway.flight().await;
    for (sql, code) in [
        ("SELEC 1", Code::InvalidArgument),
        ("SELECT * FROM nope.nothing_here", Code::NotFound),
        (
            "SELECT no_such_column FROM (SELECT 1 AS a)",
            Code::InvalidArgument,
        ),
        ("SELECT 1; SELECT 2", Code::InvalidArgument),
    ] {
        let err = query(&mut flight, sql).await.unwrap_err();
        assert_eq!(err.code(), code, "{sql}: {err}");
        assert!(!err.message().contains("backtrace"), "{sql}: {err}");
    }

    // Preparing checks the statement.
    let err = flight
        .prepare("SELEC ?".into(), None)
        .await
        .map(|_| ())
        .unwrap_err();
    assert!(err.to_string().contains("syntax error"), "{err}");

    // Binding the wrong number of values is the client's error.
    let mut prepared = flight.prepare("SELECT $1 + 1".into(), None).await.unwrap();
    let two = RecordBatch::try_from_iter([
        ("a", Arc::new(Int64Array::from(vec![1])) as ArrayRef),
        ("b", Arc::new(Int64Array::from(vec![2])) as ArrayRef),
    ])
    .unwrap();
    prepared.set_parameters(two).unwrap();
    let err = prepared.execute().await.unwrap_err();
    assert!(err.to_string().contains("parameters"), "{err}");
}

#[tokio::test]
async fn flight_handshake_checks_passwords() {
    let gateway = TestGateway::start_with(|c| TestGateway::with_user(c, "ana", "s3cret")).await;

    let mut anonymous = gateway.flight().await;
    let err = query(&mut anonymous, "SELECT 1").await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err}");

    let mut wrong = gateway.flight().await;
    let err = wrong.handshake("ana", "nope").await.unwrap_err();
    assert!(
        err.to_string().contains("password authentication failed"),
        "{err}"
    );
    let mut unknown = gateway.flight().await;
    let err = unknown.handshake("bob", "s3cret").await.unwrap_err();
    assert!(
        err.to_string().contains("password authentication failed"),
        "{err}"
    );

    let mut ana = gateway.flight().await;
    ana.handshake("ana", "s3cret").await.unwrap();
    assert!(ana.token().is_some());
    // Settings stay in the session the token names.
    query(&mut ana, "SET datafusion.execution.batch_size = 123")
        .await
        .unwrap();
    let batches = query(&mut ana, "SELECT value FROM information_schema.df_settings WHERE name = 'datafusion.execution.batch_size'")
        .await
        .unwrap();
    assert_eq!(rows_as_text(&batches), vec![vec![Some("123".to_string())]]);

    let mut forged = gateway.flight().await;
    forged.set_token("not-a-token".into());
    let err = query(&mut forged, "SELECT 1").await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err}");
}

#[tokio::test]
async fn flight_cancel_stops_a_running_query() {
    let gateway = TestGateway::start().await;
    let mut flight = gateway.flight().await;
    let info = flight
        .execute(
            "SELECT value, value * 2 AS doubled FROM range(1000000000000)".into(),
            None,
        )
        .await
        .unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    let mut stream = flight.do_get(ticket).await.unwrap();
    let first = stream.next().await.expect("a batch").expect("no error");
    assert!(first.num_rows() > 0);

    let mut canceller = gateway.flight().await;
    let action = arrow_flight::Action::new(
        "CancelFlightInfo",
        CancelFlightInfoRequest::new(info).encode_to_vec(),
    );
    let mut results = canceller.do_action(action).await.unwrap();
    let result = results.message().await.unwrap().expect("a result");
    let result = arrow_flight::CancelFlightInfoResult::decode(result.body).unwrap();
    assert_eq!(result.status, arrow_flight::CancelStatus::Cancelled as i32);

    let outcome = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match stream.next().await {
                Some(Ok(_)) => continue,
                Some(Err(err)) => return Some(to_status(err)),
                None => return None,
            }
        }
    })
    .await
    .expect("the stream ends soon after the cancel");
    let status = outcome.expect("the stream ends with an error, not as if complete");
    assert_eq!(status.code(), Code::Cancelled, "{status}");
}

#[tokio::test]
async fn adbc_python_driver() {
    let fx = fixture("flight_adbc", Some(("analyst", "pw-adbc"))).await;
    let python = clients::python().await;
    let script = clients::programs().join("flight_adbc.py");
    let uri = format!("grpc://{}", fx.gateway.flight_addr);
    let stdout = clients::run_program(
        python,
        &[
            script.display().to_string(),
            uri,
            "analyst".into(),
            "pw-adbc".into(),
            fx.keyspace.clone(),
        ],
    )
    .await;
    let out: serde_json::Value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|err| panic!("{err}: {stdout}"));

    assert_eq!(
        out["query"]["rows"],
        serde_json::json!([
            {"id": 1, "name": "alpha", "views": 10},
            {"id": 2, "name": "beta", "views": 20},
            {"id": 3, "name": "gamma", "views": 30},
        ])
    );
    assert_eq!(
        out["query"]["types"],
        serde_json::json!(["int32", "string", "int64"])
    );
    assert_eq!(
        out["parameterised"],
        serde_json::json!([{"name": "beta", "views": 20}])
    );
    assert_eq!(out["count_after_insert"], 4);
    let partitions = out["partitions"].as_u64().unwrap();
    assert!(partitions > 1, "a full scan is split: {partitions}");
    let keys: Vec<[i64; 2]> = (0..4).flat_map(|k| (0..5).map(move |c| [k, c])).collect();
    assert_eq!(out["partitioned_rows"], serde_json::json!(keys));
    assert_eq!(out["scanned_rows"], serde_json::json!(keys));
    let missing = out["missing_table_error"]
        .as_str()
        .expect("the query failed");
    assert!(
        missing.contains("NOT_FOUND") || missing.contains("not found"),
        "{missing}"
    );

    let objects = out["objects"].as_array().unwrap();
    let names: Vec<_> = objects
        .iter()
        .map(|t| t["table"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["campaigns", "mixed"], "{objects:?}");
    assert_eq!(
        objects[0]["columns"],
        serde_json::json!(["id", "name", "views"])
    );
    assert_eq!(
        out["table_schema"],
        serde_json::json!([["id", "int32"], ["name", "string"], ["views", "int64"]])
    );

    // The INSERT reached Cassandra.
    let row = fx
        .client
        .query_one(
            &format!("SELECT name FROM {} WHERE id = 4", fx.table("campaigns")),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "delta");
}

#[tokio::test]
async fn jdbc_driver() {
    let fx = fixture("flight_jdbc", Some(("analyst", "pw-jdbc"))).await;
    let jar = clients::jdbc_driver().await;
    let program = clients::programs().join("FlightJdbc.java");
    let stdout = clients::run_program(
        std::path::Path::new("java"),
        &[
            // Arrow's memory allocator reads java.nio internals.
            "--add-opens=java.base/java.nio=ALL-UNNAMED".into(),
            "-cp".into(),
            jar.display().to_string(),
            program.display().to_string(),
            fx.gateway.flight_addr.ip().to_string(),
            fx.gateway.flight_addr.port().to_string(),
            "analyst".into(),
            "pw-jdbc".into(),
            fx.keyspace.clone(),
        ],
    )
    .await;
    let found = |key: &str| -> String {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}: ")))
            .unwrap_or_else(|| panic!("no '{key}' in:\n{stdout}"))
            .to_string()
    };
    assert!(found("product").starts_with("smackql"), "{stdout}");
    assert_eq!(found("quote"), "\"");
    let ks = &fx.keyspace;
    assert_eq!(
        found("tables"),
        format!("{ks}.campaigns:TABLE,{ks}.mixed:TABLE")
    );
    let columns = found("columns");
    assert!(
        columns.starts_with("id:") && columns.contains(",name:") && columns.contains(",views:"),
        "{columns}"
    );
    assert_eq!(found("primary_key"), "id:1");
    assert_eq!(found("query"), "1/alpha/10,2/beta/20,3/gamma/30");
    let mut keys: Vec<String> = (0..4)
        .flat_map(|k| (0..5).map(move |c| format!("{k}/{c}")))
        .collect();
    keys.sort();
    assert_eq!(found("full_scan"), keys.join(","));
    assert_eq!(found("prepared"), "beta/20");
    assert_eq!(found("inserted"), "1");

    let row = fx
        .client
        .query_one(
            &format!("SELECT name FROM {} WHERE id = 5", fx.table("campaigns")),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "epsilon");
}

#[tokio::test]
async fn flight_serves_tls_with_the_configured_certificate() {
    let dir = std::env::temp_dir().join(smackql_tests::unique_name("flight_tls"));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key, ca) = (
        dir.join("cert.pem"),
        dir.join("key.pem"),
        dir.join("ca.pem"),
    );
    // A CA, and a server certificate for localhost signed by it.
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=DNS:localhost\n").unwrap();
    let steps: [&[&str]; 3] = [
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=smackql-test-ca",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "key.pem",
            "-out",
            "server.csr",
        ],
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "ext.cnf",
            "-out",
            "cert.pem",
        ],
    ];
    for args in steps {
        let made = std::process::Command::new("openssl")
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("openssl runs");
        assert!(
            made.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&made.stderr)
        );
    }

    let gateway = TestGateway::start_with(|c| {
        c.tls = Some(smackql::config::TlsConfig {
            cert: cert.clone(),
            key: key.clone(),
        });
    })
    .await;
    let tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(
            std::fs::read(&ca).unwrap(),
        ))
        .domain_name("localhost");
    let channel = tonic::transport::Endpoint::from_shared(format!(
        "https://localhost:{}",
        gateway.flight_addr.port()
    ))
    .unwrap()
    .tls_config(tls)
    .unwrap()
    .connect()
    .await
    .expect("a TLS connection");
    let mut flight = FlightSqlServiceClient::new(channel);
    let batches = query(&mut flight, "SELECT 41 + 1 AS answer").await.unwrap();
    assert_eq!(rows_as_text(&batches), vec![vec![Some("42".to_string())]]);

    // Plaintext is refused, not served.
    let plain = tonic::transport::Endpoint::from_shared(format!("http://{}", gateway.flight_addr))
        .unwrap()
        .connect()
        .await;
    let refused = match plain {
        Err(_) => true,
        Ok(channel) => query(&mut FlightSqlServiceClient::new(channel), "SELECT 1")
            .await
            .is_err(),
    };
    assert!(refused, "a plaintext client was served");
    let _ = std::fs::remove_dir_all(&dir);
}
