//! Who a Flight SQL call comes from, and the session it runs in.
//!
//! `Handshake` with HTTP basic credentials (the users of the Postgres front
//! end) starts a session and answers with a bearer token, in the
//! `authorization` response header (where ADBC, JDBC and pyarrow read it)
//! and in the handshake payload. Later calls send `authorization: Bearer
//! <token>`. Basic credentials on a call without a handshake are accepted
//! too, for a session of that one call. Without configured users every
//! client is trusted, and a call without credentials gets a fresh session.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use datafusion::prelude::SessionContext;
use tonic::metadata::MetadataMap;
use tonic::Status;

use super::store::{random_key, Expiring};
use crate::config::User;
use crate::session::SessionFactory;

/// A client's session: its own SQL settings.
pub(crate) struct FlightSession {
    /// Who logged in; `None` when users are not configured.
    pub(crate) user: Option<String>,
    /// Its DataFusion session.
    pub(crate) context: SessionContext,
}

impl std::fmt::Debug for FlightSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlightSession")
            .field("user", &self.user)
            .field("session_id", &self.context.session_id())
            .finish()
    }
}

/// Configured users, and the sessions of those who logged in.
pub(crate) struct Authenticator {
    users: HashMap<String, String>,
    sessions: Expiring<FlightSession>,
    factory: Arc<SessionFactory>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// What the `authorization` header of a call says.
#[derive(Debug, PartialEq, Eq)]
enum Credentials {
    None,
    Basic { user: String, password: String },
    Bearer(Vec<u8>),
}

impl Authenticator {
    pub(crate) fn new(
        users: &[User],
        factory: Arc<SessionFactory>,
        max_sessions: usize,
        idle: Duration,
    ) -> Self {
        Self {
            users: users
                .iter()
                .map(|u| (u.name.clone(), u.password.expose().to_string()))
                .collect(),
            sessions: Expiring::new(max_sessions, idle),
            factory,
        }
    }

    /// Whether calls need credentials.
    pub(crate) fn required(&self) -> bool {
        !self.users.is_empty()
    }

    /// Starts a session for a `Handshake`, returning its token and the
    /// session. A handshake that already carries a valid bearer token keeps
    /// its session.
    pub(crate) fn handshake(
        &self,
        metadata: &MetadataMap,
    ) -> Result<(String, Arc<FlightSession>), Status> {
        let user = match credentials(metadata)? {
            Credentials::Bearer(token) => {
                let session = self.by_token(&token)?;
                return Ok((String::from_utf8_lossy(&token).into_owned(), session));
            }
            Credentials::Basic { user, password } => Some(self.check(&user, &password)?),
            Credentials::None if self.required() => return Err(login_required()),
            Credentials::None => None,
        };
        let session = Arc::new(FlightSession {
            user,
            context: self.factory.new_session(),
        });
        let token = hex(&random_key());
        self.sessions
            .insert(token.clone().into_bytes(), session.clone());
        Ok((token, session))
    }

    /// The session a call runs in.
    pub(crate) fn session(&self, metadata: &MetadataMap) -> Result<Arc<FlightSession>, Status> {
        match credentials(metadata)? {
            Credentials::Bearer(token) => self.by_token(&token),
            Credentials::Basic { user, password } => {
                let user = self.check(&user, &password)?;
                Ok(Arc::new(FlightSession {
                    user: Some(user),
                    context: self.factory.new_session(),
                }))
            }
            Credentials::None if self.required() => Err(login_required()),
            Credentials::None => Ok(Arc::new(FlightSession {
                user: None,
                context: self.factory.new_session(),
            })),
        }
    }

    /// Ends sessions idle for too long.
    pub(crate) fn sweep(&self) {
        self.sessions.sweep();
    }

    fn by_token(&self, token: &[u8]) -> Result<Arc<FlightSession>, Status> {
        self.sessions.get(token).ok_or_else(|| {
            Status::unauthenticated(
                "the session token is unknown or has expired; authenticate again",
            )
        })
    }

    /// The user, if `password` is theirs.
    fn check(&self, user: &str, password: &str) -> Result<String, Status> {
        let known = self.users.get(user);
        let matches = match known {
            Some(expected) => constant_time_eq(expected.as_bytes(), password.as_bytes()),
            // Without users, any credentials are accepted, as on the
            // Postgres front end under trust.
            None => !self.required(),
        };
        if matches {
            Ok(user.to_string())
        } else {
            // The same answer for an unknown user and a wrong password.
            Err(Status::unauthenticated(format!(
                "password authentication failed for user \"{user}\""
            )))
        }
    }
}

fn login_required() -> Status {
    Status::unauthenticated(
        "authentication required: send a user and password (a Handshake with basic credentials)",
    )
}

/// Parses the `authorization` header.
fn credentials(metadata: &MetadataMap) -> Result<Credentials, Status> {
    let Some(value) = metadata.get("authorization") else {
        return Ok(Credentials::None);
    };
    let value = value
        .to_str()
        .map_err(|_| Status::unauthenticated("the authorization header is not ASCII"))?
        .trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Ok(Credentials::Bearer(rest.as_bytes().to_vec()));
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(Status::unauthenticated(format!(
            "unsupported authorization scheme '{scheme}': use Basic or Bearer"
        )));
    }
    // Some clients (ADBC) send base64 without padding.
    let decoded = STANDARD
        .decode(rest)
        .or_else(|_| STANDARD_NO_PAD.decode(rest.trim_end_matches('=')))
        .map_err(|_| Status::unauthenticated("basic credentials are not valid base64"))?;
    let text = String::from_utf8(decoded)
        .map_err(|_| Status::unauthenticated("basic credentials are not UTF-8"))?;
    let (user, password) = text
        .split_once(':')
        .ok_or_else(|| Status::unauthenticated("basic credentials must be user:password"))?;
    Ok(Credentials::Basic {
        user: user.to_string(),
        password: password.to_string(),
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(value: &str) -> MetadataMap {
        let mut map = MetadataMap::new();
        map.insert("authorization", value.parse().unwrap());
        map
    }

    #[test]
    fn parses_basic_with_and_without_padding() {
        let padded = STANDARD.encode("ana:pw1");
        let unpadded = STANDARD_NO_PAD.encode("ana:pw1");
        assert_ne!(padded, unpadded);
        for encoded in [padded, unpadded] {
            assert_eq!(
                credentials(&header(&format!("Basic {encoded}"))).unwrap(),
                Credentials::Basic {
                    user: "ana".into(),
                    password: "pw1".into()
                }
            );
        }
        assert_eq!(
            credentials(&header("Bearer abc")).unwrap(),
            Credentials::Bearer(b"abc".to_vec())
        );
        assert_eq!(credentials(&MetadataMap::new()).unwrap(), Credentials::None);
        assert!(credentials(&header("Digest x")).is_err());
        assert!(credentials(&header("Basic !!!")).is_err());
    }

    #[test]
    fn compares_whole_secrets() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
    }
}
