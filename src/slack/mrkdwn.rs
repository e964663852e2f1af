//! Slack mrkdwn safety: the one escaping rule for text tocsin did not write,
//! and the only places that build links and mentions.
//!
//! In mrkdwn, `<`, `>` and `&` are control characters: `<!channel>` pings a
//! whole channel and `<https://x|y>` shows a disguised link. Anything that
//! came from outside (alert payloads, webhook fields, what people typed) goes
//! through [`text`]; markup tocsin means to send is built by [`link`] and
//! [`user`] from values it has checked.

/// External text made inert for mrkdwn: `&`, `<`, `>` escaped as Slack
/// documents, and C0 control characters other than newline and tab removed.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\n' | '\t' => out.push(c),
            c if c < ' ' || c == '\u{7f}' => {}
            c => out.push(c),
        }
    }
    out
}

/// Undoes [`text`] for `plain_text` objects (headers, buttons, options),
/// which Slack shows as typed: there `&lt;` would be read literally.
pub fn plain(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// `url` if tocsin may link to it: `http`, `https` or `mailto`, with nothing
/// that could end the `<url|label>` token or start another.
pub fn safe_url(url: &str) -> Option<&str> {
    let url = url.trim();
    let lower = url.to_ascii_lowercase();
    let scheme_ok = ["http://", "https://", "mailto:"]
        .iter()
        .any(|p| lower.starts_with(p) && lower.len() > p.len());
    let clean = !url
        .chars()
        .any(|c| matches!(c, '|' | '<' | '>' | '"' | ' ') || c.is_control());
    (scheme_ok && clean).then_some(url)
}

/// A link to `url` labelled with external text, or just the label (escaped)
/// when the URL is not one tocsin will link to.
pub fn link(url: &str, label: &str) -> String {
    let label = text(label);
    match safe_url(url) {
        // `&` in a URL is escaped too; Slack restores it when it follows the link.
        Some(u) => format!("<{}|{label}>", u.replace('&', "&amp;")),
        None => label,
    }
}

/// `<@U…>` for a Slack user id, or the id made inert if it is not one.
pub fn user(id: &str) -> String {
    let is_id = !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_alphanumeric());
    if is_id {
        format!("<@{id}>")
    } else {
        text(id)
    }
}

/// `<#C…>` for a Slack channel id, or the id made inert if it is not one.
pub fn channel(id: &str) -> String {
    let is_id = !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_alphanumeric());
    if is_id {
        format!("<#{id}>")
    } else {
        text(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn control_characters_are_escaped_and_nothing_else() {
        assert_eq!(
            text("<!channel> wake up <https://evil.example/|Click to ack>"),
            "&lt;!channel&gt; wake up &lt;https://evil.example/|Click to ack&gt;"
        );
        assert_eq!(text("R&D: 5xx > 10%"), "R&amp;D: 5xx &gt; 10%");
        assert_eq!(text("a\u{0}b\u{1b}[31mc\nd\te\u{7f}"), "ab[31mc\nd\te");
        assert_eq!(
            text("*bold* _it_ `code` ünï ✨"),
            "*bold* _it_ `code` ünï ✨"
        );
    }

    #[test]
    fn only_plain_web_and_mail_links_are_built() {
        assert_eq!(
            link("https://ok.example/a?b=1&c=2", "Runbook"),
            "<https://ok.example/a?b=1&amp;c=2|Runbook>"
        );
        assert_eq!(
            link("mailto:ops@example.com", "Mail"),
            "<mailto:ops@example.com|Mail>"
        );
        for bad in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "data:text/html,x",
            "https://ok.example/|x> <!channel> <https://evil.example",
            "https://ok.example/>",
            "https://ok.example/ <!here>",
            "ftp://files.example/",
            "https://",
            "",
        ] {
            assert_eq!(safe_url(bad), None, "{bad}");
            assert!(!link(bad, "x").contains('<'), "{bad}");
        }
        assert_eq!(link("javascript:x", "<!here>"), "&lt;!here&gt;");
    }

    #[test]
    fn mentions_are_built_only_from_ids() {
        assert_eq!(user("U0ALICE"), "<@U0ALICE>");
        assert_eq!(user("U1> <!channel"), "U1&gt; &lt;!channel");
        assert_eq!(channel("C0ROOM"), "<#C0ROOM>");
        assert_eq!(channel("C1><!here"), "C1&gt;&lt;!here");
    }

    proptest! {
        #[test]
        fn escaped_text_opens_no_markup(s in "\\PC*|[<>&|!@#a-z:/ ]*") {
            let t = text(&s);
            prop_assert!(!t.contains('<') && !t.contains('>'));
            let kept: String = s
                .chars()
                .filter(|&c| !(c < ' ' || c == '\u{7f}') || c == '\n' || c == '\t')
                .collect();
            prop_assert_eq!(plain(&t), kept);
        }

        #[test]
        fn a_link_is_one_token_or_none(url in "(https?://|mailto:|javascript:)?[a-z./|<>!@ &?=]*", label in "\\PC*") {
            let l = link(&url, &label);
            let opens = l.matches('<').count();
            prop_assert!(opens <= 1);
            if opens == 1 {
                prop_assert!(l.starts_with('<') && l.ends_with('>'));
                prop_assert_eq!(l.matches('>').count(), 1);
                prop_assert_eq!(l.matches('|').count(), 1 + label.matches('|').count());
            }
        }
    }
}
