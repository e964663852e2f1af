//! The I/O edge of reports: reads the incidents, suppressed alerts and
//! overrides from the store, works out the team's shifts, and calls the pure
//! `compute`. Also renders a report as a table, CSV or JSON.

use crate::config::Config;
use crate::domain::report::{compute, Input, Report, Stats};
use crate::domain::schedule::shifts;
use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use std::fmt::Write;

/// The report for `team` over `[from, to)`.
pub async fn build(
    config: &Config,
    store: &Store,
    team: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Report, StoreError> {
    period(config, store, &store.incidents().await?, team, from, to).await
}

/// The report over `[from, to)` and the one for the same length just
/// before it, for trends; the incident log is read once for both.
pub async fn build_with_previous(
    config: &Config,
    store: &Store,
    team: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<(Report, Report), StoreError> {
    let incidents = store.incidents().await?;
    let now = period(config, store, &incidents, team, from, to).await?;
    let before = period(config, store, &incidents, team, from - (to - from), from).await?;
    Ok((now, before))
}

async fn period(
    config: &Config,
    store: &Store,
    incidents: &[crate::domain::incident::Incident],
    team: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Report, StoreError> {
    let mut suppressed = 0;
    for s in config.services.iter().filter(|s| s.team == team) {
        suppressed += store
            .suppressed_since(&s.id, from)
            .await?
            .iter()
            .filter(|x| x.at < to)
            .count();
    }
    let mut team_shifts = vec![];
    for s in config.schedules.iter().filter(|s| s.team == team) {
        let overrides: Vec<_> = store
            .overrides(&s.id)
            .await?
            .into_iter()
            .map(|o| o.over)
            .collect();
        team_shifts.extend(shifts(s, &overrides, from, to));
    }
    Ok(compute(&Input {
        config,
        team,
        from,
        to,
        incidents,
        suppressed,
        shifts: &team_shifts,
    }))
}

fn minutes(s: Option<f64>) -> String {
    s.map_or("–".into(), |v| format!("{:.1} min", v / 60.0))
}

fn pct(x: Option<f64>) -> String {
    x.map_or("–".into(), |v| format!("{:.0}%", v * 100.0))
}

fn stats_line(name: &str, s: &Stats) -> String {
    format!(
        "{name:<22} mean {}  p50 {}  p90 {}  (n={})\n",
        minutes(s.mean),
        minutes(s.p50),
        minutes(s.p90),
        s.count
    )
}

/// Outbox work that shares the report's charts in `channel`. A chart that
/// cannot be drawn is logged and left out: the numbers still go out.
pub fn chart_uploads(r: &Report, channel: &str) -> Vec<(String, crate::store::Outbound)> {
    use base64::Engine;
    match crate::domain::report::charts::render_all(r) {
        Ok(charts) => charts
            .into_iter()
            .map(|c| {
                (
                    channel.to_string(),
                    crate::store::Outbound::UploadFile {
                        channel: channel.to_string(),
                        file_name: c.file_name,
                        title: format!(
                            "{} — {} ({} to {})",
                            r.team,
                            c.title,
                            r.from.format("%Y-%m-%d"),
                            r.to.format("%Y-%m-%d")
                        ),
                        content: base64::engine::general_purpose::STANDARD.encode(c.png),
                    },
                )
            })
            .collect(),
        Err(e) => {
            tracing::error!(team = %r.team, error = %e, "report charts could not be drawn");
            vec![]
        }
    }
}

/// A plain-text table for the terminal.
pub fn table(r: &Report) -> String {
    let mut out = format!(
        "Team {} from {} to {}\n\n",
        r.team,
        r.from.format("%Y-%m-%d %H:%M UTC"),
        r.to.format("%Y-%m-%d %H:%M UTC")
    );
    let sev: Vec<String> = r
        .by_severity
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    let _ = writeln!(
        out,
        "{:<22} {} ({})",
        "incidents",
        r.incidents,
        sev.join(", ")
    );
    out.push_str(&stats_line("time to acknowledge", &r.mtta));
    out.push_str(&stats_line("time to resolve", &r.mttr));
    let _ = writeln!(
        out,
        "{:<22} {}",
        "acked within target",
        pct(r.ack_on_target)
    );
    let _ = writeln!(out, "{:<22} {}", "escalated", pct(r.escalation_rate));
    let _ = writeln!(
        out,
        "{:<22} {} received, {} grouped, {} suppressed; {} per incident\n",
        "alerts",
        r.alerts_received,
        r.alerts_grouped,
        r.alerts_suppressed,
        r.noise_ratio.map_or("–".into(), |n| format!("{n:.2}"))
    );
    let _ = writeln!(
        out,
        "{:<20} {:>8} {:>5} {:>5} {:>6} {:>9}",
        "responder", "business", "off", "sleep", "total", "on call h"
    );
    for p in &r.responders {
        let i = &p.interruptions;
        let _ = writeln!(
            out,
            "{:<20} {:>8} {:>5} {:>5} {:>6} {:>9.1}",
            p.name,
            i.business,
            i.off,
            i.sleep,
            i.total(),
            p.on_call_hours
        );
    }
    let f = &r.fairness;
    let gini = |g: Option<f64>| g.map_or("–".into(), |g| format!("{g:.2}"));
    let _ = writeln!(
        out,
        "\nfairness: interruptions spread {} (Gini {}), on-call hours spread {:.1} (Gini {})",
        f.interruptions_spread,
        gini(f.interruptions_gini),
        f.hours_spread,
        gini(f.hours_gini)
    );
    out
}

/// CSV: one `metric,value` section, a blank line, then one row per responder.
pub fn csv(r: &Report) -> String {
    let num = |x: Option<f64>| x.map_or(String::new(), |v| v.to_string());
    let mut out = String::from("metric,value\n");
    let mut row = |k: &str, v: String| {
        let _ = writeln!(out, "{k},{v}");
    };
    row("team", r.team.clone());
    row("from", r.from.to_rfc3339());
    row("to", r.to.to_rfc3339());
    row("incidents", r.incidents.to_string());
    for (k, v) in &r.by_severity {
        row(&format!("incidents_{k}"), v.to_string());
    }
    for (name, s) in [("mtta", &r.mtta), ("mttr", &r.mttr)] {
        row(&format!("{name}_mean_seconds"), num(s.mean));
        row(&format!("{name}_p50_seconds"), num(s.p50));
        row(&format!("{name}_p90_seconds"), num(s.p90));
    }
    row("ack_on_target", num(r.ack_on_target));
    row("escalation_rate", num(r.escalation_rate));
    row("alerts_received", r.alerts_received.to_string());
    row("alerts_grouped", r.alerts_grouped.to_string());
    row("alerts_suppressed", r.alerts_suppressed.to_string());
    row("noise_ratio", num(r.noise_ratio));
    row("interruptions_gini", num(r.fairness.interruptions_gini));
    row("hours_gini", num(r.fairness.hours_gini));
    out.push_str("\nresponder,name,business,off,sleep,total,on_call_hours\n");
    for p in &r.responders {
        let i = &p.interruptions;
        let name = p.name.replace(['"', ','], " ");
        let _ = writeln!(
            out,
            "{},{name},{},{},{},{},{}",
            p.user,
            i.business,
            i.off,
            i.sleep,
            i.total(),
            p.on_call_hours
        );
    }
    out
}
