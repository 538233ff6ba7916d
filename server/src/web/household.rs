//! One household: its members, cases and their steps, what the checks found, conflicting
//! values, and the field history; with the forms to decide a step and settle a conflict.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use zoufang_shared::CodeList;
use zoufang_shared::codes::{ProcedureStep, StepOutcome};

use super::csrf::{CsrfForm, csrf_field};
use super::{PageError, Viewer, pages, review_status};
use crate::report::roster::sees_ids;
use crate::review::{self, Decision, ReviewError, history};
use crate::state::Shared;
use crate::storage::Database;

#[derive(Debug, Default, Deserialize)]
pub struct Notice {
    pub done: Option<String>,
}

/// What the page shows after a successful post.
fn notice(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "decided" => Some("审批意见已保存,调查队下次同步时会收到"),
        "settled" => Some("冲突已处理,调查队下次同步时会收到"),
        _ => None,
    }
}

/// Renders the page, with an error from a failed post when there is one.
async fn render<D: Database>(
    state: &Shared<D>,
    viewer: &Viewer,
    id: &str,
    message: Option<(&str, bool)>,
) -> Result<String, PageError> {
    let (h, mut doc) = review::household(&state.db, &viewer.user, id).await?;
    // A household's history is the heaviest page there is: off the async threads.
    crate::heavy::cpu(|| {
        let conflicts = review::conflicts_of(&mut doc)?;
        let timeline = history::timeline(&mut doc, sees_ids(viewer.user.role))
            .map_err(|e| PageError::from(ReviewError::Invalid(e.to_string())))?;
        let findings = zoufang_shared::rules::checks::check_household(
            &h,
            crate::projection::today(),
            &crate::standards::current().standards,
        );
        Ok(pages::household_page(
            viewer,
            id,
            &h,
            &findings,
            &conflicts,
            &timeline,
            message,
            state.config.publicity_min_days,
        )
        .into_string())
    })
}

pub async fn page<D: Database>(
    State(state): State<Shared<D>>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(q): Query<Notice>,
) -> Result<Html<String>, PageError> {
    let message = notice(q.done.as_deref()).map(|m| (m, false));
    Ok(Html(render(&state, &viewer, &id, message).await?))
}

/// A failed post shows the page again with the reason, under the status the reason deserves.
async fn failed<D: Database>(
    state: &Shared<D>,
    viewer: &Viewer,
    id: &str,
    e: ReviewError,
) -> Result<Response, PageError> {
    let status = review_status(&e);
    if status == StatusCode::NOT_FOUND {
        return Err(e.into());
    }
    let body = render(state, viewer, id, Some((&e.to_string(), true))).await?;
    Ok((status, Html(body)).into_response())
}

#[derive(Deserialize)]
pub struct DecideForm {
    csrf: String,
    case: String,
    step: String,
    outcome: String,
    #[serde(default)]
    comment: String,
}

#[tracing::instrument(skip_all, fields(user = %viewer.user.username))]
pub async fn decide<D: Database>(
    State(state): State<Shared<D>>,
    viewer: Viewer,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<DecideForm>,
) -> Result<Response, PageError> {
    let step =
        ProcedureStep::parse(&form.step).map_err(|e| PageError::bad_request(e.to_string()))?;
    let outcome =
        StepOutcome::parse(&form.outcome).map_err(|e| PageError::bad_request(e.to_string()))?;
    let d = Decision {
        household_id: id.clone(),
        case_id: form.case,
        step,
        outcome,
        comment: form.comment,
    };
    match review::decide(
        &state.db,
        &viewer.user,
        &d,
        crate::projection::today(),
        state.config.publicity_min_days,
    )
    .await
    {
        Ok(()) => Ok(Redirect::to(&format!("/households/{id}?done=decided")).into_response()),
        Err(e) => failed(&state, &viewer, &id, e).await,
    }
}

#[derive(Deserialize)]
pub struct SettleForm {
    csrf: String,
    path: String,
    /// `pick:N` for the N-th value written, or `typed` for `typed`.
    choice: String,
    #[serde(default)]
    typed: String,
}

csrf_field!(DecideForm, SettleForm);

#[tracing::instrument(skip_all, fields(user = %viewer.user.username))]
pub async fn settle<D: Database>(
    State(state): State<Shared<D>>,
    viewer: Viewer,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<SettleForm>,
) -> Result<Response, PageError> {
    let value = match form.choice.strip_prefix("pick:") {
        Some(n) => {
            let n: usize = n.parse().map_err(|_| PageError::bad_request("选择无效"))?;
            match review::picked_value(&state.db, &viewer.user, &id, &form.path, n).await? {
                Some(v) => v,
                None => {
                    let e = ReviewError::Invalid("该字段已没有冲突(可能已被他人处理)".into());
                    return failed(&state, &viewer, &id, e).await;
                }
            }
        }
        None if form.choice == "typed" => {
            if form.typed.trim().is_empty() {
                let e = ReviewError::Invalid("请填写正确的值".into());
                return failed(&state, &viewer, &id, e).await;
            }
            match review::typed_value(&form.path, &form.typed) {
                Ok(v) => v,
                Err(e) => return failed(&state, &viewer, &id, e).await,
            }
        }
        None => return Err(PageError::bad_request("选择无效")),
    };
    match review::settle(&state.db, &viewer.user, &id, &form.path, value).await {
        Ok(()) => Ok(Redirect::to(&format!("/households/{id}?done=settled")).into_response()),
        Err(e) => failed(&state, &viewer, &id, e).await,
    }
}
