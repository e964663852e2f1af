//! Shaping answers: JSON bodies with their status codes, Slack and Twilio
//! replies, and the one mapping of a store failure to HTTP.

use super::Resp;
use crate::slack::inbound::Reply;
use crate::store::StoreError;
use crate::twilio::voice;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

/// Asks hyper to close the connection once this answer is written.
pub(super) fn closing(mut r: Resp) -> Resp {
    r.headers_mut()
        .insert(hyper::header::CONNECTION, HeaderValue::from_static("close"));
    r
}

/// The one place a store failure becomes an HTTP answer: 503, so senders
/// (Alertmanager, PagerDuty clients, Slack) retry, with the reason. Logged
/// here, once per request; the store logs the failure itself once.
pub(super) fn store_failure(e: &StoreError, what: &str) -> Resp {
    tracing::warn!(error = %e, "{what} could not be stored");
    let mut r = json_response(
        StatusCode::SERVICE_UNAVAILABLE,
        &json!({"status": "error", "message": format!("{what} could not be stored; retry"), "reason": e.to_string()}),
    );
    r.headers_mut()
        .insert(hyper::header::RETRY_AFTER, HeaderValue::from_static("5"));
    r
}

/// [`store_failure`] for the REST API, whose errors are problem documents.
pub(super) fn store_problem(e: &StoreError, what: &str) -> Resp {
    tracing::warn!(error = %e, "{what} could not be stored");
    let mut r = super::v1::problem(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("{what} could not be read or stored; retry ({e})"),
    );
    r.headers_mut()
        .insert(hyper::header::RETRY_AFTER, HeaderValue::from_static("5"));
    r
}

pub(super) fn reply_response(r: Reply) -> Resp {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match r.body {
        Some(v) => json_response(status, &v),
        None => Response::builder()
            .status(status)
            .body(Full::new(Bytes::new()))
            .expect("static response parts are valid"),
    }
}

pub(super) fn voice_response(r: voice::VoiceReply) -> Resp {
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

pub(super) fn json_response(status: StatusCode, v: &Value) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}
