//! Grouping single alerts into one incident: by time (every alert of the
//! service while the group's last alert is recent) or by content (alerts whose
//! grouping key renders the same). Pure.

use crate::config::Grouping;
use crate::domain::incident::{AlertDetails, SubAlert};
use chrono::{DateTime, Utc};
use minijinja::{context, Environment};

/// The dedup key of the group an alert belongs to.
pub fn key(g: &Grouping, d: &AlertDetails) -> String {
    let Some(template) = &g.key else {
        return "group:".into();
    };
    let ctx = context! {
        summary => d.summary,
        source => d.source,
        severity => d.severity.as_str(),
        component => d.component,
        group => d.group,
        class => d.class,
        custom_details => d.custom_details,
    };
    match Environment::new().render_str(template, ctx) {
        Ok(k) => format!("group:{}", k.trim()),
        Err(e) => {
            // Never lose the alert over a key: it groups by time alone.
            tracing::warn!(error = %e, "grouping key did not render; grouping by time");
            "group:".into()
        }
    }
}

/// The alert as one member of its group.
pub fn member(dedup_key: &str, d: &AlertDetails, now: DateTime<Utc>) -> SubAlert {
    SubAlert {
        key: dedup_key.to_string(),
        summary: d.summary.chars().take(300).collect(),
        firing: true,
        link: d
            .client_url
            .clone()
            .or_else(|| d.links.first().map(|l| l.href.clone())),
        since: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn keys_render_from_the_alert_and_fall_back_to_time() {
        let mut d = crate::domain::incident::tests::sample(1).alert;
        d.component = Some("db".into());
        let g = |key: Option<&str>| Grouping {
            window: Duration::minutes(5),
            key: key.map(str::to_string),
        };
        assert_eq!(key(&g(None), &d), "group:");
        assert_eq!(
            key(&g(Some("{{ component }}/{{ severity }}")), &d),
            "group:db/critical"
        );
        assert_eq!(key(&g(Some("{{ custom_details.x.y }}")), &d), "group:");
        assert_eq!(key(&g(Some("{{ summary + 1 }}")), &d), "group:");
        assert_eq!(
            key(&g(Some("}}<")), &d),
            "group:}}<",
            "template text is literal"
        );
    }
}
