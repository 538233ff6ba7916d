//! One household: its members, cases and their steps, what the checks found, conflicting
//! values, and the field history; with the forms to decide a step and settle a conflict.

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
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
    /// The case decided, whose form shows the confirmation.
    pub case: Option<String>,
    /// The history's page (0: the newest changes) and the field it is filtered by (a label).
    pub hist: Option<usize>,
    pub field: Option<String>,
}

/// What the page shows after a successful post.
fn notice(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "decided" => Some("审批意见已保存,调查队下次同步时会收到"),
        "settled" => Some("冲突已处理,调查队下次同步时会收到"),
        _ => None,
    }
}

/// What a failed post puts on the page: an error above everything (a settlement), or one in
/// its case's form with the reviewer's choice kept (a decision).
enum Failure<'a> {
    None,
    Message(&'a str, bool),
    Decision(pages::Refused<'a>),
    /// Not a failure: the case whose decision was saved.
    Decided(&'a str),
}

/// Renders the page, with an error from a failed post when there is one.
async fn render<D: Database>(
    state: &Shared<D>,
    viewer: &Viewer,
    id: &str,
    failure: Failure<'_>,
    ask: &pages::HistoryAsk,
) -> Result<String, PageError> {
    let review = viewer.review(state);
    let (h, mut doc) = review.household(id).await?;
    let people = review.people().await?;
    let devices = review.devices_of(&mut doc).await?;
    // A household's history is the heaviest page there is: off the async threads.
    crate::heavy::cpu(|| {
        let conflicts = review::conflicts_of(&mut doc)?;
        let changes = history::changes(&mut doc, sees_ids(viewer.user.role))
            .map_err(|e| PageError::from(ReviewError::Invalid(e.to_string())))?;
        let today = crate::projection::today();
        let findings = zoufang_shared::rules::checks::check_household(
            &h,
            today,
            &crate::standards::current().standards,
        );
        let (year, assessment) = crate::projection::verdict(&mut doc, &h);
        let view = pages::HouseholdView {
            id,
            h: &h,
            findings: &findings,
            conflicts: &conflicts,
            history: pages::History {
                changes: &changes,
                people: &people,
                devices: &devices,
                ask,
            },
            verdict: (year, &assessment),
            message: match failure {
                Failure::Message(m, e) => Some((m, e)),
                _ => None,
            },
            refused: match failure {
                Failure::Decision(r) => Some(r),
                _ => None,
            },
            decided: match failure {
                Failure::Decided(case) => Some(case),
                _ => None,
            },
            today,
            min_publicity_days: state.config.publicity_min_days,
        };
        Ok(pages::household_page(viewer, &view).into_string())
    })
}

pub async fn page<D: Database>(
    State(state): State<Shared<D>>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(q): Query<Notice>,
) -> Result<Html<String>, PageError> {
    let failure = match (q.done.as_deref(), q.case.as_deref()) {
        (Some("decided"), Some(case)) => Failure::Decided(case),
        (done, _) => match notice(done) {
            Some(m) => Failure::Message(m, false),
            None => Failure::None,
        },
    };
    let ask = pages::HistoryAsk {
        page: q.hist.unwrap_or(0),
        field: q.field.filter(|f| !f.is_empty()),
    };
    Ok(Html(render(&state, &viewer, &id, failure, &ask).await?))
}

/// A failed post shows the page again with the reason, under the status the reason deserves.
async fn failed<D: Database>(
    state: &Shared<D>,
    viewer: &Viewer,
    id: &str,
    e: ReviewError,
    refused: Option<&DecideForm>,
) -> Result<Response, PageError> {
    let status = review_status(&e);
    if status == StatusCode::NOT_FOUND {
        return Err(e.into());
    }
    let error = e.to_string();
    let failure = match refused {
        Some(f) => Failure::Decision(pages::Refused {
            case: &f.case,
            outcome: &f.outcome,
            comment: &f.comment,
            error: &error,
        }),
        None => Failure::Message(&error, true),
    };
    let body = render(state, viewer, id, failure, &pages::HistoryAsk::default()).await?;
    Ok((status, Html(body)).into_response())
}

/// A photo or signature of a household, for the viewer who may read that household; no one
/// keeps a copy (the page's own images included).
pub async fn attachment<D: Database>(
    State(state): State<Shared<D>>,
    viewer: Viewer,
    Path((id, hash)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let (mime, bytes) = viewer.review(&state).attachment(&id, &hash).await?;
    Ok((
        [
            (header::CONTENT_TYPE, mime),
            (header::CACHE_CONTROL, "no-store, private".to_owned()),
        ],
        bytes,
    )
        .into_response())
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
        case_id: form.case.clone(),
        step,
        outcome,
        comment: form.comment.clone(),
    };
    match viewer
        .review(&state)
        .decide(
            &d,
            crate::projection::today(),
            state.config.publicity_min_days,
        )
        .await
    {
        // Back to the case, its confirmation beside it.
        Ok(()) => {
            let query = pages::query_string(&[("done", "decided"), ("case", &form.case)]);
            let plain = form
                .case
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            let to = if plain {
                format!("/households/{id}?{query}#case-{}", form.case)
            } else {
                format!("/households/{id}?{query}")
            };
            Ok(Redirect::to(&to).into_response())
        }
        Err(e) => failed(&state, &viewer, &id, e, Some(&form)).await,
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
    let review = viewer.review(&state);
    let value = match form.choice.strip_prefix("pick:") {
        Some(n) => {
            let n: usize = n.parse().map_err(|_| PageError::bad_request("选择无效"))?;
            match review.picked_value(&id, &form.path, n).await? {
                Some(v) => v,
                None => {
                    let e = ReviewError::Invalid("该字段已没有冲突(可能已被他人处理)".into());
                    return failed(&state, &viewer, &id, e, None).await;
                }
            }
        }
        None if form.choice == "typed" => {
            if form.typed.trim().is_empty() {
                let e = ReviewError::Invalid("请填写正确的值".into());
                return failed(&state, &viewer, &id, e, None).await;
            }
            match review::typed_value(&form.path, &form.typed) {
                Ok(v) => v,
                Err(e) => return failed(&state, &viewer, &id, e, None).await,
            }
        }
        None => return Err(PageError::bad_request("选择无效")),
    };
    match review.settle(&id, &form.path, value).await {
        Ok(()) => Ok(Redirect::to(&format!("/households/{id}?done=settled")).into_response()),
        Err(e) => failed(&state, &viewer, &id, e, None).await,
    }
}
