//! Pages served from the log rows a handle committed lately (`zoufang_storage::recent`) are the
//! pages the table gives: one story read after every step through the handle that committed
//! and through a second handle on the same database, which holds nothing in memory. The story
//! has what could make a remembered row wrong: a move within the county (the row's area
//! changes), a move to another county (the rows leave and are numbered anew there), a page cut
//! short by size, a device's own changes left out, and a commit by the other handle (a page
//! whose rows are partly remembered).

use zoufang_server::storage::{ChangePage, Database, LogPosition, NewChange, OwnChanges};
use zoufang_storage_any::AnyDb;

use crate::common::{open, with_pg, with_sqlite};
use crate::fixtures::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_recent_rows() {
    with_sqlite(|path| async move { recent_story(&path).await }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_recent_rows() {
    with_pg(|url| async move { recent_story(&url).await }).await;
}

const YUN_VILLAGE: &str = "530922100101";
const YUN: &str = "530922";

async fn recent_story(url: &str) {
    let writer = open(url).await;
    let reader = open(url).await;
    let created = |id: &str, area: &str, actor: &str, hashes: &[&str]| {
        let changes = hashes
            .iter()
            .map(|h| change(h, actor, 10 + h.len()))
            .collect();
        write(id, area, &format!("{id} v1"), None, changes)
    };
    commit(
        &writer,
        "create",
        vec![
            created("h1", VILLAGE, "A", &["a1", "a22"]),
            created("h2", VILLAGE_2, "B", &["b1"]),
            created("y1", YUN_VILLAGE, "A", &["y1a"]),
        ],
    )
    .await;
    same_pages(&writer, &reader, "after the first commit").await;
    assert!(writer.recent().served() > 0, "the committing handle served");

    // h2 moves within the county; h1 gets a change of B's.
    update(&writer, "h2", OTHER_VILLAGE, 1, change("b2", "A", 12)).await;
    update(&writer, "h1", VILLAGE, 1, change("a3", "B", 40)).await;
    same_pages(&writer, &reader, "after a move within the county").await;

    // h1 moves to 云县: its rows leave 凤庆县's log, remembered under their old numbers.
    update(&writer, "h1", YUN_VILLAGE, 2, change("a4", "A", 11)).await;
    same_pages(&writer, &reader, "after a move to another county").await;
    assert_eq!(
        reader.recent().served(),
        0,
        "the other handle read the table"
    );

    // A commit through the other handle: the writer holds part of the next pages only.
    commit(
        &reader,
        "another handle's commit",
        vec![
            created("h3", VILLAGE, "B", &["c1", "c2"]),
            created("y2", YUN_VILLAGE, "B", &["y2a"]),
        ],
    )
    .await;
    update(&writer, "h3", VILLAGE, 1, change("c3", "A", 13)).await;
    same_pages(&writer, &reader, "after another handle's commit").await;
    assert!(reader.recent().served() > 0, "now from its own commit");
    assert_eq!(
        reader.recent().get(YUN, &[1]).missing,
        [1],
        "not the writer's rows"
    );
}

/// Every page of every pull the story's devices could make, from every position of the log,
/// through `cached` and through `fresh`.
async fn same_pages(cached: &AnyDb, fresh: &AnyDb, when: &str) {
    let scopes: [&[&str]; 5] = [
        &[TOWNSHIP],
        &[VILLAGE],
        &[OTHER_TOWNSHIP],
        &[YUN],
        &[COUNTY, YUN],
    ];
    for codes in scopes {
        for own in ["", "A", "B"] {
            for max_bytes in [1, 30, usize::MAX] {
                for start in [0, 1, 3, 6] {
                    let mut from = LogPosition {
                        floor: start,
                        ..LogPosition::START
                    };
                    let mut pages = 0;
                    loop {
                        let what = format!(
                            "{when}: {codes:?} own {own:?} max {max_bytes} from {start}, page {pages}"
                        );
                        let a = page(cached, &from, codes, own, max_bytes).await;
                        let b = page(fresh, &from, codes, own, max_bytes).await;
                        assert_eq!(a, b, "{what}");
                        for (county, seq) in a.cursors.iter() {
                            from.cursors.set(county, seq);
                        }
                        pages += 1;
                        if !a.more {
                            break;
                        }
                        assert!(pages < 20, "{what}: pages end");
                    }
                }
            }
        }
    }
}

/// Commits `id`, now at `version`, in `area` with one more change.
async fn update(db: &AnyDb, id: &str, area: &str, version: i64, c: NewChange) {
    let doc = format!("{id} v{}", version + 1);
    let next = write(id, area, &doc, Some(version), vec![c]);
    commit(db, &format!("update {id}"), vec![next]).await;
}

async fn page(
    db: &AnyDb,
    from: &LogPosition,
    codes: &[&str],
    own: &str,
    max_bytes: usize,
) -> ChangePage {
    db.changes_since(from, &scope(codes), OwnChanges::of(own), max_bytes)
        .await
        .expect("pull")
}
