//! The conflicts queue, the cross-household checks and the spot checks of an area.

use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::NaiveDate;
use serde::Deserialize;

use super::csrf::{CsrfForm, csrf_field};
use super::{PageError, PeriodParams, Viewer, pages};
use crate::review::{self, readable_area};
use crate::state::Shared;
use crate::storage::Database;

/// The conflicts queue lists at most this many fields at once.
const QUEUE_ROWS: i64 = 500;

pub async fn conflicts_page<D: Database>(
    State(state): State<Shared<D>>,
    viewer: Viewer,
    Query(params): Query<PeriodParams>,
) -> Result<Html<String>, PageError> {
    let review = viewer.review(&state);
    let (area, queue) = review.conflicts(params.area.as_deref(), QUEUE_ROWS).await?;
    let areas = review.readable_areas().await?;
    Ok(Html(
        pages::conflicts_page(&viewer, &area, &queue, &areas).into_string(),
    ))
}

/// A page of the checks' duplicate ID numbers (0: the first).
#[derive(Debug, Default, Deserialize)]
pub struct ChecksPage {
    #[serde(default)]
    pub page: usize,
}

pub async fn checks_page<D: Database>(
    State(state): State<Shared<D>>,
    viewer: Viewer,
    Query(params): Query<PeriodParams>,
    Query(at): Query<ChecksPage>,
) -> Result<Html<String>, PageError> {
    let review = viewer.review(&state);
    let summary = review
        .checks(params.area.as_deref(), state.config.no_visit_days)
        .await?;
    let areas = review.readable_areas().await?;
    Ok(Html(
        pages::checks_page(&viewer, &summary, &areas, at.page).into_string(),
    ))
}

/// Seed 003: at least 10 helper-visit checks and 5 survey checks a day.
pub const DEFAULT_SPOT_SIZE: usize = 15;

#[derive(Debug, Default, Deserialize)]
pub struct SpotParams {
    pub township: Option<String>,
    pub day: Option<String>,
    pub n: Option<usize>,
}

fn spot_day(day: Option<&str>) -> Result<NaiveDate, PageError> {
    match day.map(str::trim).filter(|d| !d.is_empty()) {
        None => Ok(crate::projection::today()),
        Some(d) => d
            .parse()
            .map_err(|_| PageError::bad_request(format!("日期「{d}」无效"))),
    }
}

/// A day's spot-check list of the township asked for (drawn on first request by those who
/// draw), as the page and its export show it.
pub(super) struct SpotList {
    pub township: Option<String>,
    pub day: NaiveDate,
    pub rows: Vec<review::SpotRow>,
}

pub(super) async fn spot_list<D: Database>(
    state: &Shared<D>,
    viewer: &Viewer,
    params: &SpotParams,
) -> Result<SpotList, PageError> {
    let review = viewer.review(state);
    let day = spot_day(params.day.as_deref())?;
    let township = match params.township.as_deref().filter(|t| !t.is_empty()) {
        Some(t) => Some(readable_area(&viewer.user, Some(t))?),
        None => None,
    };
    let rows = match &township {
        Some(t) => {
            let n = params.n.unwrap_or(DEFAULT_SPOT_SIZE).clamp(1, 200);
            let sample = review
                .spot_sample(t, day, n, &state.config.spot_check_salt)
                .await?;
            review.spot_rows(t, sample).await?
        }
        None => Vec::new(),
    };
    Ok(SpotList {
        township,
        day,
        rows,
    })
}

pub async fn spot_page<D: Database>(
    State(state): State<Shared<D>>,
    viewer: Viewer,
    Query(params): Query<SpotParams>,
) -> Result<Html<String>, PageError> {
    let list = spot_list(&state, &viewer, &params).await?;
    let areas = viewer.review(&state).readable_areas().await?;
    Ok(Html(
        pages::spot_page(
            &viewer,
            list.township.as_deref(),
            list.day,
            &list.rows,
            &areas,
        )
        .into_string(),
    ))
}

#[derive(Deserialize)]
pub struct SpotForm {
    csrf: String,
    township: String,
    day: String,
    household: String,
    result: String,
    #[serde(default)]
    note: String,
}

csrf_field!(SpotForm);

#[tracing::instrument(skip_all, fields(user = %viewer.user.username))]
pub async fn spot_record<D: Database>(
    State(state): State<Shared<D>>,
    viewer: Viewer,
    CsrfForm(form): CsrfForm<SpotForm>,
) -> Result<Response, PageError> {
    let day = spot_day(Some(&form.day))?;
    viewer
        .review(&state)
        .record_spot(
            &form.township,
            day,
            &form.household,
            &form.result,
            &form.note,
        )
        .await?;
    Ok(Redirect::to(&format!(
        "/spot?{}",
        pages::query_string(&[("township", form.township), ("day", day.to_string())])
    ))
    .into_response())
}
