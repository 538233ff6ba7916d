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
use crate::server::{self, Batches, ScratchDb, Server};
use crate::table::{Table, Target, bytes, ms, percentile, secs, thousands};
use crate::{Ctx, Res};
use zoufang_shared::rng::Draw as _;

/// Devices per village team.
pub const TEAM: usize = 5;

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

/// Where the teams work: `counties` county trees of one township each, the teams' villages
/// dealt over them in turn (W3: one county; W5: a province's worth, in miniature).
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub teams: usize,
    pub counties: usize,
}

impl Layout {
    fn county(&self, c: usize) -> String {
        format!("5309{:02}", 21 + c)
    }

    fn township(&self, c: usize) -> String {
        format!("{}100", self.county(c))
    }

    /// The village of team `team`: one team per village.
    pub fn village(&self, team: usize) -> String {
        let c = team % self.counties;
        format!("{}{:03}", self.township(c), 201 + team / self.counties)
    }

    fn areas_csv(&self) -> String {
        let mut csv = String::from("code,name,parent,level\n");
        for c in 0..self.counties {
            let (county, township) = (self.county(c), self.township(c));
            csv.push_str(&format!("{county},第{}县,,county\n", c + 1));
            csv.push_str(&format!("{township},第{}乡,{county},township\n", c + 1));
        }
        for t in 0..self.teams {
            let c = t % self.counties;
            csv.push_str(&format!(
                "{},第{}村,{},village\n",
                self.village(t),
                t + 1,
                self.township(c)
            ));
        }
        csv
    }
}

/// The devices of a run, enrolled and warmed up: each village's shared households made by its
/// first device, each device's new households for the rounds set aside.
pub struct Fleet {
    pub devices: Vec<Device>,
    pub own: Vec<RosterHousehold>,
    pub shared_ids: Vec<Vec<String>>,
}

/// The accounts of `layout` (one per village team) in `database`, and its areas.
pub fn accounts(ctx: &Ctx, database: &str, layout: Layout) -> Res<()> {
    server::import_areas(&ctx.server_bin, database, &layout.areas_csv())?;
    let users: Vec<(String, &str, String)> = (0..layout.teams)
        .map(|t| (format!("w3-{t}"), "surveyor", layout.village(t)))
        .collect();
    server::add_users(&ctx.server_bin, database, &users)
}

/// Enrolls `s.devices` devices, device `d` with the server `urls[d % urls.len()]`, and has each
/// village's first device create the shared households.
pub fn fleet(ctx: &Ctx, layout: Layout, urls: &[&str], s: W3Sizes) -> Res<Fleet> {
    // One roster: the villages' shared households first, then each device's new ones per round.
    let per_device = s.rounds * s.new_per_round;
    let teams = layout.teams;
    let roster = device::roster(teams * s.shared + s.devices * per_device, ctx.seed ^ 0x33);
    let (shared, own) = roster.split_at(teams * s.shared);
    let user = |d: usize| format!("w3-{}", d / TEAM);
    let url = |d: usize| urls[d % urls.len()];

    // Devices, enrolled two at a time (each enrollment checks a password: slow on purpose).
    let mut devices: Vec<Device> = Vec::with_capacity(s.devices);
    for d in 0..s.devices {
        devices.push(Device::new(&user(d))?);
    }
    ctx.rt.block_on(async {
        for (k, pair) in devices.chunks(2).enumerate() {
            let (a, b) = (2 * k, 2 * k + 1);
            match pair {
                [da, db] => {
                    let (ua, ub) = (user(a), user(b));
                    let (ra, rb) = tokio::join!(da.enroll(url(a), &ua), db.enroll(url(b), &ub));
                    ra?;
                    rb?;
                }
                [da] => da.enroll(url(a), &user(a)).await?,
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
    Ok(Fleet {
        devices,
        own: own.to_vec(),
        shared_ids,
    })
}

/// What one device saw in one measured round.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    /// The measured round (1 on).
    pub round: usize,
    /// When the request was sent, in seconds after the rounds began.
    pub sent: f64,
    /// The measured request: from sending to the answer's last byte.
    pub seconds: f64,
    /// CPU the device's thread used to send it and take the answer.
    pub cpu: f64,
    pub accepted: usize,
    pub pulled: usize,
    pub bytes: u64,
    /// Shed as busy (503): its work was synced after the window.
    pub shed: bool,
    /// Rounds synced after the window (more pages, or the shed request's work).
    pub after: usize,
}

pub fn run(ctx: &Ctx, table: &mut Table, db: &ScratchDb) -> Res<()> {
    let s = ctx.sizes.w3;
    let teams = s.devices.div_ceil(TEAM);
    let backend = db.backend();
    crate::progress(format!(
        "W3 on {backend}: {} devices, {} rounds",
        s.devices, s.rounds
    ));
    let layout = Layout { teams, counties: 1 };
    accounts(ctx, db.url(), layout)?;
    let batches = Arc::new(Batches::default());
    let srv = Server::start_counting(&ctx.server_bin, db.url(), batches.clone())?;
    let rss_started = srv.rss();
    let fleet = fleet(ctx, layout, &[&srv.url], s)?;

    let rss_before = srv.rss();
    let reset = srv.reset_peak_rss();
    let counted_before = batches.read();
    let wal_before = ctx.rt.block_on(db.wal_position());
    let pg_before = db.is_postgres().then(server::postgres_cpu).flatten();
    let (samples, windows) = rounds(ctx, &|| srv.cpu_seconds(), db, fleet, s)?;
    let wal_after = ctx.rt.block_on(db.wal_position());
    let pg_after = db.is_postgres().then(server::postgres_cpu).flatten();
    let peak = srv.peak_rss();
    let db_size = ctx.rt.block_on(db.size());
    drop(srv);
    // The log reader may still hold the last lines: the server is gone, so they have all been
    // written; give the reader a moment to count them.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let [batch_n, attempts, merged, written] = {
        let after = batches.read();
        std::array::from_fn(|i| after[i] - counted_before[i])
    };

    let merges: usize = samples.iter().map(|x| x.accepted).sum();
    let pulled: usize = samples.iter().map(|x| x.pulled).sum();
    let traffic: u64 = samples.iter().map(|x| x.bytes).sum();
    let shed = samples.iter().filter(|x| x.shed).count();
    let after: usize = samples.iter().map(|x| x.after).sum();
    let wall = windows.wall;
    let mut lat: Vec<f64> = samples.iter().map(|x| x.seconds).collect();
    lat.sort_by(f64::total_cmp);
    let rate = merges as f64 / wall;

    table.section(format!(
        "W3 concurrency: {} devices sync at once, {} rounds ({} new + {} shared households \
         edited per device and round, teams of {TEAM} per village); requests prepared before \
         each round and answers applied after it; zoufang-server on {backend}",
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
        "sync request latency p50 / p99 / max",
        format!(
            "{} / {} / {} ({} requests, {shed} shed as busy; {after} rounds synced after the \
             windows)",
            ms(percentile(&lat, 50.0)),
            ms(percentile(&lat, 99.0)),
            ms(lat.last().copied().unwrap_or(f64::NAN)),
            lat.len()
        ),
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    match windows.server_cpu {
        Some(server_cpu) => {
            table.row(
                "CPU in the rounds: server / devices' threads (one machine)",
                format!(
                    "{} / {} of {} x {cores} cores",
                    secs(server_cpu),
                    secs(windows.devices_cpu),
                    secs(wall)
                ),
            );
            table.row(
                "server CPU per accepted household (pulls included)",
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
        "commit attempts per batch; merges per household written",
        format!(
            "{:.2} ({attempts} attempts, {batch_n} batches); {:.2} ({merged} merges, {written} \
             written; rounds after the windows included)",
            attempts as f64 / batch_n.max(1) as f64,
            merged as f64 / written.max(1) as f64,
        ),
    );
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
    if let (Some(from), Some(to)) = (pg_before, pg_after) {
        table.row(
            "PostgreSQL CPU per household written",
            format!(
                "{} (every postgres process, over the rounds and the gaps between them)",
                ms((to - from) / written.max(1) as f64)
            ),
        );
    }
    if let (Some(from), Some(to)) = (wal_before, wal_after) {
        let wal = to.saturating_sub(from);
        table.row(
            "PostgreSQL WAL per household written",
            format!(
                "{} ({} over the rounds, pulls and other writers of the cluster included)",
                bytes(wal / written.max(1)),
                bytes(wal)
            ),
        );
    }
    if let Some(size) = db_size {
        table.row("database size afterwards", bytes(size));
    }
    Ok(())
}

/// The measured windows of the rounds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Windows {
    /// Wall time, summed: in each round from the first request sent to the last answer's last
    /// byte, as the devices' own clocks saw them (the main thread, one of many woken at once by
    /// the barriers, would add its own scheduling delays).
    pub wall: f64,
    /// Server CPU between the barriers (the server is idle outside the requests), summed; `None`
    /// without /proc.
    pub server_cpu: Option<f64>,
    /// The devices' threads' CPU while sending and receiving, summed (each thread measures its
    /// own, so none of what devices do before or after a round counts).
    pub devices_cpu: f64,
}

/// The CPU time the calling thread has used, in seconds.
fn thread_cpu() -> f64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

/// Each round's window from its devices' samples: the first send to the last answer.
fn window_walls(samples: &[Sample], rounds: usize) -> f64 {
    (1..=rounds)
        .filter_map(|r| {
            let of_round = samples.iter().filter(|x| x.round == r);
            let first = of_round.clone().map(|x| x.sent).min_by(f64::total_cmp)?;
            let last = of_round
                .map(|x| x.sent + x.seconds)
                .max_by(f64::total_cmp)?;
            Some(last - first)
        })
        .sum()
}

/// Runs the warm-up pull and the measured rounds: the samples and the measured windows.
///
/// Each device builds its round's request before the window opens (imports, visits and the
/// encoding are not measured) and applies the answer after it closes, so inside a window the
/// devices only send bytes and wait: the server has the machine's cores to itself. What a
/// window leaves undone (another page to pull, a request shed as busy) is synced after it.
/// `server_cpu` reads the CPU seconds used so far by everything measured as the server (one
/// process; in W5 the replicas and PostgreSQL). Between the windows `db`'s statistics are
/// brought up to date ([`ScratchDb::analyze`]).
pub fn rounds(
    ctx: &Ctx,
    server_cpu: &(dyn Fn() -> Option<f64> + Sync),
    db: &ScratchDb,
    fleet: Fleet,
    s: W3Sizes,
) -> Res<(Vec<Sample>, Windows)> {
    let Fleet {
        devices,
        own,
        shared_ids,
    } = fleet;
    let (own, shared_ids) = (&own[..], &shared_ids[..]);
    let n = devices.len();
    // Start and end of each round (the warm-up pull is round 0), for every device and this
    // thread.
    let start = Arc::new(Barrier::new(n + 1));
    let end = Arc::new(Barrier::new(n + 1));
    let samples = Arc::new(Mutex::new(Vec::new()));
    let per_device = s.rounds * s.new_per_round;
    let mut windows = Windows {
        server_cpu: Some(0.0),
        ..Windows::default()
    };
    let seed = ctx.seed;
    let epoch = Instant::now();
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
                let http =
                    zoufang_client::sync::http_client().map_err(|e| format!("HTTP client: {e}"))?;
                let mut rng = Rng::new(seed ^ (d as u64).wrapping_mul(0x9e37_79b9));
                let mut failed: Option<String> = None;
                for round in 0..=s.rounds {
                    let mut prepared = None;
                    if round > 0 && failed.is_none() {
                        let r = round - 1;
                        let ready = (|| -> Res<_> {
                            dev.import(&mine[r * s.new_per_round..(r + 1) * s.new_per_round])?;
                            for id in rng.sample(village, s.shared_edits) {
                                visit_and_edit(&mut dev.store, &id, &mut rng, round as u32)?;
                            }
                            dev.prepare()
                        })();
                        match ready {
                            Ok(p) => prepared = Some(p),
                            Err(e) => failed = Some(format!("device {d}, round {round}: {e}")),
                        }
                    }
                    start.wait();
                    let (sent_at, cpu_at) = (epoch.elapsed().as_secs_f64(), thread_cpu());
                    let sent = match &prepared {
                        Some((req, _)) => Some(rt.block_on(dev.send(&http, req))),
                        None if round == 0 => {
                            if let Err(e) = rt.block_on(dev.sync()) {
                                failed = Some(format!("device {d}, warm-up: {e}"));
                            }
                            None
                        }
                        None => None,
                    };
                    let cpu = thread_cpu() - cpu_at;
                    end.wait();
                    let (Some((req, report)), Some(sent)) = (prepared, sent) else {
                        continue;
                    };
                    let done = sent.and_then(|(answer, seconds)| {
                        let (r, after) =
                            rt.block_on(dev.finish(&req, answer.as_deref(), report))?;
                        Ok(Sample {
                            round,
                            sent: sent_at,
                            seconds,
                            cpu,
                            accepted: r.accepted,
                            pulled: r.pulled_changes,
                            bytes: (r.bytes_up + r.bytes_down) as u64,
                            shed: answer.is_none(),
                            after,
                        })
                    });
                    match done {
                        Ok(sample) => {
                            if let Ok(mut v) = samples.lock() {
                                v.push(sample);
                            }
                        }
                        Err(e) => failed = Some(format!("device {d}, round {round}: {e}")),
                    }
                }
                failed.map_or(Ok(()), Err)
            }));
        }
        for round in 0..=s.rounds {
            start.wait();
            let before = server_cpu();
            end.wait();
            let after = server_cpu();
            if round > 0 {
                windows.server_cpu = windows
                    .server_cpu
                    .zip(after.zip(before))
                    .map(|(sum, (after, before))| sum + after - before);
            }
            // Before the next window; the devices meanwhile apply their answers and build the
            // next requests.
            if round < s.rounds {
                ctx.rt.block_on(db.analyze())?;
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
    windows.wall = window_walls(&samples, s.rounds);
    windows.devices_cpu = samples.iter().map(|x| x.cpu).sum();
    Ok((samples, windows))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(round: usize, sent: f64, seconds: f64) -> Sample {
        Sample {
            round,
            sent,
            seconds,
            ..Sample::default()
        }
    }

    #[test]
    fn a_window_runs_from_the_first_send_to_the_last_answer_of_its_round() {
        let samples = [
            sample(1, 10.0, 0.5),
            sample(1, 10.2, 0.1),
            sample(1, 10.1, 0.7),
            sample(2, 20.0, 0.2),
            sample(2, 20.3, 0.1),
            // The warm-up pull (round 0) is not measured.
            sample(0, 0.0, 9.0),
        ];
        let wall = window_walls(&samples, 2);
        assert!((wall - (0.8 + 0.4)).abs() < 1e-9, "{wall}");
        assert_eq!(
            window_walls(&samples, 3),
            wall,
            "a round with no samples adds nothing"
        );
    }

    #[test]
    fn a_thread_counts_only_its_own_cpu() {
        let before = thread_cpu();
        let busy = std::thread::spawn(|| {
            let t = std::time::Instant::now();
            let mut x = 0u64;
            while t.elapsed() < std::time::Duration::from_millis(50) {
                x = x.wrapping_add(std::hint::black_box(1));
            }
            x
        });
        busy.join().expect("join");
        assert!(
            thread_cpu() - before < 0.04,
            "another thread's spin is not this one's"
        );
    }
}
