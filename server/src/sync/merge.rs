//! What a push does to its household, decided without storage: its changes decode, carry the
//! device's own actor (or, in a recovery window, a vouched-for one) and label, a plausible time,
//! stay within the limits, and the merged household lies in the user's areas and passes the
//! write model. Pure CPU work, run off the async threads.

use std::collections::{HashMap, HashSet};
use zoufang_shared::rounds::{Round, misfiled_case};

use zoufang_shared::authority::{self, Writer};
use zoufang_shared::doc::{ChangeHash, DocError, HouseholdDoc, IncomingChange, check_change_time};
use zoufang_shared::limits;
use zoufang_shared::wire::{Hash, Push, PushOutcome, PushResult};

use super::recovery::{Recovery, recovered_changes};
use super::server_actor;
use crate::auth::in_scope;
use crate::backup::{ActorDevice, Recovered};
use crate::config::Limits;
use crate::projection::household_write_read;
use crate::storage::{DeviceAuth, HouseholdWrite, NewChange, StoredHousehold, SyncWrite};

pub(super) fn rejected(code: &str, message: impl Into<String>) -> PushOutcome {
    PushOutcome::Rejected {
        code: code.into(),
        message: message.into(),
    }
}

/// Merges every push of a batch onto the stored documents (CPU only: no storage).
pub(super) fn merge_batch(
    device: &DeviceAuth,
    pushes: &[Push],
    stored: &HashMap<String, StoredHousehold>,
    recovery: Option<&Recovery<'_>>,
    limits: &Limits,
    rounds: &[Round],
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
        let (outcome, w, r) = merge_one(
            device,
            p,
            stored.get(&p.household),
            recovery,
            limits,
            rounds,
        );
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
    rounds: &[Round],
) -> (PushOutcome, Option<HouseholdWrite>, Vec<Recovered>) {
    match merge_checked(device, push, stored, recovery, limits, rounds) {
        Ok((outcome, write, recovered)) => (outcome, write, recovered),
        Err(outcome) => (outcome, None, Vec::new()),
    }
}

/// What the server makes of one push outside a recovery window, before anything is stored: the
/// outcome, and the write when there is something new to keep. Every byte of `push` comes from
/// the device; `stored` is the server's copy; no round is open. Public for the fuzz targets
/// (crate zoufang-fuzzing), which feed it arbitrary pushes.
pub fn check_push(
    device: &DeviceAuth,
    push: &Push,
    stored: Option<&StoredHousehold>,
) -> (PushOutcome, Option<HouseholdWrite>) {
    let (outcome, write, _) = merge_one(device, push, stored, None, &Limits::default(), &[]);
    (outcome, write)
}

type Merged = (PushOutcome, Option<HouseholdWrite>, Vec<Recovered>);

fn merge_checked(
    device: &DeviceAuth,
    push: &Push,
    stored: Option<&StoredHousehold>,
    recovery: Option<&Recovery<'_>>,
    limits: &Limits,
    rounds: &[Round],
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
    // A new case is filed under a round open for the household on its day, or under none.
    if let Some(why) = misfiled_case(before.as_ref(), &household, rounds) {
        return Err(rejected("round_not_open", why));
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

fn heads_of(doc: &mut HouseholdDoc) -> Vec<Hash> {
    doc.heads().iter().map(|h: &ChangeHash| h.0).collect()
}
