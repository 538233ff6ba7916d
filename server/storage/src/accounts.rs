//! Areas, users and enrolled devices.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Role;

/// An administrative area: county → township → village → 村民小组. Codes are hierarchical
/// (a child's code starts with its parent's), so "inside an area" is a prefix test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Area {
    pub code: String,
    pub name: String,
    pub parent: Option<String>,
    /// county, township, village or group.
    pub level: String,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    /// PHC string (argon2id).
    pub password_hash: String,
    pub role: Role,
    pub areas: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub password_hash: String,
    pub role: Role,
    pub disabled: bool,
    pub areas: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct NewDevice {
    /// The client's device id (from its `init`).
    pub id: String,
    pub user_id: i64,
    pub name: String,
    /// Hex actor id: the only actor this device may introduce changes under.
    pub actor: String,
    /// SHA-256 hex of the bearer token; the token itself is never stored.
    pub token_hash: String,
    pub expires_at: DateTime<Utc>,
}

/// What a valid token stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAuth {
    pub device_id: String,
    pub actor: String,
    pub expires_at: DateTime<Utc>,
    pub revoked: bool,
    pub user: User,
    /// The device's own changes numbered up to this in their county are pulled like anyone's
    /// ([`crate::Database::resend_own_changes`]).
    pub own_resent: crate::LogPosition,
}

/// The county's standards table as imported: the JSON text and its digest (SHA-256, hex), which
/// devices compare to learn whether theirs is current.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredStandards {
    pub json: String,
    pub digest: String,
    pub imported_at: DateTime<Utc>,
}

/// A 工作批次 as opened: the round itself and who opened it when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRound {
    pub round: zoufang_shared::rounds::Round,
    pub opened_by: String,
    pub opened_at: DateTime<Utc>,
}
