//! Photo uploads: ownership while unfinished, quota, expiry.
//!
//! A photo's hash is in every pulled document that shows it, so any device can name it. Found
//! by the examiner: another device sent 1 byte under that hash announcing 4 MiB, and the
//! owner's upload was refused (409) for good; 50 unfinished uploads left 48 MiB in the database
//! with no bound and no end. Now an unfinished upload is its device's own, a device's unfinished
//! uploads are bounded by a quota, and they expire.

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use zoufang_e2e::api::{self, ApiDevice, Reply};
use zoufang_e2e::db::ServerDb;
use zoufang_e2e::{ClientProcess, Device, ServerProcess, TestDb, add_users, photos, roster_csv};
use zoufang_shared::wire::{
    AttachmentStatusRequest, AttachmentStatusResponse, MAX_ATTACHMENT_BYTES, UploadState,
};

const HOUSEHOLD: &str = "hh-530921100201001";
const MIB: i64 = 1024 * 1024;

/// SHA-256 test vectors (FIPS 180-2), so that uploads can complete without hashing here.
const ABC_SHA256: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
const MILLION_A_SHA256: &str = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";

fn million_a() -> Vec<u8> {
    vec![b'a'; 1_000_000]
}

/// A well-formed hash no test uploads the bytes of.
fn fake_hash(n: u32) -> String {
    format!("{n:064x}")
}

/// `PUT /api/attachments/{hash}` as `device`.
async fn put(device: &ApiDevice, hash: &str, total: i64, offset: i64, body: &[u8]) -> Reply {
    let res = reqwest::Client::new()
        .put(format!(
            "{}/api/attachments/{hash}?offset={offset}&total={total}",
            device.server
        ))
        .header(AUTHORIZATION, format!("Bearer {}", device.token))
        .header(CONTENT_TYPE, "image/png")
        .body(body.to_vec())
        .send()
        .await
        .expect("PUT an attachment chunk");
    api::read(res).await
}

/// A chunk the server must take; where the upload then stands.
async fn put_ok(
    device: &ApiDevice,
    hash: &str,
    total: i64,
    offset: i64,
    body: &[u8],
) -> UploadState {
    let reply = put(device, hash, total, offset, body).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "{hash}@{offset}: {}",
        reply.text()
    );
    serde_json::from_slice(&reply.body).expect("an upload state")
}

/// A chunk the quota must refuse.
async fn put_over_quota(device: &ApiDevice, hash: &str, total: i64, body: &[u8]) {
    let reply = put(device, hash, total, 0, body).await;
    let error = reply.expect_error(StatusCode::TOO_MANY_REQUESTS, "over the upload quota");
    assert_eq!(error.code, "upload_quota");
}

/// Where `device`'s upload of each hash resumes; absent when the server has it.
async fn status(device: &ApiDevice, hashes: &[String]) -> Vec<UploadState> {
    let res = reqwest::Client::new()
        .post(format!("{}/api/attachments/status", device.server))
        .header(AUTHORIZATION, format!("Bearer {}", device.token))
        .json(&AttachmentStatusRequest {
            hashes: hashes.to_vec(),
        })
        .send()
        .await
        .expect("POST /api/attachments/status");
    assert_eq!(res.status(), StatusCode::OK);
    let body: AttachmentStatusResponse = res.json().await.expect("status JSON");
    body.missing
}

async fn offset_of(device: &ApiDevice, hash: &str) -> Option<i64> {
    status(device, &[hash.to_owned()])
        .await
        .pop()
        .map(|s| s.offset)
}

fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

async fn unfinished_of_hash(db: &ServerDb, hash: &str) -> i64 {
    db.scalar(&format!(
        "SELECT count(*) FROM attachment_uploads WHERE hash = {}",
        quoted(hash)
    ))
    .await
}

async fn unfinished_of_device(db: &ServerDb, device: &ApiDevice) -> i64 {
    db.scalar(&format!(
        "SELECT count(*) FROM attachment_uploads WHERE device_id = {}",
        quoted(&device.device_id)
    ))
    .await
}

/// Size of the stored (complete) attachment, if any.
async fn stored_size(db: &ServerDb, hash: &str) -> Option<i64> {
    let n = db
        .scalar(&format!(
            "SELECT count(*) FROM attachments WHERE hash = {}",
            quoted(hash)
        ))
        .await;
    if n == 0 {
        return None;
    }
    Some(
        db.scalar(&format!(
            "SELECT CAST(length(bytes) AS BIGINT) FROM attachments WHERE hash = {}",
            quoted(hash)
        ))
        .await,
    )
}

/// Records a visit with a photo through the device's own web UI, as the phone does; returns
/// the photo's hash.
async fn visit_with_photo(device: &Device) -> String {
    let ui = ClientProcess::start(device.data.path()).await;
    let http = reqwest::Client::new();
    // 300 kB: more than one 256 KiB chunk.
    let photo = photos::upload(&http, &ui.url, "image/png", photos::png(800, 600, 300_000)).await;
    let hash = photo["hash"].as_str().expect("the photo's hash").to_owned();
    let today = chrono::Local::now().date_naive().to_string();
    photos::record_visit(
        &http,
        &ui.url,
        HOUSEHOLD,
        &today,
        "张调查",
        &[&photo["hash"]],
    )
    .await;
    ui.kill().await;
    hash
}

/// The examiner's reproduction, with the stock client as the photo's owner: another device
/// announces 4 MiB under the photo's hash and sends 1 byte; the owner's upload still goes
/// through, the photo is stored under its hash, the squatter's bytes are dropped, and a third
/// device receives the visit naming the photo.
async fn a_squatted_hash_does_not_block_its_owner(db: TestDb) {
    let server = ServerProcess::start_with_users(
        &db.url,
        &[
            ("zhang", "surveyor", "530921100"),
            ("li", "surveyor", "530921100"),
            ("wang", "team_leader", "530921100"),
        ],
    )
    .await;
    let owner = Device::enrolled(&server, "zhang").await;
    owner
        .import_roster(&roster_csv(&[("530921100201001", "三合村", 2)], 1))
        .await;
    let first = owner.sync().await;
    assert_eq!(first["accepted"], 1, "{first}");
    let hash = visit_with_photo(&owner).await;

    let squatter = ApiDevice::enroll(&server.url, "li", "squatter", [0x5a; 16]).await;
    let squat = put_ok(&squatter, &hash, MAX_ATTACHMENT_BYTES, 0, &[0]).await;
    assert_eq!((squat.offset, squat.complete), (1, false));
    let sdb = ServerDb::connect(&db.url).await;
    assert_eq!(unfinished_of_hash(&sdb, &hash).await, 1);
    assert_eq!(stored_size(&sdb, &hash).await, None);

    let synced = owner.sync().await;
    assert_eq!(synced["attachments_uploaded"], 1, "{synced}");
    let size = stored_size(&sdb, &hash)
        .await
        .expect("the owner's photo is stored");
    assert!(size > 300_000, "{size}");
    assert_eq!(
        unfinished_of_hash(&sdb, &hash).await,
        0,
        "the squatter's byte is dropped"
    );
    // The squatter is told the server has it, and its next chunk is answered "complete".
    assert_eq!(offset_of(&squatter, &hash).await, None);
    let late = put_ok(&squatter, &hash, MAX_ATTACHMENT_BYTES, 1, &[0; 10]).await;
    assert!(late.complete);
    assert_eq!(late.offset, size);

    let other = Device::enrolled(&server, "wang").await;
    other.sync().await;
    let export = other.export().await;
    let household = export
        .as_array()
        .and_then(|a| a.iter().find(|h| h["id"] == HOUSEHOLD))
        .unwrap_or_else(|| panic!("{HOUSEHOLD} not received: {export}"));
    assert!(
        household.to_string().contains(&hash),
        "the visit names the photo: {household}"
    );
    let idle = owner.sync().await;
    assert_eq!(idle["attachments_uploaded"], 0, "{idle}");
    server.kill().await;
}

zoufang_e2e::on_both_databases!(a_squatted_hash_does_not_block_its_owner);

/// Surveyors zhang and li of 诗礼乡 on `server`, with an API device each (named `devices`,
/// actors `actor` and `actor + 0x11` repeated), and the server's database.
async fn two_surveyors(
    server: &ServerProcess,
    db: &TestDb,
    devices: [&str; 2],
    actor: u8,
) -> (ApiDevice, ApiDevice, ServerDb) {
    add_users(
        &db.url,
        &[
            ("zhang", "surveyor", "530921100"),
            ("li", "surveyor", "530921100"),
        ],
    )
    .await;
    let zhang = ApiDevice::enroll(&server.url, "zhang", devices[0], [actor; 16]).await;
    let li = ApiDevice::enroll(&server.url, "li", devices[1], [actor + 0x11; 16]).await;
    (zhang, li, ServerDb::connect(&db.url).await)
}

/// With the smallest quota the server accepts (one whole photo, 4 MiB): an upload begun
/// reserves its declared size; one more that would go over is refused and leaves nothing;
/// finishing the first makes room.
async fn unfinished_uploads_stay_within_the_quota(db: TestDb) {
    let server = ServerProcess::start_with_config(
        &db.url,
        &format!("[limits]\nmax_upload_bytes_in_progress = {MAX_ATTACHMENT_BYTES}\n"),
    )
    .await;
    let (device, other, sdb) = two_surveyors(&server, &db, ["quota-a", "quota-b"], 0x11).await;
    let big = million_a();
    let half = put_ok(&device, MILLION_A_SHA256, 1_000_000, 0, &big[..500_000]).await;
    assert_eq!(half.offset, 500_000);

    // 1 000 000 reserved + 3 300 000 is over 4 MiB, though only 500 000 bytes came.
    let second = fake_hash(2);
    put_over_quota(&device, &second, 3_300_000, &[1; 1000]).await;
    assert_eq!(unfinished_of_hash(&sdb, &second).await, 0, "nothing stored");
    assert_eq!(offset_of(&device, &second).await, Some(0));
    // Another device's quota is its own.
    put_ok(&other, &second, 100_000, 0, &[1; 1000]).await;
    // An announcement over what is left, and one over the largest attachment.
    put_over_quota(&other, &fake_hash(3), 4 * MIB, &[1]).await;
    put(&other, &fake_hash(3), MAX_ATTACHMENT_BYTES + 1, 0, &[1])
        .await
        .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "over the largest attachment");
    assert_eq!(unfinished_of_device(&sdb, &other).await, 1);

    // The begun upload can always finish; then there is room again.
    let done = put_ok(
        &device,
        MILLION_A_SHA256,
        1_000_000,
        500_000,
        &big[500_000..],
    )
    .await;
    assert!(done.complete);
    assert_eq!(stored_size(&sdb, MILLION_A_SHA256).await, Some(1_000_000));
    let again = put_ok(&device, &second, 100_000, 0, &[1; 1000]).await;
    assert_eq!((again.offset, again.complete), (1000, false));
    server.kill().await;
}

zoufang_e2e::on_both_databases!(unfinished_uploads_stay_within_the_quota);

/// The examiner's 50 unfinished 4 MiB uploads on the default settings: the quota (16 MiB)
/// takes four; once their last chunk is older than the expiry they are not reported, the next
/// upload by anyone deletes them, and complete attachments stay.
async fn unfinished_uploads_expire(db: TestDb) {
    let server = ServerProcess::start(&db.url).await;
    let (hoarder, other, sdb) = two_surveyors(&server, &db, ["hoarder", "passer-by"], 0x33).await;
    assert!(put_ok(&hoarder, ABC_SHA256, 3, 0, b"abc").await.complete);

    let hashes: Vec<String> = (1..=50).map(fake_hash).collect();
    for (i, hash) in hashes.iter().enumerate() {
        if i < 4 {
            assert_eq!(put_ok(&hoarder, hash, 4 * MIB, 0, &[1]).await.offset, 1);
        } else {
            put_over_quota(&hoarder, hash, 4 * MIB, &[1]).await;
        }
    }
    assert_eq!(unfinished_of_device(&sdb, &hoarder).await, 4);
    let held = sdb
        .scalar("SELECT CAST(COALESCE(SUM(received), 0) AS BIGINT) FROM attachment_uploads")
        .await;
    assert_eq!(held, 4);

    // A day and more since their last chunk.
    assert_eq!(
        sdb.execute("UPDATE attachment_uploads SET updated_at = '2020-01-01T00:00:00.000Z'")
            .await,
        4
    );
    let reported = status(&hoarder, &hashes[..4]).await;
    assert!(
        reported.iter().all(|s| s.offset == 0),
        "expired uploads are reported as not begun: {reported:?}"
    );
    // Anyone's next chunk clears them away.
    put_ok(&other, &fake_hash(99), 10, 0, &[1]).await;
    assert_eq!(unfinished_of_device(&sdb, &hoarder).await, 0);
    assert_eq!(unfinished_of_device(&sdb, &other).await, 1);
    assert_eq!(
        stored_size(&sdb, ABC_SHA256).await,
        Some(3),
        "complete stays"
    );
    assert_eq!(offset_of(&hoarder, ABC_SHA256).await, None);
    // The quota is free again.
    assert_eq!(
        put_ok(&hoarder, &hashes[4], 4 * MIB, 0, &[1]).await.offset,
        1
    );
    server.kill().await;
}

zoufang_e2e::on_both_databases!(unfinished_uploads_expire);
