//! Restore points and the recovery audit (see `docs/restore.md` for what a restore loses
//! and how the devices give it back).

use std::future::Future;

use chrono::{DateTime, Duration, Utc};

use crate::DbError;

/// A restore of the server, as recorded in the restored database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestorePoint {
    pub id: i64,
    /// Names the change log from this restore on (part of every scope key).
    pub log_id: String,
    pub restored_at: DateTime<Utc>,
    /// The log's counter at the restore: changes numbered above it came later.
    pub seq: i64,
    /// The backup file, or how the database was restored.
    pub source: String,
    pub window_until: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

impl RestorePoint {
    /// Whether devices may still re-send other devices' changes.
    pub fn window_open(&self, now: DateTime<Utc>) -> bool {
        self.closed_at.is_none() && now < self.window_until
    }
}

/// An enrolled device, found by the actor it writes under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorDevice {
    pub actor: String,
    pub device_id: String,
    pub revoked: bool,
    pub username: String,
    /// Its user's areas now.
    pub areas: Vec<String>,
}

/// A change accepted under another device's actor during a recovery window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    pub restore_id: i64,
    pub household_id: String,
    pub hash: String,
    pub actor: String,
    pub actor_device: String,
    pub pushed_by: String,
    pub change_time: Option<DateTime<Utc>>,
}

/// A recorded recovered change, for `restore --status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveredRow {
    pub change: Recovered,
    pub at: DateTime<Utc>,
    /// The change is in the log (false: its sync did not commit).
    pub stored: bool,
}

/// An enrolled device and whether it has synced since the restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceResync {
    pub device_id: String,
    pub username: String,
    pub name: String,
    pub revoked: bool,
    pub resynced_at: Option<DateTime<Utc>>,
}

/// The recovery's progress, for `restore --status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryStatus {
    pub recovered: Vec<RecoveredRow>,
    pub devices: Vec<DeviceResync>,
}

/// The restore points and the recovery audit, on both backends.
pub trait RecoveryStore {
    /// The newest restore point, if the database was ever restored.
    fn restore_point(&self) -> impl Future<Output = Result<Option<RestorePoint>, DbError>> + Send;
    /// Records a restore of this database now, with a recovery window of `window`.
    fn open_restore_point(
        &self,
        source: &str,
        window: Duration,
    ) -> impl Future<Output = Result<RestorePoint, DbError>> + Send;
    /// Closes the newest restore point's window; returns it (None: never restored).
    fn close_restore_point(
        &self,
    ) -> impl Future<Output = Result<Option<RestorePoint>, DbError>> + Send;
    /// The enrolled devices (revoked ones too) writing under these actors.
    fn actor_devices(
        &self,
        actors: &[String],
    ) -> impl Future<Output = Result<Vec<ActorDevice>, DbError>> + Send;
    /// Records recovered changes; a change already recorded stays as it was.
    fn record_recovered(
        &self,
        rows: &[Recovered],
    ) -> impl Future<Output = Result<(), DbError>> + Send;
    /// Notes that a device has synced since the restore (the first time only).
    fn note_resynced(
        &self,
        restore_id: i64,
        device_id: &str,
    ) -> impl Future<Output = Result<(), DbError>> + Send;
    fn recovery_status(
        &self,
        restore_id: i64,
    ) -> impl Future<Output = Result<RecoveryStatus, DbError>> + Send;
}

pub type PointRow = (
    i64,
    String,
    DateTime<Utc>,
    i64,
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

pub fn point_from(row: PointRow) -> RestorePoint {
    let (id, log_id, restored_at, seq, source, window_until, closed_at) = row;
    RestorePoint {
        id,
        log_id,
        restored_at,
        seq,
        source,
        window_until,
        closed_at,
    }
}

/// A fresh change-log name: 12 hex digits, unique enough that no device holds a scope key
/// naming it already.
pub fn new_log_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_close_by_time_or_by_hand() {
        let now = Utc::now();
        let mut p = RestorePoint {
            id: 1,
            log_id: new_log_id(),
            restored_at: now,
            seq: 0,
            source: "x".into(),
            window_until: now + Duration::days(1),
            closed_at: None,
        };
        assert_eq!(p.log_id.len(), 12);
        assert!(p.window_open(now));
        assert!(!p.window_open(now + Duration::days(2)));
        p.closed_at = Some(now);
        assert!(!p.window_open(now));
    }
}
