//! The UI's lock. The store is encrypted under the user's passphrase or PIN; `serve` starts
//! locked (unless the passphrase came from the environment) and holds the key only while
//! unlocked. Locked, every page leads to the unlock page and every API call answers 423.
//!
//! Unlock and lock are plain HTML form posts. Besides the router's checks of `Host`, `Origin`
//! and `Sec-Fetch-Site` (`super::own_host_only`), each must carry this process's anti-forgery
//! token, so that another site open in the phone's browser can neither post guesses nor lock
//! the UI, also in a browser that sends none of those headers. The token is one random value
//! per process, kept in memory and written into the unlock form; the lock button's script
//! reads it from `GET /api/csrf` (a same-origin read: other origins cannot read the answer,
//! and rebound names are refused by `Host`). Not a double-submit cookie: cookies are not
//! separated by port, so any other program serving a page on `localhost` or 127.0.0.1 could
//! set that cookie to a value of its choosing; a value that exists only in this process and
//! in its own pages cannot be planted. There is one user and no session to tie it to, so one
//! value for the life of the process is enough. Failed unlocks are serialised and, after a
//! few typos, slowed down exponentially.

use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Form, Json};
use maud::html;
use serde::Deserialize;
use zeroize::Zeroizing;

use super::AppState;
use super::error::ApiError;
use super::pages;
use crate::store::{MIN_PASSPHRASE_CHARS, Store, StoreError};

/// Failed unlocks allowed before waiting starts (typos happen).
const FREE_FAILURES: u32 = 3;
/// The longest wait between unlock attempts.
const MAX_WAIT: Duration = Duration::from_secs(300);

/// Lock state that is not the store itself.
pub struct Gate {
    /// Held across an unlock attempt: attempts run one at a time.
    backoff: tokio::sync::Mutex<Backoff>,
    last_use: std::sync::Mutex<Instant>,
    /// Seed demo data into the store once unlocked (`serve --demo`).
    demo: bool,
    /// The anti-forgery token of the unlock and lock forms.
    csrf: String,
}

#[derive(Default)]
struct Backoff {
    failures: u32,
    not_before: Option<Instant>,
}

impl Backoff {
    fn failed(&mut self) {
        self.failures += 1;
        let over = self.failures.saturating_sub(FREE_FAILURES);
        if over > 0 {
            let wait = Duration::from_secs(1u64 << over.min(16)).min(MAX_WAIT);
            self.not_before = Some(Instant::now() + wait);
        }
    }
}

impl Gate {
    pub fn new(demo: bool) -> Gate {
        Gate {
            backoff: tokio::sync::Mutex::default(),
            last_use: std::sync::Mutex::new(Instant::now()),
            demo,
            csrf: format!(
                "{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            ),
        }
    }

    fn touch(&self) {
        if let Ok(mut t) = self.last_use.lock() {
            *t = Instant::now();
        }
    }

    fn idle(&self) -> Duration {
        self.last_use
            .lock()
            .map(|t| t.elapsed())
            .unwrap_or_default()
    }
}

impl AppState {
    pub(super) fn is_locked(&self) -> bool {
        self.store.lock().map(|s| s.is_none()).unwrap_or(true)
    }

    /// Locks the UI whenever `after` passes without a request.
    pub fn lock_when_idle(&self, after: Duration) {
        tokio::spawn(auto_lock(self.clone(), after));
    }

    /// Unlocks the UI on `store`. The idle clock starts now, not when the process started:
    /// opening a store (its key derivation, a demo's seeding) can take a slow phone longer than
    /// the lock's idle time, and the UI would then lock the moment it opened.
    pub(super) fn unlock_with(&self, store: Store) {
        if let Ok(mut s) = self.store.lock() {
            *s = Some(store);
        }
        self.gate.touch();
    }

    /// Drops the store and with it the key.
    pub fn lock(&self) {
        if let Ok(mut s) = self.store.lock() {
            *s = None;
        }
    }
}

/// Locked: pages go to the unlock page, API calls get 423. Unlocked: counts as activity.
pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    // A draft sent while locked is held in memory by its handler (`super::drafts`).
    let draft_put = path == "/api/drafts" && req.method() == axum::http::Method::PUT;
    if path == "/unlock" || path.starts_with("/assets/") || draft_put {
        return next.run(req).await;
    }
    if state.is_locked() {
        return if path.starts_with("/api/") {
            ApiError::from(super::error::Locked).into_response()
        } else {
            let back = req.uri().path_and_query().map_or(path, |p| p.as_str());
            Redirect::to(&unlock_url(back)).into_response()
        };
    }
    state.gate.touch();
    next.run(req).await
}

async fn auto_lock(state: AppState, after: Duration) {
    let tick = (after / 4).clamp(Duration::from_secs(1), Duration::from_secs(30));
    loop {
        tokio::time::sleep(tick).await;
        if !state.is_locked() && state.gate.idle() >= after {
            state.lock();
        }
    }
}

impl Gate {
    /// Whether a posted token is this process's; compares every byte, so the time taken
    /// does not tell how much of a guess was right.
    fn token_matches(&self, sent: &str) -> bool {
        let (a, b) = (self.csrf.as_bytes(), sent.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// The unlock page, returning to `back` (a page of this UI) once unlocked.
pub fn unlock_url(back: &str) -> String {
    match local_path(back) {
        Some(p) if p != "/" => format!("/unlock?next={}", pages::query_text(p)),
        _ => "/unlock".to_owned(),
    }
}

/// `next` when it is a path of this UI (never another site: `//host` or `/\host` would be).
fn local_path(next: &str) -> Option<&str> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.starts_with("/unlock")
        && next.len() <= 500
        && next.bytes().all(|b| b.is_ascii_graphic());
    ok.then_some(next)
}

fn expired(back: &str) -> Response {
    page(
        StatusCode::FORBIDDEN,
        "页面已过期",
        html! {
            h1 { "页面已过期" }
            p.err { "页面已过期,请刷新后重试。" }
            p { a href=(back) { "返回" } }
        },
    )
}

fn page(status: StatusCode, title: &str, body: maud::Markup) -> Response {
    (status, Html(pages::bare(title, body).into_string())).into_response()
}

/// The unlock form; `setup` when the store has no passphrase yet (new, or from before
/// encryption), which asks for it twice.
fn form(
    state: &AppState,
    status: StatusCode,
    setup: bool,
    error: Option<&str>,
    next: Option<&str>,
) -> Response {
    let title = if setup { "设置口令" } else { "解锁" };
    let body = html! {
        h1 { (title) }
        @if setup {
            p { "本机数据将用口令加密。请设置口令(至少 " (MIN_PASSPHRASE_CHARS) " 位,可用数字 PIN),忘记口令将无法读取本机数据。" }
        } @else {
            p { "本机数据已加密,请输入口令解锁。" }
        }
        form.unlock method="post" action="/unlock" {
            input type="hidden" name="csrf" value=(state.gate.csrf);
            @if let Some(next) = next.and_then(local_path) {
                input type="hidden" name="next" value=(next);
                p.muted #unlock-return { "解锁后回到刚才的页面,未保存的填写内容会自动恢复。" }
            }
            div.field {
                label for="passphrase" { "口令" }
                input #passphrase type="password" name="passphrase" required
                    autocomplete=(if setup { "new-password" } else { "current-password" }) autofocus;
            }
            @if setup {
                div.field {
                    label for="confirm" { "再次输入口令" }
                    input #confirm type="password" name="confirm" required autocomplete="new-password";
                }
            }
            p.err #unlock-error role="alert" { (error.unwrap_or_default()) }
            button.primary #unlock type="submit" { (if setup { "设置口令并解锁" } else { "解锁" }) }
        }
    };
    page(status, title, body)
}

fn needs_setup(state: &AppState) -> bool {
    Store::needs_passphrase_setup(&state.dir).unwrap_or(false)
}

#[derive(Deserialize)]
pub struct UnlockQuery {
    next: Option<String>,
}

pub async fn unlock_page(
    State(state): State<AppState>,
    axum::extract::Query(q): axum::extract::Query<UnlockQuery>,
) -> Response {
    let next = q.next.as_deref().and_then(local_path);
    if !state.is_locked() {
        return Redirect::to(next.unwrap_or("/")).into_response();
    }
    form(&state, StatusCode::OK, needs_setup(&state), None, next)
}

#[derive(serde::Serialize)]
pub struct Token {
    csrf: String,
}

/// The token for the lock button's script.
pub async fn token(State(state): State<AppState>) -> Json<Token> {
    Json(Token {
        csrf: state.gate.csrf.clone(),
    })
}

#[derive(Deserialize)]
pub struct UnlockForm {
    #[serde(default)]
    csrf: String,
    passphrase: String,
    confirm: Option<String>,
    /// The page to return to.
    next: Option<String>,
}

pub async fn unlock(State(state): State<AppState>, Form(f): Form<UnlockForm>) -> Response {
    if !state.gate.token_matches(&f.csrf) {
        return expired("/unlock");
    }
    let next = f.next.as_deref().and_then(local_path).map(str::to_owned);
    if !state.is_locked() {
        return Redirect::to(next.as_deref().unwrap_or("/")).into_response();
    }
    let setup = needs_setup(&state);
    let again = |status, message: &str| form(&state, status, setup, Some(message), next.as_deref());
    let passphrase = Zeroizing::new(f.passphrase);
    let confirm = f.confirm.map(Zeroizing::new);
    if setup && confirm.as_deref().map(String::as_str) != Some(passphrase.as_str()) {
        return again(StatusCode::UNPROCESSABLE_ENTITY, "两次输入的口令不一致");
    }
    let mut backoff = state.gate.backoff.lock().await;
    if let Some(wait) = backoff
        .not_before
        .and_then(|t| t.checked_duration_since(Instant::now()))
    {
        let text = format!("口令错误次数过多,请 {} 秒后再试", wait.as_secs().max(1));
        return again(StatusCode::TOO_MANY_REQUESTS, &text);
    }
    let (dir, demo, held) = (state.dir.clone(), state.gate.demo, state.held.clone());
    let opened = tokio::task::spawn_blocking(move || {
        let mut store = if setup {
            Store::create(&dir, &passphrase)?
        } else {
            Store::unlock(&dir, &passphrase)?
        };
        if demo {
            crate::demo::seed(&mut store)?;
        }
        held.flush(&store)?;
        Ok::<_, StoreError>(store)
    })
    .await;
    match opened {
        Ok(Ok(store)) => {
            *backoff = Backoff::default();
            state.unlock_with(store);
            Redirect::to(next.as_deref().unwrap_or("/")).into_response()
        }
        Ok(Err(e @ (StoreError::WrongPassphrase | StoreError::PassphraseChanged))) => {
            backoff.failed();
            again(StatusCode::UNAUTHORIZED, &e.to_string())
        }
        Ok(Err(e @ (StoreError::WeakPassphrase | StoreError::DemoOnEnrolled))) => {
            again(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string())
        }
        Ok(Err(e @ (StoreError::Sqlite(_) | StoreError::Doc(_)))) => {
            tracing::error!(error = %e, "unlock failed");
            again(
                StatusCode::INTERNAL_SERVER_ERROR,
                "内部错误,请重试;数据未受影响",
            )
        }
        // Said as it is: a damaged file moved aside, a missing key file, another process.
        Ok(Err(e)) => again(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        Err(_) => again(
            StatusCode::INTERNAL_SERVER_ERROR,
            "内部错误,请重试;数据未受影响",
        ),
    }
}

#[derive(Deserialize)]
pub struct LockForm {
    #[serde(default)]
    csrf: String,
}

pub async fn lock(
    State(state): State<AppState>,
    f: Result<Form<LockForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    if !f.is_ok_and(|Form(f)| state.gate.token_matches(&f.csrf)) {
        return expired("/");
    }
    state.lock();
    Redirect::to("/unlock").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_idle_clock_starts_when_the_store_opens_not_when_the_process_did() {
        let dir = tempfile::tempdir().expect("dir");
        let state = AppState::locked(dir.path().to_owned(), false);
        let store = Store::create(dir.path(), "test-passphrase").expect("store");
        // Opening took this long (a slow phone's key derivation).
        let opening = Duration::from_millis(300);
        std::thread::sleep(opening);
        state.unlock_with(store);
        assert!(!state.is_locked());
        assert!(
            state.gate.idle() < opening,
            "idle for {:?} just after unlocking",
            state.gate.idle()
        );
    }
}
