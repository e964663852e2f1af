//! Services: keys, urgency, heartbeats, grouping, flapping, maintenance and event rules.

use std::collections::HashMap;

use chrono::Duration;
use toml::Spanned;

use super::{Checker, Known};
use crate::config::durations::parse_duration;
use crate::config::errors::line_col;
use crate::config::fields::{parse_integration_key, validate_id};
use crate::config::levels::Severity;
use crate::config::model::{
    Condition, EmailIntake, Flapping, Grouping, Heartbeat, MaintenanceWindow, Op, Rule, RuleAction,
    Service, Urgency,
};
use crate::config::raw::{
    RawCondition, RawEmail, RawFlapping, RawGrouping, RawHeartbeat, RawRule, RawService, RawWindow,
    Str,
};

impl Checker<'_> {
    pub(super) fn services(&mut self, raw: &[Spanned<RawService>], known: &Known) -> Vec<Service> {
        let mut key_lines: HashMap<String, usize> = HashMap::new();
        // Heartbeat ids and tokens, each unique across every service.
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut out = Vec::with_capacity(raw.len());
        // Local parts of email addresses, each naming one service.
        let mut local_parts: HashMap<String, usize> = HashMap::new();
        for (i, s) in raw.iter().enumerate() {
            let s = s.get_ref();
            let path = format!("services[{i}]");
            self.check_ref(&known.teams, "team", &s.team, format!("{path}.team"));
            if let Some(p) = &s.escalation_policy {
                self.check_ref(
                    &known.policies,
                    "escalation policy",
                    p,
                    format!("{path}.escalation_policy"),
                );
            }
            let key_field = format!("{path}.integration_key");
            let key_span = s.integration_key.span();
            let integration_key = match parse_integration_key(s.integration_key.get_ref()) {
                Ok(key) => {
                    // Two services on one key would make routing an alert ambiguous.
                    if let Some(line) = key_lines.get(&key) {
                        let m =
                            format!("integration key already used by the service on line {line}");
                        self.err(key_span, key_field, m);
                    } else {
                        key_lines.insert(key.clone(), line_col(self.text, key_span.start).0);
                    }
                    key
                }
                Err(m) => {
                    self.err(key_span, key_field, m);
                    String::new()
                }
            };
            let urgency = match s.urgency.as_ref() {
                None => Urgency::High,
                Some(u) => match u.get_ref().as_str() {
                    "high" => Urgency::High,
                    "low" => Urgency::Low,
                    other => {
                        let m = format!("invalid urgency `{other}`: expected \"high\" or \"low\"");
                        self.err(u.span(), format!("{path}.urgency"), m);
                        Urgency::High
                    }
                },
            };
            let channel_at = self.sev(s.channel_at.as_ref(), &format!("{path}.channel_at"));
            let email = s
                .email
                .as_ref()
                .map(|e| self.email(e, &format!("{path}.email"), &mut local_parts));
            out.push(Service {
                email,
                channel_at,
                id: s.id.get_ref().clone(),
                name: s.name.clone(),
                team: s.team.get_ref().clone(),
                escalation_policy: s.escalation_policy.as_ref().map(|p| p.get_ref().clone()),
                integration_key,
                urgency,
                heartbeats: (s.heartbeats.iter().enumerate())
                    .map(|(k, h)| self.heartbeat(h, &format!("{path}.heartbeats[{k}]"), &mut seen))
                    .collect(),
                ack_target_minutes: s.ack_target_minutes.as_ref().map(|m| {
                    if *m.get_ref() == 0 {
                        self.err(
                            m.span(),
                            format!("{path}.ack_target_minutes"),
                            "must be at least 1",
                        );
                    }
                    *m.get_ref()
                }),
                grouping: s
                    .grouping
                    .as_ref()
                    .map(|g| self.grouping(g.get_ref(), &format!("{path}.grouping"))),
                flapping: s
                    .flapping
                    .as_ref()
                    .map(|f| self.flapping(f.get_ref(), &format!("{path}.flapping"))),
                maintenance: (s.maintenance.iter().enumerate())
                    .filter_map(|(k, w)| self.window(w, &format!("{path}.maintenance[{k}]")))
                    .collect(),
                rules: (s.rules.iter().enumerate())
                    .map(|(k, r)| self.rule(r, &format!("{path}.rules[{k}]"), known))
                    .collect(),
                webhook: s.webhook.as_ref().map(|w| {
                    // A file name is made from it: keep it to an id's characters.
                    if let Err(m) = validate_id(w.get_ref()).and_then(|()| {
                        if w.get_ref().starts_with('.') {
                            Err("a mapping name cannot start with `.`".into())
                        } else {
                            Ok(())
                        }
                    }) {
                        self.err(w.span(), format!("{path}.webhook"), m);
                    }
                    w.get_ref().clone()
                }),
            });
        }
        out
    }

    /// A service's `email`: its local part must be a plain address part,
    /// not another service's, and not look like an integration key.
    fn email(
        &mut self,
        e: &Spanned<RawEmail>,
        path: &str,
        seen: &mut HashMap<String, usize>,
    ) -> EmailIntake {
        let intake = match e.get_ref() {
            RawEmail::LocalPart(l) => EmailIntake {
                local_part: Some(l.clone()),
                ..EmailIntake::default()
            },
            RawEmail::Table(t) => EmailIntake {
                local_part: t.local_part.clone(),
                title: t.title.clone(),
                details: t.details.clone(),
                severity: t.severity.clone(),
                dedup_key: t.dedup_key.clone(),
                resolve_when: t.resolve_when.clone(),
            },
        };
        let Some(local) = &intake.local_part else {
            return intake;
        };
        let local = local.trim().to_ascii_lowercase();
        let field = format!("{path}.local_part");
        let valid = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+'));
        if !valid {
            let m = format!("`{local}` is not a local part: use up to 64 letters, digits, `.`, `-`, `_` or `+`, as in \"db-alerts\"");
            self.err(e.span(), field, m);
        } else if parse_integration_key(&local).is_ok() {
            let m = "looks like an integration key; mail to any service's key already arrives";
            self.err(e.span(), field, m);
        } else if let Some(line) = seen.get(&local) {
            let m = format!("local part already used by the service on line {line}");
            self.err(e.span(), field, m);
        } else {
            seen.insert(local.clone(), line_col(self.text, e.span().start).0);
        }
        EmailIntake {
            local_part: Some(local),
            ..intake
        }
    }

    /// A positive duration of at most a week, or an error at `field`.
    fn short_duration(&mut self, v: &Str, field: String) -> Duration {
        match parse_duration(v.get_ref()) {
            Ok(d) if d <= Duration::days(7) => d,
            Ok(_) => {
                self.err(v.span(), field, "at most 7 days");
                Duration::days(7)
            }
            Err(m) => {
                self.err(v.span(), field, m);
                Duration::minutes(1)
            }
        }
    }

    fn grouping(&mut self, g: &RawGrouping, path: &str) -> Grouping {
        let window = self.short_duration(&g.window, format!("{path}.window"));
        if let Some(key) = &g.key {
            if let Err(e) = minijinja::Environment::new().template_from_str(key.get_ref()) {
                self.err(
                    key.span(),
                    format!("{path}.key"),
                    format!("bad template: {e}"),
                );
            }
        }
        let intelligent = match g.mode.as_ref().map(|m| (m, m.get_ref().as_str())) {
            None | Some((_, "time")) => false,
            Some((_, "intelligent")) => true,
            Some((m, other)) => {
                self.err(
                    m.span(),
                    format!("{path}.mode"),
                    format!(
                        "unknown grouping mode {other:?}: expected \"time\" or \"intelligent\""
                    ),
                );
                false
            }
        };
        if let (true, Some(key)) = (intelligent, &g.key) {
            self.err(
                key.span(),
                format!("{path}.key"),
                "a key and mode = \"intelligent\" cannot be combined: intelligent grouping compares titles and fields",
            );
        }
        Grouping {
            window,
            key: g.key.as_ref().map(|k| k.get_ref().clone()),
            intelligent,
        }
    }

    fn flapping(&mut self, f: &RawFlapping, path: &str) -> Flapping {
        let window = self.short_duration(&f.window, format!("{path}.window"));
        let count = *f.count.get_ref();
        if count == 0 {
            self.err(
                f.count.span(),
                format!("{path}.count"),
                "count must be at least 1",
            );
        }
        Flapping { count, window }
    }

    fn window(&mut self, w: &Spanned<RawWindow>, path: &str) -> Option<MaintenanceWindow> {
        let raw = w.get_ref();
        let mut instant = |v: &Str, field: &str| {
            let parsed = chrono::DateTime::parse_from_rfc3339(v.get_ref())
                .map(|t| t.with_timezone(&chrono::Utc))
                .map_err(|e| {
                    format!(
                        "`{}` is not an RFC 3339 time like 2026-12-01T22:00:00Z ({e})",
                        v.get_ref()
                    )
                });
            match parsed {
                Ok(t) => Some(t),
                Err(m) => {
                    self.err(v.span(), format!("{path}.{field}"), m);
                    None
                }
            }
        };
        let (from, to) = (instant(&raw.from, "from")?, instant(&raw.to, "to")?);
        if to <= from {
            self.err(
                raw.to.span(),
                format!("{path}.to"),
                "a window must end after it starts",
            );
            return None;
        }
        Some(MaintenanceWindow {
            from,
            to,
            reason: raw.reason.clone(),
        })
    }

    fn rule(&mut self, r: &Spanned<RawRule>, path: &str, known: &Known) -> Rule {
        let raw = r.get_ref();
        if raw.when.is_empty() {
            self.err(
                r.span(),
                format!("{path}.when"),
                "a rule needs at least one condition in `when`",
            );
        }
        let when = (raw.when.iter().enumerate())
            .filter_map(|(k, c)| self.condition(c, &format!("{path}.when[{k}]")))
            .collect();
        let action = match raw.action.as_ref().map(|a| (a, a.get_ref().as_str())) {
            None | Some((_, "continue")) => RuleAction::Continue,
            Some((_, "suppress")) => RuleAction::Suppress,
            Some((_, "drop")) => RuleAction::Drop,
            Some((a, other)) => {
                let m = format!(
                    "invalid action `{other}`: expected \"suppress\", \"drop\" or \"continue\""
                );
                self.err(a.span(), format!("{path}.action"), m);
                RuleAction::Continue
            }
        };
        let severity = raw.severity.as_ref().and_then(|v| {
            let parsed = Severity::parse(v.get_ref());
            if parsed.is_none() {
                let m = format!(
                    "invalid severity `{}`: expected critical, error, warning or info",
                    v.get_ref()
                );
                self.err(v.span(), format!("{path}.severity"), m);
            }
            parsed
        });
        let urgency = raw
            .urgency
            .as_ref()
            .and_then(|v| match v.get_ref().as_str() {
                "high" => Some(Urgency::High),
                "low" => Some(Urgency::Low),
                other => {
                    let m = format!("invalid urgency `{other}`: expected \"high\" or \"low\"");
                    self.err(v.span(), format!("{path}.urgency"), m);
                    None
                }
            });
        if let Some(route) = &raw.route {
            self.check_ref(&known.services, "service", route, format!("{path}.route"));
        }
        Rule {
            when,
            action,
            severity,
            urgency,
            route: raw.route.as_ref().map(|r| r.get_ref().clone()),
        }
    }

    fn condition(&mut self, c: &Spanned<RawCondition>, path: &str) -> Option<Condition> {
        let raw = c.get_ref();
        let field = raw.field.get_ref().clone();
        let known_field = matches!(
            field.as_str(),
            "summary" | "source" | "severity" | "component" | "group" | "class" | "outlier"
        ) || field
            .strip_prefix("custom_details.")
            .is_some_and(|p| !p.is_empty());
        if !known_field {
            let m = format!(
                "unknown field `{field}`: expected summary, source, severity, component, group, class, outlier or custom_details.PATH"
            );
            self.err(raw.field.span(), format!("{path}.field"), m);
        }
        let mut ops: Vec<Op> = vec![];
        if let Some(v) = &raw.equals {
            ops.push(Op::Equals(v.clone()));
        }
        if let Some(v) = &raw.contains {
            ops.push(Op::Contains(v.clone()));
        }
        if let Some(v) = &raw.matches {
            match regex::Regex::new(v) {
                Ok(re) => ops.push(Op::Matches(re)),
                Err(e) => {
                    self.err(
                        c.span(),
                        format!("{path}.matches"),
                        format!("invalid regex: {e}"),
                    );
                    return None;
                }
            }
        }
        for (v, op) in [
            (raw.gt, Op::Gt as fn(f64) -> Op),
            (raw.gte, Op::Gte),
            (raw.lt, Op::Lt),
            (raw.lte, Op::Lte),
        ] {
            if let Some(v) = v {
                if v.is_nan() {
                    self.err(
                        c.span(),
                        path.to_string(),
                        "a comparison needs a number, not nan",
                    );
                    return None;
                }
                ops.push(op(v));
            }
        }
        let label = matches!(ops.as_slice(), [Op::Equals(v)] if ["frequent", "rare", "anomaly"].contains(&v.as_str()));
        if field == "outlier" && !label {
            let m = "outlier is compared with equals = \"frequent\", \"rare\" or \"anomaly\"";
            self.err(c.span(), path.to_string(), m);
            return None;
        }
        match ops.len() {
            1 => Some(Condition {
                field,
                op: ops.remove(0),
            }),
            _ => {
                let m = "give exactly one of equals, contains, matches, gt, gte, lt, lte";
                self.err(c.span(), path.to_string(), m);
                None
            }
        }
    }

    fn heartbeat(
        &mut self,
        h: &RawHeartbeat,
        path: &str,
        seen: &mut HashMap<String, usize>,
    ) -> Heartbeat {
        let id = h.id.get_ref().clone();
        if let Err(m) = validate_id(&id) {
            self.err(h.id.span(), format!("{path}.id"), m);
        } else if let Some(line) = seen.get(&format!("id:{id}")) {
            let m = format!("heartbeat id already used on line {line}");
            self.err(h.id.span(), format!("{path}.id"), m);
        } else {
            seen.insert(format!("id:{id}"), line_col(self.text, h.id.span().start).0);
        }
        let interval = match parse_duration(h.interval.get_ref()) {
            Ok(d) if d >= Duration::minutes(1) => d,
            Ok(_) => {
                let m = "interval must be at least a minute";
                self.err(h.interval.span(), format!("{path}.interval"), m);
                Duration::minutes(1)
            }
            Err(m) => {
                self.err(h.interval.span(), format!("{path}.interval"), m);
                Duration::minutes(1)
            }
        };
        let token = match parse_integration_key(h.token.get_ref()) {
            Ok(t) => {
                if let Some(line) = seen.get(&format!("token:{t}")) {
                    let m = format!("token already used by the heartbeat on line {line}");
                    self.err(h.token.span(), format!("{path}.token"), m);
                } else {
                    seen.insert(
                        format!("token:{t}"),
                        line_col(self.text, h.token.span().start).0,
                    );
                }
                t
            }
            Err(m) => {
                self.err(h.token.span(), format!("{path}.token"), m);
                String::new()
            }
        };
        Heartbeat {
            id,
            interval,
            token,
        }
    }
}
