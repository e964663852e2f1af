//! Twilio's voice webhooks under `/voice/`. A phone page (a call tocsin
//! placed) fetches `/voice/page/{id}?user=…`, which reads the incident and
//! gathers one key; the key goes to `/voice/page/{id}/ack?user=…`, where 4
//! acknowledges. Every request must carry a valid `X-Twilio-Signature` over
//! `TOCSIN_PUBLIC_URL` + path + query, so the user in the URL cannot be forged.

use super::signature;
use crate::app::Core;
use crate::incident::{Actor, State, Transition};
use crate::slack::render;
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
        match render::voice_say(text, redirect) {
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
    let user = query
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .and_then(|q| q.into_iter().find(|(k, _)| k == "user").map(|(_, v)| v));
    let route = path
        .strip_prefix("/voice/page/")
        .map(|rest| match rest.split_once('/') {
            Some((id, "ack")) => (id, true),
            _ => (rest, false),
        });
    match (route, user) {
        (Some((id, ack)), Some(user)) => match id.parse::<u64>() {
            Ok(id) if ack => acknowledge(core, id, &user, param("Digits")).await,
            Ok(id) => page(core, id, &user),
            Err(_) => VoiceReply::error(404, "no such incident"),
        },
        _ => VoiceReply::error(404, "no such voice route"),
    }
}

fn page(core: &Core, id: u64, user: &str) -> VoiceReply {
    let inc = match core.store.incident(id) {
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
