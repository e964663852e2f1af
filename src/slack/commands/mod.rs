//! Slash commands, Slack's inbound adapter for people typing: declared once in
//! `commands/*.toml` (help text, manifest entry), parsed from Slack's text into
//! a typed command, then applied; the answer is Slack mrkdwn.

pub mod incident;
pub mod oncall;
mod when;

use serde::Deserialize;
use std::sync::OnceLock;

const DECLARATIONS: &[&str] = &[
    include_str!("../../../commands/incident.toml"),
    include_str!("../../../commands/oncall.toml"),
];

/// One slash command as declared in `commands/`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandSpec {
    pub command: String,
    pub description: String,
    pub usage_hint: String,
    /// A line the help ends with, true of several subcommands.
    #[serde(default)]
    pub note: Option<String>,
    pub subcommands: Vec<SubcommandSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubcommandSpec {
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub usage: String,
    pub help: String,
}

/// Every declared command. The declarations are compiled in; a broken one fails the tests.
pub fn specs() -> &'static [CommandSpec] {
    static SPECS: OnceLock<Vec<CommandSpec>> = OnceLock::new();
    SPECS.get_or_init(|| {
        DECLARATIONS
            .iter()
            .map(|d| toml::from_str(d).expect("commands/*.toml declarations parse"))
            .collect()
    })
}

pub(in crate::slack::commands) fn spec(command: &str) -> Option<&'static CommandSpec> {
    specs().iter().find(|s| s.command == command)
}

impl CommandSpec {
    /// Help text generated from the declaration, in Slack mrkdwn.
    pub fn help(&self) -> String {
        let mut out = format!("*{}* — {}\n", self.command, self.description);
        for s in &self.subcommands {
            out.push_str(&format!("• `{} {}` — {}\n", self.command, s.usage, s.help));
        }
        if let Some(note) = &self.note {
            out.push_str(note);
            out.push('\n');
        }
        out
    }

    /// The canonical subcommand for a word the user typed (name or alias).
    pub fn resolve(&self, word: &str) -> Option<&SubcommandSpec> {
        let w = word.to_ascii_lowercase();
        self.subcommands
            .iter()
            .find(|s| s.name == w || s.aliases.contains(&w))
    }
}

/// What a subcommand answers: the text of what it did or found, or why it
/// did nothing. Both reach Slack the same way, as the ephemeral reply.
pub(in crate::slack::commands) type Reply = Result<String, Declined>;

/// Why a command did nothing, worded for the person who ran it: a name that
/// is not configured, a refusal, or a store that cannot be used just now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::slack::commands) struct Declined(pub(in crate::slack::commands) String);

impl From<String> for Declined {
    fn from(why: String) -> Self {
        Declined(why)
    }
}

impl From<&str> for Declined {
    fn from(why: &str) -> Self {
        Declined(why.to_string())
    }
}

impl From<crate::domain::policy::Refusal> for Declined {
    fn from(r: crate::domain::policy::Refusal) -> Self {
        Declined(crate::slack::render::refusal(&r))
    }
}

impl From<crate::domain::sentence::Sentence> for Declined {
    fn from(s: crate::domain::sentence::Sentence) -> Self {
        Declined(crate::slack::render::sentence(&s))
    }
}

/// The text Slack shows for a reply, whichever way it went.
pub(in crate::slack::commands) fn reply_text(reply: Reply) -> String {
    reply.unwrap_or_else(|Declined(why)| why)
}

/// Who ran a command, and where.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub command: String,
    pub text: String,
    pub user_id: String,
    pub channel_id: String,
    /// Lets a reply open a modal (views.open) within 3 s.
    pub trigger_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declarations_parse_and_describe_every_subcommand() {
        let s = spec("/incident").expect("/incident is declared");
        for name in ["list", "ack", "resolve", "help"] {
            assert!(s.resolve(name).is_some(), "{name}");
            assert!(s.help().contains(&format!("/incident {name}")), "{name}");
        }
        assert_eq!(
            s.resolve("ACKNOWLEDGE").map(|s| s.name.as_str()),
            Some("ack")
        );
    }
}
