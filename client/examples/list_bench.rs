//! List, search, open and save timings of the client store with 10,000 households, and the peak
//! memory of a process doing them. Not a test: run it when the store or the index changes.
//!
//! ```text
//! cargo run --release -p zoufang-client --example list_bench [HOUSEHOLDS] [RUNS]
//! ```
//!
//! The store is filled by importing a generated roster; the timings then run in a fresh child
//! process on that store, so its peak RSS is what a client with that many households needs, not
//! what the import needed.

use std::error::Error;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use zoufang_client::roster_gen::{self, RosterHousehold};
use zoufang_client::store::{DB_FILE, ListFilter, Store};
use zoufang_client::{import, import::household_id};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

const SEED: u64 = 42;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, dir, count, runs] = args.as_slice()
        && flag == "--measure"
    {
        return measure(Path::new(dir), count.parse()?, runs.parse()?);
    }
    let count: usize = args.first().map_or(Ok(10_000), |a| a.parse())?;
    let runs: usize = args.get(1).map_or(Ok(50), |a| a.parse())?;
    let dir = tempfile::tempdir()?;
    fill(dir.path(), count)?;
    println!("import peak RSS (VmHWM): {}", peak_rss());
    let status = Command::new(std::env::current_exe()?)
        .arg("--measure")
        .arg(dir.path())
        .arg(count.to_string())
        .arg(runs.to_string())
        .status()?;
    if !status.success() {
        return Err(format!("measuring failed: {status}").into());
    }
    Ok(())
}

fn roster(count: usize) -> Vec<RosterHousehold> {
    roster_gen::generate(count, SEED, chrono::Local::now().date_naive())
}

fn fill(dir: &Path, count: usize) -> Result<()> {
    let mut store = Store::open(dir)?;
    store.init("bench", "基准测试")?;
    let roster = roster(count);
    let csv = roster_gen::to_csv(&roster);
    let started = Instant::now();
    let report = import::import(
        &mut store,
        csv.as_bytes(),
        chrono::Local::now().date_naive(),
    )?;
    let took = started.elapsed();
    if report.imported != count {
        return Err(format!("imported {} of {count}: {:?}", report.imported, report.bad).into());
    }
    println!(
        "{count} households ({} people) imported in {:.1} s ({:.2} ms each); database {:.1} MiB",
        roster.iter().map(|h| h.members.len()).sum::<usize>(),
        took.as_secs_f64(),
        took.as_secs_f64() * 1000.0 / count as f64,
        std::fs::metadata(dir.join(DB_FILE))?.len() as f64 / (1024.0 * 1024.0)
    );
    Ok(())
}

fn measure(dir: &Path, count: usize, runs: usize) -> Result<()> {
    // Regenerated rather than passed: the same seed gives the same roster.
    let roster = roster(count);
    let pick = |i: usize| roster.get(i).ok_or("roster too small");
    let village = pick(count / 2)?.village.clone();
    // A given name without the surname: shared by many, so the search returns a realistic page.
    let name: String = pick(count / 3)?.members[0].name.chars().skip(1).collect();
    let one = household_id(&pick(count / 4)?.household_no);
    drop(roster);

    let mut store = Store::open(dir)?;
    let list = |store: &Store, filter: ListFilter| Ok(store.list(&filter)?.len());
    let mut results = vec![
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
        time("search member name", runs, || {
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
        time("open + read household", runs, || {
            Ok(store.household(&one)?.members.len())
        })?,
    ];
    let mut area = 60u32;
    results.push(time("edit + save household", runs, || {
        // A new value each run, so every run writes.
        area += 1;
        store.edit_household(&one, |e| {
            e.set_field("living.house_area_m2", serde_json::json!(area))
        })?;
        Ok(1)
    })?);

    println!(
        "\n{:<24} {:>6} {:>10} {:>10}",
        "operation", "rows", "median", "p95"
    );
    for (what, rows, median, p95) in &results {
        println!("{what:<24} {rows:>6} {:>10} {:>10}", ms(*median), ms(*p95));
    }
    println!("\nclient peak RSS (VmHWM): {}", peak_rss());
    Ok(())
}

/// Runs `f` `runs` times: what it returned last, and the median and 95th percentile times.
fn time(
    what: &str,
    runs: usize,
    mut f: impl FnMut() -> Result<usize>,
) -> Result<(String, usize, Duration, Duration)> {
    let mut samples = Vec::with_capacity(runs);
    let mut rows = 0;
    for _ in 0..runs {
        let t = Instant::now();
        rows = f()?;
        samples.push(t.elapsed());
    }
    samples.sort();
    let at = |p: usize| {
        let i = (samples.len() * p / 100).min(samples.len().saturating_sub(1));
        samples.get(i).copied().unwrap_or_default()
    };
    Ok((what.to_owned(), rows, at(50), at(95)))
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// The high-water mark of resident memory, as the kernel reports it.
fn peak_rss() -> String {
    let kb = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        });
    kb.map_or("unknown".into(), |kb| format!("{:.1} MiB", kb / 1024.0))
}
