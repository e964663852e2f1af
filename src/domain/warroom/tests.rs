use super::*;
use crate::domain::incident::{tests::sample, Actor, Transition};
use chrono::TimeZone;

#[test]
fn channel_names_keep_slacks_rules() {
    let mut inc = sample(42);
    inc.alert.summary = "API: 5xx rate > 10% (eu-west-1)!!".into();
    assert_eq!(
        channel_name(&inc, 1),
        "inc-20261125-42-api-5xx-rate-10-eu-west-1"
    );
    assert_eq!(
        channel_name(&inc, 2),
        "inc-20261125-42-api-5xx-rate-10-eu-west-1-2"
    );
    inc.alert.summary = "Ünïcødé ✨ only ✨".into();
    assert_eq!(channel_name(&inc, 1), "inc-20261125-42-n-c-d-only");
    inc.alert.summary = "✨✨✨".into();
    assert_eq!(channel_name(&inc, 1), "inc-20261125-42");
    inc.alert.summary = "word ".repeat(40);
    let long = channel_name(&inc, 13);
    assert!(long.len() <= 80 && long.ends_with("-13"), "{long}");
    assert!(!long.contains("--"), "{long}");
}

proptest::proptest! {
    #[test]
    fn any_title_makes_a_valid_channel_name(title in "\\PC{0,200}", id in 1u64..u64::MAX, attempt in 1u32..1000) {
        let mut inc = sample(id);
        inc.alert.summary = title;
        let name = channel_name(&inc, attempt);
        proptest::prop_assert!(!name.is_empty() && name.len() <= CHANNEL_NAME_MAX, "{}", name);
        proptest::prop_assert!(name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_'), "{}", name);
        if attempt > 1 {
            let suffix = format!("-{attempt}");
            proptest::prop_assert!(name.ends_with(&suffix), "{}", name);
        }
    }
}

fn with_room(mut inc: Incident) -> Incident {
    inc.coord.room = Some(Room {
        channel: Some("C0ROOM".into()),
        name: Some("inc-x".into()),
        ..Room::asked(Some("C0EXEC".into()), 3600)
    });
    inc
}

#[test]
fn resolving_a_room_queues_the_summary_postmortem_and_archive() {
    let at = Utc.with_ymd_and_hms(2026, 11, 25, 4, 0, 0).unwrap();
    let mut old = with_room(sample(7));
    old.coord.subscribers = vec!["U0SUB".into()];
    old.coord.nudge_at = Some(at);
    let by = Actor::Slack {
        user_id: "U1".into(),
    };
    let mut new = old.apply(Transition::Resolve, by, at).unwrap();
    let ops = follow_up(Some(&old), &mut new, at);
    let lanes: Vec<&str> = ops.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(lanes, ["room:7", "room:7", "C0EXEC", "U0SUB"]);
    assert!(matches!(
        ops[0].1,
        Outbound::Room {
            work: RoomOp::Resolved,
            ..
        }
    ));
    assert!(matches!(
        ops[1].1,
        Outbound::Room {
            work: RoomOp::Postmortem,
            ..
        }
    ));
    assert_eq!(
        new.coord.room.as_ref().unwrap().archive_at,
        Some(at + Duration::hours(1))
    );
    assert_eq!(new.coord.nudge_at, None);
    assert_eq!(due(&new), Some(at + Duration::hours(1)));
    // A replay (resolved → resolved) queues nothing.
    let mut again = new.clone();
    assert!(follow_up(Some(&new), &mut again, at).is_empty());
    // Kept: no archive.
    let mut kept = new.clone();
    kept.coord.room.as_mut().unwrap().kept = true;
    assert_eq!(due(&kept), None);
}

#[test]
fn the_update_clock_runs_from_the_last_update_or_the_commanders_start() {
    let config = Config::parse(
        "t.toml",
        "[[teams]]\nid = \"t\"\nname = \"T\"\nupdate_every = { SEV1 = \"30m\" }\n\
         [[services]]\nid = \"api\"\nname = \"API\"\nteam = \"t\"\n\
         integration_key = \"0123456789abcdef0123456789abcdef\"\n",
    )
    .unwrap();
    let t0 = Utc.with_ymd_and_hms(2026, 11, 25, 4, 0, 0).unwrap();
    let role = |at, who: &str, r: Role| {
        let fact = Fact::Role {
            role: r,
            who: who.to_string(),
        };
        Entry::fact(at, Some("U0LEAD"), EntryKind::Role, fact)
    };
    let mut inc = sample(1);
    assert_eq!(
        next_nudge(&config, &inc),
        None,
        "no commander, nobody to ask"
    );
    inc.coord.commander = Some("U0BOB".into());
    inc.coord.timeline.push(role(t0, "U0BOB", Role::Commander));
    assert_eq!(next_nudge(&config, &inc), Some(t0 + Duration::minutes(30)));
    // The commander also taking comms is not an update.
    inc.coord.comms = Some("U0BOB".into());
    inc.coord
        .timeline
        .push(role(t0 + Duration::minutes(20), "U0BOB", Role::Comms));
    assert_eq!(next_nudge(&config, &inc), Some(t0 + Duration::minutes(30)));
    inc.coord.timeline.push(Entry {
        at: t0 + Duration::minutes(25),
        by: Some("U0BOB".into()),
        kind: EntryKind::Update,
        text: "Mitigated".into(),
        fact: None,
    });
    assert_eq!(next_nudge(&config, &inc), Some(t0 + Duration::minutes(55)));
    // No interval for SEV3: never asked.
    inc.coord.sev = Some(Sev::Sev3);
    assert_eq!(next_nudge(&config, &inc), None);
}

#[test]
fn facts_read_both_ways_and_an_older_builds_role_line_still_counts() {
    let at = Utc.with_ymd_and_hms(2026, 11, 25, 4, 0, 0).unwrap();
    let who = "U0BOB".to_string();
    let fact = Fact::Role {
        role: Role::Commander,
        who,
    };
    let e = Entry::fact(at, Some("U0LEAD"), EntryKind::Role, fact);
    assert_eq!(e.text, "@U0BOB is incident commander");
    let json = serde_json::to_value(&e).unwrap();
    assert_eq!(
        json["fact"],
        serde_json::json!({"what": "role", "role": "commander", "who": "U0BOB"})
    );
    assert_eq!(serde_json::from_value::<Entry>(json).unwrap(), e);
    assert!(Role::Commander.taken_in(&e, "U0BOB"));
    assert!(!Role::Comms.taken_in(&e, "U0BOB"));
    // Written by an older build: no fact, the line in Slack's markup.
    let old: Entry = serde_json::from_value(serde_json::json!({
        "at": "2026-11-25T04:00:00Z", "by": "U0LEAD", "kind": "role",
        "text": "<@U0BOB> is incident commander"
    }))
    .unwrap();
    assert_eq!(old.fact, None);
    assert!(Role::Commander.taken_in(&old, "U0BOB"));
    assert!(!Role::Commander.taken_in(&old, "U0BO"));
    assert!(!Role::Comms.taken_in(&old, "U0BOB"));
    // A fact a newer build wrote reads, and its text says it.
    let newer: Entry = serde_json::from_value(serde_json::json!({
        "at": "2026-11-25T04:00:00Z", "kind": "channel", "text": "Something new",
        "fact": {"what": "something_new", "with": 1}
    }))
    .unwrap();
    assert_eq!(newer.fact, Some(Fact::Unknown));
    assert!(!Role::Commander.taken_in(&newer, "U0BOB"));
}

#[test]
fn a_reopened_incident_whose_channel_was_archived_gets_a_fresh_one() {
    let at = Utc.with_ymd_and_hms(2026, 11, 25, 4, 0, 0).unwrap();
    let by = Actor::Slack {
        user_id: "U1".into(),
    };
    let mut resolved = with_room(sample(5))
        .apply(Transition::Resolve, by, at)
        .unwrap();
    resolved.coord.room.as_mut().unwrap().archived = true;
    let mut reopened = resolved.reopen_flapping(at, vec![at]);
    let ops = follow_up(Some(&resolved), &mut reopened, at);
    assert!(matches!(
        ops[..],
        [(
            _,
            Outbound::Room {
                work: RoomOp::Open,
                ..
            }
        )]
    ));
    let room = reopened.coord.room.unwrap();
    assert_eq!((room.channel, room.archived), (None, false));
    assert_eq!(room.stakeholder_channel.as_deref(), Some("C0EXEC"));
    // Not archived yet: the same channel, no new one, no archive pending.
    let mut resolved = with_room(sample(6));
    resolved.state = State::Resolved;
    resolved.coord.room.as_mut().unwrap().archive_at = Some(at);
    let mut reopened = resolved.reopen_flapping(at, vec![at]);
    assert!(follow_up(Some(&resolved), &mut reopened, at).is_empty());
    let room = reopened.coord.room.unwrap();
    assert_eq!(
        (room.channel.as_deref(), room.archive_at),
        (Some("C0ROOM"), None)
    );
}

#[test]
fn asking_for_a_room_queues_opening_it_once() {
    let at = Utc.with_ymd_and_hms(2026, 11, 25, 4, 0, 0).unwrap();
    let mut fresh = with_room(sample(3));
    fresh.coord.room.as_mut().unwrap().channel = None;
    let ops = follow_up(None, &mut fresh, at);
    assert_eq!(ops.len(), 1);
    assert!(matches!(
        ops[0].1,
        Outbound::Room {
            work: RoomOp::Open,
            incident: 3
        }
    ));
    let mut same = fresh.clone();
    assert!(follow_up(Some(&fresh), &mut same, at).is_empty());
    // Slack refused it; asking again queues it again.
    let mut refused = fresh.clone();
    refused.coord.room.as_mut().unwrap().failed = Some("restricted_action".into());
    let mut retried = refused.clone();
    retried.coord.room.as_mut().unwrap().failed = None;
    assert_eq!(follow_up(Some(&refused), &mut retried, at).len(), 1);
    let mut still = refused.clone();
    assert!(follow_up(Some(&refused), &mut still, at).is_empty());
    let plain = sample(4);
    let mut plain2 = plain.clone();
    assert!(follow_up(Some(&plain), &mut plain2, at).is_empty());
}
