//! The one `match` on method and path, and the Slack signature check every
//! Slack endpoint goes through before its handler.

use super::answers::{json_response, reply_response, voice_response};
use super::opsgenie::Verb;
use super::{Handler, Resp};
use crate::ingest::alertmanager::Source;
use crate::slack::inbound::{self, Replays, Reply};
use crate::twilio::voice;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde_json::json;

impl Handler {
    pub(super) async fn handle(&self, req: Request<Incoming>) -> Resp {
        let (method, path) = (req.method().clone(), req.uri().path().to_string());
        match (&method, path.as_str()) {
            (&Method::GET, "/healthz") => self.healthz(),
            (&Method::GET, p) if p.starts_with("/schedules/") && p.ends_with(".ics") => {
                let id = &p["/schedules/".len()..p.len() - ".ics".len()];
                self.feed(id, req.uri().query().unwrap_or("")).await
            }
            (&Method::POST, "/v2/enqueue") => self.with_body(req, |h, _, b| h.enqueue(b)).await,
            (&Method::POST, "/v2/change/enqueue") => {
                self.with_body(req, |h, _, b| h.change(b)).await
            }
            (&Method::POST, p) if p.starts_with("/integrations/alertmanager/") => {
                let key = p["/integrations/alertmanager/".len()..].to_string();
                self.with_body(req, |h, _, b| h.grouped(Source::Alertmanager, key, b))
                    .await
            }
            (&Method::POST, p) if p.starts_with("/integrations/webhook/") => {
                let key = p["/integrations/webhook/".len()..].to_string();
                self.with_body(req, |h, parts, b| {
                    let form = super::alerts::is_form(&parts.headers);
                    h.webhook(key, form, b)
                })
                .await
            }
            (&Method::POST, p) if p.starts_with("/integrations/grafana/") => {
                let key = p["/integrations/grafana/".len()..].to_string();
                self.with_body(req, |h, _, b| h.grouped(Source::Grafana, key, b))
                    .await
            }
            (&Method::POST, "/v2/alerts") => {
                self.with_body(req, |h, parts, b| h.opsgenie_create(parts, b))
                    .await
            }
            (&Method::POST, p) if p.starts_with("/v2/alerts/") => {
                let rest = &p["/v2/alerts/".len()..];
                match rest.split_once('/') {
                    Some((ident, verb)) if !ident.is_empty() => match Verb::from_path(verb) {
                        Some(verb) => {
                            let ident = ident.to_string();
                            self.with_body(req, |h, parts, b| h.opsgenie_act(parts, ident, verb, b))
                                .await
                        }
                        None => self.opsgenie_unsupported(&method, &path),
                    },
                    _ => self.opsgenie_unsupported(&method, &path),
                }
            }
            (_, p) if p == "/v2/alerts" || p.starts_with("/v2/alerts/") => {
                self.opsgenie_unsupported(&method, &path)
            }
            (&Method::GET, "/api/v1/report") => self.report(&req).await,
            (&Method::GET, "/api/v1/overrides") => self.overrides(&req).await,
            (&Method::GET, "/api/v1/outbox/dead") => self.dead_letters(&req).await,
            (&Method::POST, p)
                if p.starts_with("/api/v1/outbox/dead/") && p.ends_with("/retry") =>
            {
                let id = &p["/api/v1/outbox/dead/".len()..p.len() - "/retry".len()];
                self.retry_dead(&req, id).await
            }
            (_, p) if super::v1::owns(p) => {
                self.with_body(req, |h, parts, b| async move { h.v1(parts, b).await })
                    .await
            }
            (&Method::GET, "/metrics") => self.metrics().await,
            (&Method::GET | &Method::POST, p) if p.starts_with("/heartbeat/") => {
                self.heartbeat(&p["/heartbeat/".len()..]).await
            }
            (&Method::POST, p) if p.starts_with("/voice/") => {
                self.with_body(req, |h, parts, b| async move {
                    let sig = parts
                        .headers
                        .get("x-twilio-signature")
                        .and_then(|v| v.to_str().ok());
                    let (path, query) = (parts.uri.path(), parts.uri.query());
                    voice_response(voice::handle(&h.core, path, query, sig, &b).await)
                })
                .await
            }
            (_, p) if p == "/sandbox" || p.starts_with("/sandbox/") => {
                self.with_body(req, |h, parts, b| async move { h.sandbox(&parts, b).await })
                    .await
            }
            (&Method::POST, "/slack/events") => {
                self.with_slack_body(req, Replays::Allow, |h, b| async move {
                    inbound::events(&h.core, &b).await
                })
                .await
            }
            (&Method::POST, "/slack/commands") => {
                self.with_slack_body(req, Replays::Refuse, |h, b| async move {
                    inbound::command(&h.core, &b).await
                })
                .await
            }
            (&Method::POST, "/slack/interactions") => {
                self.with_slack_body(req, Replays::Refuse, |h, b| async move {
                    inbound::interaction(&h.core, &b).await
                })
                .await
            }
            (
                _,
                "/healthz"
                | "/v2/enqueue"
                | "/v2/change/enqueue"
                | "/slack/events"
                | "/slack/commands"
                | "/slack/interactions",
            ) => json_response(
                StatusCode::METHOD_NOT_ALLOWED,
                &json!({"error": format!("{method} is not allowed here")}),
            ),
            _ => json_response(
                StatusCode::NOT_FOUND,
                &json!({"error": format!("no route for {path}")}),
            ),
        }
    }

    /// The sandbox's page and Web API; 404 while the sandbox is off.
    async fn sandbox(&self, parts: &hyper::http::request::Parts, body: Bytes) -> Resp {
        let Some(sb) = &self.sandbox else {
            return json_response(
                StatusCode::NOT_FOUND,
                &json!({"error": "the sandbox is off: Slack credentials are set (serve --sandbox turns it on)"}),
            );
        };
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let a = sb
            .answer(
                parts.method.as_str(),
                parts.uri.path(),
                parts.uri.query(),
                &header,
                body,
            )
            .await;
        let mut r = hyper::Response::new(http_body_util::Full::new(a.body));
        *r.status_mut() =
            StatusCode::from_u16(a.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        r.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static(a.content_type),
        );
        r
    }

    /// Reads the body, checks Slack's signature over the raw bytes, then calls `f`.
    async fn with_slack_body<F, Fut>(&self, req: Request<Incoming>, replays: Replays, f: F) -> Resp
    where
        F: FnOnce(Handler, Bytes) -> Fut,
        Fut: std::future::Future<Output = Reply>,
    {
        self.with_body(req, |h, parts, body| async move {
            let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
            let auth = inbound::authenticate(
                &h.core,
                header("x-slack-request-timestamp"),
                header("x-slack-signature"),
                &body,
                replays,
            );
            let reply = match auth.await {
                Ok(()) => f(h, body).await,
                Err(r) => r,
            };
            reply_response(reply)
        })
        .await
    }
}
