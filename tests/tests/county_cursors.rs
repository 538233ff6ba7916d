//! The change log numbered per county, end to end (issue 21): two server processes on one
//! PostgreSQL take pushes in two counties at once, while a device whose user works in both
//! counties pulls small pages from one process and then the other with its cursor map. At the
//! end it holds every change written, each once, without ever pulling from the start again: a
//! county's numbers are handed out in commit order under its own counter, so no page's cursor
//! can pass a change that commits later. Devices of protocol 5 keep one cursor, which works
//! while their user's areas lie in one county and is refused in Chinese when they do not.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use reqwest::StatusCode;
use serde_json::json;
use zoufang_e2e::api::{ApiDevice, PullFrom, actor_hex, has_chinese, outcome};
use zoufang_e2e::{ServerProcess, TestDb, add_users, zoufang_server};
use zoufang_shared::doc::{ActorId, ChangeAuthor, HouseholdDoc, IncomingChange};
use zoufang_shared::ids::HouseholdId;
use zoufang_shared::wire::{self, ErrorBody, Push, PushOutcome, SyncRequest};

/// A township of 凤庆县 (530921) and one of 云县 (530922).
const FENGQING: &str = "530921100";
const YUNXIAN: &str = "530922100";
/// Writers: two devices in each county, each on its own user.
const WRITERS: [(&str, &str, u8); 4] = [
    ("fq-1", FENGQING, 0x51),
    ("fq-2", FENGQING, 0x52),
    ("yx-1", YUNXIAN, 0x61),
    ("yx-2", YUNXIAN, 0x62),
];
const ROUNDS: usize = 10;
const NEW_PER_ROUND: usize = 2;
/// Small enough that most pulls are cut short (a change here is a few hundred bytes).
const PAGE_BYTES: u32 = 600;

type Seen = BTreeSet<(String, String)>;

fn hash_of(change: &[u8]) -> String {
    IncomingChange::decode(change)
        .expect("a change decodes")
        .hash()
        .to_string()
}

/// One writer's work: rounds of new households (created, then edited) and an edit of one of
/// its earlier ones, pushed alternately through each server process. Returns what it wrote.
async fn write_rounds(
    device: ApiDevice,
    user: &'static str,
    area: &'static str,
    servers: [String; 2],
) -> Seen {
    let author = ChangeAuthor::new(user, actor_hex(&device.actor), chrono::Utc::now());
    let mut docs: Vec<(String, HouseholdDoc)> = Vec::new();
    let mut written = Seen::new();
    let mut from = PullFrom::default();
    for round in 0..ROUNDS {
        let mut pushes = Vec::new();
        for k in 0..NEW_PER_ROUND {
            let id = format!("hh-{user}-{round:02}-{k}");
            let (mut doc, ()) = HouseholdDoc::create_with(
                &HouseholdId(id.clone()),
                ActorId::from(device.actor),
                &author,
                |e| e.set_field("info.area_code", json!(format!("{area}201"))),
            )
            .expect("create");
            doc.edit(&author, |e| {
                e.set_field("info.phone", json!(format!("1390000{round:02}{k:02}")))
            })
            .expect("edit");
            pushes.push(Push {
                household: id.clone(),
                changes: doc.changes_after(&[]),
            });
            docs.push((id, doc));
        }
        if round > 0 {
            let (id, doc) = &mut docs[round - 1];
            let have = doc.heads();
            doc.edit(&author, |e| {
                e.set_field("living.house_area_m2", json!(60 + round))
            })
            .expect("edit");
            pushes.push(Push {
                household: id.clone(),
                changes: doc.changes_after(&have),
            });
        }
        for p in &pushes {
            written.extend(p.changes.iter().map(|c| (p.household.clone(), hash_of(c))));
        }
        let ids: Vec<String> = pushes.iter().map(|p| p.household.clone()).collect();
        let res = device
            .at(&servers[round % 2])
            .sync_from(&from, pushes)
            .await;
        for id in &ids {
            assert!(
                matches!(outcome(&res, id), PushOutcome::Accepted { .. }),
                "{user} round {round}, {id}: {:?}",
                outcome(&res, id)
            );
        }
        from = PullFrom::after(&res);
    }
    written
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_device_across_two_counties_misses_nothing_while_two_servers_write() {
    let db = TestDb::postgres();
    let mut users: Vec<(&str, &str, &str)> = WRITERS
        .iter()
        .map(|(u, area, _)| (*u, "surveyor", *area))
        .collect();
    users.push(("both", "surveyor", FENGQING));
    let a = ServerProcess::start(&db.url).await;
    // The test areas are 凤庆县's; 云县 joins them.
    let dir = tempfile::tempdir().expect("dir");
    let csv = dir.path().join("yunxian.csv");
    std::fs::write(
        &csv,
        "code,name,parent,level\n530922,云县,,county\n530922100,爱华镇,530922,township\n\
         530922100201,新城村,530922100,village\n",
    )
    .expect("write the areas");
    let (status, _, err) =
        zoufang_server(&db.url, &["area", "import", &csv.display().to_string()]).await;
    assert!(status.success(), "area import: {err}");
    add_users(&db.url, &users).await;
    a.set_areas("both", &[FENGQING, YUNXIAN]).await;
    let b = ServerProcess::spawn(&db.url).await;
    let servers = [a.url.clone(), b.url.clone()];

    let reader = ApiDevice::enroll(&a.url, "both", &actor_hex(&[0x70; 16]), [0x70; 16]).await;
    let done = Arc::new(AtomicBool::new(false));
    let pulling = {
        let (reader, done, servers) = (reader.clone(), done.clone(), servers.clone());
        tokio::spawn(async move {
            let (mut from, mut seen) = (PullFrom::default(), Seen::new());
            let (mut pulls, mut cut_short, mut quiet) = (0usize, 0usize, 0usize);
            let mut while_writing = 0usize;
            // Until the writers are done and two pulls after that found nothing more.
            while quiet < 2 {
                let finished = done.load(Ordering::SeqCst);
                let res = reader
                    .at(&servers[pulls % 2])
                    .sync_paged(&from, Vec::new(), PAGE_BYTES)
                    .await;
                pulls += 1;
                cut_short += usize::from(res.more);
                while_writing += usize::from(!finished && !res.pulled.is_empty());
                for p in &res.pulled {
                    let fresh = seen.insert((p.household.clone(), hash_of(&p.change)));
                    assert!(fresh, "{} sent twice to an incremental pull", p.household);
                }
                assert!(res.gone.is_empty(), "nothing left the reader's areas");
                from = PullFrom::after(&res);
                quiet = if finished && !res.more && res.pulled.is_empty() {
                    quiet + 1
                } else {
                    0
                };
            }
            (seen, from, pulls, cut_short, while_writing)
        })
    };

    let mut writing = tokio::task::JoinSet::new();
    for (i, (user, area, actor)) in WRITERS.iter().enumerate() {
        let device = ApiDevice::enroll(
            &servers[i % 2],
            user,
            &actor_hex(&[*actor; 16]),
            [*actor; 16],
        )
        .await;
        let servers = if i % 2 == 0 {
            servers.clone()
        } else {
            [servers[1].clone(), servers[0].clone()]
        };
        writing.spawn(write_rounds(device, user, area, servers));
    }
    let mut written = Seen::new();
    while let Some(w) = writing.join_next().await {
        written.extend(w.expect("a writer"));
    }
    done.store(true, Ordering::SeqCst);
    let (seen, from, pulls, cut_short, while_writing) = pulling.await.expect("the reader");

    let per_writer = ROUNDS * NEW_PER_ROUND * 2 + (ROUNDS - 1);
    assert_eq!(written.len(), WRITERS.len() * per_writer);
    let missed: Vec<_> = written.difference(&seen).collect();
    assert!(
        missed.is_empty(),
        "{} changes never pulled, e.g. {:?}",
        missed.len(),
        missed.first()
    );
    assert_eq!(seen, written, "nothing pulled that was not written");
    assert!(
        cut_short > 10,
        "the pages were small ({cut_short} of {pulls} cut short)"
    );
    assert!(
        while_writing > 0,
        "changes were pulled while the writers wrote ({pulls} pulls)"
    );
    let counties: Vec<(&str, i64)> = from.cursors.iter().collect();
    assert_eq!(
        counties,
        [
            ("530921", (2 * per_writer) as i64),
            ("530922", (2 * per_writer) as i64)
        ],
        "one cursor per county, each at its own county's count"
    );
    eprintln!(
        "{pulls} pulls ({while_writing} bringing changes while the writers wrote), {cut_short} \
         cut short, {} changes",
        seen.len()
    );

    // Protocol 5: one cursor, which stands for the county of a one-county user...
    let fq = ApiDevice::enroll(&a.url, "fq-1", &actor_hex(&[0x59; 16]), [0x59; 16]).await;
    let v5 = |cursor: i64, scope: String| SyncRequest {
        protocol: 5,
        cursor,
        scope,
        max_pull_bytes: 8 << 20,
        ..SyncRequest::default()
    };
    let reply = fq
        .post_raw(wire::encode_request(&v5(0, String::new())).expect("encode"))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let mut first = wire::decode_response(&reply.body, 5).expect("a protocol 5 answer");
    first.unpack().expect("unpack");
    assert_eq!(
        first.pulled.len(),
        2 * per_writer,
        "凤庆县's changes, 云县's none"
    );
    assert_eq!(first.cursor, (2 * per_writer) as i64);
    let reply = fq
        .post_raw(wire::encode_request(&v5(first.cursor, first.scope.clone())).expect("encode"))
        .await;
    let again = wire::decode_response(&reply.body, 5).expect("a protocol 5 answer");
    assert!(again.pulled.is_empty(), "its one cursor holds");
    // ...and is refused, in Chinese, when the areas span two counties.
    let reply = reader
        .post_raw(wire::encode_request(&v5(0, String::new())).expect("encode"))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let err: ErrorBody = serde_json::from_slice(&reply.body).expect("an error body");
    assert_eq!(err.code, "protocol");
    assert!(has_chinese(&err.error), "{}", err.error);
}
