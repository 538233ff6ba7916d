//! Latency of the review pages at county scale: the dynamic-management report, roster pages and
//! the cross-household checks over a county of 100,000 households (~350,000 persons), on SQLite
//! and on PostgreSQL. Prints figures; asserts nothing about them.
//!
//! ```text
//! cargo run --release -p zoufang-server --example review_bench -- \
//!     [--households N] [--backend sqlite|postgres|both] [--pg URL] [--keep DIR] [--runs R]
//! ```
//!
//! The data is a synthetic 凤庆县 (`530921`): ten townships of 8–12 villages, households of 1–7
//! members (3.5 on average) with unique valid resident IDs, a realistic status mix, cases of every
//! kind at every step of the procedure, visits, incomes, helpers with 3–6 households each and a
//! few concurrently edited fields. Documents are built the way devices build them (a creating
//! change, then one change per visit, proposal and step, each dated on its day) on every core,
//! and written with `commit_sync` in batches, change log included, as the sync path writes them.
//! The same documents go to every backend selected.
//!
//! PostgreSQL: a scratch database `zf_bench_<random>` is created on the server of `--pg` (default
//! `ZOUFANG_TEST_PG`, else `postgres://postgres@127.0.0.1:5432/test`) and dropped at the end
//! (kept with `--keep`). It is `VACUUM ANALYZE`d after loading, as autovacuum would leave it;
//! SQLite is queried as the server leaves it (no `ANALYZE`).

use std::collections::HashSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};
use clap::{Parser, ValueEnum};
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use zoufang_server::projection::{household_write, today};
use zoufang_server::report::roster::{CaseFilter, RosterFilter};
use zoufang_server::report::{self, Bucket, ReportQuery};
use zoufang_server::storage::{
    AnyDb, Area, Database, HouseholdWrite, NewChange, Projections, SyncWrite,
};
use zoufang_shared::CodeList;
use zoufang_shared::codes::*;
use zoufang_shared::demo::id_number;
use zoufang_shared::doc::{ActorId, ChangeAuthor, DocError, HouseholdDoc, IncomingChange};
use zoufang_shared::ids::{CaseId, HelperId, HouseholdId, MemberId, StepId};
use zoufang_shared::model::{
    Case, Helper, HouseholdInfo, Income, Living, Member, Objection, StepRecord, Visit, Water,
};
use zoufang_shared::money::Fen;

const COUNTY: &str = "530921";
const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/test";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Backend {
    Sqlite,
    Postgres,
    Both,
}

/// Report and roster latency for a county of N households on SQLite and PostgreSQL.
#[derive(Debug, Parser)]
struct Args {
    /// Households in the county.
    #[arg(long, default_value_t = 100_000)]
    households: usize,
    #[arg(long, value_enum, default_value_t = Backend::Both)]
    backend: Backend,
    /// PostgreSQL server to create the scratch database on.
    #[arg(long, env = "ZOUFANG_TEST_PG", default_value = DEFAULT_PG)]
    pg: String,
    /// Write the SQLite database into DIR and keep it, and keep the PostgreSQL scratch database.
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
    /// Timed runs of each measurement (after one untimed warm-up run).
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// Households per `commit_sync`.
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// Seed of the synthetic county.
    #[arg(long, default_value_t = 20_261_125)]
    seed: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("review_bench: {e}");
            ExitCode::FAILURE
        }
    }
}

type Res<T> = Result<T, String>;

fn err(context: &str) -> impl Fn(&dyn std::fmt::Display) -> String + '_ {
    move |e| format!("{context}: {e}")
}

fn run(args: &Args) -> Res<()> {
    if args.households == 0 || args.runs == 0 || args.batch == 0 {
        return Err("--households, --runs and --batch must be positive".into());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| err("tokio runtime")(&e))?;
    let today = today();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());

    let t = Instant::now();
    let county = County::generate(args.households, args.seed, today);
    println!(
        "county {COUNTY}: {} townships, {} villages, {} households, {} persons ({} current), \
         {} helpers; planned in {:.1} s",
        county
            .areas
            .iter()
            .filter(|a| a.level == "township")
            .count(),
        county.villages.len(),
        county.plans.len(),
        county.plans.iter().map(|p| p.members.len()).sum::<usize>(),
        county
            .plans
            .iter()
            .flat_map(|p| &p.members)
            .filter(|m| m.left.is_none())
            .count(),
        county.helpers.len(),
        t.elapsed().as_secs_f64()
    );

    // --- the databases
    let scratch = match &args.keep {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| err("--keep")(&e))?;
            Scratch::Kept(dir.clone())
        }
        None => Scratch::Temp(tempfile::tempdir().map_err(|e| err("temp dir")(&e))?),
    };
    let sqlite_path = scratch
        .dir()
        .join(format!("review_bench_{}.db", args.households));
    let mut dbs: Vec<Target> = Vec::new();
    if matches!(args.backend, Backend::Sqlite | Backend::Both) {
        if sqlite_path.exists() {
            return Err(format!(
                "{} exists; remove it or pick another --keep directory",
                sqlite_path.display()
            ));
        }
        let url = sqlite_path
            .to_str()
            .ok_or("the SQLite path is not UTF-8")?
            .to_owned();
        let db = rt
            .block_on(AnyDb::connect(&url))
            .map_err(|e| err("open SQLite")(&e))?;
        dbs.push(Target {
            name: "sqlite",
            db,
            pg: None,
        });
    }
    if matches!(args.backend, Backend::Postgres | Backend::Both) {
        let name = format!("zf_bench_{}", uuid::Uuid::new_v4().simple());
        rt.block_on(async {
            let mut admin = PgConnection::connect(&args.pg)
                .await
                .map_err(|e| err(&format!("connect to {}", args.pg))(&e))?;
            sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut admin)
                .await
                .map_err(|e| err("create the scratch database")(&e))?;
            Ok::<_, String>(())
        })?;
        let url = with_database(&args.pg, &name);
        match rt.block_on(AnyDb::connect(&url)) {
            Ok(db) => dbs.push(Target {
                name: "postgres",
                db,
                pg: Some((name, url)),
            }),
            Err(e) => {
                drop_pg(&rt, &args.pg, &name);
                return Err(err("open PostgreSQL")(&e));
            }
        }
    }

    // Everything that may fail or panic after the scratch database exists runs here, so that
    // the database is dropped in every case.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        bench(&rt, args, &county, &dbs, threads, &sqlite_path)
    }));

    for t in &dbs {
        if let Some((name, url)) = &t.pg {
            if args.keep.is_some() && matches!(outcome, Ok(Ok(()))) {
                println!("kept PostgreSQL database {url} (DROP DATABASE {name} WITH (FORCE))");
            } else {
                drop_pg(&rt, &args.pg, name);
            }
        }
    }
    if args.keep.is_some() && sqlite_path.exists() {
        println!("kept SQLite database {}", sqlite_path.display());
    }
    drop(dbs);
    drop(scratch);
    match outcome {
        Ok(r) => r,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

enum Scratch {
    Temp(tempfile::TempDir),
    Kept(PathBuf),
}

impl Scratch {
    fn dir(&self) -> &Path {
        match self {
            Scratch::Temp(t) => t.path(),
            Scratch::Kept(p) => p,
        }
    }
}

struct Target {
    name: &'static str,
    db: AnyDb,
    /// The scratch database's name and URL.
    pg: Option<(String, String)>,
}

fn drop_pg(rt: &tokio::runtime::Runtime, base: &str, name: &str) {
    let dropped = rt.block_on(async {
        let mut admin = PgConnection::connect(base).await?;
        sqlx::query(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut admin)
        .await
    });
    if let Err(e) = dropped {
        eprintln!("review_bench: could not drop the scratch database {name}: {e}");
    }
}

/// `base` with its database name replaced by `name` (as the server's tests do it).
fn with_database(base: &str, name: &str) -> String {
    let (rest, query) = match base.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (base, None),
    };
    let server = match rest.rsplit_once('/') {
        Some((server, _)) if server.contains("//") && !server.ends_with('/') => server,
        _ => rest.trim_end_matches('/'),
    };
    match query {
        Some(q) => format!("{server}/{name}?{q}"),
        None => format!("{server}/{name}"),
    }
}

fn bench(
    rt: &tokio::runtime::Runtime,
    args: &Args,
    county: &County,
    dbs: &[Target],
    threads: usize,
    sqlite_path: &Path,
) -> Res<()> {
    for t in dbs {
        rt.block_on(t.db.upsert_areas(&county.areas))
            .map_err(|e| err("upsert_areas")(&e))?;
    }
    load(rt, county, dbs, threads, args.batch)?;

    for t in dbs {
        if let AnyDb::Postgres(pg) = &t.db {
            let started = Instant::now();
            rt.block_on(sqlx::query("VACUUM ANALYZE").execute(pg.pool()))
                .map_err(|e| err("VACUUM ANALYZE")(&e))?;
            println!(
                "postgres: VACUUM ANALYZE in {:.1} s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    println!();
    for t in dbs {
        // Other work on the machine skews the figures; say how busy it was.
        let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        println!(
            "{:<8}  load average before measuring: {}",
            t.name,
            loadavg
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        );
        let lines = rt.block_on(measure(&t.db, county, args.runs))?;
        for l in &lines {
            println!(
                "{:<8}  {:<32} min {:>8.2} ms  median {:>8.2} ms  p95 {:>8.2} ms   {}",
                t.name, l.name, l.stats.min, l.stats.median, l.stats.p95, l.note
            );
        }
        println!(
            "{:<8}  {}",
            t.name,
            rt.block_on(size_of(&t.db, sqlite_path))?
        );
        println!("{:<8}  {}", t.name, rt.block_on(table_counts(&t.db))?);
        println!();
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// The synthetic county

/// SplitMix64: deterministic, seedable, no dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in `lo..=hi`.
    fn between(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }

    /// An index drawn with the given weights.
    fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = (self.next() >> 11) as f64 / (1u64 << 53) as f64 * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }
}

const TOWNSHIPS: [&str; 10] = [
    "凤山镇",
    "鲁史镇",
    "小湾镇",
    "营盘镇",
    "三岔河镇",
    "勐佑镇",
    "雪山镇",
    "洛党镇",
    "诗礼乡",
    "新华乡",
];
const VILLAGES_PER_TOWNSHIP: [usize; 10] = [9, 11, 10, 12, 8, 10, 9, 11, 10, 10];
const PLACE_A: [&str; 16] = [
    "三", "孔", "新", "安", "石", "红", "龙", "凤", "大", "小", "平", "河", "岩", "团", "中", "永",
];
const PLACE_B: [&str; 12] = [
    "合", "兴", "华", "乐", "桥", "山", "坝", "箐", "塘", "寨", "丰", "和",
];
const SURNAMES: [&str; 24] = [
    "李", "王", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林",
    "何", "郭", "马", "罗", "字", "鲁", "查", "茶",
];
const GIVEN: [&str; 30] = [
    "伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟",
    "涛", "明", "超", "秀兰", "霞", "平", "刚", "桂英", "文", "华", "建国", "志强", "春梅", "海燕",
    "玉兰",
];
const UNITS: [&str; 20] = [
    "县交通局",
    "县教育局",
    "县卫健局",
    "县农业农村局",
    "县水务局",
    "县财政局",
    "县人社局",
    "县住建局",
    "县林草局",
    "县民政局",
    "县供销社",
    "县人民医院",
    "县第一中学",
    "县公安局",
    "县自然资源局",
    "县市场监管局",
    "县税务局",
    "农业银行凤庆支行",
    "县供电局",
    "乡镇干部",
];

struct Village {
    code: String,
    township_name: &'static str,
    name: String,
}

struct PlannedMember {
    relation: Relation,
    sex: Sex,
    birth: NaiveDate,
    id_number: String,
    left: Option<(MemberChange, NaiveDate)>,
}

/// What must be decided for the county as a whole (areas, unique IDs, helpers); everything
/// else about a household is drawn from its own seed while its document is built.
struct Plan {
    index: usize,
    village: usize,
    status: HouseholdStatus,
    monitoring: Option<MonitoringCategory>,
    members: Vec<PlannedMember>,
    helper: Option<usize>,
    seed: u64,
}

struct County {
    areas: Vec<Area>,
    villages: Vec<Village>,
    /// (name, unit)
    helpers: Vec<(String, String)>,
    plans: Vec<Plan>,
    today: NaiveDate,
}

fn person_name(rng: &mut Rng, surname: &str) -> String {
    format!("{surname}{}", rng.pick(&GIVEN))
}

fn day_in(year: i64, rng: &mut Rng) -> NaiveDate {
    let start = NaiveDate::from_ymd_opt(year as i32, 1, 1).unwrap_or(NaiveDate::MIN);
    start + TimeDelta::days(rng.below(365) as i64)
}

impl County {
    fn generate(n: usize, seed: u64, today: NaiveDate) -> County {
        let mut rng = Rng::new(seed);
        let mut areas = vec![Area {
            code: COUNTY.into(),
            name: "凤庆县".into(),
            parent: Some("530900".into()),
            level: "county".into(),
        }];
        let mut villages = Vec::new();
        let mut used_names = HashSet::new();
        for (t, (tname, nv)) in TOWNSHIPS.iter().zip(VILLAGES_PER_TOWNSHIP).enumerate() {
            let tcode = format!("{COUNTY}{:03}", 100 + t);
            areas.push(Area {
                code: tcode.clone(),
                name: (*tname).into(),
                parent: Some(COUNTY.into()),
                level: "township".into(),
            });
            for v in 0..nv {
                let code = format!("{tcode}{:03}", 201 + v);
                let name = loop {
                    let name = format!("{}{}村", rng.pick(&PLACE_A), rng.pick(&PLACE_B));
                    if used_names.insert(name.clone()) {
                        break name;
                    }
                };
                areas.push(Area {
                    code: code.clone(),
                    name: name.clone(),
                    parent: Some(tcode.clone()),
                    level: "village".into(),
                });
                villages.push(Village {
                    code,
                    township_name: tname,
                    name,
                });
            }
        }

        // Villages differ in size (about 1:3); households are numbered village by village.
        let weights: Vec<f64> = villages
            .iter()
            .map(|_| 0.5 + rng.below(1000) as f64 / 1000.0)
            .collect();
        let total: f64 = weights.iter().sum();
        let mut bounds = Vec::with_capacity(villages.len());
        let mut acc = 0.0;
        for w in &weights {
            acc += w;
            bounds.push(((acc / total) * n as f64).round() as usize);
        }
        if let Some(last) = bounds.last_mut() {
            *last = n;
        }

        let mut ids: HashSet<(NaiveDate, u16)> = HashSet::new();
        let mut helpers: Vec<(String, String)> = Vec::new();
        let mut helper_keys = HashSet::new();
        // Per township: the helper being filled and how many households it still takes.
        let mut current: Vec<Option<(usize, usize)>> = vec![None; TOWNSHIPS.len()];
        let township_of = |village: usize| {
            let mut v = village;
            for (t, nv) in VILLAGES_PER_TOWNSHIP.iter().enumerate() {
                if v < *nv {
                    return t;
                }
                v -= nv;
            }
            0
        };

        let mut plans = Vec::with_capacity(n);
        let mut village = 0;
        for index in 0..n {
            while index >= bounds[village] {
                village += 1;
            }
            use HouseholdStatus as S;
            let status = [
                S::Ordinary,
                S::NotExited,
                S::ExitedSupported,
                S::ExitedUnsupported,
                S::Relapsed,
                S::Edge,
            ][rng.weighted(&[0.71, 0.10, 0.10, 0.05, 0.01, 0.03])];
            let monitoring = match status {
                S::ExitedSupported if rng.chance(0.10) => Some(MonitoringCategory::UnstableExited),
                S::Edge if rng.chance(0.5) => Some(MonitoringCategory::EdgeAtRisk),
                S::Ordinary if rng.chance(0.005) => Some(MonitoringCategory::SuddenHardship),
                _ => None,
            };
            let members = plan_members(&mut rng, &mut ids, today);
            let helped = monitoring.is_some()
                || matches!(status, S::NotExited | S::ExitedSupported | S::Relapsed);
            let helper = helped.then(|| {
                let t = township_of(village);
                match current[t] {
                    Some((h, left)) if left > 0 => {
                        current[t] = Some((h, left - 1));
                        h
                    }
                    _ => {
                        let (name, unit) = loop {
                            let surname = rng_pick_surname(&mut rng);
                            let name = person_name(&mut rng, surname);
                            let unit = if rng.chance(0.3) {
                                format!("{}人民政府", TOWNSHIPS[t])
                            } else {
                                (*rng.pick(&UNITS)).to_owned()
                            };
                            if helper_keys.insert(format!("{name}|{unit}")) {
                                break (name, unit);
                            }
                        };
                        helpers.push((name, unit));
                        let quota = rng.between(3, 6) as usize;
                        current[t] = Some((helpers.len() - 1, quota - 1));
                        helpers.len() - 1
                    }
                }
            });
            plans.push(Plan {
                index,
                village,
                status,
                monitoring,
                members,
                helper,
                seed: rng.next(),
            });
        }
        County {
            areas,
            villages,
            helpers,
            plans,
            today,
        }
    }
}

fn rng_pick_surname(rng: &mut Rng) -> &'static str {
    SURNAMES[rng.below(SURNAMES.len() as u64) as usize]
}

/// 1–7 members (3.5 on average), each with a resident ID no one else in the county holds.
fn plan_members(
    rng: &mut Rng,
    ids: &mut HashSet<(NaiveDate, u16)>,
    today: NaiveDate,
) -> Vec<PlannedMember> {
    let size = 1 + rng.weighted(&[0.10, 0.18, 0.24, 0.22, 0.14, 0.08, 0.04]);
    let head_year = rng.between(1950, 1995);
    let mut roles: Vec<(Relation, i64)> = vec![(Relation::Head, head_year)];
    let mut has_child = false;
    for k in 1..size {
        let child_year = (head_year + rng.between(20, 32)).min(2023);
        let role = if k == 1 && rng.chance(0.85) {
            (Relation::Spouse, (head_year + rng.between(-5, 5)).min(2000))
        } else {
            match rng.weighted(&[0.6, 0.25, 0.15]) {
                2 if has_child => (
                    Relation::Grandchild,
                    (head_year + rng.between(42, 55)).min(2023),
                ),
                1 => (
                    Relation::Parent,
                    (head_year - rng.between(20, 30)).max(1928),
                ),
                _ => {
                    has_child = true;
                    if rng.chance(0.5) {
                        (Relation::Son, child_year)
                    } else {
                        (Relation::Daughter, child_year)
                    }
                }
            }
        };
        roles.push(role);
    }
    let head_male = rng.chance(0.88);
    roles
        .into_iter()
        .enumerate()
        .map(|(k, (relation, year))| {
            let sex = match relation {
                Relation::Head => head_male,
                Relation::Spouse => !head_male,
                Relation::Son => true,
                Relation::Daughter => false,
                _ => rng.chance(0.5),
            };
            let sex = if sex { Sex::Male } else { Sex::Female };
            // The sequence's last digit encodes the sex (odd for men); probe for a free one.
            let (birth, seq) = 'found: loop {
                let birth = day_in(year, rng);
                let start = rng.below(500) as u16;
                for i in 0..500u16 {
                    let seq = ((start + i) % 500) * 2 + u16::from(sex == Sex::Male);
                    if ids.insert((birth, seq)) {
                        break 'found (birth, seq);
                    }
                }
            };
            let left = (k > 0 && rng.chance(0.015)).then(|| {
                (
                    *rng.pick(&[
                        MemberChange::Death,
                        MemberChange::MarryOut,
                        MemberChange::MoveOut,
                    ]),
                    today - TimeDelta::days(rng.between(400, 900)),
                )
            });
            PlannedMember {
                relation,
                sex,
                birth,
                id_number: id_number(&birth.format("%Y%m%d").to_string(), &format!("{seq:03}")),
                left,
            }
        })
        .collect()
}

// ------------------------------------------------------------------------------------------
// Documents

/// What happens to a household after it was surveyed, in date order.
enum Event {
    Visit(Visit),
    Propose,
    Step(usize),
    Objection(Objection),
}

struct PlannedCase {
    case: Case,
    steps: Vec<StepRecord>,
}

/// A time on `day` at 09:00–17:59 China Standard Time.
fn at(day: NaiveDate, rng: &mut Rng) -> DateTime<Utc> {
    let local = day
        .and_hms_opt(9 + rng.below(9) as u32, rng.below(60) as u32, 0)
        .unwrap_or_default();
    DateTime::<Utc>::from_naive_utc_and_offset(local - TimeDelta::hours(8), Utc)
}

fn plan_case(p: &Plan, rng: &mut Rng, today: NaiveDate, members: &[MemberId]) -> PlannedCase {
    use CaseKind as K;
    use HouseholdStatus as S;
    let kind = if p.monitoring.is_some() && rng.chance(0.5) {
        K::RiskCleared
    } else {
        match p.status {
            S::NotExited => *rng.pick(&[
                K::Exit,
                K::Exit,
                K::Exit,
                K::WrongEntryRemoval,
                K::MemberChange,
            ]),
            S::ExitedSupported | S::ExitedUnsupported => *rng.pick(&[
                K::WrongfulExit,
                K::Relapse,
                K::Relapse,
                K::MemberChange,
                K::MemberChange,
                K::MonitoringInclude,
            ]),
            S::Relapsed => *rng.pick(&[K::Exit, K::MemberChange]),
            S::Edge => *rng.pick(&[K::NewEntry, K::MonitoringInclude, K::MonitoringInclude]),
            S::Ordinary => *rng.pick(&[K::NewEntry, K::NewEntry, K::MonitoringInclude]),
        }
    };
    let origin = if rng.chance(if kind == K::NewEntry { 0.4 } else { 0.3 }) {
        CaseOrigin::Screening
    } else {
        CaseOrigin::Application
    };
    // How far it got: passed steps, then perhaps one returned or rejected record.
    let passed = rng.weighted(&[0.15, 0.15, 0.15, 0.2, 0.1, 0.1, 0.15]);
    let last = match rng.weighted(&[0.88, 0.08, 0.04]) {
        1 if passed < ProcedureStep::ALL.len() => Some(StepOutcome::Returned),
        2 if passed < ProcedureStep::ALL.len() => Some(StepOutcome::Rejected),
        _ => None,
    };
    let n = passed + usize::from(last.is_some());
    // Dates backwards from the last record; a case resting in 公示 is recent, so that about
    // half of them are still running.
    let resting_in_publicity = last.is_none() && passed == 3;
    let mut day = today
        - TimeDelta::days(if resting_in_publicity {
            rng.between(0, 12)
        } else {
            rng.between(0, 150)
        });
    let mut days = Vec::with_capacity(n);
    for _ in 0..n {
        days.push(day);
        day -= TimeDelta::days(rng.between(1, 8));
    }
    days.reverse();
    let proposed_on = day;
    let steps = (0..n)
        .map(|i| {
            let step = ProcedureStep::ALL[i];
            let outcome = if i < passed {
                StepOutcome::Passed
            } else {
                last.unwrap_or(StepOutcome::Passed)
            };
            let publicity = step == ProcedureStep::Publicity && outcome != StepOutcome::Returned;
            StepRecord {
                step,
                date: days[i],
                actor: match step {
                    ProcedureStep::HomeCheck => "驻村工作队".into(),
                    ProcedureStep::Deliberation | ProcedureStep::Publicity => "村委会".into(),
                    ProcedureStep::TownshipReview => "乡镇人民政府".into(),
                    _ => "县乡村振兴局".into(),
                },
                actor_user: None,
                outcome,
                comment: match outcome {
                    StepOutcome::Passed => String::new(),
                    StepOutcome::Returned => "材料不全,退回补充".into(),
                    StepOutcome::Rejected => "经核实不符合条件".into(),
                },
                publicity_start: publicity.then_some(days[i]),
                publicity_end: publicity.then(|| days[i] + TimeDelta::days(6)),
                objections: Default::default(),
                attachments: Default::default(),
            }
        })
        .collect();
    let case_members = if kind == K::MemberChange {
        members.last().into_iter().cloned().collect()
    } else {
        Default::default()
    };
    PlannedCase {
        case: Case {
            kind,
            origin: Some(origin),
            proposed_on,
            proposed_by: "调查员".into(),
            proposed_by_user: None,
            reason: format!("{}:农户情况发生变化", kind.label()),
            members: case_members,
            steps: Default::default(),
        },
        steps,
    }
}

fn income(rng: &mut Rng, persons: usize, attribute: Option<PovertyAttribute>) -> Income {
    let persons = persons.max(1) as i64;
    let per_capita = rng.between(6_000, 22_000);
    let total = per_capita * persons;
    let wage = total * rng.between(30, 70) / 100;
    let planting = total * rng.between(10, 30) / 100;
    let breeding = total * rng.between(0, 15) / 100;
    Income {
        wage: Fen::from_yuan(wage),
        planting: Fen::from_yuan(planting),
        breeding: Fen::from_yuan(breeding),
        dibao: Fen::from_yuan(if attribute == Some(PovertyAttribute::Dibao) {
            3_600 * persons
        } else {
            0
        }),
        transfer_other: Fen::from_yuan((total - wage - planting - breeding).max(0)),
        production_cost: Fen::from_yuan(planting * rng.between(10, 40) / 100),
        ..Income::default()
    }
}

/// Builds a household's document with its history and returns what `commit_sync` stores.
fn build(p: &Plan, county: &County) -> Result<HouseholdWrite, DocError> {
    use HouseholdStatus as S;
    let mut rng = Rng::new(p.seed);
    let today = county.today;
    let village = &county.villages[p.village];
    // One device (actor) per village, as one surveyor covers a village.
    let mut actor_bytes = vec![0x5a; 16];
    actor_bytes[..8].copy_from_slice(&(p.village as u64).to_be_bytes());
    let actor = ActorId::from(actor_bytes);
    let device = format!("dev-{}", village.code);
    let surveyor = format!("surveyor{}", p.village);
    let registered = matches!(
        p.status,
        S::NotExited | S::ExitedSupported | S::ExitedUnsupported | S::Relapsed
    );
    let surname = rng_pick_surname(&mut rng);
    let created = today - TimeDelta::days(rng.between(365, 565));
    let attribute = registered.then(|| {
        [
            PovertyAttribute::General,
            PovertyAttribute::Dibao,
            PovertyAttribute::Tekun,
        ][rng.weighted(&[0.8, 0.15, 0.05])]
    });
    let current = p.members.iter().filter(|m| m.left.is_none()).count();
    let info = HouseholdInfo {
        household_no: (registered || p.monitoring.is_some())
            .then(|| format!("{}{:07}", village.code, p.index % 10_000_000)),
        year: Some(today.year() - 1),
        province: Some("云南省".into()),
        city: Some("临沧市".into()),
        county: Some("凤庆县".into()),
        township: Some(village.township_name.into()),
        village: Some(village.name.clone()),
        group: Some(format!("{}组", rng.between(1, 12))),
        area_code: Some(village.code.clone()),
        phone: rng.chance(0.8).then(|| {
            format!(
                "1{}{:09}",
                rng.pick(&[3, 5, 8, 9]),
                rng.below(1_000_000_000)
            )
        }),
        standard_level: registered.then_some(StandardLevel::National),
        attribute,
        main_cause: registered.then(|| *rng.pick(PovertyCause::ALL)),
        status: Some(p.status),
        exit_year: matches!(
            p.status,
            S::ExitedSupported | S::ExitedUnsupported | S::Relapsed
        )
        .then(|| rng.between(2016, 2020) as i32),
        monitoring: p.monitoring,
        measures: if registered || p.monitoring.is_some() {
            (0..rng.between(1, 3))
                .map(|_| *rng.pick(HelpMeasure::ALL))
                .collect()
        } else {
            Default::default()
        },
        food_secure: Some(true),
        clothing_secure: Some(true),
        ..HouseholdInfo::default()
    };
    let members: Vec<Member> = p
        .members
        .iter()
        .map(|m| {
            let age = today.year() - m.birth.year();
            Member {
                name: person_name(
                    &mut rng,
                    if matches!(m.relation, Relation::Spouse | Relation::Parent) {
                        rng_pick_surname(&mut Rng::new(p.seed ^ m.birth.num_days_from_ce() as u64))
                    } else {
                        surname
                    },
                ),
                sex: Some(m.sex),
                id_number: Some(m.id_number.clone()),
                birth_date: Some(m.birth),
                relation: Some(m.relation),
                ethnicity: Some(if rng.chance(0.8) { "汉族" } else { "彝族" }.into()),
                political: Some(if rng.chance(0.05) {
                    PoliticalStatus::CpcMember
                } else {
                    PoliticalStatus::Masses
                }),
                education: (age >= 18).then(|| {
                    *rng.pick(&[
                        Education::Primary,
                        Education::Junior,
                        Education::Junior,
                        Education::Senior,
                        Education::Illiterate,
                    ])
                }),
                school: match age {
                    3..=5 => Some(SchoolStage::Preschool),
                    6..=11 => Some(SchoolStage::Primary),
                    12..=14 => Some(SchoolStage::Junior),
                    15..=17 => Some(SchoolStage::Senior),
                    _ => None,
                },
                health: Some(
                    [
                        Health::Healthy,
                        Health::Chronic,
                        Health::SeriousIllness,
                        Health::Disabled,
                    ][rng.weighted(&[0.85, 0.1, 0.03, 0.02])],
                ),
                labour: Some(match age {
                    ..=15 => LabourSkill::NoLabour,
                    16..=64 => LabourSkill::Ordinary,
                    _ => LabourSkill::Weak,
                }),
                work_place: (18..=50)
                    .contains(&age)
                    .then(|| *rng.pick(WorkPlace::ALL))
                    .filter(|_| rng.chance(0.4)),
                medical_insurance: rng.chance(0.98),
                pension_insurance: age >= 16 && rng.chance(0.8),
                dibao: attribute == Some(PovertyAttribute::Dibao),
                left_reason: m.left.map(|(r, _)| r),
                left_on: m.left.map(|(_, d)| d),
                ..Member::default()
            }
        })
        .collect();
    let with_income = if registered || p.monitoring.is_some() {
        rng.chance(0.9)
    } else {
        rng.chance(0.2)
    };

    let author = ChangeAuthor::new(surveyor.as_str(), device.as_str(), at(created, &mut rng));
    let household_id = HouseholdId::random();
    let (mut doc, member_ids) =
        HouseholdDoc::create_with(&household_id, actor.clone(), &author, |e| {
            e.set_info(&info)?;
            let ids = members
                .iter()
                .map(|m| e.add_member(m))
                .collect::<Result<Vec<_>, _>>()?;
            if with_income {
                e.set_income(today.year() - 1, &income(&mut rng, current, attribute))?;
                if rng.chance(0.6) {
                    e.set_income(today.year() - 2, &income(&mut rng, current, attribute))?;
                }
            }
            let grade = [HouseGrade::A, HouseGrade::B, HouseGrade::C, HouseGrade::D]
                [rng.weighted(&[0.3, 0.67, 0.02, 0.01])];
            e.set_living(&Living {
                road_type: Some(*rng.pick(&[
                    RoadType::Hardened,
                    RoadType::Hardened,
                    RoadType::Gravel,
                ])),
                distance_to_road_m: Some(rng.between(0, 2000) as u32),
                production_power: Some(true),
                living_power: Some(true),
                broadcast_tv: Some(true),
                sanitary_toilet: Some(rng.chance(0.85)),
                house_area_m2: Some(rng.between(40, 200) as u32),
                house_structure: Some(*rng.pick(HouseStructure::ALL)),
                house_grade: Some(grade),
                house_renovated: (!grade.is_safe()).then(|| rng.chance(0.5)),
                moved_out: None,
            })?;
            e.set_water(&Water {
                litres_per_person_day: Some(rng.between(30, 100) as u32),
                dry_area: Some(false),
                trip_minutes: Some(rng.between(0, 20) as u32),
                cut_days_per_year: Some(rng.between(0, 20) as u32),
                quality_tested: Some(rng.chance(0.9)),
            })?;
            if let Some(h) = p.helper {
                let (name, unit) = &county.helpers[h];
                e.put_helper(
                    &HelperId::random(),
                    &Helper {
                        name: name.clone(),
                        unit: Some(unit.clone()),
                        phone: Some(format!("139{:08}", h)),
                        from: Some(created),
                        ..Helper::default()
                    },
                )?;
            }
            Ok(ids)
        })?;

    // Later events, each its own change on its own day.
    let mut events: Vec<(NaiveDate, Event)> = Vec::new();
    let visits = if registered || p.monitoring.is_some() {
        rng.weighted(&[0.2, 0.35, 0.3, 0.15])
    } else if p.status == S::Edge {
        rng.weighted(&[0.5, 0.5])
    } else {
        usize::from(rng.chance(0.05))
    };
    for _ in 0..visits {
        let date = today - TimeDelta::days(rng.between(0, 180));
        let mode = if rng.chance(0.8) {
            VisitMode::InPerson
        } else {
            VisitMode::Phone
        };
        events.push((
            date,
            Event::Visit(Visit {
                date,
                visitor: p
                    .helper
                    .map_or_else(|| surveyor.clone(), |h| county.helpers[h].0.clone()),
                visitor_user: None,
                mode,
                household_present: Some(mode == VisitMode::InPerson),
                notes: "了解家庭收入和两不愁三保障情况".into(),
                policies_known: String::new(),
                satisfaction: Some(*rng.pick(&[Satisfaction::Satisfied, Satisfaction::Basically])),
                attachments: Default::default(),
            }),
        ));
    }
    let case_p = if registered || p.monitoring.is_some() {
        0.15
    } else {
        0.05
    };
    let case = rng
        .chance(case_p)
        .then(|| plan_case(p, &mut rng, today, &member_ids));
    if let Some(c) = &case {
        events.push((c.case.proposed_on, Event::Propose));
        for (i, s) in c.steps.iter().enumerate() {
            events.push((s.date, Event::Step(i)));
            if s.step == ProcedureStep::Publicity
                && s.outcome == StepOutcome::Passed
                && rng.chance(0.05)
            {
                events.push((
                    s.date,
                    Event::Objection(Objection {
                        date: s.date,
                        by: "村民".into(),
                        content: "对家庭收入有异议".into(),
                        resolution: Some("经核实,异议不成立".into()),
                    }),
                ));
            }
        }
    }
    // Stable: a case's records keep their order within a day.
    events.sort_by_key(|(d, _)| *d);
    let mut case_id: Option<CaseId> = None;
    let mut publicity: Option<StepId> = None;
    for (date, event) in events {
        let author = ChangeAuthor::new(surveyor.as_str(), device.as_str(), at(date, &mut rng));
        doc.edit(&author, |e| match &event {
            Event::Visit(v) => e.add_visit(v).map(drop),
            Event::Propose => {
                let c = case
                    .as_ref()
                    .map(|c| &c.case)
                    .ok_or_else(|| DocError::Model("a proposal without a case".into()))?;
                case_id = Some(e.add_case(c)?);
                Ok(())
            }
            Event::Step(i) => {
                let (Some(c), Some(id)) = (&case, &case_id) else {
                    return Err(DocError::Model("a step before its case".into()));
                };
                let step = e.add_step(id, &c.steps[*i])?;
                if c.steps[*i].step == ProcedureStep::Publicity {
                    publicity = Some(step);
                }
                Ok(())
            }
            Event::Objection(o) => {
                let (Some(id), Some(step)) = (&case_id, &publicity) else {
                    return Err(DocError::Model("an objection before its 公示".into()));
                };
                e.add_objection(id, step, o).map(drop)
            }
        })?;
    }

    // A few fields edited on two devices at once, left for the conflicts queue.
    if rng.chance(0.003) {
        let mut other = doc.fork(ActorId::from(vec![0xc0; 16]));
        let day = today - TimeDelta::days(rng.between(0, 30));
        doc.edit(
            &ChangeAuthor::new(surveyor.as_str(), device.as_str(), at(day, &mut rng)),
            |e| e.set_field("living.house_grade", serde_json::json!("c")),
        )?;
        other.edit(
            &ChangeAuthor::new("teamleader", "dev-leader", at(day, &mut rng)),
            |e| e.set_field("living.house_grade", serde_json::json!("b")),
        )?;
        doc.merge(&mut other)?;
    }

    let id = household_id.as_str().to_owned();
    let changes = doc
        .changes_after(&[])
        .into_iter()
        .map(|bytes| {
            let c = IncomingChange::decode(&bytes)?;
            Ok(NewChange {
                hash: c.hash().to_string(),
                actor: c.actor().to_hex_string(),
                bytes,
            })
        })
        .collect::<Result<Vec<_>, DocError>>()?;
    household_write(&id, &mut doc, None, changes)
}

// ------------------------------------------------------------------------------------------
// Loading

/// Builds the documents on every core and writes each batch to every target.
fn load(
    rt: &tokio::runtime::Runtime,
    county: &County,
    dbs: &[Target],
    threads: usize,
    batch: usize,
) -> Res<()> {
    let n = county.plans.len();
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let mut build_cpu = Duration::ZERO;
    let mut write_time = vec![Duration::ZERO; dbs.len()];
    let mut doc_bytes = 0usize;
    let mut change_count = 0usize;
    let mut written = 0usize;
    let (tx, rx) =
        mpsc::sync_channel::<Result<(Vec<HouseholdWrite>, Duration), String>>(threads * 2);
    let mut failure = None;
    std::thread::scope(|s| {
        for _ in 0..threads {
            let tx = tx.clone();
            let next = &next;
            s.spawn(move || {
                loop {
                    let start = next.fetch_add(1, Ordering::Relaxed) * batch;
                    if start >= n {
                        break;
                    }
                    let t = Instant::now();
                    let built = county.plans[start..(start + batch).min(n)]
                        .iter()
                        .map(|p| build(p, county))
                        .collect::<Result<Vec<_>, _>>()
                        .map(|w| (w, t.elapsed()))
                        .map_err(|e| format!("building household documents: {e}"));
                    if tx.send(built).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut next_report = n / 10;
        for msg in rx {
            let (households, cpu) = match msg {
                Ok(m) => m,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            };
            build_cpu += cpu;
            written += households.len();
            doc_bytes += households.iter().map(|h| h.doc.len()).sum::<usize>();
            change_count += households.iter().map(|h| h.changes.len()).sum::<usize>();
            let write = SyncWrite { households };
            for (i, t) in dbs.iter().enumerate() {
                let w = Instant::now();
                if let Err(e) = rt.block_on(t.db.commit_sync(&write)) {
                    failure = Some(format!("{}: commit_sync: {e}", t.name));
                    break;
                }
                write_time[i] += w.elapsed();
            }
            if failure.is_some() {
                break;
            }
            if written >= next_report {
                eprintln!(
                    "  {written:>7}/{n} households written, {:.0} s",
                    started.elapsed().as_secs_f64()
                );
                next_report += n / 10;
            }
        }
    });
    if let Some(e) = failure {
        return Err(e);
    }
    let wall = started.elapsed().as_secs_f64();
    println!(
        "load: {n} households in {wall:.1} s wall = {:.0} households/s \
         ({threads} build threads; documents {:.1} MB saved, {change_count} changes logged)",
        n as f64 / wall,
        doc_bytes as f64 / 1e6,
    );
    println!(
        "load: building documents + projections {:.1} s CPU = {:.0} households/s per thread",
        build_cpu.as_secs_f64(),
        n as f64 / build_cpu.as_secs_f64()
    );
    for (t, w) in dbs.iter().zip(&write_time) {
        println!(
            "load: {:<8} commit_sync in batches of {batch}: {:.1} s = {:.0} households/s",
            t.name,
            w.as_secs_f64(),
            n as f64 / w.as_secs_f64()
        );
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Measuring

struct Stats {
    min: f64,
    median: f64,
    p95: f64,
}

struct Line {
    name: String,
    stats: Stats,
    note: String,
}

/// Runs `f` once untimed, then `runs` times timed; returns the timings (ms) and the last result.
async fn time<T, F, Fut>(runs: usize, mut f: F) -> Res<(Stats, T)>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, zoufang_server::storage::DbError>>,
{
    let mut last = f().await.map_err(|e| e.to_string())?;
    let mut ms = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        last = f().await.map_err(|e| e.to_string())?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(f64::total_cmp);
    let p95 = ((runs as f64 * 0.95).ceil() as usize).clamp(1, runs) - 1;
    Ok((
        Stats {
            min: ms[0],
            median: if runs % 2 == 1 {
                ms[runs / 2]
            } else {
                (ms[runs / 2 - 1] + ms[runs / 2]) / 2.0
            },
            p95: ms[p95],
        },
        last,
    ))
}

async fn report_of(
    db: &AnyDb,
    areas: &[Area],
    q: &ReportQuery,
) -> Result<report::Report, zoufang_server::storage::DbError> {
    let statuses = db.status_counts(&q.area).await?;
    let cases = db.case_counts(&q.area, q.from, q.to, q.today).await?;
    Ok(report::build(q, areas, &statuses, &cases))
}

fn roster(area: &str) -> RosterFilter {
    RosterFilter {
        area: area.into(),
        limit: 50,
        ..RosterFilter::default()
    }
}

/// (area code, id) of the household at `offset` in roster order, the key a reader paging
/// that far would resume after.
async fn key_at(db: &AnyDb, offset: i64) -> Res<Option<(String, String)>> {
    let sql = format!(
        "SELECT area_code, id FROM p_households WHERE area_code >= '{COUNTY}' \
         AND area_code < '530922' ORDER BY area_code, id LIMIT 1 OFFSET {offset}"
    );
    let row = match db {
        AnyDb::Sqlite(s) => {
            sqlx::query_as(AssertSqlSafe(sql))
                .fetch_optional(s.pool())
                .await
        }
        AnyDb::Postgres(p) => {
            sqlx::query_as(AssertSqlSafe(sql))
                .fetch_optional(p.pool())
                .await
        }
    };
    row.map_err(|e| err("roster key")(&e))
}

async fn measure(db: &AnyDb, county: &County, runs: usize) -> Res<Vec<Line>> {
    let mut out = Vec::new();
    let areas = db.areas().await.map_err(|e| err("areas")(&e))?;
    let today = county.today;
    let query = |area: &str| ReportQuery {
        area: area.into(),
        from: today - TimeDelta::days(365),
        to: today,
        today,
    };
    let township = format!("{COUNTY}100");
    let village = county.villages[0].code.clone();

    for (label, area) in [
        ("county report", COUNTY),
        ("township report", township.as_str()),
        ("village report", village.as_str()),
    ] {
        let q = query(area);
        let (stats, r) = time(runs, || report_of(db, &areas, &q)).await?;
        let cases: i64 = r.total.by_case.iter().map(|c| c.total.households).sum();
        out.push(Line {
            name: format!("{label} ({area})"),
            stats,
            note: format!(
                "{} hh / {} persons, {} cases, {} sections",
                r.total.all.households,
                r.total.all.persons,
                cases,
                r.children.len()
            ),
        });
        if area == COUNTY {
            // Where the county report's time goes.
            let (stats, rows) = time(runs, || db.status_counts(COUNTY)).await?;
            out.push(Line {
                name: "  of which status_counts".into(),
                stats,
                note: format!("{} groups", rows.len()),
            });
            let (stats, cases) = time(runs, || db.case_counts(COUNTY, q.from, q.to, today)).await?;
            out.push(Line {
                name: "  of which case_counts".into(),
                stats,
                note: format!("{} groups", cases.len()),
            });
            let (stats, _) = time(runs, || async {
                Ok(report::build(&q, &areas, &rows, &cases))
            })
            .await?;
            out.push(Line {
                name: "  of which report::build".into(),
                stats,
                note: String::new(),
            });
        }
    }

    let f = roster(COUNTY);
    let (stats, rows) = time(runs, || db.roster(&f)).await?;
    out.push(Line {
        name: "roster county, first page".into(),
        stats,
        note: format!("{} rows", rows.len()),
    });

    let total = db
        .roster_count(&f)
        .await
        .map_err(|e| err("roster_count")(&e))?
        .0;
    // Page 1000 of a county of 100,000; halfway through a smaller one.
    let page = (total / 50 / 2).clamp(2, 1000);
    let key = if total > 50 {
        key_at(db, (page - 1) * 50 - 1).await?
    } else {
        None
    };
    if let Some(key) = key {
        let mut f = roster(COUNTY);
        f.after = Some(key);
        let (stats, rows) = time(runs, || db.roster(&f)).await?;
        out.push(Line {
            name: format!("roster county, page {page}"),
            stats,
            note: format!("{} rows", rows.len()),
        });
    }

    let mut f = roster(COUNTY);
    f.case = Some(CaseFilter {
        kind: Some(CaseKind::Exit.code().into()),
        bucket: Some(Bucket::PublicityRunning),
        from: today - TimeDelta::days(365),
        to: today,
        today,
        missed: false,
        objected: false,
    });
    let (stats, rows) = time(runs, || db.roster(&f)).await?;
    out.push(Line {
        name: "roster exit + publicity_running".into(),
        stats,
        note: format!("{} rows", rows.len()),
    });
    let (stats, (h, p)) = time(runs, || db.roster_count(&f)).await?;
    out.push(Line {
        name: "  count of it".into(),
        stats,
        note: format!("{h} hh / {p} persons"),
    });

    let mut f = roster(COUNTY);
    f.status = Some(HouseholdStatus::NotExited.code().into());
    let (stats, rows) = time(runs, || db.roster(&f)).await?;
    out.push(Line {
        name: "roster status not_exited".into(),
        stats,
        note: format!("{} rows", rows.len()),
    });
    let (stats, (h, p)) = time(runs, || db.roster_count(&f)).await?;
    out.push(Line {
        name: "  count of it".into(),
        stats,
        note: format!("{h} hh / {p} persons"),
    });

    let f = roster(COUNTY);
    let (stats, (h, p)) = time(runs, || db.roster_count(&f)).await?;
    out.push(Line {
        name: "roster_count county".into(),
        stats,
        note: format!("{h} hh / {p} persons"),
    });

    let (stats, rows) = time(runs, || db.duplicate_ids(COUNTY)).await?;
    out.push(Line {
        name: "duplicate_ids county".into(),
        stats,
        note: format!("{} rows", rows.len()),
    });
    let (stats, rows) = time(runs, || db.busy_helpers(COUNTY, 5)).await?;
    out.push(Line {
        name: "busy_helpers county, > 5".into(),
        stats,
        note: format!("{} helpers", rows.len()),
    });
    let (stats, rows) = time(runs, || db.conflict_queue(COUNTY, 100)).await?;
    out.push(Line {
        name: "conflict_queue county, 100".into(),
        stats,
        note: format!("{} entries", rows.len()),
    });
    Ok(out)
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

async fn size_of(db: &AnyDb, sqlite_path: &Path) -> Res<String> {
    match db {
        AnyDb::Sqlite(_) => {
            let len = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
            let mut wal = sqlite_path.as_os_str().to_owned();
            wal.push("-wal");
            Ok(format!(
                "database file {} (+ WAL {})",
                mb(len(sqlite_path)),
                mb(len(Path::new(&wal)))
            ))
        }
        AnyDb::Postgres(p) => {
            let size: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
                .fetch_one(p.pool())
                .await
                .map_err(|e| err("pg_database_size")(&e))?;
            Ok(format!("pg_database_size {}", mb(size as u64)))
        }
    }
}

async fn table_counts(db: &AnyDb) -> Res<String> {
    let mut parts = Vec::new();
    for table in [
        "households",
        "changes",
        "p_households",
        "p_members",
        "p_cases",
        "p_steps",
        "p_visits",
        "p_helpers",
        "p_flags",
        "p_conflicts",
    ] {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        let n: Result<i64, _> = match db {
            AnyDb::Sqlite(s) => {
                sqlx::query_scalar(AssertSqlSafe(sql))
                    .fetch_one(s.pool())
                    .await
            }
            AnyDb::Postgres(p) => {
                sqlx::query_scalar(AssertSqlSafe(sql))
                    .fetch_one(p.pool())
                    .await
            }
        };
        parts.push(format!("{table} {}", n.map_err(|e| err("count rows")(&e))?));
    }
    Ok(format!("rows: {}", parts.join(", ")))
}
