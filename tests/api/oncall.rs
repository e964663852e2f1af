//! `/oncall` against the real router with a stopped clock, and the calendar feed.
//! The test schedule (support::CONFIG) rotates alice/bob weekly from Monday
//! 2026-11-02 09:00 Europe/London: on Wednesday 2026-11-25 it is bob's week.

use crate::support::*;
use chrono::{TimeZone, Utc};
use icalendar::Component;
use serde_json::Value;
use tocsin::clock::Clock;

fn wednesday() -> Clock {
    Clock::manual(Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap())
}

fn text(v: &(u16, Value)) -> String {
    assert_eq!(v.0, 200, "{}", v.1);
    assert_eq!(v.1["response_type"], "ephemeral");
    v.1["text"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn who_is_on_call_now_and_until_when() {
    let t = TestApp::start_at(tempfile::tempdir().unwrap(), None, wednesday()).await;
    let r = "http://127.0.0.1:9/r";
    let who = text(&t.slash("/oncall", "", "U0ALICE", r).await);
    let handoff = Utc
        .with_ymd_and_hms(2026, 11, 30, 9, 0, 0)
        .unwrap()
        .timestamp();
    assert!(
        who.contains("`platform-primary`: <@U0BOB> until <!date^"),
        "{who}"
    );
    assert!(who.contains(&format!("<!date^{handoff}^")), "{who}");
    // The fallback text is in the asker's zone: alice is in London (GMT in November).
    assert!(who.contains("Mon 2026-11-30 09:00 GMT"), "{who}");
    let for_bob = text(&t.slash("/oncall", "who platform", "U0BOB", r).await);
    assert!(
        for_bob.contains("Mon 2026-11-30 04:00 EST"),
        "bob reads New York time: {for_bob}"
    );
    let bad = text(&t.slash("/oncall", "who nowhere", "U0BOB", r).await);
    assert!(
        bad.contains("No team or schedule is called `nowhere`"),
        "{bad}"
    );
}

/// The platform team's audit log, as `user` asks for it.
async fn platform_audit(t: &TestApp, user: &str) -> String {
    text(
        &t.slash("/oncall", "audit platform", user, "http://127.0.0.1:9/r")
            .await,
    )
}

/// alice, a lead, puts herself on call on the primary schedule for two hours.
async fn alice_takes_two_hours(t: &TestApp) -> String {
    let r = "http://127.0.0.1:9/r";
    text(
        &t.slash(
            "/oncall",
            "override platform-primary <@U0ALICE|alice> now +2h",
            "U0ALICE",
            r,
        )
        .await,
    )
}

#[tokio::test]
async fn overrides_respect_leads_show_up_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let t = TestApp::start_at(dir, None, wednesday()).await;
    let r = "http://127.0.0.1:9/r";
    // bob is not a lead: he cannot put alice on call…
    let refused = text(
        &t.slash(
            "/oncall",
            "override platform-primary <@U0ALICE|alice> now +2h",
            "U0BOB",
            r,
        )
        .await,
    );
    assert!(refused.contains("Only a lead"), "{refused}");
    // …but alice, a lead, can put herself (or anyone) on.
    let ok = alice_takes_two_hours(&t).await;
    assert!(ok.contains("Override #1: <@U0ALICE> is on call"), "{ok}");
    let who = text(&t.slash("/oncall", "who", "U0ALICE", r).await);
    assert!(
        who.contains("<@U0ALICE> until") && who.contains("12:00 GMT"),
        "{who}"
    );

    let dir = t.stop().await;
    let t = TestApp::start_at(dir, None, wednesday()).await;
    let who = text(&t.slash("/oncall", "who", "U0ALICE", r).await);
    assert!(
        who.contains("<@U0ALICE> until"),
        "override kept across restart: {who}"
    );
    // The change is in the team's audit log, across the restart too.
    let audit = platform_audit(&t, "U0BOB").await;
    assert!(
        audit.contains("<@U0ALICE> override: #1 Alice Example on call for platform-primary"),
        "{audit}"
    );

    let bad = text(
        &t.slash(
            "/oncall",
            "override platform-primary @alice +2h now",
            "U0ALICE",
            r,
        )
        .await,
    );
    assert!(
        bad.contains("after the start") && bad.contains("Usage: `/oncall override"),
        "{bad}"
    );
    let unknown = text(
        &t.slash(
            "/oncall",
            "override platform-primary @zed now +1h",
            "U0ALICE",
            r,
        )
        .await,
    );
    assert!(unknown.contains("Nobody called `zed`"), "{unknown}");
}

#[tokio::test]
async fn shifts_mine_and_load() {
    let t = TestApp::start_at(tempfile::tempdir().unwrap(), None, wednesday()).await;
    let r = "http://127.0.0.1:9/r";
    let sched = text(
        &t.slash("/oncall", "schedule platform-primary 14", "U0ALICE", r)
            .await,
    );
    assert_eq!(
        sched.matches("• ").count(),
        3,
        "bob, alice, bob over two weeks: {sched}"
    );
    let mine = text(&t.slash("/oncall", "mine", "U0ALICE", r).await);
    assert!(
        mine.contains("|Mon 2026-11-30 09:00 GMT> → <!date^")
            && mine.contains("|Mon 2026-12-07 09:00 GMT>"),
        "{mine}"
    );
    let load = text(&t.slash("/oncall", "load platform 2", "U0ALICE", r).await);
    assert!(
        load.contains("<@U0ALICE>") && load.contains("<@U0BOB>"),
        "{load}"
    );
    // Last two weeks (11-11 10:00 → 11-25 10:00): alice 11-16 09:00–11-23 09:00 = 168 h.
    assert!(load.contains("<@U0ALICE>: last 168 h"), "{load}");
    assert!(load.contains("Spread (last 2 wk)"), "{load}");
    let stranger = text(&t.slash("/oncall", "mine", "U0NOBODY", r).await);
    assert!(
        stranger.contains("not in tocsin's configuration"),
        "{stranger}"
    );
}

#[tokio::test]
async fn the_calendar_feed_is_private_and_valid_icalendar() {
    let t = TestApp::start_at(tempfile::tempdir().unwrap(), None, wednesday()).await;
    let reply = text(
        &t.slash(
            "/oncall",
            "feed platform-primary",
            "U0ALICE",
            "http://127.0.0.1:9/r",
        )
        .await,
    );
    let url = reply.lines().last().unwrap().to_string();
    let path_and_query = url
        .split_once("/schedules/")
        .map(|(_, rest)| format!("/schedules/{rest}"))
        .unwrap();
    let (status, ics) = get_text(&format!("{}{path_and_query}", t.base)).await;
    assert_eq!(status, 200, "{ics}");
    let cal: icalendar::Calendar = ics.parse().expect("valid iCalendar");
    let events: Vec<_> = cal.components.iter().filter_map(|c| c.as_event()).collect();
    assert!(
        events.len() >= 14,
        "about 14 weekly shifts in 97 days, got {}",
        events.len()
    );
    assert!(events
        .iter()
        .any(|e| e.get_summary() == Some("On call: Bob Example (platform-primary)")));
    assert!(
        ics.contains("DTSTART:20261123T090000Z"),
        "bob's shift in UTC"
    );

    let wrong = format!(
        "{}/schedules/platform-primary.ics?token=00000000000000000000000000000000",
        t.base
    );
    assert_eq!(get_text(&wrong).await.0, 404);
    assert_eq!(
        get_text(&format!("{}/schedules/platform-primary.ics", t.base))
            .await
            .0,
        404
    );
    let token = url.split("token=").nth(1).unwrap();
    assert_eq!(
        get_text(&format!("{}/schedules/nope.ics?token={token}", t.base))
            .await
            .0,
        404
    );
}

/// The feed link `/oncall feed SCHEDULE` hands `user`, as a path and query.
async fn feed_link(t: &TestApp, user: &str) -> String {
    let reply = text(
        &t.slash(
            "/oncall",
            "feed platform-primary",
            user,
            "http://127.0.0.1:9/r",
        )
        .await,
    );
    let url = reply.lines().last().unwrap().to_string();
    url.split_once("/schedules/")
        .map(|(_, rest)| format!("/schedules/{rest}"))
        .unwrap()
}

/// The feed's events as (UID, DTSTART) pairs.
async fn feed_events(t: &TestApp, link: &str) -> Vec<(String, String)> {
    let (status, ics) = get_text(&format!("{}{link}", t.base)).await;
    assert_eq!(status, 200, "{ics}");
    let cal: icalendar::Calendar = ics.parse().expect("valid iCalendar");
    cal.components
        .iter()
        .filter_map(|c| c.as_event())
        .map(|e| {
            let start = e.properties()["DTSTART"].value().to_string();
            (e.get_uid().unwrap().to_string(), start)
        })
        .collect()
}

#[tokio::test]
async fn a_shift_keeps_its_uid_from_one_fetch_to_the_next() {
    let clock = wednesday();
    let t = TestApp::start_at(tempfile::tempdir().unwrap(), None, clock.clone()).await;
    let link = feed_link(&t, "U0ALICE").await;
    let first = feed_events(&t, &link).await;
    // A week ago alice was on call, since Monday 16 November 09:00 London.
    assert_eq!(
        first[0],
        (
            format!(
                "platform-primary-alice-{}@tocsin",
                Utc.with_ymd_and_hms(2026, 11, 16, 9, 0, 0)
                    .unwrap()
                    .timestamp()
            ),
            "20261116T090000Z".to_string()
        )
    );
    clock.advance(chrono::Duration::hours(26));
    let later = feed_events(&t, &link).await;
    for (uid, start) in &first {
        assert!(
            later.contains(&(uid.clone(), start.clone())),
            "{uid} ({start}) changed between fetches: {later:?}"
        );
    }
    assert!(later.len() >= first.len());
}

#[tokio::test]
async fn a_lead_rotates_the_calendar_link_and_the_old_one_is_gone() {
    let t = TestApp::start_at(tempfile::tempdir().unwrap(), None, wednesday()).await;
    let r = "http://127.0.0.1:9/r";
    let old = feed_link(&t, "U0BOB").await;
    assert_eq!(get_text(&format!("{}{old}", t.base)).await.0, 200);
    // bob is a member, not a lead: he cannot rotate it.
    for who in ["U0BOB", "U0NOBODY"] {
        let refused = text(
            &t.slash("/oncall", "feed platform-primary rotate", who, r)
                .await,
        );
        assert_eq!(
            refused, "Only a lead of Platform can rotate its calendar links.",
            "{who}"
        );
    }
    assert_eq!(get_text(&format!("{}{old}", t.base)).await.0, 200);
    assert_eq!(feed_link(&t, "U0ALICE").await, old, "unchanged");

    let rotated = text(
        &t.slash("/oncall", "feed platform-primary rotate", "U0ALICE", r)
            .await,
    );
    assert!(rotated.contains("no longer works"), "{rotated}");
    let new = rotated
        .lines()
        .last()
        .and_then(|l| l.split_once("/schedules/"))
        .map(|(_, rest)| format!("/schedules/{rest}"))
        .unwrap();
    assert_ne!(new, old);
    assert_eq!(get_text(&format!("{}{old}", t.base)).await.0, 404);
    assert_eq!(get_text(&format!("{}{new}", t.base)).await.0, 200);
    assert_eq!(
        feed_link(&t, "U0BOB").await,
        new,
        "everyone gets the new link"
    );
    let audit = platform_audit(&t, "U0BOB").await;
    assert!(
        audit.contains("<@U0ALICE> feed: rotated the calendar link of platform-primary"),
        "{audit}"
    );

    // It holds across a restart.
    let dir = t.stop().await;
    let t = TestApp::start_at(dir, None, wednesday()).await;
    assert_eq!(get_text(&format!("{}{old}", t.base)).await.0, 404);
    assert_eq!(get_text(&format!("{}{new}", t.base)).await.0, 200);
    assert_eq!(feed_link(&t, "U0BOB").await, new);
}

/// Waits until the engine has recorded a handoff cursor for the test schedule.
async fn engine_ready(t: &TestApp) {
    let store = t.app().core().store.clone();
    wait_until_async(|| async {
        store
            .handoff_cursor("platform-primary")
            .await
            .unwrap()
            .is_some()
    })
    .await;
}

fn notices(fake: &FakeSlack, channel: &str) -> Vec<String> {
    fake.calls("chat.postMessage")
        .into_iter()
        .filter(|c| c.body["channel"] == channel && c.body["blocks"].is_null())
        .map(|c| c.body["text"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test]
async fn handoffs_are_announced_once_across_restarts_and_none_are_skipped() {
    let fake = FakeSlack::start().await;
    let clock = wednesday();
    let t = TestApp::start_at(tempfile::tempdir().unwrap(), Some(&fake), clock.clone()).await;
    engine_ready(&t).await;

    // Monday 09:00 London (= UTC in November): bob hands over to alice.
    clock.advance(
        chrono::Duration::days(5) - chrono::Duration::hours(1) + chrono::Duration::seconds(30),
    );
    t.app().core().engine_wake.notify_one();
    fake.wait_for("chat.postMessage", 2, std::time::Duration::from_secs(5))
        .await;
    let dm = notices(&fake, "U0ALICE");
    assert_eq!(dm.len(), 1, "{dm:?}");
    assert!(
        dm[0].contains("You are now on call for `platform-primary`, taking over from <@U0BOB>"),
        "{}",
        dm[0]
    );
    let until = Utc
        .with_ymd_and_hms(2026, 12, 7, 9, 0, 0)
        .unwrap()
        .timestamp();
    assert!(dm[0].contains(&format!("<!date^{until}^")), "{}", dm[0]);
    let note = notices(&fake, CHANNEL);
    assert_eq!(note.len(), 1);
    assert!(
        note[0].contains("<@U0ALICE> is now on call for `platform-primary` (after <@U0BOB>)"),
        "{}",
        note[0]
    );

    // A restart at the same moment repeats nothing.
    let dir = t.stop().await;
    let t = TestApp::start_at(dir, Some(&fake), clock.clone()).await;
    t.app().core().engine_wake.notify_one();
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(notices(&fake, "U0ALICE").len(), 1);

    // Down across the next handoff (Monday 12-07 09:00, to bob): announced on start.
    let dir = t.stop().await;
    clock.advance(chrono::Duration::days(7) + chrono::Duration::minutes(5));
    let t = TestApp::start_at(dir, Some(&fake), clock.clone()).await;
    let bob = fake
        .wait_for("chat.postMessage", 4, std::time::Duration::from_secs(5))
        .await;
    assert_eq!(bob.len(), 4);
    assert_eq!(
        notices(&fake, "U0BOB").len(),
        1,
        "the handoff during downtime is not skipped"
    );
    drop(t);
}

/// Sets `/oncall override …` as alice at Wednesday 10:00:05 and returns the one
/// handoff DM she then gets.
async fn alice_dm_after_override(override_text: &str) -> String {
    let fake = FakeSlack::start().await;
    let clock = wednesday();
    let t = TestApp::start_at(tempfile::tempdir().unwrap(), Some(&fake), clock.clone()).await;
    engine_ready(&t).await;
    clock.advance(chrono::Duration::seconds(5));
    let ok = text(
        &t.slash("/oncall", override_text, "U0ALICE", "http://127.0.0.1:9/r")
            .await,
    );
    assert!(ok.contains("Override #1"), "{ok}");
    fake.wait_for("chat.postMessage", 2, std::time::Duration::from_secs(5))
        .await;
    let dm = notices(&fake, "U0ALICE");
    assert_eq!(dm.len(), 1, "{dm:?}");
    assert!(dm[0].contains("taking over from <@U0BOB>"), "{}", dm[0]);
    dm[0].clone()
}

#[tokio::test]
async fn an_override_starting_now_is_announced_to_the_person_it_puts_on() {
    let dm = alice_dm_after_override("override platform-primary @alice now +1h").await;
    let until = Utc
        .with_ymd_and_hms(2026, 11, 25, 11, 0, 5)
        .unwrap()
        .timestamp();
    assert!(
        dm.contains(&format!("<!date^{until}^")),
        "until the override ends: {dm}"
    );
}

/// The swap request DMs the fake received for `channel`: (text, request id).
pub(crate) fn swap_asks(fake: &FakeSlack, channel: &str) -> Vec<(String, u64)> {
    fake.calls("chat.postMessage")
        .into_iter()
        .filter(|c| c.body["channel"] == channel && !c.body["blocks"].is_null())
        .map(|c| {
            let id = c.body["blocks"][1]["elements"][0]["value"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(button_labels(&c.body), ["Accept", "Decline"]);
            (c.body["text"].as_str().unwrap().to_string(), id)
        })
        .collect()
}

#[tokio::test]
async fn cover_me_is_asked_by_dm_and_accepting_moves_the_shift() {
    let fake = FakeSlack::start().await;
    let t = TestApp::start_at(tempfile::tempdir().unwrap(), Some(&fake), wednesday()).await;
    engine_ready(&t).await;
    let ok = text(
        &t.slash(
            "/oncall",
            "cover platform-primary <@U0ALICE|alice>",
            "U0BOB",
            "http://127.0.0.1:9/r",
        )
        .await,
    );
    assert!(
        ok.contains("I asked <@U0ALICE> to cover your `platform-primary` shift"),
        "{ok}"
    );
    fake.wait_for("chat.postMessage", 1, std::time::Duration::from_secs(5))
        .await;
    let asks = swap_asks(&fake, "U0ALICE");
    assert_eq!(asks.len(), 1);
    let (question, id) = asks[0].clone();
    assert!(
        question.contains("<@U0BOB> asks you to cover their `platform-primary` shift"),
        "{question}"
    );

    // Only the person asked can answer.
    t.click("swap_accept", id, "U0BOB", &fake.response_url("wrong"))
        .await;
    let wrong = fake
        .wait_for("respond/wrong", 1, std::time::Duration::from_secs(5))
        .await;
    assert!(wrong[0].body["text"]
        .as_str()
        .unwrap()
        .contains("This request is for <@U0ALICE>"));

    let (status, _) = t
        .click("swap_accept", id, "U0ALICE", &fake.response_url("accept"))
        .await;
    assert_eq!(status, 200);
    let replaced = fake
        .wait_for("respond/accept", 1, std::time::Duration::from_secs(5))
        .await;
    assert_eq!(
        replaced[0].body["replace_original"], true,
        "the question's buttons go away"
    );
    fake.wait_for("chat.postMessage", 3, std::time::Duration::from_secs(5))
        .await;
    let to_bob = notices(&fake, "U0BOB");
    assert!(
        to_bob.iter().any(|m| m.contains("<@U0ALICE> accepted")),
        "{to_bob:?}"
    );
    let note = notices(&fake, CHANNEL);
    assert!(
        note.iter()
            .any(|m| m.contains("<@U0ALICE> covers <@U0BOB>")),
        "{note:?}"
    );
    let who = text(
        &t.slash("/oncall", "who", "U0BOB", "http://127.0.0.1:9/r")
            .await,
    );
    assert!(who.contains("<@U0ALICE> until"), "{who}");
    // The moved shift is in the team's audit log, with who agreed to it.
    let audit = platform_audit(&t, "U0ALICE").await;
    assert!(
        audit.contains("<@U0ALICE> swap: <@U0ALICE> covers <@U0BOB> on platform-primary"),
        "{audit}"
    );
    assert!(audit.contains("(asked by <@U0BOB>)"), "{audit}");

    // A second click changes nothing and says so.
    t.click("swap_accept", id, "U0ALICE", &fake.response_url("again"))
        .await;
    let again = fake
        .wait_for("respond/again", 1, std::time::Duration::from_secs(5))
        .await;
    assert!(again[0].body["text"]
        .as_str()
        .unwrap()
        .contains("already accepted"));
    assert_eq!(
        t.app()
            .core()
            .store
            .overrides("platform-primary")
            .await
            .unwrap()
            .len(),
        1
    );
    let audit = platform_audit(&t, "U0ALICE").await;
    assert_eq!(audit.matches(" swap: ").count(), 1, "{audit}");
}

#[tokio::test]
async fn a_declined_trade_changes_nothing_and_tells_the_requester() {
    let fake = FakeSlack::start().await;
    let t = TestApp::start_at(tempfile::tempdir().unwrap(), Some(&fake), wednesday()).await;
    let ok = text(
        &t.slash(
            "/oncall",
            "swap platform-primary @bob",
            "U0ALICE",
            "http://127.0.0.1:9/r",
        )
        .await,
    );
    assert!(
        ok.contains("I asked <@U0BOB> to trade for your `platform-primary` shift"),
        "{ok}"
    );
    fake.wait_for("chat.postMessage", 1, std::time::Duration::from_secs(5))
        .await;
    let (question, id) = swap_asks(&fake, "U0BOB").remove(0);
    assert!(question.contains("asks to trade shifts"), "{question}");
    t.click("swap_decline", id, "U0BOB", &fake.response_url("no"))
        .await;
    fake.wait_for("respond/no", 1, std::time::Duration::from_secs(5))
        .await;
    fake.wait_for("chat.postMessage", 2, std::time::Duration::from_secs(5))
        .await;
    assert!(notices(&fake, "U0ALICE")
        .iter()
        .any(|m| m.contains("<@U0BOB> declined")));
    assert!(t
        .app()
        .core()
        .store
        .overrides("platform-primary")
        .await
        .unwrap()
        .is_empty());

    let bad = text(
        &t.slash(
            "/oncall",
            "swap platform-primary @alice",
            "U0ALICE",
            "http://127.0.0.1:9/r",
        )
        .await,
    );
    assert!(bad.contains("cannot swap with yourself"), "{bad}");
    let bad = text(
        &t.slash(
            "/oncall",
            "cover platform-primary @bob 9",
            "U0ALICE",
            "http://127.0.0.1:9/r",
        )
        .await,
    );
    assert!(bad.contains("no shift #9"), "{bad}");
}

#[tokio::test]
async fn an_override_that_began_in_the_past_is_still_announced() {
    // Starts at midnight, ten hours before it is set: alice is on call now.
    let dm = alice_dm_after_override("override platform-primary @alice today 00:00 +1d").await;
    let until = Utc
        .with_ymd_and_hms(2026, 11, 26, 0, 0, 0)
        .unwrap()
        .timestamp();
    assert!(
        dm.contains(&format!("<!date^{until}^")),
        "until the override ends: {dm}"
    );
}

/// `tocsin oncall` run beside a server that holds the data directory.
fn cli_oncall(t: &TestApp, at: &str, token: Option<&str>) -> (bool, String, String) {
    let addr = t.base.trim_start_matches("http://");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tocsin"));
    cmd.args(["oncall", "--at", at])
        .env("TOCSIN_CONFIG", t.dir.path().join("tocsin.toml"))
        .env("TOCSIN_DATA", t.dir.path().join("data"))
        .env("TOCSIN_LISTEN", addr)
        .env_remove("TOCSIN_API_TOKEN")
        .env("NO_COLOR", "1");
    if let Some(token) = token {
        cmd.env("TOCSIN_API_TOKEN", token);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_asks_the_running_server_for_overrides() {
    const TOKEN: &str = "cli-test-token-0123456789abcdef0123";
    let t = TestApp::start_full(
        tempfile::tempdir().unwrap(),
        None,
        &[("TOCSIN_API_TOKEN", TOKEN)],
        wednesday(),
        CONFIG,
    )
    .await;
    let ok = alice_takes_two_hours(&t).await;
    assert!(ok.contains("Override #1"), "{ok}");
    // The server holds the store's lock; the CLI asks it over the read API.
    let during = "2026-11-25T11:00:00Z";
    let (ok, out, err) = tokio::task::block_in_place(|| cli_oncall(&t, during, Some(TOKEN)));
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "platform-primary: Alice Example", "{err}");
    assert!(!err.contains("warning"), "{err}");
    // After the override, bob's week again.
    let (_, out, _) =
        tokio::task::block_in_place(|| cli_oncall(&t, "2026-11-25T13:00:00Z", Some(TOKEN)));
    assert_eq!(out.trim(), "platform-primary: Bob Example");
    // Without the token it cannot ask: it says why, and answers from the config.
    let (ok, out, err) = tokio::task::block_in_place(|| cli_oncall(&t, during, None));
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "platform-primary: Bob Example");
    assert!(
        err.contains("overrides not included") && err.contains("TOCSIN_API_TOKEN"),
        "{err}"
    );
    // A wrong token is refused by the server, and the CLI says so.
    let (_, _, err) = tokio::task::block_in_place(|| {
        cli_oncall(&t, during, Some("wrong-token-wrong-token-wrong-token!"))
    });
    assert!(err.contains("401"), "{err}");
    // The endpoint itself: JSON for a known schedule, 400 for another.
    let url = |q: &str| format!("{}/api/v1/overrides?schedule={q}", t.base);
    let bearer = format!("Bearer {TOKEN}");
    let (status, _, body) = get_with(&url("platform-primary"), Some(&bearer)).await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["overrides"][0]["user"], "alice", "{body}");
    let (status, _, body) = get_with(&url("nope"), Some(&bearer)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("configured schedule"), "{body}");
}
