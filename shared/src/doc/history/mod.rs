//! Who changed which field, when, from what to what: the field-level timeline of a household,
//! read from the CRDT history itself rather than from a separate audit log, so it cannot drift
//! from the data and covers changes made on any device.
//!
//! Each change is compared with the state its author's device held when writing it (the
//! change's dependencies), not with whatever preceded it in the list: two concurrent changes
//! both show the value their writer replaced, which is what each person actually saw.
//!
//! The "before" value is read the way [`super::HouseholdDoc::read`] reads: where objects
//! collided (see [`super::tree`]) their fields are unioned, so a field the form showed from the
//! hidden object is not reported as previously empty.
//!
//! The rows are computed two ways, each in a module of its own: [`replay`], the fast path that
//! models automerge's map semantics itself, and [`automerge_replay`], the general path through
//! automerge's diffs. Both feed [`rows`] here.

mod automerge_replay;
mod replay;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use automerge::{AutoCommit, Change, Prop, ReadDoc};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value as Json;

use super::DocError;
use super::author::ChangeInfo;
use automerge_replay::automerge_history;
use replay::{Replay, Unfollowed};

/// One field set by one change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    /// Hex hash of the change.
    pub hash: String,
    /// Hex actor id of the device that wrote it.
    pub actor: String,
    pub user: Option<String>,
    pub device: Option<String>,
    pub at: Option<DateTime<Utc>>,
    /// Path from the document root, e.g. `["living", "house_grade"]`.
    pub path: Vec<String>,
    /// The value the writer saw; `null` when the field did not exist (or was cleared).
    pub before: Json,
    /// The value written; `null` when the field was cleared or deleted.
    pub after: Json,
}

impl FieldChange {
    pub fn path_string(&self) -> String {
        self.path.join(".")
    }
}

/// Root keys that only mark the document's kind and layout; they are not household data (the
/// typed model drops them too), so they would only clutter the first change.
const BOOKKEEPING: [&str; 2] = ["zoufang", "schema"];

/// The fields one change set: path → (before, after).
type Fields = BTreeMap<Vec<Prop>, (Json, Json)>;

/// Every field each change set, oldest change first.
///
/// Each change is compared with the state at its dependencies, and both states are read the
/// way `HouseholdDoc::read` reads. Asked of automerge at each change's heads, that costs a pass
/// over the whole document per change (and applying the changes one at a time to a copy, a pass
/// over every operation of each object a change touches), so a household sent thousands of tiny
/// changes took minutes: the square of their number. Instead the changes are replayed once, in
/// order, through [`Replay`], which keeps each key's operations and what is visible now, so a
/// change costs about its own size. A document holding what the layout never writes (lists,
/// text, counters, a change that brings a hidden map back into view, a device whose changes do
/// not build on each other) goes through automerge instead ([`automerge_history`]): the same
/// rows, at that higher cost.
pub(crate) fn field_history(doc: &mut AutoCommit) -> Result<Vec<FieldChange>, DocError> {
    // Oldest first, in the order of `HouseholdDoc::history`; causal, so each change's
    // dependencies come before it.
    let changes: Vec<Change> = doc.get_changes(&[]);
    match Replay::history(&changes) {
        Ok(rows) => Ok(rows),
        Err(Unfollowed::Doc(e)) => Err(e),
        Err(Unfollowed::Shape) => automerge_history(doc.text_encoding(), changes),
    }
}

/// One change's fields as rows of the history, bookkeeping keys left out.
fn rows(info: &ChangeInfo, fields: Fields) -> impl Iterator<Item = FieldChange> + '_ {
    fields.into_iter().filter_map(|(path, (before, after))| {
        let path: Vec<String> = path.iter().map(prop_string).collect();
        if let [key] = path.as_slice()
            && BOOKKEEPING.contains(&key.as_str())
        {
            return None;
        }
        Some(FieldChange {
            hash: info.hash.clone(),
            actor: info.actor.clone(),
            user: info.user.clone(),
            device: info.device.clone(),
            at: info.at,
            path,
            before,
            after,
        })
    })
}

/// What a patch says about the new value of its field.
enum After {
    /// A scalar written, or deleted (null).
    Written(Json),
    /// A map object put at the field.
    Map,
    /// A sequence edited: it is read whole at the change.
    Whole,
}

fn prop_string(p: &Prop) -> String {
    match p {
        Prop::Map(k) => k.clone(),
        Prop::Seq(i) => i.to_string(),
    }
}
