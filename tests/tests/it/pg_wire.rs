//! The Postgres wire front end, driven by tokio-postgres and by psql.

use smackql_tests::gateway::{assert_answers, sqlstate, text_rows, TestGateway};

#[tokio::test]
async fn select_one_in_both_protocols() {
    let gateway = TestGateway::start().await;
    let client = gateway.client().await;
    // Extended protocol (prepared statement with a parameter).
    let row = client
        .query_one("select $1::bigint + 1", &[&41i64])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 42);
    // Simple protocol.
    let rows = client.simple_query("select 1").await.unwrap();
    assert!(
        matches!(&rows[1], tokio_postgres::SimpleQueryMessage::Row(r) if r.get(0) == Some("1"))
    );
}

#[tokio::test]
async fn reports_a_postgres_version() {
    let gateway = TestGateway::start().await;
    let client = gateway.client().await;
    let version: String = client
        .query_one("select version()", &[])
        .await
        .unwrap()
        .get(0);
    assert!(
        version.starts_with("PostgreSQL 16.6 (smackql "),
        "{version}"
    );
    let shown = client.simple_query("show server_version").await.unwrap();
    let tokio_postgres::SimpleQueryMessage::Row(row) = &shown[1] else {
        panic!("no row: {shown:?}")
    };
    assert!(row.get(0).unwrap().starts_with("16.6"), "{:?}", row.get(0));
}

#[tokio::test]
async fn errors_carry_real_sqlstates() {
    let gateway = TestGateway::start().await;
    let client = gateway.client().await;
    let err = client.simple_query("selec 1").await.unwrap_err();
    assert_eq!(sqlstate(&err), "42601", "{err}");
    let err = client.simple_query("select * from nope").await.unwrap_err();
    assert_eq!(sqlstate(&err), "42P01", "{err}");
    let err = client.query("select * from nope", &[]).await.unwrap_err();
    assert_eq!(sqlstate(&err), "42P01", "extended protocol: {err}");
    // The connection is still usable after errors.
    assert_answers(&client, 2).await;
}

#[tokio::test]
async fn set_show_and_transactions_are_accepted() {
    let gateway = TestGateway::start().await;
    let client = gateway.client().await;
    client
        .batch_execute("SET application_name = 'tests'; BEGIN; SELECT 1; COMMIT;")
        .await
        .unwrap();
    client.batch_execute("BEGIN; ROLLBACK;").await.unwrap();
    let shown = client.simple_query("SHOW application_name").await.unwrap();
    let tokio_postgres::SimpleQueryMessage::Row(row) = &shown[1] else {
        panic!("no row: {shown:?}")
    };
    assert_eq!(row.get(0), Some("tests"));

    // Savepoints, as psycopg 3 sends them inside a transaction.
    client
        .batch_execute(
            "BEGIN; SAVEPOINT a; SELECT 1; RELEASE SAVEPOINT a; SAVEPOINT b; \
             ROLLBACK TO SAVEPOINT b; COMMIT;",
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn settings_and_catalog_functions_answer_as_postgres() {
    let gateway = TestGateway::start().await;
    let client = gateway.client().await;
    let one = |sql: &'static str| {
        let client = &client;
        async move {
            let rows = text_rows(client, sql).await;
            rows[0][0].clone()
        }
    };
    assert_eq!(
        one("SHOW standard_conforming_strings").await.as_deref(),
        Some("on")
    );
    assert_eq!(
        one("SHOW server_version_num").await.as_deref(),
        Some("160006")
    );
    assert_eq!(
        one("SHOW datafusion.execution.batch_size").await.as_deref(),
        Some("8192")
    );
    assert_eq!(
        one("SELECT current_setting('client_encoding')")
            .await
            .as_deref(),
        Some("UTF8")
    );
    // An unknown parameter is 42704, which asyncpg's type introspection
    // expects for `jit`.
    let err = client
        .simple_query("SELECT current_setting('jit') AS cur, set_config('jit', 'off', false)")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "42704", "{err}");
    assert_eq!(one("SELECT current_setting('jit', true)").await, None);
    // Extended protocol too: SHOW described as one text column.
    let row = client
        .query_one("SHOW standard_conforming_strings", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "on");

    assert_eq!(
        one("SELECT json_build_object('a', 1, 'b', 'x\"y', 'c', NULL, 'd', true)")
            .await
            .as_deref(),
        Some(r#"{"a" : 1, "b" : "x\"y", "c" : null, "d" : true}"#)
    );
    assert_eq!(
        one("SELECT pg_size_pretty(10485760)").await.as_deref(),
        Some("10 MB")
    );
    assert_eq!(
        one("SELECT to_regtype('integer')").await.as_deref(),
        Some("23")
    );
    assert_eq!(
        one("SELECT to_regtype('int4[]')").await.as_deref(),
        Some("1007")
    );
    assert_eq!(one("SELECT to_regtype('hstore')").await, None);
    assert_eq!(
        one("SELECT col_description(1, 1) IS NULL AND pg_function_is_visible(1)")
            .await
            .as_deref(),
        Some("t")
    );
}

#[tokio::test]
async fn psql_select_one_and_describe() {
    let gateway = TestGateway::start().await;
    let out = gateway.psql(&["-At", "-c", "select 1"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");

    for meta in ["\\dt", "\\dn", "\\l"] {
        let out = gateway.psql(&["-c", meta]).await;
        assert!(
            out.status.success(),
            "psql {meta} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[tokio::test]
async fn cancel_stops_a_streaming_query() {
    let gateway = TestGateway::start().await;
    let client = gateway.client().await;
    let cancel = client.cancel_token();
    let started = std::time::Instant::now();
    let query = tokio::spawn(async move {
        client
            .simple_query(
                "select count(*) from range(1, 10000000000) a, range(1, 2) b where a.value % 7 = 3",
            )
            .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    cancel.cancel_query(tokio_postgres::NoTls).await.unwrap();
    let err = query.await.unwrap().expect_err("the query was cancelled");
    assert_eq!(sqlstate(&err), "57014", "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

#[tokio::test]
async fn concurrent_sessions_keep_their_settings() {
    let gateway = TestGateway::start().await;
    let a = gateway.client().await;
    let b = gateway.client().await;
    a.batch_execute("SET datafusion.execution.batch_size = 1024")
        .await
        .unwrap();
    b.batch_execute("SET datafusion.execution.batch_size = 2048")
        .await
        .unwrap();
    let shown = |rows: Vec<tokio_postgres::SimpleQueryMessage>| {
        rows.into_iter()
            .find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => r.get(1).map(str::to_string),
                _ => None,
            })
            .unwrap()
    };
    let sql = "select name, value from information_schema.df_settings where name = 'datafusion.execution.batch_size'";
    assert_eq!(shown(a.simple_query(sql).await.unwrap()), "1024");
    assert_eq!(shown(b.simple_query(sql).await.unwrap()), "2048");
}

#[tokio::test]
async fn cursors_fetch_in_chunks_with_real_sqlstates() {
    let gateway = TestGateway::start().await;
    let client = gateway.client().await;
    let fetch = |sql: &'static str| {
        let client = &client;
        async move {
            let messages = client.simple_query(sql).await.unwrap();
            let rows: Vec<String> = messages
                .iter()
                .filter_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(row) => {
                        Some(row.get(0).unwrap_or("NULL").to_string())
                    }
                    _ => None,
                })
                .collect();
            let tag = messages.iter().find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::CommandComplete(n) => Some(*n),
                _ => None,
            });
            (rows, tag)
        }
    };
    client
        .batch_execute(
            "BEGIN; DECLARE c CURSOR WITH HOLD FOR \
             SELECT v FROM (VALUES (1), (2), (3)) AS t(v) ORDER BY v",
        )
        .await
        .unwrap();
    assert_eq!(
        fetch("FETCH 2 FROM c").await,
        (vec!["1".into(), "2".into()], Some(2))
    );
    assert_eq!(
        fetch("FETCH NEXT FROM c").await,
        (vec!["3".into()], Some(1))
    );
    // Exhausted: no rows, still a result.
    assert_eq!(fetch("FETCH ALL FROM c").await, (vec![], Some(0)));
    let err = client.simple_query("FETCH PRIOR FROM c").await.unwrap_err();
    assert_eq!(sqlstate(&err), "55000", "{err}");
    client.batch_execute("CLOSE c; COMMIT").await.unwrap();
    let err = client.simple_query("FETCH 1 FROM c").await.unwrap_err();
    assert_eq!(sqlstate(&err), "34000", "{err}");
    // Cursors return what queries return, in smackql's encodings.
    client
        .batch_execute(
            "DECLARE d CURSOR FOR SELECT make_array(1, 2) AS a, 1.5::decimal(10, 2) AS n",
        )
        .await
        .unwrap();
    assert_eq!(
        fetch("FETCH ALL IN d").await,
        (vec!["{1,2}".into()], Some(1))
    );
    let err = client
        .simple_query("DECLARE d CURSOR FOR SELECT 1")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "42P03", "{err}");
}
