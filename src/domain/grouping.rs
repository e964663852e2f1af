//! Grouping single alerts into one incident: by time (every alert of the
//! service while the group's last alert is recent) or by content (alerts whose
//! grouping key renders the same), or by similarity (alerts alike enough to
//! an open incident's, `domain::similarity`). Pure.

use crate::config::{Config, Grouping};
use crate::domain::incident::{AlertDetails, Incident, Insight, Nearest, Past, State, SubAlert};
use crate::domain::similarity::{per_mille, Model, Outlier, Tokens};
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
        similar: None,
    }
}

/// An alert's tokens for intelligent grouping: its title and fields.
pub fn tokens(d: &AlertDetails) -> Tokens {
    let fields = [
        d.component.as_deref().map(|v| ("component", v)),
        d.group.as_deref().map(|v| ("group", v)),
        d.class.as_deref().map(|v| ("class", v)),
        Some(("source", d.source.as_str())),
    ];
    Tokens::of(&d.summary, fields.into_iter().flatten())
}

/// The open incident an alert joins under intelligent grouping: the most
/// similar of `open` (the service's open incidents whose last alert came
/// within the window), if at least the model's threshold, with its score.
/// Otherwise `Err` with the most similar one below it, if any. Ties go to
/// the newer incident, so the answer never depends on the order given.
pub fn most_similar(
    model: &Model,
    alert: &Tokens,
    open: &[Incident],
) -> Result<(u64, f64), Option<Nearest>> {
    let best = open
        .iter()
        .map(|i| (i.id, model.similarity(alert, &tokens(&i.alert))))
        .max_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    match best {
        Some((id, score)) if score >= model.threshold => Ok((id, score)),
        Some((id, score)) if score > 0.0 => Err(Some(Nearest {
            id,
            score: per_mille(score),
        })),
        _ => Err(None),
    }
}

/// How far back the outlier label looks.
pub const OUTLIER_DAYS: i64 = 30;
/// How far back similar past incidents are looked for.
pub const PAST_DAYS: i64 = 90;
/// Past incidents shown on a new one.
const PAST_SHOWN: usize = 3;
/// A past incident less similar than this is not worth showing.
const PAST_FLOOR: f64 = 0.3;

/// The outlier class of `alert`'s kind among `service`'s incidents of the
/// last 30 days (in `recent`, the newest incidents): how many were similar
/// enough to group with it, out of how many.
pub fn outlier(
    service: &str,
    model: &Model,
    alert: &AlertDetails,
    recent: &[Incident],
    now: DateTime<Utc>,
) -> Option<Outlier> {
    let all = tokens(alert);
    let since = now - chrono::Duration::days(OUTLIER_DAYS);
    let lately: Vec<&Incident> = recent
        .iter()
        .filter(|i| i.service_id == service && i.created_at >= since)
        .collect();
    let alike = lately
        .iter()
        .filter(|i| model.same(&all, &tokens(&i.alert)))
        .count();
    Outlier::classify(alike, lately.len())
}

/// What a new incident's message says about its kind: its outlier class
/// among the service's incidents of the last 30 days, and the resolved
/// incidents of the same team's services with the most similar titles.
/// `recent` is the store's newest incidents, newest first.
pub fn insight(
    config: &Config,
    service: &str,
    model: &Model,
    alert: &AlertDetails,
    recent: &[Incident],
    now: DateTime<Utc>,
    nearest: Option<Nearest>,
) -> Insight {
    let team = config.team_of_service(service).map(|t| t.id.as_str());
    let related = |s: &str| {
        s == service || (team.is_some() && config.team_of_service(s).map(|t| t.id.as_str()) == team)
    };
    let title = Tokens::of(&alert.summary, []);
    let mut past: Vec<(f64, &Incident)> = recent
        .iter()
        .filter(|i| i.state == State::Resolved && related(&i.service_id))
        .map(|i| {
            (
                model.similarity(&title, &Tokens::of(&i.alert.summary, [])),
                i,
            )
        })
        .filter(|(s, _)| *s >= PAST_FLOOR)
        .collect();
    // Most similar first; among equals the most recent.
    past.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.id.cmp(&a.1.id)));
    Insight {
        outlier: outlier(service, model, alert, recent, now),
        nearest,
        past: past
            .into_iter()
            .take(PAST_SHOWN)
            .filter_map(|(score, i)| {
                Some(Past {
                    id: i.id,
                    title: i.alert.summary.chars().take(150).collect(),
                    service_id: i.service_id.clone(),
                    opened: i.created_at,
                    resolved: i.resolved.clone()?,
                    score: per_mille(score),
                    note: i
                        .coord
                        .timeline
                        .iter()
                        .rev()
                        .find(|e| e.kind.by_people())
                        .map(|e| e.text.chars().take(300).collect()),
                    room: i.room_channel().map(str::to_string),
                })
            })
            .collect(),
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
            intelligent: false,
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
