//! Throttling of password checks: the review form's `POST /login`, the review API's
//! `POST /api/review/login` and a device's `POST /api/enroll`.
//!
//! At most [`USER_FAILURES`] failed checks per username and [`IP_FAILURES`] per client address
//! in any [`WINDOW`]. Past that an attempt is answered 429 with `Retry-After` and a message in
//! Chinese *without checking the password* — also when it is right, so the sixth guess tells a
//! guesser nothing. A successful login clears its username's failures (not its address's: one
//! colleague signing in must not unlock a neighbour's guessing). The three routes share the
//! counts: a guess is a guess whichever form it comes through.
//!
//! **In memory, per process.** The records live in this process and are lost when it restarts;
//! several server processes (behind one proxy, on PostgreSQL) each keep their own, so with N
//! processes the real bound is N × the limits. That is acceptable: the limit exists to turn an
//! online guessing attack from thousands of guesses a minute into a handful per quarter hour,
//! and a small constant factor does not change that (argon2 already makes each guess slow). A
//! shared table would make every failed login a database write and give an attacker a table to
//! fill.
//!
//! **Bounded.** Each map holds at most [`MAX_KEYS`] keys of at most `limit` instants each. When
//! a new key finds the map full, keys with no failure left in the window go first, then the key
//! whose latest failure is oldest. Evicting a record thus takes fresh failures from many
//! addresses, each of them limited itself.
//!
//! **Hand-written.** `governor` limits *requests* (a GCRA cell per key); what counts here is
//! *failures*, a success must clear a key, and the answer must say when to retry. A sliding log
//! of instants per key in a bounded map does exactly that in a few dozen lines, with no
//! dependency.
//!
//! **Where.** Where the password is checked: [`crate::auth::login`], which every login handler
//! calls, asks [`LoginLimiter::begin`] first, which reserves a failure for the username and the
//! address (so that concurrent guesses cannot all slip through before the first one is
//! counted), and then says how the check ended: a wrong password, an unknown user or a disabled
//! account is a failure, the right password a success. A request refused before any password
//! was checked (a malformed body, a login form without its token) never reaches it. An attempt
//! whose check never ends (the client went away) stays counted.
//!
//! **The client's address** is the TCP peer's. When the peer is the loopback address — a
//! reverse proxy on the same host, as the README recommends for TLS — it is the last entry of
//! `X-Forwarded-For`, the one that proxy appended (entries before it are whatever the client
//! sent). Behind a proxy on another host every client shares that proxy's address and the
//! per-address limit applies to all of them together. IPv6 clients are counted per /64, the
//! block one subscriber usually holds.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;

/// Failed checks allowed per username in [`WINDOW`].
pub const USER_FAILURES: usize = 5;
/// Failed checks allowed per client address in [`WINDOW`]: a township office shares one.
pub const IP_FAILURES: usize = 20;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Keys kept per map (usernames, addresses).
pub const MAX_KEYS: usize = 10_000;
/// Usernames are cut to this many characters before they become keys.
const MAX_NAME_CHARS: usize = 64;

/// The failures of one kind of key: per key, the instants of its latest failures, oldest first.
#[derive(Debug)]
struct Log<K> {
    limit: usize,
    max_keys: usize,
    map: HashMap<K, VecDeque<Instant>>,
}

impl<K: Hash + Eq + Clone> Log<K> {
    fn new(limit: usize, max_keys: usize) -> Self {
        Log {
            limit,
            max_keys,
            map: HashMap::new(),
        }
    }

    /// How long `key` must still wait, when it has used up its failures.
    fn wait(&mut self, key: &K, now: Instant) -> Option<Duration> {
        let q = self.map.get_mut(key)?;
        prune(q, now);
        if q.is_empty() {
            self.map.remove(key);
            return None;
        }
        (q.len() >= self.limit).then(|| WINDOW.saturating_sub(now.duration_since(q[0])))
    }

    fn push(&mut self, key: &K, at: Instant) {
        if !self.map.contains_key(key) && self.map.len() >= self.max_keys {
            self.make_room(at);
        }
        let q = self.map.entry(key.clone()).or_default();
        q.push_back(at);
        while q.len() > self.limit {
            q.pop_front();
        }
    }

    /// Takes back one failure recorded at `at` (a reservation that was no failure).
    fn take_back(&mut self, key: &K, at: Instant) {
        if let Some(q) = self.map.get_mut(key) {
            if let Some(i) = q.iter().rposition(|t| *t == at) {
                q.remove(i);
            }
            if q.is_empty() {
                self.map.remove(key);
            }
        }
    }

    fn clear(&mut self, key: &K) {
        self.map.remove(key);
    }

    fn make_room(&mut self, now: Instant) {
        self.map.retain(|_, q| {
            prune(q, now);
            !q.is_empty()
        });
        if self.map.len() >= self.max_keys {
            let stalest = self
                .map
                .iter()
                .min_by_key(|(_, q)| q.back().copied())
                .map(|(k, _)| k.clone());
            if let Some(k) = stalest {
                self.map.remove(&k);
            }
        }
    }
}

fn prune(q: &mut VecDeque<Instant>, now: Instant) {
    while q.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
        q.pop_front();
    }
}

#[derive(Debug)]
struct Logs {
    users: Log<String>,
    ips: Log<IpAddr>,
}

/// The failed password checks of this process.
#[derive(Debug)]
pub struct LoginLimiter {
    logs: Mutex<Logs>,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        Self::new(USER_FAILURES, IP_FAILURES, MAX_KEYS)
    }
}

/// A password check under way: its failure is already counted, until [`LoginLimiter::finish`]
/// says otherwise.
#[derive(Debug)]
#[must_use]
pub struct Attempt {
    user: Option<String>,
    ip: Option<IpAddr>,
    at: Instant,
}

/// How a password check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Failed,
    Succeeded,
    /// Refused before any password was checked.
    NotChecked,
}

/// The key of a username: trimmed, lower-case (so case variants share one count), bounded.
fn user_key(username: &str) -> String {
    username
        .trim()
        .chars()
        .take(MAX_NAME_CHARS)
        .flat_map(char::to_lowercase)
        .collect()
}

/// The key of an address: IPv4 as is (also when mapped into IPv6), IPv6 by its /64.
fn ip_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

impl LoginLimiter {
    pub fn new(user_failures: usize, ip_failures: usize, max_keys: usize) -> Self {
        LoginLimiter {
            logs: Mutex::new(Logs {
                users: Log::new(user_failures.max(1), max_keys.max(1)),
                ips: Log::new(ip_failures.max(1), max_keys.max(1)),
            }),
        }
    }

    /// Starts a password check, or says how long to wait before one is allowed.
    pub fn begin(
        &self,
        username: Option<&str>,
        ip: Option<IpAddr>,
        now: Instant,
    ) -> Result<Attempt, Duration> {
        let user = username.map(user_key);
        let ip = ip.map(ip_key);
        let mut logs = self.logs.lock().unwrap_or_else(PoisonError::into_inner);
        let wait = [
            user.as_ref().and_then(|u| logs.users.wait(u, now)),
            ip.as_ref().and_then(|i| logs.ips.wait(i, now)),
        ]
        .into_iter()
        .flatten()
        .max();
        if let Some(wait) = wait {
            return Err(wait);
        }
        if let Some(u) = &user {
            logs.users.push(u, now);
        }
        if let Some(i) = &ip {
            logs.ips.push(i, now);
        }
        Ok(Attempt { user, ip, at: now })
    }

    pub fn finish(&self, attempt: Attempt, outcome: Outcome) {
        let mut logs = self.logs.lock().unwrap_or_else(PoisonError::into_inner);
        match outcome {
            Outcome::Failed => {}
            Outcome::Succeeded => {
                if let Some(u) = &attempt.user {
                    logs.users.clear(u);
                }
                if let Some(i) = &attempt.ip {
                    logs.ips.take_back(i, attempt.at);
                }
            }
            Outcome::NotChecked => {
                if let Some(u) = &attempt.user {
                    logs.users.take_back(u, attempt.at);
                }
                if let Some(i) = &attempt.ip {
                    logs.ips.take_back(i, attempt.at);
                }
            }
        }
    }
}

/// The client's address (see the module's notes on proxies); none when the server was not
/// started with connection info (tests that call the router directly).
pub fn client_ip(headers: &HeaderMap, peer: Option<SocketAddr>) -> Option<IpAddr> {
    let peer = peer?.ip();
    if !peer.is_loopback() {
        return Some(peer);
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .rfind(|s| !s.trim().is_empty())
        .and_then(|last| last.trim().parse::<IpAddr>().ok());
    Some(forwarded.unwrap_or(peer))
}

/// The client's address of a request, as [`client_ip`] tells it.
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        Ok(ClientIp(client_ip(&parts.headers, peer)))
    }
}

/// Whole seconds to wait, rounded up: what `Retry-After` says.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

/// The message of a refused attempt.
pub fn throttled_message(wait: Duration) -> String {
    let minutes = retry_after_secs(wait).div_ceil(60).max(1);
    format!("登录失败次数过多,请 {minutes} 分钟后再试")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    #[test]
    fn five_failures_lock_the_username_for_the_window() {
        let l = LoginLimiter::default();
        let t0 = Instant::now();
        for i in 0..5 {
            let a = l
                .begin(Some("zhang"), ip("10.0.0.1"), t0 + Duration::from_secs(i))
                .expect("allowed");
            l.finish(a, Outcome::Failed);
        }
        let wait = l
            .begin(Some("Zhang "), ip("10.0.0.2"), t0 + Duration::from_secs(10))
            .expect_err("locked, whatever the case, spaces or address");
        assert_eq!(wait, WINDOW - Duration::from_secs(10));
        // Another user from the same address is not affected.
        assert!(l.begin(Some("li"), ip("10.0.0.1"), t0).is_ok());
        // The oldest failure leaves the window: one more try.
        assert!(l.begin(Some("zhang"), None, t0 + WINDOW).is_ok());
    }

    #[test]
    fn a_success_clears_the_username_but_not_the_address() {
        let l = LoginLimiter::new(5, 6, 100);
        let t = Instant::now();
        for _ in 0..4 {
            let a = l.begin(Some("zhang"), ip("10.0.0.1"), t).expect("allowed");
            l.finish(a, Outcome::Failed);
        }
        let a = l.begin(Some("zhang"), ip("10.0.0.1"), t).expect("allowed");
        l.finish(a, Outcome::Succeeded);
        for _ in 0..2 {
            let a = l.begin(Some("zhang"), ip("10.0.0.1"), t).expect("allowed");
            l.finish(a, Outcome::Failed);
        }
        // Six failures from the address: it is locked, for every name.
        assert!(l.begin(Some("wang"), ip("10.0.0.1"), t).is_err());
        assert!(l.begin(Some("wang"), ip("10.0.0.9"), t).is_ok());
    }

    #[test]
    fn reservations_count_until_finished() {
        let l = LoginLimiter::new(2, 100, 100);
        let t = Instant::now();
        let a = l.begin(Some("zhang"), None, t).expect("allowed");
        let b = l.begin(Some("zhang"), None, t).expect("allowed");
        assert!(l.begin(Some("zhang"), None, t).is_err(), "two under way");
        l.finish(a, Outcome::NotChecked);
        l.finish(b, Outcome::Failed);
        assert!(l.begin(Some("zhang"), None, t).is_ok());
    }

    #[test]
    fn maps_stay_bounded() {
        let l = LoginLimiter::new(1, 1000, 3);
        let t = Instant::now();
        for (i, name) in ["a", "b", "c", "d", "e"].iter().enumerate() {
            let a = l
                .begin(Some(name), None, t + Duration::from_secs(i as u64))
                .expect("allowed");
            l.finish(a, Outcome::Failed);
        }
        let logs = l.logs.lock().expect("lock");
        assert_eq!(logs.users.map.len(), 3);
        assert!(logs.users.map.contains_key("e") && !logs.users.map.contains_key("a"));
    }

    #[test]
    fn addresses_behind_a_local_proxy_and_ipv6_blocks() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.2.3.4, 203.0.113.7"),
        );
        let local: SocketAddr = "127.0.0.1:5000".parse().expect("addr");
        let remote: SocketAddr = "198.51.100.1:5000".parse().expect("addr");
        assert_eq!(client_ip(&h, Some(local)), ip("203.0.113.7"));
        assert_eq!(client_ip(&h, Some(remote)), ip("198.51.100.1"));
        assert_eq!(client_ip(&HeaderMap::new(), Some(local)), ip("127.0.0.1"));
        assert_eq!(client_ip(&h, None), None);
        assert_eq!(
            ip_key("2001:db8:1:2:3:4:5:6".parse().expect("v6")),
            "2001:db8:1:2::".parse::<IpAddr>().expect("v6")
        );
        assert_eq!(
            ip_key("::ffff:10.0.0.1".parse().expect("v6")),
            "10.0.0.1".parse::<IpAddr>().expect("v4")
        );
    }

    #[test]
    fn the_refusal_says_whole_minutes() {
        assert_eq!(
            throttled_message(Duration::from_secs(61)),
            "登录失败次数过多,请 2 分钟后再试"
        );
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
    }
}
