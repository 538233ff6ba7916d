//! A PostgreSQL primary and its streaming standby for one test: `initdb` and `pg_basebackup` of
//! the machine's own PostgreSQL (the newest under `/usr/lib/postgresql`) into temporary
//! directories, run as the `postgres` user (the server refuses to run as root) on spare ports.
//! Both are stopped, and their files removed, when the value is dropped.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The database both hold (made on the primary before the standby is copied from it).
const DATABASE: &str = "zoufang";

pub struct Replicated {
    /// `postgres://…` of the database on the primary (read-write) and on the standby
    /// (read-only, following the primary).
    pub primary: String,
    pub standby: String,
    bin: PathBuf,
    primary_dir: PathBuf,
    standby_dir: PathBuf,
    _root: tempfile::TempDir,
}

impl Replicated {
    pub fn start() -> Replicated {
        let bin = postgres_bin();
        let root = tempfile::tempdir().expect("dir");
        as_postgres_owned(root.path());
        let primary_dir = root.path().join("primary");
        let standby_dir = root.path().join("standby");
        let (primary_port, standby_port) = (spare_port(), spare_port());
        run(
            as_postgres(&bin.join("initdb"))
                .arg("-D")
                .arg(&primary_dir)
                .args(["-U", "postgres", "--auth=trust", "-E", "UTF8"])
                .args(["--locale=C.UTF-8", "--no-sync"]),
            "initdb",
        );
        start_cluster(&bin, &primary_dir, primary_port);
        let primary = url(primary_port, "postgres");
        run(
            Command::new("psql")
                .arg(&primary)
                .args(["-v", "ON_ERROR_STOP=1", "-qc"])
                .arg(format!("CREATE DATABASE {DATABASE}")),
            "create the database",
        );
        run(
            as_postgres(&bin.join("pg_basebackup"))
                .args(["-h", "127.0.0.1", "-p", &primary_port.to_string()])
                .args(["-U", "postgres", "-R", "-X", "stream", "-c", "fast", "-D"])
                .arg(&standby_dir),
            "pg_basebackup",
        );
        start_cluster(&bin, &standby_dir, standby_port);
        Replicated {
            primary: url(primary_port, DATABASE),
            standby: url(standby_port, DATABASE),
            bin,
            primary_dir,
            standby_dir,
            _root: root,
        }
    }

    /// Waits (up to 60 s) until the standby has replayed everything the primary had written
    /// when this was called.
    pub async fn wait_caught_up(&self) {
        let written = sql(&self.primary, "SELECT pg_current_wal_lsn()");
        let check = format!("SELECT pg_last_wal_replay_lsn() >= '{written}'::pg_lsn");
        for _ in 0..600 {
            if sql(&self.standby, &check) == "t" {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("the standby did not replay up to {written} within 60 s");
    }

    /// A server on the primary reading reports from the standby. The primary is migrated
    /// (with the test areas imported) first, and the standby given the time to replay that:
    /// a server refuses a read database whose schema is behind its own, and on a busy machine
    /// the standby can still be replaying the migrations when the server starts.
    pub async fn serve(&self) -> crate::ServerProcess {
        crate::import_areas(&self.primary).await;
        self.wait_caught_up().await;
        crate::ServerProcess::spawn_with(&self.primary, &["--read-database", &self.standby]).await
    }

    /// Stops (or restarts) applying the primary's writes on the standby: what it shows stays
    /// as it is while the primary moves on.
    pub fn pause_replay(&self) {
        sql(&self.standby, "SELECT pg_wal_replay_pause()");
    }

    pub fn resume_replay(&self) {
        sql(&self.standby, "SELECT pg_wal_replay_resume()");
    }
}

impl Drop for Replicated {
    fn drop(&mut self) {
        for dir in [&self.standby_dir, &self.primary_dir] {
            let _ = as_postgres(&self.bin.join("pg_ctl"))
                .arg("-D")
                .arg(dir)
                .args(["-m", "immediate", "-w", "stop"])
                .output();
        }
    }
}

/// One value (or nothing) that `query` returns at `url`.
pub fn sql(url: &str, query: &str) -> String {
    let out = crate::run_pg_client(
        Command::new("psql")
            .arg(url)
            .args(["-v", "ON_ERROR_STOP=1", "-Atqc", query]),
        query,
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn url(port: u16, database: &str) -> String {
    format!("postgres://postgres@127.0.0.1:{port}/{database}")
}

/// The bin directory of the newest PostgreSQL installed.
fn postgres_bin() -> PathBuf {
    let versions = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL's server programs under /usr/lib/postgresql");
    versions
        .filter_map(|v| v.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .max()
        .map(|v| PathBuf::from(format!("/usr/lib/postgresql/{v}/bin")))
        .expect("a PostgreSQL version under /usr/lib/postgresql")
}

/// A port nothing listens on now (the kernel's choice, released at once).
fn spare_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a spare port")
        .port()
}

/// Runs as the `postgres` user when this process is root (PostgreSQL refuses root), as itself
/// otherwise.
fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn as_postgres_owned(dir: &Path) {
    if is_root() {
        run(
            Command::new("chown").arg("postgres:").arg(dir),
            "chown the clusters' directory",
        );
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

fn start_cluster(bin: &Path, dir: &Path, port: u16) {
    // Sockets in the cluster's own directory: the machine's server keeps /var/run/postgresql.
    let options = format!(
        "-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={} \
         -c fsync=off -c shared_buffers=16MB -c max_connections=40",
        dir.display()
    );
    run(
        as_postgres(&bin.join("pg_ctl"))
            .arg("-D")
            .arg(dir)
            .arg("-l")
            .arg(dir.join("server.log"))
            .args(["-o", &options, "-w", "-t", "60", "start"]),
        "pg_ctl start",
    );
}

fn run(command: &mut Command, what: &str) {
    let out = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
