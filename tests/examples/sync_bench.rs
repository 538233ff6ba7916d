//! Sync figures on loopback against a real server process (SQLite):
//! - an evening sync: 1,000 households in scope, 200 of them edited (a visit and 15 field edits
//!   each): bytes up and down, round trips, time; beside it, what sending those 200 households
//!   whole (gzip) would cost;
//! - a first download of 5,000 households to a new device;
//! - server merges per second while 5,000 new households are pushed.
//!
//! `cargo run --release -p zoufang-e2e --example sync_bench` (builds the server first:
//! `cargo build --release -p zoufang-server`).

use std::io::Write;
use std::time::Instant;

use zoufang_client::store::{ListFilter, Store};
use zoufang_client::sync::{self, SyncReport};
use zoufang_client::{import, roster_gen};
use zoufang_e2e::{ServerProcess, TEST_PASSWORD, TestDb};
use zoufang_shared::codes::{Satisfaction, VisitMode};
use zoufang_shared::model::Visit;

async fn device(server: &ServerProcess, user: &str) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("dir");
    let mut store = Store::open(dir.path()).expect("store");
    store.init(user, user).expect("init");
    sync::enroll(&store, &server.url, user, TEST_PASSWORD, "bench")
        .await
        .expect("enroll");
    (dir, store)
}

async fn run_sync(store: &mut Store) -> (SyncReport, f64) {
    let t = Instant::now();
    let r = sync::sync(store, |_| {}).await.expect("sync");
    (r, t.elapsed().as_secs_f64())
}

fn import_roster(store: &mut Store, households: &[roster_gen::RosterHousehold]) {
    let today = chrono::Local::now().date_naive();
    let csv = roster_gen::to_csv(households);
    let report = import::import(store, csv.as_bytes(), today).expect("import");
    assert_eq!(
        report.imported,
        households.len(),
        "{:?}",
        report.bad.first()
    );
}

/// A visit and 15 field edits, as two saves.
fn edit(store: &mut Store, id: &str, n: usize) {
    let id = zoufang_shared::ids::HouseholdId::from(id);
    store
        .edit_household(&id, |e| {
            e.add_visit(&Visit {
                date: chrono::Local::now().date_naive(),
                visitor: "张调查".into(),
                visitor_user: Some("bench".into()),
                mode: VisitMode::InPerson,
                household_present: Some(true),
                notes: format!("第 {n} 户:核实收入与住房,户主在家。"),
                policies_known: "医保、低保".into(),
                satisfaction: Some(Satisfaction::Satisfied),
                attachments: Default::default(),
            })
            .map(|_| ())
        })
        .expect("visit");
    let year = chrono::Datelike::year(&chrono::Local::now().date_naive());
    let income = |item: &str| format!("incomes.{year}.{item}");
    let fields: Vec<(String, serde_json::Value)> = vec![
        ("info.phone".into(), format!("139{n:08}").into()),
        ("info.food_secure".into(), true.into()),
        ("info.clothing_secure".into(), true.into()),
        ("living.house_grade".into(), "b".into()),
        ("living.house_area_m2".into(), (80 + n % 40).into()),
        ("living.sanitary_toilet".into(), true.into()),
        ("living.living_power".into(), true.into()),
        ("water.litres_per_person_day".into(), 60.into()),
        ("water.trip_minutes".into(), 5.into()),
        ("water.cut_days_per_year".into(), 3.into()),
        ("water.quality_tested".into(), true.into()),
        (income("wage"), ((18_000 + n) * 100).into()),
        (income("planting"), 320_000.into()),
        (income("transfer_other"), 200_000.into()),
        (income("production_cost"), 110_000.into()),
    ];
    store
        .edit_household(&id, |e| {
            for (path, value) in &fields {
                e.set_field(path, value.clone())?;
            }
            Ok(())
        })
        .expect("form save");
}

fn gzip_len(bytes: &[u8]) -> usize {
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(bytes).expect("gzip");
    z.finish().expect("gzip").len()
}

#[tokio::main]
async fn main() {
    let db = TestDb::sqlite();
    let server = ServerProcess::start(&db.url).await;
    server
        .add_user("bench", "基准", "county_supervisor", &["530921"])
        .await;
    server
        .add_user("fresh", "新设备", "county_supervisor", &["530921"])
        .await;

    // --- W1: 1,000 households, then 200 edited.
    let (_a_dir, mut a) = device(&server, "bench").await;
    let roster = roster_gen::generate(6_000, 1, chrono::Local::now().date_naive());
    import_roster(&mut a, &roster[..1_000]);
    let (first, t_first) = run_sync(&mut a).await;
    let ids: Vec<String> = a
        .list(&ListFilter::default())
        .expect("list")
        .into_iter()
        .map(|r| r.id)
        .collect();
    for (n, id) in ids.iter().take(200).enumerate() {
        edit(&mut a, id, n);
    }
    let mut whole_json = 0;
    for id in ids.iter().take(200) {
        let h = a.household(&id.as_str().into()).expect("household");
        whole_json += gzip_len(&serde_json::to_vec(&h).expect("json"));
    }
    let (evening, t_evening) = run_sync(&mut a).await;

    // --- W2 and merges: 5,000 new households pushed, then downloaded by a new device.
    import_roster(&mut a, &roster[1_000..]);
    let (push, t_push) = run_sync(&mut a).await;
    let (_c_dir, mut c) = device(&server, "fresh").await;
    let (download, t_download) = run_sync(&mut c).await;

    println!("sync bench (loopback, SQLite server, release build)");
    println!(
        "first upload, 1,000 households: {} rounds, {} B up, {} B down, {:.2} s",
        first.rounds, first.bytes_up, first.bytes_down, t_first
    );
    println!(
        "W1 evening sync, 200 of 1,000 edited: {} rounds, {} B up ({} B of changes before \
         compression), {} B down, {:.3} s",
        evening.rounds, evening.bytes_up, evening.pushed_bytes, evening.bytes_down, t_evening
    );
    println!(
        "   the same 200 households as whole records (gzip JSON, one each): {whole_json} B \
         ({:.1}x the sync's upload)",
        whole_json as f64 / evening.bytes_up.max(1) as f64
    );
    println!(
        "push of 5,000 new households: {} rounds, {} B up, {:.2} s = {:.0} household merges/s",
        push.rounds,
        push.bytes_up,
        t_push,
        5_000.0 / t_push
    );
    println!(
        "W2 first download to a new device, 6,000 households: {} rounds, {} B down, {} changes, \
         {:.2} s",
        download.rounds, download.bytes_down, download.pulled_changes, t_download
    );
    server.kill().await;
}
