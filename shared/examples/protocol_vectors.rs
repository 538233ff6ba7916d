//! Writes the sync protocol's conformance vectors, `docs/protocol/vectors/*.json`: request
//! bodies byte for byte with the outcome a server must give, replayed against real servers by
//! `tests/tests/protocol_vectors.rs` (the format is in `docs/protocol.md`, "Conformance kit").
//! Everything is fixed — actors, device ids, change times, ids — so the same build writes the
//! same files. Run from the workspace:
//!
//! `cargo run -p zoufang-shared --example protocol_vectors`
//!
//! It lives here, not in the e2e crate, because building the changes takes automerge itself (a
//! Text object, a member written op by op as another client would) and SHA-256 (the scope key).

use std::io::Read;
use std::path::PathBuf;

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ObjType, ROOT, ReadDoc, ScalarValue, Value};
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use zoufang_shared::codes::*;
use zoufang_shared::doc::{ActorId, ChangeAuthor, HouseholdDoc, unpack_changes};
use zoufang_shared::ids::{HelperId, HouseholdId, VisitId};
use zoufang_shared::model::*;
use zoufang_shared::money::{Fen, Mu};
use zoufang_shared::wire::{
    self, MAX_DECODED_BYTES, PROTOCOL_VERSION, Push, SYNC_CONTENT_TYPE, SyncRequest, WireError,
};

type Error = Box<dyn std::error::Error>;

// --- the fixed world the vectors assume (also written to setup.json)

const AREA: &str = "530921100"; // 诗礼乡
/// The protocol the kit's requests speak: 5, which a server still answers for a user whose areas
/// lie in one county (as the kit's do), and whose bytes docs/protocol.md spells out. Protocol 6
/// is the same request with `cursors` after `max_pull_bytes` (docs/protocol.md, "Protocol 6").
const KIT_PROTOCOL: u32 = 5;
const DEVICE_A: &str = "vec-phone-a";
const USER_A: &str = "vec-zhang";
const ACTOR_A: [u8; 16] = [0xa1; 16];
const DEVICE_B: &str = "vec-phone-b";
const USER_B: &str = "vec-li";
const ACTOR_B: [u8; 16] = [0xb2; 16];
/// The pull budget every vector asks for: 1 MiB.
const MAX_PULL: u32 = 1 << 20;
/// The server's default `max_sync_bytes`.
const MAX_SYNC_BYTES: u64 = 16 * 1024 * 1024;

// --- the file format

#[derive(Serialize)]
struct Setup {
    description: &'static str,
    areas_csv: &'static str,
    users: Vec<SetupUser>,
    devices: Vec<SetupDevice>,
    max_sync_bytes: u64,
}

#[derive(Serialize)]
struct SetupUser {
    username: &'static str,
    role: &'static str,
    areas: Vec<&'static str>,
}

#[derive(Serialize)]
struct SetupDevice {
    device_id: &'static str,
    user: &'static str,
    actor: String,
}

#[derive(Serialize)]
struct Vector {
    vector: String,
    description: String,
    request: Request,
    expect: Expect,
}

#[derive(Serialize)]
struct Request {
    method: &'static str,
    path: &'static str,
    /// Whose token goes in `Authorization: Bearer …`; none: no such header.
    device: Option<&'static str>,
    content_type: &'static str,
    /// The body: each segment's bytes `repeat` times, in order.
    body: Vec<Segment>,
    body_len: u64,
    /// The body inflated (raw DEFLATE): the postcard bytes, when small and inflatable.
    #[serde(skip_serializing_if = "Option::is_none")]
    postcard_hex: Option<String>,
    /// The postcard bytes read as a `SyncRequest`, packed changes rebuilt.
    #[serde(skip_serializing_if = "Option::is_none")]
    decoded: Option<Decoded>,
}

#[derive(Serialize)]
struct Segment {
    hex: String,
    repeat: u64,
}

#[derive(Serialize)]
struct Decoded {
    protocol: u32,
    cursor: i64,
    scope: String,
    pushes: Vec<DecodedPush>,
    want_full: Vec<String>,
    max_pull_bytes: u32,
}

#[derive(Serialize)]
struct DecodedPush {
    household: String,
    changes: Vec<Entry>,
}

/// One entry of `Push::changes`.
#[derive(Serialize)]
struct Entry {
    /// `packed` (starts 0x01), `full` (an automerge chunk, starts 85 6f 4a 83) or `opaque`.
    form: &'static str,
    len: usize,
    /// As the entry names them: `{"back": k}` or `{"hash": …}`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    deps: Vec<Dep>,
    /// Of the full chunk (rebuilt when packed).
    #[serde(skip_serializing_if = "Option::is_none")]
    hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    actor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Dep {
    Back { back: u64 },
    Hash { hash: String },
}

#[derive(Serialize)]
struct Expect {
    status: u16,
    /// `code` of the JSON error body (any status but 200).
    code: Option<&'static str>,
    response: Option<ExpectResponse>,
}

#[derive(Serialize)]
struct ExpectResponse {
    results: Vec<ExpectResult>,
    /// How pulled changes travel: `packed` (protocol 4 on) or `full` (protocol 3); none pulled:
    /// null.
    pulled_form: Option<&'static str>,
    /// In order; the hash of each change after unpacking.
    pulled: Vec<ExpectPulled>,
    cursor: i64,
    more: bool,
    scope: String,
    /// Households that left the device's areas (protocol 5 on; absent from the layout of 3 and
    /// 4, read as empty).
    gone: Vec<String>,
}

#[derive(Serialize)]
struct ExpectResult {
    household: String,
    /// `accepted`, `need_all` or `rejected`.
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'static str>,
}

#[derive(Serialize)]
struct ExpectPulled {
    household: String,
    hash: String,
}

// --- helpers

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0)
        .single()
        .expect("a valid time")
}

fn at(minutes: i64) -> DateTime<Utc> {
    t0() + Duration::minutes(minutes)
}

fn author_a(when: DateTime<Utc>) -> ChangeAuthor {
    ChangeAuthor::new(USER_A, DEVICE_A, when)
}

/// The change message `{"u":…,"d":…}` as any client writes it.
fn message(user: &str, device: &str) -> String {
    serde_json::json!({"u": user, "d": device}).to_string()
}

fn scope_key(areas: &[&str]) -> String {
    let mut sorted = areas.to_vec();
    sorted.sort_unstable();
    hex(&Sha256::digest(sorted.join(",").as_bytes())[..8])
}

fn request(protocol: u32, pushes: Vec<Push>) -> SyncRequest {
    SyncRequest {
        protocol,
        pushes,
        max_pull_bytes: MAX_PULL,
        ..SyncRequest::default()
    }
}

fn doc_error(e: impl std::fmt::Display) -> zoufang_shared::doc::DocError {
    zoufang_shared::doc::DocError::Layout(e.to_string())
}

/// A new household in `village` (an area code of 诗礼乡 or another township), one change.
fn create(
    id: &str,
    village: &str,
    name: &str,
    author: &ChangeAuthor,
) -> Result<HouseholdDoc, Error> {
    let (doc, ()) = HouseholdDoc::create_with(
        &HouseholdId(id.to_owned()),
        ActorId::from(ACTOR_A),
        author,
        |e| {
            e.set_info(&HouseholdInfo {
                household_no: Some(format!("{village}{}", &id[id.len() - 3..])),
                year: Some(2026),
                county: Some("凤庆县".into()),
                village: Some(name.into()),
                area_code: Some(village.into()),
                phone: Some("13900000001".into()),
                status: Some(HouseholdStatus::NotExited),
                attribute: Some(PovertyAttribute::General),
                main_cause: Some(PovertyCause::Illness),
                other_causes: [PovertyCause::LackSkills].into(),
                measures: [HelpMeasure::Health, HelpMeasure::Industry].into(),
                food_secure: Some(true),
                clothing_secure: Some(true),
                ..HouseholdInfo::default()
            })?;
            e.set_land(&Land {
                cultivated: Some(Mu(350)),
                ..Land::default()
            })?;
            e.set_income(
                2026,
                &Income {
                    wage: Fen(1_200_000),
                    planting: Fen(350_050),
                    ..Income::default()
                },
            )
        },
    )?;
    Ok(doc)
}

/// A copy of `doc` writing under `actor`.
fn copy(doc: &mut HouseholdDoc, actor: [u8; 16]) -> Result<HouseholdDoc, Error> {
    Ok(HouseholdDoc::load(&doc.save(), ActorId::from(actor))?)
}

/// The changes `doc` made since `have`, as a push of `household`.
fn push(doc: &mut HouseholdDoc, household: &str, have: &[automerge::ChangeHash]) -> Push {
    Push {
        household: household.to_owned(),
        changes: doc.changes_after(have),
    }
}

fn read_uleb(input: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for (i, &byte) in input.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            *input = &input[i + 1..];
            return Some(value);
        }
    }
    None
}

/// The dependencies a packed entry names, as it names them.
fn packed_deps(entry: &[u8]) -> Vec<Dep> {
    let mut rest = &entry[1..];
    let Some(count) = read_uleb(&mut rest) else {
        return Vec::new();
    };
    let mut deps = Vec::new();
    for _ in 0..count {
        match read_uleb(&mut rest) {
            Some(0) if rest.len() >= 32 => {
                deps.push(Dep::Hash {
                    hash: hex(&rest[..32]),
                });
                rest = &rest[32..];
            }
            Some(k) if k > 0 => deps.push(Dep::Back { back: k }),
            _ => break,
        }
    }
    deps
}

fn decoded(req: &SyncRequest) -> Result<Decoded, Error> {
    let mut pushes = Vec::new();
    for p in &req.pushes {
        let full = unpack_changes(p.changes.clone(), MAX_DECODED_BYTES)?;
        let mut changes = Vec::new();
        for (entry, chunk) in p.changes.iter().zip(full) {
            let change = automerge::Change::try_from(chunk.as_slice()).ok();
            let form = match entry.first() {
                Some(0x01) if change.is_some() => "packed",
                Some(0x85) if change.is_some() => "full",
                _ => "opaque",
            };
            let deps = match (form, &change) {
                ("packed", _) => packed_deps(entry),
                ("full", Some(c)) => c
                    .deps()
                    .iter()
                    .map(|h| Dep::Hash {
                        hash: h.to_string(),
                    })
                    .collect(),
                _ => Vec::new(),
            };
            changes.push(Entry {
                form,
                len: entry.len(),
                deps,
                hash: change.as_ref().map(|c| c.hash().to_string()),
                actor: change.as_ref().map(|c| c.actor_id().to_hex_string()),
                seq: change.as_ref().map(automerge::Change::seq),
                time: change.as_ref().map(automerge::Change::timestamp),
                message: change.as_ref().and_then(|c| c.message().map(str::to_owned)),
            });
        }
        pushes.push(DecodedPush {
            household: p.household.clone(),
            changes,
        });
    }
    Ok(Decoded {
        protocol: req.protocol,
        cursor: req.cursor,
        scope: req.scope.clone(),
        pushes,
        want_full: req.want_full.clone(),
        max_pull_bytes: req.max_pull_bytes,
    })
}

fn accepted(household: &str) -> ExpectResult {
    ExpectResult {
        household: household.into(),
        outcome: "accepted",
        code: None,
    }
}

fn rejected(household: &str, code: &'static str) -> ExpectResult {
    ExpectResult {
        household: household.into(),
        outcome: "rejected",
        code: Some(code),
    }
}

fn ok(results: Vec<ExpectResult>, cursor: i64) -> Expect {
    Expect {
        status: 200,
        code: None,
        response: Some(ExpectResponse {
            results,
            pulled_form: None,
            pulled: Vec::new(),
            cursor,
            more: false,
            scope: scope_key(&[AREA]),
            gone: Vec::new(),
        }),
    }
}

fn error(status: u16, code: &'static str) -> Expect {
    Expect {
        status,
        code: Some(code),
        response: None,
    }
}

struct Out {
    dir: PathBuf,
    n: usize,
}

impl Out {
    /// Writes vector `name` with `body` given as segments.
    #[allow(clippy::too_many_arguments)]
    fn write_raw(
        &mut self,
        name: &str,
        description: &str,
        device: Option<&'static str>,
        content_type: &'static str,
        body: Vec<Segment>,
        req: Option<&SyncRequest>,
        expect: Expect,
    ) -> Result<(), Error> {
        self.n += 1;
        let vector = format!("{:02}-{name}", self.n);
        let mut bytes = Vec::new();
        let mut body_len = 0u64;
        for s in &body {
            body_len += s.hex.len() as u64 / 2 * s.repeat;
            if s.repeat == 1 {
                bytes.extend(
                    (0..s.hex.len() / 2)
                        .map(|i| u8::from_str_radix(&s.hex[2 * i..2 * i + 2], 16).expect("hex")),
                );
            }
        }
        // The postcard bytes, for bodies given whole and small once inflated.
        let single = body.len() == 1 && body[0].repeat == 1;
        let mut raw = Vec::new();
        let inflated = single
            && flate2::read::DeflateDecoder::new(bytes.as_slice())
                .take(64 * 1024)
                .read_to_end(&mut raw)
                .is_ok()
            && raw.len() < 64 * 1024;
        let file = Vector {
            vector: vector.clone(),
            description: description.to_owned(),
            request: Request {
                method: "POST",
                path: "/api/sync",
                device,
                content_type,
                body,
                body_len,
                postcard_hex: inflated.then(|| hex(&raw)),
                decoded: match req {
                    Some(r) => Some(decoded(r)?),
                    None => None,
                },
            },
            expect,
        };
        let text = serde_json::to_string_pretty(&file)? + "\n";
        std::fs::write(self.dir.join(format!("{vector}.json")), text)?;
        println!("{vector}: {body_len} bytes");
        Ok(())
    }

    /// Writes vector `name`: `req` as device A or B sends it.
    fn write(
        &mut self,
        name: &str,
        description: &str,
        device: &'static str,
        req: &SyncRequest,
        expect: Expect,
    ) -> Result<(), Error> {
        let body = wire::encode_request(req)?;
        self.write_raw(
            name,
            description,
            Some(device),
            SYNC_CONTENT_TYPE,
            vec![Segment {
                hex: hex(&body),
                repeat: 1,
            }],
            Some(req),
            expect,
        )
    }
}

/// Bits of a DEFLATE stream, least significant first (RFC 1951 §3.1.1).
#[derive(Default)]
struct Bits {
    out: Vec<u8>,
    acc: u8,
    n: u8,
}

impl Bits {
    fn put(&mut self, value: u32, count: u32) {
        for i in 0..count {
            self.acc |= (((value >> i) & 1) as u8) << self.n;
            self.n += 1;
            if self.n == 8 {
                self.out.push(self.acc);
                (self.acc, self.n) = (0, 0);
            }
        }
    }

    /// A Huffman code: most significant bit first.
    fn code(&mut self, code: u32, len: u32) {
        for i in (0..len).rev() {
            self.put((code >> i) & 1, 1);
        }
    }

    /// Six copies of 258 bytes at distance 1 (fixed codes: length 285 = 0xc5, distance 0).
    fn six_matches(&mut self) {
        for _ in 0..6 {
            self.code(0xc5, 8);
            self.code(0, 5);
        }
    }

    /// A stored block (type 00) holding `data`, from a byte boundary.
    fn stored(&mut self, last: bool, data: &[u8]) {
        assert_eq!(self.n, 0);
        let len = u16::try_from(data.len()).expect("a stored block holds at most 65535 bytes");
        self.put(u32::from(last), 1);
        self.put(0, 2);
        self.put(0, 5);
        self.out.extend(len.to_le_bytes());
        self.out.extend((!len).to_le_bytes());
        self.out.extend_from_slice(data);
    }

    fn bytes(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push(self.acc);
        }
        self.out
    }
}

/// A DEFLATE bomb in three segments: a first block (a zero and 1,548 more), a block of 1,548
/// zeros that is whole bytes (3 + 6 × 13 + 7 = 88 bits) and so can be repeated as it is, and an
/// empty final block.
fn deflate_bomb(inflated_at_least: u64) -> Vec<Segment> {
    let mut first = Bits::default();
    first.put(0, 1);
    first.put(1, 2);
    first.code(0x30, 8); // literal 0
    first.six_matches();
    first.code(0, 7); // end of block
    assert_eq!(first.n, 0, "the first block ends on a byte");
    let mut block = Bits::default();
    block.put(0, 1);
    block.put(1, 2);
    block.six_matches();
    block.code(0, 7);
    assert_eq!(block.n, 0, "the repeated block is whole bytes");
    let mut last = Bits::default();
    last.put(1, 1);
    last.put(1, 2);
    last.code(0, 7);
    let repeat = (inflated_at_least - 1549).div_ceil(1548) + 1;
    vec![
        Segment {
            hex: hex(&first.bytes()),
            repeat: 1,
        },
        Segment {
            hex: hex(&block.bytes()),
            repeat,
        },
        Segment {
            hex: hex(&last.bytes()),
            repeat: 1,
        },
    ]
}

fn expand(segments: &[Segment]) -> Vec<u8> {
    let mut out = Vec::new();
    for s in segments {
        let bytes: Vec<u8> = (0..s.hex.len() / 2)
            .map(|i| u8::from_str_radix(&s.hex[2 * i..2 * i + 2], 16).expect("hex"))
            .collect();
        for _ in 0..s.repeat {
            out.extend_from_slice(&bytes);
        }
    }
    out
}

/// A household document's values with their automerge types, for people to read.
fn typed_tree(doc: &automerge::AutoCommit, obj: &automerge::ObjId) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for key in doc.keys(obj) {
        let value = match doc.get(obj, &key) {
            Ok(Some((Value::Object(ObjType::Map), id))) => typed_tree(doc, &id),
            Ok(Some((Value::Object(t), _))) => serde_json::json!({ "object": format!("{t:?}") }),
            Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
                ScalarValue::Str(v) => serde_json::json!({ "str": v.as_str() }),
                ScalarValue::Int(v) => serde_json::json!({ "int": v }),
                ScalarValue::Uint(v) => serde_json::json!({ "uint": v }),
                ScalarValue::Boolean(v) => serde_json::json!({ "bool": v }),
                ScalarValue::Null => serde_json::json!({ "null": null }),
                other => serde_json::json!({ "other": other.to_string() }),
            },
            _ => serde_json::Value::Null,
        };
        out.insert(key, value);
    }
    serde_json::Value::Object(out)
}

fn main() -> Result<(), Error> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/protocol/vectors");
    std::fs::create_dir_all(&dir)?;
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            std::fs::remove_file(path)?;
        }
    }
    let setup = Setup {
        description: "The world every vector assumes: a fresh zoufang-server with default \
                      settings, the areas of areas_csv imported, these users (any password) and \
                      these devices enrolled (POST /api/enroll with this device_id and actor). \
                      Replay the vectors in file-name order, each with the token of the device \
                      it names.",
        areas_csv: "server/data/demo-areas.csv",
        users: vec![
            SetupUser {
                username: USER_A,
                role: "surveyor",
                areas: vec![AREA],
            },
            SetupUser {
                username: USER_B,
                role: "surveyor",
                areas: vec![AREA],
            },
        ],
        devices: vec![
            SetupDevice {
                device_id: DEVICE_A,
                user: USER_A,
                actor: hex(&ACTOR_A),
            },
            SetupDevice {
                device_id: DEVICE_B,
                user: USER_B,
                actor: hex(&ACTOR_B),
            },
        ],
        max_sync_bytes: MAX_SYNC_BYTES,
    };
    std::fs::write(
        dir.join("setup.json"),
        serde_json::to_string_pretty(&setup)? + "\n",
    )?;
    let mut out = Out { dir, n: 0 };
    const H1: &str = "hh-vec-0001";
    const H2: &str = "hh-vec-0002";

    out.write(
        "first-sync-empty",
        "A device's first sync: protocol 5, cursor 0, empty scope, nothing to push, 1 MiB to pull. \
         Nothing is in its areas yet (and a device never pulls its own changes): no results, \
         nothing pulled, cursor 0, and the scope key of 诗礼乡 to send next time.",
        DEVICE_A,
        &request(KIT_PROTOCOL, Vec::new()),
        ok(Vec::new(), 0),
    )?;

    // hh-vec-0001: created, then (vector 4) a member written op by op and a helper and phone.
    let mut h1 = create(H1, "530921100201", "三合村", &author_a(at(0)))?;
    let create_h1 = push(&mut h1, H1, &[]);
    let mut req = request(KIT_PROTOCOL, vec![create_h1.clone()]);
    req.pack();
    out.write(
        "push-create",
        "A new household in 三合村 (530921100201), created as one change under the device's \
         actor a1…a1 with the message {\"u\":\"vec-zhang\",\"d\":\"vec-phone-a\"} at \
         2026-11-20T09:00:00Z (1795165200000 ms). The change has no dependencies; packed, its \
         entry is 0x01, uleb(0) and the chunk's data.",
        DEVICE_A,
        &req,
        ok(vec![accepted(H1)], 1),
    )?;
    out.write(
        "push-create-again",
        "The same request once more (a retry after a lost answer): harmless. The server has the \
         change and skips it; the push is accepted and nothing is stored twice (the cursor stays \
         at 1).",
        DEVICE_A,
        &req,
        ok(vec![accepted(H1)], 1),
    )?;

    let have = h1.heads();
    {
        // A member as a client on another automerge writes it: a map under a fixed id, every
        // value a plain scalar (Str, Int, Boolean), in one change with the author message.
        let am = h1.automerge();
        let members = match am.get(ROOT, "members")? {
            Some((Value::Object(ObjType::Map), id)) => id,
            _ => return Err("no members map".into()),
        };
        let m = am.put_object(&members, "0193f0a1b2c37d4e8f90a1b2c3d4e5f6", ObjType::Map)?;
        am.put(&m, "name", "李大山")?;
        am.put(&m, "sex", "male")?;
        am.put(
            &m,
            "id_number",
            zoufang_shared::demo::id_number("19700312", "011"),
        )?;
        am.put(&m, "relation", "head")?;
        am.put(&m, "health", "healthy")?;
        am.put(&m, "labour", "ordinary")?;
        am.put(&m, "work_months", 3i64)?;
        am.put(&m, "medical_insurance", true)?;
        am.commit_with(
            CommitOptions::default()
                .with_message(message(USER_A, DEVICE_A))
                .with_time(at(5).timestamp_millis()),
        );
    }
    h1.edit(&author_a(at(6)), |e| {
        e.put_helper(
            &HelperId("0193f0a1b2c37d4e8f90a1b2c3d4e5f7".into()),
            &Helper {
                name: "王帮扶".into(),
                unit: Some("凤庆县农业农村局".into()),
                phone: Some("13800000002".into()),
                from: NaiveDate::from_ymd_opt(2026, 1, 1),
                ..Helper::default()
            },
        )?;
        e.set_field("info.phone", serde_json::json!("13900000011"))
    })?;
    let edits_h1 = push(&mut h1, H1, &have);
    let mut h2 = create(H2, "530921100202", "孔兴村", &author_a(at(10)))?;
    h2.edit(&author_a(at(11)), |e| {
        e.add_visit_with_id(
            &VisitId("0193f0a1b2c37d4e8f90a1b2c3d4e5f8".into()),
            &Visit {
                date: NaiveDate::from_ymd_opt(2026, 11, 20).ok_or_else(|| doc_error("date"))?,
                visitor: "张调查".into(),
                visitor_user: Some(USER_A.into()),
                mode: VisitMode::InPerson,
                household_present: Some(true),
                notes: "户主在家,核实收入。".into(),
                policies_known: String::new(),
                satisfaction: Some(Satisfaction::Satisfied),
                attachments: Default::default(),
            },
        )
    })?;
    h2.edit(&author_a(at(12)), |e| {
        e.set_field("living.house_grade", serde_json::json!("b"))
    })?;
    let all_h2 = push(&mut h2, H2, &[]);
    let mut req = request(KIT_PROTOCOL, vec![edits_h1.clone(), all_h2.clone()]);
    req.pack();
    out.write(
        "push-packed-back-references",
        "Two households in one request, changes packed. hh-vec-0001: a member written op by op \
         (its dependency, the create change the server already has, named by its full hash: \
         uleb(0) + 32 bytes), then a helper and a new phone (dependency: back reference 1, the \
         entry just before). hh-vec-0002: created, a visit, the house grade (back references 1). \
         Both accepted; the change log now holds 6 changes.",
        DEVICE_A,
        &req,
        ok(vec![accepted(H1), accepted(H2)], 6),
    )?;

    // Where the server now stands with hh-vec-0001; later pushes build on a copy.
    let mut h1_server = copy(&mut h1, ACTOR_A)?;
    let at_server = h1_server.heads();

    let mut local = copy(&mut h1_server, ACTOR_A)?;
    local.edit(&author_a(at(20)), |e| {
        e.set_field("water.litres_per_person_day", serde_json::json!(40))
    })?;
    let unsent = local.heads();
    local.edit(&author_a(at(21)), |e| {
        e.set_field("water.trip_minutes", serde_json::json!(10))
    })?;
    let mut req = request(KIT_PROTOCOL, vec![push(&mut local, H1, &unsent)]);
    req.pack();
    out.write(
        "push-missing-dependency",
        "An edit of hh-vec-0001 whose dependency, an earlier edit of the device, was never sent \
         (the device's idea of what the server has is wrong). The server cannot apply it: \
         need_all, nothing stored. The device then pushes every change of the household.",
        DEVICE_A,
        &req,
        ok(
            vec![ExpectResult {
                household: H1.into(),
                outcome: "need_all",
                code: None,
            }],
            6,
        ),
    )?;

    let mut forged = copy(&mut h1_server, ACTOR_A)?;
    forged.edit(&ChangeAuthor::new(USER_A, DEVICE_B, at(30)), |e| {
        e.set_field("info.phone", serde_json::json!("13900000030"))
    })?;
    let mut req = request(KIT_PROTOCOL, vec![push(&mut forged, H1, &at_server)]);
    req.pack();
    out.write(
        "push-forged-author",
        "An edit under the device's own actor whose message names another device \
         ({\"u\":\"vec-zhang\",\"d\":\"vec-phone-b\"}): history must not lie about who wrote \
         what. Rejected forged_author, nothing stored.",
        DEVICE_A,
        &req,
        ok(vec![rejected(H1, "forged_author")], 6),
    )?;

    let mut other = copy(&mut h1_server, ACTOR_B)?;
    other.edit(&ChangeAuthor::new(USER_B, DEVICE_B, at(31)), |e| {
        e.set_field("info.phone", serde_json::json!("13900000031"))
    })?;
    let mut req = request(KIT_PROTOCOL, vec![push(&mut other, H1, &at_server)]);
    req.pack();
    out.write(
        "push-forged-actor",
        "vec-phone-a pushes a change under vec-phone-b's actor (b2…b2): a device may push only \
         changes under its own actor. Rejected forged_actor, nothing stored.",
        DEVICE_A,
        &req,
        ok(vec![rejected(H1, "forged_actor")], 6),
    )?;

    let seconds = DateTime::from_timestamp_millis(at(40).timestamp()).ok_or("a time in seconds")?;
    let mut h3 = create("hh-vec-0003", "530921100201", "三合村", &author_a(seconds))?;
    let mut h4 = create("hh-vec-0004", "530921100203", "河平村", &author_a(at(41)))?;
    let future = Utc
        .with_ymd_and_hms(2100, 1, 1, 0, 0, 0)
        .single()
        .ok_or("a time")?;
    let mut h5 = create("hh-vec-0005", "530921100201", "三合村", &author_a(future))?;
    let create_h4 = push(&mut h4, "hh-vec-0004", &[]);
    let mut req = request(
        KIT_PROTOCOL,
        vec![
            push(&mut h3, "hh-vec-0003", &[]),
            create_h4.clone(),
            push(&mut h5, "hh-vec-0005", &[]),
        ],
    );
    req.pack();
    out.write(
        "push-implausible-time",
        "Three new households in one request. hh-vec-0003's change is stamped in seconds \
         (1795167600, as JavaScript's automerge stamps by default: 1970-01-21 read as milliseconds), \
         hh-vec-0005's in 2100: both rejected implausible_time (a change time must lie between \
         2014-01-01T00:00:00Z and one day past the server's clock), nothing stored for them. \
         hh-vec-0004, stamped correctly, is accepted: the rest of a batch proceeds.",
        DEVICE_A,
        &req,
        ok(
            vec![
                rejected("hh-vec-0003", "implausible_time"),
                accepted("hh-vec-0004"),
                rejected("hh-vec-0005", "implausible_time"),
            ],
            7,
        ),
    )?;

    let mut text = copy(&mut h1_server, ACTOR_A)?;
    {
        let am = text.automerge();
        let info = match am.get(ROOT, "info")? {
            Some((Value::Object(ObjType::Map), id)) => id,
            _ => return Err("no info map".into()),
        };
        // What `doc.info.phone = "…"` does in JavaScript's automerge 2 and 3: a Text object.
        let phone = am.put_object(&info, "phone", ObjType::Text)?;
        am.splice_text(&phone, 0, 0, "13900000050")?;
        am.commit_with(
            CommitOptions::default()
                .with_message(message(USER_A, DEVICE_A))
                .with_time(at(50).timestamp_millis()),
        );
    }
    let mut req = request(KIT_PROTOCOL, vec![push(&mut text, H1, &at_server)]);
    req.pack();
    out.write(
        "push-text-object",
        "An edit of hh-vec-0001 that writes info.phone as an automerge Text object instead of a \
         scalar string (what a plain JavaScript string becomes in automerge 2/3; use \
         ImmutableString). Rejected invalid_document, nothing stored.",
        DEVICE_A,
        &req,
        ok(vec![rejected(H1, "invalid_document")], 7),
    )?;

    let mut h6 = create("hh-vec-0006", "530921200201", "锦秀村", &author_a(at(60)))?;
    let mut req = request(KIT_PROTOCOL, vec![push(&mut h6, "hh-vec-0006", &[])]);
    req.pack();
    out.write(
        "push-out-of-scope",
        "A new household in 锦秀村 of 小湾镇 (530921200201), outside the user's areas \
         (530921100): rejected out_of_scope, nothing stored.",
        DEVICE_A,
        &req,
        ok(vec![rejected("hh-vec-0006", "out_of_scope")], 7),
    )?;

    let req = request(
        KIT_PROTOCOL,
        vec![Push {
            household: "hh-vec-0007".into(),
            changes: vec![b"not an automerge change".to_vec()],
        }],
    );
    out.write(
        "push-malformed-change",
        "A push whose one entry is neither a packed entry nor an automerge change chunk: \
         rejected malformed_change.",
        DEVICE_A,
        &req,
        ok(vec![rejected("hh-vec-0007", "malformed_change")], 7),
    )?;

    let mut req = request(KIT_PROTOCOL, vec![create_h4.clone(), create_h4.clone()]);
    req.pack();
    out.write(
        "push-duplicate",
        "The same household twice in one request: the first push is taken (here it holds \
         nothing new: accepted), the second rejected duplicate_push.",
        DEVICE_A,
        &req,
        ok(
            vec![
                accepted("hh-vec-0004"),
                rejected("hh-vec-0004", "duplicate_push"),
            ],
            7,
        ),
    )?;

    let garbage = b"\xff\xfe not a sync body".to_vec();
    out.write_raw(
        "malformed-body",
        "A body that is not raw DEFLATE (the first block header has the reserved type 11): \
         400 malformed.",
        Some(DEVICE_A),
        SYNC_CONTENT_TYPE,
        vec![Segment {
            hex: hex(&garbage),
            repeat: 1,
        }],
        None,
        error(400, "malformed"),
    )?;

    let truncated = wire::encode(&(KIT_PROTOCOL, 0i64))?;
    out.write_raw(
        "malformed-postcard",
        "Valid raw DEFLATE of a postcard SyncRequest cut after its cursor (bytes 04 00): \
         400 malformed.",
        Some(DEVICE_A),
        SYNC_CONTENT_TYPE,
        vec![Segment {
            hex: hex(&truncated),
            repeat: 1,
        }],
        None,
        error(400, "malformed"),
    )?;

    out.write(
        "protocol-too-old",
        "A well-formed request of protocol 2 (the server answers 3 to 6): 400 protocol.",
        DEVICE_A,
        &request(2, Vec::new()),
        error(400, "protocol"),
    )?;
    out.write(
        "protocol-too-new",
        "A well-formed request of protocol 7: 400 protocol.",
        DEVICE_A,
        &request(PROTOCOL_VERSION + 1, Vec::new()),
        error(400, "protocol"),
    )?;

    let empty = wire::encode_request(&request(KIT_PROTOCOL, Vec::new()))?;
    out.write_raw(
        "wrong-content-type",
        "The body of vector 01 sent as application/octet-stream: 415 content_type.",
        Some(DEVICE_A),
        "application/octet-stream",
        vec![Segment {
            hex: hex(&empty),
            repeat: 1,
        }],
        None,
        error(415, "content_type"),
    )?;
    out.write_raw(
        "no-token",
        "The body of vector 01 without an Authorization header: 401 unauthorized.",
        None,
        SYNC_CONTENT_TYPE,
        vec![Segment {
            hex: hex(&empty),
            repeat: 1,
        }],
        None,
        error(401, "unauthorized"),
    )?;

    out.write_raw(
        "oversized-body",
        "A body one byte over the server's max_sync_bytes (16 MiB by default): 413 too_large, \
         whatever it holds.",
        Some(DEVICE_A),
        SYNC_CONTENT_TYPE,
        vec![Segment {
            hex: "00".into(),
            repeat: MAX_SYNC_BYTES + 1,
        }],
        None,
        error(413, "too_large"),
    )?;

    let bomb = deflate_bomb(MAX_DECODED_BYTES + 1);
    let bytes = expand(&bomb);
    assert!(matches!(
        wire::decode::<SyncRequest>(&bytes),
        Err(WireError::TooLarge(_))
    ));
    let mut head = vec![0u8; 4096];
    flate2::read::DeflateDecoder::new(bytes.as_slice()).read_exact(&mut head)?;
    assert!(head.iter().all(|&b| b == 0));
    out.write_raw(
        "deflate-bomb",
        "A DEFLATE bomb: ≈ 470 kB that inflate to more than 64 MiB of zeros (a first block, then \
         one 11-byte block of 1,548 zeros repeated, then an empty final block). The server stops \
         inflating at 64 MiB (`max_inflated_bytes`): 413 too_large.",
        Some(DEVICE_A),
        SYNC_CONTENT_TYPE,
        bomb,
        None,
        error(413, "too_large"),
    )?;

    // Packed entries each naming 64 dependencies by back reference 1: 66 bytes (67 with their
    // postcard length) that rebuild into a 2,060-byte chunk, which the next entry refers back
    // to. The body is DEFLATE written by hand so that it is a few repeated bytes: a stored block
    // (the request up to the first packed entry), an 8-byte fixed-code block of three copies of
    // 258 bytes at distance 67 (3 + 3 × 18 + 7 = 64 bits) repeated 2,881 times — 33,282 more
    // entries — and a final stored block (want_full, max_pull_bytes).
    let mut entry = vec![0x01, 64];
    entry.extend([1u8; 64]);
    let entry = postcard::to_stdvec(&entry)?;
    assert_eq!(entry.len(), 67);
    let blocks = 67 * 43;
    let repeated = 774 * blocks / 67;
    let count = 2 + repeated;
    let mut prefix = postcard::to_stdvec(&(KIT_PROTOCOL, 0i64, String::new()))?;
    prefix.push(1); // one push
    prefix.extend(postcard::to_stdvec(&"hh-vec-0008")?);
    prefix.extend(postcard::to_stdvec(&(count as u32))?);
    prefix.extend(postcard::to_stdvec(&create_h1.changes[0])?);
    prefix.extend(&entry);
    let mut first = Bits::default();
    first.stored(false, &prefix);
    let mut block = Bits::default();
    block.put(0, 1);
    block.put(1, 2);
    for _ in 0..3 {
        block.code(0xc5, 8); // length 258
        block.code(12, 5); // distances 65–96
        block.put(67 - 65, 5);
    }
    block.code(0, 7);
    assert_eq!(block.n, 0, "the repeated block is whole bytes");
    let mut last = Bits::default();
    last.stored(
        true,
        &postcard::to_stdvec(&(Vec::<String>::new(), MAX_PULL))?,
    );
    let segments = vec![
        Segment {
            hex: hex(&first.bytes()),
            repeat: 1,
        },
        Segment {
            hex: hex(&block.bytes()),
            repeat: blocks as u64,
        },
        Segment {
            hex: hex(&last.bytes()),
            repeat: 1,
        },
    ];
    let mut req: SyncRequest = wire::decode_request(&expand(&segments), MAX_DECODED_BYTES)?;
    assert_eq!(req.pushes[0].changes.len(), count);
    assert!(
        req.pushes[0].changes[1..]
            .iter()
            .all(|c| c[..] == entry[1..])
    );
    assert!(req.unpack().is_err(), "it unpacks past the ceiling");
    out.write_raw(
        "packed-expansion-bomb",
        &format!(
            "One push of hh-vec-0008: a full change chunk, then {} packed entries of 66 bytes \
             (0x01, uleb(64), 64 × uleb(1)), each naming the entry before it 64 times; each \
             rebuilds into a 2,060-byte chunk, together more than 64 MiB. The body is hand-made \
             DEFLATE (a stored block, an 8-byte block repeated, a final stored block); inflated \
             it is ≈ 2.3 MB and decodes, and would unpack past the 64 MiB ceiling, but the \
             server refuses it before unpacking: more changes of one household than \
             `max_changes_per_household` (1,000 by default). 413 too_many_changes, nothing \
             stored.",
            count - 1
        ),
        Some(DEVICE_A),
        SYNC_CONTENT_TYPE,
        segments,
        None,
        error(413, "too_many_changes"),
    )?;

    // What vec-phone-b pulls: every change vec-phone-a got accepted, in log order.
    let mut log: Vec<(&str, Vec<u8>)> = Vec::new();
    log.extend(create_h1.changes.iter().map(|c| (H1, c.clone())));
    log.extend(edits_h1.changes.iter().map(|c| (H1, c.clone())));
    log.extend(all_h2.changes.iter().map(|c| (H2, c.clone())));
    log.extend(create_h4.changes.iter().map(|c| ("hh-vec-0004", c.clone())));
    let hash = |c: &[u8]| -> Result<String, Error> {
        Ok(automerge::Change::try_from(c)?.hash().to_string())
    };
    let pulled = |entries: &[(&str, Vec<u8>)]| -> Result<Vec<ExpectPulled>, Error> {
        entries
            .iter()
            .map(|(h, c)| {
                Ok(ExpectPulled {
                    household: (*h).to_owned(),
                    hash: hash(c)?,
                })
            })
            .collect()
    };
    let pull = |form: &'static str, pulled: Vec<ExpectPulled>, cursor: i64| Expect {
        status: 200,
        code: None,
        response: Some(ExpectResponse {
            results: Vec::new(),
            pulled_form: Some(form),
            pulled,
            cursor,
            more: false,
            scope: scope_key(&[AREA]),
            gone: Vec::new(),
        }),
    };
    out.write(
        "pull-protocol-3",
        "vec-phone-b (user vec-li, also in 诗礼乡) syncs for the first time on protocol 3: it \
         pulls the 7 changes vec-phone-a got accepted, in log order, each a full automerge \
         chunk (protocol 3 devices read nothing else), in the response layout without `gone`. \
         Cursor 7.",
        DEVICE_B,
        &request(3, Vec::new()),
        pull("full", pulled(&log)?, 7),
    )?;
    out.write(
        "pull-packed",
        "The same pull on protocol 5: the same 7 changes, packed across the whole response (a \
         dependency on any change earlier in the response is a back reference). Unpacked they \
         are the changes of vector 22 byte for byte.",
        DEVICE_B,
        &request(KIT_PROTOCOL, Vec::new()),
        pull("packed", pulled(&log)?, 7),
    )?;
    let mut req = request(KIT_PROTOCOL, Vec::new());
    req.cursor = 7;
    req.scope = scope_key(&[AREA]);
    req.want_full = vec![H2.into()];
    let h2_log: Vec<(&str, Vec<u8>)> = all_h2.changes.iter().map(|c| (H2, c.clone())).collect();
    out.write(
        "pull-want-full",
        "vec-phone-b at cursor 7 with the scope key it was given, asking for hh-vec-0002 whole \
         (want_full: it could not apply a pulled change of it). Nothing new in the log; the \
         household's every change follows, packed.",
        DEVICE_B,
        &req,
        pull("packed", pulled(&h2_log)?, 7),
    )?;

    // hh-vec-0001 as the server holds it, every value with its automerge type.
    let tree = typed_tree(h1_server.automerge(), &ROOT);
    std::fs::write(
        out.dir.join("hh-vec-0001.document.json"),
        serde_json::to_string_pretty(&tree)? + "\n",
    )?;
    Ok(())
}
