//! What the benchmarks share: settings from the environment, timing, and a
//! release gateway run as its own process.

pub mod kafka;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// A release gateway in its own process; killed when dropped.
pub struct Gateway(pub Child, u16);

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The number in environment variable `name`, or `default`.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> Result<T> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .map_err(|_| anyhow::anyhow!("{name}={v} is not a number")),
        Err(_) => Ok(default),
    }
}

/// The median of `times` (sorts them).
pub fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// The output of `work` and how long it took.
pub async fn timed<T>(work: impl std::future::Future<Output = Result<T>>) -> Result<(T, Duration)> {
    let started = Instant::now();
    let out = work.await?;
    Ok((out, started.elapsed()))
}

/// The p50 and p99 of `samples`, in milliseconds (sorts them).
pub fn percentiles(samples: &mut [Duration]) -> (f64, f64) {
    samples.sort_unstable();
    let at = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples[i].as_secs_f64() * 1000.0
    };
    (at(0.50), at(0.99))
}

/// Prints one table row per path of `query`: `items` processed in each
/// path's time, and its rate against the first path's (the baseline).
pub fn print_rates(query: &str, items: u64, paths: &[(&str, Duration)]) {
    let rate = |d: Duration| items as f64 / d.as_secs_f64();
    let Some((_, baseline)) = paths.first() else {
        return;
    };
    for (path, d) in paths {
        println!(
            "| {query} | {path} | {items} | {:.2} | {:.0} | {:.2}x |",
            d.as_secs_f64(),
            rate(*d),
            rate(*d) / rate(*baseline)
        );
    }
}

/// A local port free right now.
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Connects to the gateway on `port`, waiting up to a minute for it to
/// start; fails at once if it exits.
pub async fn connect(port: u16, gateway: &mut Gateway) -> Result<tokio_postgres::Client> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let conninfo = format!("host=127.0.0.1 port={port} user=bench dbname=smackql");
        match tokio_postgres::connect(&conninfo, tokio_postgres::NoTls).await {
            Ok((client, connection)) => {
                tokio::spawn(connection);
                return Ok(client);
            }
            Err(err) => {
                if let Some(status) = gateway.0.try_wait()? {
                    bail!("the gateway exited with {status}");
                }
                if Instant::now() > deadline {
                    bail!("the gateway does not answer: {err}");
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// Drops the continuous view that loading the demo into `keyspace` defines.
/// A benchmark that only reads the demo's tables does not measure it, and
/// every gateway on the cluster, in later runs too, would go on maintaining
/// it.
pub async fn drop_demo_view(client: &tokio_postgres::Client, keyspace: &str) -> Result<()> {
    let view = smackql::demo::VIEW;
    client
        .batch_execute(&format!(
            "DROP MATERIALIZED VIEW IF EXISTS {keyspace}.{view} PURGE"
        ))
        .await
        .with_context(|| format!("dropping the demo's view {keyspace}.{view}"))
}

/// The views on the cluster other than `mine` (`schema.name`) whose
/// maintenance is not waiting for a missing table: work that a gateway
/// started by a benchmark does beside what it measures.
pub async fn other_views(client: &tokio_postgres::Client, mine: &str) -> Result<Vec<String>> {
    let rows = client
        .query(
            "SELECT DISTINCT schema_name || '.' || view_name FROM system.materialized_views \
             WHERE last_error IS NULL OR last_error NOT LIKE '%is missing%'",
            &[],
        )
        .await
        .context("listing the cluster's materialized views")?;
    Ok(rows
        .iter()
        .map(|row| row.get::<_, String>(0))
        .filter(|name| name != mine)
        .collect())
}

/// The peak resident memory (VmHWM) of process `pid`, in MiB.
pub fn peak_rss_mib(pid: u32) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .context("no VmHWM in /proc status")?;
    let kib: f64 = line
        .split_whitespace()
        .nth(1)
        .context("VmHWM has no value")?
        .parse()?;
    Ok(kib / 1024.0)
}

impl Gateway {
    /// Starts the release binary `SMACKQL_BIN` on a free port, with `args`
    /// after `serve`, and connects to it. When `BENCH_GATEWAY_LOG` is set, it
    /// logs to standard error at that level (`SMACKQL_LOG` syntax).
    pub async fn start(args: &[&str]) -> Result<(Self, tokio_postgres::Client)> {
        let bin = std::env::var("SMACKQL_BIN").context("set SMACKQL_BIN to a release smackql")?;
        let port = free_port()?;
        let flight_port = free_port()?;
        let mut gateway = Gateway(
            Command::new(&bin)
                .args(["serve", "--pg-listen", &format!("127.0.0.1:{port}")])
                .args(["--flight-listen", &format!("127.0.0.1:{flight_port}")])
                .args(args)
                .env(
                    "SMACKQL_LOG",
                    std::env::var("BENCH_GATEWAY_LOG").unwrap_or_else(|_| "warn".into()),
                )
                .stdout(log_output()?)
                .spawn()
                .with_context(|| format!("starting {bin}"))?,
            flight_port,
        );
        let client = connect(port, &mut gateway).await?;
        Ok((gateway, client))
    }

    /// The port its Flight SQL front end listens on.
    pub fn flight_port(&self) -> u16 {
        self.1
    }

    /// Its peak resident memory so far (VmHWM), in MiB.
    pub fn peak_rss_mib(&self) -> Result<f64> {
        peak_rss_mib(self.0.id())
    }

    /// The CPU time it has used so far, user and system, in seconds.
    pub fn cpu_seconds(&self) -> Result<f64> {
        cpu_seconds(self.0.id())
    }
}

/// Where a gateway's log goes: standard error when `BENCH_GATEWAY_LOG` asks
/// for one, nowhere otherwise.
fn log_output() -> Result<Stdio> {
    if std::env::var_os("BENCH_GATEWAY_LOG").is_none() {
        return Ok(Stdio::null());
    }
    use std::os::fd::AsFd;
    Ok(Stdio::from(std::io::stderr().as_fd().try_clone_to_owned()?))
}

/// The CPU time process `pid` has used, user and system, in seconds.
pub fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name, in parentheses, may hold spaces: count from after it.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .context("no command name in /proc stat")?
        .1
        .split_whitespace()
        .collect();
    // utime and stime are fields 14 and 15 of the whole line, in clock ticks.
    let ticks = |i: usize| -> Result<f64> {
        Ok(fields
            .get(i)
            .context("a short /proc stat")?
            .parse::<f64>()?)
    };
    let hz: f64 = String::from_utf8(
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .context("getconf CLK_TCK")?
            .stdout,
    )?
    .trim()
    .parse()?;
    Ok((ticks(11)? + ticks(12)?) / hz.max(1.0))
}
