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
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.expect("read stdout") {
                if let Some(i) = line.find("http://") {
                    return line[i..].trim().trim_end_matches('/').to_owned();
                }
            }
            panic!("zoufang serve exited before listening");
        })
        .await
        .expect("zoufang serve did not start within 30 s");
        // Keep draining stdout so the process never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
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
