//! W5: a province's evening sync, in miniature and extrapolated. Only with `--only w5` (never
//! in the default or CI run: it starts seven servers and takes minutes).
//!
//! The devices of W3 (prepared requests replayed in windows, teams of [`TEAM`] per village) work
//! in [`COUNTIES`] counties and sync into 1, 2 and 4 `zoufang-server` replicas on one PostgreSQL
//! database (a fresh one per replica count), device `d` with replica `d mod n`, pulls included.
//! Each run reports merges per second in all and per replica, the replicas' CPU and
//! PostgreSQL's CPU per household written, and the WAL per household written; the last run's
//! costs then give the arithmetic for 2 M households in 15 minutes.
//!
//! On this machine every replica, PostgreSQL and the devices share the same cores, so more
//! replicas cannot add cores here: what the runs show is whether replicas of one database
//! contend (attempts per batch, latency) and what each household costs, which is what the
//! extrapolation needs.

use std::sync::Arc;

use crate::server::{self, Batches, ScratchDb, Server};
use crate::table::{Table, bytes, ms, percentile, thousands};
use crate::w3::{self, Layout, Sample, TEAM, W3Sizes};
use crate::{Ctx, Res};

/// Counties of the province in miniature (teams are dealt over them in turn).
pub const COUNTIES: usize = 6;
/// Replica counts measured, one fresh database each.
const REPLICAS: [usize; 3] = [1, 2, 4];
/// The evening the extrapolation is for: households edited, and the seconds they sync in.
const PROVINCE_HOUSEHOLDS: f64 = 2_000_000.0;
const EVENING_SECONDS: f64 = 15.0 * 60.0;

/// What one replica count measured.
struct Run {
    replicas: usize,
    merges: usize,
    wall: f64,
    samples: Vec<Sample>,
    /// Per household written: replicas' CPU inside the windows, PostgreSQL's CPU over the
    /// rounds (seconds), WAL (bytes).
    server_cpu: Option<f64>,
    pg_cpu: Option<f64>,
    wal: Option<u64>,
    attempts_per_batch: f64,
    written: u64,
}

pub fn run(ctx: &Ctx, table: &mut Table, pg_admin: &str) -> Res<()> {
    let s = ctx.sizes.w5;
    let layout = Layout {
        teams: s.devices.div_ceil(TEAM),
        counties: COUNTIES,
    };
    let mut runs = Vec::new();
    for replicas in REPLICAS {
        crate::progress(format!(
            "W5: {} devices in {COUNTIES} counties, {replicas} replica(s) on PostgreSQL",
            s.devices
        ));
        let db = ctx.rt.block_on(ScratchDb::postgres(pg_admin))?;
        runs.push(measure(ctx, &db, layout, s, replicas)?);
    }
    report(table, s, &runs);
    Ok(())
}

fn measure(ctx: &Ctx, db: &ScratchDb, layout: Layout, s: W3Sizes, replicas: usize) -> Res<Run> {
    w3::accounts(ctx, db.url(), layout)?;
    let batches = Arc::new(Batches::default());
    let servers = (0..replicas)
        .map(|_| Server::start_counting(&ctx.server_bin, db.url(), batches.clone()))
        .collect::<Res<Vec<Server>>>()?;
    let urls: Vec<&str> = servers.iter().map(|srv| srv.url.as_str()).collect();
    let fleet = w3::fleet(ctx, layout, &urls, s)?;
    let replicas_cpu = || servers.iter().map(Server::cpu_seconds).sum::<Option<f64>>();

    let counted = batches.read();
    let (wal_before, pg_before) = (ctx.rt.block_on(db.wal_position()), server::postgres_cpu());
    let (samples, windows) = w3::rounds(ctx, &replicas_cpu, db, fleet, s)?;
    let (wal_after, pg_after) = (ctx.rt.block_on(db.wal_position()), server::postgres_cpu());
    drop(servers);
    // The log readers may still hold the last lines (see W3).
    std::thread::sleep(std::time::Duration::from_millis(200));
    let [batch_n, attempts, _, written] = {
        let after = batches.read();
        std::array::from_fn(|i| after[i] - counted[i])
    };
    let per_household = |total: f64| total / written.max(1) as f64;
    Ok(Run {
        replicas,
        merges: samples.iter().map(|x| x.accepted).sum(),
        wall: windows.wall,
        server_cpu: windows.server_cpu.map(per_household),
        pg_cpu: pg_before.zip(pg_after).map(|(a, b)| per_household(b - a)),
        wal: wal_before
            .zip(wal_after)
            .map(|(a, b)| b.saturating_sub(a) / written.max(1)),
        attempts_per_batch: attempts as f64 / batch_n.max(1) as f64,
        written,
        samples,
    })
}

fn report(table: &mut Table, s: W3Sizes, runs: &[Run]) {
    table.section(format!(
        "W5 province in miniature: {} devices in {COUNTIES} counties (teams of {TEAM} per \
         village), {} rounds of W3's work, synced into 1, 2 and 4 zoufang-server replicas on one \
         PostgreSQL; replicas, PostgreSQL and devices share this machine's cores",
        s.devices, s.rounds
    ));
    for r in runs {
        let rate = r.merges as f64 / r.wall.max(1e-9);
        let mut lat: Vec<f64> = r.samples.iter().map(|x| x.seconds).collect();
        lat.sort_by(f64::total_cmp);
        table.row(
            format!(
                "{} replica(s): merges per second, all / per replica",
                r.replicas
            ),
            format!(
                "{rate:.0} / {:.0} ({} merges; latency p50 {} p99 {}; {:.2} commit attempts \
                 per batch)",
                rate / r.replicas as f64,
                thousands(r.merges as u64),
                ms(percentile(&lat, 50.0)),
                ms(percentile(&lat, 99.0)),
                r.attempts_per_batch
            ),
        );
        table.row(
            format!("{} replica(s): per household written", r.replicas),
            format!(
                "replicas' CPU {}, PostgreSQL CPU {}, WAL {} ({} written)",
                r.server_cpu.map_or("?".into(), ms),
                r.pg_cpu.map_or("?".into(), ms),
                r.wal.map_or("?".into(), bytes),
                thousands(r.written)
            ),
        );
    }
    let Some(last) = runs.last() else {
        return;
    };
    let (Some(server), Some(pg), Some(wal)) = (last.server_cpu, last.pg_cpu, last.wal) else {
        table.na("extrapolation", "no /proc or no WAL position");
        return;
    };
    let need = PROVINCE_HOUSEHOLDS / EVENING_SECONDS;
    let server_cores = need * server;
    let pg_cores = need * pg;
    table.row(
        "extrapolated: 2,000,000 households in 15 minutes",
        format!(
            "2,000,000 / 900 s = {need:.0} merges/s; x {} replica CPU = {server_cores:.1} \
             cores = {} replicas of 2 cores at 75 % load; x {} PostgreSQL CPU = \
             {pg_cores:.1} cores on the database; x {} WAL = {}/s of WAL (costs of the \
             {}-replica run)",
            ms(server),
            (server_cores / (2.0 * 0.75)).ceil(),
            ms(pg),
            bytes(wal),
            bytes((need * wal as f64) as u64),
            last.replicas
        ),
    );
}
