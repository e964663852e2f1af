//! `/api/v1/incidents…`: listing, one incident with its timeline, and the
//! changes (acknowledge, resolve, escalate, notes) through the same
//! operations as Slack's buttons.

use super::wire::{self, Action, IncidentList, IncidentState, Note, Problem};
use super::{body, check_by, ok, problem, unavailable, Answer};
use crate::domain::incident::{Actor, Transition};
use crate::http::Handler;
use crate::ops::IncidentQuery;
use crate::store::Changed;
use base64::Engine;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use hyper::StatusCode;
use utoipa::IntoParams;

/// The most incidents one page holds.
const MAX_LIMIT: usize = 100;
const DEFAULT_LIMIT: usize = 50;
/// The longest note.
const MAX_NOTE: usize = 3000;

/// The filters of a listing (all optional; together they all apply).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Read as pairs; this type only describes them.
struct ListParams {
    /// Only incidents in these states (repeat the parameter for several).
    state: Option<Vec<IncidentState>>,
    /// Only this service's incidents (a configured service id).
    service: Option<String>,
    /// Only the incidents of this team's services (a configured team id).
    team: Option<String>,
    /// Only incidents opened at or after this instant (RFC 3339).
    since: Option<DateTime<Utc>>,
    /// Page size, 1–100 (50 by default).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// Where the previous page ended: its `next_cursor`.
    cursor: Option<String>,
}

fn cursor_of(before: u64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("before:{before}"))
}

fn before_of(cursor: &str) -> Option<u64> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    std::str::from_utf8(&raw)
        .ok()?
        .strip_prefix("before:")?
        .parse()
        .ok()
}

/// The query a listing's parameters ask for; `Err` says which one is wrong.
fn parse_list(
    config: &crate::config::Config,
    q: &[(String, String)],
) -> Result<IncidentQuery, String> {
    let mut out = IncidentQuery {
        limit: DEFAULT_LIMIT,
        ..Default::default()
    };
    for (k, v) in q {
        match k.as_str() {
            "state" => {
                let s: IncidentState =
                    serde_json::from_value(serde_json::json!(v)).map_err(|_| {
                        format!("`state` {v:?} is not triggered, acknowledged or resolved")
                    })?;
                out.states.push(s.into());
            }
            "service" => {
                if config.service(v).is_none() {
                    return Err(format!("`service` {v:?} is not a configured service"));
                }
                out.service = Some(v.clone());
            }
            "team" => {
                if config.team(v).is_none() {
                    return Err(format!("`team` {v:?} is not a configured team"));
                }
                out.team = Some(v.clone());
            }
            "since" => {
                let t = DateTime::parse_from_rfc3339(v)
                    .map_err(|e| format!("`since` {v:?} is not an RFC 3339 time: {e}"))?;
                out.since = Some(t.with_timezone(&Utc));
            }
            "limit" => {
                out.limit = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or(format!(
                        "`limit` {v:?} is not a number from 1 to {MAX_LIMIT}"
                    ))?;
            }
            "cursor" => {
                out.before = Some(
                    before_of(v).ok_or(format!("`cursor` {v:?} is not one this API handed out"))?,
                );
            }
            // Unknown parameters are ignored, as most APIs do.
            _ => {}
        }
    }
    Ok(out)
}

/// List incidents, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/incidents",
    params(ListParams),
    responses(
        (status = 200, description = "A page of incidents", body = IncidentList),
        (status = 400, description = "A parameter is wrong", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No bearer token, or an unknown one", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The store cannot be read; retry", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn list(h: &Handler, q: &[(String, String)]) -> Answer {
    let query = parse_list(&h.core.config, q).map_err(|e| problem(StatusCode::BAD_REQUEST, e))?;
    let page = h
        .core
        .find_incidents(&query)
        .await
        .map_err(|e| unavailable(&e, "the incidents"))?;
    let config = &h.core.config;
    Ok(ok(
        StatusCode::OK,
        &IncidentList {
            incidents: page
                .incidents
                .iter()
                .map(|i| wire::Incident::of(config, i, false))
                .collect(),
            next_cursor: page.next_before.map(cursor_of),
        },
    ))
}

fn incident_id(id: &str) -> Result<u64, crate::http::Resp> {
    id.parse::<u64>().map_err(|_| {
        problem(
            StatusCode::BAD_REQUEST,
            format!("{id:?} is not an incident id (a whole number)"),
        )
    })
}

fn no_incident(id: u64) -> crate::http::Resp {
    problem(StatusCode::NOT_FOUND, format!("there is no incident #{id}"))
}

/// One incident, with its timeline.
#[utoipa::path(
    get,
    path = "/api/v1/incidents/{id}",
    params(("id" = u64, Path, description = "The incident's number")),
    responses(
        (status = 200, description = "The incident and its timeline", body = wire::Incident),
        (status = 400, description = "The id is not a number", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No bearer token, or an unknown one", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such incident", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The store cannot be read; retry", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn one(h: &Handler, id: &str) -> Answer {
    let id = incident_id(id)?;
    match h.core.incident(id).await {
        Ok(Some(inc)) => Ok(ok(
            StatusCode::OK,
            &wire::Incident::of(&h.core.config, &inc, true),
        )),
        Ok(None) => Err(no_incident(id)),
        Err(e) => Err(unavailable(&e, "the incident")),
    }
}

/// `POST /api/v1/incidents/{id}/{action}`.
pub(super) async fn act(h: &Handler, id: &str, action: &str, b: &Bytes) -> Answer {
    match action {
        "acknowledge" => acknowledge(h, id, b).await,
        "resolve" => resolve(h, id, b).await,
        "escalate" => escalate_incident(h, id, b).await,
        "notes" => add_note(h, id, b).await,
        _ => Err(problem(
            StatusCode::NOT_FOUND,
            format!("no action {action:?}: acknowledge, resolve, escalate or notes"),
        )),
    }
}

async fn transition(h: &Handler, id: &str, t: Transition, b: &Bytes) -> Answer {
    let id = incident_id(id)?;
    let a: Action = body(b)?;
    let by = check_by(&a.by)?.to_string();
    let changed = h
        .core
        .transition(id, t, Actor::Api { by })
        .await
        .map_err(|e| unavailable(&e, "the change"))?;
    let config = &h.core.config;
    match changed {
        Changed::Applied { incident, .. } => Ok(ok(
            StatusCode::OK,
            &wire::Incident::of(config, &incident, false),
        )),
        Changed::Unchanged { incident, why } => Err(problem(
            StatusCode::CONFLICT,
            format!("#{id} is {} already ({why:?})", incident.state.as_str()),
        )),
        Changed::NotFound => Err(no_incident(id)),
    }
}

/// Acknowledge an incident: paging stops, its messages update.
#[utoipa::path(
    post,
    path = "/api/v1/incidents/{id}/acknowledge",
    params(("id" = u64, Path, description = "The incident's number")),
    request_body = Action,
    responses(
        (status = 200, description = "Acknowledged", body = wire::Incident),
        (status = 400, description = "The id is not a number, or the body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No bearer token, or an unknown one", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such incident", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Acknowledged or resolved already; nothing changed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The body lacks `by`, or it is not a name", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The change cannot be stored; retry", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn acknowledge(h: &Handler, id: &str, b: &Bytes) -> Answer {
    transition(h, id, Transition::Acknowledge, b).await
}

/// Resolve an incident: escalation stops, its messages update.
#[utoipa::path(
    post,
    path = "/api/v1/incidents/{id}/resolve",
    params(("id" = u64, Path, description = "The incident's number")),
    request_body = Action,
    responses(
        (status = 200, description = "Resolved", body = wire::Incident),
        (status = 400, description = "The id is not a number, or the body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No bearer token, or an unknown one", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such incident", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Resolved already; nothing changed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The body lacks `by`, or it is not a name", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The change cannot be stored; retry", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn resolve(h: &Handler, id: &str, b: &Bytes) -> Answer {
    transition(h, id, Transition::Resolve, b).await
}

/// Escalate a triggered incident: its next level is paged now.
#[utoipa::path(
    post,
    path = "/api/v1/incidents/{id}/escalate",
    params(("id" = u64, Path, description = "The incident's number")),
    request_body = Action,
    responses(
        (status = 200, description = "The next level is due now", body = wire::Incident),
        (status = 400, description = "The id is not a number, or the body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No bearer token, or an unknown one", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such incident", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "It cannot escalate (not triggered, no policy, every level paged)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The body lacks `by`, or it is not a name", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The change cannot be stored; retry", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn escalate(h: &Handler, id: u64, by: &str) -> Answer {
    match h.core.escalate_via_api(id, by).await {
        Ok(Ok(inc)) => Ok(ok(
            StatusCode::OK,
            &wire::Incident::of(&h.core.config, &inc, false),
        )),
        Ok(Err(why)) => Err(problem(StatusCode::CONFLICT, why.to_string())),
        Err(e) => Err(unavailable(&e, "the escalation")),
    }
}

async fn escalate_incident(h: &Handler, id: &str, b: &Bytes) -> Answer {
    let id = incident_id(id)?;
    let a: Action = body(b)?;
    let by = check_by(&a.by)?;
    exists(h, id).await?;
    escalate(h, id, by).await
}

/// 404 unless incident `id` exists.
async fn exists(h: &Handler, id: u64) -> Result<(), crate::http::Resp> {
    match h.core.incident(id).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(no_incident(id)),
        Err(e) => Err(unavailable(&e, "the incident")),
    }
}

/// Add a note to an incident's timeline.
#[utoipa::path(
    post,
    path = "/api/v1/incidents/{id}/notes",
    params(("id" = u64, Path, description = "The incident's number")),
    request_body = Note,
    responses(
        (status = 201, description = "The incident with its timeline, the note in it", body = wire::Incident),
        (status = 400, description = "The id is not a number, or the body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No bearer token, or an unknown one", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such incident", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The body lacks `by` or `text`, or one is out of bounds", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The note cannot be stored; retry", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn note(h: &Handler, id: u64, by: &str, text: &str) -> Answer {
    match h.core.add_note_via_api(id, by, text).await {
        Ok(Ok(inc)) => Ok(ok(
            StatusCode::CREATED,
            &wire::Incident::of(&h.core.config, &inc, true),
        )),
        Ok(Err(why)) => Err(problem(StatusCode::CONFLICT, why.to_string())),
        Err(e) => Err(unavailable(&e, "the note")),
    }
}

async fn add_note(h: &Handler, id: &str, b: &Bytes) -> Answer {
    let id = incident_id(id)?;
    let n: Note = body(b)?;
    let by = check_by(&n.by)?;
    let text = n.text.trim();
    if text.is_empty() || text.chars().count() > MAX_NOTE {
        return Err(problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("`text` must be 1–{MAX_NOTE} characters"),
        ));
    }
    exists(h, id).await?;
    note(h, id, by, text).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CONFIG: &str = r#"
[[users]]
id = "alice"
name = "Alice"
[[teams]]
id = "platform"
name = "Platform"
members = ["alice"]
[[services]]
id = "api"
name = "API"
team = "platform"
integration_key = "5f0c1e9a7b3d4c2e8f6a0b1c2d3e4f5a"
"#;

    fn pairs(q: &str) -> Vec<(String, String)> {
        serde_urlencoded::from_str(q).unwrap()
    }

    fn check(q: &str, want: Result<IncidentQuery, &str>) {
        let config = crate::config::Config::parse("t.toml", CONFIG).unwrap();
        match (parse_list(&config, &pairs(q)), want) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{q}"),
            (Err(got), Err(want)) => assert!(got.contains(want), "{q}: {got}"),
            (got, want) => panic!("{q}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn listing_parameters_parse_or_say_which_is_wrong() {
        use crate::domain::incident::State;
        let base = IncidentQuery {
            limit: DEFAULT_LIMIT,
            ..Default::default()
        };
        check("", Ok(base.clone()));
        check(
            "state=triggered&state=acknowledged&service=api&team=platform&limit=2",
            Ok(IncidentQuery {
                states: vec![State::Triggered, State::Acknowledged],
                service: Some("api".into()),
                team: Some("platform".into()),
                limit: 2,
                ..base.clone()
            }),
        );
        check(
            &format!("cursor={}", cursor_of(17)),
            Ok(IncidentQuery {
                before: Some(17),
                ..base.clone()
            }),
        );
        check("state=open", Err("`state`"));
        check("service=nope", Err("`service`"));
        check("team=nope", Err("`team`"));
        check("since=yesterday", Err("`since`"));
        check("limit=0", Err("`limit`"));
        check("limit=101", Err("`limit`"));
        check("cursor=abc", Err("`cursor`"));
    }

    proptest! {
        #[test]
        fn any_query_parses_or_is_refused_without_panicking(q in ".{0,200}") {
            let config = crate::config::Config::parse("t.toml", CONFIG).unwrap();
            if let Ok(p) = serde_urlencoded::from_str::<Vec<(String, String)>>(&q) {
                let _ = parse_list(&config, &p);
            }
        }

        #[test]
        fn a_cursor_reads_back_as_the_id_it_was_made_of(id in any::<u64>()) {
            prop_assert_eq!(before_of(&cursor_of(id)), Some(id));
        }
    }
}
