//! REST API v1 (`/api/v1/…`, bearer tokens): incidents, on-call, overrides
//! and services for scripts. Every change goes through the same operations
//! as Slack's buttons and commands. The OpenAPI document served at
//! `/api/v1/openapi.json` is generated from these handlers and the `wire`
//! types, so it cannot drift from them.
//!
//! Tokens: `TOCSIN_API_TOKEN` may read and write, `TOCSIN_API_READ_TOKEN`
//! only read. Errors are `application/problem+json`.

// A handler's `Err` is its answer (a problem document), made at most once
// per request: boxing it would buy nothing.
#![allow(clippy::result_large_err)]

mod incidents;
mod schedules;
mod wire;

use super::answers::{json_response, store_problem};
use super::{Handler, Resp};
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::http::request::Parts;
use hyper::{Method, Response, StatusCode};
use serde::de::DeserializeOwned;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::OpenApi;
pub(super) use wire::Problem;

/// The paths this module answers (the router hands them over).
pub(super) fn owns(path: &str) -> bool {
    path == "/api/v1/openapi.json"
        || path == "/api/v1/incidents"
        || path.starts_with("/api/v1/incidents/")
        || path == "/api/v1/oncall"
        || path == "/api/v1/services"
        || path.starts_with("/api/v1/schedules/")
}

/// What a token lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Read,
    Write,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "tocsin API",
        version = "1",
        description = "Incidents, on-call and overrides for scripts. Bearer tokens: TOCSIN_API_TOKEN (read and write) or TOCSIN_API_READ_TOKEN (read only). Errors are application/problem+json."
    ),
    paths(
        incidents::list,
        incidents::one,
        incidents::acknowledge,
        incidents::resolve,
        incidents::escalate,
        incidents::note,
        schedules::oncall,
        schedules::overrides,
        schedules::add_override,
        schedules::remove_override,
        schedules::services,
    ),
    modifiers(&Bearer),
    security(("bearer" = []))
)]
struct Doc;

struct Bearer;

impl utoipa::Modify for Bearer {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI 3.1 document, as served.
pub fn openapi_json() -> String {
    Doc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serialises")
}

/// An error answer: `application/problem+json` with `detail` for a person.
pub(super) fn problem(status: StatusCode, detail: impl Into<String>) -> Resp {
    let p = Problem {
        kind: "about:blank".into(),
        title: status.canonical_reason().unwrap_or("Error").into(),
        status: status.as_u16(),
        detail: detail.into(),
    };
    let body = serde_json::to_vec(&p).expect("a problem serialises");
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    r
}

fn ok<T: serde::Serialize>(status: StatusCode, v: &T) -> Resp {
    json_response(
        status,
        &serde_json::to_value(v).expect("API answers serialise"),
    )
}

/// The query's pairs, or a 400 saying it cannot be read.
fn query(parts: &Parts) -> Result<Vec<(String, String)>, Resp> {
    serde_urlencoded::from_str(parts.uri.query().unwrap_or(""))
        .map_err(|e| problem(StatusCode::BAD_REQUEST, format!("the query string: {e}")))
}

/// A JSON body of type `T`: 400 if it is not JSON, 422 if it is JSON of
/// another shape (a missing `by`, a field of the wrong type).
fn body<T: DeserializeOwned>(b: &Bytes) -> Result<T, Resp> {
    let v: serde_json::Value = serde_json::from_slice(b).map_err(|e| {
        problem(
            StatusCode::BAD_REQUEST,
            format!("the body is not JSON: {e}"),
        )
    })?;
    serde_json::from_value(v).map_err(|e| problem(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))
}

/// Checks who a change is made for: 1–100 characters, none that Slack or
/// an audit line could read as markup.
fn check_by(by: &str) -> Result<&str, Resp> {
    let ok_char = |c: char| c.is_alphanumeric() || " ._-@+:/".contains(c);
    let by = by.trim();
    if by.is_empty() || by.chars().count() > 100 || !by.chars().all(ok_char) {
        return Err(problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "`by` must be 1–100 letters, digits, spaces or `. _ - @ + : /`",
        ));
    }
    Ok(by)
}

impl Handler {
    /// The door: 404 while the API is off, 401 without a known bearer token
    /// (compared in constant time), 403 for the read token on a change.
    fn v1_allowed(&self, parts: &Parts, need: Scope) -> Result<(), Resp> {
        let (write, read) = (&self.core.api_token, &self.core.api_read_token);
        if write.is_none() && read.is_none() {
            return Err(problem(
                StatusCode::NOT_FOUND,
                "the API is off: set TOCSIN_API_TOKEN or TOCSIN_API_READ_TOKEN",
            ));
        }
        let given = parts
            .headers
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        let is = |t: &Option<crate::settings::Secret>| {
            t.as_ref().is_some_and(|t| {
                bool::from(subtle::ConstantTimeEq::ct_eq(
                    given.as_bytes(),
                    t.expose().as_bytes(),
                ))
            })
        };
        let scope = if is(write) {
            Scope::Write
        } else if is(read) {
            Scope::Read
        } else {
            let mut r = problem(
                StatusCode::UNAUTHORIZED,
                "missing or wrong bearer token (Authorization: Bearer …)",
            );
            r.headers_mut().insert(
                hyper::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer"),
            );
            return Err(r);
        };
        if need == Scope::Write && scope == Scope::Read {
            return Err(problem(
                StatusCode::FORBIDDEN,
                "this token may only read: changes take TOCSIN_API_TOKEN",
            ));
        }
        Ok(())
    }

    /// Every `/api/v1/…` path [`owns`] names.
    pub(super) async fn v1(&self, parts: Parts, b: Bytes) -> Resp {
        let path = parts.uri.path().to_string();
        let segs: Vec<&str> = path.trim_start_matches("/api/v1/").split('/').collect();
        let m = &parts.method;
        if segs == ["openapi.json"] {
            if m != Method::GET {
                return not_allowed(m);
            }
            let mut r = Response::new(Full::new(Bytes::from(openapi_json())));
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            return r;
        }
        let need = if m == Method::GET {
            Scope::Read
        } else {
            Scope::Write
        };
        // Known paths only: an unknown one is 404 before any token is asked for.
        let route = match (m, segs.as_slice()) {
            (&Method::GET, ["incidents"]) => Route::List,
            (&Method::GET, ["incidents", id]) => Route::One(id),
            (&Method::POST, ["incidents", id, action]) => Route::Act(id, action),
            (&Method::GET, ["oncall"]) => Route::OnCall,
            (&Method::GET, ["services"]) => Route::Services,
            (&Method::GET, ["schedules", id, "overrides"]) => Route::Overrides(id),
            (&Method::POST, ["schedules", id, "overrides"]) => Route::AddOverride(id),
            (&Method::DELETE, ["schedules", id, "overrides", o]) => Route::RemoveOverride(id, o),
            (_, ["incidents"] | ["incidents", _] | ["incidents", _, _])
            | (_, ["oncall"] | ["services"])
            | (_, ["schedules", _, "overrides"] | ["schedules", _, "overrides", _]) => {
                return not_allowed(m)
            }
            _ => return problem(StatusCode::NOT_FOUND, format!("no route for {path}")),
        };
        if let Err(r) = self.v1_allowed(&parts, need) {
            return r;
        }
        let q = match query(&parts) {
            Ok(q) => q,
            Err(r) => return r,
        };
        let r = match route {
            Route::List => incidents::list(self, &q).await,
            Route::One(id) => incidents::one(self, id).await,
            Route::Act(id, action) => incidents::act(self, id, action, &b).await,
            Route::OnCall => schedules::oncall(self, &q).await,
            Route::Services => Ok(schedules::services(self)),
            Route::Overrides(id) => schedules::overrides(self, id).await,
            Route::AddOverride(id) => schedules::add_override(self, id, &b).await,
            Route::RemoveOverride(id, o) => schedules::remove_override(self, id, o, &q).await,
        };
        r.unwrap_or_else(|e| e)
    }
}

enum Route<'a> {
    List,
    One(&'a str),
    Act(&'a str, &'a str),
    OnCall,
    Services,
    Overrides(&'a str),
    AddOverride(&'a str),
    RemoveOverride(&'a str, &'a str),
}

fn not_allowed(m: &Method) -> Resp {
    problem(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{m} is not allowed here"),
    )
}

/// What a handler answers: `Err` is an answer too (a problem).
type Answer = Result<Resp, Resp>;

/// A store failure, as every API answer words it (503, `Retry-After`).
fn unavailable(e: &crate::store::StoreError, what: &str) -> Resp {
    store_problem(e, what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_1_and_names_every_path() {
        let doc: serde_json::Value = serde_json::from_str(&openapi_json()).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        let paths = doc["paths"].as_object().unwrap();
        for p in [
            "/api/v1/incidents",
            "/api/v1/incidents/{id}",
            "/api/v1/incidents/{id}/acknowledge",
            "/api/v1/incidents/{id}/resolve",
            "/api/v1/incidents/{id}/escalate",
            "/api/v1/incidents/{id}/notes",
            "/api/v1/oncall",
            "/api/v1/schedules/{id}/overrides",
            "/api/v1/schedules/{id}/overrides/{override_id}",
            "/api/v1/services",
        ] {
            assert!(paths.contains_key(p), "{p} is missing");
            assert!(owns(&p.replace("{id}", "1").replace("{override_id}", "2")));
        }
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
    }

    #[test]
    fn by_is_a_name_not_markup() {
        assert!(check_by("deploy-bot").is_ok());
        assert!(check_by("alice@example.com").is_ok());
        for bad in ["", "   ", "<!channel>", "a&b", &"x".repeat(101), "*bold*"] {
            assert!(check_by(bad).is_err(), "{bad:?}");
        }
    }
}
