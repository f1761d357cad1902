//! Full scans and point queries of a Cassandra table: smackql against the
//! raw driver, in one run.
//!
//! ```sh
//! bench/cassandra_scan/run                 # 5,000,000 rows
//! BENCH_ROWS=1000000 bench/cassandra_scan/run
//! ```
//!
//! It loads `BENCH_ROWS` demo events into keyspace `bench_scan` (once; later
//! runs reuse them), starts the release `smackql` binary as its own process,
//! and measures, for `count(*)` and for `sum(views) GROUP BY campaign_id`:
//! - rows/s through the gateway, over the Postgres wire protocol;
//! - rows/s through DataFusion in this process (same provider, no wire);
//! - rows/s of a raw `scylla` token-range scan of the same columns that does
//!   nothing with the rows (the baseline).
//!
//! Each is run `BENCH_REPEAT` times (default 3), interleaved, and the
//! median time is reported; `BENCH_REPEAT=0` skips the scans and measures
//! only the point queries.
//!
//! Then the p50 and p99 latency of a partition-key point query over the wire
//! against the same prepared CQL through the driver, each side reading every
//! value of every row, and the gateway's peak RSS (VmHWM) after all of it.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use anyhow::Result;
use futures::StreamExt;
use scylla::client::session::Session;
use scylla::response::{PagingState, PagingStateResponse};
use scylla::value::CqlTimestamp;
use smackql::config::Config;
use smackql::Application;
use smackql_bench::{drop_demo_view, env_or, median, percentiles, print_rates, timed, Gateway};
use smackql_cassandra::token::split_ring;

const KEYSPACE: &str = "bench_scan";

#[tokio::main]
async fn main() -> Result<()> {
    let rows: u64 = env_or("BENCH_ROWS", 5_000_000)?;
    let point_queries: usize = env_or("BENCH_POINT_QUERIES", 2_000)?;
    let repeat: usize = env_or("BENCH_REPEAT", 3)?;
    let services = smackql_tests::services::ensure().await;

    // Load through smackql's own INSERT path, in process.
    let mut config = Config::default();
    config.pg.listen = "127.0.0.1:0".parse()?;
    config.cassandra.contact_points = vec![services.cassandra.clone()];
    let app = Application::build(config.clone()).await?;
    let started = Instant::now();
    let loaded = app.load_demo(KEYSPACE, rows).await?;
    println!(
        "load: {loaded:?} in {:.1}s ({:.0} rows/s)",
        started.elapsed().as_secs_f64(),
        rows as f64 / started.elapsed().as_secs_f64()
    );

    let session = smackql_tests::services::cassandra().await;
    let (gateway, client) = Gateway::start(&["--cassandra", &services.cassandra]).await?;
    drop_demo_view(&client, KEYSPACE).await?;
    let events = format!("{KEYSPACE}.events");

    println!("\n| query | path | rows | median seconds | rows/s | vs raw |");
    println!("|---|---|---:|---:|---:|---:|");
    let queries = [
        (
            "count(*)",
            format!("SELECT count(*) FROM {events}"),
            "\"campaign_id\"",
        ),
        (
            "sum(views) group by campaign_id",
            format!("SELECT campaign_id, sum(views) FROM {events} GROUP BY campaign_id"),
            "\"campaign_id\", \"views\"",
        ),
    ];
    for (name, sql, columns) in queries.iter().filter(|_| repeat > 0) {
        // Warm caches once, so each path reads the same warm table. Each
        // path then runs `repeat` times, interleaved, and the median counts.
        raw_scan(&session, columns).await?;
        let mut raw_rows = 0;
        let (mut raw, mut in_process, mut wire) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..repeat {
            let (rows, took) = timed(raw_scan(&session, columns)).await?;
            raw_rows = rows;
            raw.push(took);
            let (_, took) = timed(async {
                let ctx = app.sessions().new_session();
                let batches = ctx.sql(sql).await?.collect().await?;
                anyhow::Ok(batches.len())
            })
            .await?;
            in_process.push(took);
            let (_, took) = timed(async {
                let rows = client.query(sql.as_str(), &[]).await?;
                anyhow::Ok(rows.len())
            })
            .await?;
            wire.push(took);
        }
        print_rates(
            name,
            raw_rows,
            &[
                ("raw scylla token-range scan", median(&mut raw)),
                ("DataFusion in-process", median(&mut in_process)),
                ("gateway, Postgres wire", median(&mut wire)),
            ],
        );
    }

    // Point queries: one partition, by key, prepared on both sides.
    let statement = client
        .prepare(&format!(
            "SELECT ts, views FROM {events} WHERE campaign_id = $1 AND day = DATE '2024-10-01'"
        ))
        .await?;
    let cql = session
        .prepare(format!(
            "SELECT ts, views FROM {KEYSPACE}.events WHERE campaign_id = ? AND day = '2024-10-01'"
        ))
        .await?;
    // The gateway reads in pages, so that no partition is too large to
    // read: the same statement paged as it pages shows what paging costs.
    let mut paged_cql = cql.clone();
    paged_cql.set_page_size(config.cassandra.page_size);
    let mut wire = Vec::with_capacity(point_queries);
    let mut raw = Vec::with_capacity(point_queries);
    let mut paged = Vec::with_capacity(point_queries);
    // Both sides read every value of every row, as an application would.
    for i in 0..point_queries {
        let campaign = (i % 200) as i64;
        let started = Instant::now();
        let rows = client.query(&statement, &[&campaign]).await?;
        let values: Vec<(SystemTime, i32)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        wire.push(started.elapsed());
        let started = Instant::now();
        let rows: Vec<(CqlTimestamp, i32)> = session
            .execute_unpaged(&cql, (campaign,))
            .await?
            .into_rows_result()?
            .rows::<(CqlTimestamp, i32)>()?
            .collect::<Result<_, _>>()?;
        raw.push(started.elapsed());
        let started = Instant::now();
        let (page, _) = session
            .execute_single_page(&paged_cql, (campaign,), PagingState::start())
            .await?;
        let page: Vec<(CqlTimestamp, i32)> = page
            .into_rows_result()?
            .rows::<(CqlTimestamp, i32)>()?
            .collect::<Result<_, _>>()?;
        paged.push(started.elapsed());
        anyhow::ensure!(
            page.len() == rows.len(),
            "campaign {campaign}: pages differ"
        );
        anyhow::ensure!(
            rows.len() == values.len(),
            "campaign {campaign}: {} rows through the driver, {} through the gateway",
            rows.len(),
            values.len()
        );
    }
    let (wire50, wire99) = percentiles(&mut wire);
    let (raw50, raw99) = percentiles(&mut raw);
    let (paged50, paged99) = percentiles(&mut paged);
    println!("\n| point query | p50 ms | p99 ms |");
    println!("|---|---:|---:|");
    println!("| raw scylla prepared | {raw50:.3} | {raw99:.3} |");
    println!(
        "| raw scylla prepared, paged by {} | {paged50:.3} | {paged99:.3} |",
        config.cassandra.page_size
    );
    println!("| gateway, Postgres wire | {wire50:.3} | {wire99:.3} |");
    println!(
        "| difference | {:.3} | {:.3} |",
        wire50 - raw50,
        wire99 - raw99
    );

    let peak = gateway.peak_rss_mib()?;
    println!("\ngateway peak RSS (VmHWM): {peak:.0} MiB");
    Ok(())
}

/// Counts the rows of every token range, 8 ranges in flight, as a Spark
/// connector would; the rows themselves are not decoded.
async fn raw_scan(session: &Session, columns: &str) -> Result<u64> {
    let cql = format!(
        "SELECT {columns} FROM {KEYSPACE}.events \
         WHERE token(campaign_id, day) > ? AND token(campaign_id, day) <= ?"
    );
    let mut prepared = session.prepare(cql).await?;
    prepared.set_page_size(5000);
    let prepared = Arc::new(prepared);
    let counts = futures::stream::iter(split_ring(64))
        .map(|range| {
            let prepared = prepared.clone();
            async move {
                let mut count = 0u64;
                let mut paging = PagingState::start();
                loop {
                    let (result, next) = session
                        .execute_single_page(&prepared, (range.start, range.end), paging)
                        .await?;
                    count += result.into_rows_result()?.rows_num() as u64;
                    match next {
                        PagingStateResponse::HasMorePages { state } => paging = state,
                        PagingStateResponse::NoMorePages => break,
                    }
                }
                anyhow::Ok(count)
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    counts.into_iter().sum()
}
