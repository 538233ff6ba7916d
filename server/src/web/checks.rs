//! The conflicts queue, the cross-household checks and the spot checks of an area.

use axum::Form;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::NaiveDate;
use serde::Deserialize;

use super::report::readable_areas;
use super::{PageError, PeriodParams, Viewer, pages};
use crate::report::cross::MAX_HOUSEHOLDS_PER_HELPER;
use crate::report::roster::RosterFilter;
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
    let area = readable_area(&viewer.user, params.area.as_deref())?;
    let queue = state.db.conflict_queue(&area, QUEUE_ROWS).await?;
    let areas = readable_areas(&state.db, &viewer).await?;
    Ok(Html(
        pages::conflicts_page(&viewer, &area, &queue, &areas).into_string(),
    ))
}

/// The numbers of the checks page.
pub struct ChecksSummary {
    pub area: String,
    pub duplicate_ids: Vec<crate::report::cross::DuplicateId>,
    pub busy_helpers: Vec<crate::report::cross::BusyHelper>,
    pub unvisited: (i64, i64),
    pub income_jumps: (i64, i64),
    pub exit_failing: (i64, i64),
    pub errors: (i64, i64),
    pub no_visit_days: i64,
}

pub async fn checks_summary<D: Database>(
    db: &D,
    viewer: &Viewer,
    area: Option<&str>,
    no_visit_days: i64,
) -> Result<ChecksSummary, PageError> {
    let area = readable_area(&viewer.user, area)?;
    let base = RosterFilter {
        area: area.clone(),
        limit: 0,
        ..RosterFilter::default()
    };
    let today = crate::projection::today();
    let unvisited = db
        .roster_count(&RosterFilter {
            not_visited_since: Some(today - chrono::Duration::days(no_visit_days)),
            ..base.clone()
        })
        .await?;
    let income_jumps = db
        .roster_count(&RosterFilter {
            flag: Some("income_jump".into()),
            ..base.clone()
        })
        .await?;
    let exit_failing = db
        .roster_count(&RosterFilter {
            exit_failing: true,
            ..base.clone()
        })
        .await?;
    let errors = db
        .roster_count(&RosterFilter {
            flag: Some("error".into()),
            ..base.clone()
        })
        .await?;
    Ok(ChecksSummary {
        duplicate_ids: db.duplicate_ids(&area).await?,
        busy_helpers: db.busy_helpers(&area, MAX_HOUSEHOLDS_PER_HELPER).await?,
        area,
        unvisited,
        income_jumps,
        exit_failing,
        errors,
        no_visit_days,
    })
}

pub async fn checks_page<D: Database>(
    State(state): State<Shared<D>>,
    viewer: Viewer,
    Query(params): Query<PeriodParams>,
) -> Result<Html<String>, PageError> {
    let summary = checks_summary(
        &state.db,
        &viewer,
        params.area.as_deref(),
        state.config.no_visit_days,
    )
    .await?;
    let areas = readable_areas(&state.db, &viewer).await?;
    Ok(Html(
        pages::checks_page(&viewer, &summary, &areas).into_string(),
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

pub async fn spot_page<D: Database>(
    State(state): State<Shared<D>>,
    viewer: Viewer,
    Query(params): Query<SpotParams>,
) -> Result<Html<String>, PageError> {
    let day = spot_day(params.day.as_deref())?;
    let areas = readable_areas(&state.db, &viewer).await?;
    let township = match params.township.as_deref().filter(|t| !t.is_empty()) {
        Some(t) => Some(readable_area(&viewer.user, Some(t))?),
        None => None,
    };
    let sample = match &township {
        Some(t) => {
            let n = params.n.unwrap_or(DEFAULT_SPOT_SIZE).clamp(1, 200);
            review::spot_sample(
                &state.db,
                &viewer.user,
                t,
                day,
                n,
                &state.config.spot_check_salt,
            )
            .await?
        }
        None => Vec::new(),
    };
    Ok(Html(
        pages::spot_page(&viewer, township.as_deref(), day, &sample, &areas).into_string(),
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

#[tracing::instrument(skip_all, fields(user = %viewer.user.username))]
pub async fn spot_record<D: Database>(
    State(state): State<Shared<D>>,
    viewer: Viewer,
    Form(form): Form<SpotForm>,
) -> Result<Response, PageError> {
    viewer.check_csrf(&form.csrf)?;
    let day = spot_day(Some(&form.day))?;
    review::record_spot(
        &state.db,
        &viewer.user,
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
