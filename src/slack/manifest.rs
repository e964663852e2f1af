//! The Slack app manifest, generated from the `commands/` declarations.

use crate::commands::specs;
use serde_json::{json, Value};

/// Bot scopes tocsin needs, each for a reason:
const BOT_SCOPES: &[&str] = &[
    "chat:write",        // post and update alert messages
    "chat:write.public", // post to alert channels without being invited first
    "commands",          // slash commands
    "channels:history",  // find a message posted just before a crash, instead of posting twice
    "groups:history",    // same, in private channels
    "im:write",          // open a DM to page someone
    "im:history",        // find a page sent just before a crash, instead of sending it twice
    "files:write",       // share report charts in team channels
    "app_mentions:read", // answer @tocsin
    "users:read",        // show people by name and time zone
    "channels:manage",   // create, invite people to and archive incident channels
    "pins:write",        // pin an incident channel's live summary
    "reactions:read",    // a :pushpin: on a message adds it to the incident timeline
];

/// The manifest for an app whose request URLs live under `public_url`.
pub fn manifest(public_url: &str) -> Value {
    let base = public_url.trim_end_matches('/');
    let commands: Vec<Value> = specs()
        .iter()
        .map(|c| {
            json!({
                "command": c.command,
                "url": format!("{base}/slack/commands"),
                "description": c.description,
                "usage_hint": c.usage_hint,
                "should_escape": true,
            })
        })
        .collect();
    json!({
        "display_information": {
            "name": "tocsin",
            "description": "Incident response and on-call, in Slack",
            "background_color": "#8b1a1a",
        },
        "features": {
            "bot_user": { "display_name": "tocsin", "always_online": true },
            "slash_commands": commands,
        },
        "oauth_config": { "scopes": { "bot": BOT_SCOPES } },
        "settings": {
            "event_subscriptions": {
                "request_url": format!("{base}/slack/events"),
                "bot_events": ["app_mention", "reaction_added"],
            },
            "interactivity": {
                "is_enabled": true,
                "request_url": format!("{base}/slack/interactions"),
            },
            "org_deploy_enabled": false,
            "socket_mode_enabled": false,
            "token_rotation_enabled": false,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_lists_every_declared_command_at_the_public_url() {
        let m = manifest("https://oncall.example.com/");
        let cmds = m["features"]["slash_commands"].as_array().unwrap();
        assert_eq!(cmds.len(), specs().len());
        assert!(cmds.iter().any(|c| c["command"] == "/incident"));
        assert_eq!(cmds[0]["url"], "https://oncall.example.com/slack/commands");
        assert_eq!(
            m["settings"]["interactivity"]["request_url"],
            "https://oncall.example.com/slack/interactions"
        );
        assert_eq!(
            m["settings"]["event_subscriptions"]["request_url"],
            "https://oncall.example.com/slack/events"
        );
        let scopes = m["oauth_config"]["scopes"]["bot"].as_array().unwrap();
        assert!(scopes.iter().any(|s| s == "commands"));
    }
}
