//! Turns the raw file into a `Config`: converts each field and cross-checks
//! every reference, collecting all problems as `ConfigError`s rather than
//! stopping at the first. One file per area; the shared plumbing is here.

mod calls;
mod people;
mod schedules;
mod services;
mod webhooks;

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use toml::Spanned;

use super::errors::{line_col, ConfigError, ConfigErrors};
use super::fields::validate_id;
use super::levels::Sev;
use super::model::Config;
use super::raw::{RawConfig, Str};

/// Checks and converts `raw`; every problem found, in file order, or the config.
pub(super) fn check(file: &str, text: &str, raw: &RawConfig) -> Result<Config, ConfigErrors> {
    let mut cx = Checker {
        file,
        text,
        errors: Vec::new(),
    };
    let config = cx.convert(raw);
    if cx.errors.is_empty() {
        Ok(config)
    } else {
        // Stable sort keeps checks on the same spot in the order they were made.
        cx.errors.sort_by_key(|e| (e.line, e.column));
        Err(ConfigErrors(cx.errors))
    }
}

/// Gathers every problem while converting, so one run reports them all;
/// `file` and `text` place each one.
struct Checker<'a> {
    file: &'a str,
    text: &'a str,
    errors: Vec<ConfigError>,
}

/// Ids of everything defined, gathered up front so references may point forward in the file.
struct Known<'r> {
    services: HashSet<&'r str>,
    users: HashSet<&'r str>,
    teams: HashSet<&'r str>,
    schedules: HashSet<&'r str>,
    policies: HashSet<&'r str>,
}

fn ids<T>(items: &[Spanned<T>], id: impl Fn(&T) -> &Str) -> HashSet<&str> {
    items
        .iter()
        .map(|i| id(i.get_ref()).get_ref().as_str())
        .collect()
}

impl Checker<'_> {
    fn err(&mut self, span: Range<usize>, field: impl Into<String>, message: impl Into<String>) {
        let (line, column) = line_col(self.text, span.start);
        self.errors.push(ConfigError {
            file: self.file.to_string(),
            line,
            column,
            field: field.into(),
            message: message.into(),
        });
    }

    /// Records the error, if any, and hands back the value or a placeholder.
    /// Placeholders never escape: any recorded error makes `parse` fail.
    fn take<T>(&mut self, r: Result<T, String>, span: Range<usize>, field: &str, fallback: T) -> T {
        r.unwrap_or_else(|m| {
            self.err(span, field, m);
            fallback
        })
    }

    fn check_ids<T>(&mut self, kind: &str, items: &[Spanned<T>], id: impl Fn(&T) -> &Str) {
        let mut first_line: HashMap<&str, usize> = HashMap::new();
        for (i, item) in items.iter().enumerate() {
            let id = id(item.get_ref());
            let field = format!("{kind}[{i}].id");
            if let Err(m) = validate_id(id.get_ref()) {
                self.err(id.span(), field, m);
                continue;
            }
            match first_line.get(id.get_ref().as_str()) {
                Some(line) => {
                    let m = format!(
                        "duplicate id `{}` (first defined on line {line})",
                        id.get_ref()
                    );
                    self.err(id.span(), field, m);
                }
                None => {
                    first_line.insert(id.get_ref(), line_col(self.text, id.span().start).0);
                }
            }
        }
    }

    fn check_optional(
        &mut self,
        v: &Option<Str>,
        field: String,
        check: fn(&str) -> Result<(), String>,
    ) {
        let Some(v) = v else { return };
        if let Err(m) = check(v.get_ref()) {
            self.err(v.span(), field, m);
        }
    }

    fn check_ref(&mut self, known: &HashSet<&str>, kind: &str, r: &Str, field: String) -> bool {
        let ok = known.contains(r.get_ref().as_str());
        if !ok {
            self.err(r.span(), field, format!("unknown {kind} `{}`", r.get_ref()));
        }
        ok
    }

    fn convert(&mut self, raw: &RawConfig) -> Config {
        self.check_ids("users", &raw.users, |u| &u.id);
        self.check_ids("teams", &raw.teams, |t| &t.id);
        self.check_ids("schedules", &raw.schedules, |s| &s.id);
        self.check_ids("escalation_policies", &raw.escalation_policies, |p| &p.id);
        self.check_ids("services", &raw.services, |s| &s.id);
        let known = Known {
            services: ids(&raw.services, |s| &s.id),
            users: ids(&raw.users, |u| &u.id),
            teams: ids(&raw.teams, |t| &t.id),
            schedules: ids(&raw.schedules, |s| &s.id),
            policies: ids(&raw.escalation_policies, |p| &p.id),
        };
        Config {
            users: raw
                .users
                .iter()
                .enumerate()
                .map(|(i, u)| self.user(i, u.get_ref()))
                .collect(),
            teams: (raw.teams.iter().enumerate())
                .map(|(i, t)| self.team(i, t.get_ref(), &known))
                .collect(),
            schedules: (raw.schedules.iter().enumerate())
                .map(|(i, s)| self.schedule(i, s, &known))
                .collect(),
            escalation_policies: (raw.escalation_policies.iter().enumerate())
                .map(|(i, p)| self.policy(i, p, &known))
                .collect(),
            services: self.services(&raw.services, &known),
            call_routes: self.call_routes(&raw.call_routes, &ids(&raw.services, |s| &s.id)),
            webhooks_out: self.webhooks_out(&raw.webhooks_out),
        }
    }

    fn sev(&mut self, s: Option<&Str>, field: &str) -> Option<Sev> {
        let s = s?;
        let r = Sev::parse(s.get_ref()).ok_or_else(|| {
            format!(
                "`{}` is not a severity level: use SEV1, SEV2, SEV3 or SEV4",
                s.get_ref()
            )
        });
        self.take(r.map(Some), s.span(), field, None)
    }
}
