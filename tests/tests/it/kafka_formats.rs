//! Kafka tables in every format, dead letters, key pushdown and streaming,
//! in process against the real Kafka and schema registry.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use futures::StreamExt;
use smackql::schema_registry::HttpSchemaRegistry;
use smackql_kafka::{
    KafkaConnection, KafkaOptions, KafkaStream, KafkaTableOptions, KafkaTableProvider,
    SchemaRegistry, StreamStart,
};
use smackql_tests::kafka::{consume_all, create_topic, produce, Record};
use smackql_tests::{services, unique_name};

use crate::kafka::{
    count, events_columns, int64s, mixed_topic, plan, query_error, rows, session,
    session_with_registry,
};

/// `(campaign_id, views, label)` of every row, in campaign order.
async fn events(
    ctx: &datafusion::prelude::SessionContext,
) -> Vec<(i64, Option<i64>, Option<String>)> {
    let batches = rows(
        ctx,
        "select campaign_id, views, label from events order by campaign_id",
    )
    .await;
    let ids = int64s(&batches, 0);
    let views = int64s(&batches, 1);
    let labels: Vec<Option<String>> = batches
        .iter()
        .flat_map(|b| {
            let c = b.column(2).as_string::<i32>();
            (0..c.len())
                .map(|i| (!c.is_null(i)).then(|| c.value(i).to_string()))
                .collect::<Vec<_>>()
        })
        .collect();
    ids.into_iter()
        .zip(views)
        .zip(labels)
        .map(|((id, views), label)| (id.unwrap(), views, label))
        .collect()
}

/// [`events`], with empty labels as NULL: for values written elsewhere,
/// which hold an empty string where the expected rows have NULL.
async fn events_empty_as_null(
    ctx: &datafusion::prelude::SessionContext,
) -> Vec<(i64, Option<i64>, Option<String>)> {
    let mut got = events(ctx).await;
    for row in &mut got {
        row.2 = row.2.take().filter(|s| !s.is_empty());
    }
    got
}

fn expected() -> Vec<(i64, Option<i64>, Option<String>)> {
    vec![
        (1, Some(10), Some("a,b \"q\"; --".into())),
        (2, None, Some("plain".into())),
        (3, Some(30), None),
    ]
}

/// Inserts the expected rows through the table, then reads them back.
async fn round_trip(options: &[(&str, &str)]) {
    let topic = unique_name("it_kafka_fmt");
    create_topic(&topic, 2).await;
    let ctx = session(&topic, &events_columns(), options).await;
    let inserted = rows(
        &ctx,
        "insert into events (campaign_id, views, label) values \
         (1, 10, 'a,b \"q\"; --'), (2, null, 'plain'), (3, 30, null)",
    )
    .await;
    let written = inserted[0]
        .column(0)
        .as_primitive::<datafusion::arrow::datatypes::UInt64Type>()
        .value(0);
    assert_eq!(written, 3, "{options:?}");
    assert_eq!(events(&ctx).await, expected(), "{options:?}");
}

#[tokio::test]
async fn every_format_reads_what_insert_writes() {
    round_trip(&[("format", "json")]).await;
    round_trip(&[
        ("format", "json"),
        ("json.path.campaign_id", "payload.after.id"),
        ("json.path.views", "payload.after.views"),
    ])
    .await;
    round_trip(&[("format", "csv")]).await;
    round_trip(&[("format", "csv"), ("csv.delimiter", ";")]).await;
    round_trip(&[("format", "avro")]).await;
    round_trip(&[("format", "avro"), ("avro.confluent", "true")]).await;
}

#[tokio::test]
async fn json_paths_and_csv_read_messages_written_elsewhere() {
    let topic = unique_name("it_kafka_json_path");
    create_topic(&topic, 1).await;
    produce(
        &topic,
        &[
            Record::text(
                0,
                r#"{"payload": {"after": {"id": 1, "views": 10}, "op": "c"}, "label": "a,b \"q\"; --"}"#,
            ),
            Record::text(0, r#"{"payload": {"after": {"id": 2}}, "label": "plain"}"#),
            Record::text(0, r#"{"payload": {"after": {"id": 3, "views": 30}}}"#),
        ],
    )
    .await;
    let ctx = session(
        &topic,
        &events_columns(),
        &[
            ("json.path.campaign_id", "payload.after.id"),
            ("json.path.views", "payload.after.views"),
        ],
    )
    .await;
    assert_eq!(events(&ctx).await, expected());

    let topic = unique_name("it_kafka_csv");
    create_topic(&topic, 1).await;
    produce(
        &topic,
        &[
            Record::text(0, "1,10,\"a,b \"\"q\"\"; --\"\n"),
            Record::text(0, "2,,plain"),
            Record::text(0, "3,30,"),
            Record::text(0, "4,40,two\n5,50,records"),
            Record::text(0, "x,1,not a number"),
            Record::text(0, "6,60"),
        ],
    )
    .await;
    let ctx = session(
        &topic,
        &events_columns(),
        &[("format", "csv"), ("on_error", "skip")],
    )
    .await;
    // CSV has no null text: an empty field is an empty string.
    assert_eq!(events_empty_as_null(&ctx).await, expected());
    assert_eq!(
        count(&ctx, "select sum(messages) from decode_errors").await,
        3
    );
}

/// Avro's zig-zag variable-length encoding of a long.
fn avro_long(out: &mut Vec<u8>, value: i64) {
    let mut n = ((value << 1) ^ (value >> 63)) as u64;
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// A datum of `{campaign_id: long, views: [null, long], label: string,
/// extra: int}`, encoded by hand.
fn avro_datum(id: i64, views: Option<i64>, label: &str) -> Vec<u8> {
    let mut out = Vec::new();
    avro_long(&mut out, id);
    match views {
        None => avro_long(&mut out, 0),
        Some(v) => {
            avro_long(&mut out, 1);
            avro_long(&mut out, v);
        }
    }
    avro_long(&mut out, label.len() as i64);
    out.extend_from_slice(label.as_bytes());
    avro_long(&mut out, 99);
    out
}

const WRITER_SCHEMA: &str = r#"{"type": "record", "name": "ad_event", "fields": [
    {"name": "campaign_id", "type": "long"},
    {"name": "views", "type": ["null", "long"]},
    {"name": "label", "type": "string"},
    {"name": "extra", "type": "int"}]}"#;

#[tokio::test]
async fn avro_reads_plain_and_confluent_messages_written_elsewhere() {
    let topic = unique_name("it_kafka_avro");
    create_topic(&topic, 1).await;
    let mut truncated = avro_datum(9, Some(9), "cut");
    truncated.truncate(3);
    produce(
        &topic,
        &[
            Record::bytes(0, &avro_datum(1, Some(10), "a,b \"q\"; --")),
            Record::bytes(0, &truncated),
            Record::bytes(0, &avro_datum(2, None, "plain")),
            Record::bytes(0, &avro_datum(3, Some(30), "")),
        ],
    )
    .await;
    let failing = session(
        &topic,
        &events_columns(),
        &[("format", "avro"), ("avro.schema", WRITER_SCHEMA)],
    )
    .await;
    let err = query_error(&failing, "select * from events").await;
    assert!(err.contains("offset 1 of partition 0"), "{err}");
    let ctx = session(
        &topic,
        &events_columns(),
        &[
            ("format", "avro"),
            ("avro.schema", WRITER_SCHEMA),
            ("on_error", "skip"),
        ],
    )
    .await;
    assert_eq!(events_empty_as_null(&ctx).await, expected());

    // The same schema from a file.
    let file = std::env::temp_dir().join(format!("{topic}.avsc"));
    std::fs::write(&file, WRITER_SCHEMA).unwrap();
    let from_file = session(
        &topic,
        &events_columns(),
        &[
            ("format", "avro"),
            ("avro.schema.file", file.to_str().unwrap()),
            ("on_error", "skip"),
        ],
    )
    .await;
    assert_eq!(events(&from_file).await.len(), 3);
    std::fs::remove_file(&file).unwrap();

    // The Confluent wire format: a zero byte, the schema id, the datum.
    let registry = HttpSchemaRegistry::new(&services::ensure().await.registry);
    let topic = unique_name("it_kafka_confluent");
    let id = registry
        .register(&format!("{topic}-value"), WRITER_SCHEMA)
        .unwrap();
    let framed = |datum: Vec<u8>| -> Vec<u8> {
        let mut out = vec![0];
        out.extend_from_slice(&id.to_be_bytes());
        out.extend(datum);
        out
    };
    let mut unknown_id = vec![0, 0x7f, 0xff, 0xff, 0xff];
    unknown_id.extend(avro_datum(8, None, "x"));
    create_topic(&topic, 1).await;
    produce(
        &topic,
        &[
            Record::bytes(0, &framed(avro_datum(1, Some(10), "a,b \"q\"; --"))),
            Record::bytes(0, &unknown_id),
            Record::bytes(0, &avro_datum(7, None, "not framed")),
            Record::bytes(0, &framed(avro_datum(2, None, "plain"))),
            Record::bytes(0, &framed(avro_datum(3, Some(30), ""))),
        ],
    )
    .await;
    let ctx = session(
        &topic,
        &events_columns(),
        &[
            ("format", "avro"),
            ("avro.confluent", "true"),
            ("on_error", "skip"),
        ],
    )
    .await;
    assert_eq!(events_empty_as_null(&ctx).await, expected());
    let reasons = rows(&ctx, "select last_reason, messages from decode_errors").await;
    let reason = reasons[0].column(0).as_string::<i32>().value(0).to_string();
    assert_eq!(int64s(&reasons, 1), vec![Some(2)]);
    assert!(reason.contains("magic byte"), "{reason}");

    // A registry that cannot be reached fails the query: no message is at
    // fault, so none is skipped.
    let unreachable = session_with_registry(
        &topic,
        &events_columns(),
        &[
            ("format", "avro"),
            ("avro.confluent", "true"),
            ("on_error", "skip"),
        ],
        "http://127.0.0.1:1",
    )
    .await;
    let err = query_error(&unreachable, "select * from events").await;
    assert!(err.contains("schema registry cannot be asked"), "{err}");
}

#[tokio::test]
async fn dead_letters_keep_refused_messages_with_the_reason() {
    let topic = mixed_topic().await;
    let dead = unique_name("it_kafka_dead");
    create_topic(&dead, 1).await;
    let ctx = session(
        &topic,
        &events_columns(),
        &[("on_error", "dead_letter"), ("dead_letter.topic", &dead)],
    )
    .await;
    for _ in 0..2 {
        let ids: Vec<i64> = int64s(
            &rows(&ctx, "select campaign_id from events order by campaign_id").await,
            0,
        )
        .into_iter()
        .flatten()
        .collect();
        assert_eq!(ids, vec![1, 2, 3]);
    }
    // Copied once, though read twice; counted each time.
    let copies = consume_all(&dead).await;
    let offsets: Vec<String> = copies
        .iter()
        .map(|r| {
            let header = |name: &str| {
                r.headers
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| String::from_utf8(v.clone()).unwrap())
                    .unwrap_or_else(|| panic!("header {name} in {r:?}"))
            };
            assert_eq!(header("smackql.source.topic"), topic);
            assert!(!header("smackql.error").is_empty());
            header("smackql.source.offset")
        })
        .collect();
    assert_eq!(offsets, vec!["1", "3", "4"]);
    assert_eq!(copies[0].value.as_deref(), Some(&b"not json"[..]));
    let counted = rows(
        &ctx,
        "select table_name, on_error, messages, last_offset from decode_errors",
    )
    .await;
    assert_eq!(
        counted[0].column(0).as_string::<i32>().value(0),
        "kafka.events"
    );
    assert_eq!(
        counted[0].column(1).as_string::<i32>().value(0),
        "dead_letter"
    );
    assert_eq!(int64s(&counted, 2), vec![Some(6)]);
    assert_eq!(int64s(&counted, 3), vec![Some(4)]);
}

#[tokio::test]
async fn key_equalities_read_only_their_partitions() {
    let topic = unique_name("it_kafka_keys");
    create_topic(&topic, 6).await;
    // The producer picks partitions from keys, as the Java client does.
    let records: Vec<Record> = (0..60)
        .map(|i| {
            Record::text(-1, &format!(r#"{{"campaign_id": {i}}}"#)).keyed(&format!("k{}", i % 10))
        })
        .collect();
    produce(&topic, &records).await;
    let keyed = session(&topic, &events_columns(), &[]).await;
    let unkeyed = session(&topic, &events_columns(), &[("key.partitioner", "unknown")]).await;
    for (sql, expected) in [
        (
            "select campaign_id from events where _key = 'k3' order by 1",
            6,
        ),
        (
            "select campaign_id from events where _key in ('k3', 'k4') order by 1",
            12,
        ),
        (
            "select campaign_id from events where _key = 'k3' or _key = 'k5' order by 1",
            12,
        ),
        (
            "select campaign_id from events where _key = 'none' order by 1",
            0,
        ),
    ] {
        let pushed = int64s(&rows(&keyed, sql).await, 0);
        assert_eq!(pushed.len(), expected, "{sql}");
        assert_eq!(pushed, int64s(&rows(&unkeyed, sql).await, 0), "{sql}");
    }
    let explained = plan(&keyed, "select * from events where _key = 'k3'").await;
    let read = explained.matches(":[0, ").count();
    assert_eq!(read, 1, "{explained}");
    let explained = plan(&unkeyed, "select * from events where _key = 'k3'").await;
    assert_eq!(explained.matches(":[0, ").count(), 6, "{explained}");
}

#[tokio::test]
async fn streaming_selects_see_messages_as_they_arrive() {
    let topic = unique_name("it_kafka_stream");
    create_topic(&topic, 2).await;
    produce(&topic, &[Record::text(0, r#"{"campaign_id": 1}"#)]).await;
    let ctx = session(&topic, &events_columns(), &[]).await;
    rows(&ctx, "set kafka.streaming = true").await;
    let explained = plan(&ctx, "select campaign_id from events limit 3").await;
    assert!(explained.contains("streaming"), "{explained}");

    // From the latest offsets: the message already there is not seen.
    // Planned, so its start offsets are taken, before the new messages.
    let planned = ctx
        .sql("select campaign_id from events limit 3")
        .await
        .unwrap()
        .create_physical_plan()
        .await
        .unwrap();
    let reader = tokio::spawn({
        let task = ctx.task_ctx();
        async move {
            int64s(
                &datafusion::physical_plan::collect(planned, task)
                    .await
                    .unwrap(),
                0,
            )
        }
    });
    let later: Vec<Record> = (2..5)
        .map(|i| Record::text(i % 2, &format!(r#"{{"campaign_id": {i}}}"#)))
        .collect();
    produce(&topic, &later).await;
    let mut seen = tokio::time::timeout(Duration::from_secs(30), reader)
        .await
        .expect("the streaming query ends at its limit")
        .unwrap();
    seen.sort();
    assert_eq!(seen, vec![Some(2), Some(3), Some(4)]);

    // From the earliest, or from a time filter.
    rows(&ctx, "set kafka.stream_from = 'earliest'").await;
    let mut first = int64s(
        &rows(&ctx, "select campaign_id from events limit 4").await,
        0,
    );
    first.sort();
    assert_eq!(first, vec![Some(1), Some(2), Some(3), Some(4)]);
    let err = query_error(&ctx, "select count(*) from events").await;
    assert!(!err.is_empty());

    // The table option asks for it too.
    let streaming = session(&topic, &events_columns(), &[("scan.mode", "streaming")]).await;
    rows(&streaming, "set kafka.stream_from = 'earliest'").await;
    assert_eq!(
        int64s(
            &rows(
                &streaming,
                "select campaign_id from events where _partition = 0 limit 2"
            )
            .await,
            0
        )
        .len(),
        2
    );
}

#[tokio::test]
async fn streams_report_where_each_batch_ends() {
    let topic = unique_name("it_kafka_stream_api");
    create_topic(&topic, 2).await;
    let first: Vec<Record> = (0..6)
        .map(|i| Record::text(i % 2, &format!(r#"{{"campaign_id": {i}}}"#)))
        .collect();
    produce(&topic, &first).await;
    let table = campaign_ids(&topic, 2).await;

    // From offset 1 of partition 0 and the start of partition 1.
    let start = StreamStart::Offsets([(0, 1)].into());
    let mut stream = table.stream(Some(vec![0]), start).await.unwrap();
    let (ids, ends) = first_ids(&mut stream, 5).await;
    assert_eq!(ids, vec![1, 2, 3, 4, 5]);
    assert_eq!(ends, BTreeMap::from([(0, 3), (1, 3)]));

    // Started again where the last batch ended, it sees only what is new.
    produce(&topic, &[Record::text(1, r#"{"campaign_id": 6}"#)]).await;
    let mut stream = table
        .stream(None, StreamStart::Offsets(ends))
        .await
        .unwrap();
    // Empty batches say where the reading stands; the first with rows has
    // the new event.
    let read = loop {
        let read = tokio::time::timeout(Duration::from_secs(30), stream.next())
            .await
            .expect("a batch")
            .expect("the stream goes on")
            .unwrap();
        if read.batch.num_rows() > 0 {
            break read;
        }
    };
    assert_eq!(read.batch.num_rows(), 1);
    assert_eq!(read.ends, BTreeMap::from([(1, 4)]));

    // From the offsets a consumer group committed: partition 0 from 2, and
    // partition 1, where the group committed nothing, from its start.
    let group = unique_name("it_group");
    commit(&group, &topic, 0, 2).await;
    let mut stream = table
        .stream(Some(vec![0]), StreamStart::Group(group))
        .await
        .unwrap();
    let (ids, _) = first_ids(&mut stream, 5).await;
    assert_eq!(ids, vec![1, 3, 4, 5, 6]);

    // Partition 1 alone, from offset 2.
    let mut stream = table
        .stream(Some(vec![0]), StreamStart::Only([(1, 2)].into()))
        .await
        .unwrap();
    let (ids, ends) = first_ids(&mut stream, 2).await;
    assert_eq!(ids, vec![5, 6]);
    assert_eq!(ends, BTreeMap::from([(1, 4)]));
}

#[tokio::test]
async fn streams_say_when_they_have_read_a_partition_to_its_end() {
    let topic = unique_name("it_kafka_stream_end");
    create_topic(&topic, 1).await;
    // More than one batch's worth: the first batches are read from a
    // backlog, not at the end.
    let backlog: Vec<Record> = (0..20_000)
        .map(|i| Record::text(0, &format!(r#"{{"campaign_id": {i}}}"#)))
        .collect();
    produce(&topic, &backlog).await;
    let table = campaign_ids(&topic, 1).await;
    let mut stream = table
        .stream(None, StreamStart::Only([(0, 0)].into()))
        .await
        .unwrap();
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(30), stream.next())
            .await
            .expect("a batch")
            .expect("the stream goes on")
            .unwrap()
    };
    let first = next().await;
    assert!(
        first.at_end.is_empty(),
        "{:?} {:?}",
        first.ends,
        first.at_end
    );
    let mut read = first.batch.num_rows();
    loop {
        let batch = next().await;
        read += batch.batch.num_rows();
        if batch.at_end.contains(&0) {
            // Only once everything is read.
            assert_eq!(batch.ends, BTreeMap::from([(0, 20_000)]));
            assert_eq!(read, 20_000);
            break;
        }
    }
    // Something new: no longer at the end until it is read.
    produce(&topic, &[Record::text(0, r#"{"campaign_id": 1}"#)]).await;
    loop {
        let batch = next().await;
        if batch.batch.num_rows() > 0 {
            assert_eq!(batch.ends, BTreeMap::from([(0, 20_001)]));
        }
        if batch.at_end.contains(&0) && batch.ends.get(&0) == Some(&20_001) {
            break;
        }
    }
}

/// A JSON Kafka table of `topic` with one column, `campaign_id`, scanned
/// by `parallelism` readers.
async fn campaign_ids(topic: &str, parallelism: usize) -> KafkaTableProvider {
    let kafka = Arc::new(KafkaConnection::new(KafkaOptions {
        bootstrap_servers: vec![services::ensure().await.kafka.clone()],
        ..KafkaOptions::default()
    }));
    let columns: Vec<FieldRef> = vec![Arc::new(Field::new("campaign_id", DataType::Int64, true))];
    KafkaTableProvider::try_new(
        kafka,
        topic,
        &columns,
        KafkaTableOptions::parse(&BTreeMap::new()).unwrap(),
        parallelism,
    )
    .unwrap()
}

/// The first `count` ids (or more) a stream gives, sorted, and the ends of
/// the last batch read.
async fn first_ids(stream: &mut KafkaStream, count: usize) -> (Vec<i64>, BTreeMap<i32, i64>) {
    let mut ids = Vec::new();
    let mut ends = BTreeMap::new();
    while ids.len() < count {
        let read = tokio::time::timeout(Duration::from_secs(30), stream.next())
            .await
            .expect("a batch")
            .expect("the stream goes on")
            .unwrap();
        let column = read
            .batch
            .column(0)
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        ids.extend(column.iter().flatten());
        ends = read.ends;
    }
    ids.sort();
    (ids, ends)
}

/// Commits `offset` in `partition` of `topic` for consumer group `group`.
async fn commit(group: &str, topic: &str, partition: i32, offset: i64) {
    use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
    use rdkafka::{ClientConfig, Offset, TopicPartitionList};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &services::ensure().await.kafka)
        .set("group.id", group)
        .create()
        .unwrap();
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset(topic, partition, Offset::Offset(offset))
        .unwrap();
    consumer.commit(&offsets, CommitMode::Sync).unwrap();
}
