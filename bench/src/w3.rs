//! W3: many devices syncing into one `zoufang-server` at once.
//!
//! Devices work in village teams of [`TEAM`] (one account per village, one device per team
//! member). Each team's village has shared households, created by its first device before the
//! measurement. Then, in each measured round, every device imports new households of its own and
//! records a visit with field edits in a few of its village's shared households (teammates edit
//! some of the same ones: concurrent changes the server merges), and all devices sync at the same
//! moment. Each device runs on a thread of its own with a runtime of its own, as separate phones
//! would; they share this machine's cores with the server.

use std::sync::{Arc, Barrier, Mutex};
use std::time::Instant;

use zoufang_client::roster_gen::RosterHousehold;

use crate::device::{self, Device, Rng, visit_and_edit};
use crate::server::{self, ScratchDb, Server};
use crate::table::{Table, Target, bytes, ms, percentile, secs, thousands};
use crate::{Ctx, Res};
use zoufang_shared::rng::Draw as _;

/// Devices per village team.
pub const TEAM: usize = 5;
const TOWNSHIP: &str = "530921100";

#[derive(Debug, Clone, Copy)]
pub struct W3Sizes {
    pub devices: usize,
    pub rounds: usize,
    /// New households each device imports and pushes per round.
    pub new_per_round: usize,
    /// Shared households per village.
    pub shared: usize,
    /// Shared households each device edits per round.
    pub shared_edits: usize,
}

fn village(team: usize) -> String {
    format!("{TOWNSHIP}{:03}", 201 + team)
}

fn areas_csv(teams: usize) -> String {
    let mut csv = String::from("code,name,parent,level\n530921,凤庆县,,county\n");
    csv.push_str(&format!("{TOWNSHIP},诗礼乡,530921,township\n"));
    for t in 0..teams {
        csv.push_str(&format!(
            "{},第{}村,{TOWNSHIP},village\n",
            village(t),
            t + 1
        ));
    }
    csv
}

/// What one device saw in one measured round.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    seconds: f64,
    accepted: usize,
    pulled: usize,
    bytes: u64,
}

pub fn run(ctx: &Ctx, table: &mut Table, db: &ScratchDb) -> Res<()> {
    let s = ctx.sizes.w3;
    let teams = s.devices.div_ceil(TEAM);
    let backend = db.backend();
    crate::progress(format!(
        "W3 on {backend}: {} devices, {} rounds",
        s.devices, s.rounds
    ));
    server::import_areas(&ctx.server_bin, db.url(), &areas_csv(teams))?;
    let users: Vec<(String, &str, String)> = (0..teams)
        .map(|t| (format!("w3-{t}"), "surveyor", village(t)))
        .collect();
    server::add_users(&ctx.server_bin, db.url(), &users)?;
    let srv = Server::start(&ctx.server_bin, db.url())?;
    let rss_started = srv.rss();

    // One roster: the villages' shared households first, then each device's new ones per round.
    let per_device = s.rounds * s.new_per_round;
    let roster = device::roster(teams * s.shared + s.devices * per_device, ctx.seed ^ 0x33);
    let (shared, own) = roster.split_at(teams * s.shared);

    // Devices, enrolled two at a time (each enrollment checks a password: slow on purpose).
    let mut devices: Vec<Device> = Vec::with_capacity(s.devices);
    for d in 0..s.devices {
        devices.push(Device::new(&format!("w3-{}", d / TEAM))?);
    }
    ctx.rt.block_on(async {
        for (k, pair) in devices.chunks(2).enumerate() {
            let user = |j: usize| format!("w3-{}", (2 * k + j) / TEAM);
            match pair {
                [a, b] => {
                    let (ua, ub) = (user(0), user(1));
                    let (ra, rb) = tokio::join!(a.enroll(&srv.url, &ua), b.enroll(&srv.url, &ub));
                    ra?;
                    rb?;
                }
                [a] => a.enroll(&srv.url, &user(0)).await?,
                _ => {}
            }
        }
        // Each village's first device creates its shared households.
        for t in 0..teams {
            let dev = &mut devices[t * TEAM];
            dev.import(&shared[t * s.shared..(t + 1) * s.shared])?;
            dev.sync().await?;
        }
        Ok::<_, String>(())
    })?;
    let shared_ids: Vec<Vec<String>> = (0..teams)
        .map(|t| {
            shared[t * s.shared..(t + 1) * s.shared]
                .iter()
                .map(|h| zoufang_client::import::household_id(&h.household_no).0)
                .collect()
        })
        .collect();

    let rss_before = srv.rss();
    let reset = srv.reset_peak_rss();
    let cpu = || (srv.cpu_seconds(), server::cpu_seconds_of("/proc/self/stat"));
    let cpu_before = cpu();
    let (samples, walls) = rounds(ctx, devices, own, &shared_ids, s)?;
    let cpu_after = cpu();
    let peak = srv.peak_rss();
    let db_size = ctx.rt.block_on(db.size());
    drop(srv);

    let merges: usize = samples.iter().map(|x| x.accepted).sum();
    let pulled: usize = samples.iter().map(|x| x.pulled).sum();
    let traffic: u64 = samples.iter().map(|x| x.bytes).sum();
    let wall: f64 = walls.iter().sum();
    let mut lat: Vec<f64> = samples.iter().map(|x| x.seconds).collect();
    lat.sort_by(f64::total_cmp);
    let rate = merges as f64 / wall;

    table.section(format!(
        "W3 concurrency: {} devices sync at once, {} rounds ({} new + {} shared households \
         edited per device and round, teams of {TEAM} per village); zoufang-server on {backend}",
        s.devices, s.rounds, s.new_per_round, s.shared_edits
    ));
    table.target(
        "household merges per second",
        format!(
            "{rate:.0} ({} merges in {} of rounds)",
            thousands(merges as u64),
            secs(wall)
        ),
        Target::at_least(rate, 2_000.0, ">= 2,000/s"),
    );
    table.row(
        "sync latency p50 / p99 / max",
        format!(
            "{} / {} / {} ({} syncs)",
            ms(percentile(&lat, 50.0)),
            ms(percentile(&lat, 99.0)),
            ms(lat.last().copied().unwrap_or(f64::NAN)),
            lat.len()
        ),
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    match (cpu_before, cpu_after) {
        ((Some(s0), Some(d0)), (Some(s1), Some(d1))) => {
            let server_cpu = s1 - s0;
            table.row(
                "CPU in the rounds: server / devices (one machine)",
                format!(
                    "{} / {} of {} x {cores} cores",
                    secs(server_cpu),
                    secs(d1 - d0),
                    secs(wall)
                ),
            );
            table.row(
                "server CPU per merged household (pulls included)",
                format!(
                    "{} = {:.0} merges per server core-second",
                    ms(server_cpu / merges.max(1) as f64),
                    merges as f64 / server_cpu.max(0.01)
                ),
            );
        }
        _ => table.na("CPU in the rounds", "no /proc"),
    }
    table.row(
        "changes pulled, bytes both ways (bodies)",
        format!("{} changes, {}", thousands(pulled as u64), bytes(traffic)),
    );
    table.row(
        "server peak RSS (VmHWM)",
        match (peak, reset) {
            (Some(p), true) => format!(
                "{} in the rounds (RSS {} at start, {} after enrolling the devices)",
                bytes(p),
                rss_started.map_or("?".into(), bytes),
                rss_before.map_or("?".into(), bytes)
            ),
            (Some(p), false) => format!("{} over the server's life", bytes(p)),
            (None, _) => "unknown (no /proc)".into(),
        },
    );
    if let Some(size) = db_size {
        table.row("database size afterwards", bytes(size));
    }
    Ok(())
}

/// Runs the warm-up pull and the measured rounds; the samples and each round's wall time.
fn rounds(
    ctx: &Ctx,
    devices: Vec<Device>,
    own: &[RosterHousehold],
    shared_ids: &[Vec<String>],
    s: W3Sizes,
) -> Res<(Vec<Sample>, Vec<f64>)> {
    let n = devices.len();
    // Start and end of each round (the warm-up pull is round 0), for every device and this
    // thread.
    let start = Arc::new(Barrier::new(n + 1));
    let end = Arc::new(Barrier::new(n + 1));
    let samples = Arc::new(Mutex::new(Vec::new()));
    let per_device = s.rounds * s.new_per_round;
    let mut walls = Vec::with_capacity(s.rounds);
    let seed = ctx.seed;
    std::thread::scope(|scope| -> Res<()> {
        let mut handles = Vec::with_capacity(n);
        for (d, mut dev) in devices.into_iter().enumerate() {
            let (start, end, samples) = (start.clone(), end.clone(), samples.clone());
            let mine = &own[d * per_device..(d + 1) * per_device];
            let village = &shared_ids[d / TEAM];
            handles.push(scope.spawn(move || -> Res<()> {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("runtime: {e}"))?;
                let mut rng = Rng::new(seed ^ (d as u64).wrapping_mul(0x9e37_79b9));
                let mut failed: Option<String> = None;
                for round in 0..=s.rounds {
                    // Prepare (not timed): new households and visits to shared ones.
                    if round > 0 && failed.is_none() {
                        let r = round - 1;
                        let prepared = (|| -> Res<()> {
                            dev.import(&mine[r * s.new_per_round..(r + 1) * s.new_per_round])?;
                            for id in rng.sample(village, s.shared_edits) {
                                visit_and_edit(&mut dev.store, &id, &mut rng, round as u32)?;
                            }
                            Ok(())
                        })();
                        if let Err(e) = prepared {
                            failed = Some(format!("device {d}, round {round}: {e}"));
                        }
                    }
                    start.wait();
                    if failed.is_none() {
                        match rt.block_on(dev.sync()) {
                            Ok((r, t)) if round > 0 => {
                                let sample = Sample {
                                    seconds: t,
                                    accepted: r.accepted,
                                    pulled: r.pulled_changes,
                                    bytes: (r.bytes_up + r.bytes_down) as u64,
                                };
                                if let Ok(mut v) = samples.lock() {
                                    v.push(sample);
                                }
                            }
                            Ok(_) => {}
                            Err(e) => failed = Some(format!("device {d}, round {round}: {e}")),
                        }
                    }
                    end.wait();
                }
                failed.map_or(Ok(()), Err)
            }));
        }
        for round in 0..=s.rounds {
            start.wait();
            let t = Instant::now();
            end.wait();
            if round > 0 {
                walls.push(t.elapsed().as_secs_f64());
            }
        }
        for h in handles {
            h.join()
                .map_err(|_| "a device thread panicked".to_owned())??;
        }
        Ok(())
    })?;
    let samples = samples
        .lock()
        .map_err(|_| "samples poisoned".to_owned())?
        .clone();
    Ok((samples, walls))
}
