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
use crate::config::{CallRoute, RouteTarget};
use crate::domain::incident::{CallLog, Incident};
use crate::ops::calls::RingEnd;
use crate::ops::Core;

/// Longest voicemail, in seconds.
const VOICEMAIL_SECONDS: u32 = 120;

/// Form fields of one Twilio request.
pub type Params = [(String, String)];

fn param<'a>(p: &'a Params, name: &str) -> Option<&'a str> {
    p.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
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
    let sid = param(params, "CallSid").unwrap_or("");
    let caller = param(params, "From").unwrap_or("unknown");
    let updated = core.open_call(route, service, sid, caller).await;
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
            if let Err(e) = core.call_ringing(inc.id).await {
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
    let inc = match core.call_answered(id, attempt).await {
        Ok(inc) => inc,
        Err(why) => return sorry(why),
    };
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
    let status = param(params, "DialCallStatus").unwrap_or("failed");
    let end = RingEnd {
        status: status.to_string(),
        talk: param(params, "DialCallDuration").and_then(|d| d.parse::<i64>().ok()),
        // The caller hung up while it rang: nobody to connect any more.
        caller_gone: param(params, "CallStatus") == Some("completed")
            && !matches!(status, "completed" | "answered"),
    };
    let inc = match core.call_ring_ended(id, attempt, &end).await {
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
    let r = core.call_recorded(id, &url, seconds).await;
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
    let heard = (ok && !text.is_empty()).then_some(text.as_str());
    let r = core.call_transcribed(id, &url, heard).await;
    match r {
        Ok(_) => Twiml::default().reply(),
        Err(why) => sorry(why),
    }
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
    use crate::domain::incident::{Attempt, Ring};

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
    fn numbers_are_read_digit_by_digit() {
        assert_eq!(spell_number("+1555"), "1 5 5 5");
        assert_eq!(spell_number("anonymous"), "an unknown number");
    }
}
