//! Which incident a command is about when none is named: the one whose
//! channel it ran in. Anywhere else the reply is the open incidents to pick
//! from, each with the command to type for it.

use super::spec;
use crate::domain::incident::Incident;
use crate::ops::Core;
use crate::slack::commands::{Declined, Invocation};
use crate::slack::mrkdwn;

/// Most incidents a pick-list shows; `/incident list` shows the rest.
const PICK_MAX: usize = 15;

/// `id`, else the incident whose channel `inv` ran in; `Err` is the reply
/// (a pick-list of open incidents outside a room).
pub(super) async fn incident(
    core: &Core,
    inv: &Invocation,
    id: Option<u64>,
) -> Result<u64, Declined> {
    if let Some(id) = id {
        return Ok(id);
    }
    let sorry = |e| Declined(format!("Sorry, incidents cannot be read just now ({e})."));
    if let Some(inc) = core
        .incident_by_room(&inv.channel_id)
        .await
        .map_err(sorry)?
    {
        return Ok(inc.id);
    }
    let open = core.open_incidents().await.map_err(sorry)?;
    Err(Declined(pick_list(&usage_of(&inv.text), &open)))
}

/// The usage of the subcommand `text` starts with, as declared.
fn usage_of(text: &str) -> String {
    let spec = spec("/incident").expect("/incident is declared");
    text.split_whitespace()
        .next()
        .and_then(|w| spec.resolve(w))
        .map_or_else(|| "list".to_string(), |s| s.usage.clone())
}

/// `usage` with its incident placeholder (`ID`, `[ID]`, `[#ID]`) filled in.
fn command_for(usage: &str, id: u64) -> String {
    let words: Vec<String> = usage
        .split_whitespace()
        .map(|w| match w {
            "ID" | "[ID]" => id.to_string(),
            "[#ID]" => format!("#{id}"),
            w => w.to_string(),
        })
        .collect();
    format!("/incident {}", words.join(" "))
}

/// The reply for a command that names no incident, outside any incident's channel.
fn pick_list(usage: &str, open: &[Incident]) -> String {
    let verb = usage.split_whitespace().next().unwrap_or("list");
    if open.is_empty() {
        return format!(
            "This is not an incident's channel, and no incident is open. Usage: `/incident {usage}`"
        );
    }
    let mut out = format!(
        "This is not an incident's channel: which incident should I {verb}? Open incidents:\n"
    );
    for i in open.iter().take(PICK_MAX) {
        out.push_str(&format!(
            "• #{} {} — {} · {} — `{}`\n",
            i.id,
            mrkdwn::text(&i.alert.summary),
            i.state.as_str(),
            i.sev().as_str(),
            command_for(usage, i.id)
        ));
    }
    if open.len() > PICK_MAX {
        out.push_str(&format!(
            "…and {} more: `/incident list`.\n",
            open.len() - PICK_MAX
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_placeholder_is_filled_in_every_declared_usage() {
        let spec = spec("/incident").unwrap();
        let cases = [
            ("resolve", "/incident resolve 7"),
            ("ack", "/incident ack 7"),
            ("snooze", "/incident snooze 7 DURATION"),
            ("assign", "/incident assign 7 @user"),
            ("update", "/incident update #7 text"),
            ("timeline", "/incident timeline 7"),
            ("subscribe", "/incident subscribe 7"),
            ("severity", "/incident severity 7 SEV1..SEV4"),
        ];
        for (sub, want) in cases {
            let usage = &spec.resolve(sub).unwrap().usage;
            assert_eq!(command_for(usage, 7), want, "{sub}");
        }
        assert_eq!(usage_of("RESOLVE"), spec.resolve("resolve").unwrap().usage);
        assert_eq!(usage_of(""), "list");
    }

    #[test]
    fn with_nothing_open_the_pick_list_says_so() {
        let got = pick_list("resolve [ID]", &[]);
        assert!(got.contains("no incident is open"), "{got}");
        assert!(got.contains("`/incident resolve [ID]`"), "{got}");
    }
}
