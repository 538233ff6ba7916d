//! The device's side of a sync against a stand-in server speaking the sync API: a household with
//! more unsent changes than one push may carry goes over several rounds, the earliest first,
//! and ends the same on both sides; a server shedding load with 503 and `Retry-After` is waited
//! for and asked again, a bounded number of times.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use zoufang_client::store::Store;
use zoufang_client::sync::{self, BUSY_RETRIES, SyncError, SyncReport};
use zoufang_shared::doc::{ActorId, HouseholdDoc, IncomingChange};
use zoufang_shared::ids::HouseholdId;
use zoufang_shared::wire::{
    self, DEVICE_CHANGES_PER_PUSH, ErrorBody, PushOutcome, PushResult, SYNC_CONTENT_TYPE,
    SyncRequest, SyncResponse,
};

/// The stand-in server: it keeps what it is pushed, refuses a push of more changes of one
/// household than a device may send, and turns the first `busy` requests away.
#[derive(Default)]
struct Fake {
    docs: Mutex<BTreeMap<String, HouseholdDoc>>,
    /// (household, number of changes) of every push, in order.
    pushes: Mutex<Vec<(String, usize)>>,
    requests: AtomicUsize,
    busy: AtomicUsize,
    /// The `Retry-After` of a busy answer.
    retry_after: &'static str,
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = ErrorBody {
        code: code.into(),
        error: message.into(),
    };
    (status, axum::Json(body)).into_response()
}

async fn sync_route(State(fake): State<Arc<Fake>>, body: Bytes) -> Response {
    fake.requests.fetch_add(1, Ordering::SeqCst);
    let shed = fake
        .busy
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if shed {
        let mut res = error(StatusCode::SERVICE_UNAVAILABLE, "overloaded", "服务器繁忙");
        res.headers_mut().insert(
            header::RETRY_AFTER,
            header::HeaderValue::from_static(fake.retry_after),
        );
        return res;
    }
    let Ok(mut req) = wire::decode::<SyncRequest>(&body) else {
        return error(StatusCode::BAD_REQUEST, "bad_request", "请求无法解析");
    };
    if req.unpack().is_err() {
        return error(StatusCode::BAD_REQUEST, "bad_request", "请求无法解析");
    }
    if req
        .pushes
        .iter()
        .any(|p| p.changes.len() > DEVICE_CHANGES_PER_PUSH)
    {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_changes",
            "变更过多",
        );
    }
    let mut results = Vec::new();
    for push in req.pushes {
        let Ok(changes) = push
            .changes
            .iter()
            .map(|c| IncomingChange::decode(c))
            .collect::<Result<Vec<_>, _>>()
        else {
            return error(StatusCode::BAD_REQUEST, "bad_change", "变更无法解析");
        };
        fake.pushes
            .lock()
            .expect("pushes")
            .push((push.household.clone(), changes.len()));
        let mut docs = fake.docs.lock().expect("docs");
        let mut doc = match docs.remove(&push.household) {
            Some(d) => d,
            None => HouseholdDoc::empty(ActorId::from([9u8; 16])),
        };
        // A refused push leaves the household as it was: `apply` may have taken part of it.
        let mut copy = doc.fork(ActorId::from([9u8; 16]));
        match copy.apply(changes) {
            Ok(_) => doc = copy,
            Err(e) => {
                docs.insert(push.household.clone(), doc);
                return error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "bad_change",
                    &e.to_string(),
                );
            }
        }
        docs.insert(push.household.clone(), doc);
        results.push(PushResult {
            household: push.household,
            outcome: PushOutcome::Accepted { heads: Vec::new() },
        });
    }
    let res = SyncResponse {
        results,
        cursor: 1,
        scope: "fake".into(),
        ..SyncResponse::default()
    };
    match wire::encode(&res) {
        Ok(bytes) => ([(header::CONTENT_TYPE, SYNC_CONTENT_TYPE)], bytes).into_response(),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            &e.to_string(),
        ),
    }
}

/// Serves `fake` on a free port; its base URL.
async fn serve(fake: Arc<Fake>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let app = Router::new()
        .route("/api/sync", post(sync_route))
        .with_state(fake);
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    format!("http://{addr}")
}

/// A device store pointed at `server` as enrollment leaves it.
fn device(dir: &std::path::Path, server: &str) -> Store {
    let mut store = Store::create(dir, "test-passphrase").expect("store");
    store.init("zhang", "张调查").expect("init");
    store.set_setting("server_url", server).expect("server");
    store.set_setting("token", "test-token").expect("token");
    store
}

/// A device of the server that `fake` plays, with one new household (`hh-1`) to send; the
/// directory holds its store.
async fn device_with_a_household(fake: &Arc<Fake>) -> (tempfile::TempDir, Store, HouseholdId) {
    let server = serve(fake.clone()).await;
    let dir = tempfile::tempdir().expect("dir");
    let mut store = device(dir.path(), &server);
    let id = HouseholdId("hh-1".into());
    store.create_household(&id, |_| Ok(())).expect("household");
    (dir, store, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_household_with_more_changes_than_a_push_carries_goes_over_several_rounds() {
    let fake = Arc::new(Fake::default());
    let server = serve(fake.clone()).await;
    let dir = tempfile::tempdir().expect("dir");
    let mut store = device(dir.path(), &server);
    let id = HouseholdId("hh-many".into());
    let other = HouseholdId("hh-one".into());
    store.create_household(&id, |_| Ok(())).expect("household");
    store
        .create_household(&other, |_| Ok(()))
        .expect("household");
    // The creation and 1,199 edits: 1,200 changes of one household.
    for n in 1..1_200 {
        store
            .edit_household(&id, |e| {
                e.set_field("info.phone", format!("138{n:08}").into())
            })
            .expect("edit");
    }
    assert_eq!(store.doc(&id).expect("doc").history().len(), 1_200);

    let mut rounds_seen = Vec::new();
    let report = sync::sync(&mut store, |r: &SyncReport| rounds_seen.push(r.rounds))
        .await
        .expect("sync");

    let pushes = fake.pushes.lock().expect("pushes").clone();
    let many: Vec<usize> = pushes
        .iter()
        .filter(|(h, _)| h == id.as_str())
        .map(|(_, n)| *n)
        .collect();
    assert_eq!(many, [500, 500, 200], "{pushes:?}");
    assert_eq!(
        pushes.iter().filter(|(h, _)| h == other.as_str()).count(),
        1,
        "the other household goes once: {pushes:?}"
    );
    assert_eq!(report.rounds, 3, "{report:?}");
    assert_eq!(fake.requests.load(Ordering::SeqCst), 3);
    assert!(!report.incomplete);
    assert!(
        store
            .pending_pushes(usize::MAX)
            .expect("pending")
            .0
            .is_empty(),
        "nothing left to send"
    );
    assert_eq!(store.pending_count().expect("pending count"), 0);

    let mut docs = fake.docs.lock().expect("docs");
    for h in [&id, &other] {
        let on_server = docs.get_mut(h.as_str()).expect("the server has it");
        let mut on_device = store.doc(h).expect("doc");
        assert_eq!(on_server.heads(), on_device.heads(), "{h:?}");
        assert_eq!(
            on_server.read().expect("read"),
            on_device.read().expect("read")
        );
    }
    let phone = docs
        .get_mut(id.as_str())
        .and_then(|d| d.read().ok())
        .and_then(|h| h.info.phone);
    assert_eq!(phone.as_deref(), Some("13800001199"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_server_is_asked_again_after_the_wait_it_names() {
    let fake = Arc::new(Fake {
        busy: AtomicUsize::new(2),
        retry_after: "1",
        ..Fake::default()
    });
    let (_dir, mut store, id) = device_with_a_household(&fake).await;

    let mut notices = Vec::new();
    let started = Instant::now();
    let report = sync::sync(&mut store, |r: &SyncReport| notices.extend(r.notice()))
        .await
        .expect("sync after two busy answers");
    let waited = started.elapsed();

    assert_eq!(fake.requests.load(Ordering::SeqCst), 3);
    assert_eq!(report.busy_retries, 2);
    assert_eq!(report.retry_in, None, "no longer waiting");
    assert_eq!(notices, ["服务器繁忙,1 秒后重试……"; 2]);
    assert!(
        waited >= Duration::from_secs(2),
        "it waited as told: {waited:?}"
    );
    assert_eq!(report.accepted, 1);
    let mut on_server = fake.docs.lock().expect("docs");
    let on_server = on_server
        .get_mut(id.as_str())
        .expect("pushed once accepted");
    assert_eq!(on_server.heads(), store.doc(&id).expect("doc").heads());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_stays_busy_is_given_up_on_with_a_message() {
    let fake = Arc::new(Fake {
        busy: AtomicUsize::new(usize::MAX),
        retry_after: "0",
        ..Fake::default()
    });
    let (_dir, mut store, _) = device_with_a_household(&fake).await;

    let err = sync::sync(&mut store, |_: &SyncReport| {})
        .await
        .expect_err("a server busy every time");
    assert!(
        matches!(err, SyncError::Busy(n) if n == BUSY_RETRIES),
        "{err:?}"
    );
    assert!(err.to_string().contains("服务器繁忙"), "{err}");
    assert_eq!(fake.requests.load(Ordering::SeqCst), BUSY_RETRIES + 1);
    assert_eq!(
        store.pending_count().expect("pending"),
        1,
        "the household is still to send"
    );
}
