//! Storage stories, each told against SQLite and against PostgreSQL.
//!
//! PostgreSQL is not optional: CI has one, and the sync guarantees that matter most (several
//! server processes on one database) only exist there. The server is taken from
//! `ZOUFANG_TEST_PG` (default `postgres://postgres@127.0.0.1:5432/test`); every test creates its
//! own scratch database on it and drops it afterwards, so tests run in parallel.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

mod common;

use chrono::{DateTime, TimeDelta, Utc};
use common::{open, with_database, with_pg, with_sqlite};
use zoufang_server::projection::Projection;
use zoufang_server::storage::postgres::PgDb;
use zoufang_server::storage::sqlite::SqliteDb;
use zoufang_server::storage::{
    Accounts, AnyDb, Area, Backend, ChangePage, Database, DbError, HouseholdWrite, NewChange,
    NewDevice, NewUser, OwnChanges, Role, SyncWrite,
};

fn area(code: &str, name: &str, parent: Option<&str>, level: &str) -> Area {
    Area {
        code: code.into(),
        name: name.into(),
        parent: parent.map(Into::into),
        level: level.into(),
    }
}

fn new_user(username: &str, role: Role, areas: &[&str]) -> NewUser {
    NewUser {
        username: username.into(),
        display_name: format!("{username} 同志"),
        password_hash: format!("$argon2id$v=19$fake${username}"),
        role,
        areas: areas.iter().map(|a| (*a).to_owned()).collect(),
    }
}

/// Whole seconds: PostgreSQL keeps microseconds, chrono nanoseconds.
fn in_days(days: i64) -> DateTime<Utc> {
    let t = Utc::now() + TimeDelta::days(days);
    DateTime::from_timestamp(t.timestamp(), 0).expect("a valid time")
}

fn device(id: &str, user_id: i64, actor: &str, token: &str, days: i64) -> NewDevice {
    NewDevice {
        id: id.into(),
        user_id,
        name: format!("{id} 的手机"),
        actor: actor.into(),
        token_hash: token.into(),
        expires_at: in_days(days),
    }
}

fn change(hash: &str, actor: &str, len: usize) -> NewChange {
    let mut bytes = format!("{hash}|").into_bytes();
    bytes.resize(len.max(bytes.len()), b'.');
    NewChange {
        hash: hash.into(),
        actor: actor.into(),
        bytes,
    }
}

/// The hash a test change carries at the front of its bytes.
fn hash_of(bytes: &[u8]) -> String {
    let end = bytes
        .iter()
        .position(|b| *b == b'|')
        .expect("a test change");
    String::from_utf8(bytes[..end].to_vec()).expect("utf-8 hash")
}

fn write(
    id: &str,
    area_code: &str,
    doc: &str,
    expected_version: Option<i64>,
    changes: Vec<NewChange>,
) -> HouseholdWrite {
    HouseholdWrite {
        id: id.into(),
        area_code: area_code.into(),
        doc: doc.as_bytes().to_vec(),
        expected_version,
        changes,
        projection: Projection::empty(id),
    }
}

fn batch(households: Vec<HouseholdWrite>) -> SyncWrite {
    SyncWrite { households }
}

fn scope(codes: &[&str]) -> Vec<String> {
    codes.iter().map(|c| (*c).to_owned()).collect()
}

fn hashes(page: &ChangePage) -> Vec<String> {
    page.changes.iter().map(|c| hash_of(&c.bytes)).collect()
}

async fn pull<D: Database>(db: &D, cursor: i64, codes: &[&str], exclude: &str) -> ChangePage {
    db.changes_since(cursor, &scope(codes), OwnChanges::of(exclude), usize::MAX)
        .await
        .expect("pull")
}

// Township 530921100 with village 530921100201 (and 202); township 530921200 with 530921200101.
const VILLAGE: &str = "530921100201";
const VILLAGE_2: &str = "530921100202";
const TOWNSHIP: &str = "530921100";
const OTHER_VILLAGE: &str = "530921200101";
const OTHER_TOWNSHIP: &str = "530921200";

// --- stories

async fn accounts_story<D: Database>(db: D) {
    let tree = [
        area("530921", "双江县", None, "county"),
        area(TOWNSHIP, "勐勐镇", Some("530921"), "township"),
        area(OTHER_TOWNSHIP, "勐库镇", Some("530921"), "township"),
        area(VILLAGE, "忙糯村", Some(TOWNSHIP), "village"),
    ];
    assert_eq!(db.upsert_areas(&tree).await.expect("import areas"), 4);
    let renamed = [area(VILLAGE, "忙糯村委会", Some(TOWNSHIP), "village")];
    assert_eq!(db.upsert_areas(&renamed).await.expect("re-import"), 1);
    let areas = db.areas().await.expect("areas");
    assert_eq!(
        areas.iter().map(|a| a.code.as_str()).collect::<Vec<_>>(),
        ["530921", TOWNSHIP, VILLAGE, OTHER_TOWNSHIP]
    );
    assert_eq!(areas[2], renamed[0]);
    assert_eq!(areas[0].parent, None);

    let alice = db
        .create_user(&new_user("alice", Role::Surveyor, &[VILLAGE]))
        .await
        .expect("create alice");
    let bob = db
        .create_user(&new_user(
            "bob",
            Role::TownshipReviewer,
            &[OTHER_TOWNSHIP, TOWNSHIP, TOWNSHIP],
        ))
        .await
        .expect("create bob");
    assert_ne!(alice, bob);
    let again = db
        .create_user(&new_user("alice", Role::Admin, &["530921"]))
        .await;
    assert!(matches!(again, Err(DbError::Duplicate)), "{again:?}");

    let found = db
        .user_by_name("alice")
        .await
        .expect("look up")
        .expect("alice exists");
    assert_eq!(found.id, alice);
    assert_eq!(found.display_name, "alice 同志");
    assert_eq!(found.password_hash, "$argon2id$v=19$fake$alice");
    assert_eq!(found.role, Role::Surveyor);
    assert!(!found.disabled);
    assert_eq!(found.areas, [VILLAGE]);
    assert!(db.user_by_name("nobody").await.expect("look up").is_none());

    db.set_user_disabled("bob", true).await.expect("disable");
    let missing = db.set_user_disabled("nobody", true).await;
    assert!(matches!(missing, Err(DbError::NotFound)), "{missing:?}");
    let users = db.users().await.expect("users");
    assert_eq!(users.len(), 2);
    assert_eq!(
        users[0], found,
        "the failed duplicate left alice as she was"
    );
    assert_eq!(users[1].username, "bob");
    assert_eq!(users[1].role, Role::TownshipReviewer);
    assert!(users[1].disabled);
    assert_eq!(users[1].areas, [TOWNSHIP, OTHER_TOWNSHIP]);

    // Devices: enroll, look up by token hash.
    let actor_a = "aa".repeat(16);
    let actor_b = "bb".repeat(16);
    // One expiry value: computing "in 30 days" twice may straddle a second.
    let first = device("phone-a", alice, &actor_a, "t1", 30);
    db.enroll_device(&first).await.expect("enroll");
    let auth = db
        .device_by_token("t1")
        .await
        .expect("look up")
        .expect("t1 is valid");
    assert_eq!(auth.device_id, "phone-a");
    assert_eq!(auth.actor, actor_a);
    assert_eq!(auth.expires_at, first.expires_at);
    assert!(!auth.revoked);
    assert_eq!(auth.user, found);
    assert!(db.device_by_token("t0").await.expect("look up").is_none());

    // The actor belongs to phone-a: no other device may claim it.
    let stolen = db
        .enroll_device(&device("phone-b", bob, &actor_a, "t9", 30))
        .await;
    assert!(matches!(stolen, Err(DbError::Duplicate)), "{stolen:?}");
    // Nor may another user take phone-a's enrollment over.
    let takeover = db
        .enroll_device(&device("phone-a", bob, &actor_b, "t9", 30))
        .await;
    assert!(matches!(takeover, Err(DbError::Duplicate)), "{takeover:?}");
    assert!(db.device_by_token("t9").await.expect("look up").is_none());

    // Re-enrollment replaces the token: the old one stops working.
    // One expiry value: computing "in 60 days" twice may straddle a second.
    let again = device("phone-a", alice, &actor_a, "t2", 60);
    db.enroll_device(&again).await.expect("re-enroll");
    assert!(db.device_by_token("t1").await.expect("look up").is_none());
    let auth = db
        .device_by_token("t2")
        .await
        .expect("look up")
        .expect("t2 is valid");
    assert_eq!(auth.expires_at, again.expires_at);

    // Revocation shows on the token; re-enrolling the revoked id is refused, a new id works.
    db.revoke_device("phone-a").await.expect("revoke");
    let auth = db
        .device_by_token("t2")
        .await
        .expect("look up")
        .expect("still known");
    assert!(auth.revoked);
    let missing = db.revoke_device("phone-z").await;
    assert!(matches!(missing, Err(DbError::NotFound)), "{missing:?}");
    let again = db
        .enroll_device(&device("phone-a", alice, &actor_a, "t3", 30))
        .await;
    assert!(matches!(again, Err(DbError::Revoked)), "{again:?}");
    assert!(db.device_by_token("t3").await.expect("look up").is_none());
    assert!(
        db.device_by_token("t2")
            .await
            .expect("look up")
            .expect("still known")
            .revoked
    );
    let actor_c = "cc".repeat(16);
    db.enroll_device(&device("phone-c", alice, &actor_c, "t3", 30))
        .await
        .expect("enroll under a new id after revocation");
    let auth = db
        .device_by_token("t3")
        .await
        .expect("look up")
        .expect("t3 is valid");
    assert!(!auth.revoked);

    // A disabled user's device still resolves; the caller refuses it.
    db.enroll_device(&device("phone-b", bob, &actor_b, "t4", 30))
        .await
        .expect("enroll bob");
    let auth = db
        .device_by_token("t4")
        .await
        .expect("look up")
        .expect("t4 is valid");
    assert!(auth.user.disabled);
    assert_eq!(auth.user.areas, [TOWNSHIP, OTHER_TOWNSHIP]);
}

async fn sync_log_story<D: Database>(db: D) {
    let all = [TOWNSHIP, OTHER_TOWNSHIP];
    let empty = pull(&db, 0, &all, "").await;
    assert_eq!(
        empty,
        ChangePage {
            changes: vec![],
            cursor: 0,
            more: false,
            gone: vec![],
        }
    );
    assert_eq!(db.household_count().await.expect("count"), 0);

    // Happy path: two new households, in two townships, by two actors.
    db.commit_sync(&batch(vec![
        write(
            "h1",
            VILLAGE,
            "doc h1 v1",
            None,
            vec![change("c1", "A", 10), change("c2", "A", 10)],
        ),
        write(
            "h2",
            OTHER_VILLAGE,
            "doc h2 v1",
            None,
            vec![change("c3", "B", 10)],
        ),
    ]))
    .await
    .expect("first commit");
    let ids = scope(&["h2", "h1", "h404"]);
    let stored = db.households(&ids).await.expect("households");
    assert_eq!(stored.len(), 2);
    let h1 = stored.iter().find(|h| h.id == "h1").expect("h1 stored");
    assert_eq!(
        (h1.area_code.as_str(), h1.doc.as_slice(), h1.version),
        (VILLAGE, b"doc h1 v1".as_slice(), 1)
    );
    assert_eq!(db.household_count().await.expect("count"), 2);

    let page = pull(&db, 0, &all, "").await;
    assert_eq!(hashes(&page), ["c1", "c2", "c3"]);
    assert_eq!(
        page.changes.iter().map(|c| c.seq).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(page.changes[0].household_id, "h1");
    assert_eq!(page.changes[2].household_id, "h2");
    assert_eq!((page.cursor, page.more), (3, false));

    // Scope is a code prefix: the township sees its village; the cursor still passes c3, which
    // it may never see.
    let township = pull(&db, 0, &[TOWNSHIP], "").await;
    assert_eq!(hashes(&township), ["c1", "c2"]);
    assert_eq!((township.cursor, township.more), (3, false));
    assert_eq!(hashes(&pull(&db, 0, &[OTHER_TOWNSHIP], "").await), ["c3"]);
    assert_eq!(hashes(&pull(&db, 0, &[VILLAGE], "").await), ["c1", "c2"]);
    assert_eq!(hashes(&pull(&db, 0, &[VILLAGE_2], "").await), [""; 0]);
    assert_eq!(hashes(&pull(&db, 0, &["5309211"], "").await), ["c1", "c2"]);
    assert_eq!(
        hashes(&pull(&db, 0, &[TOWNSHIP, VILLAGE], "").await),
        ["c1", "c2"],
        "overlapping scopes give each change once"
    );
    assert_eq!(
        hashes(&pull(&db, 0, &["530921100201999"], "").await),
        [""; 0]
    );
    let nothing = pull(&db, 0, &[], "").await;
    assert!(nothing.changes.is_empty() && !nothing.more);

    // A device does not get its own changes back, but its cursor moves past them.
    let not_a = pull(&db, 0, &all, "A").await;
    assert_eq!(hashes(&not_a), ["c3"]);
    assert_eq!(not_a.cursor, 3);
    assert!(pull(&db, 0, &[TOWNSHIP], "A").await.changes.is_empty());
    assert_eq!(pull(&db, 0, &[TOWNSHIP], "A").await.cursor, 3);

    // Idempotent: the same changes again (on the right version) add no log rows.
    db.commit_sync(&batch(vec![write(
        "h1",
        VILLAGE,
        "doc h1 v2",
        Some(1),
        vec![change("c1", "A", 10), change("c2", "A", 10)],
    )]))
    .await
    .expect("re-commit");
    assert_eq!(hashes(&pull(&db, 0, &all, "").await), ["c1", "c2", "c3"]);
    assert_eq!(pull(&db, 3, &all, "").await.cursor, 3);
    // Old and new together: only the new one is logged, numbered without a gap.
    db.commit_sync(&batch(vec![write(
        "h1",
        VILLAGE,
        "doc h1 v3",
        Some(2),
        vec![
            change("c2", "A", 10),
            change("c4", "A", 10),
            change("c4", "A", 10),
        ],
    )]))
    .await
    .expect("commit with a known change");
    let page = pull(&db, 3, &all, "").await;
    assert_eq!(hashes(&page), ["c4"]);
    assert_eq!((page.changes[0].seq, page.cursor), (4, 4));

    // Optimistic conflict: a stale version fails the whole batch, other households included.
    let stale = db
        .commit_sync(&batch(vec![
            write(
                "h2",
                OTHER_VILLAGE,
                "doc h2 v2",
                Some(1),
                vec![change("c5", "B", 10)],
            ),
            write(
                "h1",
                VILLAGE,
                "doc h1 lost",
                Some(2),
                vec![change("c6", "A", 10)],
            ),
            write("h3", VILLAGE, "doc h3", None, vec![change("c7", "A", 10)]),
        ]))
        .await;
    assert!(matches!(stale, Err(DbError::Conflict)), "{stale:?}");
    let created_twice = db
        .commit_sync(&batch(vec![
            write("h3", VILLAGE, "doc h3", None, vec![change("c7", "A", 10)]),
            write("h2", OTHER_VILLAGE, "doc h2 again", None, vec![]),
        ]))
        .await;
    assert!(
        matches!(created_twice, Err(DbError::Conflict)),
        "{created_twice:?}"
    );
    let stored = db
        .households(&scope(&["h1", "h2", "h3"]))
        .await
        .expect("households");
    let state: Vec<_> = stored
        .iter()
        .map(|h| (h.id.as_str(), h.doc.as_slice(), h.version))
        .collect();
    assert_eq!(
        state,
        [
            ("h1", b"doc h1 v3".as_slice(), 3),
            ("h2", b"doc h2 v1".as_slice(), 1)
        ]
    );
    assert_eq!(db.household_count().await.expect("count"), 2);
    let page = pull(&db, 4, &all, "").await;
    assert!(page.changes.is_empty());
    assert_eq!(page.cursor, 4, "a failed batch leaves the counter alone");

    // Paging by bytes: 5 changes of 100 bytes, pages of at most 250.
    let five: Vec<NewChange> = (1..=5)
        .map(|i| change(&format!("p{i}"), "A", 100))
        .collect();
    db.commit_sync(&batch(vec![
        write("h4", VILLAGE, "doc h4", None, five),
        write(
            "h2",
            OTHER_VILLAGE,
            "doc h2 v2",
            Some(1),
            vec![change("q1", "B", 100)],
        ),
    ]))
    .await
    .expect("commit five");
    let mut cursor = 4;
    let mut pages = Vec::new();
    loop {
        let page = db
            .changes_since(cursor, &scope(&[TOWNSHIP]), OwnChanges::NONE, 250)
            .await
            .expect("pull a page");
        assert!(page.cursor >= cursor);
        cursor = page.cursor;
        pages.push((hashes(&page), page.cursor, page.more));
        if !page.more {
            break;
        }
    }
    let expected: Vec<(Vec<String>, i64, bool)> = vec![
        (scope(&["p1", "p2"]), 6, true),
        (scope(&["p3", "p4"]), 8, true),
        // The last page ends past q1 (seq 10), which this scope never sees.
        (scope(&["p5"]), 10, false),
    ];
    assert_eq!(pages, expected);
    // A page holds at least one change, however small the budget.
    let tiny = db
        .changes_since(4, &scope(&all), OwnChanges::NONE, 0)
        .await
        .expect("pull");
    assert_eq!(
        (hashes(&tiny), tiny.cursor, tiny.more),
        (scope(&["p1"]), 5, true)
    );
    let exact = db
        .changes_since(4, &scope(&all), OwnChanges::NONE, 300)
        .await
        .expect("pull");
    assert_eq!(hashes(&exact), ["p1", "p2", "p3"]);
    assert!(exact.more);
    let rest = db
        .changes_since(exact.cursor, &scope(&all), OwnChanges::NONE, 1 << 20)
        .await
        .expect("pull");
    assert_eq!(hashes(&rest), ["p4", "p5", "q1"]);
    assert_eq!((rest.cursor, rest.more), (10, false));

    // A household moving area logs its changes under the new area, and its earlier ones go
    // with it: pulls follow where a household is now, not where it was.
    db.commit_sync(&batch(vec![write(
        "h1",
        VILLAGE_2,
        "doc h1 moved",
        Some(3),
        vec![change("m1", "A", 10)],
    )]))
    .await
    .expect("move h1");
    let left = pull(&db, 10, &[VILLAGE], "").await;
    assert_eq!(hashes(&left), [""; 0]);
    assert_eq!(left.gone, ["h1"], "the old village is told it left");
    assert_eq!(left.cursor, 12, "the move took a number after its change's");
    assert_eq!(pull(&db, 10, &[TOWNSHIP], "").await.gone, [""; 0]);
    assert_eq!(hashes(&pull(&db, 10, &[VILLAGE_2], "").await), ["m1"]);
    assert_eq!(hashes(&pull(&db, 10, &[TOWNSHIP], "").await), ["m1"]);
    assert_eq!(
        hashes(&pull(&db, 0, &[VILLAGE], "").await),
        ["p1", "p2", "p3", "p4", "p5"],
        "only h4 is left in the old village"
    );
    assert_eq!(
        hashes(&pull(&db, 0, &[VILLAGE_2], "").await),
        ["c1", "c2", "c4", "m1"]
    );
    let stored = db.households(&scope(&["h1"])).await.expect("households");
    assert_eq!(
        (stored[0].area_code.as_str(), stored[0].version),
        (VILLAGE_2, 4)
    );

    // A cursor from the future is kept, not moved back.
    assert_eq!(pull(&db, 1000, &all, "").await.cursor, 1000);
}

/// The move log: a pull names the households that moved out of its scope after its cursor and
/// are not back, and a move is numbered on the change log's counter, so a page's cursor covers
/// it exactly like a change: one committed after a page's cursor comes with a later page.
async fn moves_story<D: Database>(db: D) {
    let township = [TOWNSHIP];
    db.commit_sync(&batch(vec![
        write("h1", VILLAGE, "h1 v1", None, vec![change("a1", "A", 10)]),
        write("h2", VILLAGE, "h2 v1", None, vec![change("b1", "A", 10)]),
        write("h3", VILLAGE, "h3 v1", None, vec![change("c1", "A", 10)]),
    ]))
    .await
    .expect("create");
    let start = pull(&db, 0, &township, "").await;
    assert_eq!((start.cursor, start.gone.len()), (3, 0));

    // h1 moves to the other township: one change and one move, numbers 4 and 5.
    db.commit_sync(&batch(vec![write(
        "h1",
        OTHER_VILLAGE,
        "h1 v2",
        Some(1),
        vec![change("a2", "T", 10)],
    )]))
    .await
    .expect("move h1");
    let after = pull(&db, 3, &township, "").await;
    assert_eq!(hashes(&after), [""; 0]);
    assert_eq!(
        (after.cursor, after.gone.clone()),
        (5, vec!["h1".to_owned()])
    );
    let there = pull(&db, 0, &[OTHER_TOWNSHIP], "").await;
    assert_eq!(
        hashes(&there),
        ["a1", "a2"],
        "its whole history, from the start"
    );
    assert!(there.gone.is_empty());
    for codes in [
        &[VILLAGE_2][..],
        &[TOWNSHIP, OTHER_TOWNSHIP],
        &[OTHER_VILLAGE],
    ] {
        assert!(pull(&db, 3, codes, "").await.gone.is_empty(), "{codes:?}");
    }
    assert!(
        pull(&db, 5, &township, "").await.gone.is_empty(),
        "past the move"
    );
    assert_eq!(
        pull(&db, 0, &township, "").await.gone,
        ["h1"],
        "from the start"
    );

    // Out and back: not gone.
    for (v, area) in [(1, OTHER_VILLAGE), (2, VILLAGE_2)] {
        db.commit_sync(&batch(vec![write(
            "h2",
            area,
            "h2 moved",
            Some(v),
            vec![change(&format!("b{}", v + 1), "T", 10)],
        )]))
        .await
        .expect("move h2");
    }
    let back = pull(&db, 5, &township, "").await;
    assert_eq!(hashes(&back), ["b2", "b3"]);
    assert!(back.gone.is_empty(), "{:?}", back.gone);
    assert_eq!(back.cursor, 9);

    // Two more changes of h3 in its village, then h3 moves: they leave with it, and the move
    // is named.
    db.commit_sync(&batch(vec![write(
        "h3",
        VILLAGE,
        "h3 v2",
        Some(1),
        vec![change("c2", "A", 10), change("c3", "A", 10)],
    )]))
    .await
    .expect("edit h3");
    db.commit_sync(&batch(vec![write(
        "h3",
        OTHER_VILLAGE,
        "h3 v3",
        Some(2),
        vec![change("c4", "T", 10)],
    )]))
    .await
    .expect("move h3");
    // h3's log moved with it: nothing of it is left for the township.
    let first = db
        .changes_since(9, &scope(&township), OwnChanges::NONE, 10)
        .await
        .expect("pull");
    assert_eq!(hashes(&first), [""; 0]);
    assert_eq!(
        (first.cursor, first.gone.clone()),
        (13, vec!["h3".to_owned()])
    );

    // With a change of another household in between, pages split around the move.
    db.commit_sync(&batch(vec![
        write("h5", VILLAGE, "h5 v1", None, vec![change("e1", "A", 10)]),
        write("h6", VILLAGE, "h6 v1", None, vec![change("f1", "A", 10)]),
    ]))
    .await
    .expect("create h5 h6");
    db.commit_sync(&batch(vec![write(
        "h5",
        OTHER_VILLAGE,
        "h5 v2",
        Some(1),
        vec![change("e2", "T", 10)],
    )]))
    .await
    .expect("move h5");
    let page = db
        .changes_since(13, &scope(&township), OwnChanges::NONE, 10)
        .await
        .expect("pull");
    assert_eq!(hashes(&page), ["f1"]);
    assert_eq!((page.cursor, page.more), (17, false));
    assert_eq!(page.gone, ["h5"]);
    // A page ending before the move does not name it, and the move is not skipped.
    db.commit_sync(&batch(vec![
        write("h7", VILLAGE, "h7 v1", None, vec![change("g1", "A", 10)]),
        write("h8", VILLAGE, "h8 v1", None, vec![change("i1", "A", 10)]),
    ]))
    .await
    .expect("create h7 h8");
    db.commit_sync(&batch(vec![write(
        "h7",
        OTHER_VILLAGE,
        "h7 v2",
        Some(1),
        vec![change("g2", "T", 10)],
    )]))
    .await
    .expect("move h7");
    let one = db
        .changes_since(17, &scope(&township), OwnChanges::NONE, 10)
        .await
        .expect("pull");
    assert_eq!(hashes(&one), ["i1"]);
    assert_eq!(one.gone, ["h7"]);
    // Now a page that fills before the move: h9's two changes, then h9 moves.
    db.commit_sync(&batch(vec![write(
        "h9",
        VILLAGE,
        "h9 v1",
        None,
        vec![change("j1", "A", 10), change("j2", "A", 10)],
    )]))
    .await
    .expect("create h9");
    db.commit_sync(&batch(vec![write(
        "h10",
        VILLAGE,
        "h10 v1",
        None,
        vec![change("k1", "A", 10)],
    )]))
    .await
    .expect("create h10");
    db.commit_sync(&batch(vec![write(
        "h10",
        OTHER_VILLAGE,
        "h10 v2",
        Some(1),
        vec![change("k2", "T", 10)],
    )]))
    .await
    .expect("move h10");
    let p1 = db
        .changes_since(one.cursor, &scope(&township), OwnChanges::NONE, 10)
        .await
        .expect("pull");
    assert_eq!(hashes(&p1), ["j1"]);
    assert!(p1.more);
    assert!(p1.gone.is_empty(), "the move lies beyond this page");
    let p2 = db
        .changes_since(p1.cursor, &scope(&township), OwnChanges::NONE, 10)
        .await
        .expect("pull");
    assert_eq!(hashes(&p2), ["j2"]);
    assert!(!p2.more);
    assert_eq!(p2.gone, ["h10"], "the next page names it");
}

/// What one concurrency run did.
struct Tally {
    writers: usize,
    changes: usize,
    commits: usize,
    conflicts: usize,
    pulls: usize,
    elapsed: Duration,
}

/// `writers` tasks, alternating between the two handles (two "server processes"), commit
/// batches of their own households (and now and then a household they all share, retrying on
/// conflict) while two pullers, one per handle, follow the log with small pages. Each puller must
/// end up with exactly the committed changes in its scope, each once, in increasing seq order.
async fn concurrency_story<D: Database>(a: D, b: D, writers: usize, rounds: usize) -> Tally {
    let started = Instant::now();
    a.commit_sync(&batch(vec![write("hot", VILLAGE, "hot v1", None, vec![])]))
        .await
        .expect("create the shared household");
    let done = Arc::new(AtomicBool::new(false));
    let conflicts = Arc::new(AtomicUsize::new(0));
    let commits = Arc::new(AtomicUsize::new(0));

    let mut writing = Vec::new();
    for w in 0..writers {
        let db = if w % 2 == 0 { a.clone() } else { b.clone() };
        let (conflicts, commits) = (conflicts.clone(), commits.clone());
        writing.push(tokio::spawn(async move {
            let actor = format!("actor{w}");
            let home = if w % 3 == 0 { OTHER_VILLAGE } else { VILLAGE };
            // (hash, household area) of every change this writer got committed.
            let mut committed: Vec<(String, &'static str)> = Vec::new();
            for r in 0..rounds {
                let own = format!("w{w}-h{}", r % 3);
                let mut ids = vec![own.clone()];
                if r % 4 == w % 4 {
                    ids.push("hot".to_owned());
                }
                let mut attempts = 0;
                loop {
                    attempts += 1;
                    assert!(attempts < 1000, "writer {w} starved");
                    let versions: BTreeMap<String, i64> = db
                        .households(&ids)
                        .await
                        .expect("read versions")
                        .into_iter()
                        .map(|h| (h.id, h.version))
                        .collect();
                    let mut households = Vec::new();
                    let mut logged = Vec::new();
                    for id in &ids {
                        let area = if id == "hot" { VILLAGE } else { home };
                        let n = if id == "hot" { 1 } else { 1 + (r + w) % 3 };
                        let changes: Vec<NewChange> = (0..n)
                            .map(|i| {
                                let hash = format!("{w}-{r}-{id}-{i}");
                                logged.push((hash.clone(), area));
                                change(&hash, &actor, 40 + (w * 37 + r * 11 + i * 53) % 400)
                            })
                            .collect();
                        let doc = format!("{id} by {w} in round {r}");
                        households.push(write(id, area, &doc, versions.get(id).copied(), changes));
                    }
                    match db.commit_sync(&batch(households)).await {
                        Ok(()) => {
                            commits.fetch_add(1, Ordering::Relaxed);
                            committed.extend(logged);
                            break;
                        }
                        Err(DbError::Conflict) => {
                            conflicts.fetch_add(1, Ordering::Relaxed);
                            tokio::task::yield_now().await;
                        }
                        Err(e) => panic!("writer {w}: {e}"),
                    }
                }
            }
            (actor, committed)
        }));
    }

    let pullers = [
        (a.clone(), scope(&[TOWNSHIP, OTHER_TOWNSHIP]), String::new()),
        (b.clone(), scope(&[TOWNSHIP]), "actor1".to_owned()),
    ]
    .map(|(db, scope, exclude)| {
        let done = done.clone();
        tokio::spawn(async move {
            let mut cursor = 0;
            let mut got: Vec<String> = Vec::new();
            let mut pulls = 0;
            loop {
                // Read before the pull: a pull that started after the last commit and found
                // nothing more means the log is drained.
                let finished = done.load(Ordering::SeqCst);
                let page = db
                    .changes_since(cursor, &scope, OwnChanges::of(&exclude), 1500)
                    .await
                    .expect("pull");
                pulls += 1;
                for c in &page.changes {
                    assert!(c.seq > cursor, "seq {} at or behind cursor {cursor}", c.seq);
                }
                assert!(
                    page.changes.windows(2).all(|p| p[0].seq < p[1].seq),
                    "a page in seq order"
                );
                assert!(page.cursor >= cursor, "the cursor never moves back");
                if let Some(last) = page.changes.last() {
                    assert!(page.cursor >= last.seq);
                }
                cursor = page.cursor;
                got.extend(page.changes.iter().map(|c| hash_of(&c.bytes)));
                if !page.more {
                    if finished {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            (scope, exclude, got, pulls)
        })
    });

    let mut committed = Vec::new();
    for w in writing {
        committed.push(w.await.expect("writer"));
    }
    done.store(true, Ordering::SeqCst);
    let mut pulls = 0;
    for p in pullers {
        let (scope, exclude, got, n) = p.await.expect("puller");
        pulls += n;
        let expected: HashSet<&str> = committed
            .iter()
            .filter(|(actor, _)| *actor != exclude)
            .flat_map(|(_, changes)| changes)
            .filter(|(_, area)| scope.iter().any(|s| area.starts_with(s.as_str())))
            .map(|(hash, _)| hash.as_str())
            .collect();
        let received: HashSet<&str> = got.iter().map(String::as_str).collect();
        assert_eq!(received.len(), got.len(), "{scope:?}: a change came twice");
        let missing: Vec<_> = expected.difference(&received).collect();
        let extra: Vec<_> = received.difference(&expected).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{scope:?} minus {exclude:?}: missed {} changes (e.g. {:?}), got {} unexpected \
             (e.g. {:?})",
            missing.len(),
            missing.first(),
            extra.len(),
            extra.first()
        );
        assert!(!expected.is_empty());
    }
    let changes = committed.iter().map(|(_, c)| c.len()).sum();
    let total = a
        .changes_since(0, &scope(&["5"]), OwnChanges::NONE, usize::MAX)
        .await
        .expect("pull all");
    assert_eq!(
        total.changes.len(),
        changes,
        "the log holds each change once"
    );
    assert_eq!(total.cursor, changes as i64, "numbering without gaps");
    Tally {
        writers,
        changes,
        commits: commits.load(Ordering::Relaxed),
        conflicts: conflicts.load(Ordering::Relaxed),
        pulls,
        elapsed: started.elapsed(),
    }
}

fn report(backend: &str, t: &Tally) {
    eprintln!(
        "{backend}: {} writers on 2 handles committed {} changes in {} batches ({} conflicts \
         retried), 2 pullers made {} pulls, {:.2?}",
        t.writers, t.changes, t.commits, t.conflicts, t.pulls, t.elapsed
    );
}

// --- SQLite

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_accounts() {
    with_sqlite(|path| async move { accounts_story(open(&path).await).await }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_sync_log() {
    with_sqlite(|path| async move { sync_log_story(open(&path).await).await }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_moves() {
    with_sqlite(|path| async move { moves_story(open(&path).await).await }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_concurrent_writers_and_pullers() {
    with_sqlite(|path| async move {
        // Two handles on one file, as two processes would have.
        let a = SqliteDb::connect(&path).await.expect("open a");
        let b = SqliteDb::connect(&format!("sqlite://{path}"))
            .await
            .expect("open b");
        let tally = concurrency_story(a, b, 6, 40).await;
        report("sqlite", &tally);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_reopens_with_data_and_url_forms() {
    with_sqlite(|path| async move {
        let db = open(&format!("sqlite://{path}")).await;
        db.upsert_areas(&[area(TOWNSHIP, "勐勐镇", None, "township")])
            .await
            .expect("write");
        drop(db);
        let db = open(&path).await;
        assert_eq!(db.areas().await.expect("read").len(), 1);
        let AnyDb::Sqlite(inner) = &db else {
            panic!("a path opens SQLite");
        };
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(inner.pool())
            .await
            .expect("pragma");
        assert_eq!(mode, "wal");
        let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(inner.pool())
            .await
            .expect("pragma");
        assert_eq!(sync, 2, "synchronous = FULL");
    })
    .await;
}

// --- PostgreSQL

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_accounts() {
    with_pg(|url| async move { accounts_story(open(&url).await).await }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_sync_log() {
    with_pg(|url| async move { sync_log_story(open(&url).await).await }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_moves() {
    with_pg(|url| async move { moves_story(open(&url).await).await }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn pg_concurrent_writers_and_pullers() {
    with_pg(|url| async move {
        // Two pools, as two server processes; both migrate at once on the empty database.
        let (a, b) = tokio::join!(PgDb::connect(&url), PgDb::connect(&url));
        let tally = concurrency_story(a.expect("connect a"), b.expect("connect b"), 16, 60).await;
        report("postgres", &tally);
    })
    .await;
}

#[test]
fn scratch_database_urls() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/test", "zf_1"),
        "postgres://postgres@127.0.0.1:5432/zf_1"
    );
    assert_eq!(
        with_database("postgres://u:p@db/test?sslmode=disable", "zf_1"),
        "postgres://u:p@db/zf_1?sslmode=disable"
    );
    assert_eq!(with_database("postgres://db", "zf_1"), "postgres://db/zf_1");
}
