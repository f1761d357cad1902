//! Kafka for the benchmarks: the ad events they produce, and a raw
//! consumer to measure against.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use smackql_kafka::{KafkaConnection, KafkaOptions};

/// Partitions of the benchmark topics.
pub const PARTITIONS: i32 = 6;

/// Makes `topic` hold `messages` ad events ([`event`] 0 to `messages - 1`),
/// producing them unless an earlier run did. A topic that holds a different
/// number (the freshness load of `mv_ingest` adds events) is deleted and
/// produced again.
pub async fn ensure_topic(brokers: &str, topic: &str, messages: u64) -> Result<()> {
    let kafka = KafkaConnection::new(KafkaOptions {
        bootstrap_servers: vec![brokers.to_string()],
        ..KafkaOptions::default()
    });
    let present: i64 = match kafka.watermarks(topic).await {
        Ok(partitions) => partitions.iter().map(|(_, low, high)| high - low).sum(),
        Err(_) => 0,
    };
    if present == messages as i64 {
        println!("reusing topic {topic} with {messages} events");
        return Ok(());
    }
    if present != 0 {
        println!("topic {topic} holds {present} events, not {messages}: producing it again");
        delete_topic(brokers, topic).await?;
    }
    smackql_tests::kafka::create_topic(topic, PARTITIONS).await;
    let (bytes, took) = produce(brokers, topic, messages)?;
    println!(
        "produced {messages} events ({:.0} bytes each) in {:.1}s",
        bytes as f64 / messages as f64,
        took.as_secs_f64()
    );
    Ok(())
}

/// Deletes `topic` and waits until Kafka no longer lists it.
async fn delete_topic(brokers: &str, topic: &str) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .context("a Kafka admin client")?;
    for result in admin
        .delete_topics(&[topic], &AdminOptions::new())
        .await
        .context("deleting a topic")?
    {
        result.map_err(|(name, err)| anyhow::anyhow!("deleting topic {name}: {err}"))?;
    }
    let kafka = KafkaConnection::new(KafkaOptions {
        bootstrap_servers: vec![brokers.to_string()],
        ..KafkaOptions::default()
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while kafka.watermarks(topic).await.is_ok() {
        if Instant::now() > deadline {
            bail!("topic {topic} is still listed a minute after its deletion");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

/// One ad event of row `n`, as JSON: a month of history, one event per
/// second of November 2024.
pub fn event(n: u64) -> String {
    let ts = format!(
        "2024-11-{:02}T{:02}:{:02}:{:02}.{:03}",
        1 + (n / 86_400) % 28,
        (n / 3600) % 24,
        (n / 60) % 60,
        n % 60,
        n % 1000,
    );
    event_at(n, &ts)
}

/// Event `n` as [`event`] makes it, but happening now: a live event is
/// stamped with the time it is produced.
pub fn live_event(n: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let ts = datafusion::arrow::temporal_conversions::timestamp_ms_to_datetime(now)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3f").to_string())
        .unwrap_or_else(|| "2024-11-30T12:00:00.000".into());
    event_at(n, &ts)
}

fn event_at(n: u64, ts: &str) -> String {
    const COUNTRIES: [&str; 5] = ["DE", "FR", "US", "JP", "BR"];
    format!(
        r#"{{"campaign_id":{},"user_id":"{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}","ts":"{ts}","views":{},"cost":{}.{:04},"country":"{}"}}"#,
        n % 200,
        n.wrapping_mul(2_654_435_761) as u32,
        n % 0xffff,
        n % 0xfff,
        (n / 7) % 0xfff,
        n,
        1 + n % 10,
        n % 5,
        (n * 13) % 10_000,
        COUNTRIES[(n % 5) as usize],
    )
}

/// Produces `messages` events, round-robin over the partitions; returns the
/// bytes of values and the time it took.
pub fn produce(brokers: &str, topic: &str, messages: u64) -> Result<(u64, Duration)> {
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
/// committed messages only, handing each payload to `each`; returns the
/// count.
pub fn raw_consume(
    brokers: &str,
    topic: &str,
    mut each: impl FnMut(&[u8]) -> Result<()>,
) -> Result<u64> {
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
                    each(std::hint::black_box(message.payload().unwrap_or_default()))?;
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
