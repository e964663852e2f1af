//! Connections and slow clients: stalled requests time out, a cap bounds the
//! connections served at once (past it: a quick 503, `/healthz` still
//! answers), and an oversized body is read before its 413 so a client that
//! writes first and reads later sees the answer.

use crate::support::*;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Everything the server sends until it closes, or what came within `wait`.
/// `None` if the connection was reset.
async fn read_all(stream: &mut TcpStream, wait: Duration) -> Option<String> {
    let mut out = vec![];
    let r = tokio::time::timeout(wait, stream.read_to_end(&mut out)).await;
    match r {
        Ok(Ok(_)) => Some(String::from_utf8_lossy(&out).into_owned()),
        Ok(Err(e)) => {
            eprintln!("read failed: {e}");
            None
        }
        Err(_) => Some(format!(
            "still open after {wait:?}; read so far: {}",
            String::from_utf8_lossy(&out)
        )),
    }
}

/// A connection that sends a request head promising 1000 bytes, then 10 of them.
async fn stalled_request(addr: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v2/enqueue HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"routing_"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_requests_time_out_and_past_the_cap_new_ones_get_503_while_healthz_answers() {
    let t = TestApp::start_with(
        None,
        &[
            ("TOCSIN_MAX_CONNECTIONS", "8"),
            ("TOCSIN_READ_TIMEOUT_MS", "700"),
        ],
    )
    .await;
    let addr = t.app().addr().to_string();
    let started = Instant::now();
    let mut stalled = vec![];
    for _ in 0..8 {
        stalled.push(stalled_request(&addr).await);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;

    // Every slot is taken: a probe still gets its answer, a sender a fast 503.
    let asked = Instant::now();
    let (status, body) = get(&format!("{}/healthz", t.base)).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = t.trigger("capped", "past the connection cap").await;
    println!(
        "8 stalled connections at a cap of 8: /healthz 200, /v2/enqueue {status} in {:?}",
        asked.elapsed()
    );
    assert_eq!(status, 503, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("too many connections"),
        "{body}"
    );
    assert!(
        asked.elapsed() < Duration::from_millis(500),
        "{:?}",
        asked.elapsed()
    );

    // The stalled ones are answered 408 and closed once their time is up.
    for s in &mut stalled {
        let answer = read_all(s, Duration::from_secs(5))
            .await
            .unwrap_or_default();
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    }
    let lived = started.elapsed();
    println!("stalled connections lived {lived:?} (read timeout 700 ms)");
    assert!(lived < Duration::from_secs(3), "{lived:?}");

    // Their slots are free again.
    let (status, body) = t.trigger("capped", "past the connection cap").await;
    assert_eq!(status, 202, "{body}");
}

#[tokio::test]
async fn a_client_that_stalls_in_its_headers_or_idles_is_disconnected() {
    let t = TestApp::start_with(None, &[("TOCSIN_READ_TIMEOUT_MS", "500")]).await;
    let addr = t.app().addr().to_string();
    let started = Instant::now();
    let mut half = TcpStream::connect(&addr).await.unwrap();
    half.write_all(b"POST /v2/enqueue HTTP/1.1\r\nHost: x\r\nContent-")
        .await
        .unwrap();
    // Idle after one request on a kept-alive connection.
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = read_all(&mut half, Duration::from_secs(5)).await;
    assert!(
        answer.as_deref().is_none_or(|a| !a.contains("still open")),
        "{answer:?}"
    );
    let answer = read_all(&mut idle, Duration::from_secs(5))
        .await
        .unwrap_or_default();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(!answer.contains("still open"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_body_written_in_full_before_reading_still_gets_its_413() {
    let t = TestApp::start(None).await;
    let addr = t.app().addr().to_string();
    let body = vec![b'x'; 3 * 1024 * 1024];
    let mut s = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /v2/enqueue HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    // As urllib and many agents do: the whole request first, then the answer.
    s.write_all(head.as_bytes()).await.unwrap();
    let wrote = s.write_all(&body).await;
    assert!(wrote.is_ok(), "the body could not be written: {wrote:?}");
    let answer = read_all(&mut s, Duration::from_secs(10)).await;
    let answer = answer.expect("an answer, not a reset connection");
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("body is larger than 1048576 bytes"),
        "{answer}"
    );
    // Nothing was stored, and the server serves the next request.
    assert!(t.app().core().store.incidents().await.unwrap().is_empty());
    let (status, _) = t.trigger("after", "after the big one").await;
    assert_eq!(status, 202);
}
