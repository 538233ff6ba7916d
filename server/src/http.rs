//! HTTP: the router, the device extractor, and errors as `{code, error}` with the status each
//! deserves. Internal details are logged, never returned.

use std::sync::Arc;
use zoufang_shared::CodeList;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use zoufang_shared::wire::{
    self, EnrollRequest, EnrollResponse, ErrorBody, SYNC_CONTENT_TYPE, SyncRequest,
};

use crate::attachments::{self, UploadError};
use crate::auth;
use crate::config::Config;
use crate::ratelimit::LoginLimiter;
use crate::storage::{Database, DbError, DeviceAuth, NewDevice};
use crate::sync::{self, SyncError};

pub struct AppState<D> {
    pub db: D,
    pub config: Config,
}

pub type Shared<D> = Arc<AppState<D>>;

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    fn unauthorized(message: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    fn internal() -> Self {
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

impl From<SyncError> for ApiError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::Protocol(_) => Self::new(StatusCode::BAD_REQUEST, "protocol", e.to_string()),
            SyncError::TooManyPushes => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_many_pushes",
                e.to_string(),
            ),
            SyncError::Busy => Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", e.to_string()),
            SyncError::Db(db) => db.into(),
        }
    }
}

impl From<UploadError> for ApiError {
    fn from(e: UploadError) -> Self {
        let status = match &e {
            UploadError::BadHash | UploadError::BadType | UploadError::Corrupt => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            UploadError::TooLarge | UploadError::TooManyHashes | UploadError::BadChunk => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            UploadError::WrongOffset(_) => StatusCode::CONFLICT,
            UploadError::Db(_) => {
                tracing::error!(error = %e, "attachment storage");
                return ApiError::internal();
            }
        };
        ApiError::new(status, "attachment", e.to_string())
    }
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(ErrorBody {
                code: self.code.into(),
                error: self.message,
            }),
        )
            .into_response()
    }
}

/// A request from an enrolled device with a valid token; handlers that take it cannot be
/// reached without one.
pub struct Device(pub DeviceAuth);

impl<D: Database> FromRequestParts<Shared<D>> for Device {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared<D>) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| ApiError::unauthorized("缺少设备令牌,请先登记设备"))?;
        let device = state
            .db
            .device_by_token(&auth::token_hash(token.trim()))
            .await?
            .ok_or_else(|| ApiError::unauthorized("设备令牌无效,请重新登记设备"))?;
        if device.revoked {
            return Err(ApiError::unauthorized("该设备已被停用,请联系管理员"));
        }
        if device.expires_at < chrono::Utc::now() {
            return Err(ApiError::unauthorized("设备令牌已过期,请重新登记设备"));
        }
        if device.user.disabled {
            return Err(ApiError::unauthorized("该账号已停用,请联系管理员"));
        }
        Ok(Device(device))
    }
}

pub fn router<D: Database>(state: Shared<D>) -> Router {
    let max_sync = state.config.max_sync_bytes;
    Router::new()
        .route("/healthz", get(healthz::<D>))
        .route(
            "/api/enroll",
            post(enroll::<D>).layer(DefaultBodyLimit::max(16 * 1024)),
        )
        .route(
            "/api/sync",
            post(sync_handler::<D>).layer(DefaultBodyLimit::max(max_sync)),
        )
        .route(
            "/api/attachments/status",
            post(attachment_status::<D>).layer(DefaultBodyLimit::max(256 * 1024)),
        )
        .route(
            "/api/attachments/{hash}",
            axum::routing::put(attachment_upload::<D>)
                .layer(DefaultBodyLimit::max(wire::MAX_CHUNK_BYTES + 1024)),
        )
        .merge(crate::web::routes::<D>())
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "没有这个接口")
        })
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(LoginLimiter::default()),
            crate::ratelimit::throttle_logins,
        ))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(state)
}

/// The headers of every answer — device API, review pages, errors, the 404 of an unknown path
/// and a refused login alike: no script, no framing, no sniffing, no referrer, no caching of
/// what may hold personal data. The review pages set the same policy themselves
/// (`web::security_headers`); what a route set is kept.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

async fn security_headers(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    h.entry(header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
    h.entry(header::REFERRER_POLICY)
        .or_insert(HeaderValue::from_static("no-referrer"));
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    res
}

async fn healthz<D: Database>(State(state): State<Shared<D>>) -> Result<&'static str, ApiError> {
    state.db.household_count().await?;
    Ok("ok")
}

fn valid_device_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

async fn enroll<D: Database>(
    State(state): State<Shared<D>>,
    body: Result<Json<EnrollRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<EnrollResponse>, ApiError> {
    let Json(req) = body.map_err(ApiError::from)?;
    // The server's own actor writes reviewers' decisions; no device may pose as it.
    if !valid_device_id(&req.device_id)
        || req.actor.len() != 32
        || !req.actor.bytes().all(|b| b.is_ascii_hexdigit())
        || req
            .actor
            .eq_ignore_ascii_case(&sync::server_actor().to_hex_string())
    {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_device",
            "设备标识无效",
        ));
    }
    let denied = || ApiError::unauthorized("用户名或密码错误");
    let user = state.db.user_by_name(req.username.trim()).await?;
    let phc = user.as_ref().map(|u| u.password_hash.as_str());
    if !auth::check_password(&req.password, phc).await {
        return Err(denied());
    }
    let user = user.ok_or_else(denied)?;
    if user.disabled {
        return Err(ApiError::unauthorized("该账号已停用,请联系管理员"));
    }
    let token = auth::new_token();
    let expires_at = chrono::Utc::now() + chrono::Duration::days(state.config.token_days);
    match state
        .db
        .enroll_device(&NewDevice {
            id: req.device_id.clone(),
            user_id: user.id,
            name: req.device_name.chars().take(100).collect(),
            actor: req.actor.to_ascii_lowercase(),
            token_hash: auth::token_hash(&token),
            expires_at,
        })
        .await
    {
        Ok(()) => {}
        Err(DbError::Duplicate) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "actor_taken",
                "该设备标识已被另一台设备使用",
            ));
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(user = user.id, device = %req.device_id, "device enrolled");
    Ok(Json(EnrollResponse {
        token,
        user_id: user.username.clone(),
        user_name: user.display_name.clone(),
        role: user.role.code().into(),
        areas: user.areas.clone(),
        expires_at: expires_at.to_rfc3339(),
    }))
}

/// The body as bytes; a body over the limit or cut off in transit is a JSON error like any other.
fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "数据超过服务器上限,请分批同步",
            )
        } else {
            ApiError::new(r.status(), "incomplete_body", "数据未完整收到,请重试")
        }
    })
}

async fn sync_handler<D: Database>(
    State(state): State<Shared<D>>,
    Device(device): Device,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body_bytes(body)?;
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct != SYNC_CONTENT_TYPE {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content_type",
            format!("同步请求的类型应为 {SYNC_CONTENT_TYPE}"),
        ));
    }
    let req: SyncRequest = wire::decode(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed",
            format!("同步数据无效:{e}"),
        )
    })?;
    let pushes = req.pushes.len();
    let res = sync::sync(&state.db, &device, req).await?;
    tracing::info!(
        device = %device.device_id,
        pushes,
        pulled = res.pulled.len(),
        more = res.more,
        "sync"
    );
    let bytes = wire::encode(&res).map_err(|_| ApiError::internal())?;
    Ok(([(header::CONTENT_TYPE, SYNC_CONTENT_TYPE)], bytes).into_response())
}

async fn attachment_status<D: Database>(
    State(state): State<Shared<D>>,
    Device(_device): Device,
    body: Result<Json<wire::AttachmentStatusRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<wire::AttachmentStatusResponse>, ApiError> {
    let Json(req) = body.map_err(ApiError::from)?;
    Ok(Json(wire::AttachmentStatusResponse {
        missing: attachments::missing(&state.db, &req.hashes).await?,
    }))
}

#[derive(serde::Deserialize)]
struct UploadQuery {
    offset: i64,
    total: i64,
}

async fn attachment_upload<D: Database>(
    State(state): State<Shared<D>>,
    Device(_device): Device,
    axum::extract::Path(hash): axum::extract::Path<String>,
    query: Result<axum::extract::Query<UploadQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body_bytes(body)?;
    let axum::extract::Query(q) = query.map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "缺少 offset 或 total 参数",
        )
    })?;
    let mime = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match attachments::upload_chunk(&state.db, &hash, mime, q.total, q.offset, &body).await {
        Ok(s) => Ok(Json(s).into_response()),
        Err(UploadError::WrongOffset(s)) => Ok((StatusCode::CONFLICT, Json(s)).into_response()),
        Err(e) => Err(e.into()),
    }
}
