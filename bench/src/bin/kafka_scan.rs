//! Bounded scans of a Kafka topic: smackql against a raw consumer, in one
//! run.
//!
//! ```sh
//! bench/kafka_scan/run                       # 5,000,000 events
//! BENCH_MESSAGES=1000000 bench/kafka_scan/run
//! ```
//!
//! It produces `BENCH_MESSAGES` JSON ad events of about 150 bytes into a
//! topic of 6 partitions (once; later runs reuse the topic), starts the
//! release `smackql` binary as its own process, declares the topic as table
//! `kafka.bench_events`, and measures, in messages per second:
//! - `SELECT count(*)` and a `sum(views) GROUP BY campaign_id` over the
//!   whole topic, through the gateway over the Postgres wire protocol;
//! - a raw `rdkafka` consumer that reads the same partitions to the same end
//!   offsets with the same isolation, and drops the payloads (the baseline).
//!
//! Each is run `BENCH_REPEAT` times (default 3), interleaved, and the median
//! time counts. Then the gateway's peak RSS (VmHWM).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use smackql_bench::{env_or, median, print_rates, timed, Gateway};
use smackql_kafka::{KafkaConnection, KafkaOptions};

const PARTITIONS: i32 = 6;
const TABLE: &str = "kafka.bench_events";

#[tokio::main]
async fn main() -> Result<()> {
    let messages: u64 = env_or("BENCH_MESSAGES", 5_000_000)?;
    let repeat: usize = env_or("BENCH_REPEAT", 3)?;
    let services = smackql_tests::services::ensure().await;
    let brokers = services.kafka.clone();
    let topic = format!("bench-kafka-scan-{messages}");

    let kafka = KafkaConnection::new(KafkaOptions {
        bootstrap_servers: vec![brokers.clone()],
        ..KafkaOptions::default()
    });
    let present: i64 = match kafka.watermarks(&topic).await {
        Ok(partitions) => partitions.iter().map(|(_, low, high)| high - low).sum(),
        Err(_) => 0,
    };
    if present != messages as i64 {
        if present != 0 {
            bail!("topic {topic} holds {present} messages, not {messages}; delete it first");
        }
        smackql_tests::kafka::create_topic(&topic, PARTITIONS).await;
        let (bytes, took) = produce(&brokers, &topic, messages)?;
        println!(
            "produced {messages} events ({:.0} bytes each) in {:.1}s",
            bytes as f64 / messages as f64,
            took.as_secs_f64()
        );
    } else {
        println!("reusing topic {topic} with {messages} events");
    }

    let (gateway, client) =
        Gateway::start(&["--cassandra", &services.cassandra, "--kafka", &brokers]).await?;
    client
        .batch_execute(&format!("DROP TABLE IF EXISTS {TABLE}"))
        .await?;
    client
        .batch_execute(&format!(
            "CREATE EXTERNAL TABLE {TABLE} (campaign_id bigint, user_id uuid, ts timestamp, \
             views int, cost decimal(12,4), country text) \
             STORED AS KAFKA LOCATION '{topic}' OPTIONS (format 'json', 'timestamp.column' 'ts')"
        ))
        .await?;

    println!("\n| query | path | messages | median seconds | msgs/s | vs raw |");
    println!("|---|---|---:|---:|---:|---:|");
    let queries = [
        ("count(*)", format!("SELECT count(*) FROM {TABLE}")),
        (
            "sum(views) group by campaign_id",
            format!("SELECT campaign_id, sum(views) FROM {TABLE} GROUP BY campaign_id"),
        ),
    ];
    let consumer_brokers = brokers.clone();
    let consumer_topic = topic.clone();
    // Warm the broker's page cache once, so every path reads it warm.
    raw_consume(&consumer_brokers, &consumer_topic)?;
    for (name, sql) in &queries {
        let (mut raw, mut wire) = (Vec::new(), Vec::new());
        let mut counted = 0;
        for _ in 0..repeat.max(1) {
            let started = Instant::now();
            counted = raw_consume(&consumer_brokers, &consumer_topic)?;
            raw.push(started.elapsed());
            let (_, took) = timed(async {
                let rows = client.query(sql.as_str(), &[]).await?;
                anyhow::Ok(rows.len())
            })
            .await?;
            wire.push(took);
        }
        if counted != messages {
            bail!("the raw consumer read {counted} messages, not {messages}");
        }
        print_rates(
            name,
            messages,
            &[
                ("raw rdkafka consumer", median(&mut raw)),
                ("gateway, Postgres wire", median(&mut wire)),
            ],
        );
    }
    let check = client
        .query_one(&format!("SELECT count(*) FROM {TABLE}"), &[])
        .await?;
    if check.get::<_, i64>(0) != messages as i64 {
        bail!("the gateway counted {} messages", check.get::<_, i64>(0));
    }
    println!(
        "\ngateway peak RSS (VmHWM): {:.0} MiB",
        gateway.peak_rss_mib()?
    );
    Ok(())
}

/// One ad event of row `n`, as JSON.
fn event(n: u64) -> String {
    const COUNTRIES: [&str; 5] = ["DE", "FR", "US", "JP", "BR"];
    format!(
        r#"{{"campaign_id":{},"user_id":"{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}","ts":"2024-11-{:02}T{:02}:{:02}:{:02}.{:03}","views":{},"cost":{}.{:04},"country":"{}"}}"#,
        n % 200,
        n.wrapping_mul(2_654_435_761) as u32,
        n % 0xffff,
        n % 0xfff,
        (n / 7) % 0xfff,
        n,
        1 + (n / 86_400) % 28,
        (n / 3600) % 24,
        (n / 60) % 60,
        n % 60,
        n % 1000,
        1 + n % 10,
        n % 5,
        (n * 13) % 10_000,
        COUNTRIES[(n % 5) as usize],
    )
}

/// Produces `messages` events, round-robin over the partitions; returns the
/// bytes of values and the time it took.
fn produce(brokers: &str, topic: &str, messages: u64) -> Result<(u64, Duration)> {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("linger.ms", "50")
        .set("batch.size", "1000000")
        .set("compression.type", "lz4")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .context("a Kafka producer")?;
    let started = Instant::now();
    let mut bytes = 0u64;
    for n in 0..messages {
        let value = event(n);
        bytes += value.len() as u64;
        let key = (n % 200).to_string();
        let mut record = BaseRecord::to(topic)
            .partition((n % PARTITIONS as u64) as i32)
            .key(&key)
            .payload(&value);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((
                    rdkafka::error::KafkaError::MessageProduction(
                        rdkafka::types::RDKafkaErrorCode::QueueFull,
                    ),
                    back,
                )) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err((err, _)) => bail!("producing: {err}"),
            }
        }
    }
    producer
        .flush(Duration::from_secs(120))
        .context("flushing the producer")?;
    Ok((bytes, started.elapsed()))
}

/// Reads every partition of `topic` from its start to its end offset now,
/// committed messages only, dropping the payloads; returns the count.
fn raw_consume(brokers: &str, topic: &str) -> Result<u64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "smackql-bench-raw")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed")
        .create()
        .context("a Kafka consumer")?;
    let mut ends = HashMap::new();
    let mut assignment = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        let (low, high) = consumer.fetch_watermarks(topic, partition, Duration::from_secs(10))?;
        if high > low {
            ends.insert(partition, high);
            assignment.add_partition_offset(topic, partition, Offset::Offset(low))?;
        }
    }
    consumer.assign(&assignment)?;
    let mut count = 0u64;
    while !ends.is_empty() {
        match consumer.poll(Duration::from_secs(10)) {
            Some(Ok(message)) => {
                let end = ends.get(&message.partition()).copied().unwrap_or(0);
                if message.offset() < end {
                    count += 1;
                    std::hint::black_box(message.payload());
                }
                if message.offset() + 1 >= end {
                    ends.remove(&message.partition());
                }
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(partition))) => {
                ends.remove(&partition);
            }
            Some(Err(err)) => bail!("consuming: {err}"),
            None => bail!("no message for 10 s with partitions left: {ends:?}"),
        }
    }
    Ok(count)
}
