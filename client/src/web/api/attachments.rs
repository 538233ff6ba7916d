//! Photos and signatures as raw bytes: uploads from the page's camera and signature pads, and
//! serving them back. Apart because these routes take and give image bytes, not JSON forms.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;
use zoufang_shared::model::is_content_hash;

use super::AppState;
use crate::web::error::ApiError;

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

/// A downscaled photo or a signature, as raw image bytes.
pub async fn upload(
    State(state): State<AppState>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let mime = content_type(&headers);
    state
        .with_store(move |s| {
            let (hash, (width, height)) = s.put_attachment(&bytes, &mime)?;
            Ok((
                StatusCode::CREATED,
                Json(json!({ "hash": hash, "width": width, "height": height })),
            ))
        })
        .await
}

/// The camera original of an uploaded photo, kept on this device only.
pub async fn upload_original(
    State(state): State<AppState>,
    Path(hash): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let mime = content_type(&headers);
    if !is_content_hash(&hash) {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "找不到该照片"));
    }
    state
        .with_store(move |s| {
            s.put_original(&hash, &bytes, &mime)?;
            Ok(StatusCode::NO_CONTENT)
        })
        .await
}

pub async fn attachment(
    State(state): State<AppState>,
    Path(hash): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    if !is_content_hash(&hash) {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "找不到该附件"));
    }
    state
        .with_store(move |s| {
            let (mime, bytes) = s
                .attachment(&hash)?
                .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "找不到该附件"))?;
            Ok(([(header::CONTENT_TYPE, mime)], bytes))
        })
        .await
}
