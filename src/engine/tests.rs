//! Scenarios: a `Core` on a temporary store with a manual clock; each test
//! passes the engine, moves the clock, passes again and reads what was
//! queued in the outbox (no worker runs, so nothing is sent).

use super::pass;
use crate::clock::Clock;
use crate::config::Config;
use crate::ingest::mappings::Mappings;
use crate::ingest::{AlertAction, AlertEvent};
use crate::ops::alert::Ingest;
use crate::ops::Core;
use crate::store::{Outbound, Store, StoreError};
use chrono::{DateTime, Duration, TimeZone, Utc};
use std::path::Path;
use std::sync::Arc;

const KEY: &str = "0123456789abcdef0123456789abcdef";

/// alice is paged at once and bob 15 minutes later, once round; a weekly
/// rotation of the two hands over on Mondays at 09:00 London time.
const CONFIG: &str = r#"
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
weekly_report = { at = "mon 09:00", time_zone = "Europe/Berlin" }

[[schedules]]
id = "platform-primary"
team = "platform"
time_zone = "Europe/London"
[[schedules.layers]]
name = "weekly"
start = "2026-11-02T09:00:00"
rotation = "weekly"
users = ["alice", "bob"]

[[escalation_policies]]
id = "platform-default"
repeat = 0
[[escalation_policies.levels]]
after_minutes = 0
targets = ["user:alice"]
[[escalation_policies.levels]]
after_minutes = 15
targets = ["user:bob"]

[[services]]
id = "payments"
name = "Payments"
team = "platform"
urgency = "high"
escalation_policy = "platform-default"
integration_key = "0123456789abcdef0123456789abcdef"
"#;

/// Opens `dir` once the store that had it is gone: the backend's threads may hold
/// the lock a few moments after the last handle is dropped.
async fn open(dir: &Path) -> Store {
    for _ in 0..200 {
        match Store::open(dir, 1 << 20) {
            Err(StoreError::Backend(e)) if e.contains("lock") => {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            other => return other.unwrap(),
        }
    }
    panic!("{} stayed locked for 2 s", dir.display());
}

async fn core(dir: &Path, clock: &Clock) -> Core {
    let config = Config::parse("t.toml", CONFIG).unwrap();
    let mappings = Mappings::load(&config, None).unwrap();
    Core {
        store: open(dir).await,
        config: Arc::new(config),
        clock: clock.clone(),
        outbox_ready: Default::default(),
        slack_signing_secret: None,
        twilio_auth_token: None,
        public_url: "http://127.0.0.1:3000".into(),
        engine_wake: Default::default(),
        mappings: Arc::new(mappings),
        api_token: None,
        api_read_token: None,
        installation: Default::default(),
        slack_auth_failing: Default::default(),
    }
}

/// What was queued since the last look, as (lane, work); marked done so
/// the next look sees only what is new.
async fn take(core: &Core) -> Vec<(String, Outbound)> {
    let pending = core.store.pending().await.unwrap();
    for (seq, _) in &pending {
        core.store.done(*seq).await.unwrap();
    }
    pending.into_iter().map(|(_, i)| (i.lane, i.op)).collect()
}

/// The queued work that reached for people or said something new, as short
/// strings; message refreshes (`UpdateIncident`, posts) are left out.
async fn said(core: &Core) -> Vec<String> {
    take(core)
        .await
        .into_iter()
        .filter_map(|(_, op)| match op {
            Outbound::PageUser { user, .. } => Some(format!("page {user}")),
            Outbound::NobodyResponded { to, .. } => Some(format!("nobody responded to {to}")),
            Outbound::SnoozeOver { channel, .. } => Some(format!("snooze over in {channel}")),
            Outbound::ShiftStarted { to, .. } => Some(format!("shift started for {to}")),
            Outbound::Handoff { channel, .. } => Some(format!("handoff in {channel}")),
            Outbound::WeeklyReport { channel, to, .. } => {
                Some(format!("report in {channel} to {}", to.to_rfc3339()))
            }
            _ => None,
        })
        .collect()
}

async fn trigger(core: &Core, dedup: &str) {
    let event = AlertEvent {
        routing_key: KEY.into(),
        dedup_key: dedup.into(),
        action: AlertAction::Trigger(Box::new(crate::domain::incident::tests::sample(1).alert)),
    };
    Ingest { core: core.clone() }.apply(&event).await.unwrap();
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

/// A Wednesday night in November: nobody's handoff, no report due.
fn three_am() -> Clock {
    Clock::manual(utc(2026, 11, 25, 3, 0))
}

#[tokio::test]
async fn an_escalation_steps_through_two_levels_then_says_nobody_responded() {
    let dir = tempfile::tempdir().unwrap();
    let clock = three_am();
    let core = core(dir.path(), &clock).await;
    pass(&core).await.unwrap();
    take(&core).await;
    trigger(&core, "p1").await;
    pass(&core).await.unwrap();
    assert_eq!(said(&core).await, ["page U0ALICE"]);
    clock.advance(Duration::minutes(14));
    pass(&core).await.unwrap();
    assert!(said(&core).await.is_empty(), "bob's level is not due yet");
    clock.advance(Duration::minutes(1));
    let next = pass(&core).await.unwrap();
    assert_eq!(said(&core).await, ["page U0BOB"]);
    // Given up after the longest level delay, told in the channel and to the lead.
    let giving_up = utc(2026, 11, 25, 3, 30);
    assert_eq!(core.store.next_due().await.unwrap(), Some(giving_up));
    assert!(
        next.is_some_and(|t| t <= giving_up),
        "the pass wakes for it"
    );
    clock.advance(Duration::minutes(15));
    pass(&core).await.unwrap();
    assert_eq!(
        said(&core).await,
        [
            "nobody responded to C0PLATFORM",
            "nobody responded to U0ALICE"
        ]
    );
    clock.advance(Duration::hours(2));
    pass(&core).await.unwrap();
    assert!(said(&core).await.is_empty(), "said once");
}

#[tokio::test]
async fn a_snooze_that_ends_pages_again() {
    let dir = tempfile::tempdir().unwrap();
    let clock = three_am();
    let core = core(dir.path(), &clock).await;
    trigger(&core, "p1").await;
    pass(&core).await.unwrap();
    assert_eq!(said(&core).await, ["page U0ALICE"]);
    let ack = crate::domain::incident::Transition::Acknowledge;
    core.act(1, ack, "U0ALICE").await.unwrap().unwrap();
    core.snooze(1, 60, "U0ALICE").await.unwrap().unwrap();
    take(&core).await;
    clock.advance(Duration::minutes(59));
    pass(&core).await.unwrap();
    assert!(said(&core).await.is_empty(), "still snoozed");
    clock.advance(Duration::minutes(1));
    pass(&core).await.unwrap();
    assert_eq!(said(&core).await, ["snooze over in C0PLATFORM"]);
    // Triggered again, it escalates afresh from the first level.
    pass(&core).await.unwrap();
    assert_eq!(said(&core).await, ["page U0ALICE"]);
}

#[tokio::test]
async fn a_handoff_is_announced_once_across_passes_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    // Monday morning of alice's last day on call.
    let clock = Clock::manual(utc(2026, 11, 9, 8, 0));
    let first = core(dir.path(), &clock).await;
    pass(&first).await.unwrap();
    assert!(said(&first).await.is_empty(), "nothing old is announced");
    clock.advance(Duration::minutes(59));
    pass(&first).await.unwrap();
    assert!(said(&first).await.is_empty());
    clock.advance(Duration::minutes(1));
    pass(&first).await.unwrap();
    assert_eq!(
        said(&first).await,
        ["shift started for U0BOB", "handoff in C0PLATFORM"]
    );
    pass(&first).await.unwrap();
    assert!(said(&first).await.is_empty(), "not again on the next pass");
    first.store.flush().unwrap();
    drop(first);
    let again = core(dir.path(), &clock).await;
    pass(&again).await.unwrap();
    clock.advance(Duration::minutes(1));
    pass(&again).await.unwrap();
    assert!(said(&again).await.is_empty(), "not again after a restart");
}

#[tokio::test]
async fn the_weekly_report_goes_out_once_a_week_across_the_clock_change() {
    let dir = tempfile::tempdir().unwrap();
    // Berlin goes from CET to CEST on Sunday 29 March 2026: Monday 09:00 is
    // 08:00 UTC before the change and 07:00 UTC after it.
    let clock = Clock::manual(utc(2026, 3, 21, 12, 0));
    let core = core(dir.path(), &clock).await;
    let mut sent = vec![];
    while clock.now() < utc(2026, 4, 7, 0, 0) {
        pass(&core).await.unwrap();
        for s in said(&core).await {
            sent.push((clock.now().to_rfc3339(), s));
        }
        clock.advance(Duration::minutes(30));
    }
    let report = |at: &str| (at.to_string(), format!("report in C0PLATFORM to {at}"));
    assert_eq!(
        sent,
        [
            report("2026-03-23T08:00:00+00:00"),
            report("2026-03-30T07:00:00+00:00"),
            report("2026-04-06T07:00:00+00:00"),
        ]
    );
}

#[tokio::test]
async fn housekeeping_forgets_slack_event_ids_after_an_hour() {
    let dir = tempfile::tempdir().unwrap();
    let clock = three_am();
    let core = core(dir.path(), &clock).await;
    let t0 = clock.now();
    assert!(core.store.first_sight_of_event("Ev1", t0).await.unwrap());
    pass(&core).await.unwrap();
    clock.advance(Duration::minutes(30));
    assert!(core
        .store
        .first_sight_of_event("Ev2", clock.now())
        .await
        .unwrap());
    pass(&core).await.unwrap();
    assert!(
        !core.store.first_sight_of_event("Ev1", t0).await.unwrap(),
        "kept for the hour"
    );
    clock.advance(Duration::minutes(31));
    pass(&core).await.unwrap();
    // Ev1 was seen 61 minutes ago and is forgotten; Ev2, 31 minutes ago, is not.
    assert!(core
        .store
        .first_sight_of_event("Ev1", clock.now())
        .await
        .unwrap());
    assert!(!core
        .store
        .first_sight_of_event("Ev2", clock.now())
        .await
        .unwrap());
}

#[tokio::test]
async fn housekeeping_runs_at_most_every_ten_minutes() {
    let dir = tempfile::tempdir().unwrap();
    let clock = three_am();
    let core = core(dir.path(), &clock).await;
    pass(&core).await.unwrap();
    let old = clock.now() - Duration::hours(2);
    assert!(core.store.first_sight_of_event("Ev1", old).await.unwrap());
    clock.advance(Duration::minutes(9));
    pass(&core).await.unwrap();
    assert!(
        !core.store.first_sight_of_event("Ev1", old).await.unwrap(),
        "not yet"
    );
    clock.advance(Duration::minutes(1));
    pass(&core).await.unwrap();
    assert!(
        core.store.first_sight_of_event("Ev1", old).await.unwrap(),
        "pruned"
    );
}
