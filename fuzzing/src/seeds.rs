//! Seed inputs for each target, built from real data the way the product makes it: sync
//! requests of devices editing households, saved documents of the demo county (with its
//! conflicts and case histories), generated national rosters in UTF-8 and GBK, and small JPEG and
//! PNG images. `cargo run -p zoufang-fuzzing --example seeds` writes them into `fuzz/corpus/`.

use chrono::NaiveDate;
use zoufang_client::roster_gen;
use zoufang_server::demo::{CountySpec, plan};
use zoufang_shared::codes::HouseGrade;
use zoufang_shared::doc::{ActorId, ChangeAuthor, DocError, HouseholdDoc};
use zoufang_shared::ids::HouseholdId;
use zoufang_shared::wire::{self, PROTOCOL_VERSION, Push, SyncRequest};

/// A seed: the target it is for, a name, its bytes.
pub struct Seed {
    pub target: &'static str,
    pub name: String,
    pub bytes: Vec<u8>,
}

pub fn seeds() -> Result<Vec<Seed>, DocError> {
    let mut out = Vec::new();
    docs_and_syncs(&mut out)?;
    // Requests are named by protocol: those of earlier ones stay in the corpus beside them.
    for s in out.iter_mut().filter(|s| s.target == "sync_decode") {
        s.name = format!("p{PROTOCOL_VERSION}-{}", s.name);
    }
    rosters(&mut out);
    images(&mut out);
    inflate_streams(&mut out);
    Ok(out)
}

/// Inputs of findings fixed, for `fuzz/regressions/`: each once crashed its target.
pub fn regressions() -> Vec<Seed> {
    let mut out = Vec::new();
    // Maps nested 5,000 deep (9 kB): reading the document recursed once per level and overflowed
    // the stack, aborting the server on a device's push (see `zoufang_shared::doc::tree`).
    let (doc, change) = deep_nesting(5_000);
    seed(&mut out, "doc_load", "deep-nesting", doc);
    let push = Push {
        household: "hh-deep".into(),
        changes: vec![change],
    };
    seed(
        &mut out,
        "sync_decode",
        "deep-nesting",
        request(vec![push], Vec::new()),
    );
    // A chunk at offset i64::MAX: the server's end-of-chunk sum overflowed (a panic with
    // overflow checks, a wrapped negative end without).
    let jpeg = jpeg();
    let mut input = vec![0, 1, 1];
    input.extend_from_slice(&i64::MAX.to_le_bytes());
    input.extend_from_slice(&(jpeg.len() as u16).to_le_bytes());
    input.extend_from_slice(&jpeg);
    seed(&mut out, "attachment_upload", "offset-overflow", input);
    out
}

/// A household document whose `info` holds maps nested `depth` deep, written as one change by
/// device `dev-1` (so that the server's actor and author checks let it through): the saved
/// document and the change.
pub fn deep_nesting(depth: usize) -> (Vec<u8>, Vec<u8>) {
    use automerge::transaction::{CommitOptions, Transactable};
    use automerge::{AutoCommit, ObjType, ROOT};
    let mut doc = AutoCommit::new().with_actor(ActorId::from(*b"zoufang-device01"));
    let mut put = || -> Result<(), automerge::AutomergeError> {
        doc.put(ROOT, "zoufang", "household")?;
        doc.put(ROOT, "schema", 1i64)?;
        doc.put(ROOT, "id", "hh-deep")?;
        let mut obj = ROOT;
        for _ in 0..depth {
            obj = doc.put_object(&obj, "info", ObjType::Map)?;
        }
        Ok(())
    };
    put().expect("plain puts succeed");
    doc.commit_with(
        CommitOptions::default()
            .with_message(r#"{"u":"u-1","d":"dev-1"}"#)
            .with_time(crate::now().timestamp_millis()),
    );
    let change = doc.get_changes(&[]).first().map(|c| c.raw_bytes().to_vec());
    (doc.save(), change.expect("one change"))
}

/// Streams for the bounded inflater: text within its limit, exactly at it, and a run of zeros
/// that inflates a thousandfold past it (a small bomb).
fn inflate_streams(out: &mut Vec<Seed>) {
    use std::io::Write;
    let deflate = |bytes: &[u8]| {
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(bytes).expect("in memory");
        z.finish().expect("in memory")
    };
    let text = "走访 household 530921100201 ".repeat(40);
    for (name, limit_units, body) in [
        ("text-within", 200u16, text.as_bytes().to_vec()),
        (
            "text-exact",
            (text.len() / 16) as u16,
            text.as_bytes()[..text.len() / 16 * 16].to_vec(),
        ),
        ("zeros-bomb", 64, vec![0u8; 1 << 20]),
    ] {
        let mut bytes = limit_units.to_le_bytes().to_vec();
        bytes.extend(deflate(&body));
        seed(out, "inflate", name, bytes);
    }
}

fn seed(out: &mut Vec<Seed>, target: &'static str, name: impl Into<String>, bytes: Vec<u8>) {
    out.push(Seed {
        target,
        name: name.into(),
        bytes,
    });
}

fn day() -> NaiveDate {
    crate::today()
}

/// A request as the client sends it: changes packed.
fn request(pushes: Vec<Push>, want_full: Vec<String>) -> Vec<u8> {
    let mut req = SyncRequest {
        protocol: PROTOCOL_VERSION,
        pushes,
        want_full,
        max_pull_bytes: 1 << 20,
        ..SyncRequest::default()
    };
    req.pack();
    wire::encode(&req).expect("a request encodes")
}

fn docs_and_syncs(out: &mut Vec<Seed>) -> Result<(), DocError> {
    // The demo county: its showcase households carry conflicts, cases with steps and objections.
    let county = plan(&CountySpec::demo(12, day()));
    for (i, write) in county.build(0..12)?.into_iter().enumerate() {
        seed(out, "doc_load", format!("demo-{i}"), write.doc.clone());
        if let Some(first) = write.changes.first() {
            seed(
                out,
                "doc_load",
                format!("demo-{i}-change"),
                first.bytes.clone(),
            );
        }
        if i < 4 {
            let push = Push {
                household: write.id.clone(),
                changes: write.changes.iter().map(|c| c.bytes.clone()).collect(),
            };
            seed(
                out,
                "sync_decode",
                format!("demo-{i}"),
                request(vec![push], Vec::new()),
            );
        }
    }
    // A device creates a household in its area and later edits it: a first push, a delta push
    // onto what the server has, and the same field edited concurrently on two devices.
    let author = |device: &str| ChangeAuthor::new("u-1", device, crate::now());
    let id = HouseholdId("hh-A1".into());
    let (mut doc, ()) = HouseholdDoc::create_with(
        &id,
        ActorId::from(*b"zoufang-device01"),
        &author("dev-1"),
        |e| {
            zoufang_shared::demo::fill_typical(e)?;
            let mut info = e.household()?.info;
            info.area_code = Some("530921100001".into());
            e.set_info(&info)
        },
    )?;
    let created = doc.heads();
    let first = doc.changes_after(&[]);
    let mut other = doc.fork(ActorId::from(*b"zoufang-device02"));
    let edit = |doc: &mut HouseholdDoc, device: &str, grade: HouseGrade| {
        doc.edit(&author(device), |e| {
            let mut living = e.household()?.living;
            living.house_grade = Some(grade);
            e.set_living(&living)
        })
    };
    edit(&mut doc, "dev-1", HouseGrade::A)?;
    edit(&mut other, "dev-2", HouseGrade::C)?;
    let delta = doc.changes_after(&created);
    // Named for the stored form (`shared/src/doc/stored.rs`): the corpus keeps the files of the
    // names before it, in automerge's own form, which a load still reads.
    seed(out, "doc_load", "stored-typical", doc.save());
    doc.merge(&mut other)?;
    seed(out, "doc_load", "stored-conflict", doc.save());
    let push = |changes| Push {
        household: id.0.clone(),
        changes,
    };
    seed(
        out,
        "sync_decode",
        "create",
        request(vec![push(first)], Vec::new()),
    );
    seed(
        out,
        "sync_decode",
        "delta",
        request(vec![push(delta)], vec!["hh-B2".into()]),
    );
    seed(out, "sync_decode", "empty", request(Vec::new(), Vec::new()));
    Ok(())
}

fn rosters(out: &mut Vec<Seed>) {
    let households = roster_gen::generate(6, 7, day());
    let csv = roster_gen::to_csv(&households);
    let (gbk, _, _) = encoding_rs::GBK.encode(&csv);
    seed(out, "csv_import", "roster-utf8", csv.clone().into_bytes());
    seed(
        out,
        "csv_import",
        "roster-utf8-bom",
        [&b"\xef\xbb\xbf"[..], csv.as_bytes()].concat(),
    );
    seed(out, "csv_import", "roster-gbk", gbk.into_owned());
    seed(
        out,
        "csv_import",
        "roster-title-rows",
        format!("凤庆县建档立卡花名册\n导出日期:2026-03-01\n{csv}").into_bytes(),
    );
    // Faults the checks name: a bad 户编号, an ID mangled into scientific notation, a row that
    // disagrees with its household, a duplicate person, a missing head.
    let faulty = "户编号,村,户主姓名,姓名,性别,与户主关系,证件号码,年度\n\
                  A-1,三合村,李大山,李大山,男,户主,530921197003120114,2026\n\
                  B2,三合村,王五,王五,女,户主,5.30921E+17,二〇二六\n\
                  B2,新民村,王五,王六,男,之子,530921197003120114,2026\n\
                  C3,三合村,赵七,赵八,男,之子,530921198001010312,2026\n";
    seed(out, "csv_import", "faults", faulty.as_bytes().to_vec());
}

/// The upload input layout of [`crate::attachment_upload`]: flags, one chunk of everything, body.
fn upload(flags: u8, chunk_lens: &[u16], body: &[u8]) -> Vec<u8> {
    let mut out = vec![flags, chunk_lens.len() as u8];
    for len in chunk_lens {
        out.push(0);
        out.extend_from_slice(&len.to_le_bytes());
    }
    out.extend_from_slice(body);
    out
}

/// A baseline JPEG of 320×240: SOI, an APP0 (JFIF) segment, SOF0, EOI.
fn jpeg() -> Vec<u8> {
    let mut jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00".to_vec();
    jpeg.extend_from_slice(
        b"\xff\xc0\x00\x11\x08\x00\xf0\x01\x40\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01",
    );
    jpeg.extend_from_slice(b"\xff\xd9");
    jpeg
}

fn images(out: &mut Vec<Seed>) {
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.extend_from_slice(&640u32.to_be_bytes());
    png.extend_from_slice(&480u32.to_be_bytes());
    png.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
    let jpeg = jpeg();
    let len = |b: &[u8]| b.len() as u16;
    for (name, upload) in [
        ("png-whole", upload(1, &[len(&png)], &png)),
        ("jpeg-whole", upload(0, &[len(&jpeg)], &jpeg)),
        ("png-two-chunks", upload(1, &[10, len(&png) - 10], &png)),
        ("jpeg-wrong-hash", upload(4, &[len(&jpeg)], &jpeg)),
        ("png-as-jpeg", upload(0, &[len(&png)], &png)),
    ] {
        seed(out, "attachment_upload", name, upload);
    }
}
