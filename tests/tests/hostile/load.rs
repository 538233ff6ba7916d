//! Overload: timeouts, connection and work limits, load shedding, memory.
//!
//! - clients that send their headers or body slowly (or not at all) are dropped after the
//!   configured timeouts, not served for minutes;
//! - 24 DEFLATE bombs at once keep the server's memory bounded and `/healthz` quick;
//! - ten hostile devices sending their worst requests without pause (a thousand tiny changes
//!   per push, bombs) leave an honest device's sync and a reviewer's report answering; the
//!   figures are printed (the README quotes them), the assertions are generous bounds;
//! - with no room left the server sheds load: 503 `overloaded` with `Retry-After`.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zoufang_e2e::access::{api_device, author};
use zoufang_e2e::areas::{SANHE, SHILI};
use zoufang_e2e::review::Reviewer;
use zoufang_e2e::{Device, ServerProcess, TestDb, add_users, peak_rss_kib, roster_csv};
use zoufang_shared::doc::{ActorId, HouseholdDoc};
use zoufang_shared::ids::HouseholdId;
use zoufang_shared::wire::Push;

/// How long the server took to drop (or answer and close) a connection that sent `head` and
/// then, when `trickle` is set, one more byte at that interval.
async fn time_to_drop(server: &str, head: &str, trickle: Option<Duration>) -> Duration {
    let addr = server.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let start = Instant::now();
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut buf = [0u8; 4096];
    let pause = trickle.unwrap_or(Duration::from_secs(3600));
    let dropped = async {
        loop {
            tokio::select! {
                read = stream.read(&mut buf) => match read {
                    Ok(0) | Err(_) => return start.elapsed(),
                    Ok(_) => {}
                },
                () = tokio::time::sleep(pause) => {
                    if stream.write_all(b"a").await.is_err() {
                        return start.elapsed();
                    }
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), dropped)
        .await
        .expect("the server kept a slow client for a minute")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_dropped() {
    let db = TestDb::sqlite();
    let server = ServerProcess::start_with_config(
        &db.url,
        "[limits]\nheader_timeout_secs = 2\nbody_timeout_secs = 2\nrequest_deadline_secs = 5\n",
    )
    .await;
    let url = &server.url;
    let stalled_head = time_to_drop(url, "POST /api/enroll HTTP/1.1\r\nHost: x\r\n", None).await;
    let trickled_head = time_to_drop(
        url,
        "POST /api/enroll HTTP/1.1\r\nHost: x\r\nX-Slow: ",
        Some(Duration::from_millis(300)),
    )
    .await;
    let body_head = "POST /api/enroll HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                     Content-Length: 1000\r\n\r\n{\"username\":";
    let stalled_body = time_to_drop(url, body_head, None).await;
    let trickled_body = time_to_drop(url, body_head, Some(Duration::from_secs(1))).await;
    println!(
        "slow clients dropped after: headers stalled {stalled_head:?}, headers a byte every \
         300 ms {trickled_head:?}, body stalled {stalled_body:?}, body a byte a second \
         {trickled_body:?} (timeouts: headers 2 s, body idle 2 s, request 5 s)"
    );
    for (what, took) in [
        ("stalled headers", stalled_head),
        ("trickled headers", trickled_head),
        ("stalled body", stalled_body),
    ] {
        assert!(took < Duration::from_secs(8), "{what}: {took:?}");
    }
    assert!(
        trickled_body < Duration::from_secs(12),
        "trickled body: {trickled_body:?}"
    );
    // Honest requests still pass.
    let health = reqwest::get(format!("{url}/healthz"))
        .await
        .expect("healthz");
    assert_eq!(health.status(), StatusCode::OK);
    server.kill().await;
}

/// A DEFLATE stream of `size` zero bytes (≈ 1,000 times smaller).
fn deflate_bomb(size: usize) -> Vec<u8> {
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let block = vec![0u8; 1 << 20];
    for _ in 0..size / block.len() {
        z.write_all(&block).expect("in memory");
    }
    z.finish().expect("in memory")
}

/// The longest `/healthz` took while `busy` held, polled every 100 ms.
fn watch_health(url: String, busy: Arc<AtomicBool>) -> tokio::task::JoinHandle<Duration> {
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        let mut worst = Duration::ZERO;
        while busy.load(Ordering::SeqCst) {
            let start = Instant::now();
            let res = http
                .get(format!("{url}/healthz"))
                .timeout(Duration::from_secs(60))
                .send()
                .await
                .expect("healthz answers");
            assert_eq!(res.status(), StatusCode::OK);
            worst = worst.max(start.elapsed());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        worst
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deflate_bombs_keep_memory_and_health_bounded() {
    let db = TestDb::sqlite();
    let server = ServerProcess::start(&db.url).await;
    server
        .add_user("bomber", "炸弹", "surveyor", &[SHILI])
        .await;
    let device = api_device(&server.url, "bomber", [0xb0; 16]).await;
    let bomb = tokio::task::spawn_blocking(|| deflate_bomb(60 << 20))
        .await
        .expect("bomb");
    let baseline = peak_rss_kib(server.pid());
    let busy = Arc::new(AtomicBool::new(true));
    let health = watch_health(server.url.clone(), busy.clone());
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..24 {
        let (device, bomb) = (device.clone(), bomb.clone());
        set.spawn(async move { device.post_raw(bomb).await.status });
    }
    let mut statuses = Vec::new();
    while let Some(status) = set.join_next().await {
        statuses.push(status.expect("join"));
    }
    let took = start.elapsed();
    busy.store(false, Ordering::SeqCst);
    let worst_health = health.await.expect("join");
    let peak = peak_rss_kib(server.pid());
    println!(
        "24 DEFLATE bombs of {} bytes (60 MiB inflated): answered in {took:?} ({statuses:?}); \
         worst /healthz {worst_health:?}; server peak RSS {} MiB (before: {} MiB)",
        bomb.len(),
        peak / 1024,
        baseline / 1024
    );
    assert!(
        statuses
            .iter()
            .all(|s| s.is_client_error() || *s == StatusCode::SERVICE_UNAVAILABLE)
    );
    assert!(worst_health < Duration::from_secs(2), "{worst_health:?}");
    assert!(peak < 700 * 1024, "peak RSS {} MiB", peak / 1024);
    server.kill().await;
}

/// `count` tiny changes (the phone, over and over) of `doc`, as one push.
fn tiny_changes(doc: &mut HouseholdDoc, household: &str, user: &str, count: usize) -> Push {
    let have = doc.heads();
    let device = doc.actor().to_hex_string();
    for i in 0..count {
        doc.edit(&author(user, &device), |e| {
            e.set_field("info.phone", json!(format!("139{:08}", i)))
        })
        .expect("edit");
    }
    Push {
        household: household.to_owned(),
        changes: doc.changes_after(&have),
    }
}

/// A hostile device: its own household, then its worst requests until `stop`.
async fn hostile(
    server: String,
    n: u8,
    bomb: Arc<Vec<u8>>,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicUsize>,
) {
    let user = format!("h{n}");
    let device = api_device(&server, &user, [0xc0 + n; 16]).await;
    let id = format!("hh-5309211002019{n:02}");
    let (mut doc, ()) = HouseholdDoc::create_with(
        &HouseholdId(id.clone()),
        ActorId::from(device.actor),
        &author(&user, &device.device_id),
        |e| e.set_field("info.area_code", json!(SANHE)),
    )
    .expect("create a household");
    let create = Push {
        household: id.clone(),
        changes: doc.changes_after(&[]),
    };
    device.sync(0, vec![create]).await;
    let mut round = 0usize;
    while !stop.load(Ordering::SeqCst) {
        round += 1;
        if round.is_multiple_of(2) {
            device.post_raw(bomb.to_vec()).await;
        } else {
            let (d, push) = tokio::task::spawn_blocking({
                let (id, user) = (id.clone(), user.clone());
                move || {
                    let push = tiny_changes(&mut doc, &id, &user, 1_000);
                    (doc, push)
                }
            })
            .await
            .expect("build");
            doc = d;
            let body = zoufang_shared::wire::encode(&zoufang_shared::wire::SyncRequest {
                protocol: zoufang_shared::wire::PROTOCOL_VERSION,
                cursor: i64::MAX,
                pushes: vec![push],
                max_pull_bytes: 0,
                ..zoufang_shared::wire::SyncRequest::default()
            })
            .expect("encode");
            device.post_raw(body).await;
        }
        sent.fetch_add(1, Ordering::SeqCst);
    }
}

async fn ten_hostile_devices_do_not_stall_honest_work(db: TestDb) {
    let server = ServerProcess::start(&db.url).await;
    let mut users: Vec<(String, &str, &str)> = (0..10)
        .map(|n| (format!("h{n}"), "surveyor", SHILI))
        .collect();
    users.push(("zhang".into(), "surveyor", SHILI));
    users.push(("tr".into(), "township_reviewer", SHILI));
    let borrowed: Vec<(&str, &str, &str)> =
        users.iter().map(|(u, r, a)| (u.as_str(), *r, *a)).collect();
    add_users(&db.url, &borrowed).await;
    let zhang = Device::enrolled(&server, "zhang").await;
    zhang
        .import_roster(&roster_csv(&[("530921100201501", "三合村", 3)], 900))
        .await;
    assert_eq!(zhang.sync().await["accepted"], 1);
    let reviewer = Reviewer::login(&server.url, "tr").await;

    let bomb = Arc::new(
        tokio::task::spawn_blocking(|| deflate_bomb(60 << 20))
            .await
            .expect("bomb"),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let busy = Arc::new(AtomicBool::new(true));
    let health = watch_health(server.url.clone(), busy.clone());
    let mut hostiles = tokio::task::JoinSet::new();
    for n in 0..10 {
        hostiles.spawn(hostile(
            server.url.clone(),
            n,
            bomb.clone(),
            stop.clone(),
            sent.clone(),
        ));
    }
    // Let the hostile devices get going.
    tokio::time::sleep(Duration::from_secs(5)).await;

    let mut honest = Vec::new();
    let mut reports = Vec::new();
    for i in 0..3 {
        zhang
            .ok(&[
                "edit",
                "hh-530921100201501",
                "info.phone",
                &format!("1390000050{i}"),
            ])
            .await;
        let start = Instant::now();
        let report = zhang.sync().await;
        honest.push(start.elapsed());
        assert_eq!(report["accepted"], 1, "{report}");
        let start = Instant::now();
        let (status, _) = reviewer.get("/api/review/report").await;
        reports.push(start.elapsed());
        assert_eq!(status, StatusCode::OK);
    }
    stop.store(true, Ordering::SeqCst);
    while hostiles.join_next().await.is_some() {}
    busy.store(false, Ordering::SeqCst);
    let worst_health = health.await.expect("join");
    let peak = peak_rss_kib(server.pid());
    let worst_sync = honest.iter().max().copied().unwrap_or_default();
    let worst_report = reports.iter().max().copied().unwrap_or_default();
    println!(
        "10 hostile devices ({} worst requests sent): honest syncs {honest:?}, report page \
         {reports:?}, worst /healthz {worst_health:?}, server peak RSS {} MiB",
        sent.load(Ordering::SeqCst),
        peak / 1024
    );
    // The honest device works in the hostile devices' township, so its sync also pulls the
    // tens of thousands of changes they pushed meanwhile: the bound covers that download.
    assert!(worst_sync < Duration::from_secs(120), "{worst_sync:?}");
    assert!(worst_report < Duration::from_secs(10), "{worst_report:?}");
    assert!(worst_health < Duration::from_secs(2), "{worst_health:?}");
    assert!(peak < 1024 * 1024, "peak RSS {} MiB", peak / 1024);
    server.kill().await;
}

zoufang_e2e::on_both_databases!(
    ten_hostile_devices_do_not_stall_honest_work,
    worker_threads = 4
);

/// With one heavy slot and no line, concurrent syncs beyond the one running are shed at once:
/// 503 `overloaded` with `Retry-After`; the stock client waits and gets through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_server_sheds_load_with_retry_after() {
    let db = TestDb::sqlite();
    let server = ServerProcess::start_with_config(
        &db.url,
        "[limits]\nheavy_concurrency = 1\nheavy_queue = 0\n",
    )
    .await;
    server.add_user("busy", "忙碌", "surveyor", &[SHILI]).await;
    let device = api_device(&server.url, "busy", [0xd0; 16]).await;
    let bomb = tokio::task::spawn_blocking(|| deflate_bomb(48 << 20))
        .await
        .expect("bomb");
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (device, bomb) = (device.clone(), bomb.clone());
        set.spawn(async move { device.post_raw(bomb).await });
    }
    let mut shed = 0;
    while let Some(reply) = set.join_next().await {
        let reply = reply.expect("join");
        if reply.status == StatusCode::SERVICE_UNAVAILABLE {
            let error = reply.expect_error(StatusCode::SERVICE_UNAVAILABLE, "shed");
            assert_eq!(error.code, "overloaded");
            assert!(reply.retry_after.is_some(), "no Retry-After");
            shed += 1;
        }
    }
    println!("8 concurrent heavy requests, 1 slot, no line: {shed} shed with 503");
    assert!(shed > 0, "nothing was shed");
    server.kill().await;
}
