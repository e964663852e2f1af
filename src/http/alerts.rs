//! The monitoring intake: PagerDuty events and change events, Alertmanager
//! and Grafana notifications, mapped webhooks and heartbeats. Each answers
//! only once what it was sent is on disk.

use super::answers::{json_response, store_failure};
use super::{Handler, Resp};
use crate::ingest::alertmanager::{self, Source};
use crate::ingest::events_v2;
use crate::ingest::webhook::{self, Mapped};
use crate::ops::alert::IngestError;
use crate::ops::heartbeat::Beat;
use crate::store::Outbound;
use bytes::Bytes;
use hyper::{HeaderMap, StatusCode};
use serde_json::{json, Value};

impl Handler {
    /// Alertmanager's and Grafana's webhooks: 200 once stored; 404 for an
    /// unknown key; 400 names what is wrong; 500 makes the sender retry.
    pub(super) async fn grouped(self, source: Source, key: String, body: Bytes) -> Resp {
        if self.core.config.service_by_key(&key).is_none() {
            return json_response(
                StatusCode::NOT_FOUND,
                &json!({"error": "unknown integration key"}),
            );
        }
        let ev = match alertmanager::parse(source, &body, &key, self.core.clock.now()) {
            Ok(ev) => ev,
            Err(e) => return json_response(StatusCode::BAD_REQUEST, &json!({"error": e})),
        };
        match self.ingest.apply(&ev).await {
            Ok(_) => json_response(StatusCode::OK, &json!({"status": "ok"})),
            Err(IngestError::UnknownKey) => json_response(
                StatusCode::NOT_FOUND,
                &json!({"error": "unknown integration key"}),
            ),
            Err(IngestError::Store(e)) => store_failure(&e, "the alerts"),
        }
    }

    /// A generic webhook, mapped by the service's template. A mapping that
    /// fails at runtime still opens an incident (with the raw payload) and says so.
    /// A form-encoded body (StatusCake, curl `--data-urlencode`) is read as an
    /// object of its fields.
    pub(super) async fn webhook(self, key: String, form: bool, body: Bytes) -> Resp {
        let not_found = |m: &str| json_response(StatusCode::NOT_FOUND, &json!({"error": m}));
        let Some(service) = self.core.config.service_by_key(&key) else {
            return not_found("unknown integration key");
        };
        let Some(mapping) = service
            .webhook
            .as_deref()
            .and_then(|n| self.core.mappings.get(n))
        else {
            return not_found("this service has no webhook mapping (set `webhook` on it)");
        };
        if let Some(why) = crate::ingest::limits::too_deep(&body) {
            return json_response(StatusCode::BAD_REQUEST, &json!({"error": why}));
        }
        let parsed = if form {
            webhook::form_payload(&body)
        } else {
            serde_json::from_slice(&body).map_err(|e| format!("body is not valid JSON: {e}"))
        };
        let payload: Value = match parsed {
            Ok(v) => v,
            Err(e) => return json_response(StatusCode::BAD_REQUEST, &json!({"error": e})),
        };
        let (mapped, error) = webhook::apply(mapping, &service.integration_key, &payload);
        if let Some(e) = &error {
            tracing::warn!(service = %service.id, error = %e, "webhook mapping failed; opened a raw-payload incident");
        }
        match mapped {
            Mapped::Event(ev) => match self.ingest.apply(&ev).await {
                Ok(_) => json_response(
                    StatusCode::ACCEPTED,
                    &json!({"status": "ok", "dedup_key": ev.dedup_key, "mapping_error": error.map(|e| e.to_string())}),
                ),
                Err(IngestError::UnknownKey) => not_found("unknown integration key"),
                Err(IngestError::Store(e)) => store_failure(&e, "the alert"),
            },
            Mapped::ConfirmSubscription { url } => {
                match self.core.enqueue("fetch", Outbound::Fetch { url }).await {
                    Ok(_) => json_response(StatusCode::OK, &json!({"status": "confirming"})),
                    Err(e) => store_failure(&e, "the subscription confirmation"),
                }
            }
            Mapped::Ignore(why) => {
                json_response(StatusCode::OK, &json!({"status": "ignored", "reason": why}))
            }
        }
    }

    /// A heartbeat: 200 with when the next is due; 404 for an unknown token.
    pub(super) async fn heartbeat(&self, token: &str) -> Resp {
        match crate::ops::heartbeat::beat(&self.core, token).await {
            Ok(Some(Beat::Recorded { next_due })) => json_response(
                StatusCode::OK,
                &json!({"status": "ok", "next_due": next_due.to_rfc3339()}),
            ),
            Ok(Some(Beat::Recovered { next_due })) => json_response(
                StatusCode::OK,
                &json!({"status": "recovered", "next_due": next_due.to_rfc3339()}),
            ),
            Ok(None) => json_response(
                StatusCode::NOT_FOUND,
                &json!({"error": "no heartbeat monitor has this token"}),
            ),
            Err(IngestError::UnknownKey) => json_response(
                StatusCode::NOT_FOUND,
                &json!({"error": "no heartbeat monitor has this token"}),
            ),
            Err(IngestError::Store(e)) => store_failure(&e, "the heartbeat"),
        }
    }

    /// A change event: stored on its service, shown on the service's next incidents.
    pub(super) async fn change(self, body: Bytes) -> Resp {
        let (key, change) = match events_v2::parse_change(&body, self.core.clock.now()) {
            Ok(c) => c,
            Err(errors) => {
                return json_response(StatusCode::BAD_REQUEST, &events_v2::invalid(&errors))
            }
        };
        let Some(service) = self.core.config.service_by_key(&key) else {
            return json_response(
                StatusCode::BAD_REQUEST,
                &events_v2::invalid(&[
                    "'routing_key' does not belong to any service (unknown integration key)".into(),
                ]),
            );
        };
        match self.core.record_change(&service.id, &change).await {
            Ok(()) => json_response(StatusCode::ACCEPTED, &events_v2::change_accepted()),
            Err(e) => store_failure(&e, "the change"),
        }
    }

    #[tracing::instrument(skip_all)]
    pub(super) async fn enqueue(self, body: Bytes) -> Resp {
        let ev = match events_v2::parse(&body, events_v2::generate_dedup_key) {
            Ok(ev) => ev,
            Err(errors) => {
                return json_response(StatusCode::BAD_REQUEST, &events_v2::invalid(&errors))
            }
        };
        match self.ingest.apply(&ev).await {
            Ok(_) => json_response(StatusCode::ACCEPTED, &events_v2::accepted(&ev.dedup_key)),
            Err(IngestError::UnknownKey) => json_response(
                StatusCode::BAD_REQUEST,
                &events_v2::invalid(&[
                    "'routing_key' does not belong to any service (unknown integration key)".into(),
                ]),
            ),
            // Never 202 for an event that is not on disk.
            Err(IngestError::Store(e)) => store_failure(&e, "the event"),
        }
    }
}

/// Whether a request's body is a form (`application/x-www-form-urlencoded`).
pub(super) fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}
