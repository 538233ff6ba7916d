//! The real `zoufang-server` binary as a child process, its admin commands, its memory, and the
//! scratch databases it runs on.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use sqlx::{AssertSqlSafe, Connection, PgConnection};

use crate::Res;

/// The password of every account the bench creates.
pub const PASSWORD: &str = "走访-bench-password";

/// The `zoufang-server` binary: `explicit`, else the one next to this executable. Run through
/// `cargo run`, it is first brought up to date with the same profile, so the figures are never
/// those of a stale server.
pub fn binary(explicit: Option<&Path>) -> Res<PathBuf> {
    if let Some(p) = explicit {
        return if p.exists() {
            Ok(p.to_owned())
        } else {
            Err(format!("--server-bin {}: no such file", p.display()))
        };
    }
    let exe = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
    let dir = exe.parent().ok_or("own directory")?;
    let path = dir.join(format!("zoufang-server{}", std::env::consts::EXE_SUFFIX));
    if let (Ok(cargo), Some(target), Some(profile)) = (
        std::env::var("CARGO"),
        dir.parent(),
        dir.file_name().and_then(|n| n.to_str()),
    ) {
        let profile = if profile == "debug" { "dev" } else { profile };
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-p", "zoufang-server-cli", "--bin"])
            .arg("zoufang-server")
            .arg("--profile")
            .arg(profile)
            .arg("--manifest-path")
            .arg(&manifest)
            .env("CARGO_TARGET_DIR", target)
            .status()
            .map_err(|e| format!("cargo build -p zoufang-server-cli: {e}"))?;
        if !status.success() {
            return Err(format!("cargo build -p zoufang-server-cli: {status}"));
        }
    }
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "{} is not built: `cargo build -p zoufang-server-cli` with the bench's profile, or pass \
             --server-bin",
            path.display()
        ))
    }
}

/// Runs `zoufang-server --database DB <args>` to completion; its stdout, or why it failed.
pub fn admin(bin: &Path, database: &str, args: &[&str]) -> Res<String> {
    let out = Command::new(bin)
        .arg("--database")
        .arg(database)
        .args(args)
        .env("ZOUFANG_PASSWORD", PASSWORD)
        .env("ZOUFANG_LOG", "error")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("run {}: {e}", bin.display()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "zoufang-server {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Imports an area tree (CSV `code,name,parent,level`).
pub fn import_areas(bin: &Path, database: &str, csv: &str) -> Res<()> {
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let file = dir.path().join("areas.csv");
    std::fs::write(&file, csv).map_err(|e| format!("write areas: {e}"))?;
    admin(
        bin,
        database,
        &["area", "import", &file.display().to_string()],
    )?;
    Ok(())
}

/// Adds users `(username, role, area)`, two at a time (each hashes a password).
pub fn add_users(bin: &Path, database: &str, users: &[(String, &str, String)]) -> Res<()> {
    for pair in users.chunks(2) {
        let results: Vec<Res<String>> = std::thread::scope(|s| {
            let handles: Vec<_> = pair
                .iter()
                .map(|(u, role, area)| {
                    s.spawn(move || {
                        admin(
                            bin,
                            database,
                            &[
                                "user", "add", u, "--name", u, "--role", role, "--area", area,
                            ],
                        )
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err("user add panicked".into())))
                .collect()
        });
        for r in results {
            r?;
        }
    }
    Ok(())
}

/// A running `zoufang-server serve`; killed when dropped.
pub struct Server {
    child: Child,
    pub url: String,
}

/// What the server's sync batches cost, summed from its `sync batch` log events.
#[derive(Debug, Default)]
pub struct Batches {
    pub batches: AtomicU64,
    /// Commit attempts (a version conflict with another writer costs one more).
    pub attempts: AtomicU64,
    /// Household merges (a retry re-merges only the households another writer moved).
    pub merges: AtomicU64,
    /// Households written.
    pub written: AtomicU64,
}

impl Batches {
    /// The counts now: batches, attempts, merges, written.
    pub fn read(&self) -> [u64; 4] {
        [&self.batches, &self.attempts, &self.merges, &self.written].map(|a| a.load(Relaxed))
    }

    /// Adds one JSON log line if it is a `sync batch` event; other lines go to stderr.
    fn take(&self, line: &str) {
        let event: Option<serde_json::Value> = serde_json::from_str(line).ok();
        let fields = event.as_ref().map(|e| &e["fields"]);
        match fields {
            Some(f) if f["message"] == "sync batch" => {
                let n = |k: &str| f[k].as_u64().unwrap_or(0);
                self.batches.fetch_add(1, Relaxed);
                self.attempts.fetch_add(n("attempts"), Relaxed);
                self.merges.fetch_add(n("merges"), Relaxed);
                self.written.fetch_add(n("written"), Relaxed);
            }
            _ => eprintln!("{line}"),
        }
    }
}

impl Server {
    /// Starts serving `database` on a free loopback port; returns once it listens.
    pub fn start(bin: &Path, database: &str) -> Res<Server> {
        Self::launch(bin, database, None)
    }

    /// [`Server::start`], counting what its sync batches cost into `batches`.
    pub fn start_counting(bin: &Path, database: &str, batches: Arc<Batches>) -> Res<Server> {
        Self::launch(bin, database, Some(batches))
    }

    fn launch(bin: &Path, database: &str, batches: Option<Arc<Batches>>) -> Res<Server> {
        let mut cmd = Command::new(bin);
        cmd.arg("--database")
            .arg(database)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("ZOUFANG_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if batches.is_some() {
            cmd.args(["--log-format", "json"])
                .env("ZOUFANG_LOG", "error,zoufang_server::sync=debug")
                .stderr(Stdio::piped());
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("start {}: {e}", bin.display()))?;
        if let (Some(batches), Some(stderr)) = (batches, child.stderr.take()) {
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    batches.take(&line);
                }
            });
        }
        let stdout = child.stdout.take().ok_or("server stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if !sent && let Some(i) = line.find("http://") {
                    let _ = tx.send(line[i..].trim().trim_end_matches('/').to_owned());
                    sent = true;
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => Ok(Server { child, url }),
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
                Err(format!(
                    "zoufang-server did not start listening within 60 s ({status})"
                ))
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's peak resident memory (VmHWM) in bytes.
    pub fn peak_rss(&self) -> Option<u64> {
        peak_rss_of(&format!("/proc/{}/status", self.pid()))
    }

    /// The server's resident memory now (VmRSS) in bytes.
    pub fn rss(&self) -> Option<u64> {
        status_bytes(&format!("/proc/{}/status", self.pid()), "VmRSS:")
    }

    /// CPU time the server has used so far, in seconds.
    pub fn cpu_seconds(&self) -> Option<f64> {
        cpu_seconds_of(&format!("/proc/{}/stat", self.pid()))
    }

    /// Sets the peak back to the current resident size, so the next reading covers only what
    /// follows (`clear_refs` 5, Linux ≥ 4.0). False where the kernel does not allow it.
    pub fn reset_peak_rss(&self) -> bool {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid()), "5").is_ok()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU seconds used so far by every `postgres` process of the machine (the server, its
/// backends and background workers); `None` without /proc.
pub fn postgres_cpu() -> Option<f64> {
    let mut total = 0.0;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let stat = entry.path().join("stat");
        let Ok(text) = std::fs::read_to_string(&stat) else {
            continue;
        };
        if text.contains("(postgres)") {
            total += cpu_seconds_of(&stat.display().to_string()).unwrap_or(0.0);
        }
    }
    Some(total)
}

/// User + system CPU time of a process from its `/proc/…/stat` file, in seconds.
pub fn cpu_seconds_of(stat_file: &str) -> Option<f64> {
    let s = std::fs::read_to_string(stat_file).ok()?;
    // Fields after the parenthesised name, from the state (field 3) on; utime and stime are
    // fields 14 and 15, in USER_HZ ticks (100 a second on Linux).
    let f: Vec<&str> = s.get(s.rfind(')')? + 1..)?.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// VmHWM (peak resident memory) of a `/proc/…/status` file, in bytes.
pub fn peak_rss_of(status_file: &str) -> Option<u64> {
    status_bytes(status_file, "VmHWM:")
}

/// A `kB` line of a `/proc/…/status` file, in bytes.
fn status_bytes(status_file: &str, key: &str) -> Option<u64> {
    std::fs::read_to_string(status_file)
        .ok()?
        .lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse::<u64>()
        .ok()
        .map(|kb| kb * 1024)
}

/// A database for one server: an SQLite file in a temporary directory, or a scratch PostgreSQL
/// database dropped when this is dropped.
pub enum ScratchDb {
    Sqlite {
        dir: tempfile::TempDir,
        url: String,
    },
    Postgres {
        admin: String,
        name: String,
        url: String,
    },
}

impl ScratchDb {
    pub fn sqlite() -> Res<ScratchDb> {
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let url = dir
            .path()
            .join("server.db")
            .to_str()
            .ok_or("temporary path is not UTF-8")?
            .to_owned();
        Ok(ScratchDb::Sqlite { dir, url })
    }

    /// Creates `zf_bench_<random>` on the server of `admin` (a `postgres://` URL).
    pub async fn postgres(admin: &str) -> Res<ScratchDb> {
        let name = format!("zf_bench_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(admin)
            .await
            .map_err(|e| format!("connect to {admin}: {e}"))?;
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .map_err(|e| format!("CREATE DATABASE {name}: {e}"))?;
        let _ = conn.close().await;
        Ok(ScratchDb::Postgres {
            url: with_database(admin, &name),
            admin: admin.to_owned(),
            name,
        })
    }

    pub fn url(&self) -> &str {
        match self {
            ScratchDb::Sqlite { url, .. } | ScratchDb::Postgres { url, .. } => url,
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, ScratchDb::Postgres { .. })
    }

    pub fn backend(&self) -> &'static str {
        match self {
            ScratchDb::Sqlite { .. } => "SQLite",
            ScratchDb::Postgres { .. } => "PostgreSQL",
        }
    }

    /// Size on disk: the SQLite file and its WAL, or `pg_database_size`.
    pub async fn size(&self) -> Option<u64> {
        match self {
            ScratchDb::Sqlite { dir, .. } => {
                let len = |n: &str| std::fs::metadata(dir.path().join(n)).map_or(0, |m| m.len());
                Some(len("server.db") + len("server.db-wal"))
            }
            ScratchDb::Postgres { url, .. } => {
                let mut c = PgConnection::connect(url).await.ok()?;
                let size: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
                    .fetch_one(&mut c)
                    .await
                    .ok()?;
                let _ = c.close().await;
                u64::try_from(size).ok()
            }
        }
    }
}

impl ScratchDb {
    /// Brings PostgreSQL's planner statistics up to date, as autovacuum does on a server that
    /// has been running (it looks every minute; a bench round comes seconds after the tables
    /// were created empty). With the statistics of empty tables PostgreSQL plans a projection
    /// delete by household as a walk of the whole county's rows. SQLite plans without them.
    pub async fn analyze(&self) -> Res<()> {
        let ScratchDb::Postgres { url, .. } = self else {
            return Ok(());
        };
        let mut c = PgConnection::connect(url)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        sqlx::query("ANALYZE")
            .execute(&mut c)
            .await
            .map_err(|e| format!("ANALYZE: {e}"))?;
        let _ = c.close().await;
        Ok(())
    }

    /// PostgreSQL's write-ahead log position, in bytes since its start (`None` on SQLite, whose
    /// WAL file is checkpointed and reused, so its size says nothing of what was written).
    pub async fn wal_position(&self) -> Option<u64> {
        let ScratchDb::Postgres { url, .. } = self else {
            return None;
        };
        let mut c = PgConnection::connect(url).await.ok()?;
        let at: i64 =
            sqlx::query_scalar("SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint")
                .fetch_one(&mut c)
                .await
                .ok()?;
        let _ = c.close().await;
        u64::try_from(at).ok()
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        let ScratchDb::Postgres { admin, name, .. } = self else {
            return;
        };
        let (admin, name) = (admin.clone(), name.clone());
        // Dropped from async code too: a thread of its own with a runtime of its own.
        let dropped = std::thread::spawn(move || -> Res<()> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                let mut conn = PgConnection::connect(&admin)
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::query(AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
                Ok(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("bench: could not drop the scratch database {}", self.url());
        }
    }
}

pub use zoufang_storage_any::postgres::with_database;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_database_name() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://h/test?sslmode=disable", "x"),
            "postgres://h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    }
}
