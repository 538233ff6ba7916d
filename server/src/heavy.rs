//! Admission for heavy work: merges of a sync, document loads and histories of the household
//! pages, exports, password hashes. At most `heavy_concurrency` such requests run at once and at
//! most `heavy_queue` wait; beyond that the answer is 503 with `Retry-After` at once (load
//! shedding), never an unbounded queue. A request is admitted before its body is read, so the
//! waiting ones hold a connection, not their bodies.
//!
//! Which routes are heavy is said where they are declared: `heavy.admits(post(handler))`
//! ([`Heavy::admits`]).
//!
//! A handler whose heavy part ends before its request does hands its slot on early through the
//! [`HeldSlot`] in its request's extensions: a sync after its commit, so that the next device's
//! merge does not wait on this one's pull. What such a handler does afterwards is bounded by a
//! limit of its own (`AppState::pulls`), so the slots still bound the merges' memory and CPU.
//!
//! The CPU-bound parts inside an admitted request run through [`cpu`], which moves them off
//! the async worker threads, so `/healthz` and light pages keep answering in milliseconds while
//! a household is expensive.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use tokio::sync::oneshot;

use crate::error::ApiError;

/// Seconds a shed request is told to wait: about one heavy request's time.
pub const RETRY_AFTER_SECS: u64 = 2;

/// The slots and the line. A freed slot goes to the waiting request that arrived first, where
/// every [`BYTES_PER_PLACE`] of its body count as one place further back: a sync's work grows
/// with what it carries, so an honest device's small sync is not stuck behind a row of maximal
/// pushes from devices trying to stall the server, while a large push is overtaken by a
/// bounded number of later arrivals only (it never starves).
pub struct Heavy {
    line: Mutex<Line>,
    concurrency: usize,
    queue: usize,
}

struct Line {
    running: usize,
    waiting: BinaryHeap<Waiter>,
    arrivals: u64,
}

/// Body bytes that count as one place in the line.
pub const BYTES_PER_PLACE: u64 = 4096;

/// A request in line: it is woken with its slot.
struct Waiter {
    /// Its place: arrival number plus its body's length in [`BYTES_PER_PLACE`].
    place: u64,
    arrival: u64,
    wake: oneshot::Sender<Slot>,
}

impl Waiter {
    fn key(&self) -> (u64, u64) {
        (self.place, self.arrival)
    }
}

impl PartialEq for Waiter {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for Waiter {}
impl PartialOrd for Waiter {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Waiter {
    /// The heap pops its greatest: the nearest place, then the earliest arrival.
    fn cmp(&self, other: &Self) -> Ordering {
        other.key().cmp(&self.key())
    }
}

/// A running heavy request's slot: dropping it hands the slot on.
pub struct Slot {
    heavy: Arc<Heavy>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.heavy.release();
    }
}

impl Heavy {
    pub fn new(concurrency: usize, queue: usize) -> Self {
        Heavy {
            line: Mutex::new(Line {
                running: 0,
                waiting: BinaryHeap::new(),
                arrivals: 0,
            }),
            concurrency: concurrency.max(1),
            queue,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Line> {
        // The line holds no invariant a panic elsewhere could have broken half-way.
        self.line.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A slot for a request whose body is `cost` bytes, after waiting in line; `None` when the
    /// line is full.
    pub async fn admit(self: &Arc<Self>, cost: u64) -> Option<Slot> {
        let wait = {
            let mut line = self.lock();
            if line.running < self.concurrency {
                line.running += 1;
                return Some(Slot {
                    heavy: self.clone(),
                });
            }
            if line.waiting.len() >= self.queue {
                // Requests that gave up waiting leave their place only now.
                line.waiting.retain(|w| !w.wake.is_closed());
                if line.waiting.len() >= self.queue {
                    return None;
                }
            }
            let (wake, wait) = oneshot::channel();
            line.arrivals += 1;
            let arrival = line.arrivals;
            line.waiting.push(Waiter {
                place: arrival.saturating_add(cost / BYTES_PER_PLACE),
                arrival,
                wake,
            });
            wait
        };
        wait.await.ok()
    }

    /// Hands a freed slot to the next request in line, or frees it.
    fn release(self: &Arc<Self>) {
        let mut line = self.lock();
        while let Some(next) = line.waiting.pop() {
            let slot = Slot {
                heavy: self.clone(),
            };
            match next.wake.send(slot) {
                Ok(()) => return,
                // That request gave up waiting; dropping its slot here would re-enter.
                Err(slot) => std::mem::forget(slot),
            }
        }
        line.running -= 1;
    }

    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.lock().waiting.len()
    }
}

/// The 503 of a shed request.
pub fn overloaded() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "overloaded",
        "服务器繁忙,请稍后重试;已提交的数据未受影响",
    )
    .retry_after(RETRY_AFTER_SECS)
}

impl Heavy {
    /// A route that does heavy work — it merges (a sync, a decision, a settlement), loads a
    /// whole household with its history, writes an export, or hashes a password — runs once
    /// admitted, or is shed.
    pub fn admits<S>(self: &Arc<Self>, route: MethodRouter<S>) -> MethodRouter<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        route.route_layer(axum::middleware::from_fn_with_state(self.clone(), admit))
    }
}

/// The slot of an admitted request, in its extensions: the handler may hand it on before it
/// answers ([`HeldSlot::release`]); otherwise it goes when the handler returns.
#[derive(Clone)]
pub struct HeldSlot(Arc<Mutex<Option<Slot>>>);

impl HeldSlot {
    fn new(slot: Slot) -> Self {
        HeldSlot(Arc::new(Mutex::new(Some(slot))))
    }

    /// Hands the slot on now; the request goes on outside the heavy limit.
    pub fn release(&self) {
        let slot = self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(slot);
    }
}

/// The layer of a heavy route: its request runs once admitted, or is shed.
async fn admit(State(heavy): State<Arc<Heavy>>, mut req: Request, next: Next) -> Response {
    // A body of unknown length (chunked) waits behind those that said theirs.
    let cost = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .unwrap_or(if req.method() == Method::GET {
            0
        } else {
            u64::MAX
        });
    let Some(slot) = heavy.admit(cost).await else {
        tracing::warn!(path = %req.uri().path(), "overloaded: request shed");
        return overloaded().into_response();
    };
    let held = HeldSlot::new(slot);
    req.extensions_mut().insert(held.clone());
    let response = next.run(req).await;
    held.release();
    response
}

/// Runs CPU-bound `f` without holding up the async worker threads: on a multi-threaded
/// runtime the current worker hands its other tasks over first (`block_in_place`); elsewhere
/// (single-threaded tests, the CLI) it simply runs.
pub fn cpu<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// `f(0)`, …, `f(n - 1)` in order, computed on this thread and as many more as the machine has
/// cores. A sync's merges are independent, household by household: spread, one request uses the
/// core that the other heavy slot leaves idle while its request waits on the database or is
/// the last of a round, without admitting more requests (their memory stays bounded by the
/// slots, and a hostile device's one-household pushes gain nothing). Callers run it inside
/// [`cpu`]. Hand-written over a thread pool crate: a scope and a shared counter are all it takes.
pub fn spread<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    // Read once: on Linux it reads the cgroup's CPU quota from files, too slow for every sync.
    static CORES: std::sync::LazyLock<usize> =
        std::sync::LazyLock::new(|| std::thread::available_parallelism().map_or(1, |t| t.get()));
    let threads = (*CORES).min(n);
    if threads <= 1 {
        return (0..n).map(f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if i >= n {
                return done;
            }
            done.push((i, f(i)));
        }
    };
    let mut all: Vec<(usize, T)> = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
        let mut all = work();
        for helper in helpers {
            match helper.join() {
                Ok(done) => all.extend(done),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        all
    });
    all.sort_unstable_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, t)| t).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn spread_work_comes_back_whole_and_in_order() {
        for n in [0, 1, 2, 3, 24, 101] {
            let out = spread(n, |i| i * i);
            assert_eq!(out, (0..n).map(|i| i * i).collect::<Vec<_>>(), "n = {n}");
        }
    }

    #[tokio::test]
    async fn a_released_slot_admits_the_next_request_while_the_first_goes_on() {
        let heavy = Arc::new(Heavy::new(1, 1));
        let held = HeldSlot::new(heavy.admit(10).await.expect("a free slot"));
        let still_running = held.clone();
        let next = {
            let heavy = heavy.clone();
            tokio::spawn(async move { heavy.admit(10).await.is_some() })
        };
        while heavy.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        still_running.release();
        assert!(
            next.await.expect("join"),
            "the waiting request got the slot"
        );
        // Releasing again, as the layer does at the end, hands on nothing more.
        held.release();
        assert_eq!(heavy.lock().running, 0, "every slot back");
        let _again = heavy.admit(10).await.expect("the line is free again");
        assert_eq!(heavy.lock().running, 1);
    }

    #[test]
    fn spread_work_runs_on_more_than_one_thread_where_there_are_cores() {
        let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
        let threads = spread(16, |_| {
            // Long enough that a helper thread starts before this thread has taken every item.
            std::thread::sleep(std::time::Duration::from_millis(5));
            std::thread::current().id()
        });
        let distinct: HashSet<_> = threads.into_iter().collect();
        assert_eq!(distinct.len() > 1, cores > 1, "{cores} cores, {distinct:?}");
    }

    #[tokio::test]
    async fn a_full_line_is_shed_and_a_freed_slot_admits_again() {
        let heavy = Arc::new(Heavy::new(1, 1));
        let first = heavy.admit(10).await.expect("a free slot");
        let waiting = {
            let heavy = heavy.clone();
            tokio::spawn(async move { heavy.admit(10).await.is_some() })
        };
        // Let the second request take its place in line.
        while heavy.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        assert!(heavy.admit(10).await.is_none(), "the line holds one");
        drop(first);
        assert!(waiting.await.expect("join"), "the one in line runs");
        assert!(heavy.admit(10).await.is_some());
    }

    /// Requests of these body sizes join the line one after another; each says its size on
    /// `done` once admitted.
    async fn line_up(
        heavy: &Arc<Heavy>,
        costs: impl IntoIterator<Item = u64>,
        done: &tokio::sync::mpsc::UnboundedSender<u64>,
    ) {
        for cost in costs {
            let (line, done) = (heavy.clone(), done.clone());
            tokio::spawn(async move {
                let _slot = line.admit(cost).await.expect("admitted");
                done.send(cost).expect("send");
            });
            let before = heavy.waiting();
            while heavy.waiting() == before {
                tokio::task::yield_now().await;
            }
        }
    }

    #[tokio::test]
    async fn small_requests_go_first_and_large_ones_are_overtaken_a_bounded_number_of_times() {
        let heavy = Arc::new(Heavy::new(1, 8));
        let running = heavy.admit(1).await.expect("a free slot");
        let (done, mut order) = tokio::sync::mpsc::unbounded_channel();
        line_up(&heavy, [900_000, 50_000, 1_200, 900_000], &done).await;
        // One that gave up waiting leaves no slot behind.
        let gave_up = {
            let heavy = heavy.clone();
            tokio::spawn(async move { heavy.admit(0).await.is_some() })
        };
        while heavy.waiting() < 5 {
            tokio::task::yield_now().await;
        }
        gave_up.abort();
        drop(running);
        let mut served = Vec::new();
        for _ in 0..4 {
            served.push(order.recv().await.expect("served"));
        }
        assert_eq!(served, [1_200, 50_000, 900_000, 900_000]);
        assert!(heavy.admit(1).await.is_some(), "every slot came back");

        // A 40 kB push counts ten places back: the nine small ones arriving next overtake it,
        // no more.
        let heavy = Arc::new(Heavy::new(1, 64));
        let running = heavy.admit(1).await.expect("a free slot");
        line_up(
            &heavy,
            std::iter::once(40_960).chain(std::iter::repeat_n(100, 20)),
            &done,
        )
        .await;
        drop(running);
        let mut served = Vec::new();
        for _ in 0..21 {
            served.push(order.recv().await.expect("served"));
        }
        assert_eq!(served.iter().position(|&c| c == 40_960), Some(9));
    }
}
