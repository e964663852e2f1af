//! Reports from the real store: `GET /api/v1/report` (bearer token),
//! `/oncall report`, and `tocsin report` on the data directory.

use crate::support::*;
use chrono::{Duration, TimeZone, Utc};
use serde_json::Value;
use tocsin::clock::Clock;

const TOKEN: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";

/// Two incidents on `api`: one acknowledged after 2 min and resolved after 10,
/// one resolved by its monitor after 30 min.
async fn seed(t: &TestApp, clock: &Clock, fake: &FakeSlack) {
    t.trigger("r1", "API errors").await;
    clock.advance(Duration::minutes(2));
    t.click(
        "incident_acknowledge",
        1,
        "U0ALICE",
        &fake.response_url("a"),
    )
    .await;
    clock.advance(Duration::minutes(8));
    t.click("incident_resolve", 1, "U0ALICE", &fake.response_url("b"))
        .await;
    t.trigger("r2", "API latency").await;
    t.trigger("r2", "API latency").await;
    clock.advance(Duration::minutes(30));
    t.enqueue(&action_body("r2", "resolve")).await;
}

#[tokio::test]
async fn the_report_api_needs_its_token_and_returns_the_numbers() {
    let fake = FakeSlack::start().await;
    let clock = Clock::manual(Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let t = TestApp::start_full(
        dir,
        Some(&fake),
        &[("TOCSIN_API_TOKEN", TOKEN)],
        clock.clone(),
        CONFIG,
    )
    .await;
    seed(&t, &clock, &fake).await;
    let url = format!("{}/api/v1/report?team=platform&since=2026-11-24", t.base);
    assert_eq!(get_with(&url, None).await.0, 401);
    assert_eq!(get_with(&url, Some("Bearer 0000")).await.0, 401);
    let bearer = format!("Bearer {TOKEN}");
    let (status, _, body) = get_with(&url, Some(&bearer)).await;
    assert_eq!(status, 200, "{body}");
    let r: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(r["incidents"], 2);
    assert_eq!(r["mtta"]["mean"], 120.0);
    assert_eq!(r["mttr"]["p90"], 1800.0, "{r}");
    assert_eq!(
        (r["alerts_received"].as_u64(), r["alerts_grouped"].as_u64()),
        (Some(3), Some(1))
    );
    let (status, kind, csv) = get_with(&format!("{url}&format=csv"), Some(&bearer)).await;
    assert_eq!((status, kind.as_str()), (200, "text/csv; charset=utf-8"));
    assert!(csv.contains("\nincidents,2\n"), "{csv}");
    let (status, _, body) = get_with(
        &format!("{}/api/v1/report?team=nope&since=2026-11-24", t.base),
        Some(&bearer),
    )
    .await;
    assert_eq!(status, 400, "{body}");

    // The same numbers in Slack, beside the week before.
    let (_, reply) = t
        .slash(
            "/oncall",
            "report platform 7d",
            "U0BOB",
            &fake.response_url("r"),
        )
        .await;
    let text = reply["text"].as_str().unwrap();
    assert!(text.contains("*Incidents:* 2 (▲ 2 from 0)"), "{text}");
    assert!(
        text.contains("*Time to acknowledge:* 2.0 min mean"),
        "{text}"
    );
    assert!(text.contains("• Alice Example: "), "{text}");
    assert!(
        text.contains("The charts (3) are being posted in this channel"),
        "{text}"
    );
    // The three charts reach the channel through Slack's external upload flow.
    let done = fake
        .wait_for(
            "files.completeUploadExternal",
            3,
            std::time::Duration::from_secs(5),
        )
        .await;
    assert_eq!(done.len(), 3);
    assert!(
        done.iter().all(|c| c.body["channel_id"] == CHANNEL),
        "{:?}",
        done[0].body
    );
    let uploads: Vec<_> = fake
        .all_calls()
        .into_iter()
        .filter(|(m, _)| m.starts_with("upload/"))
        .collect();
    assert_eq!(uploads.len(), 3);
    assert!(uploads
        .iter()
        .all(|(_, b)| b["png"] == true && b["bytes"].as_u64().unwrap() > 1000));
}

#[tokio::test]
async fn tocsin_report_reads_the_data_directory() {
    let fake = FakeSlack::start().await;
    let clock = Clock::manual(Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap());
    let t = TestApp::start_at(tempfile::tempdir().unwrap(), Some(&fake), clock.clone()).await;
    seed(&t, &clock, &fake).await;
    let dir = t.stop().await;
    let config = dir.path().join("tocsin.toml");
    let report = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_tocsin"))
            .args([
                "report",
                "--team",
                "platform",
                "--since",
                "2026-11-24",
                "--until",
                "2026-11-26",
            ])
            .args(extra)
            .env("TOCSIN_DATA", dir.path().join("data"))
            .env("TOCSIN_CONFIG", &config)
            .output()
            .unwrap()
    };
    let out = report(&["--format", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["incidents"], 2);
    let table = String::from_utf8_lossy(&report(&[]).stdout).into_owned();
    assert!(
        table.contains("incidents              2 (critical 2"),
        "{table}"
    );
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_tocsin"))
        .args(["report", "--team", "platform", "--since", "yesterday"])
        .env("TOCSIN_CONFIG", &config)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a date like 2026-11-01"));
}

#[tokio::test]
async fn metrics_parse_as_prometheus_and_count_what_happened() {
    let fake = FakeSlack::start().await;
    let t = TestApp::start(Some(&fake)).await;
    t.trigger("m1", "metrics check").await;
    fake.wait_for("chat.postMessage", 1, std::time::Duration::from_secs(5))
        .await;
    t.click(
        "incident_acknowledge",
        1,
        "U0ALICE",
        &fake.response_url("a"),
    )
    .await;
    let (status, kind, text) = get_with(&format!("{}/metrics", t.base), None).await;
    assert_eq!(status, 200);
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    // Counters are per process and tests share one: at least what this test did.
    let value = |name: &str, label: Option<(&str, &str)>| {
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == name)
            .filter(|s| label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) => v,
                _ => 0.0,
            })
            .sum::<f64>()
    };
    assert!(
        value("tocsin_incidents_opened_total", Some(("service", "api"))) >= 1.0,
        "{text}"
    );
    assert!(
        value(
            "tocsin_incidents_acknowledged_total",
            Some(("severity", "critical"))
        ) >= 1.0
    );
    assert!(
        value(
            "tocsin_slack_calls_total",
            Some(("method", "chat.postMessage"))
        ) >= 1.0
    );
    assert_eq!(value("tocsin_open_incidents", None), 1.0);
    assert!(scrape.docs.contains_key("tocsin_outbox_depth"));
    assert!(scrape
        .samples
        .iter()
        .any(|s| s.metric == "tocsin_alert_to_first_page_seconds"
            && matches!(&s.value, prometheus_parse::Value::Histogram(b) if !b.is_empty())));
    assert!(scrape
        .samples
        .iter()
        .any(|s| s.metric == "tocsin_engine_tick_seconds"));
}

#[tokio::test]
async fn the_weekly_report_goes_out_once_per_week_at_the_teams_local_time() {
    let fake = FakeSlack::start().await;
    let config = CONFIG.replace(
        "alert_channel = \"C0PLATFORM\"\n",
        "alert_channel = \"C0PLATFORM\"\nstakeholder_channel = \"C0EXEC\"\n\
         weekly_report = { at = \"wed 09:00\", time_zone = \"Europe/London\" }\n",
    );
    // Wednesday 03:00 UTC: the first report is due at 09:00 London (GMT) today.
    let clock = Clock::manual(Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap());
    let t = TestApp::start_at_with_config(
        tempfile::tempdir().unwrap(),
        Some(&fake),
        clock.clone(),
        &config,
    )
    .await;
    let reports = || {
        fake.calls("chat.postMessage")
            .into_iter()
            .filter(|c| {
                c.body["text"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with(":bar_chart: *Weekly report*")
            })
            .map(|c| c.body["channel"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let step = |d: Duration| {
        clock.advance(d);
        t.app().core().engine_wake.notify_one();
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    step(Duration::hours(5) + Duration::minutes(59));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(reports().is_empty(), "not before 09:00");
    step(Duration::minutes(1));
    wait_until(|| reports().len() == 2).await;
    let mut got = reports();
    got.sort();
    assert_eq!(got, ["C0EXEC", "C0PLATFORM"]);
    let charts = fake
        .wait_for(
            "files.completeUploadExternal",
            3,
            std::time::Duration::from_secs(5),
        )
        .await;
    assert_eq!(charts.len(), 3, "the charts follow in the team channel");
    step(Duration::hours(1));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(reports().len(), 2, "once a week");
    // Two weeks pass while nobody looks: only the latest week is sent.
    step(Duration::days(14));
    wait_until(|| reports().len() == 4).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(reports().len(), 4);
}
