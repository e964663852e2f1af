//! The sandbox workspace's state: channels, messages and files, kept in the
//! store as the sandbox's own records, so its history survives a restart.
//!
//! Records (JSON, each with `"v"`): `c/<channel id>` a channel, `m/<seq>`
//! a message (sequence as 16 hex digits, so key order is posting order),
//! `f/<file id>` a file's bytes as uploaded.

use crate::config::Config;
use crate::store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Kind {
    /// A team's alert channel.
    Alerts,
    /// A team's stakeholder channel.
    Stakeholders,
    /// A channel tocsin created (an incident's own).
    Incident,
    /// The bot's direct messages with one person.
    Dm,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Channel {
    pub id: String,
    pub name: String,
    pub kind: Kind,
    /// Set for a DM: whose it is.
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub archived: bool,
    #[serde(default)]
    pub members: Vec<String>,
    /// Unix seconds.
    pub created: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct File {
    pub id: String,
    pub name: String,
    pub title: String,
    pub size: usize,
    pub png: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Message {
    pub seq: u64,
    pub channel: String,
    pub ts: String,
    /// Who wrote it: the bot's user id for what tocsin posts.
    pub user: String,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub blocks: Value,
    #[serde(default)]
    pub metadata: Value,
    /// An ephemeral message: only this person sees it.
    #[serde(default)]
    pub only_for: Option<String>,
    #[serde(default)]
    pub pinned: bool,
    #[serde(default)]
    pub edited: bool,
    /// Reaction name → who added it, in order.
    #[serde(default)]
    pub reactions: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub file: Option<File>,
}

/// The form on disk: `{"v": 1, "channel": {…}}` or `{"v": 1, "message": {…}}`.
#[derive(Serialize, Deserialize)]
struct Record {
    v: u32,
    #[serde(flatten)]
    body: Body,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Body {
    Channel(Channel),
    Message(Message),
}

const VERSION: u32 = 1;

fn encode(body: Body) -> Vec<u8> {
    serde_json::to_vec(&Record { v: VERSION, body }).expect("a sandbox record always serialises")
}

/// The whole workspace, in memory; every change is written through.
#[derive(Debug, Default)]
pub(super) struct Workspace {
    pub channels: BTreeMap<String, Channel>,
    pub messages: Vec<Message>,
    next: u64,
}

/// A person's DM channel with the bot.
pub(super) fn dm_id(user: &str) -> String {
    format!("D{}", user.trim_start_matches('U'))
}

impl Workspace {
    /// Reads the records back and adds the channels the config names that
    /// are not there yet (a team's channels, a DM per person).
    pub async fn load(store: &Store, config: &Config, now: i64) -> Result<Workspace, StoreError> {
        let mut ws = Workspace::default();
        for (key, bytes) in store.sandbox_records().await? {
            if key.starts_with("f/") {
                continue;
            }
            let read = serde_json::from_slice::<Record>(&bytes)
                .map_err(|e| e.to_string())
                .and_then(|r| match r.v {
                    VERSION => Ok(r.body),
                    v => Err(format!("version {v} is newer than this build's {VERSION}")),
                });
            match read {
                Ok(Body::Channel(c)) => {
                    ws.channels.insert(c.id.clone(), c);
                }
                Ok(Body::Message(m)) => {
                    ws.next = ws.next.max(m.seq + 1);
                    ws.messages.push(m);
                }
                Err(e) => {
                    return Err(StoreError::Corrupt {
                        tree: "sandbox",
                        message: format!("{key}: {e}"),
                    })
                }
            }
        }
        ws.messages.sort_by_key(|m| m.seq);
        let mut wanted = vec![];
        for team in &config.teams {
            let members: Vec<String> = team
                .members
                .iter()
                .filter_map(|id| config.users.iter().find(|u| &u.id == id))
                .filter_map(|u| u.slack_id.clone())
                .collect();
            if let Some(id) = &team.alert_channel {
                wanted.push((
                    id.clone(),
                    team.id.clone(),
                    Kind::Alerts,
                    None,
                    members.clone(),
                ));
            }
            if let Some(id) = &team.stakeholder_channel {
                let name = format!("{}-stakeholders", team.id);
                wanted.push((id.clone(), name, Kind::Stakeholders, None, members));
            }
        }
        for u in &config.users {
            if let Some(slack) = &u.slack_id {
                wanted.push((
                    dm_id(slack),
                    u.id.clone(),
                    Kind::Dm,
                    Some(slack.clone()),
                    vec![],
                ));
            }
        }
        for (id, name, kind, user, members) in wanted {
            if ws.channels.contains_key(&id) {
                continue;
            }
            let c = Channel {
                id,
                name,
                kind,
                user,
                archived: false,
                members,
                created: now,
            };
            ws.save_channel(store, c).await?;
        }
        Ok(ws)
    }

    pub async fn save_channel(&mut self, store: &Store, c: Channel) -> Result<(), StoreError> {
        let bytes = encode(Body::Channel(c.clone()));
        store
            .put_sandbox_record(&format!("c/{}", c.id), &bytes)
            .await?;
        self.channels.insert(c.id.clone(), c);
        Ok(())
    }

    /// Writes `m` (new or changed) and keeps it.
    pub async fn save_message(&mut self, store: &Store, m: Message) -> Result<(), StoreError> {
        let bytes = encode(Body::Message(m.clone()));
        store
            .put_sandbox_record(&format!("m/{:016x}", m.seq), &bytes)
            .await?;
        match self.messages.iter_mut().find(|x| x.seq == m.seq) {
            Some(x) => *x = m,
            None => self.messages.push(m),
        }
        Ok(())
    }

    /// A fresh message in `channel` at a `ts` no other message has: Slack's
    /// form, seconds and a six-digit part.
    pub fn draft(&mut self, channel: &str, user: &str, now: i64) -> Message {
        let seq = self.next;
        self.next += 1;
        Message {
            seq,
            channel: channel.to_string(),
            ts: format!("{now}.{:06}", seq % 1_000_000),
            user: user.to_string(),
            text: String::new(),
            blocks: Value::Null,
            metadata: Value::Null,
            only_for: None,
            pinned: false,
            edited: false,
            reactions: BTreeMap::new(),
            file: None,
        }
    }

    pub fn message(&self, channel: &str, ts: &str) -> Option<&Message> {
        self.messages
            .iter()
            .find(|m| m.channel == channel && m.ts == ts)
    }

    /// The ids of the next channel and file tocsin creates.
    pub fn next_id(&mut self, prefix: &str) -> String {
        let n = self.next;
        self.next += 1;
        format!("{prefix}0SBX{n}")
    }
}

/// Slack's `ts` as a number, for comparing.
pub(super) fn ts_value(ts: &str) -> f64 {
    ts.parse().unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_keep_their_version_tag() {
        let c = Channel {
            id: "C1".into(),
            name: "platform".into(),
            kind: Kind::Alerts,
            user: None,
            archived: false,
            members: vec![],
            created: 1,
        };
        let v: Value = serde_json::from_slice(&encode(Body::Channel(c))).unwrap();
        assert_eq!(v["v"], 1);
        assert_eq!(v["channel"]["kind"], "alerts");
        let mut ws = Workspace::default();
        let m = ws.draft("C1", "U0BOT", 1_700_000_000);
        assert_eq!(m.ts, "1700000000.000000");
        let bytes = encode(Body::Message(m));
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["v"], 1);
        assert_eq!(v["message"]["ts"], "1700000000.000000");
        assert!(matches!(
            serde_json::from_slice::<Record>(&bytes),
            Ok(Record {
                v: 1,
                body: Body::Message(_)
            })
        ));
    }

    #[test]
    fn a_dm_is_named_after_its_person() {
        assert_eq!(dm_id("U0ALICE"), "D0ALICE");
    }
}
