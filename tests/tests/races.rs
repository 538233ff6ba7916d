//! One device, several writers at once: a saved edit is never lost to the device's own
//! concurrency. Each story runs `RACE_ITERATIONS` (50 by default) seeded iterations with real
//! processes: two `zoufang edit` runs on one household at once; CLI edits while `zoufang sync`
//! applies a teammate's changes to the same household; the web UI saving a form while its sync
//! task runs. Afterwards every value a writer reported saved is on the device, on the server and
//! on a freshly enrolled device.
//!
//! Iteration `i` writes income year `2000 + i`, so every saved value stays visible to the check
//! (none is overwritten by a later iteration). `RACE_SEED` replays a sequence (printed).

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use zoufang_e2e::proxy::SplitMix64;
use zoufang_e2e::survey::{client_api, save_form};
use zoufang_e2e::{ClientProcess, Device, ServerProcess, TestDb, exported_household, roster_csv};
use zoufang_shared::rng::Draw as _;

const AREA: &str = "530921100";
const HOUSEHOLD: &str = "hh-530921100201001";

fn iterations() -> usize {
    std::env::var("RACE_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50)
}

fn seeded(story: &str) -> SplitMix64 {
    let seed = std::env::var("RACE_SEED")
        .ok()
        .and_then(|v| u64::from_str_radix(v.trim_start_matches("0x"), 16).ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0)
        });
    eprintln!("{story}: RACE_SEED={seed:#x}");
    SplitMix64::new(seed)
}

fn year(i: usize) -> String {
    (2000 + i).to_string()
}

/// A server with surveyors `zhang` and `li` of one township, and `zhang`'s device holding one
/// household, synced.
async fn world(db: &TestDb) -> (ServerProcess, Device) {
    let (server, x) = ServerProcess::start_with_surveyor(&db.url, &[AREA]).await;
    server.add_user("li", "李调查", "surveyor", &[AREA]).await;
    x.import_roster(&roster_csv(&[("530921100201001", "三合村", 2)], 0))
        .await;
    assert_eq!(x.sync().await["accepted"], 1);
    (server, x)
}

/// [`world`], with `li`'s device enrolled and synced too.
async fn world_of_two(db: &TestDb) -> (ServerProcess, Device, Device) {
    let (server, x) = world(db).await;
    let y = Device::enrolled(&server, "li").await;
    y.sync().await;
    (server, x, y)
}

/// `(path, value)` pairs the household must hold, e.g. `("incomes.2003.wage", 1234)`.
fn assert_holds(who: &str, export: &Value, expected: &[(String, i64)]) {
    let h = exported_household(export, HOUSEHOLD);
    let missing: Vec<String> = expected
        .iter()
        .filter(|(path, value)| path.split('.').fold(h, |v, k| &v[k]).as_i64() != Some(*value))
        .map(|(path, value)| {
            let held = path.split('.').fold(h, |v, k| &v[k]);
            format!("{path}: saved {value}, holds {held}")
        })
        .collect();
    assert!(
        missing.is_empty(),
        "{who} lost {} of {} saved edits:\n{}",
        missing.len(),
        expected.len(),
        missing.join("\n")
    );
}

/// The device, the server (through a freshly enrolled device) and any teammates hold every
/// saved value.
async fn assert_everywhere(
    server: &ServerProcess,
    devices: &[(&str, &Device)],
    saved: &[(String, i64)],
) {
    for _ in 0..2 {
        for (_, d) in devices {
            let report = d.sync().await;
            assert_eq!(report["rejected"], json!([]), "{report}");
        }
    }
    for (who, d) in devices {
        assert_holds(who, &d.export().await, saved);
    }
    let fresh = Device::enrolled(server, "li").await;
    fresh.sync().await;
    assert_holds("a freshly enrolled device", &fresh.export().await, saved);
}

/// Runs `zoufang edit HOUSEHOLD path value` after `delay`; it must report the edit saved.
async fn edit_after(device: &Device, delay: Duration, path: &str, value: i64) {
    tokio::time::sleep(delay).await;
    let (status, out, err) = device
        .run(&["edit", HOUSEHOLD, path, &value.to_string()])
        .await;
    assert!(status.success(), "edit {path}: {err}");
    assert!(out.contains("已保存"), "edit {path}: {out}");
}

/// R2: two edits of one household at once on one device, different fields.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_edits_at_once_on_one_device_both_stay() {
    let db = TestDb::sqlite();
    let (server, x) = world(&db).await;
    let mut rng = seeded("two edits at once");
    let mut saved = Vec::new();
    for i in 0..iterations() {
        let (wage, planting) = (
            format!("incomes.{}.wage", year(i)),
            format!("incomes.{}.planting", year(i)),
        );
        let (a, b) = (
            100 + rng.below(1_000_000) as i64,
            100 + rng.below(1_000_000) as i64,
        );
        let (da, db_) = (
            Duration::from_millis(rng.below(40)),
            Duration::from_millis(rng.below(40)),
        );
        tokio::join!(
            edit_after(&x, da, &wage, a),
            edit_after(&x, db_, &planting, b)
        );
        saved.push((wage, a));
        saved.push((planting, b));
        // Lost on the device itself shows at once.
        if i % 10 == 9 {
            assert_holds("the device", &x.export().await, &saved);
        }
    }
    assert_everywhere(&server, &[("the device", &x)], &saved).await;
}

/// Households Y adds per round of [`edits_during_a_sync_all_reach_the_server`].
const NEW_PER_ROUND: usize = 4;

/// R1: CLI edits on device X while X's `zoufang sync` applies Y's edits of the same household.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_during_a_sync_all_reach_the_server() {
    let db = TestDb::postgres();
    let (server, x, y) = world_of_two(&db).await;
    let mut rng = seeded("edits during a sync");
    let mut saved = Vec::new();
    // An edit loses pulled changes only if it reads the household just before the sync's
    // write transaction commits: aim the edit at the end of the sync, measured here.
    let started = std::time::Instant::now();
    x.sync().await;
    let sync_time = started.elapsed();
    let started = std::time::Instant::now();
    x.ok(&["edit", HOUSEHOLD, "info.phone", "13900000000"])
        .await;
    let edit_time = started.elapsed();
    let aim = sync_time.saturating_sub(edit_time);
    eprintln!("sync {sync_time:?}, edit {edit_time:?}: edits start {aim:?} after the sync ±150 ms");
    for i in 0..iterations() {
        let pension = format!("incomes.{}.pension", year(i));
        let wage = format!("incomes.{}.wage", year(i));
        let (p, w) = (
            100 + rng.below(1_000_000) as i64,
            100 + rng.below(1_000_000) as i64,
        );
        y.ok(&["edit", HOUSEHOLD, &pension, &p.to_string()]).await;
        // New households ride along, so X's sync writes for a while after the edited one.
        let rows: Vec<String> = (0..NEW_PER_ROUND)
            .map(|k| format!("530921100{:03}{k:03}", 300 + i))
            .collect();
        let rows: Vec<(&str, &str, usize)> =
            rows.iter().map(|n| (n.as_str(), "三合村", 1)).collect();
        y.import_roster(&roster_csv(&rows, 1000 + (i * NEW_PER_ROUND) as u32))
            .await;
        y.sync().await;
        let delay = (aim + Duration::from_millis(rng.below(300)))
            .saturating_sub(Duration::from_millis(150));
        let (report, ()) = tokio::join!(x.try_sync(), edit_after(&x, delay, &wage, w));
        let report = report.expect("sync");
        assert_eq!(report["rejected"], json!([]), "{report}");
        saved.push((pension, p));
        saved.push((wage, w));
        // Checked at once: a later pull of the household would heal a lost pulled change.
        assert_holds(
            "device X after its sync",
            &x.export().await,
            &saved[saved.len() - 2..],
        );
    }
    assert_everywhere(&server, &[("device X", &x), ("device Y", &y)], &saved).await;
}

/// The edit page's document version (the hidden `_version` input).
fn version_in(page: &str) -> String {
    let at = page
        .find("name=\"_version\" value=\"")
        .expect("the edit page carries its version");
    let rest = &page[at + "name=\"_version\" value=\"".len()..];
    rest[..rest.find('"').expect("end of value")].to_owned()
}

/// The web UI saves a form opened before its sync task pulled a teammate's value of a field the
/// form shows (empty) but the surveyor left alone: the save keeps the teammate's value, and the
/// sync keeps the save.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_ui_saving_while_its_sync_runs_loses_nothing() {
    let db = TestDb::sqlite();
    let (server, x, y) = world_of_two(&db).await;
    let ui = ClientProcess::start(x.data.path()).await;
    let http = reqwest::Client::new();
    let mut rng = seeded("web UI save during sync");
    let mut saved = Vec::new();
    for i in 0..iterations() {
        let pension = format!("incomes.{}.pension", year(i));
        let (p, w) = (
            100 + rng.below(1_000_000) as i64,
            100 + rng.below(1_000_000) as i64,
        );
        y.ok(&["edit", HOUSEHOLD, &pension, &p.to_string()]).await;
        y.sync().await;
        // The surveyor opens the form before the sync brings Y's value in.
        let page = http
            .get(format!("{}/h/{HOUSEHOLD}/edit", ui.url))
            .send()
            .await
            .expect("edit page")
            .text()
            .await
            .expect("page text");
        let version = version_in(&page);
        client_api(&http, &ui, Method::POST, "/api/sync", None).await;
        tokio::time::sleep(Duration::from_millis(rng.below(300))).await;
        // Yuan on the form; the pension as the page showed it (empty).
        let form = json!({
            "_version": version,
            "income.year": year(i),
            "income.wage": format!("{}.{:02}", w / 100, w % 100),
            "income.pension": "",
        });
        save_form(&http, &ui, HOUSEHOLD, &form).await;
        loop {
            let status = client_api(&http, &ui, Method::GET, "/api/sync", None).await;
            if status["running"] == false {
                assert_eq!(status["error"], Value::Null, "{status}");
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        saved.push((pension, p));
        saved.push((format!("incomes.{}.wage", year(i)), w));
    }
    ui.kill().await;
    assert_everywhere(&server, &[("device X", &x), ("device Y", &y)], &saved).await;
}
