//! Backup and restore of the embedded SQLite database: `VACUUM INTO` a file beside the target,
//! checked and renamed into place; a restore copies the backup beside the database, brings its
//! schema up to date, records the restore point and swaps it in, keeping the old file aside.

use std::path::Path;

use chrono::{Duration, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteLockingMode};
use sqlx::{ConnectOptions, Connection};

use super::{
    BackupError, BackupSummary, RestorePoint, RestoreSummary, beside, failed, remove_if_present,
    same_file, sync_file_and_dir,
};
use zoufang_server::storage::{Backend, RecoveryStore};
use zoufang_storage_any::sqlite::SqliteDb;

/// Removes an SQLite file with its `-wal` and `-shm`.
fn remove_sqlite_files(path: &Path) -> Result<(), BackupError> {
    remove_if_present(path)?;
    remove_if_present(&beside(path, "-wal"))?;
    remove_if_present(&beside(path, "-shm"))
}

pub(super) async fn backup_sqlite(path: &Path, file: &Path) -> Result<BackupSummary, BackupError> {
    if !path.exists() {
        return Err(BackupError::Refused(format!(
            "数据库文件 {} 不存在",
            path.display()
        )));
    }
    if same_file(path, file) {
        return Err(BackupError::Refused("备份文件不能是数据库本身".into()));
    }
    // A plain connection: a backup changes nothing (no migration, no journal mode).
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .busy_timeout(std::time::Duration::from_secs(5))
        .connect()
        .await
        .map_err(failed("无法打开数据库"))?;
    let part = beside(file, ".part");
    remove_sqlite_files(&part)?;
    let target = part
        .to_str()
        .ok_or_else(|| {
            BackupError::Refused(format!("备份路径 {} 含有无法处理的字符", part.display()))
        })?
        .to_owned();
    // One read transaction: a consistent snapshot while writers carry on.
    let done = sqlx::query("VACUUM INTO ?")
        .bind(target)
        .execute(&mut conn)
        .await;
    let _ = conn.close().await;
    done.map_err(failed("备份失败"))?;
    let summary = check_sqlite_backup(&part).await.inspect_err(|_| {
        let _ = remove_sqlite_files(&part);
    })?;
    sync_file_and_dir(&part).map_err(failed(format!("无法写入 {}", part.display())))?;
    std::fs::rename(&part, file).map_err(failed(format!("无法写入 {}", file.display())))?;
    sync_file_and_dir(file).map_err(failed(format!("无法写入 {}", file.display())))?;
    Ok(summary)
}

/// Opens an SQLite backup read-only and checks that it is whole and a server database.
async fn check_sqlite_backup(path: &Path) -> Result<BackupSummary, BackupError> {
    let bad = || format!("{} 不是有效的服务器备份", path.display());
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .connect()
        .await
        .map_err(failed(bad()))?;
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
        let seq: i64 = sqlx::query_scalar(zoufang_server::storage::sql::LOG_END)
            .fetch_one(&mut conn)
            .await?;
        Ok(Ok((households, seq)))
    }
    .await;
    let _ = conn.close().await;
    let (households, seq) = checked
        .map_err(failed(bad()))?
        .map_err(|why| BackupError::Refused(format!("{}:{why}", bad())))?;
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    Ok(BackupSummary {
        households,
        seq,
        bytes,
    })
}

/// Fails when another connection has the database open (a running server): an exclusive lock
/// cannot be had then, not even in WAL mode. Closing this connection folds a leftover WAL into
/// the file. A database that cannot be read at all (the reason to restore, perhaps) is no
/// obstacle: it is moved aside like any other.
async fn ensure_sqlite_unused(path: &Path) -> Result<(), BackupError> {
    let busy = || {
        BackupError::Refused(format!(
            "数据库 {} 正在被使用:请先停止服务器(zoufang-server serve)再恢复",
            path.display()
        ))
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

pub(super) async fn restore_sqlite(
    path: &Path,
    file: &Path,
    window: Duration,
) -> Result<RestoreSummary, BackupError> {
    if same_file(path, file) {
        return Err(BackupError::Refused("备份文件不能是数据库本身".into()));
    }
    check_sqlite_backup(file).await?;
    if path.exists() {
        ensure_sqlite_unused(path).await?;
    }
    // Prepared beside the database, so the final rename stays on one file system.
    let part = beside(path, ".restoring");
    remove_sqlite_files(&part)?;
    std::fs::copy(file, &part).map_err(failed(format!("无法复制备份到 {}", part.display())))?;
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
            .map_err(failed(format!("无法移开原数据库 {}", path.display())))?;
        let wal = beside(path, "-wal");
        if wal.exists() {
            std::fs::rename(&wal, beside(&aside, "-wal"))
                .map_err(failed(format!("无法移开 {}", wal.display())))?;
        }
        remove_if_present(&beside(path, "-shm"))?;
        Some(aside)
    } else {
        None
    };
    std::fs::rename(&part, path).map_err(failed(format!("无法写入 {}", path.display())))?;
    sync_file_and_dir(path).map_err(failed(format!("无法写入 {}", path.display())))?;
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
) -> Result<(RestorePoint, i64), BackupError> {
    let db = SqliteDb::connect(&part.display().to_string())
        .await
        .map_err(failed("无法打开备份副本"))?;
    let point = db
        .open_restore_point(&file.display().to_string(), window)
        .await;
    let households: Result<i64, _> = sqlx::query_scalar("SELECT count(*) FROM households")
        .fetch_one(db.pool())
        .await;
    db.pool().close().await;
    let point = point.map_err(failed("无法记录恢复点"))?;
    let households = households.map_err(failed("无法读取备份副本"))?;
    // Out of WAL mode: everything in the one file before it is renamed.
    let mut conn = SqliteConnectOptions::new()
        .filename(part)
        .journal_mode(SqliteJournalMode::Delete)
        .connect()
        .await
        .map_err(failed("无法打开备份副本"))?;
    let mode: Result<String, _> = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await;
    let _ = conn.close().await;
    let wal = beside(part, "-wal");
    if mode.map_err(failed("无法读取备份副本"))? != "delete"
        || std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0)
    {
        return Err(BackupError::Refused("备份副本未能写成单一文件".into()));
    }
    remove_if_present(&wal)?;
    remove_if_present(&beside(part, "-shm"))?;
    Ok((point, households))
}
