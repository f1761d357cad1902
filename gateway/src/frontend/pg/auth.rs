//! Who may connect: SCRAM-SHA-256 against configured users, or trust.
//!
//! Passwords are salted and hashed once at start-up, so a login costs the
//! server one SCRAM exchange, not a PBKDF2 run per attempt.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion_postgres::pgwire::api::auth::sasl::scram::{
    gen_salted_password, random_nonce, ScramAuth, SCRAM_ITERATIONS,
};
use datafusion_postgres::pgwire::api::auth::sasl::SASLAuthStartupHandler;
use datafusion_postgres::pgwire::api::auth::{
    finish_authentication, protocol_negotiation, save_startup_parameters_to_metadata, AuthSource,
    DefaultServerParameterProvider, LoginInfo, Password, StartupHandler,
};
use datafusion_postgres::pgwire::api::{
    ClientInfo, ConnectionManager, PidSecretKeyGenerator, RandomPidSecretKeyGenerator,
};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use futures::Sink;

use crate::config::User;
use crate::session::server_version;

/// Configured users, with their SCRAM salted passwords.
#[derive(Debug)]
pub(crate) struct UserStore {
    users: HashMap<String, Password>,
}

impl UserStore {
    pub(crate) fn new(users: &[User]) -> Self {
        let users = users
            .iter()
            .map(|user| {
                let salt = random_nonce().into_bytes();
                let salted = gen_salted_password(user.password.expose(), &salt, SCRAM_ITERATIONS);
                (user.name.clone(), Password::new(Some(salt), salted))
            })
            .collect();
        Self { users }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

#[async_trait]
impl AuthSource for UserStore {
    // The trait elides this lifetime; naming it here would not match it.
    #[allow(elided_lifetimes_in_paths)]
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        let user = login.user().unwrap_or_default();
        self.users.get(user).cloned().ok_or_else(|| {
            // The same message as a wrong password: whether a user exists is
            // not something to tell an unauthenticated client.
            PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".to_string(),
                "28P01".to_string(),
                format!("password authentication failed for user \"{user}\""),
            )))
        })
    }
}

/// The parameters every client receives at start-up.
pub(crate) fn server_parameters() -> DefaultServerParameterProvider {
    let mut params = DefaultServerParameterProvider::default();
    params.server_version = server_version();
    params
}

/// The start-up handler of one connection.
pub(crate) enum Startup {
    /// Trust: no password asked (loopback, or explicitly insecure).
    Trust(TrustStartup),
    /// SCRAM-SHA-256 against the configured users.
    Scram(Box<SASLAuthStartupHandler<DefaultServerParameterProvider>>),
}

impl Startup {
    /// A handler for one new connection.
    pub(crate) fn for_connection(
        users: &Arc<UserStore>,
        connections: &Arc<ConnectionManager>,
        pids: &Arc<RandomPidSecretKeyGenerator>,
    ) -> Self {
        if users.is_empty() {
            Startup::Trust(TrustStartup {
                connections: connections.clone(),
                pids: pids.clone(),
            })
        } else {
            let mut scram = ScramAuth::new(users.clone());
            scram.set_iterations(SCRAM_ITERATIONS);
            Startup::Scram(Box::new(
                SASLAuthStartupHandler::new(Arc::new(server_parameters()))
                    .with_scram(scram)
                    .with_pid_secret_key_generator(pids.clone())
                    .with_connection_manager(connections.clone()),
            ))
        }
    }
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match self {
            Startup::Trust(trust) => trust.on_startup(client, message).await,
            Startup::Scram(scram) => scram.on_startup(client, message).await,
        }
    }
}

/// Accepts every client, registering it for cancel requests.
pub(crate) struct TrustStartup {
    connections: Arc<ConnectionManager>,
    pids: Arc<RandomPidSecretKeyGenerator>,
}

impl TrustStartup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let PgWireFrontendMessage::Startup(startup) = message else {
            return Ok(());
        };
        protocol_negotiation(client, &startup).await?;
        save_startup_parameters_to_metadata(client, &startup);
        let (pid, secret) = self.pids.generate(client);
        let (handle, guard) = self.connections.register(pid, secret.clone());
        client.set_pid_and_secret_key(pid, secret);
        client.session_extensions().insert(handle);
        client.session_extensions().insert(guard);
        finish_authentication(client, &server_parameters()).await
    }
}
