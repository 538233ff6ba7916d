//! Merging a device's pushes and answering its pull: this module runs the request against
//! storage; [`merge`] decides what each push does to its household without touching storage
//! (so it runs on the CPU pool, and the fuzz targets drive it), and [`recovery`] holds the rules
//! for changes re-sent on other devices' behalf after a restore.
//!
//! Each push is checked on its own — changes decode, every change new to the server carries the
//! device's own actor and a plausible time, the household lies in the user's areas before and
//! after — and a push that fails is rejected with a per-household reason while the rest of the
//! batch proceeds. The accepted ones are written in one transaction; if another server process
//! wrote one of the same households meanwhile, only the households it moved are merged again, on
//! their fresh documents, and the transaction is tried again. Retrying a
//! request is harmless: changes the server has are skipped, and pulls are by cursor.
//!
//! After a restore from a backup (see `docs/restore.md`) the scope key also names the restored
//! change log, so every device pulls from the start and offers everything again; while the
//! restore's recovery window is open, a push may carry changes of other enrolled devices that the
//! restore lost, under the rules set out there.

mod merge;
mod recovery;

use std::collections::HashMap;
use zoufang_shared::rounds::Round;

use zoufang_shared::cursors::{COUNTY_CODE_LEN, county_of};
use zoufang_shared::doc::{HouseholdDoc, UnpackTooLarge, wire_form};
use zoufang_shared::limits;
use zoufang_shared::wire::{
    COUNTY_CURSORS_PROTOCOL, Cursors, GONE_PROTOCOL, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION,
    PulledChange, Push, PushOutcome, PushResult, SyncRequest, SyncResponse,
};

use crate::areas::scope_key;
use crate::auth::in_scope;
use crate::config::Limits;
use crate::heavy::cpu;
use crate::storage::RestorePoint;
use crate::storage::{Database, DbError, DeviceAuth, LogPosition, OwnChanges, StoredHousehold};
use merge::BatchMerge;
pub use merge::check_push;
use recovery::Recovery;

/// Limits of one request beyond the body size are the server's `[limits]` ([`Limits`]).
pub const MAX_PULL_BYTES: u32 = 8 * 1024 * 1024;
/// How often a batch is re-merged when concurrent writers keep winning.
const MAX_ATTEMPTS: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("客户端协议版本 {0} 与服务器不一致,请升级客户端")]
    Protocol(u32),
    /// A device of protocol 5 or earlier keeps one cursor, which now stands for one county.
    #[error("此账号的工作范围跨多个县,旧版客户端无法同步,请升级客户端")]
    OneCursorManyCounties,
    #[error("一次同步最多 {0} 户")]
    TooManyPushes(usize),
    #[error("一次同步中每户最多 {0} 项变更")]
    TooManyChanges(usize),
    #[error("服务器繁忙,请稍后重试")]
    Busy,
    #[error(transparent)]
    TooLarge(#[from] UnpackTooLarge),
    #[error(transparent)]
    Db(#[from] DbError),
}

use crate::actor::server_actor;

/// How a sync arrived: a bundle's reply is read later, so acknowledgements carry the server's
/// heads (see [`PushOutcome::Accepted`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Http,
    Bundle,
}

/// Runs a whole sync: [`push`](Pushed::push) then [`answer`](Pushed::answer).
pub async fn sync<D: Database>(
    db: &D,
    device: &DeviceAuth,
    req: SyncRequest,
    via: Via,
    limits: &Limits,
) -> Result<SyncResponse, SyncError> {
    Pushed::push(db, device, req, via, limits)
        .await?
        .answer(db, device)
        .await
}

/// A sync whose pushes are merged and committed, its pull still to come. The two halves are
/// apart so that the HTTP handler can hand its heavy slot on between them: the merges are the
/// CPU- and memory-bound half, and a pull waiting on the database need not keep the next
/// device's merge waiting (see `crate::heavy`).
pub struct Pushed {
    /// The request, its pushes dropped once merged: what the pull reads of it.
    req: SyncRequest,
    results: Vec<PushResult>,
    /// A device with one cursor: the county it stands for.
    one_county: Option<String>,
    restore: Option<RestorePoint>,
    /// Whether the restore's recovery window was open for the push.
    window_open: bool,
}

impl Pushed {
    /// Checks the request and merges and commits its pushes.
    pub async fn push<D: Database>(
        db: &D,
        device: &DeviceAuth,
        mut req: SyncRequest,
        via: Via,
        limits: &Limits,
    ) -> Result<Pushed, SyncError> {
        if !(MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(&req.protocol) {
            return Err(SyncError::Protocol(req.protocol));
        }
        let one_county = if req.protocol < COUNTY_CURSORS_PROTOCOL {
            let county =
                single_county(&device.user.areas).ok_or(SyncError::OneCursorManyCounties)?;
            Some(county.to_owned())
        } else {
            None
        };
        let most = limits.max_households_per_push;
        if req.pushes.len() > most || req.want_full.len() > most {
            return Err(SyncError::TooManyPushes(most));
        }
        let most = limits.max_changes_per_household;
        if req.pushes.iter().any(|p| p.changes.len() > most) {
            return Err(SyncError::TooManyChanges(most));
        }
        cpu(|| req.unpack())?;
        let restore = db.restore_point().await?;
        let window = restore
            .as_ref()
            .filter(|p| p.window_open(chrono::Utc::now()));
        let mut results = push(db, device, &req.pushes, window, limits).await?;
        if via == Via::Http {
            for r in &mut results {
                if let PushOutcome::Accepted { heads } = &mut r.outcome {
                    heads.clear();
                }
            }
        }
        let window_open = window.is_some();
        req.pushes = Vec::new();
        Ok(Pushed {
            req,
            results,
            one_county,
            restore,
            window_open,
        })
    }

    /// The answer: the push results and the device's pull.
    pub async fn answer<D: Database>(
        mut self,
        db: &D,
        device: &DeviceAuth,
    ) -> Result<SyncResponse, SyncError> {
        let restore = self.restore.as_ref();
        let scope = log_scope_key(&device.user.areas, restore.map(|p| p.log_id.as_str()));
        // The cursors only cover what was in scope when they were handed out.
        let from = if self.req.scope == scope {
            LogPosition {
                cursors: std::mem::take(&mut self.req.cursors),
                floor: self.req.cursor,
            }
        } else {
            LogPosition::START
        };
        let reassigned = reassigned_from(&self.req.scope, &device.user.areas);
        let resent = match reassigned {
            Some(_) => db.resend_own_changes(&device.device_id).await?,
            None => device.own_resent.clone(),
        };
        let own = OwnChanges {
            actor: &device.actor,
            resent: &resent,
        };
        let page = db
            .changes_since(
                &from,
                &device.user.areas,
                own,
                self.req.max_pull_bytes.min(MAX_PULL_BYTES) as usize,
            )
            .await?;
        let mut pulled: Vec<PulledChange> = page
            .changes
            .into_iter()
            .map(|c| PulledChange {
                household: c.household_id,
                change: wire_form(c.bytes),
            })
            .collect();
        pulled.extend(full_documents(db, device, &self.req.want_full).await?);
        if let Some(p) = restore.filter(|_| self.window_open) {
            db.note_resynced(p.id, &device.device_id).await?;
        }
        let mut gone = page.gone;
        if let Some(old_key) = reassigned.filter(|_| self.req.protocol >= GONE_PROTOCOL) {
            gone.extend(left_since_reassignment(db, old_key, &device.user.areas).await?);
            gone.sort();
            gone.dedup();
        }
        let mut next = from;
        for (county, seq) in page.cursors.iter() {
            next.cursors.set(county, seq);
        }
        let (cursor, cursors) = match &self.one_county {
            Some(county) => (next.at(county), Cursors::default()),
            None => (next.floor, next.cursors),
        };
        let mut res = SyncResponse {
            results: self.results,
            pulled,
            cursor,
            cursors,
            more: page.more,
            scope,
            // A protocol 3 or 4 device cannot read it (its answer is encoded without it, see
            // `wire::encode_response`): it keeps such households until it is updated.
            gone: if self.req.protocol >= GONE_PROTOCOL {
                gone
            } else {
                Vec::new()
            },
        };
        // A protocol 3 device reads full changes only.
        if self.req.protocol >= 4 {
            cpu(|| res.pack());
        }
        Ok(res)
    }
}

/// The one county `areas` lie in, if they do.
fn single_county(areas: &[String]) -> Option<&str> {
    let first = county_of(areas.first()?);
    let one = areas
        .iter()
        .all(|a| a.len() >= COUNTY_CODE_LEN && county_of(a) == first);
    one.then_some(first)
}

/// The areas part of the scope key a device last pulled under, when its user's areas have
/// changed since (a device's first pull, or a restore, is no reassignment).
fn reassigned_from<'a>(last_scope: &'a str, areas: &[String]) -> Option<&'a str> {
    let old = last_scope.split('.').next().unwrap_or_default();
    (!old.is_empty() && old != scope_key(areas)).then_some(old)
}

/// Households a device pulling under `old_key` may hold that its user's areas no longer
/// cover: when the user's areas were replaced, the old set was kept under its key
/// (`past_scopes`). A key replaced before that record existed names nothing.
async fn left_since_reassignment<D: Database>(
    db: &D,
    old_key: &str,
    areas: &[String],
) -> Result<Vec<String>, DbError> {
    match db.past_scope(old_key).await? {
        Some(old) => Ok(db.households_left(&old, areas).await?),
        None => Ok(Vec::new()),
    }
}

/// The scope key of a pull: the areas, and after a restore the restored change log's name
/// (`<areas>.<log>`). A device whose key names another log knows that the server was restored
/// and offers everything again; the server pulls it from the start, its cursor counting in a
/// log that no longer exists.
pub fn log_scope_key(areas: &[String], log_id: Option<&str>) -> String {
    let key = scope_key(areas);
    match log_id {
        Some(log) => format!("{key}.{log}"),
        None => key,
    }
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
    let households = db.households(ids).await?;
    Ok(cpu(|| {
        let mut out = Vec::new();
        for stored in households {
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
        out
    }))
}

async fn push<D: Database>(
    db: &D,
    device: &DeviceAuth,
    pushes: &[Push],
    window: Option<&RestorePoint>,
    limits: &Limits,
) -> Result<Vec<PushResult>, SyncError> {
    if pushes.is_empty() {
        return Ok(Vec::new());
    }
    let recovery = match window {
        Some(point) => Some(Recovery::load(db, point, device, pushes).await?),
        None => None,
    };
    // An id no household can have never reaches a query (PostgreSQL refuses NUL in text, which
    // would fail the whole batch); its push is refused on its own (`invalid_id`).
    let ids: Vec<String> = pushes
        .iter()
        .filter(|p| limits::check_household_id(&p.household).is_ok())
        .map(|p| p.household.clone())
        .collect();
    let rounds: Vec<Round> = db.rounds().await?.into_iter().map(|r| r.round).collect();
    let mut batch = BatchMerge::new(pushes);
    for attempt in 1..=MAX_ATTEMPTS {
        let stored: HashMap<String, StoredHousehold> = db
            .households(&ids)
            .await?
            .into_iter()
            .map(|h| (h.id.clone(), h))
            .collect();
        cpu(|| batch.update(device, &stored, recovery.as_ref(), limits, &rounds));
        let write = batch.write();
        if write.households.is_empty() {
            batch_done(attempt, batch.merges, 0);
            return Ok(batch.results());
        }
        let recovered = batch.recovered();
        // The audit row goes first: no recovered change is ever stored without one.
        db.record_recovered(&recovered).await?;
        match db.commit_sync(&write).await {
            Ok(()) => {
                for r in &recovered {
                    tracing::warn!(
                        household = %r.household_id,
                        change = %r.hash,
                        actor_device = %r.actor_device,
                        pushed_by = %r.pushed_by,
                        "restore recovery: accepted another device's change"
                    );
                }
                batch_done(attempt, batch.merges, write.households.len());
                return Ok(batch.results());
            }
            Err(DbError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    batch_done(MAX_ATTEMPTS, batch.merges, 0);
    Err(SyncError::Busy)
}

/// What a batch cost: commit attempts, household merges (a retry re-merges only the households
/// another writer moved) and households written. The bench reads these events to report
/// attempts per accepted household; counts only, nothing of the households.
fn batch_done(attempts: usize, merges: usize, written: usize) {
    tracing::debug!(attempts, merges, written, "sync batch");
}
