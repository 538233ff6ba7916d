//! The end-to-end harness: real `zoufang` processes on loopback ports, driven through a real
//! headless Chromium (chromedriver) at a phone's viewport.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A workspace binary, built next to this test executable (target/<profile>/).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built; run the tests with `cargo nextest run --workspace`",
        path.display()
    );
    path
}

/// Runs `zoufang --data DIR <args>` to completion; returns (status, stdout, stderr).
pub async fn zoufang(data: &Path, args: &[&str]) -> (std::process::ExitStatus, String, String) {
    let out = Command::new(bin("zoufang"))
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .await
        .expect("run zoufang");
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A running `zoufang serve`.
pub struct ClientProcess {
    child: Child,
    pub url: String,
}

impl ClientProcess {
    /// Starts the client's web UI on a free loopback port and waits until it listens.
    pub async fn start(data: &Path) -> ClientProcess {
        Self::start_with(data, &[]).await
    }

    /// As [`Self::start`], with more arguments to `serve` (e.g. `--demo`).
    pub async fn start_with(data: &Path, serve_args: &[&str]) -> ClientProcess {
        let mut child = Command::new(bin("zoufang"))
            .arg("--data")
            .arg(data)
            .args(["serve", "--port", "0"])
            .args(serve_args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn zoufang serve");
        let url = read_url(&mut child).await;
        ClientProcess { child, url }
    }

    /// SIGKILL: no chance to flush or clean up, as when a phone's battery dies.
    pub async fn kill(mut self) {
        self.child.start_kill().expect("kill");
        self.child.wait().await.expect("reap");
    }
}

/// A headless Chromium driven over WebDriver.
pub struct Browser {
    driver: Child,
    pub client: Client,
    _profile: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl Browser {
    /// A phone-sized browser: `width`×`height` CSS pixels.
    pub async fn start(width: u32, height: u32) -> Browser {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver (Debian package chromium-driver) must be installed");
        let profile = tempfile::tempdir().expect("profile dir");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--disable-extensions",
                    format!("--user-data-dir={}", profile.path().display()),
                    format!("--window-size={width},{height}"),
                ],
                "mobileEmulation": {
                    "deviceMetrics": { "width": width, "height": height, "pixelRatio": 3.0 }
                }
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut last_error = String::new();
        for _ in 0..100 {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    return Browser {
                        driver,
                        client,
                        _profile: profile,
                    };
                }
                Err(e) => last_error = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("could not start a browser session: {last_error}");
    }

    pub async fn close(mut self) {
        let _ = self.client.close().await;
        let _ = self.driver.start_kill();
    }
}

/// A running `zoufang-server serve`, on a database of its own.
pub struct ServerProcess {
    child: Child,
    pub url: String,
    pub database: String,
}

/// Runs `zoufang-server --database DB <args>` (password in the environment for `user add`).
pub async fn zoufang_server(
    database: &str,
    args: &[&str],
) -> (std::process::ExitStatus, String, String) {
    let out = Command::new(bin("zoufang-server"))
        .arg("--database")
        .arg(database)
        .args(args)
        .env("ZOUFANG_PASSWORD", TEST_PASSWORD)
        .output()
        .await
        .expect("run zoufang-server");
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub const TEST_PASSWORD: &str = "走访-test-password";

/// The demo county: 凤庆县 with two townships, and villages in each.
pub const AREAS_CSV: &str = "code,name,parent,level
530921,凤庆县,,county
530921100,诗礼乡,530921,township
530921100201,三合村,530921100,village
530921100202,孔兴村,530921100,village
530921200,小湾镇,530921,township
530921200201,锦秀村,530921200,village
";

impl ServerProcess {
    /// Starts a server on `database` with the test areas imported.
    pub async fn start(database: &str) -> ServerProcess {
        let dir = tempfile::tempdir().expect("dir");
        let areas = dir.path().join("areas.csv");
        std::fs::write(&areas, AREAS_CSV).expect("areas");
        let (status, _, err) =
            zoufang_server(database, &["area", "import", &areas.display().to_string()]).await;
        assert!(status.success(), "area import: {err}");
        Self::spawn(database).await
    }

    /// Starts (or restarts) a server on an already prepared database.
    pub async fn spawn(database: &str) -> ServerProcess {
        let mut child = Command::new(bin("zoufang-server"))
            .arg("--database")
            .arg(database)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("ZOUFANG_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn zoufang-server");
        let url = read_url(&mut child).await;
        ServerProcess {
            child,
            url,
            database: database.to_owned(),
        }
    }

    /// Adds a user working in `areas`.
    pub async fn add_user(&self, username: &str, name: &str, role: &str, areas: &[&str]) {
        let mut args = vec!["user", "add", username, "--name", name, "--role", role];
        for a in areas {
            args.extend(["--area", a]);
        }
        let (status, _, err) = zoufang_server(&self.database, &args).await;
        assert!(status.success(), "user add {username}: {err}");
    }

    pub async fn kill(mut self) {
        self.child.start_kill().expect("kill");
        self.child.wait().await.expect("reap");
    }
}

/// Reads a child's stdout until it prints the URL it serves on.
async fn read_url(child: &mut Child) -> String {
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let url = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.expect("read stdout") {
            if let Some(i) = line.find("http://") {
                return line[i..].trim().trim_end_matches('/').to_owned();
            }
        }
        panic!("process exited before listening");
    })
    .await
    .expect("did not start listening within 30 s");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    url
}

/// A database for one test: an SQLite file in a temporary directory, or a fresh PostgreSQL
/// database (dropped when this is dropped) on the local server.
pub struct TestDb {
    pub url: String,
    pg_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

/// The PostgreSQL server tests use: `ZOUFANG_TEST_PG`, else the local one (trust auth).
pub fn pg_admin_url() -> String {
    std::env::var("ZOUFANG_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn psql(sql: &str) {
    let out = std::process::Command::new("psql")
        .arg(pg_admin_url())
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .output()
        .expect("psql (PostgreSQL client) must be installed");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("dir");
        TestDb {
            url: dir.path().join("server.db").display().to_string(),
            pg_name: None,
            _dir: Some(dir),
        }
    }

    pub fn postgres() -> TestDb {
        let name = format!("zf_e2e_{}", uuid_like());
        psql(&format!("CREATE DATABASE {name}"));
        let base = pg_admin_url();
        let url = match base.rfind('/') {
            Some(i) => format!("{}/{name}", &base[..i]),
            None => panic!("bad PostgreSQL URL {base}"),
        };
        TestDb {
            url,
            pg_name: Some(name),
            _dir: None,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = &self.pg_name {
            psql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{:x}{:x}", nanos, std::process::id())
}

/// A field device: its own data directory, initialised and enrolled with a server.
pub struct Device {
    pub data: tempfile::TempDir,
}

impl Device {
    pub async fn enrolled(server: &ServerProcess, username: &str) -> Device {
        let data = tempfile::tempdir().expect("device dir");
        let (status, _, err) = zoufang(
            data.path(),
            &["init", "--user-id", username, "--user-name", username],
        )
        .await;
        assert!(status.success(), "init: {err}");
        let out = Command::new(bin("zoufang"))
            .arg("--data")
            .arg(data.path())
            .args(["enroll", "--server", &server.url, "--username", username])
            .env("ZOUFANG_PASSWORD", TEST_PASSWORD)
            .output()
            .await
            .expect("enroll");
        assert!(
            out.status.success(),
            "enroll {username}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Device { data }
    }

    pub async fn run(&self, args: &[&str]) -> (std::process::ExitStatus, String, String) {
        zoufang(self.data.path(), args).await
    }

    /// Runs a command that must succeed; returns its stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        let (status, out, err) = self.run(args).await;
        assert!(status.success(), "zoufang {args:?} failed: {err}");
        out
    }

    pub async fn sync(&self) -> serde_json::Value {
        let out = self.ok(&["--json", "sync"]).await;
        serde_json::from_str(&out).expect("sync report JSON")
    }

    /// Every household as JSON, by id.
    pub async fn export(&self) -> serde_json::Value {
        let out = self.ok(&["--json", "export"]).await;
        serde_json::from_str(&out).expect("export JSON")
    }
}
