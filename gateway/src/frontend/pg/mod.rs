//! The Postgres wire front end: psql, JDBC, ODBC, SQLAlchemy and every other
//! Postgres driver connect here.
//!
//! [`PgServer::serve`] owns the accept loop, so the listener can be bound by
//! the caller (port 0 in tests) and shutdown is explicit: on cancellation it
//! stops accepting, lets open connections finish within a grace period, then
//! closes them.

mod auth;
mod client_queries;
mod column_names;
mod cursors;
mod encoding;
pub(crate) use encoding::{wire_type, PG_VECTOR_METADATA};
pub mod errors;
mod handlers;
mod prepared;
pub mod tls;

use std::sync::Arc;
use std::time::Duration;

use datafusion_postgres::pgwire::api::{ConnectionManager, RandomPidSecretKeyGenerator};
use datafusion_postgres::pgwire::tokio::{process_socket, TlsAcceptor};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use self::auth::{Startup, UserStore};
use self::handlers::{CancelRegistry, ConnectionHandlers, SmackqlCancelHandler};
use crate::config::{PgConfig, User};
use crate::ddl::Ddl;
use crate::session::SessionFactory;

/// The Postgres wire server.
pub struct PgServer {
    sessions: Arc<SessionFactory>,
    users: Arc<UserStore>,
    tls: Option<TlsAcceptor>,
    connections: Arc<ConnectionManager>,
    pids: Arc<RandomPidSecretKeyGenerator>,
    cancels: Arc<CancelRegistry>,
    cancel_handler: Arc<SmackqlCancelHandler>,
    slots: Arc<Semaphore>,
    grace: Duration,
    ddl: Arc<Ddl>,
}

impl PgServer {
    /// A server for `sessions`, admitting `users` (trust when empty).
    pub fn new(
        config: &PgConfig,
        sessions: Arc<SessionFactory>,
        users: &[User],
        tls: Option<TlsAcceptor>,
        ddl: Arc<Ddl>,
    ) -> Self {
        let connections = Arc::new(ConnectionManager::new());
        let cancels = Arc::new(CancelRegistry::default());
        Self {
            sessions,
            users: Arc::new(UserStore::new(users)),
            tls,
            cancel_handler: Arc::new(SmackqlCancelHandler::new(
                cancels.clone(),
                connections.clone(),
            )),
            connections,
            pids: Arc::new(RandomPidSecretKeyGenerator::default()),
            cancels,
            slots: Arc::new(Semaphore::new(config.max_connections)),
            grace: config.shutdown_grace,
            ddl,
        }
    }

    /// Serves `listener` until `shutdown` fires.
    pub async fn serve(self, listener: TcpListener, shutdown: CancellationToken) {
        let mut tasks = JoinSet::new();
        loop {
            let accepted = tokio::select! {
                () = shutdown.cancelled() => break,
                accepted = listener.accept() => accepted,
                Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
            };
            let (socket, peer) = match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    // Out of file descriptors, for instance: back off, keep serving.
                    warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(permit) = self.slots.clone().try_acquire_owned() else {
                warn!(%peer, "connection refused: too many connections");
                drop(socket);
                continue;
            };
            let _ = socket.set_nodelay(true);
            let handlers = ConnectionHandlers::new(
                self.sessions.new_session(),
                Startup::for_connection(&self.users, &self.connections, &self.pids),
                self.cancels.clone(),
                self.cancel_handler.clone(),
                self.ddl.clone(),
            );
            let tls = self.tls.clone();
            tasks.spawn(async move {
                debug!(%peer, "connection opened");
                if let Err(err) = process_socket(socket, tls, handlers).await {
                    debug!(%peer, error = %err, "connection ended with an error");
                }
                drop(permit);
                debug!(%peer, "connection closed");
            });
        }
        drop(listener);
        if !tasks.is_empty() {
            info!(open = tasks.len(), grace = ?self.grace, "waiting for open connections");
            let drained = tokio::time::timeout(self.grace, async {
                while tasks.join_next().await.is_some() {}
            })
            .await;
            if drained.is_err() {
                warn!(
                    open = tasks.len(),
                    "closing connections still open after the grace period"
                );
                tasks.shutdown().await;
            }
        }
    }
}
