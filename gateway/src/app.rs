//! The application: every front end and background job of one gateway,
//! assembled from a validated [`Config`].
//!
//! [`Application::build`] binds the listeners (port 0 picks a free one, which
//! tests use) but connects to nothing: Cassandra and Kafka may be down at
//! start-up, and queries that need them fail with a clear error until they
//! are back. [`Application::run_until_stopped`] serves until the token fires.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use datafusion::catalog::{CatalogProvider, MemorySchemaProvider, SchemaProvider};
use smackql_cassandra::definitions::{DefinitionTable, EXTERNAL_TABLE, MATERIALIZED_VIEW};
use smackql_cassandra::progress::ViewProgressTable;
use smackql_cassandra::{CassandraCatalog, CassandraConnection, CassandraOptions};
use smackql_catalog::{
    DefinedTables, ExternalTableFactory, MaterializedViews, SchemaSource, SmackqlCatalog,
    ViewOverlay,
};
use smackql_kafka::{DecodeErrors, DecodeErrorsTable, KafkaConnection, KafkaOptions};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::Config;
use crate::ddl::Ddl;
use crate::demo::DemoLoad;
use crate::external::{CassandraDefinitions, ExternalDdl, KafkaTables, KAFKA, KAFKA_SCHEMA};
use crate::frontend::flight::{FlightServer, FlightStartError};
use crate::frontend::pg::{tls, PgServer};
use crate::jobs::refresh::Recomputer;
use crate::jobs::views::{MaintenanceSettings, ViewMaintainer};
use crate::schema_registry::HttpSchemaRegistry;
use crate::session::{SessionError, SessionFactory};
use crate::sql::SqlRunner;
use crate::views::{MaterializedViewsTable, ViewDdl};

/// The gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listener could not be bound.
    #[error("cannot listen on {addr} for {what}: {source}")]
    Bind {
        /// The protocol.
        what: &'static str,
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// TLS is configured but cannot be used.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// The SQL session could not be assembled.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The Flight SQL front end could not be assembled.
    #[error(transparent)]
    Flight(#[from] FlightStartError),
    /// The catalog could not be assembled.
    #[error("cannot assemble the catalog: {0}")]
    Catalog(#[from] datafusion::error::DataFusionError),
}

/// The schema of the gateway's own tables.
pub const SYSTEM_SCHEMA: &str = "system";

/// `system`: `kafka_decode_errors`, the messages scans could not decode.
fn system_schema(decode_errors: Arc<DecodeErrors>) -> Result<MemorySchemaProvider, StartError> {
    let schema = MemorySchemaProvider::new();
    schema.register_table(
        "kafka_decode_errors".into(),
        Arc::new(DecodeErrorsTable::new(decode_errors)),
    )?;
    Ok(schema)
}

/// A gateway, bound and ready to serve.
pub struct Application {
    sessions: Arc<SessionFactory>,
    sql: SqlRunner,
    cassandra: Arc<CassandraConnection>,
    defined: Arc<DefinedTables>,
    refresh_interval: Duration,
    pg_listener: TcpListener,
    pg: PgServer,
    pg_addr: SocketAddr,
    flight_listener: TcpListener,
    flight: FlightServer,
    flight_addr: SocketAddr,
    maintainer: Option<Arc<ViewMaintainer>>,
}

impl Application {
    /// Assembles the gateway and binds its listeners.
    pub async fn build(config: Config) -> Result<Self, StartError> {
        let tls = config.tls.as_ref().map(tls::acceptor).transpose()?;

        let cassandra = Arc::new(CassandraConnection::new(cassandra_options(&config)));
        let mut kafka = KafkaConnection::new(KafkaOptions {
            bootstrap_servers: config.kafka.bootstrap_servers.clone(),
            properties: config.kafka.properties.clone(),
        });
        if let Some(url) = &config.kafka.schema_registry_url {
            kafka = kafka.with_schema_registry(Arc::new(HttpSchemaRegistry::new(url)));
        }
        let kafka = Arc::new(kafka);
        let decode_errors = kafka.decode_errors();
        let definitions =
            DefinitionTable::new(cassandra.clone(), config.catalog.replication_factor);
        let store = CassandraDefinitions::new(definitions.clone(), EXTERNAL_TABLE);
        let views = Arc::new(MaterializedViews::new(Arc::new(CassandraDefinitions::new(
            definitions,
            MATERIALIZED_VIEW,
        ))));
        let progress = ViewProgressTable::new(cassandra.clone(), config.catalog.replication_factor);
        let factories: std::collections::BTreeMap<String, Arc<dyn ExternalTableFactory>> = [(
            KAFKA.to_string(),
            Arc::new(KafkaTables::new(
                kafka.clone(),
                config.kafka.scan_parallelism,
            )) as _,
        )]
        .into();
        let defined = Arc::new(DefinedTables::new(
            Arc::new(store),
            factories,
            vec![KAFKA_SCHEMA.to_string()],
        ));
        // Declared schemas first: the Cassandra source answers for any name.
        let sources: Vec<Arc<dyn SchemaSource>> = vec![
            Arc::new(DeclaredSchemas(defined.clone())),
            Arc::new(CassandraSchemas {
                keyspaces: CassandraCatalog::new(cassandra.clone()),
                views: views.clone(),
            }),
        ];
        let catalog = Arc::new(SmackqlCatalog::new(sources));
        let system = Arc::new(system_schema(decode_errors)?);
        catalog.register_schema(SYSTEM_SCHEMA, system.clone())?;
        let sessions = Arc::new(SessionFactory::new(catalog, cassandra.clone())?);
        let lease_ttl = config
            .views
            .lease_ttl
            .max(std::time::Duration::from_secs(1));
        let recomputer = Arc::new(Recomputer::new(
            progress.clone(),
            CassandraCatalog::new(cassandra.clone()),
            sessions.clone(),
            lease_ttl,
        ));
        let owner = format!(
            "{}:{}:{:08x}",
            config.pg.listen,
            std::process::id(),
            rand::random::<u32>()
        );
        let view_ddl = Arc::new(ViewDdl::new(
            views.clone(),
            progress.clone(),
            cassandra.clone(),
            kafka.clone(),
            sessions.clone(),
            recomputer.clone(),
            owner.clone(),
        ));
        system.register_table(
            "materialized_views".into(),
            Arc::new(MaterializedViewsTable::new(view_ddl.clone())),
        )?;
        let maintainer = config.views.maintain.then(|| {
            Arc::new(ViewMaintainer::new(
                views,
                progress,
                CassandraCatalog::new(cassandra.clone()),
                kafka,
                sessions.clone(),
                recomputer,
                owner,
                MaintenanceSettings {
                    poll_interval: config.views.poll_interval,
                    max_batch_messages: config.views.max_batch_messages.max(1),
                    max_rate_per_partition: config.views.max_rate_per_partition,
                    lease_ttl,
                    ..MaintenanceSettings::default()
                },
            ))
        });

        let (pg_listener, pg_addr) = bind(config.pg.listen, "the Postgres wire protocol").await?;
        let (flight_listener, flight_addr) = bind(config.flight.listen, "Arrow Flight SQL").await?;
        let ddl = Arc::new(Ddl::new(
            cassandra.clone(),
            config.cassandra.allow_drop_table,
            Arc::new(ExternalDdl::new(defined.clone(), cassandra.clone())),
            view_ddl,
        ));
        let pg = PgServer::new(
            &config.pg,
            sessions.clone(),
            &config.auth.users,
            tls.clone(),
            ddl.clone(),
        );
        let sql = SqlRunner::new(ddl);
        let flight = FlightServer::new(
            &config.flight,
            sessions.clone(),
            cassandra.clone(),
            sql.clone(),
            &config.auth.users,
            config.tls.as_ref(),
        )?;
        info!(
            %pg_addr,
            %flight_addr,
            tls = tls.is_some(),
            auth = if config.auth.users.is_empty() { "trust" } else { "scram-sha-256" },
            cassandra = ?config.cassandra.contact_points,
            "smackql ready"
        );
        Ok(Self {
            sessions,
            sql,
            cassandra,
            defined,
            refresh_interval: config.catalog.refresh_interval,
            pg_listener,
            pg,
            pg_addr,
            flight_listener,
            flight,
            flight_addr,
            maintainer,
        })
    }

    /// Where the Arrow Flight SQL front end listens.
    pub fn flight_addr(&self) -> SocketAddr {
        self.flight_addr
    }

    /// Where the Postgres wire front end listens.
    pub fn pg_addr(&self) -> SocketAddr {
        self.pg_addr
    }

    /// The sessions the front ends use; for in-process queries.
    pub fn sessions(&self) -> Arc<SessionFactory> {
        self.sessions.clone()
    }

    /// Runs SQL in-process as the front ends would.
    pub fn sql(&self) -> &SqlRunner {
        &self.sql
    }

    /// Loads the demo data set (see [`crate::demo`]) into `keyspace`.
    pub async fn load_demo(
        &self,
        keyspace: &str,
        events: u64,
    ) -> Result<DemoLoad, datafusion::error::DataFusionError> {
        crate::demo::load(&self.sql, &self.sessions.new_session(), keyspace, events).await
    }

    /// Serves until `shutdown` fires, then drains open connections.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) {
        let connect = tokio::spawn(connect_early(self.cassandra.clone(), shutdown.clone()));
        let refresh = tokio::spawn(refresh_definitions(
            self.defined.clone(),
            self.refresh_interval,
            shutdown.clone(),
        ));
        let maintenance = self
            .maintainer
            .clone()
            .map(|m| tokio::spawn(m.run(shutdown.clone())));
        tokio::join!(
            self.pg.serve(self.pg_listener, shutdown.clone()),
            self.flight.serve(self.flight_listener, shutdown),
        );
        connect.abort();
        refresh.abort();
        if let Some(maintenance) = maintenance {
            // It stops at the same signal, after its current batch.
            maintenance.await.ok();
        }
        info!("smackql stopped");
    }
}

/// Binds `addr`, returning the listener and the address it got (port 0
/// picks a free port).
async fn bind(
    addr: SocketAddr,
    what: &'static str,
) -> Result<(TcpListener, SocketAddr), StartError> {
    let error = |source| StartError::Bind { what, addr, source };
    let listener = TcpListener::bind(addr).await.map_err(error)?;
    let local = listener.local_addr().map_err(error)?;
    Ok((listener, local))
}

/// Connects to Cassandra in the background, so keyspaces are listed before
/// the first query needs them. Queries connect on their own as well; this
/// only saves them the wait.
async fn connect_early(cassandra: Arc<CassandraConnection>, shutdown: CancellationToken) {
    let mut delay = Duration::from_millis(500);
    loop {
        if cassandra.session().await.is_ok() {
            return;
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}

/// Reads the declared tables every `interval`, so tables declared or
/// dropped through other gateways show up in listings here. (A query naming
/// a table this gateway does not know yet reads them at once.)
async fn refresh_definitions(
    defined: Arc<DefinedTables>,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut failing = false;
    loop {
        match defined.reload().await {
            Ok(()) => failing = false,
            // Cassandra may be down; say so once, not at every tick.
            Err(err) if !failing => {
                warn!(error = %err, "cannot read the declared tables");
                failing = true;
            }
            Err(_) => {}
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

fn cassandra_options(config: &Config) -> CassandraOptions {
    let c = &config.cassandra;
    CassandraOptions {
        contact_points: c.contact_points.clone(),
        username: c.username.clone(),
        password: c.password.as_ref().map(|p| p.expose().to_string()),
        connect_timeout: c.connect_timeout,
        request_timeout: c.request_timeout,
        page_size: c.page_size,
        metadata_refresh_interval: c.metadata_refresh_interval,
        types: smackql_cassandra::types::TypeOptions {
            decimal_scale: c.decimal_scale,
        },
        scan_splits: c.scan_splits,
        scan_split_bytes: c.scan_split_mb.saturating_mul(1 << 20),
        scan_parallelism: c.scan_parallelism,
        write_parallelism: c.write_parallelism,
        max_partition_reads: c.max_partition_reads,
        // Validated at start-up; an invalid entry never gets here.
        tables: c
            .tables
            .iter()
            .filter_map(|(name, t)| Some((name.clone(), t.request_options().ok()?)))
            .collect(),
    }
}

/// The keyspaces of the Cassandra cluster, as schemas of the catalog, with
/// the materialized views in them.
#[derive(Debug)]
struct CassandraSchemas {
    keyspaces: CassandraCatalog,
    views: Arc<MaterializedViews>,
}

impl SchemaSource for CassandraSchemas {
    fn schema_names(&self) -> Vec<String> {
        self.keyspaces.keyspace_names()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        Some(Arc::new(ViewOverlay::new(
            self.keyspaces.keyspace(name),
            name,
            self.views.clone(),
        )))
    }
}

/// The schemas of tables declared over Kafka topics.
#[derive(Debug)]
struct DeclaredSchemas(Arc<DefinedTables>);

impl SchemaSource for DeclaredSchemas {
    fn schema_names(&self) -> Vec<String> {
        self.0.schema_names()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        self.0.schema(name)
    }
}
