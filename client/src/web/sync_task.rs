//! The sync button: starts a sync in the background and lets the page poll its progress.
//!
//! The sync runs on its own connection to the store (SQLite in WAL mode takes the UI's reads
//! and writes alongside), so the form stays usable while a slow link works.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Html;
use maud::html;
use serde::Serialize;

use super::AppState;
use super::error::{ApiError, PageError};
use crate::store::Store;
use crate::sync::{self, SyncReport};

#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncStatus {
    pub running: bool,
    pub report: Option<SyncReport>,
    /// Why the last sync stopped early.
    pub error: Option<String>,
    pub finished_at: Option<String>,
    /// Households that came out of this sync with conflicting values they did not have before.
    pub new_conflicts: usize,
}

/// How many households have conflicting values.
fn conflicted(store: &Store) -> Result<usize, crate::store::StoreError> {
    let filter = crate::store::ListFilter {
        flag: Some(crate::store::index::CONFLICT_FLAG.to_owned()),
        ..Default::default()
    };
    Ok(store.list(&filter)?.len())
}

fn status_of(state: &AppState) -> Result<SyncStatus, ApiError> {
    state
        .sync
        .lock()
        .map(|s| s.clone())
        .map_err(|_| super::error::Internal.into())
}

pub async fn status(State(state): State<AppState>) -> Result<Json<SyncStatus>, ApiError> {
    Ok(Json(status_of(&state)?))
}

pub async fn start(
    State(state): State<AppState>,
) -> Result<(StatusCode, Json<SyncStatus>), ApiError> {
    // The sync's own connection needs the key; a locked UI has none to give.
    let (key, zone) = state
        .with_store(|s| Ok::<_, ApiError>((s.key(), s.county_zone()?)))
        .await?;
    {
        let mut s = state.sync.lock().map_err(|_| super::error::Internal)?;
        if s.running {
            return Ok((StatusCode::ACCEPTED, Json(s.clone())));
        }
        *s = SyncStatus {
            running: true,
            ..SyncStatus::default()
        };
    }
    let shared = state.sync.clone();
    let dir = state.dir.clone();
    // Its own thread and runtime: the store's connection is not shareable across the server's
    // worker threads, and a sync over 2G may take minutes.
    std::thread::spawn(move || {
        let result = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
            .and_then(|rt| {
                rt.block_on(async {
                    let mut store = Store::open(&dir, key).map_err(|e| e.to_string())?;
                    let before = conflicted(&store).map_err(|e| e.to_string())?;
                    let progress = shared.clone();
                    let report = sync::sync(&mut store, move |r| {
                        if let Ok(mut s) = progress.lock() {
                            s.report = Some(r.clone());
                        }
                    })
                    .await
                    .map_err(|e| e.to_string())?;
                    let after = conflicted(&store).map_err(|e| e.to_string())?;
                    Ok((report, after.saturating_sub(before)))
                })
            });
        if let Ok(mut s) = shared.lock() {
            s.running = false;
            s.finished_at = Some(
                chrono::Utc::now()
                    .with_timezone(&zone)
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string(),
            );
            match result {
                Ok((report, new_conflicts)) => {
                    s.report = Some(report);
                    s.new_conflicts = new_conflicts;
                }
                Err(e) => s.error = Some(e),
            }
        }
    });
    Ok((StatusCode::ACCEPTED, Json(status_of(&state)?)))
}

fn body(s: &Store) -> Result<maud::Markup, PageError> {
    let server = s.setting(crate::sync::SERVER_URL_SETTING)?;
    let rejections = s.rejections()?;
    let pending = s.pending_count()?;
    Ok(html! {
        h1 { "同步" }
        @match &server {
            Some(url) => p { "服务器:" code { (url) } },
            None => p.err { "本设备尚未登记到服务器。请在电脑上运行 zoufang enroll 登记后再同步。" },
        }
        p #sync-pending { "待上传:" (pending) " 户" }
        button.primary #sync-start type="button" disabled[server.is_none()] { "立即同步" }
        div #sync-progress.verdict.ok hidden {}
        @if !rejections.is_empty() {
            h2 { "未被服务器接受的农户" }
            ul.cards #sync-rejections {
                @for r in &rejections {
                    li.card {
                        a href={ "/h/" (r.household) } { (r.household) } " — " (r.message)
                        form.reset-form data-api={ "/api/households/" (r.household) "/reset" }
                            data-back="/sync"
                            data-confirm="放弃本设备对该户的全部未同步修改,回到服务器上的版本?此操作不能撤销。" {
                            p.err data-err-for="form" {}
                            button type="submit" { "放弃本机修改,恢复为服务器版本" }
                        }
                    }
                }
            }
        }
    })
}

pub async fn page(State(state): State<AppState>) -> Result<Html<String>, PageError> {
    state
        .with_store(move |s| {
            let user = s.identity()?.user_name;
            let body = body(s)?;
            Ok(super::page(&user, "同步", body))
        })
        .await
}
