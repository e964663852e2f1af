//! `ConfigError` and `ConfigErrors`, and how a byte offset in the file becomes
//! the line, column and dotted field path people see in them.

use std::collections::HashMap;

/// One problem in the file. `line` and `column` are 1-based; 0 means the file could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {}{message}", field_prefix(.field))]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// Dotted path such as `services[1].escalation_policy`; empty when unknown.
    pub field: String,
    pub message: String,
}

/// Every problem found, in file order, so one edit-and-retry fixes them all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", join_lines(.0))]
pub struct ConfigErrors(pub Vec<ConfigError>);

fn field_prefix(field: &str) -> String {
    if field.is_empty() {
        String::new()
    } else {
        format!("{field}: ")
    }
}

fn join_lines(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// 1-based line and column (in chars) of a byte offset; never panics on odd offsets.
pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (
        before.matches('\n').count() + 1,
        before[line_start..].chars().count() + 1,
    )
}

/// Best-effort dotted path for a TOML-level error, since toml does not expose one:
/// replays `[[table]]` headers up to `line` and adds the key set on that line.
pub(super) fn field_at(text: &str, line: usize) -> String {
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut table = String::new();
    let mut key = String::new();
    for (i, l) in text.lines().take(line).enumerate() {
        let l = l.trim();
        let header = |open: &str, close: &str| {
            let inner = l.strip_prefix(open)?;
            inner.find(close).map(|end| inner[..end].trim().to_string())
        };
        if let Some(name) = header("[[", "]]") {
            // A new element restarts the numbering of arrays nested in it.
            let nested = format!("{name}.");
            counts.retain(|k, _| !k.starts_with(&nested));
            counts
                .entry(name.clone())
                .and_modify(|n| *n += 1)
                .or_insert(0);
            table = render_path(&name, &counts);
        } else if let Some(name) = header("[", "]") {
            table = render_path(&name, &counts);
        } else if let Some((k, _)) = l.split_once('=').filter(|_| i + 1 == line) {
            key = k.trim().trim_matches('"').to_string();
        }
    }
    match (table.is_empty(), key.is_empty()) {
        (_, true) => table,
        (true, false) => key,
        (false, false) => format!("{table}.{key}"),
    }
}

fn render_path(name: &str, counts: &HashMap<String, usize>) -> String {
    let mut prefix = String::new();
    let mut out = Vec::new();
    for seg in name.split('.') {
        let seg = seg.trim();
        if !prefix.is_empty() {
            prefix.push('.');
        }
        prefix.push_str(seg);
        out.push(match counts.get(&prefix) {
            Some(n) => format!("{seg}[{n}]"),
            None => seg.to_string(),
        });
    }
    out.join(".")
}
