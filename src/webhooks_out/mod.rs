//! The outbox's receiver for outgoing webhooks (`[[webhooks_out]]`): POSTs
//! each queued event's JSON to its URL, signed with the webhook's secret.
//!
//! Signature: `X-Tocsin-Signature: t=<unix seconds>,v1=<hex>`, the hex being
//! HMAC-SHA256 with the secret over `v1:<t>:<body>`. A receiver recomputes
//! it over the raw body and refuses old timestamps (replays). Each delivery
//! also names its event (`X-Tocsin-Event`) and a delivery id that stays the
//! same across retries (`X-Tocsin-Delivery`), so a receiver can drop repeats:
//! delivery is at least once.

use crate::clock::Clock;
use crate::config::Config;
use crate::outbox::{self, Attempt, Failure};
use crate::store::Outbound;
use async_trait::async_trait;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use sha2::Sha256;
use std::sync::Arc;
use std::time::Duration;

/// How long a receiver may take to answer before the delivery is retried.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The wait after a 429 that names none.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(30);

/// `t=…,v1=…` for `body` sent at `unix` seconds.
pub fn signature(secret: &str, unix: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(format!("v1:{unix}:").as_bytes());
    mac.update(body);
    format!("t={unix},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Delivers `Outbound::Webhook` rows.
pub struct Receiver {
    pub config: Arc<Config>,
    pub clock: Clock,
}

#[async_trait]
impl outbox::Receiver for Receiver {
    fn name(&self) -> &'static str {
        "webhooks_out"
    }

    fn takes(&self, op: &Outbound) -> bool {
        matches!(op, Outbound::Webhook { .. })
    }

    async fn perform(&self, op: &Outbound, attempt: Attempt) -> Result<(), Failure> {
        let Outbound::Webhook {
            url,
            event,
            payload,
        } = op
        else {
            return Err(Failure::Permanent("not a webhook".into()));
        };
        // The secret is read at send time, so a rotated one signs what waits.
        let Some(hook) = self.config.webhooks_out.iter().find(|h| h.url == *url) else {
            return Err(Failure::Permanent(format!(
                "{url} is no longer a configured webhook"
            )));
        };
        let body = serde_json::to_vec(payload).expect("a payload serialises");
        let sig = signature(&hook.secret, self.clock.now().timestamp(), &body);
        post(url, event, &attempt.seq.to_string(), &sig, body).await
    }
}

async fn post(
    url: &str,
    event: &str,
    delivery: &str,
    sig: &str,
    body: Vec<u8>,
) -> Result<(), Failure> {
    let https = crate::net::https_or_http()
        .map_err(|e| Failure::Transient(format!("no HTTPS client: {e}")))?;
    let client =
        Client::builder(hyper_util::rt::TokioExecutor::new()).build::<_, Full<Bytes>>(https);
    let req = hyper::Request::post(url)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::USER_AGENT, "tocsin-webhooks/1")
        .header("x-tocsin-event", event)
        .header("x-tocsin-delivery", delivery)
        .header("x-tocsin-signature", sig)
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| Failure::Permanent(format!("bad webhook request to {url}: {e}")))?;
    let resp = match tokio::time::timeout(TIMEOUT, client.request(req)).await {
        Err(_) => {
            return Err(Failure::Transient(format!(
                "POST {url}: no answer in {TIMEOUT:?}"
            )))
        }
        Ok(Err(e)) => return Err(Failure::Transient(format!("POST {url}: {e}"))),
        Ok(Ok(r)) => r,
    };
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    if status == hyper::StatusCode::TOO_MANY_REQUESTS {
        let wait = resp
            .headers()
            .get(hyper::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map_or(DEFAULT_RETRY_AFTER, Duration::from_secs);
        return Err(Failure::RateLimited(wait));
    }
    // A receiver that is down or overloaded is retried; one that refuses
    // the request itself (4xx) will refuse it again.
    if status.is_server_error() || status == hyper::StatusCode::REQUEST_TIMEOUT {
        Err(Failure::Transient(format!("POST {url}: HTTP {status}")))
    } else {
        Err(Failure::Permanent(format!("POST {url}: HTTP {status}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_an_hmac_over_the_version_the_time_and_the_body() {
        // Computed independently: printf 'v1:1764558000:{"a":1}' |
        // openssl dgst -sha256 -hmac 0123456789abcdef
        let sig = signature("0123456789abcdef", 1_764_558_000, br#"{"a":1}"#);
        assert_eq!(
            sig,
            "t=1764558000,v1=352c5f3c6f6cbcab7bb5170f16c4cc1f61da6eee01cb289e00306c9cc2a31dd0"
        );
        assert_ne!(
            sig,
            signature("0123456789abcdeX", 1_764_558_000, br#"{"a":1}"#)
        );
        assert_ne!(
            sig,
            signature("0123456789abcdef", 1_764_558_001, br#"{"a":1}"#)
        );
    }
}
