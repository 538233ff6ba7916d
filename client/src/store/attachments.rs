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
    TooLarge { width: usize, height: usize, max: usize },
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

pub fn content_hash(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

impl Store {
    /// Stores an image for sync (and, optionally, its full-size original for this device only).
    /// Returns the synced image's hash and its size in pixels. Storing the same bytes twice is
    /// harmless.
    pub fn put_attachment(
        &mut self,
        bytes: &[u8],
        mime: &str,
        original: Option<(&[u8], &str)>,
    ) -> Result<(String, (usize, usize)), StoreError> {
        if bytes.len() > MAX_SYNCED_BYTES {
            return Err(AttachmentError::TooManyBytes {
                size: bytes.len(),
                max: MAX_SYNCED_BYTES,
            }
            .into());
        }
        let (width, height) = image_size(bytes, mime)?;
        if width.max(height) > MAX_SYNCED_PIXELS {
            return Err(AttachmentError::TooLarge {
                width,
                height,
                max: MAX_SYNCED_PIXELS,
            }
            .into());
        }
        if let Some((orig, orig_mime)) = original {
            if orig.len() > MAX_ORIGINAL_BYTES {
                return Err(AttachmentError::TooManyBytes {
                    size: orig.len(),
                    max: MAX_ORIGINAL_BYTES,
                }
                .into());
            }
            image_size(orig, orig_mime)?;
        }
        let hash = content_hash(bytes);
        let now = chrono::Utc::now().to_rfc3339();
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT OR IGNORE INTO attachments(hash, mime, size, bytes, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![hash, mime, bytes.len() as i64, bytes, now],
        )?;
        if let Some((orig, orig_mime)) = original {
            tx.execute(
                "INSERT OR IGNORE INTO attachments(hash, mime, size, bytes, original_of, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![content_hash(orig), orig_mime, orig.len() as i64, orig, hash, now],
            )?;
        }
        tx.commit()?;
        Ok((hash, (width, height)))
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
