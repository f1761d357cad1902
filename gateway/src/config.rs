//! Configuration, layered: built-in defaults, then a TOML file, then
//! `SMACKQL_*` environment variables, then command-line flags.
//!
//! The file is read into [`Config`] (unknown keys are errors). Environment
//! variables and flags are both handled by clap on [`ServeArgs`], where a
//! flag beats its variable, and are laid over the file's values. The result
//! is validated once by [`Config::validate`] and then passed down explicitly.
//!
//! ```toml
//! [pg]
//! listen = "0.0.0.0:5433"
//!
//! [flight]
//! listen = "0.0.0.0:50051"
//!
//! [cassandra]
//! contact_points = ["10.0.0.1:9042", "10.0.0.2:9042"]
//! request_timeout = "10s"
//!
//! [[auth.users]]
//! name = "analyst"
//! password = "change-me"
//!
//! [tls]
//! cert = "/etc/smackql/server.crt"
//! key = "/etc/smackql/server.key"
//! ```

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Everything the gateway is configured with.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The Postgres wire front end.
    pub pg: PgConfig,
    /// The Arrow Flight SQL front end.
    pub flight: FlightConfig,
    /// The Cassandra cluster.
    pub cassandra: CassandraConfig,
    /// The Kafka cluster.
    pub kafka: KafkaConfig,
    /// Declared tables.
    pub catalog: CatalogConfig,
    /// Maintenance of materialized views.
    pub views: ViewsConfig,
    /// Who may connect.
    pub auth: AuthConfig,
    /// TLS for the front ends; plaintext when absent.
    pub tls: Option<TlsConfig>,
}

/// The Postgres wire front end.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PgConfig {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Connections beyond this many are refused.
    pub max_connections: usize,
    /// How long shutdown waits for open connections before closing them.
    #[serde(deserialize_with = "duration")]
    pub shutdown_grace: Duration,
}

impl Default for PgConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 5433)),
            max_connections: 256,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// The Arrow Flight SQL front end.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlightConfig {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// A session (a bearer token from `Handshake`) unused this long ends.
    #[serde(deserialize_with = "duration")]
    pub session_idle_timeout: Duration,
    /// The most sessions kept at once; beyond it the least recently used
    /// one ends.
    pub max_sessions: usize,
    /// The most prepared statements kept at once, over all sessions;
    /// beyond it the least recently used one is closed.
    pub max_prepared_statements: usize,
}

impl Default for FlightConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            session_idle_timeout: Duration::from_secs(3600),
            max_sessions: 4096,
            max_prepared_statements: 65536,
        }
    }
}

/// How to reach Cassandra and read from it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CassandraConfig {
    /// `host:port` of one or more nodes.
    pub contact_points: Vec<String>,
    /// User for Cassandra's password authenticator.
    pub username: Option<String>,
    /// Password for `username`.
    pub password: Option<Secret>,
    /// How long opening a connection may take.
    #[serde(deserialize_with = "duration")]
    pub connect_timeout: Duration,
    /// How long one request may take.
    #[serde(deserialize_with = "duration")]
    pub request_timeout: Duration,
    /// Rows per page of a scan.
    pub page_size: i32,
    /// How often keyspaces and tables are re-read from the cluster.
    #[serde(deserialize_with = "duration")]
    pub metadata_refresh_interval: Duration,
    /// The scale CQL `decimal` columns are read at.
    pub decimal_scale: i8,
    /// Token ranges a full scan is split into. Unset: one per
    /// `scan_split_mb` of the table's size as Cassandra estimates it.
    pub scan_splits: Option<usize>,
    /// MiB of table data per token range, when `scan_splits` is unset.
    pub scan_split_mb: u64,
    /// Token ranges one full scan reads at once.
    pub scan_parallelism: usize,
    /// Write requests one `INSERT` keeps in flight.
    pub write_parallelism: usize,
    /// The most partitions one scan reads by key (from filters or a join).
    pub max_partition_reads: usize,
    /// Whether `DROP TABLE` may drop Cassandra tables (and their data).
    pub allow_drop_table: bool,
    /// Request options of single tables, by `keyspace.table`.
    pub tables: HashMap<String, CassandraTableConfig>,
}

/// How requests to one Cassandra table are sent, unless a session says
/// otherwise (`SET cassandra.consistency`, `SET cassandra.request_timeout_ms`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CassandraTableConfig {
    /// Consistency level: ONE, LOCAL_QUORUM, ...
    pub consistency: Option<String>,
    /// How long one request to the table may take.
    #[serde(deserialize_with = "optional_duration")]
    pub request_timeout: Option<Duration>,
}

impl CassandraTableConfig {
    /// The provider's request options, or why the consistency is invalid.
    pub fn request_options(&self) -> Result<smackql_cassandra::RequestOptions, String> {
        Ok(smackql_cassandra::RequestOptions {
            consistency: match &self.consistency {
                Some(level) => smackql_cassandra::parse_consistency(level)?,
                None => None,
            },
            timeout: self.request_timeout,
        })
    }
}

impl Default for CassandraConfig {
    /// The provider's own defaults.
    fn default() -> Self {
        let d = smackql_cassandra::CassandraOptions::default();
        Self {
            contact_points: d.contact_points,
            username: d.username,
            password: d.password.map(Secret::new),
            connect_timeout: d.connect_timeout,
            request_timeout: d.request_timeout,
            page_size: d.page_size,
            metadata_refresh_interval: d.metadata_refresh_interval,
            decimal_scale: d.types.decimal_scale,
            scan_splits: d.scan_splits,
            scan_split_mb: d.scan_split_bytes >> 20,
            scan_parallelism: d.scan_parallelism,
            write_parallelism: d.write_parallelism,
            max_partition_reads: d.max_partition_reads,
            allow_drop_table: false,
            tables: HashMap::new(),
        }
    }
}

/// How to reach Kafka.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Bootstrap servers, `host:port`.
    pub bootstrap_servers: Vec<String>,
    /// Further librdkafka client properties, such as `security.protocol`
    /// or `sasl.mechanisms`.
    pub properties: std::collections::BTreeMap<String, String>,
    /// Partitions of one topic read at once by a scan, each by its own
    /// consumer; a topic with more partitions deals them out evenly.
    pub scan_parallelism: usize,
    /// The base URL of a Confluent-compatible schema registry, such as
    /// `http://127.0.0.1:8081`, for tables with `'avro.confluent' 'true'`.
    pub schema_registry_url: Option<String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            bootstrap_servers: vec!["127.0.0.1:9092".to_string()],
            properties: Default::default(),
            scan_parallelism: 16,
            schema_registry_url: None,
        }
    }
}

/// Where declared tables are kept (`CREATE EXTERNAL TABLE`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogConfig {
    /// Replicas of keyspace `smackql_meta`, which holds the definitions,
    /// when smackql creates it. Create the keyspace beforehand to choose
    /// another replication strategy.
    pub replication_factor: u32,
    /// How often definitions made through other gateways are read.
    #[serde(deserialize_with = "duration")]
    pub refresh_interval: Duration,
}

impl Default for CatalogConfig {
    fn default() -> Self {
        Self {
            replication_factor: 1,
            refresh_interval: Duration::from_secs(5),
        }
    }
}

/// Maintenance of materialized views.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ViewsConfig {
    /// Whether this gateway maintains views (it still answers queries on
    /// them when not).
    pub maintain: bool,
    /// How often an idle view looks for new events.
    #[serde(deserialize_with = "duration")]
    pub poll_interval: Duration,
    /// The most source offsets one batch of one Kafka partition covers.
    pub max_batch_messages: i64,
    /// The most source offsets per second one Kafka partition of a view
    /// folds in, so a backfill cannot overload Cassandra; unlimited when
    /// unset.
    pub max_rate_per_partition: Option<f64>,
    /// How long a gateway owns a view without renewing its lease; another
    /// gateway takes a view over this long after its owner dies.
    #[serde(deserialize_with = "duration")]
    pub lease_ttl: Duration,
}

impl Default for ViewsConfig {
    fn default() -> Self {
        Self {
            maintain: true,
            poll_interval: Duration::from_millis(200),
            max_batch_messages: 200_000,
            max_rate_per_partition: None,
            lease_ttl: Duration::from_secs(10),
        }
    }
}

/// Who may connect.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Users allowed in with a password (SCRAM-SHA-256). With none, every
    /// client is trusted, which is only allowed on a loopback address unless
    /// `insecure_no_auth` is set.
    pub users: Vec<User>,
    /// Allows trust authentication on a non-loopback address.
    pub insecure_no_auth: bool,
}

/// A user and password.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// The user name clients log in with.
    pub name: String,
    /// The password.
    pub password: Secret,
}

/// A server certificate and key, both PEM.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Certificate chain file.
    pub cert: PathBuf,
    /// Private key file (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// A secret that never shows in logs or `Debug` output.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call only where it is used.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for [`Config`].
    #[error("invalid config file {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line.
        source: toml::de::Error,
    },
    /// A value, or a combination of values, is not allowed.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Reads a TOML file over the defaults.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text).map_err(|source| ConfigError::Parse {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Parses TOML over the defaults.
    pub fn from_toml(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    /// Checks what serde cannot: combinations that would be unsafe or
    /// cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        for listen in [self.pg.listen, self.flight.listen] {
            if self.auth.users.is_empty()
                && !listen.ip().is_loopback()
                && !self.auth.insecure_no_auth
            {
                return invalid(format!(
                    "listening on {listen} without users would let anyone on the network in; \
                     configure [[auth.users]] (or SMACKQL_USER and SMACKQL_PASSWORD), listen on \
                     a loopback address, or pass --insecure-no-auth"
                ));
            }
        }
        for user in &self.auth.users {
            if user.name.is_empty() {
                return invalid("a user has an empty name".into());
            }
            if user.password.expose().is_empty() {
                return invalid(format!("user {} has an empty password", user.name));
            }
        }
        if self.cassandra.contact_points.is_empty() {
            return invalid("cassandra.contact_points is empty".into());
        }
        if self.cassandra.page_size <= 0 {
            return invalid("cassandra.page_size must be positive".into());
        }
        for (name, table) in &self.cassandra.tables {
            let parts: Vec<&str> = name.split('.').collect();
            if parts.len() != 2 || parts.iter().any(|p| p.is_empty()) {
                return invalid(format!(
                    "cassandra.tables key {name:?} must be keyspace.table"
                ));
            }
            table
                .request_options()
                .map_err(|e| ConfigError::Invalid(format!("cassandra.tables.{name:?}: {e}")))?;
        }
        if self.kafka.bootstrap_servers.is_empty() {
            return invalid("kafka.bootstrap_servers is empty".into());
        }
        if self.kafka.scan_parallelism == 0 {
            return invalid("kafka.scan_parallelism must be at least 1".into());
        }
        if let Some(url) = &self.kafka.schema_registry_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return invalid(format!(
                    "kafka.schema_registry_url must start with http:// or https://, not '{url}'"
                ));
            }
        }
        if self.catalog.replication_factor == 0 {
            return invalid("catalog.replication_factor must be at least 1".into());
        }
        if self.catalog.refresh_interval.is_zero() {
            return invalid("catalog.refresh_interval must be positive".into());
        }
        if !(0..=38).contains(&self.cassandra.decimal_scale) {
            return invalid("cassandra.decimal_scale must be between 0 and 38".into());
        }
        if self.cassandra.scan_splits == Some(0)
            || self.cassandra.scan_split_mb == 0
            || self.cassandra.scan_parallelism == 0
            || self.cassandra.write_parallelism == 0
            || self.cassandra.max_partition_reads == 0
        {
            return invalid(
                "cassandra.scan_splits, scan_split_mb, scan_parallelism, write_parallelism \
                 and max_partition_reads must be positive"
                    .into(),
            );
        }
        if self.flight.session_idle_timeout.is_zero()
            || self.flight.max_sessions == 0
            || self.flight.max_prepared_statements == 0
        {
            return invalid(
                "flight.session_idle_timeout, max_sessions and max_prepared_statements \
                 must be positive"
                    .into(),
            );
        }
        if self.pg.max_connections == 0 {
            return invalid("pg.max_connections must be positive".into());
        }
        if self
            .views
            .max_rate_per_partition
            .is_some_and(|rate| !(rate.is_finite() && rate > 0.0))
        {
            return invalid("views.max_rate_per_partition must be a positive number".into());
        }
        Ok(())
    }
}

/// Parses `"250ms"`, `"5s"`, `"2m"`, `"1h"`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid duration {text:?}: expected e.g. 500ms, 5s, 2m"))?;
    let seconds = match unit.trim() {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        other => return Err(format!("invalid duration unit {other:?} in {text:?}")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("invalid duration {text:?}: {e}"))
}

fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Seconds(u64),
        Text(String),
    }
    match Raw::deserialize(deserializer)? {
        Raw::Seconds(s) => Ok(Duration::from_secs(s)),
        Raw::Text(t) => parse_duration(&t).map_err(serde::de::Error::custom),
    }
}

fn optional_duration<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    duration(deserializer).map(Some)
}

/// Flags of `smackql serve`. Each also reads an environment variable; a flag
/// given on the command line wins over its variable, and both win over the
/// config file.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// TOML config file.
    #[arg(long, env = "SMACKQL_CONFIG")]
    pub config: Option<PathBuf>,
    /// Postgres wire listen address.
    #[arg(long, env = "SMACKQL_PG_LISTEN")]
    pub pg_listen: Option<SocketAddr>,
    /// Arrow Flight SQL listen address.
    #[arg(long, env = "SMACKQL_FLIGHT_LISTEN")]
    pub flight_listen: Option<SocketAddr>,
    /// Cassandra contact points, comma-separated `host:port`.
    #[arg(long, env = "SMACKQL_CASSANDRA", value_delimiter = ',')]
    pub cassandra: Option<Vec<String>>,
    /// Kafka bootstrap servers, comma-separated `host:port`.
    #[arg(long, env = "SMACKQL_KAFKA", value_delimiter = ',')]
    pub kafka: Option<Vec<String>>,
    /// Base URL of a Confluent-compatible schema registry.
    #[arg(long, env = "SMACKQL_SCHEMA_REGISTRY")]
    pub schema_registry: Option<String>,
    /// Adds a user who logs in with SMACKQL_PASSWORD.
    #[arg(long, env = "SMACKQL_USER")]
    pub user: Option<String>,
    /// The password of --user; only read from the environment, so it never
    /// shows in the process list.
    #[arg(skip)]
    pub password: Option<Secret>,
    /// TLS certificate chain (PEM).
    #[arg(long, env = "SMACKQL_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, env = "SMACKQL_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Trust every client even on a non-loopback address.
    #[arg(long, env = "SMACKQL_INSECURE_NO_AUTH")]
    pub insecure_no_auth: bool,
    /// Loads the demo data set (campaigns and two months of ad events)
    /// before serving, unless it is loaded already.
    #[arg(long, env = "SMACKQL_DEMO")]
    pub demo: bool,
    /// The keyspace the demo loads into.
    #[arg(long, env = "SMACKQL_DEMO_KEYSPACE", default_value = "ks")]
    pub demo_keyspace: String,
    /// Ad events the demo loads.
    #[arg(long, env = "SMACKQL_DEMO_ROWS", default_value_t = crate::demo::DEFAULT_EVENT_ROWS)]
    pub demo_rows: u64,
}

impl ServeArgs {
    /// Builds the configuration: defaults, then the file, then these values.
    pub fn load(&self) -> Result<Config, ConfigError> {
        let mut config = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        self.apply(&mut config)?;
        config.validate()?;
        Ok(config)
    }

    fn apply(&self, config: &mut Config) -> Result<(), ConfigError> {
        if let Some(listen) = self.pg_listen {
            config.pg.listen = listen;
        }
        if let Some(listen) = self.flight_listen {
            config.flight.listen = listen;
        }
        if let Some(points) = &self.cassandra {
            config.cassandra.contact_points = points.clone();
        }
        if let Some(servers) = &self.kafka {
            config.kafka.bootstrap_servers = servers.clone();
        }
        if let Some(url) = &self.schema_registry {
            config.kafka.schema_registry_url = Some(url.clone());
        }
        match (&self.user, &self.password) {
            (Some(name), Some(password)) => config.auth.users.push(User {
                name: name.clone(),
                password: password.clone(),
            }),
            (Some(name), None) => {
                return Err(ConfigError::Invalid(format!(
                    "user {name} is given without a password: set SMACKQL_PASSWORD"
                )))
            }
            (None, Some(_)) => {
                return Err(ConfigError::Invalid(
                    "SMACKQL_PASSWORD is set without SMACKQL_USER".into(),
                ))
            }
            (None, None) => {}
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            config.tls = Some(TlsConfig {
                cert: cert.clone(),
                key: key.clone(),
            });
        }
        if self.insecure_no_auth {
            config.auth.insecure_no_auth = true;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_listen_on_loopback() {
        let config = Config::default();
        assert_eq!(config.pg.listen, "127.0.0.1:5433".parse().unwrap());
        assert_eq!(config.cassandra.contact_points, vec!["127.0.0.1:9042"]);
        assert_eq!(config.kafka.bootstrap_servers, vec!["127.0.0.1:9092"]);
        config.validate().expect("defaults are valid");
    }

    #[test]
    fn file_overrides_defaults_and_rejects_unknown_keys() {
        let config = Config::from_toml(
            "[cassandra]\ncontact_points = [\"a:1\"]\nrequest_timeout = \"250ms\"\n",
        )
        .unwrap();
        assert_eq!(config.cassandra.contact_points, vec!["a:1"]);
        assert_eq!(config.cassandra.request_timeout, Duration::from_millis(250));
        assert_eq!(config.cassandra.page_size, 5000);

        let err = Config::from_toml("[cassandra]\ncontact_pionts = []\n").unwrap_err();
        assert!(err.to_string().contains("contact_pionts"), "{err}");
    }

    #[test]
    fn table_options_are_checked() {
        let config = Config::from_toml(
            "[cassandra.tables.\"ks.events\"]\nconsistency = \"local_one\"\nrequest_timeout = \"2s\"\n",
        )
        .unwrap();
        config.validate().unwrap();
        let options = config.cassandra.tables["ks.events"]
            .request_options()
            .unwrap();
        assert_eq!(options.timeout, Some(Duration::from_secs(2)));
        for bad in [
            "[cassandra.tables.\"ks.events\"]\nconsistency = \"MOST\"\n",
            "[cassandra.tables.events]\nconsistency = \"ONE\"\n",
        ] {
            let err = Config::from_toml(bad).unwrap().validate().unwrap_err();
            assert!(err.to_string().contains("cassandra.tables"), "{err}");
        }
        assert!(Config::from_toml("[cassandra.tables.\"ks.t\"]\nconsistancy = \"ONE\"\n").is_err());
    }

    #[test]
    fn flags_override_the_file() {
        let args = ServeArgs {
            pg_listen: Some("127.0.0.1:0".parse().unwrap()),
            cassandra: Some(vec!["c:9042".into()]),
            ..Default::default()
        };
        let mut config = Config::from_toml("[pg]\nlisten = \"127.0.0.1:7000\"\n").unwrap();
        args.apply(&mut config).unwrap();
        assert_eq!(config.pg.listen.port(), 0);
        assert_eq!(config.cassandra.contact_points, vec!["c:9042"]);
    }

    #[test]
    fn refuses_trust_auth_off_loopback() {
        let mut config = Config::default();
        config.pg.listen = "0.0.0.0:5433".parse().unwrap();
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("--insecure-no-auth"), "{err}");
        let mut flight_open = Config::default();
        flight_open.flight.listen = "0.0.0.0:50051".parse().unwrap();
        let err = flight_open.validate().unwrap_err().to_string();
        assert!(err.contains("0.0.0.0:50051"), "{err}");

        config.auth.insecure_no_auth = true;
        config.validate().expect("explicitly insecure");

        config.auth.insecure_no_auth = false;
        config.auth.users.push(User {
            name: "a".into(),
            password: Secret::new("b"),
        });
        config.validate().expect("users configured");
    }

    #[test]
    fn user_needs_a_password() {
        let args = ServeArgs {
            user: Some("alice".into()),
            ..Default::default()
        };
        assert!(args.apply(&mut Config::default()).is_err());
    }

    #[test]
    fn secrets_are_redacted() {
        let user = User {
            name: "a".into(),
            password: Secret::new("hunter2"),
        };
        assert!(!format!("{user:?}").contains("hunter2"));
    }

    #[test]
    fn a_view_rate_limit_must_be_positive() {
        let config = Config::from_toml("[views]\nmax_rate_per_partition = 2500\n").unwrap();
        config.validate().unwrap();
        assert_eq!(config.views.max_rate_per_partition, Some(2500.0));
        for bad in ["0", "-1", "nan"] {
            let toml = format!("[views]\nmax_rate_per_partition = {bad}\n");
            let err = Config::from_toml(&toml).unwrap().validate().unwrap_err();
            assert!(err.to_string().contains("max_rate_per_partition"), "{err}");
        }
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("10").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
    }
}
