//! A household document from bytes: what the server does with a stored document or a pushed
//! change, and the client with a pulled one — load, apply, read the typed model, conflicts and
//! history, project it for the review tables, save.

use zoufang_server::actor::server_actor;
use zoufang_server::projection::household_write;
use zoufang_shared::doc::{HouseholdDoc, IncomingChange};

pub fn run(data: &[u8]) {
    // A saved document (or a concatenation of changes).
    if let Ok(mut doc) = HouseholdDoc::load(data, server_actor()) {
        explore(&mut doc);
    }
    // One pushed change, applied to a household the server has not seen.
    if let Ok(change) = IncomingChange::decode(data) {
        let mut doc = HouseholdDoc::empty(server_actor());
        if doc.apply(vec![change]).is_ok() {
            explore(&mut doc);
        }
    }
}

/// Everything read from a document that loaded: none of it may panic, and saving it must give
/// back the same document. Conflicts, history and projection are read only from a document that
/// reads as a household: the product keeps no other (`apply` refuses it).
pub fn explore(doc: &mut HouseholdDoc) {
    let household = doc.read();
    if let Ok(h) = &household {
        // A merge reads both in one walk: where each reads alone, that walk reads the same.
        if let Ok(conflicts) = doc.conflicts() {
            let reading = doc.read_all().expect("read and conflicts each succeed");
            assert_eq!(&reading.household, h, "one walk reads the household");
            assert_eq!(reading.conflicts, conflicts, "one walk finds the conflicts");
        }
        let history = doc.history();
        let _ = doc.field_history();
        let changes = doc.changes_after(&[]);
        assert_eq!(
            changes.len(),
            history.len(),
            "every change is in the history"
        );
        // The server stores a document only with its projection (or refuses it with an error).
        let _ = household_write("hh-fuzz", doc, None, Vec::new());
    }
    let mut heads = doc.heads();
    let saved = doc.save();
    let mut again = HouseholdDoc::load(&saved, server_actor()).expect("a saved document loads");
    let mut heads_again = again.heads();
    heads.sort();
    heads_again.sort();
    assert_eq!(heads, heads_again, "saving keeps the heads");
    match (&household, again.read()) {
        (Ok(a), Ok(b)) => assert_eq!(a, &b, "saving keeps the household"),
        (Err(_), Err(_)) => {}
        (a, b) => panic!("saving changed readability: {a:?} vs {b:?}"),
    }
}
