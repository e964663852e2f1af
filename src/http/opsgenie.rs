//! The Opsgenie-compatible Alert API: `POST /v2/alerts` and
//! `POST /v2/alerts/{identifier}/acknowledge|close|notes`, authenticated by
//! `Authorization: GenieKey <integration_key>`. Answers are Opsgenie's
//! shapes, and 202 only once the change is on disk.

use super::answers::{json_response, store_failure};
use super::{Handler, Resp};
use crate::domain::incident::{Actor, Transition};
use crate::ingest::events_v2::generate_dedup_key;
use crate::ingest::opsgenie::{self, IdentifierType, Refused};
use crate::ingest::{AlertAction, AlertEvent};
use crate::ops::alert::{IngestError, Outcome};
use crate::store::Changed;
use bytes::Bytes;
use hyper::header::HeaderValue;
use hyper::http::request::Parts;
use hyper::StatusCode;
use std::time::Instant;

/// What a request under `/v2/alerts/{identifier}/` asks for.
#[derive(Debug, Clone, Copy)]
pub(super) enum Verb {
    Acknowledge,
    Close,
    Notes,
}

impl Verb {
    pub(super) fn from_path(s: &str) -> Option<Verb> {
        Some(match s {
            "acknowledge" => Verb::Acknowledge,
            "close" => Verb::Close,
            "notes" => Verb::Notes,
            _ => return None,
        })
    }
}

/// One request's id and start, for the `requestId` and `took` of its answer.
struct Answer {
    id: String,
    started: Instant,
}

impl Answer {
    fn new() -> Answer {
        Answer {
            id: opsgenie::request_id(),
            started: Instant::now(),
        }
    }

    fn took(&self) -> f64 {
        (self.started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0
    }

    fn with_id(&self, mut r: Resp) -> Resp {
        if let Ok(v) = HeaderValue::from_str(&self.id) {
            r.headers_mut().insert("x-request-id", v);
        }
        r
    }

    fn accepted(&self) -> Resp {
        self.with_id(json_response(
            StatusCode::ACCEPTED,
            &opsgenie::accepted(self.took(), &self.id),
        ))
    }

    fn error(&self, status: StatusCode, message: &str) -> Resp {
        self.with_id(json_response(
            status,
            &opsgenie::error(message, None, self.took(), &self.id),
        ))
    }

    fn refused(&self, r: &Refused) -> Resp {
        match r {
            Refused::Syntax(why) => self.error(StatusCode::BAD_REQUEST, why),
            Refused::Fields(f) => self.with_id(json_response(
                StatusCode::UNPROCESSABLE_ENTITY,
                &opsgenie::error(
                    "Request body is not processable. Please check the errors.",
                    Some(f),
                    self.took(),
                    &self.id,
                ),
            )),
        }
    }

    fn unauthenticated(&self) -> Resp {
        self.error(StatusCode::UNAUTHORIZED, "Could not authenticate")
    }

    fn store_failure(&self, e: &crate::store::StoreError, what: &str) -> Resp {
        self.with_id(store_failure(e, what))
    }
}

fn decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

impl Handler {
    /// The integration key of a request, if it names a service.
    fn genie_service(&self, parts: &Parts) -> Option<String> {
        let header = parts
            .headers
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let key = opsgenie::genie_key(header)?;
        self.core
            .config
            .service_by_key(key)
            .map(|s| s.integration_key.clone())
    }

    /// `POST /v2/alerts`: creates (or, with a known alias, joins) an alert.
    pub(super) async fn opsgenie_create(self, parts: Parts, body: Bytes) -> Resp {
        let answer = Answer::new();
        let Some(key) = self.genie_service(&parts) else {
            return answer.unauthenticated();
        };
        let ev = match opsgenie::parse_create(&body, &key, generate_dedup_key) {
            Ok(ev) => ev,
            Err(r) => return answer.refused(&r),
        };
        match self.ingest.apply(&ev).await {
            Ok(_) => answer.accepted(),
            Err(IngestError::UnknownKey) => answer.unauthenticated(),
            Err(IngestError::Store(e)) => answer.store_failure(&e, "the alert"),
        }
    }

    /// `POST /v2/alerts/{identifier}/acknowledge|close|notes`.
    pub(super) async fn opsgenie_act(
        self,
        parts: Parts,
        identifier: String,
        verb: Verb,
        body: Bytes,
    ) -> Resp {
        let answer = Answer::new();
        let Some(key) = self.genie_service(&parts) else {
            return answer.unauthenticated();
        };
        let kind = match opsgenie::identifier_type(parts.uri.query()) {
            Ok(k) => k,
            Err(r) => return answer.refused(&r),
        };
        let action = match opsgenie::parse_action(&body, matches!(verb, Verb::Notes)) {
            Ok(a) => a,
            Err(r) => return answer.refused(&r),
        };
        let identifier = decode(&identifier);
        let missing = || {
            answer.error(
                StatusCode::NOT_FOUND,
                &format!("Alert with {} [{identifier}] does not exist", kind.name()),
            )
        };
        // The incident the identifier names, on this key's service only.
        let id = match kind {
            IdentifierType::Alias => self.core.store.id_by_key(&key, &identifier).await,
            IdentifierType::Id => match identifier.trim_start_matches('#').parse::<u64>() {
                Ok(id) => self.core.store.incident(id).await.map(|inc| {
                    inc.filter(|i| {
                        self.core.config.service_by_key(&key).map(|s| &s.id) == Some(&i.service_id)
                    })
                    .map(|i| i.id)
                }),
                Err(_) => Ok(None),
            },
        };
        let id = match id {
            Ok(Some(id)) => id,
            Ok(None) => return missing(),
            Err(e) => return answer.store_failure(&e, "the request"),
        };
        let by = Actor::Integration {
            client: Some(
                action
                    .source
                    .clone()
                    .unwrap_or_else(|| "Opsgenie API".into()),
            ),
        };
        let transition = match verb {
            Verb::Acknowledge => Some(Transition::Acknowledge),
            Verb::Close => Some(Transition::Resolve),
            Verb::Notes => None,
        };
        if let Some(t) = transition {
            let done = match kind {
                // Through the same path as every other tool's acknowledge
                // and resolve, so a grouped alert's members resolve alike.
                IdentifierType::Alias => {
                    let ev = AlertEvent {
                        routing_key: key.clone(),
                        dedup_key: identifier.clone(),
                        action: match t {
                            Transition::Acknowledge => AlertAction::Acknowledge,
                            Transition::Resolve => AlertAction::Resolve,
                        },
                    };
                    match self.ingest.apply(&ev).await {
                        Ok(Outcome::Changed(Changed::NotFound)) => return missing(),
                        Ok(_) => Ok(()),
                        Err(IngestError::UnknownKey) => return answer.unauthenticated(),
                        Err(IngestError::Store(e)) => Err(e),
                    }
                }
                IdentifierType::Id => self.core.transition(id, t, by).await.map(|_| ()),
            };
            if let Err(e) = done {
                return answer.store_failure(&e, "the request");
            }
        }
        if let Some(line) = action.note_line() {
            match self.core.add_tool_note(id, &line).await {
                Ok(Ok(_)) => {}
                Ok(Err(_)) => return missing(),
                Err(e) => return answer.store_failure(&e, "the note"),
            }
        }
        answer.accepted()
    }

    /// Any other request under `/v2/alerts`, in Opsgenie's error shape.
    pub(super) fn opsgenie_unsupported(&self, method: &hyper::Method, path: &str) -> Resp {
        Answer::new().error(
            StatusCode::NOT_FOUND,
            &format!("{method} {path} is not supported here: this API takes POST /v2/alerts and POST /v2/alerts/{{identifier}}/acknowledge, close and notes"),
        )
    }
}
