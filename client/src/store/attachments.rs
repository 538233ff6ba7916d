//! Photos and signatures, stored by the SHA-256 of their bytes.
//!
//! What syncs is a JPEG or PNG of at most [`MAX_SYNCED_PIXELS`] on its long side (the browser
//! downscales before upload: a 2G link cannot carry camera originals); the camera original, when
//! given, stays on the device for a later look.

use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::households::hex;
use super::{Store, StoreError};

pub const MAX_SYNCED_PIXELS: usize = 1600;
pub const MAX_SYNCED_BYTES: usize = 2 * 1024 * 1024;
pub const MAX_ORIGINAL_BYTES: usize = 25 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum AttachmentError {
    #[error("只接受 JPEG 或 PNG 图片")]
    UnsupportedType,
    #[error("图片内容与类型不符或已损坏")]
    Unreadable,
    #[error("图片 {width}×{height} 像素,超过 {max} 像素上限,请先缩小")]
    TooLarge {
        width: usize,
        height: usize,
        max: usize,
    },
    #[error("原图对应的照片不存在")]
    UnknownCopy,
    #[error("文件过大({size} 字节,上限 {max} 字节)")]
    TooManyBytes { size: usize, max: usize },
}

/// Width and height of a JPEG or PNG whose declared type matches its content.
pub fn image_size(bytes: &[u8], mime: &str) -> Result<(usize, usize), AttachmentError> {
    let expected = match mime {
        "image/jpeg" => imagesize::ImageType::Jpeg,
        "image/png" => imagesize::ImageType::Png,
        _ => return Err(AttachmentError::UnsupportedType),
    };
    match imagesize::image_type(bytes) {
        Ok(t) if t == expected => {}
        _ => return Err(AttachmentError::Unreadable),
    }
    let size = imagesize::blob_size(bytes).map_err(|_| AttachmentError::Unreadable)?;
    Ok((size.width, size.height))
}

fn check_bytes(size: usize, max: usize) -> Result<(), AttachmentError> {
    if size > max {
        Err(AttachmentError::TooManyBytes { size, max })
    } else {
        Ok(())
    }
}

pub fn content_hash(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

impl Store {
    /// Stores an image for sync; returns its hash and size in pixels. Storing the same bytes
    /// twice is harmless.
    pub fn put_attachment(
        &mut self,
        bytes: &[u8],
        mime: &str,
    ) -> Result<(String, (usize, usize)), StoreError> {
        check_bytes(bytes.len(), MAX_SYNCED_BYTES)?;
        let (width, height) = image_size(bytes, mime)?;
        if width.max(height) > MAX_SYNCED_PIXELS {
            return Err(AttachmentError::TooLarge {
                width,
                height,
                max: MAX_SYNCED_PIXELS,
            }
            .into());
        }
        let hash = content_hash(bytes);
        self.insert_attachment(&hash, bytes, mime, None)?;
        Ok((hash, (width, height)))
    }

    /// Keeps the full-size original of the synced image `of` on this device only.
    pub fn put_original(
        &mut self,
        of: &str,
        bytes: &[u8],
        mime: &str,
    ) -> Result<String, StoreError> {
        check_bytes(bytes.len(), MAX_ORIGINAL_BYTES)?;
        image_size(bytes, mime)?;
        if self.attachment(of)?.is_none() {
            return Err(AttachmentError::UnknownCopy.into());
        }
        let hash = content_hash(bytes);
        self.insert_attachment(&hash, bytes, mime, Some(of))?;
        Ok(hash)
    }

    fn insert_attachment(
        &mut self,
        hash: &str,
        bytes: &[u8],
        mime: &str,
        original_of: Option<&str>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT OR IGNORE INTO attachments(hash, mime, size, bytes, original_of, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                hash,
                mime,
                bytes.len() as i64,
                bytes,
                original_of,
                chrono::Utc::now().to_rfc3339()
            ],
        )?;
        Ok(())
    }

    /// Hashes of the images to sync that the server has not confirmed yet.
    pub fn pending_uploads(&self) -> Result<Vec<String>, StoreError> {
        self.texts(
            "SELECT hash FROM attachments WHERE uploaded = 0 AND original_of IS NULL ORDER BY hash",
        )
    }

    pub fn mark_uploaded(&self, hash: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE attachments SET uploaded = 1 WHERE hash = ?1",
            [hash],
        )?;
        Ok(())
    }

    /// The bytes and type of a stored attachment.
    pub fn attachment(&self, hash: &str) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT mime, bytes FROM attachments WHERE hash = ?1",
                [hash],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }
}
