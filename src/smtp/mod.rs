//! The embedded SMTP listener for tools that can only send mail: off unless
//! `TOCSIN_SMTP_LISTEN` is set. It takes mail for
//! `<integration_key>@<TOCSIN_EMAIL_DOMAIN>` and for each service's own
//! `email` local part, and answers 250 only once the alert is on disk.
//!
//! `session` speaks the protocol on one connection; this file accepts
//! connections under a cap, loads the STARTTLS certificate, and knows which
//! address belongs to which service.

mod session;

use crate::config::Config;
use crate::ops::alert::Ingest;
use crate::settings::SmtpSettings;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_rustls::rustls;

/// Sessions served at once; past it a connection gets 421 and is closed.
const MAX_SESSIONS: usize = 64;

/// Why the listener cannot start.
#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    #[error("TOCSIN_SMTP_TLS_CERT {path}: {message}")]
    Cert { path: String, message: String },
    #[error("TOCSIN_SMTP_TLS_KEY {path}: {message}")]
    Key { path: String, message: String },
    #[error("STARTTLS: {0}")]
    Tls(String),
}

/// What every session reads.
pub(crate) struct Shared {
    ingest: Ingest,
    settings: SmtpSettings,
    tls: Option<tokio_rustls::TlsAcceptor>,
    /// Local part (lower case) → the integration key of its service.
    mailboxes: HashMap<String, String>,
}

/// The STARTTLS acceptor for the configured certificate, if any.
pub fn acceptor(settings: &SmtpSettings) -> Result<Option<tokio_rustls::TlsAcceptor>, SmtpError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let Some((cert, key)) = &settings.tls else {
        return Ok(None);
    };
    let read = |p: &std::path::Path| std::fs::read(p).map_err(|e| e.to_string());
    let cert_path = cert.display().to_string();
    let key_path = key.display().to_string();
    let cert_pem = read(cert).map_err(|message| SmtpError::Cert {
        path: cert_path.clone(),
        message,
    })?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| SmtpError::Cert {
            path: cert_path.clone(),
            message: format!("not a PEM certificate chain: {e}"),
        })?;
    if certs.is_empty() {
        return Err(SmtpError::Cert {
            path: cert_path,
            message: "holds no certificate".into(),
        });
    }
    let key_pem = read(key).map_err(|message| SmtpError::Key {
        path: key_path.clone(),
        message,
    })?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| SmtpError::Key {
        path: key_path,
        message: format!("not a PEM private key: {e}"),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SmtpError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| SmtpError::Tls(e.to_string()))?;
    Ok(Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))))
}

/// Every service's mailboxes: its integration key, and its own local part.
fn mailboxes(config: &Config) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for s in &config.services {
        out.insert(
            s.integration_key.to_ascii_lowercase(),
            s.integration_key.clone(),
        );
        if let Some(local) = s.email.as_ref().and_then(|e| e.local_part.as_ref()) {
            out.insert(local.to_ascii_lowercase(), s.integration_key.clone());
        }
    }
    out
}

/// Accepts connections until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    ingest: Ingest,
    settings: SmtpSettings,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut shutdown: watch::Receiver<bool>,
) {
    let shared = Arc::new(Shared {
        mailboxes: mailboxes(&ingest.core.config),
        ingest,
        settings,
        tls,
    });
    let permits = Arc::new(Semaphore::new(MAX_SESSIONS));
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.changed() => break,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "SMTP accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let shared = shared.clone();
        let rx = shutdown.clone();
        match permits.clone().try_acquire_owned() {
            Ok(permit) => {
                tokio::spawn(async move {
                    session::run(stream, peer, &shared, rx).await;
                    drop(permit);
                });
            }
            Err(_) => {
                tokio::spawn(session::refuse_busy(stream, shared.settings.domain.clone()));
            }
        }
    }
}
