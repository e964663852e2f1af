//! Intelligent grouping benchmark, run with `cargo bench --bench grouping`:
//! does responders' feedback (merges and splits) make grouping better on
//! alerts it has not seen?
//!
//! The labelled set is generated from a fixed seed: 1,200 problems
//! ("episodes") over four weeks, each a burst of 2–25 alerts within 20
//! minutes, of 12 kinds. Two pairs of kinds look alike but are different
//! problems (the same title on different components), and one kind is one
//! problem worded three ways (its alerts say different things). Episodes of
//! one kind never overlap; others do.
//!
//! Each alert is grouped as the pipeline groups it: it joins the open group
//! (last alert within 30 minutes) whose first alert is most similar, if at
//! least the threshold, else starts a group. The first two weeks are for
//! training: every mistake there becomes the responder's correction (an
//! alert wrongly joined: a split; an alert that started a group while its
//! problem's group was open: a merge), and the model is learned from them.
//! The last two weeks are held out and grouped before and after. Precision
//! and recall are over pairs of alerts: a pair grouped together is right when
//! both belong to one problem. Timings are medians of 11 runs.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;
use tocsin::domain::similarity::{Model, Pair, Tokens};

const EPISODES: usize = 1_200;
const KINDS: usize = 12;
const DAYS: u64 = 28;
const WINDOW_SECS: u64 = 30 * 60;
const RUNS: usize = 11;

/// A small deterministic generator (64-bit LCG), so every run sees the same set.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One alert: when, its tokens, and the problem it belongs to.
struct Alert {
    at: u64,
    tokens: Tokens,
    episode: usize,
}

/// The alert of kind `kind`, with its variable parts drawn from `rng`.
fn alert(kind: usize, rng: &mut Rng) -> Tokens {
    let n = rng.below(100);
    let host = |rng: &mut Rng, prefix: &str| format!("{prefix}-{}.prod.internal", rng.below(8));
    let (title, component, source) = match kind {
        // Alike but different: the same title on two components.
        0 => (
            format!("High latency on {}", host(rng, "web")),
            "checkout",
            host(rng, "lb"),
        ),
        1 => (
            format!("High latency on {}", host(rng, "web")),
            "search",
            host(rng, "lb"),
        ),
        2 => (
            format!("Disk {n}% full on {}", host(rng, "db")),
            "orders-db",
            host(rng, "db"),
        ),
        3 => (
            format!("Disk {n}% full on {}", host(rng, "db")),
            "ledger-db",
            host(rng, "db"),
        ),
        // One problem, worded three ways.
        4 => {
            let wording = [
                "Payments API 5xx rate high",
                "Payments API error budget burning",
                "Payments gateway timeouts rising",
            ][rng.below(3) as usize];
            (wording.to_string(), "payments", host(rng, "pay"))
        }
        5 => (
            format!("Certificate for {} expires in {n} days", host(rng, "edge")),
            "tls",
            "certwatch".into(),
        ),
        6 => (
            format!("Queue backlog {n}k messages on {}", host(rng, "mq")),
            "ingest",
            host(rng, "mq"),
        ),
        7 => (
            format!("Pod api-{:x}{:x} crashlooping", rng.next(), rng.next()),
            "api",
            "kubernetes".into(),
        ),
        8 => (
            format!("Replication lag {n}s on {}", host(rng, "pg")),
            "orders-db",
            host(rng, "pg"),
        ),
        9 => (
            format!("Heartbeat missed: nightly backup job {n}"),
            "backup",
            "cron".into(),
        ),
        10 => (
            format!("Memory usage {n}% on {}", host(rng, "worker")),
            "workers",
            host(rng, "worker"),
        ),
        _ => (
            format!("DNS resolution failures from {}", host(rng, "node")),
            "network",
            "blackbox".into(),
        ),
    };
    Tokens::of(
        &title,
        [("component", component), ("source", source.as_str())],
    )
}

/// The labelled stream, in time order.
fn labelled_set() -> Vec<Alert> {
    let mut rng = Rng(0x5eed_2026);
    // Each kind's episodes take their turn in slots of the four weeks, at a
    // random point of their slot, so that episodes of one kind never overlap.
    let per_kind = EPISODES / KINDS;
    let slot = DAYS * 86_400 / per_kind as u64;
    let mut alerts = vec![];
    for episode in 0..EPISODES {
        let (kind, turn) = (episode % KINDS, (episode / KINDS) as u64);
        let start = turn * slot + rng.below(slot - 20 * 60 - WINDOW_SECS);
        let count = 2 + rng.below(24);
        for _ in 0..count {
            alerts.push(Alert {
                at: start + rng.below(20 * 60),
                tokens: alert(kind, &mut rng),
                episode,
            });
        }
    }
    alerts.sort_by_key(|a| (a.at, a.episode));
    alerts
}

/// A group while it is open: its first alert, its last time, its problem's
/// id (for the responder's corrections) and its members.
struct Group {
    head: usize,
    last: u64,
    members: Vec<usize>,
}

/// Groups `alerts` as the pipeline does; each alert's group index.
fn group(model: &Model, alerts: &[Alert]) -> (Vec<usize>, Vec<Group>) {
    let mut groups: Vec<Group> = vec![];
    let mut of = vec![0; alerts.len()];
    for (i, a) in alerts.iter().enumerate() {
        let best = groups
            .iter()
            .enumerate()
            .filter(|(_, g)| a.at - g.last <= WINDOW_SECS)
            .map(|(gi, g)| (gi, model.similarity(&a.tokens, &alerts[g.head].tokens)))
            .max_by(|x, y| x.1.total_cmp(&y.1).then(x.0.cmp(&y.0)));
        let gi = match best {
            Some((gi, s)) if s >= model.threshold => gi,
            _ => {
                groups.push(Group {
                    head: i,
                    last: a.at,
                    members: vec![],
                });
                groups.len() - 1
            }
        };
        groups[gi].last = a.at;
        groups[gi].members.push(i);
        of[i] = gi;
    }
    (of, groups)
}

/// The corrections a responder makes to the grouping of `alerts`: a split
/// for each alert joined to another problem's group, a merge for each that
/// started a group while its own problem's group was open.
fn corrections(model: &Model, alerts: &[Alert]) -> Vec<Pair> {
    let (of, groups) = group(model, alerts);
    let mut pairs = vec![];
    let mut open_of: BTreeMap<usize, usize> = BTreeMap::new(); // episode → first group
    for (i, a) in alerts.iter().enumerate() {
        let g = &groups[of[i]];
        let head = &alerts[g.head];
        if g.head == i {
            match open_of.get(&a.episode) {
                Some(&first) => pairs.push(Pair {
                    a: a.tokens.clone(),
                    b: alerts[groups[first].head].tokens.clone(),
                    same: true,
                }),
                None => {
                    open_of.insert(a.episode, of[i]);
                }
            }
        } else if head.episode != a.episode {
            pairs.push(Pair {
                a: a.tokens.clone(),
                b: head.tokens.clone(),
                same: false,
            });
        }
    }
    pairs
}

/// Pairwise precision and recall of the grouping of `alerts`.
fn score(model: &Model, alerts: &[Alert]) -> (f64, f64, usize) {
    let (of, groups) = group(model, alerts);
    let (mut together, mut right) = (0u64, 0u64);
    for g in &groups {
        for (x, &i) in g.members.iter().enumerate() {
            for &j in &g.members[x + 1..] {
                together += 1;
                right += u64::from(alerts[i].episode == alerts[j].episode);
            }
        }
    }
    let mut per_episode: BTreeMap<usize, u64> = BTreeMap::new();
    for a in alerts {
        *per_episode.entry(a.episode).or_default() += 1;
    }
    let truth: u64 = per_episode.values().map(|n| n * (n - 1) / 2).sum();
    let _ = of;
    (
        right as f64 / together.max(1) as f64,
        right as f64 / truth.max(1) as f64,
        groups.len(),
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let alerts = labelled_set();
    let cut = alerts.partition_point(|a| a.at < DAYS * 86_400 / 2);
    let (train, held_out) = alerts.split_at(cut);
    let before = Model::default();
    let pairs = corrections(&before, train);
    let merges = pairs.iter().filter(|p| p.same).count();
    let after = Model::learn(&pairs);
    let episodes = |set: &[Alert]| {
        let mut e: Vec<usize> = set.iter().map(|a| a.episode).collect();
        e.sort_unstable();
        e.dedup();
        e.len()
    };
    println!(
        "labelled set: {} alerts, {} problems; training {} alerts, held out {} alerts ({} problems)",
        alerts.len(),
        EPISODES,
        train.len(),
        held_out.len(),
        episodes(held_out)
    );
    println!(
        "feedback from training: {} pairs ({merges} merges, {} splits); threshold {:.3} → {:.3}",
        pairs.len(),
        pairs.len() - merges,
        before.threshold,
        after.threshold
    );
    for (name, model) in [("before feedback", &before), ("after feedback", &after)] {
        let (p, r, groups) = score(model, held_out);
        println!(
            "held out, {name}: precision {:.3}, recall {:.3}, {groups} incidents",
            p, r
        );
    }
    let learn: Vec<f64> = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            black_box(Model::learn(black_box(&pairs)));
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    println!(
        "Model::learn over {} pairs: median {:.2} ms",
        pairs.len(),
        median(learn)
    );
    let decide: Vec<f64> = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            for a in &held_out[..1000] {
                for b in &held_out[1000..1050] {
                    black_box(after.similarity(&a.tokens, &b.tokens));
                }
            }
            t.elapsed().as_secs_f64() * 1e6 / 1000.0
        })
        .collect();
    println!(
        "one alert against 50 open incidents: median {:.1} µs",
        median(decide)
    );
}
