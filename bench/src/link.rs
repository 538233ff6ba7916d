//! A TCP proxy standing for the network between a device and a server: it counts what crosses
//! it, and optionally behaves like a slow link.
//!
//! Counting: bytes each way, connections, and messages each way. A message is a burst of bytes in
//! one direction after bytes in the other (or at the start of a connection): with HTTP/1.1 and no
//! pipelining, which is what every client here speaks, client→server bursts are requests and
//! server→client bursts are responses, so `requests` is the number of round trips.
//!
//! Pacing ([`LinkSpec::rate`]): each direction is a pipe of that many bytes per second whose
//! bytes arrive half the round-trip time after they leave. Bytes are cut into segments of
//! [`SEGMENT`] bytes; a segment leaves when the ones before it have left (serialisation at the
//! rate) and is delivered `rtt / 2` later, so the delay is pipelined, not added per segment. A new
//! connection's first bytes wait one round trip (the TCP handshake the client did not see on
//! loopback). Not modelled: loss, slow start, the receive window; the proxy buffers what the
//! sender writes, as a deep queue at the bottleneck would.

use std::net::SocketAddr;
use std::ops::Sub;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

/// The largest piece of data delivered at once on a paced link (an Ethernet-sized segment).
pub const SEGMENT: usize = 1_460;

/// How the link behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkSpec {
    /// Bytes per second each way; `None`: as fast as loopback.
    pub rate: Option<u64>,
    /// Round-trip time added to the loopback's own.
    pub rtt: Duration,
}

impl LinkSpec {
    /// Loopback, counted only.
    pub const LOOPBACK: LinkSpec = LinkSpec {
        rate: None,
        rtt: Duration::ZERO,
    };

    /// A 2G (GPRS/EDGE class) link: 64 kbit/s each way, 300 ms round trip.
    pub const SLOW_2G: LinkSpec = LinkSpec {
        rate: Some(64_000 / 8),
        rtt: Duration::from_millis(300),
    };

    /// What the link is, for a table.
    pub fn describe(&self) -> String {
        match self.rate {
            None if self.rtt.is_zero() => "loopback".into(),
            None => format!("loopback + {} ms RTT", self.rtt.as_millis()),
            Some(r) => format!(
                "{} kbit/s each way, {} ms RTT",
                r * 8 / 1000,
                self.rtt.as_millis()
            ),
        }
    }

    /// The least time `up` bytes one way and `down` bytes back take over this link in
    /// `round_trips` exchanges on one new connection: handshake, latency, serialisation.
    pub fn ideal_seconds(&self, up: u64, down: u64, round_trips: u64) -> f64 {
        let rtt = self.rtt.as_secs_f64();
        let wire = self.rate.map_or(0.0, |r| (up + down) as f64 / r as f64);
        rtt * (1 + round_trips) as f64 + wire
    }
}

/// What crossed the link (a snapshot; subtract two for what happened between them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkCounts {
    pub connections: u64,
    pub bytes_up: u64,
    pub bytes_down: u64,
    /// Client→server messages: HTTP requests.
    pub requests: u64,
    /// Server→client messages: HTTP responses.
    pub responses: u64,
}

impl Sub for LinkCounts {
    type Output = LinkCounts;

    fn sub(self, o: LinkCounts) -> LinkCounts {
        LinkCounts {
            connections: self.connections - o.connections,
            bytes_up: self.bytes_up - o.bytes_up,
            bytes_down: self.bytes_down - o.bytes_down,
            requests: self.requests - o.requests,
            responses: self.responses - o.responses,
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    connections: AtomicU64,
    bytes: [AtomicU64; 2],
    messages: [AtomicU64; 2],
}

const UP: u8 = 0;
const DOWN: u8 = 1;
/// No bytes yet on a connection.
const NONE: u8 = 2;

/// A running link; stops (closing every connection through it) when dropped.
pub struct Link {
    /// `http://127.0.0.1:port`: where clients connect instead of the target.
    pub url: String,
    pub spec: LinkSpec,
    counters: Arc<Counters>,
    task: JoinHandle<()>,
}

impl Drop for Link {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Link {
    /// Listens on a free loopback port and forwards to `target` (`http://ip:port`, a path or
    /// trailing slash allowed). Must be called inside a Tokio runtime.
    pub async fn start(target: &str, spec: LinkSpec) -> Result<Link, String> {
        let addr = target
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or_default();
        let target: SocketAddr = addr
            .parse()
            .map_err(|e| format!("link target {target}: {e}"))?;
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("link: bind: {e}"))?;
        let local = listener
            .local_addr()
            .map_err(|e| format!("link: address: {e}"))?;
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn({
            let counters = counters.clone();
            async move {
                let mut connections = JoinSet::new();
                loop {
                    tokio::select! {
                        accepted = listener.accept() => {
                            let Ok((client, _)) = accepted else { continue };
                            counters.connections.fetch_add(1, Ordering::Relaxed);
                            connections.spawn(connection(client, target, spec, counters.clone()));
                        }
                        // Reap finished connections so the set does not grow.
                        Some(_) = connections.join_next(), if !connections.is_empty() => {}
                    }
                }
            }
        });
        Ok(Link {
            url: format!("http://{local}"),
            spec,
            counters,
            task,
        })
    }

    pub fn counts(&self) -> LinkCounts {
        let c = &self.counters;
        let g = |a: &AtomicU64| a.load(Ordering::SeqCst);
        LinkCounts {
            connections: g(&c.connections),
            bytes_up: g(&c.bytes[UP as usize]),
            bytes_down: g(&c.bytes[DOWN as usize]),
            requests: g(&c.messages[UP as usize]),
            responses: g(&c.messages[DOWN as usize]),
        }
    }
}

async fn connection(client: TcpStream, target: SocketAddr, spec: LinkSpec, c: Arc<Counters>) {
    let accepted = Instant::now();
    let Ok(server) = TcpStream::connect(target).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let last = Arc::new(AtomicU8::new(NONE));
    // The client's first bytes could not have left before the handshake's round trip.
    let up = direction(
        cr,
        sw,
        spec,
        accepted + spec.rtt,
        UP,
        last.clone(),
        c.clone(),
    );
    let down = direction(sr, cw, spec, accepted, DOWN, last, c);
    tokio::join!(up, down);
}

/// One direction of one connection: a reader that stamps each segment with its delivery time,
/// and a writer that delivers it then.
async fn direction(
    mut r: OwnedReadHalf,
    mut w: OwnedWriteHalf,
    spec: LinkSpec,
    mut free_from: Instant,
    dir: u8,
    last: Arc<AtomicU8>,
    c: Arc<Counters>,
) {
    // `None` closes the writing side once everything before it is delivered.
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Option<Vec<u8>>)>();
    let paced = spec.rate.is_some() || !spec.rtt.is_zero();
    let half_rtt = spec.rtt / 2;
    let reader = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            c.bytes[dir as usize].fetch_add(n as u64, Ordering::SeqCst);
            if last.swap(dir, Ordering::SeqCst) != dir {
                c.messages[dir as usize].fetch_add(1, Ordering::SeqCst);
            }
            let segment = if paced { SEGMENT } else { n };
            for piece in buf[..n].chunks(segment) {
                let now = Instant::now();
                let start = free_from.max(now);
                let wire = spec.rate.map_or(Duration::ZERO, |rate| {
                    Duration::from_secs_f64(piece.len() as f64 / rate as f64)
                });
                free_from = start + wire;
                if tx
                    .send((free_from + half_rtt, Some(piece.to_vec())))
                    .is_err()
                {
                    return;
                }
            }
        }
        let _ = tx.send((free_from + half_rtt, None));
    };
    let writer = async move {
        while let Some((at, data)) = rx.recv().await {
            if paced {
                tokio::time::sleep_until(at).await;
            }
            match data {
                Some(bytes) => {
                    if w.write_all(&bytes).await.is_err() {
                        return;
                    }
                }
                None => {
                    let _ = w.shutdown().await;
                    return;
                }
            }
        }
    };
    tokio::join!(reader, writer);
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// An echo-style server: answers each received burst with `reply` bytes.
    async fn server(reply: usize) -> String {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    let mut want = 0usize;
                    loop {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => want += n,
                        }
                        // Requests of 1,000 bytes each.
                        while want >= 1_000 {
                            want -= 1_000;
                            if s.write_all(&vec![7u8; reply]).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        format!("http://{addr}")
    }

    async fn exchange(url: &str, rounds: usize, reply: usize) -> Duration {
        let started = Instant::now();
        let mut s = TcpStream::connect(url.trim_start_matches("http://"))
            .await
            .expect("connect");
        for _ in 0..rounds {
            s.write_all(&[1u8; 1_000]).await.expect("send");
            let mut got = vec![0u8; reply];
            s.read_exact(&mut got).await.expect("reply");
        }
        started.elapsed()
    }

    #[tokio::test]
    async fn counts_bytes_and_exchanges() {
        let target = server(500).await;
        let link = Link::start(&target, LinkSpec::LOOPBACK)
            .await
            .expect("link");
        exchange(&link.url, 3, 500).await;
        let c = link.counts();
        assert_eq!((c.bytes_up, c.bytes_down), (3_000, 1_500));
        assert_eq!((c.requests, c.responses, c.connections), (3, 3, 1));
    }

    #[tokio::test]
    async fn paces_at_the_rate_and_delays_by_the_round_trip() {
        let target = server(16_000).await;
        let spec = LinkSpec {
            rate: Some(64_000),
            rtt: Duration::from_millis(100),
        };
        let link = Link::start(&target, spec).await.expect("link");
        let took = exchange(&link.url, 2, 16_000).await.as_secs_f64();
        // Handshake + 2 round trips = 0.3 s; 34,000 bytes at 64 kB/s = 0.53 s.
        let ideal = spec.ideal_seconds(2_000, 32_000, 2);
        assert!((0.82..0.84).contains(&ideal), "{ideal}");
        // Delays added per segment instead of pipelined would cost 24 x 50 ms more.
        assert!(
            took >= ideal - 0.01 && took < ideal + 0.8,
            "{took} vs {ideal}"
        );
    }
}
