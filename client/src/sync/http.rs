//! Sending one request: the HTTP client, decoding answers and errors, and sending again when
//! the server sheds load or a kept-alive connection was closed under the request. Apart from
//! the sync's rounds so that the retry policy reads (and is tested) on its own.

use std::time::Duration;

use zoufang_shared::wire::ErrorBody;

use super::{BUSY_RETRIES, DEFAULT_BUSY_WAIT_SECS, MAX_BUSY_WAIT_SECS, SyncError, SyncReport};

/// Seconds a kept-alive connection may idle before the device drops it: well under the server's
/// header timeout (10 s by default), which closes idle connections, so a request after a long
/// local step (applying a large pull on a slow phone) does not meet a connection the server is
/// closing at that moment.
const POOL_IDLE_SECS: u64 = 4;

/// The HTTP client a device syncs with (the bench's devices use it too, so that they meet the
/// server's connection handling as devices do).
pub fn http() -> Result<reqwest::Client, SyncError> {
    reqwest::Client::builder()
        .pool_idle_timeout(Duration::from_secs(POOL_IDLE_SECS))
        .connect_timeout(Duration::from_secs(20))
        .timeout(Duration::from_secs(300))
        .build()
        .map_err(|e| network(&e))
}

/// A successful JSON answer, decoded; else the server's error.
pub(super) async fn json_answer<T: serde::de::DeserializeOwned>(
    res: reqwest::Response,
) -> Result<T, SyncError> {
    if !res.status().is_success() {
        return Err(server_error(res).await);
    }
    json_body(res).await
}

/// The answer's JSON body: a body cut off on the way is the link's failure ([`SyncError::Network`],
/// retried like any), one that arrived whole but does not parse is [`SyncError::Protocol`].
pub(super) async fn json_body<T: serde::de::DeserializeOwned>(
    res: reqwest::Response,
) -> Result<T, SyncError> {
    let body = res.bytes().await.map_err(|e| network(&e))?;
    serde_json::from_slice(&body).map_err(|e| SyncError::Protocol(e.to_string()))
}

pub(super) async fn server_error(res: reqwest::Response) -> SyncError {
    let status = res.status();
    match res.json::<ErrorBody>().await {
        Ok(body) => SyncError::Server(body.error),
        Err(_) => SyncError::Server(format!("HTTP {status}")),
    }
}

/// The seconds a 503 answer asks to wait, capped; `None` when it is not the server shedding
/// load (a 503 from a proxy, say, is an error like any other).
fn busy_wait(retry_after: Option<&str>, body: &[u8]) -> Option<u64> {
    let code = serde_json::from_slice::<ErrorBody>(body).ok()?.code;
    if !matches!(code.as_str(), "busy" | "overloaded") {
        return None;
    }
    // Only the delay in seconds: the server never sends an HTTP date.
    let secs = retry_after
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(DEFAULT_BUSY_WAIT_SECS);
    Some(secs.min(MAX_BUSY_WAIT_SECS))
}

/// Up to a quarter more than `secs`: devices shed at the same moment do not all come back at
/// the same moment.
fn jittered(secs: u64) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    // A fresh `RandomState` is seeded differently each time; randomness enough for a spread.
    let noise = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let base = secs * 1000;
    Duration::from_millis(base + noise % (base / 4 + 1))
}

/// Sends the request `make` builds, and again (built anew) while the server answers that it is
/// busy, after the wait it asks for, at most [`BUSY_RETRIES`] times. `progress` hears of each
/// wait through [`SyncReport::retry_in`]. Any other answer is returned as it is.
pub(super) async fn send(
    make: impl Fn() -> reqwest::RequestBuilder,
    report: &mut SyncReport,
    progress: &mut impl FnMut(&SyncReport),
) -> Result<reqwest::Response, SyncError> {
    for retry in 0..=BUSY_RETRIES {
        let res = send_once(&make).await?;
        if res.status() != reqwest::StatusCode::SERVICE_UNAVAILABLE {
            return Ok(res);
        }
        let retry_after = res
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = res.bytes().await.map_err(|e| network(&e))?;
        let Some(secs) = busy_wait(retry_after.as_deref(), &body) else {
            return Err(match serde_json::from_slice::<ErrorBody>(&body) {
                Ok(b) => SyncError::Server(b.error),
                Err(_) => SyncError::Server("HTTP 503 Service Unavailable".into()),
            });
        };
        if retry == BUSY_RETRIES {
            break;
        }
        report.busy_retries += 1;
        report.retry_in = Some(secs);
        progress(report);
        tokio::time::sleep(jittered(secs)).await;
        report.retry_in = None;
    }
    Err(SyncError::Busy(BUSY_RETRIES))
}

/// Sends once, and once more on a fresh connection when the first attempt failed before any
/// answer (a kept-alive connection the server closed, a reset): every request the sync makes is
/// safe to repeat (pushes are idempotent, upload chunks carry their offset, reads are reads).
/// A timeout is not repeated: the server may still be working on it.
async fn send_once(
    make: &impl Fn() -> reqwest::RequestBuilder,
) -> Result<reqwest::Response, SyncError> {
    match make().send().await {
        Ok(res) => Ok(res),
        Err(e) if !e.is_timeout() => {
            tracing::debug!(error = %e, "request failed before an answer; sending it again");
            make().send().await.map_err(|e| network(&e))
        }
        Err(e) => Err(network(&e)),
    }
}

/// A request that got no answer. The transport's text (English, about sockets) goes to the log
/// for whoever supports the device; the surveyor reads what to do.
pub(super) fn network(e: &reqwest::Error) -> SyncError {
    tracing::warn!(error = %e, "no answer from the server");
    SyncError::Network(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(code: &str) -> Vec<u8> {
        serde_json::to_vec(&ErrorBody {
            code: code.into(),
            error: "服务器繁忙".into(),
        })
        .expect("JSON")
    }

    #[test]
    fn only_the_servers_own_busy_answers_are_waited_for() {
        assert_eq!(busy_wait(Some("7"), &body("overloaded")), Some(7));
        assert_eq!(busy_wait(Some(" 3 "), &body("busy")), Some(3));
        assert_eq!(
            busy_wait(Some("86400"), &body("busy")),
            Some(MAX_BUSY_WAIT_SECS),
            "capped"
        );
        assert_eq!(
            busy_wait(None, &body("busy")),
            Some(DEFAULT_BUSY_WAIT_SECS),
            "no header: the default wait"
        );
        assert_eq!(
            busy_wait(Some("Wed, 21 Oct 2026 07:28:00 GMT"), &body("busy")),
            Some(DEFAULT_BUSY_WAIT_SECS)
        );
        assert_eq!(busy_wait(Some("1"), &body("maintenance")), None);
        assert_eq!(busy_wait(Some("1"), b"<html>503</html>"), None, "a proxy's");
    }

    #[test]
    fn the_wait_is_spread_over_a_quarter_more() {
        for secs in [0, 1, 2, 60] {
            let wait = jittered(secs);
            assert!(
                wait >= Duration::from_secs(secs) && wait <= Duration::from_millis(secs * 1250),
                "{secs} s: {wait:?}"
            );
        }
    }

    /// A peer that reads each request and closes the first connection without answering (what a
    /// server closing an idle kept-alive connection looks like to the client), then answers.
    #[tokio::test]
    async fn a_connection_closed_before_the_answer_is_tried_once_more() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let peer = tokio::spawn(async move {
            for n in 0..2 {
                let (mut socket, _) = listener.accept().await.expect("accept");
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await.expect("read");
                if n == 1 {
                    let answer =
                        "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";
                    socket.write_all(answer.as_bytes()).await.expect("write");
                }
            }
        });
        let client = http().expect("client");
        let url = format!("http://{addr}/api/standards");
        let res = send_once(&|| client.get(&url)).await.expect("second try");
        assert_eq!(res.status(), reqwest::StatusCode::OK);
        peer.await.expect("both connections seen");
    }
}
