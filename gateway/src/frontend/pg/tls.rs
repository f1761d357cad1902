//! TLS for the Postgres front end. A configured but unusable certificate or
//! key stops start-up: smackql never falls back to plaintext.

use std::path::Path;
use std::sync::Arc;

use datafusion_postgres::pgwire::tokio::tokio_rustls::rustls::pki_types::pem::PemObject;
use datafusion_postgres::pgwire::tokio::tokio_rustls::rustls::pki_types::{
    CertificateDer, PrivateKeyDer,
};
use datafusion_postgres::pgwire::tokio::tokio_rustls::rustls::{self, ServerConfig};
use datafusion_postgres::pgwire::tokio::TlsAcceptor;

use crate::config::TlsConfig;

/// TLS could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("TLS is configured but unusable: {0}")]
pub struct TlsError(String);

/// The acceptor for `config`'s certificate chain and key.
pub fn acceptor(config: &TlsConfig) -> Result<TlsAcceptor, TlsError> {
    // pgwire brings ring; other crates may bring aws-lc-rs. Choose one for the
    // process, or rustls refuses to pick.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let certs = read_certs(&config.cert)?;
    let key = PrivateKeyDer::from_pem_file(&config.key)
        .map_err(|e| TlsError(format!("private key {}: {e}", config.key.display())))?;
    let server = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            TlsError(format!(
                "certificate and key do not form a usable pair: {e}"
            ))
        })?;
    Ok(TlsAcceptor::from(Arc::new(server)))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError(format!("certificate {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(TlsError(format!(
            "certificate {}: no certificate in the file",
            path.display()
        )));
    }
    Ok(certs)
}
