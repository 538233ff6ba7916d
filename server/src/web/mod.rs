//! The supervisors' pages: reports, rosters, households with their cases, conflicts, checks and
//! spot checks, exports; and the sessions and the errors their JSON twin (`crate::api::review`)
//! shares.
//!
//! Server-rendered HTML with plain forms and links: it works on any phone browser, needs no
//! script at all (the CSP of `crate::app` allows none), and every page is a URL a supervisor can send to a
//! colleague. All access rules live in `crate::review`; handlers here only translate HTTP.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{Datelike, NaiveDate};
use serde::Deserialize;

use crate::projection::today;
use crate::review::ReportAsk;
use crate::review::ReviewError;
use crate::state::Shared;
use crate::storage::Database;

mod checks;
pub mod csrf;
mod export;
mod household;
mod pages;
mod report;
pub mod session;
mod spot_export;

pub use report::{PAGE_ROWS, RosterParams};
pub use session::Viewer;

/// Forms are small; anything larger is not from these pages (nor a request of their JSON
/// twin, which has the same limit).
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// The pages' routes; a login (a password), the exports, and a household's page (its document
/// and history) and writes (merges) are heavy.
pub fn routes<D: Database>(state: &Shared<D>) -> Router<Shared<D>> {
    let heavy = &state.heavy;
    Router::new()
        .route("/", get(|| async { Redirect::to("/report") }))
        .route(
            "/login",
            get(session::login_page::<D>).merge(heavy.admits(post(session::login::<D>))),
        )
        .route("/logout", post(session::logout::<D>))
        .route("/report", get(report::report_page::<D>))
        .route("/roster", get(report::roster_page::<D>))
        .route("/export/report", heavy.admits(get(export::report::<D>)))
        .route("/export/roster", heavy.admits(get(export::roster::<D>)))
        // A decision posts to the household's own URL, so that a refused one is shown in
        // place; `/decide` stays for forms of pages loaded before.
        .route(
            "/households/{id}",
            heavy.admits(get(household::page::<D>).post(household::decide::<D>)),
        )
        .route(
            "/households/{id}/attachments/{hash}",
            heavy.admits(get(household::attachment::<D>)),
        )
        .route(
            "/households/{id}/decide",
            heavy.admits(post(household::decide::<D>)),
        )
        .route(
            "/households/{id}/settle",
            heavy.admits(post(household::settle::<D>)),
        )
        .route("/conflicts", get(checks::conflicts_page::<D>))
        .route("/checks", get(checks::checks_page::<D>))
        .route("/spot", get(checks::spot_page::<D>))
        .route("/spot/record", post(checks::spot_record::<D>))
        .route("/export/spot", heavy.admits(get(spot_export::spot::<D>)))
        .route("/assets/review.css", get(style))
        // Browsers ask for it on their own; the pages have no icon, and say so without an error.
        .route(
            "/favicon.ico",
            get(|| async {
                (
                    StatusCode::NO_CONTENT,
                    [(header::CACHE_CONTROL, "max-age=86400")],
                )
            }),
        )
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
}

async fn style() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("assets/review.css"),
    )
}

/// An error shown as a page.
#[derive(Debug)]
pub struct PageError {
    status: StatusCode,
    message: String,
}

impl PageError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        PageError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
}

impl From<ReviewError> for PageError {
    fn from(e: ReviewError) -> Self {
        let status = review_status(&e);
        // Internal causes are logged by `review_status`, never shown.
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            "服务器内部错误,请稍后重试".to_owned()
        } else {
            e.to_string()
        };
        PageError { status, message }
    }
}

impl From<crate::storage::DbError> for PageError {
    fn from(e: crate::storage::DbError) -> Self {
        ReviewError::from(e).into()
    }
}

/// The HTTP status of a review error; internal causes are logged, never shown.
pub fn review_status(e: &ReviewError) -> StatusCode {
    match e {
        ReviewError::Forbidden(_) => StatusCode::FORBIDDEN,
        ReviewError::NotFound => StatusCode::NOT_FOUND,
        ReviewError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        ReviewError::Busy => StatusCode::SERVICE_UNAVAILABLE,
        ReviewError::Db(db) => {
            tracing::error!(error = %db, "database error");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

/// The `code` of an error body, by status.
fn status_code_name(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid",
        StatusCode::SERVICE_UNAVAILABLE => "busy",
        _ => "internal",
    }
}

/// The same error for the JSON API: the page's status and message as `{code, error}`.
impl From<PageError> for crate::error::ApiError {
    fn from(e: PageError) -> Self {
        crate::error::ApiError::new(e.status, status_code_name(e.status), e.message)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        (
            self.status,
            Html(pages::error_page(self.status, &self.message).into_string()),
        )
            .into_response()
    }
}

/// The report a page, an export or the API asks for: the area (inside the viewer's scope) and
/// period of `params`, counted where reports are read ([`crate::state::AppState::reports`]).
pub async fn report_of<D: Database>(
    state: &Shared<D>,
    viewer: &Viewer,
    params: &PeriodParams,
) -> Result<crate::report::Report, PageError> {
    Ok(viewer
        .review(state)
        .report(params.area.as_deref(), &params.period()?)
        .await?)
}

/// The period a report covers: by default this calendar year up to today.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PeriodParams {
    /// Area code (digits) inside the user's areas; by default the user's first area.
    pub area: Option<String>,
    /// First day, `YYYY-MM-DD`; by default 1 January of this year.
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD`; by default today.
    pub to: Option<String>,
    /// A 工作批次 id: its cases whatever their date, instead of a period. Without it (and
    /// without `from`/`to`) a report covers the round running in the area today, if any.
    pub round: Option<String>,
}

impl PeriodParams {
    pub fn period(&self) -> Result<ReportAsk, PageError> {
        let today = today();
        let parse = |v: &Option<String>, default: NaiveDate| match v
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => Ok(default),
            Some(s) => s.parse::<NaiveDate>().map_err(|_| {
                PageError::bad_request(format!("日期「{s}」无效,应为 2026-01-31 的形式"))
            }),
        };
        let year_start = NaiveDate::from_ymd_opt(today.year(), 1, 1).unwrap_or(today);
        let given = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        Ok(ReportAsk {
            from: parse(&self.from, year_start)?,
            to: parse(&self.to, today)?,
            today,
            round: given(&self.round),
            dated: given(&self.from).is_some() || given(&self.to).is_some(),
        })
    }
}
