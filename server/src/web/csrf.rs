//! Every write of the review pages says in its signature that it needs the session's
//! anti-forgery token: it takes its form as a [`CsrfForm`], which refuses a form whose `csrf`
//! field is not the session's token before the handler runs. (Why a token although the cookie
//! is SameSite=Strict: see `super::session`.)

use axum::Form;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use super::PageError;
use super::session::session_csrf;
use crate::state::Shared;
use crate::storage::Database;

/// A posted form, which carries the token of the page it came from.
pub trait CsrfField {
    fn csrf(&self) -> &str;
}

/// Whether `sent` (a form's field, an API header) is the session's token `expected`. The
/// refusal asks to reload the page, which then holds the current token.
pub fn check_csrf(expected: &str, sent: &str) -> Result<(), PageError> {
    if !sent.is_empty() && sent == expected {
        Ok(())
    } else {
        Err(PageError {
            status: StatusCode::FORBIDDEN,
            message: "页面已过期,请刷新后重试".into(),
        })
    }
}

/// A form of a signed-in viewer whose token matched: without a session it is the answer of a
/// missing [`super::Viewer`], a malformed form is axum's answer, a wrong token is 403.
pub struct CsrfForm<T>(pub T);

impl<D, T> FromRequest<Shared<D>> for CsrfForm<T>
where
    D: Database,
    T: DeserializeOwned + CsrfField + Send,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &Shared<D>) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let expected = session_csrf(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Form(form) = Form::<T>::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        check_csrf(&expected, form.csrf()).map_err(IntoResponse::into_response)?;
        Ok(CsrfForm(form))
    }
}

/// Forms that carry a `csrf` field.
macro_rules! csrf_field {
    ($($form:ty),+ $(,)?) => {
        $(impl $crate::web::csrf::CsrfField for $form {
            fn csrf(&self) -> &str {
                &self.csrf
            }
        })+
    };
}
pub(crate) use csrf_field;
