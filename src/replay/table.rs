//! The replay report as a table: one column per config, side by side.

use crate::domain::replay::Summary;
use std::collections::BTreeSet;
use std::fmt::Write;

/// `runs` are (config name, its summary), in the order given.
pub fn table(runs: &[(&str, &Summary)]) -> String {
    let mut rows: Vec<(String, Vec<String>)> = vec![];
    let mut row = |name: &str, f: &dyn Fn(&Summary) -> String| {
        rows.push((name.to_string(), runs.iter().map(|(_, s)| f(s)).collect()));
    };
    row("alerts in", &|s| s.alerts.to_string());
    row("incidents opened", &|s| s.incidents.to_string());
    row("compression", &|s| format!("{:.1}%", s.compression * 100.0));
    row("dropped by rules", &|s| s.lines.dropped.to_string());
    row("suppressed", &|s| s.lines.suppressed.to_string());
    row("refused lines", &|s| s.lines.refused.to_string());
    row("pages (business/off/sleep)", &|s| {
        let (b, o, z) = s.pages.values().fold((0, 0, 0), |(b, o, z), p| {
            (b + p.business, o + p.off, z + p.sleep)
        });
        format!("{b}/{o}/{z}")
    });
    let people: BTreeSet<&String> = runs.iter().flat_map(|(_, s)| s.pages.keys()).collect();
    for user in people {
        row(&format!("  {user}"), &|s| {
            s.pages.get(user).map_or("0/0/0".into(), |p| {
                format!("{}/{}/{}", p.business, p.off, p.sleep)
            })
        });
    }
    row("worst night", &|s| match &s.worst_night {
        Some(n) => format!("{} on {}: {}", n.user, n.night_of, n.pages),
        None => "none".into(),
    });
    let secs = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.0} s"));
    row("time to first page p50", &|s| {
        secs(s.time_to_first_page.p50)
    });
    row("time to first page p90", &|s| {
        secs(s.time_to_first_page.p90)
    });
    let mut widths = vec![rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0)];
    for (i, (name, _)) in runs.iter().enumerate() {
        let w = rows.iter().map(|(_, v)| v[i].len()).max().unwrap_or(0);
        widths.push(w.max(name.len()));
    }
    let mut out = String::new();
    let _ = write!(out, "{:<w$}", "", w = widths[0]);
    for (i, (name, _)) in runs.iter().enumerate() {
        let _ = write!(out, "  {:>w$}", name, w = widths[i + 1]);
    }
    out.push('\n');
    for (name, values) in &rows {
        let _ = write!(out, "{:<w$}", name, w = widths[0]);
        for (i, v) in values.iter().enumerate() {
            let _ = write!(out, "  {:>w$}", v, w = widths[i + 1]);
        }
        out.push('\n');
    }
    out
}
