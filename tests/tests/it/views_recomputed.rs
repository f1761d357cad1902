//! Materialized views recomputed on demand or on a schedule, over Cassandra
//! tables and Kafka tables joined with them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use scylla::client::session::Session;
use smackql_tests::ad_events::{declare, events};
use smackql_tests::gateway::{
    db_message, explain, run, sqlstate, text_rows, KeyspaceFixture, TestGateway,
};
use smackql_tests::kafka::{create_topic, produce};
use smackql_tests::services::cql;
use smackql_tests::unique_name;
use tokio_postgres::Client;

type Rows = Vec<Vec<Option<String>>>;

/// The view's rows and those of its query run directly, both sorted.
async fn view_and_query(client: &Client, view: &str, query: &str) -> (Rows, Rows) {
    columns_and_query(client, "*", view, query).await
}

/// `columns` of the view's rows and of its query's, both sorted.
async fn columns_and_query(
    client: &Client,
    columns: &str,
    view: &str,
    query: &str,
) -> (Rows, Rows) {
    let got = text_rows(
        client,
        &format!("SELECT {columns} FROM {view} ORDER BY 1, 2"),
    )
    .await;
    let want = text_rows(
        client,
        &format!("SELECT {columns} FROM ({query}) ORDER BY 1, 2"),
    )
    .await;
    (got, want)
}

#[tokio::test]
async fn a_manual_view_over_cassandra_tables_is_recomputed_by_refresh() {
    let fixture = KeyspaceFixture::new("views_manual").await;
    let (client, session, ks) = (&fixture.client, &fixture.session, &fixture.keyspace);
    cql(
        session,
        &format!("CREATE TABLE \"{ks}\".campaigns (id int PRIMARY KEY, name text, region text)"),
    )
    .await;
    cql(
        session,
        &format!(
            "CREATE TABLE \"{ks}\".daily (campaign_id int, day date, views bigint, \
             user_id text, PRIMARY KEY (campaign_id, day, user_id))"
        ),
    )
    .await;
    for (id, name, region) in [
        (1, "autumn", "eu"),
        (2, "winter", "eu"),
        (3, "spring", "us"),
    ] {
        cql(
            session,
            &format!(
                "INSERT INTO \"{ks}\".campaigns (id, name, region) VALUES ({id}, '{name}', '{region}')"
            ),
        )
        .await;
    }
    for i in 0..60 {
        cql(
            session,
            &format!(
                "INSERT INTO \"{ks}\".daily (campaign_id, day, views, user_id) \
                 VALUES ({}, '2024-10-{:02}', {}, 'user-{}')",
                i % 3 + 1,
                i % 5 + 1,
                i * 10,
                i % 7
            ),
        )
        .await;
    }
    let campaigns = fixture.table("campaigns");
    let daily = fixture.table("daily");
    let view = fixture.table("views_by_region");
    // A join, an exact distinct count and HAVING: fine for a view that is
    // recomputed whole.
    let query = format!(
        "SELECT c.region, d.day, sum(d.views) AS views, count(DISTINCT d.user_id) AS users \
         FROM {daily} d JOIN {campaigns} c ON d.campaign_id = c.id \
         GROUP BY c.region, d.day HAVING count(*) > 0"
    );
    run(
        client,
        &format!("CREATE MATERIALIZED VIEW {view} WITH (refresh = 'manual') AS {query}"),
    )
    .await;

    // It is filled at CREATE, with its columns in select-list order.
    let (got, want) = view_and_query(client, &view, &query).await;
    assert_eq!(got.len(), 10, "{got:?}");
    assert_eq!(got, want);
    let columns = client
        .prepare(&format!("SELECT * FROM {view}"))
        .await
        .unwrap();
    let names: Vec<&str> = columns.columns().iter().map(|c| c.name()).collect();
    assert_eq!(names, vec!["region", "day", "views", "users"]);

    // The source changes; the view does not until REFRESH. A region
    // disappears, and its groups leave the view.
    cql(
        session,
        &format!("UPDATE \"{ks}\".campaigns SET region = 'eu' WHERE id = 3"),
    )
    .await;
    cql(
        session,
        &format!(
            "INSERT INTO \"{ks}\".daily (campaign_id, day, views, user_id) \
             VALUES (1, '2024-10-09', 5, 'user-new')"
        ),
    )
    .await;
    let (unchanged, now) = view_and_query(client, &view, &query).await;
    assert_eq!(unchanged, got);
    assert_ne!(now, got);
    run(client, &format!("REFRESH MATERIALIZED VIEW {view}")).await;
    let (got, want) = view_and_query(client, &view, &query).await;
    assert_eq!(got, want);
    assert_eq!(got.len(), 6, "{got:?}");
    assert!(got.iter().all(|r| r[0].as_deref() == Some("eu")), "{got:?}");

    // The partition key (the first group key) goes down to Cassandra.
    let plan = explain(client, &format!("SELECT * FROM {view} WHERE region = 'eu'")).await;
    assert!(plan.contains("\"region\" = ?"), "{plan}");

    let status = text_rows(
        client,
        &format!(
            "SELECT refresh, state, source, last_refresh IS NOT NULL, last_error \
             FROM system.materialized_views WHERE schema_name = '{ks}'"
        ),
    )
    .await;
    assert_eq!(
        status,
        vec![vec![
            Some("manual".into()),
            Some("current".into()),
            Some(format!("{ks}.daily, {ks}.campaigns")),
            Some("t".into()),
            None
        ]]
    );

    // A refresh that fails leaves the previous contents readable, and says
    // why.
    cql(session, &format!("DROP TABLE \"{ks}\".campaigns")).await;
    let err = client
        .batch_execute(&format!("REFRESH MATERIALIZED VIEW {view}"))
        .await
        .unwrap_err();
    assert!(db_message(&err).contains("campaigns"), "{err:?}");
    let after = text_rows(client, &format!("SELECT * FROM {view} ORDER BY 1, 2")).await;
    assert_eq!(after, got);
    let status = text_rows(
        client,
        &format!(
            "SELECT state, last_error IS NOT NULL FROM system.materialized_views \
             WHERE schema_name = '{ks}'"
        ),
    )
    .await;
    assert_eq!(status, vec![vec![Some("failing".into()), Some("t".into())]]);

    run(client, &format!("DROP MATERIALIZED VIEW {view} PURGE")).await;
    let err = client
        .batch_execute(&format!("SELECT * FROM {view}"))
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "42P01", "{err:?}");
}

#[tokio::test]
async fn recomputed_views_refuse_what_they_cannot_be() {
    let fixture = KeyspaceFixture::new("views_manual_bad").await;
    let client = &fixture.client;
    let ks = &fixture.keyspace;
    cql(
        &fixture.session,
        &format!("CREATE TABLE \"{ks}\".t (a int PRIMARY KEY, b int)"),
    )
    .await;
    let view = fixture.table("v");
    let t = fixture.table("t");
    for (sql, state) in [
        (
            format!("CREATE MATERIALIZED VIEW {view} WITH (refresh = 'hourly') AS SELECT a, count(*) AS n FROM {t} GROUP BY a"),
            "42P16",
        ),
        (
            format!("CREATE MATERIALIZED VIEW {view} WITH (refresh = 'manual') AS SELECT count(*) AS n FROM {t}"),
            "42P16",
        ),
        (
            format!("CREATE MATERIALIZED VIEW {view} WITH (refresh = 'manual') AS SELECT a, count(*) AS n FROM \"{ks}\".missing GROUP BY a"),
            "42P01",
        ),
        // Continuous views read one Kafka table; the message points to the
        // recomputed kinds.
        (
            format!("CREATE MATERIALIZED VIEW {view} AS SELECT a, count(*) AS n FROM {t} GROUP BY a"),
            "0A000",
        ),
    ] {
        let err = client.batch_execute(&sql).await.unwrap_err();
        assert_eq!(sqlstate(&err), state, "{sql}: {err:?}");
    }
    let err = client
        .batch_execute(&format!(
            "CREATE MATERIALIZED VIEW {view} AS SELECT a, count(*) AS n FROM {t} GROUP BY a"
        ))
        .await
        .unwrap_err();
    assert!(db_message(&err).contains("refresh = 'manual'"), "{err:?}");
}

/// The refreshes recorded for the view `ks.name`, by period: each one's
/// attempts, and whether it finished.
async fn refreshes(session: &Session, ks: &str, name: &str) -> BTreeMap<i64, (Vec<String>, bool)> {
    let definition = session
        .query_unpaged(
            "SELECT definition FROM smackql_meta.definitions \
             WHERE kind = 'materialized_view' AND schema_name = ? AND name = ?",
            (ks, name),
        )
        .await
        .unwrap()
        .into_rows_result()
        .unwrap()
        .first_row::<(String,)>()
        .unwrap()
        .0;
    let id = definition
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("-- smackql view "))
        .expect("a stored view starts with its id")
        .trim()
        .to_string();
    let rows = session
        .query_unpaged(
            "SELECT period, runs, finished_at FROM smackql_meta.view_refreshes \
             WHERE view_id = ?",
            (id,),
        )
        .await
        .unwrap()
        .into_rows_result()
        .unwrap();
    rows.rows::<(
        i64,
        Option<Vec<String>>,
        Option<scylla::value::CqlTimestamp>,
    )>()
    .unwrap()
    .map(|r| {
        let (period, runs, finished) = r.unwrap();
        (period, (runs.unwrap_or_default(), finished.is_some()))
    })
    .collect()
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test]
async fn a_scheduled_view_refreshes_once_per_period_across_gateways() {
    let fixture = KeyspaceFixture::new("views_scheduled").await;
    let (client, session, ks) = (&fixture.client, &fixture.session, &fixture.keyspace);
    let other = TestGateway::start().await;
    let other_client = other.client().await;

    // Ad events in Kafka, campaign names in Cassandra: a mixed view.
    cql(
        session,
        &format!("CREATE TABLE \"{ks}\".campaigns (id bigint PRIMARY KEY, name text)"),
    )
    .await;
    for id in 1..=4 {
        cql(
            session,
            &format!("INSERT INTO \"{ks}\".campaigns (id, name) VALUES ({id}, 'campaign-{id}')"),
        )
        .await;
    }
    let topic = unique_name("ad_events");
    create_topic(&topic, 3).await;
    produce(&topic, &events(300, 0)).await;
    let source = format!("kafka.{}", unique_name("ads"));
    run(client, &declare(&source, &topic)).await;
    let campaigns = fixture.table("campaigns");
    let view = fixture.table("views_per_name");
    let query = format!(
        "SELECT c.name, date_trunc('day', e.ts) AS day, count(*) AS events, sum(e.views) AS views \
         FROM {source} e JOIN {campaigns} c ON e.campaign_id = c.id GROUP BY c.name, 2"
    );
    run(
        client,
        &format!("CREATE MATERIALIZED VIEW {view} WITH (refresh = 'every 3 seconds') AS {query}"),
    )
    .await;
    // Gateways look for new views every 2 seconds: from then on, the
    // schedule runs.
    let scheduled_from = now_millis() + 2_000;
    let period_ms = 3_000;
    // A Kafka timestamp is kept as a Cassandra timestamp, which reads
    // back with its time zone: compare instants.
    let columns = "name, date_part('epoch', day), events, views";
    let (got, want) = columns_and_query(client, columns, &view, &query).await;
    assert_eq!(got.len(), 12, "{got:?}");
    assert_eq!(got, want);

    // New events show in the view within a period or so, without REFRESH.
    produce(&topic, &events(90, 5)).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (got, want) = columns_and_query(&other_client, columns, &view, &query).await;
        if got == want {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the view did not follow: {got:?} vs {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Both gateways run the schedule (and so may gateways of other tests
    // running meanwhile, which end abruptly: a period whose refresher died
    // is left unfinished, and the periods its lease outlives are skipped).
    // The refreshes go on: wait for three finished periods (a dead
    // refresher's lease costs at most its 10 s TTL).
    let deadline = Instant::now() + Duration::from_secs(60);
    let (log, periods) = loop {
        let until = now_millis();
        let log = refreshes(session, ks, "views_per_name").await;
        let periods: Vec<i64> = log
            .keys()
            .copied()
            .filter(|p| *p >= scheduled_from && *p + period_ms < until - 1_000)
            .collect();
        let finished = periods.iter().filter(|p| log[p].1).count();
        if finished >= 3 {
            break (log, periods);
        }
        assert!(Instant::now() < deadline, "the refreshes stopped: {log:?}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    // No period ran twice, and every run started in its period (promptly,
    // unless the machine is loaded).
    for period in &periods {
        let (runs, _) = &log[period];
        assert_eq!(runs.len(), 1, "period {period} ran more than once: {log:?}");
        let started: i64 = runs[0]
            .split('@')
            .next()
            .and_then(|t| t.parse().ok())
            .expect("a run starts with its time");
        assert!(
            (0..period_ms).contains(&(started - period)),
            "period {period} started late, at {started}: {log:?}"
        );
    }

    let shown = text_rows(
        client,
        &format!(
            "SELECT refresh, state, lag_seconds < 10 FROM system.materialized_views \
             WHERE schema_name = '{ks}'"
        ),
    )
    .await;
    assert_eq!(shown[0][0].as_deref(), Some("every 3 seconds"), "{shown:?}");
    assert!(
        matches!(shown[0][1].as_deref(), Some("current" | "refreshing")),
        "{shown:?}"
    );
    assert_eq!(shown[0][2].as_deref(), Some("t"), "{shown:?}");

    // Its table dropped behind smackql's back, the view says why and waits:
    // no period begins meanwhile.
    cql(session, &format!("DROP TABLE {view}")).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let error = text_rows(
            client,
            &format!("SELECT last_error FROM system.materialized_views WHERE schema_name = '{ks}'"),
        )
        .await;
        let error = error.first().and_then(|r| r[0].clone()).unwrap_or_default();
        if error.contains("is missing; maintenance resumes once it exists again") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the view never said its table is missing: {error}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let before = refreshes(session, ks, "views_per_name").await;
    tokio::time::sleep(Duration::from_millis(3 * period_ms as u64)).await;
    let after = refreshes(session, ks, "views_per_name").await;
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>(),
        "refreshes began without the view's table"
    );

    run(client, &format!("DROP MATERIALIZED VIEW {view}")).await;
    other.shutdown().await;
}
