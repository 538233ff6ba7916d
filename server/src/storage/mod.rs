//! Storage behind one trait, with an SQLite (default, one file, WAL) and a PostgreSQL
//! implementation, chosen by the URL scheme (the split atuin's server uses).
//!
//! The trait speaks in whole operations, each one transaction: the sync path hands over a
//! [`SyncWrite`] and gets it committed atomically or not at all. Concurrency between server
//! processes is optimistic: every household row has a version, a write names the version it
//! merged onto, and a moved version fails the whole batch with [`DbError::Conflict`] so the
//! caller merges again onto fresh documents.
//!
//! The change log's sequence numbers are allocated by updating one counter row inside the
//! writing transaction. That row lock is held until commit, so on PostgreSQL with several server
//! processes sequence order equals commit order and a puller reading `seq > cursor` can never
//! skip a change that commits later with a smaller number.

pub mod postgres;
mod projection_sql;
pub mod sqlite;

use std::future::Future;

pub use zoufang_shared::CodeList;

use chrono::{DateTime, NaiveDate, Utc};

use crate::projection::Projection;
use crate::report::cross::{BusyHelper, ConflictEntry, DuplicateId};
use crate::report::roster::{RosterFilter, RosterRow};
use crate::report::{CaseCount, StatusCount};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("not found")]
    NotFound,
    #[error("a household changed under a concurrent write")]
    Conflict,
    #[error("already exists")]
    Duplicate,
    /// A revoked device's id: it stays revoked, a new enrollment needs a new id.
    #[error("device revoked")]
    Revoked,
    #[error("database: {0}")]
    Other(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

pub use zoufang_shared::authority::Role;

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
    /// The device's own changes numbered up to this are pulled like anyone's
    /// ([`Database::resend_own_changes`]).
    pub own_resent_until: i64,
}

/// Which of a device's own changes a pull leaves out: those under `actor` numbered after
/// `resent_until` (the device has them; before that point it may have dropped some).
#[derive(Debug, Clone, Copy)]
pub struct OwnChanges<'a> {
    pub actor: &'a str,
    pub resent_until: i64,
}

impl OwnChanges<'_> {
    /// A pull that leaves nothing out.
    pub const NONE: OwnChanges<'static> = OwnChanges {
        actor: "",
        resent_until: 0,
    };
}

impl<'a> OwnChanges<'a> {
    /// The changes of `actor` the device has.
    pub fn of(actor: &'a str) -> Self {
        OwnChanges {
            actor,
            resent_until: 0,
        }
    }
}

/// A household as stored.
#[derive(Debug, Clone)]
pub struct StoredHousehold {
    pub id: String,
    pub area_code: String,
    /// Automerge save format.
    pub doc: Vec<u8>,
    /// Optimistic-concurrency version, bumped by every write.
    pub version: i64,
}

/// One household written by a sync batch.
#[derive(Debug, Clone)]
pub struct HouseholdWrite {
    pub id: String,
    pub area_code: String,
    pub doc: Vec<u8>,
    /// The version merged onto; `None` for a household new to the server.
    pub expected_version: Option<i64>,
    /// Changes new to the server, in causal order.
    pub changes: Vec<NewChange>,
    /// The merged document's projection, written in the same transaction.
    pub projection: crate::projection::Projection,
}

#[derive(Debug, Clone)]
pub struct NewChange {
    /// Hex change hash; (household, hash) is unique, so a retried change is stored once.
    pub hash: String,
    /// Hex actor id.
    pub actor: String,
    pub bytes: Vec<u8>,
}

/// Everything one sync request writes, committed in one transaction.
#[derive(Debug, Clone, Default)]
pub struct SyncWrite {
    pub households: Vec<HouseholdWrite>,
}

/// A change from the log, for a pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedChange {
    pub seq: i64,
    pub household_id: String,
    pub bytes: Vec<u8>,
}

/// A page of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangePage {
    pub changes: Vec<LoggedChange>,
    /// The cursor to ask from next time: the last sequence number this page covered.
    pub cursor: i64,
    /// More changes wait beyond this page.
    pub more: bool,
    /// Households that moved out of the scope after the asked-for cursor, up to this page's
    /// `cursor`, and are not back in it (the move log's `from_area` in scope, the household's
    /// current area not), in id order.
    pub gone: Vec<String>,
}

/// Storage of the server. Implementations: [`sqlite::SqliteDb`], [`postgres::PgDb`].
pub trait Database:
    Projections + WebStore + crate::backup::RecoveryStore + Clone + Send + Sync + 'static
{
    // --- accounts and areas
    fn upsert_areas(&self, areas: &[Area]) -> impl Future<Output = Result<usize, DbError>> + Send;
    fn areas(&self) -> impl Future<Output = Result<Vec<Area>, DbError>> + Send;
    /// Fails with [`DbError::Duplicate`] when the username is taken.
    fn create_user(&self, user: &NewUser) -> impl Future<Output = Result<i64, DbError>> + Send;
    fn user_by_name(
        &self,
        username: &str,
    ) -> impl Future<Output = Result<Option<User>, DbError>> + Send;
    fn users(&self) -> impl Future<Output = Result<Vec<User>, DbError>> + Send;
    fn set_user_disabled(
        &self,
        username: &str,
        disabled: bool,
    ) -> impl Future<Output = Result<(), DbError>> + Send;
    /// Replaces a user's areas ([`DbError::NotFound`] for an unknown user), keeping the old
    /// set under its scope key ([`Database::past_scope`]) in the same transaction.
    fn set_user_areas(
        &self,
        username: &str,
        areas: &[String],
    ) -> impl Future<Output = Result<(), DbError>> + Send;
    /// The areas of a scope key some user had before their areas were replaced.
    fn past_scope(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<Vec<String>>, DbError>> + Send;
    /// Households a device pulling `old` areas may hold that lie outside `new` now: those in
    /// `old` and those that ever moved out of it, sorted.
    fn households_left(
        &self,
        old: &[String],
        new: &[String],
    ) -> impl Future<Output = Result<Vec<String>, DbError>> + Send;

    // --- devices
    /// Enrolls a device, replacing an earlier enrollment of the same device id (a re-enrollment
    /// issues a new token; the old one stops working). The actor must not belong to another
    /// device, nor the device id to another user ([`DbError::Duplicate`]); a revoked device id
    /// is never enrolled again ([`DbError::Revoked`]).
    fn enroll_device(&self, device: &NewDevice)
    -> impl Future<Output = Result<(), DbError>> + Send;
    fn device_by_token(
        &self,
        token_hash: &str,
    ) -> impl Future<Output = Result<Option<DeviceAuth>, DbError>> + Send;
    fn revoke_device(&self, device_id: &str) -> impl Future<Output = Result<(), DbError>> + Send;
    /// The token hash of an enrolled device (the key that authenticates its sync bundles).
    fn device_token_hash(
        &self,
        device_id: &str,
    ) -> impl Future<Output = Result<Option<String>, DbError>> + Send;

    // --- documents and the change log
    fn households(
        &self,
        ids: &[String],
    ) -> impl Future<Output = Result<Vec<StoredHousehold>, DbError>> + Send;
    /// Commits the batch atomically: every household at its expected version (else
    /// [`DbError::Conflict`] and nothing written), every new change appended to the log. A
    /// household whose area changes takes its logged changes along (their `area_code`), in the
    /// same transaction and under the household's row lock, and its move is logged
    /// (`household_moves`) under a number of the change log's counter, drawn with its changes'.
    fn commit_sync(&self, write: &SyncWrite) -> impl Future<Output = Result<(), DbError>> + Send;
    /// Logged changes after `cursor` of households whose area code starts with one of `scope`,
    /// not the device's own (see [`OwnChanges`]), up to about `max_bytes` (at least one change). The
    /// area is the household's current one: [`Database::commit_sync`] moves the logged changes
    /// of a household with it, so a household that left the scope sends none of its history and
    /// one that entered it sends all of it. The page also names the households that left the
    /// scope in the range it covers ([`ChangePage::gone`]), read in the same snapshot: a move
    /// is numbered from the same counter as changes, in its writing transaction.
    fn changes_since(
        &self,
        cursor: i64,
        scope: &[String],
        own: OwnChanges<'_>,
        max_bytes: usize,
    ) -> impl Future<Output = Result<ChangePage, DbError>> + Send;
    /// Sends a device its own changes again, up to the log's present end: after its user's
    /// areas changed, it may have dropped households whose history it alone wrote. Returns the
    /// new [`DeviceAuth::own_resent_until`].
    fn resend_own_changes(
        &self,
        device_id: &str,
    ) -> impl Future<Output = Result<i64, DbError>> + Send;
    fn household_count(&self) -> impl Future<Output = Result<i64, DbError>> + Send;

    // --- attachments (the logic lives in `crate::attachments`; these are single statements or
    // short transactions). Unfinished uploads are kept per (device, hash); `attachments` holds
    // complete ones only.
    /// Of `hashes`: each stored attachment (complete, `received` = its size), and each of
    /// `device_id`'s own unfinished uploads last written at or after `fresh_since`.
    fn attachment_states(
        &self,
        device_id: &str,
        hashes: &[String],
        fresh_since: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<AttachmentState>, DbError>> + Send;
    /// Deletes every device's unfinished uploads last written before `before`; returns how
    /// many. Complete attachments are never touched.
    fn expire_uploads(
        &self,
        before: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, DbError>> + Send;
    /// Appends a chunk to its device's own unfinished upload of the hash (see [`Append`]):
    /// starts one at offset 0 when the device's quota has room for its whole declared size,
    /// else extends one whose received length is exactly the offset. An own upload declaring
    /// another total is dropped first.
    fn append_upload(
        &self,
        chunk: &UploadChunk<'_>,
    ) -> impl Future<Output = Result<Append, DbError>> + Send;
    /// `device_id`'s unfinished upload of `hash`, as received so far.
    fn upload_received(
        &self,
        device_id: &str,
        hash: &str,
    ) -> impl Future<Output = Result<Option<StoredAttachment>, DbError>> + Send;
    /// When `verified`, stores `device_id`'s upload of `hash` for everyone (unless already
    /// stored) and drops every device's unfinished upload of that hash; otherwise drops only
    /// this device's.
    fn finish_upload(
        &self,
        device_id: &str,
        hash: &str,
        verified: bool,
    ) -> impl Future<Output = Result<(), DbError>> + Send;
    /// A stored (complete) attachment.
    fn attachment(
        &self,
        hash: &str,
    ) -> impl Future<Output = Result<Option<StoredAttachment>, DbError>> + Send;
}

/// Reads and writes of the projection (see `crate::projection`), one SQL text for both
/// backends (see `projection_sql`).
pub trait Projections {
    /// Household ids with their versions after `after`, in id order.
    fn household_ids_after(
        &self,
        after: &str,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<(String, i64)>, DbError>> + Send;
    /// Rewrites projections computed from documents at the given versions; a household whose
    /// version moved meanwhile is skipped. Returns how many were written.
    fn rewrite_projections(
        &self,
        items: &[(i64, Projection)],
    ) -> impl Future<Output = Result<usize, DbError>> + Send;
    /// Every projection row as text, in a fixed order (rebuild checks compare two dumps).
    fn dump_projection(&self) -> impl Future<Output = Result<Vec<String>, DbError>> + Send;
    /// How many households have a projection (fewer than stored: a rebuild is due).
    fn projected_count(&self) -> impl Future<Output = Result<i64, DbError>> + Send;
    /// Households and persons per (area code, status, monitoring category) inside `area`.
    fn status_counts(
        &self,
        area: &str,
    ) -> impl Future<Output = Result<Vec<StatusCount>, DbError>> + Send;
    /// Cases proposed in [from, to] inside `area`, grouped by everything the report splits by.
    fn case_counts(
        &self,
        area: &str,
        from: NaiveDate,
        to: NaiveDate,
        today: NaiveDate,
    ) -> impl Future<Output = Result<Vec<CaseCount>, DbError>> + Send;
    /// One page of a roster, in (area code, id) order.
    fn roster(
        &self,
        filter: &RosterFilter,
    ) -> impl Future<Output = Result<Vec<RosterRow>, DbError>> + Send;
    /// Households and persons a roster filter matches (ignoring its page position).
    fn roster_count(
        &self,
        filter: &RosterFilter,
    ) -> impl Future<Output = Result<(i64, i64), DbError>> + Send;
    /// Holders of ID numbers current in more than one household, one of them inside `area`.
    fn duplicate_ids(
        &self,
        area: &str,
    ) -> impl Future<Output = Result<Vec<DuplicateId>, DbError>> + Send;
    /// Helpers with a household inside `area` and more than `max` households in all.
    fn busy_helpers(
        &self,
        area: &str,
        max: i64,
    ) -> impl Future<Output = Result<Vec<BusyHelper>, DbError>> + Send;
    /// Conflicted fields inside `area`.
    fn conflict_queue(
        &self,
        area: &str,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<ConflictEntry>, DbError>> + Send;
}

/// A review-page login, as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WebSession {
    pub username: String,
    /// The session's anti-forgery token, echoed by every form it posts.
    pub csrf: String,
    /// RFC 3339.
    pub expires_at: String,
}

/// One household of a day's spot-check sample, and what the check found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct SpotCheck {
    pub township: String,
    pub day: String,
    pub household_id: String,
    pub village: String,
    pub drawn_by: String,
    pub result: Option<String>,
    pub note: Option<String>,
    pub checked_by: Option<String>,
    pub checked_at: Option<String>,
}

/// Review-page sessions and spot checks (SQL in `projection_sql`).
pub trait WebStore {
    fn create_session(
        &self,
        token_hash: &str,
        user_id: i64,
        csrf: &str,
        expires_at: &str,
    ) -> impl Future<Output = Result<(), DbError>> + Send;
    fn session(
        &self,
        token_hash: &str,
    ) -> impl Future<Output = Result<Option<WebSession>, DbError>> + Send;
    fn delete_session(&self, token_hash: &str) -> impl Future<Output = Result<(), DbError>> + Send;
    /// Forgets sessions that expired before `time` (RFC 3339, whole seconds, `Z`).
    fn delete_sessions_before(
        &self,
        time: &str,
    ) -> impl Future<Output = Result<(), DbError>> + Send;
    /// Households and their area codes inside `area` (spot-check candidates).
    fn household_areas(
        &self,
        area: &str,
    ) -> impl Future<Output = Result<Vec<(String, String)>, DbError>> + Send;
    /// The sample drawn for a township and day, if any.
    fn spot_checks(
        &self,
        township: &str,
        day: &str,
    ) -> impl Future<Output = Result<Vec<SpotCheck>, DbError>> + Send;
    /// Stores a drawn sample; a sample already stored for that township and day stays.
    fn save_spot_checks(
        &self,
        rows: &[SpotCheck],
    ) -> impl Future<Output = Result<(), DbError>> + Send;
    /// Records a check's result; false when the household is not in that sample.
    fn record_spot_check(
        &self,
        row: &SpotCheck,
    ) -> impl Future<Output = Result<bool, DbError>> + Send;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentState {
    pub hash: String,
    pub received: i64,
    pub complete: bool,
}

/// One chunk for [`Database::append_upload`].
#[derive(Debug, Clone, Copy)]
pub struct UploadChunk<'a> {
    pub device_id: &'a str,
    pub hash: &'a str,
    pub mime: &'a str,
    /// The whole attachment's declared size.
    pub total: i64,
    pub offset: i64,
    pub bytes: &'a [u8],
    /// The most the declared sizes of the device's unfinished uploads may add up to.
    pub quota: i64,
}

/// What [`Database::append_upload`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Append {
    /// Stored: the device's upload now holds this many bytes.
    Stored(i64),
    /// Nothing stored: the attachment is complete already, of this size.
    Complete(i64),
    /// Nothing stored: the device's own upload holds this many bytes (0: it has none), which is
    /// not the chunk's offset.
    Misplaced(i64),
    /// Nothing stored: starting this upload would take the device over its quota.
    OverQuota,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAttachment {
    pub mime: String,
    pub total: i64,
    pub bytes: Vec<u8>,
    pub complete: bool,
}

/// Either backend, picked from the URL: `postgres://…` or an SQLite path / `sqlite://…`.
#[derive(Clone)]
pub enum AnyDb {
    Sqlite(sqlite::SqliteDb),
    Postgres(postgres::PgDb),
}

impl AnyDb {
    pub async fn connect(url: &str) -> Result<AnyDb, DbError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(AnyDb::Postgres(postgres::PgDb::connect(url).await?))
        } else {
            Ok(AnyDb::Sqlite(sqlite::SqliteDb::connect(url).await?))
        }
    }
}

/// Why an enrollment's upsert changed no row, from the `revoked` flag of the device id's row (if
/// any): a revoked id stays revoked, any other refusal is an id or actor taken by another user.
pub(crate) fn enroll_refused(revoked: Option<bool>) -> DbError {
    if revoked == Some(true) {
        DbError::Revoked
    } else {
        DbError::Duplicate
    }
}

/// Delegates every [`Database`] method to the backend inside [`AnyDb`].
macro_rules! delegate_to_backend {
    ($trait:ident { $(fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)* }) => {
        impl $trait for AnyDb {
            $(
                async fn $name(&self $(, $arg: $ty)*) -> Result<$ret, DbError> {
                    match self {
                        AnyDb::Sqlite(db) => db.$name($($arg),*).await,
                        AnyDb::Postgres(db) => db.$name($($arg),*).await,
                    }
                }
            )*
        }
    };
}

delegate_to_backend! { Database {
    fn upsert_areas(&self, areas: &[Area]) -> usize;
    fn areas(&self) -> Vec<Area>;
    fn create_user(&self, user: &NewUser) -> i64;
    fn user_by_name(&self, username: &str) -> Option<User>;
    fn users(&self) -> Vec<User>;
    fn set_user_disabled(&self, username: &str, disabled: bool) -> ();
    fn set_user_areas(&self, username: &str, areas: &[String]) -> ();
    fn past_scope(&self, key: &str) -> Option<Vec<String>>;
    fn households_left(&self, old: &[String], new: &[String]) -> Vec<String>;
    fn enroll_device(&self, device: &NewDevice) -> ();
    fn device_by_token(&self, token_hash: &str) -> Option<DeviceAuth>;
    fn revoke_device(&self, device_id: &str) -> ();
    fn device_token_hash(&self, device_id: &str) -> Option<String>;
    fn households(&self, ids: &[String]) -> Vec<StoredHousehold>;
    fn commit_sync(&self, write: &SyncWrite) -> ();
    fn changes_since(
        &self,
        cursor: i64,
        scope: &[String],
        own: OwnChanges<'_>,
        max_bytes: usize
    ) -> ChangePage;
    fn resend_own_changes(&self, device_id: &str) -> i64;
    fn household_count(&self) -> i64;
    fn attachment_states(
        &self,
        device_id: &str,
        hashes: &[String],
        fresh_since: DateTime<Utc>
    ) -> Vec<AttachmentState>;
    fn expire_uploads(&self, before: DateTime<Utc>) -> u64;
    fn append_upload(&self, chunk: &UploadChunk<'_>) -> Append;
    fn upload_received(&self, device_id: &str, hash: &str) -> Option<StoredAttachment>;
    fn finish_upload(&self, device_id: &str, hash: &str, verified: bool) -> ();
    fn attachment(&self, hash: &str) -> Option<StoredAttachment>;
} }

delegate_to_backend! { Projections {
    fn household_ids_after(&self, after: &str, limit: i64) -> Vec<(String, i64)>;
    fn rewrite_projections(&self, items: &[(i64, Projection)]) -> usize;
    fn dump_projection(&self) -> Vec<String>;
    fn projected_count(&self) -> i64;
    fn status_counts(&self, area: &str) -> Vec<StatusCount>;
    fn case_counts(
        &self,
        area: &str,
        from: NaiveDate,
        to: NaiveDate,
        today: NaiveDate
    ) -> Vec<CaseCount>;
    fn roster(&self, filter: &RosterFilter) -> Vec<RosterRow>;
    fn roster_count(&self, filter: &RosterFilter) -> (i64, i64);
    fn duplicate_ids(&self, area: &str) -> Vec<DuplicateId>;
    fn busy_helpers(&self, area: &str, max: i64) -> Vec<BusyHelper>;
    fn conflict_queue(&self, area: &str, limit: i64) -> Vec<ConflictEntry>;
} }

delegate_to_backend! { WebStore {
    fn create_session(&self, token_hash: &str, user_id: i64, csrf: &str, expires_at: &str) -> ();
    fn session(&self, token_hash: &str) -> Option<WebSession>;
    fn delete_session(&self, token_hash: &str) -> ();
    fn delete_sessions_before(&self, time: &str) -> ();
    fn household_areas(&self, area: &str) -> Vec<(String, String)>;
    fn spot_checks(&self, township: &str, day: &str) -> Vec<SpotCheck>;
    fn save_spot_checks(&self, rows: &[SpotCheck]) -> ();
    fn record_spot_check(&self, row: &SpotCheck) -> bool;
} }

// --- helpers shared by the backends

/// Appends the pull filter over `changes`: after `after`, up to `upto`, not one of `own`, in
/// one of the `scope` areas (which must not be empty).
///
/// "Code starts with p" is written as the range `p <= code < successor(p)`, which holds for
/// byte-order (SQLite BINARY, PostgreSQL "C") comparison, needs no LIKE escaping, and lets an
/// index on the code serve it.
pub(crate) fn push_log_filter<DB>(
    qb: &mut sqlx::QueryBuilder<DB>,
    after: i64,
    upto: i64,
    own: OwnChanges<'_>,
    scope: &[String],
) where
    DB: sqlx::Database,
    <DB as sqlx::Database>::Arguments: Default,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    qb.push(" WHERE seq > ")
        .push_bind(after)
        .push(" AND seq <= ")
        .push_bind(upto)
        .push(" AND (actor <> ")
        .push_bind(own.actor.to_owned())
        .push(" OR seq <= ")
        .push_bind(own.resent_until)
        .push(") AND (");
    push_any_prefix(qb, "area_code", scope);
    qb.push(")");
}

/// The query for [`ChangePage::gone`]: households with a move numbered in (`after`, `upto`] out
/// of one of the `scope` areas (which must not be empty), whose current area is in none of them.
pub(crate) fn gone_query<DB>(after: i64, upto: i64, scope: &[String]) -> sqlx::QueryBuilder<DB>
where
    DB: sqlx::Database,
    <DB as sqlx::Database>::Arguments: Default,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut qb = sqlx::QueryBuilder::new(
        "SELECT DISTINCT m.household_id FROM household_moves m
         JOIN households h ON h.id = m.household_id WHERE m.seq > ",
    );
    qb.push_bind(after).push(" AND m.seq <= ").push_bind(upto);
    for (column, negate) in [("m.from_area", false), ("h.area_code", true)] {
        qb.push(if negate { " AND NOT (" } else { " AND (" });
        push_any_prefix(&mut qb, column, scope);
        qb.push(")");
    }
    qb.push(" ORDER BY m.household_id");
    qb
}

/// The query for [`Database::households_left`] (`old` must not be empty).
pub(crate) fn left_query<DB>(old: &[String], new: &[String]) -> sqlx::QueryBuilder<DB>
where
    DB: sqlx::Database,
    <DB as sqlx::Database>::Arguments: Default,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut qb = sqlx::QueryBuilder::new("SELECT h.id FROM households h WHERE (");
    push_any_prefix(&mut qb, "h.area_code", old);
    qb.push(" OR EXISTS (SELECT 1 FROM household_moves m WHERE m.household_id = h.id AND (");
    push_any_prefix(&mut qb, "m.from_area", old);
    qb.push(")))");
    if !new.is_empty() {
        qb.push(" AND NOT (");
        push_any_prefix(&mut qb, "h.area_code", new);
        qb.push(")");
    }
    qb.push(" ORDER BY h.id");
    qb
}

/// `column` starts with one of `prefixes` (which must not be empty), as ORed ranges.
fn push_any_prefix<DB>(qb: &mut sqlx::QueryBuilder<DB>, column: &str, prefixes: &[String])
where
    DB: sqlx::Database,
    <DB as sqlx::Database>::Arguments: Default,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    for (i, prefix) in prefixes.iter().enumerate() {
        if i > 0 {
            qb.push(" OR ");
        }
        push_prefix_range(qb, column, prefix);
    }
}

/// `(column >= prefix AND column < successor(prefix))`: the column starts with `prefix`.
pub(crate) fn push_prefix_range<DB>(qb: &mut sqlx::QueryBuilder<DB>, column: &str, prefix: &str)
where
    DB: sqlx::Database,
    <DB as sqlx::Database>::Arguments: Default,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    qb.push("(")
        .push(column)
        .push(" >= ")
        .push_bind(prefix.to_owned());
    if let Some(upper) = prefix_successor(prefix) {
        qb.push(" AND ").push(column).push(" < ").push_bind(upper);
    }
    qb.push(")");
}

/// The smallest string greater than every string starting with `prefix` in code-point order,
/// or `None` when no such string exists (an empty prefix, or one of only U+10FFFF).
pub(crate) fn prefix_successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match u32::from(last) + 1 {
            0xD800 => 0xE000,
            n => n,
        };
        if let Some(c) = char::from_u32(next) {
            chars.push(c);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// A unique-constraint violation becomes [`DbError::Duplicate`].
pub(crate) fn duplicate_on_unique(e: sqlx::Error) -> DbError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => DbError::Duplicate,
        _ => DbError::Other(e),
    }
}

pub(crate) fn parse_role(code: &str) -> Result<Role, DbError> {
    Role::parse(code)
        .map_err(|_| DbError::Other(sqlx::Error::Decode(format!("unknown role {code:?}").into())))
}

/// How many log rows a pull examines per query while filling a page.
pub(crate) const PAGE_SCAN_ROWS: i64 = 500;

#[cfg(test)]
mod tests {
    use super::prefix_successor;

    #[test]
    fn successor_bounds_exactly_the_prefixed_strings() {
        assert_eq!(prefix_successor("530921100").as_deref(), Some("530921101"));
        assert_eq!(prefix_successor("53092119").as_deref(), Some("5309211:"));
        assert_eq!(prefix_successor(""), None);
        assert_eq!(prefix_successor("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_successor("\u{D7FF}").as_deref(), Some("\u{E000}"));
        let upper = prefix_successor("530921100").expect("a successor");
        for code in ["530921100", "530921100201", "5309211009"] {
            assert!(code >= "530921100" && code < upper.as_str(), "{code}");
        }
        for code in ["530921101", "530921200101", "53092110", "5309210"] {
            assert!(!(code >= "530921100" && code < upper.as_str()), "{code}");
        }
    }
}
