//! Twilio: SMS and phone-call pages through the REST API, the voice webhooks
//! (TwiML) that let a callee acknowledge by pressing 4, and live call routing.

pub mod api;
pub mod render;
pub mod routing;
pub mod signature;
pub mod voice;

use crate::config::Config;
use crate::domain::incident::State;
use crate::outbox::{store_failure, Failure};
use crate::store::{Outbound, Store};
use api::TwilioApi;
use render::page_sms;

/// Sends an SMS or places a call from the outbox. A page for an incident
/// that someone acknowledged meanwhile is dropped: nobody needs waking for it.
pub async fn deliver(
    api: &TwilioApi,
    store: &Store,
    config: &Config,
    op: &Outbound,
) -> Result<(), Failure> {
    let (id, to) = match op {
        Outbound::Sms { incident, to } | Outbound::Call { incident, to, .. } => (*incident, to),
        _ => return Err(Failure::Permanent("not Twilio work".into())),
    };
    let Some(inc) = store.incident(id).map_err(store_failure)? else {
        return Ok(());
    };
    if inc.state != State::Triggered {
        tracing::info!(
            incident = id,
            "not paging by phone: the incident is {}",
            inc.state.as_str()
        );
        return Ok(());
    }
    match op {
        Outbound::Call { user, .. } => {
            let url = voice::page_url(&api.public_url, id, user);
            api.place_call(to, &url).await.map(drop)
        }
        _ => {
            let body = page_sms(&inc, config).map_err(|e| Failure::Permanent(e.to_string()))?;
            api.send_sms(to, &body).await.map(drop)
        }
    }
}
