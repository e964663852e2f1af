//! Live call routing: a call to a routed number rings whoever is on call for
//! the service, then the next escalation level, and takes a voicemail when
//! nobody answers. Every call is an incident: the caller, who was rung for how
//! long, who answered, and the recording with its transcription are kept on
//! it (`CallLog`) and shown in Slack like any other alert.
//!
//! State lives on the incident (dedup key `call:{CallSid}`), and each Twilio
//! callback names the incident and the ring it is about in its (signed) URL,
//! so a retried callback finds the work already done and answers the same.

use super::voice::{Twiml, VoiceReply};
use crate::config::{CallRoute, Config, RouteTarget, Service};
use crate::domain::escalation::resolve_targets;
use crate::domain::incident::{
    Actor, AlertDetails, Attempt, CallLog, Incident, Ring, Severity, Transition, Voicemail,
};
use crate::domain::schedule::on_call_at;
use crate::ingest::{AlertAction, AlertEvent};
use crate::ops::alert::{Ingest, Outcome};
use crate::ops::Core;
use crate::store::{update_lane, Outbound, Triggered};
use chrono::{DateTime, Utc};

/// Longest voicemail, in seconds.
const VOICEMAIL_SECONDS: u32 = 120;

/// Form fields of one Twilio request.
pub type Params = [(String, String)];

fn param<'a>(p: &'a Params, name: &str) -> Option<&'a str> {
    p.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

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

/// What a call does next, from its log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Ring `queue[n]`.
    Ring(usize),
    Voicemail,
    /// Nobody to ring and no voicemail: say so and hang up.
    GiveUp,
    /// Answered, recorded, or the caller is gone.
    Done,
}

pub fn next(log: &CallLog, voicemail: bool) -> Next {
    if log.answered_by.is_some() || log.caller_hung_up || log.voicemail.is_some() {
        return Next::Done;
    }
    let n = log.attempts.len();
    if n < log.queue.len() {
        Next::Ring(n)
    } else if voicemail {
        Next::Voicemail
    } else {
        Next::GiveUp
    }
}

/// `POST /voice/incoming`: a call to one of the routed numbers.
pub async fn incoming(core: &Core, params: &Params, again: bool) -> VoiceReply {
    let (to, from) = (
        param(params, "To").unwrap_or(""),
        param(params, "From").unwrap_or(""),
    );
    let Some(route) = core.config.call_route(to) else {
        tracing::warn!(%to, %from, "a call to a number with no call route");
        return Twiml::say("Sorry, this number is not set up for on-call routing. Goodbye.")
            .reply();
    };
    if !route.allow.is_empty() && !route.allow.iter().any(|a| a == from) {
        tracing::warn!(%to, %from, "a call from a number the route does not allow");
        return Twiml::say("Sorry, this line does not accept calls from your number. Goodbye.")
            .reply();
    }
    match &route.target {
        RouteTarget::Service(service) => {
            start(core, route, service, params, route.greeting.clone()).await
        }
        RouteTarget::Menu(options) => {
            let mut prompt: Vec<String> = route.greeting.iter().cloned().collect();
            for (digit, service) in options {
                let name = core
                    .config
                    .service(service)
                    .map_or(service.as_str(), |s| &s.name);
                prompt.push(format!("For {name}, press {digit}."));
            }
            let action = format!("{}/voice/menu", core.public_url);
            let mut t = Twiml::default();
            if again {
                t.gather(prompt.join(" "), action, None);
                t.say.push("No choice was made. Goodbye.".into());
            } else {
                let again = format!("{}/voice/incoming?again=1", core.public_url);
                t.gather(prompt.join(" "), action, Some(again));
            }
            t.reply()
        }
    }
}

/// `POST /voice/menu`: the key pressed in a route's menu.
pub async fn menu(core: &Core, params: &Params) -> VoiceReply {
    let to = param(params, "To").unwrap_or("");
    let digit = param(params, "Digits").unwrap_or("");
    let Some(route) = core.config.call_route(to) else {
        return Twiml::say("Sorry, this number is not set up for on-call routing. Goodbye.")
            .reply();
    };
    let chosen = match &route.target {
        RouteTarget::Menu(options) => options
            .iter()
            .find(|(d, _)| digit.len() == 1 && digit.starts_with(*d))
            .map(|(_, s)| s.clone()),
        RouteTarget::Service(s) => Some(s.clone()),
    };
    match chosen {
        Some(service) => start(core, route, &service, params, None).await,
        None => {
            let mut t = Twiml::say(&format!("Sorry, {digit} is not an option."));
            t.redirect = Some(format!("{}/voice/incoming?again=1", core.public_url));
            t.reply()
        }
    }
}

/// Opens (or, for a retried request, finds) the call's incident and rings the first person.
async fn start(
    core: &Core,
    route: &CallRoute,
    service_id: &str,
    params: &Params,
    greeting: Option<String>,
) -> VoiceReply {
    let Some(service) = core.config.service(service_id) else {
        return Twiml::say("Sorry, this line is not set up correctly. Goodbye.").reply();
    };
    let sid = param(params, "CallSid").unwrap_or("").to_string();
    let caller = param(params, "From").unwrap_or("unknown").to_string();
    let dedup = format!("call:{sid}");
    let existing = match core
        .store
        .open_incident_by_key(&service.integration_key, &dedup)
    {
        Ok(found) => found,
        Err(e) => return sorry(e),
    };
    let id = match existing {
        Some(inc) => inc.id,
        None => {
            let event = AlertEvent {
                routing_key: service.integration_key.clone(),
                dedup_key: dedup.clone(),
                action: AlertAction::Trigger(Box::new(AlertDetails {
                    summary: format!("Phone call from {caller} for {}", service.name),
                    source: caller.clone(),
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
            let ingest = Ingest { core: core.clone() };
            match ingest.apply(&event).await {
                Ok(Outcome::Triggered(
                    Triggered::Opened { incident, .. } | Triggered::Appended { incident, .. },
                )) => incident.id,
                // An event rule dropped or suppressed the call's incident.
                Ok(_) => return sorry("the call opened no incident"),
                Err(e) => return sorry(e),
            }
        }
    };
    // The queue is fixed once, when the call begins; a retry keeps it.
    let now = core.clock.now();
    let queue = {
        let on_call = |schedule: &str| on_call_now(core, schedule, now);
        ring_queue(&core.config, service, &on_call)
    };
    let route_number = route.number.clone();
    let updated = save(core, id, |inc| {
        let mut next = inc.clone();
        if next.call.is_none() {
            next.call = Some(CallLog {
                sid: sid.clone(),
                caller: caller.clone(),
                route: route_number.clone(),
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
    .await;
    let mut say: Vec<String> = greeting.into_iter().collect();
    match updated {
        Ok(inc) => {
            if inc.call.as_ref().is_some_and(|c| c.queue.is_empty()) {
                say.push("Nobody on call can be reached by phone right now.".into());
            } else {
                say.push("Connecting you to the on-call engineer.".into());
            }
            proceed(core, route, &inc, say).await
        }
        Err(why) => sorry(why),
    }
}

/// Answers with the call's next step (ring, voicemail, goodbye), marking when a ring starts.
async fn proceed(core: &Core, route: &CallRoute, inc: &Incident, say: Vec<String>) -> VoiceReply {
    let Some(log) = &inc.call else {
        return sorry("an incident without a call log");
    };
    let mut t = Twiml::default();
    t.say = say;
    let base = format!("{}/voice/call/{}", core.public_url, inc.id);
    match next(log, route.voicemail) {
        Next::Ring(n) => {
            let now = core.clock.now();
            let r = save(core, inc.id, |i| {
                let mut next = i.clone();
                if let Some(c) = &mut next.call {
                    c.ringing_since = Some(now);
                }
                Ok((next, vec![]))
            })
            .await;
            if let Err(e) = r {
                return sorry(e);
            }
            t.dial(
                &log.queue[n].phone,
                route.ring_seconds,
                format!("{base}/dialed?attempt={n}"),
                format!("{base}/answered?attempt={n}"),
            );
        }
        Next::Voicemail => {
            t.say.push(
                "Nobody could be reached. Please leave a message after the tone, then hang up."
                    .into(),
            );
            t.record(
                VOICEMAIL_SECONDS,
                format!("{base}/recorded"),
                format!("{base}/transcribed"),
            );
        }
        Next::GiveUp => t.say.push(
            "Nobody could be reached. The on-call team has been alerted to your call. Goodbye."
                .into(),
        ),
        Next::Done => {}
    }
    t.reply()
}

/// `POST /voice/call/{id}/answered?attempt=N`: someone picked up (Twilio asks
/// before connecting them). The incident is theirs; they hear who is calling.
pub async fn answered(core: &Core, id: u64, attempt: usize) -> VoiceReply {
    let now = core.clock.now();
    let r = save(core, id, |inc| {
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
        Ok((
            next,
            vec![(update_lane(inc), Outbound::UpdateIncident { incident: id })],
        ))
    })
    .await;
    let inc = match r {
        Ok(inc) => inc,
        Err(why) => return sorry(why),
    };
    let Some(user) = inc.call.as_ref().and_then(|c| c.answered_by.clone()) else {
        return sorry("answered without a person");
    };
    let by = Actor::Phone {
        slack_id: core.config.user(&user).and_then(|u| u.slack_id.clone()),
        user: user.clone(),
    };
    // Already acknowledged (a retry, or someone in Slack) is fine.
    if let Err(e) = core.transition(id, Transition::Acknowledge, by).await {
        tracing::error!(incident = id, error = %e, "cannot acknowledge an answered call");
    }
    let service = core
        .config
        .service(&inc.service_id)
        .map_or(inc.service_id.clone(), |s| s.name.clone());
    let caller = inc.call.as_ref().map_or("", |c| c.caller.as_str());
    Twiml::say(&format!(
        "Call from {} for {service}, incident {id}. Connecting.",
        spell_number(caller)
    ))
    .reply()
}

/// `POST /voice/call/{id}/dialed?attempt=N`: a ring ended (`DialCallStatus`).
pub async fn dialed(core: &Core, id: u64, attempt: usize, params: &Params) -> VoiceReply {
    let status = param(params, "DialCallStatus")
        .unwrap_or("failed")
        .to_string();
    let talk = param(params, "DialCallDuration").and_then(|d| d.parse::<i64>().ok());
    // The caller hung up while it rang: nobody to connect any more.
    let caller_gone = param(params, "CallStatus") == Some("completed")
        && !matches!(status.as_str(), "completed" | "answered");
    let now = core.clock.now();
    let r = save(core, id, |inc| {
        let mut next = inc.clone();
        let log = next.call.as_mut().ok_or("not a call")?;
        let ring = log.queue.get(attempt).ok_or("no such ring")?.clone();
        let changed = if let Some(a) = log.attempts.get_mut(attempt) {
            // Answered: the talk time arrives now. Anything else is a retry.
            let first = a.status == "answered" && a.talk_seconds.is_none();
            if first {
                a.talk_seconds = talk;
            }
            first
        } else if log.attempts.len() == attempt {
            let answered = matches!(status.as_str(), "completed" | "answered");
            if answered && log.answered_by.is_none() {
                log.answered_by = Some(ring.user.clone());
            }
            let rang = seconds_since(log.ringing_since, now) - talk.unwrap_or(0);
            log.attempts.push(Attempt {
                user: ring.user,
                status: status.clone(),
                rang_seconds: rang.max(0),
                talk_seconds: talk.filter(|_| answered),
            });
            log.ringing_since = None;
            log.caller_hung_up |= caller_gone;
            true
        } else {
            return Err("a ring out of order".into());
        };
        if !changed {
            return Ok((next, vec![]));
        }
        Ok((
            next,
            vec![(update_lane(inc), Outbound::UpdateIncident { incident: id })],
        ))
    })
    .await;
    let inc = match r {
        Ok(inc) => inc,
        Err(why) => return sorry(why),
    };
    let Some(route) = inc
        .call
        .as_ref()
        .and_then(|c| core.config.call_route(&c.route))
    else {
        return Twiml::default().reply();
    };
    let say = match next(inc.call.as_ref().expect("checked above"), route.voicemail) {
        Next::Ring(_) => vec!["Trying the next on-call engineer.".to_string()],
        _ => vec![],
    };
    proceed(core, route, &inc, say).await
}

/// `POST /voice/call/{id}/recorded`: the voicemail is in.
pub async fn recorded(core: &Core, id: u64, params: &Params) -> VoiceReply {
    let url = param(params, "RecordingUrl").unwrap_or("").to_string();
    let seconds = param(params, "RecordingDuration")
        .and_then(|d| d.parse::<i64>().ok())
        .unwrap_or(0);
    if url.is_empty() {
        return Twiml::say("No message was recorded. Goodbye.").reply();
    }
    let r = set_voicemail(core, id, |v| {
        if v.is_none() {
            *v = Some(Voicemail {
                recording_url: url.clone(),
                seconds,
                transcription: None,
            });
        }
    })
    .await;
    match r {
        Ok(_) => {
            Twiml::say("Thank you. Your message has been passed to the on-call team. Goodbye.")
                .reply()
        }
        Err(why) => sorry(why),
    }
}

/// `POST /voice/call/{id}/transcribed`: Twilio's transcription of the voicemail.
pub async fn transcribed(core: &Core, id: u64, params: &Params) -> VoiceReply {
    let text = param(params, "TranscriptionText")
        .unwrap_or("")
        .trim()
        .to_string();
    let url = param(params, "RecordingUrl").unwrap_or("").to_string();
    let ok = param(params, "TranscriptionStatus").unwrap_or("completed") == "completed";
    let r = set_voicemail(core, id, |v| {
        let v = v.get_or_insert_with(|| Voicemail {
            recording_url: url.clone(),
            seconds: 0,
            transcription: None,
        });
        v.transcription = Some(if ok && !text.is_empty() {
            text.clone()
        } else {
            "(transcription failed)".into()
        });
    })
    .await;
    match r {
        Ok(_) => Twiml::default().reply(),
        Err(why) => sorry(why),
    }
}

async fn set_voicemail(
    core: &Core,
    id: u64,
    f: impl Fn(&mut Option<Voicemail>),
) -> Result<Incident, String> {
    save(core, id, |inc| {
        let mut next = inc.clone();
        let log = next.call.as_mut().ok_or("not a call")?;
        f(&mut log.voicemail);
        if next == *inc {
            return Ok((next, vec![]));
        }
        Ok((
            next,
            vec![(update_lane(inc), Outbound::UpdateIncident { incident: id })],
        ))
    })
    .await
}

/// Changes incident `id` with `f` and waits until that is on disk, so Twilio
/// is answered only about saved state; then wakes the outbox.
async fn save<F>(core: &Core, id: u64, f: F) -> Result<Incident, String>
where
    F: Fn(&Incident) -> Result<(Incident, Vec<(String, Outbound)>), String>,
{
    let r = core
        .store
        .update_incident(id, core.clock.now(), f)
        .map_err(|e| e.to_string())?;
    core.store.durable().await.map_err(|e| e.to_string())?;
    core.outbox_ready.notify_one();
    r
}

fn on_call_now(core: &Core, schedule: &str, now: DateTime<Utc>) -> Option<String> {
    let s = core.config.schedule(schedule)?;
    let overrides: Vec<_> = match core.store.overrides(schedule) {
        Ok(list) => list.into_iter().map(|o| o.over).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read overrides; using the rotation alone");
            vec![]
        }
    };
    on_call_at(s, &overrides, now).map(str::to_string)
}

fn seconds_since(since: Option<DateTime<Utc>>, now: DateTime<Utc>) -> i64 {
    since.map_or(0, |t| (now - t).num_seconds().max(0))
}

/// A phone number read digit by digit ("+1555…" as "1 5 5 5 …").
fn spell_number(n: &str) -> String {
    let digits: Vec<String> = n
        .chars()
        .filter(char::is_ascii_digit)
        .map(String::from)
        .collect();
    if digits.is_empty() {
        "an unknown number".into()
    } else {
        digits.join(" ")
    }
}

/// Something on tocsin's side failed: the caller hears an apology, the log the reason.
fn sorry(why: impl std::fmt::Display) -> VoiceReply {
    tracing::error!(%why, "a routed call hit an error");
    Twiml::say("Sorry, tocsin could not route your call. Please try again in a minute.").reply()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(queue: usize, attempts: usize) -> CallLog {
        let ring = |i: usize| Ring {
            user: format!("u{i}"),
            phone: format!("+4477009000{i:02}"),
            level: i,
        };
        CallLog {
            sid: "CA1".into(),
            caller: "+15550199".into(),
            route: "+15550100".into(),
            queue: (0..queue).map(ring).collect(),
            attempts: (0..attempts)
                .map(|i| Attempt {
                    user: format!("u{i}"),
                    status: "no-answer".into(),
                    rang_seconds: 20,
                    talk_seconds: None,
                })
                .collect(),
            ringing_since: None,
            answered_by: None,
            caller_hung_up: false,
            voicemail: None,
        }
    }

    #[test]
    fn rings_each_in_turn_then_voicemail_or_gives_up() {
        assert_eq!(next(&log(2, 0), true), Next::Ring(0));
        assert_eq!(next(&log(2, 1), true), Next::Ring(1));
        assert_eq!(next(&log(2, 2), true), Next::Voicemail);
        assert_eq!(next(&log(2, 2), false), Next::GiveUp);
        assert_eq!(next(&log(0, 0), true), Next::Voicemail);
        let mut answered = log(2, 1);
        answered.answered_by = Some("u1".into());
        assert_eq!(next(&answered, true), Next::Done);
        let mut gone = log(2, 1);
        gone.caller_hung_up = true;
        assert_eq!(next(&gone, true), Next::Done);
    }

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

    #[test]
    fn numbers_are_read_digit_by_digit() {
        assert_eq!(spell_number("+1555"), "1 5 5 5");
        assert_eq!(spell_number("anonymous"), "an unknown number");
    }
}
