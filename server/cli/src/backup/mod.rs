//! Backup and restore of the server's database (`zoufang-server backup` / `restore`), and the
//! restore points that let devices give back what a restore lost. What each does, the recovery
//! window and its threat model are set out in `docs/restore.md`; the rules a sync applies during
//! the window live in `zoufang_server::sync`'s `recovery`. This module keeps the file operations common to
//! both backends; `sqlite` and `postgres` hold each one's backup and restore.

mod postgres;
mod sqlite;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::Duration;
use sqlx::sqlite::SqliteConnectOptions;

use postgres::{backup_postgres, restore_postgres};
use sqlite::{backup_sqlite, restore_sqlite};
pub use zoufang_server::storage::{RecoveryStore, RestorePoint};

/// How long a recovery window stays open unless an admin closes it.
pub const DEFAULT_WINDOW_DAYS: i64 = 14;

/// Why a backup or restore was not done. The message is for the operator; a failed step keeps
/// its cause as the error's source.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Not possible as asked (a missing file, a database in use, a target not empty): the
    /// message says what to do.
    #[error("{0}")]
    Refused(String),
    /// `pg_dump` or `pg_restore` failed; the message carries its error output.
    #[error("{0}")]
    Tool(String),
    #[error("{step}")]
    Failed {
        step: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// The error for a step that failed with `source`.
fn failed<E>(step: impl Into<String>) -> impl FnOnce(E) -> BackupError
where
    E: std::error::Error + Send + Sync + 'static,
{
    let step = step.into();
    move |source| BackupError::Failed {
        step,
        source: Box::new(source),
    }
}

/// Where the database is, as the server's `--database` names it.
enum Target {
    Sqlite(PathBuf),
    Postgres(String),
}

fn target(database: &str) -> Result<Target, BackupError> {
    if zoufang_server::storage::is_postgres(database) {
        return Ok(Target::Postgres(database.to_owned()));
    }
    if database.starts_with("sqlite:") {
        let options = SqliteConnectOptions::from_str(database).map_err(failed("数据库地址无效"))?;
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
pub async fn backup(database: &str, file: &Path) -> Result<BackupSummary, BackupError> {
    match target(database)? {
        Target::Sqlite(path) => backup_sqlite(&path, file).await,
        Target::Postgres(url) => backup_postgres(&url, file).await,
    }
}

/// `NAME.suffix` beside `path`.
pub(crate) fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(suffix);
    path.with_file_name(name)
}

pub(crate) fn sync_file_and_dir(path: &Path) -> std::io::Result<()> {
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

pub(crate) fn remove_if_present(path: &Path) -> Result<(), BackupError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(failed(format!("无法删除 {}", path.display()))(e)),
    }
}

pub(crate) fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
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
) -> Result<RestoreSummary, BackupError> {
    if !file.exists() {
        return Err(BackupError::Refused(format!(
            "备份文件 {} 不存在",
            file.display()
        )));
    }
    // Recorded with the restore point: the full path says which backup it was.
    let file = &std::fs::canonicalize(file).unwrap_or_else(|_| file.to_owned());
    match target(database)? {
        Target::Sqlite(path) => restore_sqlite(&path, file, window).await,
        Target::Postgres(url) => restore_postgres(&url, file, window).await,
    }
}
