//! `/incident new`: opens the form to declare an incident by hand; the form's
//! submission is an interaction, handled by `slack::inbound`.

use crate::domain::policy::{Action, Subject};
use crate::ops::Core;
use crate::slack::commands::{Invocation, Reply};
use crate::store::Outbound;

/// Queues the declare form for the person who ran `/incident new`.
pub(super) async fn apply(core: &Core, inv: &Invocation, title: Option<&str>) -> Reply {
    let Some(trigger) = inv.trigger_id.clone().filter(|t| !t.is_empty()) else {
        return Err("Slack sent no trigger_id, so the form cannot open; please try again.".into());
    };
    if core.config.services.is_empty() {
        return Err(
            "No services are configured, so there is nothing to declare an incident on.".into(),
        );
    }
    // Someone who may declare on no service is told now; the form is
    // checked again on submission, for the service picked there.
    let refusals: Vec<_> = (core.config.services.iter())
        .filter_map(|s| {
            let subject = Subject::service(&core.config, &s.id);
            crate::domain::policy::may(&core.config, &inv.user_id, Action::Declare, &subject).err()
        })
        .collect();
    if let (Some(why), true) = (
        refusals.first(),
        refusals.len() == core.config.services.len(),
    ) {
        return Err(why.clone().into());
    }
    let view = crate::slack::render::declare_view(&core.config, title)
        .map_err(|e| format!("Sorry, the form could not be drawn ({e})."))?;
    let op = Outbound::OpenView {
        trigger_id: trigger,
        view,
    };
    match core.enqueue(&format!("views:{}", inv.user_id), op).await {
        Ok(_) => Ok("Opening the form to declare an incident…".into()),
        Err(e) => Err(format!("Sorry, the form could not be opened just now ({e}).").into()),
    }
}
