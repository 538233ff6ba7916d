//! What the stories are told with: areas, users, devices, test changes (which carry their hash
//! at the front of their bytes), household writes, pulls, and the area codes.

use chrono::{DateTime, TimeDelta, Utc};
use zoufang_server::projection::Projection;
use zoufang_server::storage::{
    Area, ChangePage, Database, HouseholdWrite, LogPosition, NewChange, NewDevice, NewUser,
    OwnChanges, Role, SyncWrite,
};

pub fn area(code: &str, name: &str, parent: Option<&str>, level: &str) -> Area {
    Area {
        code: code.into(),
        name: name.into(),
        parent: parent.map(Into::into),
        level: level.into(),
    }
}

pub fn new_user(username: &str, role: Role, areas: &[&str]) -> NewUser {
    NewUser {
        username: username.into(),
        display_name: format!("{username} 同志"),
        password_hash: format!("$argon2id$v=19$fake${username}"),
        role,
        areas: areas.iter().map(|a| (*a).to_owned()).collect(),
    }
}

/// Whole seconds: PostgreSQL keeps microseconds, chrono nanoseconds.
pub fn in_days(days: i64) -> DateTime<Utc> {
    let t = Utc::now() + TimeDelta::days(days);
    DateTime::from_timestamp(t.timestamp(), 0).expect("a valid time")
}

pub fn device(id: &str, user_id: i64, actor: &str, token: &str, days: i64) -> NewDevice {
    NewDevice {
        id: id.into(),
        user_id,
        name: format!("{id} 的手机"),
        actor: actor.into(),
        token_hash: token.into(),
        expires_at: in_days(days),
    }
}

pub fn change(hash: &str, actor: &str, len: usize) -> NewChange {
    let mut bytes = format!("{hash}|").into_bytes();
    bytes.resize(len.max(bytes.len()), b'.');
    NewChange {
        hash: hash.into(),
        actor: actor.into(),
        bytes,
    }
}

/// The hash a test change carries at the front of its bytes.
pub fn hash_of(bytes: &[u8]) -> String {
    let end = bytes
        .iter()
        .position(|b| *b == b'|')
        .expect("a test change");
    String::from_utf8(bytes[..end].to_vec()).expect("utf-8 hash")
}

pub fn write(
    id: &str,
    area_code: &str,
    doc: &str,
    expected_version: Option<i64>,
    changes: Vec<NewChange>,
) -> HouseholdWrite {
    HouseholdWrite {
        id: id.into(),
        area_code: area_code.into(),
        doc: doc.as_bytes().to_vec(),
        expected_version,
        changes,
        projection: Projection::empty(id),
        projected_before: None,
    }
}

pub fn batch(households: Vec<HouseholdWrite>) -> SyncWrite {
    SyncWrite { households }
}

pub fn scope(codes: &[&str]) -> Vec<String> {
    codes.iter().map(|c| (*c).to_owned()).collect()
}

pub fn hashes(page: &ChangePage) -> Vec<String> {
    page.changes.iter().map(|c| hash_of(&c.bytes)).collect()
}

/// The stories' areas lie in one county, where a pull's position is one number.
pub const COUNTY: &str = "530921";

/// Pulls from `cursor` in every county.
pub fn from(cursor: i64) -> LogPosition {
    LogPosition {
        floor: cursor,
        ..LogPosition::default()
    }
}

/// Where a page left the pulls in [`COUNTY`].
pub trait OneCounty {
    fn cursor(&self) -> i64;
}

impl OneCounty for ChangePage {
    fn cursor(&self) -> i64 {
        self.cursors.get(COUNTY, 0)
    }
}

pub async fn pull<D: Database>(db: &D, cursor: i64, codes: &[&str], exclude: &str) -> ChangePage {
    db.changes_since(
        &from(cursor),
        &scope(codes),
        OwnChanges::of(exclude),
        usize::MAX,
    )
    .await
    .expect("pull")
}

// Township 530921100 with village 530921100201 (and 202); township 530921200 with 530921200101.
pub const VILLAGE: &str = "530921100201";
pub const VILLAGE_2: &str = "530921100202";
pub const TOWNSHIP: &str = "530921100";
pub const OTHER_VILLAGE: &str = "530921200101";
pub const OTHER_TOWNSHIP: &str = "530921200";

/// Commits one batch, which must succeed (`what` names it if it does not).
pub async fn commit<D: Database>(db: &D, what: &str, households: Vec<HouseholdWrite>) {
    db.commit_sync(&batch(households)).await.expect(what);
}

/// A page of everything in `codes` after `cursor`, of at most `max_bytes` (but one change).
pub async fn pull_bytes<D: Database>(
    db: &D,
    cursor: i64,
    codes: &[&str],
    max_bytes: usize,
) -> ChangePage {
    db.changes_since(&from(cursor), &scope(codes), OwnChanges::NONE, max_bytes)
        .await
        .expect("pull")
}
