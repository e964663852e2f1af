//! Event rules: conditions over an alert's fields; the first rule whose
//! conditions all hold decides (suppress, drop, or go on with a new severity,
//! urgency or service). Pure.

use crate::config::{Condition, Op, Rule};
use crate::domain::incident::AlertDetails;
use crate::domain::similarity::Outlier;
use serde_json::Value;

/// The first rule in `rules` that matches `alert`.
pub fn first_match<'a>(rules: &'a [Rule], alert: &AlertDetails) -> Option<&'a Rule> {
    first_match_labelled(rules, alert, None)
}

/// The first rule in `rules` that matches `alert`, whose outlier label (for
/// rules on `outlier`) is `outlier`.
pub fn first_match_labelled<'a>(
    rules: &'a [Rule],
    alert: &AlertDetails,
    outlier: Option<Outlier>,
) -> Option<&'a Rule> {
    rules
        .iter()
        .find(|r| r.when.iter().all(|c| holds(c, alert, outlier)))
}

/// Whether any of `rules` looks at the outlier label (which costs reads).
pub fn use_outlier(rules: &[Rule]) -> bool {
    rules
        .iter()
        .any(|r| r.when.iter().any(|c| c.field == "outlier"))
}

fn holds(c: &Condition, alert: &AlertDetails, outlier: Option<Outlier>) -> bool {
    let value = match c.field.as_str() {
        "outlier" => outlier.map(|o| Value::String(o.as_str().into())),
        name => field(alert, name),
    };
    let Some(value) = value else {
        return false;
    };
    let text = || match &value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let number = || match &value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match &c.op {
        Op::Equals(want) => text() == *want,
        Op::Contains(part) => text().contains(part.as_str()),
        Op::Matches(re) => re.is_match(&text()),
        Op::Gt(n) => number().is_some_and(|v| v > *n),
        Op::Gte(n) => number().is_some_and(|v| v >= *n),
        Op::Lt(n) => number().is_some_and(|v| v < *n),
        Op::Lte(n) => number().is_some_and(|v| v <= *n),
    }
}

/// The value a condition looks at; `None` when the alert does not have it.
fn field(alert: &AlertDetails, name: &str) -> Option<Value> {
    let s = |v: &str| Some(Value::String(v.to_string()));
    match name {
        "summary" => s(&alert.summary),
        "source" => s(&alert.source),
        "severity" => s(alert.severity.as_str()),
        "component" => alert.component.as_deref().and_then(s),
        "group" => alert.group.as_deref().and_then(s),
        "class" => alert.class.as_deref().and_then(s),
        path => {
            let mut v = alert.custom_details.as_ref()?;
            for key in path.strip_prefix("custom_details.")?.split('.') {
                v = match v {
                    Value::Array(items) => items.get(key.parse::<usize>().ok()?)?,
                    other => other.get(key)?,
                };
            }
            (!v.is_null()).then(|| v.clone())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, RuleAction};
    use crate::domain::incident::Severity;
    use proptest::prelude::*;
    use serde_json::json;

    fn rules(text: &str) -> Vec<Rule> {
        let config = format!(
            "[[teams]]\nid = \"t\"\nname = \"T\"\n\
             [[services]]\nid = \"api\"\nname = \"API\"\nteam = \"t\"\nintegration_key = \"0123456789abcdef0123456789abcdef\"\n{text}\
             [[services]]\nid = \"staging\"\nname = \"Staging\"\nteam = \"t\"\nintegration_key = \"0123456789abcdef0123456789abcdee\"\n"
        );
        Config::parse("t.toml", &config).unwrap().services[0]
            .rules
            .clone()
    }

    fn alert(summary: &str, details: Value) -> AlertDetails {
        let mut a = crate::domain::incident::tests::sample(1).alert;
        a.summary = summary.into();
        a.custom_details = Some(details);
        a
    }

    #[test]
    fn the_first_matching_rule_wins_and_all_its_conditions_must_hold() {
        let r = rules(
            "[[services.rules]]\nwhen = [{ field = \"summary\", contains = \"test\" }]\naction = \"drop\"\n\
             [[services.rules]]\nwhen = [{ field = \"custom_details.env\", equals = \"staging\" }]\nroute = \"staging\"\nurgency = \"low\"\n\
             [[services.rules]]\nwhen = [{ field = \"custom_details.disk.used_pct\", gte = 90 }, { field = \"source\", matches = \"^db-[0-9]+$\" }]\nseverity = \"critical\"\n\
             [[services.rules]]\nwhen = [{ field = \"custom_details.disk.used_pct\", lt = 50 }]\naction = \"suppress\"\n",
        );
        let check = |a: &AlertDetails| {
            first_match(&r, a).map(|x| (x.action, x.route.clone(), x.severity, x.urgency))
        };
        assert_eq!(
            check(&alert("a test alert", json!({"env": "staging"})))
                .unwrap()
                .0,
            RuleAction::Drop
        );
        let staging = check(&alert("disk", json!({"env": "staging"}))).unwrap();
        assert_eq!(staging.1.as_deref(), Some("staging"));
        let mut db = alert("disk", json!({"disk": {"used_pct": "93.5"}}));
        db.source = "db-12".into();
        assert_eq!(check(&db).unwrap().2, Some(Severity::Critical));
        db.source = "web-1".into();
        assert_eq!(check(&db), None, "every condition must hold");
        let quiet = alert("disk", json!({"disk": {"used_pct": 12}}));
        assert_eq!(check(&quiet).unwrap().0, RuleAction::Suppress);
        assert_eq!(
            check(&alert("disk", json!({}))),
            None,
            "a missing field matches nothing"
        );
    }

    #[test]
    fn rules_can_match_the_outlier_label() {
        let r = rules(
            "[[services.rules]]\nwhen = [{ field = \"outlier\", equals = \"anomaly\" }]\nurgency = \"high\"\n",
        );
        assert!(use_outlier(&r));
        let a = alert("disk", json!({}));
        assert!(first_match_labelled(&r, &a, Some(Outlier::Anomaly)).is_some());
        assert!(first_match_labelled(&r, &a, Some(Outlier::Rare)).is_none());
        assert!(
            first_match_labelled(&r, &a, None).is_none(),
            "no label, no match"
        );
        assert!(!use_outlier(&rules("")));
        let bad = |cond: &str| {
            let text = format!(
                "[[teams]]\nid = \"t\"\nname = \"T\"\n\
                 [[services]]\nid = \"api\"\nname = \"API\"\nteam = \"t\"\nintegration_key = \"0123456789abcdef0123456789abcdef\"\n\
                 [[services.rules]]\nwhen = [{cond}]\nurgency = \"high\"\n"
            );
            Config::parse("t.toml", &text).unwrap_err().to_string()
        };
        assert!(bad("{ field = \"outlier\", equals = \"weird\" }").contains("frequent"));
        assert!(bad("{ field = \"outlier\", gt = 1 }").contains("services[0].rules[0].when[0]"));
    }

    #[test]
    fn bad_rules_are_config_errors() {
        let text = "[[teams]]\nid = \"t\"\nname = \"T\"\n\
             [[services]]\nid = \"api\"\nname = \"API\"\nteam = \"t\"\nintegration_key = \"0123456789abcdef0123456789abcdef\"\n\
             [[services.rules]]\nwhen = [{ field = \"colour\", equals = \"red\" }, { field = \"summary\", matches = \"(\" }, { field = \"source\", gt = 1, lt = 2 }]\naction = \"explode\"\nroute = \"nowhere\"\nseverity = \"sev1\"\n\
             [[services.rules]]\naction = \"drop\"\n";
        let e = Config::parse("t.toml", text).unwrap_err();
        let fields: Vec<&str> = e.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "services[0].rules[0].when[0].field",
                "services[0].rules[0].when[1].matches",
                "services[0].rules[0].when[2]",
                "services[0].rules[0].action",
                "services[0].rules[0].route",
                "services[0].rules[0].severity",
                "services[0].rules[1].when",
            ],
            "{e}"
        );
    }

    proptest! {
        #[test]
        fn matching_never_panics(summary in "\\PC{0,40}", path in "[a-z0-9.]{0,20}", n in any::<f64>()) {
            let r = vec![Rule {
                when: vec![Condition { field: format!("custom_details.{path}"), op: Op::Gte(0.0) }],
                action: RuleAction::Continue, severity: None, urgency: None, route: None,
            }];
            let _ = first_match(&r, &alert(&summary, json!({"a": {"b": [n.to_string(), 1]}})));
        }
    }
}
