//! Proposing a dynamic-management case and recording its steps. Apart because a case is
//! checked against the household's verdict and the rounds open for it before it is written.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::NaiveDate;
use serde::Deserialize;
use zoufang_shared::codes::*;
use zoufang_shared::ids::{CaseId, MemberId};
use zoufang_shared::model::*;
use zoufang_shared::rounds;
use zoufang_shared::rules::assessment;

use super::{
    AppState, Body, assessment_year, field_error, household_id, optional_code, parse_code,
    parse_date, redirect, today, valid_id,
};
use crate::store::Store;
use crate::web::error::ApiError;

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
            if body.kind.trim().is_empty() {
                return Err(field_error("kind", "请选择事项类型"));
            }
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
