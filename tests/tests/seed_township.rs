//! Seed 001's township, end to end: 诗礼乡 with 14 villages and 3,082 registered households
//! (11,645 persons) from national per-person files, one device per village team, and the two
//! lists the township reported from two exercises of 2017 as two 工作批次:
//! - the dynamic-management round: 拟退出 7户32人, 返贫 11户47人, 新增 86户297人;
//! - the 精准核查 special action: 漏评 178户548人, 返贫 1户2人, 错评 74户324人 (错评率 5.23 %),
//!   错退 1户4人 (错退率 0.06 %).
//!
//! The roster is imported on the devices, exits are surveyed there, every case is proposed and
//! taken through 入户核查, 民主评议 and 公示 on the village's device, and decided by the township
//! (乡镇审核) and the county (县级审定, 公告) through the review API. After each stage the report
//! of each round must show every line in households AND persons exactly; after 公告 the rates
//! keep the register at the round's start (74 ÷ 1,415, 1 ÷ 1,667) while the status lines move.
//! Both databases. Every expected figure is computed from the plan below, whose totals are the
//! seed's; the plan's own totals are checked against the seed's figures first.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::NaiveDate;
use reqwest::StatusCode;
use serde_json::{Value, json};
use zoufang_e2e::areas::{COUNTY, SHILI};
use zoufang_e2e::review::{Proposal, Reviewer, decide, pass_steps_through, propose};
use zoufang_e2e::survey::{exit_ready_form, insure, save_form};
use zoufang_e2e::{
    ClientProcess, RosterRow, ServerProcess, TestDb, add_users, enroll_all, national_roster_csv,
    zoufang_server,
};
use zoufang_shared::CodeList;
use zoufang_shared::codes::HouseholdStatus;

/// The villages of 诗礼乡: the three of the test tree, then eleven more.
const VILLAGES: [(&str, &str); 14] = [
    ("201", "三合村"),
    ("202", "孔兴村"),
    ("203", "河平村"),
    ("204", "诗礼村"),
    ("205", "牌坊村"),
    ("206", "乐平村"),
    ("207", "古墨村"),
    ("208", "马街村"),
    ("209", "大平村"),
    ("210", "新华村"),
    ("211", "永和村"),
    ("212", "东山村"),
    ("213", "石门村"),
    ("214", "龙泉村"),
];

const DYNAMIC: &str = "2017-dynamic";
const VERIFICATION: &str = "2017-verification";

/// Status labels as the national file writes them.
const POOR: &str = "未脱贫";
const EXITED: &str = "已脱贫(享受政策)";
const ORDINARY: &str = "一般农户";

/// One list of a round: `households` households of `persons` persons, registered as `status`
/// before the round, each with a case of `kind`.
struct List {
    round: &'static str,
    kind: &'static str,
    origin: Option<&'static str>,
    status: &'static str,
    households: usize,
    persons: usize,
}

const LISTS: [List; 7] = [
    list(DYNAMIC, "exit", None, POOR, 7, 32),
    list(DYNAMIC, "relapse", None, EXITED, 11, 47),
    list(DYNAMIC, "new_entry", Some("application"), ORDINARY, 86, 297),
    list(
        VERIFICATION,
        "new_entry",
        Some("screening"),
        ORDINARY,
        178,
        548,
    ),
    list(VERIFICATION, "relapse", None, EXITED, 1, 2),
    list(VERIFICATION, "wrong_entry_removal", None, POOR, 74, 324),
    list(VERIFICATION, "wrongful_exit", None, EXITED, 1, 4),
];

const fn list(
    round: &'static str,
    kind: &'static str,
    origin: Option<&'static str>,
    status: &'static str,
    households: usize,
    persons: usize,
) -> List {
    List {
        round,
        kind,
        origin,
        status,
        households,
        persons,
    }
}

/// The register before the rounds, as the seed gives it.
const REGISTERED: usize = 3_082;
const REGISTERED_PERSONS: usize = 11_645;
const POOR_HOUSEHOLDS: usize = 1_415;
const EXITED_HOUSEHOLDS: usize = 1_667;

/// One planned household.
#[derive(Debug, Clone)]
struct Planned {
    no: String,
    village: usize,
    status: &'static str,
    exit_year: Option<i32>,
    persons: usize,
    /// Index into [`LISTS`].
    list: Option<usize>,
}

impl Planned {
    fn id(&self) -> String {
        format!("hh-{}", self.no)
    }
}

/// `n` persons over `k` households as evenly as possible.
fn sizes(k: usize, n: usize) -> impl Iterator<Item = usize> {
    (0..k).map(move |i| n / k + usize::from(i < n % k))
}

/// The township: every list's households, then the rest of the register, spread over the
/// villages in turn.
fn plan() -> Vec<Planned> {
    let mut rows: Vec<(&'static str, usize, Option<usize>)> = Vec::new();
    for (i, l) in LISTS.iter().enumerate() {
        rows.extend(sizes(l.households, l.persons).map(|p| (l.status, p, Some(i))));
    }
    let listed = |status: &str| -> (usize, usize) {
        LISTS
            .iter()
            .filter(|l| l.status == status)
            .fold((0, 0), |(h, p), l| (h + l.households, p + l.persons))
    };
    let (poor_listed, poor_listed_p) = listed(POOR);
    let (exited_listed, exited_listed_p) = listed(EXITED);
    let rest = REGISTERED - poor_listed - exited_listed;
    let rest_persons = REGISTERED_PERSONS - poor_listed_p - exited_listed_p;
    let rest_poor = POOR_HOUSEHOLDS - poor_listed;
    for (i, p) in sizes(rest, rest_persons).enumerate() {
        rows.push((if i < rest_poor { POOR } else { EXITED }, p, None));
    }
    let mut next = [0usize; VILLAGES.len()];
    rows.into_iter()
        .enumerate()
        .map(|(i, (status, persons, list))| {
            let village = i % VILLAGES.len();
            next[village] += 1;
            Planned {
                no: format!("{SHILI}{}{:03}", VILLAGES[village].0, next[village]),
                village,
                status,
                exit_year: (status == EXITED).then_some(2014 + (i % 3) as i32),
                persons,
                list,
            }
        })
        .collect()
}

/// Households and persons.
type Hp = (i64, i64);

fn hp_of(v: &Value) -> Hp {
    (
        v["households"].as_i64().expect("households"),
        v["persons"].as_i64().expect("persons"),
    )
}

fn sum<'a>(hh: impl Iterator<Item = &'a Planned>) -> Hp {
    hh.fold((0, 0), |(h, p), x| (h + 1, p + x.persons as i64))
}

/// The status a household has after its case is announced (see `shared::rules::outcome`).
fn status_after(h: &Planned) -> &'static str {
    match h.list.map(|i| LISTS[i].kind) {
        Some("exit") => EXITED,
        Some("relapse") => "返贫",
        Some("new_entry" | "wrongful_exit") => POOR,
        Some("wrong_entry_removal") => ORDINARY,
        _ => h.status,
    }
}

/// The days of a round's field work: proposal, the steps, and the 公示's first and last day.
fn field_days(round: &str) -> (NaiveDate, NaiveDate, (NaiveDate, NaiveDate)) {
    let d = |m, day| NaiveDate::from_ymd_opt(2017, m, day).expect("date");
    match round {
        DYNAMIC => (d(7, 6), d(7, 7), (d(7, 8), d(7, 14))),
        _ => (d(8, 2), d(8, 3), (d(8, 4), d(8, 10))),
    }
}

fn rounds() -> [Value; 2] {
    [
        json!({"id": DYNAMIC, "name": "2017年贫困对象动态管理", "kind": "dynamic",
               "starts_on": "2017-06-28", "ends_on": "2017-07-31", "areas": [SHILI]}),
        json!({"id": VERIFICATION, "name": "找问题补短板促攻坚·精准核查", "kind": "verification",
               "starts_on": "2017-08-01", "ends_on": "2017-09-30", "areas": [SHILI]}),
    ]
}

async fn add_villages(database: &str) {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("villages.csv");
    let mut csv = String::from("code,name,parent,level\n");
    for (code, name) in &VILLAGES[3..] {
        csv.push_str(&format!("{SHILI}{code},{name},{SHILI},village\n"));
    }
    std::fs::write(&file, csv).expect("villages");
    let (status, _, err) =
        zoufang_server(database, &["area", "import", &file.display().to_string()]).await;
    assert!(status.success(), "area import: {err}");
}

fn user(village: usize) -> String {
    format!("cun{:02}", village + 1)
}

/// Runs `work` over `items` in `lanes` concurrent lanes.
async fn in_lanes<T, F, Fut>(items: Vec<T>, lanes: usize, work: F)
where
    T: Send + 'static,
    F: Fn(T) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let queue = Arc::new(tokio::sync::Mutex::new(items));
    let work = Arc::new(work);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..lanes {
        let (queue, work) = (queue.clone(), work.clone());
        set.spawn(async move {
            loop {
                let Some(item) = queue.lock().await.pop() else {
                    return;
                };
                work(item).await;
            }
        });
    }
    while let Some(done) = set.join_next().await {
        done.expect("lane");
    }
}

/// The report of one round of the township.
async fn report(r: &Reviewer, round: &str) -> Value {
    let (status, body) = r
        .get(&format!("/api/review/report?area={SHILI}&round={round}"))
        .await;
    assert_eq!(status, StatusCode::OK, "report of {round}: {body}");
    assert_eq!(body["round"]["id"], round);
    body
}

/// Checks a round's report: each kind's line in total and in `bucket` only, 漏评, and the
/// status lines against `status_of` (each household's status now).
fn check(
    r: &Value,
    round: &str,
    bucket: &str,
    plan: &[Planned],
    status_of: &dyn Fn(&Planned) -> &'static str,
    stage: &str,
) {
    let total = &r["total"];
    let bucket_at = r["buckets"]
        .as_array()
        .and_then(|b| b.iter().position(|b| b["code"] == bucket))
        .expect("bucket");
    let mut want: BTreeMap<&str, Hp> = BTreeMap::new();
    for h in plan {
        if let Some(l) = h.list.map(|i| &LISTS[i]).filter(|l| l.round == round) {
            let e = want.entry(l.kind).or_default();
            *e = (e.0 + 1, e.1 + h.persons as i64);
        }
    }
    for line in total["by_case"].as_array().expect("by_case") {
        let kind = line["kind"].as_str().expect("kind");
        let w = want.get(kind).copied().unwrap_or_default();
        assert_eq!(hp_of(&line["total"]), w, "{stage} {round} {kind} 合计");
        let buckets = line["buckets"].as_array().expect("buckets");
        for (i, b) in buckets.iter().enumerate() {
            let expect = if i == bucket_at { w } else { (0, 0) };
            assert_eq!(hp_of(b), expect, "{stage} {round} {kind} column {i}");
        }
    }
    let missed = sum(plan.iter().filter(|h| {
        h.list
            .is_some_and(|i| LISTS[i].round == round && LISTS[i].origin == Some("screening"))
    }));
    assert_eq!(
        hp_of(&total["rates"]["missed"]),
        missed,
        "{stage} {round} 漏评"
    );

    let mut statuses: BTreeMap<&str, Hp> = BTreeMap::new();
    for h in plan {
        let e = statuses.entry(status_of(h)).or_default();
        *e = (e.0 + 1, e.1 + h.persons as i64);
    }
    for line in total["by_status"].as_array().expect("by_status") {
        let label = line["label"].as_str().expect("label");
        let w = statuses.get(label).copied().unwrap_or_default();
        assert_eq!(hp_of(line), w, "{stage} {round} status {label}");
    }
}

/// The rates' basis of a round: (part, whole) of 错评率 and 错退率, and both as percentages
/// with two decimals, as the county writes them.
fn rates(r: &Value) -> ((i64, i64), (i64, i64), String, String) {
    let basis = &r["total"]["basis"];
    let frac = |k: &str| {
        (
            basis[k]["part"].as_i64().expect("part"),
            basis[k]["whole"].as_i64().expect("whole"),
        )
    };
    let pct = |k: &str| {
        format!(
            "{:.2}",
            r["total"]["rates"][k].as_f64().unwrap_or(0.0) * 100.0
        )
    };
    (
        frac("wrong_entry"),
        frac("wrongful_exit"),
        pct("wrong_entry"),
        pct("wrongful_exit"),
    )
}

async fn seed_township(db: TestDb) {
    let laps = std::time::Instant::now();
    let lap = |what: &str| eprintln!("{:>6.1} s  {what}", laps.elapsed().as_secs_f64());
    let plan = plan();
    // The plan is the seed's township.
    let registered: Vec<&Planned> = plan.iter().filter(|h| h.status != ORDINARY).collect();
    assert_eq!(registered.len(), REGISTERED);
    assert_eq!(sum(registered.iter().copied()).1, REGISTERED_PERSONS as i64);
    assert_eq!(
        plan.iter().filter(|h| h.status == POOR).count(),
        POOR_HOUSEHOLDS
    );
    for l in &LISTS {
        let of: Vec<&Planned> = plan
            .iter()
            .filter(|h| h.list.is_some_and(|i| std::ptr::eq(&LISTS[i], l)))
            .collect();
        assert_eq!(sum(of.into_iter()), (l.households as i64, l.persons as i64));
    }

    let server = ServerProcess::start(&db.url).await;
    add_villages(&db.url).await;
    let mut users: Vec<(String, &str, String)> = (0..VILLAGES.len())
        .map(|v| (user(v), "surveyor", format!("{SHILI}{}", VILLAGES[v].0)))
        .collect();
    users.push(("shen".into(), "township_reviewer", SHILI.into()));
    users.push(("zhao".into(), "county_supervisor", COUNTY.into()));
    let users: Vec<(&str, &str, &str)> = users
        .iter()
        .map(|(u, r, a)| (u.as_str(), *r, a.as_str()))
        .collect();
    add_users(&db.url, &users).await;
    let shen = Reviewer::login(&server.url, "shen").await;
    let zhao = Reviewer::login(&server.url, "zhao").await;
    for round in rounds() {
        let (status, body) = zhao.post("/api/review/rounds", &round).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{round}: {body}");
    }
    let names: Vec<String> = (0..VILLAGES.len()).map(user).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let devices = enroll_all(&server.url, &names).await;
    lap("users, rounds, 14 devices enrolled");

    // Each village team imports its part of the national file and sends it.
    let mut first_person = 0u32;
    for (v, device) in devices.iter().enumerate() {
        let rows: Vec<RosterRow<'_>> = plan
            .iter()
            .filter(|h| h.village == v)
            .map(|h| RosterRow {
                no: &h.no,
                township: Some("诗礼乡"),
                village: VILLAGES[v].1,
                members: h.persons,
                status: Some(h.status),
                exit_year: h.exit_year,
            })
            .collect();
        let persons: usize = rows.iter().map(|r| r.members).sum();
        device
            .import_roster(&national_roster_csv(&rows, first_person))
            .await;
        first_person += persons as u32;
    }
    lap("rosters imported");
    for device in &devices {
        let got = device.sync().await;
        assert_eq!(got["rejected"], json!([]), "{got}");
    }
    lap("rosters sent");

    // In the field: exits surveyed, every case proposed and taken through 公示 on its
    // village's device.
    let mut clients = Vec::new();
    for d in &devices {
        clients.push(Arc::new(ClientProcess::start(d.data.path()).await));
    }
    let exports: Vec<Value> = {
        let mut out = Vec::new();
        for (v, d) in devices.iter().enumerate() {
            if plan
                .iter()
                .any(|h| h.village == v && h.list.is_some_and(|i| LISTS[i].kind == "exit"))
            {
                out.push(d.export().await);
            } else {
                out.push(Value::Null);
            }
        }
        out
    };
    let mut work = Vec::new();
    for h in plan.iter().filter(|h| h.list.is_some()) {
        let members: Vec<String> = exports[h.village]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["id"] == h.id()))
            .and_then(|x| x["members"].as_object())
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        work.push((h.clone(), clients[h.village].clone(), members));
    }
    let http = reqwest::Client::new();
    let case_ids = Arc::new(tokio::sync::Mutex::new(BTreeMap::<String, String>::new()));
    let ids = case_ids.clone();
    in_lanes(work, 6, move |(h, client, members)| {
        let (http, ids) = (http.clone(), ids.clone());
        async move {
            let l = &LISTS[h.list.expect("listed")];
            let (proposed, steps, publicity) = field_days(l.round);
            if l.kind == "exit" {
                let mut form = exit_ready_form(2017, "30000");
                insure(&mut form, &members);
                save_form(&http, &client, &h.id(), &form).await;
            }
            let p = Proposal {
                on: proposed,
                round: Some(l.round),
                ..Proposal::new(l.kind, l.origin)
            };
            let case = propose(&client, &h.id(), &p).await;
            pass_steps_through(&client, &h.id(), &case, "publicity", steps, publicity).await;
            ids.lock().await.insert(h.id(), case);
        }
    })
    .await;
    for c in clients {
        Arc::into_inner(c).expect("one owner").kill().await;
    }
    let case_ids = Arc::into_inner(case_ids).expect("one owner").into_inner();
    lap("cases proposed and taken through 公示 on the devices");
    for device in &devices {
        let got = device.sync().await;
        assert_eq!(got["rejected"], json!([]), "{got}");
    }
    lap("cases sent");

    let before = |h: &Planned| h.status;
    for round in [DYNAMIC, VERIFICATION] {
        let r = report(&shen, round).await;
        check(&r, round, "publicity_done", &plan, &before, "公示结束");
    }

    // The township reviews, the county decides and announces; the report follows each stage.
    for (step, bucket, user) in [
        ("township_review", "township_review", "shen"),
        ("county_decision", "county_decision", "zhao"),
        ("announcement", "announced", "zhao"),
    ] {
        let who = Arc::new(Reviewer::login(&server.url, user).await);
        let items: Vec<(String, String)> = case_ids.clone().into_iter().collect();
        in_lanes(items, 6, move |(household, case)| {
            let who = who.clone();
            async move {
                let (status, body) = decide(&who, &household, &case, step, "passed", "").await;
                assert_eq!(status, StatusCode::NO_CONTENT, "{household} {step}: {body}");
            }
        })
        .await;
        lap(step);
        let now: &dyn Fn(&Planned) -> &'static str = if step == "announcement" {
            &status_after
        } else {
            &before
        };
        for round in [DYNAMIC, VERIFICATION] {
            let r = report(&shen, round).await;
            check(&r, round, bucket, &plan, now, step);
            let (wrong_entry, wrongful_exit, we, wx) = rates(&r);
            let whole = (POOR_HOUSEHOLDS as i64, EXITED_HOUSEHOLDS as i64);
            if round == VERIFICATION {
                assert_eq!(wrong_entry, (74, whole.0), "{step} 错评率 basis");
                assert_eq!(wrongful_exit, (1, whole.1), "{step} 错退率 basis");
                assert_eq!((we.as_str(), wx.as_str()), ("5.23", "0.06"), "{step}");
            } else {
                assert_eq!((wrong_entry, wrongful_exit), ((0, whole.0), (0, whole.1)));
            }
        }
    }

    // The decisions reach the devices.
    for (v, device) in devices.iter().enumerate() {
        device.sync().await;
        let export = device.export().await;
        for h in plan.iter().filter(|h| h.village == v && h.list.is_some()) {
            let doc = export
                .as_array()
                .and_then(|a| a.iter().find(|x| x["id"] == h.id()))
                .expect("household on its device");
            let want = HouseholdStatus::ALL
                .iter()
                .find(|s| s.label() == status_after(h))
                .map(|s| s.code())
                .expect("a status");
            assert_eq!(doc["info"]["status"], want, "{} on its device", h.id());
        }
    }
    lap("decisions pulled by the devices");
    server.kill().await;
}

zoufang_e2e::on_both_databases!(seed_township);
