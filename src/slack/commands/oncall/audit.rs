//! `/oncall audit`: who changed a team's on-call arrangements.

use super::{team_or_own, when, Args, OncallCommand};
use crate::config::User;
use crate::ops::Core;
use crate::slack::commands::Reply;
use chrono_tz::Tz;

pub(super) fn parse(args: &Args) -> Result<OncallCommand, String> {
    args.too_many(1)?;
    Ok(OncallCommand::Audit(args.first()))
}

/// `/oncall audit`: the team's recent changes, newest first.
pub(super) async fn apply(
    core: &Core,
    asker: Option<&User>,
    team: Option<String>,
    tz: Tz,
) -> Reply {
    let team = team_or_own(&core.config, asker, team, "/oncall audit TEAM")?;
    let entries = core
        .audit(&team.id, 20)
        .await
        .map_err(|e| format!("Sorry, the audit log cannot be read just now ({e})."))?;
    if entries.is_empty() {
        return Ok(format!(
            "Nothing has changed in {}'s on-call arrangements yet.",
            team.name
        ));
    }
    let lines: Vec<String> = entries
        .iter()
        .map(|e| {
            // A change made through the API names whoever its request named.
            let who = match e.actor.strip_prefix("api:") {
                Some(by) => format!("{} (through the API)", crate::slack::mrkdwn::text(by)),
                None => format!("<@{}>", e.actor),
            };
            format!("• {} {who} {}: {}", when(e.at, tz), e.action, e.detail)
        })
        .collect();
    Ok(format!(
        "*Changes to {}*, newest first:\n{}",
        team.name,
        lines.join("\n")
    ))
}

#[cfg(test)]
mod tests {
    use super::super::tests::check;
    use super::OncallCommand::*;

    #[test]
    fn audit_parses() {
        check("audit", Ok(Audit(None)));
        check("audit platform", Ok(Audit(Some("platform".into()))));
        check("audit platform now", Err("Too many"));
    }
}
