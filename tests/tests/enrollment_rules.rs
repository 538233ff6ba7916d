//! Who may hold a device, and what a device may read (issue 15, items 2, 4 and 5), end to end on
//! real server processes, each story on SQLite and on PostgreSQL:
//!
//! - a county supervisor, who sees ID numbers masked on the review pages, cannot enroll a device
//!   (`403 role_cannot_enroll`), neither through the API nor with the stock client, and a device
//!   enrolled before its user took such a role is refused at its next sync;
//! - a revoked device id cannot be enrolled again (`409 device_revoked`), a new id can;
//! - a device id or name the server writes its own changes under (`review`, `server`,
//!   `zoufang…`) is refused (`400 reserved_device_id`);
//! - settling a conflict is checked like a write: a township reviewer cannot settle
//!   `info.area_code` to another township or to a code the area tree does not know, and nothing
//!   is written;
//! - a household that leaves a surveyor's township stops sending its history there: a device
//!   enrolled afterwards never receives its earlier changes (ID numbers included), nor does an
//!   older device receive the changes it had not pulled yet, and a device that holds it drops it
//!   at its next sync (its other households untouched, its unsent edits of it lost and counted);
//!   the devices of its new township receive it whole;
//! - the same when the user's areas are replaced: a device still on the old areas drops, at its
//!   next sync, the households of the areas taken away and those that had moved out of them.

use reqwest::StatusCode;
use serde_json::{Value, json};
use zoufang_e2e::api::{self, ApiDevice, actor_hex, doc_from, has_chinese};
use zoufang_e2e::areas::{COUNTY, HEPING, JINXIU, KONGXING, SANHE, SHILI, XIAOWAN};
use zoufang_e2e::db::ServerDb;
use zoufang_e2e::review::Reviewer;
use zoufang_e2e::{
    Device, ServerProcess, TEST_PASSWORD, TestDb, add_users, client_command, exported_household,
    roster_csv, zoufang_server,
};
use zoufang_shared::doc::{ActorId, ChangeAuthor, HouseholdDoc};
use zoufang_shared::ids::HouseholdId;
use zoufang_shared::wire::{self, PROTOCOL_VERSION, Push, PushOutcome, SyncRequest};

fn author(user: &str, device: &str) -> ChangeAuthor {
    ChangeAuthor::new(user, device, chrono::Utc::now())
}

/// An API device of `username` whose device id is its actor's hex.
async fn api_device(server: &ServerProcess, username: &str, actor: [u8; 16]) -> ApiDevice {
    ApiDevice::enroll(&server.url, username, &actor_hex(&actor), actor).await
}

/// `POST /api/enroll` with any device id, name and actor, and the test password.
async fn enroll_as(
    server: &ServerProcess,
    username: &str,
    device_id: &str,
    device_name: &str,
    actor: [u8; 16],
) -> api::Reply {
    let body = serde_json::to_vec(&json!({
        "username": username,
        "password": TEST_PASSWORD,
        "device_id": device_id,
        "device_name": device_name,
        "actor": actor_hex(&actor),
    }))
    .expect("JSON");
    api::enroll_raw(&server.url, "application/json", body).await
}

/// `zoufang enroll` on an initialised device directory: (success, stderr).
async fn client_enroll(
    server: &ServerProcess,
    data: &std::path::Path,
    username: &str,
) -> (bool, String) {
    let out = client_command(data)
        .args(["enroll", "--server", &server.url, "--username", username])
        .env("ZOUFANG_PASSWORD", TEST_PASSWORD)
        .output()
        .await
        .expect("run zoufang enroll");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// One sync request of an API device, as raw HTTP (to see a refusal).
async fn sync_reply(device: &ApiDevice, cursor: i64, want_full: Vec<String>) -> api::Reply {
    let req = SyncRequest {
        protocol: PROTOCOL_VERSION,
        cursor,
        want_full,
        max_pull_bytes: 8 << 20,
        ..SyncRequest::default()
    };
    api::post_sync(
        &device.server,
        Some(&format!("Bearer {}", device.token)),
        Some(wire::SYNC_CONTENT_TYPE),
        wire::encode(&req).expect("encode"),
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// A role that sees masked values on the review pages cannot hold a device.

async fn a_county_supervisor_cannot_enroll_a_device(db: TestDb) {
    let server = ServerProcess::start_with_users(
        &db.url,
        &[
            ("zhao", "county_supervisor", COUNTY),
            ("zhang", "surveyor", SHILI),
            ("later", "surveyor", SHILI),
        ],
    )
    .await;
    let sdb = ServerDb::connect(&db.url).await;
    let before = sdb.snapshot().await;

    // Through the API, with the right password: refused, and said why in Chinese.
    let reply = enroll_as(&server, "zhao", "zhao-phone", "赵的手机", [0x51; 16]).await;
    let body = reply.expect_error(StatusCode::FORBIDDEN, "a county supervisor's enrollment");
    assert_eq!(body.code, "role_cannot_enroll", "{}", body.error);
    assert!(body.error.contains("审核页面"), "{}", body.error);
    // The wrong password is still just a wrong password: the role says nothing to a guesser.
    let body = api::enroll_raw(
        &server.url,
        "application/json",
        serde_json::to_vec(&json!({
            "username": "zhao", "password": "not-the-password", "device_id": "zhao-phone",
            "device_name": "x", "actor": actor_hex(&[0x52; 16]),
        }))
        .expect("JSON"),
    )
    .await
    .expect_error(StatusCode::UNAUTHORIZED, "a wrong password");
    assert_eq!(body.code, "unauthorized");

    // With the stock client: refused with the same message.
    let data = Device::initialised("zhao", "zhao").await.data;
    let (ok, err) = client_enroll(&server, data.path(), "zhao").await;
    assert!(!ok, "the client enrolled a county supervisor");
    assert!(err.contains("审核页面"), "{err}");
    assert_eq!(
        sdb.snapshot().await.devices,
        before.devices,
        "no device was enrolled"
    );

    // The supervisor reads through the review API, masked as documented.
    let zhao = Reviewer::login(&server.url, "zhao").await;
    let (status, _) = zhao.get(&format!("/api/review/report?area={COUNTY}")).await;
    assert_eq!(status, StatusCode::OK);

    // A device enrolled while its user had a field role is refused once the role is one that
    // may not hold devices, with the same code; a surveyor's device goes on syncing.
    let zhang = api_device(&server, "zhang", [0x53; 16]).await;
    let later = api_device(&server, "later", [0x54; 16]).await;
    assert_eq!(sync_reply(&later, 0, vec![]).await.status, StatusCode::OK);
    assert_eq!(
        sdb.execute("UPDATE users SET role = 'county_supervisor' WHERE username = 'later'")
            .await,
        1
    );
    let body = sync_reply(&later, 0, vec![])
        .await
        .expect_error(StatusCode::FORBIDDEN, "a county supervisor's old device");
    assert_eq!(body.code, "role_cannot_enroll", "{}", body.error);
    assert_eq!(sync_reply(&zhang, 0, vec![]).await.status, StatusCode::OK);
    sdb.close().await;
    server.kill().await;
}

zoufang_e2e::on_both_databases!(a_county_supervisor_cannot_enroll_a_device);

// ---------------------------------------------------------------------------------------------
// A revoked device id stays revoked; reserved device ids and names.

async fn revoked_and_reserved_device_ids_are_refused(db: TestDb) {
    let server = ServerProcess::start_with_users(&db.url, &[("zhang", "surveyor", SHILI)]).await;
    let sdb = ServerDb::connect(&db.url).await;

    // A phone is lost: its device id is revoked.
    let lost = Device::enrolled(&server, "zhang").await;
    lost.sync().await;
    let lost_id = lost.setting("device_id").await.expect("a device id");
    let (status, _, err) = zoufang_server(&db.url, &["device", "revoke", &lost_id]).await;
    assert!(status.success(), "revoke: {err}");
    let before = sdb.snapshot().await;

    // Found again (or held by someone else): enrolling it again is refused, with the stock
    // client as through the API, whatever actor it offers.
    let (ok, err) = client_enroll(&server, lost.data.path(), "zhang").await;
    assert!(!ok, "a revoked device enrolled again");
    assert!(
        err.contains("该设备已被注销,请用新的设备标识重新初始化"),
        "{err}"
    );
    for actor in [[0x61; 16], [0x62; 16]] {
        let body = enroll_as(&server, "zhang", &lost_id, "找回的手机", actor)
            .await
            .expect_error(StatusCode::CONFLICT, "re-enrolling a revoked device id");
        assert_eq!(body.code, "device_revoked", "{}", body.error);
        assert_eq!(body.error, "该设备已被注销,请用新的设备标识重新初始化");
    }
    let after = sdb.snapshot().await;
    assert_eq!(
        after.devices, before.devices,
        "the revoked device stays revoked"
    );
    assert!(
        after
            .devices
            .iter()
            .any(|d| d.starts_with(&format!("{lost_id} ")) && d.ends_with(" true")),
        "{:?}",
        after.devices
    );
    // A new id (a freshly initialised device) works.
    let fresh = Device::enrolled(&server, "zhang").await;
    assert_ne!(
        fresh.setting("device_id").await.as_deref(),
        Some(lost_id.as_str())
    );
    fresh.sync().await;
    let api_fresh = enroll_as(&server, "zhang", "zhang-new-phone", "新手机", [0x63; 16]).await;
    assert_eq!(api_fresh.status, StatusCode::OK, "{}", api_fresh.text());

    // The labels the server writes its own changes under are no device's id or name.
    let before = sdb.snapshot().await;
    let reserved_ids = [
        "review",
        "server",
        "Review",
        "zoufang",
        "zoufang-server",
        "zoufangX1",
    ];
    for (i, id) in reserved_ids.iter().enumerate() {
        let body = enroll_as(&server, "zhang", id, "张的手机", [0x70 + i as u8; 16])
            .await
            .expect_error(StatusCode::BAD_REQUEST, &format!("device id {id}"));
        assert_eq!(body.code, "reserved_device_id", "{id}: {}", body.error);
    }
    for (i, name) in ["review", "server", " Server ", "zoufang-server"]
        .iter()
        .enumerate()
    {
        let body = enroll_as(
            &server,
            "zhang",
            &format!("phone-{i}"),
            name,
            [0x80 + i as u8; 16],
        )
        .await
        .expect_error(StatusCode::BAD_REQUEST, &format!("device name {name:?}"));
        assert_eq!(body.code, "reserved_device_id", "{name:?}: {}", body.error);
    }
    assert_eq!(
        sdb.snapshot().await.devices,
        before.devices,
        "nothing enrolled"
    );
    // Names that only look alike are fine.
    let ok = enroll_as(&server, "zhang", "reviewer-phone", "my-server", [0x90; 16]).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    sdb.close().await;
    server.kill().await;
}

zoufang_e2e::on_both_databases!(revoked_and_reserved_device_ids_are_refused);

// ---------------------------------------------------------------------------------------------
// Settling a conflict is checked like a write.

const CONFLICTED: &str = "hh-area-conflict";

/// A household of 三合村; two devices of a surveyor of 诗礼乡 then set its village at once, to
/// 河平村 and to 孔兴村.
async fn area_code_conflict(server: &ServerProcess) {
    let first = api_device(server, "zhang", [0xa1; 16]).await;
    let second = api_device(server, "zhang", [0xa2; 16]).await;
    let (mut doc, ()) = HouseholdDoc::create_with(
        &HouseholdId(CONFLICTED.to_owned()),
        ActorId::from(first.actor),
        &author("zhang", &first.device_id),
        |e| {
            e.set_field("info.area_code", json!(SANHE))?;
            e.set_field("info.phone", json!("13911112222"))
        },
    )
    .expect("create a household");
    let created = first
        .sync(
            0,
            vec![Push {
                household: CONFLICTED.to_owned(),
                changes: doc.changes_after(&[]),
            }],
        )
        .await;
    assert!(
        matches!(created.results[0].outcome, PushOutcome::Accepted { .. }),
        "{created:?}"
    );
    let mut other = doc_from(
        &second.pull_all().await,
        CONFLICTED,
        ActorId::from(second.actor),
    );
    for (device, doc, village) in [(&first, &mut doc, HEPING), (&second, &mut other, KONGXING)] {
        let have = doc.heads();
        doc.edit(&author("zhang", &device.device_id), |e| {
            e.set_field("info.area_code", json!(village))?;
            e.set_field("info.group", json!(format!("{village} 组")))
        })
        .expect("edit");
        let res = device
            .sync(
                0,
                vec![Push {
                    household: CONFLICTED.to_owned(),
                    changes: doc.changes_after(&have),
                }],
            )
            .await;
        assert!(
            matches!(res.results[0].outcome, PushOutcome::Accepted { .. }),
            "{res:?}"
        );
    }
}

async fn conflicts_on(reviewer: &Reviewer) -> Vec<String> {
    let (status, body) = reviewer
        .get(&format!("/api/review/households/{CONFLICTED}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["conflicts"]
        .as_array()
        .expect("conflicts")
        .iter()
        .map(|c| c[0].as_str().expect("a path").to_owned())
        .collect()
}

async fn a_settled_area_code_is_checked_like_a_write(db: TestDb) {
    let server = ServerProcess::start_with_users(
        &db.url,
        &[
            ("zhang", "surveyor", SHILI),
            ("wang", "township_reviewer", SHILI),
            ("wu", "township_reviewer", XIAOWAN),
        ],
    )
    .await;
    area_code_conflict(&server).await;
    let wang = Reviewer::login(&server.url, "wang").await;
    assert!(
        conflicts_on(&wang)
            .await
            .contains(&"info.area_code".to_owned()),
        "the test needs an area code conflict: {:?}",
        conflicts_on(&wang).await
    );
    let sdb = ServerDb::connect(&db.url).await;
    let before = sdb.snapshot().await;

    // Another township's village, the other township itself, a code the area tree does not
    // know, and no area at all: each refused with a clear message, nothing written.
    for (value, says) in [
        (json!(JINXIU), "不在您负责的区域内"),
        (json!(XIAOWAN), "不在您负责的区域内"),
        (json!("530921100299"), "区划表"),
        (json!("not-a-code"), "区划表"),
        (json!(""), "不能为空"),
    ] {
        let (status, body) = wang
            .post(
                "/api/review/settle",
                &json!({ "household": CONFLICTED, "path": "info.area_code", "value": value }),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "settle to {value}: {body}"
        );
        assert_eq!(body["code"], "invalid", "{body}");
        let message = body["error"].as_str().unwrap_or("");
        assert!(
            has_chinese(message) && message.contains(says),
            "settle to {value}: {message:?}"
        );
        assert_eq!(
            sdb.snapshot().await,
            before,
            "settle to {value} wrote something"
        );
    }
    // The household is still in sight, still in conflict; the other township never sees it.
    assert!(
        conflicts_on(&wang)
            .await
            .contains(&"info.area_code".to_owned())
    );
    let wu = Reviewer::login(&server.url, "wu").await;
    let (status, _) = wu
        .get(&format!("/api/review/households/{CONFLICTED}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A village of the reviewer's own township is a settlement like any other.
    let (status, body) = wang
        .post(
            "/api/review/settle",
            &json!({ "household": CONFLICTED, "path": "info.area_code", "value": KONGXING }),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert!(
        !conflicts_on(&wang)
            .await
            .contains(&"info.area_code".to_owned())
    );
    let (status, body) = wang
        .get(&format!("/api/review/households/{CONFLICTED}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["area_code"], KONGXING, "{body}");
    // Other fields still settle as before.
    let (status, body) = wang
        .post(
            "/api/review/settle",
            &json!({ "household": CONFLICTED, "path": "info.group", "value": "一组" }),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    sdb.close().await;
    server.kill().await;
}

zoufang_e2e::on_both_databases!(a_settled_area_code_is_checked_like_a_write);

// ---------------------------------------------------------------------------------------------
// History follows the household's current area.

/// The household of [`roster`]: three members of 三合村, ID numbers from person 500 on.
const MOVING: &str = "hh-530921100201077";
const FIRST_PERSON: u32 = 500;
const MEMBERS: usize = 3;

fn roster() -> String {
    roster_csv(&[("530921100201077", "三合村", MEMBERS)], FIRST_PERSON)
}

/// The resident ID numbers [`roster`] gives its members (as `roster_csv` makes them).
fn roster_ids() -> Vec<String> {
    let base = chrono::NaiveDate::from_ymd_opt(1950, 1, 1).expect("date");
    (0..MEMBERS)
        .map(|i| {
            let k = FIRST_PERSON + i as u32;
            let birth = (base + chrono::Days::new(u64::from(k)))
                .format("%Y%m%d")
                .to_string();
            let seq = ["011", "022", "031"][i.min(2)];
            zoufang_shared::demo::id_number(&birth, seq)
        })
        .collect()
}

fn exported_ids(export: &Value) -> Vec<String> {
    zoufang_e2e::export_ids(export)
}

/// A server with surveyors `zhang` (诗礼乡) and `li` (小湾镇) and a team leader `tl` covering
/// both, each with an enrolled device.
async fn two_townships(db: &TestDb) -> (ServerProcess, Device, Device, Device) {
    let server = ServerProcess::start(&db.url).await;
    server
        .add_user("tl", "田队长", "team_leader", &[SHILI, XIAOWAN])
        .await;
    add_users(
        &db.url,
        &[("zhang", "surveyor", SHILI), ("li", "surveyor", XIAOWAN)],
    )
    .await;
    let zhang = Device::enrolled(&server, "zhang").await;
    let tl = Device::enrolled(&server, "tl").await;
    let li = Device::enrolled(&server, "li").await;
    (server, zhang, tl, li)
}

async fn history_follows_the_households_current_area(db: TestDb) {
    let (server, zhang, tl, li) = two_townships(&db).await;

    // zhang enters the household, ID numbers and all; everyone syncs.
    zhang.import_roster(&roster()).await;
    assert_eq!(zhang.sync().await["accepted"], 1);
    tl.sync().await;
    let ids = roster_ids();
    let entered = exported_household(&tl.export().await, MOVING).clone();
    for id in &ids {
        assert!(
            entered.to_string().contains(id.as_str()),
            "{id} not in {entered}"
        );
    }
    li.sync().await;
    assert_eq!(exported_ids(&li.export().await), Vec::<String>::new());

    // The team leader corrects the phone (zhang's device does not sync yet), then moves the
    // household to 锦秀村 of 小湾镇.
    tl.ok(&["edit", MOVING, "info.phone", "13900000077"]).await;
    tl.sync().await;
    tl.ok(&["edit", MOVING, "info.area_code", JINXIU]).await;
    tl.sync().await;
    let moved = exported_household(&tl.export().await, MOVING).clone();
    assert_eq!(moved["info"]["area_code"], JINXIU, "{moved}");

    // zhang's device, which had not pulled the phone yet, never gets it (nor the move): it is
    // told the household left its areas and drops it.
    let report = zhang.sync().await;
    assert_eq!(report["pulled_changes"], 0, "{report}");
    assert_eq!(report["households_removed"], 1, "{report}");
    assert_eq!(report["removed_unsent"], 0, "{report}");
    assert_eq!(exported_ids(&zhang.export().await), Vec::<String>::new());

    // A device of zhang enrolled now receives nothing of it: no change, ID numbers or not, and
    // asking for the whole document brings nothing either.
    let newcomer = api_device(&server, "zhang", [0xb1; 16]).await;
    let pulled = newcomer.pull_all().await;
    assert!(
        pulled.iter().all(|p| p.household != MOVING),
        "a change of the moved household reached a device of 诗礼乡"
    );
    for p in &pulled {
        let text = String::from_utf8_lossy(&p.change);
        assert!(ids.iter().all(|id| !text.contains(id.as_str())));
    }
    let reply = sync_reply(&newcomer, 0, vec![MOVING.to_owned()]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let mut res: wire::SyncResponse = wire::decode(&reply.body).expect("decode");
    res.unpack().expect("unpack");
    assert!(res.pulled.iter().all(|p| p.household != MOVING));
    let fresh_zhang = Device::enrolled(&server, "zhang").await;
    fresh_zhang.sync().await;
    assert!(
        !exported_ids(&fresh_zhang.export().await).contains(&MOVING.to_owned()),
        "a device of 诗礼乡 enrolled after the move holds the household"
    );

    // li's device, long past these changes in the log, receives the household whole; so does
    // a device of li enrolled now, on its first sync.
    li.sync().await;
    assert_eq!(exported_household(&li.export().await, MOVING), &moved);
    let fresh_li = Device::enrolled(&server, "li").await;
    fresh_li.sync().await;
    assert_eq!(exported_household(&fresh_li.export().await, MOVING), &moved);
    let api_li = api_device(&server, "li", [0xb2; 16]).await;
    let whole = api_li.pull_all().await;
    let doc = doc_from(&whole, MOVING, ActorId::from(api_li.actor));
    assert_eq!(
        doc.read().expect("read").info.phone.as_deref(),
        Some("13900000077")
    );
    server.kill().await;
}

zoufang_e2e::on_both_databases!(history_follows_the_households_current_area);

// ---------------------------------------------------------------------------------------------
// A device drops a household that left its user's areas.

const LEAVING: &str = "hh-530921100201081";
const STAYING: &str = "hh-530921100201082";

async fn a_device_drops_a_household_that_left_its_areas(db: TestDb) {
    let (server, zhang, tl, li) = two_townships(&db).await;
    zhang
        .import_roster(&roster_csv(
            &[
                ("530921100201081", "三合村", 2),
                ("530921100201082", "三合村", 2),
            ],
            600,
        ))
        .await;
    assert_eq!(zhang.sync().await["accepted"], 2);
    tl.sync().await;

    // zhang edits both households and does not sync yet; the team leader moves one of them to
    // 锦秀村 of 小湾镇.
    zhang
        .ok(&["edit", STAYING, "info.phone", "13900000081"])
        .await;
    zhang
        .ok(&["edit", LEAVING, "info.phone", "13900000082"])
        .await;
    tl.ok(&["edit", LEAVING, "info.area_code", JINXIU]).await;
    tl.sync().await;
    let moved = exported_household(&tl.export().await, LEAVING).clone();
    assert_eq!(moved["info"]["area_code"], JINXIU, "{moved}");

    // zhang's next sync: its edit of the moved household is refused and the household leaves
    // the device, edit and all; the other household's edit goes through.
    let (status, out, err) = zhang.run(&["sync"]).await;
    assert!(!status.success(), "a refused push: {out}{err}");
    assert!(
        out.contains("1 户已调出您的负责区域,已从本设备移除"),
        "{out}{err}"
    );
    assert!(out.contains("其中 1 户有尚未上传的修改"), "{out}{err}");
    let held = zhang.export().await;
    assert_eq!(exported_ids(&held), vec![STAYING.to_owned()]);
    assert_eq!(
        exported_household(&held, STAYING)["info"]["phone"],
        "13900000081"
    );
    let again = zhang.sync().await;
    assert_eq!(again["households_removed"], 0, "{again}");
    assert_eq!(again["rejected"], json!([]), "{again}");
    assert!(zhang.store_integrity().await.contains("ok"));

    // The team leader, whose areas cover both townships, keeps it; li's device gets it whole,
    // without zhang's refused edit.
    let report = tl.sync().await;
    assert_eq!(report["households_removed"], 0, "{report}");
    assert!(exported_ids(&tl.export().await).contains(&LEAVING.to_owned()));
    li.sync().await;
    let at_li = exported_household(&li.export().await, LEAVING).clone();
    assert_eq!(at_li, moved);
    assert_ne!(at_li["info"]["phone"], "13900000082");
    server.kill().await;
}

zoufang_e2e::on_both_databases!(a_device_drops_a_household_that_left_its_areas);

// ---------------------------------------------------------------------------------------------
// A device drops the households its user's new areas leave out.

const IN_SANHE: &str = "hh-530921100201091";
const IN_KONGXING: &str = "hh-530921100202092";
const MOVED_AWAY: &str = "hh-530921100202093";

async fn a_device_drops_what_its_users_new_areas_leave_out(db: TestDb) {
    let (server, zhang) = ServerProcess::start_with_surveyor(&db.url, &[SANHE, KONGXING]).await;
    server
        .add_user("tl", "田队长", "team_leader", &[SHILI])
        .await;
    let tl = Device::enrolled(&server, "tl").await;
    zhang
        .import_roster(&roster_csv(
            &[
                ("530921100201091", "三合村", 1),
                ("530921100202092", "孔兴村", 1),
                ("530921100202093", "孔兴村", 1),
            ],
            700,
        ))
        .await;
    // An import files every household in the village the file names.
    let imported = zhang.export().await;
    for (id, village) in [
        (IN_SANHE, SANHE),
        (IN_KONGXING, KONGXING),
        (MOVED_AWAY, KONGXING),
    ] {
        assert_eq!(
            exported_household(&imported, id)["info"]["area_code"],
            village
        );
    }
    assert_eq!(zhang.sync().await["accepted"], 3);
    tl.sync().await;

    // While zhang's device is away, the team leader moves a household of 孔兴村 to 河平村, and
    // the administrator leaves zhang 三合村 only.
    tl.ok(&["edit", MOVED_AWAY, "info.area_code", HEPING]).await;
    tl.sync().await;
    server.set_areas("zhang", &[SANHE]).await;

    let report = zhang.sync().await;
    assert_eq!(report["households_removed"], 2, "{report}");
    assert_eq!(report["removed_unsent"], 0, "{report}");
    assert_eq!(
        exported_ids(&zhang.export().await),
        vec![IN_SANHE.to_owned()]
    );
    let again = zhang.sync().await;
    assert_eq!(again["households_removed"], 0, "{again}");
    assert!(zhang.store_integrity().await.contains("ok"));

    // Given 孔兴村 back, the device receives what is in it again, the moved household not.
    server.set_areas("zhang", &[SANHE, KONGXING]).await;
    let back = zhang.sync().await;
    assert_eq!(back["households_removed"], 0, "{back}");
    assert_eq!(
        exported_ids(&zhang.export().await),
        vec![IN_SANHE.to_owned(), IN_KONGXING.to_owned()]
    );
    // The team leader's device, whose areas did not change, keeps all three.
    assert_eq!(tl.sync().await["households_removed"], 0);
    assert_eq!(exported_ids(&tl.export().await).len(), 3);
    server.kill().await;
}

zoufang_e2e::on_both_databases!(a_device_drops_what_its_users_new_areas_leave_out);
