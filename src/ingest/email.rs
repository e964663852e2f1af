//! Mail in, alert events out: the message read with mail-parser (MIME,
//! transfer encodings, charsets), then mapped by the same minijinja
//! expressions as webhook payloads.
//!
//! A mail is seen by a service's expressions as these names: `subject`,
//! `from` (the address), `from_name`, `to` (addresses), `text` (the plain
//! text body, or the HTML one as text), `html`, `date` (RFC 3339, or empty),
//! `message_id`, `headers` (lower-case name → value, the first of each),
//! `attachments` (file names) and `envelope` (`from`, `to`: what the SMTP
//! session said). A service's `email = { … }` sets `title` (default: the
//! subject), `details` (default: the text body), `severity` (default
//! `error`), `dedup_key` (default: a hash of the title) and `resolve_when`
//! (truthy: resolve the alert with that dedup key).
//!
//! A mail that cannot be read, or whose expressions fail on it, still opens
//! an incident, titled [`UNREADABLE`], with the raw message attached:
//! nothing mailed to a service is silently dropped.

use super::webhook::{self, Mapped, Mapping};
use super::{AlertAction, AlertEvent};
use crate::config::EmailIntake;
use crate::domain::incident::{AlertDetails, Severity};
use mail_parser::{MessageParser, MimeHeaders};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The title of an incident for a mail tocsin could not read.
pub const UNREADABLE: &str = "Email could not be read";
/// How much of a message body the expressions see (and an incident keeps).
pub const MAX_TEXT: usize = 64 * 1024;

/// What the SMTP session said about a message, beside the message itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Envelope {
    pub from: String,
    pub to: String,
}

/// Compiles a service's mail mapping; `None` is the default one. Each
/// problem names the field, as `<path>.<field>: message`.
pub fn mapping(intake: Option<&EmailIntake>, path: &str) -> Result<Mapping, Vec<String>> {
    let mut fields: BTreeMap<&str, String> = BTreeMap::new();
    fields.insert("display_name", "Email".into());
    fields.insert(
        "title",
        "subject or ('Mail from ' ~ (from or 'an unknown sender'))".into(),
    );
    fields.insert("message", "text".into());
    fields.insert("source", "from or 'email'".into());
    if let Some(i) = intake {
        let set = [
            ("title", &i.title),
            ("message", &i.details),
            ("severity", &i.severity),
            ("dedup_key", &i.dedup_key),
            ("resolve", &i.resolve_when),
        ];
        for (field, value) in set {
            if let Some(v) = value {
                fields.insert(field, v.clone());
            }
        }
    }
    let text = toml::to_string(&fields).expect("a map of strings serialises");
    let config_name = |f: &str| match f {
        "message" => "details".to_string(),
        "resolve" => "resolve_when".to_string(),
        other => other.to_string(),
    };
    Mapping::parse("email", &text).map_err(|errors| {
        errors
            .into_iter()
            .map(|e| format!("{path}.{}: {}", config_name(&e.field), e.message))
            .collect()
    })
}

/// The mapping of a service that sets no `email` expressions.
pub fn default_mapping() -> &'static Mapping {
    static DEFAULT: std::sync::OnceLock<Mapping> = std::sync::OnceLock::new();
    DEFAULT.get_or_init(|| mapping(None, "email").expect("the default mail mapping compiles"))
}

/// The names a mail's expressions see, or why it cannot be read.
pub fn read(raw: &[u8], envelope: &Envelope) -> Result<Value, String> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err("the message is empty".into());
    }
    let msg = MessageParser::default()
        .parse(raw)
        .ok_or("the message has no headers that can be parsed")?;
    // Any mail a tool sends names its sender or its subject; bytes that
    // parse into neither are not a mail.
    let known = ["from", "sender", "subject", "to", "date", "message-id"];
    if !msg
        .headers_raw()
        .any(|(name, _)| known.iter().any(|k| name.eq_ignore_ascii_case(k)))
    {
        return Err(
            "the message has none of the headers From, Sender, Subject, To, Date or Message-ID"
                .into(),
        );
    }
    let addr = |a: Option<&mail_parser::Address<'_>>| -> Vec<Value> {
        a.map(|a| {
            a.iter()
                .filter_map(|x| x.address())
                .map(|s| json!(s))
                .collect()
        })
        .unwrap_or_default()
    };
    let from = msg.from().and_then(|a| a.first());
    let text = msg.body_text(0).map(|t| clip(&t)).unwrap_or_default();
    let html = msg.body_html(0).filter(|_| msg.html_body_count() > 0);
    let mut headers = Map::new();
    for (name, value) in msg.headers_raw() {
        let name = name.to_ascii_lowercase();
        if !headers.contains_key(&name) {
            headers.insert(name, json!(clip(value.trim())));
        }
    }
    let attachments: Vec<Value> = msg
        .attachments()
        .filter_map(|a| a.attachment_name())
        .map(|n| json!(n))
        .collect();
    Ok(json!({
        "subject": msg.subject().unwrap_or("").trim(),
        "from": from.and_then(|f| f.address()).unwrap_or(""),
        "from_name": from.and_then(|f| f.name()).unwrap_or(""),
        "to": addr(msg.to()),
        "text": text.trim(),
        "html": html.map(|h| clip(&h)).unwrap_or_default(),
        "date": msg.date().map(|d| d.to_rfc3339()).unwrap_or_default(),
        "message_id": msg.message_id().unwrap_or(""),
        "headers": headers,
        "attachments": attachments,
        "envelope": {"from": envelope.from, "to": envelope.to},
    }))
}

fn clip(s: &str) -> String {
    if s.len() <= MAX_TEXT {
        return s.to_string();
    }
    let mut cut = MAX_TEXT;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s[..cut].to_string()
}

/// The event a mail to the service with `routing_key` makes. Never fails:
/// a mail that cannot be read, or that the mapping fails on, becomes an
/// incident titled [`UNREADABLE`] holding the raw message; the reason comes
/// back too, for the caller to log.
pub fn event(
    mapping: &Mapping,
    routing_key: &str,
    raw: &[u8],
    envelope: &Envelope,
) -> (AlertEvent, Option<String>) {
    let mail = match read(raw, envelope) {
        Ok(mail) => mail,
        Err(why) => return (unreadable(routing_key, raw, envelope, &why), Some(why)),
    };
    match webhook::apply(mapping, routing_key, &mail) {
        (Mapped::Event(ev), None) => (ev, None),
        (_, Some(e)) => {
            let why = format!("{}: {}", e.field, e.message);
            (unreadable(routing_key, raw, envelope, &why), Some(why))
        }
        // A mail mapping has no handshake or ignore field.
        (other, None) => {
            let why = format!("the mapping answered {other:?}");
            (unreadable(routing_key, raw, envelope, &why), Some(why))
        }
    }
}

/// An incident for a mail that could not be read. Retries of the same
/// message land on the same alert.
fn unreadable(routing_key: &str, raw: &[u8], envelope: &Envelope, why: &str) -> AlertEvent {
    let hash = hex::encode(Sha256::digest(raw));
    AlertEvent {
        routing_key: routing_key.to_string(),
        dedup_key: format!("unreadable-email-{hash}"),
        action: AlertAction::Trigger(Box::new(AlertDetails {
            summary: UNREADABLE.to_string(),
            source: if envelope.from.is_empty() {
                "email".into()
            } else {
                envelope.from.clone()
            },
            severity: Severity::Error,
            component: None,
            group: None,
            class: None,
            custom_details: Some(json!({
                "error": why,
                "envelope": {"from": envelope.from, "to": envelope.to},
                "raw_message": String::from_utf8_lossy(raw),
            })),
            links: vec![],
            client: Some("Email".into()),
            client_url: None,
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn env() -> Envelope {
        Envelope {
            from: "nagios@monitor.example.com".into(),
            to: "db-alerts@alerts.example.com".into(),
        }
    }

    fn intake(f: impl FnOnce(&mut EmailIntake)) -> EmailIntake {
        let mut i = EmailIntake::default();
        f(&mut i);
        i
    }

    fn details(ev: &AlertEvent) -> &AlertDetails {
        match &ev.action {
            AlertAction::Trigger(d) => d,
            other => panic!("not a trigger: {other:?}"),
        }
    }

    const NAGIOS: &str = "From: Nagios <nagios@monitor.example.com>\r\n\
To: db-alerts@alerts.example.com\r\n\
Subject: ** PROBLEM Service Alert: db-1/MySQL is CRITICAL **\r\n\
Date: Fri, 04 Dec 2026 03:12:09 +0000\r\n\
Message-ID: <20261204031209.1234@monitor.example.com>\r\n\
\r\n\
***** Nagios *****\r\n\
\r\n\
Notification Type: PROBLEM\r\n\
\r\n\
Service: MySQL\r\n\
Host: db-1\r\n\
State: CRITICAL\r\n";

    #[test]
    fn the_default_mapping_takes_the_subject_and_body() {
        let m = mapping(None, "services[0].email").unwrap();
        let (ev, err) = event(&m, "k", NAGIOS.as_bytes(), &env());
        assert_eq!(err, None);
        let d = details(&ev);
        assert_eq!(
            d.summary,
            "** PROBLEM Service Alert: db-1/MySQL is CRITICAL **"
        );
        assert_eq!(d.source, "nagios@monitor.example.com");
        assert_eq!(d.severity, Severity::Error);
        let c = d.custom_details.as_ref().unwrap();
        assert!(c["message"].as_str().unwrap().contains("Host: db-1"));
        assert_eq!(c["payload"]["date"], "2026-12-04T03:12:09Z");
        assert_eq!(ev.dedup_key.len(), 64);
    }

    #[test]
    fn a_service_mapping_sets_severity_key_and_resolve() {
        let i = intake(|i| {
            i.title = Some("subject | replace('*', '') | trim".into());
            i.severity = Some("'critical' if 'CRITICAL' in subject else 'warning'".into());
            i.dedup_key = Some("(subject | split(' ')[4]".into());
            i.resolve_when = Some("subject is startingwith('** RECOVERY')".into());
        });
        // A syntax error is found when the config is loaded, named by field.
        let errors = mapping(Some(&i), "services[2].email").unwrap_err();
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("services[2].email.dedup_key: ")),
            "{errors:?}"
        );
        let i = intake(|i| {
            i.severity = Some("'critical' if 'CRITICAL' in subject else 'warning'".into());
            i.dedup_key = Some("(subject | split(' '))[4]".into());
            i.resolve_when = Some("subject is startingwith('** RECOVERY')".into());
        });
        let m = mapping(Some(&i), "services[2].email").unwrap();
        let (ev, _) = event(&m, "k", NAGIOS.as_bytes(), &env());
        assert_eq!(ev.dedup_key, "db-1/MySQL");
        assert_eq!(details(&ev).severity, Severity::Critical);
        let recovery = NAGIOS
            .replace("** PROBLEM", "** RECOVERY")
            .replace("CRITICAL **", "OK **");
        let (ev, _) = event(&m, "k", recovery.as_bytes(), &env());
        assert_eq!(ev.dedup_key, "db-1/MySQL");
        assert_eq!(ev.action, AlertAction::Resolve);
    }

    #[test]
    fn encoded_subjects_and_bodies_are_decoded() {
        let mail = "From: cron@host\r\nSubject: =?ISO-8859-1?Q?Sauvegarde_=E9chou=E9e?=\r\n\
MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: base64\r\n\r\nQmFja3VwIGZhaWxlZDogZGlzayBmdWxs\r\n";
        let mail = read(mail.as_bytes(), &env()).unwrap();
        assert_eq!(mail["subject"], "Sauvegarde échouée");
        assert_eq!(mail["text"], "Backup failed: disk full");
    }

    #[test]
    fn unreadable_mail_and_failing_expressions_still_open_an_incident() {
        let m = mapping(None, "s").unwrap();
        for raw in [
            &b""[..],
            b"   \r\n",
            b"\x00\x01\x02",
            b"UPS-7 ON BATTERY\r\n",
        ] {
            let (ev, why) = event(&m, "k", raw, &env());
            assert_eq!(details(&ev).summary, UNREADABLE, "{raw:?}");
            assert!(why.is_some());
        }
        let i = intake(|i| i.title = Some("headers['x-missing'].nope()".into()));
        let m = mapping(Some(&i), "s").unwrap();
        let (ev, why) = event(&m, "k", NAGIOS.as_bytes(), &env());
        let d = details(&ev);
        assert_eq!(d.summary, UNREADABLE);
        assert!(why.unwrap().starts_with("title: "));
        let raw = d.custom_details.as_ref().unwrap()["raw_message"]
            .as_str()
            .unwrap();
        assert!(raw.contains("Host: db-1"));
    }

    proptest! {
        #[test]
        fn any_bytes_make_exactly_one_event(raw in proptest::collection::vec(any::<u8>(), 0..512)) {
            let m = mapping(None, "s").unwrap();
            let (ev, _) = event(&m, "k", &raw, &env());
            prop_assert_eq!(ev.routing_key.as_str(), "k");
            prop_assert!(!ev.dedup_key.is_empty());
            prop_assert!(matches!(ev.action, AlertAction::Trigger(_)));
        }

        #[test]
        fn any_subject_becomes_the_title(subject in "[ -~]{1,200}") {
            prop_assume!(!subject.trim().is_empty());
            let raw = format!("From: a@b.example\r\nSubject: {subject}\r\n\r\nbody\r\n");
            let m = mapping(None, "s").unwrap();
            let (ev, why) = event(&m, "k", raw.as_bytes(), &env());
            prop_assert_eq!(why, None);
            prop_assert_eq!(details(&ev).summary.as_str(), subject.trim());
        }
    }
}
