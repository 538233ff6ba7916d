//! Logins of the review pages: a random session token in an HttpOnly, SameSite=Strict cookie
//! (the server keeps only its SHA-256), and a per-session anti-forgery token every form posts
//! back. SameSite=Strict alone already keeps other sites' forms from riding the session; the
//! form token covers browsers that ignore it.

use axum::Form;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::Deserialize;

use super::pages;
use crate::auth;
use crate::http::Shared;
use crate::storage::{Database, User};

pub const COOKIE: &str = "zf_session";

/// The signed-in user of a page or API request.
pub struct Viewer {
    pub user: User,
    /// The session's anti-forgery token.
    pub csrf: String,
    token_hash: String,
}

impl Viewer {
    /// Whether a posted form (or API header) carries this session's token.
    pub fn check_csrf(&self, sent: &str) -> Result<(), super::PageError> {
        if !sent.is_empty() && sent == self.csrf {
            Ok(())
        } else {
            Err(super::PageError {
                status: StatusCode::FORBIDDEN,
                message: "页面已过期,请刷新后重试".into(),
            })
        }
    }
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
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
            NoViewer::Api => crate::http::ApiError::new(
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
        let token_hash = auth::token_hash(&token);
        let session = match state.db.session(&token_hash).await {
            Ok(Some(s)) => s,
            Ok(None) => return Err(missing),
            Err(e) => {
                tracing::error!(error = %e, "session lookup");
                return Err(NoViewer::Internal);
            }
        };
        let expired = DateTime::parse_from_rfc3339(&session.expires_at)
            .map(|t| t < Utc::now())
            .unwrap_or(true);
        if expired {
            return Err(missing);
        }
        let user = match state.db.user_by_name(&session.username).await {
            Ok(Some(u)) if !u.disabled => u,
            Ok(_) => return Err(missing),
            Err(e) => {
                tracing::error!(error = %e, "session user lookup");
                return Err(NoViewer::Internal);
            }
        };
        Ok(Viewer {
            user,
            csrf: session.csrf,
            token_hash,
        })
    }
}

pub async fn login_page() -> Html<String> {
    Html(pages::login_page(None).into_string())
}

/// The login page again, 429, when too many attempts failed (`crate::ratelimit`).
pub fn throttled_page(message: &str) -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        Html(pages::login_page(Some(message)).into_string()),
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
}

/// Checks a password and opens a session; the same answer for an unknown user and a wrong
/// password, so names cannot be probed.
pub async fn open_session<D: Database>(
    state: &Shared<D>,
    username: &str,
    password: &str,
) -> Result<Option<(User, String)>, crate::storage::DbError> {
    let user = auth::known_user(&state.db, username).await?;
    let phc = user.as_ref().map(|u| u.password_hash.as_str());
    if !auth::check_password(password, phc).await {
        return Ok(None);
    }
    let Some(user) = user.filter(|u| !u.disabled) else {
        return Ok(None);
    };
    let token = auth::new_token();
    let now = Utc::now();
    // Whole seconds and `Z`: one fixed width, so the stored times compare as text.
    let stamp = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    state.db.delete_sessions_before(&stamp(now)).await?;
    state
        .db
        .create_session(
            &auth::token_hash(&token),
            user.id,
            &auth::new_token(),
            &stamp(now + Duration::hours(state.config.session_hours)),
        )
        .await?;
    tracing::info!(user = %user.username, "review login");
    Ok(Some((user, token)))
}

/// The cookie that carries a session token.
pub fn session_cookie(token: &str, hours: i64) -> String {
    format!(
        "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        hours * 3600
    )
}

pub async fn login<D: Database>(
    State(state): State<Shared<D>>,
    Form(form): Form<LoginForm>,
) -> Response {
    match open_session(&state, &form.username, &form.password).await {
        Ok(Some((_, token))) => (
            [(
                header::SET_COOKIE,
                session_cookie(&token, state.config.session_hours),
            )],
            Redirect::to("/report"),
        )
            .into_response(),
        Ok(None) => (
            StatusCode::UNAUTHORIZED,
            Html(pages::login_page(Some("用户名或密码错误")).into_string()),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "login");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout<D: Database>(
    State(state): State<Shared<D>>,
    viewer: Viewer,
    Form(form): Form<CsrfForm>,
) -> Result<Response, super::PageError> {
    viewer.check_csrf(&form.csrf)?;
    state.db.delete_session(&viewer.token_hash).await?;
    Ok((
        [(
            header::SET_COOKIE,
            format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
        )],
        Redirect::to("/login"),
    )
        .into_response())
}
