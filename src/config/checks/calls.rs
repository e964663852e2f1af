//! Call routes: the Twilio numbers whose calls reach whoever is on call.

use std::collections::{HashMap, HashSet};

use toml::Spanned;

use super::Checker;
use crate::config::errors::line_col;
use crate::config::fields::validate_phone;
use crate::config::model::{CallRoute, RouteTarget};
use crate::config::raw::RawCallRoute;

/// Rings shorter than this rarely reach a person; longer ones hit voicemail boxes.
const RING_SECONDS: std::ops::RangeInclusive<u32> = 5..=60;

impl Checker<'_> {
    pub(super) fn call_routes(
        &mut self,
        raw: &[Spanned<RawCallRoute>],
        services: &HashSet<&str>,
    ) -> Vec<CallRoute> {
        let mut numbers: HashMap<String, usize> = HashMap::new();
        let mut out = vec![];
        for (i, r) in raw.iter().enumerate() {
            let (span, r) = (r.span(), r.get_ref());
            let path = format!("call_routes[{i}]");
            let number = r.number.get_ref().clone();
            if let Err(m) = validate_phone(&number) {
                self.err(r.number.span(), format!("{path}.number"), m);
            } else if let Some(line) = numbers.get(&number) {
                let m = format!("number already routed by the call route on line {line}");
                self.err(r.number.span(), format!("{path}.number"), m);
            } else {
                numbers.insert(number.clone(), line_col(self.text, r.number.span().start).0);
            }
            for (k, a) in r.allow.iter().enumerate() {
                if let Err(m) = validate_phone(a.get_ref()) {
                    self.err(a.span(), format!("{path}.allow[{k}]"), m);
                }
            }
            let target = match (&r.service, &r.menu) {
                (Some(svc), None) => {
                    self.check_ref(services, "service", svc, format!("{path}.service"));
                    RouteTarget::Service(svc.get_ref().clone())
                }
                (None, Some(menu)) => {
                    let mut options = vec![];
                    for (key, svc) in menu.get_ref() {
                        let field = format!("{path}.menu.{key}");
                        match key.chars().collect::<Vec<_>>()[..] {
                            [d] if d.is_ascii_digit() => options.push((d, svc.get_ref().clone())),
                            _ => self.err(
                                menu.span(),
                                field.clone(),
                                format!("menu key `{key}` must be one digit, 0 to 9"),
                            ),
                        }
                        self.check_ref(services, "service", svc, field);
                    }
                    if menu.get_ref().is_empty() {
                        self.err(
                            menu.span(),
                            format!("{path}.menu"),
                            "a menu needs at least one option",
                        );
                    }
                    RouteTarget::Menu(options)
                }
                _ => {
                    self.err(
                        span.clone(),
                        path.clone(),
                        "set exactly one of `service` and `menu`",
                    );
                    RouteTarget::Menu(vec![])
                }
            };
            let ring_seconds = match &r.ring_seconds {
                None => 20,
                Some(n) if RING_SECONDS.contains(n.get_ref()) => *n.get_ref(),
                Some(n) => {
                    let m = format!(
                        "ring_seconds must be from {} to {}",
                        RING_SECONDS.start(),
                        RING_SECONDS.end()
                    );
                    self.err(n.span(), format!("{path}.ring_seconds"), m);
                    20
                }
            };
            out.push(CallRoute {
                number,
                greeting: r.greeting.clone(),
                target,
                allow: r.allow.iter().map(|a| a.get_ref().clone()).collect(),
                voicemail: r.voicemail,
                ring_seconds,
            });
        }
        out
    }
}
