//! The conformance kit of `docs/protocol.md`: every vector of `docs/protocol/vectors/` (request
//! bytes → expected outcome, written by `cargo run -p zoufang-shared --example
//! protocol_vectors`) replayed in order against a real server set up as `setup.json` says, on
//! SQLite and on PostgreSQL; the vector files checked against themselves (the body inflates to
//! the postcard bytes given, which decode to the request described); and the refusal of
//! implausible change times, per household, with nothing of a refused push stored.

use std::path::{Path, PathBuf};

use reqwest::StatusCode;
use serde_json::{Value, json};
use zoufang_e2e::api::{self, ApiDevice, has_chinese, outcome};
use zoufang_e2e::db::ServerDb;
use zoufang_e2e::{ServerProcess, TestDb};
use zoufang_shared::doc::{ActorId, ChangeAuthor, HouseholdDoc, IncomingChange, unpack_changes};
use zoufang_shared::ids::HouseholdId;
use zoufang_shared::wire::{
    self, PROTOCOL_VERSION, Push, PushOutcome, PushResult, SYNC_CONTENT_TYPE, SyncResponse,
};

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/protocol/vectors")
}

fn read_json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// The vectors (`NN-name.json`), in file-name order: the order they are replayed in.
fn vectors() -> Vec<Value> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(vectors_dir())
        .expect("docs/protocol/vectors")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.ends_with(".json")
                && name
                    .as_bytes()
                    .get(..3)
                    .is_some_and(|b| b[0].is_ascii_digit() && b[1].is_ascii_digit() && b[2] == b'-')
        })
        .collect();
    paths.sort();
    assert!(paths.len() >= 20, "the vectors are missing: {paths:?}");
    paths.iter().map(|p| read_json(p)).collect()
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {v}"))
}

fn unhex(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2), "odd hex {text}");
    (0..text.len() / 2)
        .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

/// A vector's body: each segment's bytes `repeat` times.
fn body(vector: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    for segment in vector["request"]["body"].as_array().expect("body segments") {
        let bytes = unhex(str_of(segment, "hex"));
        for _ in 0..segment["repeat"].as_u64().expect("repeat") {
            out.extend_from_slice(&bytes);
        }
    }
    assert_eq!(
        out.len() as u64,
        vector["request"]["body_len"].as_u64().expect("body_len"),
        "{}",
        vector["vector"]
    );
    out
}

/// `bytes` as raw DEFLATE of stored (uncompressed) blocks: what any inflater reads back as
/// `bytes`, without a compressor.
fn stored_deflate(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let chunks: Vec<&[u8]> = bytes.chunks(65_535).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let len = chunk.len() as u16;
        out.push(u8::from(i + 1 == chunks.len()));
        out.extend(len.to_le_bytes());
        out.extend((!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    if chunks.is_empty() {
        out.extend([1, 0, 0, 0xff, 0xff]);
    }
    out
}

// ---------------------------------------------------------------------------------------------

/// The files agree with themselves: the body inflates to `postcard_hex`, which decodes to the
/// request `decoded` describes, packed entries and all.
#[test]
fn the_vector_files_are_consistent() {
    for vector in vectors() {
        let name = str_of(&vector, "vector").to_owned();
        let body = body(&vector);
        let request = &vector["request"];
        let Some(postcard) = request["postcard_hex"].as_str() else {
            continue;
        };
        // Both decode to the same request, or (a malformed body) neither does.
        let req = match (
            wire::decode_request(&body, wire::MAX_DECODED_BYTES),
            wire::decode_request(&stored_deflate(&unhex(postcard)), wire::MAX_DECODED_BYTES),
        ) {
            (Ok(from_body), Ok(from_postcard)) => {
                assert_eq!(from_body, from_postcard, "{name}: body and postcard_hex");
                from_body
            }
            (Err(_), Err(_)) => continue,
            (a, b) => panic!("{name}: the body gives {a:?}, postcard_hex {b:?}"),
        };
        let d = &request["decoded"];
        if d.is_null() {
            continue;
        }
        assert_eq!(json!(req.protocol), d["protocol"], "{name}");
        assert_eq!(json!(req.cursor), d["cursor"], "{name}");
        assert_eq!(json!(req.scope), d["scope"], "{name}");
        assert_eq!(json!(req.want_full), d["want_full"], "{name}");
        assert_eq!(json!(req.max_pull_bytes), d["max_pull_bytes"], "{name}");
        let pushes = d["pushes"].as_array().expect("pushes");
        assert_eq!(req.pushes.len(), pushes.len(), "{name}");
        for (push, described) in req.pushes.iter().zip(pushes) {
            assert_eq!(push.household, str_of(described, "household"), "{name}");
            let entries = described["changes"].as_array().expect("changes");
            assert_eq!(push.changes.len(), entries.len(), "{name}");
            let full = unpack_changes(push.changes.clone(), u64::MAX).expect("unpack");
            for ((entry, chunk), e) in push.changes.iter().zip(&full).zip(entries) {
                assert_eq!(json!(entry.len()), e["len"], "{name}");
                match str_of(e, "form") {
                    "packed" => assert_eq!(entry[0], 1, "{name}"),
                    "full" => assert!(entry.starts_with(&MAGIC), "{name}"),
                    _ => {
                        assert!(IncomingChange::decode(chunk).is_err(), "{name}");
                        continue;
                    }
                }
                let change = IncomingChange::decode(chunk).expect("a described change decodes");
                assert_eq!(change.hash().to_string(), str_of(e, "hash"), "{name}");
                assert_eq!(change.actor().to_hex_string(), str_of(e, "actor"), "{name}");
                assert_eq!(json!(change.time()), e["time"], "{name}");
                let message: Value =
                    serde_json::from_str(str_of(e, "message")).expect("a JSON message");
                let (user, device) = change.author();
                assert_eq!(json!(user), message["u"], "{name}");
                assert_eq!(json!(device), message["d"], "{name}");
            }
        }
    }
}

/// The answer to vector 11 as docs/protocol.md spells it out byte by byte ("Worked examples").
fn documented_answer() -> SyncResponse {
    let postcard = unhex(
        "010b68682d7665632d3030303702106d616c666f726d65645f6368616e676512e58f98e69bb4e695b0e68d\
         aee68d9fe59d8f000e00103963633432666365643332653434306500",
    );
    // A protocol 5 answer, as the vectors are protocol 5 requests.
    wire::decode_response(&stored_deflate(&postcard), 5).expect("the documented answer decodes")
}

#[test]
fn the_documented_answer_reads_as_described() {
    assert_eq!(
        documented_answer(),
        SyncResponse {
            results: vec![PushResult {
                household: "hh-vec-0007".into(),
                outcome: PushOutcome::Rejected {
                    code: "malformed_change".into(),
                    message: "变更数据损坏".into(),
                },
            }],
            cursor: 7,
            scope: "9cc42fced32e440e".into(),
            ..SyncResponse::default()
        }
    );
}

// ---------------------------------------------------------------------------------------------

fn actor_bytes(hex_text: &str) -> [u8; 16] {
    unhex(hex_text).try_into().expect("a 16-byte actor")
}

/// The request line and headers of a vector's request.
fn head(server: &str, token: Option<&str>, content_type: &str, length: usize) -> String {
    let host = server.trim_start_matches("http://");
    let mut head = format!(
        "POST /api/sync HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {length}\r\nConnection: close\r\n"
    );
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    head.push_str("\r\n");
    head
}

fn outcome_json(o: &PushOutcome) -> Value {
    match o {
        PushOutcome::Accepted { heads } => {
            assert!(heads.is_empty(), "over HTTP heads stay empty");
            json!({"outcome": "accepted"})
        }
        PushOutcome::NeedAll => json!({"outcome": "need_all"}),
        PushOutcome::Rejected { code, message } => {
            assert!(has_chinese(message), "a message for people: {message:?}");
            json!({"outcome": "rejected", "code": code})
        }
    }
}

async fn the_vectors_replay(db: TestDb) {
    let server = ServerProcess::start(&db.url).await;
    let setup = read_json(&vectors_dir().join("setup.json"));
    for user in setup["users"].as_array().expect("users") {
        let areas: Vec<&str> = user["areas"]
            .as_array()
            .expect("areas")
            .iter()
            .map(|a| a.as_str().expect("an area"))
            .collect();
        let name = str_of(user, "username");
        server
            .add_user(name, name, str_of(user, "role"), &areas)
            .await;
    }
    let mut tokens = std::collections::HashMap::new();
    for device in setup["devices"].as_array().expect("devices") {
        let id = str_of(device, "device_id");
        let enrolled = ApiDevice::enroll(
            &server.url,
            str_of(device, "user"),
            id,
            actor_bytes(str_of(device, "actor")),
        )
        .await;
        tokens.insert(id.to_owned(), enrolled.token);
    }

    for vector in vectors() {
        let name = str_of(&vector, "vector");
        let request = &vector["request"];
        let expect = &vector["expect"];
        let token = request["device"].as_str().map(|d| {
            tokens
                .get(d)
                .unwrap_or_else(|| panic!("{name}: no device {d}"))
        });
        let body = body(&vector);
        let reply = api::raw_request(
            &server.url,
            head(
                &server.url,
                token.map(String::as_str),
                str_of(request, "content_type"),
                body.len(),
            ),
            body,
            false,
        )
        .await;
        let status = StatusCode::from_u16(expect["status"].as_u64().expect("status") as u16)
            .expect("a status");
        if status != StatusCode::OK {
            let err = reply.expect_error(status, name);
            assert_eq!(err.code, str_of(expect, "code"), "{name}: {}", err.error);
            continue;
        }
        assert_eq!(reply.status, StatusCode::OK, "{name}: {}", reply.text());
        assert_eq!(reply.content_type, SYNC_CONTENT_TYPE, "{name}");
        // In the layout of the request's protocol (3 and 4: without `gone`).
        let protocol = request["decoded"]["protocol"]
            .as_u64()
            .map_or(PROTOCOL_VERSION, |p| p as u32);
        let mut res = wire::decode_response(&reply.body, protocol).expect("a sync response");
        if name == "11-push-malformed-change" {
            assert_eq!(
                res,
                documented_answer(),
                "the worked answer of docs/protocol.md"
            );
        }
        let want = &expect["response"];
        match want["pulled_form"].as_str() {
            Some("packed") => assert!(
                res.pulled.iter().all(|p| p.change.first() == Some(&1)),
                "{name}: packed pulls"
            ),
            Some("full") => assert!(
                res.pulled.iter().all(|p| p.change.starts_with(&MAGIC)),
                "{name}: full pulls"
            ),
            _ => assert!(res.pulled.is_empty(), "{name}: nothing pulled"),
        }
        res.unpack().expect("unpack");
        let results: Vec<Value> = res
            .results
            .iter()
            .map(|r| {
                let mut v = outcome_json(&r.outcome);
                v["household"] = json!(r.household);
                v
            })
            .collect();
        let expected: Vec<Value> = want["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|r| {
                let mut v = r.clone();
                if v.get("code").is_none() {
                    v.as_object_mut().map(|o| o.remove("code"));
                }
                v
            })
            .collect();
        assert_eq!(results, expected, "{name}: results");
        let pulled: Vec<Value> = res
            .pulled
            .iter()
            .map(|p| {
                let change = IncomingChange::decode(&p.change).expect("a pulled change decodes");
                json!({"household": p.household, "hash": change.hash().to_string()})
            })
            .collect();
        assert_eq!(json!(pulled), want["pulled"], "{name}: pulled");
        assert_eq!(json!(res.cursor), want["cursor"], "{name}: cursor");
        assert_eq!(json!(res.more), want["more"], "{name}: more");
        assert_eq!(json!(res.scope), want["scope"], "{name}: scope");
        assert_eq!(json!(res.gone), want["gone"], "{name}: gone");
    }
    server.kill().await;
}

zoufang_e2e::on_both_databases!(the_vectors_replay);

// ---------------------------------------------------------------------------------------------

const AREA: &str = "530921100201";
const DEVICE: &str = "dev-clock";
const ACTOR: [u8; 16] = [0x51; 16];

fn at_ms(ms: i64) -> ChangeAuthor {
    let at = chrono::DateTime::from_timestamp_millis(ms).expect("a time");
    ChangeAuthor::new("zhang", DEVICE, at)
}

/// A new household created as one change stamped `ms`.
fn created(id: &str, ms: i64) -> (HouseholdDoc, Push) {
    let (mut doc, ()) = HouseholdDoc::create_with(
        &HouseholdId(id.to_owned()),
        ActorId::from(ACTOR),
        &at_ms(ms),
        |e| e.set_field("info.area_code", json!(AREA)),
    )
    .expect("create");
    let push = Push {
        household: id.to_owned(),
        changes: doc.changes_after(&[]),
    };
    (doc, push)
}

fn rejected_message(res: &SyncResponse, household: &str) -> String {
    match outcome(res, household) {
        PushOutcome::Rejected { code, message } => {
            assert_eq!(code, "implausible_time", "{household}: {message}");
            assert!(has_chinese(message), "{message}");
            message.clone()
        }
        other => panic!("{household} should be refused as implausible_time: {other:?}"),
    }
}

/// A change stamped in seconds, at 0 (no time), or days ahead of the server's clock is refused
/// per household with `implausible_time`, and nothing of that household's push is stored; one
/// stamped now or hours ahead goes through, in the same batch.
async fn implausible_change_times_are_refused(db: TestDb) {
    let server = ServerProcess::start(&db.url).await;
    server
        .add_user("zhang", "张调查", "surveyor", &["530921100"])
        .await;
    let device = ApiDevice::enroll(&server.url, "zhang", DEVICE, ACTOR).await;
    let now = chrono::Utc::now().timestamp_millis();
    let hour = 3_600_000;
    let (mut kept, first) = created("hh-clock-kept", now);
    let res = device.sync(0, vec![first]).await;
    assert!(matches!(
        outcome(&res, "hh-clock-kept"),
        PushOutcome::Accepted { .. }
    ));
    let sdb = ServerDb::connect(&db.url).await;
    let before = sdb.snapshot().await;

    // On the stored household: a good edit, then one stamped in seconds; the push is refused
    // whole, the good edit with it.
    let have = kept.heads();
    kept.edit(&at_ms(now), |e| {
        e.set_field("info.phone", json!("13900000001"))
    })
    .expect("edit");
    kept.edit(&at_ms(now / 1000), |e| {
        e.set_field("info.phone", json!("13900000002"))
    })
    .expect("edit");
    let edits = Push {
        household: "hh-clock-kept".into(),
        changes: kept.changes_after(&have),
    };
    let res = device
        .sync(
            0,
            vec![
                edits,
                created("hh-clock-seconds", now / 1000).1,
                created("hh-clock-zero", 0).1,
                created("hh-clock-ahead", now + 48 * hour).1,
                created("hh-clock-2013", 1_388_534_399_999).1,
                created("hh-clock-soon", now + 20 * hour).1,
                created("hh-clock-now", now).1,
            ],
        )
        .await;
    let message = rejected_message(&res, "hh-clock-kept");
    assert!(message.contains("1970-01-"), "{message}");
    assert!(message.contains("毫秒"), "{message}");
    rejected_message(&res, "hh-clock-seconds");
    rejected_message(&res, "hh-clock-zero");
    rejected_message(&res, "hh-clock-2013");
    let message = rejected_message(&res, "hh-clock-ahead");
    assert!(message.contains("晚一天以上"), "{message}");
    for accepted in ["hh-clock-soon", "hh-clock-now"] {
        assert!(
            matches!(outcome(&res, accepted), PushOutcome::Accepted { .. }),
            "{accepted}: {res:?}"
        );
    }
    let after = sdb.snapshot().await;
    let households = |s: &zoufang_e2e::db::Snapshot| -> Vec<String> {
        s.households
            .iter()
            .map(|h| h.split(' ').next().unwrap_or("").to_owned())
            .collect()
    };
    assert_eq!(
        households(&after),
        ["hh-clock-kept", "hh-clock-now", "hh-clock-soon"],
        "only the plausible households are stored"
    );
    let kept_row = |s: &zoufang_e2e::db::Snapshot| {
        s.households
            .iter()
            .find(|h| h.starts_with("hh-clock-kept "))
            .cloned()
    };
    assert_eq!(
        kept_row(&after),
        kept_row(&before),
        "the refused push left it as it was"
    );
    assert_eq!(
        after.changes.len(),
        before.changes.len() + 2,
        "{:?}",
        after.changes
    );
    assert!(
        after.changes[before.changes.len()..]
            .iter()
            .all(|c| c.contains("hh-clock-soon") || c.contains("hh-clock-now")),
        "{:?}",
        after.changes
    );
    sdb.close().await;
    server.kill().await;
}

zoufang_e2e::on_both_databases!(implausible_change_times_are_refused);

#[test]
fn the_protocol_document_names_every_vector() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/protocol.md"))
            .expect("docs/protocol.md");
    assert!(doc.contains(&format!("protocol {PROTOCOL_VERSION}")));
    for vector in vectors() {
        let name = str_of(&vector, "vector");
        assert!(doc.contains(name), "docs/protocol.md does not list {name}");
    }
}
