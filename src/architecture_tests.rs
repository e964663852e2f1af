//! The module boundaries ARCHITECTURE.md states, checked against the source
//! text, so that a forbidden import fails the build's tests instead of
//! waiting for a reviewer.
//!
//! Only the non-test part of each file counts (everything before its first
//! `#[cfg(test)]`), as tests may reach across boundaries to set things up.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What each top-level module may import from the crate (ARCHITECTURE.md,
/// "Layers and their rules"). A module missing here fails the test, so a new
/// one is placed in a layer when it is added.
const MAY_IMPORT: &[(&str, &[&str])] = &[
    ("clock", &[]),
    ("settings", &[]),
    ("metrics", &[]),
    ("config", &[]),
    ("domain", &["config"]),
    ("store", &["config", "domain", "metrics"]),
    (
        "ops",
        &[
            "clock", "config", "domain", "ingest", "metrics", "settings", "store",
        ],
    ),
    ("ingest", &["config", "domain"]),
    ("import", &["config"]),
    (
        "engine",
        &["clock", "config", "domain", "metrics", "ops", "store"],
    ),
    ("outbox", &["clock", "config", "domain", "metrics", "store"]),
    ("net", &["domain", "outbox", "store"]),
    (
        "webhooks_out",
        &["clock", "config", "domain", "net", "outbox", "store"],
    ),
    (
        "slack",
        &[
            "clock", "config", "domain", "metrics", "net", "ops", "outbox", "settings", "store",
        ],
    ),
    (
        "twilio",
        &[
            "clock", "config", "domain", "ingest", "metrics", "net", "ops", "outbox", "settings",
            "store",
        ],
    ),
    (
        "sandbox",
        &["clock", "config", "domain", "settings", "slack", "store"],
    ),
    (
        "http",
        &[
            "clock", "config", "domain", "ingest", "metrics", "ops", "sandbox", "settings",
            "slack", "store", "twilio",
        ],
    ),
    (
        "smtp",
        &["config", "domain", "ingest", "ops", "settings", "store"],
    ),
    // Wiring, like `app`: a whole pipeline on a throw-away store.
    (
        "replay",
        &[
            "clock", "config", "domain", "engine", "ingest", "ops", "store",
        ],
    ),
];

struct File {
    /// Path relative to `src/`, with `/` separators.
    path: String,
    /// The non-test code, with `//` comments removed.
    code: String,
}

fn sources() -> Vec<File> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = vec![];
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("src/ is readable") {
            let p: PathBuf = entry.expect("directory entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&p).expect("source is UTF-8");
                let path = p
                    .strip_prefix(&root)
                    .expect("under src/")
                    .to_string_lossy()
                    .replace('\\', "/");
                if path.ends_with("tests.rs") || path.contains("/tests/") {
                    continue;
                }
                let code = text.split("#[cfg(test)]").next().unwrap_or("");
                let code: String = code
                    .lines()
                    .map(|l| match l.find("//") {
                        // Keep `://` in URLs; drop comments and docs.
                        Some(i) if !l[..i].ends_with(':') => &l[..i],
                        _ => l,
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                out.push(File { path, code });
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// The top-level module a file belongs to (`slack/api.rs` → `slack`).
fn top(path: &str) -> &str {
    let first = path.split('/').next().unwrap_or(path);
    first.strip_suffix(".rs").unwrap_or(first)
}

/// The top-level modules a file's code names through `crate::`.
fn imports(code: &str) -> BTreeSet<String> {
    let mut deps = BTreeSet::new();
    let ident = |s: &str| -> Option<String> {
        let s = s.trim_start();
        let end = s
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(s.len());
        (end > 0).then(|| s[..end].to_string())
    };
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `use crate::{a::b, c}`: every first segment inside the braces.
            let mut depth = 1;
            let mut start = 0;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            deps.extend(ident(&group[start..j]));
                            break;
                        }
                    }
                    ',' if depth == 1 => {
                        deps.extend(ident(&group[start..j]));
                        start = j + 1;
                    }
                    _ => {}
                }
            }
        } else {
            deps.extend(ident(rest));
        }
    }
    deps
}

fn graph(files: &[File]) -> BTreeMap<String, BTreeSet<String>> {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let m = top(&f.path);
        if m == "main" || m == "lib" || m == "architecture_tests" {
            continue;
        }
        let deps = imports(&f.code)
            .into_iter()
            .filter(|d| d != m && d != "self");
        edges.entry(m.to_string()).or_default().extend(deps);
    }
    edges
}

/// The strongly connected components with more than one module (Tarjan).
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(w: &mut Walk<'a>, v: &'a str) {
        let n = w.index.len();
        w.index.insert(v, n);
        w.low.insert(v, n);
        w.stack.push(v);
        w.on.insert(v);
        let edges = w.edges;
        for d in edges.get(v).into_iter().flatten() {
            let d = d.as_str();
            if !w.index.contains_key(d) {
                visit(w, d);
                let l = w.low[v].min(w.low[d]);
                w.low.insert(v, l);
            } else if w.on.contains(d) {
                let l = w.low[v].min(w.index[d]);
                w.low.insert(v, l);
            }
        }
        if w.low[v] == w.index[v] {
            let mut comp = vec![];
            while let Some(x) = w.stack.pop() {
                w.on.remove(x);
                comp.push(x.to_string());
                if x == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                w.out.push(comp);
            }
        }
    }
    let mut w = Walk {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: vec![],
        on: BTreeSet::new(),
        out: vec![],
    };
    let all: BTreeSet<&str> = edges
        .iter()
        .flat_map(|(k, v)| std::iter::once(k.as_str()).chain(v.iter().map(String::as_str)))
        .collect();
    for v in all {
        if !w.index.contains_key(v) {
            visit(&mut w, v);
        }
    }
    w.out
}

/// Files (outside the allowed places) whose code contains `needle`.
fn offenders(files: &[File], needle: &str, allowed: &[&str]) -> Vec<String> {
    files
        .iter()
        .filter(|f| !allowed.iter().any(|a| f.path.starts_with(a)))
        .filter(|f| f.code.contains(needle))
        .map(|f| f.path.clone())
        .collect()
}

#[test]
fn the_top_level_modules_import_each_other_without_cycles() {
    let edges = graph(&sources());
    assert_eq!(cycles(&edges), Vec::<Vec<String>>::new(), "{edges:#?}");
}

#[test]
fn every_module_imports_only_its_own_layer_and_those_inside_it() {
    let edges = graph(&sources());
    let mut bad = vec![];
    for (m, deps) in &edges {
        if m == "app" {
            continue;
        }
        let Some((_, allowed)) = MAY_IMPORT.iter().find(|(name, _)| name == m) else {
            bad.push(format!("{m}: not placed in a layer"));
            continue;
        };
        for d in deps {
            if !allowed.contains(&d.as_str()) {
                bad.push(format!("{m} -> {d}"));
            }
        }
    }
    for (m, deps) in &edges {
        for wiring in ["app", "replay"] {
            if deps.contains(wiring) {
                bad.push(format!("{m} -> {wiring}"));
            }
        }
    }
    assert_eq!(bad, Vec::<String>::new());
}

#[test]
fn only_the_clock_reads_the_wall_clock() {
    let files = sources();
    let mut bad = vec![];
    for needle in ["Utc::now", "SystemTime::now", "Local::now"] {
        bad.extend(offenders(&files, needle, &["clock.rs"]));
    }
    assert_eq!(bad, Vec::<String>::new());
}

#[test]
fn only_the_sled_backend_names_sled() {
    let files = sources();
    let mut bad = offenders(&files, "sled::", &["store/sled/"]);
    bad.extend(offenders(&files, "use sled", &["store/sled/"]));
    assert_eq!(bad, Vec::<String>::new());
}

#[test]
fn only_the_postgres_backend_names_its_driver() {
    let files = sources();
    let mut bad = vec![];
    for needle in ["tokio_postgres", "deadpool_postgres"] {
        bad.extend(offenders(&files, needle, &["store/postgres/"]));
    }
    assert_eq!(bad, Vec::<String>::new());
}

/// Slack's markup as code would write it by hand: mentions and channel
/// links (`<@U…>`, `<#C…>`, however the id is put in), special mentions and
/// dates (`<!here>`, `<!date^…>`), links (`<url|label>`) and Block Kit.
const SLACK_MARKUP: &[&str] = &[
    "\"<@",
    "<@{",
    "\"<#",
    "<#{",
    "\"<!",
    "<!{",
    "<!here",
    "<!channel",
    "<!subteam",
    "<!date",
    "\"<{",
    "\"<http",
    "|{}>",
    "\"type\": \"section\"",
    "\"type\": \"actions\"",
    "\"type\": \"mrkdwn\"",
];

#[test]
fn only_the_slack_receiver_speaks_slack() {
    let files = sources();
    let mut bad = offenders(&files, "slack_morphism", &["slack/"]);
    // Mentions, channel links and Block Kit are built in one place.
    for needle in SLACK_MARKUP {
        bad.extend(offenders(&files, needle, &["slack/"]));
    }
    bad.sort();
    bad.dedup();
    assert_eq!(bad, Vec::<String>::new());
}

#[test]
fn the_slack_needles_catch_markup_built_by_hand() {
    let speaks = |code: &str| SLACK_MARKUP.iter().any(|n| code.contains(n));
    for code in [
        r##"format!("<@{}>", who)"##,
        r##"format!("<@{who}> is {}", role.label())"##,
        r##"format!("Declared by <@{}>", d.by)"##,
        r##"write!(f, "Channel <#{channel}> opened")"##,
        r##"let everyone = "<!here>";"##,
        r##"format!("ping <!subteam^{id}>")"##,
        r##"format!("until <!date^{}^{{date_short}}|{}>", ts, at)"##,
        r##"format!("<{}|{}>", url, label)"##,
        r##"format!("see <{url}|{}>", label)"##,
        r##"json!({"type": "section", "text": t})"##,
    ] {
        assert!(speaks(code), "{code}");
    }
    for code in [
        r##"format!("@{who} is {}", role.label())"##,
        r##"format!("#{id} is resolved.")"##,
        "if a < b && c > d { x::<u8>() }",
    ] {
        assert!(!speaks(code), "{code}");
    }
}

#[test]
fn only_the_twilio_receiver_builds_twiml() {
    let files = sources();
    let mut bad = vec![];
    for needle in ["<Response", "<Say", "<Dial", "<Gather"] {
        bad.extend(offenders(&files, needle, &["twilio/"]));
    }
    assert_eq!(bad, Vec::<String>::new());
}

#[test]
fn the_import_reader_sees_grouped_and_plain_paths() {
    let code = "use crate::{a::B, c, d::{e, f}};\nlet x = crate::g::h();";
    let got: Vec<String> = imports(code).into_iter().collect();
    assert_eq!(got, ["a", "c", "d", "g"]);
    let mut edges = BTreeMap::new();
    edges.insert("x".to_string(), BTreeSet::from(["y".to_string()]));
    edges.insert("y".to_string(), BTreeSet::from(["x".to_string()]));
    assert_eq!(cycles(&edges), vec![vec!["x".to_string(), "y".to_string()]]);
}
