//! `/oncall report`: a team's incident figures over 7, 30 or 90 days against
//! the span before, with charts posted in the channel the command ran in.

use super::{team_or_own, Args, OncallCommand};
use crate::config::User;
use crate::ops::Core;
use crate::slack::commands::Reply;
use chrono::{DateTime, Utc};

pub(super) fn parse(args: &Args) -> Result<OncallCommand, String> {
    args.too_many(2)?;
    let mut team = None;
    let mut days = 7;
    for w in args.rest {
        match *w {
            "7d" => days = 7,
            "30d" => days = 30,
            "90d" => days = 90,
            other if team.is_none() => team = Some(other.to_string()),
            other => return Err(format!("`{other}` is not 7d, 30d or 90d. {}", args.usage())),
        }
    }
    Ok(OncallCommand::Report { team, days })
}

/// `/oncall report`: the asker's team by default; the charts are shared in
/// the channel the command ran in.
pub(super) async fn apply(
    core: &Core,
    asker: Option<&User>,
    team: Option<String>,
    days: i64,
    now: DateTime<Utc>,
    channel: &str,
) -> Reply {
    let config = &core.config;
    let team = team_or_own(config, asker, team, "/oncall report TEAM [7d|30d|90d]")?;
    let length = chrono::Duration::days(days);
    let (current, before) = core
        .report_with_previous(&team.id, now - length, now)
        .await
        .map_err(|e| format!("Sorry, the report cannot be built just now ({e})."))?;
    let text = crate::slack::render::report(&current, &before, &team.name, days)
        .map_err(|e| format!("Sorry, the report could not be written ({e})."))?;
    let mut queued = 0;
    for (lane, op) in crate::ops::report::chart_uploads(&current, channel) {
        match core.enqueue(&lane, op).await {
            Ok(_) => queued += 1,
            Err(e) => tracing::warn!(error = %e, "a report chart could not be queued"),
        }
    }
    Ok(if queued > 0 {
        format!("{text}\n_The charts ({queued}) are being posted in this channel._")
    } else {
        text
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::check;
    use super::OncallCommand::*;

    #[test]
    fn report_parses() {
        check(
            "report",
            Ok(Report {
                team: None,
                days: 7,
            }),
        );
        check(
            "report platform 30d",
            Ok(Report {
                team: Some("platform".into()),
                days: 30,
            }),
        );
        check(
            "report 90d platform",
            Ok(Report {
                team: Some("platform".into()),
                days: 90,
            }),
        );
        check("report platform week", Err("is not 7d, 30d or 90d"));
        check("report platform 7d 30d", Err("Too many"));
    }
}
