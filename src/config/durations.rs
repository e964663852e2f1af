//! Durations as the config file writes them: "12h", "3d", "1h30m".

use chrono::Duration;

/// Parses durations such as "12h", "3d", "90m", "1h30m", "2w", "45s".
/// Units (w, d, h, m, s) go largest first, each at most once, and the total must be positive.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    const HINT: &str = "expected a duration like \"12h\", \"3d\", \"90m\" or \"1h30m\"";
    if s.is_empty() {
        return Err(format!("empty duration: {HINT}"));
    }
    if s.starts_with('-') {
        return Err(format!("negative duration `{s}` is not allowed"));
    }
    let too_large = || format!("duration `{s}` is too large");
    let mut total: i64 = 0;
    let mut last_rank: Option<u8> = None;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("invalid duration `{s}`: {HINT}"));
        }
        let (number, tail) = rest.split_at(digits);
        let Some(unit) = tail.chars().next() else {
            return Err(format!(
                "duration `{s}` is missing a unit after `{number}`: use w, d, h, m or s"
            ));
        };
        let (rank, unit_secs): (u8, i64) = match unit {
            'w' => (0, 7 * 86_400),
            'd' => (1, 86_400),
            'h' => (2, 3_600),
            'm' => (3, 60),
            's' => (4, 1),
            _ => {
                return Err(format!(
                    "unknown unit `{unit}` in duration `{s}`: use w, d, h, m or s"
                ));
            }
        };
        // Ordering rules out ambiguous forms like "30m1h" or "1h1h".
        if last_rank.is_some_and(|last| rank <= last) {
            return Err(format!(
                "units in duration `{s}` must go from largest to smallest, each at most once (e.g. \"1h30m\")"
            ));
        }
        last_rank = Some(rank);
        let n: i64 = number.parse().map_err(|_| too_large())?;
        total = n
            .checked_mul(unit_secs)
            .and_then(|secs| total.checked_add(secs))
            .ok_or_else(too_large)?;
        rest = &tail[unit.len_utf8()..];
    }
    if total == 0 {
        return Err(format!("duration `{s}` is zero; it must be positive"));
    }
    Duration::try_seconds(total).ok_or_else(too_large)
}
