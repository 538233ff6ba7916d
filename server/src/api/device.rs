//! The device API: enrollment, sync, photo uploads, and the liveness check. Every answer that
//! is not a success is an [`ApiError`].

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Extension, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use zoufang_shared::CodeList;
use zoufang_shared::wire::{
    self, EnrollRequest, EnrollResponse, ErrorBody, SYNC_CONTENT_TYPE, SyncRequest, UploadState,
};

use crate::attachments::{self, UploadError};
use crate::auth;
use crate::error::{ApiError, login_body};
use crate::heavy::{HeldSlot, cpu};
use crate::ratelimit::ClientIp;
use crate::review;
use crate::state::Shared;
use crate::storage::{Database, DbError, DeviceAuth, NewDevice, Role};
use crate::sync::{self, SyncError};

/// The device API's routes, each with the body limit its requests need; enrollment (a
/// password) and sync (a merge) are heavy.
pub fn routes<D: Database>(state: &Shared<D>) -> Router<Shared<D>> {
    let heavy = &state.heavy;
    Router::new()
        .route("/healthz", get(healthz::<D>))
        .route("/readyz", get(readyz::<D>))
        .route(
            "/api/enroll",
            heavy.admits(post(enroll::<D>).layer(DefaultBodyLimit::max(16 * 1024))),
        )
        .route(
            "/api/sync",
            heavy.admits(
                post(sync_handler::<D>).layer(DefaultBodyLimit::max(state.config.max_sync_bytes)),
            ),
        )
        .route("/api/standards", get(standards_table::<D>))
        .route("/api/rounds", get(rounds::<D>))
        .route(
            "/api/attachments/status",
            post(attachment_status::<D>).layer(DefaultBodyLimit::max(256 * 1024)),
        )
        .route(
            "/api/attachments/{hash}",
            axum::routing::put(attachment_upload::<D>)
                .layer(DefaultBodyLimit::max(wire::MAX_CHUNK_BYTES + 1024)),
        )
}

impl From<SyncError> for ApiError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::Protocol(_) | SyncError::OneCursorManyCounties => {
                Self::new(StatusCode::BAD_REQUEST, "protocol", e.to_string())
            }
            SyncError::TooManyPushes(_) => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_many_pushes",
                e.to_string(),
            ),
            SyncError::TooManyChanges(_) => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_many_changes",
                e.to_string(),
            ),
            SyncError::Busy => Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", e.to_string())
                .retry_after(crate::heavy::RETRY_AFTER_SECS),
            SyncError::TooLarge(_) => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.to_string())
            }
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
            // Not 413: the chunk may be small; it is the device's unfinished uploads that are
            // too many, until it finishes one or they expire.
            UploadError::OverQuota { .. } => {
                return ApiError::new(StatusCode::TOO_MANY_REQUESTS, "upload_quota", e.to_string());
            }
            UploadError::Db(_) => {
                tracing::error!(error = %e, "attachment storage");
                return ApiError::internal();
            }
        };
        ApiError::new(status, "attachment", e.to_string())
    }
}

/// How [`Device`] refuses a request, as every route that takes one describes it.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // Only described: the extractor answers `ApiError`.
enum DeviceRefused {
    #[response(
        status = 401,
        description = "Missing, unknown, revoked or expired device token"
    )]
    Token(ErrorBody),
    #[response(
        status = 403,
        description = "The user's role may not hold a device (`role_cannot_enroll`)"
    )]
    Role(ErrorBody),
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
        // Enrolled before the rule, or under a role changed since: the device is refused too.
        if !review::may_hold_devices(device.user.role) {
            return Err(role_cannot_enroll(device.user.role));
        }
        Ok(Device(device))
    }
}

/// Liveness and database reachability, for monitoring: one `SELECT 1`, so a probe costs the
/// same whatever the size of the register.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "device",
    responses(
        (status = 200, description = "The server and its database answer", body = String,
         content_type = "text/plain", example = "ok"),
        (status = 500, description = "The database does not answer", body = ErrorBody),
    )
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn healthz<D: Database>(
    State(state): State<Shared<D>>,
) -> Result<&'static str, ApiError> {
    state.db.ping().await?;
    Ok("ok")
}

/// Readiness, for a load balancer choosing replicas: the database answers and holds every
/// migration this build knows (the schema was restored from an older backup under a running
/// replica, say). Reads the migrations table only; `/healthz` stays the cheaper probe.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "device",
    responses(
        (status = 200, description = "Ready to serve", body = String,
         content_type = "text/plain", example = "ready"),
        (status = 503, description = "The schema is behind this build (run `migrate`)",
         body = ErrorBody),
        (status = 500, description = "The database does not answer", body = ErrorBody),
    )
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn readyz<D: Database>(
    State(state): State<Shared<D>>,
) -> Result<&'static str, ApiError> {
    match state.db.pending_migrations().await? {
        0 => Ok("ready"),
        n => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "schema_behind",
            format!("数据库结构落后本版本 {n} 项迁移"),
        )),
    }
}

fn valid_device_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A role that may not hold a device (`review::may_hold_devices`), at enrollment and at every
/// later request of a device enrolled before.
fn role_cannot_enroll(role: Role) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "role_cannot_enroll",
        format!(
            "{}不能登记设备:设备上保存完整的证件号码和银行账号,请通过审核页面查看数据",
            role.label()
        ),
    )
}

/// A device signs in once with its user's password and gets a bearer token. Throttled with
/// the review logins (`crate::auth::login`).
#[utoipa::path(
    post,
    path = "/api/enroll",
    tag = "device",
    request_body = EnrollRequest,
    responses(
        (status = 200, description = "Enrolled: the device's token", body = EnrollResponse),
        (status = 400, description = "Malformed JSON, or a device id or name the server keeps \
                                      for its own changes (`reserved_device_id`)",
         body = ErrorBody),
        (status = 401, description = "Wrong username or password, or a disabled account",
         body = ErrorBody),
        (status = 403, description = "The user's role reads through the review pages and may \
                                      not hold a device (`role_cannot_enroll`)",
         body = ErrorBody),
        (status = 409, description = "The actor id belongs to another device (`actor_taken`), \
                                      or the device id was revoked (`device_revoked`)",
         body = ErrorBody),
        (status = 413, description = "Body over 16 KiB", body = ErrorBody),
        (status = 415, description = "Not `application/json`", body = ErrorBody),
        (status = 422, description = "Missing or invalid fields, or an invalid device or actor id",
         body = ErrorBody),
        (status = 429, description = "Too many failed attempts; see `Retry-After`",
         body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 500, description = "Internal error", body = ErrorBody),
    )
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn enroll<D: Database>(
    State(state): State<Shared<D>>,
    ClientIp(ip): ClientIp,
    body: Result<Json<EnrollRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<EnrollResponse>, ApiError> {
    let req = login_body(body)?;
    // The server's own actor writes reviewers' decisions; no device may pose as it.
    if !valid_device_id(&req.device_id)
        || req.actor.len() != 32
        || !req.actor.bytes().all(|b| b.is_ascii_hexdigit())
        || req
            .actor
            .eq_ignore_ascii_case(&crate::actor::server_actor().to_hex_string())
    {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_device",
            "设备标识无效",
        ));
    }
    // Display text: control characters (NUL among them) have no place in it.
    let device_name: String = req
        .device_name
        .chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect();
    // Histories name the device of each change: none may read like the server's own.
    if review::reserved_device_label(&req.device_id) || review::reserved_device_label(&device_name)
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "reserved_device_id",
            "设备标识或名称是服务器保留的名称(review、server 或以 zoufang 开头),请换一个",
        ));
    }
    let user = auth::login(&state.logins, &state.db, &req.username, &req.password, ip).await?;
    if !review::may_hold_devices(user.role) {
        return Err(role_cannot_enroll(user.role));
    }
    let token = auth::new_token();
    let expires_at = chrono::Utc::now() + chrono::Duration::days(state.config.token_days);
    match state
        .db
        .enroll_device(&NewDevice {
            id: req.device_id.clone(),
            user_id: user.id,
            name: device_name,
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
        Err(DbError::Revoked) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "device_revoked",
                "该设备已被注销,请用新的设备标识重新初始化",
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
        area_tree: crate::areas::trees_of(&state.db.areas().await?, &user.areas),
        utc_offset: Some(crate::projection::local_offset().to_string()),
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

/// One sync round: push the device's changes, pull everyone else's. The body is a
/// `SyncRequest`, the answer a `SyncResponse` (`zoufang_shared::wire`), both postcard
/// compressed with DEFLATE.
#[utoipa::path(
    post,
    path = "/api/sync",
    tag = "device",
    security(("device" = [])),
    request_body(content = crate::schema::SyncBody, content_type = "application/x-zoufang-sync",
                 description = "A DEFLATE-compressed postcard `SyncRequest`"),
    responses(
        (status = 200, description = "A DEFLATE-compressed postcard `SyncResponse`",
         body = crate::schema::SyncBody, content_type = "application/x-zoufang-sync"),
        (status = 400, description = "Undecodable body, or a protocol error", body = ErrorBody),
        DeviceRefused,
        (status = 413,
         description = "Body too large (as sent, inflated or unpacked), or too many pushes",
         body = ErrorBody),
        (status = 415, description = "Not `application/x-zoufang-sync`", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
        (status = 503, description = "Busy: sync again", body = ErrorBody),
    )
)]
#[tracing::instrument(skip_all, fields(device = %device.device_id))]
pub(crate) async fn sync_handler<D: Database>(
    State(state): State<Shared<D>>,
    Device(device): Device,
    slot: Option<Extension<HeldSlot>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body_bytes(body)?;
    // Merged households are checked against the county's latest table (one digest read).
    crate::standards::refresh(&state.db).await?;
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
    let limits = &state.config.limits;
    let req: SyncRequest =
        cpu(|| wire::decode_request(&body, limits.max_inflated_bytes)).map_err(|e| match e {
            wire::WireError::TooLarge(_) => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.to_string())
            }
            _ => ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed",
                format!("同步数据无效:{e}"),
            ),
        })?;
    // Not carried into the pull.
    drop(body);
    let pushes = req.pushes.len();
    let protocol = req.protocol;
    let pushed = sync::Pushed::push(&state.db, &device, req, sync::Via::Http, limits).await?;
    if let Some(Extension(slot)) = slot {
        slot.release();
    }
    // Never closed, so never an error.
    let _pulling = state.pulls.acquire().await;
    let res = pushed.answer(&state.db, &device).await?;
    tracing::info!(
        device = %device.device_id,
        pushes,
        pulled = res.pulled.len(),
        more = res.more,
        gone = res.gone.len(),
        "sync"
    );
    // In the layout of the device's protocol (3 and 4: without `gone`).
    let bytes = cpu(|| wire::encode_response(&res, protocol)).map_err(|_| ApiError::internal())?;
    Ok(([(header::CONTENT_TYPE, SYNC_CONTENT_TYPE)], bytes).into_response())
}

/// Which of these attachments the server still needs, and where each upload resumes.
#[utoipa::path(
    post,
    path = "/api/attachments/status",
    tag = "device",
    security(("device" = [])),
    request_body = wire::AttachmentStatusRequest,
    responses(
        (status = 200, description = "The hashes the server lacks, each with where this \
                                      device's own unfinished upload of it ends",
         body = wire::AttachmentStatusResponse),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        DeviceRefused,
        (status = 413, description = "Body over 256 KiB", body = ErrorBody),
        (status = 415, description = "Not `application/json`", body = ErrorBody),
        (status = 422, description = "Missing or invalid fields", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    )
)]
#[tracing::instrument(skip_all, fields(device = %device.device_id))]
pub(crate) async fn attachment_status<D: Database>(
    State(state): State<Shared<D>>,
    Device(device): Device,
    body: Result<Json<wire::AttachmentStatusRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<wire::AttachmentStatusResponse>, ApiError> {
    let Json(req) = body.map_err(ApiError::from)?;
    let uploader = attachments::Uploader::new(&device.device_id, &state.config.limits);
    Ok(Json(wire::AttachmentStatusResponse {
        missing: attachments::missing_for(&state.db, &uploader, &req.hashes).await?,
    }))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct StandardsQuery {
    /// The digest of the table the device holds, if any.
    #[param(max_length = 64)]
    have: Option<String>,
}

/// The county's income standards table (the server is its authority): the device stores it and
/// judges with it. Only the digest when the device already holds this table.
#[utoipa::path(
    get,
    path = "/api/standards",
    tag = "device",
    security(("device" = [])),
    params(StandardsQuery),
    responses(
        (status = 200, description = "The table in use, or only its digest when `have` names it",
         body = wire::StandardsResponse),
        (status = 400, description = "Malformed query", body = ErrorBody),
        DeviceRefused,
        (status = 500, description = "Internal error", body = ErrorBody),
    )
)]
#[tracing::instrument(skip_all, fields(device = %device.device_id))]
pub(crate) async fn standards_table<D: Database>(
    State(state): State<Shared<D>>,
    Device(device): Device,
    query: Result<axum::extract::Query<StandardsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<wire::StandardsResponse>, ApiError> {
    let axum::extract::Query(q) = query
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", "have 参数无效"))?;
    if q.have.as_deref().is_some_and(|h| h.len() > 64) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "have 参数无效",
        ));
    }
    crate::standards::refresh(&state.db).await?;
    let table = crate::standards::current();
    let current = q.have.as_deref() == Some(table.digest.as_str());
    Ok(Json(wire::StandardsResponse {
        digest: table.digest.clone(),
        json: (!current).then(|| table.json.clone()),
    }))
}

/// The 工作批次 covering the device user's areas: the device files each new case under one
/// open on the case's day.
#[utoipa::path(
    get,
    path = "/api/rounds",
    tag = "device",
    security(("device" = [])),
    responses(
        (status = 200, description = "The rounds, latest start first", body = wire::RoundsResponse),
        DeviceRefused,
        (status = 500, description = "Internal error", body = ErrorBody),
    )
)]
#[tracing::instrument(skip_all, fields(device = %device.device_id))]
pub(crate) async fn rounds<D: Database>(
    State(state): State<Shared<D>>,
    Device(device): Device,
) -> Result<Json<wire::RoundsResponse>, ApiError> {
    let rounds = crate::review::rounds::covering(&state.db, &device.user.areas).await?;
    Ok(Json(wire::RoundsResponse { rounds }))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct UploadQuery {
    /// Where this chunk starts in the attachment.
    #[param(minimum = 0)]
    offset: i64,
    /// The attachment's whole size in bytes.
    #[param(minimum = 1, maximum = 4194304)]
    total: i64,
}

/// One chunk of a photo, at `offset` of `total` bytes; the body's type is the photo's.
/// Until complete, the bytes are this device's own upload (`crate::attachments`).
#[utoipa::path(
    put,
    path = "/api/attachments/{hash}",
    tag = "device",
    security(("device" = [])),
    params(("hash" = String, Path, pattern = "^[0-9a-f]{64}$",
            description = "SHA-256 of the whole attachment, lowercase hex"),
           UploadQuery),
    request_body(
        description = "The chunk's bytes (at most 1 MiB)",
        content(
            (crate::schema::ChunkBody = "image/jpeg"),
            (crate::schema::ChunkBody = "image/png"),
        )
    ),
    responses(
        (status = 200, description = "Stored; where the upload stands", body = UploadState),
        (status = 400, description = "Missing or non-integer `offset` or `total`",
         body = ErrorBody),
        DeviceRefused,
        (status = 409, description = "Wrong offset: resume where this says", body = UploadState),
        (status = 413, description = "Attachment or chunk too large, or a chunk out of range",
         body = ErrorBody),
        (status = 422, description = "Not a SHA-256 hex hash, not JPEG or PNG, or corrupt",
         body = ErrorBody),
        (status = 429, description = "Starting this upload would take the device's unfinished \
                                      uploads over `max_upload_bytes_in_progress` \
                                      (`upload_quota`); nothing stored", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    )
)]
#[tracing::instrument(skip_all, fields(device = %device.device_id, hash = %hash))]
pub(crate) async fn attachment_upload<D: Database>(
    State(state): State<Shared<D>>,
    Device(device): Device,
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
    let uploader = attachments::Uploader::new(&device.device_id, &state.config.limits);
    match attachments::upload_chunk_for(&state.db, &uploader, &hash, mime, q.total, q.offset, &body)
        .await
    {
        Ok(s) => Ok(Json(s).into_response()),
        Err(UploadError::WrongOffset(s)) => Ok((StatusCode::CONFLICT, Json(s)).into_response()),
        Err(e) => Err(e.into()),
    }
}
