//! Resumable, deduplicated uploads of photos and signatures, named by their SHA-256.
//!
//! A device first asks which of its attachments the server lacks, then sends each in chunks at
//! the offset the server reports. A cut connection costs at most one chunk: the next attempt
//! resumes where the stored bytes end. The last chunk completes the upload only if the bytes
//! hash to their name; otherwise they are discarded and the upload starts over.

use sha2::{Digest, Sha256};
use zoufang_shared::model::is_content_hash;
use zoufang_shared::wire::{MAX_ATTACHMENT_BYTES, MAX_CHUNK_BYTES, UploadState};

use crate::storage::{Database, DbError};

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
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Of `hashes`, those the server has not completed, with the offset to resume each at.
pub async fn missing<D: Database>(
    db: &D,
    hashes: &[String],
) -> Result<Vec<UploadState>, UploadError> {
    if hashes.len() > MAX_STATUS_HASHES {
        return Err(UploadError::TooManyHashes);
    }
    if !hashes.iter().all(|h| is_content_hash(h)) {
        return Err(UploadError::BadHash);
    }
    let known = db.attachment_states(hashes).await?;
    Ok(hashes
        .iter()
        .filter_map(|h| match known.iter().find(|k| &k.hash == h) {
            Some(k) if k.complete => None,
            Some(k) => Some(UploadState {
                hash: h.clone(),
                offset: k.received,
                complete: false,
            }),
            None => Some(UploadState {
                hash: h.clone(),
                offset: 0,
                complete: false,
            }),
        })
        .collect())
}

/// Stores one chunk; completes (and verifies) the upload when it is the last.
pub async fn upload_chunk<D: Database>(
    db: &D,
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
    // `offset` comes from the query string: near i64::MAX the sum would overflow.
    let end = offset.checked_add(chunk.len() as i64);
    if chunk.is_empty()
        || chunk.len() > MAX_CHUNK_BYTES
        || offset < 0
        || end.is_none_or(|end| end > total)
    {
        return Err(UploadError::BadChunk);
    }
    let end = end.unwrap_or(total);
    let state = |offset, complete| UploadState {
        hash: hash.to_owned(),
        offset,
        complete,
    };
    if !db
        .append_attachment(hash, mime, total, offset, chunk)
        .await?
    {
        // Already complete (a retry after success), or a chunk out of place.
        let current = db.attachment(hash).await?;
        return match current {
            Some(a) if a.complete => Ok(state(a.total, true)),
            Some(a) => Err(UploadError::WrongOffset(state(a.bytes.len() as i64, false))),
            None => Err(UploadError::WrongOffset(state(0, false))),
        };
    }
    if end < total {
        return Ok(state(end, false));
    }
    let stored = db.attachment(hash).await?.ok_or(UploadError::Corrupt)?;
    let digest: String = Sha256::digest(&stored.bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let verified = digest == hash;
    db.finish_attachment(hash, verified).await?;
    if verified {
        Ok(state(total, true))
    } else {
        Err(UploadError::Corrupt)
    }
}
