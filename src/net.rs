//! The HTTP client connector every outgoing call shares (Slack's Web API,
//! Twilio's REST API), and the outbox's receiver of the URLs senders ask
//! tocsin to visit (an SNS subscription's confirmation).

use crate::outbox::{self, Attempt, Failure};
use crate::store::Outbound;
use async_trait::async_trait;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use std::sync::Arc;

/// An HTTPS connector with the machine's CA roots that also speaks plain http
/// (the local fakes tests use).
pub(crate) fn https_or_http() -> std::io::Result<HttpsConnector<HttpConnector>> {
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .or_else(|_| {
            Ok::<_, std::io::Error>(
                hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(empty_tls_config()),
            )
        })?
        .https_or_http()
        .enable_http1()
        .build())
}

fn empty_tls_config() -> rustls::ClientConfig {
    // Only reached when the machine has no CA bundle: a plain-http endpoint
    // (a local fake) still works, and https calls fail loudly instead of the process.
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth()
}

/// Visits the URL of an `Outbound::Fetch` with a plain GET.
pub struct Fetch;

#[async_trait]
impl outbox::Receiver for Fetch {
    fn name(&self) -> &'static str {
        "fetch"
    }

    fn takes(&self, op: &Outbound) -> bool {
        matches!(op, Outbound::Fetch { .. })
    }

    async fn perform(&self, op: &Outbound, _: Attempt) -> Result<(), Failure> {
        match op {
            Outbound::Fetch { url } => fetch(url).await,
            _ => Err(Failure::Permanent("not a visit".into())),
        }
    }
}

/// GETs `url`: 2xx is done, 5xx and network trouble are retried, anything else is final.
async fn fetch(url: &str) -> Result<(), Failure> {
    use http_body_util::Empty;
    use hyper_util::client::legacy::Client;
    let https = https_or_http().map_err(|e| Failure::Transient(format!("no HTTPS client: {e}")))?;
    let client = Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, Empty<bytes::Bytes>>(https);
    let uri: hyper::Uri = url
        .parse()
        .map_err(|e| Failure::Permanent(format!("bad URL {url}: {e}")))?;
    let resp = client
        .get(uri)
        .await
        .map_err(|e| Failure::Transient(format!("GET {url}: {e}")))?;
    let status = resp.status();
    if status.is_success() {
        tracing::info!(%url, "confirmed");
        Ok(())
    } else if status.is_server_error() {
        Err(Failure::Transient(format!("GET {url}: HTTP {status}")))
    } else {
        Err(Failure::Permanent(format!("GET {url}: HTTP {status}")))
    }
}
