//! Merging a device's pushes and answering its pull.
//!
//! Each push is checked on its own — changes decode, every change new to the server carries the
//! device's own actor, the household lies in the user's areas before and after — and a push that
//! fails is rejected with a per-household reason while the rest of the batch proceeds. The
//! accepted ones are written in one transaction; if another server process wrote one of the same
//! households meanwhile, the merge is redone on fresh documents. Retrying a request is harmless:
//! changes the server has are skipped, and pulls are by cursor.

use std::collections::HashMap;

use zoufang_shared::doc::{ActorId, ChangeHash, DocError, HouseholdDoc, IncomingChange};
use zoufang_shared::wire::{
    Hash, PROTOCOL_VERSION, PulledChange, Push, PushOutcome, PushResult, SyncRequest, SyncResponse,
};

use crate::auth::in_scope;
use crate::projection::household_write;
use crate::storage::{
    Database, DbError, DeviceAuth, HouseholdWrite, NewChange, StoredHousehold, SyncWrite,
};

/// Limits of one request, beyond the body size.
pub const MAX_PUSHES: usize = 5_000;
pub const MAX_PULL_BYTES: u32 = 8 * 1024 * 1024;
/// How often a batch is re-merged when concurrent writers keep winning.
const MAX_ATTEMPTS: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("客户端协议版本 {0} 与服务器不一致,请升级客户端")]
    Protocol(u32),
    #[error("一次同步最多 {MAX_PUSHES} 户")]
    TooManyPushes,
    #[error("服务器繁忙,请稍后重试")]
    Busy,
    #[error(transparent)]
    Db(#[from] DbError),
}

fn rejected(code: &str, message: impl Into<String>) -> PushOutcome {
    PushOutcome::Rejected {
        code: code.into(),
        message: message.into(),
    }
}

/// The server's own actor: it reads and merges, and (later) writes reviewers' decisions.
pub fn server_actor() -> ActorId {
    ActorId::from(*b"zoufang-server\0\0")
}

pub async fn sync<D: Database>(
    db: &D,
    device: &DeviceAuth,
    req: SyncRequest,
) -> Result<SyncResponse, SyncError> {
    if req.protocol != PROTOCOL_VERSION {
        return Err(SyncError::Protocol(req.protocol));
    }
    if req.pushes.len() > MAX_PUSHES {
        return Err(SyncError::TooManyPushes);
    }
    if req.want_full.len() > MAX_PUSHES {
        return Err(SyncError::TooManyPushes);
    }
    let results = push(db, device, &req.pushes).await?;
    let scope = scope_key(&device.user.areas);
    // The cursor only covers what was in scope when it was handed out.
    let cursor = if req.scope == scope { req.cursor } else { 0 };
    let page = db
        .changes_since(
            cursor,
            &device.user.areas,
            &device.actor,
            req.max_pull_bytes.min(MAX_PULL_BYTES) as usize,
        )
        .await?;
    let mut pulled: Vec<PulledChange> = page
        .changes
        .into_iter()
        .map(|c| PulledChange {
            household: c.household_id,
            change: c.bytes,
        })
        .collect();
    pulled.extend(full_documents(db, device, &req.want_full).await?);
    Ok(SyncResponse {
        results,
        pulled,
        cursor: page.cursor,
        more: page.more,
        scope,
    })
}

/// Names the set of areas a pull covered; it changes when the user's areas do.
pub fn scope_key(areas: &[String]) -> String {
    use sha2::{Digest, Sha256};
    let mut sorted = areas.to_vec();
    sorted.sort();
    Sha256::digest(sorted.join(",").as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Every change of each asked-for household that is in the device's scope.
async fn full_documents<D: Database>(
    db: &D,
    device: &DeviceAuth,
    ids: &[String],
) -> Result<Vec<PulledChange>, SyncError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for stored in db.households(ids).await? {
        if !in_scope(&device.user.areas, &stored.area_code) {
            continue;
        }
        let Ok(mut doc) = HouseholdDoc::load(&stored.doc, server_actor()) else {
            tracing::error!(household = %stored.id, "stored document unreadable");
            continue;
        };
        out.extend(
            doc.changes_after(&[])
                .into_iter()
                .map(|change| PulledChange {
                    household: stored.id.clone(),
                    change,
                }),
        );
    }
    Ok(out)
}

async fn push<D: Database>(
    db: &D,
    device: &DeviceAuth,
    pushes: &[Push],
) -> Result<Vec<PushResult>, SyncError> {
    if pushes.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = pushes.iter().map(|p| p.household.clone()).collect();
    for _ in 0..MAX_ATTEMPTS {
        let stored: HashMap<String, StoredHousehold> = db
            .households(&ids)
            .await?
            .into_iter()
            .map(|h| (h.id.clone(), h))
            .collect();
        let mut write = SyncWrite::default();
        let mut results = Vec::with_capacity(pushes.len());
        // Two pushes of one household in a batch would race each other: the later wins.
        let mut seen = std::collections::HashSet::new();
        for p in pushes {
            if !seen.insert(p.household.as_str()) {
                results.push(PushResult {
                    household: p.household.clone(),
                    outcome: rejected("duplicate_push", "同一户在一次同步中出现多次"),
                });
                continue;
            }
            let (outcome, w) = merge_one(device, p, stored.get(&p.household));
            results.push(PushResult {
                household: p.household.clone(),
                outcome,
            });
            write.households.extend(w);
        }
        if write.households.is_empty() {
            return Ok(results);
        }
        match db.commit_sync(&write).await {
            Ok(()) => return Ok(results),
            Err(DbError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(SyncError::Busy)
}

/// Checks and merges one push onto the stored document; returns the outcome and, when there is
/// something new to keep, the write.
fn merge_one(
    device: &DeviceAuth,
    push: &Push,
    stored: Option<&StoredHousehold>,
) -> (PushOutcome, Option<HouseholdWrite>) {
    let scope = &device.user.areas;
    if let Some(s) = stored
        && !in_scope(scope, &s.area_code)
    {
        return (rejected("out_of_scope", "该户不在您负责的区域内"), None);
    }
    let mut doc = match stored {
        Some(s) => match HouseholdDoc::load(&s.doc, server_actor()) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(household = %push.household, error = %e, "stored document unreadable");
                return (
                    rejected("server_document", "服务器上的该户数据异常,已记录"),
                    None,
                );
            }
        },
        None => HouseholdDoc::empty(server_actor()),
    };
    let mut fresh = Vec::new();
    for bytes in &push.changes {
        let change = match IncomingChange::decode(bytes) {
            Ok(c) => c,
            Err(_) => return (rejected("malformed_change", "变更数据损坏"), None),
        };
        if doc.has_change(&change.hash()) {
            continue;
        }
        if change.actor().to_hex_string() != device.actor {
            return (
                rejected("forged_actor", "变更的设备标识与本设备不符,已拒绝"),
                None,
            );
        }
        // History shows which device wrote what: the label must be this device's.
        if change.author().1.as_deref() != Some(device.device_id.as_str()) {
            return (
                rejected("forged_author", "变更记录的设备与本设备不符,已拒绝"),
                None,
            );
        }
        fresh.push(change);
    }
    if fresh.is_empty() {
        let heads = heads_of(&mut doc);
        if stored.is_none() {
            return (PushOutcome::NeedAll, None);
        }
        return (PushOutcome::Accepted { heads }, None);
    }
    let new_changes: Vec<NewChange> = fresh
        .iter_mut()
        .map(|c| NewChange {
            hash: c.hash().to_string(),
            actor: c.actor().to_hex_string(),
            bytes: c.bytes(),
        })
        .collect();
    match doc.apply(fresh) {
        Ok(()) => {}
        Err(DocError::MissingDependencies) => return (PushOutcome::NeedAll, None),
        Err(e) => {
            return (
                rejected("invalid_document", format!("该户数据不符合要求:{e}")),
                None,
            );
        }
    }
    let area = match doc.read() {
        Ok(h) => h.info.area_code.unwrap_or_default(),
        Err(e) => return (rejected("invalid_document", e.to_string()), None),
    };
    if !in_scope(scope, &area) {
        return (
            rejected(
                "out_of_scope",
                "该户的区划代码不在您负责的区域内(新建农户须在本人负责的区域内)",
            ),
            None,
        );
    }
    let heads = heads_of(&mut doc);
    let write = match household_write(
        &push.household,
        &mut doc,
        stored.map(|s| s.version),
        new_changes,
    ) {
        Ok(w) => w,
        Err(e) => return (rejected("invalid_document", e.to_string()), None),
    };
    (PushOutcome::Accepted { heads }, Some(write))
}

fn heads_of(doc: &mut HouseholdDoc) -> Vec<Hash> {
    doc.heads().iter().map(|h: &ChangeHash| h.0).collect()
}
