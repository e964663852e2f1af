//! The HTTP edge (hyper 1): routing, body limits, status codes. No domain logic.

use crate::app::Core;
use crate::heartbeat::Beat;
use crate::ingest::alertmanager::{self, Source};
use crate::ingest::webhook::{self, Mapped};
use crate::ingest::{events_v2, Ingest, IngestError};
use crate::slack::inbound::{self, Replays, Reply};
use crate::store::{Outbound, StoreError};
use crate::twilio::voice;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

/// Bodies larger than this get 413.
pub const MAX_BODY: usize = 1024 * 1024;
/// An oversized body is read and thrown away up to this much before the 413,
/// so a client that writes its whole body before reading sees the answer
/// rather than a reset connection. Past it the connection is closed.
const DRAIN_MAX: u64 = 8 * 1024 * 1024;
/// Connections past `max_connections` that are still answered (503, or
/// `/healthz`) instead of being closed at once.
const SPARE_CONNECTIONS: usize = 16;
/// How long a spare connection may take to send its request line and headers.
const SPARE_READ_TIMEOUT: Duration = Duration::from_secs(1);

/// What bounds the server's use of connections and time.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once.
    pub max_connections: usize,
    /// For the request head, and again for the body.
    pub read_timeout: Duration,
}

type Resp = Response<Full<Bytes>>;

/// What every request is served with. A handle on one shared copy: each
/// request clones it (twice on the body paths), and cloning `Core` itself
/// would copy every store tree handle and several strings each time.
#[derive(Clone)]
struct Handler(Arc<Shared>);

struct Shared {
    core: Core,
    ingest: Ingest,
    read_timeout: Duration,
}

impl std::ops::Deref for Handler {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// Serves until `shutdown` turns true, then waits for in-flight requests.
///
/// At most `limits.max_connections` connections are served at once, so
/// clients that stall cannot use up the process's file descriptors. Past
/// that, [`SPARE_CONNECTIONS`] more get an immediate answer (`/healthz` as
/// usual, anything else 503) and are closed; beyond those, new connections
/// are closed on accept.
pub async fn serve(
    listener: TcpListener,
    core: Core,
    ingest: Ingest,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
) {
    let handler = Handler(Arc::new(Shared {
        core,
        ingest,
        read_timeout: limits.read_timeout,
    }));
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let spare = Arc::new(Semaphore::new(SPARE_CONNECTIONS));
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(s) => s,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                if let Ok(slot) = slots.clone().try_acquire_owned() {
                    handler.connection(stream, slot, &graceful);
                } else if let Ok(slot) = spare.clone().try_acquire_owned() {
                    handler.overflow(stream, slot, &graceful);
                } else {
                    tracing::debug!("too many connections: closed a new one at once");
                    drop(stream);
                }
            }
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    tracing::info!("shutting down: waiting for in-flight requests");
    graceful.shutdown().await;
}

impl Handler {
    /// Serves one connection; its slot is given back when it ends.
    fn connection(
        &self,
        stream: TcpStream,
        slot: OwnedSemaphorePermit,
        graceful: &GracefulShutdown,
    ) {
        let h = self.clone();
        let svc = hyper::service::service_fn(move |req| {
            let h = h.clone();
            async move { Ok::<_, std::convert::Infallible>(h.handle(req).await) }
        });
        // Also bounds how long an idle keep-alive connection holds its slot.
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(self.read_timeout)
            .serve_connection(TokioIo::new(stream), svc);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }

    /// A connection past the cap: one request, answered at once, then closed.
    /// Probes still get `/healthz`; everyone else a 503 to retry.
    fn overflow(&self, stream: TcpStream, slot: OwnedSemaphorePermit, graceful: &GracefulShutdown) {
        let h = self.clone();
        let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
            let h = h.clone();
            async move {
                let r = if req.method() == Method::GET && req.uri().path() == "/healthz" {
                    h.healthz()
                } else {
                    json_response(
                        StatusCode::SERVICE_UNAVAILABLE,
                        &json!({"status": "error", "message": "too many connections; retry"}),
                    )
                };
                Ok::<_, std::convert::Infallible>(r)
            }
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(SPARE_READ_TIMEOUT.min(self.read_timeout))
            .keep_alive(false)
            .serve_connection(TokioIo::new(stream), svc);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
            drop(slot);
        });
    }
}

impl Handler {
    async fn handle(&self, req: Request<Incoming>) -> Resp {
        let (method, path) = (req.method().clone(), req.uri().path().to_string());
        match (&method, path.as_str()) {
            (&Method::GET, "/healthz") => self.healthz(),
            (&Method::GET, p) if p.starts_with("/schedules/") && p.ends_with(".ics") => {
                let id = &p["/schedules/".len()..p.len() - ".ics".len()];
                self.feed(id, req.uri().query().unwrap_or(""))
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
                self.with_body(req, |h, _, b| h.webhook(key, b)).await
            }
            (&Method::POST, p) if p.starts_with("/integrations/grafana/") => {
                let key = p["/integrations/grafana/".len()..].to_string();
                self.with_body(req, |h, _, b| h.grouped(Source::Grafana, key, b))
                    .await
            }
            (&Method::GET, "/api/v1/report") => self.report(&req),
            (&Method::GET, "/api/v1/overrides") => self.overrides(&req),
            (&Method::GET, "/api/v1/outbox/dead") => self.dead_letters(&req),
            (&Method::POST, p)
                if p.starts_with("/api/v1/outbox/dead/") && p.ends_with("/retry") =>
            {
                let id = &p["/api/v1/outbox/dead/".len()..p.len() - "/retry".len()];
                self.retry_dead(&req, id).await
            }
            (&Method::GET, "/metrics") => self.metrics(),
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

    /// Reads the body (up to [`MAX_BODY`]) and hands it to `f`.
    async fn with_body<F, Fut>(&self, req: Request<Incoming>, f: F) -> Resp
    where
        F: FnOnce(Handler, hyper::http::request::Parts, Bytes) -> Fut,
        Fut: std::future::Future<Output = Resp>,
    {
        let (parts, body) = req.into_parts();
        match read_body(&parts, body, self.read_timeout).await {
            Ok(b) => f(self.clone(), parts, b).await,
            Err(r) => r,
        }
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
            let reply = match auth {
                Ok(()) => f(h, body).await,
                Err(r) => r,
            };
            reply_response(reply)
        })
        .await
    }

    fn feed(&self, id: &str, query: &str) -> Resp {
        let token = serde_urlencoded::from_str::<Vec<(String, String)>>(query)
            .ok()
            .and_then(|q| q.into_iter().find(|(k, _)| k == "token").map(|(_, v)| v))
            .unwrap_or_default();
        match self.core.schedule_feed(id, &token) {
            Ok(Some(ics)) => {
                let mut r = Response::new(Full::new(Bytes::from(ics)));
                r.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/calendar; charset=utf-8"),
                );
                r
            }
            // An unknown schedule and a wrong token look the same from outside.
            Ok(None) => json_response(
                StatusCode::NOT_FOUND,
                &json!({"error": "no such calendar feed"}),
            ),
            Err(e) => store_failure(&e, "the feed"),
        }
    }

    /// Alertmanager's and Grafana's webhooks: 200 once stored; 404 for an
    /// unknown key; 400 names what is wrong; 500 makes the sender retry.
    async fn grouped(self, source: Source, key: String, body: Bytes) -> Resp {
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
    async fn webhook(self, key: String, body: Bytes) -> Resp {
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
        let payload: Value = match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => {
                return json_response(
                    StatusCode::BAD_REQUEST,
                    &json!({"error": format!("body is not valid JSON: {e}")}),
                )
            }
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

    /// 200 while the store takes alerts; 503 with the reason while it cannot
    /// write or is below the free-space floor (it recovers by itself).
    fn healthz(&self) -> Resp {
        match self.core.store.health().problem() {
            None => json_response(StatusCode::OK, &json!({"status": "ok"})),
            Some(reason) => json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &json!({"status": "unavailable", "reason": reason}),
            ),
        }
    }

    /// Prometheus text: the process counters plus gauges read from the store now.
    fn metrics(&self) -> Resp {
        let store = &self.core.store;
        let health = store.health();
        let writable = if health.problem().is_none() { 1.0 } else { 0.0 };
        let free = health.free().map_or(-1.0, |f| f as f64);
        let now = self.core.clock.now();
        let open = store.open_count().map(|n| n as f64).unwrap_or(-1.0);
        let (depth, oldest) = match store.outbox_pending() {
            Ok(rows) => {
                let oldest = rows
                    .iter()
                    .map(|(_, i)| (now - i.enqueued_at).num_milliseconds() as f64 / 1000.0)
                    .fold(0.0, f64::max);
                (rows.len() as f64, oldest)
            }
            Err(_) => (-1.0, -1.0),
        };
        let text = crate::metrics::global().render(&[
            ("tocsin_open_incidents", "Incidents not yet resolved.", open),
            (
                "tocsin_outbox_depth",
                "Outbound work waiting to be sent.",
                depth,
            ),
            (
                "tocsin_outbox_oldest_seconds",
                "Age of the oldest outbound work waiting.",
                oldest,
            ),
            (
                "tocsin_store_writable",
                "1 while the store takes alerts; 0 while it cannot write or is below TOCSIN_MIN_FREE_MB.",
                writable,
            ),
            (
                "tocsin_store_free_bytes",
                "Free space on the data directory's disk (-1: unknown).",
                free,
            ),
            (
                "tocsin_slack_auth_failing",
                "1 while Slack refuses the bot token and every Slack message waits, else 0.",
                f64::from(u8::from(
                    self.core
                        .slack_auth_failing
                        .load(std::sync::atomic::Ordering::SeqCst),
                )),
            ),
            (
                "tocsin_outbox_dead",
                "Outbound work refused for good, kept as dead letters (GET /api/v1/outbox/dead).",
                store.dead_count() as f64,
            ),
        ]);
        let mut r = Response::new(Full::new(Bytes::from(text)));
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        );
        r
    }

    /// The read API's door: 404 while it is off, 401 without the bearer
    /// token (compared in constant time); else the query's pairs.
    fn api_request(&self, req: &Request<Incoming>) -> Result<Vec<(String, String)>, Box<Resp>> {
        let Some(token) = &self.core.api_token else {
            return Err(Box::new(json_response(
                StatusCode::NOT_FOUND,
                &json!({"error": "the API is off: set TOCSIN_API_TOKEN"}),
            )));
        };
        let given = req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            given.as_bytes(),
            token.expose().as_bytes(),
        )) {
            return Err(Box::new(json_response(
                StatusCode::UNAUTHORIZED,
                &json!({"error": "missing or wrong bearer token"}),
            )));
        }
        Ok(req
            .uri()
            .query()
            .and_then(|q| serde_urlencoded::from_str(q).ok())
            .unwrap_or_default())
    }

    /// `GET /api/v1/overrides?schedule=ID`, with the bearer token: the
    /// schedule's overrides, so `tocsin oncall` can answer while this server
    /// holds the store.
    fn overrides(&self, req: &Request<Incoming>) -> Resp {
        let q = match self.api_request(req) {
            Ok(q) => q,
            Err(refused) => return *refused,
        };
        let id = q
            .iter()
            .find(|(n, _)| n == "schedule")
            .map(|(_, v)| v.as_str());
        let Some(id) = id.filter(|id| self.core.config.schedules.iter().any(|s| s.id == *id))
        else {
            return json_response(
                StatusCode::BAD_REQUEST,
                &json!({"error": "`schedule` must name a configured schedule"}),
            );
        };
        match self.core.store.overrides(id) {
            Ok(list) => {
                let overrides: Vec<_> = list.into_iter().map(|o| o.over).collect();
                json_response(
                    StatusCode::OK,
                    &json!({"schedule": id, "overrides": overrides}),
                )
            }
            Err(e) => store_failure(&e, "the overrides"),
        }
    }

    /// `GET /api/v1/outbox/dead`, with the bearer token: the dead letters,
    /// oldest first, so `tocsin outbox list` can show them while this
    /// server holds the store.
    fn dead_letters(&self, req: &Request<Incoming>) -> Resp {
        if let Err(refused) = self.api_request(req) {
            return *refused;
        }
        match self.core.store.dead_letters() {
            Ok(rows) => {
                let dead: Vec<Value> = rows
                    .into_iter()
                    .map(|(id, item)| {
                        json!({"id": id, "lane": item.lane, "enqueued_at": item.enqueued_at,
                               "attempts": item.attempts, "work": item.op})
                    })
                    .collect();
                json_response(StatusCode::OK, &json!({ "dead": dead }))
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read the dead letters");
                json_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &json!({"error": "cannot read the store"}),
                )
            }
        }
    }

    /// `POST /api/v1/outbox/dead/{id}/retry`, with the bearer token: puts a
    /// dead letter back at the end of its lane; 404 if there is none.
    async fn retry_dead(&self, req: &Request<Incoming>, id: &str) -> Resp {
        if let Err(refused) = self.api_request(req) {
            return *refused;
        }
        let Ok(seq) = id.parse::<u64>() else {
            return json_response(
                StatusCode::BAD_REQUEST,
                &json!({"error": format!("{id:?} is not a dead letter id (a number)")}),
            );
        };
        match self.core.store.retry_dead(seq, self.core.clock.now()) {
            // Answered once it is on disk, as everything queued is.
            Ok(Some(queued)) => match self.core.store.durable().await {
                Ok(()) => {
                    self.core.outbox_ready.notify_one();
                    json_response(StatusCode::OK, &json!({"id": seq, "queued_as": queued}))
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot flush a retried dead letter");
                    json_response(
                        StatusCode::SERVICE_UNAVAILABLE,
                        &json!({"error": "cannot write the store; try again"}),
                    )
                }
            },
            Ok(None) => json_response(
                StatusCode::NOT_FOUND,
                &json!({"error": format!("no dead letter {seq}")}),
            ),
            Err(e) => {
                tracing::error!(error = %e, "cannot retry a dead letter");
                json_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &json!({"error": "cannot write the store"}),
                )
            }
        }
    }

    /// `GET /api/v1/report?team=T&since=DATE[&until=DATE][&format=csv]`, with
    /// `Authorization: Bearer TOCSIN_API_TOKEN`.
    fn report(&self, req: &Request<Incoming>) -> Resp {
        let q = match self.api_request(req) {
            Ok(q) => q,
            Err(refused) => return *refused,
        };
        let arg = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let bad = |m: String| json_response(StatusCode::BAD_REQUEST, &json!({"error": m}));
        let Some(team) = arg("team").filter(|t| self.core.config.team(t).is_some()) else {
            return bad("`team` must name a configured team".into());
        };
        let day = |k: &str| -> Result<Option<chrono::DateTime<chrono::Utc>>, String> {
            arg(k).map(crate::report::parse_day).transpose()
        };
        let (since, until) = match (day("since"), day("until")) {
            (Ok(Some(s)), Ok(u)) => (s, u.unwrap_or_else(|| self.core.clock.now())),
            (Ok(None), _) => return bad("`since` is required (a date like 2026-11-01)".into()),
            (Err(e), _) | (_, Err(e)) => return bad(e),
        };
        if since >= until {
            return bad("`since` must be before `until`".into());
        }
        match crate::report::gather::build(&self.core.config, &self.core.store, team, since, until)
        {
            Ok(r) if arg("format") == Some("csv") => {
                let mut resp =
                    Response::new(Full::new(Bytes::from(crate::report::gather::csv(&r))));
                resp.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/csv; charset=utf-8"),
                );
                resp
            }
            Ok(r) => json_response(
                StatusCode::OK,
                &serde_json::to_value(&r).unwrap_or_default(),
            ),
            Err(e) => store_failure(&e, "the report"),
        }
    }

    /// A heartbeat: 200 with when the next is due; 404 for an unknown token.
    async fn heartbeat(&self, token: &str) -> Resp {
        match crate::heartbeat::beat(&self.core, token).await {
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
    async fn change(self, body: Bytes) -> Resp {
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
        let stored = self.core.store.add_change(&service.id, &change);
        match stored {
            Ok(()) => match self.core.store.durable().await {
                Ok(()) => json_response(StatusCode::ACCEPTED, &events_v2::change_accepted()),
                Err(e) => store_failure(&e, "the change"),
            },
            Err(e) => store_failure(&e, "the change"),
        }
    }

    #[tracing::instrument(skip_all)]
    async fn enqueue(self, body: Bytes) -> Resp {
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

/// Reads a body of at most [`MAX_BODY`] bytes within `timeout`.
///
/// A larger body gets 413, but only after it has been read and thrown away
/// (up to [`DRAIN_MAX`]): a client that writes its whole body before reading
/// the answer would otherwise meet a reset connection instead of the 413. A
/// body that does not arrive in time gets 408. Both close the connection.
async fn read_body(
    parts: &hyper::http::request::Parts,
    mut body: Incoming,
    timeout: Duration,
) -> Result<Bytes, Resp> {
    let too_large = || {
        closing(json_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            &json!({"status": "invalid event", "message": format!("body is larger than {MAX_BODY} bytes")}),
        ))
    };
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > DRAIN_MAX) {
        return Err(too_large());
    }
    let mut oversized = declared.is_some_and(|n| n > MAX_BODY as u64);
    let mut buf = Vec::with_capacity(declared.map_or(0, |n| n.min(MAX_BODY as u64) as usize));
    let read = async {
        let mut seen = 0u64;
        while let Some(frame) = body.frame().await {
            let Ok(data) = frame?.into_data() else {
                continue;
            };
            seen += data.len() as u64;
            if seen > DRAIN_MAX {
                break;
            }
            oversized |= seen > MAX_BODY as u64;
            if !oversized {
                buf.extend_from_slice(&data);
            }
        }
        Ok::<_, hyper::Error>(())
    };
    match tokio::time::timeout(timeout, read).await {
        _ if oversized => Err(too_large()),
        Ok(Ok(())) => Ok(Bytes::from(buf)),
        Ok(Err(e)) => Err(json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": format!("could not read the body: {e}")}),
        )),
        Err(_) => Err(closing(json_response(
            StatusCode::REQUEST_TIMEOUT,
            &json!({"error": format!("the body did not arrive within {} ms", timeout.as_millis())}),
        ))),
    }
}

/// Asks hyper to close the connection once this answer is written.
fn closing(mut r: Resp) -> Resp {
    r.headers_mut()
        .insert(hyper::header::CONNECTION, HeaderValue::from_static("close"));
    r
}

/// The one place a store failure becomes an HTTP answer: 503, so senders
/// (Alertmanager, PagerDuty clients, Slack) retry, with the reason. Logged
/// here, once per request; the store logs the failure itself once.
fn store_failure(e: &StoreError, what: &str) -> Resp {
    tracing::warn!(error = %e, "{what} could not be stored");
    let mut r = json_response(
        StatusCode::SERVICE_UNAVAILABLE,
        &json!({"status": "error", "message": format!("{what} could not be stored; retry"), "reason": e.to_string()}),
    );
    r.headers_mut()
        .insert(hyper::header::RETRY_AFTER, HeaderValue::from_static("5"));
    r
}

fn reply_response(r: Reply) -> Resp {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match r.body {
        Some(v) => json_response(status, &v),
        None => Response::builder()
            .status(status)
            .body(Full::new(Bytes::new()))
            .expect("static response parts are valid"),
    }
}

fn voice_response(r: voice::VoiceReply) -> Resp {
    let mut resp = Response::new(Full::new(Bytes::from(r.body)));
    *resp.status_mut() =
        StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let kind = if r.twiml {
        "text/xml"
    } else {
        "text/plain; charset=utf-8"
    };
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(kind));
    resp
}

fn json_response(status: StatusCode, v: &Value) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}
