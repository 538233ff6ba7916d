//! Sync end to end: real server processes (SQLite and PostgreSQL), real client processes, real
//! sockets. Each story runs against both backends.

use std::path::Path;

use serde_json::{Value, json};
use zoufang_e2e::areas::{JINXIU, SANHE};
use zoufang_e2e::survey::save_form;
use zoufang_e2e::{
    ClientProcess, Device, LI_DASHAN, ServerProcess, TestDb, WANG_XIUYING, couple_roster,
    exported_household as household, photos, texts,
};
use zoufang_shared::demo::id_number;

const HOUSEHOLD: &str = "hh-530921100201001";

/// Adds a member and records a visit with a photo through the device's own web UI API, as the
/// phone does.
async fn add_member_via_ui(device: &Device, name: &str, birth: &str) {
    let ui = ClientProcess::start(device.data.path()).await;
    let http = reqwest::Client::new();
    let photo = photos::upload(&http, &ui.url, "image/png", photos::png(800, 600, 300_000)).await;
    photos::record_visit(
        &http,
        &ui.url,
        HOUSEHOLD,
        "2026-11-20",
        "李调查",
        &[&photo["hash"]],
    )
    .await;
    let form = json!({
        "m.new1.name": name,
        "m.new1.relation": "son",
        "m.new1.sex": "male",
        "m.new1.id_number": id_number(birth, "031"),
    });
    save_form(&http, &ui, HOUSEHOLD, &form).await;
    ui.kill().await;
}

/// Two surveyors of 诗礼乡.
const SURVEYORS: [Account; 2] = [
    ("zhang", "张调查", "surveyor", "530921100"),
    ("li", "李调查", "surveyor", "530921100"),
];
/// A team leader of the whole county and a surveyor of 诗礼乡. (Not the county supervisor: that
/// role reads through the review pages and may not hold a device.)
const COUNTY_AND_SHILI: [Account; 2] = [
    ("zhao", "赵队长", "team_leader", "530921"),
    ("zhang", "张调查", "surveyor", "530921100"),
];

/// (username, name, role, area).
type Account = (&'static str, &'static str, &'static str, &'static str);

/// A server with these accounts, one enrolled device each, and the roster imported (not yet
/// synced) on the first.
async fn setup<const N: usize>(
    db: &TestDb,
    accounts: &[Account; N],
) -> (ServerProcess, [Device; N]) {
    let server = ServerProcess::start(&db.url).await;
    let mut devices = Vec::new();
    for (username, name, role, area) in accounts {
        server.add_user(username, name, role, &[area]).await;
        devices.push(Device::enrolled(&server, username).await);
    }
    let first = &devices[0];
    let csv = first.data.path().join("roster.csv");
    std::fs::write(&csv, couple_roster(LI_DASHAN, WANG_XIUYING)).expect("csv");
    first.ok(&["import", &csv.display().to_string()]).await;
    let devices = <[Device; N]>::try_from(devices)
        .ok()
        .expect("one device per account");
    (server, devices)
}

/// Moves [`HOUSEHOLD`] to the village `area_code` on `device` (not yet synced).
async fn move_household(device: &Device, area_code: &str) {
    device
        .ok(&["edit", HOUSEHOLD, "info.area_code", area_code])
        .await;
}

async fn two_devices_edit_offline_and_converge(db: TestDb) {
    let (server, [a, b]) = setup(&db, &SURVEYORS).await;
    let first = a.sync().await;
    assert_eq!(first["accepted"], 1, "{first}");
    let got = b.sync().await;
    assert!(got["pulled_changes"].as_u64().unwrap_or(0) >= 1, "{got}");
    assert_eq!(
        household(&a.export().await, HOUSEHOLD),
        household(&b.export().await, HOUSEHOLD)
    );

    // Offline: A changes the income and grades the house C; B adds a member and grades it D.
    a.ok(&["edit", HOUSEHOLD, "incomes.2026.wage", "2400000"])
        .await;
    a.ok(&["edit", HOUSEHOLD, "living.house_grade", "C级"])
        .await;
    add_member_via_ui(&b, "李小明", "20120905").await;
    b.ok(&["edit", HOUSEHOLD, "living.house_grade", "D级"])
        .await;

    a.sync().await;
    let with_photo = b.sync().await;
    assert_eq!(with_photo["attachments_uploaded"], 1, "{with_photo}");
    assert!(with_photo["attachment_bytes"].as_u64().unwrap_or(0) > 300_000);
    a.sync().await;
    // A third device, new, holds exactly what the server holds.
    server
        .add_user("wang", "王队长", "team_leader", &["530921100"])
        .await;
    let c = Device::enrolled(&server, "wang").await;
    c.sync().await;

    let (ea, eb, ec) = (a.export().await, b.export().await, c.export().await);
    let h = household(&ea, HOUSEHOLD);
    assert_eq!(h, household(&eb, HOUSEHOLD), "A and B converge");
    assert_eq!(h, household(&ec, HOUSEHOLD), "the server has the same");
    assert_eq!(
        h["incomes"]["2026"]["wage"], 2_400_000,
        "the income survives"
    );
    let names: Vec<&str> = h["members"]
        .as_object()
        .expect("members")
        .values()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert!(names.contains(&"李小明"), "the member survives: {names:?}");
    assert_eq!(names.len(), 3);

    for device in [&a, &b, &c] {
        let show: Value =
            serde_json::from_str(&device.ok(&["--json", "show", HOUSEHOLD]).await).expect("show");
        let conflicts = show["conflicts"].as_array().expect("conflicts");
        let grade = conflicts
            .iter()
            .find(|c| c["path"] == json!(["living", "house_grade"]))
            .unwrap_or_else(|| panic!("house grade conflict missing: {conflicts:?}"));
        let offered = grade["values"].as_array().expect("values");
        let mut values = texts(&grade["values"], "value");
        values.sort();
        assert_eq!(values, ["c", "d"]);
        let writers: Vec<&str> = offered.iter().filter_map(|v| v["user"].as_str()).collect();
        assert!(
            writers.contains(&"zhang") && writers.contains(&"li"),
            "{writers:?}"
        );
    }

    // Nothing left to do: another sync moves nothing.
    let idle = a.sync().await;
    assert_eq!(idle["pushed_households"], 0, "{idle}");
    assert_eq!(idle["pulled_changes"], 0, "{idle}");
    let idle = b.sync().await;
    assert_eq!(idle["attachments_uploaded"], 0, "{idle}");
    assert_eq!(h["visits"].as_object().map(|v| v.len()), Some(1));

    // The household page names the conflicted field and each value as people read them.
    let ui = ClientProcess::start(a.data.path()).await;
    let page = reqwest::get(format!("{}/h/{HOUSEHOLD}", ui.url))
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    ui.kill().await;
    assert!(page.contains("<strong>危房等级</strong>"), "{page}");
    assert!(
        page.contains("C级 — zhang") && page.contains("D级 — li"),
        "{page}"
    );

    // A decision taken on the server reaches the devices on their next sync.
    let (status, _, err) = zoufang_e2e::zoufang_server(
        &server.database,
        &[
            "household",
            "set",
            HOUSEHOLD,
            "info.status",
            "已脱贫(享受政策)",
            "--user",
            "wang",
        ],
    )
    .await;
    assert!(status.success(), "{err}");
    let got = a.sync().await;
    assert_eq!(got["pulled_changes"], 1, "{got}");
    let after = a.export().await;
    assert_eq!(
        household(&after, HOUSEHOLD)["info"]["status"],
        "exited_supported"
    );
    let show: Value =
        serde_json::from_str(&a.ok(&["--json", "show", HOUSEHOLD]).await).expect("show");
    assert_eq!(
        show["conflicts"].as_array().map(Vec::len),
        Some(1),
        "still only the grade"
    );
    server.kill().await;
}

zoufang_e2e::on_both_databases!(two_devices_edit_offline_and_converge);

/// `zoufang-server bundle import STICK --reply REPLY`: the office's side of a sync by file.
async fn import_bundle(
    db: &TestDb,
    stick: &Path,
    reply: &Path,
) -> (std::process::ExitStatus, String, String) {
    let (stick, reply) = (stick.display().to_string(), reply.display().to_string());
    zoufang_e2e::zoufang_server(&db.url, &["bundle", "import", &stick, "--reply", &reply]).await
}

async fn a_device_without_network_syncs_by_file(db: TestDb) {
    let (server, [a, b]) = setup(&db, &SURVEYORS).await;
    a.sync().await;
    b.sync().await;
    b.ok(&["edit", HOUSEHOLD, "info.phone", "13900000001"])
        .await;
    b.sync().await;

    // A is in a village with no signal: its edit goes on a USB stick.
    a.ok(&["edit", HOUSEHOLD, "living.house_grade", "B级"])
        .await;
    let stick = a.data.path().join("to-township.zfb");
    let reply = a.data.path().join("from-township.zfb");
    a.ok(&["bundle", "export", &stick.display().to_string()])
        .await;

    let mut tampered = std::fs::read(&stick).expect("bundle");
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let bad = a.data.path().join("tampered.zfb");
    std::fs::write(&bad, tampered).expect("write");
    let (status, _, err) = import_bundle(&db, &bad, Path::new("/dev/null")).await;
    assert!(!status.success());
    assert!(err.contains("已被改动"), "{err}");

    for _ in 0..2 {
        // Importing the same stick twice is harmless.
        let (status, out, err) = import_bundle(&db, &stick, &reply).await;
        assert!(status.success(), "{err}");
        assert!(out.contains("1 户的修改已处理"), "{out}");
    }
    let back: Value = serde_json::from_str(
        &a.ok(&["--json", "bundle", "import", &reply.display().to_string()])
            .await,
    )
    .expect("reply JSON");
    assert_eq!(back["accepted"], 1, "{back}");
    assert!(
        back["pulled_changes"].as_u64().unwrap_or(0) >= 1,
        "B's phone came back: {back}"
    );

    b.sync().await;
    let (ea, eb) = (a.export().await, b.export().await);
    assert_eq!(household(&ea, HOUSEHOLD), household(&eb, HOUSEHOLD));
    assert_eq!(household(&ea, HOUSEHOLD)["living"]["house_grade"], "b");
    assert_eq!(household(&ea, HOUSEHOLD)["info"]["phone"], "13900000001");
    let idle = a.sync().await;
    assert_eq!(
        idle["pushed_households"], 0,
        "the stick's work counts as synced: {idle}"
    );
    server.kill().await;
}

zoufang_e2e::on_both_databases!(a_device_without_network_syncs_by_file);

/// A household that moves into a device's areas arrives whole, though the device never saw the
/// changes made while it was elsewhere.
async fn a_household_moving_into_scope_arrives_whole(db: TestDb) {
    let (server, [county, shili]) = setup(&db, &COUNTY_AND_SHILI).await;
    move_household(&county, JINXIU).await;
    county
        .ok(&["edit", HOUSEHOLD, "info.phone", "13900000002"])
        .await;
    county.sync().await;
    let before = shili.sync().await;
    assert_eq!(before["pulled_changes"], 0, "not in 诗礼乡 yet: {before}");

    move_household(&county, SANHE).await;
    county.sync().await;
    let moved = shili.sync().await;
    assert_eq!(
        moved["rounds"], 2,
        "one round finds the gap, one fetches it whole: {moved}"
    );
    let (ec, es) = (county.export().await, shili.export().await);
    assert_eq!(household(&ec, HOUSEHOLD), household(&es, HOUSEHOLD));
    assert_eq!(household(&es, HOUSEHOLD)["info"]["phone"], "13900000002");
    let idle = shili.sync().await;
    assert_eq!(idle["rounds"], 1, "{idle}");
    server.kill().await;
}

zoufang_e2e::on_both_databases!(a_household_moving_into_scope_arrives_whole);

/// A surveyor given another township receives its households, though the device's cursor had
/// long passed their changes.
async fn a_wider_scope_brings_what_is_newly_in_it(db: TestDb) {
    let (server, [county, zhang]) = setup(&db, &COUNTY_AND_SHILI).await;
    move_household(&county, JINXIU).await;
    county.sync().await;
    zhang.sync().await;
    assert_eq!(zhang.export().await, json!([]), "小湾镇 is not zhang's yet");

    server.set_areas("zhang", &["530921100", "530921200"]).await;
    zhang.sync().await;
    assert_eq!(
        household(&zhang.export().await, HOUSEHOLD),
        household(&county.export().await, HOUSEHOLD)
    );
    server.kill().await;
}

zoufang_e2e::on_both_databases!(a_wider_scope_brings_what_is_newly_in_it);
