//! Outgoing webhooks: where incident events are POSTed, which ones, and the
//! secret that signs them.

use std::collections::HashMap;

use toml::Spanned;

use super::Checker;
use crate::config::errors::line_col;
use crate::config::model::{WebhookEvent, WebhookOut};
use crate::config::raw::RawWebhookOut;

/// The shortest signing secret accepted: shorter ones are guessable.
const MIN_SECRET: usize = 16;

impl Checker<'_> {
    pub(super) fn webhooks_out(&mut self, raw: &[Spanned<RawWebhookOut>]) -> Vec<WebhookOut> {
        let mut urls: HashMap<String, usize> = HashMap::new();
        let mut out = vec![];
        for (i, w) in raw.iter().enumerate() {
            let w = w.get_ref();
            let path = format!("webhooks_out[{i}]");
            let url = w.url.get_ref().trim().to_string();
            match url::Url::parse(&url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
                    if let Some(line) = urls.get(&url) {
                        let m = format!("this URL already has a webhook, on line {line}");
                        self.err(w.url.span(), format!("{path}.url"), m);
                    } else {
                        urls.insert(url.clone(), line_col(self.text, w.url.span().start).0);
                    }
                }
                Ok(_) => self.err(
                    w.url.span(),
                    format!("{path}.url"),
                    "must be an http:// or https:// URL with a host",
                ),
                Err(e) => self.err(
                    w.url.span(),
                    format!("{path}.url"),
                    format!("not a URL: {e}"),
                ),
            }
            let mut events = vec![];
            for (k, e) in w.events.iter().enumerate() {
                match WebhookEvent::parse(e.get_ref()) {
                    Some(ev) if !events.contains(&ev) => events.push(ev),
                    Some(_) => self.err(
                        e.span(),
                        format!("{path}.events[{k}]"),
                        format!("`{}` is listed twice", e.get_ref()),
                    ),
                    None => self.err(
                        e.span(),
                        format!("{path}.events[{k}]"),
                        format!(
                            "unknown event `{}`: one of triggered, acknowledged, resolved, escalated, note",
                            e.get_ref()
                        ),
                    ),
                }
            }
            if w.events.is_empty() {
                self.err(
                    w.url.span(),
                    format!("{path}.events"),
                    "list at least one event",
                );
            }
            let secret = w.secret.get_ref().clone();
            if secret.trim().chars().count() < MIN_SECRET {
                self.err(
                    w.secret.span(),
                    format!("{path}.secret"),
                    format!("too short: use at least {MIN_SECRET} random characters (openssl rand -hex 16)"),
                );
            }
            out.push(WebhookOut {
                url,
                events,
                secret,
            });
        }
        out
    }
}
