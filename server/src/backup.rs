//! Backup and restore of the server, and getting back what a restore lost from the devices.
//!
//! # Backup
//!
//! `zoufang-server backup FILE` takes a consistent copy while the server runs. On SQLite it is
//! `VACUUM INTO`: one read transaction, so one WAL snapshot in which every committed sync is
//! whole (documents, log, counter and projection are written in one transaction); writers go on
//! meanwhile. The copy is written beside FILE, checked (`PRAGMA quick_check`) and renamed onto
//! it. On PostgreSQL it runs `pg_dump --format=custom` on a snapshot exported by a transaction
//! held open meanwhile (so the numbers it reports are the dump's), equally consistent.
//!
//! # Restore
//!
//! `zoufang-server restore FILE` runs with the server stopped. On SQLite it checks the backup,
//! copies it beside the database, brings its schema up to date, records a restore point in it,
//! moves the current database (with its `-wal`) aside as `DB.replaced-<time>` and renames the
//! copy into place. On PostgreSQL it `pg_restore`s into the (empty) database named by
//! `--database` and records the restore point there. `restore --mark` records a restore point
//! in a database restored by other means (`pg_restore` by hand, a disk snapshot).
//!
//! # What the restore lost, and how the devices give it back
//!
//! The restored server lacks every change that reached it after the backup. Devices hold them:
//! their own edits, and other devices' edits they pulled. The restore point tells them:
//!
//! - Its `log_id` becomes part of the scope key every sync answer carries (see
//!   [`crate::sync::log_scope_key`]). A device's next request names the old key, so the server
//!   pulls it from the start of the log (its cursor counted in a log that no longer exists), and
//!   the device, seeing the log part of the key change, offers every household again in full
//!   and re-checks its photos. The server keeps what it lacks and skips the rest.
//! - A device's own changes pass the usual rule. Other devices' changes would be refused
//!   (`forged_actor`), losing them for good when that device is gone (a lost phone). So while
//!   the restore point's recovery window is open — [`DEFAULT_WINDOW_DAYS`] days, or until an
//!   admin runs `restore --close` — a push may also carry changes under the actor of another
//!   device, accepted only when all of this holds:
//!   1. the actor belongs to a device enrolled in the restored database (revoked ones and
//!      disabled users' too: a lost phone is usually revoked, and what its user typed before is
//!      real work), never the server's actor and never an unknown one;
//!   2. the change's device label names that same device (history must not lie);
//!   3. that device's user works in the household's area (before or after the merge), or that
//!      actor already wrote to the household in the restored log;
//!   4. everything the usual rule checks: the pushing user's areas hold the household before
//!      and after, the document stays valid.
//!
//!   Each accepted change is written to `restore_recovered` (actor, its device, the device that
//!   sent it, the time the change claims) before the sync's transaction commits, and logged.
//!   Outside the window the old rule holds.
//!
//! ## Threat, and what limits it
//!
//! During the window an enrolled device can submit changes it made up under a colleague's actor:
//! an edit that history will attribute to that colleague. Nothing in an Automerge change proves
//! who made it (changes are not signed), so a genuine lost change and such a forgery look alike.
//! What limits it:
//! - only actors of devices the restored server already knew, whose users work in (or already
//!   wrote to) that household — not the server's actor (reviewers' decisions cannot be forged),
//!   not invented actors, not households outside both users' areas;
//! - every such change is recorded with the device that actually sent it;
//!   `zoufang-server restore --status` lists them and flags any that claims a time after the
//!   restore (a genuine lost change predates it);
//! - the window is short and closes as soon as the devices have resynced (`--status` lists the
//!   enrolled devices that have not synced since the restore).
//!
//! A forged next change under a colleague's actor also takes that actor's next sequence number
//! in the household, so the colleague's own next change there is refused as a duplicate: the
//! audit rows name the household and the sender.
//!
//! A simpler rule would need proof of authorship (signed changes, or a journal of changes kept
//! outside the database); neither exists today, hence the window.
//!
//! ## What cannot come back
//!
//! - The server's own changes after the backup (reviewers' decisions, `household set`): no
//!   device may send changes under the server's actor. A device holding one cannot re-send that
//!   household at all (the push of it is refused whole, `lost_server_change` during the window,
//!   its own edits there included), and the decision taken again on the server is a new change
//!   under the server's actor with the lost one's sequence number, which that device cannot
//!   apply (Automerge: duplicate sequence number; it keeps its copy). Such households need a
//!   hand; writing under a fresh server actor after each restore would remove the second half.
//! - Changes of a device enrolled after the backup that never enrolls again (its actor is
//!   unknown to the restored server); a device that is still in use enrolls again.
//! - Accounts, enrollments, revocations and area changes made after the backup: redo them.
//! - Photos of a lost device that only it had uploaded.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteLockingMode};
use sqlx::{ConnectOptions, Connection};

use crate::storage::postgres::PgDb;
use crate::storage::sqlite::SqliteDb;
use crate::storage::{AnyDb, DbError};

/// How long a recovery window stays open unless an admin closes it.
pub const DEFAULT_WINDOW_DAYS: i64 = 14;

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

type PointRow = (
    i64,
    String,
    DateTime<Utc>,
    i64,
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

fn point_from(row: PointRow) -> RestorePoint {
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
fn new_log_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

/// One SQL text for both backends (placeholders written by `QueryBuilder`), as in
/// `storage::projection_sql`; `$begin` opens a write transaction (on SQLite it takes the write
/// lock up front, see `storage::sqlite`).
macro_rules! recovery_sql {
    ($ty:ty, $db:ty, $begin:expr) => {
        impl RecoveryStore for $ty {
            async fn restore_point(&self) -> Result<Option<RestorePoint>, DbError> {
                let row: Option<PointRow> = sqlx::QueryBuilder::<$db>::new(
                    "SELECT id, log_id, restored_at, seq, source, window_until, closed_at
                     FROM restore_points ORDER BY id DESC LIMIT 1",
                )
                .build_query_as()
                .fetch_optional(self.pool())
                .await?;
                Ok(row.map(point_from))
            }

            async fn open_restore_point(
                &self,
                source: &str,
                window: Duration,
            ) -> Result<RestorePoint, DbError> {
                let now = Utc::now();
                let mut tx = self.pool().begin_with($begin).await?;
                let seq: i64 = sqlx::QueryBuilder::<$db>::new(
                    "SELECT seq FROM sync_state WHERE id = 1",
                )
                .build_query_scalar()
                .fetch_one(&mut *tx)
                .await?;
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO restore_points (log_id, restored_at, seq, source, window_until)
                     VALUES (",
                );
                let mut values = qb.separated(", ");
                values.push_bind(new_log_id());
                values.push_bind(now);
                values.push_bind(seq);
                values.push_bind(source.to_owned());
                values.push_bind(now + window);
                qb.push(
                    ") RETURNING id, log_id, restored_at, seq, source, window_until, closed_at",
                );
                let row: PointRow = qb.build_query_as().fetch_one(&mut *tx).await?;
                tx.commit().await?;
                Ok(point_from(row))
            }

            async fn close_restore_point(&self) -> Result<Option<RestorePoint>, DbError> {
                let mut qb = sqlx::QueryBuilder::<$db>::new("UPDATE restore_points SET closed_at = ");
                qb.push_bind(Utc::now()).push(
                    " WHERE closed_at IS NULL
                      AND id = (SELECT max(id) FROM restore_points)",
                );
                qb.build().execute(self.pool()).await?;
                self.restore_point().await
            }

            async fn actor_devices(&self, actors: &[String]) -> Result<Vec<ActorDevice>, DbError> {
                let mut found = Vec::new();
                for chunk in actors.chunks(500) {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "SELECT d.actor, d.id, d.revoked, u.id, u.username
                         FROM devices d JOIN users u ON u.id = d.user_id
                         WHERE d.actor IN (",
                    );
                    let mut list = qb.separated(", ");
                    for a in chunk {
                        list.push_bind(a.clone());
                    }
                    qb.push(")");
                    let rows: Vec<(String, String, bool, i64, String)> =
                        qb.build_query_as().fetch_all(self.pool()).await?;
                    for (actor, device_id, revoked, user_id, username) in rows {
                        let mut qb = sqlx::QueryBuilder::<$db>::new(
                            "SELECT area_code FROM user_areas WHERE user_id = ",
                        );
                        qb.push_bind(user_id).push(" ORDER BY area_code");
                        let areas: Vec<String> =
                            qb.build_query_scalar().fetch_all(self.pool()).await?;
                        found.push(ActorDevice {
                            actor,
                            device_id,
                            revoked,
                            username,
                            areas,
                        });
                    }
                }
                Ok(found)
            }

            async fn record_recovered(&self, rows: &[Recovered]) -> Result<(), DbError> {
                if rows.is_empty() {
                    return Ok(());
                }
                let now = Utc::now();
                let mut tx = self.pool().begin_with($begin).await?;
                for chunk in rows.chunks(1000) {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO restore_recovered (restore_id, household_id, hash, actor,
                         actor_device, pushed_by, change_time, at) ",
                    );
                    qb.push_values(chunk, |mut row, r| {
                        row.push_bind(r.restore_id)
                            .push_bind(r.household_id.clone())
                            .push_bind(r.hash.clone())
                            .push_bind(r.actor.clone())
                            .push_bind(r.actor_device.clone())
                            .push_bind(r.pushed_by.clone())
                            .push_bind(r.change_time)
                            .push_bind(now);
                    });
                    qb.push(" ON CONFLICT (restore_id, household_id, hash) DO NOTHING");
                    qb.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn note_resynced(&self, restore_id: i64, device_id: &str) -> Result<(), DbError> {
                // A read first: on SQLite even an insert that does nothing takes the write lock.
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "SELECT count(*) FROM restore_resynced WHERE restore_id = ",
                );
                qb.push_bind(restore_id)
                    .push(" AND device_id = ")
                    .push_bind(device_id.to_owned());
                let seen: i64 = qb.build_query_scalar().fetch_one(self.pool()).await?;
                if seen > 0 {
                    return Ok(());
                }
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO restore_resynced (restore_id, device_id, at) VALUES (",
                );
                let mut values = qb.separated(", ");
                values.push_bind(restore_id);
                values.push_bind(device_id.to_owned());
                values.push_bind(Utc::now());
                qb.push(") ON CONFLICT (restore_id, device_id) DO NOTHING");
                qb.build().execute(self.pool()).await?;
                Ok(())
            }

            async fn recovery_status(&self, restore_id: i64) -> Result<RecoveryStatus, DbError> {
                type Row = (
                    String,
                    String,
                    String,
                    String,
                    String,
                    Option<DateTime<Utc>>,
                    DateTime<Utc>,
                    bool,
                );
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "SELECT r.household_id, r.hash, r.actor, r.actor_device, r.pushed_by,
                            r.change_time, r.at,
                            EXISTS (SELECT 1 FROM changes c
                                    WHERE c.household_id = r.household_id AND c.hash = r.hash)
                     FROM restore_recovered r WHERE r.restore_id = ",
                );
                qb.push_bind(restore_id)
                    .push(" ORDER BY r.at, r.household_id, r.hash");
                let rows: Vec<Row> = qb.build_query_as().fetch_all(self.pool()).await?;
                let recovered = rows
                    .into_iter()
                    .map(
                        |(household_id, hash, actor, actor_device, pushed_by, change_time, at, stored)| {
                            RecoveredRow {
                                change: Recovered {
                                    restore_id,
                                    household_id,
                                    hash,
                                    actor,
                                    actor_device,
                                    pushed_by,
                                    change_time,
                                },
                                at,
                                stored,
                            }
                        },
                    )
                    .collect();
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "SELECT d.id, u.username, d.name, d.revoked, r.at
                     FROM devices d JOIN users u ON u.id = d.user_id
                     LEFT JOIN restore_resynced r ON r.device_id = d.id AND r.restore_id = ",
                );
                qb.push_bind(restore_id).push(" ORDER BY u.username, d.id");
                let rows: Vec<(String, String, String, bool, Option<DateTime<Utc>>)> =
                    qb.build_query_as().fetch_all(self.pool()).await?;
                let devices = rows
                    .into_iter()
                    .map(|(device_id, username, name, revoked, resynced_at)| DeviceResync {
                        device_id,
                        username,
                        name,
                        revoked,
                        resynced_at,
                    })
                    .collect();
                Ok(RecoveryStatus { recovered, devices })
            }
        }
    };
}

recovery_sql!(SqliteDb, sqlx::Sqlite, "BEGIN IMMEDIATE");
recovery_sql!(PgDb, sqlx::Postgres, "BEGIN");

macro_rules! delegate {
    ($self:ident, $db:ident => $call:expr) => {
        match $self {
            AnyDb::Sqlite($db) => $call.await,
            AnyDb::Postgres($db) => $call.await,
        }
    };
}

impl RecoveryStore for AnyDb {
    async fn restore_point(&self) -> Result<Option<RestorePoint>, DbError> {
        delegate!(self, db => db.restore_point())
    }
    async fn open_restore_point(
        &self,
        source: &str,
        window: Duration,
    ) -> Result<RestorePoint, DbError> {
        delegate!(self, db => db.open_restore_point(source, window))
    }
    async fn close_restore_point(&self) -> Result<Option<RestorePoint>, DbError> {
        delegate!(self, db => db.close_restore_point())
    }
    async fn actor_devices(&self, actors: &[String]) -> Result<Vec<ActorDevice>, DbError> {
        delegate!(self, db => db.actor_devices(actors))
    }
    async fn record_recovered(&self, rows: &[Recovered]) -> Result<(), DbError> {
        delegate!(self, db => db.record_recovered(rows))
    }
    async fn note_resynced(&self, restore_id: i64, device_id: &str) -> Result<(), DbError> {
        delegate!(self, db => db.note_resynced(restore_id, device_id))
    }
    async fn recovery_status(&self, restore_id: i64) -> Result<RecoveryStatus, DbError> {
        delegate!(self, db => db.recovery_status(restore_id))
    }
}

// --- backup and restore of the files

/// Where the database is, as the server's `--database` names it.
enum Target {
    Sqlite(PathBuf),
    Postgres(String),
}

fn target(database: &str) -> Result<Target, String> {
    if database.starts_with("postgres://") || database.starts_with("postgresql://") {
        return Ok(Target::Postgres(database.to_owned()));
    }
    if database.starts_with("sqlite:") {
        let options =
            SqliteConnectOptions::from_str(database).map_err(|e| format!("数据库地址无效:{e}"))?;
        return Ok(Target::Sqlite(options.get_filename().to_owned()));
    }
    Ok(Target::Sqlite(PathBuf::from(database)))
}

/// What a backup holds, as read back from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSummary {
    pub households: i64,
    /// The change log's counter in the backup.
    pub seq: i64,
    pub bytes: u64,
}

/// Writes a consistent backup of `database` to `file` (replacing it), while the server may
/// run.
pub async fn backup(database: &str, file: &Path) -> Result<BackupSummary, String> {
    match target(database)? {
        Target::Sqlite(path) => backup_sqlite(&path, file).await,
        Target::Postgres(url) => backup_postgres(&url, file).await,
    }
}

/// `NAME.suffix` beside `path`.
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(suffix);
    path.with_file_name(name)
}

fn sync_file_and_dir(path: &Path) -> std::io::Result<()> {
    std::fs::File::open(path)?.sync_all()?;
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        // Makes the rename durable; not every platform can open a directory.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

fn remove_if_present(path: &Path) -> Result<(), String> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("无法删除 {}:{e}", path.display())),
    }
}

/// Removes an SQLite file with its `-wal` and `-shm`.
fn remove_sqlite_files(path: &Path) -> Result<(), String> {
    remove_if_present(path)?;
    remove_if_present(&beside(path, "-wal"))?;
    remove_if_present(&beside(path, "-shm"))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

async fn backup_sqlite(path: &Path, file: &Path) -> Result<BackupSummary, String> {
    if !path.exists() {
        return Err(format!("数据库文件 {} 不存在", path.display()));
    }
    if same_file(path, file) {
        return Err("备份文件不能是数据库本身".into());
    }
    // A plain connection: a backup changes nothing (no migration, no journal mode).
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .busy_timeout(std::time::Duration::from_secs(5))
        .connect()
        .await
        .map_err(|e| format!("无法打开数据库:{e}"))?;
    let part = beside(file, ".part");
    remove_sqlite_files(&part)?;
    let target = part
        .to_str()
        .ok_or_else(|| format!("备份路径 {} 含有无法处理的字符", part.display()))?
        .to_owned();
    // One read transaction: a consistent snapshot while writers carry on.
    let done = sqlx::query("VACUUM INTO ?")
        .bind(target)
        .execute(&mut conn)
        .await;
    let _ = conn.close().await;
    done.map_err(|e| format!("备份失败:{e}"))?;
    let summary = check_sqlite_backup(&part).await.inspect_err(|_| {
        let _ = remove_sqlite_files(&part);
    })?;
    sync_file_and_dir(&part).map_err(|e| format!("无法写入 {}:{e}", part.display()))?;
    std::fs::rename(&part, file).map_err(|e| format!("无法写入 {}:{e}", file.display()))?;
    sync_file_and_dir(file).map_err(|e| format!("无法写入 {}:{e}", file.display()))?;
    Ok(summary)
}

/// Opens an SQLite backup read-only and checks that it is whole and a server database.
async fn check_sqlite_backup(path: &Path) -> Result<BackupSummary, String> {
    let bad = |why: String| format!("{} 不是有效的服务器备份:{why}", path.display());
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .connect()
        .await
        .map_err(|e| bad(e.to_string()))?;
    let checked = async {
        let check: String = sqlx::query_scalar("PRAGMA quick_check")
            .fetch_one(&mut conn)
            .await?;
        let tables: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'
             AND name IN ('_sqlx_migrations', 'households', 'changes', 'sync_state', 'devices')",
        )
        .fetch_one(&mut conn)
        .await?;
        if check != "ok" || tables != 5 {
            return Ok::<_, sqlx::Error>(Err(if check == "ok" {
                "缺少服务器的数据表".to_owned()
            } else {
                format!("完整性检查未通过:{check}")
            }));
        }
        let households: i64 = sqlx::query_scalar("SELECT count(*) FROM households")
            .fetch_one(&mut conn)
            .await?;
        let seq: i64 = sqlx::query_scalar("SELECT seq FROM sync_state WHERE id = 1")
            .fetch_one(&mut conn)
            .await?;
        Ok(Ok((households, seq)))
    }
    .await;
    let _ = conn.close().await;
    let (households, seq) = checked.map_err(|e| bad(e.to_string()))?.map_err(bad)?;
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    Ok(BackupSummary {
        households,
        seq,
        bytes,
    })
}

/// A PostgreSQL URL without its password, and the password (for `PGPASSWORD`): a password on
/// the command line of `pg_dump` would show in every process list.
fn split_password(url: &str) -> (String, Option<String>) {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return (url.to_owned(), None);
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return (url.to_owned(), None);
    };
    let userinfo = &authority[..at];
    let Some(colon) = userinfo.find(':') else {
        return (url.to_owned(), None);
    };
    let password = percent_decode(&userinfo[colon + 1..]);
    let stripped = format!(
        "{}{}{}",
        &url[..scheme_end],
        &userinfo[..colon],
        &url[scheme_end + at..]
    );
    (stripped, Some(password))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Runs a PostgreSQL client program on `url`; its error output becomes the error.
async fn pg_tool(program: &str, args: &[&str], url: &str) -> Result<String, String> {
    let (url, password) = split_password(url);
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .arg(format!("--dbname={url}"))
        .stdin(Stdio::null());
    if let Some(p) = password {
        command.env("PGPASSWORD", p);
    }
    let out = command.output().await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            format!(
                "找不到 {program}:请安装 PostgreSQL 客户端(与数据库服务器同一主版本,\
                 如 Debian 的 postgresql-client)"
            )
        } else {
            format!("无法运行 {program}:{e}")
        }
    })?;
    if !out.status.success() {
        return Err(format!(
            "{program} 失败:{}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

async fn backup_postgres(url: &str, file: &Path) -> Result<BackupSummary, String> {
    let part = beside(file, ".part");
    remove_if_present(&part)?;
    // pg_dump reads the snapshot of a transaction held open here, so the numbers reported are
    // exactly those of the dump.
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .map_err(|e| format!("无法打开数据库:{e}"))?;
    let mut tx = conn.begin().await.map_err(|e| e.to_string())?;
    let snapshot = async {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let snapshot: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
            .fetch_one(&mut *tx)
            .await?;
        let households: i64 = sqlx::query_scalar("SELECT count(*) FROM households")
            .fetch_one(&mut *tx)
            .await?;
        let seq: i64 = sqlx::query_scalar("SELECT seq FROM sync_state WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        Ok::<_, sqlx::Error>((snapshot, households, seq))
    }
    .await
    .map_err(|e| format!("无法开始备份:{e}"))?;
    let (snapshot, households, seq) = snapshot;
    let part_arg = format!("--file={}", part.display());
    let snapshot_arg = format!("--snapshot={snapshot}");
    let dumped = pg_tool(
        "pg_dump",
        &["--format=custom", &snapshot_arg, &part_arg],
        url,
    )
    .await;
    let _ = tx.rollback().await;
    let _ = conn.close().await;
    if let Err(e) = dumped {
        let _ = remove_if_present(&part);
        return Err(e);
    }
    // The dump must list the server's tables (pg_restore reads its table of contents).
    let list = tokio::process::Command::new("pg_restore")
        .arg("--list")
        .arg(&part)
        .output()
        .await
        .map_err(|e| format!("无法运行 pg_restore:{e}"))?;
    let toc = String::from_utf8_lossy(&list.stdout);
    if !list.status.success() || !toc.contains("TABLE DATA public households") {
        let _ = remove_if_present(&part);
        return Err(format!(
            "备份检查未通过:{}",
            String::from_utf8_lossy(&list.stderr).trim()
        ));
    }
    sync_file_and_dir(&part).map_err(|e| format!("无法写入 {}:{e}", part.display()))?;
    std::fs::rename(&part, file).map_err(|e| format!("无法写入 {}:{e}", file.display()))?;
    sync_file_and_dir(file).map_err(|e| format!("无法写入 {}:{e}", file.display()))?;
    Ok(BackupSummary {
        households,
        seq,
        bytes: std::fs::metadata(file).map(|m| m.len()).unwrap_or(0),
    })
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreSummary {
    pub point: RestorePoint,
    pub households: i64,
    /// Where the replaced SQLite database was moved (None on PostgreSQL, or when there was none).
    pub replaced: Option<PathBuf>,
}

/// Restores `file` into `database` (the server must be stopped) and records a restore point
/// with a recovery window of `window`.
pub async fn restore(
    database: &str,
    file: &Path,
    window: Duration,
) -> Result<RestoreSummary, String> {
    if !file.exists() {
        return Err(format!("备份文件 {} 不存在", file.display()));
    }
    // Recorded with the restore point: the full path says which backup it was.
    let file = &std::fs::canonicalize(file).unwrap_or_else(|_| file.to_owned());
    match target(database)? {
        Target::Sqlite(path) => restore_sqlite(&path, file, window).await,
        Target::Postgres(url) => restore_postgres(&url, file, window).await,
    }
}

/// Fails when another connection has the database open (a running server): an exclusive lock
/// cannot be had then, not even in WAL mode. Closing this connection folds a leftover WAL into
/// the file. A database that cannot be read at all (the reason to restore, perhaps) is no
/// obstacle: it is moved aside like any other.
async fn ensure_sqlite_unused(path: &Path) -> Result<(), String> {
    let busy = || {
        format!(
            "数据库 {} 正在被使用:请先停止服务器(zoufang-server serve)再恢复",
            path.display()
        )
    };
    let is_lock = |e: &sqlx::Error| {
        matches!(e, sqlx::Error::Database(d)
            if d.message().contains("locked") || d.message().contains("busy"))
    };
    let mut conn = match SqliteConnectOptions::new()
        .filename(path)
        .locking_mode(SqliteLockingMode::Exclusive)
        .busy_timeout(std::time::Duration::from_millis(500))
        .connect()
        .await
    {
        Ok(c) => c,
        Err(e) if is_lock(&e) => return Err(busy()),
        Err(e) => {
            tracing::warn!(error = %e, "the database to replace cannot be opened");
            return Ok(());
        }
    };
    let locked = async {
        sqlx::query("BEGIN EXCLUSIVE").execute(&mut conn).await?;
        sqlx::query("SELECT count(*) FROM sqlite_master")
            .execute(&mut conn)
            .await?;
        sqlx::query("ROLLBACK").execute(&mut conn).await
    }
    .await;
    let _ = conn.close().await;
    match locked {
        Err(e) if is_lock(&e) => Err(busy()),
        Err(e) => {
            tracing::warn!(error = %e, "the database to replace cannot be read");
            Ok(())
        }
        Ok(_) => Ok(()),
    }
}

async fn restore_sqlite(
    path: &Path,
    file: &Path,
    window: Duration,
) -> Result<RestoreSummary, String> {
    if same_file(path, file) {
        return Err("备份文件不能是数据库本身".into());
    }
    check_sqlite_backup(file).await?;
    if path.exists() {
        ensure_sqlite_unused(path).await?;
    }
    // Prepared beside the database, so the final rename stays on one file system.
    let part = beside(path, ".restoring");
    remove_sqlite_files(&part)?;
    std::fs::copy(file, &part).map_err(|e| format!("无法复制备份到 {}:{e}", part.display()))?;
    let prepared = prepare_restored_sqlite(&part, file, window).await;
    let (point, households) = match prepared {
        Ok(p) => p,
        Err(e) => {
            let _ = remove_sqlite_files(&part);
            return Err(e);
        }
    };
    // The database restored over is kept, with its WAL, until the admin removes it.
    let replaced = if path.exists() {
        let stamp = Utc::now().format("%Y%m%dT%H%M%SZ");
        let aside = beside(path, &format!(".replaced-{stamp}"));
        std::fs::rename(path, &aside)
            .map_err(|e| format!("无法移开原数据库 {}:{e}", path.display()))?;
        let wal = beside(path, "-wal");
        if wal.exists() {
            std::fs::rename(&wal, beside(&aside, "-wal"))
                .map_err(|e| format!("无法移开 {}:{e}", wal.display()))?;
        }
        remove_if_present(&beside(path, "-shm"))?;
        Some(aside)
    } else {
        None
    };
    std::fs::rename(&part, path).map_err(|e| format!("无法写入 {}:{e}", path.display()))?;
    sync_file_and_dir(path).map_err(|e| format!("无法写入 {}:{e}", path.display()))?;
    Ok(RestoreSummary {
        point,
        households,
        replaced,
    })
}

/// Brings a copied backup's schema up to date and records the restore point in it; leaves it
/// a single file (no WAL) ready to be renamed into place.
async fn prepare_restored_sqlite(
    part: &Path,
    file: &Path,
    window: Duration,
) -> Result<(RestorePoint, i64), String> {
    let db = SqliteDb::connect(&part.display().to_string())
        .await
        .map_err(|e| format!("无法打开备份副本:{e}"))?;
    let point = db
        .open_restore_point(&file.display().to_string(), window)
        .await;
    let households: Result<i64, _> = sqlx::query_scalar("SELECT count(*) FROM households")
        .fetch_one(db.pool())
        .await;
    db.pool().close().await;
    let point = point.map_err(|e| format!("无法记录恢复点:{e}"))?;
    let households = households.map_err(|e| e.to_string())?;
    // Out of WAL mode: everything in the one file before it is renamed.
    let mut conn = SqliteConnectOptions::new()
        .filename(part)
        .journal_mode(SqliteJournalMode::Delete)
        .connect()
        .await
        .map_err(|e| format!("无法打开备份副本:{e}"))?;
    let mode: Result<String, _> = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await;
    let _ = conn.close().await;
    let wal = beside(part, "-wal");
    if mode.as_deref().map_err(|e| e.to_string())? != "delete"
        || std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0)
    {
        return Err("备份副本未能写成单一文件".into());
    }
    remove_if_present(&wal)?;
    remove_if_present(&beside(part, "-shm"))?;
    Ok((point, households))
}

async fn restore_postgres(
    url: &str,
    file: &Path,
    window: Duration,
) -> Result<RestoreSummary, String> {
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .map_err(|e| format!("无法打开数据库:{e}"))?;
    let checks = async {
        let others: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()
               AND backend_type = 'client backend'",
        )
        .fetch_one(&mut conn)
        .await?;
        let tables: i64 =
            sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
                .fetch_one(&mut conn)
                .await?;
        Ok::<_, sqlx::Error>((others, tables))
    }
    .await;
    let _ = conn.close().await;
    let (others, tables) = checks.map_err(|e| format!("无法检查数据库:{e}"))?;
    if others > 0 {
        return Err(format!(
            "数据库还有 {others} 个其他连接:请先停止所有服务器进程再恢复"
        ));
    }
    if tables > 0 {
        return Err(
            "目标数据库不是空的:请恢复到新建的空数据库(createdb,或 dropdb 后重建),\
             再让服务器的 --database 指向它"
                .into(),
        );
    }
    let file_arg = file.display().to_string();
    pg_tool(
        "pg_restore",
        &[
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
            &file_arg,
        ],
        url,
    )
    .await?;
    let db = PgDb::connect(url)
        .await
        .map_err(|e| format!("恢复后无法打开数据库:{e}"))?;
    let point = db
        .open_restore_point(&file.display().to_string(), window)
        .await
        .map_err(|e| format!("无法记录恢复点:{e}"))?;
    let households: i64 = sqlx::query_scalar("SELECT count(*) FROM households")
        .fetch_one(db.pool())
        .await
        .map_err(|e| e.to_string())?;
    db.pool().close().await;
    Ok(RestoreSummary {
        point,
        households,
        replaced: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_leave_the_url() {
        assert_eq!(
            split_password("postgres://zf:s%40cret@db.local:5432/zoufang?sslmode=require"),
            (
                "postgres://zf@db.local:5432/zoufang?sslmode=require".to_owned(),
                Some("s@cret".to_owned())
            )
        );
        assert_eq!(
            split_password("postgres://postgres@127.0.0.1/test"),
            ("postgres://postgres@127.0.0.1/test".to_owned(), None)
        );
        assert_eq!(
            split_password("postgresql://localhost/zoufang"),
            ("postgresql://localhost/zoufang".to_owned(), None)
        );
    }

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
