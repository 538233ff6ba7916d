//! The move log: a pull names the households that moved out of its scope after its cursor and
//! are not back, and a move is numbered on the change log's counter, so a page's cursor covers
//! it exactly like a change: one committed after a page's cursor comes with a later page.

use zoufang_server::storage::{Database, HouseholdWrite};

use crate::fixtures::*;

crate::on_both_backends!(moves_story, sqlite_moves, pg_moves, threads = 2);

/// `id`'s first version (`"{id} v1"`) in [`VILLAGE`], with changes `hashes` by actor A.
fn created(id: &str, hashes: &[&str]) -> HouseholdWrite {
    let changes = hashes.iter().map(|h| change(h, "A", 10)).collect();
    write(id, VILLAGE, &format!("{id} v1"), None, changes)
}

/// Moves `id`, now at `version`, to [`OTHER_VILLAGE`] with one change `hash` by actor T.
async fn move_out<D: Database>(db: &D, id: &str, version: i64, hash: &str) {
    let doc = format!("{id} v{}", version + 1);
    let moved = write(
        id,
        OTHER_VILLAGE,
        &doc,
        Some(version),
        vec![change(hash, "T", 10)],
    );
    commit(db, &format!("move {id}"), vec![moved]).await;
}

pub async fn moves_story<D: Database>(db: D) {
    let township = [TOWNSHIP];
    commit(
        &db,
        "create",
        vec![
            created("h1", &["a1"]),
            created("h2", &["b1"]),
            created("h3", &["c1"]),
        ],
    )
    .await;
    let start = pull(&db, 0, &township, "").await;
    assert_eq!((start.cursor(), start.gone.len()), (3, 0));

    // h1 moves to the other township: one change and one move, numbers 4 and 5.
    move_out(&db, "h1", 1, "a2").await;
    let after = pull(&db, 3, &township, "").await;
    assert_eq!(hashes(&after), [""; 0]);
    assert_eq!(
        (after.cursor(), after.gone.clone()),
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
        let hash = format!("b{}", v + 1);
        let moved = write(
            "h2",
            area,
            "h2 moved",
            Some(v),
            vec![change(&hash, "T", 10)],
        );
        commit(&db, "move h2", vec![moved]).await;
    }
    let back = pull(&db, 5, &township, "").await;
    assert_eq!(hashes(&back), ["b2", "b3"]);
    assert!(back.gone.is_empty(), "{:?}", back.gone);
    assert_eq!(back.cursor(), 9);

    // Two more changes of h3 in its village, then h3 moves: they leave with it, and the move
    // is named.
    let edited = write(
        "h3",
        VILLAGE,
        "h3 v2",
        Some(1),
        vec![change("c2", "A", 10), change("c3", "A", 10)],
    );
    commit(&db, "edit h3", vec![edited]).await;
    move_out(&db, "h3", 2, "c4").await;
    // h3's log moved with it: nothing of it is left for the township.
    let first = pull_bytes(&db, 9, &township, 10).await;
    assert_eq!(hashes(&first), [""; 0]);
    assert_eq!(
        (first.cursor(), first.gone.clone()),
        (13, vec!["h3".to_owned()])
    );

    // With a change of another household in between, pages split around the move.
    let pair = vec![created("h5", &["e1"]), created("h6", &["f1"])];
    commit(&db, "create h5 h6", pair).await;
    move_out(&db, "h5", 1, "e2").await;
    let page = pull_bytes(&db, 13, &township, 10).await;
    assert_eq!(hashes(&page), ["f1"]);
    assert_eq!((page.cursor(), page.more), (17, false));
    assert_eq!(page.gone, ["h5"]);
    // A page ending before the move does not name it, and the move is not skipped.
    let pair = vec![created("h7", &["g1"]), created("h8", &["i1"])];
    commit(&db, "create h7 h8", pair).await;
    move_out(&db, "h7", 1, "g2").await;
    let one = pull_bytes(&db, 17, &township, 10).await;
    assert_eq!(hashes(&one), ["i1"]);
    assert_eq!(one.gone, ["h7"]);
    // Now a page that fills before the move: h9's two changes, then h9 moves.
    commit(&db, "create h9", vec![created("h9", &["j1", "j2"])]).await;
    commit(&db, "create h10", vec![created("h10", &["k1"])]).await;
    move_out(&db, "h10", 1, "k2").await;
    let p1 = pull_bytes(&db, one.cursor(), &township, 10).await;
    assert_eq!(hashes(&p1), ["j1"]);
    assert!(p1.more);
    assert!(p1.gone.is_empty(), "the move lies beyond this page");
    let p2 = pull_bytes(&db, p1.cursor(), &township, 10).await;
    assert_eq!(hashes(&p2), ["j2"]);
    assert!(!p2.more);
    assert_eq!(p2.gone, ["h10"], "the next page names it");
}
