//! Handoff notices. Each schedule has a cursor in the store (the instant up
//! to which notices went out, and who was on call then); a pass computes the
//! handoffs between the cursor and now and queues their messages *together
//! with* the cursor's move, in one transaction: nothing is skipped or sent
//! twice, across restarts too.

use super::{Read, Writes, HORIZON_DAYS};
use crate::config::{Config, Schedule};
use crate::domain::schedule::{on_call_at, shifts, Override};
use crate::ops::Core;
use crate::store::{Outbound, StoreError};
use chrono::{DateTime, Duration, Utc};

/// What a pass does for one schedule.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Plan {
    /// Move the cursor to now, recording `on_call`, with these notices;
    /// `None`: leave the cursor as it is.
    pub advance: Option<Vec<(String, Outbound)>>,
    pub on_call: Option<String>,
    /// When the current shift ends, if within the horizon.
    pub next: Option<DateTime<Utc>>,
}

/// Sends every schedule's due handoff notices; returns when the next shift ends.
pub(super) async fn run(core: &Core, read: &Read) -> Result<Option<DateTime<Utc>>, StoreError> {
    let mut writes = Writes::default();
    let result = apply(core, read, &mut writes).await;
    writes.settle(core, result)
}

async fn apply(
    core: &Core,
    read: &Read,
    writes: &mut Writes,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let mut next: Option<DateTime<Utc>> = None;
    for s in &core.config.schedules {
        let cursor = core.store.handoff_cursor(&s.id).await?;
        // Only read when there is a span to look at.
        let recorded = match cursor {
            Some(c) if c < read.now => core.store.handoff_user(&s.id).await?,
            _ => None,
        };
        let p = plan(
            &core.config,
            s,
            read.overrides(&s.id),
            cursor,
            recorded,
            read.now,
        );
        if let Some(notices) = &p.advance {
            core.store
                .advance_handoffs(&s.id, read.now, p.on_call.as_deref(), notices)
                .await?;
            writes.wrote(notices.len());
        }
        next = super::earliest(next, p.next);
    }
    Ok(next)
}

/// What to do for schedule `s`, whose cursor is at `cursor` with `recorded`
/// on call then (as the store keeps them), at `now`.
pub(super) fn plan(
    config: &Config,
    s: &Schedule,
    overrides: &[Override],
    cursor: Option<DateTime<Utc>>,
    recorded: Option<Option<String>>,
    now: DateTime<Utc>,
) -> Plan {
    let current = on_call_at(s, overrides, now).map(str::to_string);
    let advance = match cursor {
        // First sight of this schedule: start from now, announce nothing old.
        None => Some(vec![]),
        Some(cursor) if cursor < now => {
            let notices = notices(config, s, overrides, cursor, now, recorded.clone());
            // Nothing changed hands: leave the cursor (no write, no flush)
            // unless it is getting old enough to make the next look slow.
            let unchanged = notices.is_empty() && recorded.as_ref() == Some(&current);
            (!unchanged || now - cursor > Duration::hours(1)).then_some(notices)
        }
        Some(_) => None,
    };
    let horizon = now + Duration::days(HORIZON_DAYS);
    let next = shifts(s, overrides, now, horizon)
        .first()
        .map(|first| first.end)
        .filter(|end| *end < horizon);
    Plan {
        advance,
        on_call: current,
        next,
    }
}

/// The messages for the last handoff in `(cursor, now]`. After a long stop only
/// the latest change is announced: stale "you are on call" DMs would mislead.
fn notices(
    config: &Config,
    s: &Schedule,
    overrides: &[Override],
    cursor: DateTime<Utc>,
    now: DateTime<Utc>,
    recorded: Option<Option<String>>,
) -> Vec<(String, Outbound)> {
    let window = shifts(s, overrides, cursor, now + Duration::milliseconds(1));
    let Some(after) = window.last() else {
        return vec![];
    };
    // Compare with whoever was on call last time: this also catches an
    // override that took effect from a time already past (e.g. "today 00:00").
    let before_user = match recorded {
        Some(u) => u,
        None if window.len() > 1 => window[window.len() - 2].user.clone(),
        None => return vec![],
    };
    if before_user == after.user {
        return vec![];
    }
    if window.len() > 2 {
        tracing::info!(schedule = %s.id, changes = window.len() - 1, "announcing only the latest handoff");
    }
    let until = shifts(
        s,
        overrides,
        after.start,
        after.start + Duration::days(HORIZON_DAYS),
    )
    .first()
    .map_or(after.start + Duration::days(HORIZON_DAYS), |x| x.end);
    let mut out = vec![];
    if let Some(slack_id) = after
        .user
        .as_deref()
        .and_then(|u| config.user(u))
        .and_then(|u| u.slack_id.clone())
    {
        out.push((
            slack_id.clone(),
            Outbound::ShiftStarted {
                to: slack_id,
                schedule: s.id.clone(),
                outgoing: before_user.clone(),
                until,
            },
        ));
    }
    if let Some(channel) = config.team(&s.team).and_then(|t| t.alert_channel.clone()) {
        out.push((
            channel.clone(),
            Outbound::Handoff {
                channel,
                schedule: s.id.clone(),
                incoming: after.user.clone(),
                outgoing: before_user,
                until,
            },
        ));
    }
    // Who is on call changed: the team's Homes show it.
    out.extend(crate::domain::home::refresh(
        crate::domain::home::schedule_people(config, &s.id),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const CONFIG: &str = "[[users]]\nid = \"alice\"\nname = \"A\"\nslack_id = \"UA\"\n\
        [[users]]\nid = \"bob\"\nname = \"B\"\nslack_id = \"UB\"\n\
        [[teams]]\nid = \"t\"\nname = \"T\"\nmembers = [\"alice\", \"bob\"]\nalert_channel = \"C1\"\n\
        [[schedules]]\nid = \"s\"\nteam = \"t\"\ntime_zone = \"Europe/London\"\n\
        [[schedules.layers]]\nname = \"weekly\"\nstart = \"2026-11-02T09:00:00\"\nrotation = \"weekly\"\nusers = [\"alice\", \"bob\"]\n";

    fn at(d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, d, h, 0, 0).unwrap()
    }

    #[test]
    fn plans_follow_the_cursor() {
        let config = Config::parse("t.toml", CONFIG).unwrap();
        let s = &config.schedules[0];
        let alice = Some("alice".to_string());
        let plan = |cursor, recorded, now| plan(&config, s, &[], cursor, recorded, now);
        // First sight: the cursor starts, nothing is announced.
        let first = plan(None, None, at(9, 8));
        assert_eq!(first.advance, Some(vec![]));
        assert_eq!(first.on_call, alice);
        assert_eq!(first.next, Some(at(9, 9)));
        // Alice still on call a minute on: no write at all.
        let quiet = plan(
            Some(at(9, 8)),
            Some(alice.clone()),
            at(9, 8) + Duration::minutes(1),
        );
        assert_eq!(quiet.advance, None);
        // The cursor is at now already: nothing to look at.
        assert_eq!(plan(Some(at(9, 8)), None, at(9, 8)).advance, None);
        // At the handoff: bob's DM and the channel's notice.
        let handoff = plan(Some(at(9, 8)), Some(alice.clone()), at(9, 9));
        let notices = handoff.advance.unwrap();
        let lanes: Vec<&str> = notices.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(lanes, ["UB", "C1", "home:UA", "home:UB"]);
        assert!(
            matches!(&notices[1].1, Outbound::Handoff { incoming, outgoing, until, .. }
            if incoming.as_deref() == Some("bob") && *outgoing == alice && *until == at(16, 9))
        );
        assert_eq!(handoff.on_call.as_deref(), Some("bob"));
        assert_eq!(handoff.next, Some(at(16, 9)));
        // A cursor over an hour old moves on even when nothing changed.
        let old = plan(Some(at(9, 6)), Some(alice.clone()), at(9, 8));
        assert_eq!(old.advance, Some(vec![]));
    }
}
