//! The fault-injection suite: seeded, randomized runs of three field devices editing the same
//! households and syncing through faults — connections cut at a random byte either way, stalls,
//! sync requests delivered twice or late (after newer ones), the server SIGKILLed while syncs
//! are in flight and restarted on the same database, a client SIGKILLed in the middle of an
//! edit, a roster import or a sync, the server's SQLite database on a full disk.
//!
//! After every run, with the faults gone, every device syncs cleanly and then: every edit a
//! device reported saved is in the server's documents (its field history), each device's last
//! value of its field is what everyone holds, all devices, an auditor and a freshly enrolled
//! device export identical households, every server document loads and its changes are exactly
//! the change log's (nothing twice, nothing missing, numbered without gaps).
//!
//! `FAULT_RUNS` runs (100 by default; the soak is `FAULT_RUNS=1000`), drawn from `FAULT_SEED`
//! (the clock's by default; printed). Runs share a world — a server, its database, the devices —
//! for `RUNS_PER_WORLD` runs; worlds alternate SQLite (on a small tmpfs, which the disk-full
//! runs fill) and PostgreSQL unless `FAULT_DB=sqlite|postgres`. A failing run prints how to
//! replay it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::task::JoinSet;
use zoufang_e2e::db::{ServerDb, Snapshot};
use zoufang_e2e::faults::{
    SmallFs, deliver, server_docs, server_log, sqlite_integrity, zoufang_killed_after,
};
use zoufang_e2e::proxy::{FaultConfig, FaultCounts, FaultProxy, FaultSwitch, SplitMix64};
use zoufang_e2e::{Device, ServerProcess, TestDb, add_users, exported_household, roster_csv};
use zoufang_shared::doc::{ActorId, HouseholdDoc};
use zoufang_shared::rng::Draw as _;
use zoufang_shared::wire::{self, PushOutcome, SyncResponse};

const TOWNSHIP: &str = "530921100";
const HOUSEHOLDS: usize = 6;
const SURVEYORS: [&str; 3] = ["zhang", "li", "zhao"];
const AUDITOR: &str = "audit";
const RUNS_PER_WORLD: usize = 20;
const DEFAULT_RUNS: usize = 100;
/// Tries of one sync through the faulty link before the run fails.
const MAX_ATTEMPTS: usize = 40;
/// The tmpfs under an SQLite world's database: room for a world's runs, quick to fill.
const SMALL_FS_MB: u32 = 24;
const STEP: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    CutUp,
    CutDown,
    Stall,
    Duplicate,
    Reorder,
    ServerKill,
    ClientKill,
    DiskFull,
    /// Devices save edits while their own syncs run through a stalling, cutting link, as the
    /// web UI's sync task runs beside its forms.
    EditDuringSync,
}

const KINDS: [Kind; 9] = [
    Kind::CutUp,
    Kind::CutDown,
    Kind::Stall,
    Kind::Duplicate,
    Kind::Reorder,
    Kind::ServerKill,
    Kind::ClientKill,
    Kind::DiskFull,
    Kind::EditDuringSync,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// What the runs did, by kind: faults that really happened, not ones merely planned.
#[derive(Debug, Default)]
struct Tally {
    runs: usize,
    runs_by_kind: BTreeMap<&'static str, usize>,
    cut_up: usize,
    cut_down: usize,
    stall: usize,
    duplicate: usize,
    reorder: usize,
    server_kill: usize,
    /// Kills while the server held a sync request it had not answered yet.
    server_kill_in_request: usize,
    client_kill: usize,
    /// Killed edits found whole afterwards, and found not there at all.
    client_kill_edit_kept: usize,
    client_kill_edit_absent: usize,
    /// Households of killed imports found whole afterwards (a partial one fails the run).
    client_kill_import_kept: usize,
    disk_full: usize,
    /// Syncs against the full disk: refused with the server's retryable error, or done.
    disk_full_refused: usize,
    disk_full_synced: usize,
    /// HTTP statuses of sync requests sent straight to the server on a full disk.
    disk_full_statuses: BTreeMap<u16, usize>,
    /// Edits saved while the same device's sync was running.
    edits_during_sync: usize,
    /// Sync attempts that failed on the link (and were retried).
    link_failures: usize,
    edits_checked: usize,
    edits_lost: usize,
}

impl Tally {
    fn link(&mut self, before: FaultCounts, after: FaultCounts) {
        self.cut_up += after.cut_up_done - before.cut_up_done;
        self.cut_down += after.cut_down_done - before.cut_down_done;
        self.stall += after.stall_done - before.stall_done;
        self.duplicate += after.duplicate_done - before.duplicate_done;
        self.reorder += after.hold_done - before.hold_done;
    }

    fn summary(&self) -> String {
        format!(
            "faults: runs={} cut_up={} cut_down={} stall={} duplicate={} reorder={} \
             server_kill={} (in a request: {}) client_kill={} (edit kept whole: {}, absent: {}; \
             imported households kept whole: {}) \
             disk_full={} (syncs refused: {}, done: {}; HTTP statuses {:?}) \
             edits_during_sync={} link_failures={} edits_checked={} \
             edits_lost={}",
            self.runs,
            self.cut_up,
            self.cut_down,
            self.stall,
            self.duplicate,
            self.reorder,
            self.server_kill,
            self.server_kill_in_request,
            self.client_kill,
            self.client_kill_edit_kept,
            self.client_kill_edit_absent,
            self.client_kill_import_kept,
            self.disk_full,
            self.disk_full_refused,
            self.disk_full_synced,
            self.disk_full_statuses,
            self.edits_during_sync,
            self.link_failures,
            self.edits_checked,
            self.edits_lost,
        )
    }
}

fn household_no(h: usize) -> String {
    format!("53092110020100{h}")
}

fn household_id(h: usize) -> String {
    format!("hh-{}", household_no(h))
}

/// Each device writes a field of its own, so the last value of every (household, field) is
/// known: the last one its device saved.
fn field_of(d: usize) -> &'static str {
    ["info.phone", "living.house_area_m2", "incomes.2026.wage"][d]
}

/// The `k`-th value written in a world, on device `d`'s field: never the same twice.
fn value_of(d: usize, k: u64) -> Value {
    match d {
        0 => json!(format!("139{k:08}")),
        1 => json!(20 + k),
        _ => json!(1000 + k),
    }
}

fn field<'a>(household: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(household, |v, k| &v[k])
}

/// Whether two JSON values are the same value (numbers compared as numbers: 42 is 42.0).
fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// An edit a device reported saved.
#[derive(Debug, Clone)]
struct Edit {
    device: usize,
    household: usize,
    value: Value,
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    let parsed = match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => v.parse(),
    };
    Some(parsed.unwrap_or_else(|_| panic!("{name}={v} is not a number")))
}

/// Prints how to replay a run when it fails.
struct ReplayNote(String);

impl Drop for ReplayNote {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.0);
        }
    }
}

/// A server, its database and the devices that sync with it, for several runs.
struct World {
    backend: Backend,
    fs: Option<SmallFs>,
    /// Where the database lies when no tmpfs could be mounted.
    dir: Option<tempfile::TempDir>,
    pg: Option<TestDb>,
    /// SQLite path or PostgreSQL URL.
    db: String,
    server: Option<ServerProcess>,
    switch: FaultSwitch,
    /// One per surveyor's device, then the auditor's (whose link never fails).
    proxies: Vec<FaultProxy>,
    devices: Vec<Arc<Device>>,
    auditor: Device,
    /// The last value each device saved on each household's field.
    last: HashMap<(usize, usize), Value>,
    /// Values written so far (the source of unique values).
    written: u64,
    /// Changes the server must hold on the first roster's households: the import's, then one
    /// per saved edit.
    expected_changes: usize,
    /// Households imported later (by imports that were killed, then done again), with their
    /// member counts.
    imported: BTreeMap<String, usize>,
}

impl World {
    async fn new(backend: Backend, seed: u64) -> World {
        let (fs, dir, pg, db) = match backend {
            Backend::Sqlite => {
                let fs = small_fs();
                // Without a mount (never in CI): a temporary directory, and no disk-full runs.
                let dir = fs.is_none().then(|| tempfile::tempdir().expect("dir"));
                let path = match (&fs, &dir) {
                    (Some(fs), _) => fs.path(),
                    (None, Some(dir)) => dir.path(),
                    (None, None) => unreachable!(),
                };
                let db = path.join("server.db").display().to_string();
                (fs, dir, None, db)
            }
            Backend::Postgres => {
                let pg = TestDb::postgres();
                let db = pg.url.clone();
                (None, None, Some(pg), db)
            }
        };
        let server = ServerProcess::start(&db).await;
        let mut users: Vec<(&str, &str, &str)> = SURVEYORS
            .iter()
            .map(|u| (*u, "surveyor", TOWNSHIP))
            .collect();
        users.push((AUDITOR, "team_leader", TOWNSHIP));
        add_users(&db, &users).await;
        let switch = FaultSwitch::default();
        let mut proxies = Vec::new();
        for i in 0..=SURVEYORS.len() {
            // The auditor's proxy has a switch of its own, never on.
            let s = if i < SURVEYORS.len() {
                switch.clone()
            } else {
                FaultSwitch::default()
            };
            let p = FaultProxy::start(&server.url, seed ^ i as u64, FaultConfig::default(), s);
            proxies.push(p.await);
        }
        let mut devices = Vec::new();
        for (i, u) in SURVEYORS.iter().enumerate() {
            devices.push(Arc::new(Device::enrolled_at(&proxies[i].url, u).await));
        }
        let auditor = Device::enrolled_at(&proxies[SURVEYORS.len()].url, AUDITOR).await;
        let rows: Vec<(String, &str, usize)> = (0..HOUSEHOLDS)
            .map(|h| (household_no(h), "三合村", 1 + h % 3))
            .collect();
        let rows: Vec<(&str, &str, usize)> =
            rows.iter().map(|(n, v, m)| (n.as_str(), *v, *m)).collect();
        devices[0].import_roster(&roster_csv(&rows, 0)).await;
        assert_eq!(devices[0].sync().await["accepted"], HOUSEHOLDS);
        for d in &devices[1..] {
            d.sync().await;
        }
        auditor.sync().await;
        let sdb = ServerDb::connect(&db).await;
        let expected_changes = server_log(&sdb).await.len();
        sdb.close().await;
        World {
            backend,
            fs,
            dir,
            pg,
            db,
            server: Some(server),
            switch,
            proxies,
            devices,
            auditor,
            last: HashMap::new(),
            written: 0,
            expected_changes,
            imported: BTreeMap::new(),
        }
    }

    fn server_url(&self) -> String {
        self.server.as_ref().expect("a server").url.clone()
    }

    fn next_value(&mut self, d: usize) -> Value {
        self.written += 1;
        value_of(d, self.written)
    }

    fn saved(&mut self, edits: &mut Vec<Edit>, e: Edit) {
        self.last.insert((e.device, e.household), e.value.clone());
        self.expected_changes += 1;
        edits.push(e);
    }

    /// Device `d` saves a new value on household `h`; the CLI must report it saved.
    async fn edit(&mut self, d: usize, h: usize, edits: &mut Vec<Edit>) {
        let value = self.next_value(d);
        self.devices[d]
            .ok(&["edit", &household_id(h), field_of(d), &value.to_string()])
            .await;
        self.saved(
            edits,
            Edit {
                device: d,
                household: h,
                value,
            },
        );
    }

    /// Every device saves `1..=most` edits on random households.
    async fn edit_all(&mut self, rng: &mut SplitMix64, most: u64, edits: &mut Vec<Edit>) {
        for d in 0..self.devices.len() {
            for _ in 0..=rng.below(most) {
                let h = rng.below(HOUSEHOLDS as u64) as usize;
                self.edit(d, h, edits).await;
            }
        }
    }

    fn counts(&self) -> FaultCounts {
        self.proxies
            .iter()
            .map(FaultProxy::counts)
            .fold(FaultCounts::default(), |a, b| a + b)
    }

    /// Gives each surveyor's proxy `config` and a seed from `rng`.
    fn configure(&self, rng: &mut SplitMix64, config: &FaultConfig) {
        for p in &self.proxies[..SURVEYORS.len()] {
            p.configure(rng.next_u64(), config.clone());
        }
    }

    /// Every surveyor's device syncs through the link, side by side, retrying until done.
    async fn sync_all_through_faults(&self, tally: &mut Tally) {
        let mut set = JoinSet::new();
        for (i, d) in self.devices.iter().enumerate() {
            let d = d.clone();
            set.spawn(async move { sync_through_faults(i, &d).await });
        }
        while let Some(done) = set.join_next().await {
            tally.link_failures += done.expect("device task");
        }
    }

    async fn snapshot(&self) -> Snapshot {
        let sdb = ServerDb::connect(&self.db).await;
        let s = sdb.snapshot().await;
        sdb.close().await;
        s
    }

    /// Kills the server (SIGKILL) and starts it again on the same database.
    async fn restart_server(&mut self) {
        if let Some(s) = self.server.take() {
            s.kill().await;
        }
        let server = ServerProcess::spawn(&self.db).await;
        for p in &self.proxies {
            p.retarget(&server.url);
        }
        self.server = Some(server);
    }

    async fn close(mut self) {
        if let Some(s) = self.server.take() {
            s.kill().await;
        }
        drop(self.proxies);
        drop(self.fs);
        drop(self.dir);
        drop(self.pg);
    }
}

fn small_fs() -> Option<SmallFs> {
    match SmallFs::mount(SMALL_FS_MB) {
        Ok(fs) => Some(fs),
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("the disk-full runs need a tmpfs mount (run as root): {e}")
        }
        Err(e) => {
            eprintln!("WARNING: no tmpfs ({e}): disk-full runs are left out here, never in CI");
            None
        }
    }
}

/// Syncs until a sync completes; every failure must be the link's, not a refusal. Returns the
/// failed attempts.
async fn sync_through_faults(i: usize, d: &Device) -> usize {
    let mut last = String::new();
    for attempt in 0..MAX_ATTEMPTS {
        let outcome = tokio::time::timeout(STEP, d.try_sync())
            .await
            .unwrap_or_else(|_| panic!("device {i}: a sync hung"));
        match outcome {
            Ok(report) if report["incomplete"] == false => {
                assert_eq!(report["rejected"], json!([]), "device {i}: {report}");
                return attempt;
            }
            Ok(report) => last = format!("incomplete: {report}"),
            Err(e) => {
                assert!(
                    e.contains("无法连接服务器"),
                    "device {i}: a sync failed other than by the link: {e}"
                );
                last = e;
            }
        }
    }
    panic!("device {i}: no sync succeeded in {MAX_ATTEMPTS} tries; last: {last}");
}

/// A clean sync that must complete with nothing refused.
async fn clean_sync(i: usize, d: &Device) -> Value {
    let report = tokio::time::timeout(STEP, d.sync())
        .await
        .unwrap_or_else(|_| panic!("device {i}: a clean sync hung"));
    assert_eq!(report["rejected"], json!([]), "device {i}: {report}");
    assert_eq!(report["incomplete"], false, "device {i}: {report}");
    report
}

/// A link of one fault kind: seven connections in ten meet it. Cuts and stalls fall within the
/// bytes a connection of these runs carries (about 450 up and 600 down: headers, then a body
/// of a few changes), so that nearly every planned one happens.
fn link_of(kind: Kind) -> FaultConfig {
    let mut c = FaultConfig {
        pass: 30,
        cut_up: 0,
        cut_down: 0,
        stall: 0,
        duplicate: 0,
        hold: 0,
        max_up_cut: 450,
        max_down_cut: 600,
        max_stall: Duration::from_millis(300),
    };
    match kind {
        Kind::CutUp => c.cut_up = 70,
        Kind::CutDown => c.cut_down = 70,
        Kind::Stall => c.stall = 70,
        Kind::Duplicate => (c.pass, c.duplicate) = (0, 100),
        Kind::Reorder => (c.pass, c.hold) = (0, 100),
        _ => unreachable!("not a link fault: {kind:?}"),
    }
    c
}

async fn link_faults(world: &mut World, rng: &mut SplitMix64, kind: Kind, tally: &mut Tally) {
    world.configure(rng, &link_of(kind));
    let before = world.counts();
    world.switch.on();
    world.sync_all_through_faults(tally).await;
    world.switch.off();
    tally.link(before, world.counts());
}

/// A replayed or late request must be answered 200, refuse nothing, and change nothing.
fn assert_harmless(reply: &zoufang_e2e::api::Reply, what: &str) {
    assert_eq!(reply.status, StatusCode::OK, "{what}: {}", reply.text());
    let res: SyncResponse = wire::decode(&reply.body).expect("decode the sync answer");
    for r in &res.results {
        assert!(
            matches!(r.outcome, PushOutcome::Accepted { .. }),
            "{what}: {} got {:?}",
            r.household,
            r.outcome
        );
    }
}

/// The server's state that a sync could write.
fn written_state(s: &Snapshot) -> (&Vec<String>, &Vec<String>, i64) {
    (&s.households, &s.changes, s.seq)
}

async fn duplicates(
    world: &mut World,
    rng: &mut SplitMix64,
    edits: &mut Vec<Edit>,
    tally: &mut Tally,
) {
    if rng.below(2) == 0 {
        // The proxy delivers each connection's first sync request twice, the copy while the
        // server handles the original.
        link_faults(world, rng, Kind::Duplicate, tally).await;
        for p in &world.proxies {
            for status in p.take_copy_answers() {
                assert_eq!(status, 200, "a duplicated sync request's second copy");
            }
        }
        return;
    }
    // A request delivered again after it completed, twice at once.
    let d = rng.below(SURVEYORS.len() as u64) as usize;
    let h = rng.below(HOUSEHOLDS as u64) as usize;
    world.edit(d, h, edits).await;
    world.proxies[d].take_forwarded();
    clean_sync(d, &world.devices[d]).await;
    let request = world.proxies[d]
        .take_forwarded()
        .pop()
        .expect("the sync request went through the proxy");
    let before = world.snapshot().await;
    let url = world.server_url();
    let (a, b) = tokio::join!(deliver(&url, &request), deliver(&url, &request));
    assert_harmless(&a, "a sync request delivered again");
    assert_harmless(&b, "a sync request delivered again");
    tally.duplicate += 2;
    let after = world.snapshot().await;
    assert_eq!(
        written_state(&after),
        written_state(&before),
        "a sync request delivered again changed the server"
    );
}

async fn reorder(
    world: &mut World,
    rng: &mut SplitMix64,
    edits: &mut Vec<Edit>,
    tally: &mut Tally,
) {
    let d = rng.below(SURVEYORS.len() as u64) as usize;
    let h = rng.below(HOUSEHOLDS as u64) as usize;
    let old = if rng.below(2) == 0 {
        // The proxy holds the device's request back; the device saves more and syncs again.
        world.proxies[d].configure(rng.next_u64(), link_of(Kind::Reorder));
        let before = world.counts();
        world.switch.on();
        let failed = world.devices[d].try_sync().await;
        world.switch.off();
        tally.link(before, world.counts());
        let e = failed.expect_err("a held request fails the sync");
        assert!(e.contains("无法连接服务器"), "{e}");
        // The device sends a request that got no answer once more (`send_once`): the proxy
        // holds both copies, the same request.
        let held = world.proxies[d].take_held();
        assert_eq!(
            held.len(),
            2,
            "the proxy held the sync request and its retry"
        );
        assert!(held[0] == held[1], "the retry is the same request");
        held.into_iter().next().expect("held")
    } else {
        // An earlier request that did arrive, delivered again after newer ones.
        world.proxies[d].take_forwarded();
        clean_sync(d, &world.devices[d]).await;
        tally.reorder += 1;
        world.proxies[d].take_forwarded().pop().expect("forwarded")
    };
    world.edit(d, h, edits).await;
    clean_sync(d, &world.devices[d]).await;
    let before = world.snapshot().await;
    let reply = deliver(&world.server_url(), &old).await;
    assert_harmless(&reply, "an older sync request delivered after a newer one");
    let after = world.snapshot().await;
    assert_eq!(
        written_state(&after),
        written_state(&before),
        "an older sync request delivered late changed the server"
    );
}

async fn server_kill(
    world: &mut World,
    rng: &mut SplitMix64,
    edits: &mut Vec<Edit>,
    tally: &mut Tally,
) {
    // More to push, so that writes take a while.
    world.edit_all(rng, 3, edits).await;
    let wait_for_request = rng.below(2) == 0;
    let delay = Duration::from_millis(rng.below(if wait_for_request { 30 } else { 400 }));
    let mut set = JoinSet::new();
    for d in world.devices.iter() {
        let d = d.clone();
        set.spawn(async move { tokio::time::timeout(STEP, d.try_sync()).await });
    }
    if wait_for_request {
        // Until the server holds a request, then a little more: the kill lands in its
        // handling (reading, merging, the write transaction, the answer).
        let t = Instant::now();
        while world
            .proxies
            .iter()
            .map(FaultProxy::in_server)
            .sum::<usize>()
            == 0
            && t.elapsed() < Duration::from_secs(10)
        {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    tokio::time::sleep(delay).await;
    let in_request = world
        .proxies
        .iter()
        .map(FaultProxy::in_server)
        .sum::<usize>()
        > 0;
    world.restart_server().await;
    tally.server_kill += 1;
    tally.server_kill_in_request += usize::from(in_request);
    while let Some(done) = set.join_next().await {
        match done.expect("sync task").expect("a sync hung") {
            Ok(report) => assert_eq!(report["rejected"], json!([]), "{report}"),
            Err(e) => assert!(e.contains("无法连接服务器"), "{e}"),
        }
    }
    if world.backend == Backend::Sqlite {
        let check = sqlite_integrity(std::path::Path::new(&world.db)).await;
        assert_eq!(check, "ok", "the server's database after SIGKILL");
    }
}

/// Every device syncs through a stalling, cutting link while it saves edits on households its
/// teammates edit too: a pull applied between an edit's read and its write must not be lost,
/// and the edit must not be lost to the pull (the store reads and writes a document in one
/// transaction).
async fn edit_during_sync(
    world: &mut World,
    rng: &mut SplitMix64,
    edits: &mut Vec<Edit>,
    tally: &mut Tally,
) {
    let mut link = link_of(Kind::Stall);
    link.cut_down = 20;
    world.configure(rng, &link);
    let before = world.counts();
    // What each device will save, drawn before anything runs (values stay unique).
    let mut planned: Vec<Vec<(usize, Value, Duration)>> = Vec::new();
    for d in 0..world.devices.len() {
        let n = 1 + rng.below(3) as usize;
        planned.push(
            (0..n)
                .map(|_| {
                    let h = rng.below(HOUSEHOLDS as u64) as usize;
                    (
                        h,
                        world.next_value(d),
                        Duration::from_millis(rng.below(300)),
                    )
                })
                .collect(),
        );
    }
    world.switch.on();
    let mut set = JoinSet::new();
    for (d, plan) in planned.into_iter().enumerate() {
        let device = world.devices[d].clone();
        set.spawn(async move {
            let mut saved = Vec::new();
            for (h, value, delay) in plan {
                tokio::time::sleep(delay).await;
                device
                    .ok(&["edit", &household_id(h), field_of(d), &value.to_string()])
                    .await;
                saved.push(Edit {
                    device: d,
                    household: h,
                    value,
                });
            }
            (saved, 0)
        });
        let device = world.devices[d].clone();
        set.spawn(async move { (Vec::new(), sync_through_faults(d, &device).await) });
    }
    let mut saved = Vec::new();
    while let Some(done) = set.join_next().await {
        let (s, failures) = done.expect("device task");
        saved.extend(s);
        tally.link_failures += failures;
    }
    world.switch.off();
    tally.link(before, world.counts());
    // Each device's edits were saved in order, so the last of each (device, household) wins.
    for e in saved {
        tally.edits_during_sync += 1;
        world.saved(edits, e);
    }
}

async fn client_kill(
    world: &mut World,
    rng: &mut SplitMix64,
    edits: &mut Vec<Edit>,
    tally: &mut Tally,
) {
    let d = rng.below(SURVEYORS.len() as u64) as usize;
    let device = world.devices[d].clone();
    let op = rng.below(4);
    let killed = if op == 3 {
        import_killed(world, d, rng, tally).await
    } else if op < 2 {
        let h = rng.below(HOUSEHOLDS as u64) as usize;
        let path = field_of(d);
        let before = field(
            exported_household(&device.export().await, &household_id(h)),
            path,
        )
        .clone();
        let value = world.next_value(d);
        let delay = Duration::from_millis(rng.below(80));
        let k = zoufang_killed_after(
            device.data.path(),
            &["edit", &household_id(h), path, &value.to_string()],
            delay,
        )
        .await;
        assert_eq!(device.store_integrity().await, "ok", "store after SIGKILL");
        let now = field(
            exported_household(&device.export().await, &household_id(h)),
            path,
        )
        .clone();
        if !k.killed {
            assert!(k.status.success(), "edit: {:?}", k.status);
        }
        if same(&now, &value) {
            tally.client_kill_edit_kept += usize::from(k.killed);
            world.saved(
                edits,
                Edit {
                    device: d,
                    household: h,
                    value,
                },
            );
        } else {
            assert!(k.killed, "an edit that ended well is not there: {now}");
            assert!(
                same(&now, &before),
                "a killed edit left {now}, neither the old value {before} nor the new {value}"
            );
            tally.client_kill_edit_absent += 1;
        }
        k.killed
    } else {
        let delay = Duration::from_millis(rng.below(400));
        let k = zoufang_killed_after(device.data.path(), &["--json", "sync"], delay).await;
        assert_eq!(device.store_integrity().await, "ok", "store after SIGKILL");
        if !k.killed {
            assert!(k.status.success(), "sync: {:?} {}", k.status, k.stdout);
        }
        k.killed
    };
    tally.client_kill += usize::from(killed);
}

/// A roster import SIGKILLed part way: the households it wrote are whole; importing the file
/// again (as a user would) brings the rest.
async fn import_killed(
    world: &mut World,
    d: usize,
    rng: &mut SplitMix64,
    tally: &mut Tally,
) -> bool {
    let device = world.devices[d].clone();
    let first = world.imported.len();
    let rows: Vec<(String, &str, usize)> = (first..first + 3)
        .map(|j| (format!("5309211002011{j:02}"), "三合村", 1 + j % 3))
        .collect();
    let rows: Vec<(&str, &str, usize)> =
        rows.iter().map(|(n, v, m)| (n.as_str(), *v, *m)).collect();
    let csv = roster_csv(&rows, 1000 + 10 * first as u32);
    let file = device.data.path().join(format!("roster-{first}.csv"));
    std::fs::write(&file, &csv).expect("write the roster");
    let delay = Duration::from_millis(rng.below(150));
    let k = zoufang_killed_after(
        device.data.path(),
        &["--json", "import", &file.display().to_string()],
        delay,
    )
    .await;
    assert_eq!(device.store_integrity().await, "ok", "store after SIGKILL");
    if !k.killed {
        assert!(k.status.success(), "import: {:?} {}", k.status, k.stdout);
    }
    let export = device.export().await;
    for (no, _, members) in &rows {
        let id = format!("hh-{no}");
        let Some(x) = export
            .as_array()
            .and_then(|a| a.iter().find(|x| x["id"] == id))
        else {
            assert!(k.killed, "an import that ended well lacks {id}");
            continue;
        };
        let held = x["members"].as_object().map_or(0, |m| m.len());
        assert_eq!(held, *members, "{id} after a killed import: not whole");
        tally.client_kill_import_kept += usize::from(k.killed);
    }
    device.import_roster(&csv).await;
    for (no, _, members) in &rows {
        world.imported.insert(format!("hh-{no}"), *members);
    }
    k.killed
}

async fn disk_full(
    world: &mut World,
    rng: &mut SplitMix64,
    edits: &mut Vec<Edit>,
    tally: &mut Tally,
) {
    world.edit_all(rng, 3, edits).await;
    let fs = world.fs.as_ref().expect("a tmpfs under the database");
    fs.fill();
    tally.disk_full += 1;
    for (i, d) in world.devices.iter().enumerate() {
        match tokio::time::timeout(STEP, d.try_sync())
            .await
            .expect("a sync hung")
        {
            Ok(report) => {
                assert_eq!(report["rejected"], json!([]), "device {i}: {report}");
                tally.disk_full_synced += 1;
            }
            Err(e) => {
                assert!(
                    e.contains("存储空间已满") && e.contains("请稍后重试"),
                    "device {i}: a sync on a full disk should get the server's retryable error: {e}"
                );
                tally.disk_full_refused += 1;
            }
        }
    }
    // The same, straight over HTTP: a 5xx with the retryable error, or done.
    let request = world.proxies[0]
        .take_forwarded()
        .pop()
        .expect("a sync request went through the proxy");
    let reply = deliver(&world.server_url(), &request).await;
    *tally
        .disk_full_statuses
        .entry(reply.status.as_u16())
        .or_default() += 1;
    if reply.status != StatusCode::OK {
        let body = reply.expect_error(StatusCode::SERVICE_UNAVAILABLE, "a sync on a full disk");
        assert_eq!(body.code, "storage_full", "{}", body.error);
        assert!(body.error.contains("请稍后重试"), "{}", body.error);
    }
    // Still serving, and the database whole.
    let health = reqwest::get(format!("{}/healthz", world.server_url()))
        .await
        .expect("the server answers on a full disk");
    assert!(health.status().is_success() || health.status().is_server_error());
    fs.free();
    let check = sqlite_integrity(std::path::Path::new(&world.db)).await;
    assert_eq!(check, "ok", "the server's database after a full disk");
}

/// The invariant, after the faults: a clean sync everywhere, then everything everywhere.
async fn check(world: &mut World, edits: &[Edit], tally: &mut Tally) {
    world.switch.off();
    // Side by side: after the first pass the server has every device's edits, after the
    // second every device has everyone's.
    let fresh = tokio::spawn({
        let url = world.server_url();
        async move { Device::enrolled_at(&url, AUDITOR).await }
    });
    for _ in 0..2 {
        let mut set = JoinSet::new();
        for (i, d) in world.devices.iter().enumerate() {
            let d = d.clone();
            set.spawn(async move { clean_sync(i, &d).await });
        }
        while let Some(done) = set.join_next().await {
            done.expect("sync task");
        }
    }
    let fresh = fresh.await.expect("enroll a fresh device");
    tokio::join!(
        clean_sync(SURVEYORS.len(), &world.auditor),
        clean_sync(SURVEYORS.len() + 1, &fresh)
    );
    let truth = world.auditor.export().await;
    let mut set = JoinSet::new();
    for (i, d) in world.devices.iter().enumerate() {
        let d = d.clone();
        set.spawn(async move { (i, d.export().await) });
    }
    while let Some(done) = set.join_next().await {
        let (i, export) = done.expect("export task");
        assert!(export == truth, "device {i} differs from the auditor");
    }
    assert!(
        fresh.export().await == truth,
        "a fresh device's download differs from the auditor"
    );
    for ((d, h), value) in &world.last {
        let x = exported_household(&truth, &household_id(*h));
        assert!(
            same(field(x, field_of(*d)), value),
            "household {h}: device {d}'s last {} is {value}, everyone holds {}",
            field_of(*d),
            field(x, field_of(*d))
        );
    }

    // The server's own copy: every document loads; its changes are the log's, once each.
    let sdb = ServerDb::connect(&world.db).await;
    let docs = server_docs(&sdb).await;
    let log = server_log(&sdb).await;
    let max_seq = sdb.scalar("SELECT max(seq) FROM changes").await;
    sdb.close().await;
    assert_eq!(
        docs.len(),
        HOUSEHOLDS + world.imported.len(),
        "households on the server"
    );
    assert_eq!(
        log.iter()
            .filter(|(h, _)| !world.imported.contains_key(h))
            .count(),
        world.expected_changes,
        "changes logged: one per saved edit (and the import's)"
    );
    for (id, members) in &world.imported {
        let x = exported_household(&truth, id);
        let held = x["members"].as_object().map_or(0, |m| m.len());
        assert_eq!(held, *members, "{id}'s members");
    }
    assert_eq!(
        max_seq as usize,
        log.len(),
        "the log is numbered without gaps"
    );
    let logged: HashSet<(String, String)> = log.iter().cloned().collect();
    assert_eq!(logged.len(), log.len(), "a change logged twice");
    let mut held = HashSet::new();
    let mut written: HashMap<String, Vec<(String, Value)>> = HashMap::new();
    for (id, bytes) in &docs {
        let mut doc = HouseholdDoc::load(bytes, ActorId::random())
            .unwrap_or_else(|e| panic!("the server's document {id} does not load: {e}"));
        held.extend(doc.history().into_iter().map(|c| (id.clone(), c.hash)));
        let history = doc
            .field_history()
            .unwrap_or_else(|e| panic!("{id}'s history: {e}"));
        written.insert(
            id.clone(),
            history
                .into_iter()
                .map(|f| (f.path.join("."), f.after))
                .collect(),
        );
    }
    assert!(
        held == logged,
        "the server's documents and change log differ"
    );
    for e in edits {
        let id = household_id(e.household);
        let there = written.get(&id).is_some_and(|w| {
            w.iter()
                .any(|(p, v)| p == field_of(e.device) && same(v, &e.value))
        });
        tally.edits_checked += 1;
        if !there {
            tally.edits_lost += 1;
            eprintln!("LOST: {e:?}");
        }
    }
    assert_eq!(tally.edits_lost, 0, "edits lost");
}

async fn run(world: &mut World, seed: u64, kind: Kind, tally: &mut Tally) {
    let mut rng = SplitMix64::new(seed);
    let mut edits = Vec::new();
    world.edit_all(&mut rng, 2, &mut edits).await;
    match kind {
        Kind::CutUp | Kind::CutDown | Kind::Stall => {
            link_faults(world, &mut rng, kind, tally).await;
        }
        Kind::Duplicate => duplicates(world, &mut rng, &mut edits, tally).await,
        Kind::Reorder => reorder(world, &mut rng, &mut edits, tally).await,
        Kind::ServerKill => server_kill(world, &mut rng, &mut edits, tally).await,
        Kind::ClientKill => client_kill(world, &mut rng, &mut edits, tally).await,
        Kind::DiskFull => disk_full(world, &mut rng, &mut edits, tally).await,
        Kind::EditDuringSync => edit_during_sync(world, &mut rng, &mut edits, tally).await,
    }
    check(world, &edits, tally).await;
}

/// The kind of run `seed` draws: any, but a full disk only where the database is on a tmpfs.
fn kind_of(seed: u64, world: &World) -> Kind {
    let mut rng = SplitMix64::new(seed ^ 0x6b69_6e64);
    loop {
        let kind = KINDS[rng.below(KINDS.len() as u64) as usize];
        if kind != Kind::DiskFull || world.fs.is_some() {
            return kind;
        }
    }
}

fn backend_of(world: usize) -> Backend {
    match std::env::var("FAULT_DB").as_deref() {
        Ok("sqlite") => Backend::Sqlite,
        Ok("postgres") => Backend::Postgres,
        Ok(other) => panic!("FAULT_DB={other}: sqlite or postgres"),
        Err(_) if world.is_multiple_of(2) => Backend::Sqlite,
        Err(_) => Backend::Postgres,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_lose_no_edit() {
    let runs = env_u64("FAULT_RUNS").map_or(DEFAULT_RUNS, |n| n as usize);
    let base = env_u64("FAULT_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
    });
    eprintln!("fault suite: FAULT_SEED={base:#x} FAULT_RUNS={runs}");
    let started = Instant::now();
    let mut tally = Tally::default();
    let mut world: Option<World> = None;
    for r in 0..runs {
        if r.is_multiple_of(RUNS_PER_WORLD) {
            if let Some(w) = world.take() {
                w.close().await;
            }
            let backend = backend_of(r / RUNS_PER_WORLD);
            world = Some(World::new(backend, base.wrapping_add(r as u64)).await);
        }
        let w = world.as_mut().expect("a world");
        let seed = base.wrapping_add(r as u64);
        let kind = kind_of(seed, w);
        let _note = ReplayNote(format!(
            "run {r} failed ({kind:?} on {:?}, run seed {seed:#x}). Replay the sequence: \
             FAULT_SEED={base:#x} FAULT_RUNS={} FAULT_DB={}; this run alone in a fresh world: \
             FAULT_SEED={seed:#x} FAULT_RUNS=1 FAULT_DB={}",
            w.backend,
            r + 1,
            db_name(w.backend),
            db_name(w.backend),
        ));
        let t = Instant::now();
        run(w, seed, kind, &mut tally).await;
        tally.runs += 1;
        *tally.runs_by_kind.entry(kind_name(kind)).or_default() += 1;
        eprintln!(
            "run {r}: {kind:?} on {:?} in {:.1?} (total {:.1?})",
            w.backend,
            t.elapsed(),
            started.elapsed()
        );
    }
    if let Some(w) = world.take() {
        w.close().await;
    }
    eprintln!("runs by kind: {:?}", tally.runs_by_kind);
    eprintln!("{}", tally.summary());
    println!("{}", tally.summary());
    assert_eq!(tally.edits_lost, 0);
    if runs >= DEFAULT_RUNS {
        // A suite that stopped injecting some fault would pass for nothing.
        for (what, n) in [
            ("cut_up", tally.cut_up),
            ("cut_down", tally.cut_down),
            ("stall", tally.stall),
            ("duplicate", tally.duplicate),
            ("reorder", tally.reorder),
            ("server_kill", tally.server_kill),
            ("server kill in a request", tally.server_kill_in_request),
            ("client_kill", tally.client_kill),
            ("disk_full", tally.disk_full),
            ("edit during sync", tally.edits_during_sync),
        ] {
            assert!(n > 0, "no {what} in {runs} runs: {}", tally.summary());
        }
    }
}

fn db_name(b: Backend) -> &'static str {
    match b {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::CutUp => "cut_up",
        Kind::CutDown => "cut_down",
        Kind::Stall => "stall",
        Kind::Duplicate => "duplicate",
        Kind::Reorder => "reorder",
        Kind::ServerKill => "server_kill",
        Kind::ClientKill => "client_kill",
        Kind::DiskFull => "disk_full",
        Kind::EditDuringSync => "edit_during_sync",
    }
}
