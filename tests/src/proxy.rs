//! A fault-injecting TCP proxy between a client and a server, as a bad 2G link behaves: on each
//! connection it either passes the bytes through, cuts the connection after a random number of
//! bytes in one direction (the request never fully arrives, or the answer is lost after the
//! server acted on the request), stalls for a while first, delivers the connection's first
//! request twice (a second copy on a connection of its own, while the server handles the
//! first), or holds that request back (the client sees the connection drop; the test delivers
//! the request later, after newer ones: a reordered request).
//!
//! The choice per connection comes from a seeded generator (SplitMix64), drawn in the order
//! connections arrive: one proxy per client, each with its own seed, makes each client's fault
//! sequence independent of how the clients interleave. A shared [`FaultSwitch`] turns faults on
//! and off for every proxy at once (a connection keeps the mode it was accepted in). The proxy
//! also keeps the last sync requests that reached the server whole, for a test to deliver again,
//! and counts the requests the server holds (received whole, not yet answered), so a test knows
//! whether killing the server interrupted one.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
pub use zoufang_shared::seeded::SplitMix64;

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
    /// The connection's first request is delivered twice.
    pub duplicate: u64,
    /// The connection's first request is held back and the connection closed.
    pub hold: u64,
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
            duplicate: 0,
            hold: 0,
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
    /// (Client→server only.) Deliver the first whole sync request twice.
    duplicate: bool,
    /// (Client→server only.) Keep the first whole sync request instead of forwarding it, then
    /// close.
    hold: bool,
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
    /// Requests delivered a second time, and requests held back.
    pub duplicate_planned: AtomicUsize,
    pub duplicate_done: AtomicUsize,
    pub hold_planned: AtomicUsize,
    pub hold_done: AtomicUsize,
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
    pub duplicate_planned: usize,
    pub duplicate_done: usize,
    pub hold_planned: usize,
    pub hold_done: usize,
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
            duplicate_planned: self.duplicate_planned + o.duplicate_planned,
            duplicate_done: self.duplicate_done + o.duplicate_done,
            hold_planned: self.hold_planned + o.hold_planned,
            hold_done: self.hold_done + o.hold_done,
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
            duplicate_planned: g(&self.duplicate_planned),
            duplicate_done: g(&self.duplicate_done),
            hold_planned: g(&self.hold_planned),
            hold_done: g(&self.hold_done),
            bytes_up: g(&self.bytes_up),
            bytes_down: g(&self.bytes_down),
        }
    }
}

fn bump(a: &AtomicUsize) {
    a.fetch_add(1, Ordering::SeqCst);
}

/// Sync requests kept for a test to deliver again: the last few.
const KEPT_REQUESTS: usize = 8;

/// What the proxy's connections share: where to forward, how to choose faults, what it kept.
struct Shared {
    target: Mutex<SocketAddr>,
    rng: Mutex<SplitMix64>,
    config: Mutex<FaultConfig>,
    /// The last sync requests forwarded whole, oldest first.
    forwarded: Mutex<VecDeque<Vec<u8>>>,
    /// Requests held back, oldest first.
    held: Mutex<Vec<Vec<u8>>>,
    /// HTTP statuses the servers gave the second copies of duplicated requests (0: no answer).
    copy_answers: Mutex<Vec<u16>>,
    /// Requests received whole by the server and not yet answered.
    in_server: AtomicUsize,
    stats: FaultStats,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn socket_addr(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .expect("target is http://ip:port")
}

/// A running proxy; stops (closing every connection it holds) when dropped.
pub struct FaultProxy {
    pub url: String,
    shared: Arc<Shared>,
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
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let shared = Arc::new(Shared {
            target: Mutex::new(socket_addr(target)),
            rng: Mutex::new(SplitMix64::new(seed)),
            config: Mutex::new(config),
            forwarded: Mutex::default(),
            held: Mutex::default(),
            copy_answers: Mutex::default(),
            in_server: AtomicUsize::new(0),
            stats: FaultStats::default(),
        });
        let task = tokio::spawn({
            let shared = shared.clone();
            async move {
                let mut connections = JoinSet::new();
                loop {
                    tokio::select! {
                        accepted = listener.accept() => {
                            let Ok((client, _)) = accepted else { continue };
                            bump(&shared.stats.connections);
                            let plan = if switch.is_on() {
                                let config = lock(&shared.config).clone();
                                plan(&mut lock(&shared.rng), &config, &shared.stats)
                            } else {
                                bump(&shared.stats.clean);
                                Plan::default()
                            };
                            connections.spawn(forward(client, plan, shared.clone()));
                        }
                        // Reap finished connections so the set does not grow.
                        Some(_) = connections.join_next(), if !connections.is_empty() => {}
                    }
                }
            }
        });
        FaultProxy {
            url: format!("http://{addr}"),
            shared,
            task,
        }
    }

    pub fn counts(&self) -> FaultCounts {
        self.shared.stats.counts()
    }

    /// Forwards new connections to another server (one restarted on another port, say).
    pub fn retarget(&self, url: &str) {
        *lock(&self.shared.target) = socket_addr(url);
    }

    /// Draws the faults of new connections from `seed` with `config` from now on.
    pub fn configure(&self, seed: u64, config: FaultConfig) {
        *lock(&self.shared.rng) = SplitMix64::new(seed);
        *lock(&self.shared.config) = config;
    }

    /// The sync requests forwarded whole since the last call (at most the last few), oldest
    /// first: each the exact bytes the client sent.
    pub fn take_forwarded(&self) -> Vec<Vec<u8>> {
        lock(&self.shared.forwarded).drain(..).collect()
    }

    /// The requests held back since the last call, oldest first.
    pub fn take_held(&self) -> Vec<Vec<u8>> {
        std::mem::take(&mut *lock(&self.shared.held))
    }

    /// The statuses the server answered the second copies of duplicated requests with, since
    /// the last call (0 where the copy got no answer).
    pub fn take_copy_answers(&self) -> Vec<u16> {
        std::mem::take(&mut *lock(&self.shared.copy_answers))
    }

    /// Requests the server has received whole and not yet begun to answer.
    pub fn in_server(&self) -> usize {
        self.shared.in_server.load(Ordering::SeqCst)
    }
}

fn plan(rng: &mut SplitMix64, c: &FaultConfig, stats: &FaultStats) -> Plan {
    let total = c.pass + c.cut_up + c.cut_down + c.stall + c.duplicate + c.hold;
    let mut roll = rng.below(total);
    let stall_ms = |rng: &mut SplitMix64| {
        Duration::from_millis(1 + rng.below(c.max_stall.as_millis().max(1) as u64))
    };
    let mut p = Plan::default();
    let mut drawn = |weight: u64| {
        let hit = roll < weight;
        roll = roll.wrapping_sub(weight);
        hit
    };
    if drawn(c.pass) {
        bump(&stats.passed);
    } else if drawn(c.cut_up) {
        bump(&stats.cut_up_planned);
        p.up.cut = Some(rng.below(c.max_up_cut) as usize);
    } else if drawn(c.cut_down) {
        bump(&stats.cut_down_planned);
        p.down.cut = Some(rng.below(c.max_down_cut) as usize);
    } else if drawn(c.stall) {
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
    } else if drawn(c.duplicate) {
        bump(&stats.duplicate_planned);
        p.up.duplicate = true;
    } else {
        bump(&stats.hold_planned);
        p.up.hold = true;
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

async fn forward(client: TcpStream, plan: Plan, shared: Arc<Shared>) {
    let target = *lock(&shared.target);
    let Ok(server) = TcpStream::connect(target).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    // Requests of this connection the server holds unanswered (HTTP/1.1 clients do not
    // pipeline, so the first answer bytes after a request are that request's answer).
    let pending = AtomicUsize::new(0);
    let up = pump(cr, sw, plan.up, &shared, &pending, true);
    let down = pump(sr, cw, plan.down, &shared, &pending, false);
    tokio::pin!(up, down);
    let (mut up_done, mut down_done) = (false, false);
    // Leaving drops both halves of both sockets: a cut is a closed connection both ways.
    while !(up_done && down_done) {
        tokio::select! {
            e = &mut up, if !up_done => {
                if e != Ended::Eof { break; }
                up_done = true;
            }
            e = &mut down, if !down_done => {
                if e != Ended::Eof { break; }
                down_done = true;
            }
        }
    }
    shared
        .in_server
        .fetch_sub(pending.load(Ordering::SeqCst), Ordering::SeqCst);
}

/// Splits a client's byte stream into whole HTTP requests (a head, then `Content-Length` bytes
/// of body; the clients here never send chunked bodies).
#[derive(Default)]
struct Requests {
    buf: Vec<u8>,
}

impl Requests {
    /// Takes in `bytes`; returns the requests they complete.
    fn push(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&self.buf[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            let whole = end + 4 + length;
            if self.buf.len() < whole {
                break;
            }
            out.push(self.buf.drain(..whole).collect());
        }
        out
    }
}

fn is_sync(request: &[u8]) -> bool {
    request.starts_with(b"POST /api/sync ")
}

/// Sends a duplicated request's second copy on a connection of its own; keeps the answer's
/// status.
async fn deliver_copy(request: Vec<u8>, shared: Arc<Shared>) {
    let target = *lock(&shared.target);
    let status = async {
        let mut s = TcpStream::connect(target).await.ok()?;
        s.write_all(&request).await.ok()?;
        let mut answer = Vec::new();
        let mut buf = vec![0u8; 16 * 1024];
        // The status line is all that is needed; read it whole.
        while !answer.windows(2).any(|w| w == b"\r\n") {
            let n = s.read(&mut buf).await.ok()?;
            if n == 0 {
                return None;
            }
            answer.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&answer)
            .split_whitespace()
            .nth(1)?
            .parse::<u16>()
            .ok()
    };
    let status = tokio::time::timeout(Duration::from_secs(120), status)
        .await
        .ok()
        .flatten()
        .unwrap_or(0);
    lock(&shared.copy_answers).push(status);
}

/// Copies `r` to `w`, pausing and cutting where `leg` says.
async fn pump(
    mut r: OwnedReadHalf,
    mut w: OwnedWriteHalf,
    mut leg: Leg,
    shared: &Arc<Shared>,
    pending: &AtomicUsize,
    up: bool,
) -> Ended {
    let stats = &shared.stats;
    let mut buf = vec![0u8; 16 * 1024];
    let mut sent = 0usize;
    let mut requests = Requests::default();
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) => {
                let _ = w.shutdown().await;
                return Ended::Eof;
            }
            Ok(n) => n,
            Err(_) => return Ended::Broken,
        };
        if !up
            && pending
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |p| p.checked_sub(1))
                .is_ok()
        {
            shared.in_server.fetch_sub(1, Ordering::SeqCst);
        }
        if leg.hold {
            // Nothing reaches the server until the first request is whole; that one never does.
            for request in requests.push(&buf[..n]) {
                if is_sync(&request) {
                    lock(&shared.held).push(request);
                    bump(&stats.hold_done);
                    return Ended::Cut;
                }
                if w.write_all(&request).await.is_err() {
                    return Ended::Broken;
                }
            }
            continue;
        }
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
                if up {
                    for request in requests.push(&chunk[..take]) {
                        pending.fetch_add(1, Ordering::SeqCst);
                        shared.in_server.fetch_add(1, Ordering::SeqCst);
                        if leg.duplicate && is_sync(&request) {
                            leg.duplicate = false;
                            bump(&stats.duplicate_done);
                            tokio::spawn(deliver_copy(request.clone(), shared.clone()));
                        }
                        if is_sync(&request) {
                            let mut kept = lock(&shared.forwarded);
                            if kept.len() == KEPT_REQUESTS {
                                kept.pop_front();
                            }
                            kept.push_back(request);
                        }
                    }
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
    fn requests_are_split_where_their_bodies_end() {
        let a = b"POST /api/sync HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc".to_vec();
        let b = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
        let stream = [a.clone(), b.clone()].concat();
        let mut requests = Requests::default();
        let mut got = Vec::new();
        // Byte by byte: a request is whole only once its body is.
        for byte in &stream {
            got.extend(requests.push(std::slice::from_ref(byte)));
        }
        assert_eq!(got, vec![a.clone(), b]);
        assert!(is_sync(&got[0]) && !is_sync(&got[1]));
        assert!(requests.push(&a[..a.len() - 1]).is_empty());
    }

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
