//! Materialized views over Kafka tables, kept in Cassandra, through the
//! Postgres wire.

use smackql_tests::gateway::{
    db_message, explain, run, sqlstate, text_rows, KeyspaceFixture, TestGateway,
};
use smackql_tests::kafka::{create_topic, produce, Record};
use smackql_tests::unique_name;
use tokio_postgres::Client;

/// One ad event: campaign, day of October 2024, hour, views and cost.
fn event(partition: i32, campaign: i64, day: u32, hour: u32, views: i32) -> Record {
    Record::text(
        partition,
        &format!(
            r#"{{"campaign_id": {campaign}, "ts": "2024-10-{day:02}T{hour:02}:00:00",
                "views": {views}, "cost": 0.125}}"#
        ),
    )
}

/// `count` events spread over 3 partitions, 4 campaigns and 3 days.
fn events(count: usize, seed: usize) -> Vec<Record> {
    (0..count)
        .map(|i| {
            let n = i + seed;
            event(
                (n % 3) as i32,
                (n % 4) as i64 + 1,
                (n % 3) as u32 + 1,
                (n % 24) as u32,
                (n % 7) as i32,
            )
        })
        .collect()
}

fn declare(table: &str, topic: &str) -> String {
    format!(
        "CREATE EXTERNAL TABLE {table} (campaign_id bigint, ts timestamp, views int, \
         cost decimal(12,4)) STORED AS KAFKA LOCATION '{topic}' OPTIONS (format 'json')"
    )
}

/// The view's rows and the ground truth over the source, comparable as
/// text: times as epoch seconds, sums of cost as doubles.
async fn view_and_truth(
    client: &Client,
    view: &str,
    source: &str,
) -> (Vec<Vec<Option<String>>>, Vec<Vec<Option<String>>>) {
    let columns = "campaign_id, date_part('epoch', day), events, views, CAST(cost AS double), \
                   date_part('epoch', first_seen), date_part('epoch', last_seen), avg_views";
    let got = text_rows(
        client,
        &format!("SELECT {columns} FROM {view} ORDER BY 1, 2"),
    )
    .await;
    let want = text_rows(
        client,
        &format!(
            "SELECT {columns} FROM (SELECT campaign_id, date_trunc('day', ts) AS day, \
             count(*) AS events, sum(views) AS views, sum(cost) AS cost, min(ts) AS first_seen, \
             max(ts) AS last_seen, avg(views) AS avg_views FROM {source} \
             GROUP BY campaign_id, date_trunc('day', ts)) ORDER BY 1, 2"
        ),
    )
    .await;
    (got, want)
}

fn create_view(view: &str, source: &str, with: &str) -> String {
    format!(
        "CREATE MATERIALIZED VIEW {view} {with} AS SELECT campaign_id, \
         date_trunc('day', ts) AS day, count(*) AS events, sum(views) AS views, \
         sum(cost) AS cost, min(ts) AS first_seen, max(ts) AS last_seen, avg(views) AS avg_views \
         FROM {source} GROUP BY campaign_id, date_trunc('day', ts)"
    )
}

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
