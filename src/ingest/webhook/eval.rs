//! Evaluating a compiled mapping against one payload: the order of the
//! fields, what their values mean, and the clipping of what comes out.

use super::compile::{describe, Expr, Mapping};
use super::{Mapped, MappingError, MAX_DEDUP_KEY, MAX_SUMMARY};
use crate::domain::incident::{AlertDetails, Severity};
use crate::ingest::{AlertAction, AlertEvent};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

impl Mapping {
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

    pub(super) fn map(&self, routing_key: &str, payload: &Value) -> Result<Mapped, MappingError> {
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

pub(super) fn clip_summary(s: &str) -> String {
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
