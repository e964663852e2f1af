//! Twilio: SMS and phone-call pages through the REST API, the voice webhooks
//! (TwiML) that let a callee acknowledge by pressing 4, and live call routing.

pub mod api;
pub mod render;
pub mod routing;
pub mod signature;
pub mod voice;

use crate::config::Config;
use crate::domain::incident::State;
use crate::outbox::{self, store_failure, Attempt, Failure};
use crate::store::{Outbound, Store};
use api::TwilioApi;
use async_trait::async_trait;
use render::page_sms;
use std::sync::Arc;

/// The outbox's receiver of SMS and phone-call pages.
pub struct Receiver {
    pub api: TwilioApi,
    pub store: Store,
    pub config: Arc<Config>,
}

#[async_trait]
impl outbox::Receiver for Receiver {
    fn name(&self) -> &'static str {
        "Twilio"
    }

    fn takes(&self, op: &Outbound) -> bool {
        matches!(op, Outbound::Sms { .. } | Outbound::Call { .. })
    }

    async fn perform(&self, op: &Outbound, _: Attempt) -> Result<(), Failure> {
        deliver(&self.api, &self.store, &self.config, op).await
    }
}

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
    let Some(inc) = store.incident(id).await.map_err(store_failure)? else {
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
