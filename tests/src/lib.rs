//! The end-to-end harness: real `zoufang` processes on loopback ports, driven through a real
//! headless Chromium (chromedriver) at a phone's viewport.

pub mod access;
pub mod api;
pub mod areas;
pub mod db;
pub mod faults;
pub mod page;
pub mod photos;
pub mod proxy;
pub mod review;
pub mod sheets;
pub mod standby;
mod stories;
pub mod survey;
pub mod taps;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
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

/// The passphrase of every test device's store.
pub const TEST_PASSPHRASE: &str = "test-passphrase";

/// `zoufang --data DIR`, with the store's passphrase in the environment as scripts give it.
pub fn client_command(data: &Path) -> Command {
    let mut cmd = Command::new(bin("zoufang"));
    cmd.arg("--data")
        .arg(data)
        .env("ZOUFANG_PASSPHRASE", TEST_PASSPHRASE);
    cmd
}

/// Runs `zoufang --data DIR <args>` to completion; returns (status, stdout, stderr).
pub async fn zoufang(data: &Path, args: &[&str]) -> (std::process::ExitStatus, String, String) {
    let out = client_command(data)
        .args(args)
        .output()
        .await
        .expect("run zoufang");
    status_and_text(out)
}

/// A finished process's status with its stdout and stderr as text.
fn status_and_text(out: std::process::Output) -> (std::process::ExitStatus, String, String) {
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
        Self::spawn(client_command(data), serve_args).await
    }

    /// As a user starts it: no passphrase in the environment, so the UI starts locked.
    pub async fn start_locked(data: &Path, serve_args: &[&str]) -> ClientProcess {
        let mut cmd = client_command(data);
        cmd.env_remove("ZOUFANG_PASSPHRASE");
        Self::spawn(cmd, serve_args).await
    }

    async fn spawn(mut cmd: Command, serve_args: &[&str]) -> ClientProcess {
        let mut child = cmd
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
    /// The chromedriver's address, for the commands WebDriver has no verb for ([`Browser::cdp`]).
    webdriver: String,
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
        Self::launch(width, height, None).await
    }

    /// As [`Self::start`], saving downloads into `dir` without asking (headless Chromium
    /// honours these preferences).
    pub async fn start_with_downloads(width: u32, height: u32, dir: &Path) -> Browser {
        let prefs = serde_json::json!({
            "download.default_directory": dir.display().to_string(),
            "download.prompt_for_download": false,
            "download.directory_upgrade": true,
            "safebrowsing.enabled": false,
        });
        Self::launch(width, height, Some(prefs)).await
    }

    async fn launch(width: u32, height: u32, prefs: Option<serde_json::Value>) -> Browser {
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
        if let (Some(prefs), Some(options)) = (
            prefs,
            caps.get_mut("goog:chromeOptions")
                .and_then(serde_json::Value::as_object_mut),
        ) {
            options.insert("prefs".into(), prefs);
        }
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
                        webdriver: url,
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

    /// Sends a Chrome DevTools Protocol command through chromedriver (e.g.
    /// `Emulation.setCPUThrottlingRate` to play a low-end phone); panics unless it succeeds.
    pub async fn cdp(&self, cmd: &str, params: serde_json::Value) -> serde_json::Value {
        let session = self
            .client
            .session_id()
            .await
            .expect("session id")
            .expect("a session");
        let res = reqwest::Client::new()
            .post(format!(
                "{}/session/{session}/goog/cdp/execute",
                self.webdriver
            ))
            .json(&serde_json::json!({ "cmd": cmd, "params": params }))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{cmd}: {e}"));
        let status = res.status();
        let body: serde_json::Value = res.json().await.unwrap_or_default();
        assert!(status.is_success(), "{cmd}: {status} {body}");
        body
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
    /// The settings file of [`ServerProcess::start_with_config`], kept while the server runs.
    pub(crate) config_dir: Option<tempfile::TempDir>,
}

/// The peak resident memory of process `pid` so far (`VmHWM`), in KiB.
pub fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
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
    status_and_text(out)
}

pub const TEST_PASSWORD: &str = "走访-test-password";

/// The demo county (the server's `demo` command imports the same file).
pub const AREAS_CSV: &str = include_str!("../../server/data/demo-areas.csv");

/// Imports [`AREAS_CSV`] into `database`; returns the directory the file was written to, for
/// anything else the server should read from there.
pub(crate) async fn import_areas(database: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("dir");
    let areas = dir.path().join("areas.csv");
    std::fs::write(&areas, AREAS_CSV).expect("areas");
    let (status, _, err) =
        zoufang_server(database, &["area", "import", &areas.display().to_string()]).await;
    assert!(status.success(), "area import: {err}");
    dir
}

impl ServerProcess {
    /// Starts a server on `database` with the test areas imported.
    pub async fn start(database: &str) -> ServerProcess {
        Self::start_with(database, &[]).await
    }

    /// [`Self::start`], then [`add_users`]: the server and the accounts a test begins with.
    pub async fn start_with_users(database: &str, users: &[(&str, &str, &str)]) -> ServerProcess {
        let server = Self::start(database).await;
        add_users(database, users).await;
        server
    }

    /// [`Self::start`] with 张调查 (`zhang`), a surveyor of `areas`, and her enrolled device:
    /// the phone most client tests need.
    pub async fn start_with_surveyor(database: &str, areas: &[&str]) -> (ServerProcess, Device) {
        let server = Self::start(database).await;
        server.add_user("zhang", "张调查", "surveyor", areas).await;
        let device = Device::enrolled(&server, "zhang").await;
        (server, device)
    }

    /// [`Self::start`] with `serve_args` after `serve` (e.g. `--read-database`).
    pub async fn start_with(database: &str, serve_args: &[&str]) -> ServerProcess {
        import_areas(database).await;
        Self::spawn_with(database, serve_args).await
    }

    /// Starts (or restarts) a server on an already prepared database.
    pub async fn spawn(database: &str) -> ServerProcess {
        Self::spawn_with(database, &[]).await
    }

    /// [`Self::spawn`] with `serve_args` after `serve` (e.g. `--read-database`).
    pub async fn spawn_with(database: &str, serve_args: &[&str]) -> ServerProcess {
        Self::spawn_command(database, "serve", serve_args, Duration::from_secs(30)).await
    }

    /// Starts a server on `database` (test areas imported) with a settings file holding
    /// `toml` (e.g. a `[limits]` table); the file lives as long as the process.
    pub async fn start_with_config(database: &str, toml: &str) -> ServerProcess {
        let dir = import_areas(database).await;
        let config = dir.path().join("server.toml");
        std::fs::write(&config, toml).expect("config");
        let mut server = Self::spawn_command(
            database,
            "serve",
            &["--config", &config.display().to_string()],
            Duration::from_secs(30),
        )
        .await;
        server.config_dir = Some(dir);
        server
    }

    /// Starts `zoufang-server demo`: the demo county with its accounts and a few hundred
    /// generated households (cases at every step, conflicts), made first when missing.
    pub async fn demo(database: &str) -> ServerProcess {
        // Generating the households takes a while in a debug build on a busy machine.
        Self::spawn_command(database, "demo", &[], Duration::from_secs(300)).await
    }

    async fn spawn_command(
        database: &str,
        command: &str,
        extra: &[&str],
        start_within: Duration,
    ) -> ServerProcess {
        let mut child = Command::new(bin("zoufang-server"))
            .arg("--database")
            .arg(database)
            .args([command, "--listen", "127.0.0.1:0"])
            .args(extra)
            // `ZOUFANG_TEST_SERVER_LOG=debug` shows a failing test's server in detail.
            .env(
                "ZOUFANG_LOG",
                std::env::var("ZOUFANG_TEST_SERVER_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn zoufang-server");
        let url = read_url_within(&mut child, start_within).await;
        ServerProcess {
            child,
            url,
            database: database.to_owned(),
            config_dir: None,
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

    /// The server's process id (for its memory figures, [`peak_rss_kib`]).
    pub fn pid(&self) -> u32 {
        self.child.id().expect("the server is running")
    }

    /// Replaces a user's areas (`zoufang-server user areas`).
    pub async fn set_areas(&self, username: &str, areas: &[&str]) {
        let mut args = vec!["user", "areas", username];
        for a in areas {
            args.extend(["--area", a]);
        }
        let (status, _, err) = zoufang_server(&self.database, &args).await;
        assert!(status.success(), "user areas {username}: {err}");
    }

    pub async fn kill(mut self) {
        self.child.start_kill().expect("kill");
        self.child.wait().await.expect("reap");
    }
}

/// Reads a child's stdout until it prints the URL it serves on.
async fn read_url(child: &mut Child) -> String {
    read_url_within(child, Duration::from_secs(30)).await
}

async fn read_url_within(child: &mut Child, within: Duration) -> String {
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let url = tokio::time::timeout(within, async {
        while let Some(line) = lines.next_line().await.expect("read stdout") {
            if let Some(i) = line.find("http://") {
                return line[i..].trim().trim_end_matches('/').to_owned();
            }
        }
        panic!("process exited before listening");
    })
    .await
    .unwrap_or_else(|_| panic!("did not start listening within {within:?}"));
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
    run_pg_client(
        std::process::Command::new("psql")
            .arg(pg_admin_url())
            .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql]),
        &format!("psql {sql}"),
    );
}

/// Runs a PostgreSQL client program (`psql`, `pg_restore`), which must succeed; `what` names
/// the run in a failure.
pub fn run_pg_client(command: &mut std::process::Command, what: &str) -> std::process::Output {
    let program = command.get_program().to_string_lossy().into_owned();
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{program} (PostgreSQL client) must be installed: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
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
        Self::enrolled_at(&server.url, username).await
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

impl Device {
    /// As [`Device::enrolled`], at any URL (a proxy in front of a server, say).
    pub async fn enrolled_at(server_url: &str, username: &str) -> Device {
        let device = Device::initialised(username, username).await;
        device.enroll(server_url, username).await;
        device
    }

    /// Runs `zoufang --json enroll` for `username` at `server_url`; panics unless it succeeds.
    /// Returns what it printed.
    pub async fn enroll(&self, server_url: &str, username: &str) -> serde_json::Value {
        let out = client_command(self.data.path())
            .args([
                "--json",
                "enroll",
                "--server",
                server_url,
                "--username",
                username,
            ])
            .env("ZOUFANG_PASSWORD", TEST_PASSWORD)
            .output()
            .await
            .expect("enroll");
        assert!(
            out.status.success(),
            "enroll {username} at {server_url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("enroll JSON")
    }

    /// A device that ran `zoufang init` for user `user_id` (display name `user_name`) and is
    /// enrolled nowhere.
    pub async fn initialised(user_id: &str, user_name: &str) -> Device {
        let data = tempfile::tempdir().expect("device dir");
        let (status, _, err) = zoufang(
            data.path(),
            &["init", "--user-id", user_id, "--user-name", user_name],
        )
        .await;
        assert!(status.success(), "init: {err}");
        Device { data }
    }

    /// Runs `zoufang --json sync`: the report when it printed one (also when some households
    /// were rejected, which exits with 1), else the error the client printed.
    pub async fn try_sync(&self) -> Result<serde_json::Value, String> {
        let (status, out, err) = self.run(&["--json", "sync"]).await;
        match serde_json::from_str::<serde_json::Value>(&out) {
            Ok(report) if status.success() || status.code() == Some(1) => Ok(report),
            _ => Err(format!("{status}: {}", err.trim())),
        }
    }

    /// Runs `f` on the device's store, unlocked as the `zoufang` commands unlock it.
    async fn with_store<R: Send + 'static>(
        &self,
        f: impl FnOnce(&zoufang_client::store::Store) -> R + Send + 'static,
    ) -> R {
        let dir = self.data.path().to_owned();
        tokio::task::spawn_blocking(move || {
            let store = zoufang_client::store::Store::unlock(&dir, TEST_PASSPHRASE)
                .expect("open the device's store");
            f(&store)
        })
        .await
        .expect("store task")
    }

    /// `PRAGMA integrity_check` of the device's (encrypted) store: "ok", or what is wrong.
    pub async fn store_integrity(&self) -> String {
        self.with_store(|s| s.integrity_check().expect("integrity_check"))
            .await
    }

    /// A value from the device's settings (`token`, `server_url`, `device_id`, `actor`, …).
    pub async fn setting(&self, key: &str) -> Option<String> {
        let key = key.to_owned();
        self.with_store(move |s| s.setting(&key).expect("read a setting"))
            .await
    }

    /// Changes a setting while no `zoufang` process runs on this device, as no command does:
    /// pointing an enrolled device at another server process, for one.
    pub async fn set_setting(&self, key: &str, value: &str) {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.with_store(move |s| {
            assert!(s.setting(&key).expect("read").is_some(), "no setting {key}");
            s.set_setting(&key, &value).expect("write a setting");
        })
        .await;
    }
}

/// One household of a national roster file: its 户编号, where it lives, how many persons, and
/// its 户状态 / 脱贫年度 when the file gives them.
#[derive(Debug, Clone)]
pub struct RosterRow<'a> {
    pub no: &'a str,
    pub township: Option<&'a str>,
    pub village: &'a str,
    pub members: usize,
    /// A 户状态 label (`未脱贫`, `已脱贫(享受政策)`, …).
    pub status: Option<&'a str>,
    pub exit_year: Option<i32>,
}

/// A roster CSV as the national system exports it, one line per person: for each household a
/// head, a spouse and sons. Person `k` (counted from `first_person` across the whole file) is
/// born `k` days after 1950-01-01, so resident IDs are unique across a test as long as the
/// ranges of different rosters do not overlap.
pub fn national_roster_csv(households: &[RosterRow<'_>], first_person: u32) -> String {
    let base = chrono::NaiveDate::from_ymd_opt(1950, 1, 1).expect("date");
    let mut csv =
        String::from("户编号,乡镇,村,户主姓名,姓名,性别,与户主关系,证件号码,户状态,脱贫年度\n");
    let mut k = first_person;
    for h in households {
        let head = format!("户主{k}");
        let exit_year = h.exit_year.map(|y| y.to_string()).unwrap_or_default();
        for i in 0..h.members {
            let birth = (base + chrono::Days::new(u64::from(k)))
                .format("%Y%m%d")
                .to_string();
            let (name, sex, relation, seq) = match i {
                0 => (head.clone(), "男", "户主", "011"),
                1 => (format!("配偶{k}"), "女", "配偶", "022"),
                _ => (format!("儿子{k}"), "男", "之子", "031"),
            };
            let id = zoufang_shared::demo::id_number(&birth, seq);
            csv.push_str(&format!(
                "{},{},{},{head},{name},{sex},{relation},{id},{},{exit_year}\n",
                h.no,
                h.township.unwrap_or(""),
                h.village,
                h.status.unwrap_or(""),
            ));
            k += 1;
        }
    }
    csv
}

/// A person of [`couple_roster`]: name, sex (男/女), birth date (`YYYYMMDD`), and the sequence
/// digits of the resident ID number (odd for a man, even for a woman).
pub type Person<'a> = (&'a str, &'a str, &'a str, &'a str);

/// 李大山 and his wife 王秀英: the couple of most single-household stories.
pub const LI_DASHAN: Person<'static> = ("李大山", "男", "19700312", "011");
pub const WANG_XIUYING: Person<'static> = ("王秀英", "女", "19720801", "022");

/// Household 530921100201001 of 三合村, a head and a spouse, in the national system's short
/// export (no township, status or exit year).
pub fn couple_roster(head: Person<'_>, spouse: Person<'_>) -> String {
    let mut csv = String::from("户编号,村,户主姓名,姓名,性别,与户主关系,证件号码\n");
    for ((name, sex, birth, seq), relation) in [(head, "户主"), (spouse, "配偶")] {
        let id = zoufang_shared::demo::id_number(birth, seq);
        csv.push_str(&format!(
            "530921100201001,三合村,{},{name},{sex},{relation},{id}\n",
            head.0
        ));
    }
    csv
}

/// [`national_roster_csv`] of households given as `(户编号, 村, member count)`, with no status.
pub fn roster_csv(households: &[(&str, &str, usize)], first_person: u32) -> String {
    let rows: Vec<RosterRow<'_>> = households
        .iter()
        .map(|&(no, village, members)| RosterRow {
            no,
            township: None,
            village,
            members,
            status: None,
            exit_year: None,
        })
        .collect();
    national_roster_csv(&rows, first_person)
}

impl Device {
    /// Imports a roster CSV given as text; panics unless the import succeeds. Returns the
    /// import's report.
    pub async fn import_roster(&self, csv: &str) -> serde_json::Value {
        let file = self.data.path().join(format!(
            "roster-{}.csv",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        std::fs::write(&file, csv).expect("write the roster");
        let out = self
            .ok(&["--json", "import", &file.display().to_string()])
            .await;
        let report: serde_json::Value = serde_json::from_str(&out).expect("import report");
        assert!(
            report["bad"].as_array().is_none_or(|b| b.is_empty()),
            "import refused households: {report}"
        );
        report
    }
}

/// Adds users `(username, role, area)` at once (each `user add` hashes a password: slow in a
/// debug build, so they run side by side). Display names are the usernames.
pub async fn add_users(database: &str, users: &[(&str, &str, &str)]) {
    let mut set = tokio::task::JoinSet::new();
    for (username, role, area) in users {
        let (db, u, r, a) = (
            database.to_owned(),
            (*username).to_owned(),
            (*role).to_owned(),
            (*area).to_owned(),
        );
        set.spawn(async move {
            let (status, _, err) = zoufang_server(
                &db,
                &["user", "add", &u, "--name", &u, "--role", &r, "--area", &a],
            )
            .await;
            assert!(status.success(), "user add {u}: {err}");
        });
    }
    while let Some(done) = set.join_next().await {
        done.expect("user add task");
    }
}

/// Initialises and enrolls one device per username at `server_url`, side by side; in order.
pub async fn enroll_all(server_url: &str, usernames: &[&str]) -> Vec<Device> {
    let mut set = tokio::task::JoinSet::new();
    for (i, username) in usernames.iter().enumerate() {
        let (url, u) = (server_url.to_owned(), (*username).to_owned());
        set.spawn(async move { (i, Device::enrolled_at(&url, &u).await) });
    }
    let mut devices: Vec<(usize, Device)> = Vec::new();
    while let Some(done) = set.join_next().await {
        devices.push(done.expect("enroll task"));
    }
    devices.sort_by_key(|(i, _)| *i);
    devices.into_iter().map(|(_, d)| d).collect()
}

/// [`enroll_all`] into an array, so that a test names each device where it gets them.
pub async fn enroll_each<const N: usize>(server_url: &str, usernames: [&str; N]) -> [Device; N] {
    let devices = enroll_all(server_url, &usernames).await;
    <[Device; N]>::try_from(devices)
        .ok()
        .expect("one device per username")
}

/// The `key` text of each element of the JSON array `list`; panics at anything else.
pub fn texts<'a>(list: &'a serde_json::Value, key: &str) -> Vec<&'a str> {
    list.as_array()
        .unwrap_or_else(|| panic!("not an array: {list}"))
        .iter()
        .map(|v| {
            v[key]
                .as_str()
                .unwrap_or_else(|| panic!("no {key} text in {v}"))
        })
        .collect()
}

/// The household ids of a `zoufang --json export`, sorted.
pub fn export_ids(export: &serde_json::Value) -> Vec<String> {
    let mut ids: Vec<String> = texts(export, "id").into_iter().map(str::to_owned).collect();
    ids.sort();
    ids
}

/// One household of a `zoufang --json export`; panics naming the ids there when it is missing.
pub fn exported_household<'a>(export: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    export
        .as_array()
        .and_then(|a| a.iter().find(|h| h["id"] == id))
        .unwrap_or_else(|| panic!("{id} not in export: {}", export_ids(export).join(", ")))
}

/// Waits until the element's text contains `needle`; returns the text.
pub async fn wait_text(c: &Client, css: &str, needle: &str) -> String {
    let mut last = String::new();
    for _ in 0..100 {
        if let Ok(el) = c.find(Locator::Css(css)).await {
            last = el.text().await.unwrap_or_default();
            if last.contains(needle) {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{css} never contained {needle:?}; last text: {last:?}");
}
