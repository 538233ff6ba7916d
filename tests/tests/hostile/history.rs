//! Many tiny changes to one household: pushes bounded, history linear.
//!
//! The reproduction: one device floods one household with 10,000 one-field changes, in pushes
//! as large as the server takes; the household's review page, whose field history replays every
//! change, used to take minutes (its cost grew with the square of the changes) and must now
//! answer within a generous bound, showing the latest value. And the stock client, with more
//! unsent changes of one household than one push may carry, sends them over several rounds to a
//! server that takes no more, ending the same as the server's copy.

use std::time::{Duration, Instant};

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::json;
use zoufang_e2e::access::{SANHE, SHILI};
use zoufang_e2e::api::{ApiDevice, outcome};
use zoufang_e2e::review::Reviewer;
use zoufang_e2e::{Device, ServerProcess, TEST_PASSPHRASE, TestDb, add_users, exported_household};
use zoufang_shared::doc::{ActorId, ChangeAuthor, HouseholdDoc};
use zoufang_shared::ids::HouseholdId;
use zoufang_shared::wire::{DEVICE_CHANGES_PER_PUSH, Push, PushOutcome};

/// What the household page of a flooded household may take in a debug build on a busy machine
/// (it took minutes before the history was replayed once).
const PAGE_WITHIN: Duration = Duration::from_secs(30);

fn village(n: usize) -> String {
    format!("洪水村{n}")
}

/// Pushes `changes` of `household` and checks that the server took them.
async fn push(api: &ApiDevice, household: &str, changes: Vec<Vec<u8>>) {
    let res = api
        .sync(
            0,
            vec![Push {
                household: household.to_owned(),
                changes,
            }],
        )
        .await;
    assert!(
        matches!(outcome(&res, household), PushOutcome::Accepted { .. }),
        "{:?}",
        outcome(&res, household)
    );
}

/// A server that takes no more than `per_push` changes of one household in a push, with
/// `users` added.
async fn limited_server(
    db: &TestDb,
    per_push: usize,
    users: &[(&str, &str, &str)],
) -> ServerProcess {
    let limits = format!("[limits]\nmax_changes_per_household = {per_push}\n");
    let server = ServerProcess::start_with_config(&db.url, &limits).await;
    add_users(&db.url, users).await;
    server
}

#[tokio::test(flavor = "multi_thread")]
async fn a_household_flooded_with_tiny_changes_still_shows_its_page() {
    const PUSHES: usize = 10;
    const PER_PUSH: usize = 1_000;
    let db = TestDb::sqlite();
    let users = [
        ("flood_zhang", "surveyor", SHILI),
        ("flood_shen", "township_reviewer", SHILI),
    ];
    let server = limited_server(&db, PER_PUSH, &users).await;
    let api = ApiDevice::enroll(&server.url, "flood_zhang", "flood-device", [0x61; 16]).await;
    let author = || ChangeAuthor::new("flood_zhang", &api.device_id, Utc::now());
    let id = HouseholdId::from("hh-flood");
    let (mut doc, ()) = HouseholdDoc::create_with(&id, ActorId::from(api.actor), &author(), |e| {
        e.set_field("info.area_code", json!(SANHE))?;
        e.set_field("info.village", json!(village(0)))
    })
    .expect("household");
    push(&api, id.as_str(), doc.changes_after(&[])).await;

    let started = Instant::now();
    for p in 0..PUSHES {
        let have = doc.heads();
        for n in 1..=PER_PUSH {
            let value = json!(village(p * PER_PUSH + n));
            doc.edit(&author(), |e| e.set_field("info.village", value))
                .expect("edit");
        }
        let changes = doc.changes_after(&have);
        assert_eq!(changes.len(), PER_PUSH);
        push(&api, id.as_str(), changes).await;
    }
    println!(
        "{} tiny changes pushed in {PUSHES} pushes in {:.1} s",
        PUSHES * PER_PUSH,
        started.elapsed().as_secs_f64()
    );

    let shen = Reviewer::login(&server.url, "flood_shen").await;
    let started = Instant::now();
    let (status, _, body) = shen.get_bytes(&format!("/households/{id}")).await;
    let took = started.elapsed();
    println!(
        "household page of {} changes: {:.2} s",
        PUSHES * PER_PUSH + 1,
        took.as_secs_f64()
    );
    let page = String::from_utf8_lossy(&body);
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        took < PAGE_WITHIN,
        "the page took {took:?}, more than {PAGE_WITHIN:?}"
    );
    let latest = village(PUSHES * PER_PUSH);
    assert!(page.contains(&latest), "the latest value {latest} is shown");
    assert!(
        page.contains(&format!("修改记录({} 次修改)", PUSHES * PER_PUSH + 1)),
        "every change is in the history: the creation, then each edit"
    );
    server.kill().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_device_sends_a_long_run_of_changes_over_several_rounds() {
    const CHANGES: usize = 1_200;
    let db = TestDb::sqlite();
    // The server takes no more of one household per push than a device sends.
    let users = [
        ("rounds_zhang", "surveyor", SHILI),
        ("rounds_li", "surveyor", SHILI),
    ];
    let server = limited_server(&db, DEVICE_CHANGES_PER_PUSH, &users).await;
    let zhang = Device::enrolled(&server, "rounds_zhang").await;
    let dir = zhang.data.path().to_owned();
    let id = HouseholdId::from("hh-rounds");
    let made = id.clone();
    tokio::task::spawn_blocking(move || {
        let mut store = zoufang_client::store::Store::unlock(&dir, TEST_PASSPHRASE)
            .expect("the device's store");
        store
            .create_household(&made, |e| e.set_field("info.village", json!(village(0))))
            .expect("household");
        for n in 1..CHANGES {
            store
                .edit_household(&made, |e| e.set_field("info.village", json!(village(n))))
                .expect("edit");
        }
    })
    .await
    .expect("edits");

    let report = zhang.sync().await;
    assert_eq!(report["rejected"], json!([]), "{report}");
    assert_eq!(report["incomplete"], json!(false), "{report}");
    assert_eq!(
        report["rounds"],
        json!(CHANGES.div_ceil(DEVICE_CHANGES_PER_PUSH)),
        "{report}"
    );
    assert_eq!(report["pushed_households"], json!(3), "{report}");

    // What the server holds, as another device pulls it, is what the first one has.
    let li = Device::enrolled(&server, "rounds_li").await;
    li.sync().await;
    let (mine, theirs) = (zhang.export().await, li.export().await);
    let (mine, theirs) = (
        exported_household(&mine, id.as_str()),
        exported_household(&theirs, id.as_str()),
    );
    assert_eq!(mine, theirs);
    assert_eq!(mine["info"]["village"], json!(village(CHANGES - 1)));
    server.kill().await;
}
