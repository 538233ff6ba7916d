//! Backup and restore of PostgreSQL with its own tools: `pg_dump --format=custom` on a snapshot
//! exported by a transaction held open meanwhile, and `pg_restore` into an empty database.

use std::path::Path;
use std::process::Stdio;

use chrono::Duration;
use sqlx::Connection;

use super::{
    BackupError, BackupSummary, RestoreSummary, beside, failed, remove_if_present,
    sync_file_and_dir,
};
use zoufang_server::storage::{Backend, RecoveryStore};
use zoufang_storage_any::postgres::PgDb;

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
async fn pg_tool(program: &str, args: &[&str], url: &str) -> Result<String, BackupError> {
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
            BackupError::Refused(format!(
                "找不到 {program}:请安装 PostgreSQL 客户端(与数据库服务器同一主版本,\
                 如 Debian 的 postgresql-client)"
            ))
        } else {
            failed(format!("无法运行 {program}"))(e)
        }
    })?;
    if !out.status.success() {
        return Err(BackupError::Tool(format!(
            "{program} 失败:{}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub(super) async fn backup_postgres(url: &str, file: &Path) -> Result<BackupSummary, BackupError> {
    let part = beside(file, ".part");
    remove_if_present(&part)?;
    // pg_dump reads the snapshot of a transaction held open here, so the numbers reported are
    // exactly those of the dump.
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .map_err(failed("无法打开数据库"))?;
    let mut tx = conn.begin().await.map_err(failed("无法开始备份"))?;
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
        let seq: i64 = sqlx::query_scalar(zoufang_server::storage::sql::LOG_END)
            .fetch_one(&mut *tx)
            .await?;
        Ok::<_, sqlx::Error>((snapshot, households, seq))
    }
    .await
    .map_err(failed("无法开始备份"))?;
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
        .map_err(failed("无法运行 pg_restore"))?;
    let toc = String::from_utf8_lossy(&list.stdout);
    if !list.status.success() || !toc.contains("TABLE DATA public households") {
        let _ = remove_if_present(&part);
        return Err(BackupError::Tool(format!(
            "备份检查未通过:{}",
            String::from_utf8_lossy(&list.stderr).trim()
        )));
    }
    sync_file_and_dir(&part).map_err(failed(format!("无法写入 {}", part.display())))?;
    std::fs::rename(&part, file).map_err(failed(format!("无法写入 {}", file.display())))?;
    sync_file_and_dir(file).map_err(failed(format!("无法写入 {}", file.display())))?;
    Ok(BackupSummary {
        households,
        seq,
        bytes: std::fs::metadata(file).map(|m| m.len()).unwrap_or(0),
    })
}

pub(super) async fn restore_postgres(
    url: &str,
    file: &Path,
    window: Duration,
) -> Result<RestoreSummary, BackupError> {
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .map_err(failed("无法打开数据库"))?;
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
    let (others, tables) = checks.map_err(failed("无法检查数据库"))?;
    if others > 0 {
        return Err(BackupError::Refused(format!(
            "数据库还有 {others} 个其他连接:请先停止所有服务器进程再恢复"
        )));
    }
    if tables > 0 {
        return Err(BackupError::Refused(
            "目标数据库不是空的:请恢复到新建的空数据库(createdb,或 dropdb 后重建),\
             再让服务器的 --database 指向它"
                .into(),
        ));
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
        .map_err(failed("恢复后无法打开数据库"))?;
    let point = db
        .open_restore_point(&file.display().to_string(), window)
        .await
        .map_err(failed("无法记录恢复点"))?;
    let households: i64 = sqlx::query_scalar("SELECT count(*) FROM households")
        .fetch_one(db.pool())
        .await
        .map_err(failed("恢复后无法读取数据库"))?;
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
}
