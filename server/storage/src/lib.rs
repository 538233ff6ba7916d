//! Storage of the server, behind traits: this crate holds the traits, the row and filter types,
//! [`DbError`] and the SQL both backends share; `zoufang-storage-sqlite` (the default: one file,
//! WAL) and `zoufang-storage-postgres` implement them (the split atuin's server uses). The
//! server picks a backend from its database URL at start.
//!
//! The traits speak in whole operations, each one transaction: the sync path hands over a
//! [`SyncWrite`] and gets it committed atomically or not at all. Concurrency between server
//! processes is optimistic: every household row has a version, a write names the version it
//! merged onto, and a moved version fails the whole batch with [`DbError::Conflict`] so the
//! caller merges again onto fresh documents.
//!
//! The change log's sequence numbers are allocated by updating one counter row inside the
//! writing transaction. That row lock is held until commit, so on PostgreSQL with several server
//! processes sequence order equals commit order and a puller reading `seq > cursor` can never
//! skip a change that commits later with a smaller number.
//!
//! SQL is written once where the dialects agree ([`sql`]: `$n` placeholders, which both drivers
//! accept, and `QueryBuilder` for lists); a backend writes only what truly differs — committing
//! a sync (the counter, batched inserts), appending to an upload, how a transaction begins —
//! through [`Backend`].

pub mod accounts;
pub mod attachments;
pub mod backend;
pub mod log;
pub mod projection;
pub mod recent;
pub mod recovery;
pub mod scope;
pub mod sql;
pub mod traits;
pub mod views;

pub use accounts::{Area, DeviceAuth, NewDevice, NewUser, StoredRound, StoredStandards, User};
pub use attachments::{Append, AttachmentState, StoredAttachment, UploadChunk};
pub use backend::Backend;
pub use log::{
    ChangePage, HouseholdWrite, LogNumbering, LogPosition, LoggedChange, NewChange, OwnChanges,
    StoredHousehold, SyncWrite,
};
pub use projection::Projection;
pub use recovery::{
    ActorDevice, DeviceResync, Recovered, RecoveredRow, RecoveryStatus, RecoveryStore, RestorePoint,
};
pub use traits::{Accounts, Database, Projections, WebStore};
pub use views::{SpotCheck, WebSession};
pub use zoufang_shared::authority::Role;

/// The versions of a migrator's (up) migrations, in order.
pub fn migration_versions(migrator: &sqlx::migrate::Migrator) -> Vec<i64> {
    migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| m.version)
        .collect()
}

/// A backend's handle: the struct `$name` around its pool `$pool`, and the migrations of
/// `$dir` (relative to the backend crate, as `sqlx::migrate!` reads it) with the ways to run
/// them. `open` (connecting to the database as it is) is the backend's own; `$connect` documents
/// `connect`, which opens and then migrates.
#[macro_export]
macro_rules! migrated_db {
    ($name:ident, $pool:ty, $dir:literal, $connect:literal) => {
        static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!($dir);

        #[derive(Clone, Debug)]
        pub struct $name {
            pool: $pool,
            /// Log rows this handle committed lately, for the pulls (see [`$crate::recent`]).
            recent: std::sync::Arc<$crate::recent::RecentLog>,
        }

        impl $name {
            #[doc = $connect]
            pub async fn connect(url: &str) -> Result<$name, $crate::DbError> {
                let db = Self::open(url).await?;
                db.migrate().await?;
                Ok(db)
            }

            /// Applies the migrations the database lacks.
            pub async fn migrate(&self) -> Result<(), $crate::DbError> {
                Ok(MIGRATOR.run(&self.pool).await?)
            }

            /// The versions of every migration this build knows.
            pub fn known_migrations() -> Vec<i64> {
                $crate::migration_versions(&MIGRATOR)
            }
        }
    };
}

/// What the generated SQL needs by path from the backend crates (see [`neutral_sql!`]).
/// Whether a database URL names PostgreSQL (else it is an SQLite path or `sqlite:` URL).
pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

#[doc(hidden)]
pub mod reexports {
    pub use chrono;
    pub use sqlx;
    pub use zoufang_shared::CodeList;
    pub use zoufang_shared::codes::{MonitoringCategory, RoundKind};
    pub use zoufang_shared::cursors::{Cursors, county_of};
    pub use zoufang_shared::rounds::Round;
}

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
