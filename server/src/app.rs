//! The whole server as one router: the device API (`crate::api::device`), the review API
//! (`crate::api::review`), the review pages (`crate::web`), the OpenAPI document, and the layers every request
//! passes through. The top of the house: nothing imports it but the binary.

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tracing::Instrument;

use crate::error::ApiError;
use crate::state::Shared;
use crate::storage::Database;

pub use crate::state::AppState;

pub fn router<D: Database>(state: Shared<D>) -> Router {
    let limits = state.config.limits.clone();
    Router::new()
        .merge(crate::api::device::routes(&state))
        .route("/api/openapi.json", get(crate::openapi::document))
        .merge(crate::api::review::routes(&state))
        .merge(crate::web::routes(&state))
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "没有这个接口")
        })
        .layer(axum::middleware::from_fn(refuse_nul_in_uri))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            Duration::from_secs(limits.body_timeout_secs.max(1)),
        ))
        .layer(axum::middleware::from_fn_with_state(
            Duration::from_secs(limits.request_deadline_secs.max(1)),
            deadline,
        ))
        .layer(axum::middleware::from_fn(security_headers))
        .layer(axum::middleware::from_fn(request_span))
        .with_state(state)
}

/// One span per request, named by the route the router matched (`/households/{id}`, not
/// `/households/hh-1`): few distinct values to group by, and never the query string, which may
/// carry names or ID numbers. Whatever a handler logs is inside it.
async fn request_span(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let span = tracing::info_span!("request", method = %req.method(), route = %route);
    async move {
        let started = Instant::now();
        let res = next.run(req).await;
        tracing::debug!(
            status = res.status().as_u16(),
            ms = started.elapsed().as_millis() as u64,
            "answered"
        );
        res
    }
    .instrument(span)
    .await
}

/// The policy of every answer: no script, no framing, no plugins' sniffing, forms only to this
/// origin.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The one place the security headers are written, outermost so that they are on every
/// answer — device API, review pages, errors, the 404 of an unknown path, a refused login and
/// a request past its deadline alike: no script, no framing, no sniffing, no referrer, and no
/// caching of what may hold personal data (rosters, on a borrowed phone). A header a route
/// set itself is kept (the stylesheet's `Cache-Control`).
async fn security_headers(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    h.entry(header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
    h.entry(header::REFERRER_POLICY)
        .or_insert(HeaderValue::from_static("no-referrer"));
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    res
}

/// A request not answered within the deadline is answered 503 (what it was doing is dropped:
/// an open transaction rolls back, so a retry is harmless).
async fn deadline(
    State(limit): State<Duration>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = req.uri().path().to_owned();
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => {
            tracing::warn!(%path, "request deadline passed");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "deadline",
                "请求处理超时,请稍后重试;已提交的数据未受影响",
            )
            .retry_after(crate::heavy::RETRY_AFTER_SECS)
            .into_response()
        }
    }
}

/// A NUL character (`%00`) in a path or query parameter is refused before any handler sees
/// it: no identifier or filter contains one, and PostgreSQL refuses it in text, which would
/// turn a malformed link into a 500.
async fn refuse_nul_in_uri(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let uri = req.uri();
    let has_nul = |s: &str| {
        s.as_bytes()
            .windows(3)
            .any(|w| w.eq_ignore_ascii_case(b"%00"))
    };
    if has_nul(uri.path()) || uri.query().is_some_and(has_nul) {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "请求地址含有无效字符(NUL)",
        )
        .into_response();
    }
    next.run(req).await
}
