//! The `smackql` binary as users run it: flags, start-up checks, TLS,
//! signals, and the README's run command.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_smackql");

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .expect("the gateway crate sits in the repository")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn psql(port: u16, extra: &[&str], sql: &str) -> Output {
    Command::new("psql")
        .args(["-X", "-At", "-h", "127.0.0.1", "-p", &port.to_string()])
        .args(["-U", "postgres", "-d", "smackql"])
        .args(extra)
        .args(["-c", sql])
        .env("PGCONNECT_TIMEOUT", "5")
        .output()
        .expect("psql runs (install postgresql-client)")
}

/// Polls `select 1` until it answers, or panics with the server's output.
fn wait_for_select_1(port: u16, child: &mut Child, within: Duration, extra: &[&str]) {
    let deadline = Instant::now() + within;
    loop {
        let out = psql(port, extra, "select 1");
        if out.status.success() {
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the server exited with {status} before answering");
        }
        assert!(
            Instant::now() < deadline,
            "no answer within {within:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A server process that is killed if a test fails before stopping it, so
/// no gateway outlives its test.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Sends SIGTERM and expects a clean exit.
fn terminate(mut server: Server) {
    let child = &mut server.0;
    let pid = child.id().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "exit after SIGTERM: {status}");
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("no exit within 30s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn refuses_to_trust_a_network_address() {
    let out = Command::new(BIN)
        .args(["serve", "--pg-listen", "0.0.0.0:0"])
        .env_remove("SMACKQL_USER")
        .env_remove("SMACKQL_INSECURE_NO_AUTH")
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--insecure-no-auth"), "{stderr}");
}

#[test]
fn rejects_unknown_config_keys_by_name() {
    let dir = std::env::temp_dir().join(format!("smackql-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    std::fs::write(&file, "[pg]\nlisten_addr = \"127.0.0.1:0\"\n").unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&file)
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("listen_addr"), "{stderr}");
}

#[test]
fn unusable_tls_refuses_to_start() {
    let out = Command::new(BIN)
        .args(["serve", "--pg-listen", "127.0.0.1:0"])
        .args([
            "--tls-cert",
            "/nonexistent/cert.pem",
            "--tls-key",
            "/nonexistent/key.pem",
        ])
        .output()
        .expect("runs");
    assert!(!out.status.success(), "must not serve plaintext instead");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("TLS"), "{stderr}");
}

#[test]
fn serves_tls_with_a_certificate() {
    let dir = std::env::temp_dir().join(format!("smackql-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs (install openssl)");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );

    let port = free_port();
    let mut child = Command::new(BIN)
        .args(["serve", "--pg-listen", &format!("127.0.0.1:{port}")])
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .args(["--cassandra", "127.0.0.1:1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(Server)
        .expect("starts");
    wait_for_select_1(port, &mut child.0, Duration::from_secs(30), &[]);
    // sslmode=require fails unless the server negotiates TLS.
    let out = Command::new("psql")
        .args(["-X", "-At", "-c", "select 1"])
        .arg(format!(
            "host=127.0.0.1 port={port} user=postgres dbname=smackql sslmode=require"
        ))
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    terminate(child);
}

/// The README's first command: real services, the demo data, then the
/// gateway, then psql and the README's query.
#[test]
fn readme_run_command_answers_psql() {
    let port = free_port();
    // Named as the test harness names keyspaces (`prefix_pid_hex_n`), so
    // that a later run drops it if this one could not.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let keyspace = format!("cli_demo_{}_{nanos:x}_0", std::process::id());
    let mut child = Command::new(repo_root().join("docker/run-local"))
        .env("SMACKQL_BIN", BIN)
        .env("SMACKQL_PG_LISTEN", format!("127.0.0.1:{port}"))
        // A small demo in a keyspace of this test's own.
        .env("SMACKQL_DEMO_KEYSPACE", &keyspace)
        .env("SMACKQL_DEMO_ROWS", "24400")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map(Server)
        .expect("docker/run-local starts");
    // The first run may download Cassandra and Kafka from Maven Central.
    wait_for_select_1(port, &mut child.0, Duration::from_secs(600), &[]);
    let demo = DemoCleanup {
        port,
        keyspace: keyspace.clone(),
    };
    let version = psql(port, &[], "select version()");
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("PostgreSQL 16.6"));
    let tables = psql(port, &[], "\\dt");
    assert!(
        tables.status.success(),
        "{}",
        String::from_utf8_lossy(&tables.stderr)
    );
    let month = psql(
        port,
        &[],
        &format!(
            "SELECT c.name, sum(e.views) AS views \
             FROM {keyspace}.campaigns c JOIN {keyspace}.events e ON e.campaign_id = c.campaign_id \
             WHERE e.day BETWEEN DATE '2024-10-01' AND DATE '2024-10-31' \
             GROUP BY c.name ORDER BY views DESC LIMIT 10"
        ),
    );
    let out = String::from_utf8_lossy(&month.stdout);
    assert!(
        month.status.success() && out.lines().filter(|l| l.starts_with("campaign-")).count() == 10,
        "{out}{}",
        String::from_utf8_lossy(&month.stderr)
    );
    drop(demo);
    terminate(child);
}

/// Drops the demo's continuous view and Kafka table when the test ends,
/// passed or failed, so that later gateways on the same cluster do not go
/// on maintaining the view.
struct DemoCleanup {
    port: u16,
    keyspace: String,
}

impl Drop for DemoCleanup {
    fn drop(&mut self) {
        let ks = &self.keyspace;
        let (kafka_table, _) = smackql::demo::kafka_names(ks);
        for sql in [
            format!(
                "DROP MATERIALIZED VIEW IF EXISTS {ks}.{} PURGE",
                smackql::demo::VIEW
            ),
            format!("DROP TABLE IF EXISTS kafka.{kafka_table}"),
        ] {
            let out = psql(self.port, &[], &sql);
            if !out.status.success() {
                eprintln!("{sql}: {}", String::from_utf8_lossy(&out.stderr));
            }
        }
    }
}
