//! Materialized views over Kafka tables, kept in Cassandra, through the
//! Postgres wire.

use std::collections::BTreeMap;

use datafusion::arrow::array::{Array, Int64Array};
use datafusion::arrow::ipc::reader::StreamReader;
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
    // Prepared, through the extended protocol, it shows the same.
    let prepared = client
        .query("SHOW MATERIALIZED VIEWS", &[])
        .await
        .expect("SHOW MATERIALIZED VIEWS in the extended protocol");
    assert!(
        prepared.iter().any(|r| {
            r.get::<_, Option<String>>(0).as_deref() == Some(fixture.keyspace.as_str())
                && r.get::<_, Option<String>>(1).as_deref() == Some(name)
        }),
        "{prepared:?}"
    );
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
    // A table of that name, not a view's: how to clear the name is said.
    let taken = fixture.table("taken");
    run(
        client,
        &format!("CREATE TABLE {taken} (campaign_id bigint PRIMARY KEY)"),
    )
    .await;
    refused(
        client,
        &format!(
            "CREATE MATERIALIZED VIEW {taken} AS SELECT campaign_id, count(*) AS n \
             FROM {source} GROUP BY campaign_id"
        ),
        "42P07",
        "drop the table first (DROP TABLE",
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
    let fixture = KeyspaceFixture::new("views_backfill").await;
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
    // Paced, so the backfill takes several batches and seconds to watch,
    // however fast the machine.
    run(
        client,
        &create_view(&view, &source, "WITH (max_rate_per_partition = 1500)"),
    )
    .await;

    // While it backfills, its progress shows: some partition part-way,
    // behind its end, and the view catching up.
    let progress = format!(
        "SELECT state, source_partition, committed_offset, end_offset, lag_messages \
         FROM system.materialized_views WHERE schema_name = '{}'",
        fixture.keyspace
    );
    let started = std::time::Instant::now();
    let mut seen_midway = false;
    let mut states = std::collections::BTreeSet::new();
    loop {
        let rows = text_rows(client, &progress).await;
        let number = |cell: &Option<String>| {
            cell.as_deref()
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0)
        };
        for row in &rows {
            if let Some(state) = &row[0] {
                states.insert(state.clone());
            }
        }
        // Other test gateways maintain the view too, and one that stops
        // mid-batch shows as `failing` until a batch succeeds again.
        seen_midway |= rows.iter().any(|r| {
            r[0].as_deref() != Some("current")
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
    assert!(
        seen_midway,
        "the backfill's progress was never visible (states seen: {states:?})"
    );
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

#[tokio::test]
async fn a_view_whose_table_is_dropped_outside_smackql_waits_and_says_why() {
    let fixture = KeyspaceFixture::new("views_orphan").await;
    let client = &fixture.client;
    let topic = unique_name("ad_orphan");
    create_topic(&topic, 3).await;
    produce(&topic, &events(90, 0)).await;
    let source = format!("kafka.{}", unique_name("ad_orphan"));
    run(client, &declare(&source, &topic)).await;
    let view = fixture.table("by_day");
    run(client, &create_view(&view, &source, "")).await;
    run(client, &format!("REFRESH MATERIALIZED VIEW {view}")).await;
    let progress = format!(
        "SELECT DISTINCT view_id, last_error FROM system.materialized_views \
         WHERE schema_name = '{}'",
        fixture.keyspace
    );
    let rows = text_rows(client, &progress).await;
    let view_id = rows[0][0].clone().expect("a view id");

    // Dropped with CQL, behind smackql's back.
    fixture
        .session
        .query_unpaged(format!("DROP TABLE {view}"), &[])
        .await
        .expect("DROP TABLE through CQL");
    let started = std::time::Instant::now();
    loop {
        let rows = text_rows(client, &progress).await;
        let error = rows.first().and_then(|r| r[1].clone()).unwrap_or_default();
        if error.contains("is missing; maintenance resumes once it exists again") {
            assert!(error.contains(&fixture.keyspace), "{error}");
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "the view never said its table is missing: {rows:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // Then no gateway takes its partitions' leases to fail again (once
    // each has heard that the table is gone: a gateway whose copy of the
    // schema still lists it learns so from its first failure).
    let prefix = format!("view:{view_id}:");
    let started = std::time::Instant::now();
    let mut quiet = 0;
    while quiet < 50 {
        let held: Vec<String> = fixture
            .session
            .query_unpaged("SELECT name FROM smackql_meta.leases", &[])
            .await
            .expect("reading the leases")
            .into_rows_result()
            .expect("rows")
            .rows::<(String,)>()
            .expect("lease names")
            .map(|row| row.expect("a lease name").0)
            .filter(|name| name.starts_with(&prefix))
            .collect();
        if held.is_empty() {
            quiet += 1;
        } else {
            quiet = 0;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(40),
            "leases still taken for a view without its table: {held:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // The view can still be dropped.
    run(client, &format!("DROP MATERIALIZED VIEW {view}")).await;
    let rows = text_rows(client, &progress).await;
    assert!(rows.is_empty(), "{rows:?}");
}

/// `(advertiser, day) -> (events, views)` of rows read as text.
fn by_group(rows: &[Vec<Option<String>>]) -> BTreeMap<(String, String), (i64, i64)> {
    rows.iter()
        .map(|r| {
            let text = |i: usize| r[i].clone().unwrap_or_default();
            let number = |i: usize| text(i).parse::<i64>().expect("a number");
            ((text(0), text(1)), (number(2), number(3)))
        })
        .collect()
}

#[tokio::test]
async fn a_view_joins_a_dimension_table_reading_only_the_keys_its_events_name() {
    let fixture = KeyspaceFixture::new("views_dims").await;
    let client = &fixture.client;
    let campaigns = fixture.table("campaigns");
    run(
        client,
        &format!(
            "CREATE TABLE {campaigns} (campaign_id bigint PRIMARY KEY, advertiser text, \
             region text)"
        ),
    )
    .await;
    // 300 campaigns, of which the events name 1 to 4; campaign 4 has no
    // row yet, so the inner join leaves its events out.
    let rows: Vec<String> = (1..=300)
        .filter(|id| *id != 4)
        .map(|id| {
            let advertiser = if id <= 2 { "acme" } else { "globex" };
            format!("({id}, '{advertiser}', 'r{}')", id % 5)
        })
        .collect();
    run(
        client,
        &format!("INSERT INTO {campaigns} VALUES {}", rows.join(", ")),
    )
    .await;
    let topic = unique_name("dim_events");
    create_topic(&topic, 3).await;
    produce(&topic, &events(600, 0)).await;
    let source = format!("kafka.{}", unique_name("dim_ads"));
    run(client, &declare(&source, &topic)).await;

    let view = fixture.table("by_advertiser");
    run(
        client,
        &format!(
            "CREATE MATERIALIZED VIEW {view} AS SELECT c.advertiser, \
             date_trunc('day', e.ts) AS day, count(*) AS events, sum(e.views) AS views \
             FROM {source} e JOIN {campaigns} c ON c.campaign_id = e.campaign_id \
             GROUP BY c.advertiser, date_trunc('day', e.ts)"
        ),
    )
    .await;
    run(client, &format!("REFRESH MATERIALIZED VIEW {view}")).await;
    let read = format!(
        "SELECT advertiser, CAST(date_part('epoch', day) AS bigint), events, views \
         FROM {view} ORDER BY 1, 2"
    );
    let truth = |filter: &str| {
        format!(
            "SELECT c.advertiser, CAST(date_part('epoch', date_trunc('day', e.ts)) AS bigint), \
             count(*), \
             sum(e.views) FROM {source} e JOIN {campaigns} c ON c.campaign_id = e.campaign_id \
             {filter} GROUP BY 1, 2 ORDER BY 1, 2"
        )
    };
    let first = text_rows(client, &truth("")).await;
    assert_eq!(first.len(), 6, "{first:?}");
    assert_eq!(text_rows(client, &read).await, first);

    // Each batch read just the campaigns its events name, by key: the rows
    // stored with the batches are of campaigns 1 to 3, not all 299.
    let ids = text_rows(
        client,
        &format!(
            "SELECT DISTINCT view_id FROM system.materialized_views \
             WHERE schema_name = '{}'",
            fixture.keyspace
        ),
    )
    .await;
    let view_id = ids[0][0].clone().expect("the view's id");
    let stored = fixture
        .session
        .query_unpaged(
            "SELECT rows FROM smackql_meta.view_lookups WHERE view_id = ?",
            (&view_id,),
        )
        .await
        .expect("the stored lookups read")
        .into_rows_result()
        .expect("rows");
    let mut looked_up = Vec::new();
    for row in stored.rows::<(Vec<Vec<u8>>,)>().expect("typed rows") {
        let (blobs,) = row.expect("a row");
        assert_eq!(blobs.len(), 1, "one dimension");
        let reader =
            StreamReader::try_new(std::io::Cursor::new(&blobs[0]), None).expect("Arrow IPC");
        for batch in reader {
            let batch = batch.expect("a batch");
            let id = batch
                .column_by_name("campaign_id")
                .expect("campaign_id")
                .as_any()
                .downcast_ref::<Int64Array>()
                .expect("bigint ids")
                .clone();
            looked_up.extend(id.iter().flatten());
        }
    }
    looked_up.sort();
    looked_up.dedup();
    assert_eq!(
        looked_up,
        vec![1, 2, 3],
        "campaign rows read by the batches"
    );

    // A changed dimension row applies to the events that follow; events
    // folded before keep the row they joined, as in a stream-table join.
    let committed: Vec<Vec<Option<String>>> = text_rows(
        client,
        &format!(
            "SELECT source_partition, committed_offset FROM system.materialized_views \
             WHERE schema_name = '{}' ORDER BY 1",
            fixture.keyspace
        ),
    )
    .await;
    run(
        client,
        &format!("INSERT INTO {campaigns} VALUES (3, 'initech', 'r3'), (4, 'hooli', 'r4')"),
    )
    .await;
    produce(&topic, &events(300, 11)).await;
    run(client, &format!("REFRESH MATERIALIZED VIEW {view}")).await;
    let later: Vec<String> = committed
        .iter()
        .map(|r| {
            format!(
                "(e._partition = {} AND e._offset >= {})",
                r[0].as_deref().unwrap_or("-1"),
                r[1].as_deref().unwrap_or("0")
            )
        })
        .collect();
    let mut want = by_group(&first);
    let after = text_rows(client, &truth(&format!("WHERE {}", later.join(" OR ")))).await;
    for (group, (events, views)) in by_group(&after) {
        let entry = want.entry(group).or_default();
        entry.0 += events;
        entry.1 += views;
    }
    let got = by_group(&text_rows(client, &read).await);
    assert_eq!(got, want);
    assert!(got.keys().any(|(a, _)| a == "initech") && got.keys().any(|(a, _)| a == "hooli"));

    // A dimension must be a Cassandra table joined on its partition key.
    let other = fixture.table("other");
    refused(
        client,
        &format!(
            "CREATE MATERIALIZED VIEW {other} AS SELECT c.region, count(*) AS n FROM {source} e \
             JOIN {campaigns} c ON c.advertiser = e.user_id GROUP BY c.region"
        ),
        "0A000",
        "without its partition key column campaign_id",
    )
    .await;
    refused(
        client,
        &format!(
            "CREATE MATERIALIZED VIEW {other} AS SELECT e.campaign_id, count(*) AS n \
             FROM {source} e JOIN {source} f ON f.campaign_id = e.campaign_id \
             GROUP BY e.campaign_id"
        ),
        "0A000",
        "join each table once",
    )
    .await;
    refused(
        client,
        &format!(
            "CREATE MATERIALIZED VIEW {other} AS SELECT c.region, count(*) AS n FROM {source} e \
             RIGHT JOIN {campaigns} c ON c.campaign_id = e.campaign_id GROUP BY c.region"
        ),
        "0A000",
        "RIGHT JOIN",
    )
    .await;
    run(client, &format!("DROP MATERIALIZED VIEW {view} PURGE")).await;
    let left = fixture
        .session
        .query_unpaged(
            "SELECT count(*) FROM smackql_meta.view_lookups WHERE view_id = ?",
            (&view_id,),
        )
        .await
        .expect("the stored lookups read")
        .into_rows_result()
        .expect("rows")
        .first_row::<(i64,)>()
        .expect("a count");
    assert_eq!(left.0, 0, "DROP forgets the stored lookups");
}

/// What maintenance writes for a batch carries a write time that grows with
/// the batch's end offset, so a former owner's write that arrives late
/// changes nothing once a later batch has written: neither a partial row
/// nor the progress of a source partition moves back.
#[tokio::test]
async fn late_writes_of_an_earlier_batch_change_nothing() {
    use datafusion::catalog::TableProvider;
    use smackql_cassandra::progress::ViewProgressTable;
    use smackql_cassandra::{CassandraConnection, CassandraOptions, CassandraTableProvider};
    use std::sync::Arc;

    let fixture = KeyspaceFixture::new("fence").await;
    let ks = &fixture.keyspace;
    run(
        &fixture.client,
        &format!(
            "CREATE TABLE \"{ks}\".partials (k int, _source_partition int, v bigint, \
             _applied_to bigint, PRIMARY KEY (k, _source_partition))"
        ),
    )
    .await;
    let session = fixture.gateway.sessions.new_session();
    let table = session
        .table_provider(format!("\"{ks}\".partials").as_str())
        .await
        .unwrap();
    let plain: &CassandraTableProvider = table.as_ref().downcast_ref().unwrap();
    let epoch = 1_800_000_000_000_000;
    let fenced = plain.with_write_time("_applied_to", epoch, 2).unwrap();
    assert!(plain.with_write_time("v_missing", epoch, 2).is_err());
    assert!(
        plain.with_write_time("k", epoch, 2).is_err(),
        "k is no bigint"
    );
    session
        .register_table("fenced", Arc::new(fenced) as Arc<dyn TableProvider>)
        .unwrap();
    // Row (1, 0) through the fenced table, row (1, 1) through the plain one:
    // the batch ending at 20 lands first, the one ending at 10 after it.
    for table in ["fenced", &format!("\"{ks}\".partials")] {
        let p = if table == "fenced" { 0 } else { 1 };
        for (v, to) in [(200, 20), (100, 10)] {
            session
                .sql(&format!(
                    "INSERT INTO {table} (k, _source_partition, v, _applied_to) \
                     VALUES (1, {p}, {v}, {to})"
                ))
                .await
                .unwrap()
                .collect()
                .await
                .unwrap();
        }
    }
    let rows = text_rows(
        &fixture.client,
        &format!("SELECT _source_partition, v, _applied_to FROM \"{ks}\".partials ORDER BY 1"),
    )
    .await;
    let text = |row: &[&str]| row.iter().map(|v| Some(v.to_string())).collect::<Vec<_>>();
    assert_eq!(
        rows,
        [text(&["0", "200", "20"]), text(&["1", "100", "10"])],
        "the fenced row keeps the later batch; the plain one, the last write"
    );

    // Progress: batches [0, 10) and [10, 20) are committed, then the first
    // batch's owner's `begin` and `commit` arrive late.
    let services = smackql_tests::services::ensure().await;
    let connection = Arc::new(CassandraConnection::new(CassandraOptions {
        contact_points: vec![services.cassandra.clone()],
        ..CassandraOptions::default()
    }));
    let progress = ViewProgressTable::new(connection, 1);
    let view = unique_name("fenced_view");
    assert_eq!(progress.fence_epoch(&view, epoch).await.unwrap(), epoch);
    assert_eq!(
        progress.fence_epoch(&view, epoch + 5).await.unwrap(),
        epoch,
        "the first epoch stays"
    );
    let (batch, commit) = (|to: i64| epoch + 2 * to, |to: i64| epoch + 2 * to + 1);
    progress.begin(&view, 0, 0, 10, batch(10)).await.unwrap();
    progress
        .commit(&view, 0, 10, commit(10), "a", 1.0)
        .await
        .unwrap();
    progress.begin(&view, 0, 10, 20, batch(20)).await.unwrap();
    progress
        .commit(&view, 0, 20, commit(20), "b", 1.0)
        .await
        .unwrap();
    progress
        .commit(&view, 0, 10, commit(10), "a", 1.0)
        .await
        .unwrap();
    progress.begin(&view, 0, 0, 10, batch(10)).await.unwrap();
    let state = progress.progress(&view).await.unwrap();
    assert_eq!(state.partitions.len(), 1);
    assert_eq!(state.partitions[0].committed, 20);
    assert_eq!(state.partitions[0].pending, None);
    // A batch begun after that is pending.
    progress.begin(&view, 0, 20, 30, batch(30)).await.unwrap();
    let state = progress.progress(&view).await.unwrap();
    assert_eq!(
        (state.partitions[0].committed, state.partitions[0].pending),
        (20, Some(30))
    );
    progress.forget(&view).await.unwrap();
}
