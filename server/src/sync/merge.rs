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
use crate::config::Limits;
use crate::projection::household_write_read;
use crate::storage::{ActorDevice, Recovered};
use crate::storage::{DeviceAuth, HouseholdWrite, NewChange, StoredHousehold, SyncWrite};

pub(super) fn rejected(code: &str, message: impl Into<String>) -> PushOutcome {
    PushOutcome::Rejected {
        code: code.into(),
        message: message.into(),
    }
}

/// The merges of a batch's pushes, kept across the attempts to commit it: when another writer
/// moved some of its households, only those are merged again (a household's merge depends on
/// nothing but its push and its stored document, whose version names it).
pub(super) struct BatchMerge<'a> {
    pushes: &'a [Push],
    merged: Vec<Option<PushMerge>>,
    /// Households merged so far, over all attempts.
    pub merges: usize,
}

/// One push's merge, and the stored version it was made on.
struct PushMerge {
    /// `None`: refused before any document was read (bad id, twice in the batch), so it never
    /// goes stale; `Some(version)` otherwise (`Some(None)`: no stored household).
    basis: Option<Option<i64>>,
    outcome: PushOutcome,
    write: Option<HouseholdWrite>,
    recovered: Vec<Recovered>,
}

impl<'a> BatchMerge<'a> {
    pub(super) fn new(pushes: &'a [Push]) -> Self {
        let mut seen = HashSet::new();
        // Two pushes of one household in a batch would race each other: the later is refused.
        let merged = pushes
            .iter()
            .map(|p| {
                let refusal = if let Err(r) = limits::check_household_id(&p.household) {
                    rejected(r.code.code(), r.to_string())
                } else if !seen.insert(p.household.as_str()) {
                    rejected("duplicate_push", "同一户在一次同步中出现多次")
                } else {
                    return None;
                };
                Some(PushMerge {
                    basis: None,
                    outcome: refusal,
                    write: None,
                    recovered: Vec::new(),
                })
            })
            .collect();
        BatchMerge {
            pushes,
            merged,
            merges: 0,
        }
    }

    /// Merges (CPU only: no storage) every push not merged yet or whose household's stored
    /// version is no longer the one it was merged on.
    pub(super) fn update(
        &mut self,
        device: &DeviceAuth,
        stored: &HashMap<String, StoredHousehold>,
        recovery: Option<&Recovery<'_>>,
        limits: &Limits,
        rounds: &[Round],
    ) {
        let todo: Vec<(usize, Option<&StoredHousehold>)> = self
            .pushes
            .iter()
            .zip(&self.merged)
            .enumerate()
            .filter_map(|(i, (p, slot))| {
                let stored = stored.get(&p.household);
                let version = stored.map(|s| s.version);
                let current = slot
                    .as_ref()
                    .is_some_and(|m| m.basis.is_none_or(|v| v == version));
                (!current).then_some((i, stored))
            })
            .collect();
        let merged = crate::heavy::spread(todo.len(), |k| {
            let (i, stored) = todo[k];
            let (outcome, write, recovered) =
                merge_checked(device, &self.pushes[i], stored, recovery, limits, rounds)
                    .unwrap_or_else(kept_nothing);
            PushMerge {
                basis: Some(stored.map(|s| s.version)),
                outcome,
                write,
                recovered,
            }
        });
        self.merges += merged.len();
        for ((i, _), m) in todo.iter().zip(merged) {
            self.merged[*i] = Some(m);
        }
    }

    /// The writes of the current merges (empty: nothing new to store).
    pub(super) fn write(&self) -> SyncWrite {
        SyncWrite {
            households: self
                .merged
                .iter()
                .flatten()
                .filter_map(|m| m.write.clone())
                .collect(),
        }
    }

    /// The changes taken under other devices' actors by the current merges.
    pub(super) fn recovered(&self) -> Vec<Recovered> {
        self.merged
            .iter()
            .flatten()
            .flat_map(|m| m.recovered.iter().cloned())
            .collect()
    }

    /// Each push's outcome, in the batch's order.
    pub(super) fn results(self) -> Vec<PushResult> {
        self.pushes
            .iter()
            .zip(self.merged)
            .map(|(p, m)| PushResult {
                household: p.household.clone(),
                outcome: m.map_or_else(
                    || rejected("server_document", "服务器未处理该户"),
                    |m| m.outcome,
                ),
            })
            .collect()
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
    let (outcome, write, _) = merge_checked(device, push, stored, None, &Limits::default(), &[])
        .unwrap_or_else(kept_nothing);
    (outcome, write)
}

/// The outcome of one push, the write when there is something new to keep, and the changes it
/// takes under other devices' actors during a recovery window.
type Merged = (PushOutcome, Option<HouseholdWrite>, Vec<Recovered>);

/// A push refused before merging: its outcome alone, nothing to write.
fn kept_nothing(outcome: PushOutcome) -> Merged {
    (outcome, None, Vec::new())
}

/// Checks and merges one push onto the stored document; `Err` is a refusal's outcome.
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
    // Who wrote to the household before, by the restored log (rule 3 of docs/restore.md).
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
            // Stored as it travels, so that pulls pass it on without parsing it.
            bytes: c.wire_bytes(),
        })
        .collect();
    // What the household was, for judging what the changes do to it.
    let before = match stored {
        Some(_) => Some(doc.read().map_err(|e| unreadable(&push.household, &e))?),
        None => None,
    };
    let reading = match doc.apply(fresh) {
        Ok(r) => r,
        Err(DocError::MissingDependencies) => return Ok((PushOutcome::NeedAll, None, Vec::new())),
        Err(e) => {
            return Err(rejected(
                "invalid_document",
                format!("该户数据不符合要求:{e}"),
            ));
        }
    };
    let household = &reading.household;
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
        household,
        &ctx,
    ) {
        return Err(rejected(r.code.code(), r.message));
    }
    // A new case is filed under a round open for the household on its day, or under none.
    if let Some(why) = misfiled_case(before.as_ref(), household, rounds) {
        return Err(rejected("round_not_open", why));
    }
    // Text a backend cannot store (NUL) or beyond its field's length fails this household only.
    if let Err(r) = limits::check_text(before.as_ref(), household) {
        return Err(rejected(r.code.code(), r.to_string()));
    }
    let recovered = match recovery {
        Some(recovery) if !foreign.is_empty() => recovered_changes(
            recovery, device, push, stored, &area, &earlier, &foreign, &mut doc,
        )?,
        _ => Vec::new(),
    };
    let heads = heads_of(&mut doc);
    let mut write = match household_write_read(
        &push.household,
        &mut doc,
        reading,
        stored.map(|s| s.version),
        new_changes,
    ) {
        Ok(w) => w,
        Err(e) => return Err(rejected("invalid_document", e.to_string())),
    };
    write.projected_before = stored.and_then(|s| s.projected.clone());
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

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use zoufang_shared::doc::ChangeAuthor;
    use zoufang_shared::ids::HouseholdId;

    use super::*;
    use crate::storage::{Role, User};

    fn device() -> DeviceAuth {
        DeviceAuth {
            device_id: "dev-1".into(),
            actor: "00".repeat(16),
            expires_at: DateTime::<Utc>::MAX_UTC,
            revoked: false,
            user: User {
                id: 1,
                username: "zhang".into(),
                display_name: "张调查".into(),
                password_hash: String::new(),
                role: Role::Surveyor,
                disabled: false,
                areas: vec!["530921".into()],
            },
            own_resent: Default::default(),
        }
    }

    fn push(household: &str) -> Push {
        Push {
            household: household.into(),
            changes: vec![b"not a change".to_vec()],
        }
    }

    fn stored(id: &str, version: i64) -> (String, StoredHousehold) {
        let author = ChangeAuthor {
            user: "server".into(),
            device: "server".into(),
            at: Utc::now(),
        };
        let mut doc = HouseholdDoc::create(&HouseholdId(id.into()), server_actor(), &author)
            .expect("a household");
        let household = StoredHousehold {
            id: id.into(),
            area_code: "530921100201".into(),
            doc: doc.save(),
            version,
            projected: None,
        };
        (id.into(), household)
    }

    #[test]
    fn a_retry_merges_only_the_households_another_writer_moved() {
        let pushes = [push("hh-a"), push("hh-b"), push("hh-a"), push("hh-new")];
        let mut batch = BatchMerge::new(&pushes);
        let limits = Limits::default();
        let mut on_disk: HashMap<_, _> = [stored("hh-a", 1), stored("hh-b", 1)].into();
        batch.update(&device(), &on_disk, None, &limits, &[]);
        assert_eq!(batch.merges, 3, "the duplicate push is refused unmerged");

        batch.update(&device(), &on_disk, None, &limits, &[]);
        assert_eq!(batch.merges, 3, "nothing moved: nothing merged again");

        on_disk.extend([stored("hh-b", 2), stored("hh-new", 1)]);
        batch.update(&device(), &on_disk, None, &limits, &[]);
        assert_eq!(batch.merges, 5, "hh-b moved and hh-new appeared");

        let results = batch.results();
        let codes: Vec<_> = results
            .iter()
            .map(|r| match &r.outcome {
                PushOutcome::Rejected { code, .. } => code.as_str(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            codes,
            [
                "malformed_change",
                "malformed_change",
                "duplicate_push",
                "malformed_change"
            ]
        );
    }
}
