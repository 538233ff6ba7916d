//! Backup and restore end to end: a backup taken while devices sync is consistent; after the
//! server is restored to an older backup, the devices give back what it lost — their own edits
//! and the edits of a lost device they had pulled — while a change under an unknown actor is
//! still refused, and once the recovery window is closed the old rule holds again. Each story
//! runs against SQLite and PostgreSQL. And an upgrade: a PostgreSQL replica does not migrate at
//! start, `migrate` does, and `/readyz` tells a schema behind the build. And the embedded
//! server copies its write-ahead log into its file by itself.

use std::path::Path;

use serde_json::{Value, json};
use zoufang_e2e::api::{ApiDevice, actor_hex, doc_from, outcome};
use zoufang_e2e::areas::{SHILI, XIAOWAN};
use zoufang_e2e::db::{LOG_LENGTH, ServerDb};
use zoufang_e2e::{
    Device, ServerProcess, TestDb, enroll_all, enroll_each, roster_csv, zoufang_server,
};
use zoufang_e2e::{export_ids as ids, exported_household as household};
use zoufang_shared::doc::{ActorId, ChangeAuthor};
use zoufang_shared::wire::{PulledChange, Push, PushOutcome, SyncResponse};

const H1: &str = "hh-530921100201001";
const H2: &str = "hh-530921100201002";
const H3: &str = "hh-530921100201003";
const H4: &str = "hh-530921100201004";

async fn server_ok(database: &str, args: &[&str]) -> String {
    let (status, out, err) = zoufang_server(database, args).await;
    assert!(status.success(), "zoufang-server {args:?}: {err}{out}");
    out
}

/// One edit of the server's copy of `household` under `actor`, labelled as written by
/// `device`, as a push of just that change.
fn edit_as(
    pulled: &[PulledChange],
    household: &str,
    actor: ActorId,
    device: &str,
    field: &str,
    value: Value,
) -> Push {
    let mut doc = doc_from(pulled, household, actor);
    let have = doc.heads();
    doc.edit(&ChangeAuthor::new("x", device, chrono::Utc::now()), |e| {
        e.set_field(field, value)
    })
    .expect("edit");
    Push {
        household: household.to_owned(),
        changes: doc.changes_after(&have),
    }
}

/// The push of `household` was refused with `code`; returns the message.
fn assert_rejected(res: &SyncResponse, household: &str, code: &str) -> String {
    match outcome(res, household) {
        PushOutcome::Rejected { code: c, message } => {
            assert_eq!(c, code, "{message}");
            message.clone()
        }
        other => panic!("{household} should be rejected with {code}, got {other:?}"),
    }
}

fn assert_clean(report: &Value, what: &str) {
    assert_eq!(report["rejected"], json!([]), "{what}: {report}");
    assert_eq!(report["incomplete"], false, "{what}: {report}");
}

/// Points a device at a restarted server (a new port).
async fn repoint(device: &Device, server: &ServerProcess) {
    device.set_setting("server_url", &server.url).await;
}

/// Every projection row of the database at `url` as text, in a fixed order.
async fn projection_rows(url: &str) -> Vec<String> {
    let db = ServerDb::connect(url).await;
    let (tables_sql, columns_sql) = match &db {
        ServerDb::Sqlite(_) => (
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'p\\_%' ESCAPE '\\'
             ORDER BY name",
            "SELECT name FROM pragma_table_info(?) ORDER BY cid",
        ),
        ServerDb::Postgres(_) => (
            "SELECT tablename::text FROM pg_tables
             WHERE schemaname = 'public' AND tablename LIKE 'p\\_%' ORDER BY tablename",
            "SELECT column_name::text FROM information_schema.columns
             WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position",
        ),
    };
    let tables: Vec<String> = match &db {
        ServerDb::Sqlite(p) => sqlx::query_scalar(tables_sql).fetch_all(p).await,
        ServerDb::Postgres(p) => sqlx::query_scalar(tables_sql).fetch_all(p).await,
    }
    .expect("projection tables");
    assert!(tables.len() >= 5, "projection tables: {tables:?}");
    let mut out = Vec::new();
    for table in tables {
        let columns: Vec<String> = match &db {
            ServerDb::Sqlite(p) => {
                sqlx::query_scalar(columns_sql)
                    .bind(&table)
                    .fetch_all(p)
                    .await
            }
            ServerDb::Postgres(p) => {
                sqlx::query_scalar(columns_sql)
                    .bind(&table)
                    .fetch_all(p)
                    .await
            }
        }
        .expect("projection columns");
        let row: Vec<String> = columns
            .iter()
            .map(|c| format!("COALESCE(CAST({c} AS TEXT), '∅')"))
            .collect();
        let sql = format!("SELECT {} FROM {table} ORDER BY 1", row.join(" || '|' || "));
        let rows: Vec<String> = match &db {
            ServerDb::Sqlite(p) => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .fetch_all(p)
                    .await
            }
            ServerDb::Postgres(p) => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .fetch_all(p)
                    .await
            }
        }
        .expect("projection rows");
        out.extend(rows.into_iter().map(|r| format!("{table}: {r}")));
    }
    db.close().await;
    out.sort();
    out
}

// ---------------------------------------------------------------------------------------------

/// Two devices edit and sync; backup; both edit and sync again; B is lost; the server is
/// restored to the backup; A syncs and the server has again all of A's edits and the edits of
/// B that A had pulled, as a new device sees.
async fn restore_then_devices_resync_without_loss(db: TestDb, restored_db: Option<TestDb>) {
    let backups = tempfile::tempdir().expect("dir");
    let file = backups.path().join("zoufang.backup");
    let file_arg = file.display().to_string();
    let server = ServerProcess::start_with_users(
        &db.url,
        &[
            ("zhang", "surveyor", SHILI),
            ("li", "surveyor", SHILI),
            ("wang", "team_leader", SHILI),
            ("zhou", "surveyor", XIAOWAN),
        ],
    )
    .await;
    let [a, b] = enroll_each(&server.url, ["zhang", "li"]).await;
    // A device of another township, enrolled before the backup.
    ApiDevice::enroll(&server.url, "zhou", "api-zhou", [0x55; 16]).await;
    a.import_roster(&roster_csv(
        &[
            ("530921100201001", "三合村", 2),
            ("530921100201002", "三合村", 2),
        ],
        0,
    ))
    .await;
    assert_clean(&a.sync().await, "A's first sync");
    assert_clean(&b.sync().await, "B's first sync");

    // Before the backup: one edit each, synced everywhere.
    a.ok(&["edit", H1, "incomes.2026.wage", "1000000"]).await;
    b.ok(&["edit", H2, "living.house_grade", "B级"]).await;
    for d in [&a, &b, &a] {
        assert_clean(&d.sync().await, "before the backup");
    }

    let out = server_ok(&db.url, &["backup", &file_arg]).await;
    assert!(out.contains("2 户"), "{out}");

    // After the backup: A edits and adds a household, B edits and adds one; A pulls B's work.
    a.ok(&["edit", H1, "living.house_grade", "C级"]).await;
    a.import_roster(&roster_csv(&[("530921100201003", "三合村", 2)], 100))
        .await;
    b.ok(&["edit", H2, "incomes.2026.wage", "2000000"]).await;
    b.import_roster(&roster_csv(&[("530921100201004", "三合村", 3)], 200))
        .await;
    for d in [&a, &b, &a] {
        assert_clean(&d.sync().await, "after the backup");
    }
    // B's last edit reaches the server but never A: the restore takes it for good.
    b.ok(&["edit", H2, "info.phone", "13900000002"]).await;
    assert_clean(&b.sync().await, "B's last sync");
    let b_actor = b.setting("actor").await.expect("B's actor");
    let b_device = b.setting("device_id").await.expect("B's device id");
    let expected = a.export().await;
    assert_eq!(ids(&expected), [H1, H2, H3, H4]);
    drop(b); // the phone is lost

    // A restore while the server runs is refused (SQLite: the file is in use).
    if restored_db.is_none() {
        let (status, _, err) = zoufang_server(&db.url, &["restore", &file_arg]).await;
        assert!(!status.success(), "restore while serving must fail");
        assert!(err.contains("停止服务器"), "{err}");
    }
    server.kill().await;
    let restored_url = match &restored_db {
        None => {
            let out = server_ok(&db.url, &["restore", &file_arg]).await;
            assert!(out.contains("原数据库已移至"), "{out}");
            db.url.clone()
        }
        Some(fresh) => {
            let (status, _, err) = zoufang_server(&db.url, &["restore", &file_arg]).await;
            assert!(
                !status.success(),
                "restoring over a database in use must fail"
            );
            assert!(err.contains("不是空的"), "{err}");
            server_ok(&fresh.url, &["restore", &file_arg]).await;
            fresh.url.clone()
        }
    };
    let server = ServerProcess::spawn(&restored_url).await;
    // The admin re-applies what happened after the backup: the lost phone is revoked.
    server_ok(&restored_url, &["device", "revoke", &b_device]).await;

    // A syncs: everything it holds goes back, B's edits included.
    repoint(&a, &server).await;
    let report = a.sync().await;
    assert_clean(&report, "A's sync after the restore");
    assert!(
        report["pushed_households"].as_u64().unwrap_or(0) >= 4,
        "A offers every household again: {report}"
    );
    let idle = a.sync().await;
    assert_eq!(idle["pushed_households"], 0, "{idle}");
    assert_eq!(idle["pulled_changes"], 0, "{idle}");
    assert_eq!(a.export().await, expected, "A's copy is untouched");

    // A new device downloads it all.
    let c = Device::enrolled(&server, "wang").await;
    assert_clean(&c.sync().await, "C's first sync");
    let got = c.export().await;
    assert_eq!(ids(&got), [H1, H2, H3, H4]);
    for id in [H1, H2, H3, H4] {
        assert_eq!(household(&got, id), household(&expected, id), "{id}");
    }
    assert_eq!(household(&got, H1)["incomes"]["2026"]["wage"], 1_000_000);
    assert_eq!(household(&got, H1)["living"]["house_grade"], "c");
    assert_eq!(household(&got, H2)["living"]["house_grade"], "b");
    assert_eq!(household(&got, H2)["incomes"]["2026"]["wage"], 2_000_000);
    assert_ne!(
        household(&got, H2)["info"]["phone"],
        "13900000002",
        "an edit no remaining device had cannot come back"
    );
    let out = server_ok(&restored_url, &["reindex"]).await;
    assert!(out.contains("无法读取 0 户"), "{out}");

    // The audit names B's changes and the device that resent them.
    let a_device = a.setting("device_id").await.expect("A's device id");
    let status = server_ok(&restored_url, &["restore", "--status"]).await;
    assert!(status.contains("恢复窗口:开放至"), "{status}");
    let resent: Vec<&str> = status
        .lines()
        .filter(|l| l.contains(&format!("{b_device} 的变更")))
        .collect();
    assert!(
        resent.len() >= 2,
        "B's wage edit and new household: {status}"
    );
    assert!(
        resent
            .iter()
            .all(|l| l.contains(&format!("由 {a_device} 补传")) && !l.contains("未入库")),
        "{status}"
    );
    assert!(status.contains(&format!("{a_device}\tzhang")), "{status}");

    // During the window: an unknown actor, the server's actor and a mislabelled change of B's
    // are still refused, and change nothing.
    let api = ApiDevice::enroll(&server.url, "zhang", "api-zhang", [0x33; 16]).await;
    let pulled = api.pull_all().await;
    let sdb = ServerDb::connect(&restored_url).await;
    let before = sdb.snapshot().await;
    let stranger = ActorId::from([0x42; 16]);
    let push = edit_as(
        &pulled,
        H1,
        stranger.clone(),
        &actor_hex(&[0x42; 16]),
        "info.phone",
        json!("13000000009"),
    );
    assert_rejected(&api.sync(0, vec![push]).await, H1, "forged_actor");
    let server_actor = ActorId::from(*b"zoufang-server\0\0");
    let push = edit_as(
        &pulled,
        H1,
        server_actor,
        "server",
        "info.phone",
        json!("13000000008"),
    );
    assert_rejected(&api.sync(0, vec![push]).await, H1, "lost_server_change");
    let b_id = ActorId::try_from(b_actor.as_str()).expect("B's actor");
    let push = edit_as(
        &pulled,
        H1,
        b_id.clone(),
        "api-zhang",
        "info.phone",
        json!("13000000007"),
    );
    assert_rejected(&api.sync(0, vec![push]).await, H1, "forged_author");
    // An enrolled device, but of a user who neither works in 诗礼乡 nor ever wrote to H1.
    let zhou = ActorId::from([0x55; 16]);
    let push = edit_as(
        &pulled,
        H1,
        zhou,
        "api-zhou",
        "info.phone",
        json!("13000000005"),
    );
    let message = assert_rejected(&api.sync(0, vec![push]).await, H1, "forged_actor");
    assert!(message.contains("恢复期间"), "{message}");
    assert_eq!(
        sdb.snapshot().await,
        before,
        "refused pushes changed nothing"
    );

    // The window closes: a change in B's name is refused again, labelled right or not.
    let out = server_ok(&restored_url, &["restore", "--close"]).await;
    assert!(out.contains("已关闭"), "{out}");
    let push = edit_as(
        &pulled,
        H1,
        b_id,
        &b_device,
        "info.phone",
        json!("13000000006"),
    );
    assert_rejected(&api.sync(0, vec![push]).await, H1, "forged_actor");
    assert_eq!(
        sdb.snapshot().await,
        before,
        "refused pushes changed nothing"
    );
    sdb.close().await;
    let status = server_ok(&restored_url, &["restore", "--status"]).await;
    assert!(status.contains("恢复窗口:已于"), "{status}");

    // And work goes on as before.
    a.ok(&["edit", H3, "living.house_grade", "A级"]).await;
    assert_clean(&a.sync().await, "A after the window");
    let got = c.sync().await;
    assert_eq!(got["pulled_changes"], 1, "{got}");
    assert_eq!(
        household(&c.export().await, H3)["living"]["house_grade"],
        "a"
    );
    server.kill().await;
    drop(restored_db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_then_devices_resync_without_loss_on_sqlite() {
    restore_then_devices_resync_without_loss(TestDb::sqlite(), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_then_devices_resync_without_loss_on_postgres() {
    restore_then_devices_resync_without_loss(TestDb::postgres(), Some(TestDb::postgres())).await;
}

// ---------------------------------------------------------------------------------------------

/// Opens a backup as a database of its own and checks it: each county's change-log counter
/// matches its log, every household has changes, and the projection stored with the documents is the
/// one `zoufang-server reindex` rebuilds from them.
async fn check_backup(url: &str) -> (i64, i64) {
    let db = ServerDb::connect(url).await;
    let seq = db.scalar(LOG_LENGTH).await;
    // Numbered from 1 without gaps, so each counter is its county's count of log rows (no
    // household here changes county, which would take numbers out of the county it left).
    let off = db
        .scalar(
            "SELECT count(*) FROM log_counters k
             WHERE k.seq <> (SELECT count(*) FROM changes c WHERE c.county = k.county)
                          + (SELECT count(*) FROM household_moves m WHERE m.county = k.county)",
        )
        .await;
    let logged = db
        .scalar("SELECT (SELECT count(*) FROM changes) + (SELECT count(*) FROM household_moves)")
        .await;
    let households = db.scalar("SELECT count(*) FROM households").await;
    let without_changes = db
        .scalar(
            "SELECT count(*) FROM households h
             WHERE NOT EXISTS (SELECT 1 FROM changes c WHERE c.household_id = h.id)",
        )
        .await;
    let projected = db.scalar("SELECT count(*) FROM p_households").await;
    db.close().await;
    assert_eq!(off, 0, "each county's counter is its log's last number");
    assert_eq!(seq, logged, "every logged row is counted in its county");
    assert_eq!(without_changes, 0, "every household has its changes");
    assert_eq!(projected, households, "every household is projected");
    let stored = projection_rows(url).await;
    let out = server_ok(url, &["reindex"]).await;
    assert!(out.contains("无法读取 0 户"), "{out}");
    assert_eq!(
        projection_rows(url).await,
        stored,
        "reindex changes nothing"
    );
    (households, seq)
}

/// Restores a PostgreSQL dump into a fresh database with the plain PostgreSQL tools.
fn pg_restore(file: &Path, into: &TestDb) {
    zoufang_e2e::run_pg_client(
        std::process::Command::new("pg_restore")
            .args([
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--dbname",
            ])
            .arg(&into.url)
            .arg(file),
        "pg_restore",
    );
}

async fn a_backup_taken_during_syncs_is_consistent(db: TestDb, postgres: bool) {
    const DEVICES: usize = 3;
    const ROUNDS: usize = 6;
    let backups = tempfile::tempdir().expect("dir");
    let server = ServerProcess::start_with_users(
        &db.url,
        &[
            ("u0", "surveyor", SHILI),
            ("u1", "surveyor", SHILI),
            ("u2", "surveyor", SHILI),
        ],
    )
    .await;
    let devices = enroll_all(&server.url, &["u0", "u1", "u2"]).await;
    for (i, d) in devices.iter().enumerate() {
        let rows: Vec<(String, &str, usize)> = (0..4)
            .map(|k| (format!("53092110020{i}{k:03}"), "三合村", 2))
            .collect();
        let rows: Vec<(&str, &str, usize)> =
            rows.iter().map(|(n, v, m)| (n.as_str(), *v, *m)).collect();
        d.import_roster(&roster_csv(&rows, (i as u32) * 100)).await;
    }
    // Devices edit and sync in a loop while backups are taken: one at the start, then one
    // after each device's sync, while the other devices go on syncing. Paced by the syncs, not
    // the clock, so the backups fall at different points however slow the machine is.
    let mut work = tokio::task::JoinSet::new();
    let (synced, mut syncs) = tokio::sync::mpsc::unbounded_channel::<()>();
    for (i, d) in devices.into_iter().enumerate() {
        let synced = synced.clone();
        work.spawn(async move {
            for round in 0..ROUNDS {
                for k in 0..4 {
                    let id = format!("hh-53092110020{i}{k:03}");
                    let wage = (1000 * (round + 1) + k).to_string();
                    d.ok(&["edit", &id, "incomes.2026.wage", &wage]).await;
                }
                assert_clean(&d.sync().await, "a device's sync");
                let _ = synced.send(());
            }
            d
        });
    }
    drop(synced);
    let mut files = Vec::new();
    loop {
        let file = backups.path().join(format!("b{}.backup", files.len()));
        let file_arg = file.display().to_string();
        if postgres && files.len() == 1 {
            // The plain tool the README names, on the live database.
            zoufang_e2e::run_pg_client(
                std::process::Command::new("pg_dump").args([
                    "--format=custom",
                    "--file",
                    &file_arg,
                    "--dbname",
                    &db.url,
                ]),
                "pg_dump",
            );
        } else {
            server_ok(&db.url, &["backup", &file_arg]).await;
        }
        files.push(file);
        if files.len() > 40 || syncs.recv().await.is_none() {
            break;
        }
    }
    while let Some(done) = work.join_next().await {
        done.expect("device task");
    }
    // And one once the syncs are done: it holds everything.
    let last = backups.path().join("last.backup");
    server_ok(&db.url, &["backup", &last.display().to_string()]).await;
    files.push(last);
    let live = ServerDb::connect(&db.url).await;
    let live_seq = live.scalar(LOG_LENGTH).await;
    live.close().await;
    server.kill().await;
    let mut counts = Vec::new();
    for file in &files {
        if postgres {
            let copy = TestDb::postgres();
            pg_restore(file, &copy);
            counts.push(check_backup(&copy.url).await);
            // Restored by hand: the restore is recorded afterwards, opening the window.
            let out = server_ok(&copy.url, &["restore", "--mark", "--window-days", "3"]).await;
            assert!(out.contains("已记录恢复点"), "{out}");
            let status = server_ok(&copy.url, &["restore", "--status"]).await;
            assert!(status.contains("恢复窗口:开放至"), "{status}");
        } else {
            // A copy, so that the reindex writes to neither the backup nor the server.
            let copy = file.with_extension("db");
            std::fs::copy(file, &copy).expect("copy the backup");
            counts.push(check_backup(&copy.display().to_string()).await);
        }
    }
    let all = (DEVICES * 4) as i64;
    assert!(counts.iter().all(|&(n, _)| n <= all), "{counts:?}");
    assert_eq!(counts.last(), Some(&(all, live_seq)), "{counts:?}");
    // Taken at different points of the syncs.
    let mut seqs: Vec<i64> = counts.iter().map(|&(_, seq)| seq).collect();
    seqs.dedup();
    assert!(seqs.len() >= 3, "backups while syncing: {counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_during_syncs_is_consistent_on_sqlite() {
    a_backup_taken_during_syncs_is_consistent(TestDb::sqlite(), false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_during_syncs_is_consistent_on_postgres() {
    a_backup_taken_during_syncs_is_consistent(TestDb::postgres(), true).await;
}

/// `GET path` on the server: status and body.
async fn probe(server: &ServerProcess, path: &str) -> (u16, String) {
    let res = reqwest::get(format!("{}{path}", server.url))
        .await
        .expect("probe");
    (res.status().as_u16(), res.text().await.expect("body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_replica_waits_for_migrate() {
    let db = TestDb::postgres();
    let started = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        zoufang_server(&db.url, &["serve", "--listen", "127.0.0.1:0"]),
    )
    .await
    .expect("a replica on an empty schema stops at once");
    let (status, _, err) = started;
    assert!(!status.success(), "refused");
    assert!(err.contains("zoufang-server migrate"), "{err}");

    let out = server_ok(&db.url, &["migrate"]).await;
    assert!(out.contains("数据库结构已是最新"), "{out}");
    let again = server_ok(&db.url, &["migrate"]).await;
    assert!(again.contains("本次应用 0 项迁移"), "{again}");
    let server = ServerProcess::start(&db.url).await;
    assert_eq!(probe(&server, "/readyz").await, (200, "ready".into()));
    assert_eq!(probe(&server, "/healthz").await, (200, "ok".into()));

    // The schema goes back under the running replica (an older backup restored by hand).
    let pg = ServerDb::connect(&db.url).await;
    let last = pg.scalar("SELECT MAX(version) FROM _sqlx_migrations").await;
    pg.execute(&format!(
        "DELETE FROM _sqlx_migrations WHERE version = {last}"
    ))
    .await;
    let (status, body) = probe(&server, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("schema_behind"), "{body}");
    assert_eq!(
        probe(&server, "/healthz").await.0,
        200,
        "alive all the same"
    );
    pg.close().await;
}

/// A serving process copies SQLite's write-ahead log into the database file by itself, about
/// once a second (the server binary's `checkpoints`), rather than when the log reaches SQLite's
/// threshold: killed after a sync, it has left the synced household in the main file, which a
/// copy made without the log then holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_server_checkpoints_its_log() {
    let db = TestDb::sqlite();
    let server = ServerProcess::start_with_users(&db.url, &[("zhang", "surveyor", SHILI)]).await;
    let zhang = Device::enrolled(&server, "zhang").await;
    zhang
        .import_roster(&roster_csv(&[("530921100201501", "三合村", 3)], 900))
        .await;
    assert_eq!(zhang.sync().await["accepted"], 1);
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    server.kill().await;
    let copy = format!("{}.main-file-only", db.url);
    std::fs::copy(&db.url, &copy).expect("copy the main file");
    let file = ServerDb::connect(&copy).await;
    assert_eq!(file.scalar("SELECT COUNT(*) FROM households").await, 1);
    file.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_server_migrates_its_own_file() {
    let db = TestDb::sqlite();
    let server = ServerProcess::spawn(&db.url).await;
    assert_eq!(probe(&server, "/readyz").await, (200, "ready".into()));
}
