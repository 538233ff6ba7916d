//! The OpenAPI description (`GET /api/openapi.json`) against the live server: every operation it
//! lists is routed, and schemathesis (PyPI, pinned in tests/schemathesis/requirements.txt)
//! fuzzes every operation of a demo county with real credentials, on both backends. No answer
//! may be a 5xx, and every answer must be one the description lists, with its content type,
//! headers and body schema (tests/schemathesis/schemathesis.toml).

use std::path::Path;

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::Value;
use tokio::process::Command;
use zoufang_e2e::api::ApiDevice;
use zoufang_e2e::review::Reviewer;
use zoufang_e2e::{ServerProcess, TestDb};

/// The description as served, checked to be JSON and OpenAPI 3.x.
async fn served_document(server: &str) -> Value {
    let res = reqwest::get(format!("{server}/api/openapi.json"))
        .await
        .expect("GET /api/openapi.json");
    assert_eq!(res.status(), StatusCode::OK);
    let content_type = res.headers().get(CONTENT_TYPE).cloned();
    assert_eq!(
        content_type.as_ref().and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let doc: Value = res.json().await.expect("the description is JSON");
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "not OpenAPI 3: {}",
        doc["openapi"]
    );
    doc
}

/// `(method, path)` of every operation the description lists.
fn operations(doc: &Value) -> Vec<(String, String)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            ops.push((method.to_uppercase(), path.clone()));
        }
    }
    ops
}

/// Whether an answer is the router's own "no such route" (the fallback, or 405 for a known
/// path with another method).
async fn is_unrouted(res: reqwest::Response) -> bool {
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    status == StatusCode::METHOD_NOT_ALLOWED
        || (status == StatusCode::NOT_FOUND && body["error"] == "没有这个接口")
}

#[tokio::test]
async fn every_described_operation_is_routed() {
    let db = TestDb::sqlite();
    let server = ServerProcess::start(&db.url).await;
    let doc = served_document(&server.url).await;
    let ops = operations(&doc);
    assert!(ops.len() >= 12, "{ops:?}");
    let http = reqwest::Client::new();
    for (method, path) in &ops {
        // Any value for a path parameter: the route must answer, whatever it answers.
        let concrete = path.replace("{id}", "x").replace("{hash}", "x");
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let res = http
            .request(method.clone(), format!("{}{concrete}", server.url))
            .send()
            .await
            .expect("request");
        assert!(
            !is_unrouted(res).await,
            "{method} {path} is described but not routed"
        );
    }
    // The check can fail: an unknown path is the fallback.
    let res = http
        .get(format!("{}/api/no-such-route", server.url))
        .send()
        .await
        .expect("request");
    assert!(is_unrouted(res).await);
    server.kill().await;
}

/// What schemathesis found: failures make it exit non-zero; this is what it ran.
struct Run {
    operations: usize,
    cases: usize,
}

/// Runs schemathesis against `server` with a device token, a review session and a household
/// that session may read; panics unless it exits 0.
async fn schemathesis(
    server: &str,
    device: &ApiDevice,
    reviewer: &Reviewer,
    household: &str,
) -> Run {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemathesis");
    let session = reviewer
        .cookie()
        .strip_prefix("zf_session=")
        .expect("a session cookie");
    let started = std::time::Instant::now();
    // Credentials go in the environment (schemathesis.toml puts them in headers), never in
    // URLs or the command line.
    let out = Command::new("schemathesis")
        .current_dir(&dir)
        .args(["--config-file", "schemathesis.toml", "run"])
        .arg(format!("{server}/api/openapi.json"))
        .env("ZOUFANG_DEVICE_TOKEN", &device.token)
        .env("ZOUFANG_SESSION", session)
        .env("ZOUFANG_CSRF", &reviewer.csrf)
        .env("ZOUFANG_HOUSEHOLD", household)
        .env("NO_COLOR", "1")
        .output()
        .await
        .expect("run schemathesis");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "schemathesis found problems ({}):\n{stdout}\n{stderr}",
        out.status
    );
    // "Tested: 12" and "2017 generated, 2017 passed" in its summary.
    let number_before = |marker: &str| {
        stdout.lines().find_map(|l| {
            let i = l.find(marker)?;
            l[..i].split_whitespace().last()?.parse::<usize>().ok()
        })
    };
    let number_after = |marker: &str| {
        stdout.lines().find_map(|l| {
            let rest = l.trim().strip_prefix(marker)?;
            rest.split_whitespace().next()?.parse::<usize>().ok()
        })
    };
    let run = Run {
        operations: number_after("Tested:").expect("operations tested"),
        cases: number_before(" generated").expect("test cases generated"),
    };
    println!(
        "schemathesis: {} operations, {} test cases, {:.0?}",
        run.operations,
        run.cases,
        started.elapsed()
    );
    run
}

/// Whether schemathesis can run here; in CI it must.
async fn schemathesis_installed() -> bool {
    let found = Command::new("schemathesis")
        .arg("--version")
        .output()
        .await
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "schemathesis is not installed: pip install -r tests/schemathesis/requirements.txt"
        );
        eprintln!(
            "schemathesis is not installed; skipped outside CI \
             (pip install -r tests/schemathesis/requirements.txt)"
        );
    }
    found
}

/// A demo county on `db`, an admin signed in to the review API and a surveyor's device, then
/// schemathesis over every operation.
async fn schemathesis_finds_no_server_error_or_mismatch(db: TestDb) {
    if !schemathesis_installed().await {
        return;
    }
    let server = ServerProcess::demo(&db.url).await;
    server
        .add_user("st-admin", "接口测试管理员", "admin", &["530921"])
        .await;
    server
        .add_user("st-surveyor", "接口测试调查员", "surveyor", &["530921100"])
        .await;
    let device = ApiDevice::enroll(&server.url, "st-surveyor", "st-device", [7; 16]).await;
    let reviewer = Reviewer::login(&server.url, "st-admin").await;
    let (status, queue) = reviewer.get("/api/review/conflicts").await;
    assert_eq!(status, StatusCode::OK, "{queue}");
    let household = queue[0]["household_id"]
        .as_str()
        .expect("the demo county has conflicts")
        .to_owned();

    // schemathesis leaves out the operation that serves the description it reads.
    let described = operations(&served_document(&server.url).await)
        .iter()
        .filter(|(_, path)| path != "/api/openapi.json")
        .count();
    let run = schemathesis(&server.url, &device, &reviewer, &household).await;
    assert_eq!(run.operations, described, "every operation was tested");
    assert!(run.cases >= 100 * described, "only {} cases", run.cases);

    // The server took all that and still serves its users.
    let (status, _) = reviewer.get("/api/review/report").await;
    assert_eq!(status, StatusCode::OK);
    server.kill().await;
}

zoufang_e2e::on_both_databases!(
    schemathesis_finds_no_server_error_or_mismatch,
    current_thread
);

async fn expect_error(res: reqwest::Response, what: &str, status: StatusCode, code: &str) {
    assert_eq!(res.status(), status, "{what}");
    let body: Value = res.json().await.expect("a JSON error body");
    assert_eq!(body["code"], code, "{what}: {body}");
}

/// What schemathesis found, pinned: an upload offset near `i64::MAX` overflowed (a panic in a
/// debug build, a wrapped check in release); NUL characters reached PostgreSQL as 500s.
#[tokio::test]
async fn findings_stay_fixed() {
    let db = TestDb::postgres();
    let server = ServerProcess::start(&db.url).await;
    server
        .add_user("st-surveyor", "接口测试调查员", "surveyor", &["530921100"])
        .await;
    let device = ApiDevice::enroll(&server.url, "st-surveyor", "st-device", [9; 16]).await;
    let http = reqwest::Client::new();
    let hash = "0".repeat(64);
    let res = http
        .put(format!(
            "{}/api/attachments/{hash}?offset={}&total=1",
            server.url,
            i64::MAX - 1
        ))
        .header(AUTHORIZATION, format!("Bearer {}", device.token))
        .header(CONTENT_TYPE, "image/jpeg")
        .body(vec![0xff; 8])
        .send()
        .await
        .expect("PUT");
    expect_error(
        res,
        "offset near i64::MAX",
        StatusCode::PAYLOAD_TOO_LARGE,
        "attachment",
    )
    .await;

    let res = http
        .get(format!("{}/api/review/roster?q=%00", server.url))
        .send()
        .await
        .expect("GET");
    expect_error(
        res,
        "NUL in a query",
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;

    let res = http
        .post(format!("{}/api/review/login", server.url))
        .json(&serde_json::json!({ "username": "st-\u{0}", "password": "x" }))
        .send()
        .await
        .expect("POST");
    expect_error(
        res,
        "NUL in a username",
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;

    // The server is unharmed.
    let res = http
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .expect("GET");
    assert_eq!(res.status(), StatusCode::OK);
    server.kill().await;
}
