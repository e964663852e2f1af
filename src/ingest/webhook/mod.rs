//! Generic webhooks (`POST /integrations/webhook/{key}`): any JSON payload,
//! mapped to an alert by minijinja expressions in `templates/integrations/`.
//!
//! A mapping is a TOML file whose values are minijinja *expressions* (not
//! `{{ }}` templates). They see the payload as `payload`, each top-level key
//! of an object payload directly (`title` is `payload.title`), and any
//! `[vars]` defined before them. Missing keys are undefined rather than
//! errors, so `data.issue.title or data.event.title` works on either shape.
//! Besides the minijinja builtins there are two filters: `fromjson` (a JSON
//! string to a value, for envelopes such as SNS that carry JSON inside a
//! string) and `urlencode` (percent-encoding for building links).
//!
//! Fields, all optional except `title`:
//!
//! | field          | meaning |
//! |----------------|---------|
//! | `display_name` | plain string, not an expression: the tool's name, shown as the link text and used as the default source |
//! | `[vars]`       | `name = expression` pairs evaluated first, in file order; each later expression can use the name. A TOML table runs to the end of the file, so `[vars]` goes last |
//! | `confirm_url`  | a non-empty result is a subscription handshake URL ([`Mapped::ConfirmSubscription`]); only `https://sns.*.amazonaws.com` URLs are accepted |
//! | `ignore`       | a truthy result means the payload asks for nothing ([`Mapped::Ignore`]); a string result is the reason given |
//! | `resolve`      | truthy: resolve the alert with this dedup key (wins over `acknowledge`) |
//! | `acknowledge`  | truthy: acknowledge the alert with this dedup key |
//! | `dedup_key`    | groups payloads into one alert; empty or absent: a hash of the rendered title. Over [`MAX_DEDUP_KEY`] bytes it keeps a prefix plus a hash of the whole |
//! | `title`        | required; the incident summary, clipped to [`MAX_SUMMARY`] characters |
//! | `message`      | longer text: custom details are `{"message": …, "payload": <the raw payload>}` |
//! | `severity`     | `critical`, `error`, `warning` or `info` (any case); anything else, or absent, is `error` so an unrated alert still pages |
//! | `source`       | the affected system; empty or absent: `display_name`, else the mapping name |
//! | `source_link`  | an `http(s)` URL to the alert in the tool (the alert's `client_url`, shown as `display_name`); anything else is dropped |
//! | `component`, `group`, `class` | as in the Events API |
//!
//! They are evaluated in the order `vars`, `confirm_url`, `ignore`, `resolve`,
//! `acknowledge`, `dedup_key`, then (for a trigger, or a resolve without a
//! dedup key) the rest. A runtime error in any of them never loses the
//! alert: [`apply`] falls back to a raw-payload incident and returns the error.

use super::{AlertAction, AlertEvent};
use crate::incident::{AlertDetails, Severity};
use minijinja::{Environment, Expression, UndefinedBehavior};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;
use toml::Spanned;

pub const MAX_SUMMARY: usize = 1024;
pub const MAX_DEDUP_KEY: usize = 255;

const BUILTIN_NAMES: &[&str] = &[
    "cloudwatch",
    "datadog",
    "newrelic",
    "sentry",
    "uptime-kuma",
    "zabbix",
];

fn builtin_text(name: &str) -> Option<&'static str> {
    Some(match name {
        "cloudwatch" => include_str!("../../../templates/integrations/cloudwatch.toml"),
        "datadog" => include_str!("../../../templates/integrations/datadog.toml"),
        "newrelic" => include_str!("../../../templates/integrations/newrelic.toml"),
        "sentry" => include_str!("../../../templates/integrations/sentry.toml"),
        "uptime-kuma" => include_str!("../../../templates/integrations/uptime-kuma.toml"),
        "zabbix" => include_str!("../../../templates/integrations/zabbix.toml"),
        _ => return None,
    })
}

/// A problem with a mapping, located in its file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template integrations/{template}.toml, line {line}: {field}: {message}")]
pub struct MappingError {
    pub template: String,
    pub line: usize,
    pub field: String,
    pub message: String,
}

/// What a payload means.
#[derive(Debug, Clone, PartialEq)]
pub enum Mapped {
    Event(AlertEvent),
    /// AWS SNS subscription handshake: the caller must GET this URL to confirm.
    ConfirmSubscription {
        url: String,
    },
    /// The payload asks for nothing (an SNS UnsubscribeConfirmation, a Sentry
    /// installation ping, a test notification); the reason says which.
    Ignore(String),
}

/// One compiled field, with where it came from for error messages.
struct Expr {
    field: String,
    /// The line of the value in the file, and of the expression's first line
    /// (the next one for a multi-line string that starts with a newline).
    line: usize,
    body_line: usize,
    expr: Expression<'static, 'static>,
}

/// A compiled mapping file.
pub struct Mapping {
    pub name: String,
    display_name: Option<String>,
    vars: Vec<(String, Expr)>,
    title: Expr,
    message: Option<Expr>,
    severity: Option<Expr>,
    dedup_key: Option<Expr>,
    resolve: Option<Expr>,
    acknowledge: Option<Expr>,
    source: Option<Expr>,
    source_link: Option<Expr>,
    component: Option<Expr>,
    group: Option<Expr>,
    class: Option<Expr>,
    ignore: Option<Expr>,
    confirm_url: Option<Expr>,
}

impl fmt::Debug for Mapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Expressions print their whole environment; the field list is what helps.
        let mut fields: Vec<&str> = self.vars.iter().map(|(_, e)| e.field.as_str()).collect();
        fields.extend(self.exprs().iter().flatten().map(|e| e.field.as_str()));
        f.debug_struct("Mapping")
            .field("name", &self.name)
            .field("fields", &fields)
            .finish()
    }
}

/// The file as written; spans locate each expression for error messages.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    display_name: Option<String>,
    #[serde(default)]
    vars: BTreeMap<String, Spanned<String>>,
    title: Option<Spanned<String>>,
    message: Option<Spanned<String>>,
    severity: Option<Spanned<String>>,
    dedup_key: Option<Spanned<String>>,
    resolve: Option<Spanned<String>>,
    acknowledge: Option<Spanned<String>>,
    source: Option<Spanned<String>>,
    source_link: Option<Spanned<String>>,
    component: Option<Spanned<String>>,
    group: Option<Spanned<String>>,
    class: Option<Spanned<String>>,
    ignore: Option<Spanned<String>>,
    confirm_url: Option<Spanned<String>>,
}

/// One environment for every mapping, so compiled expressions can be `'static`.
fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // Payloads vary by event type; a missing key should read as empty, not abort.
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        env.add_filter("fromjson", fromjson);
        env.add_filter("urlencode", urlencode);
        env
    })
}

fn fromjson(v: minijinja::Value) -> Result<minijinja::Value, minijinja::Error> {
    if v.is_undefined() || v.is_none() {
        return Ok(v);
    }
    let Some(s) = v.as_str() else {
        return Err(minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            "fromjson expects a string",
        ));
    };
    serde_json::from_str::<Value>(s)
        .map(|j| minijinja::Value::from_serialize(&j))
        .map_err(|e| {
            minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                format!("fromjson: not valid JSON: {e}"),
            )
        })
}

/// Percent-encodes everything but RFC 3986 unreserved characters, so the
/// result is safe in any part of a URL (path, query or fragment).
fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// 1-based line of a byte offset.
fn line_at(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

fn describe(e: &minijinja::Error) -> String {
    match e.detail() {
        Some(d) => format!("{}: {d}", e.kind()),
        None => e.kind().to_string(),
    }
}

impl Mapping {
    /// Parses and compiles a mapping file; every expression is compiled now so
    /// a syntax error is reported with its line in the `.toml` file.
    pub fn parse(name: &str, toml_text: &str) -> Result<Mapping, Vec<MappingError>> {
        let err = |line: usize, field: &str, message: String| MappingError {
            template: name.to_string(),
            line,
            field: field.to_string(),
            message,
        };
        let file: File = toml::from_str(toml_text).map_err(|e| {
            let line = e.span().map_or(1, |s| line_at(toml_text, s.start));
            vec![err(line, "toml", e.message().trim().to_string())]
        })?;
        let mut errors = Vec::new();
        let mut compile = |field: &str, src: Option<Spanned<String>>| -> Option<Expr> {
            let src = src?;
            let span = src.span();
            let value_line = line_at(toml_text, span.start);
            // A multi-line string's body starts after the newline that follows its quotes.
            let raw = toml_text.get(span.clone()).unwrap_or("");
            let skip = usize::from(
                (raw.starts_with("'''") || raw.starts_with("\"\"\""))
                    && matches!(raw.as_bytes().get(3), Some(b'\n' | b'\r')),
            );
            let text = src.into_inner();
            if text.trim().is_empty() {
                // An empty optional field means "not set"; title is checked below.
                return None;
            }
            match compile_guarded(text) {
                Ok(expr) => Some(Expr {
                    field: field.to_string(),
                    line: value_line,
                    body_line: value_line + skip,
                    expr,
                }),
                Err(e) => {
                    let line = value_line + skip + e.line().unwrap_or(1).saturating_sub(1);
                    errors.push(err(line, field, describe(&e)));
                    None
                }
            }
        };

        let mut vars: Vec<_> = file.vars.into_iter().collect();
        vars.sort_by_key(|(_, v)| v.span().start);
        let mut compiled_vars = Vec::new();
        let mut bad_names = Vec::new();
        for (var, src) in vars {
            let field = format!("vars.{var}");
            let valid = var.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid || var == "payload" {
                bad_names.push(err(
                    line_at(toml_text, src.span().start),
                    &field,
                    "variable names are identifiers other than `payload`".into(),
                ));
                continue;
            }
            if let Some(e) = compile(&field, Some(src)) {
                compiled_vars.push((var, e));
            }
        }
        let title_line = file
            .title
            .as_ref()
            .map(|t| line_at(toml_text, t.span().start));
        let title = compile("title", file.title);
        let message = compile("message", file.message);
        let severity = compile("severity", file.severity);
        let dedup_key = compile("dedup_key", file.dedup_key);
        let resolve = compile("resolve", file.resolve);
        let acknowledge = compile("acknowledge", file.acknowledge);
        let source = compile("source", file.source);
        let source_link = compile("source_link", file.source_link);
        let component = compile("component", file.component);
        let group = compile("group", file.group);
        let class = compile("class", file.class);
        let ignore = compile("ignore", file.ignore);
        let confirm_url = compile("confirm_url", file.confirm_url);
        errors.extend(bad_names);
        let title = match (title, title_line) {
            (Some(t), _) => Some(t),
            (None, Some(line)) => {
                // A title that failed to compile is already reported.
                if !errors.iter().any(|e| e.field == "title") {
                    errors.push(err(line, "title", "must not be empty".into()));
                }
                None
            }
            (None, None) => {
                errors.push(err(1, "title", "is required".into()));
                None
            }
        };
        errors.sort_by_key(|e| e.line);
        match title {
            Some(title) if errors.is_empty() => Ok(Mapping {
                name: name.to_string(),
                display_name: file.display_name.filter(|d| !d.trim().is_empty()),
                vars: compiled_vars,
                title,
                message,
                severity,
                dedup_key,
                resolve,
                acknowledge,
                source,
                source_link,
                component,
                group,
                class,
                ignore,
                confirm_url,
            }),
            _ => Err(errors),
        }
    }

    /// Built-in mappings shipped in `templates/integrations/`.
    pub fn builtin(name: &str) -> Option<Result<Mapping, Vec<MappingError>>> {
        builtin_text(name).map(|text| Mapping::parse(name, text))
    }

    pub fn builtin_names() -> &'static [&'static str] {
        BUILTIN_NAMES
    }

    fn exprs(&self) -> [Option<&Expr>; 13] {
        [
            Some(&self.title),
            self.message.as_ref(),
            self.severity.as_ref(),
            self.dedup_key.as_ref(),
            self.resolve.as_ref(),
            self.acknowledge.as_ref(),
            self.source.as_ref(),
            self.source_link.as_ref(),
            self.component.as_ref(),
            self.group.as_ref(),
            self.class.as_ref(),
            self.ignore.as_ref(),
            self.confirm_url.as_ref(),
        ]
    }

    fn client(&self) -> &str {
        self.display_name.as_deref().unwrap_or(&self.name)
    }

    fn error(&self, e: &Expr, message: String) -> MappingError {
        MappingError {
            template: self.name.clone(),
            line: e.line,
            field: e.field.clone(),
            message,
        }
    }

    fn runtime_error(&self, e: &Expr, err: &minijinja::Error) -> MappingError {
        let mut out = self.error(e, describe(err));
        if let Some(l) = err.line() {
            out.line = e.body_line + l.saturating_sub(1);
        }
        out
    }

    fn eval(
        &self,
        e: &Expr,
        ctx: &BTreeMap<String, minijinja::Value>,
    ) -> Result<minijinja::Value, MappingError> {
        e.expr.eval(ctx).map_err(|err| self.runtime_error(e, &err))
    }

    /// A field's value as trimmed text; undefined and none are empty.
    fn text(
        &self,
        e: Option<&Expr>,
        ctx: &BTreeMap<String, minijinja::Value>,
    ) -> Result<String, MappingError> {
        let Some(e) = e else {
            return Ok(String::new());
        };
        let v = self.eval(e, ctx)?;
        if v.is_undefined() || v.is_none() {
            return Ok(String::new());
        }
        Ok(match v.as_str() {
            Some(s) => s.trim().to_string(),
            None => v.to_string().trim().to_string(),
        })
    }

    fn truthy(
        &self,
        e: Option<&Expr>,
        ctx: &BTreeMap<String, minijinja::Value>,
    ) -> Result<bool, MappingError> {
        match e {
            Some(e) => Ok(self.eval(e, ctx)?.is_true()),
            None => Ok(false),
        }
    }

    fn map(&self, routing_key: &str, payload: &Value) -> Result<Mapped, MappingError> {
        let mut ctx = BTreeMap::new();
        if let Value::Object(obj) = payload {
            for (k, v) in obj {
                ctx.insert(k.clone(), minijinja::Value::from_serialize(v));
            }
        }
        ctx.insert("payload".into(), minijinja::Value::from_serialize(payload));
        for (name, e) in &self.vars {
            let v = self.eval(e, &ctx)?;
            ctx.insert(name.clone(), v);
        }

        let url = self.text(self.confirm_url.as_ref(), &ctx)?;
        if !url.is_empty() {
            return Ok(Mapped::ConfirmSubscription { url });
        }
        if let Some(e) = &self.ignore {
            let v = self.eval(e, &ctx)?;
            if v.is_true() {
                let reason = match v.as_str() {
                    Some(s) if !s.trim().is_empty() => s.trim().to_string(),
                    _ => format!("ignored by the {} mapping", self.name),
                };
                return Ok(Mapped::Ignore(reason));
            }
        }
        let action = if self.truthy(self.resolve.as_ref(), &ctx)? {
            Some(AlertAction::Resolve)
        } else if self.truthy(self.acknowledge.as_ref(), &ctx)? {
            Some(AlertAction::Acknowledge)
        } else {
            None
        };
        let dedup_key = self.text(self.dedup_key.as_ref(), &ctx)?;
        let event = |dedup_key: String, action| {
            Mapped::Event(AlertEvent {
                routing_key: routing_key.to_string(),
                dedup_key: clip_key(dedup_key),
                action,
            })
        };
        if let (Some(action), false) = (&action, dedup_key.is_empty()) {
            return Ok(event(dedup_key, action.clone()));
        }

        let title = self.text(Some(&self.title), &ctx)?;
        if title.is_empty() {
            return Err(self.error(&self.title, "evaluated to an empty string".into()));
        }
        let dedup_key = if dedup_key.is_empty() {
            hex::encode(Sha256::digest(title.as_bytes()))
        } else {
            dedup_key
        };
        if let Some(action) = action {
            return Ok(event(dedup_key, action));
        }

        let severity = self.text(self.severity.as_ref(), &ctx)?;
        let severity = Severity::parse(&severity.to_ascii_lowercase()).unwrap_or(Severity::Error);
        let optional = |e: Option<&Expr>| -> Result<Option<String>, MappingError> {
            let s = self.text(e, &ctx)?;
            Ok((!s.is_empty()).then_some(s))
        };
        let message = optional(self.message.as_ref())?;
        let source = optional(self.source.as_ref())?.unwrap_or_else(|| self.client().to_string());
        let source_link = optional(self.source_link.as_ref())?.filter(|u| is_web_url(u));
        let mut details = serde_json::Map::new();
        if let Some(m) = message {
            details.insert("message".into(), Value::String(m));
        }
        details.insert("payload".into(), payload.clone());
        Ok(event(
            dedup_key,
            AlertAction::Trigger(Box::new(AlertDetails {
                summary: clip_summary(&title),
                source,
                severity,
                component: optional(self.component.as_ref())?,
                group: optional(self.group.as_ref())?,
                class: optional(self.class.as_ref())?,
                custom_details: Some(Value::Object(details)),
                links: vec![],
                client: Some(self.client().to_string()),
                client_url: source_link,
            })),
        ))
    }
}

/// Applies a mapping. A runtime error never loses the alert: the payload
/// becomes a raw incident (see [`raw_fallback`]) and the error comes back too,
/// for the caller to log.
pub fn apply(
    mapping: &Mapping,
    routing_key: &str,
    payload: &Value,
) -> (Mapped, Option<MappingError>) {
    match mapping.map(routing_key, payload) {
        Ok(Mapped::ConfirmSubscription { url }) if !is_sns_url(&url) => {
            // The caller fetches this URL, so a forged handshake must not aim it elsewhere.
            let field = mapping.confirm_url.as_ref();
            let e = MappingError {
                template: mapping.name.clone(),
                line: field.map_or(1, |e| e.line),
                field: "confirm_url".into(),
                message: format!(
                    "refusing to confirm a subscription at {url:?}: not an https SNS URL"
                ),
            };
            (Mapped::Ignore(e.message.clone()), Some(e))
        }
        Ok(m) => (m, None),
        Err(e) => {
            let why = format!("{}: {}", e.field, e.message);
            (
                Mapped::Event(raw_fallback(&mapping.name, routing_key, payload, &why)),
                Some(e),
            )
        }
    }
}

/// An incident for a payload no mapping could read: the raw payload is kept,
/// and retries of the same payload land on the same alert.
pub fn raw_fallback(mapping: &str, routing_key: &str, payload: &Value, why: &str) -> AlertEvent {
    let canonical = serde_json::to_string(payload).unwrap_or_default();
    let hash = hex::encode(Sha256::digest(canonical.as_bytes()));
    AlertEvent {
        routing_key: routing_key.to_string(),
        dedup_key: format!("unmapped-{hash}"),
        action: AlertAction::Trigger(Box::new(AlertDetails {
            summary: clip_summary(&format!("Webhook mapping {mapping} failed: {why}")),
            source: mapping.to_string(),
            severity: Severity::Error,
            component: None,
            group: None,
            class: None,
            custom_details: Some(json!({"mapping_error": why, "payload": payload})),
            links: vec![],
            client: Some(mapping.to_string()),
            client_url: None,
        })),
    }
}

fn clip_summary(s: &str) -> String {
    if s.chars().count() <= MAX_SUMMARY {
        return s.to_string();
    }
    let mut out: String = s.chars().take(MAX_SUMMARY - 1).collect();
    out.push('…');
    out
}

/// Keys longer than the limit keep a readable prefix plus a hash of the
/// whole key, so two long keys that share a prefix stay distinct alerts.
fn clip_key(k: String) -> String {
    if k.len() <= MAX_DEDUP_KEY {
        return k;
    }
    let hash = hex::encode(Sha256::digest(k.as_bytes()));
    let mut cut = MAX_DEDUP_KEY - hash.len() - 1;
    while !k.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}~{hash}", &k[..cut])
}

fn is_web_url(s: &str) -> bool {
    url::Url::parse(s).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
}

fn is_sns_url(s: &str) -> bool {
    url::Url::parse(s).is_ok_and(|u| {
        u.scheme() == "https"
            && u.host_str().is_some_and(|h| {
                h.starts_with("sns.")
                    && (h.ends_with(".amazonaws.com") || h.ends_with(".amazonaws.com.cn"))
            })
    })
}

/// Compiles an expression. minijinja 2.24's lexer panics on some input that
/// starts with `}}` ("empty lexer stack"); a file a person wrote must get an
/// error, not bring tocsin down, so a panic becomes a syntax error here.
fn compile_guarded(text: String) -> Result<Expression<'static, 'static>, minijinja::Error> {
    let compiled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        env().compile_expression_owned(text)
    }));
    compiled.unwrap_or_else(|_| {
        Err(minijinja::Error::new(
            minijinja::ErrorKind::SyntaxError,
            "the expression cannot be parsed (is there a stray `}}`?)",
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expression_that_crashes_the_lexer_is_a_syntax_error() {
        let e = Mapping::parse("x", "title = '}}<'\n").err().unwrap();
        assert_eq!((e[0].field.as_str(), e[0].line), ("title", 1), "{e:?}");
    }

    const KEY: &str = "5f0c1e9a7b3d4c2e8f6a0b1c2d3e4f5a";

    macro_rules! fixtures {
        ($($name:literal),* $(,)?) => {
            &[$(($name, include_str!(concat!("../../../tests/fixtures/integrations/", $name, ".json")))),*]
        };
    }
    const FIXTURES: &[(&str, &str)] = fixtures![
        "cloudwatch",
        "cloudwatch-ok",
        "cloudwatch-subscription",
        "cloudwatch-unsubscribe",
        "datadog",
        "datadog-recovered",
        "newrelic",
        "newrelic-acknowledged",
        "newrelic-closed",
        "sentry",
        "sentry-event-alert",
        "sentry-installation",
        "sentry-metric-alert",
        "sentry-resolved",
        "uptime-kuma",
        "uptime-kuma-test",
        "uptime-kuma-up",
        "zabbix",
        "zabbix-ack",
        "zabbix-recovery",
    ];

    fn fixture(name: &str) -> Value {
        let (_, text) = FIXTURES
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no fixture {name}"));
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn builtin(name: &str) -> Mapping {
        match Mapping::builtin(name) {
            Some(Ok(m)) => m,
            Some(Err(errs)) => panic!("{name}: {errs:#?}"),
            None => panic!("no builtin {name}"),
        }
    }

    fn map(mapping: &str, fixture_name: &str) -> Mapped {
        let (mapped, err) = apply(&builtin(mapping), KEY, &fixture(fixture_name));
        assert_eq!(err, None, "{fixture_name}");
        mapped
    }

    enum Want<'a> {
        Trigger {
            title: &'a str,
            severity: Severity,
            link: Option<&'a str>,
        },
        Resolve,
        Acknowledge,
    }

    fn check(mapping: &str, fixture_name: &str, dedup_key: &str, want: Want) {
        let Mapped::Event(ev) = map(mapping, fixture_name) else {
            panic!("{fixture_name}: not an event");
        };
        assert_eq!(ev.routing_key, KEY);
        assert_eq!(ev.dedup_key, dedup_key, "{fixture_name}");
        match (ev.action, want) {
            (
                AlertAction::Trigger(d),
                Want::Trigger {
                    title,
                    severity,
                    link,
                },
            ) => {
                assert_eq!(d.summary, title, "{fixture_name}");
                assert_eq!(d.severity, severity, "{fixture_name}");
                assert_eq!(d.client_url.as_deref(), link, "{fixture_name}");
                assert!(!d.source.is_empty(), "{fixture_name}");
                let payload = d.custom_details.as_ref().and_then(|c| c.get("payload"));
                assert_eq!(payload, Some(&fixture(fixture_name)), "{fixture_name}");
            }
            (AlertAction::Resolve, Want::Resolve)
            | (AlertAction::Acknowledge, Want::Acknowledge) => {}
            (got, _) => panic!("{fixture_name}: unexpected {got:?}"),
        }
    }

    #[test]
    fn every_builtin_mapping_parses() {
        let mut names = Mapping::builtin_names().to_vec();
        names.sort_unstable();
        assert_eq!(names, Mapping::builtin_names(), "kept sorted");
        for name in Mapping::builtin_names() {
            let m = builtin(name);
            assert_eq!(m.name, *name);
            // Every mapping ships with at least one example payload.
            assert!(FIXTURES.iter().any(|(f, _)| f.starts_with(name)), "{name}");
        }
        assert!(Mapping::builtin("nagios").is_none());
    }

    #[test]
    fn datadog_triggers_and_recovers() {
        check(
            "datadog",
            "datadog",
            "9bd4ac313a4d1e8fae2482df7b77628",
            Want::Trigger {
                title: "[P1] [Triggered on {host:web-03}] CPU usage is high on web-03",
                severity: Severity::Critical,
                link: Some("https://app.datadoghq.com/event/event?id=7435837262713592840"),
            },
        );
        check(
            "datadog",
            "datadog-recovered",
            "9bd4ac313a4d1e8fae2482df7b77628",
            Want::Resolve,
        );
        // A warning transition is a warning whatever the priority.
        let mut warn = fixture("datadog");
        warn["alert_transition"] = json!("Warn");
        let Mapped::Event(ev) = apply(&builtin("datadog"), KEY, &warn).0 else {
            panic!("not an event")
        };
        let AlertAction::Trigger(d) = ev.action else {
            panic!("not a trigger")
        };
        assert_eq!(d.severity, Severity::Warning);
        assert_eq!(d.source, "web-03");
        assert_eq!(d.group.as_deref(), Some("Acme Corp"));
        assert_eq!(d.client.as_deref(), Some("Datadog"));
    }

    const ALARM_ARN: &str = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:prod-db-cpu-high";

    #[test]
    fn cloudwatch_reads_the_alarm_inside_the_sns_envelope() {
        check(
            "cloudwatch",
            "cloudwatch",
            ALARM_ARN,
            Want::Trigger {
                title: "prod-db-cpu-high in US East (N. Virginia)",
                severity: Severity::Error,
                link: Some("https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#alarmsV2:alarm/prod-db-cpu-high"),
            },
        );
        check("cloudwatch", "cloudwatch-ok", ALARM_ARN, Want::Resolve);
        let Mapped::Event(ev) = map("cloudwatch", "cloudwatch") else {
            panic!("not an event")
        };
        let AlertAction::Trigger(d) = ev.action else {
            panic!("not a trigger")
        };
        assert_eq!(d.source, "prod-db-1");
        assert_eq!(d.component.as_deref(), Some("AWS/RDS"));
        let message = d.custom_details.as_ref().and_then(|c| c.get("message"));
        assert!(message
            .and_then(Value::as_str)
            .is_some_and(|m| m.starts_with("Threshold Crossed")));

        // Raw message delivery posts the alarm itself.
        let Some(inner) = fixture("cloudwatch")["Message"]
            .as_str()
            .map(str::to_string)
        else {
            panic!("no Message")
        };
        let raw: Value = serde_json::from_str(&inner).unwrap();
        let Mapped::Event(ev) = apply(&builtin("cloudwatch"), KEY, &raw).0 else {
            panic!("not an event")
        };
        assert_eq!(ev.dedup_key, ALARM_ARN);
    }

    #[test]
    fn cloudwatch_confirms_sns_subscriptions_and_ignores_unsubscribes() {
        let sub = fixture("cloudwatch-subscription");
        assert_eq!(
            map("cloudwatch", "cloudwatch-subscription"),
            Mapped::ConfirmSubscription {
                url: sub["SubscribeURL"].as_str().unwrap_or_default().to_string()
            }
        );
        let Mapped::Ignore(why) = map("cloudwatch", "cloudwatch-unsubscribe") else {
            panic!("not ignored")
        };
        assert!(why.contains("unsubscribe"), "{why}");

        // A forged handshake must not make the caller fetch an arbitrary URL.
        for url in [
            "http://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription",
            "https://169.254.169.254/latest/meta-data/",
            "https://sns.us-east-1.amazonaws.com.evil.example/",
        ] {
            let mut forged = sub.clone();
            forged["SubscribeURL"] = json!(url);
            let (mapped, err) = apply(&builtin("cloudwatch"), KEY, &forged);
            assert!(matches!(mapped, Mapped::Ignore(_)), "{url}: {mapped:?}");
            assert_eq!(err.map(|e| e.field), Some("confirm_url".into()), "{url}");
        }
    }

    #[test]
    fn cloudwatch_message_that_is_not_json_falls_back() {
        let mut bad = fixture("cloudwatch");
        bad["Message"] = json!("{not json");
        let (mapped, err) = apply(&builtin("cloudwatch"), KEY, &bad);
        let err = err.expect("an error");
        assert_eq!(err.field, "vars.alarm");
        assert!(err.message.contains("fromjson"), "{err}");
        let Mapped::Event(ev) = mapped else {
            panic!("not an event")
        };
        assert!(ev.dedup_key.starts_with("unmapped-"));
    }

    #[test]
    fn zabbix_problems_recoveries_and_acknowledgements() {
        check(
            "zabbix",
            "zabbix",
            "4821936",
            Want::Trigger {
                title: "High CPU utilization (over 90% for 5m) on db-primary-01",
                severity: Severity::Error,
                link: Some(
                    "https://zabbix.example.com/tr_events.php?triggerid=23671&eventid=4821936",
                ),
            },
        );
        check("zabbix", "zabbix-recovery", "4821936", Want::Resolve);
        check("zabbix", "zabbix-ack", "4821936", Want::Acknowledge);

        let severity = |name: &str, n: &str| {
            let mut p = fixture("zabbix");
            p["event_severity"] = json!(name);
            p["event_nseverity"] = json!(n);
            match apply(&builtin("zabbix"), KEY, &p).0 {
                Mapped::Event(AlertEvent {
                    action: AlertAction::Trigger(d),
                    ..
                }) => d.severity,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(severity("Disaster", "5"), Severity::Critical);
        assert_eq!(severity("Average", "3"), Severity::Warning);
        assert_eq!(severity("Warning", "2"), Severity::Warning);
        assert_eq!(severity("Information", "1"), Severity::Info);
        assert_eq!(severity("Not classified", "0"), Severity::Info);
        // A renamed severity falls back to its number.
        assert_eq!(severity("Sev-1", "5"), Severity::Critical);

        let mut comment = fixture("zabbix-ack");
        comment["event_ack_status"] = json!("No");
        comment["event_update_action"] = json!("commented");
        let (mapped, _) = apply(&builtin("zabbix"), KEY, &comment);
        assert!(matches!(mapped, Mapped::Ignore(_)), "{mapped:?}");
    }

    #[test]
    fn sentry_issues_event_alerts_and_metric_alerts() {
        check(
            "sentry",
            "sentry",
            "issue-4521983377",
            Want::Trigger {
                title: "ZeroDivisionError: division by zero",
                severity: Severity::Error,
                link: Some("https://acme.sentry.io/issues/4521983377/"),
            },
        );
        check(
            "sentry",
            "sentry-resolved",
            "issue-4521983377",
            Want::Resolve,
        );
        check(
            "sentry",
            "sentry-event-alert",
            "issue-4521990012",
            Want::Trigger {
                title: "PaymentGatewayTimeout: gateway did not answer in 30s",
                severity: Severity::Critical,
                link: Some("https://acme.sentry.io/issues/4521990012/events/a3f6c6a4c2b84e1f9e4b9b0f0d6c2e11/"),
            },
        );
        check(
            "sentry",
            "sentry-metric-alert",
            "metric-alert-1042",
            Want::Trigger {
                title: "Critical: p95 checkout latency",
                severity: Severity::Critical,
                link: Some("https://acme.sentry.io/alerts/rules/details/87/?alert=1042"),
            },
        );
        let mut resolved = fixture("sentry-metric-alert");
        resolved["action"] = json!("resolved");
        let Mapped::Event(ev) = apply(&builtin("sentry"), KEY, &resolved).0 else {
            panic!("not an event")
        };
        assert_eq!(ev.action, AlertAction::Resolve);
        assert_eq!(ev.dedup_key, "metric-alert-1042");

        let Mapped::Ignore(why) = map("sentry", "sentry-installation") else {
            panic!("not ignored")
        };
        assert!(why.contains("installation"), "{why}");
    }

    #[test]
    fn uptime_kuma_down_up_and_test() {
        check(
            "uptime-kuma",
            "uptime-kuma",
            "monitor-7",
            Want::Trigger {
                title: "Storefront is down",
                severity: Severity::Critical,
                link: Some("https://shop.example.com/health"),
            },
        );
        check("uptime-kuma", "uptime-kuma-up", "monitor-7", Want::Resolve);
        let Mapped::Ignore(why) = map("uptime-kuma", "uptime-kuma-test") else {
            panic!("not ignored")
        };
        assert!(why.contains("test"), "{why}");
        let mut pending = fixture("uptime-kuma");
        pending["heartbeat"]["status"] = json!(2);
        assert!(matches!(
            apply(&builtin("uptime-kuma"), KEY, &pending).0,
            Mapped::Ignore(_)
        ));
    }

    #[test]
    fn newrelic_activated_acknowledged_closed() {
        let id = "c0a8012e-6f3b-4b8e-9d41-2f1a7e9c5b10";
        check(
            "newrelic",
            "newrelic",
            id,
            Want::Trigger {
                title: "Error rate > 5% for at least 5 minutes on 'checkout-api'",
                severity: Severity::Critical,
                link: Some("https://radar-api.service.newrelic.com/accounts/3456789/issues/c0a8012e-6f3b-4b8e-9d41-2f1a7e9c5b10?notifier=WEBHOOK"),
            },
        );
        check("newrelic", "newrelic-acknowledged", id, Want::Acknowledge);
        check("newrelic", "newrelic-closed", id, Want::Resolve);
        let Mapped::Event(ev) = map("newrelic", "newrelic") else {
            panic!("not an event")
        };
        let AlertAction::Trigger(d) = ev.action else {
            panic!("not a trigger")
        };
        assert_eq!(d.source, "checkout-api");

        // New Relic's own variable names work too.
        let p = json!({"issueId": "abc", "issueTitle": "Disk full", "priority": "LOW",
                       "state": "ACTIVATED", "issuePageUrl": "https://one.newrelic.com/x"});
        let Mapped::Event(ev) = apply(&builtin("newrelic"), KEY, &p).0 else {
            panic!("not an event")
        };
        assert_eq!(ev.dedup_key, "abc");
        let AlertAction::Trigger(d) = ev.action else {
            panic!("not a trigger")
        };
        assert_eq!(
            (d.summary.as_str(), d.severity),
            ("Disk full", Severity::Info)
        );
    }

    fn parse_err(text: &str) -> Vec<MappingError> {
        match Mapping::parse("custom", text) {
            Ok(m) => panic!("parsed: {m:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn syntax_errors_name_the_field_and_line() {
        let errs = parse_err("# a comment\ntitle = 'alert.name'\nseverity = 'level |'\n");
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!((errs[0].field.as_str(), errs[0].line), ("severity", 3));
        assert_eq!(
            errs[0].to_string().split(':').next(),
            Some("template integrations/custom.toml, line 3")
        );

        // Inside a multi-line string the line is the line of the bad token.
        let errs = parse_err(
            "title = 'x'\nresolve = '''\nstate == \"ok\"\n  and )\n'''\ndedup_key = 'a b'\n",
        );
        let got: Vec<_> = errs.iter().map(|e| (e.field.as_str(), e.line)).collect();
        assert_eq!(got, [("resolve", 4), ("dedup_key", 6)], "{errs:?}");

        let errs = parse_err("message = 'x'\n");
        assert_eq!((errs[0].field.as_str(), errs[0].line), ("title", 1));
        let errs = parse_err("\ntitle = ''\n");
        assert_eq!((errs[0].field.as_str(), errs[0].line), ("title", 2));
        let errs = parse_err("title = 'x'\n\ntitel = 'y'\n");
        assert_eq!((errs[0].field.as_str(), errs[0].line), ("toml", 3));
        assert!(errs[0].message.contains("titel"), "{errs:?}");
        let errs = parse_err("title = 'x'\nseverity = 3\n");
        assert_eq!((errs[0].field.as_str(), errs[0].line), ("toml", 2));
        let errs = parse_err("title = 'x'\n[vars]\npayload = '1'\n\"a-b\" = '2'\n");
        let got: Vec<_> = errs.iter().map(|e| (e.field.as_str(), e.line)).collect();
        assert_eq!(got, [("vars.payload", 3), ("vars.a-b", 4)]);
    }

    #[test]
    fn runtime_errors_fall_back_to_a_raw_incident() {
        let m = Mapping::parse(
            "custom",
            "display_name = 'Custom'\n\ntitle = 'name | no_such_filter'\n",
        )
        .unwrap();
        let payload = json!({"name": "db down", "n": 1});
        let (mapped, err) = apply(&m, KEY, &payload);
        let err = err.expect("the error comes back");
        assert_eq!((err.field.as_str(), err.line), ("title", 3));
        assert!(err.message.contains("no_such_filter"), "{err}");
        let Mapped::Event(ev) = mapped else {
            panic!("not an event")
        };
        let AlertAction::Trigger(d) = &ev.action else {
            panic!("not a trigger")
        };
        assert!(
            d.summary
                .starts_with("Webhook mapping custom failed: title:"),
            "{}",
            d.summary
        );
        assert_eq!(d.severity, Severity::Error);
        assert_eq!(
            d.custom_details.as_ref().map(|c| &c["payload"]),
            Some(&payload)
        );
        assert!(ev.dedup_key.starts_with("unmapped-"));
        // A retry of the same payload joins the same alert; another payload does not.
        let Mapped::Event(again) = apply(&m, KEY, &payload).0 else {
            panic!()
        };
        assert_eq!(again.dedup_key, ev.dedup_key);
        let Mapped::Event(other) = apply(&m, KEY, &json!({"name": "x"})).0 else {
            panic!()
        };
        assert_ne!(other.dedup_key, ev.dedup_key);

        // In a multi-line expression the line is the failing one.
        let m = Mapping::parse(
            "custom",
            "title = 'name'\nseverity = '''\n\"warn\"\n  ~ (name | no_such_filter)\n'''\n",
        )
        .unwrap();
        let (_, err) = apply(&m, KEY, &payload);
        assert_eq!(err.map(|e| (e.field, e.line)), Some(("severity".into(), 4)));

        // Type errors and empty titles are runtime errors too.
        let m = Mapping::parse("custom", "title = 'name'\nseverity = 'n + \"x\"'\n").unwrap();
        let (_, err) = apply(&m, KEY, &payload);
        assert_eq!(err.map(|e| e.field), Some("severity".into()));
        let (mapped, err) = apply(&m, KEY, &json!([1, 2]));
        assert_eq!(err.map(|e| e.field), Some("title".into()));
        assert!(matches!(mapped, Mapped::Event(_)));
    }

    #[test]
    fn defaults_severity_source_and_dedup_key() {
        let m = Mapping::parse(
            "custom",
            "title = 'name'\nseverity = 'level'\nsource_link = 'link'\n[vars]\nx = '1'\n",
        )
        .unwrap();
        let trigger = |p: Value| match apply(&m, KEY, &p) {
            (
                Mapped::Event(AlertEvent {
                    dedup_key,
                    action: AlertAction::Trigger(d),
                    ..
                }),
                None,
            ) => (dedup_key, d),
            other => panic!("{other:?}"),
        };
        let (key, d) =
            trigger(json!({"name": "db down", "level": "WARNING", "link": "javascript:alert(1)"}));
        assert_eq!(key, hex::encode(Sha256::digest(b"db down")));
        assert_eq!(d.severity, Severity::Warning);
        assert_eq!(d.source, "custom");
        assert_eq!(d.client_url, None, "only web links are kept");
        let (_, d) = trigger(json!({"name": "db down", "level": "sev1"}));
        assert_eq!(d.severity, Severity::Error);

        // A resolve without a dedup key finds its alert by the same title hash.
        let m = Mapping::parse("custom", "title = 'name'\nresolve = 'ok'\n").unwrap();
        let Mapped::Event(ev) = apply(&m, KEY, &json!({"name": "db down", "ok": true})).0 else {
            panic!()
        };
        assert_eq!(ev.action, AlertAction::Resolve);
        assert_eq!(ev.dedup_key, key);
    }

    #[test]
    fn summary_and_dedup_key_are_clipped() {
        let m = Mapping::parse("custom", "title = 'name'\ndedup_key = 'id'\n").unwrap();
        let trigger =
            |name: String, id: String| match apply(&m, KEY, &json!({"name": name, "id": id})).0 {
                Mapped::Event(AlertEvent {
                    dedup_key,
                    action: AlertAction::Trigger(d),
                    ..
                }) => (dedup_key, d.summary),
                other => panic!("{other:?}"),
            };
        let (key, summary) = trigger("é".repeat(3000), "k".repeat(1000));
        assert_eq!(summary.chars().count(), MAX_SUMMARY);
        assert!(summary.ends_with('…'));
        assert_eq!(key.len(), MAX_DEDUP_KEY);
        let (other, _) = trigger("x".into(), format!("{}z", "k".repeat(999)));
        assert_ne!(key, other, "long keys with a shared prefix stay distinct");
        let (key, _) = trigger("x".into(), "ü".repeat(200));
        assert!(key.len() <= MAX_DEDUP_KEY);
        let (key, summary) = trigger("x".repeat(MAX_SUMMARY), "k".repeat(MAX_DEDUP_KEY));
        assert_eq!((key.len(), summary.len()), (MAX_DEDUP_KEY, MAX_SUMMARY));
    }

    #[test]
    fn mappings_can_be_shared_across_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Mapping>();
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let key = prop_oneof![
            proptest::sample::select(vec![
                "Type",
                "Message",
                "SubscribeURL",
                "heartbeat",
                "monitor",
                "status",
                "data",
                "issue",
                "event",
                "metric_alert",
                "action",
                "title",
                "state",
                "priority",
                "event_value",
                "event_severity",
                "alert_transition",
                "aggreg_key",
                "id",
            ])
            .prop_map(str::to_string),
            ".{0,8}",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1e300f64..1e300).prop_map(Value::from),
            proptest::sample::select(vec![
                "Notification",
                "SubscriptionConfirmation",
                "UnsubscribeConfirmation",
                "0",
                "1",
                "ALARM",
                "OK",
                "resolved",
                "critical",
                "Recovered",
                "CLOSED",
                "{\"a\":1}",
                "https://sns.us-east-1.amazonaws.com/",
                "",
            ])
            .prop_map(Value::from),
            ".{0,20}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                proptest::collection::btree_map(key.clone(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn apply_never_panics(payload in json_value()) {
            for name in Mapping::builtin_names() {
                let (mapped, _) = apply(&builtin(name), KEY, &payload);
                if let Mapped::Event(ev) = mapped {
                    proptest::prop_assert!(!ev.dedup_key.is_empty());
                    proptest::prop_assert!(ev.dedup_key.len() <= MAX_DEDUP_KEY);
                    if let AlertAction::Trigger(d) = ev.action {
                        proptest::prop_assert!(d.summary.chars().count() <= MAX_SUMMARY);
                    }
                }
            }
        }

        #[test]
        fn parse_never_panics(text in ".{0,200}") {
            let _ = Mapping::parse("p", &text);
        }

        #[test]
        fn parse_never_panics_on_mapping_like_text(
            field in "[a-z_]{1,12}",
            expr in "[a-z\"'|(){}\\[\\]. +~=<>!:,\n-]{0,40}",
            quote in proptest::sample::select(vec!["'", "'''", "\"", "\"\"\""]),
        ) {
            let _ = Mapping::parse("p", &format!("title = 'x'\n{field} = {quote}{expr}{quote}\n"));
            let _ = Mapping::parse("p", &format!("title = {quote}{expr}{quote}\n[vars]\n{field} = 'a'\n"));
        }
    }
}
