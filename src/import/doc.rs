//! What an import produces, vendor-neutral, and its rendering as TOML with
//! comments: each item carries the notes about what did not map.

use super::Vendor;
use chrono::NaiveDateTime;
use std::collections::{BTreeMap, HashSet};

#[derive(Default)]
pub(super) struct User {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) email: Option<String>,
    pub(super) slack_id: Option<String>,
    pub(super) time_zone: Option<String>,
    pub(super) phone: Option<String>,
    pub(super) notes: Vec<String>,
}

#[derive(Default)]
pub(super) struct Team {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) leads: Vec<String>,
    pub(super) members: Vec<String>,
    pub(super) notes: Vec<String>,
}

/// A daily window (`days` set) or a weekly one (`from`/`to` name their day).
pub(super) struct Window {
    pub(super) days: Option<String>,
    pub(super) from: String,
    pub(super) to: String,
}

pub(super) struct Layer {
    pub(super) name: String,
    pub(super) start: NaiveDateTime,
    pub(super) rotation: String,
    pub(super) users: Vec<String>,
    pub(super) restrictions: Vec<Window>,
    pub(super) notes: Vec<String>,
}

pub(super) struct Schedule {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) team: String,
    pub(super) time_zone: String,
    /// Lowest first: a later layer wins where it has someone on call.
    pub(super) layers: Vec<Layer>,
    pub(super) notes: Vec<String>,
}

pub(super) struct Level {
    pub(super) after_minutes: u32,
    pub(super) targets: Vec<String>,
}

pub(super) struct Policy {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) repeat: u32,
    pub(super) levels: Vec<Level>,
    pub(super) notes: Vec<String>,
}

pub(super) struct Service {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) team: String,
    pub(super) escalation_policy: Option<String>,
    pub(super) integration_key: String,
    pub(super) urgency: Option<&'static str>,
    pub(super) notes: Vec<String>,
}

/// Everything read so far, with the vendor's ids mapped to tocsin's.
pub(super) struct Doc {
    pub(super) vendor: Vendor,
    pub(super) users: Vec<User>,
    pub(super) teams: Vec<Team>,
    pub(super) schedules: Vec<Schedule>,
    pub(super) policies: Vec<Policy>,
    pub(super) services: Vec<Service>,
    /// Things that were not imported at all, for the summary and the header.
    pub(super) skipped: Vec<String>,
    /// The vendor's id → tocsin's id, per kind ("user", "team", …).
    ids: BTreeMap<(&'static str, String), String>,
    taken: HashSet<(&'static str, String)>,
}

/// A tocsin id from a name: lowercase letters, digits and dashes.
pub(super) fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        "x".into()
    } else {
        out
    }
}

impl Doc {
    pub(super) fn new(vendor: Vendor) -> Doc {
        Doc {
            vendor,
            users: vec![],
            teams: vec![],
            schedules: vec![],
            policies: vec![],
            services: vec![],
            skipped: vec![],
            ids: BTreeMap::new(),
            taken: HashSet::new(),
        }
    }

    /// A fresh tocsin id of `kind` for the vendor's `vendor_id`, based on `name`.
    pub(super) fn assign(&mut self, kind: &'static str, vendor_id: &str, name: &str) -> String {
        let base = slug(name);
        let mut id = base.clone();
        let mut n = 2;
        while self.taken.contains(&(kind, id.clone())) {
            id = format!("{base}-{n}");
            n += 1;
        }
        self.taken.insert((kind, id.clone()));
        self.ids.insert((kind, vendor_id.to_string()), id.clone());
        id
    }

    /// Another vendor key (a name, a username) for an id already assigned.
    pub(super) fn alias(&mut self, kind: &'static str, key: &str, id: &str) {
        self.ids
            .entry((kind, key.to_string()))
            .or_insert_with(|| id.to_string());
    }

    /// Drops an id that was assigned to something not imported after all, so
    /// nothing refers to it (aliases of it, too).
    pub(super) fn forget(&mut self, kind: &'static str, id: &str) {
        self.ids
            .retain(|(k, _), v| !(k.starts_with(kind) && v == id));
    }

    /// The tocsin id given to the vendor's `vendor_id`, if it was imported.
    pub(super) fn id(&self, kind: &'static str, vendor_id: &str) -> Option<String> {
        self.ids.get(&(kind, vendor_id.to_string())).cloned()
    }

    /// The team for things the export gives no team: made on first use.
    pub(super) fn fallback_team(&mut self) -> String {
        if let Some(id) = self.id("team", "") {
            return id;
        }
        let id = self.assign("team", "", "imported");
        self.teams.push(Team {
            id: id.clone(),
            name: format!("Imported from {} (no team)", self.vendor.name()),
            notes: vec![format!(
                "{} gave these schedules or services no team: move them to a real one",
                self.vendor.name()
            )],
            ..Team::default()
        });
        id
    }

    pub(super) fn summary(&self) -> Vec<String> {
        let layers: usize = self.schedules.iter().map(|s| s.layers.len()).sum();
        let notes = self.users.iter().map(|u| u.notes.len()).sum::<usize>()
            + self.teams.iter().map(|t| t.notes.len()).sum::<usize>()
            + (self.schedules.iter())
                .map(|s| s.notes.len() + s.layers.iter().map(|l| l.notes.len()).sum::<usize>())
                .sum::<usize>()
            + self.policies.iter().map(|p| p.notes.len()).sum::<usize>()
            + self.services.iter().map(|s| s.notes.len()).sum::<usize>();
        let mut out = vec![format!(
            "imported from {}: {} users, {} teams, {} schedules ({layers} layers), {} escalation policies, {} services",
            self.vendor.name(),
            self.users.len(),
            self.teams.len(),
            self.schedules.len(),
            self.policies.len(),
            self.services.len()
        )];
        let no_slack = self.users.iter().filter(|u| u.slack_id.is_none()).count();
        if no_slack > 0 {
            out.push(format!(
                "{no_slack} users have no Slack id: tocsin looks each up by email at start (users.lookupByEmail); set `slack_id` for anyone Slack knows by another email"
            ));
        }
        out.push(format!("{notes} comments mark what did not map exactly"));
        if self.skipped.is_empty() {
            out.push("nothing was left out".into());
        } else {
            out.push(format!("not imported ({}):", self.skipped.len()));
            out.extend(self.skipped.iter().map(|s| format!("  - {s}")));
        }
        out
    }

    pub(super) fn render(&self) -> String {
        let mut o = String::new();
        o.push_str(&format!(
            "# Imported from a {} export by `tocsin import`. Check it with `tocsin check`.\n",
            self.vendor.name()
        ));
        for line in self.summary() {
            o.push_str(&format!("# {}\n", one_line(&line)));
        }
        for u in &self.users {
            o.push('\n');
            notes(&mut o, &u.notes);
            o.push_str("[[users]]\n");
            kv(&mut o, "id", &u.id);
            kv(&mut o, "name", &u.name);
            opt(&mut o, "email", &u.email);
            opt(&mut o, "slack_id", &u.slack_id);
            opt(&mut o, "time_zone", &u.time_zone);
            opt(&mut o, "phone", &u.phone);
        }
        for t in &self.teams {
            o.push('\n');
            notes(&mut o, &t.notes);
            o.push_str("[[teams]]\n");
            kv(&mut o, "id", &t.id);
            kv(&mut o, "name", &t.name);
            list(&mut o, "leads", &t.leads);
            list(&mut o, "members", &t.members);
            o.push_str("# alert_channel = \"C…\"  # the Slack channel for this team's alerts\n");
        }
        for s in &self.schedules {
            o.push('\n');
            notes(&mut o, &s.notes);
            o.push_str(&format!("# {}\n", one_line(&s.name)));
            o.push_str("[[schedules]]\n");
            kv(&mut o, "id", &s.id);
            kv(&mut o, "team", &s.team);
            kv(&mut o, "time_zone", &s.time_zone);
            for l in &s.layers {
                notes(&mut o, &l.notes);
                o.push_str("[[schedules.layers]]\n");
                kv(&mut o, "name", &l.name);
                kv(
                    &mut o,
                    "start",
                    &l.start.format("%Y-%m-%dT%H:%M:%S").to_string(),
                );
                kv(&mut o, "rotation", &l.rotation);
                list(&mut o, "users", &l.users);
                if !l.restrictions.is_empty() {
                    let windows: Vec<String> = (l.restrictions.iter())
                        .map(|w| match &w.days {
                            Some(d) => format!(
                                "{{ days = {}, from = {}, to = {} }}",
                                quote(d),
                                quote(&w.from),
                                quote(&w.to)
                            ),
                            None => {
                                format!("{{ from = {}, to = {} }}", quote(&w.from), quote(&w.to))
                            }
                        })
                        .collect();
                    o.push_str(&format!("restrictions = [{}]\n", windows.join(", ")));
                }
            }
        }
        for p in &self.policies {
            o.push('\n');
            notes(&mut o, &p.notes);
            o.push_str(&format!("# {}\n", one_line(&p.name)));
            o.push_str("[[escalation_policies]]\n");
            kv(&mut o, "id", &p.id);
            o.push_str(&format!("repeat = {}\n", p.repeat));
            for l in &p.levels {
                o.push_str("[[escalation_policies.levels]]\n");
                o.push_str(&format!("after_minutes = {}\n", l.after_minutes));
                list(&mut o, "targets", &l.targets);
            }
        }
        for s in &self.services {
            o.push('\n');
            notes(&mut o, &s.notes);
            o.push_str("[[services]]\n");
            kv(&mut o, "id", &s.id);
            kv(&mut o, "name", &s.name);
            kv(&mut o, "team", &s.team);
            opt(&mut o, "escalation_policy", &s.escalation_policy);
            kv(&mut o, "integration_key", &s.integration_key);
            if let Some(u) = s.urgency {
                kv(&mut o, "urgency", u);
            }
        }
        o
    }
}

/// Text for a comment: one line, without the control characters TOML
/// refuses in comments.
fn one_line(s: &str) -> String {
    let words: Vec<&str> = s.split_whitespace().collect();
    (words.join(" ").chars())
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

fn quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn kv(o: &mut String, key: &str, value: &str) {
    o.push_str(&format!("{key} = {}\n", quote(value)));
}

fn opt(o: &mut String, key: &str, value: &Option<String>) {
    if let Some(v) = value {
        kv(o, key, v);
    }
}

fn list(o: &mut String, key: &str, values: &[String]) {
    let items: Vec<String> = values.iter().map(|v| quote(v)).collect();
    o.push_str(&format!("{key} = [{}]\n", items.join(", ")));
}

fn notes(o: &mut String, notes: &[String]) {
    for n in notes {
        for line in n.lines() {
            o.push_str(&format!("# NOTE: {}\n", one_line(line)));
        }
    }
}
