//! Talking to the server: enrolling this device, and syncing.
//!
//! A sync is a few rounds of one request each: push what the server lacks and pull what others
//! changed, in the same round trip. It repeats only while there is more to push or pull (pages
//! are capped in size, and so is the number of changes of one household per push) or the server
//! asks for a household in full.
//!
//! A server under load sheds requests with 503 and `Retry-After`; the request is sent again
//! after that wait, a few times, and only then does the sync give up. Sending a sync request
//! twice is harmless: the server ignores changes it already has.

use std::time::Duration;

use zoufang_shared::wire::{
    self, AttachmentStatusRequest, AttachmentStatusResponse, EnrollRequest, EnrollResponse,
    ErrorBody, PROTOCOL_VERSION, Push, SYNC_CONTENT_TYPE, SyncRequest, SyncResponse, UploadState,
};

use zoufang_shared::wire::bundle::{self, Bundle, BundleError, BundleReply, BundledAttachment};

use crate::store::{Rejection, Store, StoreError, SyncOutcome};

/// Bytes of changes pushed per round, and pulled per round.
pub const PUSH_BYTES_PER_ROUND: usize = 4 * 1024 * 1024;
pub const PULL_BYTES_PER_ROUND: u32 = 8 * 1024 * 1024;
/// A sync that needs more rounds than this stops and says so (it resumes next time).
pub const MAX_ROUNDS: usize = 20;
/// Times one request is sent again after the server answered that it is busy.
pub const BUSY_RETRIES: usize = 5;
/// The longest wait before sending again, whatever `Retry-After` says: a server asking for
/// longer is better tried again at the next sync.
pub const MAX_BUSY_WAIT_SECS: u64 = 60;
/// The wait when a busy answer names none.
const DEFAULT_BUSY_WAIT_SECS: u64 = 2;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("本设备尚未登记到服务器,请先运行 zoufang enroll")]
    NotEnrolled,
    #[error("无法连接服务器:{0}")]
    Network(String),
    #[error("服务器拒绝:{0}")]
    Server(String),
    #[error("服务器繁忙,已重试 {0} 次仍未成功,请稍后再同步;本机数据未受影响")]
    Busy(usize),
    #[error("服务器返回的数据无效:{0}")]
    Protocol(String),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Bundle(#[from] BundleError),
}

/// Progress of a sync, for a progress line or a UI.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SyncReport {
    pub rounds: usize,
    pub pushed_households: usize,
    pub pushed_bytes: usize,
    pub accepted: usize,
    pub pulled_changes: usize,
    pub households_updated: usize,
    /// Households that left the user's areas and were removed from this device.
    pub households_removed: usize,
    /// Of those, how many had edits not yet sent (lost with them).
    pub removed_unsent: usize,
    pub bytes_up: usize,
    pub bytes_down: usize,
    pub rejected: Vec<Rejection>,
    pub attachments_uploaded: usize,
    pub attachment_bytes: usize,
    /// Stopped at [`MAX_ROUNDS`] with work left.
    pub incomplete: bool,
    /// Requests the server turned away as busy and that were sent again.
    pub busy_retries: usize,
    /// Set while waiting for a busy server: seconds until the request is sent again.
    pub retry_in: Option<u64>,
    /// The server's standards table differed from this device's and replaced it.
    pub standards_updated: bool,
}

impl SyncReport {
    /// What to tell the user while the sync waits for a busy server.
    pub fn notice(&self) -> Option<String> {
        self.retry_in
            .map(|secs| format!("服务器繁忙,{secs} 秒后重试……"))
    }
}

/// Seconds a kept-alive connection may idle before the device drops it: well under the server's
/// header timeout (10 s by default), which closes idle connections, so a request after a long
/// local step (applying a large pull on a slow phone) does not meet a connection the server is
/// closing at that moment.
const POOL_IDLE_SECS: u64 = 4;

fn http() -> Result<reqwest::Client, SyncError> {
    reqwest::Client::builder()
        .pool_idle_timeout(Duration::from_secs(POOL_IDLE_SECS))
        .connect_timeout(Duration::from_secs(20))
        .timeout(Duration::from_secs(300))
        .build()
        .map_err(|e| SyncError::Network(e.to_string()))
}

/// A successful JSON answer, decoded; else the server's error.
async fn json_answer<T: serde::de::DeserializeOwned>(
    res: reqwest::Response,
) -> Result<T, SyncError> {
    if !res.status().is_success() {
        return Err(server_error(res).await);
    }
    json_body(res).await
}

/// The answer's JSON body: a body cut off on the way is the link's failure ([`SyncError::Network`],
/// retried like any), one that arrived whole but does not parse is [`SyncError::Protocol`].
async fn json_body<T: serde::de::DeserializeOwned>(res: reqwest::Response) -> Result<T, SyncError> {
    let body = res
        .bytes()
        .await
        .map_err(|e| SyncError::Network(e.to_string()))?;
    serde_json::from_slice(&body).map_err(|e| SyncError::Protocol(e.to_string()))
}

async fn server_error(res: reqwest::Response) -> SyncError {
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
async fn send(
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
        let body = res
            .bytes()
            .await
            .map_err(|e| SyncError::Network(e.to_string()))?;
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
            make()
                .send()
                .await
                .map_err(|e| SyncError::Network(e.to_string()))
        }
        Err(e) => Err(SyncError::Network(e.to_string())),
    }
}

/// Signs this device in with the user's password; stores the server, token and user.
pub async fn enroll(
    store: &Store,
    server: &str,
    username: &str,
    password: &str,
    device_name: &str,
) -> Result<EnrollResponse, SyncError> {
    let server = server.trim_end_matches('/');
    let identity = store.identity()?;
    let res = http()?
        .post(format!("{server}/api/enroll"))
        .json(&EnrollRequest {
            username: username.to_owned(),
            password: password.to_owned(),
            device_id: identity.device_id.clone(),
            device_name: device_name.to_owned(),
            actor: identity.actor.to_hex_string(),
        })
        .send()
        .await
        .map_err(|e| SyncError::Network(e.to_string()))?;
    let body: EnrollResponse = json_answer(res).await?;
    store.set_setting("server_url", server)?;
    store.set_setting("token", &body.token)?;
    store.set_setting("user_id", &body.user_id)?;
    store.set_setting("user_name", &body.user_name)?;
    store.set_setting("role", &body.role)?;
    store.set_setting("areas", &body.areas.join(","))?;
    Ok(body)
}

/// The request carrying `pending` and the device's pull position.
fn request(
    store: &Store,
    pending: Vec<crate::store::PendingPush>,
    max_pull_bytes: u32,
) -> Result<SyncRequest, SyncError> {
    let mut req = SyncRequest {
        protocol: PROTOCOL_VERSION,
        cursor: store.sync_cursor()?,
        scope: store.sync_scope()?,
        want_full: store.want_full()?,
        pushes: pending
            .into_iter()
            .map(|p| Push {
                household: p.household,
                changes: p.changes,
            })
            .collect(),
        max_pull_bytes,
    };
    req.pack();
    Ok(req)
}

/// Syncs until nothing is left to push or pull. `progress` hears after every round.
pub async fn sync(
    store: &mut Store,
    mut progress: impl FnMut(&SyncReport),
) -> Result<SyncReport, SyncError> {
    let server = store.setting("server_url")?.ok_or(SyncError::NotEnrolled)?;
    let token = store.setting("token")?.ok_or(SyncError::NotEnrolled)?;
    let client = http()?;
    let mut report = SyncReport::default();
    loop {
        if report.rounds == MAX_ROUNDS {
            report.incomplete = true;
            return Ok(report);
        }
        let (pending, more_to_push) = store.pending_pushes(PUSH_BYTES_PER_ROUND)?;
        report.pushed_households += pending.len();
        report.pushed_bytes += pending
            .iter()
            .flat_map(|p| &p.changes)
            .map(Vec::len)
            .sum::<usize>();
        let sent = crate::store::sent_heads(&pending);
        let req = request(store, pending, PULL_BYTES_PER_ROUND)?;
        // Asked for whole households this round: do not ask again in a loop if it fails.
        let asked_full = !req.want_full.is_empty();
        let body = wire::encode(&req).map_err(|e| SyncError::Protocol(e.to_string()))?;
        report.bytes_up += body.len();
        let res = send(
            || {
                client
                    .post(format!("{server}/api/sync"))
                    .bearer_auth(&token)
                    .header(reqwest::header::CONTENT_TYPE, SYNC_CONTENT_TYPE)
                    .body(body.clone())
            },
            &mut report,
            &mut progress,
        )
        .await?;
        if !res.status().is_success() {
            return Err(server_error(res).await);
        }
        let bytes = res
            .bytes()
            .await
            .map_err(|e| SyncError::Network(e.to_string()))?;
        report.bytes_down += bytes.len();
        let mut answer: SyncResponse =
            wire::decode(&bytes).map_err(|e| SyncError::Protocol(e.to_string()))?;
        answer
            .unpack()
            .map_err(|e| SyncError::Protocol(e.to_string()))?;
        let outcome = store.apply_sync(&answer, &sent)?;
        report.rounds += 1;
        report.accepted += outcome.accepted;
        report.pulled_changes += outcome.pulled_changes;
        report.households_updated += outcome.households_updated;
        report.households_removed += outcome.households_removed;
        report.removed_unsent += outcome.removed_unsent;
        report.rejected.extend(outcome.rejected);
        progress(&report);
        let wants_full = outcome.want_full > 0 && !asked_full;
        if !answer.more && !more_to_push && outcome.need_all == 0 && !wants_full {
            break;
        }
    }
    upload_attachments(store, &client, &server, &token, &mut report, &mut progress).await?;
    report.standards_updated =
        fetch_standards(store, &client, &server, &token, &mut report, &mut progress).await?;
    fetch_rounds(store, &client, &server, &token, &mut report, &mut progress).await?;
    progress(&report);
    Ok(report)
}

/// Takes the server's standards table when it differs from this device's, so both judge a
/// household by the same lines. True when the table was replaced.
async fn fetch_standards(
    store: &mut Store,
    client: &reqwest::Client,
    server: &str,
    token: &str,
    report: &mut SyncReport,
    progress: &mut impl FnMut(&SyncReport),
) -> Result<bool, SyncError> {
    let have = store.standards_digest()?;
    let asked = || {
        client
            .get(format!("{server}/api/standards"))
            .query(&[("have", have.as_str())])
            .bearer_auth(token)
    };
    // A server from before the table was distributed: the device keeps judging with its own.
    let Some(answer) = optional_json::<wire::StandardsResponse>(asked, report, progress).await?
    else {
        return Ok(false);
    };
    match answer.json {
        Some(json) if answer.digest != have => {
            store.replace_standards(&json)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Takes the 工作批次 the server has for this device's areas, which new cases are filed under.
async fn fetch_rounds(
    store: &mut Store,
    client: &reqwest::Client,
    server: &str,
    token: &str,
    report: &mut SyncReport,
    progress: &mut impl FnMut(&SyncReport),
) -> Result<(), SyncError> {
    let asked = || {
        client
            .get(format!("{server}/api/rounds"))
            .bearer_auth(token)
    };
    // A server from before rounds: cases count in their year's round, as before.
    if let Some(answer) = optional_json::<wire::RoundsResponse>(asked, report, progress).await? {
        store.set_rounds(&answer.rounds)?;
    }
    Ok(())
}

/// A read of something a server from an earlier version lacks: its JSON answer, or `None` when
/// the server does not know the path (404).
async fn optional_json<T: serde::de::DeserializeOwned>(
    make: impl Fn() -> reqwest::RequestBuilder,
    report: &mut SyncReport,
    progress: &mut impl FnMut(&SyncReport),
) -> Result<Option<T>, SyncError> {
    let res = send(make, report, progress).await?;
    if res.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    json_answer(res).await.map(Some)
}

/// Chunk size of attachment uploads: small enough that a cut on a 2G link loses little.
pub const UPLOAD_CHUNK: usize = 256 * 1024;

/// Sends the photos and signatures the server lacks, resuming each where the server's copy
/// ends.
async fn upload_attachments(
    store: &Store,
    client: &reqwest::Client,
    server: &str,
    token: &str,
    report: &mut SyncReport,
    progress: &mut impl FnMut(&SyncReport),
) -> Result<(), SyncError> {
    let pending = store.pending_uploads()?;
    for batch in pending.chunks(1000) {
        let asked = AttachmentStatusRequest {
            hashes: batch.to_vec(),
        };
        let res = send(
            || {
                client
                    .post(format!("{server}/api/attachments/status"))
                    .bearer_auth(token)
                    .json(&asked)
            },
            report,
            progress,
        )
        .await?;
        let status: AttachmentStatusResponse = json_answer(res).await?;
        let missing: std::collections::HashMap<&str, i64> = status
            .missing
            .iter()
            .map(|m| (m.hash.as_str(), m.offset))
            .collect();
        for hash in batch {
            match missing.get(hash.as_str()) {
                None => store.mark_uploaded(hash)?,
                Some(&offset) => {
                    let Some((mime, bytes)) = store.attachment(hash)? else {
                        continue;
                    };
                    upload_one(
                        client, server, token, hash, &mime, &bytes, offset, report, progress,
                    )
                    .await?;
                    store.mark_uploaded(hash)?;
                    report.attachments_uploaded += 1;
                }
            }
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn upload_one(
    client: &reqwest::Client,
    server: &str,
    token: &str,
    hash: &str,
    mime: &str,
    bytes: &[u8],
    mut offset: i64,
    report: &mut SyncReport,
    progress: &mut impl FnMut(&SyncReport),
) -> Result<(), SyncError> {
    let total = bytes.len() as i64;
    // Each chunk moves the offset forward or corrects it; bounded against a confused server.
    for _ in 0..(bytes.len() / UPLOAD_CHUNK + 8) {
        let start = usize::try_from(offset).unwrap_or(0).min(bytes.len());
        let end = (start + UPLOAD_CHUNK).min(bytes.len());
        let res = send(
            || {
                client
                    .put(format!(
                        "{server}/api/attachments/{hash}?offset={start}&total={total}"
                    ))
                    .bearer_auth(token)
                    .header(reqwest::header::CONTENT_TYPE, mime)
                    .body(bytes[start..end].to_vec())
            },
            report,
            progress,
        )
        .await?;
        let code = res.status();
        if code.is_success() || code == reqwest::StatusCode::CONFLICT {
            let state: UploadState = json_body(res).await?;
            if code.is_success() {
                report.attachment_bytes += end - start;
                report.bytes_up += end - start;
            }
            if state.complete {
                return Ok(());
            }
            offset = state.offset;
        } else {
            return Err(server_error(res).await);
        }
    }
    Err(SyncError::Protocol(format!("附件 {hash} 上传未能完成")))
}

/// The key that seals this device's bundle files: the hex SHA-256 of its token, which the server
/// keeps in place of the token.
fn bundle_key(store: &Store) -> Result<String, SyncError> {
    use sha2::{Digest, Sha256};
    let token = store.setting("token")?.ok_or(SyncError::NotEnrolled)?;
    Ok(Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Everything the server lacks, sealed in one file for a USB stick. Returns the file and how
/// many households and attachments it carries.
pub fn export_bundle(store: &Store) -> Result<(Vec<u8>, usize, usize), SyncError> {
    let key = bundle_key(store)?;
    let device = store.identity()?.device_id;
    let (pending, _) = store.pending_pushes(usize::MAX)?;
    let households = pending.len();
    let mut attachments = Vec::new();
    for hash in store.pending_uploads()? {
        if let Some((mime, bytes)) = store.attachment(&hash)? {
            attachments.push(BundledAttachment { hash, mime, bytes });
        }
    }
    let count = attachments.len();
    let file = bundle::write(
        bundle::KIND_REQUEST,
        &device,
        &key,
        &Bundle {
            request: request(store, pending, u32::MAX)?,
            attachments,
        },
    )?;
    Ok((file, households, count))
}

/// Applies the server's reply to a bundle: acknowledgements and the device's pull.
pub fn import_reply(store: &mut Store, file: &[u8]) -> Result<SyncOutcome, SyncError> {
    let key = bundle_key(store)?;
    let (_, device) = bundle::header(file)?;
    if device != store.identity()?.device_id {
        return Err(SyncError::Bundle(BundleError::BadSeal));
    }
    // Either layout: a bundle written before this device spoke protocol 5 is answered in 4's.
    let mut reply: BundleReply = bundle::read_reply(file, &key)?;
    reply
        .response
        .unpack()
        .map_err(|e| SyncError::Protocol(e.to_string()))?;
    // A reply is read after the device may have edited again: the server's heads count.
    let outcome = store.apply_sync(&reply.response, &crate::store::SentHeads::new())?;
    for hash in &reply.attachments_stored {
        store.mark_uploaded(hash)?;
    }
    Ok(outcome)
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
