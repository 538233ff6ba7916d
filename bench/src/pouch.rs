//! The PouchDB peer: the same documents and edits replicated the CouchDB way, PouchDB on the
//! device and a CouchDB-protocol server (express-pouchdb), both in memory, in Node.
//!
//! `bench/pouchdb/server.js` is the server and `bench/pouchdb/client.js` the device; this module
//! starts them and reads the figures of the measured replication off a [`Link`] between them:
//! - bytes up/down: every byte the link carried client→server and server→client (HTTP heads
//!   and bodies; the server gzips responses over 1 KB, as express-pouchdb does by default, and
//!   PouchDB sends request bodies plain);
//! - round trips: HTTP requests (the link's client→server messages); client.js also counts its
//!   fetch calls, and the two must agree;
//! - seconds: wall time from the go-ahead to the client's `done`.
//!
//! Only the measured replication crosses the link: the client opens the server database under
//! the server's own URL in every phase (so PouchDB's replication id and checkpoints are those of
//! one device and one server), and sends the measured replication's requests to the link
//! instead. The unmeasured part (the first replication, or loading the server) goes direct.
//!
//! The Node modules come from `bench/pouchdb/setup` (`npm ci` against the committed lock file);
//! nothing is downloaded when the bench runs.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::task::JoinHandle;

use crate::link::{Link, LinkSpec};

/// One document: its id and its JSON content.
#[derive(Debug, Clone)]
pub struct PeerDoc {
    pub id: String,
    pub json: serde_json::Value,
}

/// What one replication cost on the wire.
#[derive(Debug, Clone)]
pub struct ReplicationFigures {
    pub bytes_up: u64,
    pub bytes_down: u64,
    pub round_trips: u64,
    pub seconds: f64,
}

/// The database both sides replicate.
const DB: &str = "survey";
/// Modules the Node side loads (the lock file pins their versions).
const MODULES: [&str; 7] = [
    "express",
    "express-pouchdb",
    "pouchdb-core",
    "pouchdb-adapter-memory",
    "pouchdb-adapter-http",
    "pouchdb-replication",
    "pouchdb-mapreduce",
];
/// Longest the server may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest one phase (loading, first replication, measured replication) may take.
const PHASE_TIMEOUT: Duration = Duration::from_secs(3_600);

/// The folder of server.js and client.js (`ZOUFANG_POUCHDB_DIR` overrides it).
fn node_dir() -> PathBuf {
    match std::env::var_os("ZOUFANG_POUCHDB_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pouchdb"),
    }
}

/// The Node binary (`NODE` overrides `node` on the PATH).
fn node_bin() -> PathBuf {
    std::env::var_os("NODE").map_or_else(|| PathBuf::from("node"), PathBuf::from)
}

/// Node and the installed modules are present (else a reason, e.g. "run bench/pouchdb/setup").
pub fn available() -> Result<(), String> {
    let dir = node_dir();
    let node = node_bin();
    let out = std::process::Command::new(&node)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            format!(
                "node ({}) cannot run: {e}; the PouchDB peer needs Node.js 18 or later",
                node.display()
            )
        })?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let major: u32 = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    if !out.status.success() || major < 18 {
        return Err(format!(
            "node {version:?} found; the PouchDB peer needs Node.js 18 or later"
        ));
    }
    for f in ["server.js", "client.js", "pouch.js", "package-lock.json"] {
        if !dir.join(f).is_file() {
            return Err(format!("{} is missing", dir.join(f).display()));
        }
    }
    let missing: Vec<&str> = MODULES
        .iter()
        .copied()
        .filter(|m| {
            !dir.join("node_modules")
                .join(m)
                .join("package.json")
                .is_file()
        })
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "Node modules missing in {} ({}): run bench/pouchdb/setup",
            dir.join("node_modules").display(),
            missing.join(", ")
        ));
    }
    // Loading them is the real test (a half-finished install fails here).
    let out = std::process::Command::new(&node)
        .args([
            "-e",
            "require('./pouch'); require('express-pouchdb'); require('express')",
        ])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("node cannot run: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "the PouchDB modules do not load ({}): run bench/pouchdb/setup",
            last_lines(&String::from_utf8_lossy(&out.stderr), 3)
        ));
    }
    Ok(())
}

/// Replicates `initial` from a fresh client PouchDB to a fresh server (unmeasured), then writes
/// `edited` (same ids, new contents) on the client and replicates again: the measured figures
/// are of that second replication (the "evening sync").
pub async fn w1(initial: &[PeerDoc], edited: &[PeerDoc]) -> Result<ReplicationFigures, String> {
    w1_on(LinkSpec::LOOPBACK, initial, edited).await
}

/// The server holds `docs`; a new client PouchDB pulls them all (first download).
pub async fn w2(docs: &[PeerDoc]) -> Result<ReplicationFigures, String> {
    w2_on(LinkSpec::LOOPBACK, docs).await
}

/// [`w1`] with the measured replication over a link of `spec` (the unmeasured one is direct).
pub async fn w1_on(
    spec: LinkSpec,
    initial: &[PeerDoc],
    edited: &[PeerDoc],
) -> Result<ReplicationFigures, String> {
    let mut lines = Vec::with_capacity(initial.len() + edited.len());
    for d in initial {
        lines.push(input_line("initial", d)?);
    }
    for d in edited {
        lines.push(input_line("edited", d)?);
    }
    run(spec, "w1", lines, distinct_ids(edited)).await
}

/// [`w2`] with the download over a link of `spec` (loading the server is direct).
pub async fn w2_on(spec: LinkSpec, docs: &[PeerDoc]) -> Result<ReplicationFigures, String> {
    let lines = docs
        .iter()
        .map(|d| input_line("docs", d))
        .collect::<Result<Vec<_>, _>>()?;
    run(spec, "w2", lines, distinct_ids(docs)).await
}

fn distinct_ids(docs: &[PeerDoc]) -> u64 {
    docs.iter()
        .map(|d| d.id.as_str())
        .collect::<HashSet<_>>()
        .len() as u64
}

/// The document as PouchDB stores it: an object's fields with `_id` beside them; anything
/// else, or an object with a field name CouchDB reserves (`_…`), under `value`.
fn couch_doc(d: &PeerDoc) -> Result<serde_json::Value, String> {
    if d.id.is_empty() || d.id.starts_with('_') {
        return Err(format!(
            "document id {:?} is not a CouchDB id (empty or starting with _)",
            d.id
        ));
    }
    let mut out = serde_json::Map::new();
    out.insert("_id".into(), d.id.clone().into());
    match &d.json {
        serde_json::Value::Object(m) if !m.keys().any(|k| k.starts_with('_')) => {
            out.extend(m.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        other => {
            out.insert("value".into(), other.clone());
        }
    }
    Ok(serde_json::Value::Object(out))
}

fn input_line(set: &str, d: &PeerDoc) -> Result<String, String> {
    let doc = couch_doc(d)?;
    let mut line = serde_json::to_string(&serde_json::json!({ "set": set, "doc": doc }))
        .map_err(|e| format!("document {}: {e}", d.id))?;
    line.push('\n');
    Ok(line)
}

/// One run: a fresh server, a link to it, a fresh client; the figures of the phase after
/// `ready`, checked against what the replication should have moved.
async fn run(
    spec: LinkSpec,
    mode: &str,
    input: Vec<String>,
    expect_docs: u64,
) -> Result<ReplicationFigures, String> {
    available()?;
    let dir = node_dir();
    let mut server = NodeProcess::spawn(&dir, &["server.js", "0"], "server.js")?;
    let mut server_out = server.take_stdout()?;
    let listening = tokio::time::timeout(START_TIMEOUT, next_line(&mut server_out))
        .await
        .map_err(|_| server.failure("did not listen within a minute"))?;
    let port = listening
        .as_deref()
        .and_then(|l| l.strip_prefix("listening "))
        .and_then(|p| p.trim().parse::<u16>().ok())
        .ok_or_else(|| server.failure(&format!("did not say `listening PORT` ({listening:?})")))?;
    let server_origin = format!("http://127.0.0.1:{port}");
    let link = Link::start(&server_origin, spec).await?;

    let db_url = format!("{server_origin}/{DB}");
    let mut client =
        NodeProcess::spawn(&dir, &["client.js", mode, &db_url, &link.url], "client.js")?;
    let mut out = client.take_stdout()?;
    let mut stdin = client.take_stdin()?;

    // Feed the documents while the client reads them (it answers only after "end").
    let feeder: JoinHandle<Result<ChildStdin, String>> = tokio::spawn(async move {
        let err = |e: std::io::Error| format!("writing documents to client.js: {e}");
        for line in input {
            stdin.write_all(line.as_bytes()).await.map_err(err)?;
        }
        stdin.write_all(b"\"end\"\n").await.map_err(err)?;
        stdin.flush().await.map_err(err)?;
        Ok(stdin)
    });
    let ready =
        match tokio::time::timeout(PHASE_TIMEOUT, expect_line(&mut out, "ready", &client)).await {
            Ok(r) => r,
            Err(_) => Err(client.failure("took over an hour before the measured phase")),
        };
    let fed = feeder.await.map_err(|e| format!("document feeder: {e}"))?;
    ready?;
    let mut stdin = fed.map_err(|e| client.failure(&e))?;

    let before = link.counts();
    let t = Instant::now();
    let go = async {
        stdin.write_all(b"\"go\"\n").await?;
        stdin.flush().await
    };
    go.await
        .map_err(|e| client.failure(&format!("did not take the go-ahead: {e}")))?;
    let done = tokio::time::timeout(PHASE_TIMEOUT, expect_line(&mut out, "done", &client))
        .await
        .map_err(|_| client.failure("took over an hour over the measured replication"))??;
    let seconds = t.elapsed().as_secs_f64();
    let c = link.counts() - before;

    let report: serde_json::Value = serde_json::from_str(&done)
        .map_err(|e| format!("client.js printed a bad `done` line ({e}): {done}"))?;
    let num = |k: &str| report.get(k).and_then(serde_json::Value::as_u64);
    // The measured replication moved exactly the edited (w1) or all (w2) documents: a
    // checkpoint missed or a document refused would show here.
    for key in ["docs_read", "docs_written"] {
        if num(key) != Some(expect_docs) {
            return Err(format!(
                "the {mode} replication's {key} is {:?}, expected {expect_docs}: {done}",
                num(key)
            ));
        }
    }
    if num("requests") != Some(c.requests) {
        return Err(format!(
            "request counts disagree: {} at the link, {:?} fetch calls in client.js",
            c.requests,
            num("requests")
        ));
    }
    drop(stdin);
    client.finish().await;
    server.finish().await;
    Ok(ReplicationFigures {
        bytes_up: c.bytes_up,
        bytes_down: c.bytes_down,
        round_trips: c.requests,
        seconds,
    })
}

/// Reads lines until one that is `tag` or starts with `tag `; returns the rest of it.
async fn expect_line(
    out: &mut BufReader<ChildStdout>,
    tag: &str,
    process: &NodeProcess,
) -> Result<String, String> {
    loop {
        let Some(line) = next_line(out).await else {
            // Give its last words on stderr a moment to arrive.
            tokio::time::sleep(Duration::from_millis(200)).await;
            return Err(process.failure(&format!("ended before `{tag}`")));
        };
        if let Some(rest) = line.strip_prefix(tag)
            && (rest.is_empty() || rest.starts_with(' '))
        {
            return Ok(rest.trim().to_string());
        }
    }
}

async fn next_line(r: &mut BufReader<ChildStdout>) -> Option<String> {
    let mut s = String::new();
    match r.read_line(&mut s).await {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(s.trim_end().to_string()),
    }
}

fn last_lines(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

/// A Node child: killed when dropped; the end of its stderr kept for error messages.
struct NodeProcess {
    name: &'static str,
    child: Child,
    stderr: Arc<Mutex<String>>,
    stderr_task: JoinHandle<()>,
}

impl NodeProcess {
    fn spawn(dir: &Path, args: &[&str], name: &'static str) -> Result<Self, String> {
        let mut child = Command::new(node_bin())
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start node {name}: {e}"))?;
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child
            .stderr
            .take()
            .ok_or_else(|| format!("{name}: no stderr pipe"))?;
        let sink = stderr.clone();
        let stderr_task = tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                let mut s = sink.lock().unwrap_or_else(|p| p.into_inner());
                s.push_str(&String::from_utf8_lossy(&buf[..n]));
                if s.len() > 16_384 {
                    let cut = (s.len() - 8_192..s.len())
                        .find(|&i| s.is_char_boundary(i))
                        .unwrap_or(s.len());
                    s.drain(..cut);
                }
            }
        });
        Ok(NodeProcess {
            name,
            child,
            stderr,
            stderr_task,
        })
    }

    fn take_stdout(&mut self) -> Result<BufReader<ChildStdout>, String> {
        let out = self
            .child
            .stdout
            .take()
            .ok_or_else(|| format!("{}: no stdout pipe", self.name))?;
        Ok(BufReader::new(out))
    }

    fn take_stdin(&mut self) -> Result<ChildStdin, String> {
        self.child
            .stdin
            .take()
            .ok_or_else(|| format!("{}: no stdin pipe", self.name))
    }

    /// An error naming the process, with the end of what it wrote on stderr.
    fn failure(&self, what: &str) -> String {
        let err = self
            .stderr
            .lock()
            .map(|s| last_lines(&s, 8))
            .unwrap_or_default();
        if err.is_empty() {
            format!("{} {what}", self.name)
        } else {
            format!("{} {what}: {err}", self.name)
        }
    }

    /// Ends the process: closing its stdin ends both scripts; killed if it lingers.
    async fn finish(mut self) {
        drop(self.child.stdin.take());
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
        self.stderr_task.abort();
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        // `kill_on_drop` ends the child; the stderr reader goes with it.
        self.stderr_task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_keep_their_fields_and_reserved_ones_are_wrapped() {
        let doc = |id: &str, json| {
            couch_doc(&PeerDoc {
                id: id.into(),
                json,
            })
        };
        assert_eq!(
            doc("hh-1", serde_json::json!({"a": 1, "b": [2]})),
            Ok(serde_json::json!({"_id": "hh-1", "a": 1, "b": [2]}))
        );
        assert_eq!(
            doc("hh-2", serde_json::json!({"_rev": "x", "a": 1})),
            Ok(serde_json::json!({"_id": "hh-2", "value": {"_rev": "x", "a": 1}}))
        );
        assert_eq!(
            doc("hh-3", serde_json::json!([1, 2])),
            Ok(serde_json::json!({"_id": "hh-3", "value": [1, 2]}))
        );
        assert!(doc("_design/x", serde_json::json!({})).is_err());
        assert!(doc("", serde_json::json!({})).is_err());
    }

    /// What the figures rest on: HTTP/1.1 keep-alive traffic like PouchDB's (a large body
    /// written in many pieces among small requests) counts one message per request at the link,
    /// and every byte each way.
    #[tokio::test]
    async fn the_link_counts_http_requests_and_bytes_as_pouchdb_sends_them() {
        use axum::Router;
        use axum::routing::post;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let app = Router::new().route(
            "/{*path}",
            post(|body: axum::body::Bytes| async move { format!("{{\"got\":{}}}", body.len()) })
                .get(|| async { "{\"ok\":true}" }),
        );
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let link = Link::start(&format!("http://{addr}"), LinkSpec::LOOPBACK)
            .await
            .expect("link");

        let mut conn = tokio::net::TcpStream::connect(link.url.trim_start_matches("http://"))
            .await
            .expect("connect");
        let mut reader = BufReader::new(&mut conn);
        let body = "x".repeat(300_000);
        let requests = [
            format!("GET /{DB}/ HTTP/1.1\r\nHost: h\r\n\r\n"),
            format!(
                "POST /{DB}/_bulk_docs HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ),
            format!("GET /{DB}/_local/x HTTP/1.1\r\nHost: h\r\n\r\n"),
        ];
        let (mut up, mut down) = (0u64, 0u64);
        for r in &requests {
            // Sent in pieces, as a socket writes a large body.
            for piece in r.as_bytes().chunks(16_384) {
                reader.get_mut().write_all(piece).await.expect("send");
                tokio::task::yield_now().await;
            }
            up += r.len() as u64;
            // Read one response: head, then Content-Length bytes.
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).await.expect("head");
                down += line.len() as u64;
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().expect("length");
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut b = vec![0u8; length];
            reader.read_exact(&mut b).await.expect("body");
            down += length as u64;
        }
        let c = link.counts();
        assert_eq!((c.requests, c.responses, c.connections), (3, 3, 1));
        assert_eq!((c.bytes_up, c.bytes_down), (up, down));
        server.abort();
    }

    fn household(i: usize, version: u32) -> PeerDoc {
        let members: Vec<_> = (0..4)
            .map(|k| serde_json::json!({"name": format!("成员{i}-{k}"), "age": (i * 7 + k) % 90, "v": version}))
            .collect();
        PeerDoc {
            id: format!("hh-{i:05}"),
            json: serde_json::json!({"head": format!("户主{i}"), "members": members, "version": version}),
        }
    }

    /// The whole flow on a few documents where `bench/pouchdb/setup` has run; skipped otherwise.
    #[tokio::test]
    async fn pouchdb_replicates_when_node_is_set_up() {
        if let Err(why) = available() {
            // CI installs the modules before the tests (`.ci/run`): there it must run.
            assert!(
                std::env::var_os("CI").is_none(),
                "PouchDB peer unavailable in CI: {why}"
            );
            eprintln!("skipped outside CI: {why}");
            return;
        }
        let initial: Vec<_> = (0..30).map(|i| household(i, 1)).collect();
        let edited: Vec<_> = (0..5).map(|i| household(i, 2)).collect();
        let f = w1(&initial, &edited).await.expect("w1");
        assert!(
            f.bytes_up > f.bytes_down && f.round_trips >= 4 && f.seconds > 0.0,
            "{f:?}"
        );
        let g = w2(&initial).await.expect("w2");
        assert!(
            g.bytes_down > g.bytes_up && g.round_trips >= 4 && g.seconds > 0.0,
            "{g:?}"
        );
    }
}
