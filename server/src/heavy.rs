//! Admission for heavy work: merges of a sync, document loads and histories of the household
//! pages, exports, password hashes. At most `heavy_concurrency` such requests run at once and at
//! most `heavy_queue` wait; beyond that the answer is 503 with `Retry-After` at once (load
//! shedding), never an unbounded queue. A request is admitted before its body is read, so the
//! waiting ones hold a connection, not their bodies.
//!
//! The CPU-bound parts inside an admitted request run through [`cpu`], which moves them off
//! the async worker threads, so `/healthz` and light pages keep answering in milliseconds while
//! a household is expensive.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;

/// Seconds a shed request is told to wait: about one heavy request's time.
pub const RETRY_AFTER_SECS: u64 = 2;

pub struct Heavy {
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    queue: usize,
}

impl Heavy {
    pub fn new(concurrency: usize, queue: usize) -> Self {
        Heavy {
            slots: Arc::new(Semaphore::new(concurrency.max(1))),
            waiting: AtomicUsize::new(0),
            queue,
        }
    }

    /// A slot, after waiting in line; `None` when the line is full.
    pub async fn admit(&self) -> Option<OwnedSemaphorePermit> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Some(permit);
        }
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.queue {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        let permit = self.slots.clone().acquire_owned().await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        permit.ok()
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

/// Whether a request is heavy: it merges (a sync, a decision, a settlement), loads a whole
/// household with its history, writes an export, or hashes a password.
pub fn is_heavy(method: &Method, path: &str) -> bool {
    let post = method == Method::POST;
    match path {
        "/api/sync" | "/api/enroll" | "/login" | "/api/review/login" => post,
        "/api/review/decide" | "/api/review/settle" => post,
        _ => {
            path.starts_with("/export/")
                || path.starts_with("/households/")
                || path.starts_with("/api/review/households/")
        }
    }
}

/// Middleware of every route: a heavy request runs once admitted, or is shed; the rest pass.
pub async fn admit(State(heavy): State<Arc<Heavy>>, req: Request, next: Next) -> Response {
    if !is_heavy(req.method(), req.uri().path()) {
        return next.run(req).await;
    }
    let Some(_slot) = heavy.admit().await else {
        tracing::warn!(path = %req.uri().path(), "overloaded: request shed");
        return overloaded().into_response();
    };
    next.run(req).await
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_documents_exports_and_passwords_are_heavy() {
        for (method, path) in [
            (Method::POST, "/api/sync"),
            (Method::POST, "/api/enroll"),
            (Method::POST, "/login"),
            (Method::GET, "/households/hh-1"),
            (Method::POST, "/households/hh-1/decide"),
            (Method::GET, "/api/review/households/hh-1"),
            (Method::GET, "/export/roster"),
        ] {
            assert!(is_heavy(&method, path), "{method} {path}");
        }
        for (method, path) in [
            (Method::GET, "/healthz"),
            (Method::GET, "/login"),
            (Method::GET, "/report"),
            (Method::GET, "/assets/review.css"),
            (Method::POST, "/api/attachments/status"),
        ] {
            assert!(!is_heavy(&method, path), "{method} {path}");
        }
    }

    #[tokio::test]
    async fn a_full_line_is_shed_and_a_freed_slot_admits_again() {
        let heavy = Arc::new(Heavy::new(1, 1));
        let first = heavy.admit().await.expect("a free slot");
        let waiting = {
            let heavy = heavy.clone();
            tokio::spawn(async move { heavy.admit().await.is_some() })
        };
        // Let the second request take its place in line.
        while heavy.waiting.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        assert!(heavy.admit().await.is_none(), "the line holds one");
        drop(first);
        assert!(waiting.await.expect("join"), "the one in line runs");
        assert!(heavy.admit().await.is_some());
    }
}
