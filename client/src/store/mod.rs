//! The device's store: one SQLite file (WAL) holding household documents, their list index,
//! attachments and the device's settings. Every write is one transaction, so a killed process
//! leaves either the old state or the new one.

mod attachments;
mod households;
pub mod index;
mod migrations;
mod sync_state;

pub use attachments::{
    AttachmentError, MAX_ORIGINAL_BYTES, MAX_SYNCED_BYTES, MAX_SYNCED_PIXELS, image_size,
};
pub use households::ListFilter;
pub use index::IndexRow;
pub use sync_state::{PendingPush, Rejection, SentHeads, SyncOutcome, sent_heads};

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};
use zoufang_shared::doc::{ActorId, ChangeAuthor, DocError};
use zoufang_shared::ids::HouseholdId;
use zoufang_shared::rules::standards::{Standards, StandardsError};

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "zoufang.db";
/// A county-distributed standards table in the data directory replaces the built-in one.
pub const STANDARDS_FILE: &str = "standards.json";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("数据库错误:{0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{0}")]
    Doc(#[from] DocError),
    #[error("无法访问数据目录 {path}:{source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("本设备尚未初始化,请先运行 zoufang init")]
    NotInitialised,
    #[error("数据库版本 {found} 比本程序支持的 {supported} 新,请升级程序")]
    NewerDatabase { found: i64, supported: i64 },
    #[error("数据库文件已损坏,已移至 {moved_to} 保留(未删除任何数据);重新运行将新建数据库")]
    Corrupt { moved_to: PathBuf },
    #[error("找不到农户 {0}")]
    NotFound(HouseholdId),
    #[error("农户 {0} 已存在")]
    AlreadyExists(HouseholdId),
    #[error(transparent)]
    Attachment(#[from] AttachmentError),
    #[error("标准表无效:{0}")]
    Standards(#[from] StandardsError),
}

/// Who this device is and who uses it.
#[derive(Debug, Clone)]
pub struct Identity {
    pub device_id: String,
    pub actor: ActorId,
    pub user_id: String,
    pub user_name: String,
}

impl Identity {
    /// The author of an edit made now.
    pub fn author(&self) -> ChangeAuthor {
        ChangeAuthor::new(&self.user_id, &self.device_id, chrono::Utc::now())
    }
}

pub struct Store {
    conn: Connection,
    dir: PathBuf,
    standards: Standards,
}

impl Store {
    /// Opens (creating if needed) the store in `dir` and brings its schema up to date. A file
    /// that is not a database is moved aside, never deleted: it may hold unsynced captures.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let path = dir.join(DB_FILE);
        let mut conn = match Self::connect(&path) {
            Err(StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)))
                if e.code == rusqlite::ErrorCode::NotADatabase =>
            {
                let moved_to = dir.join(format!(
                    "{DB_FILE}.corrupt-{}",
                    chrono::Utc::now().format("%Y%m%dT%H%M%S")
                ));
                std::fs::rename(&path, &moved_to).map_err(|source| StoreError::Io {
                    path: path.clone(),
                    source,
                })?;
                return Err(StoreError::Corrupt { moved_to });
            }
            other => other?,
        };
        migrations::migrate(&mut conn)?;
        let standards = load_standards(dir)?;
        Ok(Store {
            conn,
            dir: dir.to_owned(),
            standards,
        })
    }

    fn connect(path: &Path) -> Result<Connection, StoreError> {
        let conn = Connection::open(path)?;
        // FULL: a phone loses power; WAL keeps readers off the writer's back.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // Touch the schema so a non-database file fails here.
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))?;
        Ok(conn)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn standards(&self) -> &Standards {
        &self.standards
    }

    pub fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    pub fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO settings(key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// Gives the device its identity (once) and records the user.
    pub fn init(&mut self, user_id: &str, user_name: &str) -> Result<Identity, StoreError> {
        let tx = self.conn.transaction()?;
        let existing: Option<String> = tx
            .query_row(
                "SELECT value FROM settings WHERE key = 'device_id'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        let set = |key: &str, value: &str| {
            tx.execute(
                "INSERT INTO settings(key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
        };
        if existing.is_none() {
            let device = uuid::Uuid::new_v4();
            set("device_id", &device.simple().to_string())?;
            // The actor is the device: every change this device makes carries it.
            set("actor", &ActorId::from(device.as_bytes()).to_hex_string())?;
            set("id_salt", &uuid::Uuid::new_v4().simple().to_string())?;
        }
        set("user_id", user_id)?;
        set("user_name", user_name)?;
        tx.commit()?;
        self.identity()
    }

    pub fn identity(&self) -> Result<Identity, StoreError> {
        let get = |k| self.setting(k)?.ok_or(StoreError::NotInitialised);
        let actor =
            ActorId::try_from(get("actor")?.as_str()).map_err(|_| StoreError::NotInitialised)?;
        Ok(Identity {
            device_id: get("device_id")?,
            actor,
            user_id: get("user_id")?,
            user_name: get("user_name")?,
        })
    }
}

fn load_standards(dir: &Path) -> Result<Standards, StoreError> {
    let path = dir.join(STANDARDS_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Standards::from_json(&text)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Standards::builtin()?),
        Err(source) => Err(StoreError::Io { path, source }),
    }
}
