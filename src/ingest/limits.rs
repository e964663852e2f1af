//! Limits on what a sender may post, beyond the 1 MiB body cap: how deeply
//! JSON may nest and how many labels one alert may carry. Each is refused
//! with a 400 that names the limit.

/// Deepest nesting of JSON objects and arrays accepted on the ingest paths.
/// Senders' payloads stay under 10 levels; serde_json itself stops at 128.
pub const MAX_DEPTH: usize = 32;

/// Most labels, and most annotations, one Alertmanager or Grafana alert (or
/// the group's common and group labels) may carry.
pub const MAX_LABELS: usize = 128;

/// Why `body` is refused, if its JSON nests deeper than [`MAX_DEPTH`]. A scan
/// of the bytes (skipping strings), run before parsing, so a hostile body is
/// turned away before anything is built from it.
pub fn too_deep(body: &[u8]) -> Option<String> {
    // Most bodies open fewer brackets in all than the limit allows at once:
    // a count the compiler vectorises settles those without the scan below.
    let opens = body.iter().filter(|&&b| b == b'{' || b == b'[').count();
    if opens <= MAX_DEPTH {
        return None;
    }
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in body {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Some(format!(
                        "JSON nests deeper than {MAX_DEPTH} levels of objects and arrays"
                    ));
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// Why a set of `count` labels is refused, if it has more than
/// [`MAX_LABELS`]; `what` names the set (only called then).
pub fn too_many_labels(count: usize, what: impl FnOnce() -> String) -> Option<String> {
    (count > MAX_LABELS).then(|| format!("{} has {count} entries; at most {MAX_LABELS}", what()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize) -> String {
        format!(
            "{}{}",
            "{\"a\":".repeat(levels.saturating_sub(1)) + "{",
            "}".repeat(levels)
        )
    }

    fn check(body: &str, refused: bool) {
        assert_eq!(too_deep(body.as_bytes()).is_some(), refused, "{body}");
    }

    #[test]
    fn nesting_is_counted_outside_strings_only() {
        check(&nested(MAX_DEPTH), false);
        check(&nested(MAX_DEPTH + 1), true);
        check(&"[".repeat(MAX_DEPTH + 1), true);
        check(
            &format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH)),
            false,
        );
        // Brackets inside strings, escaped quotes included, do not count.
        check(&format!(r#"{{"s": "{}"}}"#, "[{".repeat(100)), false);
        check(&format!(r#"{{"s": "\"{}"}}"#, "[".repeat(100)), false);
        check(
            &format!(r#"{{"s": "\\"}}{}"#, "[".repeat(MAX_DEPTH + 1)),
            true,
        );
        // Siblings do not add up.
        check(
            &format!("[{}]", nested(MAX_DEPTH - 1).repeat(3).replace("}{", "},{")),
            false,
        );
    }

    #[test]
    fn label_counts_up_to_the_cap_pass() {
        assert_eq!(too_many_labels(MAX_LABELS, || unreachable!()), None);
        let e = too_many_labels(MAX_LABELS + 1, || "alerts[3].labels".into()).unwrap();
        assert_eq!(e, "alerts[3].labels has 129 entries; at most 128");
    }
}
