//! `/oncall maintenance`: start or end a service's maintenance window, during
//! which its alerts are recorded and nobody is paged. Leads only.

use super::{list_or_none, when, Args, OncallCommand};
use crate::config::User;
use crate::ops::Core;
use crate::slack::commands::{Invocation, Reply};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

pub(super) fn parse(args: &Args) -> Result<OncallCommand, String> {
    let service = args.needed(0, "service")?;
    let length = args.needed(1, "duration")?;
    let rest = args.rest;
    let reason = (rest.len() > 2).then(|| rest[2..].join(" "));
    if length == "end" || length == "off" {
        return Ok(OncallCommand::Maintenance {
            service,
            until: None,
            reason: None,
        });
    }
    let d = crate::config::parse_duration(&length).map_err(|e| format!("{e}. {}", args.usage()))?;
    if d > chrono::Duration::days(crate::ops::maintenance::MAX_DAYS) {
        return Err(format!(
            "At most {} days; put longer windows in the config file.",
            crate::ops::maintenance::MAX_DAYS
        ));
    }
    Ok(OncallCommand::Maintenance {
        service,
        until: Some(args.now + d),
        reason,
    })
}

/// `/oncall maintenance`: members and leads of the service's team only.
pub(super) async fn apply(
    core: &Core,
    inv: &Invocation,
    asker: Option<&User>,
    service: &str,
    until: Option<DateTime<Utc>>,
    reason: Option<String>,
    tz: Tz,
) -> Reply {
    let config = &core.config;
    let svc = config.service(service).ok_or_else(|| {
        let known: Vec<&str> = config.services.iter().map(|s| s.id.as_str()).collect();
        format!(
            "There is no service `{service}`. Services: {}.",
            list_or_none(&known)
        )
    })?;
    let team = config.team(&svc.team);
    let allowed = asker.is_some_and(|me| team.is_some_and(|t| t.leads.contains(&me.id)));
    if !allowed {
        return Err(format!(
            "Only a lead of {} can put {} in maintenance or end it.",
            team.map_or(svc.team.as_str(), |t| t.name.as_str()),
            svc.name
        )
        .into());
    }
    let failed =
        |e: crate::store::StoreError| format!("Sorry, that could not be saved ({e}). Try again.");
    match until {
        Some(until) => {
            let detail = format!(
                "{} until {}{}",
                svc.name,
                until.format("%Y-%m-%d %H:%M UTC"),
                // The audit line is shown as mrkdwn; the reason is what a person typed.
                reason
                    .as_ref()
                    .map(|r| format!(" ({})", crate::slack::mrkdwn::text(r)))
                    .unwrap_or_default()
            );
            core.start_maintenance(svc, until, reason, &inv.user_id, detail)
                .await
                .map_err(failed)?;
            Ok(format!(
                "{} is in maintenance until {}: its alerts are recorded and nobody is paged. `/oncall maintenance {} end` finishes it early.",
                svc.name,
                when(until, tz),
                svc.id
            ))
        }
        None => {
            let detail = format!("{} ended early", svc.name);
            match core
                .end_maintenance(svc, &inv.user_id, detail)
                .await
                .map_err(failed)?
            {
                Some(_) => Ok(format!(
                    "Maintenance on {} is over; paging resumes.",
                    svc.name
                )),
                None => Ok(format!("{} is not in maintenance.", svc.name)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{check, t};
    use super::OncallCommand::*;

    #[test]
    fn maintenance_parses() {
        check(
            "maintenance checkout 2h deploying v2",
            Ok(Maintenance {
                service: "checkout".into(),
                until: Some(t(12)),
                reason: Some("deploying v2".into()),
            }),
        );
        check(
            "maintenance checkout end",
            Ok(Maintenance {
                service: "checkout".into(),
                until: None,
                reason: None,
            }),
        );
        check("maintenance", Err("Which service?"));
        check("maintenance checkout", Err("Which duration?"));
        check("maintenance checkout 30d", Err("At most"));
    }
}
