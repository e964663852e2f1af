//! What every storage backend must do, written against the port alone: each
//! property is a function taking a [`Factory`], so any backend runs the same
//! suite (sled's run is in `sled/conformance.rs`, one test per property).

use crate::config::{EscalationLevel, EscalationPolicy, Target};
use crate::domain::escalation::Escalation;
use crate::domain::incident::tests::sample;
use crate::domain::incident::{Actor, Incident, Transition};
use crate::store::port::{Change, Declined, Storage, TriggerKeys, TriggerKind, Triggering};
use crate::store::{update_lane, with_follow_up, MessageRef, MessageRefs, Outbound, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use std::path::Path;
use std::sync::Arc;

/// Opens a backend's stores, and plays what only a backend can: an older or
/// newer data directory, and a crash.
#[async_trait]
pub(crate) trait Factory: Send + Sync {
    /// Opens (or creates) the store kept at `place`, waiting for a previous
    /// handle on it to be released.
    async fn open(&self, place: &Path) -> Result<Arc<dyn Storage>, StoreError>;
    /// The schema version this backend writes.
    fn schema(&self) -> u64;
    /// Marks the closed store at `place` as written by schema `version`.
    async fn set_schema(&self, place: &Path, version: u64);
    /// Leaves at `to` what a crash of the store at `from`, open as `store`,
    /// would leave on disk now, without flushing anything first.
    async fn crash_copy(&self, store: &Arc<dyn Storage>, from: &Path, to: &Path);
}

fn t(min: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap() + Duration::minutes(min)
}

fn bob() -> Actor {
    Actor::Slack {
        user_id: "UBOB".into(),
    }
}

/// Opens an incident for `key` (or counts a repeat on the open one), posting
/// it to channel `C1`.
async fn trigger(
    s: &dyn Storage,
    key: &str,
    at: DateTime<Utc>,
) -> (TriggerKind, Incident, Vec<u64>) {
    let keys = TriggerKeys {
        routing_key: "rk",
        dedup_key: key,
        member_keys: &[],
        custom_details: None,
        at,
    };
    let decide = |previous: Option<&Incident>, new_id: u64| match previous.filter(|p| p.is_open()) {
        Some(p) => {
            let next = p.with_repeat_alert(at);
            let update = (
                update_lane(&next),
                Outbound::UpdateIncident { incident: p.id },
            );
            Triggering::Append(with_follow_up(Some(p), next, vec![update], at))
        }
        None => {
            let mut new = sample(new_id);
            new.dedup_key = key.into();
            new.routing_key = "rk".into();
            new.created_at = at;
            new.last_alert_at = at;
            let post = Outbound::PostIncident {
                incident: new_id,
                channel: "C1".into(),
            };
            Triggering::Open(with_follow_up(None, new, vec![("C1".into(), post)], at))
        }
    };
    let (kind, applied) = s.trigger(&keys, &decide).await.unwrap();
    (kind, applied.incident, applied.outbox)
}

/// Changes incident `id` as `f` says, queueing its message update.
async fn change<F>(s: &dyn Storage, id: u64, at: DateTime<Utc>, f: F) -> Result<Incident, Declined>
where
    F: Fn(&Incident) -> Result<Incident, Declined> + Send + Sync,
{
    let decide = |current: Option<&Incident>| -> Result<Change, Declined> {
        let current = current.ok_or(Declined::NotFound)?;
        let next = f(current)?;
        let update = (
            update_lane(&next),
            Outbound::UpdateIncident { incident: id },
        );
        Ok(with_follow_up(Some(current), next, vec![update], at))
    };
    s.update_incident(id, at, &decide)
        .await
        .unwrap()
        .map(|a| a.incident)
}

fn transition(
    t: Transition,
    at: DateTime<Utc>,
) -> impl Fn(&Incident) -> Result<Incident, Declined> {
    move |i: &Incident| {
        i.apply(t, bob(), at).map_err(|why| Declined::Unchanged {
            incident: Box::new(i.clone()),
            why,
        })
    }
}

async fn updates_queued(s: &dyn Storage, id: u64) -> usize {
    s.pending()
        .await
        .unwrap()
        .iter()
        .filter(|(_, i)| i.op == Outbound::UpdateIncident { incident: id })
        .count()
}

/// Concurrent acknowledges of one incident change it once and queue one
/// update; a replay afterwards changes nothing and queues nothing.
pub(crate) async fn transitions_are_compare_and_swap(f: &dyn Factory) {
    let dir = tempfile::tempdir().unwrap();
    let s = f.open(dir.path()).await.unwrap();
    let (_, inc, _) = trigger(s.as_ref(), "k", t(0)).await;
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                let who = Actor::Slack {
                    user_id: format!("U{i}"),
                };
                change(s.as_ref(), inc.id, t(1), move |c| {
                    c.apply(Transition::Acknowledge, who.clone(), t(1))
                        .map_err(|why| Declined::Unchanged {
                            incident: Box::new(c.clone()),
                            why,
                        })
                })
                .await
                .is_ok()
            })
        })
        .collect();
    let mut applied = 0;
    for task in tasks {
        applied += usize::from(task.await.unwrap());
    }
    assert_eq!(applied, 1, "exactly one acknowledge applies");
    assert_eq!(updates_queued(s.as_ref(), inc.id).await, 1);
    let again = change(
        s.as_ref(),
        inc.id,
        t(2),
        transition(Transition::Acknowledge, t(2)),
    )
    .await;
    assert!(matches!(again, Err(Declined::Unchanged { .. })));
    assert_eq!(
        updates_queued(s.as_ref(), inc.id).await,
        1,
        "a replay queues nothing"
    );
    let stored = s.incident(inc.id).await.unwrap().unwrap();
    assert_eq!(stored.acknowledged.unwrap().at, t(1));
    let missing = change(s.as_ref(), 999, t(2), transition(Transition::Resolve, t(2))).await;
    assert!(matches!(missing, Err(Declined::NotFound)));
}

/// The due index follows the incident: an escalation step, a snooze, and
/// nothing once it is resolved.
pub(crate) async fn the_due_index_moves_with_the_incident(f: &dyn Factory) {
    let dir = tempfile::tempdir().unwrap();
    let s = f.open(dir.path()).await.unwrap();
    let (_, inc, _) = trigger(s.as_ref(), "k", t(0)).await;
    let id = inc.id;
    assert_eq!(s.next_due().await.unwrap(), None);
    let policy = EscalationPolicy {
        id: "p".into(),
        repeat: 0,
        levels: vec![EscalationLevel {
            after_minutes: 0,
            targets: vec![Target::User("alice".into())],
        }],
    };
    change(s.as_ref(), id, t(0), |i| {
        let mut next = i.clone();
        let mut e = Escalation::start(policy.clone(), t(0));
        e.next_at = Some(t(5));
        next.escalation = Some(e);
        Ok(next)
    })
    .await
    .unwrap();
    assert_eq!(s.next_due().await.unwrap(), Some(t(5)));
    assert_eq!(s.due(t(4)).await.unwrap(), vec![]);
    assert_eq!(s.due(t(5)).await.unwrap(), vec![(t(5), id)]);
    // The next step moves the entry.
    change(s.as_ref(), id, t(5), |i| {
        let mut next = i.clone();
        if let Some(e) = &mut next.escalation {
            e.next_at = Some(t(20));
        }
        Ok(next)
    })
    .await
    .unwrap();
    assert_eq!(s.due(t(19)).await.unwrap(), vec![], "the old entry is gone");
    assert_eq!(s.due(t(20)).await.unwrap(), vec![(t(20), id)]);
    // Acknowledged and snoozed: due when the snooze ends, not before.
    change(
        s.as_ref(),
        id,
        t(6),
        transition(Transition::Acknowledge, t(6)),
    )
    .await
    .unwrap();
    assert_eq!(
        s.next_due().await.unwrap(),
        None,
        "acknowledged: no step due"
    );
    change(s.as_ref(), id, t(7), |i| {
        i.snooze(t(30), t(7), "UBOB").map_err(Declined::Refused)
    })
    .await
    .unwrap();
    assert_eq!(s.due(t(29)).await.unwrap(), vec![]);
    assert_eq!(s.due(t(30)).await.unwrap(), vec![(t(30), id)]);
    change(s.as_ref(), id, t(8), transition(Transition::Resolve, t(8)))
        .await
        .unwrap();
    assert_eq!(s.due(t(60)).await.unwrap(), vec![], "resolving removes it");
    assert_eq!(s.next_due().await.unwrap(), None);
    assert_eq!(s.open_count().await.unwrap(), 0);
}

fn note(lane: &str, n: usize) -> Outbound {
    Outbound::Notify {
        channel: lane.into(),
        text: format!("{lane} {n}"),
    }
}

/// Rows come back in sequence order, which is their order within a lane;
/// lanes are independent; done, dead and retried rows leave and rejoin.
pub(crate) async fn the_outbox_keeps_order_per_lane(f: &dyn Factory) {
    let dir = tempfile::tempdir().unwrap();
    let s = f.open(dir.path()).await.unwrap();
    let mut seqs = vec![];
    for n in 0..3 {
        for lane in ["A", "B"] {
            seqs.push((lane, s.enqueue(lane, note(lane, n), t(0)).await.unwrap()));
        }
    }
    let pending = s.pending().await.unwrap();
    let got: Vec<u64> = pending.iter().map(|(q, _)| *q).collect();
    let mut sorted = got.clone();
    sorted.sort_unstable();
    assert_eq!(got, sorted, "sequence order");
    let lane = |p: &[(u64, crate::store::OutboxItem)], l: &str| -> Vec<Outbound> {
        p.iter()
            .filter(|(_, i)| i.lane == l)
            .map(|(_, i)| i.op.clone())
            .collect()
    };
    assert_eq!(
        lane(&pending, "A"),
        (0..3).map(|n| note("A", n)).collect::<Vec<_>>()
    );
    assert!(
        s.flushed_seq() >= *got.last().unwrap(),
        "written means on disk"
    );
    // Lane A's head is delivered and its next row dies: B is untouched.
    let a: Vec<u64> = seqs
        .iter()
        .filter(|(l, _)| *l == "A")
        .map(|(_, q)| *q)
        .collect();
    s.done(a[0]).await.unwrap();
    s.attempted(a[1]).await.unwrap();
    s.dead(a[1]).await.unwrap();
    let pending = s.pending().await.unwrap();
    assert_eq!(lane(&pending, "A"), vec![note("A", 2)]);
    assert_eq!(
        lane(&pending, "B"),
        (0..3).map(|n| note("B", n)).collect::<Vec<_>>()
    );
    let dead = s.dead_letters().await.unwrap();
    assert_eq!((dead.len(), dead[0].0, dead[0].1.attempts), (1, a[1], 1));
    // Retried: the end of its lane, after everything queued before, once.
    let again = s.retry_dead(a[1], t(5)).await.unwrap().unwrap();
    assert!(again > *got.last().unwrap());
    assert_eq!(s.retry_dead(a[1], t(6)).await.unwrap(), None);
    let pending = s.pending().await.unwrap();
    assert_eq!(lane(&pending, "A"), vec![note("A", 2), note("A", 1)]);
    assert_eq!(pending.last().unwrap().1.attempts, 0);
    assert!(s.dead_letters().await.unwrap().is_empty());
}

/// Many concurrent writers are each answered only once a flush covers
/// their write, and share flushes.
pub(crate) async fn writers_share_group_commits(f: &dyn Factory) {
    let dir = tempfile::tempdir().unwrap();
    let s = f.open(dir.path()).await.unwrap();
    let before = s.commits();
    let writers = 64;
    let tasks: Vec<_> = (0..writers)
        .map(|n| {
            let s = s.clone();
            tokio::spawn(async move {
                let seq = s.enqueue("C1", note("C1", n), t(0)).await.unwrap();
                // Answered: the flush that covers it has happened.
                assert!(
                    s.flushed_seq() >= seq,
                    "row {seq} answered before it was on disk"
                );
                seq
            })
        })
        .collect();
    let mut seqs = vec![];
    for task in tasks {
        seqs.push(task.await.unwrap());
    }
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), writers);
    let flushes = s.commits() - before;
    assert!(
        flushes >= 1 && flushes < writers as u64,
        "{flushes} flushes for {writers} writers"
    );
}

/// A newer schema is refused; an older one is upgraded when opened.
pub(crate) async fn the_schema_version_is_checked_and_upgraded(f: &dyn Factory) {
    let dir = tempfile::tempdir().unwrap();
    let current = f.schema();
    {
        let s = f.open(dir.path()).await.unwrap();
        assert_eq!(s.schema_version().await.unwrap(), current);
        trigger(s.as_ref(), "k", t(0)).await;
    }
    f.set_schema(dir.path(), current + 1).await;
    match f.open(dir.path()).await {
        Err(StoreError::SchemaTooNew { found, known }) => {
            assert_eq!((found, known), (current + 1, current))
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a newer schema must be refused"),
    }
    f.set_schema(dir.path(), current - 1).await;
    let s = f.open(dir.path()).await.unwrap();
    assert_eq!(s.schema_version().await.unwrap(), current);
    let open = s.open_incident_by_key("rk", "k").await.unwrap();
    assert!(open.is_some(), "the upgraded store holds what it held");
}

/// Incidents, their dedup keys, the open index and the posts queued with
/// them agree: each incident is all there, or not there at all.
async fn assert_whole(s: &dyn Storage, keys: &[&str]) -> Vec<u64> {
    let open = s.open_incidents().await.unwrap();
    assert_eq!(
        s.open_count().await.unwrap(),
        open.len(),
        "the open index has no strays"
    );
    let posts: Vec<u64> = s
        .pending()
        .await
        .unwrap()
        .into_iter()
        .filter_map(|(_, i)| match i.op {
            Outbound::PostIncident { incident, .. } => Some(incident),
            _ => None,
        })
        .collect();
    let mut ids = vec![];
    for key in keys {
        match s.open_incident_by_key("rk", key).await.unwrap() {
            Some(inc) => {
                assert!(
                    open.iter().any(|o| o.id == inc.id),
                    "{key}: indexed as open"
                );
                assert!(posts.contains(&inc.id), "{key}: its post is queued");
                ids.push(inc.id);
            }
            None => assert!(
                !open.iter().any(|o| o.dedup_key == *key),
                "{key}: open but not found by its key"
            ),
        }
    }
    for p in &posts {
        assert!(
            s.incident(*p).await.unwrap().is_some(),
            "a post for #{p}, which is missing"
        );
    }
    ids
}

/// A store reopened after a crash holds each write whole or not at all:
/// what was made durable is there, a write not yet flushed is all there or
/// absent, and the indexes agree with the incidents.
pub(crate) async fn a_crash_keeps_each_write_whole(f: &dyn Factory) {
    let dir = tempfile::tempdir().unwrap();
    let crashed = tempfile::tempdir().unwrap();
    let keys = ["durable", "in-flight-1", "in-flight-2", "in-flight-3"];
    let s = f.open(dir.path()).await.unwrap();
    trigger(s.as_ref(), keys[0], t(0)).await;
    s.durable().await.unwrap();
    // Writes under way when the process dies: the copy is taken while they
    // are written and flushed, so each may be on disk in full, in part or
    // not at all.
    let writers: Vec<_> = keys[1..]
        .iter()
        .map(|&key| {
            let s = s.clone();
            tokio::spawn(async move {
                trigger(s.as_ref(), key, t(0)).await;
            })
        })
        .collect();
    tokio::task::yield_now().await;
    f.crash_copy(&s, dir.path(), crashed.path()).await;
    for w in writers {
        w.await.unwrap();
    }
    let after = f.open(crashed.path()).await.unwrap();
    let ids = assert_whole(after.as_ref(), &keys).await;
    assert!(!ids.is_empty(), "the durable incident survived");
    assert!(
        after
            .open_incident_by_key("rk", keys[0])
            .await
            .unwrap()
            .is_some(),
        "what was answered durable is kept"
    );
    // The reopened store goes on: numbering does not reuse a kept id.
    let (kind, next, _) = trigger(after.as_ref(), "after", t(1)).await;
    assert_eq!(kind, TriggerKind::Opened);
    assert!(ids.iter().all(|i| *i < next.id));
}

/// A write the port calls unflushed is read back at once, and the next
/// durable write takes it to disk with its own: after a crash it is there.
pub(crate) async fn the_next_durable_write_covers_an_unflushed_one(f: &dyn Factory) {
    let dir = tempfile::tempdir().unwrap();
    let crashed = tempfile::tempdir().unwrap();
    let s = f.open(dir.path()).await.unwrap();
    assert!(s.first_sight_unflushed("Ev1", t(0)).await.unwrap());
    assert!(!s.first_sight_unflushed("Ev1", t(1)).await.unwrap(), "seen");
    s.set_cursor_unflushed("housekeeping", t(2)).await.unwrap();
    assert_eq!(s.cursor("housekeeping").await.unwrap(), Some(t(2)));
    s.beat("nightly", t(3)).await.unwrap();
    f.crash_copy(&s, dir.path(), crashed.path()).await;
    let after = f.open(crashed.path()).await.unwrap();
    assert!(!after.first_sight_of_event("Ev1", t(4)).await.unwrap());
    assert_eq!(after.cursor("housekeeping").await.unwrap(), Some(t(2)));
    assert_eq!(after.last_beat("nightly").await.unwrap(), Some(t(3)));
}

/// A dedup key points at its incident after it resolves (a later trigger
/// reads it to tell a flap), until a trigger opens a new incident for it.
pub(crate) async fn a_key_points_at_its_incident_until_a_new_one_opens(f: &dyn Factory) {
    let dir = tempfile::tempdir().unwrap();
    let s = f.open(dir.path()).await.unwrap();
    let (_, first, _) = trigger(s.as_ref(), "k", t(0)).await;
    assert_eq!(s.id_by_key("rk", "k").await.unwrap(), Some(first.id));
    change(
        s.as_ref(),
        first.id,
        t(1),
        transition(Transition::Resolve, t(1)),
    )
    .await
    .unwrap();
    assert_eq!(s.id_by_key("rk", "k").await.unwrap(), Some(first.id));
    assert!(s.open_incident_by_key("rk", "k").await.unwrap().is_none());
    let (kind, second, _) = trigger(s.as_ref(), "k", t(2)).await;
    assert_eq!(kind, TriggerKind::Opened);
    assert_eq!(s.id_by_key("rk", "k").await.unwrap(), Some(second.id));
    assert_eq!(s.id_by_key("rk", "other").await.unwrap(), None);
}

/// Claims come with a lease for their holder and a token that grows with
/// every claim; a due claim covers what is due.
pub(crate) async fn claims_carry_growing_fencing_tokens(f: &dyn Factory) {
    let dir = tempfile::tempdir().unwrap();
    let s = f.open(dir.path()).await.unwrap();
    let (_, inc, _) = trigger(s.as_ref(), "k", t(0)).await;
    change(s.as_ref(), inc.id, t(0), |i| {
        let mut next = i.clone();
        next.held = vec![crate::domain::incident::Held {
            user: "alice".into(),
            level: None,
            until: t(3),
        }];
        Ok(next)
    })
    .await
    .unwrap();
    let lease = Duration::seconds(30);
    let (first, due) = s.claim_due(t(5), "node-a", lease).await.unwrap();
    assert_eq!(due, vec![(t(3), inc.id)]);
    assert_eq!(
        (first.holder.as_str(), first.until),
        ("node-a", t(5) + lease)
    );
    let lane = s.claim_lane("C1", "node-a", t(5), lease).await.unwrap();
    let lane = lane.expect("a lane nobody holds can be claimed");
    assert!(lane.token > first.token);
    let (again, _) = s.claim_due(t(6), "node-a", lease).await.unwrap();
    assert!(again.token > lane.token, "every claim is fenced anew");
}

/// A chat receiver's message references are kept by incident, apart from
/// it: a post is set (and replaced), a DM added once however often it is
/// recorded, an incident's changes leave them be, and they read back after
/// a reopen. Unflushed writes read back at once and the next durable write
/// takes them to disk. Recording one for no incident is refused.
pub(crate) async fn message_refs_are_kept_by_incident(f: &dyn Factory) {
    let m = |channel: &str, ts: &str| MessageRef {
        channel: channel.into(),
        ts: ts.into(),
    };
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = {
        let s = f.open(dir.path()).await.unwrap();
        let (_, a, _) = trigger(s.as_ref(), "a", t(0)).await;
        let (_, b, _) = trigger(s.as_ref(), "b", t(0)).await;
        assert_eq!(s.messages(a.id).await.unwrap(), MessageRefs::default());
        s.set_post(a.id, m("C1", "1.1")).await.unwrap();
        s.set_post(a.id, m("C1", "1.2")).await.unwrap();
        s.add_dm(a.id, m("D1", "2.1")).await.unwrap();
        s.add_dm(a.id, m("D1", "2.1")).await.unwrap();
        s.add_dm_unflushed(a.id, m("D2", "2.2")).await.unwrap();
        s.add_dm_unflushed(a.id, m("D1", "2.1")).await.unwrap();
        s.set_post_unflushed(b.id, m("C1", "3.1")).await.unwrap();
        let want = MessageRefs {
            post: Some(m("C1", "1.2")),
            dms: vec![m("D1", "2.1"), m("D2", "2.2")],
        };
        assert_eq!(s.messages(a.id).await.unwrap(), want);
        change(
            s.as_ref(),
            a.id,
            t(1),
            transition(Transition::Acknowledge, t(1)),
        )
        .await
        .unwrap();
        assert_eq!(
            s.messages(a.id).await.unwrap(),
            want,
            "the incident's change keeps them"
        );
        assert!(matches!(
            s.set_post(999, m("C1", "9.9")).await,
            Err(StoreError::NoSuchIncident(999))
        ));
        assert!(matches!(
            s.add_dm_unflushed(999, m("D1", "9.9")).await,
            Err(StoreError::NoSuchIncident(999))
        ));
        assert_eq!(s.messages(999).await.unwrap(), MessageRefs::default());
        s.durable().await.unwrap();
        (a, b)
    };
    let s = f.open(dir.path()).await.unwrap();
    let refs = s.messages(a.id).await.unwrap();
    assert_eq!(refs.post, Some(m("C1", "1.2")));
    assert_eq!(refs.dms, [m("D1", "2.1"), m("D2", "2.2")]);
    assert_eq!(s.messages(b.id).await.unwrap().post, Some(m("C1", "3.1")));
    assert!(s.messages(b.id).await.unwrap().dms.is_empty());
}

/// The sandbox workspace's records are opaque bytes by key: a write replaces
/// the one under its key, they read back in key order, and after a reopen.
pub(crate) async fn sandbox_records_are_kept_in_key_order(f: &dyn Factory) {
    let dir = tempfile::tempdir().unwrap();
    let want = |pairs: &[(&str, &[u8])]| -> Vec<(String, Vec<u8>)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_vec()))
            .collect()
    };
    {
        let s = f.open(dir.path()).await.unwrap();
        assert!(s.sandbox_records().await.unwrap().is_empty());
        s.put_sandbox_record("m/0002", b"two").await.unwrap();
        s.put_sandbox_record("c/C1", b"{}").await.unwrap();
        s.put_sandbox_record("m/0001", b"one").await.unwrap();
        s.put_sandbox_record("m/0002", b"two, edited")
            .await
            .unwrap();
        assert_eq!(
            s.sandbox_records().await.unwrap(),
            want(&[
                ("c/C1", b"{}"),
                ("m/0001", b"one"),
                ("m/0002", b"two, edited")
            ])
        );
    }
    let s = f.open(dir.path()).await.unwrap();
    assert_eq!(
        s.sandbox_records().await.unwrap(),
        want(&[
            ("c/C1", b"{}"),
            ("m/0001", b"one"),
            ("m/0002", b"two, edited")
        ])
    );
}

/// Grouping feedback is kept per service, oldest first, the latest `limit`
/// of them, across a reopen; recent incidents come newest first and stop
/// at `since` and at `limit`.
pub(crate) async fn labels_and_recent_incidents_read_back_in_order(f: &dyn Factory) {
    use crate::domain::similarity::{Pair, Tokens};
    let pair = |a: &str, b: &str, same: bool| Pair {
        a: Tokens::of(a, []),
        b: Tokens::of(b, [("source", "db-1")]),
        same,
    };
    let dir = tempfile::tempdir().unwrap();
    {
        let s = f.open(dir.path()).await.unwrap();
        assert!(s.labels("api", 10).await.unwrap().is_empty());
        s.add_label("api", &pair("disk full", "disk full", false), t(0))
            .await
            .unwrap();
        s.add_label("api", &pair("cpu high", "cpu hot", true), t(1))
            .await
            .unwrap();
        s.add_label("web", &pair("5xx", "errors", true), t(1))
            .await
            .unwrap();
        s.add_label("api", &pair("oom", "killed", true), t(2))
            .await
            .unwrap();
        for (i, key) in ["a", "b", "c"].iter().enumerate() {
            trigger(s.as_ref(), key, t(i as i64 * 10)).await;
        }
    }
    let s = f.open(dir.path()).await.unwrap();
    let api = s.labels("api", 10).await.unwrap();
    assert_eq!(
        api,
        [
            pair("disk full", "disk full", false),
            pair("cpu high", "cpu hot", true),
            pair("oom", "killed", true)
        ]
    );
    assert_eq!(s.labels("api", 2).await.unwrap(), api[1..]);
    assert_eq!(s.labels("web", 10).await.unwrap().len(), 1);
    assert!(
        s.labels("ap", 10).await.unwrap().is_empty(),
        "a prefix is not a service"
    );
    let keys = |v: Vec<Incident>| v.into_iter().map(|i| i.dedup_key).collect::<Vec<_>>();
    assert_eq!(
        keys(s.recent_incidents(t(0), 10).await.unwrap()),
        ["c", "b", "a"]
    );
    assert_eq!(
        keys(s.recent_incidents(t(5), 10).await.unwrap()),
        ["c", "b"]
    );
    assert_eq!(keys(s.recent_incidents(t(0), 1).await.unwrap()), ["c"]);
}
