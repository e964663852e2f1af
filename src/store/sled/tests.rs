//! The sled backend's own tests: through `Store`, and into its trees where
//! a test plays an older or newer data directory.

use super::*;
use crate::domain::incident::{tests::sample, Actor, NoChange, Severity, Transition};
use crate::domain::schedule::Override;
use crate::store::records::tests::{V1_INCIDENT, V2_INCIDENT};
use crate::store::{
    AlertsStopped, Changed, Health, MessageRef, MessageRefs, NewAlert, Outbound, Store, Triggered,
};
use chrono::TimeZone;

/// A store on a sled directory, and the sled handle under it for the tests
/// that reach into the trees or write without waiting for the disk.
#[derive(Clone)]
struct Opened {
    store: Store,
    sled: SledStore,
}

impl std::ops::Deref for Opened {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

fn open(dir: &Path) -> Result<Opened, StoreError> {
    let sled = SledStore::open(dir, 1 << 20)?;
    Ok(Opened {
        store: Store::new(Arc::new(sled.clone())),
        sled,
    })
}

/// Opens `dir` again once the store that had it is gone. sled's own
/// threads and the store's watcher may hold the directory's lock a few
/// moments after the last handle is dropped, as a process exiting would.
async fn try_reopen(dir: &Path) -> Result<Opened, StoreError> {
    for _ in 0..200 {
        match open(dir) {
            Err(StoreError::Backend(e)) if e.contains("lock") => {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            other => return other,
        }
    }
    panic!("{} stayed locked for 2 s", dir.display());
}

async fn reopen(dir: &Path) -> Opened {
    try_reopen(dir).await.unwrap()
}

fn at(min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 3, min, 0).unwrap()
}

fn alert<'a>(key: &'a str) -> NewAlert<'a> {
    NewAlert {
        routing_key: "rk",
        service_id: "api",
        dedup_key: key,
        alert: sample(0).alert,
        custom_details: None,
        alert_channel: Some("C1".into()),
        escalation: None,
        urgency: crate::config::Urgency::High,
        at: at(0),
        alerts: vec![],
        changes: vec![],
        join_within: None,
        member_keys: vec![],
        flapping: None,
        room: None,
        insight: Default::default(),
    }
}

fn bob() -> Actor {
    Actor::Slack {
        user_id: "UBOB".into(),
    }
}

async fn ids(s: &Opened) -> Vec<u64> {
    s.open_incidents()
        .await
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect()
}

#[tokio::test]
async fn the_open_index_follows_every_change_and_is_built_for_an_older_store() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = open(dir.path()).unwrap();
        for k in ["a", "b", "c", "a"] {
            s.trigger(&alert(k)).await.unwrap();
        }
        assert_eq!(
            (s.open_count().await.unwrap(), ids(&s).await),
            (3, vec![1, 2, 3])
        );
        s.transition(2, Transition::Acknowledge, bob(), at(1))
            .await
            .unwrap();
        s.transition(1, Transition::Resolve, bob(), at(2))
            .await
            .unwrap();
        // A replayed resolve changes nothing, the index included.
        s.transition(1, Transition::Resolve, bob(), at(3))
            .await
            .unwrap();
        assert_eq!(
            (s.open_count().await.unwrap(), ids(&s).await),
            (2, vec![2, 3])
        );
        // Re-triggered after its resolve: a new incident, open.
        s.trigger(&alert("a")).await.unwrap();
        s.update_incident(3, at(4), |i| {
            i.apply(Transition::Resolve, bob(), at(4))
                .map(|n| (n, vec![]))
                .map_err(|e| format!("{e:?}"))
        })
        .await
        .unwrap()
        .unwrap();
        assert_eq!(
            (s.open_count().await.unwrap(), ids(&s).await),
            (2, vec![2, 4])
        );
        s.flush().unwrap();
    }
    {
        let s = reopen(dir.path()).await;
        assert_eq!(ids(&s).await, vec![2, 4], "kept across a restart");
        // A store from before the index: no marker, no entries.
        let tr = s.sled.trees().unwrap();
        tr.meta.remove(K_OPEN_INDEXED).unwrap();
        tr.open.clear().unwrap();
        drop(tr);
        s.flush().unwrap();
    }
    let s = reopen(dir.path()).await;
    assert_eq!(
        (s.open_count().await.unwrap(), ids(&s).await),
        (2, vec![2, 4]),
        "rebuilt"
    );
    let all_open: Vec<u64> = s
        .incidents()
        .await
        .unwrap()
        .into_iter()
        .filter(Incident::is_open)
        .map(|i| i.id)
        .collect();
    assert_eq!(all_open, ids(&s).await);
}

#[tokio::test]
async fn custom_details_are_written_once_apart_from_the_incident() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path()).unwrap();
    let details = serde_json::json!({"log": "x".repeat(200_000), "host": "db-1"});
    let mut a = alert("big");
    a.custom_details = Some(&details);
    let Triggered::Opened { incident, .. } = s.trigger(&a).await.unwrap() else {
        panic!("opens")
    };
    assert_eq!(incident.alert.custom_details, None);
    assert_eq!(incident.alert.summary, a.alert.summary);
    let (record, payload) = s.stored_bytes(incident.id).await.unwrap();
    assert!(
        record < 1_000,
        "the record holds no details: {record} bytes"
    );
    assert!(payload > 200_000 && payload < 200_100, "{payload}");
    // Repeats, transitions and messages rewrite the small record only.
    let other = serde_json::json!({"log": "y".repeat(200_000)});
    let mut repeat = alert("big");
    repeat.custom_details = Some(&other);
    for _ in 0..5 {
        s.trigger(&repeat).await.unwrap();
    }
    s.set_post(
        incident.id,
        MessageRef {
            channel: "C1".into(),
            ts: "1.2".into(),
        },
    )
    .await
    .unwrap();
    s.transition(incident.id, Transition::Acknowledge, bob(), at(1))
        .await
        .unwrap();
    let (record_after, payload_after) = s.stored_bytes(incident.id).await.unwrap();
    assert!(record_after < 1_000, "{record_after}");
    assert_eq!(payload_after, payload, "the payload is never rewritten");
    assert_eq!(s.custom_details(incident.id).await.unwrap(), Some(details));
    let read = s.incident(incident.id).await.unwrap().unwrap();
    assert_eq!((read.alert_count, read.alert.custom_details), (6, None));
    // No details, no payload.
    let Triggered::Opened {
        incident: plain, ..
    } = s.trigger(&alert("plain")).await.unwrap()
    else {
        panic!("opens")
    };
    assert_eq!(s.custom_details(plain.id).await.unwrap(), None);
    assert_eq!(s.stored_bytes(plain.id).await.unwrap().1, 0);
}

/// What schema 1 and 2 kept inline as `message` and `dm_messages`, and
/// the references they become.
const LEGACY_REFS: &str = r#""message":{"channel":"C1","ts":"1.1"},"dm_messages":[{"channel":"D1","ts":"2.1"},{"channel":"D2","ts":"2.2"}]"#;

fn legacy_refs() -> MessageRefs {
    let m = |channel: &str, ts: &str| MessageRef {
        channel: channel.into(),
        ts: ts.into(),
    };
    MessageRefs {
        post: Some(m("C1", "1.1")),
        dms: vec![m("D1", "2.1"), m("D2", "2.2")],
    }
}

#[tokio::test]
async fn a_schema_1_directory_is_upgraded_and_reads_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let details = serde_json::json!({"mount": "/var", "log": ["a", "b"]});
    let mut with = sample(8);
    with.alert.custom_details = Some(details.clone());
    {
        // What schema 1 left behind: v1 records, details inline.
        let s = open(dir.path()).unwrap();
        let t = s.sled.trees().unwrap();
        let posted = V1_INCIDENT.replace(r#""message":null"#, LEGACY_REFS);
        t.incidents
            .insert(7u64.to_be_bytes(), posted.as_bytes())
            .unwrap();
        let v1 = serde_json::to_vec(&IncidentRecord::V1(with.clone())).unwrap();
        assert!(v1.starts_with(br#"{"v":"1","#));
        t.incidents.insert(8u64.to_be_bytes(), v1).unwrap();
        t.meta.insert(K_SCHEMA, &1u64.to_be_bytes()).unwrap();
        t.meta.insert(K_NEXT_INCIDENT, &9u64.to_be_bytes()).unwrap();
        // Written behind the open index's back: let the next open rebuild it.
        t.meta.remove(K_OPEN_INDEXED).unwrap();
        s.flush().unwrap();
    }
    let check = |s: Opened| async {
        let (with, details) = (&with, &details);
        assert_eq!(s.schema_version().await.unwrap(), SCHEMA_VERSION);
        assert_eq!(s.incident(7).await.unwrap().unwrap(), sample(7));
        assert_eq!(s.messages(7).await.unwrap(), legacy_refs());
        assert_eq!(s.messages(8).await.unwrap(), MessageRefs::default());
        let mut without = with.clone();
        without.alert.custom_details = None;
        assert_eq!(s.incident(8).await.unwrap().unwrap(), without);
        assert_eq!(s.custom_details(7).await.unwrap(), None);
        assert_eq!(s.custom_details(8).await.unwrap(), Some(details.clone()));
        for id in [7u64, 8] {
            let raw = s
                .sled
                .reader()
                .unwrap()
                .incidents
                .get(id.to_be_bytes())
                .unwrap()
                .unwrap();
            assert!(IncidentRecord::is_current(&raw), "{id} rewritten as v3");
            assert!(!raw.windows(9).any(|w| w == b"\"message\""), "{id}");
        }
        assert_eq!(s.open_count().await.unwrap(), 2);
        s
    };
    let s = check(reopen(dir.path()).await).await;
    // An upgraded store goes on as any other: new incidents, transitions.
    s.transition(8, Transition::Resolve, bob(), at(1))
        .await
        .unwrap();
    assert_eq!(s.custom_details(8).await.unwrap(), Some(details.clone()));
    assert!(matches!(
        s.trigger(&alert("new")).await.unwrap(),
        Triggered::Opened { incident, .. } if incident.id == 9
    ));
    s.flush().unwrap();
    drop(s);
    let s = reopen(dir.path()).await;
    assert_eq!(s.custom_details(8).await.unwrap(), Some(details));
    assert!(!s.incident(8).await.unwrap().unwrap().is_open());
    assert_eq!(s.messages(7).await.unwrap(), legacy_refs());
}

#[tokio::test]
async fn a_schema_2_directory_gives_its_message_refs_to_their_own_tree() {
    let dir = tempfile::tempdir().unwrap();
    {
        // What schema 2 left behind: v2 records holding the references, one
        // already rewritten as v3 (an upgrade that stopped part way).
        let s = open(dir.path()).unwrap();
        let t = s.sled.trees().unwrap();
        let posted = V2_INCIDENT.replace(r#""message":null"#, LEGACY_REFS);
        t.incidents
            .insert(7u64.to_be_bytes(), posted.as_bytes())
            .unwrap();
        let plain = V2_INCIDENT.replace(r#""id":7"#, r#""id":8"#);
        t.incidents
            .insert(8u64.to_be_bytes(), plain.as_bytes())
            .unwrap();
        let mut done = sample(9);
        done.dedup_key = "d9".into();
        let v3 = serde_json::to_vec(&IncidentRecordRef::V3(&done)).unwrap();
        t.incidents.insert(9u64.to_be_bytes(), v3).unwrap();
        let refs = legacy_refs();
        t.message_refs
            .insert(9u64.to_be_bytes(), messages::encode_refs(&refs))
            .unwrap();
        t.meta.insert(K_SCHEMA, &2u64.to_be_bytes()).unwrap();
        t.meta
            .insert(K_NEXT_INCIDENT, &10u64.to_be_bytes())
            .unwrap();
        t.meta.remove(K_OPEN_INDEXED).unwrap();
        s.flush().unwrap();
    }
    let s = reopen(dir.path()).await;
    assert_eq!(s.schema_version().await.unwrap(), SCHEMA_VERSION);
    assert_eq!(s.incident(7).await.unwrap().unwrap(), sample(7));
    assert_eq!(s.messages(7).await.unwrap(), legacy_refs());
    assert_eq!(s.messages(8).await.unwrap(), MessageRefs::default());
    assert_eq!(
        s.messages(9).await.unwrap(),
        legacy_refs(),
        "kept as it was"
    );
    for id in [7u64, 8, 9] {
        let raw = s.sled.reader().unwrap().incidents.get(id.to_be_bytes());
        assert!(IncidentRecord::is_current(&raw.unwrap().unwrap()), "{id}");
    }
    // The receiver goes on from what was moved: a DM it knows is not added twice.
    let dm = legacy_refs().dms[0].clone();
    s.add_dm(7, dm).await.unwrap();
    assert_eq!(s.messages(7).await.unwrap(), legacy_refs());
    drop(s);
    let s = reopen(dir.path()).await;
    assert_eq!(s.messages(7).await.unwrap(), legacy_refs());
}

#[tokio::test]
async fn stopped_alerts_resolve_their_incident_with_the_last_one_in_one_step() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path()).unwrap();
    let member = |key: &str| crate::domain::incident::SubAlert {
        key: key.into(),
        summary: key.into(),
        firing: true,
        link: None,
        since: at(0),
        similar: None,
    };
    let mut group = alert("group:db");
    group.alerts = vec![member("a"), member("b")];
    s.trigger(&group).await.unwrap();
    let stop = |key: &'static str| {
        move |inc: &mut Incident| {
            for a in inc.alerts.iter_mut().filter(|a| a.key == key) {
                a.firing = false;
            }
            inc.all_alerts_resolved()
        }
    };
    let queued = async |s: &Opened| s.pending().await.unwrap().len();
    let before = queued(&s).await;
    match s.alerts_stopped(1, bob(), at(1), stop("a")).await.unwrap() {
        AlertsStopped::Firing(inc) => {
            assert!(inc.is_open());
            assert!(!inc.alerts[0].firing && inc.alerts[1].firing);
        }
        other => panic!("b still fires: {other:?}"),
    }
    assert_eq!(queued(&s).await, before + 1, "the message shows it");
    match s.alerts_stopped(1, bob(), at(2), stop("b")).await.unwrap() {
        AlertsStopped::Resolved(Changed::Applied { incident, outbox }) => {
            assert!(!incident.is_open());
            assert!(outbox.is_some());
        }
        other => panic!("the last alert resolves it: {other:?}"),
    }
    let stored = s.incident(1).await.unwrap().unwrap();
    assert!(!stored.is_open() && stored.all_alerts_resolved());
    assert_eq!(s.open_count().await.unwrap(), 0);
    // Again, whether or not the caller would resolve: already resolved,
    // nothing changes and nothing is queued.
    let before = queued(&s).await;
    for resolve in [true, false] {
        assert!(matches!(
            s.alerts_stopped(1, bob(), at(3), |_: &mut Incident| resolve)
                .await
                .unwrap(),
            AlertsStopped::Resolved(Changed::Unchanged { .. })
        ));
    }
    assert_eq!(queued(&s).await, before);
    assert!(matches!(
        s.alerts_stopped(9, bob(), at(3), |_: &mut Incident| true)
            .await
            .unwrap(),
        AlertsStopped::Resolved(Changed::NotFound)
    ));
}

#[tokio::test]
async fn triggers_dedupe_until_resolved_then_open_anew() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path()).unwrap();
    let Triggered::Opened {
        incident: first,
        outbox: Some(_),
    } = s.trigger(&alert("k")).await.unwrap()
    else {
        panic!("first trigger opens")
    };
    assert_eq!(first.id, 1);
    assert!(
        matches!(s.trigger(&alert("k")).await.unwrap(), Triggered::Appended { incident, outbox: Some(_) } if incident.alert_count == 2)
    );
    assert!(
        matches!(s.trigger(&alert("other")).await.unwrap(), Triggered::Opened { incident, .. } if incident.id == 2)
    );
    let r = s
        .transition_by_key("rk", "k", Transition::Resolve, bob(), at(5))
        .await
        .unwrap();
    assert!(matches!(r, Changed::Applied { .. }));
    assert!(
        matches!(s.trigger(&alert("k")).await.unwrap(), Triggered::Opened { incident, .. } if incident.id == 3)
    );
    // The outbox holds, in order: post 1, update 1 (count), post 2, update 1 (resolved), post 3.
    let ops: Vec<Outbound> = s
        .pending()
        .await
        .unwrap()
        .into_iter()
        .map(|(_, i)| i.op)
        .collect();
    assert_eq!(ops.len(), 5);
    assert_eq!(ops[1], Outbound::UpdateIncident { incident: 1 });
    assert_eq!(ops[3], Outbound::UpdateIncident { incident: 1 });
}

#[tokio::test]
async fn a_replayed_transition_changes_nothing_and_queues_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path()).unwrap();
    s.trigger(&alert("k")).await.unwrap();
    let before = s.pending().await.unwrap().len();
    assert!(matches!(
        s.transition(1, Transition::Acknowledge, bob(), at(1))
            .await
            .unwrap(),
        Changed::Applied { .. }
    ));
    let again = s
        .transition(1, Transition::Acknowledge, bob(), at(2))
        .await
        .unwrap();
    assert!(matches!(
        again,
        Changed::Unchanged {
            why: NoChange::AlreadyAcknowledged,
            ..
        }
    ));
    assert_eq!(s.pending().await.unwrap().len(), before + 1);
    assert_eq!(
        s.incident(1)
            .await
            .unwrap()
            .unwrap()
            .acknowledged
            .unwrap()
            .at,
        at(1)
    );
    assert!(matches!(
        s.transition(42, Transition::Resolve, bob(), at(3))
            .await
            .unwrap(),
        Changed::NotFound
    ));
}

#[tokio::test]
async fn concurrent_acknowledges_apply_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path()).unwrap();
    s.trigger(&alert("k")).await.unwrap();
    // Threads of their own, so the transactions really race; the test's
    // runtime keeps running the group commit while it waits for them.
    let rt = tokio::runtime::Handle::current();
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let (s, rt) = (s.clone(), rt.clone());
            tokio::task::spawn_blocking(move || {
                let who = Actor::Slack {
                    user_id: format!("U{i}"),
                };
                matches!(
                    rt.block_on(s.transition(1, Transition::Acknowledge, who, at(1)))
                        .unwrap(),
                    Changed::Applied { .. }
                )
            })
        })
        .collect();
    let mut applied = 0;
    for h in handles {
        applied += usize::from(h.await.unwrap());
    }
    assert_eq!(applied, 1);
}

#[tokio::test]
async fn records_survive_reopening_and_a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = open(dir.path()).unwrap();
        let mut a = alert("k");
        a.alert.severity = Severity::Warning;
        s.trigger(&a).await.unwrap();
        s.durable().await.unwrap();
        assert_eq!(s.schema_version().await.unwrap(), SCHEMA_VERSION);
        s.sled
            .trees()
            .unwrap()
            .meta
            .insert(K_SCHEMA, &(SCHEMA_VERSION + 1).to_be_bytes())
            .unwrap();
        s.flush().unwrap();
    }
    match try_reopen(dir.path()).await {
        Err(StoreError::SchemaTooNew { found, .. }) => assert_eq!(found, SCHEMA_VERSION + 1),
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a newer schema must be refused"),
    }
}

#[tokio::test]
async fn a_write_made_before_a_reopen_is_never_reported_durable_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path()).unwrap();
    let other = s.clone();
    s.trigger(&alert("kept")).await.unwrap();
    s.durable().await.unwrap();
    // Written without waiting for the disk, as the port never does.
    let op = Outbound::Notify {
        channel: "C1".into(),
        text: "in doubt".into(),
    };
    s.sled.enqueue("C1", op, at(0)).unwrap();
    // The disk fails, and the store is reopened before the writer asks
    // whether its write is on disk: it must not be told yes.
    s.sled.note_failure("the disk failed (test)");
    assert!(matches!(s.health(), Health::Failed { .. }));
    assert!(matches!(
        s.trigger(&alert("refused")).await,
        Err(StoreError::Unavailable(_))
    ));
    s.sled.reopen().await;
    // Either this reopen or the watcher's own (racing it) replaced the
    // database; whichever did, the write from before is not called durable.
    match s.durable().await {
        Err(StoreError::Unavailable(_)) => {}
        r => panic!("a write from before the reopen was called durable: {r:?}"),
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !matches!(s.health(), Health::Ok { .. }) && std::time::Instant::now() < deadline {
        s.sled.reopen().await;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Every clone now uses the reopened database: what was flushed is
    // there, and new writes are durable.
    assert!(matches!(s.health(), Health::Ok { .. }));
    assert!(other
        .open_incident_by_key("rk", "kept")
        .await
        .unwrap()
        .is_some());
    assert!(other
        .open_incident_by_key("rk", "refused")
        .await
        .unwrap()
        .is_none());
    other.trigger(&alert("after")).await.unwrap();
    other.durable().await.unwrap();
    assert!(s
        .open_incident_by_key("rk", "after")
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn overrides_are_kept_per_schedule_in_creation_order() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path()).unwrap();
    let o = |u: &str| Override {
        user: u.into(),
        start: at(0),
        end: at(30),
    };
    s.add_override("primary", o("x"), "U1", at(0))
        .await
        .unwrap();
    s.add_override("primary-2", o("z"), "U1", at(0))
        .await
        .unwrap();
    let second = s
        .add_override("primary", o("y"), "U1", at(1))
        .await
        .unwrap();
    let users: Vec<String> = s
        .overrides("primary")
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.over.user)
        .collect();
    assert_eq!(
        users,
        ["x", "y"],
        "no leak from a schedule whose id shares a prefix"
    );
    assert!(s.remove_override("primary", second.id).await.unwrap());
    assert!(!s.remove_override("primary", second.id).await.unwrap());
    assert_eq!(s.overrides("primary").await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_handoff_cursor_moves_with_its_notices() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path()).unwrap();
    assert_eq!(s.handoff_cursor("p").await.unwrap(), None);
    let note = Outbound::Notify {
        channel: "U1".into(),
        text: "you're on".into(),
    };
    s.advance_handoffs("p", at(10), Some("alice"), &[("U1".into(), note.clone())])
        .await
        .unwrap();
    assert_eq!(s.handoff_cursor("p").await.unwrap(), Some(at(10)));
    assert_eq!(
        s.handoff_user("p").await.unwrap(),
        Some(Some("alice".to_string()))
    );
    s.advance_handoffs("p", at(11), None, &[]).await.unwrap();
    assert_eq!(s.handoff_user("p").await.unwrap(), Some(None));
    assert_eq!(s.pending().await.unwrap()[0].1.op, note);
    assert_eq!(s.feed_seed().await.unwrap(), s.feed_seed().await.unwrap());
    assert_eq!(s.feed_generation("p").await.unwrap(), 0);
    assert_eq!(s.rotate_feed("p").await.unwrap(), 1);
    assert_eq!(s.rotate_feed("p").await.unwrap(), 2);
    assert_eq!(s.feed_generation("p").await.unwrap(), 2);
    assert_eq!(s.feed_generation("q").await.unwrap(), 0, "per schedule");
}

#[tokio::test]
async fn outbox_rows_count_as_on_disk_only_after_a_flush() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path()).unwrap();
    // The backend's own write, which does not wait for the disk.
    let op = Outbound::Notify {
        channel: "C1".into(),
        text: "hello".into(),
    };
    s.sled.enqueue("C1", op, at(0)).unwrap();
    assert_eq!(s.pending().await.unwrap().len(), 1);
    assert_eq!(s.flushed_seq(), 0, "committed, not yet flushed");
    s.durable().await.unwrap();
    assert_eq!(s.flushed_seq(), 1);
}

#[tokio::test]
async fn slack_event_ids_are_seen_once() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path()).unwrap();
    assert!(s.first_sight_of_event("Ev1", at(0)).await.unwrap());
    assert!(!s.first_sight_of_event("Ev1", at(1)).await.unwrap());
    assert!(s.first_sight_of_event("Ev2", at(1)).await.unwrap());
    assert_eq!(s.prune_events(at(1)).await.unwrap(), 1);
    assert!(
        s.first_sight_of_event("Ev1", at(2)).await.unwrap(),
        "forgotten after pruning"
    );
    assert!(
        !s.first_sight_of_event("Ev2", at(2)).await.unwrap(),
        "kept: seen at the cut-off"
    );
}
#[tokio::test]
async fn a_dead_letter_goes_back_to_the_end_of_its_lane_once() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path()).unwrap();
    let op = Outbound::Notify {
        channel: "C1".into(),
        text: "hello".into(),
    };
    let first = s.enqueue("C1", op.clone(), at(0)).await.unwrap();
    s.attempted(first).await.unwrap();
    s.dead(first).await.unwrap();
    assert_eq!(s.dead_count(), 1);
    assert!(s.pending().await.unwrap().is_empty());
    let again = s
        .retry_dead(first, at(5))
        .await
        .unwrap()
        .expect("a dead letter");
    assert!(
        again > first,
        "a new sequence, after everything queued before"
    );
    assert_eq!(s.dead_count(), 0);
    let pending = s.pending().await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!((pending[0].0, &pending[0].1.op), (again, &op));
    assert_eq!(pending[0].1.attempts, 0);
    assert_eq!(pending[0].1.enqueued_at, at(5));
    assert_eq!(s.retry_dead(first, at(6)).await.unwrap(), None, "only once");
    assert_eq!(s.pending().await.unwrap().len(), 1);
}
