//! `bench`: Zoufang measured against its peers, printed as one table.
//!
//! ```text
//! cargo run --release -p zoufang-bench              # the full sizes
//! cargo run -p zoufang-bench -- --quick             # smaller sizes, for CI
//! bench [--quick] [--seed N] [--only w1,w2,w3,w4,w5,merge,client,history] [--pg URL | --no-pg] [--server-bin PATH]
//! ```
//!
//! - W1 evening sync: one device, 1,000 households in scope, 200 edited; bytes, round trips and
//!   time on loopback and over a simulated 2G link, beside a whole-record uploader, PouchDB and
//!   the limit (the edits alone, compressed, in one round trip).
//! - W2 first download of a township (5,000 households) to a new device.
//! - W3 100 devices syncing at once into one server, on SQLite and PostgreSQL: merges per second,
//!   latency, the server's peak memory.
//! - W5 (only with `--only w5`) a province in miniature: 60 devices in 6 counties syncing into
//!   1, 2 and 4 server replicas on one PostgreSQL, extrapolated to 2 M households in 15 minutes.
//! - W4 the supervisors' report and roster pages over a county of 100,000 households, on SQLite
//!   and PostgreSQL.
//! - Client: list, search, open and save over 10,000 households, and the client's memory.
//! - History: the household page's field history after 1,000 / 3,000 / 10,000 tiny changes.
//!
//! Servers are the real `zoufang-server` binary on loopback; devices are the client library
//! in-process. Every generated household comes from `--seed`. The figures are printed with their
//! targets; a missed target never fails the run, only a real error does.

mod client;
mod device;
mod history;
mod link;
mod machine;
mod merge;
mod peers;
mod pouch;
mod server;
mod table;
mod w12;
mod w3;
mod w4;
mod w5;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, ValueEnum};

use crate::server::ScratchDb;
use crate::table::{Table, secs};
use crate::w3::W3Sizes;

pub type Res<T> = Result<T, String>;

const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/test";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Workload {
    W1,
    W2,
    W3,
    W4,
    /// Only when asked for: 1, 2 and 4 server replicas on one PostgreSQL.
    W5,
    Merge,
    Client,
    History,
}

/// Zoufang's benchmarks, measured against its peers, printed as one table.
#[derive(Debug, Parser)]
#[command(name = "bench")]
struct Args {
    /// Smaller sizes (W1 300/60, W2 1,000, W3 20 devices, W4 5,000, client 2,000, history
    /// 3,000), for CI.
    #[arg(long)]
    quick: bool,
    /// Seed of every generated roster, county and choice.
    #[arg(long, default_value_t = 20_251_125)]
    seed: u64,
    /// Run only these workloads (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Workload>,
    /// PostgreSQL server to create scratch databases on (W3, W4).
    #[arg(long, env = "ZOUFANG_TEST_PG", default_value = DEFAULT_PG)]
    pg: String,
    /// Skip PostgreSQL.
    #[arg(long)]
    no_pg: bool,
    /// The zoufang-server binary (default: the one next to this executable, rebuilt first when
    /// run through cargo).
    #[arg(long)]
    server_bin: Option<PathBuf>,
}

const W5_SIZES: W3Sizes = W3Sizes {
    devices: 60,
    rounds: 3,
    new_per_round: 20,
    shared: 10,
    shared_edits: 4,
};

/// The sizes of one run.
#[derive(Debug, Clone)]
pub struct Sizes {
    pub w1_scope: usize,
    pub w1_edited: usize,
    pub w2_township: usize,
    pub w3: W3Sizes,
    pub w4_households: usize,
    /// W5's devices and their work (the same with --quick: W5 runs only when asked for).
    pub w5: W3Sizes,
    /// Households merged in process by stage.
    pub merge: usize,
    pub client: usize,
    /// Timed runs per W4 and client measurement (after a warm-up for W4).
    pub runs: usize,
}

impl Sizes {
    fn full() -> Sizes {
        Sizes {
            w1_scope: 1_000,
            w1_edited: 200,
            w2_township: 5_000,
            w3: W3Sizes {
                devices: 100,
                rounds: 3,
                new_per_round: 20,
                shared: 10,
                shared_edits: 4,
            },
            w4_households: 100_000,
            w5: W5_SIZES,
            merge: 1_000,
            client: 10_000,
            runs: 20,
        }
    }

    fn quick() -> Sizes {
        Sizes {
            w1_scope: 300,
            w1_edited: 60,
            w2_township: 1_000,
            w3: W3Sizes {
                devices: 20,
                rounds: 3,
                new_per_round: 20,
                shared: 10,
                shared_edits: 4,
            },
            w4_households: 5_000,
            w5: W5_SIZES,
            merge: 200,
            client: 2_000,
            runs: 5,
        }
    }
}

/// What every workload needs.
pub struct Ctx {
    pub rt: tokio::runtime::Runtime,
    pub server_bin: PathBuf,
    pub sizes: Sizes,
    pub seed: u64,
    pub quick: bool,
}

/// A line on stderr saying what the bench is doing (the table goes to stdout).
pub fn progress(what: impl AsRef<str>) {
    eprintln!("bench: {}", what.as_ref());
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some(client::MEASURE_ARG) {
        return client::measure_main(&argv[2..]);
    }
    let args = Args::parse();
    let mut table = Table::default();
    let started = Instant::now();
    let outcome = run(&args, &mut table);
    println!("{}", table.render());
    println!("total {}", secs(started.elapsed().as_secs_f64()));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args, table: &mut Table) -> Res<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let t = Instant::now();
    let server_bin = server::binary(args.server_bin.as_deref())?;
    let server_ready = t.elapsed().as_secs_f64();
    // W5 starts seven servers: only when asked for by name.
    let want = |w: Workload| {
        if args.only.is_empty() {
            w != Workload::W5
        } else {
            args.only.contains(&w)
        }
    };
    let pg: Result<String, String> = if args.no_pg {
        Err("--no-pg".into())
    } else {
        rt.block_on(pg_version(&args.pg))
    };
    for line in machine::describe(pg.as_ref().ok().cloned()) {
        println!("{line}");
    }
    println!(
        "seed {}, {} sizes, server {} (checked or built in {})",
        args.seed,
        if args.quick { "--quick" } else { "full" },
        server_bin.display(),
        secs(server_ready)
    );
    println!();
    let ctx = Ctx {
        rt,
        server_bin,
        sizes: if args.quick {
            Sizes::quick()
        } else {
            Sizes::full()
        },
        seed: args.seed,
        quick: args.quick,
    };
    // A scratch PostgreSQL database, or why there is none.
    let pg_db = |ctx: &Ctx| -> Result<ScratchDb, String> {
        match &pg {
            Ok(_) => ctx.rt.block_on(ScratchDb::postgres(&args.pg)),
            Err(e) => Err(e.clone()),
        }
    };

    if want(Workload::W1) || want(Workload::W2) {
        w12::run(&ctx, table, want(Workload::W1), want(Workload::W2))?;
    }
    if want(Workload::W3) {
        w3::run(&ctx, table, &ScratchDb::sqlite()?)?;
        match pg_db(&ctx) {
            Ok(db) => w3::run(&ctx, table, &db)?,
            Err(e) => {
                table.section("W3 concurrency on PostgreSQL");
                table.na("every figure", e);
            }
        }
    }
    if want(Workload::W5) {
        match &pg {
            Ok(_) => w5::run(&ctx, table, &args.pg)?,
            Err(e) => {
                table.section("W5 province in miniature");
                table.na("every figure", e);
            }
        }
    }
    if want(Workload::Merge) {
        merge::run(&ctx, table)?;
    }
    if want(Workload::W4) {
        let mut targets = vec![ScratchDb::sqlite()?];
        let mut missing = Vec::new();
        match pg_db(&ctx) {
            Ok(db) => targets.push(db),
            Err(e) => missing.push(("PostgreSQL", e)),
        }
        w4::run(&ctx, table, targets, missing)?;
    }
    if want(Workload::Client) {
        client::run(&ctx, table)?;
    }
    if want(Workload::History) {
        history::run(&ctx, table)?;
    }
    Ok(())
}

/// The PostgreSQL server's version, or why it cannot be reached.
async fn pg_version(url: &str) -> Result<String, String> {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(url)
        .await
        .map_err(|e| format!("PostgreSQL at {url} unreachable: {e}"))?;
    let v: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&mut c)
        .await
        .map_err(|e| format!("PostgreSQL version: {e}"))?;
    let _ = c.close().await;
    Ok(v)
}
