//! The device's store: one SQLite file (WAL) holding household documents, their list index,
//! attachments and the device's settings. Every write is one transaction, so a killed process
//! leaves either the old state or the new one. The file is encrypted (SQLCipher) under a key
//! derived from the user's passphrase ([`crypt`]).

mod answer;
mod apply;
mod attachments;
mod crypt;
pub mod drafts;
#[cfg(test)]
mod encryption_tests;
mod households;
pub mod index;
mod migrations;
mod sync_state;

pub use attachments::{
    AttachmentError, MAX_ORIGINAL_BYTES, MAX_SYNCED_BYTES, MAX_SYNCED_PIXELS, image_size,
};
pub use crypt::{DbKey, KEY_FILE, MIN_PASSPHRASE_CHARS};
pub use households::{ListFilter, ListSort};
pub use index::IndexRow;
pub use sync_state::{PendingPush, Rejection, SentHeads, SyncOutcome, sent_heads};

use crypt::{KeyHeader, PENDING_KEY_FILE, REWRITE_FILE};
use zoufang_shared::rounds::Round;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};
use zoufang_shared::doc::{ActorId, ChangeAuthor, DocError};
use zoufang_shared::ids::HouseholdId;
use zoufang_shared::rules::standards::{Standards, StandardsError};

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "zoufang.db";
/// A county-distributed standards table in the data directory replaces the built-in one.
pub const STANDARDS_FILE: &str = "standards.json";
/// The settings key of the county's UTC offset (see [`Store::county_zone`]).
pub const COUNTY_ZONE_SETTING: &str = "county_utc_offset";
/// The settings key holding the rounds the server last sent, as JSON.
const ROUNDS_SETTING: &str = "rounds";

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
    #[error(
        "本设备已登记到服务器,不能载入演示农户(演示数据会被同步进正式花名册);请去掉 --demo 重新启动"
    )]
    DemoOnEnrolled,
    #[error("该农户已同步到服务器,不能撤回;如系误建,请提出「错评剔除」事项")]
    AlreadySynced,
    #[error("数据库版本 {found} 比本程序支持的 {supported} 新,请升级程序")]
    NewerDatabase { found: i64, supported: i64 },
    #[error(
        "数据库文件已损坏,已连同密钥文件移至 {moved_to} 保留(未删除任何数据);重新运行将新建数据库"
    )]
    Corrupt { moved_to: PathBuf },
    #[error("口令错误")]
    WrongPassphrase,
    #[error("工作批次数据无效:{0}")]
    Rounds(String),
    #[error("数据库正被另一个 zoufang 进程使用(如 zoufang serve),请先关闭它再试")]
    InUse,
    #[error("口令错误:口令刚已更改,请输入新口令")]
    PassphraseChanged,
    #[error("口令太短:至少 {MIN_PASSPHRASE_CHARS} 位(可以是数字 PIN)")]
    WeakPassphrase,
    #[error("缺少密钥文件 {KEY_FILE}:无法解密数据库,请从备份恢复该文件(数据库未改动)")]
    KeyFileMissing,
    #[error("密钥文件 {KEY_FILE} 无效:无法解密数据库,请从备份恢复该文件(数据库未改动)")]
    KeyFileInvalid,
    #[error("找不到农户 {0}")]
    NotFound(HouseholdId),
    #[error("农户 {0} 已存在")]
    AlreadyExists(HouseholdId),
    #[error(transparent)]
    Attachment(#[from] AttachmentError),
    #[error("标准表无效:{0}")]
    Standards(#[from] StandardsError),
    /// The write model refuses the edit for this user's role (the server would too).
    #[error("{0}")]
    Refused(#[from] zoufang_shared::authority::Refusal),
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
    key: DbKey,
}

impl Store {
    /// Creates the store in `dir` under `passphrase` (for `init`); an existing store is unlocked
    /// with it instead, so running `init` again never replaces data.
    pub fn create(dir: &Path, passphrase: &str) -> Result<Store, StoreError> {
        if dir.join(DB_FILE).exists() {
            return Self::unlock(dir, passphrase);
        }
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let (header, key) = KeyHeader::new(passphrase)?;
        // The key file first: a crash before the database exists leaves nothing to lose, and
        // the next `init` writes a new one.
        header.write(&dir.join(KEY_FILE))?;
        Self::open(dir, key)
    }

    /// Opens the existing store in `dir` with `passphrase`. A store written before encryption
    /// is encrypted under it first; a passphrase change a crash interrupted is finished or
    /// undone. A wrong passphrase touches no file.
    pub fn unlock(dir: &Path, passphrase: &str) -> Result<Store, StoreError> {
        let db = dir.join(DB_FILE);
        if !db.is_file() {
            return Err(StoreError::NotInitialised);
        }
        let header = KeyHeader::read(&dir.join(KEY_FILE))?;
        if crypt::is_plaintext(&db)? {
            return Self::encrypt_plaintext(dir, header, passphrase);
        }
        let header = header.ok_or(StoreError::KeyFileMissing)?;
        if let Some(pending) = KeyHeader::read(&dir.join(PENDING_KEY_FILE))? {
            return Self::finish_change(dir, &header, &pending, passphrase);
        }
        let key = header.unlock(passphrase)?;
        let store = Self::open(dir, key)?;
        // A copy a crash left before any pending key file: never needed.
        crypt::remove_if_present(&dir.join(REWRITE_FILE))?;
        Ok(store)
    }

    /// Whether `dir` holds a store that is not encrypted yet (unlocking it sets its passphrase).
    pub fn needs_passphrase_setup(dir: &Path) -> Result<bool, StoreError> {
        let db = dir.join(DB_FILE);
        Ok(!db.is_file() || crypt::is_plaintext(&db)?)
    }

    /// Opens the store in `dir` with a key already derived (a second connection of a process
    /// that unlocked it), and brings its schema up to date. A file the verified key does not
    /// open is damaged: it is moved aside, never deleted, as it may hold unsynced captures.
    pub fn open(dir: &Path, key: DbKey) -> Result<Store, StoreError> {
        let path = dir.join(DB_FILE);
        let mut conn = match Self::connect(&path, &key) {
            Err(StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)))
                if e.code == rusqlite::ErrorCode::NotADatabase =>
            {
                let moved_to = dir.join(format!(
                    "{DB_FILE}.corrupt-{}",
                    chrono::Utc::now().format("%Y%m%dT%H%M%S")
                ));
                // Its key file goes with it: a new store would write a new one, and what is
                // left of the old file can only be read with its own.
                let key_copy = PathBuf::from(format!("{}.key", moved_to.display()));
                std::fs::copy(dir.join(KEY_FILE), &key_copy).map_err(|source| StoreError::Io {
                    path: key_copy.clone(),
                    source,
                })?;
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
        let store = Store {
            conn,
            dir: dir.to_owned(),
            standards,
            key,
        };
        store.fill_last_visits()?;
        Ok(store)
    }

    fn connect(path: &Path, key: &DbKey) -> Result<Connection, StoreError> {
        // SQLCipher sets up its crypto provider at a process's first keying. Once, twenty
        // threads of one process (the e2e suite's sync_many) keying their first connections at
        // the same moment saw "An error occurred with PRAGMA key"; keying a throwaway in-memory
        // database first, on one thread, leaves the others nothing to set up.
        static PROVIDER: std::sync::Once = std::sync::Once::new();
        PROVIDER.call_once(|| {
            if let Ok(scratch) = Connection::open_in_memory() {
                let _ = scratch.pragma_update(None, "key", "warm-up");
            }
        });
        let conn = Connection::open(path)?;
        // The key before anything reads the file.
        conn.pragma_update(None, "key", key.literal().as_str())?;
        // FULL: a phone loses power; WAL keeps readers off the writer's back.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // Touch the schema so a wrong key or a non-database file fails here.
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))?;
        Ok(conn)
    }

    /// Whether `key` opens the database (without moving anything aside when it does not).
    fn opens_with(path: &Path, key: &DbKey) -> bool {
        Self::connect(path, key).is_ok()
    }

    /// The key this store was opened with, for another connection to it.
    pub fn key(&self) -> DbKey {
        self.key.clone()
    }

    /// Encrypts a store written before encryption under `passphrase`: a complete encrypted
    /// copy, fsynced, replaces the plaintext file atomically. A key file already there is from
    /// an interrupted earlier attempt, and the passphrase must match it.
    fn encrypt_plaintext(
        dir: &Path,
        header: Option<KeyHeader>,
        passphrase: &str,
    ) -> Result<Store, StoreError> {
        let db = dir.join(DB_FILE);
        let (header, key) = match header {
            Some(h) => {
                let key = h.unlock(passphrase)?;
                (h, key)
            }
            None => KeyHeader::new(passphrase)?,
        };
        let rewritten = dir.join(REWRITE_FILE);
        {
            let plain = Connection::open(&db)?;
            plain.busy_timeout(std::time::Duration::from_secs(5))?;
            crypt::rewrite(&plain, &rewritten, &key)?;
            plain.close().map_err(|(_, e)| e)?;
        }
        header.write(&dir.join(KEY_FILE))?;
        crypt::rename_durably(&rewritten, &db)?;
        Self::open(dir, key)
    }

    /// Changes the passphrase: the database is rewritten under a key from the new passphrase
    /// (fresh salt), so the old passphrase opens nothing afterwards.
    ///
    /// Order, for crash safety: (1) the encrypted copy, fsynced; (2) the pending key file;
    /// (3) the copy replaces the database; (4) the pending key file replaces the key file. A
    /// pending key file therefore means a complete copy exists or has replaced the database;
    /// [`Store::unlock`] finishes the change with the new passphrase or undoes it with the old.
    pub fn change_passphrase(&mut self, new_passphrase: &str) -> Result<(), StoreError> {
        let (header, key) = KeyHeader::new(new_passphrase)?;
        let rewritten = self.dir.join(REWRITE_FILE);
        crypt::rewrite(&self.conn, &rewritten, &key)?;
        header.write(&self.dir.join(PENDING_KEY_FILE))?;
        let conn = std::mem::replace(&mut self.conn, Connection::open_in_memory()?);
        conn.close().map_err(|(_, e)| e)?;
        crypt::rename_durably(&rewritten, &self.dir.join(DB_FILE))?;
        crypt::rename_durably(&self.dir.join(PENDING_KEY_FILE), &self.dir.join(KEY_FILE))?;
        *self = Self::open(&self.dir.clone(), key)?;
        Ok(())
    }

    /// Unlocks a store whose passphrase change was interrupted, finishing or undoing it.
    fn finish_change(
        dir: &Path,
        current: &KeyHeader,
        pending: &KeyHeader,
        passphrase: &str,
    ) -> Result<Store, StoreError> {
        let (db, rewritten) = (dir.join(DB_FILE), dir.join(REWRITE_FILE));
        let (key_file, pending_file) = (dir.join(KEY_FILE), dir.join(PENDING_KEY_FILE));
        match pending.unlock(passphrase) {
            Ok(key) => {
                // The new passphrase: roll forward.
                if !Self::opens_with(&db, &key) {
                    crypt::rename_durably(&rewritten, &db)?;
                }
                crypt::rename_durably(&pending_file, &key_file)?;
                Self::open(dir, key)
            }
            Err(StoreError::WrongPassphrase) => {
                let key = current.unlock(passphrase)?;
                if !Self::opens_with(&db, &key) {
                    // The copy under the new key already replaced the database.
                    return Err(StoreError::PassphraseChanged);
                }
                // The old passphrase, and the database still under it: undo.
                crypt::remove_if_present(&pending_file)?;
                crypt::remove_if_present(&rewritten)?;
                Self::open(dir, key)
            }
            Err(e) => Err(e),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn standards(&self) -> &Standards {
        &self.standards
    }

    /// The digest of the table this device judges with (`Standards::digest`), which the server
    /// compares with its own.
    pub fn standards_digest(&self) -> Result<String, StoreError> {
        let path = self.dir.join(STANDARDS_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Standards::digest(&text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Ok(Standards::digest(Standards::builtin_json()))
            }
            Err(source) => Err(StoreError::Io { path, source }),
        }
    }

    /// Replaces the table with the server's (checked first; a bad one changes nothing), on disk
    /// durably and for this process at once.
    pub fn replace_standards(&mut self, json: &str) -> Result<(), StoreError> {
        let table = Standards::from_json(json)?;
        crypt::write_durably(&self.dir.join(STANDARDS_FILE), json.as_bytes())?;
        self.standards = table;
        Ok(())
    }

    /// The 工作批次 the server last sent: new cases are filed under one open on their day
    /// (none before the first sync with a server that has rounds).
    pub fn rounds(&self) -> Result<Vec<Round>, StoreError> {
        match self.setting(ROUNDS_SETTING)? {
            None => Ok(Vec::new()),
            Some(json) => {
                serde_json::from_str(&json).map_err(|e| StoreError::Rounds(e.to_string()))
            }
        }
    }

    pub fn set_rounds(&self, rounds: &[Round]) -> Result<(), StoreError> {
        let json = serde_json::to_string(rounds).map_err(|e| StoreError::Rounds(e.to_string()))?;
        self.set_setting(ROUNDS_SETTING, &json)
    }

    /// The first column of every row `sql` (a query without parameters) selects, as text.
    fn texts(&self, sql: &str) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// The county's time zone, in which the UI shows times (a conflict's "who, when", a sync's
    /// end), so that the phone and the server's pages say the same hour whatever zone the
    /// phone is set to. The setting `county_utc_offset` (`+08:00`); by default China's
    /// standard time, which has no daylight saving.
    pub fn county_zone(&self) -> Result<chrono::FixedOffset, StoreError> {
        let china = chrono::FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset");
        Ok(self
            .setting(COUNTY_ZONE_SETTING)?
            .and_then(|text| text.parse::<chrono::FixedOffset>().ok())
            .unwrap_or(china))
    }

    /// Records the county's zone as the server gave it at enrollment; an offset that does not
    /// parse is ignored (the device keeps China's standard time).
    pub fn set_county_zone(&self, offset: &str) -> Result<(), StoreError> {
        match offset.parse::<chrono::FixedOffset>() {
            Ok(zone) => self.set_setting(COUNTY_ZONE_SETTING, &zone.to_string()),
            Err(_) => Ok(()),
        }
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

    /// `PRAGMA integrity_check`: "ok", or what is wrong (one line per problem, joined).
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        let mut stmt = self.conn.prepare("PRAGMA integrity_check")?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows.join("; "))
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

#[cfg(test)]
mod zone_tests {
    use super::*;

    #[test]
    fn times_are_shown_in_the_county_zone_china_by_default() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::create(dir.path(), "test-passphrase").expect("store");
        assert_eq!(store.county_zone().expect("zone").to_string(), "+08:00");
        store
            .set_setting(COUNTY_ZONE_SETTING, "+05:30")
            .expect("set");
        assert_eq!(store.county_zone().expect("zone").local_minus_utc(), 19_800);
    }
}
