//! Limits on what a sender may post, beyond the 1 MiB body cap: how deeply
//! JSON may nest and how many labels one alert may carry. Each is refused
//! with a 400 that names the limit. One limit refuses nothing: custom details
//! larger than [`MAX_CUSTOM_DETAILS`] are kept only in part
//! ([`cap_custom_details`]), and the alert goes on.

use serde_json::{Map, Value};

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

/// Most bytes of an alert's custom details that are stored, counted as
/// compact JSON: 512 KiB (524,288 bytes), the size PagerDuty documents as the
/// limit for a whole Events API v2 event. Details that PagerDuty would take
/// are kept whole; larger ones (a sender may post up to the 1 MiB body cap)
/// are cut down to fit, marked with [`TRUNCATED_MARK`].
pub use crate::domain::incident::MAX_CUSTOM_DETAILS;

/// The key that marks custom details as cut down. Its value says how large
/// they were and the limit: `{"original_bytes": N, "limit_bytes": 524288}`.
/// Object details keep their own keys beside it; any other value is moved
/// under `"value"`.
pub const TRUNCATED_MARK: &str = "tocsin_truncated";

/// Room kept for the mark (and the `"value"` wrapper) when cutting down.
const MARK_ROOM: usize = 128;

/// `details` cut down to at most [`MAX_CUSTOM_DETAILS`] bytes of compact
/// JSON, if they are larger (`None` if they fit): the leading entries
/// (object keys in order, array items, a string's leading characters) are
/// kept as long as they fit, and the mark says how large the details were.
/// Pure, and never fails: the alert is accepted either way.
pub fn cap_custom_details(details: &Value) -> Option<Value> {
    let original = json_len(details);
    if original <= MAX_CUSTOM_DETAILS {
        return None;
    }
    let mark = serde_json::json!({"original_bytes": original, "limit_bytes": MAX_CUSTOM_DETAILS});
    let mut capped = match shrink(details, MAX_CUSTOM_DETAILS - MARK_ROOM) {
        Some(Value::Object(map)) => map,
        Some(other) => Map::from_iter([("value".to_string(), other)]),
        None => Map::new(),
    };
    capped.insert(TRUNCATED_MARK.to_string(), mark);
    let capped = Value::Object(capped);
    debug_assert!(json_len(&capped) <= MAX_CUSTOM_DETAILS);
    Some(capped)
}

/// As much of `v` as fits in `budget` bytes of compact JSON (all of it if it
/// does); `None` when not even an empty container or string would.
fn shrink(v: &Value, budget: usize) -> Option<Value> {
    if json_len(v) <= budget {
        return Some(v.clone());
    }
    match v {
        Value::String(s) => {
            // Two quotes, then each character as JSON escapes it.
            let mut used = 2;
            let mut end = 0;
            for (i, c) in s.char_indices() {
                let n = escaped_len(c);
                if used + n > budget {
                    break;
                }
                used += n;
                end = i + c.len_utf8();
            }
            (budget >= 2).then(|| Value::String(s[..end].to_string()))
        }
        Value::Array(items) => {
            if budget < 2 {
                return None;
            }
            let mut used = 2;
            let mut kept = vec![];
            for item in items {
                let comma = usize::from(!kept.is_empty());
                let n = json_len(item);
                if used + comma + n <= budget {
                    used += comma + n;
                    kept.push(item.clone());
                    continue;
                }
                if let Some(part) = shrink(item, budget - used - comma) {
                    kept.push(part);
                }
                break;
            }
            Some(Value::Array(kept))
        }
        Value::Object(map) => {
            if budget < 2 {
                return None;
            }
            let mut used = 2;
            let mut kept = Map::new();
            for (k, item) in map {
                // A comma, the quoted key and its colon.
                let head = usize::from(!kept.is_empty()) + json_len(&Value::String(k.clone())) + 1;
                let n = json_len(item);
                if used + head + n <= budget {
                    used += head + n;
                    kept.insert(k.clone(), item.clone());
                    continue;
                }
                if let Some(part) = (used + head < budget)
                    .then(|| shrink(item, budget - used - head))
                    .flatten()
                {
                    kept.insert(k.clone(), part);
                }
                break;
            }
            Some(Value::Object(kept))
        }
        // A number, a boolean or null is never larger than a few bytes.
        _ => None,
    }
}

/// How many bytes `c` takes inside a JSON string, as serde_json writes it.
fn escaped_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if (c as u32) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

/// The length of `v` as compact JSON, without building the text.
pub fn json_len(v: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut n = Count(0);
    // Writing a Value into a counter cannot fail.
    serde_json::to_writer(&mut n, v).expect("a JSON value serialises");
    n.0
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

    #[test]
    fn details_within_the_cap_are_left_alone() {
        let small = serde_json::json!({"mount": "/var", "free": 12});
        assert_eq!(cap_custom_details(&small), None);
        let exact = Value::String("x".repeat(MAX_CUSTOM_DETAILS - 2));
        assert_eq!(json_len(&exact), MAX_CUSTOM_DETAILS);
        assert_eq!(
            cap_custom_details(&exact),
            None,
            "the cap itself still fits"
        );
    }

    #[test]
    fn oversized_details_keep_their_leading_part_and_a_mark() {
        // An object with a huge log and small fields: keys in order, the
        // log cut where the cap falls, the fields after it dropped.
        let lines: Vec<Value> = (0..20_000)
            .map(|i| Value::String(format!("line {i}: \"quoted\" \u{1} é")))
            .collect();
        let big = serde_json::json!({"a_host": "db-1", "log": lines, "z_after": 1});
        let original = json_len(&big);
        assert!(original > MAX_CUSTOM_DETAILS);
        let d = cap_custom_details(&big).unwrap();
        assert!(json_len(&d) <= MAX_CUSTOM_DETAILS, "{}", json_len(&d));
        assert!(
            json_len(&d) > MAX_CUSTOM_DETAILS - 2 * MARK_ROOM,
            "fills the cap"
        );
        assert_eq!(
            d[TRUNCATED_MARK],
            serde_json::json!({"original_bytes": original, "limit_bytes": MAX_CUSTOM_DETAILS})
        );
        assert_eq!(d["a_host"], "db-1");
        let kept = d["log"].as_array().unwrap();
        assert!(kept.len() > 1000 && kept.len() < 20_000);
        assert_eq!(kept[0], "line 0: \"quoted\" \u{1} é");
        assert!(d.get("z_after").is_none());

        // A bare string: cut on a character boundary, moved under "value".
        let d = cap_custom_details(&Value::String("ü".repeat(MAX_CUSTOM_DETAILS))).unwrap();
        assert!(json_len(&d) <= MAX_CUSTOM_DETAILS);
        let v = d["value"].as_str().unwrap();
        assert!(v.len() > MAX_CUSTOM_DETAILS - 2 * MARK_ROOM && v.chars().all(|c| c == 'ü'));
        assert!(d[TRUNCATED_MARK].is_object());

        // Escapes count at their written size.
        let d = cap_custom_details(&Value::String("\u{1}".repeat(MAX_CUSTOM_DETAILS))).unwrap();
        assert!(json_len(&d) <= MAX_CUSTOM_DETAILS);
    }
}
