//! How alike two alerts are, for grouping that learns from responders.
//!
//! An alert becomes a set of tokens: the words of its title, normalised
//! (lower case; numbers, ids, hosts, IP addresses and hex masked as `<n>`,
//! `<id>`, `<host>`, `<ip>`, `<hex>`), and its fields (`component=db`,
//! `class=…`, `group=…`, `source=…`, kept as sent, so that learning can tell
//! hosts apart when responders say they differ).
//!
//! Two token sets are compared by weighted Jaccard: the weight of the tokens
//! they share over the weight of all their tokens, from 0 (nothing shared) to
//! 1 (the same set). A title word weighs 1 and a field 0.5 until a service's
//! labelled pairs (a merge: these belong together; a split: they do not)
//! change that: [`Model::learn`] replays the pairs, doubling the weight of
//! the tokens that told a wrongly joined pair apart and halving those that
//! kept a wrongly separated pair apart, then picks the threshold that
//! classifies the most pairs right. Pure and deterministic: the same pairs in
//! the same order give the same model.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The threshold a service starts with, before any feedback.
pub const DEFAULT_THRESHOLD: f64 = 0.6;
/// The weight of a title word before feedback.
const WORD_WEIGHT: f64 = 1.0;
/// The weight of a field before feedback.
const FIELD_WEIGHT: f64 = 0.5;
/// Learned weights stay within these bounds, so no token decides alone.
const MIN_WEIGHT: f64 = 1.0 / 64.0;
const MAX_WEIGHT: f64 = 64.0;
/// Learned thresholds stay within these bounds.
const MIN_THRESHOLD: f64 = 0.2;
const MAX_THRESHOLD: f64 = 0.98;
/// How far a learned threshold stays from the pair scores that set it.
const MARGIN: f64 = 0.01;
/// Times the pairs are replayed while learning.
const EPOCHS: usize = 8;
/// The most words of a title that count (titles are capped anyway).
const MAX_WORDS: usize = 64;

/// An alert as a set of normalised tokens, sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Tokens(pub BTreeSet<String>);

impl Tokens {
    /// The tokens of a title and the alert's fields (`name`, value).
    pub fn of<'a>(title: &str, fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> Tokens {
        let mut set: BTreeSet<String> = words(title).into_iter().collect();
        for (name, value) in fields {
            let value = value.trim().to_lowercase();
            if !value.is_empty() {
                set.insert(format!("{name}={}", clip(&value, 80)));
            }
        }
        Tokens(set)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A labelled pair: two alerts a responder said belong together (a merge)
/// or apart (a split).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pair {
    pub a: Tokens,
    pub b: Tokens,
    /// True for a merge, false for a split.
    pub same: bool,
}

/// A title normalised: lower case, variable parts masked, words separated by
/// one space. Two titles that differ only in numbers, ids, hosts, IPs or hex
/// normalise the same.
pub fn normalise(title: &str) -> String {
    words(title).join(" ")
}

fn words(title: &str) -> Vec<String> {
    title
        .split(|c: char| c.is_whitespace() || SEPARATORS.contains(&c))
        .map(|w| w.trim_matches(|c: char| TRIM.contains(&c)))
        .filter(|w| !w.is_empty())
        .take(MAX_WORDS)
        .map(mask)
        .collect()
}

/// Characters that end a word.
const SEPARATORS: &[char] = &[
    ',', ';', '(', ')', '[', ']', '{', '}', '"', '\'', '`', '=', '|', '/', '\\', '!', '?', '*',
    '&', '#', '@', '$',
];
/// Characters stripped from a word's ends (a sentence's full stop, `host:`).
const TRIM: &[char] = &['.', ':', '-', '_', '+', '%', '~'];

/// One word, lower case, with its variable part masked.
fn mask(word: &str) -> String {
    let w = word.to_lowercase();
    if is_ipv4(&w) || is_ipv6(&w) {
        return "<ip>".into();
    }
    if is_uuid(&w) {
        return "<id>".into();
    }
    if is_number(&w) {
        return "<n>".into();
    }
    if is_hex(&w) {
        return "<hex>".into();
    }
    if is_host(&w) {
        return "<host>".into();
    }
    if !w.chars().any(|c| c.is_ascii_digit()) {
        return clip(&w, 40);
    }
    // An id made of parts (`web-3`, `pod_7f9c2d1a`, `i-0abc123def`): mask
    // each part that varies, keep the words.
    let parts: Vec<String> = w
        .split(['-', '_', ':', '.'])
        .map(|p| {
            if p.is_empty() {
                String::new()
            } else if is_number(p) {
                "<n>".into()
            } else if is_hex(p) {
                "<hex>".into()
            } else {
                // Letters with digits mixed in (`web3`, `v2beta`): mask the digits.
                mask_digits(p)
            }
        })
        .collect();
    clip(&parts.join("-"), 40)
}

fn clip(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Every run of digits replaced by `<n>`.
fn mask_digits(p: &str) -> String {
    let mut out = String::new();
    let mut in_digits = false;
    for c in p.chars() {
        if c.is_ascii_digit() {
            if !in_digits {
                out.push_str("<n>");
            }
            in_digits = true;
        } else {
            out.push(c);
            in_digits = false;
        }
    }
    out
}

/// `42`, `3.5`, `-1`, `95%`, `250ms`, `3gb`, `1,024`: digits with at most a
/// short unit after them.
fn is_number(w: &str) -> bool {
    let digits_end = w
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_digit() || *c == '.' || *c == ','))
        .map_or(w.len(), |(i, _)| i);
    let (num, unit) = w.split_at(digits_end);
    num.chars().any(|c| c.is_ascii_digit())
        && unit.len() <= 3
        && unit.chars().all(|c| c.is_ascii_alphabetic() || c == '%')
}

/// `0x1f`, `deadbeef`, a git sha: hex digits, with a digit among them, at
/// least 6 long (or any length after `0x`).
fn is_hex(w: &str) -> bool {
    if let Some(rest) = w.strip_prefix("0x") {
        return !rest.is_empty() && rest.chars().all(|c| c.is_ascii_hexdigit());
    }
    w.len() >= 6
        && w.chars().all(|c| c.is_ascii_hexdigit())
        && w.chars().any(|c| c.is_ascii_digit())
}

fn is_uuid(w: &str) -> bool {
    let parts: Vec<&str> = w.split('-').collect();
    parts.len() == 5
        && parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// `10.0.3.7`, `10.0.3.7:9100`.
fn is_ipv4(w: &str) -> bool {
    let addr = w.rsplit_once(':').map_or(w, |(a, port)| {
        if !port.is_empty() && port.chars().all(|c| c.is_ascii_digit()) {
            a
        } else {
            w
        }
    });
    let octets: Vec<&str> = addr.split('.').collect();
    octets.len() == 4
        && octets
            .iter()
            .all(|o| !o.is_empty() && o.len() <= 3 && o.chars().all(|c| c.is_ascii_digit()))
}

/// `fe80::1`, `2001:db8::ff00:42:8329`.
fn is_ipv6(w: &str) -> bool {
    w.matches(':').count() >= 2
        && w.chars().all(|c| c.is_ascii_hexdigit() || c == ':')
        && w.chars().any(|c| c.is_ascii_hexdigit())
}

/// A DNS name: labels of letters, digits and `-` joined by dots, at least
/// two dots (`db-3.prod.internal`) or one with a digit in it (`web3.eu`).
fn is_host(w: &str) -> bool {
    let labels: Vec<&str> = w.split('.').collect();
    labels.len() >= 2
        && labels
            .iter()
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        && (labels.len() >= 3 || w.chars().any(|c| c.is_ascii_digit()))
}

/// A service's learned way of comparing alerts.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// Weights that feedback changed; every other token has its default.
    weights: BTreeMap<String, f64>,
    /// Alerts at least this similar belong together.
    pub threshold: f64,
}

impl Default for Model {
    fn default() -> Model {
        Model {
            weights: BTreeMap::new(),
            threshold: DEFAULT_THRESHOLD,
        }
    }
}

impl Model {
    /// The weight of one token.
    pub fn weight(&self, token: &str) -> f64 {
        self.weights.get(token).copied().unwrap_or_else(|| {
            if token.contains('=') {
                FIELD_WEIGHT
            } else {
                WORD_WEIGHT
            }
        })
    }

    /// Weighted Jaccard similarity of `a` and `b`, in [0, 1]; symmetric.
    /// Two empty sets share nothing: 0.
    pub fn similarity(&self, a: &Tokens, b: &Tokens) -> f64 {
        let (mut shared, mut all) = (0.0, 0.0);
        for t in a.0.union(&b.0) {
            let w = self.weight(t);
            all += w;
            if a.0.contains(t) && b.0.contains(t) {
                shared += w;
            }
        }
        if all > 0.0 {
            (shared / all).clamp(0.0, 1.0)
        } else {
            0.0
        }
    }

    /// Whether `a` and `b` belong together under this model.
    pub fn same(&self, a: &Tokens, b: &Tokens) -> bool {
        self.similarity(a, b) >= self.threshold
    }

    /// The model learned from labelled pairs, oldest first.
    ///
    /// Mistake-driven, like a perceptron: each epoch replays the pairs; a
    /// split pair the model would join has the tokens that differ doubled
    /// and the ones shared lowered; a merged pair it would keep apart has
    /// the tokens that differ halved. The threshold is then the one that
    /// gets the most pairs right (ties: the one nearest the default).
    pub fn learn(pairs: &[Pair]) -> Model {
        let mut m = Model::default();
        if pairs.is_empty() {
            return m;
        }
        for _ in 0..EPOCHS {
            let mut mistakes = 0;
            for p in pairs {
                let s = m.similarity(&p.a, &p.b);
                let diff = p.a.0.symmetric_difference(&p.b.0);
                match (p.same, s >= m.threshold) {
                    (false, true) => {
                        mistakes += 1;
                        for t in diff {
                            m.scale(t, 2.0);
                        }
                        for t in p.a.0.intersection(&p.b.0) {
                            m.scale(t, 0.8);
                        }
                    }
                    (true, false) => {
                        mistakes += 1;
                        for t in diff {
                            m.scale(t, 0.5);
                        }
                    }
                    _ => {}
                }
            }
            m.threshold = m.best_threshold(pairs);
            if mistakes == 0 {
                break;
            }
        }
        m
    }

    fn scale(&mut self, token: &str, by: f64) {
        let w = (self.weight(token) * by).clamp(MIN_WEIGHT, MAX_WEIGHT);
        self.weights.insert(token.to_string(), w);
    }

    /// The threshold that classifies the most pairs right under the
    /// current weights: the default, or just below or above a pair's score.
    fn best_threshold(&self, pairs: &[Pair]) -> f64 {
        let scored: Vec<(f64, bool)> = pairs
            .iter()
            .map(|p| (self.similarity(&p.a, &p.b), p.same))
            .collect();
        // Just below a score counts its pair as alike, just above as not:
        // the threshold moves only as far as the pairs ask.
        let mut candidates = vec![DEFAULT_THRESHOLD];
        for (s, _) in &scored {
            candidates.push(s - MARGIN);
            candidates.push(s + MARGIN);
        }
        let right = |t: f64| scored.iter().filter(|(s, same)| (*s >= t) == *same).count();
        let mut best = (DEFAULT_THRESHOLD, right(DEFAULT_THRESHOLD));
        for t in candidates {
            let t = t.clamp(MIN_THRESHOLD, MAX_THRESHOLD);
            let r = right(t);
            let nearer = (t - DEFAULT_THRESHOLD).abs() < (best.0 - DEFAULT_THRESHOLD).abs();
            if r > best.1 || (r == best.1 && nearer) {
                best = (t, r);
            }
        }
        best.0
    }
}

/// A score as shown to people and stored: thousandths, 0..=1000.
pub fn per_mille(score: f64) -> u16 {
    (score.clamp(0.0, 1.0) * 1000.0).round() as u16
}

/// How often a new incident's kind came up on its service lately,
/// PagerDuty's outlier classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outlier {
    /// At least 20% of the service's incidents in the last 30 days.
    Frequent,
    /// At most 5% of them.
    Rare,
    /// Not seen in the last 30 days.
    Anomaly,
}

impl Outlier {
    pub fn as_str(self) -> &'static str {
        match self {
            Outlier::Frequent => "frequent",
            Outlier::Rare => "rare",
            Outlier::Anomaly => "anomaly",
        }
    }

    /// The class of a kind seen `alike` times among `total` recent
    /// incidents; `None` between rare and frequent.
    pub fn classify(alike: usize, total: usize) -> Option<Outlier> {
        if alike == 0 {
            return Some(Outlier::Anomaly);
        }
        // alike ≤ total; integer comparisons keep the bounds exact.
        if alike * 5 >= total {
            Some(Outlier::Frequent)
        } else if alike * 20 <= total {
            Some(Outlier::Rare)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(title: &str, want: &str) {
        assert_eq!(normalise(title), want, "{title}");
    }

    #[test]
    fn normalising_masks_what_varies() {
        check(
            "Disk 95% full on db-3.prod.internal",
            "disk <n> full on <host>",
        );
        check(
            "High latency (p99=1.2s) on 10.0.3.7:9100",
            "high latency p<n> <n> on <ip>",
        );
        check("Pod web-7f9c2d1a4b crashed", "pod web-<hex> crashed");
        check(
            "instance i-0abc123def unreachable",
            "instance i-<hex> unreachable",
        );
        check(
            "job 3fa85f64-5717-4562-b3fc-2c963f66afa6 failed",
            "job <id> failed",
        );
        check("segfault at 0x7ffd1c", "segfault at <hex>");
        check("web3 down, fe80::1 lost", "web<n> down <ip> lost");
        check("commit deadbeef12 broke CI.", "commit <hex> broke ci");
        check("  ", "");
    }

    fn t(title: &str) -> Tokens {
        Tokens::of(title, [])
    }

    #[test]
    fn similarity_is_weighted_jaccard() {
        let m = Model::default();
        assert_eq!(
            m.similarity(&t("disk full on db-1"), &t("Disk full on db-2")),
            1.0
        );
        // {cpu high on <host>} vs {disk full on <host>}: 2 shared of 6.
        let s = m.similarity(&t("cpu high on a.b.c"), &t("disk full on x.y.z"));
        assert!((s - 2.0 / 6.0).abs() < 1e-9, "{s}");
        assert_eq!(m.similarity(&t(""), &t("")), 0.0);
        // A field weighs half a word.
        let a = Tokens::of("disk full", [("source", "db-1")]);
        let b = Tokens::of("disk full", [("source", "db-2")]);
        assert!((m.similarity(&a, &b) - 2.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn a_split_teaches_that_the_differing_fields_matter() {
        let a = Tokens::of("disk full on /var", [("source", "db-1")]);
        let b = Tokens::of("disk full on /var", [("source", "db-2")]);
        let c = Tokens::of("disk full on /var", [("source", "db-1")]);
        let before = Model::default();
        assert!(before.same(&a, &b));
        let after = Model::learn(&[Pair {
            a: a.clone(),
            b: b.clone(),
            same: false,
        }]);
        assert!(!after.same(&a, &b), "{after:?}");
        assert!(after.same(&a, &c), "the same host still groups");
    }

    #[test]
    fn a_merge_teaches_that_the_differing_words_are_noise() {
        let a = t("payments api 5xx rate high");
        let b = t("payments api error budget burning");
        let before = Model::default();
        assert!(!before.same(&a, &b));
        let after = Model::learn(&[Pair {
            a: a.clone(),
            b: b.clone(),
            same: true,
        }]);
        assert!(after.same(&a, &b), "{after:?}");
        assert_eq!(after, Model::learn(&[Pair { a, b, same: true }]));
    }

    #[test]
    fn outlier_classes_follow_the_shares() {
        assert_eq!(Outlier::classify(0, 0), Some(Outlier::Anomaly));
        assert_eq!(Outlier::classify(0, 50), Some(Outlier::Anomaly));
        assert_eq!(Outlier::classify(10, 50), Some(Outlier::Frequent));
        assert_eq!(Outlier::classify(9, 50), None);
        assert_eq!(Outlier::classify(3, 60), Some(Outlier::Rare));
        assert_eq!(Outlier::classify(4, 60), None);
        assert_eq!(Outlier::classify(1, 1), Some(Outlier::Frequent));
    }

    fn tokens() -> impl Strategy<Value = Tokens> {
        (
            ".{0,120}",
            proptest::collection::vec(("[a-z]{1,8}", ".{0,20}"), 0..4),
        )
            .prop_map(|(title, fields)| {
                Tokens::of(&title, fields.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            })
    }

    proptest! {
        #[test]
        fn normalising_never_panics_and_is_stable(s in "\\PC{0,200}") {
            let n = normalise(&s);
            // Masks and separators are fixed points: normalising again changes nothing.
            prop_assert_eq!(normalise(&n), n);
        }

        #[test]
        fn similarity_is_symmetric_and_bounded(
            a in tokens(),
            b in tokens(),
            pairs in proptest::collection::vec((tokens(), tokens(), any::<bool>()), 0..6),
        ) {
            let pairs: Vec<Pair> = pairs.into_iter().map(|(a, b, same)| Pair { a, b, same }).collect();
            for m in [Model::default(), Model::learn(&pairs)] {
                let ab = m.similarity(&a, &b);
                prop_assert_eq!(ab.to_bits(), m.similarity(&b, &a).to_bits());
                prop_assert!((0.0..=1.0).contains(&ab));
                if !a.is_empty() {
                    prop_assert_eq!(m.similarity(&a, &a), 1.0);
                }
                prop_assert!((MIN_THRESHOLD..=MAX_THRESHOLD).contains(&m.threshold));
            }
        }
    }
}
