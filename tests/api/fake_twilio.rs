//! A fake Twilio REST API on loopback (Messages and Calls), and a client that
//! calls tocsin's voice webhooks the way Twilio does: form POSTs signed with
//! `X-Twilio-Signature` over the public URL.

use crate::support::serve_on;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode};
use serde_json::json;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const SID: &str = "AC00000000000000000000000000000001";
pub const TOKEN: &str = "twilio-test-auth-token";
pub const FROM: &str = "+15550100";
/// What tocsin is told its public URL is; webhooks are signed over it.
pub const PUBLIC: &str = "https://tocsin.example.com";

/// One request the fake received: `Messages` or `Calls`, and its form.
#[derive(Debug, Clone)]
pub struct Sent {
    pub resource: String,
    pub form: HashMap<String, String>,
}

#[derive(Default)]
struct State {
    sent: Vec<Sent>,
    /// Statuses to answer with next, before answering normally.
    faults: VecDeque<u16>,
    refused_auth: usize,
}

#[derive(Clone)]
pub struct FakeTwilio {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl FakeTwilio {
    pub async fn start() -> FakeTwilio {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fake = FakeTwilio {
            addr: listener.local_addr().unwrap(),
            state: Arc::default(),
        };
        let f = fake.clone();
        serve_on(listener, move |req| {
            let f = f.clone();
            async move { f.handle(req).await }
        });
        fake
    }

    /// The environment that points tocsin at this fake.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("TWILIO_ACCOUNT_SID", SID.into()),
            ("TWILIO_AUTH_TOKEN", TOKEN.into()),
            ("TWILIO_FROM", FROM.into()),
            ("TWILIO_API_URL", format!("http://{}", self.addr)),
            ("TOCSIN_PUBLIC_URL", PUBLIC.into()),
        ]
    }

    pub fn fail_next(&self, statuses: &[u16]) {
        self.state.lock().unwrap().faults.extend(statuses);
    }

    pub fn sent(&self, resource: &str) -> Vec<Sent> {
        let s = self.state.lock().unwrap();
        s.sent
            .iter()
            .filter(|x| x.resource == resource)
            .cloned()
            .collect()
    }

    pub fn refused_auth(&self) -> usize {
        self.state.lock().unwrap().refused_auth
    }

    pub async fn wait_for(&self, resource: &str, n: usize) -> Vec<Sent> {
        let end = Instant::now() + Duration::from_secs(5);
        loop {
            let got = self.sent(resource);
            if got.len() >= n || Instant::now() > end {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn handle(&self, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_string();
        let auth = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = req.into_body().collect().await.unwrap().to_bytes();
        let form: HashMap<String, String> = serde_urlencoded::from_bytes(&bytes).unwrap();
        let mut s = self.state.lock().unwrap();
        use base64::Engine;
        let want = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}"))
        );
        if auth != want {
            s.refused_auth += 1;
            return reply(401, json!({"code": 20003, "message": "Authenticate"}));
        }
        let prefix = format!("/2010-04-01/Accounts/{SID}/");
        let Some(resource) = path
            .strip_prefix(&prefix)
            .and_then(|r| r.strip_suffix(".json"))
        else {
            return reply(404, json!({"code": 20404, "message": "not found"}));
        };
        if let Some(status) = s.faults.pop_front() {
            return reply(status, json!({"code": 20500, "message": "injected fault"}));
        }
        s.sent.push(Sent {
            resource: resource.to_string(),
            form,
        });
        let sid = format!("{}{:032}", &resource[..2].to_uppercase(), s.sent.len());
        reply(201, json!({"sid": sid, "status": "queued"}))
    }
}

fn reply(status: u16, body: serde_json::Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

/// Calls tocsin's voice webhook at `url` (a public URL) as Twilio would:
/// signed over that URL, sent to the app at `base`. Returns status and body.
pub async fn webhook(base: &str, url: &str, params: &[(&str, &str)]) -> (u16, String) {
    let owned: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let sig = tocsin::twilio::signature::sign(TOKEN, url, &owned);
    webhook_signed(base, url, params, Some(&sig)).await
}

pub async fn webhook_signed(
    base: &str,
    url: &str,
    params: &[(&str, &str)],
    signature: Option<&str>,
) -> (u16, String) {
    let local = url.replacen(PUBLIC, base, 1);
    let body = serde_urlencoded::to_string(params).unwrap();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let mut req = Request::post(local).header("content-type", "application/x-www-form-urlencoded");
    if let Some(sig) = signature {
        req = req.header("x-twilio-signature", sig);
    }
    let resp = client
        .request(req.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// A parsed TwiML answer: `(verb path, attributes, text)` for each element,
/// e.g. `("Response/Gather/Say", {...}, "This is tocsin…")`.
pub fn twiml(xml: &str) -> Vec<(String, HashMap<String, String>, String)> {
    let doc = roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("not XML ({e}): {xml}"));
    assert_eq!(doc.root_element().tag_name().name(), "Response", "{xml}");
    doc.descendants()
        .filter(|n| n.is_element())
        .map(|n| {
            let path: Vec<&str> = n
                .ancestors()
                .filter(|a| a.is_element())
                .map(|a| a.tag_name().name())
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            let attrs = n
                .attributes()
                .map(|a| (a.name().to_string(), a.value().to_string()))
                .collect();
            (
                path.join("/"),
                attrs,
                n.text().unwrap_or("").trim().to_string(),
            )
        })
        .collect()
}
