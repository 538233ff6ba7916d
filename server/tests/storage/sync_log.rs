//! The change log: scopes as code prefixes, a device's own changes, idempotent commits,
//! optimistic conflicts, paging by bytes, and a household moving village.

use zoufang_server::storage::{ChangePage, Database, DbError, NewChange};

use crate::fixtures::*;

crate::on_both_backends!(sync_log_story, sqlite_sync_log, pg_sync_log, threads = 4);

pub async fn sync_log_story<D: Database>(db: D) {
    let all = [TOWNSHIP, OTHER_TOWNSHIP];
    let empty = pull(&db, 0, &all, "").await;
    assert_eq!(empty, ChangePage::default(), "an empty log names no county");
    assert_eq!(db.household_count().await.expect("count"), 0);

    // Happy path: two new households, in two townships, by two actors.
    commit(
        &db,
        "first commit",
        vec![
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
        ],
    )
    .await;
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
    assert_eq!((page.cursor(), page.more), (3, false));

    // Scope is a code prefix: the township sees its village; the cursor still passes c3, which
    // it may never see.
    let township = pull(&db, 0, &[TOWNSHIP], "").await;
    assert_eq!(hashes(&township), ["c1", "c2"]);
    assert_eq!((township.cursor(), township.more), (3, false));
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
    assert_eq!(not_a.cursor(), 3);
    assert!(pull(&db, 0, &[TOWNSHIP], "A").await.changes.is_empty());
    assert_eq!(pull(&db, 0, &[TOWNSHIP], "A").await.cursor(), 3);

    // Idempotent: the same changes again (on the right version) add no log rows.
    commit(
        &db,
        "re-commit",
        vec![write(
            "h1",
            VILLAGE,
            "doc h1 v2",
            Some(1),
            vec![change("c1", "A", 10), change("c2", "A", 10)],
        )],
    )
    .await;
    assert_eq!(hashes(&pull(&db, 0, &all, "").await), ["c1", "c2", "c3"]);
    assert_eq!(pull(&db, 3, &all, "").await.cursor(), 3);
    // Old and new together: only the new one is logged, numbered without a gap.
    commit(
        &db,
        "commit with a known change",
        vec![write(
            "h1",
            VILLAGE,
            "doc h1 v3",
            Some(2),
            vec![
                change("c2", "A", 10),
                change("c4", "A", 10),
                change("c4", "A", 10),
            ],
        )],
    )
    .await;
    let page = pull(&db, 3, &all, "").await;
    assert_eq!(hashes(&page), ["c4"]);
    assert_eq!((page.changes[0].seq, page.cursor()), (4, 4));

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
    assert_eq!(page.cursor(), 4, "a failed batch leaves the counter alone");

    // Paging by bytes: 5 changes of 100 bytes, pages of at most 250.
    let five: Vec<NewChange> = (1..=5)
        .map(|i| change(&format!("p{i}"), "A", 100))
        .collect();
    commit(
        &db,
        "commit five",
        vec![
            write("h4", VILLAGE, "doc h4", None, five),
            write(
                "h2",
                OTHER_VILLAGE,
                "doc h2 v2",
                Some(1),
                vec![change("q1", "B", 100)],
            ),
        ],
    )
    .await;
    let mut cursor = 4;
    let mut pages = Vec::new();
    loop {
        let page = pull_bytes(&db, cursor, &[TOWNSHIP], 250).await;
        assert!(page.cursor() >= cursor);
        cursor = page.cursor();
        pages.push((hashes(&page), page.cursor(), page.more));
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
    let tiny = pull_bytes(&db, 4, &all, 0).await;
    assert_eq!(
        (hashes(&tiny), tiny.cursor(), tiny.more),
        (scope(&["p1"]), 5, true)
    );
    let exact = pull_bytes(&db, 4, &all, 300).await;
    assert_eq!(hashes(&exact), ["p1", "p2", "p3"]);
    assert!(exact.more);
    let rest = pull_bytes(&db, exact.cursor(), &all, 1 << 20).await;
    assert_eq!(hashes(&rest), ["p4", "p5", "q1"]);
    assert_eq!((rest.cursor(), rest.more), (10, false));

    // A household moving area logs its changes under the new area, and its earlier ones go
    // with it: pulls follow where a household is now, not where it was.
    commit(
        &db,
        "move h1",
        vec![write(
            "h1",
            VILLAGE_2,
            "doc h1 moved",
            Some(3),
            vec![change("m1", "A", 10)],
        )],
    )
    .await;
    let left = pull(&db, 10, &[VILLAGE], "").await;
    assert_eq!(hashes(&left), [""; 0]);
    assert_eq!(left.gone, ["h1"], "the old village is told it left");
    assert_eq!(
        left.cursor(),
        12,
        "the move took a number after its change's"
    );
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
    assert_eq!(pull(&db, 1000, &all, "").await.cursor(), 1000);
}
