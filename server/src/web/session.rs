//! Logins of the review pages: a random session token in an HttpOnly, SameSite=Strict cookie
//! (the server keeps only its SHA-256), and a per-session anti-forgery token every form posts
//! back. SameSite=Strict alone already keeps other sites' forms from riding the session; the
//! form token covers browsers that ignore it.
//!
//! The login form itself has no session to hold a token, yet a forged login is an attack too:
//! another site posting its own account's password would sign the victim into that account,
//! and what the victim then records would be the attacker's to read. So the login page gets a
//! double-submit token: a random value in an HttpOnly, SameSite=Strict cookie scoped to
//! `/login`, echoed in a hidden field; a post whose field does not match its cookie is refused
//! (403) before any password is checked, and so is not counted as a failed attempt either.
//! Another site can neither read the cookie nor make the browser send it along.
//!
//! Behind TLS (`public_url` is https) both cookies are `Secure`: a browser never sends them
//! over plain http, where anyone on the path could read them.

use std::net::IpAddr;

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::csrf::CsrfForm;
use super::pages;
use crate::auth::{self, LoginError};
use crate::config::Config;
use crate::ratelimit::{self, ClientIp};
use crate::review::Review;
use crate::state::{AppState, Shared};
use crate::storage::{Database, User};

pub const COOKIE: &str = "zf_session";
/// The login form's anti-forgery cookie.
pub const LOGIN_COOKIE: &str = "zf_login";

/// The signed-in user of a page or API request.
pub struct Viewer {
    pub user: User,
    /// The session's anti-forgery token.
    pub csrf: String,
    token_hash: String,
}

impl Viewer {
    /// The review service acting as this user: the only way a page or the review API reads or
    /// writes supervisors' data.
    pub fn review<D: Database>(&self, state: &AppState<D>) -> Review<D> {
        Review::new(state, self.user.clone())
    }
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    named_cookie(headers, COOKIE)
}

/// A cookie holding one of our tokens (64 hex digits), by name.
fn named_cookie(headers: &HeaderMap, cookie: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == cookie)
        .map(|(_, value)| value.to_owned())
        .filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Why a request has no viewer.
pub enum NoViewer {
    /// A page: go and log in.
    Page,
    /// The API: 401 as JSON.
    Api,
    Internal,
}

impl IntoResponse for NoViewer {
    fn into_response(self) -> Response {
        match self {
            NoViewer::Page => Redirect::to("/login").into_response(),
            NoViewer::Api => crate::error::ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "未登录或登录已过期",
            )
            .into_response(),
            NoViewer::Internal => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        }
    }
}

impl<D: Database> FromRequestParts<Shared<D>> for Viewer {
    type Rejection = NoViewer;

    async fn from_request_parts(parts: &mut Parts, state: &Shared<D>) -> Result<Self, NoViewer> {
        let missing = if parts.uri.path().starts_with("/api/") {
            NoViewer::Api
        } else {
            NoViewer::Page
        };
        let Some(token) = cookie_token(&parts.headers) else {
            return Err(missing);
        };
        let session = match auth::session(&state.db, &token).await {
            Ok(Some(s)) => s,
            Ok(None) => return Err(missing),
            Err(e) => {
                tracing::error!(error = %e, "session lookup");
                return Err(NoViewer::Internal);
            }
        };
        // For the write's anti-forgery check (`SessionCsrf`), which comes after.
        parts.extensions.insert(SessionCsrf(session.csrf.clone()));
        Ok(Viewer {
            user: session.user,
            csrf: session.csrf,
            token_hash: session.token_hash,
        })
    }
}

/// The anti-forgery token of the request's session, as the [`Viewer`] extractor found it.
#[derive(Clone)]
struct SessionCsrf(String);

/// The token a write must carry: the session's, looked up once per request (a handler that
/// takes a [`Viewer`] has found it already).
pub async fn session_csrf<D: Database>(
    parts: &mut Parts,
    state: &Shared<D>,
) -> Result<String, NoViewer> {
    if let Some(SessionCsrf(csrf)) = parts.extensions.get::<SessionCsrf>() {
        return Ok(csrf.clone());
    }
    Ok(Viewer::from_request_parts(parts, state).await?.csrf)
}

/// `; Secure` when users come over https.
fn secure(config: &Config) -> &'static str {
    if config.behind_tls() { "; Secure" } else { "" }
}

fn login_cookie(config: &Config, token: &str) -> String {
    format!(
        "{LOGIN_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/login{}",
        secure(config)
    )
}

/// The login page with a form token, and the cookie that pairs with it.
fn login_form(config: &Config, status: StatusCode, error: Option<&str>, token: &str) -> Response {
    (
        status,
        [(header::SET_COOKIE, login_cookie(config, token))],
        Html(pages::login_page(error, Some(token)).into_string()),
    )
        .into_response()
}

/// The login page. A token the browser already holds is kept, so that two open login pages
/// both stay valid.
pub async fn login_page<D: Database>(
    State(state): State<Shared<D>>,
    headers: HeaderMap,
) -> Response {
    let token = named_cookie(&headers, LOGIN_COOKIE).unwrap_or_else(auth::new_token);
    login_form(&state.config, StatusCode::OK, None, &token)
}

/// The login page again, 429, when too many attempts failed (`crate::ratelimit`). Its form
/// has no token: posted, it gets the "expired" answer, which is a login page with a fresh one.
fn throttled_page(wait: std::time::Duration) -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(
            header::RETRY_AFTER,
            ratelimit::retry_after_secs(wait).to_string(),
        )],
        Html(pages::login_page(Some(&ratelimit::throttled_message(wait)), None).into_string()),
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    csrf: String,
}

/// Checks a password and opens a session (`auth::open_session`) of the configured length.
pub async fn open_session<D: Database>(
    state: &Shared<D>,
    username: &str,
    password: &str,
    ip: Option<IpAddr>,
) -> Result<auth::Opened, LoginError> {
    auth::open_session(
        &state.logins,
        &state.db,
        username,
        password,
        ip,
        state.config.session_hours,
    )
    .await
}

/// The cookie that carries a session token, without `Secure` (see [`session_cookie_for`]).
fn session_cookie(token: &str, hours: i64) -> String {
    format!(
        "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        hours * 3600
    )
}

/// The cookie that carries a session token, `Secure` behind TLS.
pub fn session_cookie_for(config: &Config, token: &str) -> String {
    format!(
        "{}{}",
        session_cookie(token, config.session_hours),
        secure(config)
    )
}

/// Both the same, compared without stopping at the first difference.
fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[tracing::instrument(skip_all)]
pub async fn login<D: Database>(
    State(state): State<Shared<D>>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let form = match form {
        Ok(Form(form)) => form,
        Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return (StatusCode::PAYLOAD_TOO_LARGE, "请求内容过大").into_response();
        }
        Err(r) => return r.into_response(),
    };
    let config = &state.config;
    let Some(token) = named_cookie(&headers, LOGIN_COOKIE).filter(|t| same_token(t, &form.csrf))
    else {
        return login_form(
            config,
            StatusCode::FORBIDDEN,
            Some("页面已过期,请刷新后重试"),
            &auth::new_token(),
        );
    };
    match open_session(&state, &form.username, &form.password, ip).await {
        Ok(opened) => {
            let mut res = Redirect::to("/report").into_response();
            let h = res.headers_mut();
            for cookie in [
                session_cookie_for(config, &opened.token),
                // Spent: the next login page hands out a new one.
                format!(
                    "{LOGIN_COOKIE}=; HttpOnly; SameSite=Strict; Path=/login; Max-Age=0{}",
                    secure(config)
                ),
            ] {
                if let Ok(v) = header::HeaderValue::from_str(&cookie) {
                    h.append(header::SET_COOKIE, v);
                }
            }
            res
        }
        Err(LoginError::Throttled(wait)) => throttled_page(wait),
        Err(LoginError::Denied | LoginError::Disabled) => login_form(
            config,
            StatusCode::UNAUTHORIZED,
            Some("用户名或密码错误"),
            &token,
        ),
        Err(LoginError::Db(e)) => {
            tracing::error!(error = %e, "login");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[derive(Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

super::csrf::csrf_field!(LogoutForm);

pub async fn logout<D: Database>(
    State(state): State<Shared<D>>,
    viewer: Viewer,
    _: CsrfForm<LogoutForm>,
) -> Result<Response, super::PageError> {
    auth::close_session(&state.db, &viewer.token_hash).await?;
    Ok((
        [(
            header::SET_COOKIE,
            format!(
                "{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{}",
                secure(&state.config)
            ),
        )],
        Redirect::to("/login"),
    )
        .into_response())
}
