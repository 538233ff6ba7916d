//! The OpenAPI 3.1 description of the HTTP API, served at `GET /api/openapi.json`: the device
//! API (`crate::api::device`) and the review API (`crate::api::review`). Each operation is described
//! on its handler (`#[utoipa::path]`); this module gathers them and adds the security schemes.
//!
//! The review *pages* (HTML forms for browsers, `crate::web`) are not part of it: they are
//! documents, not an API. [`HTML_ROUTES`] lists them so that a test can tell a route left out
//! on purpose from one forgotten.

use axum::Json;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, OpenApi as Document, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::api::{device, review};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Zoufang server API",
        description = "Field devices enrol and sync (`device`); county systems and scripts \
                       read reports and rosters and record review decisions (`review`). Every \
                       error is JSON `{code, error}`: `code` is stable, `error` is for people \
                       (Chinese)."
    ),
    paths(
        device::healthz,
        device::readyz,
        device::enroll,
        device::sync_handler,
        device::attachment_status,
        device::standards_table,
        device::rounds,
        device::attachment_upload,
        document,
        review::login,
        review::report,
        review::roster,
        review::household,
        review::conflicts,
        review::decide,
        review::settle,
        review::rounds,
        review::open_round,
    ),
    modifiers(&SecuritySchemes, &RefusedUris),
    tags(
        (name = "device", description = "Field devices: enrolment, sync, photos"),
        (name = "review", description = "The review pages' data as JSON"),
        (name = "meta", description = "This description"),
    )
)]
pub struct ApiDoc;

/// Routes of the review pages (HTML), deliberately not described.
pub const HTML_ROUTES: &[&str] = &[
    "/",
    "/login",
    "/logout",
    "/report",
    "/roster",
    "/export/report",
    "/export/roster",
    "/export/spot",
    "/households/{id}",
    "/households/{id}/attachments/{hash}",
    "/households/{id}/decide",
    "/households/{id}/settle",
    "/conflicts",
    "/checks",
    "/spot",
    "/spot/record",
    "/assets/review.css",
    "/favicon.ico",
];

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "device",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The token `POST /api/enroll` returned"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::web::session::COOKIE,
                "The session `POST /api/review/login` opened",
            ))),
        );
        components.add_security_scheme(
            "csrf",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-CSRF-Token",
                "The session's `csrf` from the login answer; required on every write",
            ))),
        );
    }
}

/// Every route answers 400 to a NUL (`%00`) in its path or query (`crate::app`),
/// before its handler runs.
struct RefusedUris;

const NUL_IN_URI: &str = "; or a NUL (`%00`) in the path or query";

impl Modify for RefusedUris {
    fn modify(&self, doc: &mut Document) {
        for item in doc.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in operations.into_iter().flatten() {
                match op.responses.responses.get_mut("400") {
                    Some(RefOr::T(known)) => known.description.push_str(NUL_IN_URI),
                    Some(RefOr::Ref(_)) => {}
                    None => {
                        let refused = ResponseBuilder::new()
                            .description(NUL_IN_URI.trim_start_matches("; or "))
                            .content(
                                "application/json",
                                Content::new(Some(Ref::from_schema_name("ErrorBody"))),
                            );
                        op.responses.responses.insert("400".into(), refused.into());
                    }
                }
            }
        }
    }
}

/// This description. Public: it describes no data.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI document", body = Object,
               content_type = "application/json"))
)]
pub(crate) async fn document() -> Json<Document> {
    Json(ApiDoc::openapi())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::Path;

    /// The paths every `.route(` of the server's sources names.
    fn routed_paths() -> BTreeSet<String> {
        fn walk(dir: &Path, out: &mut BTreeSet<String>) {
            for entry in std::fs::read_dir(dir).expect("read src") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    walk(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).expect("read source");
                    for piece in text.split(".route(").skip(1) {
                        let piece = piece.trim_start();
                        if let Some(rest) = piece.strip_prefix("\"/")
                            && let Some(end) = rest.find('"')
                        {
                            out.insert(format!("/{}", &rest[..end]));
                        }
                    }
                }
            }
        }
        let mut out = BTreeSet::new();
        walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut out);
        out
    }

    #[test]
    fn every_route_is_described_or_an_html_page() {
        let doc = ApiDoc::openapi();
        let described: BTreeSet<String> = doc.paths.paths.keys().cloned().collect();
        let html: BTreeSet<String> = HTML_ROUTES.iter().map(|s| (*s).to_owned()).collect();
        let routed = routed_paths();
        assert!(routed.len() > 20, "found only {routed:?}");
        let undescribed: Vec<_> = routed
            .iter()
            .filter(|p| !described.contains(*p) && !html.contains(*p))
            .collect();
        assert!(
            undescribed.is_empty(),
            "routes neither in the OpenAPI document nor HTML pages: {undescribed:?}"
        );
        let unrouted: Vec<_> = described
            .union(&html)
            .filter(|p| !routed.contains(*p))
            .collect();
        assert!(
            unrouted.is_empty(),
            "described but not routed: {unrouted:?}"
        );
    }

    #[test]
    fn document_is_openapi_3_json_with_schemes_and_error_bodies() {
        let json = serde_json::to_value(ApiDoc::openapi()).expect("serialize");
        let text = serde_json::to_string(&json).expect("text");
        let back: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert!(
            back["openapi"]
                .as_str()
                .is_some_and(|v| v.starts_with("3.")),
            "{}",
            back["openapi"]
        );
        for scheme in ["device", "session", "csrf"] {
            assert!(
                back["components"]["securitySchemes"][scheme].is_object(),
                "{scheme}"
            );
        }
        let error = &back["components"]["schemas"]["ErrorBody"];
        assert_eq!(error["required"], serde_json::json!(["code", "error"]));
        // Every error answer of every operation is described with its body.
        for (path, item) in back["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("operation") {
                for (status, res) in op["responses"].as_object().expect("responses") {
                    if status.starts_with('4') || status.starts_with('5') {
                        assert!(
                            res["content"]["application/json"]["schema"].is_object(),
                            "{method} {path} {status} has no body schema"
                        );
                    }
                }
            }
        }
        let step = &back["components"]["schemas"]["DecideRequest"]["properties"]["step"];
        assert!(
            step["enum"]
                .as_array()
                .is_some_and(|v| v.iter().any(|c| c == "county_decision")),
            "{step}"
        );
    }
}
