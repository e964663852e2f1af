//! The Slack app manifest, generated from the `commands/` declarations.

use super::commands::specs;
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
    "users:read.email",  // find the Slack account of a person the config names by email only
    "channels:manage",   // create, invite people to and archive incident channels
    "channels:read",     // find an incident channel whose creation answer was lost
    "pins:write",        // pin an incident channel's live summary
    "reactions:read",    // a :pushpin: on a message adds it to the incident timeline
];

/// The manifest for an app whose request URLs live under `public_url`; with
/// `socket_mode`, Slack delivers over a WebSocket and needs no request URLs.
pub fn manifest(public_url: &str, socket_mode: bool) -> Value {
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
    let mut m = json!({
        "display_information": {
            "name": "tocsin",
            "description": "Incident response and on-call, in Slack",
            "background_color": "#8b1a1a",
        },
        "features": {
            "bot_user": { "display_name": "tocsin", "always_online": true },
            "slash_commands": commands,
            // The Home tab shows each person their on-call state; the
            // Messages tab holds the DMs that page them.
            "app_home": {
                "home_tab_enabled": true,
                "messages_tab_enabled": true,
                "messages_tab_read_only_enabled": false,
            },
        },
        "oauth_config": { "scopes": { "bot": BOT_SCOPES } },
        "settings": {
            "event_subscriptions": {
                "request_url": format!("{base}/slack/events"),
                "bot_events": ["app_home_opened", "app_mention", "reaction_added"],
            },
            "interactivity": {
                "is_enabled": true,
                "request_url": format!("{base}/slack/interactions"),
            },
            "org_deploy_enabled": false,
            "socket_mode_enabled": socket_mode,
            "token_rotation_enabled": false,
        },
    });
    if socket_mode {
        for c in m["features"]["slash_commands"]
            .as_array_mut()
            .into_iter()
            .flatten()
        {
            c.as_object_mut().map(|o| o.remove("url"));
        }
        m["settings"]["event_subscriptions"]
            .as_object_mut()
            .map(|o| o.remove("request_url"));
        m["settings"]["interactivity"]
            .as_object_mut()
            .map(|o| o.remove("request_url"));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_lists_every_declared_command_at_the_public_url() {
        let m = manifest("https://oncall.example.com/", false);
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

    #[test]
    fn the_manifest_turns_on_the_home_tab_and_its_event() {
        for socket in [false, true] {
            let m = manifest("https://oncall.example.com", socket);
            assert_eq!(m["features"]["app_home"]["home_tab_enabled"], true);
            assert_eq!(m["features"]["app_home"]["messages_tab_enabled"], true);
            let events = m["settings"]["event_subscriptions"]["bot_events"]
                .as_array()
                .unwrap();
            assert!(events.iter().any(|e| e == "app_home_opened"), "{events:?}");
        }
    }

    #[test]
    fn a_socket_mode_manifest_needs_no_public_address() {
        let m = manifest("http://127.0.0.1:3000", true);
        assert_eq!(m["settings"]["socket_mode_enabled"], true);
        let text = m.to_string();
        assert!(!text.contains("127.0.0.1"), "{text}");
        assert_eq!(m["settings"]["interactivity"]["is_enabled"], true);
        assert!(m["features"]["slash_commands"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["command"].is_string() && c.get("url").is_none()));
        assert_eq!(
            manifest("https://x", false)["settings"]["socket_mode_enabled"],
            false
        );
    }
}
