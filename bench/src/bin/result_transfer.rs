//! Large results sent to a client: Arrow Flight SQL against the Postgres
//! wire protocol, in one run, from the same release gateway.
//!
//! ```sh
//! bench/result_transfer/run                 # 5,000,000 rows
//! BENCH_ROWS=1000000 bench/result_transfer/run
//! ```
//!
//! Two results of `BENCH_ROWS` rows each:
//! - every row of a Cassandra table of mixed types (the demo's `events`:
//!   bigint, date, timestamptz, bigint, int, decimal), loaded once into
//!   keyspace `bench_scan` (shared with `cassandra_scan`);
//! - a generated `range` (bigint, bigint, double, text, timestamp), which
//!   measures the front ends without Cassandra's read speed in the way.
//!
//! Each client reads every row of its result to the end: the Flight SQL
//! client (the `arrow-flight` crate) decodes every record batch, the
//! Postgres client (`tokio-postgres`, binary format, streamed) touches
//! every value's bytes. Each path runs `BENCH_REPEAT` times (default 3),
//! interleaved, and the median is reported, as rows/s and as MB/s of the
//! result's size in Arrow memory (the same bytes for both paths), with the
//! ratio of Flight SQL to Postgres wire.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use arrow_flight::sql::client::FlightSqlServiceClient;
use futures::{StreamExt, TryStreamExt};
use postgres_types::{FromSql, Type};
use smackql::config::Config;
use smackql::Application;
use smackql_bench::{drop_demo_view, env_or, median, timed, Gateway};

const KEYSPACE: &str = "bench_scan";

#[tokio::main]
async fn main() -> Result<()> {
    let rows: u64 = env_or("BENCH_ROWS", 5_000_000)?;
    let repeat: usize = env_or("BENCH_REPEAT", 3)?.max(1);
    let services = smackql_tests::services::ensure().await;

    let mut config = Config::default();
    config.pg.listen = "127.0.0.1:0".parse()?;
    config.flight.listen = "127.0.0.1:0".parse()?;
    config.cassandra.contact_points = vec![services.cassandra.clone()];
    let app = Application::build(config).await?;
    let loaded = app.load_demo(KEYSPACE, rows).await?;
    println!("data: {loaded:?}");

    let (gateway, pg) = Gateway::start(&["--cassandra", &services.cassandra]).await?;
    drop_demo_view(&pg, KEYSPACE).await?;
    let channel = tonic::transport::Endpoint::from_shared(format!(
        "http://127.0.0.1:{}",
        gateway.flight_port()
    ))?
    .connect()
    .await
    .context("connecting to the Flight SQL front end")?;
    let mut flight = FlightSqlServiceClient::new(channel);

    let results = [
        (
            "Cassandra table (6 columns)",
            format!(
                "SELECT campaign_id, day, ts, user_id, views, cost FROM {KEYSPACE}.events LIMIT {rows}"
            ),
        ),
        (
            "generated range (5 columns)",
            format!(
                "SELECT value AS id, value % 1000 AS bucket, CAST(value AS DOUBLE) / 7 AS ratio, \
                 concat('row-', CAST(value AS VARCHAR)) AS label, \
                 to_timestamp_micros(value * 1000) AS ts FROM range({rows})"
            ),
        ),
    ];

    println!(
        "\n| result | path | rows | MB (Arrow) | median seconds | rows/s | MB/s | vs Postgres wire |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for (name, sql) in &results {
        // Warm up both paths once (caches, connections).
        let (rows_seen, bytes) = over_flight(&mut flight, sql).await?;
        let pg_rows = over_pg(&pg, sql).await?;
        if pg_rows != rows_seen {
            bail!("{name}: Flight SQL returned {rows_seen} rows, Postgres wire {pg_rows}");
        }
        let (mut flight_times, mut pg_times) = (Vec::new(), Vec::new());
        for _ in 0..repeat {
            let (_, took) = timed(over_flight(&mut flight, sql)).await?;
            flight_times.push(took);
            let (_, took) = timed(over_pg(&pg, sql)).await?;
            pg_times.push(took);
        }
        let pg_time = median(&mut pg_times);
        let flight_time = median(&mut flight_times);
        for (path, took) in [("Postgres wire", pg_time), ("Flight SQL", flight_time)] {
            print_row(name, path, rows_seen, bytes, took, pg_time);
        }
    }
    println!("\ngateway peak RSS: {:.0} MiB", gateway.peak_rss_mib()?);
    Ok(())
}

fn print_row(name: &str, path: &str, rows: u64, bytes: u64, took: Duration, baseline: Duration) {
    let seconds = took.as_secs_f64();
    let mb = bytes as f64 / 1e6;
    println!(
        "| {name} | {path} | {rows} | {mb:.0} | {seconds:.2} | {:.0} | {:.1} | {:.2}x |",
        rows as f64 / seconds,
        mb / seconds,
        baseline.as_secs_f64() / seconds
    );
}

/// Runs `sql` over Flight SQL, decoding every batch; the rows and their
/// size in Arrow memory.
async fn over_flight(
    client: &mut FlightSqlServiceClient<tonic::transport::Channel>,
    sql: &str,
) -> Result<(u64, u64)> {
    let info = client.execute(sql.to_string(), None).await?;
    let (mut rows, mut bytes) = (0u64, 0u64);
    for endpoint in info.endpoint {
        let ticket = endpoint.ticket.context("an endpoint without a ticket")?;
        let mut stream = client.do_get(ticket).await?;
        while let Some(batch) = stream.try_next().await? {
            rows += batch.num_rows() as u64;
            bytes += batch.get_array_memory_size() as u64;
        }
    }
    Ok((rows, bytes))
}

/// Any value, as its bytes on the wire: the least a client can do with it.
struct Raw;

impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        std::hint::black_box(raw);
        Ok(Raw)
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// Runs `sql` over the Postgres wire protocol (binary results, streamed),
/// touching every value; the rows.
async fn over_pg(client: &tokio_postgres::Client, sql: &str) -> Result<u64> {
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 0] = [];
    let stream = client.query_raw(sql, params).await?;
    futures::pin_mut!(stream);
    let mut rows = 0u64;
    while let Some(row) = stream.next().await {
        let row = row?;
        for i in 0..row.len() {
            let _: Option<Raw> = row.try_get(i)?;
        }
        rows += 1;
    }
    Ok(rows)
}
