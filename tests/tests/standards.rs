//! The county's income standards table, end to end: an admin imports it on the server, a device
//! receives it at its next sync, and the device's verdict and the server's checks then use the
//! same line (issue 18). Real server and client processes, SQLite and PostgreSQL.

use serde_json::{Value, json};
use zoufang_e2e::review::Reviewer;
use zoufang_e2e::survey::{exit_ready_form, save_form};
use zoufang_e2e::{
    ClientProcess, Device, LI_DASHAN, ServerProcess, TestDb, WANG_XIUYING, couple_roster, texts,
    zoufang_server,
};
use zoufang_shared::rules::standards::Standards;

const HOUSEHOLD: &str = "hh-530921100201001";
const TOWNSHIP: &str = "530921100";

/// The built-in table plus the county's own 2023 line, which the built-in table lacks.
fn county_table() -> String {
    let mut table: Vec<Value> =
        serde_json::from_str(Standards::builtin_json()).expect("built-in table");
    table.push(json!({
        "year": 2023, "level": "national", "kind": "poverty_line", "amount_yuan": 5000,
        "source": "测试县:2023 年县扶贫办认定的收入线"
    }));
    serde_json::to_string_pretty(&table).expect("json")
}

/// Records what an exit needs but medical insurance, with a 2023 income of 4500 元 per person:
/// above the 2020 line the built-in table carries on (4000), below the county's 2023 line (5000).
async fn survey(device: &Device) {
    let ui = ClientProcess::start(device.data.path()).await;
    let form = exit_ready_form(2023, "9000");
    save_form(&reqwest::Client::new(), &ui, HOUSEHOLD, &form).await;
    ui.kill().await;
}

/// The device's verdict: the year of the line it applied, its failure codes, its failed
/// criteria as the server's projection lists them ("medical,income"), and the whole verdict.
async fn device_verdict(device: &Device) -> (i64, Vec<String>, String, Value) {
    let out = device.ok(&["--json", "show", HOUSEHOLD]).await;
    let shown: Value = serde_json::from_str(&out).expect("show JSON");
    let a = shown["assessment"].clone();
    let year = a["standard"]["year"]
        .as_i64()
        .unwrap_or_else(|| panic!("{a}"));
    let failures = a["failures"].as_array().expect("failures");
    let codes = texts(&a["failures"], "code")
        .into_iter()
        .map(str::to_owned)
        .collect();
    let mut criteria: Vec<&str> = Vec::new();
    for f in failures {
        let c = f["criterion"].as_str().expect("criterion");
        if !criteria.contains(&c) {
            criteria.push(c);
        }
    }
    let criteria = criteria.join(",");
    (year, codes, criteria, a)
}

/// The server's checks of the household: the criteria its projection found failed.
async fn server_failed(reviewer: &Reviewer) -> String {
    let (status, page) = reviewer
        .get(&format!("/api/review/roster?area={TOWNSHIP}"))
        .await;
    assert_eq!(status, 200, "{page}");
    let row = page["rows"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["id"] == HOUSEHOLD))
        .unwrap_or_else(|| panic!("{HOUSEHOLD} not in the roster: {page}"));
    row["failed_criteria"].as_str().unwrap_or("").to_owned()
}

async fn the_county_table_reaches_the_device_and_both_judge_alike(db: TestDb) {
    let (server, device) = ServerProcess::start_with_surveyor(&db.url, &[TOWNSHIP]).await;
    server
        .add_user("wu", "吴审核", "township_reviewer", &[TOWNSHIP])
        .await;
    device
        .import_roster(&couple_roster(LI_DASHAN, WANG_XIUYING))
        .await;
    survey(&device).await;

    // Before any table is imported, both sides carry the 2020 line on into 2023, and say so.
    let (year, codes, criteria, a) = device_verdict(&device).await;
    assert_eq!(year, 2020, "{a}");
    assert!(!codes.iter().any(|c| c.starts_with("income")), "{a}");
    assert!(
        a["notice"]
            .as_str()
            .is_some_and(|n| n.contains("沿用 2020 年标准")),
        "{a}"
    );
    let report = device.sync().await;
    assert_eq!(report["standards_updated"], false, "{report}");
    let reviewer = Reviewer::login(&server.url, "wu").await;
    assert_eq!(
        server_failed(&reviewer).await,
        criteria,
        "the same verdict on both sides"
    );

    // The county imports its table: validated, stored, every household rechecked.
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("standards.json");
    std::fs::write(&file, county_table()).expect("table");
    let (status, out, err) = zoufang_server(
        &db.url,
        &["standards", "import", &file.display().to_string()],
    )
    .await;
    assert!(status.success(), "import: {out}{err}");
    assert!(out.contains("已导入标准表"), "{out}");
    assert!(
        server_failed(&reviewer).await.contains("income"),
        "the server judges by the imported line at once"
    );

    // A bad table is refused and changes nothing.
    std::fs::write(&file, r#"[{"year": 2023, "level": "national"}]"#).expect("bad table");
    let (status, _, err) = zoufang_server(
        &db.url,
        &["standards", "import", &file.display().to_string()],
    )
    .await;
    assert!(!status.success() && err.contains("标准表"), "{err}");

    // The device receives the county's table at its next sync and judges by the same line.
    let report = device.sync().await;
    assert_eq!(report["standards_updated"], true, "{report}");
    let (year, codes, criteria, a) = device_verdict(&device).await;
    assert_eq!(year, 2023, "{a}");
    let income: Vec<&String> = codes.iter().filter(|c| c.starts_with("income")).collect();
    assert_eq!(income, ["income_below_line"], "{a}");
    assert!(a["notice"].is_null(), "{a}");
    assert!(
        a["standard"]["source"]
            .as_str()
            .is_some_and(|s| s.contains("测试县")),
        "{a}"
    );
    assert!(criteria.contains("income"), "{a}");
    assert_eq!(
        server_failed(&reviewer).await,
        criteria,
        "the same verdict on both sides"
    );

    // Nothing new: nothing fetched.
    let report = device.sync().await;
    assert_eq!(report["standards_updated"], false, "{report}");
}

zoufang_e2e::on_both_databases!(the_county_table_reaches_the_device_and_both_judge_alike);
