//! Sync over a bad link: three devices edit the same households and sync, repeatedly, through a
//! proxy that cuts connections at random byte offsets in either direction and stalls them
//! (see `zoufang_e2e::proxy`). A failed sync is retried until it succeeds. Afterwards, with the
//! link clean again, every device and a fresh one hold the same households, every edit made
//! anywhere is there, and nothing is there twice: the server logged each change once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::task::JoinSet;
use zoufang_e2e::db::ServerDb;
use zoufang_e2e::proxy::{FaultConfig, FaultCounts, FaultProxy, FaultSwitch};
use zoufang_e2e::{Device, ServerProcess, TestDb, add_users, roster_csv};

const TOWNSHIP: &str = "530921100";
const HOUSEHOLDS: usize = 6;
const ROUNDS: usize = 8;
/// Tries of one sync through the faulty link before the test gives up.
const MAX_ATTEMPTS: usize = 30;
const SURVEYORS: [&str; 3] = ["zhang", "li", "zhao"];

fn household_no(h: usize) -> String {
    format!("53092110020100{h}")
}

fn household_id(h: usize) -> String {
    format!("hh-{}", household_no(h))
}

/// Each device writes its own field on every household, so the final value of every
/// (household, field) is the one its device wrote last: (field, value) for device `d`.
fn edit(d: usize, h: usize, round: usize) -> (&'static str, Value) {
    match d {
        0 => ("info.phone", json!(format!("1380000{h}{round:03}"))),
        1 => ("living.house_area_m2", json!(40 + 10 * h + round)),
        _ => ("incomes.2026.wage", json!(((h + 1) * 100 + round) * 1000)),
    }
}

/// Reads a dotted field from an exported household.
fn field<'a>(household: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(household, |v, k| &v[k])
}

/// A bad link: seven connections in ten meet a fault. Cuts fall within the first kilobyte each
/// way, where requests and answers of a few edits lie (headers, then the body).
fn link() -> FaultConfig {
    FaultConfig {
        pass: 30,
        cut_up: 25,
        cut_down: 25,
        stall: 20,
        max_up_cut: 1_000,
        max_down_cut: 1_000,
        max_stall: Duration::from_millis(300),
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Attempts {
    syncs: usize,
    tries: usize,
    failures: usize,
}

/// Syncs until a sync completes; every failure must be the link's, not the server's refusal.
async fn sync_through_faults(i: usize, d: &Device, attempts: &mut Attempts) -> Value {
    attempts.syncs += 1;
    let mut last = String::new();
    for _ in 0..MAX_ATTEMPTS {
        attempts.tries += 1;
        let outcome = tokio::time::timeout(Duration::from_secs(120), d.try_sync())
            .await
            .unwrap_or_else(|_| panic!("device {i}: a sync hung"));
        match outcome {
            Ok(report) if report["incomplete"] == false => {
                assert_eq!(
                    report["rejected"].as_array().map(Vec::len),
                    Some(0),
                    "device {i}: {report}"
                );
                return report;
            }
            Ok(report) => last = format!("incomplete: {report}"),
            Err(e) => {
                attempts.failures += 1;
                assert!(
                    e.contains("无法连接服务器"),
                    "device {i}: a sync failed other than by the link: {e}"
                );
                last = e;
            }
        }
    }
    panic!("device {i}: no sync succeeded in {MAX_ATTEMPTS} tries; last: {last}");
}

async fn edits_survive_a_link_that_cuts_and_stalls(db: TestDb, seed: u64) {
    let started = Instant::now();
    let server = ServerProcess::start(&db.url).await;
    let mut users: Vec<(&str, &str, &str)> = SURVEYORS
        .iter()
        .map(|u| (*u, "surveyor", TOWNSHIP))
        .collect();
    users.push(("audit", "team_leader", TOWNSHIP));
    add_users(&db.url, &users).await;

    // One proxy per device, each with its own seed; one switch for all. Devices enroll through
    // their proxy while it passes everything, so their server address is the proxy's.
    let switch = FaultSwitch::default();
    let mut proxies = Vec::new();
    for i in 0..SURVEYORS.len() {
        proxies.push(
            FaultProxy::start(
                &server.url,
                seed.wrapping_add(i as u64),
                link(),
                switch.clone(),
            )
            .await,
        );
    }
    let mut devices = Vec::new();
    for (i, u) in SURVEYORS.iter().enumerate() {
        devices.push(Arc::new(Device::enrolled_at(&proxies[i].url, u).await));
    }
    let rows: Vec<(String, &str, usize)> = (0..HOUSEHOLDS)
        .map(|h| (household_no(h), "三合村", 1 + h % 3))
        .collect();
    let rows: Vec<(&str, &str, usize)> =
        rows.iter().map(|(n, v, m)| (n.as_str(), *v, *m)).collect();
    devices[0].import_roster(&roster_csv(&rows, 0)).await;
    assert_eq!(devices[0].sync().await["accepted"], HOUSEHOLDS);
    for d in &devices[1..] {
        d.sync().await;
    }
    let initial = devices[0].export().await;
    let members = |export: &Value, h: usize| {
        export
            .as_array()
            .and_then(|a| a.iter().find(|x| x["id"] == household_id(h)))
            .and_then(|x| x["members"].as_object())
            .map(|m| m.len())
            .unwrap_or_else(|| panic!("household {h} missing"))
    };
    let sdb = ServerDb::connect(&db.url).await;
    let logged_before = sdb.scalar("SELECT count(*) FROM changes").await;
    eprintln!("setup: {:?}", started.elapsed());

    // Rounds through the faulty link: every device edits its field on every household, then
    // syncs until it gets through; the devices run side by side.
    switch.on();
    let mut attempts = vec![Attempts::default(); devices.len()];
    for round in 0..ROUNDS {
        let mut set = JoinSet::new();
        for (i, d) in devices.iter().enumerate() {
            let (d, mut a) = (d.clone(), attempts[i]);
            set.spawn(async move {
                for h in 0..HOUSEHOLDS {
                    let (path, value) = edit(i, h, round);
                    d.ok(&["edit", &household_id(h), path, &value.to_string()])
                        .await;
                }
                sync_through_faults(i, &d, &mut a).await;
                (i, a)
            });
        }
        while let Some(done) = set.join_next().await {
            let (i, a) = done.expect("device task");
            attempts[i] = a;
        }
        eprintln!("round {round}: {:?}", started.elapsed());
    }

    // The link heals: two syncs each bring everything everywhere, a third finds nothing to do.
    switch.off();
    for pass in 0..3 {
        for (i, d) in devices.iter().enumerate() {
            let report = d.sync().await;
            assert_eq!(report["rejected"], json!([]), "device {i}: {report}");
            if pass == 2 {
                assert_eq!(report["pushed_households"], 0, "device {i}: {report}");
                assert_eq!(report["pulled_changes"], 0, "device {i}: {report}");
            }
        }
    }
    let auditor = Device::enrolled(&server, "audit").await;
    auditor.sync().await;
    let truth = auditor.export().await;

    let counts = proxies
        .iter()
        .map(FaultProxy::counts)
        .fold(FaultCounts::default(), |a, b| a + b);
    eprintln!("faults: {counts:#?}");
    for (i, a) in attempts.iter().enumerate() {
        eprintln!("device {i}: {a:?}");
    }
    assert!(
        counts.cut_up_done > 0 && counts.cut_down_done > 0 && counts.stall_done > 0,
        "the link should have cut both ways and stalled: {counts:?}"
    );

    // Everyone holds the same; every device's last edit of its field is there; nothing doubled.
    for (i, d) in devices.iter().enumerate() {
        assert!(
            d.export().await == truth,
            "device {i} differs from the server"
        );
    }
    let households = truth.as_array().expect("export");
    assert_eq!(households.len(), HOUSEHOLDS, "{truth}");
    for h in 0..HOUSEHOLDS {
        let x = households
            .iter()
            .find(|x| x["id"] == household_id(h))
            .unwrap_or_else(|| panic!("household {h} missing"));
        for d in 0..devices.len() {
            let (path, value) = edit(d, h, ROUNDS - 1);
            assert_eq!(field(x, path), &value, "household {h}: device {d}'s {path}");
        }
        assert_eq!(
            members(&truth, h),
            members(&initial, h),
            "household {h}'s members"
        );
        let show: Value =
            serde_json::from_str(&auditor.ok(&["--json", "show", &household_id(h)]).await)
                .expect("show");
        assert_eq!(show["conflicts"], json!([]), "household {h}: {show}");
    }
    // The server logged each edit exactly once: one change per edit, no more, no fewer.
    let edits = (devices.len() * ROUNDS * HOUSEHOLDS) as i64;
    let logged = sdb.scalar("SELECT count(*) FROM changes").await;
    assert_eq!(
        logged - logged_before,
        edits,
        "changes logged for {edits} edits"
    );
    assert_eq!(
        sdb.scalar("SELECT max(seq) FROM changes").await,
        logged,
        "the log's numbering has no gaps"
    );
    sdb.close().await;
    eprintln!("done: {:?}", started.elapsed());
    server.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_survive_a_link_that_cuts_and_stalls_on_sqlite() {
    edits_survive_a_link_that_cuts_and_stalls(TestDb::sqlite(), 0x00f1_e1d5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_survive_a_link_that_cuts_and_stalls_on_postgres() {
    edits_survive_a_link_that_cuts_and_stalls(TestDb::postgres(), 0x2c_0ffe).await;
}
