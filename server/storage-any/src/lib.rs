//! Either storage backend, picked at start from the database URL ([`AnyDb`]). A crate of its
//! own so that the server's library depends on the storage traits only: a change in one
//! backend recompiles that backend, this crate and the binaries, not the application.

use chrono::{DateTime, Duration, NaiveDate, Utc};

use zoufang_storage::views::{
    BusyHelper, CaseCount, CaseWindow, ConflictEntry, DuplicateId, RegisterMove, RosterFilter,
    RosterRow, StatusCount,
};
use zoufang_storage::*;
pub use zoufang_storage_postgres as postgres;
pub use zoufang_storage_sqlite as sqlite;

/// Either backend, picked from the URL: `postgres://…` or an SQLite path / `sqlite://…`. An
/// enum rather than a generic `main`: the whole server is then compiled once, not once per
/// backend.
#[derive(Clone)]
pub enum AnyDb {
    Sqlite(sqlite::SqliteDb),
    Postgres(postgres::PgDb),
}

impl AnyDb {
    pub async fn connect(url: &str) -> Result<AnyDb, DbError> {
        if is_postgres(url) {
            Ok(AnyDb::Postgres(postgres::PgDb::connect(url).await?))
        } else {
            Ok(AnyDb::Sqlite(sqlite::SqliteDb::connect(url).await?))
        }
    }

    /// Opens the database without touching its schema (see [`AnyDb::pending_migrations`]).
    pub async fn open(url: &str) -> Result<AnyDb, DbError> {
        if is_postgres(url) {
            Ok(AnyDb::Postgres(postgres::PgDb::open(url).await?))
        } else {
            Ok(AnyDb::Sqlite(sqlite::SqliteDb::open(url).await?))
        }
    }

    /// Applies the migrations the database lacks (several processes at once are serialised:
    /// PostgreSQL's advisory lock, SQLite's write lock).
    pub async fn migrate(&self) -> Result<(), DbError> {
        match self {
            AnyDb::Sqlite(db) => db.migrate().await,
            AnyDb::Postgres(db) => db.migrate().await,
        }
    }

    /// Whether this is the embedded SQLite backend (one server process, which may migrate its
    /// own file at start).
    pub fn is_embedded(&self) -> bool {
        matches!(self, AnyDb::Sqlite(_))
    }

    /// The log rows this handle committed lately (see [`zoufang_storage::recent`]).
    pub fn recent(&self) -> &zoufang_storage::recent::RecentLog {
        match self {
            AnyDb::Sqlite(db) => db.recent(),
            AnyDb::Postgres(db) => db.recent(),
        }
    }

    /// Closes the pool and waits until every connection is closed (see the server binary's
    /// `main` for why a process must do so before it exits).
    pub async fn close(&self) {
        match self {
            AnyDb::Sqlite(db) => db.pool().close().await,
            AnyDb::Postgres(db) => db.pool().close().await,
        }
    }
}

/// Delegates every method of a storage trait to the backend inside [`AnyDb`].
///
/// Each call runs in a span named after the method, so a slow request's log lines show which
/// storage call they waited on. `skip_all`: the arguments are household ids, user names, token
/// hashes and rows of personal data, none of which may reach the logs; the method name alone
/// keeps the spans few in kind.
macro_rules! delegate_to_backend {
    ($trait:ident { $(fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)* }) => {
        impl $trait for AnyDb {
            $(
                #[tracing::instrument(skip_all)]
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

delegate_to_backend! { Accounts {
    fn upsert_areas(&self, areas: &[Area]) -> usize;
    fn areas(&self) -> Vec<Area>;
    fn create_user(&self, user: &NewUser) -> i64;
    fn user_by_name(&self, username: &str) -> Option<User>;
    fn users(&self) -> Vec<User>;
    fn set_user_disabled(&self, username: &str, disabled: bool) -> ();
    fn set_user_areas(&self, username: &str, areas: &[String]) -> ();
    fn past_scope(&self, key: &str) -> Option<Vec<String>>;
    fn enroll_device(&self, device: &NewDevice) -> ();
    fn device_by_token(&self, token_hash: &str) -> Option<DeviceAuth>;
    fn revoke_device(&self, device_id: &str) -> ();
    fn device_names(&self, ids: &[String]) -> Vec<(String, String)>;
    fn device_token_hash(&self, device_id: &str) -> Option<String>;
    fn standards(&self) -> Option<StoredStandards>;
    fn standards_digest(&self) -> Option<String>;
    fn set_standards(&self, table: &StoredStandards) -> ();
    fn rounds(&self) -> Vec<StoredRound>;
    fn open_round(&self, round: &StoredRound) -> ();
} }

delegate_to_backend! { Database {
    fn households_left(&self, old: &[String], new: &[String]) -> Vec<String>;
    fn households(&self, ids: &[String]) -> Vec<StoredHousehold>;
    fn commit_sync(&self, write: &SyncWrite) -> ();
    fn changes_since(
        &self,
        from: &LogPosition,
        scope: &[String],
        own: OwnChanges<'_>,
        max_bytes: usize
    ) -> ChangePage;
    fn resend_own_changes(&self, device_id: &str) -> LogPosition;
    fn household_count(&self) -> i64;
    fn ping(&self) -> ();
    fn applied_migrations(&self) -> Vec<i64>;
    fn pending_migrations(&self) -> usize;
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
    fn case_counts(&self, area: &str, window: &CaseWindow, today: NaiveDate) -> Vec<CaseCount>;
    fn register_moves(&self, area: &str, since: NaiveDate) -> Vec<RegisterMove>;
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

delegate_to_backend! { RecoveryStore {
    fn restore_point(&self) -> Option<RestorePoint>;
    fn open_restore_point(&self, source: &str, window: Duration) -> RestorePoint;
    fn close_restore_point(&self) -> Option<RestorePoint>;
    fn actor_devices(&self, actors: &[String]) -> Vec<ActorDevice>;
    fn record_recovered(&self, rows: &[Recovered]) -> ();
    fn note_resynced(&self, restore_id: i64, device_id: &str) -> ();
    fn recovery_status(&self, restore_id: i64) -> RecoveryStatus;
} }
