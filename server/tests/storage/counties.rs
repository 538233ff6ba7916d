//! The log numbered per county: each county counts on its own, a pull over several counties
//! takes them in code order and leaves a cursor in each, a page cut short in one county leaves
//! the later ones where they were, and a household that moves into another county takes its
//! history along, numbered anew there, while the county it left numbers the move.

use zoufang_server::storage::{ChangePage, Database, LogPosition, OwnChanges};

use crate::fixtures::*;

crate::on_both_backends!(counties_story, sqlite_counties, pg_counties, threads = 2);

/// A village of the next county (云县), beside the stories' [`COUNTY`] (凤庆县).
const YUN_VILLAGE: &str = "530922100101";
const YUN: &str = "530922";

async fn pull_from<D: Database>(db: &D, from: &LogPosition, max_bytes: usize) -> ChangePage {
    let both = scope(&[COUNTY, YUN]);
    db.changes_since(from, &both, OwnChanges::NONE, max_bytes)
        .await
        .expect("pull")
}

fn at(page: &ChangePage) -> Vec<(String, i64)> {
    page.cursors
        .iter()
        .map(|(c, s)| (c.to_owned(), s))
        .collect()
}

pub async fn counties_story<D: Database>(db: D) {
    let created = |id: &str, area: &str, hashes: &[&str]| {
        let changes = hashes.iter().map(|h| change(h, "A", 10)).collect();
        write(id, area, &format!("{id} v1"), None, changes)
    };
    commit(
        &db,
        "create in both counties",
        vec![
            created("f1", VILLAGE, &["f1a", "f1b"]),
            created("y1", YUN_VILLAGE, &["y1a"]),
        ],
    )
    .await;
    commit(
        &db,
        "more in 云县",
        vec![created("y2", YUN_VILLAGE, &["y2a"])],
    )
    .await;

    // Each county counts from its own counter: 凤庆县 1-2, 云县 1-2.
    let all = pull_from(&db, &LogPosition::START, usize::MAX).await;
    assert_eq!(
        hashes(&all),
        ["f1a", "f1b", "y1a", "y2a"],
        "county by county"
    );
    assert_eq!(
        all.changes.iter().map(|c| c.seq).collect::<Vec<_>>(),
        [1, 2, 1, 2]
    );
    assert_eq!(at(&all), [(COUNTY.into(), 2), (YUN.into(), 2)]);
    assert!(!all.more);

    // A page of one change: the first county is cut short, the second keeps its place.
    let first = pull_from(&db, &LogPosition::START, 1).await;
    assert_eq!((hashes(&first), first.more), (vec!["f1a".to_owned()], true));
    assert_eq!(at(&first), [(COUNTY.into(), 1)], "云县 not reached");
    let mut from = LogPosition::START;
    let mut got = Vec::new();
    for _ in 0..10 {
        let page = pull_from(&db, &from, 1).await;
        got.extend(hashes(&page));
        for (c, s) in page.cursors.iter() {
            from.cursors.set(c, s);
        }
        if !page.more {
            break;
        }
    }
    assert_eq!(
        got,
        ["f1a", "f1b", "y1a", "y2a"],
        "every change once, in pages"
    );

    // f1 moves to 云县: its history leaves 凤庆县's log and is numbered 3-4 in 云县's, after
    // its new change (a device of 云县 at 2 gets all three); the move is 凤庆县's number 3.
    let moved = write(
        "f1",
        YUN_VILLAGE,
        "f1 v2",
        Some(1),
        vec![change("f1c", "T", 10)],
    );
    commit(&db, "move f1 to 云县", vec![moved]).await;
    let yun_only = scope(&[YUN]);
    let yun_from = LogPosition {
        cursors: [(YUN.to_owned(), 2)].into_iter().collect(),
        floor: 0,
    };
    let yun = db
        .changes_since(&yun_from, &yun_only, OwnChanges::NONE, usize::MAX)
        .await
        .expect("pull 云县");
    assert_eq!(
        hashes(&yun),
        ["f1a", "f1b", "f1c"],
        "the history came along"
    );
    assert_eq!(at(&yun), [(YUN.into(), 5)]);
    let fengqing = pull(&db, 2, &[COUNTY], "").await;
    assert_eq!(
        hashes(&fengqing),
        [""; 0],
        "nothing of f1 is left in 凤庆县"
    );
    assert_eq!(
        (fengqing.cursor(), fengqing.gone.clone()),
        (3, vec!["f1".to_owned()])
    );
    let whole = pull_from(&db, &LogPosition::START, usize::MAX).await;
    assert_eq!(hashes(&whole), ["y1a", "y2a", "f1a", "f1b", "f1c"]);
    assert!(whole.gone.is_empty(), "f1 is still in the scope");
}
