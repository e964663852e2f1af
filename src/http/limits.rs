//! Body limits: at most [`MAX_BODY`] bytes, read within the read timeout;
//! an oversized body is drained before its 413 so the client sees it.

use super::answers::{closing, json_response};
use super::{Handler, Resp};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::CONTENT_LENGTH;
use hyper::{Request, StatusCode};
use serde_json::json;
use std::time::Duration;

/// Bodies larger than this get 413.
pub const MAX_BODY: usize = 1024 * 1024;
/// An oversized body is read and thrown away up to this much before the 413,
/// so a client that writes its whole body before reading sees the answer
/// rather than a reset connection. Past it the connection is closed.
const DRAIN_MAX: u64 = 8 * 1024 * 1024;

impl Handler {
    /// Reads the body (up to [`MAX_BODY`]) and hands it to `f`.
    pub(super) async fn with_body<F, Fut>(&self, req: Request<Incoming>, f: F) -> Resp
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
