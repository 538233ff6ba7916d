//! What the fault-injection suite needs beyond the proxy: a size-limited filesystem to fill up
//! under a server's database, killing a client in the middle of a command, and checking that a
//! database file survived.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// A tmpfs of a fixed size mounted on a temporary directory (needs root, or CAP_SYS_ADMIN);
/// unmounted when dropped. A file filling it makes every write on it fail with ENOSPC.
pub struct SmallFs {
    dir: tempfile::TempDir,
    filler: PathBuf,
}

impl SmallFs {
    /// Mounts a tmpfs of `megabytes`; the error says why it could not.
    pub fn mount(megabytes: u32) -> Result<SmallFs, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("run mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
        }
        let filler = dir.path().join("filler");
        Ok(SmallFs { dir, filler })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the filesystem to the last byte; returns how many bytes that took.
    pub fn fill(&self) -> u64 {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.filler)
            .expect("open the filler");
        let mut written = 0u64;
        // Big blocks first, then ever smaller ones, so that not even a page is left.
        for size in [1 << 20, 64 << 10, 4 << 10, 512, 1] {
            let block = vec![0xa5u8; size];
            while file.write_all(&block).is_ok() {
                written += size as u64;
            }
        }
        let _ = file.sync_all();
        written
    }

    /// Frees what [`Self::fill`] took.
    pub fn free(&self) {
        if self.filler.exists() {
            std::fs::remove_file(&self.filler).expect("remove the filler");
        }
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        // Lazily: a process killed a moment ago may still hold a file open on it.
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// How a command that was to be killed ended.
#[derive(Debug, Clone)]
pub struct Killed {
    /// The SIGKILL arrived while it ran (else it had already exited).
    pub killed: bool,
    pub status: std::process::ExitStatus,
    pub stdout: String,
}

/// Runs `zoufang --data DIR <args>` and sends it SIGKILL after `delay`, as when a phone's
/// battery dies, unless it ends first.
pub async fn zoufang_killed_after(data: &Path, args: &[&str], delay: Duration) -> Killed {
    let mut child = crate::client_command(data)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn zoufang");
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out).await;
        out
    });
    let killed = tokio::select! {
        _ = child.wait() => false,
        _ = tokio::time::sleep(delay) => child.start_kill().is_ok(),
    };
    let status = child.wait().await.expect("reap zoufang");
    let stdout = reader.await.unwrap_or_default();
    // start_kill succeeds on a process that exited but was not yet reaped: only a signal
    // ending says it really was killed.
    let killed = killed && std::os::unix::process::ExitStatusExt::signal(&status).is_some();
    Killed {
        killed,
        status,
        stdout,
    }
}

/// `PRAGMA integrity_check` on an SQLite file: "ok", or what is wrong.
pub async fn sqlite_integrity(path: &Path) -> String {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .busy_timeout(Duration::from_secs(10));
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        // No maintenance task (see db::ServerDb::connect).
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with(options)
        .await
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let rows: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&pool)
        .await
        .unwrap_or_else(|e| panic!("integrity_check {}: {e}", path.display()));
    pool.close().await;
    rows.join("; ")
}

/// Every household document the server stored, `(id, saved bytes)`, by id.
pub async fn server_docs(db: &crate::db::ServerDb) -> Vec<(String, Vec<u8>)> {
    const SQL: &str = "SELECT id, doc FROM households ORDER BY id";
    match db {
        crate::db::ServerDb::Sqlite(p) => sqlx::query_as(SQL).fetch_all(p).await,
        crate::db::ServerDb::Postgres(p) => sqlx::query_as(SQL).fetch_all(p).await,
    }
    .expect("read the server's documents")
}

/// The server's change log as `(household, hash)` rows.
pub async fn server_log(db: &crate::db::ServerDb) -> Vec<(String, String)> {
    const SQL: &str = "SELECT household_id, hash FROM changes ORDER BY seq";
    match db {
        crate::db::ServerDb::Sqlite(p) => sqlx::query_as(SQL).fetch_all(p).await,
        crate::db::ServerDb::Postgres(p) => sqlx::query_as(SQL).fetch_all(p).await,
    }
    .expect("read the server's change log")
}

/// Delivers a captured request (head and body, as a client sent it) to `server` once more.
pub async fn deliver(server: &str, request: &[u8]) -> crate::api::Reply {
    let end = request
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a captured request has a head")
        + 4;
    let head = String::from_utf8(request[..end].to_vec()).expect("an ASCII head");
    crate::api::raw_request(server, head, request[end..].to_vec(), false).await
}
