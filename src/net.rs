//! The HTTP client connector every outgoing call shares: Slack's Web API,
//! Twilio's REST API and the URLs senders ask tocsin to visit.

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
