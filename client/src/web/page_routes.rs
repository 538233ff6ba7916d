//! The handlers of the HTML pages: each reads the store and hands what it found to a renderer
//! in `pages`. Apart from the router and state, and from the JSON API in `api`, which writes.

use axum::extract::{Path, Query, State};
use axum::response::Html;
use serde::Deserialize;
use zoufang_shared::CodeList;
use zoufang_shared::codes::{CaseKind, HouseholdStatus};
use zoufang_shared::doc::HouseholdDoc;
use zoufang_shared::ids::{CaseId, HouseholdId};
use zoufang_shared::model::Household;
use zoufang_shared::rules::assessment;

use super::{
    AppState, PageError, areas, assessment_year, form, household_id, judge, page, pages, today,
    valid_id,
};
use crate::store::{ListFilter, ListSort, Store};

#[derive(Deserialize, Default)]
pub(super) struct ListQuery {
    q: Option<String>,
    village: Option<String>,
    status: Option<String>,
    case: Option<String>,
    flag: Option<String>,
    /// Only households without a visit in this many days.
    due: Option<String>,
    sort: Option<String>,
    page: Option<u32>,
}

/// Households on one page of the list.
const PAGE_SIZE: u32 = 50;

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

pub(super) async fn list_page(
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Html<String>, PageError> {
    let status = non_empty(q.status);
    let case = non_empty(q.case);
    if let Some(s) = &status {
        HouseholdStatus::parse(s).map_err(|e| PageError::BadRequest(e.to_string()))?;
    }
    if let Some(c) = &case {
        CaseKind::parse(c).map_err(|e| PageError::BadRequest(e.to_string()))?;
    }
    let due_days = match non_empty(q.due) {
        Some(d) => Some(
            d.parse::<u32>()
                .map_err(|_| PageError::BadRequest(format!("天数「{d}」无效")))?,
        ),
        None => None,
    };
    let sort = match non_empty(q.sort).as_deref() {
        None | Some("village") => ListSort::Village,
        Some("last_visit") => ListSort::LastVisit,
        Some("updated") => ListSort::Updated,
        Some(other) => return Err(PageError::BadRequest(format!("排序「{other}」无效"))),
    };
    let page_no = q.page.unwrap_or(1).max(1);
    let filter = ListFilter {
        village: non_empty(q.village),
        status,
        case_kind: case,
        flag: non_empty(q.flag),
        search: non_empty(q.q),
        not_visited_since: due_days.map(days_ago),
        sort,
        limit: Some(PAGE_SIZE),
        offset: Some((page_no - 1).saturating_mul(PAGE_SIZE)),
    };
    state
        .with_store(move |s| {
            let rows = s.list(&filter)?;
            let villages = s.villages()?;
            let counts = pages::ListCounts {
                total: s.count()?,
                matching: s.count_matching(&filter)?,
                due: s.count_matching(&ListFilter {
                    not_visited_since: Some(days_ago(pages::DUE_DAYS)),
                    ..ListFilter::default()
                })?,
                page: page_no,
                pages: u32::try_from(s.count_matching(&filter)?)
                    .unwrap_or(u32::MAX)
                    .div_ceil(PAGE_SIZE)
                    .max(1),
            };
            let user = s.identity()?.user_name;
            Ok(page(
                &user,
                "农户列表",
                pages::list(&rows, &villages, &filter, due_days, &counts),
            ))
        })
        .await
}

/// The day `days` days before today, in the device's time zone (the same clock that dates
/// the visits).
fn days_ago(days: u32) -> chrono::NaiveDate {
    today()
        .checked_sub_days(chrono::Days::new(u64::from(days)))
        .unwrap_or(chrono::NaiveDate::MIN)
}

pub(super) async fn household_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Html<String>, PageError> {
    household_doc_page(state, id, "农户", |s, doc, h| {
        let j = judge(s, doc, h.clone())?;
        let view = pages::HouseholdView {
            unsynced: s.never_synced(&h.id)?,
            zone: s.county_zone()?,
            h: &j.h,
            year: j.year,
            assessment: j.assessment,
            findings: j.findings,
            conflicts: j.conflicts,
        };
        Ok(pages::household(&view))
    })
    .await
}

pub(super) async fn new_page(State(state): State<AppState>) -> Result<Html<String>, PageError> {
    state
        .with_store(move |s| {
            let h = Household::new(HouseholdId::random());
            let year = chrono::Datelike::year(&today());
            let user = s.identity()?.user_name;
            Ok(page(
                &user,
                "新建农户",
                pages::household_form(&h, None, year, None, &areas::villages(s)?),
            ))
        })
        .await
}

/// A page about one household: loads it and hands it, with the user's name, to `render`.
async fn household_subpage(
    state: AppState,
    raw_id: String,
    title: &'static str,
    render: impl FnOnce(&Store, &Household, &str) -> Result<maud::Markup, PageError> + Send + 'static,
) -> Result<Html<String>, PageError> {
    let id = household_id(&raw_id)?;
    state
        .with_store(move |s| {
            let h = s.household(&id)?;
            let user = s.identity()?.user_name;
            let body = render(s, &h, &user)?;
            Ok(page(&user, title, body))
        })
        .await
}

/// As [`household_subpage`], for a page that needs the household's document too (its
/// conflicts, its version).
async fn household_doc_page(
    state: AppState,
    raw_id: String,
    title: &'static str,
    render: impl FnOnce(&Store, &mut HouseholdDoc, &Household) -> Result<maud::Markup, PageError>
    + Send
    + 'static,
) -> Result<Html<String>, PageError> {
    let id = household_id(&raw_id)?;
    state
        .with_store(move |s| {
            let mut doc = s.doc(&id)?;
            let h = doc.read().map_err(crate::store::StoreError::from)?;
            let body = render(s, &mut doc, &h)?;
            let user = s.identity()?.user_name;
            Ok(page(&user, title, body))
        })
        .await
}

pub(super) async fn edit_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Html<String>, PageError> {
    household_doc_page(state, id, "编辑农户", |s, doc, h| {
        let version = form::version_text(&doc.heads());
        let year = assessment_year(h).unwrap_or_else(|| chrono::Datelike::year(&today()));
        let a = assessment::assess(h, year, today(), s.standards());
        Ok(pages::household_form(
            h,
            Some(&version),
            year,
            Some(&a),
            &areas::villages(s)?,
        ))
    })
    .await
}

pub(super) async fn visit_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Html<String>, PageError> {
    household_subpage(state, id, "记录走访", |_, h, user| {
        Ok(pages::visit_form(h, today(), user))
    })
    .await
}

pub(super) async fn case_new_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Html<String>, PageError> {
    household_subpage(state, id, "提出事项", |s, h, _| {
        let rounds = s.rounds()?;
        let area = h.info.area_code.as_deref().unwrap_or("");
        let open = zoufang_shared::rounds::open_for(&rounds, area, today());
        Ok(pages::case_form(h, &open))
    })
    .await
}

pub(super) async fn case_page(
    State(state): State<AppState>,
    Path((id, case)): Path<(String, String)>,
) -> Result<Html<String>, PageError> {
    let not_found = || PageError::NotFound("事项".into());
    let case_id = CaseId::from(valid_id(&case).ok_or_else(not_found)?);
    household_subpage(state, id, "事项", move |_, h, user| {
        let c = h.cases.get(&case_id).ok_or_else(not_found)?;
        Ok(pages::case_page(h, case_id.as_str(), c, user, today()))
    })
    .await
}
