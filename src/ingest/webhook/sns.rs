//! AWS SNS subscription handshakes. Confirming one means fetching its URL,
//! so only SNS's own endpoints are accepted: a forged handshake must not aim
//! that fetch anywhere else.

use super::compile::Mapping;
use super::MappingError;

/// Why a handshake at `url` is refused, or `None` when it may be confirmed.
pub(super) fn refusal(mapping: &Mapping, url: &str) -> Option<MappingError> {
    if is_sns_url(url) {
        return None;
    }
    let field = mapping.confirm_url.as_ref();
    Some(MappingError {
        template: mapping.name.clone(),
        line: field.map_or(1, |e| e.line),
        field: "confirm_url".into(),
        message: format!("refusing to confirm a subscription at {url:?}: not an https SNS URL"),
    })
}

fn is_sns_url(s: &str) -> bool {
    url::Url::parse(s).is_ok_and(|u| {
        u.scheme() == "https"
            && u.host_str().is_some_and(|h| {
                h.starts_with("sns.")
                    && (h.ends_with(".amazonaws.com") || h.ends_with(".amazonaws.com.cn"))
            })
    })
}
