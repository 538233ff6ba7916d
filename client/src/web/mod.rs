//! The local web UI: `zoufang serve`. Pages are rendered on the device from the store; the
//! browser talks only to this process (loopback), and every asset is embedded in the binary.
//!
//! Loopback alone does not keep other web sites out: a page on `evil.example` whose name is
//! re-pointed at 127.0.0.1 (DNS rebinding) reaches this port as a same-origin page of its own,
//! and could read households and post to every route. So every request must name this UI
//! itself in `Host` (`127.0.0.1:PORT`, `localhost:PORT`, the bound address), else 421; and a
//! write (any unsafe method) a browser marks as coming from another origin or site is refused
//! with 403 before any handler runs (`own_host_only`).

mod api;
mod areas;
mod drafts;
mod error;
mod lock;
pub use zoufang_shared::fields;
pub mod form;
mod page_routes;
mod pages;
mod security;
mod sync_task;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::{get, post};
use zoufang_shared::doc::HouseholdDoc;
use zoufang_shared::ids::HouseholdId;
use zoufang_shared::model::Household;
use zoufang_shared::rules::{assessment, checks};

pub use error::PageError;
use page_routes::{
    case_new_page, case_page, edit_page, household_page, list_page, new_page, visit_page,
};
use security::{own_host_only, own_hosts, security_headers};

use crate::store::Store;

/// Options of `zoufang serve`.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Data directory of the store.
    pub data: PathBuf,
    /// Address to listen on (127.0.0.1 by default: the UI is for this device).
    pub addr: SocketAddr,
    /// Seed demo households (and a demo user) when the store is empty.
    pub demo: bool,
    /// The passphrase, when given for automation: the UI starts unlocked. Otherwise it starts
    /// locked and the user types it into the unlock page.
    pub passphrase: Option<zeroize::Zeroizing<String>>,
    /// Lock after this long without a request.
    pub lock_after: Option<std::time::Duration>,
}

#[derive(Clone)]
pub struct AppState {
    /// The unlocked store; `None` while locked.
    store: Arc<Mutex<Option<Store>>>,
    /// The data directory, for unlocking and for the sync task's own connection to the store.
    dir: PathBuf,
    /// The running or last sync, for the page to poll.
    sync: Arc<Mutex<sync_task::SyncStatus>>,
    gate: Arc<lock::Gate>,
    /// Drafts sent while locked, written at the next unlock.
    held: Arc<drafts::Held>,
    /// The `Host` values this UI answers to (see [`AppState::bound_to`]); none until bound,
    /// and then every request is refused.
    hosts: Arc<[String]>,
}

impl AppState {
    /// Unlocked, on an open store.
    pub fn new(store: Store) -> Self {
        let state = Self::locked(store.dir().to_owned(), false);
        state.unlock_with(store);
        state
    }

    /// Locked, on the store in `dir`; `demo` seeds demo data once it is unlocked.
    pub fn locked(dir: PathBuf, demo: bool) -> Self {
        AppState {
            dir,
            store: Arc::default(),
            sync: Arc::default(),
            gate: Arc::new(lock::Gate::new(demo)),
            held: Arc::default(),
            hosts: Arc::new([]),
        }
    }

    /// The address the UI actually listens on (after binding: the port may have been 0). Its
    /// port and loopback names become the only `Host` values answered.
    pub fn bound_to(mut self, addr: SocketAddr) -> Self {
        self.hosts = own_hosts(addr).into();
        self
    }

    /// Runs `f` on the store off the async threads (SQLite and Automerge work is blocking).
    async fn with_store<
        R: Send + 'static,
        E: From<error::Internal> + From<error::Locked> + Send + 'static,
    >(
        &self,
        f: impl FnOnce(&mut Store) -> Result<R, E> + Send + 'static,
    ) -> Result<R, E> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = store.lock().map_err(|_| error::Internal)?;
            f(guard.as_mut().ok_or(error::Locked)?)
        })
        .await
        .map_err(|_| error::Internal)?
    }
}

/// Runs the web UI until Ctrl-C / SIGTERM. Prints the URL it listens on once ready.
pub async fn serve(options: ServeOptions) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let dir = options.data.clone();
    if !options.demo && !dir.join(crate::store::DB_FILE).is_file() {
        return Err(crate::store::StoreError::NotInitialised.into());
    }
    let listener = tokio::net::TcpListener::bind(options.addr).await?;
    let addr = listener.local_addr()?;
    let state = AppState::locked(dir.clone(), options.demo).bound_to(addr);
    if let Some(passphrase) = options.passphrase {
        let demo = options.demo;
        let store = tokio::task::spawn_blocking(move || {
            let mut store = Store::create(&dir, &passphrase)?;
            if demo {
                crate::demo::seed(&mut store)?;
            }
            store.identity()?;
            Ok::<_, crate::store::StoreError>(store)
        })
        .await??;
        state.unlock_with(store);
    }
    if let Some(after) = options.lock_after {
        state.lock_when_idle(after);
    }
    println!("走访客户端已启动:http://{addr}/");
    if state.is_locked() {
        println!("本机数据已加密:请在该网页中输入口令解锁");
    }
    let app = router(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(zoufang_shared::shutdown::shutdown_signal())
        .await?;
    Ok(())
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(list_page))
        .route("/h/new", get(new_page))
        .route("/h/{id}", get(household_page))
        .route("/h/{id}/edit", get(edit_page))
        .route("/h/{id}/visit", get(visit_page))
        .route("/h/{id}/case/new", get(case_new_page))
        .route("/h/{id}/case/{case}", get(case_page))
        .route("/a/{hash}", get(api::attachment))
        .route("/unlock", get(lock::unlock_page).post(lock::unlock))
        .route("/lock", post(lock::lock))
        .route("/api/csrf", get(lock::token))
        .route("/assets/app.js", get(script))
        .route("/assets/app.css", get(style))
        .route("/api/preview", post(api::preview))
        .route(
            "/api/drafts",
            get(drafts::get).put(drafts::put).delete(drafts::delete),
        )
        .route("/api/households", post(api::create))
        .route("/api/households/{id}", get(api::household).put(api::save))
        .route("/api/households/{id}/visits", post(api::add_visit))
        .route("/api/households/{id}/reset", post(api::reset))
        .route("/api/households/{id}/withdraw", post(api::withdraw))
        .route("/api/households/{id}/cases", post(api::propose_case))
        .route(
            "/api/households/{id}/cases/{case}/steps",
            post(api::add_step),
        )
        .route("/sync", get(sync_task::page))
        .route("/api/sync", get(sync_task::status).post(sync_task::start))
        .route("/api/attachments", post(api::upload))
        .route(
            "/api/attachments/{hash}/original",
            post(api::upload_original),
        )
        .layer(axum::extract::DefaultBodyLimit::max(
            crate::store::MAX_ORIGINAL_BYTES + 1024,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            lock::guard,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            own_host_only,
        ))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(state)
}

async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("assets/app.js"),
    )
}

async fn style() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("assets/app.css"),
    )
}

fn page(user: &str, title: &str, body: maud::Markup) -> Html<String> {
    Html(pages::layout(title, user, body).into_string())
}

/// Ids are generated (UUID hex) or imported (`hh-<户编号>`): letters, digits, `-` and `_`.
pub(crate) fn valid_id(raw: &str) -> Option<&str> {
    (!raw.is_empty()
        && raw.len() <= 100
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    .then_some(raw)
}

/// The year the household is assessed for: its latest income year, else its survey year.
pub(crate) fn assessment_year(h: &Household) -> Option<i32> {
    h.incomes.keys().next_back().copied().or(h.info.year)
}

/// What a household's page and its JSON show: the household, its assessment year and
/// verdict, its findings and conflicts, all judged by the device's standards table.
pub(crate) struct Judged {
    pub h: Household,
    pub year: Option<i32>,
    pub assessment: Option<assessment::Assessment>,
    pub findings: Vec<checks::Finding>,
    pub conflicts: Vec<zoufang_shared::doc::Conflict>,
}

pub(crate) fn judge(
    s: &Store,
    doc: &mut HouseholdDoc,
    h: Household,
) -> Result<Judged, crate::store::StoreError> {
    let conflicts = doc.conflicts()?;
    let year = assessment_year(&h);
    Ok(Judged {
        year,
        assessment: year.map(|y| assessment::assess(&h, y, today(), s.standards())),
        findings: checks::check_household(&h, today(), s.standards()),
        conflicts,
        h,
    })
}

/// The household a route's id names; `?` answers an id no household can have as an unknown
/// household, in the page's or the API's own way.
fn household_id(raw: &str) -> Result<HouseholdId, error::UnknownHousehold> {
    valid_id(raw)
        .map(HouseholdId::from)
        .ok_or(error::UnknownHousehold)
}

fn today() -> chrono::NaiveDate {
    chrono::Local::now().date_naive()
}
