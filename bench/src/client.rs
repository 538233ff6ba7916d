//! The field client with a township's households on it: list, search, open and save, and the
//! memory a client process doing that needs.
//!
//! The store is filled by importing a generated roster; the timings then run in a fresh child
//! process (this executable, `__client-measure`) on that store, so its peak RSS is what a
//! client with that many households needs, not what the import or the other workloads needed.

use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use zoufang_client::import::household_id;
use zoufang_client::store::{DB_FILE, ListFilter, Store};

use crate::device::{self, Device};
use crate::server::peak_rss_of;
use crate::table::{Table, Target, bytes, ms, secs, thousands};
use crate::{Ctx, Res};

pub const MEASURE_ARG: &str = "__client-measure";

#[derive(Debug, Serialize, Deserialize)]
struct Timing {
    what: String,
    rows: usize,
    median: f64,
    p95: f64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Measured {
    timings: Vec<Timing>,
    peak_rss: Option<u64>,
}

pub fn run(ctx: &Ctx, table: &mut Table) -> Res<()> {
    let n = ctx.sizes.client;
    crate::progress(format!("client: {n} households"));
    let mut dev = Device::new("bench")?;
    let roster = device::roster(n, ctx.seed ^ 0xc1);
    let persons: usize = roster.iter().map(|h| h.members.len()).sum();
    let took = dev.import(&roster)?;
    let size = std::fs::metadata(dev.dir.path().join(DB_FILE)).map_or(0, |m| m.len());
    let pick = |i: usize| roster.get(i).ok_or("roster too small");
    let village = pick(n / 2)?.village.clone();
    // A given name without the surname: shared by many, so the search returns a realistic page.
    let name: String = pick(n / 3)?.members[0].name.chars().skip(1).collect();
    let one = household_id(&pick(n / 4)?.household_no).0;
    let Device { dir, store } = dev;
    drop(store);

    let exe = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
    let out = Command::new(exe)
        .arg(MEASURE_ARG)
        .arg(dir.path())
        .args([ctx.sizes.runs.to_string(), village, name, one])
        .output()
        .map_err(|e| format!("client measurement: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "client measurement: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let m: Measured = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("client measurement output: {e}"))?;

    table.section(format!(
        "Client: a store of {} households ({} persons), median of {} runs (p95)",
        thousands(n as u64),
        thousands(persons as u64),
        ctx.sizes.runs
    ));
    table.row(
        "setup: roster import",
        format!(
            "{} ({:.2} ms a household); store {}",
            secs(took),
            took * 1e3 / n as f64,
            bytes(size)
        ),
    );
    for t in &m.timings {
        let figure = format!("{} (p95 {}), {} rows", ms(t.median), ms(t.p95), t.rows);
        if t.what.starts_with("search") {
            table.target(&t.what, figure, Target::at_most(t.median, 0.05, "< 50 ms"));
        } else {
            table.row(&t.what, figure);
        }
    }
    match m.peak_rss {
        Some(rss) => table.target(
            "peak RSS of the client process doing these",
            bytes(rss),
            Target::at_most(rss as f64, 150e6, "< 150 MB"),
        ),
        None => table.na("peak RSS of the client process", "no /proc"),
    }
    Ok(())
}

/// The child: `__client-measure DIR RUNS VILLAGE NAME HOUSEHOLD`; prints [`Measured`] as JSON.
pub fn measure_main(args: &[String]) -> ExitCode {
    match measure(args) {
        Ok(m) => match serde_json::to_string(&m) {
            Ok(json) => {
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn measure(args: &[String]) -> Res<Measured> {
    let [dir, runs, village, name, one] = args else {
        return Err(format!(
            "usage: {MEASURE_ARG} DIR RUNS VILLAGE NAME HOUSEHOLD"
        ));
    };
    let runs: usize = runs.parse().map_err(|e| format!("RUNS: {e}"))?;
    let one = zoufang_shared::ids::HouseholdId::from(one.as_str());
    // Unlocking derives the key (Argon2id): the cost every command and every unlock pays.
    let mut unlocked = None;
    let unlock = time(
        "unlock: derive the key, open the store",
        runs.min(5),
        || {
            unlocked =
                Some(Store::unlock(Path::new(dir), device::PASSPHRASE).map_err(|e| e.to_string())?);
            Ok(1)
        },
    )?;
    let mut store = unlocked.ok_or("store not unlocked")?;
    let list = |store: &Store, filter: ListFilter| -> Res<usize> {
        Ok(store.list(&filter).map_err(|e| e.to_string())?.len())
    };
    let mut timings = vec![
        unlock,
        time("list all", runs, || list(&store, ListFilter::default()))?,
        time("list by village", runs, || {
            list(
                &store,
                ListFilter {
                    village: Some(village.clone()),
                    ..ListFilter::default()
                },
            )
        })?,
        time("search a member's given name", runs, || {
            list(
                &store,
                ListFilter {
                    search: Some(name.clone()),
                    ..ListFilter::default()
                },
            )
        })?,
        time("search, no hit", runs, || {
            list(
                &store,
                ListFilter {
                    search: Some("查无此人".into()),
                    ..ListFilter::default()
                },
            )
        })?,
        time("open + read a household", runs, || {
            Ok(store
                .household(&one)
                .map_err(|e| e.to_string())?
                .members
                .len())
        })?,
    ];
    let mut area = 60u32;
    timings.push(time("edit + save a household", runs, || {
        // A new value each run, so every run writes.
        area += 1;
        store
            .edit_household(&one, |e| {
                e.set_field("living.house_area_m2", serde_json::json!(area))
            })
            .map_err(|e| e.to_string())?;
        Ok(1)
    })?);
    Ok(Measured {
        timings,
        peak_rss: peak_rss_of("/proc/self/status"),
    })
}

/// Runs `f` `runs` times: what it returned last, and the median and 95th percentile.
fn time(what: &str, runs: usize, mut f: impl FnMut() -> Res<usize>) -> Res<Timing> {
    let mut samples = Vec::with_capacity(runs);
    let mut rows = 0;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        rows = f()?;
        samples.push(t.elapsed());
    }
    samples.sort();
    let at = |p: usize| {
        let i = (samples.len() * p / 100).min(samples.len() - 1);
        samples
            .get(i)
            .copied()
            .unwrap_or(Duration::ZERO)
            .as_secs_f64()
    };
    Ok(Timing {
        what: what.to_owned(),
        rows,
        median: at(50),
        p95: at(95),
    })
}
