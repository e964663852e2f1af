//! Live call routing's state: opening a routed call's incident with its
//! ring queue, and recording each ring, who answered, and the voicemail on
//! the incident's `CallLog`. Every change is on disk before Twilio is
//! answered, and a retried callback finds its work done and changes nothing.
//! What the caller hears is Twilio's side, built from the incident returned.

use super::alert::{Ingest, Outcome};
use super::{Core, Wake};
use crate::config::{CallRoute, Config, Service};
use crate::domain::escalation::resolve_targets;
use crate::domain::incident::{
    Actor, AlertDetails, Attempt, CallLog, Incident, Ring, Severity, Transition, Voicemail,
};
use crate::domain::schedule::on_call_at;
use crate::ingest::{AlertAction, AlertEvent};
use crate::store::{update_lane, Outbound, Triggered};
use chrono::{DateTime, Utc};

/// A decided change to a call's incident, with the work it queues.
type Planned = Result<(Incident, Vec<(String, Outbound)>), String>;

/// Who to ring for `service`: the people of each escalation level who have a
/// phone, in order, each once; without a policy, whoever is on call on the
/// team's schedules. `on_call(schedule)` answers for this instant.
pub fn ring_queue(
    config: &Config,
    service: &Service,
    on_call: &dyn Fn(&str) -> Option<String>,
) -> Vec<Ring> {
    let levels: Vec<Vec<String>> = match service
        .escalation_policy
        .as_deref()
        .and_then(|p| config.policy(p))
    {
        Some(policy) => policy
            .levels
            .iter()
            .map(|l| resolve_targets(config, &l.targets, on_call))
            .collect(),
        None => vec![config
            .schedules
            .iter()
            .filter(|s| s.team == service.team)
            .filter_map(|s| on_call(&s.id))
            .collect()],
    };
    let mut queue: Vec<Ring> = vec![];
    for (level, people) in levels.into_iter().enumerate() {
        for user in people {
            let phone = config.user(&user).and_then(|u| u.phone.clone());
            if let Some(phone) = phone.filter(|_| !queue.iter().any(|r| r.user == user)) {
                queue.push(Ring { user, phone, level });
            }
        }
    }
    queue
}

/// How a ring ended, as Twilio reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingEnd {
    /// `DialCallStatus`: `completed`, `answered`, `no-answer`, `busy`, …
    pub status: String,
    /// `DialCallDuration`: how long they talked, when they did.
    pub talk: Option<i64>,
    /// The caller hung up while it rang: nobody to connect any more.
    pub caller_gone: bool,
}

fn refresh(inc: &Incident) -> Vec<(String, Outbound)> {
    vec![(
        update_lane(inc),
        Outbound::UpdateIncident { incident: inc.id },
    )]
}

fn seconds_since(since: Option<DateTime<Utc>>, now: DateTime<Utc>) -> i64 {
    since.map_or(0, |t| (now - t).num_seconds().max(0))
}

/// Ring `attempt` was picked up: the call is theirs, unless someone's already.
fn answer(inc: &Incident, attempt: usize, now: DateTime<Utc>) -> Planned {
    let mut next = inc.clone();
    let log = next.call.as_mut().ok_or("not a call")?;
    let ring = log.queue.get(attempt).ok_or("no such ring")?.clone();
    if log.answered_by.is_none() {
        log.answered_by = Some(ring.user.clone());
        log.attempts.truncate(attempt);
        log.attempts.push(Attempt {
            user: ring.user,
            status: "answered".into(),
            rang_seconds: seconds_since(log.ringing_since, now),
            talk_seconds: None,
        });
    }
    Ok((next, refresh(inc)))
}

/// Ring `attempt` ended as `end` says; a retried report changes nothing.
fn ring_ended(inc: &Incident, attempt: usize, end: &RingEnd, now: DateTime<Utc>) -> Planned {
    let mut next = inc.clone();
    let log = next.call.as_mut().ok_or("not a call")?;
    let ring = log.queue.get(attempt).ok_or("no such ring")?.clone();
    let changed = if let Some(a) = log.attempts.get_mut(attempt) {
        // Answered: the talk time arrives now. Anything else is a retry.
        let first = a.status == "answered" && a.talk_seconds.is_none();
        if first {
            a.talk_seconds = end.talk;
        }
        first
    } else if log.attempts.len() == attempt {
        let answered = matches!(end.status.as_str(), "completed" | "answered");
        if answered && log.answered_by.is_none() {
            log.answered_by = Some(ring.user.clone());
        }
        let rang = seconds_since(log.ringing_since, now) - end.talk.unwrap_or(0);
        log.attempts.push(Attempt {
            user: ring.user,
            status: end.status.clone(),
            rang_seconds: rang.max(0),
            talk_seconds: end.talk.filter(|_| answered),
        });
        log.ringing_since = None;
        log.caller_hung_up |= end.caller_gone;
        true
    } else {
        return Err("a ring out of order".into());
    };
    Ok((next, if changed { refresh(inc) } else { vec![] }))
}

/// The call's voicemail changed by `f`; the message is refreshed if it did.
fn voicemail(inc: &Incident, f: impl Fn(&mut Option<Voicemail>)) -> Planned {
    let mut next = inc.clone();
    let log = next.call.as_mut().ok_or("not a call")?;
    f(&mut log.voicemail);
    if next == *inc {
        return Ok((next, vec![]));
    }
    Ok((next, refresh(inc)))
}

impl Core {
    /// Changes call incident `id` with `f` and waits until that is on disk,
    /// so Twilio is answered only about saved state.
    async fn call_change<F>(&self, id: u64, f: F) -> Result<Incident, String>
    where
        F: Fn(&Incident, DateTime<Utc>) -> Planned + Send + Sync,
    {
        let now = self.clock.now();
        let r = self
            .store
            .update_incident(id, now, |inc| f(inc, now))
            .await
            .map_err(|e| e.to_string())?;
        self.settle(Wake::OUTBOX);
        r
    }

    /// Opens (or, for a retried request, finds) the incident of call `sid`
    /// from `caller` to `route`, for `service`, and fixes who it rings.
    /// `Err` says, for the log, why the call cannot be routed.
    pub async fn open_call(
        &self,
        route: &CallRoute,
        service: &Service,
        sid: &str,
        caller: &str,
    ) -> Result<Incident, String> {
        let dedup = format!("call:{sid}");
        let existing = self
            .store
            .open_incident_by_key(&service.integration_key, &dedup)
            .await
            .map_err(|e| e.to_string())?;
        let id = match existing {
            Some(inc) => inc.id,
            None => {
                let event = AlertEvent {
                    routing_key: service.integration_key.clone(),
                    dedup_key: dedup.clone(),
                    action: AlertAction::Trigger(Box::new(AlertDetails {
                        summary: format!("Phone call from {caller} for {}", service.name),
                        source: caller.to_string(),
                        severity: Severity::Error,
                        component: None,
                        group: None,
                        class: Some("phone call".into()),
                        custom_details: None,
                        links: vec![],
                        client: Some("Live call routing".into()),
                        client_url: None,
                    })),
                };
                let ingest = Ingest { core: self.clone() };
                match ingest.apply(&event).await {
                    Ok(Outcome::Triggered(
                        Triggered::Opened { incident, .. } | Triggered::Appended { incident, .. },
                    )) => incident.id,
                    // An event rule dropped or suppressed the call's incident.
                    Ok(_) => return Err("the call opened no incident".into()),
                    Err(e) => return Err(e.to_string()),
                }
            }
        };
        // The queue is fixed once, when the call begins; a retry keeps it.
        let now = self.clock.now();
        let queue = {
            // The rules ask synchronously, so every schedule is looked up first.
            let mut now_on = std::collections::HashMap::new();
            for s in &self.config.schedules {
                now_on.insert(s.id.as_str(), self.on_call_now(&s.id, now).await);
            }
            let on_call = |schedule: &str| now_on.get(schedule).cloned().flatten();
            ring_queue(&self.config, service, &on_call)
        };
        self.call_change(id, |inc, _| {
            let mut next = inc.clone();
            if next.call.is_none() {
                next.call = Some(CallLog {
                    sid: sid.to_string(),
                    caller: caller.to_string(),
                    route: route.number.clone(),
                    queue: queue.clone(),
                    attempts: vec![],
                    ringing_since: None,
                    answered_by: None,
                    caller_hung_up: false,
                    voicemail: None,
                });
            }
            Ok((next, vec![]))
        })
        .await
    }

    /// The call of incident `id` starts ringing someone now.
    pub async fn call_ringing(&self, id: u64) -> Result<Incident, String> {
        self.call_change(id, |inc, now| {
            let mut next = inc.clone();
            if let Some(c) = &mut next.call {
                c.ringing_since = Some(now);
            }
            Ok((next, vec![]))
        })
        .await
    }

    /// Ring `attempt` of call incident `id` was picked up: whoever answered
    /// has it, acknowledged in their name.
    pub async fn call_answered(&self, id: u64, attempt: usize) -> Result<Incident, String> {
        let inc = self
            .call_change(id, |inc, now| answer(inc, attempt, now))
            .await?;
        let Some(user) = inc.call.as_ref().and_then(|c| c.answered_by.clone()) else {
            return Err("answered without a person".into());
        };
        let by = Actor::Phone {
            slack_id: self.config.user(&user).and_then(|u| u.slack_id.clone()),
            user,
        };
        // Already acknowledged (a retry, or someone in Slack) is fine.
        if let Err(e) = self.transition(id, Transition::Acknowledge, by).await {
            tracing::error!(incident = id, error = %e, "cannot acknowledge an answered call");
        }
        Ok(inc)
    }

    /// Ring `attempt` of call incident `id` ended as `end` says.
    pub async fn call_ring_ended(
        &self,
        id: u64,
        attempt: usize,
        end: &RingEnd,
    ) -> Result<Incident, String> {
        self.call_change(id, |inc, now| ring_ended(inc, attempt, end, now))
            .await
    }

    /// The caller of incident `id` left a voicemail of `seconds` at `url`;
    /// a retry keeps the first.
    pub async fn call_recorded(
        &self,
        id: u64,
        url: &str,
        seconds: i64,
    ) -> Result<Incident, String> {
        self.call_change(id, |inc, _| {
            voicemail(inc, |v| {
                if v.is_none() {
                    *v = Some(Voicemail {
                        recording_url: url.to_string(),
                        seconds,
                        transcription: None,
                    });
                }
            })
        })
        .await
    }

    /// Twilio transcribed the voicemail of incident `id` (at `url`) as
    /// `text`; `None`: the transcription failed.
    pub async fn call_transcribed(
        &self,
        id: u64,
        url: &str,
        text: Option<&str>,
    ) -> Result<Incident, String> {
        self.call_change(id, |inc, _| {
            voicemail(inc, |v| {
                let v = v.get_or_insert_with(|| Voicemail {
                    recording_url: url.to_string(),
                    seconds: 0,
                    transcription: None,
                });
                v.transcription = Some(text.unwrap_or("(transcription failed)").to_string());
            })
        })
        .await
    }

    /// Who is on call on `schedule` at `now`; unreadable overrides leave the
    /// rotation alone, as ringing someone beats ringing nobody.
    async fn on_call_now(&self, schedule: &str, now: DateTime<Utc>) -> Option<String> {
        let s = self.config.schedule(schedule)?;
        let overrides = self.overrides(schedule).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot read overrides; using the rotation alone");
            vec![]
        });
        on_call_at(s, &overrides, now).map(str::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_follows_the_levels_and_skips_people_without_phones() {
        let text = "[[users]]\nid = \"a\"\nname = \"A\"\nphone = \"+447700900001\"\n\
            [[users]]\nid = \"b\"\nname = \"B\"\n\
            [[users]]\nid = \"c\"\nname = \"C\"\nphone = \"+447700900003\"\n\
            [[teams]]\nid = \"t\"\nname = \"T\"\nleads = [\"c\"]\nmembers = [\"a\", \"b\", \"c\"]\n\
            [[schedules]]\nid = \"s\"\nteam = \"t\"\ntime_zone = \"UTC\"\n[[schedules.layers]]\nname = \"w\"\nstart = \"2026-11-02T09:00:00\"\nrotation = \"weekly\"\nusers = [\"a\", \"b\"]\n\
            [[escalation_policies]]\nid = \"p\"\n[[escalation_policies.levels]]\nafter_minutes = 0\ntargets = [\"schedule:s\"]\n\
            [[escalation_policies.levels]]\nafter_minutes = 5\ntargets = [\"user:b\", \"team:t\", \"schedule:s\"]\n\
            [[services]]\nid = \"api\"\nname = \"API\"\nteam = \"t\"\nescalation_policy = \"p\"\nintegration_key = \"0123456789abcdef0123456789abcdef\"\n\
            [[services]]\nid = \"bare\"\nname = \"Bare\"\nteam = \"t\"\nintegration_key = \"0123456789abcdef0123456789abcdee\"\n";
        let config = Config::parse("t.toml", text).unwrap();
        let a_on_call = |_: &str| Some("a".to_string());
        let q = ring_queue(&config, config.service("api").unwrap(), &a_on_call);
        let got: Vec<(&str, usize)> = q.iter().map(|r| (r.user.as_str(), r.level)).collect();
        // b has no phone; a is rung once, at the first level that has them.
        assert_eq!(got, [("a", 0), ("c", 1)]);
        let q = ring_queue(&config, config.service("bare").unwrap(), &a_on_call);
        assert_eq!(q.len(), 1);
        let b_on_call = |_: &str| Some("b".to_string());
        assert!(ring_queue(&config, config.service("bare").unwrap(), &b_on_call).is_empty());
    }
}
