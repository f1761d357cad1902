//! Folding Kafka events into a materialized view: throughput, freshness,
//! and the raw alternative, in one run.
//!
//! ```sh
//! bench/mv_ingest/run                        # 2,000,000 events
//! BENCH_MESSAGES=500000 bench/mv_ingest/run
//! ```
//!
//! It produces `BENCH_MESSAGES` JSON ad events of about 150 bytes into a
//! topic of 6 partitions (once; later runs reuse the topic), then measures:
//! - the baseline: a raw `rdkafka` consumer that reads every event and
//!   decodes its JSON (`serde_json`), doing nothing else, `BENCH_REPEAT`
//!   times (default 3; the median counts);
//! - throughput: the release `smackql` binary, as its own process, defines
//!   the daily-totals view over the topic and backfills it; events folded
//!   per second is the topic's size over the time until `REFRESH
//!   MATERIALIZED VIEW` returns (the view then holds every event);
//! - freshness: live events (stamped with the time they are produced, so
//!   they fall into today's groups as live traffic does) are produced at
//!   half that rate for `BENCH_FRESHNESS_SECONDS` (default 20), with a
//!   marker event of a new campaign every 100 ms; the time from producing a
//!   marker to the end of the first query (one every 20 ms, for every
//!   marker not yet seen) that reads its row in the view, p50 and p99.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::ClientConfig;
use smackql_bench::kafka::{ensure_topic, live_event, raw_consume, PARTITIONS};
use smackql_bench::{cpu_seconds, env_or, median, other_views, percentiles, Gateway};

const TABLE: &str = "kafka.bench_mv_events";
const KEYSPACE: &str = "bench_mv";
const VIEW: &str = "bench_mv.views_by_campaign_day";
/// Campaign ids of marker events start here, above the generated ones.
const MARKERS_FROM: i64 = 1_000_000;

#[tokio::main]
async fn main() -> Result<()> {
    let messages: u64 = env_or("BENCH_MESSAGES", 2_000_000)?;
    let repeat: usize = env_or("BENCH_REPEAT", 3)?;
    let freshness_seconds: u64 = env_or("BENCH_FRESHNESS_SECONDS", 20)?;
    let services = smackql_tests::services::ensure().await;
    let brokers = services.kafka.clone();
    let topic = format!("bench-mv-ingest-{messages}");

    ensure_topic(&brokers, &topic, messages).await?;

    // The baseline: read and decode every event.
    raw_consume(&brokers, &topic, |_| Ok(()))?;
    let mut raw = Vec::new();
    let raw_cpu_before = cpu_seconds(std::process::id())?;
    for _ in 0..repeat.max(1) {
        let started = Instant::now();
        let mut views = 0i64;
        let counted = raw_consume(&brokers, &topic, |payload| {
            let value: serde_json::Value = serde_json::from_slice(payload)?;
            views += value["views"].as_i64().unwrap_or(0);
            Ok(())
        })?;
        if counted != messages {
            bail!("the raw consumer read {counted} events, not {messages}");
        }
        std::hint::black_box(views);
        raw.push(started.elapsed());
    }
    let raw_cpu = (cpu_seconds(std::process::id())? - raw_cpu_before) / repeat.max(1) as f64;
    let raw = median(&mut raw);

    let config = std::env::temp_dir().join("smackql-bench-mv.toml");
    std::fs::write(&config, "[views]\npoll_interval = \"20ms\"\n")?;
    let config = config.to_string_lossy().to_string();
    let (gateway, client) = Gateway::start(&[
        "--cassandra",
        &services.cassandra,
        "--kafka",
        &brokers,
        "--config",
        &config,
    ])
    .await?;
    let others = other_views(&client, VIEW).await?;
    if !others.is_empty() {
        println!(
            "note: this cluster has {} other materialized views, which the gateway maintains \
             beside the measured one, on the same cores: {}",
            others.len(),
            others.join(", ")
        );
    }
    // One statement at a time: `CREATE EXTERNAL TABLE` is DataFusion's own
    // statement, which a script mixed with others cannot contain.
    for statement in [
        format!("CREATE SCHEMA IF NOT EXISTS {KEYSPACE}"),
        format!("DROP MATERIALIZED VIEW IF EXISTS {VIEW} PURGE"),
        format!("DROP TABLE IF EXISTS {TABLE}"),
        format!(
            "CREATE EXTERNAL TABLE {TABLE} (campaign_id bigint, user_id uuid, ts timestamp, \
             views int, cost decimal(12,4), country text) \
             STORED AS KAFKA LOCATION '{topic}' OPTIONS (format 'json')"
        ),
    ] {
        client.batch_execute(&statement).await?;
    }
    let started = Instant::now();
    let cpu_before = gateway.cpu_seconds()?;
    client
        .batch_execute(&format!(
            "CREATE MATERIALIZED VIEW {VIEW} AS
               SELECT campaign_id, date_trunc('day', ts) AS day, count(*) AS events,
                      sum(views) AS views, sum(cost) AS cost, min(ts) AS first_seen,
                      max(ts) AS last_seen, approx_distinct(user_id) AS users
               FROM {TABLE} GROUP BY campaign_id, date_trunc('day', ts)"
        ))
        .await?;
    client
        .batch_execute(&format!("REFRESH MATERIALIZED VIEW {VIEW}"))
        .await?;
    let backfill = started.elapsed();
    let backfill_cpu = gateway.cpu_seconds()? - cpu_before;
    let folded: i64 = client
        .query_one(&format!("SELECT sum(events) FROM {VIEW}"), &[])
        .await?
        .get(0);
    if folded != messages as i64 {
        bail!("the view holds {folded} events, not {messages}");
    }
    let rate = messages as f64 / backfill.as_secs_f64();
    let raw_rate = messages as f64 / raw.as_secs_f64();

    // Freshness at half the rate the view folds at.
    let half = rate / 2.0;
    let stop = Arc::new(AtomicBool::new(false));
    let markers: Arc<Mutex<Vec<(i64, Instant)>>> = Arc::default();
    let producing = std::thread::spawn({
        let (brokers, topic, stop, markers) = (
            brokers.clone(),
            topic.clone(),
            stop.clone(),
            markers.clone(),
        );
        move || load(&brokers, &topic, half, messages, &stop, &markers)
    });
    // Every 20 ms, one query asks for all markers not seen yet; a marker's
    // freshness is the time from producing it to the end of the first query
    // that returns its row (an upper bound: the row became visible
    // somewhere during that query).
    let mut latencies = Vec::new();
    let until = Instant::now() + Duration::from_secs(freshness_seconds);
    let mut taken = 0usize;
    let mut waiting: Vec<(i64, Instant)> = Vec::new();
    loop {
        if let Ok(m) = markers.lock() {
            waiting.extend_from_slice(&m[taken..]);
            taken = m.len();
        }
        if Instant::now() >= until {
            stop.store(true, Ordering::Relaxed);
            if waiting.is_empty() && producing.is_finished() {
                break;
            }
        }
        if let Some((campaign, produced)) = waiting.first() {
            if produced.elapsed() > Duration::from_secs(60) {
                bail!("marker {campaign} is not in the view after a minute");
            }
            let list: Vec<String> = waiting
                .iter()
                .take(200)
                .map(|(c, _)| c.to_string())
                .collect();
            let rows = client
                .query(
                    &format!(
                        "SELECT DISTINCT campaign_id FROM {VIEW} WHERE campaign_id IN ({})",
                        list.join(", ")
                    ),
                    &[],
                )
                .await?;
            let found: HashSet<i64> = rows.iter().map(|r| r.get(0)).collect();
            let now = Instant::now();
            waiting.retain(|(campaign, produced)| {
                let visible = found.contains(campaign);
                if visible {
                    latencies.push(now - *produced);
                }
                !visible
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let produced = producing
        .join()
        .map_err(|_| anyhow::anyhow!("the producer panicked"))??;
    let (p50, p99) = percentiles(&mut latencies);

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("\n| path | events | seconds | events/s | µs per event | vs raw |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (path, took) in [
        ("raw rdkafka consumer + JSON decode", raw),
        (
            "gateway: view backfill (read, decode, aggregate, write)",
            backfill,
        ),
    ] {
        let r = messages as f64 / took.as_secs_f64();
        println!(
            "| {path} | {messages} | {:.2} | {r:.0} | {:.2} | {:.2}x |",
            took.as_secs_f64(),
            1e6 / r,
            r / raw_rate
        );
    }
    println!(
        "\nfolded {:.0} events/s on {cores} cores ({:.0} per core of the machine); the \
         gateway used {backfill_cpu:.1} CPU seconds: {:.0} events per CPU second",
        rate,
        rate / cores as f64,
        messages as f64 / backfill_cpu.max(1e-9)
    );
    println!(
        "the raw consumer used {raw_cpu:.1} CPU seconds per run: {:.0} events per CPU second",
        messages as f64 / raw_cpu.max(1e-9)
    );
    println!(
        "freshness at {half:.0} events/s ({produced} events, {} markers): p50 {p50:.0} ms, p99 {p99:.0} ms",
        latencies.len()
    );
    println!(
        "gateway peak RSS (VmHWM): {:.0} MiB",
        gateway.peak_rss_mib()?
    );
    client
        .batch_execute(&format!("DROP MATERIALIZED VIEW {VIEW} PURGE"))
        .await?;
    Ok(())
}

/// Produces events at `rate` per second until `stop`, continuing the
/// numbering after `first`, and a marker of a new campaign every 100 ms,
/// noting when each was sent. Returns how many events it produced.
fn load(
    brokers: &str,
    topic: &str,
    rate: f64,
    first: u64,
    stop: &AtomicBool,
    markers: &Mutex<Vec<(i64, Instant)>>,
) -> Result<u64> {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .context("a Kafka producer")?;
    let started = Instant::now();
    let mut sent = 0u64;
    let mut next_marker = Instant::now();
    let mut marker = 0i64;
    while !stop.load(Ordering::Relaxed) {
        let due = (started.elapsed().as_secs_f64() * rate) as u64;
        while sent < due {
            let n = first + sent;
            let value = live_event(n);
            let key = (n % 200).to_string();
            let record = BaseRecord::to(topic)
                .partition((n % PARTITIONS as u64) as i32)
                .key(&key)
                .payload(&value);
            if producer.send(record).is_err() {
                break;
            }
            sent += 1;
        }
        if Instant::now() >= next_marker {
            let campaign = MARKERS_FROM + marker;
            let value = format!(
                r#"{{"campaign_id":{campaign},"user_id":"00000000-0000-4000-8000-000000000001","ts":"2024-11-30T12:00:00","views":1,"cost":0.1,"country":"DE"}}"#
            );
            let key = campaign.to_string();
            let record = BaseRecord::to(topic)
                .partition((marker % i64::from(PARTITIONS)) as i32)
                .key(&key)
                .payload(&value);
            if producer.send(record).is_ok() {
                if let Ok(mut m) = markers.lock() {
                    m.push((campaign, Instant::now()));
                }
                marker += 1;
            }
            next_marker += Duration::from_millis(100);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    producer.flush(Duration::from_secs(30))?;
    Ok(sent)
}
