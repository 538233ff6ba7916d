//! The report and the roster it drills down to.

use axum::extract::{Query, State};
use axum::response::Html;
use serde::Deserialize;
use zoufang_shared::CodeList;
use zoufang_shared::codes::{CaseKind, HouseholdStatus, MonitoringCategory};

use super::{PageError, PeriodParams, Viewer, pages};
use crate::report::Bucket;
use crate::report::roster::{CaseFilter, RosterFilter};
use crate::review::readable_area;
use crate::state::Shared;
use crate::storage::Database;

/// Rows per roster page.
pub const PAGE_ROWS: i64 = 50;

/// A roster's filters as they travel in links (the report's cells, the checks page, paging).
/// No personal data is ever a parameter: links end up in logs and browser histories.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RosterParams {
    /// Described by `PeriodParams` itself (utoipa does not follow `flatten` here).
    #[serde(flatten)]
    #[param(ignore)]
    pub period: PeriodParams,
    pub status: Option<String>,
    pub kind: Option<String>,
    pub bucket: Option<String>,
    pub missed: Option<String>,
    pub objected: Option<String>,
    pub flag: Option<String>,
    pub conflicted: Option<String>,
    pub helper: Option<String>,
    pub unvisited: Option<String>,
    pub exit_failing: Option<String>,
    pub q: Option<String>,
    /// `area_code|id` of the last row of the previous page.
    pub after: Option<String>,
}

fn set(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn flag(v: &Option<String>) -> bool {
    matches!(v.as_deref(), Some("1" | "true" | "on"))
}

impl RosterParams {
    /// The filter these parameters ask for, with the area checked against the viewer's scope.
    pub fn filter(
        &self,
        viewer: &Viewer,
        no_visit_days: i64,
        limit: i64,
    ) -> Result<RosterFilter, PageError> {
        let area = readable_area(&viewer.user, self.period.area.as_deref())?;
        let period = self.period.period()?;
        let status = set(&self.status);
        if let Some(s) = &status
            && s != "none"
            && HouseholdStatus::parse(s).is_err()
            && MonitoringCategory::parse(s).is_err()
        {
            return Err(PageError::bad_request(format!("状态「{s}」无效")));
        }
        let kind = set(&self.kind);
        if let Some(k) = &kind {
            CaseKind::parse(k).map_err(|e| PageError::bad_request(e.to_string()))?;
        }
        let bucket = match set(&self.bucket) {
            None => None,
            Some(b) => Some(
                Bucket::parse(&b)
                    .ok_or_else(|| PageError::bad_request(format!("程序阶段「{b}」无效")))?,
            ),
        };
        let (missed, objected) = (flag(&self.missed), flag(&self.objected));
        let case = (kind.is_some() || bucket.is_some() || missed || objected).then(|| CaseFilter {
            kind: kind.clone(),
            bucket,
            window: period.window(),
            today: period.today,
            missed,
            objected,
        });
        let after = match set(&self.after) {
            None => None,
            Some(a) => Some(
                a.split_once('|')
                    .map(|(area, id)| (area.to_owned(), id.to_owned()))
                    .ok_or_else(|| PageError::bad_request("翻页参数无效"))?,
            ),
        };
        Ok(RosterFilter {
            area,
            status,
            case,
            flag: set(&self.flag),
            conflicted: flag(&self.conflicted),
            helper_key: set(&self.helper),
            not_visited_since: flag(&self.unvisited)
                .then(|| period.today - chrono::Duration::days(no_visit_days)),
            exit_failing: flag(&self.exit_failing),
            id_number: None,
            search: set(&self.q),
            after,
            limit,
        })
    }

    /// The query string of these parameters without the page position.
    pub fn query(&self) -> String {
        let p = &self.period;
        let pairs: [(&str, &Option<String>); 16] = [
            ("area", &p.area),
            ("from", &p.from),
            ("to", &p.to),
            ("round", &p.round),
            ("status", &self.status),
            ("kind", &self.kind),
            ("bucket", &self.bucket),
            ("missed", &self.missed),
            ("objected", &self.objected),
            ("flag", &self.flag),
            ("conflicted", &self.conflicted),
            ("helper", &self.helper),
            ("unvisited", &self.unvisited),
            ("exit_failing", &self.exit_failing),
            ("q", &self.q),
            ("after", &None),
        ];
        pages::query_string(
            pairs
                .iter()
                .filter_map(|(k, v)| set(v).map(|v| (*k, v)))
                .collect::<Vec<_>>()
                .as_slice(),
        )
    }
}

pub async fn report_page<D: Database>(
    State(state): State<Shared<D>>,
    viewer: Viewer,
    Query(params): Query<PeriodParams>,
) -> Result<Html<String>, PageError> {
    let report = super::report_of(&state, &viewer, &params).await?;
    let areas = viewer.review(&state).readable_areas().await?;
    Ok(Html(
        pages::report_page(&viewer, &report, &areas).into_string(),
    ))
}

/// A roster sorted by a column is read whole, up to this many households (a village or a
/// township's filtered list); a longer one is sorted no further than this.
pub const MAX_SORTED_ROWS: usize = 1_000;

/// The roster page's column order (the page's own; the JSON roster has none).
#[derive(Debug, Default, Deserialize)]
pub struct SortParams {
    pub sort: Option<pages::RosterSort>,
    #[serde(default)]
    pub desc: bool,
}

pub async fn roster_page<D: Database>(
    State(state): State<Shared<D>>,
    viewer: Viewer,
    Query(params): Query<RosterParams>,
    Query(order): Query<SortParams>,
) -> Result<Html<String>, PageError> {
    let review = viewer.review(&state);
    let mut filter = params.filter(&viewer, state.config.no_visit_days, PAGE_ROWS)?;
    let areas = review.readable_areas().await?;
    let today = crate::projection::today();
    let rows = match order.sort {
        None => review.roster(&filter).await?,
        Some(by) => {
            filter.after = None;
            let mut rows = review.roster_upto(&filter, MAX_SORTED_ROWS).await?;
            pages::sort_roster(&mut rows, by, order.desc, &areas, today);
            rows
        }
    };
    let (households, persons) = review.roster_size(&filter).await?;
    Ok(Html(
        pages::roster_page(
            &viewer,
            &pages::RosterView {
                params: &params,
                filter: &filter,
                rows: &rows,
                total: (households, persons),
                areas: &areas,
                limit: filter.limit,
                sort: order.sort.map(|s| (s, order.desc)),
                today,
            },
        )
        .into_string(),
    ))
}
