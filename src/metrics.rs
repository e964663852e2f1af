//! Process metrics for `GET /metrics`, in Prometheus' text format. Counters
//! live in memory (Prometheus handles the reset on restart); gauges that the
//! store knows (open incidents, outbox depth) are read at scrape time.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Mutex, OnceLock};

/// Upper bounds, in seconds, of the latency histograms' buckets.
const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
const TICK_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

type Labels = Vec<(&'static str, String)>;

#[derive(Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct Inner {
    counters: BTreeMap<(&'static str, Labels), u64>,
    histograms: BTreeMap<&'static str, Histogram>,
}

/// The process's metrics. One per process: the outbox worker, the engine and
/// the HTTP edge all count into it.
pub struct Metrics {
    inner: Mutex<Inner>,
}

pub fn global() -> &'static Metrics {
    static M: OnceLock<Metrics> = OnceLock::new();
    M.get_or_init(|| Metrics {
        inner: Mutex::new(Inner::default()),
    })
}

const HELP: &[(&str, &str, &str)] = &[
    (
        "tocsin_incidents_opened_total",
        "counter",
        "Incidents opened, by service and severity.",
    ),
    (
        "tocsin_incidents_acknowledged_total",
        "counter",
        "Incidents acknowledged, by service and severity.",
    ),
    (
        "tocsin_incidents_resolved_total",
        "counter",
        "Incidents resolved, by service and severity.",
    ),
    (
        "tocsin_slack_calls_total",
        "counter",
        "Slack Web API calls, by method.",
    ),
    (
        "tocsin_slack_rate_limited_total",
        "counter",
        "Slack Web API calls answered 429, by method.",
    ),
    (
        "tocsin_store_reopens_total",
        "counter",
        "Times the store was reopened after it could not write.",
    ),
    (
        "tocsin_alert_to_first_page_seconds",
        "histogram",
        "From an incident opening to its first Slack message or page being accepted.",
    ),
    (
        "tocsin_engine_tick_seconds",
        "histogram",
        "Time one engine pass takes.",
    ),
];

fn buckets(name: &str) -> &'static [f64] {
    if name == "tocsin_engine_tick_seconds" {
        TICK_BUCKETS
    } else {
        LATENCY_BUCKETS
    }
}

impl Metrics {
    pub fn inc(&self, name: &'static str, labels: &[(&'static str, &str)]) {
        let labels: Labels = labels.iter().map(|(k, v)| (*k, v.to_string())).collect();
        if let Ok(mut m) = self.inner.lock() {
            *m.counters.entry((name, labels)).or_default() += 1;
        }
    }

    pub fn observe(&self, name: &'static str, seconds: f64) {
        let bounds = buckets(name);
        if let Ok(mut m) = self.inner.lock() {
            let h = m.histograms.entry(name).or_default();
            if h.counts.is_empty() {
                h.counts = vec![0; bounds.len()];
            }
            for (i, b) in bounds.iter().enumerate() {
                if seconds <= *b {
                    h.counts[i] += 1;
                }
            }
            h.sum += seconds;
            h.count += 1;
        }
    }

    /// The exposition text, with the scrape-time gauges appended.
    pub fn render(&self, gauges: &[(&str, &str, f64)]) -> String {
        let mut out = String::new();
        let Ok(m) = self.inner.lock() else {
            return out;
        };
        for (name, kind, help) in HELP {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            if *kind == "counter" {
                for ((n, labels), v) in m.counters.iter().filter(|((n, _), _)| n == name) {
                    let _ = writeln!(out, "{n}{} {v}", label_text(labels));
                }
            } else if let Some(h) = m.histograms.get(name) {
                for (b, c) in buckets(name).iter().zip(&h.counts) {
                    let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {c}");
                }
                let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", h.count);
                let _ = writeln!(out, "{name}_sum {}\n{name}_count {}", h.sum, h.count);
            }
        }
        for (name, help, v) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        out
    }
}

fn label_text(labels: &Labels) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| {
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect();
    format!("{{{}}}", parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_parses_as_prometheus_exposition() {
        let m = Metrics {
            inner: Mutex::new(Inner::default()),
        };
        m.inc(
            "tocsin_slack_calls_total",
            &[("method", "chat.postMessage")],
        );
        m.inc(
            "tocsin_slack_calls_total",
            &[("method", "chat.postMessage")],
        );
        m.inc(
            "tocsin_incidents_opened_total",
            &[("service", "a\"b"), ("severity", "critical")],
        );
        m.observe("tocsin_alert_to_first_page_seconds", 0.02);
        m.observe("tocsin_alert_to_first_page_seconds", 3.0);
        let text = m.render(&[("tocsin_open_incidents", "Open incidents.", 4.0)]);
        let lines = text.lines().map(|l| Ok(l.to_string()));
        let scrape = prometheus_parse::Scrape::parse(lines).unwrap();
        let find = |name: &str| {
            scrape
                .samples
                .iter()
                .filter(|s| s.metric == name)
                .collect::<Vec<_>>()
        };
        let calls = find("tocsin_slack_calls_total");
        assert_eq!(calls.len(), 1);
        assert!(matches!(calls[0].value, prometheus_parse::Value::Counter(v) if v == 2.0));
        assert_eq!(calls[0].labels.get("method"), Some("chat.postMessage"));
        // Quotes are escaped as the format requires (the parser leaves escapes as they are).
        assert_eq!(
            find("tocsin_incidents_opened_total")[0]
                .labels
                .get("service"),
            Some("a\\\"b")
        );
        let hist = find("tocsin_alert_to_first_page_seconds");
        let prometheus_parse::Value::Histogram(buckets) = &hist[0].value else {
            panic!("not a histogram: {hist:?}");
        };
        let at = |le: f64| buckets.iter().find(|b| b.less_than == le).map(|b| b.count);
        assert_eq!(
            (at(0.025), at(5.0), at(f64::INFINITY)),
            (Some(1.0), Some(2.0), Some(2.0))
        );
        assert!(
            matches!(find("tocsin_open_incidents")[0].value, prometheus_parse::Value::Gauge(v) if v == 4.0)
        );
    }
}
