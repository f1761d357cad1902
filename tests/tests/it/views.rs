//! Materialized views over Kafka tables, kept in Cassandra, through the
//! Postgres wire.

use smackql_tests::ad_events::{create_view, declare, event, events, view_and_truth};
use smackql_tests::gateway::{
    db_message, explain, run, sqlstate, text_rows, KeyspaceFixture, TestGateway,
};
use smackql_tests::kafka::{create_topic, produce};
use smackql_tests::unique_name;
use tokio_postgres::Client;

#[tokio::test]
async fn a_view_equals_the_aggregate_over_its_source_and_follows_it() {
    let fixture = KeyspaceFixture::new("views").await;
    let client = &fixture.client;
    let topic = unique_name("ad_events");
    create_topic(&topic, 3).await;
    produce(&topic, &events(600, 0)).await;
    let source = format!("kafka.{}", unique_name("ads"));
    run(client, &declare(&source, &topic)).await;
    let view = fixture.table("views_by_campaign_day");
    run(
        client,
        &create_view(&view, &source, "WITH (clustering_order = 'day DESC')"),
    )
    .await;

    // A view over history backfills; REFRESH waits until it holds it all.
    run(client, &format!("REFRESH MATERIALIZED VIEW {view}")).await;
    let (got, want) = view_and_truth(client, &view, &source).await;
    assert_eq!(got.len(), 12, "{got:?}");
    assert_eq!(got, want);

    // New events, and late ones for the oldest day, land in their groups.
    let mut more = events(300, 7);
    more.extend((0..30).map(|i| event(i % 3, 2, 1, 5, 100)));
    produce(&topic, &more).await;
    run(client, &format!("REFRESH MATERIALIZED VIEW {view}")).await;
    let (got, want) = view_and_truth(client, &view, &source).await;
    assert_eq!(got, want);

    // A filter on the partition key reads one Cassandra partition.
    let plan = explain(
        client,
        &format!("SELECT * FROM {view} WHERE campaign_id = 2"),
    )
    .await;
    assert!(plan.contains("\"campaign_id\" = ?"), "{plan}");
    let one = text_rows(
        client,
        &format!("SELECT count(*), sum(events) FROM {view} WHERE campaign_id = 2"),
    )
    .await;
    let truth = text_rows(
        client,
        &format!(
            "SELECT count(DISTINCT date_trunc('day', ts)), count(*) FROM {source} \
             WHERE campaign_id = 2"
        ),
    )
    .await;
    assert_eq!(one, truth);

    // Progress is visible, and complete.
    let name = "views_by_campaign_day";
    let shown = text_rows(client, "SHOW MATERIALIZED VIEWS").await;
    let mine: Vec<_> = shown
        .iter()
        .filter(|r| r[0].as_deref() == Some(fixture.keyspace.as_str()))
        .collect();
    assert_eq!(mine.len(), 1, "{shown:?}");
    assert_eq!(mine[0][1].as_deref(), Some(name));
    assert_eq!(mine[0][2].as_deref(), Some("continuous"));
    assert_eq!(mine[0][3].as_deref(), Some("current"));
    assert_eq!(mine[0][5].as_deref(), Some("0"), "lag: {shown:?}");
    let partitions = text_rows(
        client,
        &format!(
            "SELECT source_partition, committed_offset, end_offset, lag_messages, last_error \
             FROM system.materialized_views WHERE schema_name = '{}' ORDER BY 1",
            fixture.keyspace
        ),
    )
    .await;
    assert_eq!(partitions.len(), 3, "{partitions:?}");
    for row in &partitions {
        assert_eq!(row[1], row[2], "{partitions:?}");
        assert_eq!(row[3].as_deref(), Some("0"));
        assert_eq!(row[4], None);
    }

    // Another gateway sees the view at once, merged.
    let other = TestGateway::start().await;
    let other_client = other.client().await;
    let (got, want) = view_and_truth(&other_client, &view, &source).await;
    assert_eq!(got, want);

    // DROP stops maintenance and keeps the table; PURGE drops it too.
    run(client, &format!("DROP MATERIALIZED VIEW {view}")).await;
    let shown = text_rows(client, "SHOW MATERIALIZED VIEWS").await;
    assert!(
        !shown
            .iter()
            .any(|r| r[0].as_deref() == Some(fixture.keyspace.as_str())),
        "{shown:?}"
    );
    let raw = text_rows(
        client,
        &format!("SELECT count(DISTINCT _source_partition) FROM {view}"),
    )
    .await;
    assert_eq!(raw, vec![vec![Some("3".to_string())]]);
    let second = fixture.table("second");
    run(client, &create_view(&second, &source, "")).await;
    run(client, &format!("REFRESH MATERIALIZED VIEW {second}")).await;
    run(client, &format!("DROP MATERIALIZED VIEW {second} PURGE")).await;
    let err = client
        .simple_query(&format!("SELECT * FROM {second}"))
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "42P01", "{err}");
    other.shutdown().await;
}

async fn refused(client: &Client, sql: &str, code: &str, says: &str) {
    let err = client
        .simple_query(sql)
        .await
        .expect_err("the statement is refused");
    assert_eq!(sqlstate(&err), code, "{sql}: {err:?}");
    let message = db_message(&err);
    assert!(message.contains(says), "{sql}: {message}");
}

#[tokio::test]
async fn views_that_cannot_be_kept_are_refused_with_what_to_write() {
    let fixture = KeyspaceFixture::new("views_refused").await;
    let client = &fixture.client;
    let topic = unique_name("refused");
    create_topic(&topic, 1).await;
    let source = format!("kafka.{}", unique_name("refused"));
    run(client, &declare(&source, &topic)).await;
    let view = fixture.table("v");
    refused(
        client,
        &format!(
            "CREATE MATERIALIZED VIEW {view} AS SELECT campaign_id, \
             count(DISTINCT views) AS n FROM {source} GROUP BY campaign_id"
        ),
        "0A000",
        "approx_distinct",
    )
    .await;
    refused(
        client,
        &format!(
            "CREATE MATERIALIZED VIEW {view} AS SELECT campaign_id, count(*) AS n \
             FROM {source} GROUP BY campaign_id HAVING count(*) > 2"
        ),
        "0A000",
        "HAVING",
    )
    .await;
    refused(
        client,
        &format!(
            "CREATE MATERIALIZED VIEW {view} AS SELECT campaign_id, count(*) AS n \
             FROM kafka.no_such_table GROUP BY campaign_id"
        ),
        "42P01",
        "does not exist",
    )
    .await;
    run(
        client,
        &format!(
            "CREATE TABLE {} (id int PRIMARY KEY, v int)",
            fixture.table("plain")
        ),
    )
    .await;
    refused(
        client,
        &format!(
            "CREATE MATERIALIZED VIEW {view} AS SELECT id, count(*) AS n FROM {} GROUP BY id",
            fixture.table("plain")
        ),
        "0A000",
        "not a Kafka table",
    )
    .await;
    refused(
        client,
        &format!(
            "CREATE MATERIALIZED VIEW no_keyspace_{}.v AS SELECT campaign_id, count(*) AS n \
             FROM {source} GROUP BY campaign_id",
            fixture.keyspace
        ),
        "42P01",
        "keyspace",
    )
    .await;
    refused(
        client,
        &format!("REFRESH MATERIALIZED VIEW {view}"),
        "42P01",
        "does not exist",
    )
    .await;
    refused(
        client,
        &format!("DROP MATERIALIZED VIEW {view}"),
        "42P01",
        "does not exist",
    )
    .await;
    // Nothing was created on the way.
    let shown = text_rows(client, "SHOW MATERIALIZED VIEWS").await;
    assert!(
        !shown
            .iter()
            .any(|r| r[0].as_deref() == Some(fixture.keyspace.as_str())),
        "{shown:?}"
    );
    run(
        client,
        &format!(
            "CREATE MATERIALIZED VIEW {view} AS SELECT campaign_id, count(*) AS n \
             FROM {source} GROUP BY campaign_id"
        ),
    )
    .await;
    refused(
        client,
        &format!(
            "CREATE MATERIALIZED VIEW {view} AS SELECT campaign_id, count(*) AS n \
             FROM {source} GROUP BY campaign_id"
        ),
        "42P07",
        "already exists",
    )
    .await;
    run(
        client,
        &format!(
            "CREATE MATERIALIZED VIEW IF NOT EXISTS {view} AS SELECT campaign_id, \
             count(*) AS n FROM {source} GROUP BY campaign_id"
        ),
    )
    .await;
    run(client, &format!("DROP MATERIALIZED VIEW {view} PURGE")).await;
}

#[tokio::test]
async fn a_view_defined_after_a_month_of_events_backfills_visibly_then_stays_current() {
    // Small batches, so the backfill takes many steps to watch.
    let fixture = KeyspaceFixture::with_config("views_backfill", |config| {
        config.views.max_batch_messages = 500;
    })
    .await;
    let client = &fixture.client;
    let topic = unique_name("ad_month");
    create_topic(&topic, 3).await;
    // Every day of October, four campaigns, three partitions.
    let month: Vec<_> = (0..24_000usize)
        .map(|i| {
            event(
                (i % 3) as i32,
                (i % 4) as i64 + 1,
                (i / 7 % 31) as u32 + 1,
                (i % 24) as u32,
                (i % 9) as i32,
            )
        })
        .collect();
    produce(&topic, &month).await;
    let source = format!("kafka.{}", unique_name("ad_month"));
    run(client, &declare(&source, &topic)).await;
    let view = fixture.table("by_day");
    run(client, &create_view(&view, &source, "")).await;

    // While it backfills, its progress shows: some partition part-way,
    // behind its end, and the view catching up.
    let progress = format!(
        "SELECT state, source_partition, committed_offset, end_offset, lag_messages \
         FROM system.materialized_views WHERE schema_name = '{}'",
        fixture.keyspace
    );
    let started = std::time::Instant::now();
    let mut seen_midway = false;
    loop {
        let rows = text_rows(client, &progress).await;
        let number = |cell: &Option<String>| {
            cell.as_deref()
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0)
        };
        seen_midway |= rows.iter().any(|r| {
            r[0].as_deref() == Some("catching up")
                && number(&r[2]) > 0
                && number(&r[2]) < number(&r[3])
                && number(&r[4]) == number(&r[3]) - number(&r[2])
        });
        if rows.len() == 3 && rows.iter().all(|r| r[0].as_deref() == Some("current")) {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "the backfill did not finish: {rows:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(seen_midway, "the backfill's progress was never visible");
    let (got, want) = view_and_truth(client, &view, &source).await;
    assert_eq!(got.len(), 31 * 4, "{got:?}");
    assert_eq!(got, want);

    // Then it stays current: new events, and late ones for the first day.
    let mut more: Vec<_> = (0..300)
        .map(|i| event(i % 3, (i % 4) as i64 + 1, 31, 23, 3))
        .collect();
    more.extend((0..30).map(|i| event(i % 3, 2, 1, 0, 8)));
    produce(&topic, &more).await;
    run(client, &format!("REFRESH MATERIALIZED VIEW {view}")).await;
    let (got, want) = view_and_truth(client, &view, &source).await;
    assert_eq!(got, want);
}
