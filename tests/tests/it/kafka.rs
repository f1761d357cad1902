//! Kafka topics as tables, read in process against the real Kafka.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int64Type};
use datafusion::prelude::{SessionConfig, SessionContext};
use smackql::schema_registry::HttpSchemaRegistry;
use smackql_kafka::{
    DecodeErrorsTable, KafkaConnection, KafkaOptions, KafkaSessionOptions, KafkaTableOptions,
    KafkaTableProvider,
};
use smackql_tests::kafka::{create_topic, create_topic_with, produce, Record};
use smackql_tests::{services, unique_name};

/// A session with `topic` as table `events`, the decode error counts as
/// `decode_errors`, and Kafka's session settings.
pub(crate) async fn session(
    topic: &str,
    declared: &[FieldRef],
    options: &[(&str, &str)],
) -> SessionContext {
    let registry = services::ensure().await.registry.clone();
    session_with_registry(topic, declared, options, &registry).await
}

/// [`session`], with the schema registry at `registry`.
pub(crate) async fn session_with_registry(
    topic: &str,
    declared: &[FieldRef],
    options: &[(&str, &str)],
    registry: &str,
) -> SessionContext {
    let services = services::ensure().await;
    let kafka = Arc::new(
        KafkaConnection::new(KafkaOptions {
            bootstrap_servers: vec![services.kafka.clone()],
            ..KafkaOptions::default()
        })
        .with_schema_registry(Arc::new(HttpSchemaRegistry::new(registry))),
    );
    let options: BTreeMap<String, String> = options
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let provider = KafkaTableProvider::try_new(
        kafka.clone(),
        topic,
        declared,
        KafkaTableOptions::parse(&options).unwrap(),
        4,
    )
    .unwrap()
    .with_name("kafka.events");
    let config = SessionConfig::new().with_option_extension(KafkaSessionOptions::default());
    let ctx = SessionContext::new_with_config(config);
    ctx.register_table(
        "decode_errors",
        Arc::new(DecodeErrorsTable::new(kafka.decode_errors())),
    )
    .unwrap();
    ctx.register_table("events", Arc::new(provider)).unwrap();
    ctx
}

pub(crate) fn events_columns() -> Vec<FieldRef> {
    vec![
        Arc::new(Field::new("campaign_id", DataType::Int64, true)),
        Arc::new(Field::new("views", DataType::Int64, true)),
        Arc::new(Field::new("label", DataType::Utf8, true)),
    ]
}

pub(crate) async fn rows(ctx: &SessionContext, sql: &str) -> Vec<RecordBatch> {
    ctx.sql(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

pub(crate) fn int64s(batches: &[RecordBatch], column: usize) -> Vec<Option<i64>> {
    batches
        .iter()
        .flat_map(|b| {
            let c = b.column(column).as_primitive::<Int64Type>();
            (0..c.len())
                .map(|i| (!c.is_null(i)).then(|| c.value(i)))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The error message of `sql`, which must fail while it runs.
pub(crate) async fn query_error(ctx: &SessionContext, sql: &str) -> String {
    ctx.sql(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .collect()
        .await
        .expect_err(sql)
        .to_string()
}

pub(crate) async fn count(ctx: &SessionContext, sql: &str) -> i64 {
    int64s(&rows(ctx, sql).await, 0)[0].unwrap()
}

pub(crate) async fn plan(ctx: &SessionContext, sql: &str) -> String {
    let batches = rows(ctx, &format!("explain {sql}")).await;
    datafusion::arrow::util::pretty::pretty_format_batches(&batches)
        .unwrap()
        .to_string()
}

/// Twelve events over three partitions: event `i` is in partition `i % 3`
/// at offset `i / 3`, keyed `k{i}`, with header `h` = `v{i}`.
async fn twelve_events() -> String {
    let topic = unique_name("it_kafka");
    create_topic(&topic, 3).await;
    let records: Vec<Record> = (0..12)
        .map(|i| {
            Record::text(
                i % 3,
                &format!(
                    r#"{{"campaign_id": {i}, "views": {}, "label": "a'b;--{i}"}}"#,
                    i * 10
                ),
            )
            .keyed(&format!("k{i}"))
            .header("h", format!("v{i}").as_bytes())
        })
        .collect();
    produce(&topic, &records).await;
    topic
}

#[tokio::test]
async fn json_topics_read_with_their_metadata() {
    let topic = twelve_events().await;
    let ctx = session(&topic, &events_columns(), &[("format", "json")]).await;

    // A snapshot: the same count every time over an idle topic.
    assert_eq!(count(&ctx, "select count(*) from events").await, 12);
    assert_eq!(count(&ctx, "select count(*) from events").await, 12);

    let batches = rows(
        &ctx,
        "select campaign_id, views, cast(_partition as bigint), _offset, _key, label, \
         _timestamp is not null, _headers from events order by campaign_id",
    )
    .await;
    let ids: Vec<i64> = int64s(&batches, 0).into_iter().flatten().collect();
    assert_eq!(ids, (0..12).collect::<Vec<_>>());
    assert_eq!(
        int64s(&batches, 1),
        (0..12).map(|i| Some(i * 10)).collect::<Vec<_>>()
    );
    assert_eq!(
        int64s(&batches, 2),
        (0..12).map(|i| Some(i % 3)).collect::<Vec<_>>()
    );
    assert_eq!(
        int64s(&batches, 3),
        (0..12).map(|i| Some(i / 3)).collect::<Vec<_>>()
    );
    let batch = datafusion::arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
    let keys = batch.column(4).as_string::<i32>();
    let labels = batch.column(5).as_string::<i32>();
    let stamped = batch.column(6).as_boolean();
    let headers = batch.column(7).as_map();
    for i in 0..12 {
        assert_eq!(keys.value(i), format!("k{i}"));
        assert_eq!(labels.value(i), format!("a'b;--{i}"));
        assert!(stamped.value(i));
        let entry = headers.value(i);
        assert_eq!(entry.column(0).as_string::<i32>().value(0), "h");
        assert_eq!(
            entry.column(1).as_binary::<i32>().value(0),
            format!("v{i}").as_bytes()
        );
    }

    // LIMIT stops early.
    assert_eq!(
        rows(&ctx, "select campaign_id from events limit 5")
            .await
            .iter()
            .map(|b| b.num_rows())
            .sum::<usize>(),
        5
    );
}

#[tokio::test]
async fn partition_and_offset_filters_go_down() {
    let topic = twelve_events().await;
    let ctx = session(&topic, &events_columns(), &[]).await;
    let cases = [
        (
            "_partition = 1 and _offset >= 2",
            "offsets=[1:[2, 4)]",
            vec![7, 10],
        ),
        (
            "_partition in (0, 2) and _offset between 1 and 2",
            "offsets=[0:[1, 3), 2:[1, 3)]",
            vec![3, 5, 6, 8],
        ),
        (
            "_offset < 1",
            "offsets=[0:[0, 1), 1:[0, 1), 2:[0, 1)]",
            vec![0, 1, 2],
        ),
        (
            "_offset = 3 and _partition = 2",
            "offsets=[2:[3, 4)]",
            vec![11],
        ),
        (
            "_offset > 10",
            "offsets=[0:[11, 11), 1:[11, 11), 2:[11, 11)]",
            vec![],
        ),
    ];
    for (filter, offsets, expected) in cases {
        let pushed = format!("select campaign_id from events where {filter} order by campaign_id");
        let explained = plan(&ctx, &pushed).await;
        assert!(explained.contains(offsets), "{filter}: {explained}");
        // The same filter written so that it cannot go down.
        let unpushed = pushed
            .replace("_partition", "(_partition + 0)")
            .replace("_offset", "(_offset + 0)");
        assert!(!plan(&ctx, &unpushed).await.contains(offsets));
        let got: Vec<i64> = int64s(&rows(&ctx, &pushed).await, 0)
            .into_iter()
            .flatten()
            .collect();
        assert_eq!(got, expected, "{filter}");
        let scanned: Vec<i64> = int64s(&rows(&ctx, &unpushed).await, 0)
            .into_iter()
            .flatten()
            .collect();
        assert_eq!(scanned, expected, "{filter} without pushdown");
    }
}

/// The ids `sql` returns, in order.
async fn ids(ctx: &SessionContext, sql: &str) -> Vec<i64> {
    int64s(&rows(ctx, sql).await, 0)
        .into_iter()
        .flatten()
        .collect()
}

#[tokio::test]
async fn timestamp_filters_go_down_as_offsets() {
    // Producer-stamped times, and the one at offset 5 goes back in time.
    let topic = unique_name("it_kafka_time");
    create_topic(&topic, 1).await;
    let times = [1000, 2000, 3000, 4000, 5000, 1500, 6000, 7000];
    let records: Vec<Record> = times
        .iter()
        .enumerate()
        .map(|(i, t)| Record::text(0, &format!(r#"{{"campaign_id": {i}}}"#)).at(*t))
        .collect();
    produce(&topic, &records).await;
    let ctx = session(&topic, &events_columns(), &[]).await;
    let cases = [
        // A lower bound skips the older messages before the first recent one.
        (
            "_timestamp >= '1970-01-01T00:00:04Z'",
            "offsets=[0:[3, 8)]",
            vec![3, 4, 6, 7],
        ),
        (
            "_timestamp > '1970-01-01T00:00:06.5Z'",
            "offsets=[0:[7, 8)]",
            vec![7],
        ),
        (
            "_timestamp > '1970-01-01T00:00:09Z'",
            "offsets=[0:[8, 8)]",
            vec![],
        ),
        // An upper bound cannot end the read here: offset 5 is older.
        (
            "_timestamp < '1970-01-01T00:00:03Z'",
            "offsets=[0:[0, 8)]",
            vec![0, 1, 5],
        ),
    ];
    for (filter, offsets, expected) in cases {
        let pushed = format!("select campaign_id from events where {filter} order by campaign_id");
        let explained = plan(&ctx, &pushed).await;
        assert!(explained.contains(offsets), "{filter}: {explained}");
        assert_eq!(ids(&ctx, &pushed).await, expected, "{filter}");
        let unpushed = pushed.replace("_timestamp", "(_timestamp + interval '0 seconds')");
        assert_eq!(
            ids(&ctx, &unpushed).await,
            expected,
            "{filter} without pushdown"
        );
    }

    // Broker-stamped times never go back: an upper bound ends the read.
    let topic = unique_name("it_kafka_logtime");
    create_topic_with(&topic, 1, &[("message.timestamp.type", "LogAppendTime")]).await;
    let event = |i: i64| Record::text(0, &format!(r#"{{"campaign_id": {i}}}"#));
    produce(&topic, &[event(0), event(1), event(2)]).await;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    produce(&topic, &[event(3), event(4)]).await;
    let ctx = session(&topic, &events_columns(), &[]).await;
    let third = rows(
        &ctx,
        "select cast(to_unixtime(_timestamp) as bigint),          cast(date_part('millisecond', _timestamp) as bigint) from events where _offset = 3",
    )
    .await;
    let millis = int64s(&third, 0)[0].unwrap() * 1000 + int64s(&third, 1)[0].unwrap() % 1000;
    let filter = format!("_timestamp < to_timestamp_millis({millis})");
    let pushed = format!("select campaign_id from events where {filter} order by campaign_id");
    let explained = plan(&ctx, &pushed).await;
    assert!(
        explained.contains("offsets=[0:[0, 3)]"),
        "{filter}: {explained}"
    );
    assert_eq!(ids(&ctx, &pushed).await, vec![0, 1, 2]);
}

#[tokio::test]
async fn scans_read_a_snapshot_while_a_producer_writes() {
    let topic = unique_name("it_kafka_busy");
    create_topic(&topic, 2).await;
    let batch = |from: i64| -> Vec<Record> {
        (from..from + 50)
            .map(|i| Record::text((i % 2) as i32, &format!(r#"{{"campaign_id": {i}}}"#)))
            .collect()
    };
    produce(&topic, &batch(0)).await;
    let ctx = session(&topic, &events_columns(), &[]).await;
    let writer = {
        let topic = topic.clone();
        tokio::spawn(async move {
            for round in 1..=10 {
                produce(&topic, &batch(round * 50)).await;
            }
        })
    };
    let kafka = KafkaConnection::new(KafkaOptions {
        bootstrap_servers: vec![services::ensure().await.kafka.clone()],
        ..KafkaOptions::default()
    });
    let produced = || async {
        let marks = kafka.watermarks(&topic).await.unwrap();
        marks.iter().map(|(_, low, high)| high - low).sum::<i64>()
    };
    for _ in 0..5 {
        let before = produced().await;
        let batches = rows(
            &ctx,
            "select count(*), min(_offset), max(_offset) from events group by _partition",
        )
        .await;
        let after = produced().await;
        let (counts, lows, highs) = (
            int64s(&batches, 0),
            int64s(&batches, 1),
            int64s(&batches, 2),
        );
        // Each partition is read as one unbroken run from its start...
        for i in 0..counts.len() {
            assert_eq!(lows[i], Some(0));
            assert_eq!(counts[i], Some(highs[i].unwrap() + 1), "partition {i}");
        }
        // ...up to where it ended when the query was planned.
        let total: i64 = counts.iter().flatten().sum();
        assert!(
            (before..=after).contains(&total),
            "{before} <= {total} <= {after}"
        );
    }
    writer.await.unwrap();
    assert_eq!(count(&ctx, "select count(*) from events").await, 550);
}

/// Good events 1, 2 and 3 with undecodable messages around them, in one
/// partition: the bad ones are at offsets 1, 3 and 4.
pub(crate) async fn mixed_topic() -> String {
    let topic = unique_name("it_kafka_bad");
    create_topic(&topic, 1).await;
    let records = [
        Record::text(0, r#"{"campaign_id": 1, "views": 10}"#),
        Record::text(0, "not json"),
        Record::text(0, r#"{"campaign_id": 2, "views": 20}"#),
        Record::text(0, r#"{"campaign_id": "abc", "views": 1}"#),
        Record::text(0, r#"{"campaign_id": 9}{"campaign_id": 9}"#),
        Record::text(0, r#"{"campaign_id": 3, "views": 30}"#),
    ];
    produce(&topic, &records).await;
    topic
}

#[tokio::test]
async fn undecodable_messages_fail_the_query_or_are_skipped() {
    let topic = mixed_topic().await;
    let failing = session(&topic, &events_columns(), &[("on_error", "fail")]).await;
    let err = query_error(&failing, "select campaign_id from events").await;
    assert!(
        err.contains(&format!("topic '{topic}'")) && err.contains("offset 1 of partition 0"),
        "{err}"
    );

    let skipping = session(&topic, &events_columns(), &[("on_error", "skip")]).await;
    let ids: Vec<i64> = int64s(
        &rows(
            &skipping,
            "select campaign_id from events order by campaign_id",
        )
        .await,
        0,
    )
    .into_iter()
    .flatten()
    .collect();
    assert_eq!(ids, vec![1, 2, 3]);
    assert_eq!(count(&skipping, "select count(*) from events").await, 3);
}

#[tokio::test]
async fn raw_values_and_byte_keys() {
    let topic = unique_name("it_kafka_raw");
    create_topic(&topic, 1).await;
    let mut binary_key = Record::text(0, "second");
    binary_key.key = Some(vec![0xff, 0x00]);
    produce(
        &topic,
        &[
            Record::text(0, "first; it's -- raw").keyed("a"),
            binary_key,
            Record {
                partition: 0,
                ..Record::default()
            },
        ],
    )
    .await;
    let text = vec![Arc::new(Field::new("value", DataType::Utf8, true)) as FieldRef];
    let ctx = session(&topic, &text, &[("format", "raw"), ("key.format", "bytes")]).await;
    let batches = rows(&ctx, "select value, _key from events order by _offset").await;
    let batch = datafusion::arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
    let values = batch.column(0).as_string::<i32>();
    let keys = batch.column(1).as_binary::<i32>();
    assert_eq!(values.value(0), "first; it's -- raw");
    assert_eq!(keys.value(0), b"a");
    assert_eq!(values.value(1), "second");
    assert_eq!(keys.value(1), [0xff, 0x00]);
    assert!(values.is_null(2) && keys.is_null(2));

    // A key that is not text cannot be shown as text.
    let as_text = session(&topic, &text, &[("format", "raw")]).await;
    let err = query_error(&as_text, "select _key from events").await;
    assert!(
        err.contains("offset 1 of partition 0") && err.contains("'key.format' 'bytes'"),
        "{err}"
    );
}
