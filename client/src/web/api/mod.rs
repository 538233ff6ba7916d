//! The JSON API the pages' script calls. Bodies are small JSON objects of strings (the form as
//! typed); everything is parsed and checked here, with the shared rules, so the browser holds no
//! rule of its own.
//!
//! The household form's routes and the helpers every route shares are here; visits, cases and
//! attachments, each with bodies and checks of their own, are in submodules.

mod attachments;
mod cases;
mod visits;

pub use attachments::{attachment, upload, upload_original};
pub use cases::{add_step, propose_case};
pub use visits::add_visit;

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::json;
use zoufang_shared::CodeList;
use zoufang_shared::ids::HouseholdId;
use zoufang_shared::model::*;
use zoufang_shared::rules::assessment;

use super::error::ApiError;
use super::form::{self, FormData};
use super::{AppState, assessment_year, household_id, today, valid_id};
use crate::store::{Store, StoreError};

/// JSON body whose rejection (malformed, wrong type, unknown field) is a Chinese 4xx.
#[derive(FromRequest)]
#[from_request(via(Json), rejection(ApiError))]
pub struct Body<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        ApiError::new(r.status(), format!("请求内容无效:{}", r.body_text()))
    }
}

#[derive(Deserialize)]
pub struct PreviewQuery {
    household: Option<String>,
}

#[derive(Serialize)]
struct Preview {
    year: i32,
    passed: bool,
    per_capita: Option<String>,
    size: usize,
    /// The line applied, with its source.
    standard: Option<String>,
    /// Set when the table lacked the year's own line and another was applied.
    notice: Option<String>,
    failures: Vec<PreviewFailure>,
    fields: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct PreviewFailure {
    criterion: &'static str,
    message: String,
}

/// The live verdict of an unsaved form.
pub async fn preview(
    State(state): State<AppState>,
    Query(q): Query<PreviewQuery>,
    Body(data): Body<FormData>,
) -> Result<impl IntoResponse, ApiError> {
    state
        .with_store(move |s| {
            let id = q
                .household
                .as_deref()
                .and_then(valid_id)
                .map(HouseholdId::from)
                .unwrap_or_else(HouseholdId::random);
            let base = base_household(s, &id)?;
            let today = today();
            let (h, year, fields) = match form::parse(&data, &base, today) {
                Ok(f) => (f.preview(&base), f.income_year, BTreeMap::new()),
                Err(e) => {
                    let year = assessment_year(&base).unwrap_or(0);
                    (base, year, e.0)
                }
            };
            let a = assessment::assess(&h, year, today, s.standards());
            Ok(Json(Preview {
                year,
                passed: a.passed,
                per_capita: a.income.as_ref().map(|i| i.per_capita.to_string()),
                size: h.size(),
                standard: a.standard.as_ref().map(|s| s.citation()),
                notice: a.notice.clone(),
                failures: a
                    .failures
                    .iter()
                    .map(|f| PreviewFailure {
                        criterion: f.criterion.label(),
                        message: f.message.clone(),
                    })
                    .collect(),
                fields,
            }))
        })
        .await
}

fn base_household(s: &Store, id: &HouseholdId) -> Result<Household, ApiError> {
    if s.contains(id)? {
        Ok(s.household(id)?)
    } else {
        Ok(Household::new(id.clone()))
    }
}

fn redirect(to: String) -> Json<serde_json::Value> {
    Json(json!({ "redirect": to }))
}

/// One household as its page shows it: ID numbers, phones and bank accounts masked
/// ([`zoufang_shared::mask`]), with the verdict and findings the page shows, and the conflicted
/// fields by path only (their values may be sensitive).
#[derive(Serialize)]
struct HouseholdJson {
    household: Household,
    year: Option<i32>,
    assessment: Option<assessment::Assessment>,
    findings: Vec<zoufang_shared::rules::checks::Finding>,
    conflicts: Vec<String>,
}

pub async fn household(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = household_id(&id)?;
    state
        .with_store(move |s| {
            let mut doc = s.doc(&id)?;
            let h = doc.read().map_err(StoreError::from)?;
            let j = super::judge(s, &mut doc, h)?;
            Ok(Json(HouseholdJson {
                household: zoufang_shared::mask::household(j.h),
                year: j.year,
                assessment: j.assessment,
                findings: j.findings,
                conflicts: j.conflicts.iter().map(|c| c.path.join(".")).collect(),
            }))
        })
        .await
}

pub async fn create(
    State(state): State<AppState>,
    Body(data): Body<FormData>,
) -> Result<impl IntoResponse, ApiError> {
    state
        .with_store(move |s| {
            let id = HouseholdId::random();
            let mut form = form::parse(&data, &Household::new(id.clone()), today())
                .map_err(ApiError::fields)?;
            pick_area(s, &mut form, &data)?;
            form::check_new(&form).map_err(ApiError::fields)?;
            s.create_household(&id, |e| form.apply(e))?;
            Ok((StatusCode::CREATED, redirect(format!("/h/{id}"))))
        })
        .await
}

pub async fn save(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Body(mut data): Body<FormData>,
) -> Result<impl IntoResponse, ApiError> {
    let id = household_id(&id)?;
    // 户编号 is fixed once the household exists: the national system knows it by that number.
    data.remove("info.household_no");
    state
        .with_store(move |s| {
            // The household the form was opened on; without a version (an older page), as now.
            let mut doc = s.doc(&id)?;
            let opened = match form::version_of(&data) {
                Some(heads) => doc.read_at(&heads).map_err(StoreError::from)?,
                None => None,
            };
            let base = match opened {
                Some(h) => h,
                None => doc.read().map_err(StoreError::from)?,
            };
            let mut form = form::parse(&data, &base, today()).map_err(ApiError::fields)?;
            pick_area(s, &mut form, &data)?;
            s.edit_household(&id, |e| form.apply_onto(&base, e))?;
            Ok(redirect(format!("/h/{id}")))
        })
        .await
}

/// Files the household in the village picked from the area tree, when the form had the
/// picker (a device with a tree): it must be filled.
fn pick_area(s: &Store, form: &mut form::HouseholdForm, data: &FormData) -> Result<(), ApiError> {
    let Some(code) = data.get(super::areas::PICKER) else {
        return Ok(());
    };
    let code = code.trim();
    if code.is_empty() {
        return Err(field_error(super::areas::PICKER, "请选择所在村(必填)"));
    }
    super::areas::file_in(s, &mut form.info, code)
        .map_err(|message| field_error(super::areas::PICKER, message))
}

/// Removes a household created here by mistake and never synced (see [`Store::withdraw_new`]).
pub async fn withdraw(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    on_household(&state, &id, "/", |s, id| {
        s.withdraw_new(id)?;
        s.delete_draft(&super::pages::household_draft_key(Some(id.as_str())))
    })
    .await
}

/// Runs `f` on the household `raw_id` and sends the page to `then`.
async fn on_household(
    state: &AppState,
    raw_id: &str,
    then: &'static str,
    f: impl FnOnce(&mut Store, &HouseholdId) -> Result<(), StoreError> + Send + 'static,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = household_id(raw_id)?;
    state
        .with_store(move |s| {
            f(s, &id)?;
            Ok(redirect(then.to_owned()))
        })
        .await
}

/// Drops this device's changes to a household the server refused (see
/// [`Store::reset_to_server`]).
pub async fn reset(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    on_household(&state, &id, "/sync", |s, id| {
        s.reset_to_server(id).map(|_| ())
    })
    .await
}

fn field_error(field: &str, message: impl Into<String>) -> ApiError {
    let mut errors = form::FieldErrors::default();
    errors.0.insert(field.to_owned(), message.into());
    ApiError::fields(errors)
}

fn parse_date(field: &str, text: &str) -> Result<NaiveDate, ApiError> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| field_error(field, format!("「{text}」不是有效日期(年-月-日)")))
}

fn parse_code<T: CodeList>(field: &str, text: &str) -> Result<T, ApiError> {
    T::parse(text).map_err(|e| field_error(field, e.to_string()))
}

fn optional_code<T: CodeList>(field: &str, text: Option<&str>) -> Result<Option<T>, ApiError> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => parse_code(field, t).map(Some),
        None => Ok(None),
    }
}
