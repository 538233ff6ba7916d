//! Resumable, deduplicated uploads of photos and signatures, named by their SHA-256.
//!
//! A device first asks which of its attachments the server lacks, then sends each in chunks at
//! the offset the server reports. A cut connection costs at most one chunk: the next attempt
//! resumes where the stored bytes end. The last chunk completes the upload only if the bytes
//! hash to their name; otherwise they are discarded and the upload starts over.
//!
//! A hash is no secret (every pulled document names its photos'), so an unfinished upload
//! belongs to the device sending it: bytes in progress are kept per (device, hash), a device is
//! told its own offsets only, and another device's partial upload of the same hash neither
//! blocks nor overwrites it. The first upload to complete with matching bytes becomes the
//! attachment for everyone; every device's partial upload of that hash is then dropped, and
//! any later chunk for it is answered "complete".
//!
//! What a device may leave unfinished is bounded twice:
//! - Quota: starting an upload reserves its whole declared size, and the reservations of one
//!   device's unfinished uploads may add up to `limits.max_upload_bytes_in_progress`. Counting
//!   declared sizes rather than bytes received means an announced 4 MiB of which one byte came
//!   costs 4 MiB, and that an upload once begun can always finish.
//! - Expiry: an unfinished upload whose last chunk is older than `limits.upload_expiry_hours`
//!   no longer counts, is reported as not begun, and is deleted — every device's, at the start
//!   of any chunk upload (one indexed delete), so no timer is needed. Complete attachments are
//!   never deleted.

use chrono::{DateTime, TimeDelta, Utc};
use sha2::{Digest, Sha256};
use zoufang_shared::model::is_content_hash;
use zoufang_shared::wire::{MAX_ATTACHMENT_BYTES, MAX_CHUNK_BYTES, UploadState};

use crate::config::Limits;
use crate::storage::{Append, Database, DbError, UploadChunk};

/// Most hashes asked about at once.
pub const MAX_STATUS_HASHES: usize = 2_000;

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("附件标识不是有效的 SHA-256 摘要")]
    BadHash,
    #[error("只接受 JPEG 或 PNG 图片")]
    BadType,
    #[error("附件过大(上限 {MAX_ATTACHMENT_BYTES} 字节)")]
    TooLarge,
    #[error("单次上传的分块过大或为空(上限 {MAX_CHUNK_BYTES} 字节)")]
    BadChunk,
    #[error("一次最多查询 {MAX_STATUS_HASHES} 个附件")]
    TooManyHashes,
    #[error("上传位置不符,请从 {} 字节处继续", .0.offset)]
    WrongOffset(UploadState),
    #[error("附件内容与其摘要不符,已丢弃,请重新上传")]
    Corrupt,
    #[error(
        "本设备未完成的附件上传已达上限({quota} 字节),请先传完已开始的附件;\
         未完成的上传 {expiry_hours} 小时无进展即作废"
    )]
    OverQuota { quota: i64, expiry_hours: i64 },
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Whose unfinished uploads these are, and the limits they live under.
#[derive(Debug, Clone, Copy)]
pub struct Uploader<'a> {
    pub device_id: &'a str,
    /// `limits.max_upload_bytes_in_progress`.
    pub quota: i64,
    /// `limits.upload_expiry_hours`.
    pub expiry_hours: i64,
}

impl<'a> Uploader<'a> {
    pub fn new(device_id: &'a str, limits: &Limits) -> Self {
        Uploader {
            device_id,
            quota: limits.max_upload_bytes_in_progress,
            expiry_hours: limits.upload_expiry_hours,
        }
    }

    /// The owner of uploads made on no device's behalf ([`missing`], [`upload_chunk`]): an
    /// empty id, which no enrolled device has.
    fn on_no_device() -> Uploader<'static> {
        let limits = Limits::default();
        Uploader {
            device_id: "",
            quota: limits.max_upload_bytes_in_progress,
            expiry_hours: limits.upload_expiry_hours,
        }
    }

    /// Unfinished uploads last written before this have expired.
    fn fresh_since(&self) -> DateTime<Utc> {
        // Bounded so that a huge setting cannot overflow the date arithmetic.
        Utc::now() - TimeDelta::hours(self.expiry_hours.clamp(0, 100 * 365 * 24))
    }
}

/// [`missing_for`] on no device's behalf: for imports that store whole files in one call
/// (`crate::bundles`), so that nothing of theirs stays unfinished between calls.
pub async fn missing<D: Database>(
    db: &D,
    hashes: &[String],
) -> Result<Vec<UploadState>, UploadError> {
    missing_for(db, &Uploader::on_no_device(), hashes).await
}

/// [`upload_chunk_for`] on no device's behalf; see [`missing`].
pub async fn upload_chunk<D: Database>(
    db: &D,
    hash: &str,
    mime: &str,
    total: i64,
    offset: i64,
    chunk: &[u8],
) -> Result<UploadState, UploadError> {
    upload_chunk_for(
        db,
        &Uploader::on_no_device(),
        hash,
        mime,
        total,
        offset,
        chunk,
    )
    .await
}

/// Of `hashes`, those the server has not completed, with the offset to resume each at: where
/// this uploader's own unexpired upload ends, else 0.
pub async fn missing_for<D: Database>(
    db: &D,
    up: &Uploader<'_>,
    hashes: &[String],
) -> Result<Vec<UploadState>, UploadError> {
    if hashes.len() > MAX_STATUS_HASHES {
        return Err(UploadError::TooManyHashes);
    }
    if !hashes.iter().all(|h| is_content_hash(h)) {
        return Err(UploadError::BadHash);
    }
    let known = db
        .attachment_states(up.device_id, hashes, up.fresh_since())
        .await?;
    Ok(hashes
        .iter()
        .filter(|h| !known.iter().any(|k| &k.hash == *h && k.complete))
        .map(|h| UploadState {
            hash: h.clone(),
            offset: known
                .iter()
                .find(|k| &k.hash == h)
                .map_or(0, |k| k.received),
            complete: false,
        })
        .collect())
}

/// Stores one chunk of this uploader's upload; completes (and verifies) it when it is the last.
pub async fn upload_chunk_for<D: Database>(
    db: &D,
    up: &Uploader<'_>,
    hash: &str,
    mime: &str,
    total: i64,
    offset: i64,
    chunk: &[u8],
) -> Result<UploadState, UploadError> {
    if !is_content_hash(hash) {
        return Err(UploadError::BadHash);
    }
    if mime != "image/jpeg" && mime != "image/png" {
        return Err(UploadError::BadType);
    }
    if total <= 0 || total > MAX_ATTACHMENT_BYTES {
        return Err(UploadError::TooLarge);
    }
    // Compared before adding: an offset near i64::MAX must be refused, not overflow.
    if chunk.is_empty()
        || chunk.len() > MAX_CHUNK_BYTES
        || offset < 0
        || offset > total - chunk.len() as i64
    {
        return Err(UploadError::BadChunk);
    }
    let state = |offset, complete| UploadState {
        hash: hash.to_owned(),
        offset,
        complete,
    };
    db.expire_uploads(up.fresh_since()).await?;
    let appended = db
        .append_upload(&UploadChunk {
            device_id: up.device_id,
            hash,
            mime,
            total,
            offset,
            bytes: chunk,
            quota: up.quota,
        })
        .await?;
    let end = match appended {
        Append::Stored(end) => end,
        // A retry after success, or the same photo from another device.
        Append::Complete(size) => return Ok(state(size, true)),
        Append::Misplaced(received) => {
            return Err(UploadError::WrongOffset(state(received, false)));
        }
        Append::OverQuota => {
            return Err(UploadError::OverQuota {
                quota: up.quota,
                expiry_hours: up.expiry_hours,
            });
        }
    };
    if end < total {
        return Ok(state(end, false));
    }
    let Some(received) = db.upload_received(up.device_id, hash).await? else {
        // Another device completed the hash in between, which dropped this upload.
        return match db.attachment(hash).await? {
            Some(a) => Ok(state(a.total, true)),
            None => Err(UploadError::Corrupt),
        };
    };
    let digest: String = Sha256::digest(&received.bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let verified = digest == hash;
    db.finish_upload(up.device_id, hash, verified).await?;
    if verified {
        Ok(state(total, true))
    } else {
        Err(UploadError::Corrupt)
    }
}
