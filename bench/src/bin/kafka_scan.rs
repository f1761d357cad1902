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

use std::time::Instant;

use anyhow::{bail, Result};
use smackql_bench::kafka::{ensure_topic, raw_consume};
use smackql_bench::{env_or, median, print_rates, timed, Gateway};

const TABLE: &str = "kafka.bench_events";

#[tokio::main]
async fn main() -> Result<()> {
    let messages: u64 = env_or("BENCH_MESSAGES", 5_000_000)?;
    let repeat: usize = env_or("BENCH_REPEAT", 3)?;
    let services = smackql_tests::services::ensure().await;
    let brokers = services.kafka.clone();
    let topic = format!("bench-kafka-scan-{messages}");

    ensure_topic(&brokers, &topic, messages).await?;

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
    raw_consume(&consumer_brokers, &consumer_topic, |_| Ok(()))?;
    for (name, sql) in &queries {
        let (mut raw, mut wire) = (Vec::new(), Vec::new());
        let mut counted = 0;
        for _ in 0..repeat.max(1) {
            let started = Instant::now();
            counted = raw_consume(&consumer_brokers, &consumer_topic, |_| Ok(()))?;
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
