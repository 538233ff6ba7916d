//! Sync without a link: everything the server lacks sealed in a file for a USB stick, and the
//! server's reply to it applied. Apart because no HTTP is involved; it shares only the request.

use zoufang_shared::wire::bundle::{self, Bundle, BundleError, BundleReply, BundledAttachment};

use super::{SyncError, request};
use crate::store::{Store, SyncOutcome};

/// The key that seals this device's bundle files: the hex SHA-256 of its token, which the server
/// keeps in place of the token.
fn bundle_key(store: &Store) -> Result<String, SyncError> {
    use sha2::{Digest, Sha256};
    let token = store.setting("token")?.ok_or(SyncError::NotEnrolled)?;
    Ok(Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Everything the server lacks, sealed in one file for a USB stick. Returns the file and how
/// many households and attachments it carries.
pub fn export_bundle(store: &Store) -> Result<(Vec<u8>, usize, usize), SyncError> {
    let key = bundle_key(store)?;
    let device = store.identity()?.device_id;
    let (pending, _) = store.pending_pushes(usize::MAX)?;
    let households = pending.len();
    let mut attachments = Vec::new();
    for hash in store.pending_uploads()? {
        if let Some((mime, bytes)) = store.attachment(&hash)? {
            attachments.push(BundledAttachment { hash, mime, bytes });
        }
    }
    let count = attachments.len();
    let file = bundle::write(
        bundle::KIND_REQUEST,
        &device,
        &key,
        &Bundle {
            request: request(store, pending, u32::MAX)?,
            attachments,
        },
    )?;
    Ok((file, households, count))
}

/// Applies the server's reply to a bundle: acknowledgements and the device's pull.
pub fn import_reply(store: &mut Store, file: &[u8]) -> Result<SyncOutcome, SyncError> {
    let key = bundle_key(store)?;
    let (_, device) = bundle::header(file)?;
    if device != store.identity()?.device_id {
        return Err(SyncError::Bundle(BundleError::BadSeal));
    }
    // Either layout: a bundle written before this device spoke protocol 5 is answered in 4's.
    let mut reply: BundleReply = bundle::read_reply(file, &key)?;
    reply
        .response
        .unpack()
        .map_err(|e| SyncError::Protocol(e.to_string()))?;
    // A reply is read after the device may have edited again: the server's heads count.
    let outcome = store.apply_sync(&reply.response, &crate::store::SentHeads::new())?;
    for hash in &reply.attachments_stored {
        store.mark_uploaded(hash)?;
    }
    Ok(outcome)
}
