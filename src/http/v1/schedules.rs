//! `/api/v1/oncall`, `/api/v1/schedules/{id}/overrides…` and
//! `/api/v1/services`: who is on call, the overrides that change it, and
//! the configured services.

use super::wire::{NewOverride, OnCallList, OnCallShift, Override, OverrideList, Problem};
use super::wire::{Service, ServiceList};
use super::{body, check_by, ok, problem, unavailable, Answer};
use crate::config::Schedule;
use crate::domain::schedule::Override as DomainOverride;
use crate::http::{Handler, Resp};
use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use hyper::StatusCode;
use utoipa::IntoParams;

/// The longest override the API sets.
const MAX_OVERRIDE_DAYS: i64 = 90;

/// Which schedules, and when.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Read as pairs; this type only describes them.
struct OnCallParams {
    /// One schedule (a configured id); every schedule when left out.
    schedule: Option<String>,
    /// The instant asked about (RFC 3339); now when left out.
    at: Option<DateTime<Utc>>,
}

fn arg<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn schedule<'a>(h: &'a Handler, id: &str) -> Result<&'a Schedule, Resp> {
    h.core.config.schedule(id).ok_or_else(|| {
        problem(
            StatusCode::NOT_FOUND,
            format!("there is no schedule {id:?} in the configuration"),
        )
    })
}

/// Who is on call, per schedule.
#[utoipa::path(
    get,
    path = "/api/v1/oncall",
    params(OnCallParams),
    responses(
        (status = 200, description = "Who is on call at the instant", body = OnCallList),
        (status = 400, description = "A parameter is wrong", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No bearer token, or an unknown one", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such schedule", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The store cannot be read; retry", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn oncall(h: &Handler, q: &[(String, String)]) -> Answer {
    let at = match arg(q, "at") {
        None => h.core.clock.now(),
        Some(v) => DateTime::parse_from_rfc3339(v)
            .map_err(|e| {
                problem(
                    StatusCode::BAD_REQUEST,
                    format!("`at` {v:?} is not an RFC 3339 time: {e}"),
                )
            })?
            .with_timezone(&Utc),
    };
    let config = &h.core.config;
    let chosen: Vec<&Schedule> = match arg(q, "schedule") {
        Some(id) => vec![schedule(h, id)?],
        None => config.schedules.iter().collect(),
    };
    let mut oncall = vec![];
    for s in chosen {
        let o = h
            .core
            .on_call(s, at)
            .await
            .map_err(|e| unavailable(&e, "the overrides"))?;
        oncall.push(OnCallShift::of(config, &o));
    }
    Ok(ok(StatusCode::OK, &OnCallList { at, oncall }))
}

/// A schedule's overrides.
#[utoipa::path(
    get,
    path = "/api/v1/schedules/{id}/overrides",
    params(("id" = String, Path, description = "A configured schedule id")),
    responses(
        (status = 200, description = "The overrides, oldest first", body = OverrideList),
        (status = 401, description = "No bearer token, or an unknown one", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such schedule", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The store cannot be read; retry", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn overrides(h: &Handler, id: &str) -> Answer {
    let s = schedule(h, id)?;
    let list = h
        .core
        .stored_overrides(&s.id)
        .await
        .map_err(|e| unavailable(&e, "the overrides"))?;
    Ok(ok(
        StatusCode::OK,
        &OverrideList {
            schedule: s.id.clone(),
            overrides: list.iter().map(Override::from).collect(),
        },
    ))
}

/// Put someone on call over a span (a holiday, a swap arranged elsewhere).
#[utoipa::path(
    post,
    path = "/api/v1/schedules/{id}/overrides",
    params(("id" = String, Path, description = "A configured schedule id")),
    request_body = NewOverride,
    responses(
        (status = 201, description = "The override, in force", body = Override),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No bearer token, or an unknown one", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such schedule", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is missing or wrong (unknown user, span backwards, past or too long)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The override cannot be stored; retry", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn add_override(h: &Handler, id: &str, b: &Bytes) -> Answer {
    let s = schedule(h, id)?;
    let n: NewOverride = body(b)?;
    let by = check_by(&n.by)?;
    let bad = |m: String| problem(StatusCode::UNPROCESSABLE_ENTITY, m);
    if h.core.config.user(&n.user).is_none() {
        return Err(bad(format!("`user` {:?} is not a configured user", n.user)));
    }
    if n.end <= n.start {
        return Err(bad("`end` must be after `start`".into()));
    }
    if n.end <= h.core.clock.now() {
        return Err(bad(
            "`end` is in the past: the override would do nothing".into()
        ));
    }
    if n.end - n.start > Duration::days(MAX_OVERRIDE_DAYS) {
        return Err(bad(format!(
            "an override spans at most {MAX_OVERRIDE_DAYS} days"
        )));
    }
    let over = DomainOverride {
        user: n.user.clone(),
        start: n.start,
        end: n.end,
    };
    let stored = h
        .core
        .add_override_via_api(s, over, by)
        .await
        .map_err(|e| unavailable(&e, "the override"))?;
    Ok(ok(StatusCode::CREATED, &Override::from(&stored)))
}

/// Who removes an override, for the record.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Read as pairs; this type only describes them.
struct RemoveParams {
    /// Whoever the change is made for (1–100 letters, digits, spaces and `. _ - @ + : /`).
    by: String,
}

/// Remove an override.
#[utoipa::path(
    delete,
    path = "/api/v1/schedules/{id}/overrides/{override_id}",
    params(
        ("id" = String, Path, description = "A configured schedule id"),
        ("override_id" = u64, Path, description = "The override's id"),
        RemoveParams,
    ),
    responses(
        (status = 200, description = "Removed; this was the override", body = Override),
        (status = 400, description = "The override id is not a number", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No bearer token, or an unknown one", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such schedule, or no such override on it", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`by` is missing or not a name", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The change cannot be stored; retry", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn remove_override(
    h: &Handler,
    id: &str,
    override_id: &str,
    q: &[(String, String)],
) -> Answer {
    let s = schedule(h, id)?;
    let Ok(oid) = override_id.parse::<u64>() else {
        return Err(problem(
            StatusCode::BAD_REQUEST,
            format!("{override_id:?} is not an override id (a whole number)"),
        ));
    };
    let by = check_by(arg(q, "by").unwrap_or(""))?;
    match h.core.remove_override_via_api(s, oid, by).await {
        Ok(Some(gone)) => Ok(ok(StatusCode::OK, &Override::from(&gone))),
        Ok(None) => Err(problem(
            StatusCode::NOT_FOUND,
            format!("{} has no override #{oid}", s.id),
        )),
        Err(e) => Err(unavailable(&e, "the removal")),
    }
}

/// The configured services.
#[utoipa::path(
    get,
    path = "/api/v1/services",
    responses(
        (status = 200, description = "Every configured service", body = ServiceList),
        (status = 401, description = "No bearer token, or an unknown one", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) fn services(h: &Handler) -> Resp {
    ok(
        StatusCode::OK,
        &ServiceList {
            services: h.core.config.services.iter().map(Service::from).collect(),
        },
    )
}
