//! Who made a change. Automerge records the actor (one per device) and a timestamp; the signed-in
//! user and the device id ride in the change message as compact JSON (`{"u":…,"d":…}`), so a
//! history view can say who changed what even when several users share one phone.

use automerge::{ActorId, ChangeHash};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The author of one edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeAuthor {
    /// User account id.
    pub user: String,
    /// Device id (the server uses its own).
    pub device: String,
    /// Wall-clock time of the edit, as the device saw it.
    pub at: DateTime<Utc>,
}

#[derive(Serialize, Deserialize)]
struct Message {
    u: String,
    d: String,
}

impl ChangeAuthor {
    pub fn new(user: impl Into<String>, device: impl Into<String>, at: DateTime<Utc>) -> Self {
        ChangeAuthor {
            user: user.into(),
            device: device.into(),
            at,
        }
    }

    pub(crate) fn message(&self) -> String {
        serde_json::to_string(&Message {
            u: self.user.clone(),
            d: self.device.clone(),
        })
        .unwrap_or_default()
    }
}

/// What a change's metadata says about its author. Either part may be missing in a change not
/// written by Zoufang.
pub(crate) fn parse_message(message: Option<&str>) -> (Option<String>, Option<String>) {
    match message.and_then(|m| serde_json::from_str::<Message>(m).ok()) {
        Some(m) => (Some(m.u), Some(m.d)),
        None => (None, None),
    }
}

/// One change in a household's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeInfo {
    pub hash: String,
    pub actor: String,
    pub seq: u64,
    pub user: Option<String>,
    pub device: Option<String>,
    pub at: Option<DateTime<Utc>>,
}

pub(crate) fn change_info(
    hash: ChangeHash,
    actor: &ActorId,
    seq: u64,
    timestamp: i64,
    message: Option<&str>,
) -> ChangeInfo {
    let (user, device) = parse_message(message);
    ChangeInfo {
        hash: hash.to_string(),
        actor: actor.to_hex_string(),
        seq,
        user,
        device,
        at: DateTime::from_timestamp_millis(timestamp).filter(|_| timestamp != 0),
    }
}
