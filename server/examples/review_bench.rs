//! Latency of the review pages at county scale: the dynamic-management report, roster pages and
//! the cross-household checks over a county of 100,000 households (~350,000 persons), on SQLite
//! and on PostgreSQL. Prints figures; asserts nothing about them.
//!
//! ```text
//! cargo run --release -p zoufang-server --example review_bench -- \
//!     [--households N] [--backend sqlite|postgres|both] [--pg URL] [--keep DIR] [--runs R]
//! ```
//!
//! The data is the synthetic 凤庆县 (`530921`) of `zoufang_server::demo`, the generator of the
//! demo data too: ten townships of 8–12 villages, households of 1–7 members (3.5 on average) with
//! unique valid resident IDs, a realistic status mix, cases of every kind at every step of the
//! procedure, visits, incomes, helpers with 3–6 households each and a few concurrently edited
//! fields. Documents are built the way devices build them (a creating change, then one change per
//! visit, proposal and step, each dated on its day) on every core, and written with `commit_sync`
//! in batches, change log included, as the sync path writes them. The same documents go to every
//! backend selected.
//!
//! PostgreSQL: a scratch database `zf_bench_<random>` is created on the server of `--pg` (default
//! `ZOUFANG_TEST_PG`, else `postgres://postgres@127.0.0.1:5432/test`) and dropped at the end
//! (kept with `--keep`). It is `VACUUM ANALYZE`d after loading, as autovacuum would leave it;
//! SQLite is queried as the server leaves it (no `ANALYZE`).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chrono::TimeDelta;
use clap::{Parser, ValueEnum};
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use zoufang_server::demo::{self, COUNTY, County, CountySpec};
use zoufang_server::projection::today;
use zoufang_server::report::roster::{CaseFilter, RosterFilter};
use zoufang_server::report::{self, Bucket, ReportQuery};
use zoufang_server::storage::{AnyDb, Area, Database, HouseholdWrite, Projections, SyncWrite};
use zoufang_shared::CodeList;
use zoufang_shared::codes::{CaseKind, HouseholdStatus};

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
    let county = demo::plan(&CountySpec::new(args.households, args.seed, today));
    println!(
        "county {COUNTY}: {} townships, {} villages, {} households, {} persons ({} current), \
         {} helpers; planned in {:.1} s",
        county
            .areas()
            .iter()
            .filter(|a| a.level == "township")
            .count(),
        county.villages().len(),
        county.households(),
        county.persons(),
        county.current_persons(),
        county.helpers(),
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
        rt.block_on(t.db.upsert_areas(county.areas()))
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
// Loading

/// Builds the documents on every core and writes each batch to every target.
fn load(
    rt: &tokio::runtime::Runtime,
    county: &County,
    dbs: &[Target],
    threads: usize,
    batch: usize,
) -> Res<()> {
    let n = county.households();
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
                    let built = county
                        .build(start..(start + batch).min(n))
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
    let today = county.today();
    let query = |area: &str| ReportQuery {
        area: area.into(),
        from: today - TimeDelta::days(365),
        to: today,
        today,
    };
    let township = format!("{COUNTY}100");
    let village = county.villages()[0].code.clone();

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
