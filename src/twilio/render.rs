//! Renders what Twilio is sent: the paging SMS and TwiML, from `templates/`.
//! An SMS shows outside text as typed; TwiML escapes it as XML.

use crate::config::Config;
use crate::domain::incident::Incident;
use minijinja::{context, AutoEscape, Environment};
use std::sync::OnceLock;

const PAGE_SMS: &str = include_str!("../../templates/page.sms.j2");
const VOICE_PAGE: &str = include_str!("../../templates/voice.page.xml.j2");
const VOICE: &str = include_str!("../../templates/voice.xml.j2");

/// Every template Twilio's messages use, by the name the renderers use.
const TEMPLATES: &[(&str, &str)] = &[
    ("page.sms", PAGE_SMS),
    // The `.xml` names turn on XML escaping.
    ("voice.page.xml", VOICE_PAGE),
    ("voice.xml", VOICE),
];

#[derive(Debug, thiserror::Error)]
#[error("template {0}: {1}")]
pub struct RenderError(&'static str, minijinja::Error);

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".xml") {
                AutoEscape::Custom("xml")
            } else {
                AutoEscape::None
            }
        });
        // minijinja's own escaping is HTML's (`/` becomes `&#x2f;`, which
        // Twilio would read out); TwiML gets XML's instead.
        env.set_formatter(|out, state, value| {
            if state.auto_escape() != AutoEscape::Custom("xml") || value.is_safe() {
                return minijinja::escape_formatter(out, state, value);
            }
            if value.is_none() || value.is_undefined() {
                return Ok(());
            }
            out.write_str(&xml_escape(&value.to_string())).map_err(|e| {
                minijinja::Error::new(minijinja::ErrorKind::WriteFailure, e.to_string())
            })
        });
        env.add_filter("clip", clip);
        // Built-in templates are compiled into the binary; a broken one fails the tests.
        for (name, source) in TEMPLATES {
            if let Err(e) = env.add_template(name, source) {
                panic!("template {name} does not parse: {e}");
            }
        }
        env
    })
}

/// XML's five predefined entities, and the control characters XML 1.0
/// forbids dropped (newline and tab stay).
fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' => out.push(c),
            c if c < ' ' || c == '\u{7f}' => {}
            c => out.push(c),
        }
    }
    out
}

/// Cuts `s` to at most `max` characters, marking the cut.
fn clip(s: String, max: usize) -> String {
    if s.chars().count() <= max {
        return s;
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The fields a page by phone speaks of, as typed (TwiML escapes them itself).
fn page_context(inc: &Incident, config: &Config) -> minijinja::Value {
    context! {
        id => inc.id,
        title => inc.alert.summary.clone(),
        severity => inc.alert.severity.as_str(),
        service => config
            .service(&inc.service_id)
            .map_or(inc.service_id.clone(), |s| s.name.clone()),
    }
}

fn render(name: &'static str, ctx: minijinja::Value) -> Result<String, RenderError> {
    env()
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .map(|s| s.trim().to_string())
        .map_err(|e| RenderError(name, e))
}

/// The SMS that pages someone about `inc`.
pub fn page_sms(inc: &Incident, config: &Config) -> Result<String, RenderError> {
    render("page.sms", page_context(inc, config))
}

/// TwiML that reads `inc` to the callee and sends a key press to `ack_url`.
pub fn voice_page(inc: &Incident, config: &Config, ack_url: &str) -> Result<String, RenderError> {
    let ctx = context! { ack_url => ack_url, ..page_context(inc, config) };
    render("voice.page.xml", ctx)
}

/// TwiML from its parts (see `templates/voice.xml.j2`).
pub fn voice(twiml: &impl serde::Serialize) -> Result<String, RenderError> {
    render("voice.xml", minijinja::Value::from_serialize(twiml))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::incident::tests::sample;

    /// What Twilio reads: every `Say`'s text and every attribute, unescaped.
    fn parsed(xml: &str) -> (Vec<String>, Vec<(String, String)>) {
        let doc = roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("{e}: {xml}"));
        let mut says = vec![];
        let mut attrs = vec![];
        for n in doc.descendants().filter(|n| n.is_element()) {
            if n.has_tag_name("Say") {
                says.push(n.text().unwrap_or_default().to_string());
            }
            for a in n.attributes() {
                attrs.push((a.name().to_string(), a.value().to_string()));
            }
        }
        (says, attrs)
    }

    #[test]
    fn twiml_is_escaped_as_xml_and_reads_back_as_written() {
        let mut inc = sample(3);
        inc.alert.summary = "disk / full & \"hot\" <now> it's \u{1b}late".into();
        let ack = "https://t.example/voice/ack/3?u=a/b&x=\"1\"<2>'";
        let xml = voice_page(&inc, &Config::default(), ack).unwrap();
        // HTML escaping would turn `/` into `&#x2f;`, which is no XML entity.
        assert!(!xml.contains("&#x2f;"), "{xml}");
        let (says, attrs) = parsed(&xml);
        assert!(
            says[0].contains("on api: disk / full & \"hot\" <now> it's late."),
            "{says:?}"
        );
        assert!(
            attrs.contains(&("action".to_string(), ack.to_string())),
            "{attrs:?}"
        );
    }

    #[test]
    fn twiml_from_parts_reads_back_as_written() {
        #[derive(serde::Serialize)]
        struct Parts {
            say: Vec<String>,
            redirect: Option<String>,
        }
        let parts = Parts {
            say: vec!["Press 1 for A&B / <ops>, \"now\"".into()],
            redirect: Some("https://t.example/voice/menu?a=1&b=/2".into()),
        };
        let xml = voice(&parts).unwrap();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let text = |tag: &str| {
            doc.descendants()
                .find(|n| n.has_tag_name(tag))
                .and_then(|n| n.text())
                .map(str::to_string)
        };
        assert_eq!(
            text("Say").as_deref(),
            Some("Press 1 for A&B / <ops>, \"now\"")
        );
        assert_eq!(
            text("Redirect").as_deref(),
            Some("https://t.example/voice/menu?a=1&b=/2")
        );
    }

    #[test]
    fn an_sms_shows_outside_text_as_typed() {
        let mut inc = sample(8);
        inc.alert.summary = "a/b & <c> \"d\"".into();
        assert_eq!(
            page_sms(&inc, &Config::default()).unwrap(),
            "tocsin #8 CRITICAL: a/b & <c> \"d\" (api). Acknowledge in Slack or with /incident ack 8."
        );
    }
}
