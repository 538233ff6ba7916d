//! The JavaScript reference client (`tests/js-client`: @automerge/automerge on Node, written from
//! the protocol alone) against a real server on SQLite and on PostgreSQL, exchanging edits both
//! ways with a stock Rust device: it enrolls, pulls a household, pushes an edit and a visit that
//! the server accepts byte for byte, uploads the visit's photo, and pulls the Rust device's edit.
//!
//! Needs Node.js 20.15+ and the client's modules: `tests/js-client/setup` (`.ci/run` runs it).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::process::Command;
use zoufang_e2e::{
    Device, ServerProcess, TEST_PASSPHRASE, TEST_PASSWORD, TestDb, add_users, exported_household,
    roster_csv,
};
use zoufang_shared::ids::HouseholdId;

const HOUSEHOLD: &str = "hh-530921100201001";
const JS_PHONE: &str = "13912345678";

fn js_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("js-client")
}

/// Fails (never skips) when the client's modules are not installed.
fn require_setup() {
    let lib = js_dir().join("node_modules/@automerge/automerge/package.json");
    assert!(
        lib.exists(),
        "{} is missing: run tests/js-client/setup (npm ci of the JS reference client) first",
        lib.display()
    );
}

/// Runs `node run.mjs STEP` as the user `liu` with its state in `state`; returns its JSON.
async fn js(step: &str, server: &ServerProcess, state: &Path) -> Value {
    let run = Command::new("node")
        .arg("run.mjs")
        .arg(step)
        .current_dir(js_dir())
        .env("ZOUFANG_SERVER", &server.url)
        .env("ZOUFANG_USERNAME", "liu")
        .env("ZOUFANG_PASSWORD", TEST_PASSWORD)
        .env("ZOUFANG_HOUSEHOLD", HOUSEHOLD)
        .env("ZOUFANG_PHONE", JS_PHONE)
        .env("ZOUFANG_JS_STATE", state)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .unwrap_or_else(|_| panic!("node run.mjs {step} did not finish within 120 s"))
        .unwrap_or_else(|e| panic!("node (Node.js 20.15 or later) must be installed: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "node run.mjs {step}: {stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "node run.mjs {step} printed no JSON ({e}): {}\n{stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

async fn js_client_exchanges_with_a_rust_device(db: TestDb) {
    require_setup();
    let started = now_ms();
    let server = ServerProcess::start(&db.url).await;
    add_users(
        &server.database,
        &[
            ("zhang", "surveyor", "530921100"),
            ("liu", "surveyor", "530921100"),
        ],
    )
    .await;
    let rust = Device::enrolled(&server, "zhang").await;
    rust.import_roster(&roster_csv(&[("530921100201001", "三合村", 3)], 0))
        .await;
    let first = rust.sync().await;
    assert_eq!(first["accepted"], 1, "{first}");

    // The JS client enrolls, pulls the household, edits it, pushes and uploads the photo.
    let state = tempfile::tempdir().expect("state dir");
    let edit = js("edit", &server, state.path()).await;
    assert_eq!(
        edit["outcome"],
        json!({"kind": "accepted", "heads": []}),
        "{edit}"
    );
    assert!(edit["pulled_changes"].as_u64().unwrap_or(0) >= 1, "{edit}");
    let device = edit["device"].as_str().expect("device id");
    let changes = edit["changes"].as_array().expect("changes");
    assert_eq!(changes.len(), 2, "{edit}");
    for c in changes {
        let time = c["time"].as_i64().expect("time");
        assert!(
            (started - 60_000..=now_ms() + 60_000).contains(&time),
            "change time in milliseconds: {c}"
        );
        let message: Value =
            serde_json::from_str(c["message"].as_str().expect("message")).expect("message is JSON");
        assert_eq!(message, json!({"u": "liu", "d": device}));
    }
    assert_eq!(
        changes[1]["deps"],
        json!([changes[0]["hash"]]),
        "the visit depends on the edit (a packed back reference)"
    );
    let photo = &edit["photo"];
    let hash = photo["hash"].as_str().expect("photo hash").to_owned();
    let bytes = photo["bytes"].as_u64().expect("photo size");
    assert_eq!(photo["complete"], true, "{photo}");
    assert!(bytes > 256 * 1024, "two upload chunks: {photo}");
    assert_eq!(photo["sent"], bytes, "{photo}");
    let visit = edit["visit"].as_str().expect("visit id").to_owned();
    assert_eq!(edit["household"]["info"]["phone"], JS_PHONE);

    // The Rust device pulls both JS changes and reads them as its own model.
    let got = rust.sync().await;
    assert_eq!(got["pulled_changes"], 2, "{got}");
    assert_eq!(got["rejected"], json!([]), "{got}");
    let export = rust.export().await;
    let h = exported_household(&export, HOUSEHOLD);
    assert_eq!(h["info"]["phone"], JS_PHONE, "{h}");
    assert_eq!(h["living"]["distance_to_road_m"], 1200, "{h}");
    let v = &h["visits"][&visit];
    assert_eq!(v["attachments"], json!({ &hash: true }), "{h}");
    assert_eq!(v["mode"], "in_person", "{v}");
    assert_eq!(v["visitor_user"], "liu", "{v}");
    let meta = &h["attachments"][&hash];
    assert_eq!(meta["kind"], "photo", "{h}");
    assert_eq!(meta["mime"], "image/png", "{meta}");
    assert_eq!(meta["bytes"], bytes, "{meta}");
    assert_eq!(meta["visit"], visit.as_str(), "{meta}");

    // Its history names the JS device and user, at a time of today, not of January 1970.
    let dir = rust.data.path().to_owned();
    let history = tokio::task::spawn_blocking(move || {
        let store = zoufang_client::store::Store::unlock(&dir, TEST_PASSPHRASE).expect("store");
        store
            .doc(&HouseholdId::from(HOUSEHOLD))
            .expect("household doc")
            .history()
    })
    .await
    .expect("history task");
    let from_js: Vec<_> = history
        .iter()
        .filter(|c| c.device.as_deref() == Some(device))
        .collect();
    assert_eq!(from_js.len(), 2, "{history:?}");
    for c in from_js {
        assert_eq!(c.user.as_deref(), Some("liu"), "{c:?}");
        let at = c.at.expect("a change time").timestamp_millis();
        assert!((started - 60_000..=now_ms()).contains(&at), "{c:?}");
    }

    // The Rust device edits two other fields; the JS client pulls them.
    rust.ok(&["edit", HOUSEHOLD, "living.house_grade", "B级"])
        .await;
    rust.ok(&["edit", HOUSEHOLD, "info.bank_name", "农村信用社"])
        .await;
    let pushed = rust.sync().await;
    assert_eq!(pushed["accepted"], 1, "{pushed}");
    assert_eq!(pushed["rejected"], json!([]), "{pushed}");
    let check = js("check", &server, state.path()).await;
    assert_eq!(check["pulled_changes"], 2, "{check}");
    let seen = &check["household"];
    assert_eq!(seen["living"]["house_grade"], "b", "{seen}");
    assert_eq!(seen["info"]["bank_name"], "农村信用社", "{seen}");
    assert_eq!(seen["info"]["phone"], JS_PHONE, "{seen}");

    // The photo is stored whole: the server needs nothing more of it.
    let token = rust.setting("token").await.expect("token");
    let status: Value = reqwest::Client::new()
        .post(format!("{}/api/attachments/status", server.url))
        .bearer_auth(token)
        .json(&json!({ "hashes": [hash] }))
        .send()
        .await
        .expect("attachment status")
        .json()
        .await
        .expect("status JSON");
    assert_eq!(status, json!({"missing": []}));

    // Nothing is left to exchange.
    let idle = rust.sync().await;
    assert_eq!(idle["pushed_households"], 0, "{idle}");
    assert_eq!(idle["pulled_changes"], 0, "{idle}");
    server.kill().await;
}

zoufang_e2e::on_both_databases!(js_client_exchanges_with_a_rust_device);
