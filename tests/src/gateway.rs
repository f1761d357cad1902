//! An in-process gateway on port 0, and clients for it.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Output;

use std::sync::Arc;

use smackql::config::{Config, Secret, User};
use smackql::session::SessionFactory;
use smackql::sql::SqlRunner;
use smackql::Application;
use tokio::task::JoinHandle;
use tokio_postgres::{Client, NoTls};
use tokio_util::sync::CancellationToken;

use crate::services;

/// A running gateway; stops when dropped.
#[derive(Debug)]
pub struct TestGateway {
    /// Where its Postgres front end listens.
    pub pg_addr: SocketAddr,
    /// Where its Flight SQL front end listens.
    pub flight_addr: SocketAddr,
    /// Its sessions, for running SQL in-process.
    pub sessions: Arc<SessionFactory>,
    /// Its in-process SQL runner (Cassandra DDL included).
    pub sql: SqlRunner,
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl TestGateway {
    /// A gateway over the test services, with trust authentication.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A gateway over the test services, with `adjust` applied to its config.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let services = services::ensure().await;
        let mut config = Config::default();
        config.pg.listen = "127.0.0.1:0".parse().expect("address");
        config.flight.listen = "127.0.0.1:0".parse().expect("address");
        config.cassandra.contact_points = vec![services.cassandra.clone()];
        config.kafka.bootstrap_servers = vec![services.kafka.clone()];
        adjust(&mut config);
        config.validate().expect("test config is valid");
        let app = Application::build(config).await.expect("gateway starts");
        let pg_addr = app.pg_addr();
        let flight_addr = app.flight_addr();
        let sessions = app.sessions();
        let sql = app.sql().clone();
        let stop = CancellationToken::new();
        let task = tokio::spawn(app.run_until_stopped(stop.clone()));
        Self {
            pg_addr,
            flight_addr,
            sessions,
            sql,
            stop,
            task: Some(task),
        }
    }

    /// Adds a password user to a config.
    pub fn with_user(config: &mut Config, name: &str, password: &str) {
        config.auth.users.push(User {
            name: name.to_string(),
            password: Secret::new(password),
        });
    }

    /// A libpq connection string for `user`.
    pub fn conninfo(&self, user: &str, password: Option<&str>) -> String {
        let mut s = format!(
            "host={} port={} user={user} dbname=smackql",
            self.pg_addr.ip(),
            self.pg_addr.port()
        );
        if let Some(p) = password {
            s.push_str(&format!(" password={p}"));
        }
        s
    }

    /// A connected client, as user `postgres`.
    pub async fn client(&self) -> Client {
        self.try_client("postgres", None)
            .await
            .expect("connects to the gateway")
    }

    /// Connects as `user`, returning the error if the gateway refuses.
    pub async fn try_client(
        &self,
        user: &str,
        password: Option<&str>,
    ) -> Result<Client, tokio_postgres::Error> {
        let (client, connection) =
            tokio_postgres::connect(&self.conninfo(user, password), NoTls).await?;
        tokio::spawn(connection);
        Ok(client)
    }

    /// A Flight SQL client of the gateway, not logged in.
    pub async fn flight(
        &self,
    ) -> arrow_flight::sql::client::FlightSqlServiceClient<tonic::transport::Channel> {
        let channel =
            tonic::transport::Endpoint::from_shared(format!("http://{}", self.flight_addr))
                .expect("endpoint")
                .connect()
                .await
                .expect("connects to the Flight SQL front end");
        arrow_flight::sql::client::FlightSqlServiceClient::new(channel)
    }

    /// Runs the real `psql` against the gateway.
    pub async fn psql(&self, args: &[&str]) -> Output {
        psql(self.pg_addr, args).await
    }

    /// Stops the gateway and waits for it to drain.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            task.await.expect("gateway task");
        }
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Runs `psql` against `addr` with `args`, without reading any psqlrc.
pub async fn psql(addr: SocketAddr, args: &[&str]) -> Output {
    tokio::process::Command::new("psql")
        .args([
            "-X",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            &addr.ip().to_string(),
            "-p",
            &addr.port().to_string(),
            "-U",
            "postgres",
            "-d",
            "smackql",
        ])
        .args(args)
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .await
        .unwrap_or_else(|err| panic!("cannot run psql (install postgresql-client): {err}"))
}

/// Runs `psql` with a full connection string (user, password) and `args`.
pub async fn psql_conninfo(conninfo: &str, args: &[&str]) -> Output {
    tokio::process::Command::new("psql")
        .arg("-X")
        .args(args)
        .arg(conninfo)
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .await
        .unwrap_or_else(|err| panic!("cannot run psql (install postgresql-client): {err}"))
}

/// Asserts that `client` answers `select <n>`: the session is alive.
pub async fn assert_answers(client: &Client, n: i32) {
    let row = client
        .query_one(&format!("select {n}::int"), &[])
        .await
        .unwrap_or_else(|err| panic!("select {n} failed: {err}"));
    assert_eq!(row.get::<_, i32>(0), n);
}

/// The SQLSTATE of a failed query, or a panic if it did not fail in the database.
pub fn sqlstate(err: &tokio_postgres::Error) -> String {
    err.code()
        .map(|c| c.code().to_string())
        .unwrap_or_else(|| panic!("not a database error: {err:?}"))
}

/// What most Cassandra tests start from: a keyspace of their own, a driver
/// session for fixtures, and a gateway with a connected client.
pub struct KeyspaceFixture {
    /// A driver session to the test Cassandra.
    pub session: scylla::client::session::Session,
    /// The test's keyspace (created, empty).
    pub keyspace: String,
    /// The gateway.
    pub gateway: TestGateway,
    /// A client of the gateway.
    pub client: Client,
}

impl KeyspaceFixture {
    /// A fresh keyspace named after `prefix`, and a default gateway.
    pub async fn new(prefix: &str) -> Self {
        Self::with_config(prefix, |_| {}).await
    }

    /// A fresh keyspace, and a gateway with `adjust` applied to its config.
    pub async fn with_config(prefix: &str, adjust: impl FnOnce(&mut Config)) -> Self {
        let session = services::cassandra().await;
        let keyspace = crate::unique_name(prefix);
        services::create_keyspace(&session, &keyspace).await;
        let gateway = TestGateway::start_with(adjust).await;
        let client = gateway.client().await;
        Self {
            session,
            keyspace,
            gateway,
            client,
        }
    }

    /// `"keyspace".name`, for SQL.
    pub fn table(&self, name: &str) -> String {
        format!("\"{}\".{name}", self.keyspace)
    }
}

/// The server's message of a database error.
pub fn db_message(err: &tokio_postgres::Error) -> String {
    err.as_db_error()
        .map(|e| e.message().to_string())
        .unwrap_or_else(|| panic!("not a database error: {err:?}"))
}

/// `Path` of an `.slt` file under `tests/slt`.
pub fn slt_path(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("slt").join(name)
}

/// The plan text of `EXPLAIN sql`, over the wire.
pub async fn explain(client: &Client, sql: &str) -> String {
    client
        .simple_query(&format!("explain {sql}"))
        .await
        .unwrap_or_else(|err| panic!("explain {sql}: {err}"))
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(1).map(str::to_string),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The rows of `sql`, each turned into a value by `row`.
pub async fn query_rows<T>(
    client: &Client,
    sql: &str,
    row: impl Fn(&tokio_postgres::Row) -> T,
) -> Vec<T> {
    client
        .query(sql, &[])
        .await
        .unwrap_or_else(|err| panic!("{sql}: {err}"))
        .iter()
        .map(row)
        .collect()
}

/// The text of every cell of `sql`'s rows, in the simple protocol.
pub async fn text_rows(client: &Client, sql: &str) -> Vec<Vec<Option<String>>> {
    client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).map(str::to_string))
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

/// Runs `sql` (one or more statements) in the simple protocol; it must
/// succeed.
pub async fn run(client: &Client, sql: &str) {
    client
        .batch_execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
}
