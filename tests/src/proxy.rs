//! A fault-injecting TCP proxy between a client and a server, as a bad 2G link behaves: on each
//! connection it either passes the bytes through, cuts the connection after a random number of
//! bytes in one direction (the request never fully arrives, or the answer is lost after the
//! server acted on the request), or stalls for a while first.
//!
//! The choice per connection comes from a seeded generator (SplitMix64), drawn in the order
//! connections arrive: one proxy per client, each with its own seed, makes each client's fault
//! sequence independent of how the clients interleave. A shared [`FaultSwitch`] turns faults on
//! and off for every proxy at once (a connection keeps the mode it was accepted in).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// SplitMix64: a tiny, good-enough, seedable generator.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0; the modulo bias is irrelevant here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Turns faults on or off, for every proxy sharing it.
#[derive(Debug, Clone, Default)]
pub struct FaultSwitch(Arc<AtomicBool>);

impl FaultSwitch {
    pub fn on(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn off(&self) {
        self.0.store(false, Ordering::SeqCst);
    }

    pub fn is_on(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// How often each fault is chosen (weights, in any unit) and how far it reaches.
#[derive(Debug, Clone)]
pub struct FaultConfig {
    pub pass: u64,
    pub cut_up: u64,
    pub cut_down: u64,
    pub stall: u64,
    /// A client→server cut falls in `0..max_up_cut` bytes.
    pub max_up_cut: u64,
    /// A server→client cut falls in `0..max_down_cut` bytes.
    pub max_down_cut: u64,
    /// A stall lasts up to this long.
    pub max_stall: Duration,
}

impl Default for FaultConfig {
    fn default() -> Self {
        FaultConfig {
            pass: 30,
            cut_up: 25,
            cut_down: 25,
            stall: 20,
            max_up_cut: 1_500,
            max_down_cut: 2_500,
            max_stall: Duration::from_millis(400),
        }
    }
}

/// What happens to one direction of one connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Leg {
    /// Pause once, after this many bytes.
    stall: Option<(usize, Duration)>,
    /// Close the whole connection after this many bytes.
    cut: Option<usize>,
}

/// The fate of one connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Plan {
    up: Leg,
    down: Leg,
}

/// Counts, by kind, of what the proxy did.
#[derive(Debug, Default)]
pub struct FaultStats {
    pub connections: AtomicUsize,
    /// Connections accepted while faults were off.
    pub clean: AtomicUsize,
    /// Faulty-mode connections planned to pass untouched.
    pub passed: AtomicUsize,
    /// Cuts planned, by direction, and cuts that happened (the connection carried that many
    /// bytes before it ended on its own otherwise).
    pub cut_up_planned: AtomicUsize,
    pub cut_down_planned: AtomicUsize,
    pub cut_up_done: AtomicUsize,
    pub cut_down_done: AtomicUsize,
    /// Stalls planned and stalls that happened.
    pub stall_planned: AtomicUsize,
    pub stall_done: AtomicUsize,
    /// Bytes forwarded each way.
    pub bytes_up: AtomicUsize,
    pub bytes_down: AtomicUsize,
}

/// A snapshot of [`FaultStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    pub connections: usize,
    pub clean: usize,
    pub passed: usize,
    pub cut_up_planned: usize,
    pub cut_down_planned: usize,
    pub cut_up_done: usize,
    pub cut_down_done: usize,
    pub stall_planned: usize,
    pub stall_done: usize,
    pub bytes_up: usize,
    pub bytes_down: usize,
}

impl std::ops::Add for FaultCounts {
    type Output = FaultCounts;

    fn add(self, o: FaultCounts) -> FaultCounts {
        FaultCounts {
            connections: self.connections + o.connections,
            clean: self.clean + o.clean,
            passed: self.passed + o.passed,
            cut_up_planned: self.cut_up_planned + o.cut_up_planned,
            cut_down_planned: self.cut_down_planned + o.cut_down_planned,
            cut_up_done: self.cut_up_done + o.cut_up_done,
            cut_down_done: self.cut_down_done + o.cut_down_done,
            stall_planned: self.stall_planned + o.stall_planned,
            stall_done: self.stall_done + o.stall_done,
            bytes_up: self.bytes_up + o.bytes_up,
            bytes_down: self.bytes_down + o.bytes_down,
        }
    }
}

impl FaultStats {
    pub fn counts(&self) -> FaultCounts {
        let g = |a: &AtomicUsize| a.load(Ordering::SeqCst);
        FaultCounts {
            connections: g(&self.connections),
            clean: g(&self.clean),
            passed: g(&self.passed),
            cut_up_planned: g(&self.cut_up_planned),
            cut_down_planned: g(&self.cut_down_planned),
            cut_up_done: g(&self.cut_up_done),
            cut_down_done: g(&self.cut_down_done),
            stall_planned: g(&self.stall_planned),
            stall_done: g(&self.stall_done),
            bytes_up: g(&self.bytes_up),
            bytes_down: g(&self.bytes_down),
        }
    }
}

fn bump(a: &AtomicUsize) {
    a.fetch_add(1, Ordering::SeqCst);
}

/// A running proxy; stops (closing every connection it holds) when dropped.
pub struct FaultProxy {
    pub url: String,
    pub stats: Arc<FaultStats>,
    task: JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `target` (an `http://host:port` URL).
    pub async fn start(
        target: &str,
        seed: u64,
        config: FaultConfig,
        switch: FaultSwitch,
    ) -> FaultProxy {
        let target: SocketAddr = target
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .expect("target is http://ip:port");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let stats = Arc::new(FaultStats::default());
        let rng = Arc::new(Mutex::new(SplitMix64::new(seed)));
        let task = tokio::spawn({
            let stats = stats.clone();
            async move {
                let mut connections = JoinSet::new();
                loop {
                    tokio::select! {
                        accepted = listener.accept() => {
                            let Ok((client, _)) = accepted else { continue };
                            bump(&stats.connections);
                            let plan = if switch.is_on() {
                                let mut rng = rng.lock().expect("rng");
                                plan(&mut rng, &config, &stats)
                            } else {
                                bump(&stats.clean);
                                Plan::default()
                            };
                            connections.spawn(forward(client, target, plan, stats.clone()));
                        }
                        // Reap finished connections so the set does not grow.
                        Some(_) = connections.join_next(), if !connections.is_empty() => {}
                    }
                }
            }
        });
        FaultProxy {
            url: format!("http://{addr}"),
            stats,
            task,
        }
    }

    pub fn counts(&self) -> FaultCounts {
        self.stats.counts()
    }
}

fn plan(rng: &mut SplitMix64, c: &FaultConfig, stats: &FaultStats) -> Plan {
    let total = c.pass + c.cut_up + c.cut_down + c.stall;
    let roll = rng.below(total);
    let stall_ms = |rng: &mut SplitMix64| {
        Duration::from_millis(1 + rng.below(c.max_stall.as_millis().max(1) as u64))
    };
    let mut p = Plan::default();
    if roll < c.pass {
        bump(&stats.passed);
    } else if roll < c.pass + c.cut_up {
        bump(&stats.cut_up_planned);
        p.up.cut = Some(rng.below(c.max_up_cut) as usize);
    } else if roll < c.pass + c.cut_up + c.cut_down {
        bump(&stats.cut_down_planned);
        p.down.cut = Some(rng.below(c.max_down_cut) as usize);
    } else {
        bump(&stats.stall_planned);
        // A stall somewhere in one direction, and half the time a cut after it.
        let up = rng.below(2) == 0;
        let at = rng.below(if up { c.max_up_cut } else { c.max_down_cut }) as usize;
        let leg = if up { &mut p.up } else { &mut p.down };
        leg.stall = Some((at, stall_ms(rng)));
        if rng.below(2) == 0 {
            let cut = at + rng.below(512) as usize;
            leg.cut = Some(cut);
            bump(if up {
                &stats.cut_up_planned
            } else {
                &stats.cut_down_planned
            });
        }
    }
    p
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// The reader reached end of stream (and the writer was shut down).
    Eof,
    /// A socket failed.
    Broken,
    /// The plan cut the connection here.
    Cut,
}

async fn forward(client: TcpStream, target: SocketAddr, plan: Plan, stats: Arc<FaultStats>) {
    let Ok(server) = TcpStream::connect(target).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let up = pump(cr, sw, plan.up, &stats, true);
    let down = pump(sr, cw, plan.down, &stats, false);
    tokio::pin!(up, down);
    let (mut up_done, mut down_done) = (false, false);
    // Returning drops both halves of both sockets: a cut is a closed connection both ways.
    while !(up_done && down_done) {
        tokio::select! {
            e = &mut up, if !up_done => {
                if e != Ended::Eof { return; }
                up_done = true;
            }
            e = &mut down, if !down_done => {
                if e != Ended::Eof { return; }
                down_done = true;
            }
        }
    }
}

/// Copies `r` to `w`, pausing and cutting where `leg` says.
async fn pump(
    mut r: OwnedReadHalf,
    mut w: OwnedWriteHalf,
    mut leg: Leg,
    stats: &FaultStats,
    up: bool,
) -> Ended {
    let mut buf = vec![0u8; 16 * 1024];
    let mut sent = 0usize;
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) => {
                let _ = w.shutdown().await;
                return Ended::Eof;
            }
            Ok(n) => n,
            Err(_) => return Ended::Broken,
        };
        let mut chunk = &buf[..n];
        while !chunk.is_empty() {
            let mut take = chunk.len();
            if let Some((at, _)) = leg.stall {
                take = take.min(at.saturating_sub(sent));
            }
            if let Some(at) = leg.cut {
                take = take.min(at.saturating_sub(sent));
            }
            if take > 0 {
                if w.write_all(&chunk[..take]).await.is_err() {
                    return Ended::Broken;
                }
                sent += take;
                chunk = &chunk[take..];
                (if up {
                    &stats.bytes_up
                } else {
                    &stats.bytes_down
                })
                .fetch_add(take, Ordering::SeqCst);
            }
            if let Some((at, pause)) = leg.stall
                && sent >= at
            {
                bump(&stats.stall_done);
                let _ = w.flush().await;
                tokio::time::sleep(pause).await;
                leg.stall = None;
                continue;
            }
            if let Some(at) = leg.cut
                && sent >= at
            {
                bump(if up {
                    &stats.cut_up_done
                } else {
                    &stats.cut_down_done
                });
                return Ended::Cut;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_is_seeded_and_spreads() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        let xs: Vec<u64> = (0..100).map(|_| a.below(10)).collect();
        let ys: Vec<u64> = (0..100).map(|_| b.below(10)).collect();
        assert_eq!(xs, ys);
        for v in 0..10 {
            assert!(xs.contains(&v), "{v} never drawn: {xs:?}");
        }
    }
}
