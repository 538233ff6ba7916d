//! Sync by file: a device's sealed bundle is applied exactly as its HTTP sync would be — same
//! device checks, same per-change and per-household rules, same transaction — and the reply
//! carries the acknowledgements and the device's pull back.

use zoufang_shared::wire::bundle::{self, Bundle, BundleError, BundleReply};

use crate::attachments;
use crate::storage::{Database, DbError};
use crate::sync::{self, SyncError};

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    Bundle(#[from] BundleError),
    #[error("同步文件来自未登记的设备 {0}")]
    UnknownDevice(String),
    #[error("设备 {0} 已停用、令牌已过期或账号已停用,拒绝导入")]
    DeviceNotAllowed(String),
    #[error("{0}")]
    Sync(#[from] SyncError),
    #[error("数据库错误:{0}")]
    Db(#[from] DbError),
}

/// Applies `file`; returns the reply file and a one-line summary.
pub async fn import<D: Database>(
    db: &D,
    file: &[u8],
    limits: &crate::config::Limits,
) -> Result<(Vec<u8>, String), ImportError> {
    let (_, device_id) = bundle::header(file)?;
    let key = db
        .device_token_hash(&device_id)
        .await?
        .ok_or_else(|| ImportError::UnknownDevice(device_id.clone()))?;
    let b: Bundle = bundle::read_bundle(file, &key)?;
    let device = db
        .device_by_token(&key)
        .await?
        .ok_or_else(|| ImportError::UnknownDevice(device_id.clone()))?;
    if device.revoked
        || device.user.disabled
        || device.expires_at < chrono::Utc::now()
        || !crate::review::may_hold_devices(device.user.role)
    {
        return Err(ImportError::DeviceNotAllowed(device_id));
    }
    let mut stored = Vec::new();
    for a in &b.attachments {
        match store_attachment(db, &a.hash, &a.mime, &a.bytes).await {
            Ok(()) => stored.push(a.hash.clone()),
            Err(e) => tracing::warn!(hash = %a.hash, error = %e, "bundled attachment refused"),
        }
    }
    let pushes = b.request.pushes.len();
    let protocol = b.request.protocol;
    let response = sync::sync(db, &device, b.request, sync::Via::Bundle, limits).await?;
    let summary = format!(
        "设备 {device_id}:{pushes} 户的修改已处理,附件 {}/{} 个,回执带回 {} 项变更",
        stored.len(),
        b.attachments.len(),
        response.pulled.len()
    );
    // In the layout of the protocol the device wrote its bundle in.
    let reply = bundle::write_reply(
        &device_id,
        &key,
        &BundleReply {
            response,
            attachments_stored: stored,
        },
        protocol,
    )?;
    Ok((reply, summary))
}

/// Stores a whole attachment through the same checked upload path, resuming a partial one.
async fn store_attachment<D: Database>(
    db: &D,
    hash: &str,
    mime: &str,
    bytes: &[u8],
) -> Result<(), attachments::UploadError> {
    let Some(state) = attachments::missing(db, &[hash.to_owned()]).await?.pop() else {
        return Ok(()); // already complete
    };
    let total = bytes.len() as i64;
    let start = usize::try_from(state.offset).unwrap_or(0).min(bytes.len());
    let mut offset = state.offset;
    for chunk in bytes[start..].chunks(zoufang_shared::wire::MAX_CHUNK_BYTES) {
        offset = attachments::upload_chunk(db, hash, mime, total, offset, chunk)
            .await?
            .offset;
    }
    if offset == total {
        Ok(())
    } else {
        Err(attachments::UploadError::BadChunk)
    }
}
