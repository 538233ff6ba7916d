//! Reports counted on a streaming standby (`serve --read-database`): a primary and its standby
//! made for the test ([`zoufang_e2e::standby`]); devices sync into the primary, the county's
//! report is read from the standby, and it shows the standby's state (replay paused: the old
//! counts; resumed: the new), while rosters and sync stay on the primary.

use serde_json::Value;
use zoufang_e2e::areas::SHILI;
use zoufang_e2e::review::Reviewer;
use zoufang_e2e::standby::{Replicated, sql};
use zoufang_e2e::{Device, roster_csv, zoufang_server};

/// Households of the report's whole area (its total line).
fn households(report: &Value) -> u64 {
    report["total"]["all"]["households"]
        .as_u64()
        .unwrap_or_else(|| panic!("no household count in {report}"))
}

async fn enter(device: &Device, numbers: &[&str], first_person: u32) {
    let rows: Vec<(&str, &str, usize)> = numbers.iter().map(|n| (*n, "三合村", 2)).collect();
    device.import_roster(&roster_csv(&rows, first_person)).await;
    device.sync().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_are_counted_on_the_standby() {
    let pair = Replicated::start();
    let server = pair.serve().await;
    server
        .add_user("zhang", "张调查", "surveyor", &[SHILI])
        .await;
    server
        .add_user("wang", "王审核", "township_reviewer", &[SHILI])
        .await;
    let device = Device::enrolled(&server, "zhang").await;
    let report_url = format!("/api/review/report?area={SHILI}");

    enter(&device, &["530921100201001", "530921100201002"], 0).await;
    pair.wait_caught_up().await;
    let wang = Reviewer::login(&server.url, "wang").await;
    let (status, report) = wang.get(&report_url).await;
    assert_eq!(status.as_u16(), 200, "{report}");
    assert_eq!(households(&report), 2);

    // The standby stops following; the evening's sync still reaches the primary.
    pair.pause_replay();
    enter(&device, &["530921100201003"], 100).await;
    let on_primary = sql(&pair.primary, "SELECT COUNT(*) FROM households");
    assert_eq!(on_primary, "3", "the push is on the primary");
    let (_, roster) = wang.get(&format!("/api/review/roster?area={SHILI}")).await;
    assert_eq!(roster["households"], 3, "rosters read the primary");
    let (_, report) = wang.get(&report_url).await;
    assert_eq!(households(&report), 2, "the report is the standby's");

    pair.resume_replay();
    pair.wait_caught_up().await;
    let (_, report) = wang.get(&report_url).await;
    assert_eq!(households(&report), 3, "caught up");
    server.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_behind_the_schema_is_refused() {
    let pair = Replicated::start();
    // The standby keeps the empty database while the primary is migrated.
    pair.pause_replay();
    let args = [
        "serve",
        "--migrate",
        "--listen",
        "127.0.0.1:0",
        "--read-database",
        &pair.standby,
    ];
    let serving = zoufang_server(&pair.primary, &args);
    let (status, _, err) = tokio::time::timeout(std::time::Duration::from_secs(120), serving)
        .await
        .expect("refused at start, not serving");
    assert!(!status.success(), "refused");
    assert!(err.contains("--read-database"), "{err}");
    let migrated = sql(&pair.primary, "SELECT COUNT(*) > 0 FROM _sqlx_migrations");
    assert_eq!(migrated, "t", "the primary was migrated all the same");
}
