//! Compiling a mapping file: the TOML as written, its expressions compiled
//! once against one shared minijinja environment, every problem located by
//! line and field. The built-in mappings live here too.

use super::MappingError;
use minijinja::{Environment, Expression, UndefinedBehavior};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;
use toml::Spanned;

const BUILTIN_NAMES: &[&str] = &[
    "azure-monitor",
    "checkly",
    "cloudwatch",
    "datadog",
    "dynatrace",
    "elastic",
    "gcp-monitoring",
    "github-actions",
    "honeycomb",
    "nagios",
    "newrelic",
    "pingdom",
    "sentry",
    "splunk",
    "statuscake",
    "uptime-kuma",
    "uptimerobot",
    "zabbix",
];

fn builtin_text(name: &str) -> Option<&'static str> {
    Some(match name {
        "azure-monitor" => include_str!("../../../templates/integrations/azure-monitor.toml"),
        "checkly" => include_str!("../../../templates/integrations/checkly.toml"),
        "cloudwatch" => include_str!("../../../templates/integrations/cloudwatch.toml"),
        "datadog" => include_str!("../../../templates/integrations/datadog.toml"),
        "dynatrace" => include_str!("../../../templates/integrations/dynatrace.toml"),
        "elastic" => include_str!("../../../templates/integrations/elastic.toml"),
        "gcp-monitoring" => include_str!("../../../templates/integrations/gcp-monitoring.toml"),
        "github-actions" => include_str!("../../../templates/integrations/github-actions.toml"),
        "honeycomb" => include_str!("../../../templates/integrations/honeycomb.toml"),
        "nagios" => include_str!("../../../templates/integrations/nagios.toml"),
        "newrelic" => include_str!("../../../templates/integrations/newrelic.toml"),
        "pingdom" => include_str!("../../../templates/integrations/pingdom.toml"),
        "sentry" => include_str!("../../../templates/integrations/sentry.toml"),
        "splunk" => include_str!("../../../templates/integrations/splunk.toml"),
        "statuscake" => include_str!("../../../templates/integrations/statuscake.toml"),
        "uptime-kuma" => include_str!("../../../templates/integrations/uptime-kuma.toml"),
        "uptimerobot" => include_str!("../../../templates/integrations/uptimerobot.toml"),
        "zabbix" => include_str!("../../../templates/integrations/zabbix.toml"),
        _ => return None,
    })
}

/// One compiled field, with where it came from for error messages.
pub(super) struct Expr {
    pub(super) field: String,
    /// The line of the value in the file, and of the expression's first line
    /// (the next one for a multi-line string that starts with a newline).
    pub(super) line: usize,
    pub(super) body_line: usize,
    pub(super) expr: Expression<'static, 'static>,
}

/// A compiled mapping file.
pub struct Mapping {
    pub name: String,
    pub(super) display_name: Option<String>,
    pub(super) vars: Vec<(String, Expr)>,
    pub(super) title: Expr,
    pub(super) message: Option<Expr>,
    pub(super) severity: Option<Expr>,
    pub(super) dedup_key: Option<Expr>,
    pub(super) resolve: Option<Expr>,
    pub(super) acknowledge: Option<Expr>,
    pub(super) source: Option<Expr>,
    pub(super) source_link: Option<Expr>,
    pub(super) component: Option<Expr>,
    pub(super) group: Option<Expr>,
    pub(super) class: Option<Expr>,
    pub(super) ignore: Option<Expr>,
    pub(super) confirm_url: Option<Expr>,
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

pub(super) fn describe(e: &minijinja::Error) -> String {
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
