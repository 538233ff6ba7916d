//! Sync security end to end: every request the server must refuse — no token, a wrong, expired
//! or disabled user's token, a body cut short, garbage, a wrong content type, 50 MB, an enrollment
//! with a wrong password or broken JSON — gets a clear 4xx with a `{code, error}` body in
//! Chinese and leaves the server's data exactly as it was (compared row by row in its database,
//! and through a device that syncs before and after). Per household: another township's
//! households are neither taken from nor given to a user, a new household must lie in the
//! user's areas, and a change under any actor but the device's own is refused — each as a
//! per-household rejection while the rest of the batch goes through. Each story runs against
//! SQLite and PostgreSQL.

use reqwest::StatusCode;
use serde_json::{Value, json};
use zoufang_e2e::api::{self, ApiDevice, actor_hex, doc_from, has_chinese, outcome};
use zoufang_e2e::areas::{SHILI, XIAOWAN};
use zoufang_e2e::db::{ServerDb, Snapshot};
use zoufang_e2e::proxy::SplitMix64;
use zoufang_e2e::{ServerProcess, TestDb, enroll_each, roster_csv, zoufang_server};
use zoufang_e2e::{export_ids as ids, exported_household as household};
use zoufang_shared::doc::{ActorId, ChangeAuthor, HouseholdDoc};
use zoufang_shared::ids::HouseholdId;
use zoufang_shared::rng::Draw as _;
use zoufang_shared::wire::{
    self, PROTOCOL_VERSION, Push, PushOutcome, SYNC_CONTENT_TYPE, SyncRequest, SyncResponse,
};

fn author(user: &str, device: &str) -> ChangeAuthor {
    ChangeAuthor::new(user, device, chrono::Utc::now())
}

/// A new household `id` in `area` (or none), created as one change under `actor`.
fn new_household(id: &str, user: &str, actor: [u8; 16], area: Option<&str>) -> Push {
    let (mut doc, ()) = HouseholdDoc::create_with(
        &HouseholdId(id.to_owned()),
        ActorId::from(actor),
        // Devices in these stories are enrolled under their actor's hex as device id.
        &author(user, &actor_hex(&actor)),
        |e| match area {
            Some(a) => e.set_field("info.area_code", json!(a)),
            None => Ok(()),
        },
    )
    .expect("create a household");
    Push {
        household: id.to_owned(),
        changes: doc.changes_after(&[]),
    }
}

fn request(pushes: Vec<Push>) -> SyncRequest {
    SyncRequest {
        protocol: PROTOCOL_VERSION,
        pushes,
        max_pull_bytes: 1 << 20,
        ..SyncRequest::default()
    }
}

/// One edit of `doc` as a push of just that change on top of what the server has.
fn edit_push(
    doc: &mut HouseholdDoc,
    user: &str,
    household: &str,
    field: &str,
    value: Value,
) -> Push {
    let have = doc.heads();
    let device = doc.actor().to_hex_string();
    doc.edit(&author(user, &device), |e| e.set_field(field, value))
        .expect("edit");
    Push {
        household: household.to_owned(),
        changes: doc.changes_after(&have),
    }
}

/// The push of `household` was refused with `code` and a message in Chinese.
fn assert_rejected(res: &SyncResponse, household: &str, code: &str) {
    match outcome(res, household) {
        PushOutcome::Rejected { code: c, message } => {
            assert_eq!(c, code, "{household}: {message}");
            assert!(has_chinese(message), "{household}: {message:?}");
        }
        other => panic!("{household} should be rejected with {code}, got {other:?}"),
    }
}

fn assert_accepted(res: &SyncResponse, household: &str) {
    assert!(
        matches!(outcome(res, household), PushOutcome::Accepted { .. }),
        "{household} should be accepted: {res:?}"
    );
}

async fn assert_unchanged(db: &ServerDb, before: &Snapshot, what: &str) {
    let now = db.snapshot().await;
    assert_eq!(&now, before, "{what} changed the server's data");
}

// ---------------------------------------------------------------------------------------------

async fn refused_requests_change_nothing(db: TestDb) {
    let server = ServerProcess::start_with_users(
        &db.url,
        &[
            ("zhang", "surveyor", SHILI),
            ("zhao", "surveyor", SHILI),
            ("audit", "team_leader", SHILI),
        ],
    )
    .await;
    // a works normally; e's token will expire; `lost` will be revoked (a lost phone); z's user will
    // be disabled; the auditor compares.
    let [a, e, lost, z, auditor] =
        enroll_each(&server.url, ["zhang", "zhang", "zhang", "zhao", "audit"]).await;
    a.import_roster(&roster_csv(&[("530921100201001", "三合村", 2)], 0))
        .await;
    const HH: &str = "hh-530921100201001";
    assert_eq!(a.sync().await["accepted"], 1);
    for d in [&e, &lost, &z, &auditor] {
        d.sync().await;
    }
    let api = ApiDevice::enroll(&server.url, "zhang", &actor_hex(&[7; 16]), [7; 16]).await;
    // What every refused request carries: a push the server would take from a valid request.
    let valid = wire::encode(&request(vec![new_household(
        "hh-api-new",
        "zhang",
        api.actor,
        Some("530921100201"),
    )]))
    .expect("encode");

    let sdb = ServerDb::connect(&db.url).await;
    let e_token = e.setting("token").await.expect("token");
    let z_token = z.setting("token").await.expect("token");
    let lost_token = lost.setting("token").await.expect("token");
    let lost_device = lost.setting("device_id").await.expect("device id");
    let (status, _, err) = zoufang_server(&db.url, &["device", "revoke", &lost_device]).await;
    assert!(status.success(), "device revoke: {err}");
    sdb.expire_device(&e.setting("device_id").await.expect("device id"))
        .await;
    let (status, _, err) = zoufang_server(&db.url, &["user", "disable", "zhao"]).await;
    assert!(status.success(), "user disable: {err}");
    // All three have work to push, which must not arrive.
    e.ok(&["edit", HH, "info.phone", "13900000001"]).await;
    lost.ok(&["edit", HH, "info.phone", "13900000003"]).await;
    z.ok(&["edit", HH, "info.phone", "13900000002"]).await;
    let before = sdb.snapshot().await;
    let export_before = auditor.export().await;
    let bearer = |t: &str| format!("Bearer {t}");
    let sync = |auth: Option<String>, ct: Option<&'static str>, body: Vec<u8>| {
        let url = server.url.clone();
        async move { api::post_sync(&url, auth.as_deref(), ct, body).await }
    };
    let ct = Some(SYNC_CONTENT_TYPE);

    // --- tokens
    let r = sync(None, ct, valid.clone()).await;
    assert_eq!(
        r.expect_error(StatusCode::UNAUTHORIZED, "no token").code,
        "unauthorized"
    );
    assert_unchanged(&sdb, &before, "a request without a token").await;

    let wrong = "0123456789abcdef".repeat(4);
    for auth in [
        bearer(&wrong),
        bearer(&format!("{}0", api.token)),
        bearer(""),
        format!("Basic {}", api.token),
        api.token.clone(),
    ] {
        let r = sync(Some(auth.clone()), ct, valid.clone()).await;
        r.expect_error(StatusCode::UNAUTHORIZED, &format!("Authorization: {auth}"));
        assert_unchanged(&sdb, &before, "a wrong token").await;
    }

    // An expired device, a revoked one and a disabled user's are refused, and told why.
    for (token, device, why, what) in [
        (&e_token, &e, "过期", "an expired token"),
        (&lost_token, &lost, "停用", "a revoked device's token"),
        (&z_token, &z, "停用", "a disabled user's token"),
    ] {
        let r = sync(Some(bearer(token)), ct, valid.clone()).await;
        let body = r.expect_error(StatusCode::UNAUTHORIZED, what);
        assert!(body.error.contains(why), "{what}: {body:?}");
        let err = device.try_sync().await.expect_err(what);
        assert!(err.contains(why), "the client says why: {err}");
        assert_unchanged(&sdb, &before, what).await;
    }

    // --- content type
    for wrong_ct in [
        Some("application/json"),
        Some("application/octet-stream"),
        None,
    ] {
        let r = sync(Some(bearer(&api.token)), wrong_ct, valid.clone()).await;
        let body = r.expect_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &format!("content type {wrong_ct:?}"),
        );
        assert_eq!(body.code, "content_type");
        assert_unchanged(&sdb, &before, "a wrong content type").await;
    }

    // --- bodies that are not a sync request
    let mut rng = SplitMix64::new(0x5eed);
    let garbage: Vec<u8> = (0..4096).map(|_| rng.next_u64() as u8).collect();
    let mut bodies: Vec<(String, Vec<u8>)> = vec![
        ("an empty body".into(), Vec::new()),
        ("garbage".into(), garbage),
        ("text".into(), "同步".repeat(100).into_bytes()),
        (
            "valid DEFLATE of a truncated request".into(),
            wire::encode(&(PROTOCOL_VERSION, 0i64)).expect("encode"),
        ),
    ];
    for cut in [1, 2, valid.len() / 3, valid.len() / 2, valid.len() - 1] {
        bodies.push((format!("a body cut to {cut} bytes"), valid[..cut].to_vec()));
    }
    for (what, body) in bodies {
        let r = sync(Some(bearer(&api.token)), ct, body).await;
        r.expect_error(StatusCode::BAD_REQUEST, &what);
        assert_unchanged(&sdb, &before, &what).await;
    }
    let mut old = request(vec![new_household(
        "hh-api-new",
        "zhang",
        api.actor,
        Some("530921100201"),
    )]);
    old.protocol = PROTOCOL_VERSION + 1;
    let r = sync(
        Some(bearer(&api.token)),
        ct,
        wire::encode(&old).expect("encode"),
    )
    .await;
    let body = r.expect_error(StatusCode::BAD_REQUEST, "another protocol version");
    assert_eq!(body.code, "protocol");
    assert_unchanged(&sdb, &before, "another protocol version").await;

    // --- enrollment
    let a_device = a.setting("device_id").await.expect("device id");
    let a_actor = a.setting("actor").await.expect("actor");
    let enroll_json = |username: &str, password: &str, device: &str, actor: &str| {
        serde_json::to_vec(&json!({
            "username": username,
            "password": password,
            "device_id": device,
            "device_name": "测试",
            "actor": actor,
        }))
        .expect("JSON")
    };
    let fresh_actor = actor_hex(&[3; 16]);
    let wrong_password = api::enroll_raw(
        &server.url,
        "application/json",
        enroll_json("zhang", "wrong-password", "dev-x", &fresh_actor),
    )
    .await
    .expect_error(StatusCode::UNAUTHORIZED, "a wrong password");
    let unknown_user = api::enroll_raw(
        &server.url,
        "application/json",
        enroll_json("nobody", "wrong-password", "dev-x", &fresh_actor),
    )
    .await
    .expect_error(StatusCode::UNAUTHORIZED, "an unknown user");
    assert_eq!(
        wrong_password, unknown_user,
        "a wrong password and an unknown user look the same"
    );
    let disabled = api::enroll(&server.url, "zhao", "dev-x", &fresh_actor)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "a disabled user enrolling");
    assert!(disabled.error.contains("停用"), "{disabled:?}");
    assert_unchanged(&sdb, &before, "refused enrollments").await;

    let too_big = serde_json::to_vec(&json!({
        "username": "zhang", "password": "x".repeat(20_000), "device_id": "dev-x",
        "device_name": "x", "actor": fresh_actor,
    }))
    .expect("JSON");
    for (what, ct, body) in [
        (
            "malformed JSON",
            "application/json",
            b"{\"username\": \"zhang\",".to_vec(),
        ),
        (
            "JSON of the wrong shape",
            "application/json",
            b"[1, 2, 3]".to_vec(),
        ),
        (
            "missing fields",
            "application/json",
            br#"{"username": "zhang"}"#.to_vec(),
        ),
        (
            "an unknown field",
            "application/json",
            serde_json::to_vec(&json!({
                "username": "zhang", "password": "p", "device_id": "d", "device_name": "n",
                "actor": fresh_actor, "role": "admin",
            }))
            .expect("JSON"),
        ),
        (
            "a form instead of JSON",
            "application/x-www-form-urlencoded",
            b"username=zhang&password=p".to_vec(),
        ),
        ("an oversized body", "application/json", too_big),
        (
            "a bad actor",
            "application/json",
            enroll_json("zhang", zoufang_e2e::TEST_PASSWORD, "dev-x", "not-hex"),
        ),
        (
            "a bad device id",
            "application/json",
            enroll_json(
                "zhang",
                zoufang_e2e::TEST_PASSWORD,
                "dev x/../y",
                &fresh_actor,
            ),
        ),
        (
            "another device's actor",
            "application/json",
            enroll_json("audit", zoufang_e2e::TEST_PASSWORD, "dev-x", &a_actor),
        ),
        (
            "another user's device id",
            "application/json",
            enroll_json("audit", zoufang_e2e::TEST_PASSWORD, &a_device, &fresh_actor),
        ),
    ] {
        api::enroll_raw(&server.url, ct, body)
            .await
            .expect_client_error(what);
        assert_unchanged(&sdb, &before, what).await;
    }

    // Nothing reached anyone: the auditor pulls nothing and sees what it saw; the devices that
    // were not refused sync as before.
    let idle = auditor.sync().await;
    assert_eq!(idle["pulled_changes"], 0, "{idle}");
    assert_eq!(auditor.export().await, export_before);
    let idle = a.sync().await;
    assert_eq!(idle["pulled_changes"], 0, "{idle}");
    assert_unchanged(&sdb, &before, "the idle syncs").await;
    // And the request every refusal carried does change the data when it is allowed.
    let res = api
        .sync(
            0,
            wire::decode::<SyncRequest>(&valid).expect("decode").pushes,
        )
        .await;
    assert_accepted(&res, "hh-api-new");
    assert_ne!(
        sdb.snapshot().await,
        before,
        "the valid request changed nothing"
    );
    sdb.close().await;
    server.kill().await;
}

zoufang_e2e::on_both_databases!(refused_requests_change_nothing);

// ---------------------------------------------------------------------------------------------

async fn another_townships_households_are_neither_taken_nor_given(db: TestDb) {
    let server = ServerProcess::start_with_users(
        &db.url,
        &[
            ("zhang", "surveyor", SHILI),
            ("wang", "surveyor", XIAOWAN),
            ("audit1", "team_leader", SHILI),
            ("audit2", "team_leader", XIAOWAN),
        ],
    )
    .await;
    let [a, w, audit1, audit2] =
        enroll_each(&server.url, ["zhang", "wang", "audit1", "audit2"]).await;
    const H1: &str = "hh-530921100201001";
    const H2: &str = "hh-530921200201001";
    a.import_roster(&roster_csv(&[("530921100201001", "三合村", 2)], 0))
        .await;
    w.import_roster(&roster_csv(&[("530921200201001", "锦秀村", 2)], 100))
        .await;
    assert_eq!(a.sync().await["accepted"], 1);
    assert_eq!(w.sync().await["accepted"], 1);
    assert_eq!(ids(&a.export().await), [H1], "A has only its township");
    assert_eq!(ids(&w.export().await), [H2], "W has only its township");

    // Through the API: wang's device pulls from the very beginning and gets only 小湾镇.
    let wang_api =
        ApiDevice::enroll(&server.url, "wang", &actor_hex(&[0x20; 16]), [0x20; 16]).await;
    let zhang_api =
        ApiDevice::enroll(&server.url, "zhang", &actor_hex(&[0x10; 16]), [0x10; 16]).await;
    let pulled = wang_api.pull_all().await;
    assert!(
        !pulled.is_empty() && pulled.iter().all(|p| p.household == H2),
        "wang pulls only 小湾镇: {:?}",
        pulled.iter().map(|p| &p.household).collect::<Vec<_>>()
    );
    let zhang_pulled = zhang_api.pull_all().await;
    let sdb = ServerDb::connect(&db.url).await;
    let before = sdb.snapshot().await;

    // wang pushes an edit of 诗礼乡's H1 (built on its real changes): refused, per household.
    let mut h1 = doc_from(&zhang_pulled, H1, ActorId::from(wang_api.actor));
    let edit = edit_push(&mut h1, "wang", H1, "info.phone", json!("13911112222"));
    let res = wang_api.sync(0, vec![edit.clone()]).await;
    assert_rejected(&res, H1, "out_of_scope");
    assert!(res.pulled.iter().all(|p| p.household == H2), "{res:?}");
    // Also with every change of the household, as a device that lost track would send.
    let all = Push {
        household: H1.into(),
        changes: h1.changes_after(&[]),
    };
    assert_rejected(&wang_api.sync(0, vec![all]).await, H1, "out_of_scope");
    assert_unchanged(&sdb, &before, "pushes into another township").await;

    // New households: one in 诗礼乡, one with no area, one in 小湾镇; only the last is taken.
    let res = wang_api
        .sync(
            0,
            vec![
                new_household("hh-w-shili", "wang", wang_api.actor, Some("530921100201")),
                new_household("hh-w-none", "wang", wang_api.actor, None),
                new_household("hh-w-xiaowan", "wang", wang_api.actor, Some("530921200201")),
            ],
        )
        .await;
    assert_rejected(&res, "hh-w-shili", "out_of_scope");
    assert_rejected(&res, "hh-w-none", "out_of_scope");
    assert_accepted(&res, "hh-w-xiaowan");
    let after = sdb.snapshot().await;
    assert!(
        after
            .households
            .iter()
            .all(|h| !h.starts_with("hh-w-shili") && !h.starts_with("hh-w-none")),
        "{:?}",
        after.households
    );
    assert!(
        after
            .households
            .iter()
            .any(|h| h.starts_with("hh-w-xiaowan "))
    );
    // wang may not move his own household into another township either.
    let mut h2 = doc_from(&pulled, H2, ActorId::from(wang_api.actor));
    let moved = edit_push(&mut h2, "wang", H2, "info.area_code", json!("530921100201"));
    assert_rejected(&wang_api.sync(0, vec![moved]).await, H2, "out_of_scope");
    assert_unchanged(&sdb, &after, "moving a household out of the user's areas").await;

    // The client: A creates a household and puts it in 小湾镇, and edits its own H1, in one
    // sync. The first is refused and shown; the second goes through.
    const H3: &str = "hh-530921100201002";
    a.import_roster(&roster_csv(&[("530921100201002", "三合村", 1)], 200))
        .await;
    a.ok(&["edit", H3, "info.area_code", "530921200201"]).await;
    a.ok(&["edit", H1, "info.phone", "13800000001"]).await;
    let report = a.try_sync().await.expect("the sync runs");
    let rejected = report["rejected"].as_array().expect("rejected");
    assert_eq!(rejected.len(), 1, "{report}");
    assert_eq!(rejected[0]["household"], H3);
    assert_eq!(rejected[0]["code"], "out_of_scope");
    assert!(
        has_chinese(rejected[0]["message"].as_str().unwrap_or("")),
        "{report}"
    );
    assert_eq!(
        report["accepted"], 1,
        "the rest of the batch proceeds: {report}"
    );
    let (status, text, _) = a.run(&["sync"]).await;
    assert_eq!(
        status.code(),
        Some(1),
        "a sync with rejections says so: {text}"
    );
    assert!(
        text.contains(H3) && text.contains("未被接受"),
        "the sync report shows the rejection: {text}"
    );
    let stored = sdb.snapshot().await;
    assert!(
        !stored.households.iter().any(|h| h.starts_with(H3)),
        "{:?}",
        stored.households
    );

    // Nobody gets what is not theirs.
    audit1.sync().await;
    audit2.sync().await;
    w.sync().await;
    let e1 = audit1.export().await;
    assert_eq!(ids(&e1), [H1], "诗礼乡 has H1 only");
    assert_eq!(household(&e1, H1)["info"]["phone"], "13800000001");
    assert_eq!(ids(&audit2.export().await), [H2, "hh-w-xiaowan"]);
    assert_eq!(ids(&w.export().await), [H2, "hh-w-xiaowan"]);
    for d in [&audit1, &audit2, &w] {
        for h in d.export().await.as_array().expect("export") {
            let area = h["info"]["area_code"].as_str().unwrap_or("");
            let scope = if d.setting("areas").await.as_deref() == Some(SHILI) {
                SHILI
            } else {
                XIAOWAN
            };
            assert!(
                area.starts_with(scope),
                "{} in {area} on a {scope} device",
                h["id"]
            );
        }
    }
    sdb.close().await;
    server.kill().await;
}

zoufang_e2e::on_both_databases!(another_townships_households_are_neither_taken_nor_given);

// ---------------------------------------------------------------------------------------------

async fn changes_under_another_actor_are_refused(db: TestDb) {
    let server = ServerProcess::start_with_users(
        &db.url,
        &[
            ("zhang", "surveyor", SHILI),
            ("li", "surveyor", SHILI),
            ("audit", "team_leader", SHILI),
        ],
    )
    .await;
    let [a, auditor] = enroll_each(&server.url, ["zhang", "audit"]).await;
    const H1: &str = "hh-530921100201001";
    a.import_roster(&roster_csv(&[("530921100201001", "三合村", 2)], 0))
        .await;
    a.sync().await;
    auditor.sync().await;
    let export_before = auditor.export().await;
    // li's device, a valid one, in the same township: everything but the actor is in order.
    let li = ApiDevice::enroll(&server.url, "li", &actor_hex(&[7; 16]), [7; 16]).await;
    let pulled = li.pull_all().await;
    let a_actor =
        ActorId::try_from(a.setting("actor").await.expect("actor").as_str()).expect("A's actor");
    let sdb = ServerDb::connect(&db.url).await;
    let before = sdb.snapshot().await;

    // A change by an actor no device has.
    let mut stranger = doc_from(&pulled, H1, ActorId::from([9u8; 16]));
    let forged = edit_push(&mut stranger, "li", H1, "info.phone", json!("13000000009"));
    assert_rejected(&li.sync(0, vec![forged.clone()]).await, H1, "forged_actor");
    assert_unchanged(&sdb, &before, "a change by an unknown actor").await;

    // A change in A's name: the next change A itself would make.
    let mut impostor = doc_from(&pulled, H1, a_actor.clone());
    let as_a = edit_push(&mut impostor, "li", H1, "info.phone", json!("13000000001"));
    assert_rejected(&li.sync(0, vec![as_a]).await, H1, "forged_actor");
    assert_unchanged(&sdb, &before, "a change in another device's name").await;

    // A new household by another actor, in scope: the actor alone is wrong.
    let res = li
        .sync(
            0,
            vec![new_household(
                "hh-forged",
                "li",
                [9; 16],
                Some("530921100201"),
            )],
        )
        .await;
    assert_rejected(&res, "hh-forged", "forged_actor");
    assert_unchanged(&sdb, &before, "a new household by another actor").await;

    // li's own actor, but the change says another device wrote it: history must not lie.
    let mut relabelled = doc_from(&pulled, H1, ActorId::from(li.actor));
    let have = relabelled.heads();
    relabelled
        .edit(&author("li", "someone-elses-device"), |e| {
            e.set_field("info.phone", json!("13000000007"))
        })
        .expect("edit");
    let mislabelled = Push {
        household: H1.into(),
        changes: relabelled.changes_after(&have),
    };
    assert_rejected(&li.sync(0, vec![mislabelled]).await, H1, "forged_author");
    assert_unchanged(&sdb, &before, "a change labelled with another device").await;

    // li's own change followed by a forged one in the same push: the push is refused whole.
    let mut mine = doc_from(&pulled, H1, ActorId::from(li.actor));
    let own = edit_push(&mut mine, "li", H1, "living.house_area_m2", json!(88));
    let mut mixed = own.clone();
    mixed.changes.extend(forged.changes.clone());
    assert_rejected(&li.sync(0, vec![mixed]).await, H1, "forged_actor");
    assert_unchanged(&sdb, &before, "a push with one forged change").await;

    // Replaying A's real changes, which the server has, is harmless and accepted.
    let replay = Push {
        household: H1.into(),
        changes: pulled
            .iter()
            .filter(|p| p.household == H1)
            .map(|p| p.change.clone())
            .collect(),
    };
    assert_accepted(&li.sync(0, vec![replay]).await, H1);
    assert_unchanged(&sdb, &before, "a replay of changes the server has").await;

    // A forged push and a good one in one batch: the good one goes through.
    let res = li
        .sync(
            0,
            vec![
                forged.clone(),
                new_household("hh-li-new", "li", li.actor, Some("530921100201")),
            ],
        )
        .await;
    assert_rejected(&res, H1, "forged_actor");
    assert_accepted(&res, "hh-li-new");
    let after = sdb.snapshot().await;
    assert_eq!(
        after.households.iter().find(|h| h.starts_with(H1)),
        before.households.iter().find(|h| h.starts_with(H1)),
        "H1 untouched"
    );
    assert!(
        after
            .changes
            .iter()
            .all(|c| !c.contains(&actor_hex(&[9; 16]))),
        "no change by the forged actor is logged"
    );

    // A's own next change (the same actor and sequence number the impostor used) is accepted.
    a.ok(&["edit", H1, "info.phone", "13000000002"]).await;
    let report = a.sync().await;
    assert_eq!(report["accepted"], 1, "{report}");
    auditor.sync().await;
    let export = auditor.export().await;
    assert_eq!(ids(&export), [H1, "hh-li-new"]);
    let mut expected = household(&export_before, H1).clone();
    expected["info"]["phone"] = json!("13000000002");
    assert_eq!(
        household(&export, H1),
        &expected,
        "only A's own edit reached H1"
    );
    sdb.close().await;
    server.kill().await;
}

zoufang_e2e::on_both_databases!(changes_under_another_actor_are_refused);

// ---------------------------------------------------------------------------------------------

/// Bodies refused before they are decoded: too large, or cut short on the way.
async fn oversized_and_cut_short_bodies_are_refused(db: TestDb) {
    let server = ServerProcess::start_with_users(&db.url, &[("zhang", "surveyor", SHILI)]).await;
    let api = ApiDevice::enroll(&server.url, "zhang", &actor_hex(&[7; 16]), [7; 16]).await;
    let res = api
        .sync(
            0,
            vec![new_household(
                "hh-api-1",
                "zhang",
                api.actor,
                Some("530921100201"),
            )],
        )
        .await;
    assert_accepted(&res, "hh-api-1");
    let valid = wire::encode(&request(vec![new_household(
        "hh-api-2",
        "zhang",
        api.actor,
        Some("530921100201"),
    )]))
    .expect("encode");
    let sdb = ServerDb::connect(&db.url).await;
    let before = sdb.snapshot().await;

    // 50 MB, announced: without a token refused before it is read, with one for its size.
    let huge = vec![0u8; 50 << 20];
    let r = api::raw_request(
        &server.url,
        api::sync_head(&server.url, None, Some(huge.len())),
        huge.clone(),
        false,
    )
    .await;
    r.expect_error(StatusCode::UNAUTHORIZED, "50 MB without a token");
    let r = api::raw_request(
        &server.url,
        api::sync_head(&server.url, Some(&api.token), Some(huge.len())),
        huge.clone(),
        false,
    )
    .await;
    r.expect_error(StatusCode::PAYLOAD_TOO_LARGE, "a 50 MB body");
    assert_unchanged(&sdb, &before, "a 50 MB body").await;
    // 50 MB unannounced (chunked): refused once the limit is passed.
    let r = api::raw_request(
        &server.url,
        api::sync_head(&server.url, Some(&api.token), None),
        api::chunked(&huge),
        false,
    )
    .await;
    r.expect_error(StatusCode::PAYLOAD_TOO_LARGE, "a 50 MB chunked body");
    assert_unchanged(&sdb, &before, "a 50 MB chunked body").await;

    // The length promised, part of it delivered, then the sending side closed.
    for part in [0, valid.len() / 2, valid.len() - 1] {
        let r = api::raw_request(
            &server.url,
            api::sync_head(&server.url, Some(&api.token), Some(valid.len())),
            valid[..part].to_vec(),
            true,
        )
        .await;
        r.expect_error(
            StatusCode::BAD_REQUEST,
            &format!(
                "a body cut short in transit at {part} of {} bytes",
                valid.len()
            ),
        );
        assert_unchanged(&sdb, &before, "a body cut short in transit").await;
    }
    // The same request whole is taken.
    let res = api
        .sync(
            0,
            wire::decode::<SyncRequest>(&valid).expect("decode").pushes,
        )
        .await;
    assert_accepted(&res, "hh-api-2");
    sdb.close().await;
    server.kill().await;
}

zoufang_e2e::on_both_databases!(oversized_and_cut_short_bodies_are_refused);

// ---------------------------------------------------------------------------------------------

/// The actor the server writes its own changes under (`zoufang-server` padded to 16 bytes):
/// a device enrolled under it could write changes that read as the server's decisions, and
/// would never pull the server's real ones (a pull leaves out the device's own actor).
async fn the_servers_actor_cannot_be_enrolled(db: TestDb) {
    let server = ServerProcess::start_with_users(&db.url, &[("zhang", "surveyor", SHILI)]).await;
    let sdb = ServerDb::connect(&db.url).await;
    let before = sdb.snapshot().await;
    let server_actor = actor_hex(b"zoufang-server\0\0");
    for actor in [server_actor.clone(), server_actor.to_ascii_uppercase()] {
        api::enroll(&server.url, "zhang", "dev-server-actor", &actor)
            .await
            .expect_client_error(&format!("enrolling under the server's actor {actor}"));
        assert_unchanged(&sdb, &before, "an enrollment under the server's actor").await;
    }
    sdb.close().await;
    server.kill().await;
}

zoufang_e2e::on_both_databases!(the_servers_actor_cannot_be_enrolled);
