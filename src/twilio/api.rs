//! Twilio's REST API: send an SMS, place a call. Failures map to the outbox's
//! retry decisions like Slack's do.

use crate::outbox::Failure;
use crate::settings::{Secret, Settings};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::sync::Arc;
use std::time::Duration;

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// A configured Twilio client. Cheap to clone.
#[derive(Clone)]
pub struct TwilioApi {
    client: Client<Https, Full<Bytes>>,
    base: Arc<str>,
    account_sid: Arc<str>,
    auth_token: Secret,
    from: Arc<str>,
    /// Where Twilio fetches a call's TwiML from (`TOCSIN_PUBLIC_URL`).
    pub public_url: Arc<str>,
}

impl TwilioApi {
    /// `None` when Twilio is not configured: SMS and calls then wait in the outbox.
    pub fn from_settings(s: &Settings) -> std::io::Result<Option<TwilioApi>> {
        let Some(t) = &s.twilio else {
            return Ok(None);
        };
        let https = crate::net::https_or_http()?;
        Ok(Some(TwilioApi {
            client: Client::builder(TokioExecutor::new()).build(https),
            base: t.api_url.as_str().into(),
            account_sid: t.account_sid.as_str().into(),
            auth_token: t.auth_token.clone(),
            from: t.from.as_str().into(),
            public_url: s.public_url.as_str().into(),
        }))
    }

    /// Sends `body` to `to`; returns the message SID.
    pub async fn send_sms(&self, to: &str, body: &str) -> Result<String, Failure> {
        self.create(
            "Messages",
            &[("To", to), ("From", &self.from), ("Body", body)],
        )
        .await
    }

    /// Calls `to`; Twilio fetches what to say from `twiml_url` (POST) once answered.
    pub async fn place_call(&self, to: &str, twiml_url: &str) -> Result<String, Failure> {
        self.create(
            "Calls",
            &[
                ("To", to),
                ("From", &self.from),
                ("Url", twiml_url),
                ("Method", "POST"),
            ],
        )
        .await
    }

    /// POSTs a form to `/2010-04-01/Accounts/{sid}/{resource}.json`; returns the new SID.
    async fn create(&self, resource: &str, form: &[(&str, &str)]) -> Result<String, Failure> {
        let url = format!(
            "{}/2010-04-01/Accounts/{}/{resource}.json",
            self.base, self.account_sid
        );
        let body = serde_urlencoded::to_string(form)
            .map_err(|e| Failure::Permanent(format!("cannot encode the request: {e}")))?;
        let auth = STANDARD.encode(format!("{}:{}", self.account_sid, self.auth_token.expose()));
        let req = Request::post(&url)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(AUTHORIZATION, format!("Basic {auth}"))
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| Failure::Permanent(format!("bad Twilio URL {url}: {e}")))?;
        let resp = self
            .client
            .request(req)
            .await
            .map_err(|e| Failure::Transient(format!("Twilio {resource}: {e}")))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| Failure::Transient(format!("Twilio {resource}: {e}")))?
            .to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        classify(status, retry_after, &json).map_err(|f| match f {
            Failure::Permanent(m) => Failure::Permanent(format!("Twilio {resource}: {m}")),
            Failure::Transient(m) => Failure::Transient(format!("Twilio {resource}: {m}")),
            other => other,
        })?;
        Ok(json["sid"].as_str().unwrap_or_default().to_string())
    }
}

/// Twilio answers 201 on success; 429 and 5xx are worth retrying; any other
/// 4xx (a bad number, a blocked destination) will not get better.
fn classify(
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &serde_json::Value,
) -> Result<(), Failure> {
    if status.is_success() {
        return Ok(());
    }
    let why = match (body["code"].as_u64(), body["message"].as_str()) {
        (Some(code), Some(m)) => format!("HTTP {status}: {m} (error {code})"),
        (_, Some(m)) => format!("HTTP {status}: {m}"),
        _ => format!("HTTP {status}"),
    };
    Err(if status == StatusCode::TOO_MANY_REQUESTS {
        Failure::RateLimited(retry_after.unwrap_or(Duration::from_secs(1)))
    } else if status.is_server_error() {
        Failure::Transient(why)
    } else {
        Failure::Permanent(why)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn statuses_map_to_retry_decisions() {
        assert_eq!(classify(StatusCode::CREATED, None, &json!({})), Ok(()));
        assert_eq!(
            classify(
                StatusCode::TOO_MANY_REQUESTS,
                Some(Duration::from_secs(7)),
                &json!({})
            ),
            Err(Failure::RateLimited(Duration::from_secs(7)))
        );
        assert!(matches!(
            classify(StatusCode::BAD_GATEWAY, None, &json!({})),
            Err(Failure::Transient(_))
        ));
        let bad_number =
            json!({"code": 21211, "message": "The 'To' number is not a valid phone number."});
        assert_eq!(
            classify(StatusCode::BAD_REQUEST, None, &bad_number),
            Err(Failure::Permanent(
                "HTTP 400 Bad Request: The 'To' number is not a valid phone number. (error 21211)"
                    .into()
            ))
        );
    }
}
