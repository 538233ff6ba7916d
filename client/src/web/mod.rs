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
mod error;
mod lock;
pub use zoufang_shared::fields;
pub mod form;
mod pages;
mod sync_task;

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use zoufang_shared::CodeList;
use zoufang_shared::codes::{CaseKind, HouseholdStatus};
use zoufang_shared::doc::HouseholdDoc;
use zoufang_shared::ids::{CaseId, HouseholdId};
use zoufang_shared::model::Household;
use zoufang_shared::rules::{assessment, checks};

pub use error::PageError;

use crate::store::{ListFilter, Store};

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
    /// The `Host` values this UI answers to (see [`AppState::bound_to`]); none until bound,
    /// and then every request is refused.
    hosts: Arc<[String]>,
}

impl AppState {
    /// Unlocked, on an open store.
    pub fn new(store: Store) -> Self {
        let state = Self::locked(store.dir().to_owned(), false);
        if let Ok(mut s) = state.store.lock() {
            *s = Some(store);
        }
        state
    }

    /// Locked, on the store in `dir`; `demo` seeds demo data once it is unlocked.
    pub fn locked(dir: PathBuf, demo: bool) -> Self {
        AppState {
            dir,
            store: Arc::default(),
            sync: Arc::default(),
            gate: Arc::new(lock::Gate::new(demo)),
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
        if let Ok(mut s) = state.store.lock() {
            *s = Some(store);
        }
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
        .route("/api/households", post(api::create))
        .route("/api/households/{id}", get(api::household).put(api::save))
        .route("/api/households/{id}/visits", post(api::add_visit))
        .route("/api/households/{id}/reset", post(api::reset))
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

/// The `Host` values that name this UI: the loopback names with the bound port, and the bound
/// address itself. IP literals cannot be re-pointed by DNS; `localhost` resolves locally.
/// Bound to an unspecified address (`0.0.0.0`), other addresses of this device are not known
/// here and are refused: bind to the one to use.
fn own_hosts(addr: SocketAddr) -> Vec<String> {
    let ip = addr.ip();
    let mut names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
    if ip == IpAddr::V6(Ipv6Addr::LOCALHOST) || (ip.is_ipv6() && ip.is_unspecified()) {
        names.push("[::1]".to_owned());
    }
    if !ip.is_unspecified() {
        names.push(match ip {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("[{v6}]"),
        });
    }
    names.dedup();
    let port = addr.port();
    let mut hosts: Vec<String> = names.iter().map(|n| format!("{n}:{port}")).collect();
    // Browsers leave the default port out of `Host`.
    if port == 80 {
        hosts.extend(names);
    }
    hosts
}

/// Refuses requests not addressed to this UI by name (421) and writes from other origins
/// (403), for every route. `Origin` is checked only when present: a browser sends it with
/// every cross-origin write; tools such as the tests send none, and reach this port only
/// from the device itself. `Sec-Fetch-Site` `same-site` is refused too: another port of
/// `localhost` is the same site but another program.
async fn own_host_only(
    State(state): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let own = |value: &str| state.hosts.iter().any(|h| h.eq_ignore_ascii_case(value));
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let host_ok = match (hosts.next(), hosts.next()) {
        (Some(h), None) => h.to_str().is_ok_and(own),
        _ => false,
    };
    // An absolute-form request line names a host too: it must be this one as well.
    let target_ok = req.uri().authority().is_none_or(|a| own(a.as_str()));
    if !host_ok || !target_ok {
        return refusal(
            StatusCode::MISDIRECTED_REQUEST,
            api,
            "请求的地址不是本机走访页面,已拒绝。请在本机浏览器中打开走访客户端显示的地址。",
        );
    }
    if !req.method().is_safe() && !from_own_origin(req.headers(), &own) {
        return refusal(
            StatusCode::FORBIDDEN,
            api,
            "请求不是从本机走访页面发出的,已拒绝。",
        );
    }
    next.run(req).await
}

fn from_own_origin(headers: &HeaderMap, own: &impl Fn(&str) -> bool) -> bool {
    let text = |name| headers.get(name).map(|v| v.to_str().unwrap_or("?"));
    let site_ok = text(header::HeaderName::from_static("sec-fetch-site"))
        .is_none_or(|site| site == "same-origin" || site == "none");
    let origin_ok =
        text(header::ORIGIN).is_none_or(|origin| origin.strip_prefix("http://").is_some_and(own));
    site_ok && origin_ok
}

fn refusal(status: StatusCode, api: bool, message: &str) -> Response {
    if api {
        error::ApiError::new(status, message).into_response()
    } else {
        (
            status,
            Html(
                pages::bare(
                    "请求被拒绝",
                    maud::html! { h1 { "请求被拒绝" } p.err { (message) } },
                )
                .into_string(),
            ),
        )
            .into_response()
    }
}

/// Strict CSP: scripts and styles only from this origin, no inline code. Nothing but the
/// embedded assets may be cached: the browser's disk cache is outside the encrypted store, and
/// pages and photos hold names, ID numbers and incomes.
async fn security_headers(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let cacheable = req.uri().path().starts_with("/assets/");
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    if !cacheable {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' blob: data:; script-src 'self'; style-src 'self'; \
             object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Not `no-referrer`: under it a browser sends `Origin: null` with this UI's own form
    // posts, indistinguishable from a sandboxed page of another site (`own_host_only`).
    // `same-origin` still sends no referrer to any other site.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    res
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

#[derive(Deserialize, Default)]
struct ListQuery {
    q: Option<String>,
    village: Option<String>,
    status: Option<String>,
    case: Option<String>,
    flag: Option<String>,
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

async fn list_page(
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
    let filter = ListFilter {
        village: non_empty(q.village),
        status,
        case_kind: case,
        flag: non_empty(q.flag),
        search: non_empty(q.q),
        limit: Some(500),
    };
    state
        .with_store(move |s| {
            let rows = s.list(&filter)?;
            let villages = s.villages()?;
            let total = s.count()?;
            let user = s.identity()?.user_name;
            Ok(page(
                &user,
                "农户列表",
                pages::list(&rows, &villages, &filter, total),
            ))
        })
        .await
}

fn page(user: &str, title: &str, body: maud::Markup) -> Html<String> {
    Html(pages::layout(title, user, body).into_string())
}

fn household_id(raw: &str) -> Result<HouseholdId, PageError> {
    valid_id(raw)
        .map(HouseholdId::from)
        .ok_or_else(|| PageError::NotFound("农户".into()))
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

async fn household_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Html<String>, PageError> {
    household_doc_page(state, id, "农户", |s, doc, h| {
        let j = judge(s, doc, h.clone())?;
        let view = pages::HouseholdView {
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

async fn new_page(State(state): State<AppState>) -> Result<Html<String>, PageError> {
    state
        .with_store(move |s| {
            let h = Household::new(HouseholdId::random());
            let year = chrono::Datelike::year(&today());
            let user = s.identity()?.user_name;
            Ok(page(
                &user,
                "新建农户",
                pages::household_form(&h, None, year, None),
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

fn today() -> chrono::NaiveDate {
    chrono::Local::now().date_naive()
}

async fn edit_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Html<String>, PageError> {
    household_doc_page(state, id, "编辑农户", |s, doc, h| {
        let version = form::version_text(&doc.heads());
        let year = assessment_year(h).unwrap_or_else(|| chrono::Datelike::year(&today()));
        let a = assessment::assess(h, year, today(), s.standards());
        Ok(pages::household_form(h, Some(&version), year, Some(&a)))
    })
    .await
}

async fn visit_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Html<String>, PageError> {
    household_subpage(state, id, "记录走访", |_, h, user| {
        Ok(pages::visit_form(h, today(), user))
    })
    .await
}

async fn case_new_page(
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

async fn case_page(
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
