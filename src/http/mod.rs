//! The HTTP edge (hyper 1): accepting connections under a cap, and shutting
//! down gracefully. No domain logic.
//!
//! `router` holds the one `match` on method and path; `limits` reads bodies
//! within their size and time; `alerts`, `opsgenie`, `api` and `reads`
//! answer requests, `v1` the REST API and its OpenAPI document;
//! `answers` shapes the responses (status codes, JSON bodies, store failures).

mod alerts;
mod answers;
mod api;
mod limits;
mod opsgenie;
mod reads;
mod router;
pub mod v1;

pub use limits::MAX_BODY;

use crate::ops::alert::Ingest;
use crate::ops::Core;
use crate::sandbox::Sandbox;
use answers::json_response;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

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

/// What a connection answers with: a whole body, or the sandbox's live stream.
type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, std::convert::Infallible>;

/// What every request is served with. A handle on one shared copy: each
/// request clones it (twice on the body paths), and cloning `Core` itself
/// would copy every store tree handle and several strings each time.
#[derive(Clone)]
struct Handler(Arc<Shared>);

struct Shared {
    core: Core,
    ingest: Ingest,
    sandbox: Option<Sandbox>,
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
    sandbox: Option<Sandbox>,
    mut shutdown: watch::Receiver<bool>,
) {
    let handler = Handler(Arc::new(Shared {
        core,
        ingest,
        sandbox,
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
    /// The sandbox's live stream, which never ends on its own, or else one
    /// whole answer.
    async fn respond(&self, req: Request<Incoming>) -> Response<Body> {
        use http_body_util::BodyExt;
        let live = req.method() == Method::GET && req.uri().path() == "/sandbox/live";
        match &self.sandbox {
            Some(sb) if live => {
                let stream = futures_util::stream::unfold(sb.live(), |mut live| async move {
                    let chunk = live.next().await?;
                    Some((
                        Ok::<_, std::convert::Infallible>(hyper::body::Frame::data(chunk)),
                        live,
                    ))
                });
                Response::builder()
                    .header(hyper::header::CONTENT_TYPE, "text/event-stream")
                    .header(hyper::header::CACHE_CONTROL, "no-store")
                    .body(BodyExt::boxed_unsync(http_body_util::StreamBody::new(
                        stream,
                    )))
                    .expect("static response parts are valid")
            }
            _ => self.handle(req).await.map(BodyExt::boxed_unsync),
        }
    }

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
            async move { Ok::<_, std::convert::Infallible>(h.respond(req).await) }
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
