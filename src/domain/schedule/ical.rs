//! The iCalendar (RFC 5545) feed of a schedule's shifts, and its access token.

use super::Shift;
use hmac::{Hmac, Mac};
use icalendar::{Calendar, Component, Event, EventLike};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The secret token in a schedule's feed URL: derived from a per-installation
/// seed, so it cannot be guessed from the schedule id, and from how many times
/// the link was rotated (`generation`), so a rotation retires the old link.
/// Generation 0 is the token links had before rotation existed.
pub fn feed_token(seed: &[u8], schedule: &str, generation: u64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(seed).expect("HMAC accepts keys of any length");
    mac.update(b"ical-feed:");
    mac.update(schedule.as_bytes());
    if generation > 0 {
        mac.update(format!("\0{generation}").as_bytes());
    }
    hex::encode(&mac.finalize().into_bytes()[..16])
}

/// Constant-time check of a presented token.
pub fn token_matches(seed: &[u8], schedule: &str, generation: u64, presented: &str) -> bool {
    feed_token(seed, schedule, generation)
        .as_bytes()
        .ct_eq(presented.as_bytes())
        .into()
}

/// The feed: one VEVENT per shift with someone on call, in UTC, with UIDs that
/// stay the same while the shift does (schedule, person, start).
pub fn calendar(schedule: &str, shifts: &[Shift], name_of: impl Fn(&str) -> String) -> String {
    let mut cal = Calendar::new();
    cal.name(&format!("On call: {schedule}"));
    for s in shifts {
        let Some(user) = &s.user else { continue };
        let uid = format!("{schedule}-{user}-{}@tocsin", s.start.timestamp());
        cal.push(
            Event::new()
                .uid(&uid)
                .summary(&format!("On call: {} ({schedule})", name_of(user)))
                .starts(s.start)
                .ends(s.end)
                .done(),
        );
    }
    cal.done().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn tokens_differ_per_schedule_and_seed_and_check_in_constant_time() {
        let a = feed_token(b"seed-1", "primary", 0);
        assert_eq!(a.len(), 32);
        assert_ne!(a, feed_token(b"seed-1", "secondary", 0));
        assert_ne!(a, feed_token(b"seed-2", "primary", 0));
        assert!(token_matches(b"seed-1", "primary", 0, &a));
        assert!(!token_matches(b"seed-1", "primary", 0, "0000"));
        // A rotated link is a new token; the old one no longer matches.
        let b = feed_token(b"seed-1", "primary", 1);
        assert_ne!(a, b);
        assert!(!token_matches(b"seed-1", "primary", 1, &a));
        assert!(token_matches(b"seed-1", "primary", 1, &b));
        assert_ne!(b, feed_token(b"seed-1", "primary", 2));
    }

    #[test]
    fn the_feed_parses_back_with_one_event_per_staffed_shift() {
        let t = |h| Utc.with_ymd_and_hms(2026, 11, 25, h, 0, 0).unwrap();
        let shifts = vec![
            Shift {
                user: Some("alice".into()),
                start: t(0),
                end: t(9),
            },
            Shift {
                user: None,
                start: t(9),
                end: t(10),
            },
            Shift {
                user: Some("bob".into()),
                start: t(10),
                end: t(18),
            },
        ];
        let text = calendar("primary", &shifts, |u| u.to_uppercase());
        let parsed: icalendar::Calendar = text.parse().expect("valid iCalendar");
        let events: Vec<_> = parsed
            .components
            .iter()
            .filter_map(|c| c.as_event())
            .collect();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].get_summary(), Some("On call: ALICE (primary)"));
        assert_eq!(
            events[1].get_uid(),
            Some(format!("primary-bob-{}@tocsin", t(10).timestamp()).as_str())
        );
        assert!(text.contains("DTSTART:20261125T000000Z"), "{text}");
    }
}
