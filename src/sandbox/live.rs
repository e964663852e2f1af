//! Changes streamed to the page as Server-Sent Events, one JSON object per
//! event, until tocsin shuts down.

use bytes::Bytes;
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// A comment line every so often keeps proxies and the browser from
/// closing a quiet stream.
const KEEPALIVE: Duration = Duration::from_secs(15);

/// One page's subscription.
pub struct Live {
    rx: broadcast::Receiver<String>,
    shutdown: watch::Receiver<bool>,
    started: bool,
}

impl Live {
    pub(super) fn new(rx: broadcast::Receiver<String>, shutdown: watch::Receiver<bool>) -> Live {
        Live {
            rx,
            shutdown,
            started: false,
        }
    }

    /// The next chunk of the event stream; `None` once tocsin shuts down.
    pub async fn next(&mut self) -> Option<Bytes> {
        if !self.started {
            self.started = true;
            return Some(Bytes::from_static(b"retry: 1000\n: live\n\n"));
        }
        if *self.shutdown.borrow() {
            return None;
        }
        tokio::select! {
            r = self.rx.recv() => match r {
                Ok(event) => Some(Bytes::from(format!("data: {event}\n\n"))),
                // Too slow to keep up: the page reads the whole state again.
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    Some(Bytes::from_static(b"event: reload\ndata: {}\n\n"))
                }
                Err(broadcast::error::RecvError::Closed) => None,
            },
            _ = self.shutdown.changed() => None,
            _ = tokio::time::sleep(KEEPALIVE) => Some(Bytes::from_static(b": still here\n\n")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn events_are_framed_and_the_stream_ends_at_shutdown() {
        let (tx, rx) = broadcast::channel(4);
        let (stop, shutdown) = watch::channel(false);
        let mut live = Live::new(rx, shutdown);
        assert!(live.next().await.unwrap().starts_with(b"retry: 1000\n"));
        tx.send(r#"{"kind":"message"}"#.to_string()).unwrap();
        assert_eq!(
            live.next().await.unwrap(),
            Bytes::from_static(b"data: {\"kind\":\"message\"}\n\n")
        );
        stop.send(true).unwrap();
        assert_eq!(live.next().await, None);
    }
}
