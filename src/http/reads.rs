//! The reads that need no bearer token: `/healthz`, `/metrics`, and the
//! calendar feeds (whose token is in the link).

use super::answers::{json_response, store_failure};
use super::{Handler, Resp};
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde_json::json;

impl Handler {
    pub(super) async fn feed(&self, id: &str, query: &str) -> Resp {
        let token = serde_urlencoded::from_str::<Vec<(String, String)>>(query)
            .ok()
            .and_then(|q| q.into_iter().find(|(k, _)| k == "token").map(|(_, v)| v))
            .unwrap_or_default();
        match self.core.schedule_feed(id, &token).await {
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

    /// 200 while the store takes alerts; 503 with the reason while it cannot
    /// write or is below the free-space floor (it recovers by itself).
    pub(super) fn healthz(&self) -> Resp {
        match self.core.health().problem() {
            None => json_response(StatusCode::OK, &json!({"status": "ok"})),
            Some(reason) => json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &json!({"status": "unavailable", "reason": reason}),
            ),
        }
    }

    /// Prometheus text: the process counters plus gauges read from the store now.
    pub(super) async fn metrics(&self) -> Resp {
        let core = &self.core;
        let health = core.health();
        let writable = if health.problem().is_none() { 1.0 } else { 0.0 };
        let free = health.free().map_or(-1.0, |f| f as f64);
        let now = self.core.clock.now();
        let open = core.open_count().await.map(|n| n as f64).unwrap_or(-1.0);
        let (depth, oldest) = match core.outbox_pending().await {
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
                core.dead_count() as f64,
            ),
        ]);
        let mut r = Response::new(Full::new(Bytes::from(text)));
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        );
        r
    }
}
