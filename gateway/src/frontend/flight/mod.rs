//! The Arrow Flight SQL front end: ADBC, the Flight SQL JDBC driver,
//! pyarrow and other Flight SQL clients connect here, and receive results as
//! Arrow record batches, never rendered to text.
//!
//! It shares the gateway's sessions, SQL handling and users with the
//! Postgres front end, so a statement gives the same answer on both.
//! [`FlightServer::serve`] owns the accept loop, like the Postgres
//! server's, and stops on the shutdown token.

mod auth;
mod errors;
mod metadata;
mod service;
mod split;
mod statement;
mod store;

use std::sync::Arc;
use std::time::Duration;

use arrow_flight::flight_service_server::FlightServiceServer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};
use tracing::warn;

use self::auth::Authenticator;
use self::service::SmackqlFlightSql;
use smackql_cassandra::CassandraConnection;

use crate::config::{FlightConfig, TlsConfig, User};
use crate::session::SessionFactory;
use crate::sql::SqlRunner;

/// Largest message a client may send: parameter batches of prepared
/// statements.
const MAX_DECODING_MESSAGE_BYTES: usize = 64 << 20;

/// The Flight SQL front end could not start.
#[derive(Debug, thiserror::Error)]
pub enum FlightStartError {
    /// TLS is configured but cannot be used.
    #[error("TLS is configured but unusable for Flight SQL: {0}")]
    Tls(String),
    /// The service could not be assembled.
    #[error("cannot assemble the Flight SQL service: {0}")]
    Service(#[from] datafusion::error::DataFusionError),
}

/// The Flight SQL server.
pub struct FlightServer {
    service: Arc<SmackqlFlightSql>,
    tls: Option<ServerTlsConfig>,
}

impl FlightServer {
    /// A server for `sessions`, admitting `users` (trust when empty).
    pub fn new(
        config: &FlightConfig,
        sessions: Arc<SessionFactory>,
        cassandra: Arc<CassandraConnection>,
        sql: SqlRunner,
        users: &[User],
        tls: Option<&TlsConfig>,
    ) -> Result<Self, FlightStartError> {
        let auth = Arc::new(Authenticator::new(
            users,
            sessions,
            config.max_sessions,
            config.session_idle_timeout,
        ));
        let service = SmackqlFlightSql::new(
            auth,
            cassandra,
            sql,
            config.max_prepared_statements,
            config.session_idle_timeout,
        )?;
        let tls = tls.map(tls_config).transpose()?;
        Ok(Self {
            service: Arc::new(service),
            tls,
        })
    }

    /// Serves `listener` until `shutdown` fires.
    pub async fn serve(self, listener: TcpListener, shutdown: CancellationToken) {
        let sweeper = tokio::spawn(sweep(self.service.clone(), shutdown.clone()));
        let mut server = Server::builder()
            .tcp_nodelay(true)
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .http2_keepalive_timeout(Some(Duration::from_secs(20)));
        if let Some(tls) = self.tls {
            server = match server.tls_config(tls) {
                Ok(server) => server,
                Err(err) => {
                    // Checked at start-up; never serve plaintext instead.
                    warn!(error = %err, "Flight SQL TLS cannot be used; not serving Flight SQL");
                    sweeper.abort();
                    return;
                }
            };
        }
        let service = FlightServiceServer::from_arc(self.service)
            .max_decoding_message_size(MAX_DECODING_MESSAGE_BYTES);
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        let served = server
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, shutdown.cancelled())
            .await;
        if let Err(err) = served {
            warn!(error = %err, "the Flight SQL server stopped with an error");
        }
        sweeper.abort();
    }
}

/// Ends idle sessions and prepared statements every minute.
async fn sweep(service: Arc<SmackqlFlightSql>, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(60)) => service.sweep(),
        }
    }
}

fn tls_config(config: &TlsConfig) -> Result<ServerTlsConfig, FlightStartError> {
    let read = |path: &std::path::Path| {
        std::fs::read(path).map_err(|e| FlightStartError::Tls(format!("{}: {e}", path.display())))
    };
    let identity = Identity::from_pem(read(&config.cert)?, read(&config.key)?);
    let tls = ServerTlsConfig::new().identity(identity);
    // Fails now, at start-up, if the certificate and key are unusable.
    Server::builder()
        .tls_config(tls.clone())
        .map_err(|e| FlightStartError::Tls(e.to_string()))?;
    Ok(tls)
}
