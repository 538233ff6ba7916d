//! Errors of pages (an HTML message) and of the JSON API (`{error, fields, details}`), each with
//! the status it deserves. Internal details are logged, never sent to the browser.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;
use zoufang_shared::doc::DocError;

use super::form::FieldErrors;
use crate::store::StoreError;

/// A failure that is not the user's: a poisoned lock or a crashed worker.
#[derive(Debug)]
pub struct Internal;

/// The UI is locked: there is no store to use.
#[derive(Debug)]
pub struct Locked;

/// A route's household id that no household can have.
#[derive(Debug)]
pub struct UnknownHousehold;

#[derive(Debug)]
pub enum PageError {
    NotFound(String),
    BadRequest(String),
    Locked,
    Internal,
}

impl From<Internal> for PageError {
    fn from(_: Internal) -> Self {
        PageError::Internal
    }
}

impl From<UnknownHousehold> for PageError {
    fn from(_: UnknownHousehold) -> Self {
        PageError::NotFound("农户".into())
    }
}

impl From<Locked> for PageError {
    fn from(_: Locked) -> Self {
        PageError::Locked
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(_) => PageError::NotFound("农户".into()),
            StoreError::NotInitialised => PageError::BadRequest(e.to_string()),
            other => {
                tracing::error!(error = %other, "page failed");
                PageError::Internal
            }
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, text) = match self {
            PageError::Locked => return axum::response::Redirect::to("/unlock").into_response(),
            PageError::NotFound(what) => (
                StatusCode::NOT_FOUND,
                "找不到",
                format!("找不到该{what},可能已被删除或链接有误。"),
            ),
            PageError::BadRequest(text) => (StatusCode::BAD_REQUEST, "请求有误", text),
            PageError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "出错了",
                "内部错误,请重试;数据未受影响。".to_owned(),
            ),
        };
        let body = super::pages::layout(title, "", super::pages::message(title, &text));
        (status, Html(body.into_string())).into_response()
    }
}

/// The JSON API's error body.
#[derive(Debug, Serialize)]
pub struct ApiErrorBody {
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<FieldErrors>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ApiErrorBody,
}

impl ApiError {
    pub fn new(status: StatusCode, error: impl Into<String>) -> Self {
        ApiError {
            status,
            body: ApiErrorBody {
                error: error.into(),
                fields: None,
                details: Vec::new(),
            },
        }
    }

    pub fn invalid(error: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, error)
    }

    pub fn fields(errors: FieldErrors) -> Self {
        let mut e = Self::invalid("表单有错误,请按提示修改");
        e.body.fields = Some(errors);
        e
    }

    pub fn with_details(mut self, details: Vec<String>) -> Self {
        self.body.details = details;
        self
    }
}

impl From<Internal> for ApiError {
    fn from(_: Internal) -> Self {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "内部错误,请重试;数据未受影响",
        )
    }
}

impl From<UnknownHousehold> for ApiError {
    fn from(_: UnknownHousehold) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "找不到该农户")
    }
}

impl From<Locked> for ApiError {
    fn from(_: Locked) -> Self {
        ApiError::new(StatusCode::LOCKED, "已锁定,请先在本机页面解锁")
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match &e {
            StoreError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
            StoreError::AlreadyExists(_) | StoreError::AlreadySynced => {
                ApiError::new(StatusCode::CONFLICT, e.to_string())
            }
            StoreError::Attachment(a) => {
                let status = match a {
                    crate::store::AttachmentError::TooManyBytes { .. } => {
                        StatusCode::PAYLOAD_TOO_LARGE
                    }
                    _ => StatusCode::UNPROCESSABLE_ENTITY,
                };
                ApiError::new(status, e.to_string())
            }
            StoreError::Doc(DocError::Invalid(v)) => ApiError::invalid(v.to_string()),
            StoreError::Refused(_) => ApiError::new(StatusCode::FORBIDDEN, e.to_string()),
            StoreError::NotInitialised => ApiError::new(StatusCode::CONFLICT, e.to_string()),
            _ => {
                tracing::error!(error = %e, "api call failed");
                Internal.into()
            }
        }
    }
}

impl From<DocError> for ApiError {
    fn from(e: DocError) -> Self {
        StoreError::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}
