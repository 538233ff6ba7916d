//! Drafts of the forms, saved by the page as the surveyor types (`PUT /api/drafts?form=…`) and
//! given back when the form is opened again (`GET`); dropped when the form is saved (`DELETE`).
//!
//! A draft sent while the UI is locked (auto-lock struck mid-form) cannot reach the encrypted
//! store: it is held in this process's memory, bounded, and written when the UI is unlocked.
//! Everything sent before the lock is already in the store, so a killed process loses at most
//! what was typed after the lock.

use std::collections::BTreeMap;
use std::sync::Mutex;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::error::{ApiError, Internal};
use crate::store::drafts::{MAX_DRAFT_BYTES, valid_form_key};
use crate::store::{Store, StoreError};

/// How many forms' drafts a locked UI holds in memory (each at most [`MAX_DRAFT_BYTES`]).
const MAX_HELD: usize = 32;

/// Drafts sent while locked, by form, waiting for the unlock.
#[derive(Default)]
pub struct Held(Mutex<BTreeMap<String, String>>);

impl Held {
    fn hold(&self, form: String, data: String) -> Result<(), ApiError> {
        let mut held = self.0.lock().map_err(|_| Internal)?;
        if held.len() >= MAX_HELD && !held.contains_key(&form) {
            return Err(ApiError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "已锁定,暂存的草稿过多:请先解锁",
            ));
        }
        held.insert(form, data);
        Ok(())
    }

    /// Writes every held draft into the store just unlocked.
    pub fn flush(&self, store: &Store) -> Result<(), StoreError> {
        let drained = match self.0.lock() {
            Ok(mut held) => std::mem::take(&mut *held),
            Err(_) => BTreeMap::new(),
        };
        for (form, data) in drained {
            store.put_draft(&form, &data)?;
        }
        Ok(())
    }
}

#[derive(Deserialize)]
pub struct FormQuery {
    form: String,
}

fn form_key(q: FormQuery) -> Result<String, ApiError> {
    if valid_form_key(&q.form) {
        Ok(q.form)
    } else {
        Err(ApiError::new(StatusCode::NOT_FOUND, "没有这样的表单"))
    }
}

/// Runs `f` on the store with the form the query names.
async fn on_form<R: Send + 'static>(
    state: &AppState,
    q: FormQuery,
    f: impl FnOnce(&mut Store, String) -> Result<R, ApiError> + Send + 'static,
) -> Result<R, ApiError> {
    let form = form_key(q)?;
    state.with_store(move |s| f(s, form)).await
}

/// The draft of a form: `{"draft": {...}}`, `{"draft": null}` when there is none.
pub async fn get(
    State(state): State<AppState>,
    Query(q): Query<FormQuery>,
) -> Result<impl IntoResponse, ApiError> {
    on_form(&state, q, |s, form| {
        let draft = s
            .draft(&form)?
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok());
        Ok(Json(json!({ "draft": draft })))
    })
    .await
}

/// Keeps the posted form state (a JSON object) as the form's draft; while locked, in memory
/// (`{"held": true}`).
pub async fn put(
    State(state): State<AppState>,
    Query(q): Query<FormQuery>,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let form = form_key(q)?;
    if body.len() > MAX_DRAFT_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "草稿过大,未能保存",
        ));
    }
    let value: serde_json::Value =
        serde_json::from_slice(&body).map_err(|_| ApiError::invalid("草稿内容无效"))?;
    if !value.is_object() {
        return Err(ApiError::invalid("草稿内容无效"));
    }
    let data = value.to_string();
    if state.is_locked() {
        state.held.hold(form, data)?;
        return Ok((StatusCode::ACCEPTED, Json(json!({ "held": true }))));
    }
    state
        .with_store(move |s| {
            s.put_draft(&form, &data)?;
            Ok((StatusCode::OK, Json(json!({ "held": false }))))
        })
        .await
}

/// Drops a form's draft: it was saved, or the surveyor threw it away.
pub async fn delete(
    State(state): State<AppState>,
    Query(q): Query<FormQuery>,
) -> Result<impl IntoResponse, ApiError> {
    on_form(&state, q, |s, form| {
        s.delete_draft(&form)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}
