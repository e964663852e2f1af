//! Single-value parsers, as tables and properties.

use super::*;
use proptest::prelude::*;

#[test]
fn parse_duration_table() {
    let ok: &[(&str, i64)] = &[
        ("12h", 12 * 3600),
        ("3d", 3 * 86_400),
        ("90m", 90 * 60),
        ("1h30m", 5400),
        ("2w", 14 * 86_400),
        ("45s", 45),
        ("1w2d3h4m5s", 604_800 + 2 * 86_400 + 3 * 3600 + 4 * 60 + 5),
        ("0h30m", 1800),
    ];
    for (s, secs) in ok {
        assert_eq!(parse_duration(s), Ok(Duration::seconds(*secs)), "{s}");
    }
    let bad: &[(&str, &str)] = &[
        ("", "empty"),
        ("0m", "zero"),
        ("-5m", "negative"),
        ("12", "missing a unit"),
        ("h", "invalid duration"),
        ("5x", "unknown unit `x`"),
        ("1h 30m", "invalid duration"),
        ("30m1h", "largest to smallest"),
        ("1h1h", "largest to smallest"),
        ("99999999999999999999h", "too large"),
        ("9223372036854775807s", "too large"),
        ("2562047788016h", "too large"),
        ("1.5h", "unknown unit `.`"),
        ("5é", "unknown unit `é`"),
    ];
    for (s, frag) in bad {
        match parse_duration(s) {
            Err(m) => assert!(m.contains(frag), "{s:?}: {m}"),
            Ok(d) => panic!("{s:?} parsed as {d:?}"),
        }
    }
}

#[test]
fn helpers_tables() {
    assert_eq!(parse_days("daily"), Ok([true; 7]));
    assert_eq!(parse_days("ALL"), Ok([true; 7]));
    assert_eq!(
        parse_days("fri-mon"),
        Ok([true, false, false, false, true, true, true])
    );
    assert_eq!(
        parse_days("Saturday, sun"),
        Ok([false, false, false, false, false, true, true])
    );
    assert!(parse_days("").is_err());
    assert!(parse_days("mon,,tue").is_err());
    assert_eq!(parse_hhmm("9:05"), Ok(hm(9, 5)));
    assert_eq!(parse_hhmm("23:59"), Ok(hm(23, 59)));
    for bad in ["24:00", "12:60", "1200", "12:5", ":30", "+1:30", "12:30:00"] {
        assert!(parse_hhmm(bad).is_err(), "{bad}");
    }
    assert_eq!(parse_rotation("Daily"), Ok(Rotation::Daily));
    assert_eq!(
        parse_rotation("12h"),
        Ok(Rotation::Every(Duration::hours(12)))
    );
    assert!(parse_target("user:").is_err());
    assert_eq!(
        parse_target("schedule:a:b"),
        Ok(Target::Schedule("a:b".into()))
    );
    assert_eq!(line_col("ab\ncé\nx", 6), (2, 3));
    assert_eq!(line_col("é", 1), (1, 1), "offset inside a char is clamped");
    assert_eq!(line_col("abc", 99), (1, 4));
}

proptest! {
    #[test]
    fn parse_duration_never_panics(s in ".{0,24}") {
        let _ = parse_duration(&s);
    }

    #[test]
    fn parse_duration_hours_round_trip(n in 1i64..=2_562_047_788_015) {
        prop_assert_eq!(parse_duration(&format!("{n}h")), Ok(Duration::hours(n)));
    }

    #[test]
    fn time_zones_parse_or_explain(s in "(?s).{0,40}") {
        if let Err(m) = parse_tz(&s) {
            prop_assert!(m.contains("unknown time zone"), "{}", m);
        }
    }

    #[test]
    fn every_iana_zone_parses_in_any_case_hint(i in 0usize..chrono_tz::TZ_VARIANTS.len()) {
        let tz = chrono_tz::TZ_VARIANTS[i];
        prop_assert_eq!(parse_tz(tz.name()), Ok(tz));
        // A wrong case is refused with the right spelling as the hint.
        let shouted = tz.name().to_ascii_uppercase();
        if shouted != tz.name() && shouted.parse::<Tz>().is_err() {
            let m = parse_tz(&shouted).unwrap_err();
            prop_assert!(m.contains(tz.name()), "{}", m);
        }
    }

    #[test]
    fn config_parse_never_panics_on_arbitrary_text(s in "(?s).{0,200}") {
        let _ = Config::parse("p.toml", &s);
    }

    #[test]
    fn config_parse_never_panics_on_tomlish_text(s in "[\\[\\]a-z_.=\" \n0-9:,{}#+-]{0,200}") {
        let _ = Config::parse("p.toml", &s);
    }

    #[test]
    fn config_parse_never_panics_on_mutated_example(at in 0usize..EXAMPLE.len(), cut in 0usize..8, insert in "(?s).{0,8}") {
        // EXAMPLE is ASCII, so every byte offset is a char boundary.
        let end = (at + cut).min(EXAMPLE.len());
        let text = format!("{}{}{}", &EXAMPLE[..at], insert, &EXAMPLE[end..]);
        if let Err(e) = Config::parse("p.toml", &text) {
            prop_assert!(!e.0.is_empty());
        }
    }
}
