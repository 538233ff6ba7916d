//! Merging a device's pushes and answering its pull.
//!
//! Each push is checked on its own — changes decode, every change new to the server carries the
//! device's own actor and a plausible time, the household lies in the user's areas before and
//! after — and a push that fails is rejected with a per-household reason while the rest of the
//! batch proceeds. The accepted ones are written in one transaction; if another server process
//! wrote one of the same households meanwhile, the merge is redone on fresh documents. Retrying a
//! request is harmless: changes the server has are skipped, and pulls are by cursor.
//!
//! After a restore from a backup (see [`crate::backup`]) the scope key also names the restored
//! change log, so every device pulls from the start and offers everything again; while the
//! restore's recovery window is open, a push may carry changes of other enrolled devices that the
//! restore lost, under the rules set out there.

use std::collections::{BTreeSet, HashMap, HashSet};

use zoufang_shared::authority::{self, Writer};
use zoufang_shared::doc::{
    ActorId, ChangeHash, DocError, HouseholdDoc, IncomingChange, UnpackTooLarge, check_change_time,
    wire_form,
};
use zoufang_shared::limits;
use zoufang_shared::wire::{
    GONE_PROTOCOL, Hash, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION, PulledChange, Push, PushOutcome,
    PushResult, SyncRequest, SyncResponse,
};

use crate::areas::scope_key;
use crate::auth::in_scope;
use crate::backup::{ActorDevice, Recovered, RestorePoint};
use crate::config::Limits;
use crate::heavy::cpu;
use crate::projection::household_write_read;
use crate::storage::{
    Database, DbError, DeviceAuth, HouseholdWrite, NewChange, OwnChanges, StoredHousehold,
    SyncWrite,
};

/// Limits of one request beyond the body size are the server's `[limits]` ([`Limits`]).
pub const MAX_PULL_BYTES: u32 = 8 * 1024 * 1024;
/// How often a batch is re-merged when concurrent writers keep winning.
const MAX_ATTEMPTS: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("客户端协议版本 {0} 与服务器不一致,请升级客户端")]
    Protocol(u32),
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

/// How a sync arrived: a bundle's reply is read later, so acknowledgements carry the server's
/// heads (see [`PushOutcome::Accepted`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Http,
    Bundle,
}

pub async fn sync<D: Database>(
    db: &D,
    device: &DeviceAuth,
    mut req: SyncRequest,
    via: Via,
    limits: &Limits,
) -> Result<SyncResponse, SyncError> {
    if !(MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(&req.protocol) {
        return Err(SyncError::Protocol(req.protocol));
    }
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
    let scope = log_scope_key(
        &device.user.areas,
        restore.as_ref().map(|p| p.log_id.as_str()),
    );
    // The cursor only covers what was in scope when it was handed out.
    let cursor = if req.scope == scope { req.cursor } else { 0 };
    let reassigned = reassigned_from(&req.scope, &device.user.areas);
    let own = OwnChanges {
        actor: &device.actor,
        resent_until: match reassigned {
            Some(_) => db.resend_own_changes(&device.device_id).await?,
            None => device.own_resent_until,
        },
    };
    let page = db
        .changes_since(
            cursor,
            &device.user.areas,
            own,
            req.max_pull_bytes.min(MAX_PULL_BYTES) as usize,
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
    pulled.extend(full_documents(db, device, &req.want_full).await?);
    if let Some(p) = window {
        db.note_resynced(p.id, &device.device_id).await?;
    }
    let mut gone = page.gone;
    if let Some(old_key) = reassigned.filter(|_| req.protocol >= GONE_PROTOCOL) {
        gone.extend(left_since_reassignment(db, old_key, &device.user.areas).await?);
        gone.sort();
        gone.dedup();
    }
    let mut res = SyncResponse {
        results,
        pulled,
        cursor: page.cursor,
        more: page.more,
        scope,
        // A protocol 3 or 4 device cannot read it (its answer is encoded without it, see
        // `wire::encode_response`): it keeps such households until it is updated.
        gone: if req.protocol >= GONE_PROTOCOL {
            gone
        } else {
            Vec::new()
        },
    };
    // A protocol 3 device reads full changes only.
    if req.protocol >= 4 {
        cpu(|| res.pack());
    }
    Ok(res)
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

/// What a push may re-send during a recovery window: the enrolled devices behind the other
/// actors its changes carry.
struct Recovery<'a> {
    point: &'a RestorePoint,
    devices: HashMap<String, ActorDevice>,
}

impl<'a> Recovery<'a> {
    async fn load<D: Database>(
        db: &D,
        point: &'a RestorePoint,
        device: &DeviceAuth,
        pushes: &[Push],
    ) -> Result<Recovery<'a>, DbError> {
        let server = server_actor().to_hex_string();
        let mut actors = BTreeSet::new();
        for bytes in pushes.iter().flat_map(|p| &p.changes) {
            if let Ok(change) = IncomingChange::decode(bytes) {
                let actor = change.actor().to_hex_string();
                if actor != device.actor && actor != server {
                    actors.insert(actor);
                }
            }
        }
        let devices = if actors.is_empty() {
            HashMap::new()
        } else {
            let actors: Vec<String> = actors.into_iter().collect();
            db.actor_devices(&actors)
                .await?
                .into_iter()
                .map(|d| (d.actor.clone(), d))
                .collect()
        };
        Ok(Recovery { point, devices })
    }

    /// The enrolled device a change under `actor` may be re-sent for (rule 1 of
    /// [`crate::backup`]), or why not.
    fn vouch(&self, actor: &str) -> Result<&ActorDevice, PushOutcome> {
        if actor == server_actor().to_hex_string() {
            return Err(rejected(
                "lost_server_change",
                "该户含有服务器恢复备份后丢失的审核修改,设备不能代为补传;请联系管理员重新办理",
            ));
        }
        self.devices
            .get(actor)
            .ok_or_else(|| rejected("forged_actor", "变更的设备标识与本设备不符,已拒绝"))
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
    for _ in 0..MAX_ATTEMPTS {
        let stored: HashMap<String, StoredHousehold> = db
            .households(&ids)
            .await?
            .into_iter()
            .map(|h| (h.id.clone(), h))
            .collect();
        let (results, write, recovered) =
            cpu(|| merge_batch(device, pushes, &stored, recovery.as_ref(), limits));
        if write.households.is_empty() {
            return Ok(results);
        }
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
                return Ok(results);
            }
            Err(DbError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(SyncError::Busy)
}

/// Merges every push of a batch onto the stored documents (CPU only: no storage).
fn merge_batch(
    device: &DeviceAuth,
    pushes: &[Push],
    stored: &HashMap<String, StoredHousehold>,
    recovery: Option<&Recovery<'_>>,
    limits: &Limits,
) -> (Vec<PushResult>, SyncWrite, Vec<Recovered>) {
    let mut write = SyncWrite::default();
    let mut recovered = Vec::new();
    let mut results = Vec::with_capacity(pushes.len());
    // Two pushes of one household in a batch would race each other: the later wins.
    let mut seen = HashSet::new();
    for p in pushes {
        let outcome = if let Err(r) = limits::check_household_id(&p.household) {
            Some(rejected(r.code.code(), r.to_string()))
        } else if !seen.insert(p.household.as_str()) {
            Some(rejected("duplicate_push", "同一户在一次同步中出现多次"))
        } else {
            None
        };
        if let Some(outcome) = outcome {
            results.push(PushResult {
                household: p.household.clone(),
                outcome,
            });
            continue;
        }
        let (outcome, w, r) = merge_one(device, p, stored.get(&p.household), recovery, limits);
        results.push(PushResult {
            household: p.household.clone(),
            outcome,
        });
        write.households.extend(w);
        recovered.extend(r);
    }
    (results, write, recovered)
}

/// Checks and merges one push onto the stored document; returns the outcome, when there is
/// something new to keep the write, and the changes it takes under other devices' actors during a
/// recovery window.
fn merge_one(
    device: &DeviceAuth,
    push: &Push,
    stored: Option<&StoredHousehold>,
    recovery: Option<&Recovery<'_>>,
    limits: &Limits,
) -> (PushOutcome, Option<HouseholdWrite>, Vec<Recovered>) {
    match merge_checked(device, push, stored, recovery, limits) {
        Ok((outcome, write, recovered)) => (outcome, write, recovered),
        Err(outcome) => (outcome, None, Vec::new()),
    }
}

/// What the server makes of one push outside a recovery window, before anything is stored: the
/// outcome, and the write when there is something new to keep. Every byte of `push` comes from
/// the device; `stored` is the server's copy. Public for the fuzz targets (crate
/// zoufang-fuzzing), which feed it arbitrary pushes.
pub fn check_push(
    device: &DeviceAuth,
    push: &Push,
    stored: Option<&StoredHousehold>,
) -> (PushOutcome, Option<HouseholdWrite>) {
    let (outcome, write, _) = merge_one(device, push, stored, None, &Limits::default());
    (outcome, write)
}

type Merged = (PushOutcome, Option<HouseholdWrite>, Vec<Recovered>);

fn merge_checked(
    device: &DeviceAuth,
    push: &Push,
    stored: Option<&StoredHousehold>,
    recovery: Option<&Recovery<'_>>,
    limits: &Limits,
) -> Result<Merged, PushOutcome> {
    let scope = &device.user.areas;
    if let Some(s) = stored
        && !in_scope(scope, &s.area_code)
    {
        return Err(rejected("out_of_scope", "该户不在您负责的区域内"));
    }
    let mut doc = match stored {
        Some(s) => HouseholdDoc::load(&s.doc, server_actor())
            .map_err(|e| unreadable(&push.household, &e))?,
        None => HouseholdDoc::empty(server_actor()),
    };
    let mut fresh = Vec::new();
    let mut written_on = chrono::NaiveDate::MIN;
    // Changes under another enrolled device's actor, re-sent during a recovery window.
    let mut foreign: Vec<(String, &ActorDevice)> = Vec::new();
    let now = chrono::Utc::now();
    for bytes in &push.changes {
        let change = match IncomingChange::decode(bytes) {
            Ok(c) => c,
            Err(_) => return Err(rejected("malformed_change", "变更数据损坏")),
        };
        if change.ops() > limits.max_ops_per_change {
            return Err(rejected(
                "too_many_ops",
                format!(
                    "单项变更最多 {} 个操作,本户的变更超出上限",
                    limits.max_ops_per_change
                ),
            ));
        }
        if doc.has_change(&change.hash()) {
            continue;
        }
        let actor = change.actor().to_hex_string();
        // History shows which device wrote what: the label must be the actor's device.
        let label = if actor == device.actor {
            device.device_id.as_str()
        } else {
            let Some(recovery) = recovery else {
                return Err(rejected(
                    "forged_actor",
                    "变更的设备标识与本设备不符,已拒绝",
                ));
            };
            let owner = recovery.vouch(&actor)?;
            foreign.push((change.hash().to_string(), owner));
            owner.device_id.as_str()
        };
        let (user, label_device) = change.author();
        if label_device.as_deref() != Some(label) {
            return Err(rejected(
                "forged_author",
                "变更记录的设备与本设备不符,已拒绝",
            ));
        }
        // The user named is the device's (a change re-sent for another device keeps its own).
        if actor == device.actor && user.as_deref() != Some(device.user.username.as_str()) {
            return Err(rejected(
                "forged_author",
                "变更记录的用户与本设备登记的用户不符,已拒绝",
            ));
        }
        // History and the review pages date edits by it: a time in seconds would read 1970.
        let at = change.time();
        if let Err(e) = check_change_time(at, now) {
            return Err(rejected("implausible_time", e.to_string()));
        }
        if let Some(t) = chrono::DateTime::from_timestamp_millis(at) {
            written_on = written_on.max(t.date_naive());
        }
        fresh.push(change);
    }
    if fresh.is_empty() {
        let heads = heads_of(&mut doc);
        if stored.is_none() {
            return Ok((PushOutcome::NeedAll, None, Vec::new()));
        }
        return Ok((PushOutcome::Accepted { heads }, None, Vec::new()));
    }
    // Who wrote to the household before, by the restored log (rule 3 of crate::backup).
    let earlier: HashSet<String> = if foreign.is_empty() {
        HashSet::new()
    } else {
        doc.history().into_iter().map(|c| c.actor).collect()
    };
    let new_changes: Vec<NewChange> = fresh
        .iter_mut()
        .map(|c| NewChange {
            hash: c.hash().to_string(),
            actor: c.actor().to_hex_string(),
            bytes: c.bytes(),
        })
        .collect();
    // What the household was, for judging what the changes do to it.
    let before = match stored {
        Some(_) => Some(doc.read().map_err(|e| unreadable(&push.household, &e))?),
        None => None,
    };
    let household = match doc.apply(fresh) {
        Ok(h) => h,
        Err(DocError::MissingDependencies) => return Ok((PushOutcome::NeedAll, None, Vec::new())),
        Err(e) => {
            return Err(rejected(
                "invalid_document",
                format!("该户数据不符合要求:{e}"),
            ));
        }
    };
    let area = household.info.area_code.clone().unwrap_or_default();
    if !in_scope(scope, &area) {
        return Err(rejected(
            "out_of_scope",
            "该户的区划代码不在您负责的区域内(新建农户须在本人负责的区域内)",
        ));
    }
    let ctx = authority::Context {
        today: now.date_naive(),
        written_on,
    };
    if let Err(r) = authority::check(
        Writer::Device(device.user.role),
        before.as_ref(),
        &household,
        &ctx,
    ) {
        return Err(rejected(r.code.code(), r.message));
    }
    // Text a backend cannot store (NUL) or beyond its field's length fails this household only.
    if let Err(r) = limits::check_text(before.as_ref(), &household) {
        return Err(rejected(r.code.code(), r.to_string()));
    }
    let recovered = match recovery {
        Some(recovery) if !foreign.is_empty() => recovered_changes(
            recovery, device, push, stored, &area, &earlier, &foreign, &mut doc,
        )?,
        _ => Vec::new(),
    };
    let heads = heads_of(&mut doc);
    let write = match household_write_read(
        &push.household,
        &mut doc,
        household,
        stored.map(|s| s.version),
        new_changes,
    ) {
        Ok(w) => w,
        Err(e) => return Err(rejected("invalid_document", e.to_string())),
    };
    Ok((PushOutcome::Accepted { heads }, Some(write), recovered))
}

/// The refusal of a push whose household the server cannot read back (logged: it is the
/// server's fault, not the device's).
fn unreadable(household: &str, e: &DocError) -> PushOutcome {
    tracing::error!(household, error = %e, "stored document unreadable");
    rejected("server_document", "服务器上的该户数据异常,已记录")
}

/// Rule 3 of [`crate::backup`] for each change re-sent under another device's actor: that
/// device's user works in the household's area (before or after this merge), or that actor
/// wrote to the household before. Returns the audit rows.
#[allow(clippy::too_many_arguments)]
fn recovered_changes(
    recovery: &Recovery<'_>,
    device: &DeviceAuth,
    push: &Push,
    stored: Option<&StoredHousehold>,
    area: &str,
    earlier: &HashSet<String>,
    foreign: &[(String, &ActorDevice)],
    doc: &mut HouseholdDoc,
) -> Result<Vec<Recovered>, PushOutcome> {
    let times: HashMap<String, Option<chrono::DateTime<chrono::Utc>>> =
        doc.history().into_iter().map(|c| (c.hash, c.at)).collect();
    let mut out = Vec::with_capacity(foreign.len());
    for (hash, owner) in foreign {
        let covers = in_scope(&owner.areas, area)
            || stored.is_some_and(|s| in_scope(&owner.areas, &s.area_code))
            || earlier.contains(&owner.actor);
        if !covers {
            return Err(rejected(
                "forged_actor",
                "恢复期间只能补传负责该户的设备的变更,已拒绝",
            ));
        }
        out.push(Recovered {
            restore_id: recovery.point.id,
            household_id: push.household.clone(),
            hash: hash.clone(),
            actor: owner.actor.clone(),
            actor_device: owner.device_id.clone(),
            pushed_by: device.device_id.clone(),
            change_time: times.get(hash).copied().flatten(),
        });
    }
    Ok(out)
}

fn heads_of(doc: &mut HouseholdDoc) -> Vec<Hash> {
    doc.heads().iter().map(|h: &ChangeHash| h.0).collect()
}
