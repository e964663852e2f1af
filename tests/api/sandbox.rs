//! The sandbox at `/sandbox`, driven in headless Chromium through WebDriver
//! (chromedriver): the page's clicks, commands, modals and reactions reach
//! the real handlers as signed Slack requests, and what tocsin posts shows
//! up live. A screenshot of each scenario is saved under
//! `$CARGO_TARGET_TMPDIR/sandbox-screenshots/`.
//!
//! Needs `chromium` and `chromium-driver` (Debian's); without them the
//! browser test skips with a message, except under `CI=true`, where it fails.

use crate::support::*;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Two people on a team with a stakeholder channel and incident channels
/// from SEV1.
const SANDBOX_CONFIG: &str = r#"
[[users]]
id = "alice"
name = "Alice Example"
slack_id = "U0ALICE"
time_zone = "Europe/London"

[[users]]
id = "bob"
name = "Bob Example"
slack_id = "U0BOB"
time_zone = "America/New_York"

[[teams]]
id = "platform"
name = "Platform"
leads = ["alice"]
members = ["alice", "bob"]
alert_channel = "C0PLATFORM"
stakeholder_channel = "C0EXEC"
channel_at = "SEV1"

[[schedules]]
id = "platform-primary"
team = "platform"
time_zone = "Europe/London"
[[schedules.layers]]
name = "weekly"
start = "2026-11-02T09:00:00"
rotation = "weekly"
users = ["alice", "bob"]

[[services]]
id = "api"
name = "Public API"
team = "platform"
integration_key = "5f0c1e9a7b3d4c2e8f6a0b1c2d3e4f5a"
"#;

/// The environment with every Slack credential unset (an empty value is
/// unset): the sandbox comes on by itself.
const NO_SLACK: &[(&str, &str)] = &[("SLACK_SIGNING_SECRET", "")];

async fn start_sandbox(dir: tempfile::TempDir) -> TestApp {
    TestApp::start_full(
        dir,
        None,
        NO_SLACK,
        tocsin::clock::Clock::system(),
        SANDBOX_CONFIG,
    )
    .await
}

/// chromedriver on a free port, and a headless Chromium session through it.
struct Browser {
    driver: Child,
    client: Option<Client>,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    /// A test that panicked never closed its session: the Chromium it
    /// started (found by its own profile directory) is ended by id, then
    /// chromedriver.
    fn drop(&mut self) {
        let profile = self._profile.path().display().to_string();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(&profile) {
                let _ = Command::new("kill").arg(pid.to_string()).status();
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// `None` (after saying why) when Chromium is not installed outside CI.
async fn browser() -> Option<Browser> {
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must install chromium and chromium-driver (see .ci/run)"
        );
        eprintln!("skipped: {CHROMIUM} or {CHROMEDRIVER} is missing (apt-get install chromium chromium-driver)");
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let driver = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let profile = tempfile::tempdir().unwrap();
    let mut b = Browser {
        driver,
        client: None,
        _profile: profile,
    };
    let args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-quic",
        "--no-first-run",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1400,900",
        &format!("--user-data-dir={}", b._profile.path().display()),
    ];
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"binary": CHROMIUM, "args": args}),
    );
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let client = loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(c) => break c,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("no WebDriver session: {e}"),
        }
    };
    b.client = Some(client);
    Some(b)
}

impl Browser {
    fn c(&self) -> &Client {
        self.client.as_ref().unwrap()
    }

    /// Waits (up to 20 s) until the script returns true.
    async fn until(&self, what: &str, script: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let v = self.c().execute(script, vec![]).await.unwrap();
            if v == Value::Bool(true) {
                return;
            }
            if Instant::now() > deadline {
                self.shot("failed").await;
                let text = self
                    .c()
                    .execute("return document.body.innerText", vec![])
                    .await
                    .unwrap();
                panic!(
                    "timed out waiting until {what}; the page says:\n{}",
                    text.as_str().unwrap_or("")
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn js(&self, script: &str) -> Value {
        self.c().execute(script, vec![]).await.unwrap()
    }

    async fn shot(&self, name: &str) -> PathBuf {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sandbox-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let png = self.c().screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a screenshot is a PNG");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Clicks the element at `xpath` once it is there. A live update may
    /// replace it between finding and clicking: then it is found again.
    async fn click(&self, xpath: &str) {
        for _ in 0..5 {
            let el = self
                .c()
                .wait()
                .at_most(Duration::from_secs(20))
                .for_element(Locator::XPath(xpath))
                .await
                .unwrap_or_else(|e| panic!("{xpath}: {e}"));
            match el.click().await {
                Ok(()) => return,
                Err(e) if e.to_string().contains("stale element") => continue,
                Err(e) => panic!("clicking {xpath}: {e}"),
            }
        }
        panic!("{xpath} kept being replaced");
    }

    async fn view_as(&self, slack_id: &str) {
        self.c()
            .find(Locator::Css("#viewer"))
            .await
            .unwrap()
            .select_by_value(slack_id)
            .await
            .unwrap();
    }

    async fn open_channel(&self, label_contains: &str) {
        self.click(&format!("//nav//button[contains(., '{label_contains}')]"))
            .await;
    }

    async fn run(&self, command: &str) {
        let input = self.c().find(Locator::Css("#compose")).await.unwrap();
        input.clear().await.unwrap();
        input.send_keys(command).await.unwrap();
        self.click("//form[@id='composer']//button[.='Send']").await;
    }

    /// Runs `command` until the page shows what `script` looks for: the
    /// effect of an earlier action (a reaction read by the outbox) may land
    /// a moment after it.
    async fn until_after_command(&self, command: &str, what: &str, script: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            self.run(command).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            if self.js(script).await == Value::Bool(true) {
                return;
            }
            if Instant::now() > deadline {
                self.until(what, script).await;
            }
        }
    }

    async fn send_alert(&self, summary: &str, severity: &str, dedup: &str) {
        let c = self.c();
        let field = c.find(Locator::Css("#alert-summary")).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(summary).await.unwrap();
        let key = c.find(Locator::Css("#alert-key")).await.unwrap();
        key.clear().await.unwrap();
        key.send_keys(dedup).await.unwrap();
        c.find(Locator::Css("#alert-severity"))
            .await
            .unwrap()
            .select_by_value(severity)
            .await
            .unwrap();
        self.click("//button[.='Send test alert']").await;
        self.until(
            "the alert was accepted",
            "return document.getElementById('alert-result').textContent.startsWith('Accepted')",
        )
        .await;
    }
}

/// A script that is true when a visible message in the open channel
/// contains every one of `texts`.
fn message_with(texts: &[&str]) -> String {
    format!(
        "return [...document.querySelectorAll('#messages .msg')].some(m => {}.every(t => m.innerText.includes(t)))",
        serde_json::to_string(texts).unwrap()
    )
}

#[tokio::test]
async fn the_sandbox_page_runs_the_whole_flow_in_a_browser() {
    let Some(b) = browser().await else { return };
    let app = start_sandbox(tempfile::tempdir().unwrap()).await;
    b.c().goto(&format!("{}/sandbox", app.base)).await.unwrap();
    b.until(
        "the page is live",
        "return document.getElementById('status').textContent === 'live'",
    )
    .await;

    // 1. A test alert from the form: the team channel shows it with its buttons.
    b.send_alert("Checkout latency above 2 s", "warning", "sbx-1")
        .await;
    b.until(
        "the alert is in #platform with Acknowledge and Resolve",
        &message_with(&["Checkout latency above 2 s", "Acknowledge", "Resolve"]),
    )
    .await;
    let unlabelled = b
        .js("return [...document.querySelectorAll('button, select, input, textarea')].filter(e => !e.closest('dialog:not([open])')).filter(e => !(e.textContent.trim() || e.getAttribute('aria-label') || (e.labels && e.labels.length))).map(e => e.outerHTML)")
        .await;
    assert_eq!(unlabelled, json!([]), "every control has a label");
    b.shot("1-test-alert").await;

    // 2. Bob acknowledges: the same message changes in place.
    b.view_as("U0BOB").await;
    b.click("//ol[@id='messages']//button[.='Acknowledge']")
        .await;
    b.until(
        "the message shows Bob's acknowledgement, without the Acknowledge button",
        "return [...document.querySelectorAll('#messages .msg')].some(m => m.innerText.includes('@Bob Example') && m.innerText.includes('edited') && !m.querySelector('button[data-action=incident_acknowledge]'))",
    )
    .await;
    let alerts = b
        .js("return [...document.querySelectorAll('#messages .msg')].filter(m => m.innerText.includes('Checkout latency')).length")
        .await;
    assert_eq!(alerts, json!(1), "updated in place, not posted again");
    b.shot("2-acknowledged-by-bob").await;

    // 3. `/oncall who` as Alice: a reply only she sees.
    b.view_as("U0ALICE").await;
    b.run("/oncall who").await;
    b.until(
        "Alice sees the private answer",
        &message_with(&["On call now", "Only visible to you"]),
    )
    .await;
    b.shot("3-oncall-who-as-alice").await;
    b.view_as("U0BOB").await;
    let seen_by_bob = b.js(&message_with(&["On call now"])).await;
    assert_eq!(seen_by_bob, json!(false), "Bob does not see Alice's reply");
    b.view_as("U0ALICE").await;

    // 4. A SEV1: its own channel with the summary pinned; an update there
    // reaches the stakeholder channel.
    b.send_alert("Payments are failing", "critical", "sbx-2")
        .await;
    b.open_channel("#inc-").await;
    b.until(
        "the incident channel has its pinned summary",
        "const p = document.getElementById('pins'); return !p.hidden && p.innerText.includes('Payments are failing')",
    )
    .await;
    b.run("/incident update Rolled back the deploy").await;
    b.until(
        "the update is posted in the incident channel",
        &message_with(&["Rolled back the deploy", "Status update"]),
    )
    .await;
    b.shot("4-incident-channel").await;
    // A :pushpin: on the update puts that message in the timeline.
    b.click("//ol[@id='messages']/li[contains(., 'Status update')]//button[@data-react='pushpin']")
        .await;
    b.until(
        "the reaction shows on the update",
        "return [...document.querySelectorAll('#messages .msg')].some(m => m.innerText.includes('Status update') && m.querySelector('.reaction') && m.querySelector('.reaction').innerText.includes('1'))",
    )
    .await;
    b.until_after_command(
        "/incident timeline",
        "the timeline lists the pinned message",
        &message_with(&["Timeline of #2", "Pinned", "Only visible to you"]),
    )
    .await;
    b.shot("4-timeline-with-pin").await;
    b.open_channel("#platform-stakeholders").await;
    b.until(
        "the stakeholders read the update",
        &message_with(&["Rolled back the deploy", "Payments are failing"]),
    )
    .await;
    b.shot("4-stakeholder-channel").await;

    // 5. `/incident new`: a modal; a missing field is shown beside it.
    b.open_channel("#platform").await;
    b.run("/incident new").await;
    b.until("the modal is open", "return document.getElementById('modal').open && document.getElementById('modal-title').textContent === 'Declare an incident'")
        .await;
    let title = b.c().find(Locator::Css("#f-title")).await.unwrap();
    title.send_keys("Search is slow").await.unwrap();
    b.c()
        .find(Locator::Css("#f-severity"))
        .await
        .unwrap()
        .select_by_value("SEV3")
        .await
        .unwrap();
    b.click("//dialog//button[.='Declare']").await;
    b.until(
        "the service field shows its error",
        "return document.getElementById('f-service-error').textContent.includes('Pick the affected service') && document.getElementById('f-service').getAttribute('aria-invalid') === 'true'",
    )
    .await;
    b.shot("5-declare-modal-error").await;
    b.c()
        .find(Locator::Css("#f-service"))
        .await
        .unwrap()
        .select_by_value("api")
        .await
        .unwrap();
    b.click("//dialog//button[.='Declare']").await;
    b.until(
        "the modal closes once it is valid",
        "return !document.getElementById('modal').open",
    )
    .await;
    b.until(
        "the declared incident is posted",
        &message_with(&["Search is slow"]),
    )
    .await;

    // 6. After a restart the history is still there: the store's, not the page's.
    let dir = app.stop().await;
    let app = start_sandbox(dir).await;
    b.c().goto(&format!("{}/sandbox", app.base)).await.unwrap();
    b.until(
        "the page is live again",
        "return document.getElementById('status').textContent === 'live'",
    )
    .await;
    b.until(
        "the acknowledged alert is still in #platform",
        &message_with(&["Checkout latency above 2 s", "@Bob Example"]),
    )
    .await;
    b.until(
        "the declared incident too",
        &message_with(&["Search is slow"]),
    )
    .await;
    b.shot("6-after-restart").await;
    b.client.as_ref().unwrap().clone().close().await.unwrap();
    app.stop().await;
}

/// The page has no Home tab, but a Home refresh (queued by an incident or
/// schedule change) is taken as Slack takes it: nothing waits or is refused.
#[tokio::test]
async fn the_sandbox_takes_a_published_home() {
    let app = start_sandbox(tempfile::tempdir().unwrap()).await;
    let core = app.app().core().clone();
    core.publish_home("U0BOB").await.unwrap();
    wait_until_async(|| async { core.outbox_pending().await.unwrap().is_empty() }).await;
    assert_eq!(core.dead_count(), 0, "{:?}", core.dead_letters().await);
    app.stop().await;
}

/// The sandbox answers the Web API only with its own token.
#[tokio::test]
async fn the_sandbox_web_api_refuses_another_token() {
    let app = start_sandbox(tempfile::tempdir().unwrap()).await;
    let (status, body) = post(
        &format!("{}/sandbox/api/chat.postMessage", app.base),
        &[
            ("authorization", "Bearer xoxb-guessed"),
            ("content-type", "application/json"),
        ],
        json!({"channel": "C0PLATFORM", "text": "hi"})
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (200, Some("invalid_auth"))
    );
    let (_, state) = get(&format!("{}/sandbox/state", app.base)).await;
    assert_eq!(state["messages"], json!([]), "nothing was posted");
    app.stop().await;
}

/// A page action must be JSON (so another site's page cannot send one
/// without asking first), by a configured person, and changes nothing otherwise.
#[tokio::test]
async fn sandbox_actions_refuse_forms_and_strangers() {
    let app = start_sandbox(tempfile::tempdir().unwrap()).await;
    let url = format!("{}/sandbox/act/command", app.base);
    let (status, _) = post(
        &url,
        &[("content-type", "application/x-www-form-urlencoded")],
        b"user=U0ALICE&channel=C0PLATFORM&text=/oncall+who".to_vec(),
    )
    .await;
    assert_eq!(status, 415);
    let (status, body) = post(
        &url,
        &[("content-type", "application/json")],
        json!({"user": "U0MALLORY", "channel": "C0PLATFORM", "text": "/oncall who"})
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = post(
        &url,
        &[("content-type", "application/json")],
        json!({"user": "U0ALICE", "channel": "C0PLATFORM", "text": "/oncall who"})
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], 200, "{body}");
    let (_, state) = get(&format!("{}/sandbox/state", app.base)).await;
    let msgs = state["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 1, "{state}");
    assert_eq!(msgs[0]["only_for"], "U0ALICE");
    assert!(msgs[0]["text"].as_str().unwrap().contains("On call now"));
    app.stop().await;
}

/// With a bot token the sandbox is off; requests the sandbox would sign
/// with its own secret are not Slack's.
#[tokio::test]
async fn the_sandbox_is_off_when_slack_is_configured() {
    let fake = FakeSlack::start().await;
    let app = TestApp::start(Some(&fake)).await;
    let (status, body) = get(&format!("{}/sandbox/state", app.base)).await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = get_text(&format!("{}/sandbox", app.base)).await;
    assert_eq!(status, 404);
    app.stop().await;
}

/// Waits (up to `secs`) until the sandbox's state satisfies `ok`; the last state.
async fn state_until(app: &TestApp, secs: u64, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let (_, state) = get(&format!("{}/sandbox/state", app.base)).await;
        if ok(&state) {
            return state;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting until {what}: {state:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn act(app: &TestApp, what: &str, body: Value) -> Value {
    let (status, reply) = post(
        &format!("{}/sandbox/act/{what}", app.base),
        &[("content-type", "application/json")],
        body.to_string().into_bytes(),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    reply
}

fn messages_in<'a>(state: &'a Value, channel: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    state["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(move |m| m["channel"] == channel)
}

/// Resolving from the sandbox wakes the engine as a Slack click does: the
/// incident channel, due to be archived two seconds later, is archived
/// then, not at the engine's next regular pass; its postmortem file is
/// shared there first, and can be read back.
#[tokio::test]
async fn a_resolve_clicked_in_the_sandbox_archives_the_room_on_time() {
    let config = SANDBOX_CONFIG.replace(
        "channel_at = \"SEV1\"",
        "channel_at = \"SEV1\"\narchive_after = \"2s\"",
    );
    let app = TestApp::start_full(
        tempfile::tempdir().unwrap(),
        None,
        NO_SLACK,
        tocsin::clock::Clock::system(),
        &config,
    )
    .await;
    let (status, _) = app.trigger("room-1", "Payments are failing").await;
    assert_eq!(status, 202);
    let state = state_until(&app, 20, "the room has its pinned summary", |s| {
        s["channels"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["kind"] == "incident")
            && s["messages"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["pinned"] == true)
    })
    .await;
    let room = state["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "incident")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let post = messages_in(&state, "C0PLATFORM")
        .find(|m| {
            m["text"]
                .as_str()
                .unwrap_or("")
                .contains("Payments are failing")
        })
        .expect("the alert is in #platform")
        .clone();
    let reply = act(
        &app,
        "click",
        json!({"user": "U0ALICE", "channel": "C0PLATFORM", "ts": post["ts"],
               "action_id": "incident_resolve", "block_id": "incident:1", "value": "1", "text": "Resolve"}),
    )
    .await;
    assert_eq!(reply["status"], 200, "{reply}");
    let resolved = Instant::now();
    let state = state_until(&app, 15, "the room is archived", |s| {
        s["channels"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == room.as_str() && c["archived"] == true)
    })
    .await;
    // The engine's regular pass is 30 s apart: only a wake-up makes this.
    assert!(
        resolved.elapsed() < Duration::from_secs(12),
        "{:?}",
        resolved.elapsed()
    );
    let file = messages_in(&state, &room)
        .find_map(|m| m["file"].as_object().cloned())
        .expect("the postmortem was shared in the room");
    let (status, text) = get_text(&format!(
        "{}/sandbox/files/{}",
        app.base,
        file["id"].as_str().unwrap()
    ))
    .await;
    assert_eq!(status, 200);
    assert!(text.contains("Payments are failing"), "{text}");
    app.stop().await;
}

/// `serve --sandbox` with Slack credentials set: Slack work goes to the
/// sandbox and not to Slack, and a request signed with the real signing
/// secret is refused, as only the sandbox signs for the Slack endpoints.
#[tokio::test]
async fn a_forced_sandbox_sends_nothing_to_slack_and_takes_only_its_own_signatures() {
    let fake = FakeSlack::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tocsin.toml");
    std::fs::write(&config, SANDBOX_CONFIG).unwrap();
    let env = env_for(Some(&fake), &dir.path().join("data"), &config);
    let settings = tocsin::settings::Settings::from_lookup(|k| {
        env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    })
    .unwrap();
    assert!(settings.slack_bot_token.is_some() && !settings.sandbox());
    let settings = tocsin::settings::Settings {
        force_sandbox: true,
        ..settings
    };
    let app = tocsin::app::App::build(settings, tocsin::clock::Clock::system())
        .await
        .unwrap();
    let app = TestApp {
        base: format!("http://{}", app.addr()),
        app: Some(app),
        dir,
    };
    let (status, _) = app.trigger("forced-1", "Checkout is slow").await;
    assert_eq!(status, 202);
    state_until(&app, 20, "the alert is in the sandbox's #platform", |s| {
        messages_in(s, "C0PLATFORM").any(|m| {
            m["text"]
                .as_str()
                .unwrap_or("")
                .contains("Checkout is slow")
        })
    })
    .await;
    let (status, _) = app
        .command("list", "U0ALICE", "http://127.0.0.1:9/respond")
        .await;
    assert_eq!(status, 401, "Slack's own signature is not the sandbox's");
    assert!(fake.all_calls().is_empty(), "{:?}", fake.all_calls());
    app.stop().await;
}

#[test]
fn serve_offers_the_sandbox_flag() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tocsin"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--sandbox"), "{help}");
}

/// `/oncall report` in the sandbox shares the report's charts as PNG files,
/// which the page shows as images.
#[tokio::test]
async fn a_report_shares_its_charts_as_images() {
    let app = start_sandbox(tempfile::tempdir().unwrap()).await;
    let (status, _) = app.trigger("report-1", "Disk full").await;
    assert_eq!(status, 202);
    let reply = act(
        &app,
        "command",
        json!({"user": "U0ALICE", "channel": "C0PLATFORM", "text": "/oncall report"}),
    )
    .await;
    assert_eq!(reply["status"], 200, "{reply}");
    let state = state_until(&app, 30, "the charts are shared", |s| {
        messages_in(s, "C0PLATFORM")
            .filter(|m| m["file"]["png"] == true)
            .count()
            >= 3
    })
    .await;
    let chart = messages_in(&state, "C0PLATFORM")
        .find(|m| m["file"]["png"] == true)
        .unwrap();
    let (status, kind, _) = get_with(
        &format!(
            "{}/sandbox/files/{}",
            app.base,
            chart["file"]["id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    assert_eq!((status, kind.as_str()), (200, "image/png"));
    app.stop().await;
}
