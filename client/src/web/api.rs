//! The JSON API the pages' script calls. Bodies are small JSON objects of strings (the form as
//! typed); everything is parsed and checked here, with the shared rules, so the browser holds no
//! rule of its own.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::json;
use zoufang_shared::CodeList;
use zoufang_shared::codes::*;
use zoufang_shared::ids::{CaseId, HouseholdId, MemberId};
use zoufang_shared::model::*;
use zoufang_shared::rounds;
use zoufang_shared::rules::assessment;

use super::error::ApiError;
use super::form::{self, FormData};
use super::{AppState, assessment_year, valid_id};
use crate::store::{Store, StoreError, image_size};

/// JSON body whose rejection (malformed, wrong type, unknown field) is a Chinese 4xx.
#[derive(FromRequest)]
#[from_request(via(Json), rejection(ApiError))]
pub struct Body<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        ApiError::new(r.status(), format!("请求内容无效:{}", r.body_text()))
    }
}

fn household_id(raw: &str) -> Result<HouseholdId, ApiError> {
    valid_id(raw)
        .map(HouseholdId::from)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "找不到该农户"))
}

fn today() -> NaiveDate {
    chrono::Local::now().date_naive()
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
            let form = form::parse(&data, &Household::new(id.clone()), today())
                .map_err(ApiError::fields)?;
            s.create_household(&id, |e| form.apply(e))?;
            Ok((StatusCode::CREATED, redirect(format!("/h/{id}"))))
        })
        .await
}

pub async fn save(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Body(data): Body<FormData>,
) -> Result<impl IntoResponse, ApiError> {
    let id = household_id(&id)?;
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
            let form = form::parse(&data, &base, today()).map_err(ApiError::fields)?;
            s.edit_household(&id, |e| form.apply_onto(&base, e))?;
            Ok(redirect(format!("/h/{id}")))
        })
        .await
}

/// Drops this device's changes to a household the server refused (see
/// [`Store::reset_to_server`]).
pub async fn reset(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = household_id(&id)?;
    state
        .with_store(move |s| {
            s.reset_to_server(&id)?;
            Ok(redirect("/sync".to_owned()))
        })
        .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisitBody {
    date: String,
    visitor: String,
    mode: String,
    #[serde(default)]
    household_present: Option<String>,
    #[serde(default)]
    notes: String,
    #[serde(default)]
    policies_known: String,
    #[serde(default)]
    satisfaction: Option<String>,
    #[serde(default)]
    photos: Vec<String>,
    #[serde(default)]
    signatures: Vec<SignatureRef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureRef {
    role: String,
    hash: String,
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

/// Metadata of an uploaded attachment, read from the stored bytes (never trusted from the body).
fn attachment_meta(
    s: &Store,
    hash: &str,
    kind: AttachmentKind,
    signer: Option<SignerRole>,
    captured_by: &str,
) -> Result<Attachment, ApiError> {
    let invalid = || field_error("photos", "附件未上传或已损坏,请重新拍摄");
    if !is_content_hash(hash) {
        return Err(invalid());
    }
    let (mime, bytes) = s.attachment(hash)?.ok_or_else(invalid)?;
    let (width, height) = image_size(&bytes, &mime).map_err(|_| invalid())?;
    Ok(Attachment {
        kind,
        signer,
        mime,
        bytes: bytes.len() as u64,
        width: u32::try_from(width).ok(),
        height: u32::try_from(height).ok(),
        captured_at: Some(chrono::Utc::now().to_rfc3339()),
        captured_by: Some(captured_by.to_owned()),
        visit: None,
        case: None,
    })
}

pub async fn add_visit(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Body(body): Body<VisitBody>,
) -> Result<impl IntoResponse, ApiError> {
    let id = household_id(&id)?;
    state
        .with_store(move |s| {
            let date = parse_date("date", &body.date)?;
            if date > today() {
                return Err(field_error("date", "走访日期不能晚于今天"));
            }
            let mode: VisitMode = parse_code("mode", &body.mode)?;
            let satisfaction = optional_code("satisfaction", body.satisfaction.as_deref())?;
            let user = s.identity()?;
            let mut metas = Vec::new();
            for hash in &body.photos {
                metas.push((
                    hash.clone(),
                    attachment_meta(s, hash, AttachmentKind::Photo, None, &user.user_id)?,
                ));
            }
            for sig in &body.signatures {
                let role: SignerRole = parse_code("signatures", &sig.role)?;
                metas.push((
                    sig.hash.clone(),
                    attachment_meta(
                        s,
                        &sig.hash,
                        AttachmentKind::Signature,
                        Some(role),
                        &user.user_id,
                    )?,
                ));
            }
            let visit = Visit {
                date,
                visitor: body.visitor.trim().to_owned(),
                visitor_user: Some(user.user_id.clone()),
                mode,
                household_present: Some(body.household_present.as_deref() == Some("true")),
                notes: body.notes.trim().to_owned(),
                policies_known: body.policies_known.trim().to_owned(),
                satisfaction,
                attachments: metas.iter().map(|(h, _)| h.clone()).collect(),
            };
            s.edit_household(&id, |e| {
                let visit_id = e.add_visit(&visit)?;
                for (hash, mut meta) in metas {
                    meta.visit = Some(visit_id.clone());
                    e.put_attachment(&hash, &meta)?;
                }
                Ok(())
            })
            .map_err(|e| match e {
                crate::store::StoreError::Doc(zoufang_shared::doc::DocError::Invalid(v))
                    if matches!(*v, zoufang_shared::doc::ValidationError::NoVisitor) =>
                {
                    field_error("visitor", v.to_string())
                }
                other => other.into(),
            })?;
            Ok((StatusCode::CREATED, redirect(format!("/h/{id}"))))
        })
        .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseBody {
    kind: String,
    #[serde(default)]
    origin: Option<String>,
    #[serde(default)]
    reason: String,
    /// Comma-separated member ids.
    #[serde(default)]
    members: String,
    /// The day the case was proposed, when a paper form is transcribed later (default: today;
    /// more than 30 days back needs a reason, see `zoufang_shared::authority`).
    #[serde(default)]
    proposed_on: Option<String>,
    /// The 工作批次 id; by default the latest-started round open for the household that day.
    #[serde(default)]
    round: Option<String>,
}

pub async fn propose_case(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Body(body): Body<CaseBody>,
) -> Result<impl IntoResponse, ApiError> {
    let id = household_id(&id)?;
    state
        .with_store(move |s| {
            let kind: CaseKind = parse_code("kind", &body.kind)?;
            let origin = optional_code("origin", body.origin.as_deref())?;
            let proposed_on = match body.proposed_on.as_deref().filter(|d| !d.trim().is_empty()) {
                Some(d) => parse_date("proposed_on", d)?,
                None => today(),
            };
            let h = s.household(&id)?;
            if kind == CaseKind::Exit {
                // 脱贫退出 needs income above the line and every guarantee met, now.
                let year = assessment_year(&h)
                    .ok_or_else(|| ApiError::invalid("不符合脱贫退出条件:尚未登记收入"))?;
                let a = assessment::assess(&h, year, today(), s.standards());
                if !a.passed {
                    return Err(ApiError::invalid("不符合脱贫退出条件,不能提出退出")
                        .with_details(a.failures.iter().map(ToString::to_string).collect()));
                }
            }
            let user = s.identity()?;
            let case = Case {
                kind,
                origin,
                round: case_round(s, &h, body.round.as_deref(), proposed_on)?,
                proposed_on,
                proposed_by: user.user_name.clone(),
                proposed_by_user: Some(user.user_id.clone()),
                reason: body.reason.trim().to_owned(),
                members: body
                    .members
                    .split(',')
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                    .map(MemberId::from)
                    .collect(),
                steps: Default::default(),
            };
            let case_id = s.edit_household(&id, |e| e.add_case(&case))?;
            Ok((
                StatusCode::CREATED,
                redirect(format!("/h/{id}/case/{case_id}")),
            ))
        })
        .await
}

/// The round a new case on `h` proposed on `day` is filed under: the one asked for, which must
/// be open for the household then, or else the latest-started open one; none when the device
/// knows no open round (the case then counts in its year's round).
fn case_round(
    s: &Store,
    h: &Household,
    asked: Option<&str>,
    day: NaiveDate,
) -> Result<Option<String>, ApiError> {
    let rounds = s.rounds()?;
    let area = h.info.area_code.as_deref().unwrap_or("");
    let open = rounds::open_for(&rounds, area, day);
    match asked.map(str::trim).filter(|a| !a.is_empty()) {
        None => Ok(open.first().map(|r| r.id.clone())),
        Some(id) if open.iter().any(|r| r.id == id) => Ok(Some(id.to_owned())),
        Some(id) => Err(ApiError::invalid(format!(
            "工作批次「{id}」在 {day} 未开放,或不包括本户所在地区"
        ))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepBody {
    step: String,
    outcome: String,
    date: String,
    actor: String,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    publicity_start: Option<String>,
    #[serde(default)]
    publicity_end: Option<String>,
}

fn optional_date(field: &str, text: Option<&str>) -> Result<Option<NaiveDate>, ApiError> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => parse_date(field, t).map(Some),
        None => Ok(None),
    }
}

pub async fn add_step(
    State(state): State<AppState>,
    Path((id, case)): Path<(String, String)>,
    Body(body): Body<StepBody>,
) -> Result<impl IntoResponse, ApiError> {
    let id = household_id(&id)?;
    let case_id = CaseId::from(
        valid_id(&case).ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "找不到该事项"))?,
    );
    state
        .with_store(move |s| {
            let user = s.identity()?;
            let record = StepRecord {
                step: parse_code("step", &body.step)?,
                date: parse_date("date", &body.date)?,
                actor: body.actor.trim().to_owned(),
                actor_user: Some(user.user_id),
                outcome: parse_code("outcome", &body.outcome)?,
                comment: body.comment.trim().to_owned(),
                publicity_start: optional_date("publicity_start", body.publicity_start.as_deref())?,
                publicity_end: optional_date("publicity_end", body.publicity_end.as_deref())?,
                objections: Default::default(),
                attachments: Default::default(),
            };
            s.edit_household(&id, |e| e.add_step(&case_id, &record))?;
            Ok((
                StatusCode::CREATED,
                redirect(format!("/h/{id}/case/{case_id}")),
            ))
        })
        .await
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

/// A downscaled photo or a signature, as raw image bytes.
pub async fn upload(
    State(state): State<AppState>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let mime = content_type(&headers);
    state
        .with_store(move |s| {
            let (hash, (width, height)) = s.put_attachment(&bytes, &mime)?;
            Ok((
                StatusCode::CREATED,
                Json(json!({ "hash": hash, "width": width, "height": height })),
            ))
        })
        .await
}

/// The camera original of an uploaded photo, kept on this device only.
pub async fn upload_original(
    State(state): State<AppState>,
    Path(hash): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let mime = content_type(&headers);
    if !is_content_hash(&hash) {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "找不到该照片"));
    }
    state
        .with_store(move |s| {
            s.put_original(&hash, &bytes, &mime)?;
            Ok(StatusCode::NO_CONTENT)
        })
        .await
}

pub async fn attachment(
    State(state): State<AppState>,
    Path(hash): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    if !is_content_hash(&hash) {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "找不到该附件"));
    }
    state
        .with_store(move |s| {
            let (mime, bytes) = s
                .attachment(&hash)?
                .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "找不到该附件"))?;
            Ok(([(header::CONTENT_TYPE, mime)], bytes))
        })
        .await
}
