//! Twilio's voice webhooks under `/voice/`. A phone page (a call tocsin
//! placed) fetches `/voice/page/{id}?user=…`, which reads the incident and
//! gathers one key; the key goes to `/voice/page/{id}/ack?user=…`, where 4
//! acknowledges. Live call routing (`routing`) answers `/voice/incoming`,
//! `/voice/menu` and `/voice/call/{id}/…`. Every request must carry a valid
//! `X-Twilio-Signature` over `TOCSIN_PUBLIC_URL` + path + query, so nothing in
//! the URL (a user, an incident) can be forged.

use super::{render, routing, signature};
use crate::domain::incident::{Actor, State, Transition};
use crate::ops::Core;
use crate::store::Changed;

/// What to answer Twilio: a status and, for 200, TwiML.
#[derive(Debug)]
pub struct VoiceReply {
    pub status: u16,
    pub body: String,
    pub twiml: bool,
}

impl VoiceReply {
    fn twiml(body: String) -> VoiceReply {
        VoiceReply {
            status: 200,
            body,
            twiml: true,
        }
    }

    fn error(status: u16, message: &str) -> VoiceReply {
        VoiceReply {
            status,
            body: message.to_string(),
            twiml: false,
        }
    }

    fn say(text: &str, redirect: Option<&str>) -> VoiceReply {
        let mut t = Twiml::say(text);
        t.redirect = redirect.map(str::to_string);
        t.reply()
    }
}

/// The parts of a TwiML answer, rendered by `templates/voice.xml.j2`: things
/// to say, then at most one of gather, dial, record or redirect, else hang up.
#[derive(Debug, Default, serde::Serialize)]
pub struct Twiml {
    pub say: Vec<String>,
    gather: Option<Gather>,
    dial: Option<Dial>,
    record: Option<Record>,
    pub redirect: Option<String>,
}

#[derive(Debug, serde::Serialize)]
struct Gather {
    prompt: String,
    action: String,
    /// Where to go when no key is pressed; hang up when `None`.
    again: Option<String>,
}

#[derive(Debug, serde::Serialize)]
struct Dial {
    number: String,
    timeout: u32,
    action: String,
    /// Fetched when the callee answers, before they are connected.
    answered: String,
}

#[derive(Debug, serde::Serialize)]
struct Record {
    max_length: u32,
    action: String,
    transcribe: String,
}

impl Twiml {
    pub fn say(text: &str) -> Twiml {
        Twiml {
            say: vec![text.to_string()],
            ..Twiml::default()
        }
    }

    pub fn gather(&mut self, prompt: String, action: String, again: Option<String>) {
        self.gather = Some(Gather {
            prompt,
            action,
            again,
        });
    }

    pub fn dial(&mut self, number: &str, timeout: u32, action: String, answered: String) {
        self.dial = Some(Dial {
            number: number.to_string(),
            timeout,
            action,
            answered,
        });
    }

    pub fn record(&mut self, max_length: u32, action: String, transcribe: String) {
        self.record = Some(Record {
            max_length,
            action,
            transcribe,
        });
    }

    pub fn reply(&self) -> VoiceReply {
        match render::voice(self) {
            Ok(xml) => VoiceReply::twiml(xml),
            Err(e) => {
                tracing::error!(error = %e, "voice template failed");
                VoiceReply::error(500, "voice template failed")
            }
        }
    }
}

/// Where a phone page's call fetches its TwiML.
pub fn page_url(public_url: &str, id: u64, user: &str) -> String {
    format!("{public_url}/voice/page/{id}?{}", user_query(user))
}

fn ack_url(public_url: &str, id: u64, user: &str) -> String {
    format!("{public_url}/voice/page/{id}/ack?{}", user_query(user))
}

fn user_query(user: &str) -> String {
    serde_urlencoded::to_string([("user", user)]).unwrap_or_default()
}

/// The key that acknowledges, as the call says.
const ACK_DIGIT: &str = "4";

/// Answers one request to `/voice/…`. `path_and_query` is as received.
pub async fn handle(
    core: &Core,
    path: &str,
    query: Option<&str>,
    signature_header: Option<&str>,
    body: &[u8],
) -> VoiceReply {
    let Some(token) = &core.twilio_auth_token else {
        return VoiceReply::error(403, "Twilio is not configured (TWILIO_AUTH_TOKEN)");
    };
    let Ok(params) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body) else {
        return VoiceReply::error(400, "body is not a form");
    };
    let url = match query {
        Some(q) => format!("{}{path}?{q}", core.public_url),
        None => format!("{}{path}", core.public_url),
    };
    if !signature::verify(token.expose(), &url, &params, signature_header) {
        tracing::warn!(%path, "voice request with a missing or wrong X-Twilio-Signature");
        return VoiceReply::error(403, "bad X-Twilio-Signature");
    }
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let query: Vec<(String, String)> = query
        .and_then(|q| serde_urlencoded::from_str(q).ok())
        .unwrap_or_default();
    let arg = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let segments: Vec<&str> = path.trim_start_matches("/voice/").split('/').collect();
    let id = segments.get(1).and_then(|s| s.parse::<u64>().ok());
    let attempt = arg("attempt").and_then(|a| a.parse::<usize>().ok());
    match (segments.as_slice(), id, arg("user"), attempt) {
        (["incoming"], ..) => routing::incoming(core, &params, arg("again").is_some()).await,
        (["menu"], ..) => routing::menu(core, &params).await,
        (["page", _], Some(id), Some(user), _) => page(core, id, user).await,
        (["page", _, "ack"], Some(id), Some(user), _) => {
            acknowledge(core, id, user, param("Digits")).await
        }
        (["call", _, "answered"], Some(id), _, Some(n)) => routing::answered(core, id, n).await,
        (["call", _, "dialed"], Some(id), _, Some(n)) => {
            routing::dialed(core, id, n, &params).await
        }
        (["call", _, "recorded"], Some(id), ..) => routing::recorded(core, id, &params).await,
        (["call", _, "transcribed"], Some(id), ..) => routing::transcribed(core, id, &params).await,
        _ => VoiceReply::error(404, "no such voice route"),
    }
}

async fn page(core: &Core, id: u64, user: &str) -> VoiceReply {
    let inc = match core.incident(id).await {
        Ok(Some(inc)) => inc,
        Ok(None) => return VoiceReply::say("This incident no longer exists. Goodbye.", None),
        Err(e) => {
            tracing::error!(error = %e, "cannot read the incident for a call");
            return VoiceReply::say(
                "Sorry, tocsin cannot read this incident right now. Please check Slack.",
                None,
            );
        }
    };
    if inc.state != State::Triggered {
        let text = format!(
            "Incident {id}, {}, is already {}. Nothing to do. Goodbye.",
            inc.alert.summary,
            inc.state.as_str()
        );
        return VoiceReply::say(&text, None);
    }
    match render::voice_page(&inc, &core.config, &ack_url(&core.public_url, id, user)) {
        Ok(xml) => VoiceReply::twiml(xml),
        Err(e) => {
            tracing::error!(error = %e, "voice template failed");
            VoiceReply::error(500, "voice template failed")
        }
    }
}

async fn acknowledge(core: &Core, id: u64, user: &str, digits: Option<&str>) -> VoiceReply {
    if digits != Some(ACK_DIGIT) {
        // Back to the message: a wrong key should not end the call.
        let again = page_url(&core.public_url, id, user);
        return VoiceReply::say("That was not 4.", Some(&again));
    }
    let by = Actor::Phone {
        user: user.to_string(),
        slack_id: core.config.user(user).and_then(|u| u.slack_id.clone()),
    };
    match core.transition(id, Transition::Acknowledge, by).await {
        Ok(Changed::Applied { .. }) => {
            tracing::info!(incident = id, %user, "acknowledged by phone");
            VoiceReply::say(
                &format!("Incident {id} is acknowledged. It is yours. Thank you."),
                None,
            )
        }
        Ok(Changed::Unchanged { why, .. }) => {
            VoiceReply::say(&format!("Incident {id}: {why}. Goodbye."), None)
        }
        Ok(Changed::NotFound) => VoiceReply::say("This incident no longer exists. Goodbye.", None),
        Err(e) => {
            tracing::error!(incident = id, error = %e, "phone acknowledgement could not be saved");
            VoiceReply::say(
                "Sorry, the acknowledgement could not be saved. Please acknowledge in Slack.",
                None,
            )
        }
    }
}
