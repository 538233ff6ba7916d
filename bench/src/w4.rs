//! W4: the supervisors' review pages at county scale — the dynamic-management report, roster
//! pages and the cross-household checks — over a county of 100,000 households (~350,000
//! persons), on SQLite and on PostgreSQL, through the server's storage queries.
//!
//! The data is the synthetic 凤庆县 (`530921`) of `zoufang_server::demo`, the generator of the
//! demo data too: ten townships of 8–12 villages, households of 1–7 members (3.5 on average) with
//! unique valid resident IDs, a realistic status mix, cases of every kind at every step of the
//! procedure, visits, incomes, helpers with 3–6 households each and a few concurrently edited
//! fields. Documents are built the way devices build them (a creating change, then one change per
//! visit, proposal and step, each dated on its day) on every core, and written with `commit_sync`
//! in batches, change log included, as the sync path writes them. The same documents go to every
//! backend. PostgreSQL is `VACUUM ANALYZE`d after loading, as autovacuum would leave it; SQLite
//! is queried as the server leaves it (no `ANALYZE`). Each figure is the median of `runs` timed
//! runs after one untimed warm-up, with the 95th percentile beside it.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chrono::TimeDelta;
use sqlx::AssertSqlSafe;
use zoufang_server::demo::{self, COUNTY, County, CountySpec};
use zoufang_server::projection::today;
use zoufang_server::report::CaseWindow;
use zoufang_server::report::roster::{CaseFilter, RosterFilter};
use zoufang_server::report::{self, Bucket, ReportQuery};
use zoufang_server::storage::{
    Accounts, Backend, Database, DbError, HouseholdWrite, LogPosition, OwnChanges, Projections,
    SyncWrite,
};
use zoufang_server::sync::MAX_PULL_BYTES;
use zoufang_shared::CodeList;
use zoufang_shared::codes::{CaseKind, HouseholdStatus};
use zoufang_storage_any::AnyDb;

use crate::server::ScratchDb;
use crate::table::{Table, Target, bytes, ms, secs, thousands};
use crate::{Ctx, Res};

/// The village pull reads the last 1/`PULL_DAY` of the county's log.
const PULL_DAY: i64 = 10;

/// Households per `commit_sync`.
const BATCH: usize = 500;

struct Target4 {
    name: &'static str,
    db: AnyDb,
    scratch: ScratchDb,
    write: Duration,
}

/// Loads the county into every database of `targets` (the ones that could be opened) and
/// measures each; `missing` are backends that could not be had, and why.
pub fn run(
    ctx: &Ctx,
    table: &mut Table,
    targets: Vec<ScratchDb>,
    missing: Vec<(&'static str, String)>,
) -> Res<()> {
    let n = ctx.sizes.w4_households;
    let rt = &ctx.rt;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let t = Instant::now();
    let county = demo::plan(&CountySpec::new(n, ctx.seed, today()));
    let planned = t.elapsed().as_secs_f64();
    crate::progress(format!(
        "W4: a county of {n} households ({} persons) into {}",
        county.persons(),
        targets
            .iter()
            .map(ScratchDb::backend)
            .collect::<Vec<_>>()
            .join(" and ")
    ));

    let mut dbs = Vec::new();
    for scratch in targets {
        let db = rt
            .block_on(AnyDb::connect(scratch.url()))
            .map_err(|e| format!("open {}: {e}", scratch.backend()))?;
        rt.block_on(db.upsert_areas(county.areas()))
            .map_err(|e| format!("upsert_areas: {e}"))?;
        dbs.push(Target4 {
            name: scratch.backend(),
            db,
            scratch,
            write: Duration::ZERO,
        });
    }
    let (wall, build_cpu) = load(rt, &county, &mut dbs, threads)?;
    for t in &dbs {
        if let AnyDb::Postgres(pg) = &t.db {
            rt.block_on(sqlx::query("VACUUM ANALYZE").execute(pg.pool()))
                .map_err(|e| format!("VACUUM ANALYZE: {e}"))?;
        }
    }

    table.section(format!(
        "W4 review pages: a county of {} households ({} persons, {} villages), median of {} runs \
         (p95)",
        thousands(n as u64),
        thousands(county.persons() as u64),
        county.villages().len(),
        ctx.sizes.runs
    ));
    table.row(
        "setup: plan, build documents + projections, commit_sync",
        format!(
            "plan {}, load {} wall ({:.0} households/s of build per core, {threads} cores)",
            secs(planned),
            secs(wall),
            n as f64 / build_cpu.as_secs_f64()
        ),
    );
    for (name, why) in &missing {
        table.na(format!("{name}: every figure"), why);
    }
    for t in &dbs {
        crate::progress(format!("W4: measuring {}", t.name));
        table.row(
            format!("{}: commit_sync in batches of {BATCH}", t.name),
            format!(
                "{} = {:.0} households/s; database {}",
                secs(t.write.as_secs_f64()),
                n as f64 / t.write.as_secs_f64(),
                rt.block_on(t.scratch.size()).map_or("?".into(), bytes)
            ),
        );
        for l in rt.block_on(measure(&t.db, &county, ctx.sizes.runs))? {
            let figure = if l.p95.is_nan() {
                l.note.clone()
            } else {
                format!(
                    "{} (p95 {}){}",
                    ms(l.median),
                    ms(l.p95),
                    if l.note.is_empty() {
                        String::new()
                    } else {
                        format!("; {}", l.note)
                    }
                )
            };
            let what = format!("{}: {}", t.name, l.name);
            if l.page {
                table.target(what, figure, Target::at_most(l.p95, 0.1, "p95 < 100 ms"));
            } else {
                table.row(what, figure);
            }
        }
    }
    Ok(())
}

/// Builds the documents on every core and writes each batch to every target. Returns the wall
/// time and the CPU time spent building.
fn load(
    rt: &tokio::runtime::Runtime,
    county: &County,
    dbs: &mut [Target4],
    threads: usize,
) -> Res<(f64, Duration)> {
    let n = county.households();
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let mut build_cpu = Duration::ZERO;
    let mut written = 0usize;
    let (tx, rx) = mpsc::sync_channel::<Res<(Vec<HouseholdWrite>, Duration)>>(threads * 2);
    let mut failure = None;
    std::thread::scope(|s| {
        for _ in 0..threads {
            let tx = tx.clone();
            let next = &next;
            s.spawn(move || {
                loop {
                    let start = next.fetch_add(1, Ordering::Relaxed) * BATCH;
                    if start >= n {
                        break;
                    }
                    let t = Instant::now();
                    let built = county
                        .build(start..(start + BATCH).min(n))
                        .map(|w| (w, t.elapsed()))
                        .map_err(|e| format!("building household documents: {e}"));
                    if tx.send(built).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut next_report = n / 5;
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
            let write = SyncWrite { households };
            for t in dbs.iter_mut() {
                let w = Instant::now();
                if let Err(e) = rt.block_on(t.db.commit_sync(&write)) {
                    failure = Some(format!("{}: commit_sync: {e}", t.name));
                    break;
                }
                t.write += w.elapsed();
            }
            if failure.is_some() {
                break;
            }
            if written >= next_report {
                crate::progress(format!(
                    "  {written}/{n} households written, {:.0} s",
                    started.elapsed().as_secs_f64()
                ));
                next_report += n / 5;
            }
        }
    });
    match failure {
        Some(e) => Err(e),
        None => Ok((started.elapsed().as_secs_f64(), build_cpu)),
    }
}

struct Line {
    name: String,
    median: f64,
    p95: f64,
    note: String,
    /// A page a supervisor waits for: the < 100 ms target applies.
    page: bool,
}

/// Runs `f` once untimed, then `runs` times timed; the median and p95 (seconds) and the last
/// result.
async fn time<T, F, Fut>(runs: usize, mut f: F) -> Res<(f64, f64, T)>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, DbError>>,
{
    let mut last = f().await.map_err(|e| e.to_string())?;
    let mut s = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        last = f().await.map_err(|e| e.to_string())?;
        s.push(t.elapsed().as_secs_f64());
    }
    s.sort_by(f64::total_cmp);
    let median = if runs % 2 == 1 {
        s[runs / 2]
    } else {
        (s[runs / 2 - 1] + s[runs / 2]) / 2.0
    };
    let p95 = s[((runs as f64 * 0.95).ceil() as usize).clamp(1, runs) - 1];
    Ok((median, p95, last))
}

fn roster(area: &str) -> RosterFilter {
    RosterFilter {
        area: area.into(),
        limit: 50,
        ..RosterFilter::default()
    }
}

/// (area code, id) of the household at `offset` in roster order: the key a reader paging that
/// far resumes after.
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
    row.map_err(|e| format!("roster key: {e}"))
}

async fn measure(db: &AnyDb, county: &County, runs: usize) -> Res<Vec<Line>> {
    let mut out = Vec::new();
    let mut line = |name: String, (median, p95): (f64, f64), note: String, page: bool| {
        out.push(Line {
            name,
            median,
            p95,
            note,
            page,
        })
    };
    let areas = db.areas().await.map_err(|e| format!("areas: {e}"))?;
    let today = county.today();
    let query =
        |area: &str| ReportQuery::over_period(area, today - TimeDelta::days(365), today, today);
    let township = format!("{COUNTY}100");
    let village = county
        .villages()
        .first()
        .map(|v| v.code.clone())
        .ok_or("the county has no villages")?;

    for (label, area) in [
        ("county report", COUNTY),
        ("township report", township.as_str()),
        ("village report", village.as_str()),
    ] {
        let q = query(area);
        let (m, p, r) = time(runs, || zoufang_server::review::counted_report(db, &q)).await?;
        let cases: i64 = r.total.by_case.iter().map(|c| c.total.households).sum();
        line(
            format!("{label} ({area})"),
            (m, p),
            format!(
                "{} hh / {} persons, {} cases",
                r.total.all.households, r.total.all.persons, cases
            ),
            true,
        );
        if area == COUNTY {
            // Where the county report's time goes.
            let (m1, _, rows) = time(runs, || db.status_counts(COUNTY)).await?;
            let window = q.window();
            let (m2, _, cases) = time(runs, || db.case_counts(COUNTY, &window, today)).await?;
            let (m3, _, _) = time(runs, || async {
                let counts = report::Counts {
                    statuses: &rows,
                    cases: &cases,
                    moves: &[],
                };
                Ok(report::build(&q, &areas, counts))
            })
            .await?;
            line(
                "  = status_counts + case_counts + build".into(),
                (m1 + m2 + m3, f64::NAN),
                format!("{} + {} + {}", ms(m1), ms(m2), ms(m3)),
                false,
            );
        }
    }

    let f = roster(COUNTY);
    let (m, p, rows) = time(runs, || db.roster(&f)).await?;
    line(
        "roster, county, first page".into(),
        (m, p),
        format!("{} rows", rows.len()),
        true,
    );
    let total = db
        .roster_count(&f)
        .await
        .map_err(|e| format!("roster_count: {e}"))?
        .0;
    // Page 1000 of a county of 100,000; halfway through a smaller one.
    let page = (total / 50 / 2).clamp(2, 1000);
    if total > 50
        && let Some(key) = key_at(db, (page - 1) * 50 - 1).await?
    {
        let mut f = roster(COUNTY);
        f.after = Some(key);
        let (m, p, rows) = time(runs, || db.roster(&f)).await?;
        line(
            format!("roster, county, page {page}"),
            (m, p),
            format!("{} rows", rows.len()),
            true,
        );
    }
    let mut f = roster(COUNTY);
    f.case = Some(CaseFilter {
        kind: Some(CaseKind::Exit.code().into()),
        bucket: Some(Bucket::PublicityRunning),
        window: CaseWindow::Period {
            from: today - TimeDelta::days(365),
            to: today,
        },
        today,
        missed: false,
        objected: false,
    });
    let (m, p, rows) = time(runs, || db.roster(&f)).await?;
    let (mc, pc, (h, _)) = time(runs, || db.roster_count(&f)).await?;
    line(
        "roster, exits in publicity, page + count".into(),
        (m + mc, p + pc),
        format!("{} rows of {h} hh", rows.len()),
        true,
    );
    let mut f = roster(COUNTY);
    f.status = Some(HouseholdStatus::NotExited.code().into());
    let (m, p, rows) = time(runs, || db.roster(&f)).await?;
    let (mc, pc, (h, _)) = time(runs, || db.roster_count(&f)).await?;
    line(
        "roster, status not exited, page + count".into(),
        (m + mc, p + pc),
        format!("{} rows of {h} hh", rows.len()),
        true,
    );
    let f = roster(COUNTY);
    let (m, p, (h, persons)) = time(runs, || db.roster_count(&f)).await?;
    line(
        "roster count, county".into(),
        (m, p),
        format!("{h} hh / {persons} persons"),
        true,
    );
    let (m, p, rows) = time(runs, || db.duplicate_ids(COUNTY)).await?;
    line(
        "check: duplicate IDs, county".into(),
        (m, p),
        format!("{} rows", rows.len()),
        false,
    );
    let (m, p, rows) = time(runs, || db.busy_helpers(COUNTY, 5)).await?;
    line(
        "check: helpers with > 5 households".into(),
        (m, p),
        format!("{} helpers", rows.len()),
        false,
    );
    let (m, p, rows) = time(runs, || db.conflict_queue(COUNTY, 100)).await?;
    line(
        "conflict queue, county, 100".into(),
        (m, p),
        format!("{} entries", rows.len()),
        false,
    );
    // A village's device after a day in which the whole county synced: its pull walks the
    // county's log from its cursor, so this costs by the county's changes since, not the
    // village's. The county is loaded in household order, village after village (batches on
    // several threads may swap neighbours): the last village's changes are at the log's end.
    let last_village = county.villages().last().map(|v| v.code.clone());
    let village_scope = [last_village.ok_or("the county has no villages")?];
    let pull = |from: LogPosition| {
        let scope = &village_scope;
        async move {
            db.changes_since(&from, scope, OwnChanges::NONE, MAX_PULL_BYTES as usize)
                .await
        }
    };
    let end = pull(LogPosition::START)
        .await
        .map_err(|e| format!("pull: {e}"))?;
    let end = end.cursors.get(COUNTY, 0);
    let from = LogPosition {
        floor: end - end / PULL_DAY,
        ..LogPosition::START
    };
    let (m, p, page) = time(runs, || pull(from.clone())).await?;
    line(
        format!("a village's pull of the county log's last 1/{PULL_DAY}"),
        (m, p),
        format!(
            "{} changes of the village among {} logged in the county",
            page.changes.len(),
            thousands((end / PULL_DAY) as u64)
        ),
        false,
    );
    Ok(out)
}
