//! Uploading photos and signatures after the rounds, in chunks that resume where the server's
//! copy ends. Apart because attachments travel outside the sync request, by their own routes.

use zoufang_shared::wire::{AttachmentStatusRequest, AttachmentStatusResponse, UploadState};

use super::http::{json_answer, json_body, send, server_error};
use super::{Remote, SyncError, SyncReport};
use crate::store::Store;

/// Chunk size of attachment uploads: small enough that a cut on a 2G link loses little.
pub const UPLOAD_CHUNK: usize = 256 * 1024;

/// Sends the photos and signatures the server lacks, resuming each where the server's copy
/// ends.
pub(super) async fn upload_attachments(
    store: &Store,
    remote: &Remote,
    report: &mut SyncReport,
    progress: &mut impl FnMut(&SyncReport),
) -> Result<(), SyncError> {
    let pending = store.pending_uploads()?;
    report.attachments_to_upload = pending.len();
    progress(report);
    for batch in pending.chunks(1000) {
        let asked = AttachmentStatusRequest {
            hashes: batch.to_vec(),
        };
        let res = send(
            || {
                remote
                    .request(reqwest::Method::POST, "/api/attachments/status")
                    .json(&asked)
            },
            report,
            progress,
        )
        .await?;
        let status: AttachmentStatusResponse = json_answer(res).await?;
        let missing: std::collections::HashMap<&str, i64> = status
            .missing
            .iter()
            .map(|m| (m.hash.as_str(), m.offset))
            .collect();
        for hash in batch {
            match missing.get(hash.as_str()) {
                None => store.mark_uploaded(hash)?,
                Some(&offset) => {
                    let Some((mime, bytes)) = store.attachment(hash)? else {
                        continue;
                    };
                    upload_one(remote, hash, &mime, &bytes, offset, report, progress).await?;
                    store.mark_uploaded(hash)?;
                    report.attachments_uploaded += 1;
                    progress(report);
                }
            }
        }
    }
    Ok(())
}

async fn upload_one(
    remote: &Remote,
    hash: &str,
    mime: &str,
    bytes: &[u8],
    mut offset: i64,
    report: &mut SyncReport,
    progress: &mut impl FnMut(&SyncReport),
) -> Result<(), SyncError> {
    let total = bytes.len() as i64;
    // Each chunk moves the offset forward or corrects it; bounded against a confused server.
    for _ in 0..(bytes.len() / UPLOAD_CHUNK + 8) {
        let start = usize::try_from(offset).unwrap_or(0).min(bytes.len());
        let end = (start + UPLOAD_CHUNK).min(bytes.len());
        let res = send(
            || {
                remote
                    .request(
                        reqwest::Method::PUT,
                        &format!("/api/attachments/{hash}?offset={start}&total={total}"),
                    )
                    .header(reqwest::header::CONTENT_TYPE, mime)
                    .body(bytes[start..end].to_vec())
            },
            report,
            progress,
        )
        .await?;
        let code = res.status();
        if code.is_success() || code == reqwest::StatusCode::CONFLICT {
            let state: UploadState = json_body(res).await?;
            if code.is_success() {
                report.attachment_bytes += end - start;
                report.bytes_up += end - start;
            }
            if state.complete {
                return Ok(());
            }
            offset = state.offset;
        } else {
            return Err(server_error(res).await);
        }
    }
    Err(SyncError::Protocol(format!("附件 {hash} 上传未能完成")))
}
