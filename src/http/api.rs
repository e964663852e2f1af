//! The first `/api/v1/*` endpoints (report, overrides by query, dead
//! letters), with their plain JSON errors: the CLI uses them while this
//! server holds the store. The REST API proper is `v1`.

use super::answers::{json_response, store_failure};
use super::{Handler, Resp};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Value};

impl Handler {
    /// The door of these older endpoints: 404 while the API is off, 401
    /// without a bearer token it knows (compared in constant time), 403 for
    /// the read token where `write` is asked; else the query's pairs.
    fn api_request_for(
        &self,
        req: &Request<Incoming>,
        write: bool,
    ) -> Result<Vec<(String, String)>, Box<Resp>> {
        let (w, r) = (&self.core.api_token, &self.core.api_read_token);
        if w.is_none() && r.is_none() {
            return Err(Box::new(json_response(
                StatusCode::NOT_FOUND,
                &json!({"error": "the API is off: set TOCSIN_API_TOKEN"}),
            )));
        }
        let given = req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        let is = |t: &Option<crate::settings::Secret>| {
            t.as_ref().is_some_and(|t| {
                bool::from(subtle::ConstantTimeEq::ct_eq(
                    given.as_bytes(),
                    t.expose().as_bytes(),
                ))
            })
        };
        let (writes, reads) = (is(w), is(r));
        if !writes && !reads {
            return Err(Box::new(json_response(
                StatusCode::UNAUTHORIZED,
                &json!({"error": "missing or wrong bearer token"}),
            )));
        }
        if write && !writes {
            return Err(Box::new(json_response(
                StatusCode::FORBIDDEN,
                &json!({"error": "this token may only read: changes take TOCSIN_API_TOKEN"}),
            )));
        }
        Ok(req
            .uri()
            .query()
            .and_then(|q| serde_urlencoded::from_str(q).ok())
            .unwrap_or_default())
    }

    fn api_request(&self, req: &Request<Incoming>) -> Result<Vec<(String, String)>, Box<Resp>> {
        self.api_request_for(req, false)
    }

    /// `GET /api/v1/overrides?schedule=ID`, with the bearer token: the
    /// schedule's overrides, so `tocsin oncall` can answer while this server
    /// holds the store.
    pub(super) async fn overrides(&self, req: &Request<Incoming>) -> Resp {
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
        match self.core.overrides(id).await {
            Ok(overrides) => json_response(
                StatusCode::OK,
                &json!({"schedule": id, "overrides": overrides}),
            ),
            Err(e) => store_failure(&e, "the overrides"),
        }
    }

    /// `GET /api/v1/outbox/dead`, with the bearer token: the dead letters,
    /// oldest first, so `tocsin outbox list` can show them while this
    /// server holds the store.
    pub(super) async fn dead_letters(&self, req: &Request<Incoming>) -> Resp {
        if let Err(refused) = self.api_request(req) {
            return *refused;
        }
        match self.core.dead_letters().await {
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
    pub(super) async fn retry_dead(&self, req: &Request<Incoming>, id: &str) -> Resp {
        if let Err(refused) = self.api_request_for(req, true) {
            return *refused;
        }
        let Ok(seq) = id.parse::<u64>() else {
            return json_response(
                StatusCode::BAD_REQUEST,
                &json!({"error": format!("{id:?} is not a dead letter id (a number)")}),
            );
        };
        match self.core.retry_dead(seq).await {
            // Answered once it is on disk, as everything queued is.
            Ok(Some(queued)) => {
                json_response(StatusCode::OK, &json!({"id": seq, "queued_as": queued}))
            }
            Ok(None) => json_response(
                StatusCode::NOT_FOUND,
                &json!({"error": format!("no dead letter {seq}")}),
            ),
            // Every store failure is a 503 with its reason, as elsewhere.
            Err(e) => store_failure(&e, "a retried dead letter"),
        }
    }

    /// `GET /api/v1/report?team=T&since=DATE[&until=DATE][&format=csv]`, with
    /// `Authorization: Bearer TOCSIN_API_TOKEN`.
    pub(super) async fn report(&self, req: &Request<Incoming>) -> Resp {
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
            arg(k).map(crate::domain::report::parse_day).transpose()
        };
        let (since, until) = match (day("since"), day("until")) {
            (Ok(Some(s)), Ok(u)) => (s, u.unwrap_or_else(|| self.core.clock.now())),
            (Ok(None), _) => return bad("`since` is required (a date like 2026-11-01)".into()),
            (Err(e), _) | (_, Err(e)) => return bad(e),
        };
        if since >= until {
            return bad("`since` must be before `until`".into());
        }
        match self.core.report(team, since, until).await {
            Ok(r) if arg("format") == Some("csv") => {
                let mut resp = Response::new(Full::new(Bytes::from(crate::ops::report::csv(&r))));
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
}
