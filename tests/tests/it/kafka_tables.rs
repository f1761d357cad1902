//! Kafka topics declared as tables over the Postgres wire, with their
//! definitions kept in Cassandra and shared by every gateway.

use std::time::{Duration, Instant};

use smackql_kafka::{KafkaConnection, KafkaOptions};
use smackql_tests::gateway::{db_message, run, sqlstate, text_rows, KeyspaceFixture, TestGateway};
use smackql_tests::kafka::{create_topic, produce, Record};
use smackql_tests::{services, unique_name};
use tokio_postgres::Client;

/// A client of the test Kafka, as the gateway makes them.
async fn kafka() -> KafkaConnection {
    KafkaConnection::new(KafkaOptions {
        bootstrap_servers: vec![services::ensure().await.kafka.clone()],
        ..KafkaOptions::default()
    })
}

async fn count(client: &Client, table: &str) -> i64 {
    client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap_or_else(|e| panic!("count {table}: {e:?}"))
        .get(0)
}

fn declare(table: &str, topic: &str, options: &str) -> String {
    format!(
        "CREATE EXTERNAL TABLE {table} (campaign_id bigint, user_id uuid, ts timestamp, \
         views int, cost decimal(12,4)) STORED AS KAFKA LOCATION '{topic}' \
         OPTIONS (format 'json', 'timestamp.column' 'ts'{options})"
    )
}

const USER: &str = "550e8400-e29b-41d4-a716-446655440000";

fn event(partition: i32, campaign: i64, views: i32) -> Record {
    Record::text(
        partition,
        &format!(
            r#"{{"campaign_id": {campaign}, "user_id": "{USER}", "ts": "2024-10-01T12:00:00",
                "views": {views}, "cost": 0.125}}"#
        ),
    )
}

/// A new topic named after `prefix`, holding `records`.
async fn topic_with(prefix: &str, partitions: i32, records: &[Record]) -> String {
    let topic = unique_name(prefix);
    create_topic(&topic, partitions).await;
    produce(&topic, records).await;
    topic
}

#[tokio::test]
async fn a_declared_topic_is_shared_by_replicas_and_survives_restarts() {
    let topic = topic_with(
        "ad_events",
        3,
        &[
            event(0, 1, 10),
            event(1, 1, 5),
            event(2, 2, 7),
            event(0, 2, 1),
        ],
    )
    .await;
    let table = format!("kafka.{}", unique_name("ads"));

    let first = TestGateway::start().await;
    let client = first.client().await;
    // Through the extended protocol, as drivers send it.
    let created = client.execute(&declare(&table, &topic, ""), &[]).await;
    created.unwrap_or_else(|e| panic!("create: {e}"));
    let sums = text_rows(
        &client,
        &format!(
            "SELECT campaign_id, sum(views), sum(cost), count(_offset) \
             FROM {table} GROUP BY campaign_id ORDER BY campaign_id"
        ),
    )
    .await;
    let want = |c: &str, v: &str, cost: &str| {
        vec![
            Some(c.to_string()),
            Some(v.to_string()),
            Some(cost.to_string()),
            Some("2".to_string()),
        ]
    };
    assert_eq!(
        sums,
        vec![want("1", "15", "0.2500"), want("2", "8", "0.2500")]
    );
    let users = text_rows(&client, &format!("SELECT DISTINCT user_id FROM {table}")).await;
    assert_eq!(users, vec![vec![Some(USER.to_string())]]);

    // Another replica finds it at once, by name, and then lists it.
    let second = TestGateway::start().await;
    let other = second.client().await;
    assert_eq!(count(&other, &table).await, 4);
    let name = table.trim_start_matches("kafka.");
    let listed = text_rows(
        &other,
        &format!("SELECT table_schema FROM information_schema.tables WHERE table_name = '{name}'"),
    )
    .await;
    assert_eq!(listed, vec![vec![Some("kafka".to_string())]]);
    // psql's own catalog queries describe it with its columns' types, the
    // declared ones and then Kafka's.
    let described = second.psql(&["-c", &format!("\\d {table}")]).await;
    let text = String::from_utf8_lossy(&described.stdout);
    assert!(
        described.status.success(),
        "{}",
        String::from_utf8_lossy(&described.stderr)
    );
    let columns: Vec<(&str, &str)> = text
        .lines()
        .filter_map(|line| {
            let mut cells = line.split('|').map(str::trim);
            Some((cells.next()?, cells.next()?))
        })
        .skip(1)
        .collect();
    assert_eq!(
        columns,
        vec![
            ("campaign_id", "bigint"),
            ("user_id", "uuid"),
            ("ts", "timestamp without time zone"),
            ("views", "integer"),
            ("cost", "numeric"),
            ("_partition", "integer"),
            ("_offset", "bigint"),
            ("_timestamp", "timestamp with time zone"),
            ("_key", "text"),
            ("_headers", "json"),
        ],
        "{text}"
    );

    // Restarted, the first gateway still has it.
    drop(client);
    first.shutdown().await;
    let restarted = TestGateway::start_with(|c| {
        c.catalog.refresh_interval = Duration::from_millis(200);
    })
    .await;
    let client = restarted.client().await;
    assert_eq!(count(&client, &table).await, 4);

    // Dropped on one replica: gone from the others at their next refresh;
    // the topic stays.
    run(&other, &format!("DROP TABLE {table}")).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let err = loop {
        match client
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
        {
            Err(err) => break err,
            Ok(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Ok(_) => panic!("{table} is still there 10 s after DROP TABLE"),
        }
    };
    assert_eq!(sqlstate(&err), "42P01", "{err}");
    let err = other
        .batch_execute(&format!("DROP TABLE {table}"))
        .await
        .expect_err("dropped twice");
    assert_eq!(sqlstate(&err), "42P01", "{err}");
    run(&other, &format!("DROP TABLE IF EXISTS {table}")).await;
    assert!(
        kafka().await.has_topic(&topic).await.unwrap(),
        "the topic stays"
    );
}

#[tokio::test]
async fn options_can_create_the_topic() {
    let topic = unique_name("created");
    let table = format!("kafka.{}", unique_name("created"));
    let gateway = TestGateway::start().await;
    let client = gateway.client().await;
    run(
        &client,
        &declare(
            &table,
            &topic,
            ", 'topic.partitions' '3', 'topic.replication' '1'",
        ),
    )
    .await;
    assert_eq!(count(&client, &table).await, 0);
    let partitions = kafka().await.watermarks(&topic).await.unwrap();
    assert_eq!(partitions.len(), 3);
    produce(&topic, &[event(2, 9, 1)]).await;
    assert_eq!(count(&client, &table).await, 1);
}

async fn refused(client: &Client, sql: String, code: &str, says: &str) {
    let err = client.batch_execute(&sql).await.expect_err(&sql);
    assert_eq!(sqlstate(&err), code, "{sql}: {err}");
    let message = db_message(&err);
    assert!(message.contains(says), "{sql}: {message}");
}

#[tokio::test]
async fn bad_declarations_get_sqlstates_and_store_nothing() {
    let fixture = KeyspaceFixture::new("kafka_ddl").await;
    let client = &fixture.client;
    let topic = unique_name("ddl_errors");
    create_topic(&topic, 1).await;
    let table = format!("kafka.{}", unique_name("t"));

    refused(
        client,
        declare(&table, &topic, ", fromat 'json'"),
        "42P16",
        "unknown option 'fromat'",
    )
    .await;
    refused(
        client,
        declare(&table, &unique_name("missing"), ""),
        "42P01",
        "topic.partitions",
    )
    .await;
    refused(
        client,
        declare(&format!("\"{}\".t", fixture.keyspace), &topic, ""),
        "42P16",
        "Cassandra keyspace",
    )
    .await;
    refused(
        client,
        declare("public.t", &topic, ""),
        "42P16",
        "gateway's own",
    )
    .await;
    refused(
        client,
        declare(&table, &topic, "")
            .replace("'timestamp.column' 'ts'", "'timestamp.column' 'views'"),
        "42P16",
        "not a timestamp",
    )
    .await;
    refused(
        client,
        declare(&table, &topic, ", on_error 'dead_letter'"),
        "42P16",
        "dead_letter.topic",
    )
    .await;
    refused(
        client,
        declare(&table, &topic, ", 'json.path.clicks' 'a.b'"),
        "42P16",
        "not declared",
    )
    .await;
    refused(
        client,
        declare(&table, &topic, ", 'avro.confluent' 'true'"),
        "42P16",
        "only with format 'avro'",
    )
    .await;
    refused(
        client,
        declare(&table, &topic, "")
            .replace("format 'json'", "format 'avro', 'avro.confluent' 'true'"),
        "42P16",
        "schema_registry_url",
    )
    .await;
    refused(
        client,
        declare(&table, &topic, "").replace("KAFKA", "PARQUET"),
        "0A000",
        "KAFKA",
    )
    .await;
    // None of those was stored.
    let err = client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .expect_err("not declared");
    assert_eq!(sqlstate(&err), "42P01", "{err}");

    run(client, &declare(&table, &topic, "")).await;
    refused(
        client,
        declare(&table, &topic, ""),
        "42P07",
        "already exists",
    )
    .await;
    let quiet = declare(&table, &topic, "").replace("TABLE kafka", "TABLE IF NOT EXISTS kafka");
    run(client, &quiet).await;
    assert_eq!(count(client, &table).await, 0);
}

#[tokio::test]
async fn insert_produces_messages_that_select_reads_back() {
    let topic = unique_name("produced");
    let table = format!("kafka.{}", unique_name("produced"));
    let gateway = TestGateway::start().await;
    let client = gateway.client().await;
    run(
        &client,
        &declare(
            &table,
            &topic,
            ", key 'campaign_id', 'topic.partitions' '4'",
        ),
    )
    .await;

    // Keyed by campaign: one campaign's events share a partition.
    let values: Vec<String> = (0..40)
        .map(|i| {
            format!(
                "({}, TIMESTAMP '2024-10-01 12:00:00' + INTERVAL '{i} seconds', {i}, 0.5)",
                i % 5
            )
        })
        .collect();
    let written = client
        .execute(
            &format!(
                "INSERT INTO {table} (campaign_id, ts, views, cost) VALUES {}",
                values.join(", ")
            ),
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("insert: {e:?}"));
    assert_eq!(written, 40);
    assert_eq!(count(&client, &table).await, 40);
    let per_key = text_rows(
        &client,
        &format!(
            "SELECT _key, count(DISTINCT _partition), sum(views), \
             min(to_unixtime(_timestamp) - to_unixtime(ts)), max(to_unixtime(_timestamp) - to_unixtime(ts)) \
             FROM {table} GROUP BY _key ORDER BY _key"
        ),
    )
    .await;
    let keys: Vec<_> = per_key.iter().map(|r| r[0].clone().unwrap()).collect();
    assert_eq!(keys, ["0", "1", "2", "3", "4"]);
    for row in &per_key {
        assert_eq!(
            row[1].as_deref(),
            Some("1"),
            "one partition per key: {row:?}"
        );
        // The record time is the event's own.
        assert_eq!(
            (row[3].as_deref(), row[4].as_deref()),
            (Some("0"), Some("0")),
            "{row:?}"
        );
    }
    let total: i64 = per_key
        .iter()
        .map(|r| r[2].as_deref().unwrap().parse::<i64>().unwrap())
        .sum();
    assert_eq!(total, (0..40).sum::<i64>());

    // INSERT partitions by key as the Java client does, so a key filter
    // reads the one partition its key hashes to, and finds every message.
    let by_key = format!("SELECT sum(views) FROM {table} WHERE _key = '3'");
    assert_eq!(
        text_rows(&client, &by_key).await,
        vec![vec![Some(
            ((0..40).filter(|i| i % 5 == 3).sum::<i64>()).to_string()
        )]]
    );
    let plan = text_rows(&client, &format!("EXPLAIN {by_key}")).await;
    let plan: String = plan
        .iter()
        .flatten()
        .flatten()
        .cloned()
        .collect::<Vec<_>>()
        .join("\n");
    let scan = plan
        .lines()
        .find(|l| l.contains("KafkaScanExec"))
        .unwrap_or_else(|| panic!("{plan}"));
    assert_eq!(scan.matches(":[").count(), 1, "one partition read: {scan}");

    // Metadata columns given in the statement set the message's.
    run(
        &client,
        &format!(
            "INSERT INTO {table} (campaign_id, views, _partition, _key) VALUES (7, 1, 2, 'seven')"
        ),
    )
    .await;
    let placed = text_rows(
        &client,
        &format!("SELECT _partition, _key, ts FROM {table} WHERE campaign_id = 7"),
    )
    .await;
    assert_eq!(
        placed,
        vec![vec![Some("2".into()), Some("seven".into()), None]]
    );

    // INSERT ... SELECT copies between topics.
    let copy = format!("kafka.{}", unique_name("copy"));
    run(
        &client,
        &declare(&copy, &unique_name("copy"), ", 'topic.partitions' '2'"),
    )
    .await;
    let copied = client
        .execute(
            &format!(
                "INSERT INTO {copy} (campaign_id, ts, views, cost) \
                 SELECT campaign_id, ts, views, cost FROM {table} WHERE campaign_id < 2"
            ),
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("insert select: {e}"));
    assert_eq!(copied, 16);
    assert_eq!(count(&client, &copy).await, 16);

    let err = client
        .batch_execute(&format!(
            "INSERT INTO {table} (campaign_id, _offset) VALUES (1, 5)"
        ))
        .await
        .expect_err("offsets are Kafka's");
    assert_eq!(sqlstate(&err), "42P16", "{err}");
    assert_eq!(count(&client, &table).await, 41, "nothing written");
}

#[tokio::test]
async fn kafka_events_join_cassandra_dimensions() {
    let fixture = KeyspaceFixture::new("kafka_join").await;
    let campaigns = fixture.table("campaigns");
    services::cql(
        &fixture.session,
        &format!(
            "CREATE TABLE \"{}\".campaigns (campaign_id bigint PRIMARY KEY, name text)",
            fixture.keyspace
        ),
    )
    .await;
    for (id, name) in [(1, "spring"), (2, "summer"), (3, "autumn")] {
        services::cql(
            &fixture.session,
            &format!(
                "INSERT INTO \"{}\".campaigns (campaign_id, name) VALUES ({id}, '{name}')",
                fixture.keyspace
            ),
        )
        .await;
    }
    let topic = topic_with(
        "join_events",
        2,
        &[
            event(0, 1, 10),
            event(1, 2, 5),
            event(0, 2, 7),
            event(1, 9, 100),
        ],
    )
    .await;
    let events = format!("kafka.{}", unique_name("join"));
    let client = &fixture.client;
    run(client, &declare(&events, &topic, "")).await;
    let joined = text_rows(
        client,
        &format!(
            "SELECT c.name, sum(e.views) FROM {events} e JOIN {campaigns} c \
             ON c.campaign_id = e.campaign_id GROUP BY c.name ORDER BY c.name"
        ),
    )
    .await;
    assert_eq!(
        joined,
        vec![
            vec![Some("spring".into()), Some("10".into())],
            vec![Some("summer".into()), Some("12".into())],
        ]
    );
}

#[tokio::test]
async fn skipped_messages_are_counted_in_a_system_table() {
    let topic = unique_name("skipped");
    create_topic(&topic, 1).await;
    produce(
        &topic,
        &[
            Record::text(0, r#"{"campaign_id": 1, "views": 1}"#),
            Record::text(0, "not json"),
            Record::text(0, r#"{"campaign_id": 2, "views": 2}"#),
        ],
    )
    .await;
    let name = unique_name("skipping");
    let table = format!("kafka.{name}");
    let gateway = TestGateway::start().await;
    let client = gateway.client().await;
    run(&client, &declare(&table, &topic, ", on_error 'skip'")).await;
    assert_eq!(count(&client, &table).await, 2);
    let counted = text_rows(
        &client,
        &format!(
            "SELECT topic, \"partition\", on_error, messages, last_offset, last_reason \
             FROM system.kafka_decode_errors WHERE table_name = '{table}'"
        ),
    )
    .await;
    assert_eq!(counted.len(), 1, "{counted:?}");
    let row = &counted[0];
    assert_eq!(row[0].as_deref(), Some(topic.as_str()));
    assert_eq!(
        (
            row[1].as_deref(),
            row[2].as_deref(),
            row[3].as_deref(),
            row[4].as_deref()
        ),
        (Some("0"), Some("skip"), Some("1"), Some("1"))
    );
    assert!(row[5].as_deref().is_some_and(|r| !r.is_empty()), "{row:?}");
}

/// A script of several statements in one query (`psql -c "…; …"`) may
/// declare a table and use it at once. The first statement that fails ends
/// the script: the ones before it stay done, the ones after it never run.
#[tokio::test]
async fn scripts_mix_declarations_with_other_statements() {
    let topic = topic_with("script", 1, &[event(0, 1, 10), event(0, 2, 5)]).await;
    let table = format!("kafka.{}", unique_name("script"));
    let gateway = TestGateway::start().await;
    let client = gateway.client().await;
    let rows = text_rows(
        &client,
        &format!(
            "{};\n-- then read it\nSELECT sum(views) FROM {table} WHERE user_id = '{USER}'; \
             SELECT 'done'; -- the end",
            declare(&table, &topic, "")
        ),
    )
    .await;
    assert_eq!(
        rows,
        vec![vec![Some("15".to_string())], vec![Some("done".to_string())]]
    );

    let later = format!("kafka.{}", unique_name("later"));
    let script = format!(
        "DROP TABLE {table}; {}; {}",
        declare(
            &format!("kafka.{}", unique_name("bad")),
            &unique_name("missing"),
            ""
        ),
        declare(&later, &topic, "")
    );
    let err = client.simple_query(&script).await.unwrap_err();
    assert_eq!(sqlstate(&err), "42P01", "{err}");
    assert!(
        db_message(&err).contains("does not exist in Kafka"),
        "{err}"
    );
    for gone in [&table, &later] {
        let err = client
            .simple_query(&format!("SELECT * FROM {gone}"))
            .await
            .unwrap_err();
        assert_eq!(sqlstate(&err), "42P01", "{gone}: {err}");
    }
}
