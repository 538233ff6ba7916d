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
//!
//! The HTTP plumbing (retries, busy waits) is in `http`, the photo and signature uploads in
//! `attachments`, and the sealed files carried on a USB stick in `bundle`.

mod attachments;
mod bundle;
mod http;

pub use attachments::UPLOAD_CHUNK;
pub use bundle::{export_bundle, import_reply};
pub use http::http as http_client;

use zoufang_shared::wire::bundle::BundleError;
use zoufang_shared::wire::{
    self, EnrollRequest, EnrollResponse, PROTOCOL_VERSION, Push, SYNC_CONTENT_TYPE, SyncRequest,
    SyncResponse,
};

use crate::store::{Rejection, Store, StoreError};
use attachments::upload_attachments;
use http::{http, json_answer, network, send, server_error};

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
    /// Said in the surveyor's words with what to do; the transport's own text is only logged.
    #[error("连不上服务器:请确认已连上乡镇网络后重试(无法连接服务器)")]
    Network(String),
    #[error("本设备载有演示农户,不能登记到服务器(演示数据会被同步进正式花名册);请换一个数据目录")]
    DemoData,
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
    /// Steps decided on the server (乡镇审核, 县级审定, 公告) that reached households already on
    /// this device.
    pub decisions_received: usize,
    pub bytes_up: usize,
    pub bytes_down: usize,
    pub rejected: Vec<Rejection>,
    pub attachments_uploaded: usize,
    /// Photos and signatures this sync found unsent (the "m" of "photos n of m"; those the
    /// server turns out to hold already are not sent again).
    pub attachments_to_upload: usize,
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

/// The setting naming the server this device is enrolled with.
pub const SERVER_URL_SETTING: &str = "server_url";

/// Signs this device in with the user's password; stores the server, token and user. A store
/// holding demo households (`serve --demo`) is refused: they would be pushed as real ones.
pub async fn enroll(
    store: &Store,
    server: &str,
    username: &str,
    password: &str,
    device_name: &str,
) -> Result<EnrollResponse, SyncError> {
    let server = server.trim_end_matches('/');
    if store
        .household_ids()?
        .iter()
        .any(|id| id.as_str().starts_with(crate::demo::ID_PREFIX))
    {
        return Err(SyncError::DemoData);
    }
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
        .map_err(|e| network(&e))?;
    let body: EnrollResponse = json_answer(res).await?;
    store.set_setting(SERVER_URL_SETTING, server)?;
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
        cursors: store.sync_cursors()?,
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

/// One round's request, encoded, with what its answer is read against.
pub struct Round {
    /// The request body (DEFLATE(postcard(`SyncRequest`))).
    pub body: Vec<u8>,
    sent: crate::store::SentHeads,
    /// Asked for whole households: not asked again in a loop if it fails.
    asked_full: bool,
    /// More changes wait than one round carries.
    more_to_push: bool,
}

/// Builds the next round's request from the store (no network): what the server lacks, up to
/// [`PUSH_BYTES_PER_ROUND`], and the pull position. Counted into `report`.
pub fn prepare_round(store: &Store, report: &mut SyncReport) -> Result<Round, SyncError> {
    let (pending, more_to_push) = store.pending_pushes(PUSH_BYTES_PER_ROUND)?;
    report.pushed_households += pending.len();
    report.pushed_bytes += pending
        .iter()
        .flat_map(|p| &p.changes)
        .map(Vec::len)
        .sum::<usize>();
    let sent = crate::store::sent_heads(&pending);
    let req = request(store, pending, PULL_BYTES_PER_ROUND)?;
    let asked_full = !req.want_full.is_empty();
    let body = wire::encode(&req).map_err(|e| SyncError::Protocol(e.to_string()))?;
    report.bytes_up += body.len();
    Ok(Round {
        body,
        sent,
        asked_full,
        more_to_push,
    })
}

/// Reads the server's answer to `round` and applies it to the store; true when another round
/// is needed (more to push or pull, or households asked for in full).
pub fn apply_round(
    store: &mut Store,
    round: &Round,
    answer: &[u8],
    report: &mut SyncReport,
) -> Result<bool, SyncError> {
    report.bytes_down += answer.len();
    let mut answer: SyncResponse =
        wire::decode(answer).map_err(|e| SyncError::Protocol(e.to_string()))?;
    answer
        .unpack()
        .map_err(|e| SyncError::Protocol(e.to_string()))?;
    let outcome = store.apply_sync(&answer, &round.sent)?;
    report.rounds += 1;
    report.accepted += outcome.accepted;
    report.pulled_changes += outcome.pulled_changes;
    report.households_updated += outcome.households_updated;
    report.households_removed += outcome.households_removed;
    report.removed_unsent += outcome.removed_unsent;
    report.decisions_received += outcome.decisions_received;
    report.rejected.extend(outcome.rejected);
    let wants_full = outcome.want_full > 0 && !round.asked_full;
    Ok(answer.more || round.more_to_push || outcome.need_all > 0 || wants_full)
}

/// The enrolled server, and the device's token that every request after enrollment carries.
pub(super) struct Remote {
    client: reqwest::Client,
    server: String,
    token: String,
}

impl Remote {
    pub(super) fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.server))
            .bearer_auth(&self.token)
    }
}

/// Syncs until nothing is left to push or pull. `progress` hears after every round.
pub async fn sync(
    store: &mut Store,
    mut progress: impl FnMut(&SyncReport),
) -> Result<SyncReport, SyncError> {
    let remote = Remote {
        server: store
            .setting(SERVER_URL_SETTING)?
            .ok_or(SyncError::NotEnrolled)?,
        token: store.setting("token")?.ok_or(SyncError::NotEnrolled)?,
        client: http()?,
    };
    let mut report = SyncReport::default();
    loop {
        if report.rounds == MAX_ROUNDS {
            report.incomplete = true;
            return Ok(report);
        }
        let round = prepare_round(store, &mut report)?;
        let res = send(
            || {
                remote
                    .request(reqwest::Method::POST, "/api/sync")
                    .header(reqwest::header::CONTENT_TYPE, SYNC_CONTENT_TYPE)
                    .body(round.body.clone())
            },
            &mut report,
            &mut progress,
        )
        .await?;
        if !res.status().is_success() {
            return Err(server_error(res).await);
        }
        let bytes = res.bytes().await.map_err(|e| network(&e))?;
        let again = apply_round(store, &round, &bytes, &mut report)?;
        progress(&report);
        if !again {
            break;
        }
    }
    upload_attachments(store, &remote, &mut report, &mut progress).await?;
    report.standards_updated = fetch_standards(store, &remote, &mut report, &mut progress).await?;
    fetch_rounds(store, &remote, &mut report, &mut progress).await?;
    progress(&report);
    Ok(report)
}

/// Takes the server's standards table when it differs from this device's, so both judge a
/// household by the same lines. True when the table was replaced.
async fn fetch_standards(
    store: &mut Store,
    remote: &Remote,
    report: &mut SyncReport,
    progress: &mut impl FnMut(&SyncReport),
) -> Result<bool, SyncError> {
    let have = store.standards_digest()?;
    let asked = || {
        remote
            .request(reqwest::Method::GET, "/api/standards")
            .query(&[("have", have.as_str())])
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
    remote: &Remote,
    report: &mut SyncReport,
    progress: &mut impl FnMut(&SyncReport),
) -> Result<(), SyncError> {
    let asked = || remote.request(reqwest::Method::GET, "/api/rounds");
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
