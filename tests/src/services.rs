//! Real Cassandra, Kafka and schema registry for tests, started on demand.

use std::fs::OpenOptions;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use smackql_cassandra::definitions::{DEFINITIONS, MATERIALIZED_VIEW, META_KEYSPACE};
use tokio::sync::OnceCell;

/// Where the services listen.
#[derive(Debug, Clone)]
pub struct Services {
    /// Cassandra's native protocol address.
    pub cassandra: String,
    /// Kafka's bootstrap address.
    pub kafka: String,
    /// The base URL of the schema registry's Confluent-compatible API.
    pub registry: String,
}

fn env_port(name: &str, default: u16) -> u16 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn state_dir() -> PathBuf {
    std::env::var_os("SMACKQL_DEV_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into()))
                .join(".local/share/smackql/dev-services")
        })
}

/// The services, started if they are not running. Panics with the
/// script's output when they cannot be started: tests never skip.
pub async fn ensure() -> &'static Services {
    static SERVICES: OnceCell<Services> = OnceCell::const_new();
    SERVICES
        .get_or_init(|| async {
            tokio::task::spawn_blocking(start)
                .await
                .expect("the service start-up task panicked")
                .unwrap_or_else(|err| {
                    panic!("cannot start Cassandra, Kafka and the schema registry: {err:#}")
                })
        })
        .await
}

fn start() -> Result<Services> {
    let services = Services {
        cassandra: format!("127.0.0.1:{}", env_port("SMACKQL_DEV_CQL_PORT", 9042)),
        kafka: format!("127.0.0.1:{}", env_port("SMACKQL_DEV_KAFKA_PORT", 9092)),
        registry: format!(
            "http://127.0.0.1:{}/apis/ccompat/v7",
            env_port("SMACKQL_DEV_REGISTRY_PORT", 8081)
        ),
    };
    up(&[])?;
    Ok(services)
}

/// Runs `docker/dev-services up [services]`, under the harness lock.
pub fn up(services: &[&str]) -> Result<()> {
    dev_services("up", services)
}

/// Runs `docker/dev-services stop [services]`, under the harness lock.
pub fn stop(services: &[&str]) -> Result<()> {
    dev_services("stop", services)
}

fn dev_services(command: &str, services: &[&str]) -> Result<()> {
    let dir = state_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(".harness.lock"))
        .context("opening the harness lock")?;
    lock.lock().context("taking the harness lock")?;
    if command == "up" && services.is_empty() && already_up() {
        return Ok(());
    }
    let script = crate::repo_root().join("docker/dev-services");
    let output = Command::new(&script)
        .arg(command)
        .args(services)
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    if !output.status.success() {
        bail!(
            "{} {command} failed ({}):\n{}\n{}",
            script.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// Both services were started by an earlier `up`, which waited until they
/// answered, and still accept connections.
fn already_up() -> bool {
    let ports = [
        env_port("SMACKQL_DEV_CQL_PORT", 9042),
        env_port("SMACKQL_DEV_KAFKA_PORT", 9092),
    ];
    ports.iter().all(|port| {
        TcpStream::connect_timeout(
            &SocketAddr::from(([127, 0, 0, 1], *port)),
            Duration::from_millis(500),
        )
        .is_ok()
    })
}

/// A driver session to the test Cassandra, for setting up fixtures.
pub async fn cassandra() -> Session {
    let services = ensure().await;
    let session = SessionBuilder::new()
        .known_node(&services.cassandra)
        .build()
        .await
        .unwrap_or_else(|err| {
            panic!(
                "cannot connect to Cassandra at {}: {err}",
                services.cassandra
            )
        });
    static SWEPT: OnceCell<()> = OnceCell::const_new();
    SWEPT
        .get_or_init(|| drop_keyspaces_of_finished_runs(&session))
        .await;
    session
}

/// The most keyspaces one test process drops for earlier runs.
const DROPS_PER_PROCESS: usize = 200;

/// Drops keyspaces that tests of processes no longer running created
/// (named by [`crate::unique_name`]), so that the schema of the shared
/// Cassandra stays small however often the tests run. The materialized
/// views defined in them are forgotten too: otherwise every later gateway
/// on the cluster would go on watching for their tables.
async fn drop_keyspaces_of_finished_runs(session: &Session) {
    let names: Vec<String> = match session
        .query_unpaged("SELECT keyspace_name FROM system_schema.keyspaces", ())
        .await
        .ok()
        .and_then(|r| r.into_rows_result().ok())
    {
        Some(rows) => match rows.rows::<(String,)>() {
            Ok(rows) => rows.filter_map(|r| r.ok()).map(|(name,)| name).collect(),
            Err(_) => return,
        },
        None => return,
    };
    let stale = names
        .into_iter()
        .filter(|name| test_process(name).is_some_and(|pid| !process_alive(pid)))
        .take(DROPS_PER_PROCESS);
    let forget_views = format!(
        "DELETE FROM {META_KEYSPACE}.{DEFINITIONS} WHERE kind = '{MATERIALIZED_VIEW}' \
         AND schema_name = ?"
    );
    for name in stale {
        // Absent until a gateway defines something on this cluster.
        session
            .query_unpaged(forget_views.as_str(), (&name,))
            .await
            .ok();
        if let Err(err) = session
            .query_unpaged(format!("DROP KEYSPACE IF EXISTS \"{name}\""), ())
            .await
        {
            eprintln!("could not drop the keyspace {name} of an earlier test run: {err}");
            return;
        }
    }
}

/// The process that created `name`, if it is a name made by
/// [`crate::unique_name`]: `prefix_pid_hex_n`.
fn test_process(name: &str) -> Option<u32> {
    let mut parts = name.rsplitn(4, '_');
    let n = parts.next()?;
    let nanos = parts.next()?;
    let pid = parts.next()?;
    let prefix = parts.next()?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let hex = !nanos.is_empty() && nanos.bytes().all(|b| b.is_ascii_hexdigit());
    (digits(n) && hex && !prefix.is_empty())
        .then(|| pid.parse().ok())
        .flatten()
}

fn process_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Creates a keyspace of replication factor 1 for one test.
pub async fn create_keyspace(session: &Session, name: &str) {
    session
        .query_unpaged(
            format!(
                "CREATE KEYSPACE \"{name}\" WITH replication = \
                 {{'class': 'SimpleStrategy', 'replication_factor': 1}}"
            ),
            (),
        )
        .await
        .unwrap_or_else(|err| panic!("cannot create keyspace {name}: {err}"));
}

/// Runs one CQL statement for a fixture.
pub async fn cql(session: &Session, statement: &str) {
    session
        .query_unpaged(statement, ())
        .await
        .unwrap_or_else(|err| panic!("CQL failed: {statement}: {err}"));
}

/// The first row of a CQL query, for checking what Cassandra holds.
pub async fn cql_row<R>(
    session: &Session,
    statement: &str,
    values: impl scylla::serialize::row::SerializeRow,
) -> R
where
    R: for<'f, 'm> scylla::deserialize::row::DeserializeRow<'f, 'm>,
{
    session
        .query_unpaged(statement, values)
        .await
        .unwrap_or_else(|err| panic!("CQL failed: {statement}: {err}"))
        .into_rows_result()
        .unwrap_or_else(|err| panic!("CQL returned no rows: {statement}: {err}"))
        .first_row::<R>()
        .unwrap_or_else(|err| panic!("CQL returned no such row: {statement}: {err}"))
}

#[cfg(test)]
mod tests {
    use super::test_process;

    #[test]
    fn recognises_the_names_tests_make() {
        assert_eq!(test_process("views_24162_1de7cd38_63"), Some(24162));
        assert_eq!(
            test_process("views_manual_bad_24162_15add04d_72"),
            Some(24162)
        );
        assert_eq!(
            test_process(&crate::unique_name("ks")),
            Some(std::process::id())
        );
        assert_eq!(test_process("demo"), None);
        assert_eq!(test_process("bench_mv"), None);
        assert_eq!(test_process("cli_demo_11234"), None);
        assert_eq!(test_process("my_app_2024_cafe_x"), None);
    }
}
