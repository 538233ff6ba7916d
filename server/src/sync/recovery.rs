//! Changes re-sent on another device's behalf while a restore's recovery window is open (the
//! rules are set out in `docs/restore.md`).

use std::collections::{BTreeSet, HashMap, HashSet};

use zoufang_shared::doc::{HouseholdDoc, IncomingChange};
use zoufang_shared::wire::{Push, PushOutcome};

use super::merge::rejected;
use super::server_actor;
use crate::auth::in_scope;
use crate::storage::{ActorDevice, Recovered, RestorePoint};
use crate::storage::{Database, DbError, DeviceAuth, StoredHousehold};

/// What a push may re-send during a recovery window: the enrolled devices behind the other
/// actors its changes carry.
pub(super) struct Recovery<'a> {
    point: &'a RestorePoint,
    devices: HashMap<String, ActorDevice>,
}

impl<'a> Recovery<'a> {
    pub(super) async fn load<D: Database>(
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
    /// `docs/restore.md`), or why not.
    pub(super) fn vouch(&self, actor: &str) -> Result<&ActorDevice, PushOutcome> {
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

/// Rule 3 of `docs/restore.md` for each change re-sent under another device's actor: that
/// device's user works in the household's area (before or after this merge), or that actor
/// wrote to the household before. Returns the audit rows.
#[allow(clippy::too_many_arguments)]
pub(super) fn recovered_changes(
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
