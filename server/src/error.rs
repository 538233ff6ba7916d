//! The JSON error every API answer carries: `{code, error}` with the status it deserves.
//! Internal details are logged, never returned.
//!
//! At the bottom of the house: every door (device API, review API, middleware) answers with
//! it, so it may know storage's error but nothing of the doors themselves. Conversions from
//! the errors of higher modules (sync, attachments) live with the handlers that need them.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use zoufang_shared::wire::ErrorBody;

use crate::storage::DbError;

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// Seconds to wait before trying again (a `Retry-After` header).
    retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    pub fn unauthorized(message: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "服务器内部错误,请稍后重试;已提交的数据未受影响",
        )
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        tracing::error!(error = %e, "database error");
        if storage_full(&e) {
            return Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_full",
                "服务器存储空间已满,本次未能保存,请稍后重试;已提交的数据未受影响",
            );
        }
        ApiError::internal()
    }
}

/// SQLite's SQLITE_FULL (13) or PostgreSQL's disk_full (53100): nothing was written, and the
/// same request succeeds once space is freed, so the client is told to retry.
fn storage_full(e: &DbError) -> bool {
    let DbError::Other(sqlx::Error::Database(db)) = e else {
        return false;
    };
    matches!(db.code().as_deref(), Some("13" | "53100"))
}

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(r: axum::extract::rejection::JsonRejection) -> Self {
        ApiError::new(
            r.status(),
            "bad_request",
            format!("请求内容无效:{}", r.body_text()),
        )
    }
}

/// A login's JSON body: one too large for any login is `too_large`, refused before any
/// password is checked.
pub fn login_body<T>(
    body: Result<Json<T>, axum::extract::rejection::JsonRejection>,
) -> Result<T, ApiError> {
    match body {
        Ok(Json(t)) => Ok(t),
        Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "请求内容过大",
        )),
        Err(r) => Err(r.into()),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = (
            self.status,
            Json(ErrorBody {
                code: self.code.into(),
                error: self.message,
            }),
        )
            .into_response();
        if let Some(secs) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}
