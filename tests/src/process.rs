//! The `smackql` binary as a child process, for tests that kill it.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};
use tokio_postgres::{Client, NoTls};

use crate::services;

/// The `smackql` binary cargo built beside the running test.
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/<test> → target/<profile>/smackql
    let path = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("smackql"))
        .expect("the target directory");
    assert!(
        path.exists(),
        "{} is missing; build it with `cargo build -p smackql` (cargo test --workspace does)",
        path.display()
    );
    path
}

/// A free loopback port (free when asked; good enough for a test).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A gateway process over the test services.
#[derive(Debug)]
pub struct GatewayProcess {
    /// Where its Postgres front end listens.
    pub pg_addr: SocketAddr,
    child: Child,
}

impl GatewayProcess {
    /// Starts `smackql serve` with the config file `config`, logging to
    /// `log`, and waits until it answers queries.
    pub async fn start(config: &Path, log: &Path) -> Self {
        let services = services::ensure().await;
        let pg_addr: SocketAddr = format!("127.0.0.1:{}", free_port())
            .parse()
            .expect("address");
        let flight = format!("127.0.0.1:{}", free_port());
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("the gateway's log file");
        let child = Command::new(binary())
            .arg("serve")
            .arg("--config")
            .arg(config)
            .arg("--pg-listen")
            .arg(pg_addr.to_string())
            .arg("--flight-listen")
            .arg(flight)
            .arg("--cassandra")
            .arg(&services.cassandra)
            .arg("--kafka")
            .arg(&services.kafka)
            .env("SMACKQL_LOG", "info,scylla=warn")
            .stdout(Stdio::from(log_file.try_clone().expect("log")))
            .stderr(Stdio::from(log_file))
            .kill_on_drop(true)
            .spawn()
            .expect("smackql starts");
        let mut process = Self { pg_addr, child };
        let started = Instant::now();
        loop {
            if process.try_client().await.is_some() {
                return process;
            }
            if let Ok(Some(status)) = process.child.try_wait() {
                panic!("smackql exited with {status}; see {}", log.display());
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "smackql did not answer within 60 s; see {}",
                log.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn try_client(&self) -> Option<Client> {
        let conninfo = format!(
            "host={} port={} user=smackql dbname=smackql",
            self.pg_addr.ip(),
            self.pg_addr.port()
        );
        let (client, connection) = tokio_postgres::connect(&conninfo, NoTls).await.ok()?;
        tokio::spawn(connection);
        Some(client)
    }

    /// A client of it.
    pub async fn client(&self) -> Client {
        self.try_client()
            .await
            .expect("the gateway accepts clients")
    }

    /// Freezes it (SIGSTOP), so that what it has written can be inspected
    /// before deciding to kill it there.
    pub async fn pause(&self) {
        self.signal("-STOP").await;
    }

    /// Lets it run again (SIGCONT).
    pub async fn resume(&self) {
        self.signal("-CONT").await;
    }

    async fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("the gateway is running");
        let status = Command::new("kill")
            .arg(signal)
            .arg(pid.to_string())
            .status()
            .await
            .expect("kill runs");
        assert!(status.success(), "kill {signal} {pid} failed");
    }

    /// Kills it with SIGKILL, as a crash would, and waits until it is gone.
    pub async fn kill(mut self) {
        self.child.start_kill().expect("SIGKILL");
        self.child
            .wait()
            .await
            .expect("the killed gateway is reaped");
    }
}
