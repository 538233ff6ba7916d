//! The sync protocol across versions, through a real server: a protocol 4 or 5 device sends and
//! gets changes packed (a dependency on a change just sent is a back reference), a protocol 3
//! device still syncs and gets every change in full, protocols 3 and 4 get the answer's layout
//! without `gone` (protocol 5), and other versions are refused. The wire handling
//! is the same on both databases, so SQLite alone is used.

use reqwest::StatusCode;
use serde_json::json;
use zoufang_e2e::api::{ApiDevice, actor_hex};
use zoufang_e2e::{ServerProcess, TestDb};
use zoufang_shared::doc::{ActorId, ChangeAuthor, HouseholdDoc, IncomingChange, unpack_changes};
use zoufang_shared::ids::HouseholdId;
use zoufang_shared::wire::{
    self, ErrorBody, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION, Push, PushOutcome, SyncRequest,
    SyncResponse,
};

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const AREA: &str = "530921100201";

/// A household created and then edited twice under `actor`: three changes in a chain.
fn household(id: &str, actor: [u8; 16]) -> HouseholdDoc {
    // The user every device of this test is enrolled as.
    let author = ChangeAuthor::new("zhang", actor_hex(&actor), chrono::Utc::now());
    let (mut doc, ()) = HouseholdDoc::create_with(
        &HouseholdId(id.to_owned()),
        ActorId::from(actor),
        &author,
        |e| e.set_field("info.area_code", json!(AREA)),
    )
    .expect("create");
    for phone in ["13900000001", "13900000002"] {
        doc.edit(&author, |e| e.set_field("info.phone", json!(phone)))
            .expect("edit");
    }
    doc
}

async fn raw_sync(device: &ApiDevice, mut req: SyncRequest) -> (StatusCode, Vec<u8>) {
    req.max_pull_bytes = 1 << 20;
    let reply = device
        .post_raw(wire::encode_request(&req).expect("encode"))
        .await;
    (reply.status, reply.body)
}

fn request(protocol: u32, pushes: Vec<Push>) -> SyncRequest {
    SyncRequest {
        protocol,
        pushes,
        max_pull_bytes: 0,
        ..SyncRequest::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_on_this_and_the_previous_protocol_sync() {
    let db = TestDb::sqlite();
    let server =
        ServerProcess::start_with_users(&db.url, &[("zhang", "surveyor", "530921100")]).await;
    let new = ApiDevice::enroll(&server.url, "zhang", &actor_hex(&[0x41; 16]), [0x41; 16]).await;
    let old = ApiDevice::enroll(&server.url, "zhang", &actor_hex(&[0x42; 16]), [0x42; 16]).await;
    // A device pulls what others wrote: this one has written nothing.
    let fresh = ApiDevice::enroll(&server.url, "zhang", &actor_hex(&[0x43; 16]), [0x43; 16]).await;

    // The current protocol pushes packed: the second and third change refer back to the one before.
    let mut a = household("hh-proto-a", new.actor);
    let full_a = a.changes_after(&[]);
    let mut req = request(
        PROTOCOL_VERSION,
        vec![Push {
            household: "hh-proto-a".into(),
            changes: full_a.clone(),
        }],
    );
    req.pack();
    assert!(req.pushes[0].changes.iter().all(|c| !c.starts_with(&MAGIC)));
    let packed_size: usize = req.pushes[0].changes.iter().map(Vec::len).sum();
    let full_size: usize = full_a.iter().map(Vec::len).sum();
    assert!(
        packed_size + 2 * 31 <= full_size,
        "{packed_size} vs {full_size}"
    );
    let (status, body) = raw_sync(&new, req).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let res: SyncResponse = wire::decode(&body).expect("decode");
    assert!(matches!(
        res.results[0].outcome,
        PushOutcome::Accepted { .. }
    ));

    // Protocol 3 pushes full changes, and pulls every change in full.
    let mut b = household("hh-proto-b", old.actor);
    let (status, body) = raw_sync(
        &old,
        request(
            3,
            vec![Push {
                household: "hh-proto-b".into(),
                changes: b.changes_after(&[]),
            }],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    // The answer of protocols 3 and 4 ends at `scope`: no `gone` (protocol 5).
    assert!(
        wire::decode::<SyncResponse>(&body).is_err(),
        "the old layout"
    );
    let res = wire::decode_response(&body, 3).expect("decode");
    assert!(matches!(
        res.results[0].outcome,
        PushOutcome::Accepted { .. }
    ));
    let pulled_a: Vec<Vec<u8>> = res
        .pulled
        .iter()
        .filter(|p| p.household == "hh-proto-a")
        .map(|p| p.change.clone())
        .collect();
    assert_eq!(
        pulled_a, full_a,
        "a protocol 3 device gets the changes whole"
    );
    for p in &res.pulled {
        IncomingChange::decode(&p.change).expect("every pulled change decodes as it is");
    }

    // Protocol 4 pulls packed too, in the layout without `gone`.
    let (status, body) = raw_sync(&fresh, request(4, Vec::new())).await;
    assert_eq!(status, StatusCode::OK);
    let res = wire::decode_response(&body, 4).expect("decode");
    assert!(res.pulled.iter().all(|p| !p.change.starts_with(&MAGIC)));
    assert_eq!(res.pulled.len(), 6);

    // The current protocol pulls packed, and unpacking gives back the very same changes.
    let (status, body) = raw_sync(&fresh, request(PROTOCOL_VERSION, Vec::new())).await;
    assert_eq!(status, StatusCode::OK);
    let res: SyncResponse = wire::decode(&body).expect("decode");
    let packed: Vec<Vec<u8>> = res.pulled.iter().map(|p| p.change.clone()).collect();
    assert!(packed.iter().all(|c| !c.starts_with(&MAGIC)));
    let full = unpack_changes(packed, u64::MAX).expect("unpack");
    let mut both = full_a.clone();
    both.extend(b.changes_after(&[]));
    assert_eq!(full.len(), both.len());
    for change in &both {
        assert!(
            full.contains(change),
            "every change comes back byte for byte"
        );
    }

    // Other versions are refused with a message saying what to do.
    for protocol in [MIN_PROTOCOL_VERSION - 1, PROTOCOL_VERSION + 1] {
        let (status, body) = raw_sync(&new, request(protocol, Vec::new())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "protocol {protocol}");
        let err: ErrorBody = serde_json::from_slice(&body).expect("an error body");
        assert_eq!(err.code, "protocol");
        assert!(err.error.contains("升级"), "{}", err.error);
    }
    server.kill().await;
}
