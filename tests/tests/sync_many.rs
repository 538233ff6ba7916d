//! Many devices, two server processes, one database: 20 devices in two townships import their
//! own households, then in rounds edit their own and their neighbours' households and sync, all
//! at once, each round against the other server process. Afterwards every device holds exactly
//! what the server holds for its township — what a fresh device of that township downloads —
//! and nothing of the other township. On PostgreSQL (the deployment with several server
//! processes) and on one SQLite file in WAL mode shared by two processes.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use tokio::task::JoinSet;
use zoufang_e2e::db::ServerDb;
use zoufang_e2e::{
    Device, ServerProcess, TestDb, add_users, enroll_all, export_ids as ids, roster_csv,
};

const DEVICES: usize = 20;
const PER_TOWNSHIP: usize = DEVICES / 2;
const HOUSEHOLDS_PER_DEVICE: usize = 3;
const ROUNDS: usize = 3;

struct Township {
    code: &'static str,
    village: &'static str,
    village_code: &'static str,
    surveyors: [&'static str; 2],
    auditor: &'static str,
}

const TOWNSHIPS: [Township; 2] = [
    Township {
        code: "530921100",
        village: "三合村",
        village_code: "530921100201",
        surveyors: ["shili-1", "shili-2"],
        auditor: "shili-review",
    },
    Township {
        code: "530921200",
        village: "锦秀村",
        village_code: "530921200201",
        surveyors: ["xiaowan-1", "xiaowan-2"],
        auditor: "xiaowan-review",
    },
];

/// Device `i` works in township `i / PER_TOWNSHIP`, as its `i % PER_TOWNSHIP`-th device.
fn township(i: usize) -> &'static Township {
    &TOWNSHIPS[i / PER_TOWNSHIP]
}

/// 户编号 of device `i`'s household `h`.
fn household_no(i: usize, h: usize) -> String {
    format!("{}{:02}{}", township(i).village_code, i, h)
}

fn household_id(i: usize, h: usize) -> String {
    format!("hh-{}", household_no(i, h))
}

/// The device `k` places after `i` in the same township.
fn neighbour(i: usize, k: usize) -> usize {
    let base = i / PER_TOWNSHIP * PER_TOWNSHIP;
    base + (i % PER_TOWNSHIP + k) % PER_TOWNSHIP
}

/// The phone number device `i` gives its own household `h` (in round `h`, the only round that
/// writes it): the value every device must end with.
fn phone(i: usize, h: usize) -> String {
    format!("139{i:04}{h:04}")
}

/// Runs `f` for every device at once; results in device order.
async fn each<F, Fut, T>(devices: &[Arc<Device>], f: F) -> Vec<T>
where
    F: Fn(usize, Arc<Device>) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let mut set = JoinSet::new();
    for (i, d) in devices.iter().enumerate() {
        let fut = f(i, d.clone());
        set.spawn(async move { (i, fut.await) });
    }
    let mut out = Vec::with_capacity(devices.len());
    while let Some(done) = set.join_next().await {
        out.push(done.expect("device task"));
    }
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, t)| t).collect()
}

/// A sync that must complete with nothing rejected; returns the report.
async fn clean_sync(i: usize, d: &Device) -> Value {
    let report = d.sync().await;
    assert_eq!(
        report["rejected"].as_array().map(Vec::len),
        Some(0),
        "device {i}: {report}"
    );
    assert_eq!(report["incomplete"], false, "device {i}: {report}");
    report
}

async fn many_devices_two_servers_converge(db: TestDb) {
    let started = Instant::now();
    let a = ServerProcess::start(&db.url).await;
    let b = ServerProcess::spawn(&db.url).await;
    let servers = [a.url.clone(), b.url.clone()];
    let mut users = Vec::new();
    for t in &TOWNSHIPS {
        for s in t.surveyors {
            users.push((s, "surveyor", t.code));
        }
        users.push((t.auditor, "township_reviewer", t.code));
    }
    add_users(&db.url, &users).await;
    // Half the devices enroll at each server process.
    let names: Vec<&str> = (0..DEVICES).map(|i| township(i).surveyors[i % 2]).collect();
    let at_a: Vec<&str> = names.iter().step_by(2).copied().collect();
    let at_b: Vec<&str> = names.iter().skip(1).step_by(2).copied().collect();
    let (even, odd) = tokio::join!(
        enroll_all(&servers[0], &at_a),
        enroll_all(&servers[1], &at_b)
    );
    let mut devices: Vec<Option<Device>> = (0..DEVICES).map(|_| None).collect();
    for (k, d) in even.into_iter().enumerate() {
        devices[2 * k] = Some(d);
    }
    for (k, d) in odd.into_iter().enumerate() {
        devices[2 * k + 1] = Some(d);
    }
    let devices: Vec<Arc<Device>> = devices
        .into_iter()
        .map(|d| Arc::new(d.expect("every device enrolled")))
        .collect();
    eprintln!("setup: {:?}", started.elapsed());

    // Every device imports its own households and sends them; then everyone pulls.
    each(&devices, |i, d| async move {
        let rows: Vec<(String, &str, usize)> = (0..HOUSEHOLDS_PER_DEVICE)
            .map(|h| (household_no(i, h), township(i).village, 1 + h % 2))
            .collect();
        let rows: Vec<(&str, &str, usize)> =
            rows.iter().map(|(n, v, m)| (n.as_str(), *v, *m)).collect();
        d.import_roster(&roster_csv(&rows, (i * 100) as u32)).await;
        let report = clean_sync(i, &d).await;
        assert_eq!(
            report["accepted"], HOUSEHOLDS_PER_DEVICE,
            "device {i}: {report}"
        );
    })
    .await;
    each(&devices, |i, d| async move {
        clean_sync(i, &d).await;
    })
    .await;
    eprintln!("imported: {:?}", started.elapsed());

    // Rounds: every device, at once, edits one of its own households and one of a neighbour's
    // (a different neighbour each round), and syncs — with the other server process than last round.
    for round in 0..ROUNDS {
        let servers = servers.clone();
        each(&devices, move |i, d| {
            let server = servers[(i + round) % 2].clone();
            async move {
                d.set_setting("server_url", &server).await;
                d.ok(&[
                    "edit",
                    &household_id(i, round % HOUSEHOLDS_PER_DEVICE),
                    "info.phone",
                    &phone(i, round % HOUSEHOLDS_PER_DEVICE),
                ])
                .await;
                let n = neighbour(i, 1 + round);
                d.ok(&[
                    "edit",
                    &household_id(n, (round + 1) % HOUSEHOLDS_PER_DEVICE),
                    "living.house_area_m2",
                    &(50 + i + round).to_string(),
                ])
                .await;
                let report = clean_sync(i, &d).await;
                assert!(
                    report["accepted"].as_u64().unwrap_or(0) >= 1,
                    "device {i}, round {round}: {report}"
                );
            }
        })
        .await;
        eprintln!("round {round}: {:?}", started.elapsed());
    }

    // Settle: everyone syncs twice (the first sends everything, the second brings everything),
    // then once more, which must find nothing to do.
    for pass in 0..3 {
        let servers = servers.clone();
        let reports = each(&devices, move |i, d| {
            let server = servers[(i + pass) % 2].clone();
            async move {
                d.set_setting("server_url", &server).await;
                clean_sync(i, &d).await
            }
        })
        .await;
        if pass == 2 {
            for (i, r) in reports.iter().enumerate() {
                assert_eq!(r["pushed_households"], 0, "device {i} still had work: {r}");
                assert_eq!(r["pulled_changes"], 0, "device {i} still had work: {r}");
            }
        }
    }
    eprintln!("settled: {:?}", started.elapsed());

    // A fresh device per township downloads what the server holds.
    let auditors = [
        Device::enrolled(&a, TOWNSHIPS[0].auditor).await,
        Device::enrolled(&b, TOWNSHIPS[1].auditor).await,
    ];
    let mut truth = Vec::new();
    for (t, auditor) in TOWNSHIPS.iter().zip(&auditors) {
        clean_sync(usize::MAX, auditor).await;
        let export = auditor.export().await;
        let expected: Vec<String> = {
            let mut v: Vec<String> = (0..DEVICES)
                .filter(|i| township(*i).code == t.code)
                .flat_map(|i| (0..HOUSEHOLDS_PER_DEVICE).map(move |h| household_id(i, h)))
                .collect();
            v.sort();
            v
        };
        assert_eq!(ids(&export), expected, "the server's {} households", t.code);
        for h in export.as_array().expect("export") {
            let area = h["info"]["area_code"].as_str().unwrap_or("");
            assert!(area.starts_with(t.code), "{} is in {area}", h["id"]);
        }
        truth.push(export);
    }
    let sdb = ServerDb::connect(&db.url).await;
    assert_eq!(
        sdb.scalar("SELECT count(*) FROM households").await,
        (DEVICES * HOUSEHOLDS_PER_DEVICE) as i64
    );
    sdb.close().await;

    // Every device holds exactly that, for its township, and nothing else.
    let truth = Arc::new(truth);
    each(&devices, |i, d| {
        let truth = truth.clone();
        async move {
            let t = i / PER_TOWNSHIP;
            let export = d.export().await;
            assert_eq!(
                ids(&export),
                ids(&truth[t]),
                "device {i} holds its township's households, and only those"
            );
            assert!(export == truth[t], "device {i} differs from the server");
            for (j, h) in (0..DEVICES)
                .filter(|j| j / PER_TOWNSHIP == t)
                .flat_map(|j| (0..HOUSEHOLDS_PER_DEVICE).map(move |h| (j, h)))
            {
                let got = export
                    .as_array()
                    .and_then(|a| a.iter().find(|x| x["id"] == household_id(j, h)))
                    .map(|x| x["info"]["phone"].clone());
                assert_eq!(
                    got,
                    Some(Value::String(phone(j, h))),
                    "device {i}: device {j}'s phone edit of its household {h} is lost"
                );
            }
        }
    })
    .await;
    eprintln!("checked: {:?}", started.elapsed());
    a.kill().await;
    b.kill().await;
}

zoufang_e2e::on_both_databases!(many_devices_two_servers_converge);
