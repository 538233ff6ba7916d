//! Fields where concurrent writes left more than one value.
//!
//! Automerge picks a deterministic winner for such a field, which is what [`super::HouseholdDoc::read`]
//! shows; but in a roster nothing anyone typed may vanish silently, so every losing value stays
//! listed here, with who wrote it and when, until someone resolves it (a later write that saw
//! all values). Colliding objects (see [`super::tree`]) are walked together, so a field the two
//! objects disagree on is a conflict too.

use automerge::{AutoCommit, ObjId, ObjType, ReadDoc, Value, ValueRef};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value as Json;

use super::DocError;
use super::author::parse_message;
use super::tree::{Held, MAX_DEPTH, held_at, held_by_key, maps_held, scalar_to_json, too_deep};

/// One conflicted field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conflict {
    /// Path from the document root, e.g. `["living", "house_grade"]`.
    pub path: Vec<String>,
    /// Every value present, the one currently shown first.
    pub values: Vec<ConflictValue>,
}

/// One of the values of a conflicted field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConflictValue {
    pub value: Json,
    /// Whether this is the value the document currently shows.
    pub shown: bool,
    /// Hex actor id of the device that wrote it.
    pub actor: String,
    pub user: Option<String>,
    pub device: Option<String>,
    pub at: Option<DateTime<Utc>>,
}

impl Conflict {
    pub fn path_string(&self) -> String {
        self.path.join(".")
    }
}

pub(crate) fn find(doc: &mut AutoCommit) -> Result<Vec<Conflict>, DocError> {
    let mut found = Gathered::default();
    walk(doc, &[automerge::ROOT], &mut found.path, &mut found.out)?;
    Ok(found.describe(doc))
}

type Candidate = (Vec<String>, Vec<(Json, bool, ObjId)>);

/// Conflict candidates gathered by a walk that reads the document at the same time
/// ([`super::tree::read_map_gathering`]): the path it stands at, and what it found.
#[derive(Default)]
pub(crate) struct Gathered {
    path: Vec<String>,
    out: Vec<Candidate>,
}

impl Gathered {
    /// The key `key` holds concurrent values, `held` ([`super::tree::held_at`]): gathers it (and
    /// what is below).
    pub(crate) fn held(
        &mut self,
        doc: &AutoCommit,
        key: &str,
        held: &[Held<'_>],
    ) -> Result<(), DocError> {
        walk_key_held(doc, key, held, &mut self.path, &mut self.out)
    }

    /// Runs `f` with the path one key deeper.
    pub(crate) fn within<T>(
        &mut self,
        key: &str,
        f: impl FnOnce(&mut Self) -> Result<T, DocError>,
    ) -> Result<T, DocError> {
        self.path.push(key.to_owned());
        let r = f(self);
        self.path.pop();
        r
    }

    /// The conflicts, with who wrote each value and when.
    pub(crate) fn describe(self, doc: &mut AutoCommit) -> Vec<Conflict> {
        self.out
            .into_iter()
            .map(|(path, values)| {
                let values = values
                    .into_iter()
                    .map(|(value, shown, op)| describe(doc, value, shown, &op))
                    .collect();
                Conflict { path, values }
            })
            .collect()
    }
}

fn walk(
    doc: &AutoCommit,
    objs: &[ObjId],
    path: &mut Vec<String>,
    out: &mut Vec<Candidate>,
) -> Result<(), DocError> {
    if path.len() > MAX_DEPTH {
        return Err(too_deep());
    }
    // One map that collides with no other: one pass, and only keys holding concurrent values
    // are looked at closely (a lookup by key decodes the op columns afresh; see `tree`).
    if let [obj] = objs {
        for item in doc.map_range(obj, ..) {
            if item.conflict {
                walk_key_held(doc, &item.key, &held_at(doc, objs, &item.key)?, path, out)?;
            } else if let ValueRef::Object(ObjType::Map) = item.value {
                path.push(item.key.to_string());
                walk(doc, &[item.id()], path, out)?;
                path.pop();
            }
        }
        return Ok(());
    }
    for (key, held) in held_by_key(doc, objs)? {
        walk_key_held(doc, &key, &held, path, out)?;
    }
    Ok(())
}

/// What the maps hold at `key` (`held`), one key below `path`: a candidate when the values
/// differ; maps are walked.
fn walk_key_held(
    doc: &AutoCommit,
    key: &str,
    held: &[Held<'_>],
    path: &mut Vec<String>,
    out: &mut Vec<Candidate>,
) -> Result<(), DocError> {
    path.push(key.to_owned());
    let walked = walk_held(doc, held, path, out);
    path.pop();
    walked
}

/// What the maps hold at the key `path` ends in: a candidate when the values differ; maps
/// below are walked.
fn walk_held(
    doc: &AutoCommit,
    held: &[Held<'_>],
    path: &mut Vec<String>,
    out: &mut Vec<Candidate>,
) -> Result<(), DocError> {
    let mut has_map = false;
    let mut scalars: Vec<(Json, bool, ObjId)> = Vec::new();
    let mut shown_taken = false;
    for h in held {
        for (value, op) in h.values() {
            match value {
                Value::Object(ObjType::Map) => has_map = true,
                Value::Object(_) => {}
                Value::Scalar(s) => {
                    let shown = !shown_taken && *op == h.shown.1;
                    shown_taken |= shown;
                    scalars.push((scalar_to_json(s)?, shown, op.clone()));
                }
            }
        }
    }
    if has_map {
        walk(doc, &maps_held(held), path, out)?;
    }
    let mut distinct: Vec<&Json> = scalars.iter().map(|(v, _, _)| v).collect();
    distinct.sort_by_key(|v| v.to_string());
    distinct.dedup();
    if distinct.len() > 1 {
        scalars.sort_by_key(|(_, shown, _)| !*shown);
        out.push((path.clone(), scalars));
    }
    Ok(())
}

fn describe(doc: &mut AutoCommit, value: Json, shown: bool, op: &ObjId) -> ConflictValue {
    let meta = doc
        .hash_for_opid(op)
        .and_then(|h| doc.get_change_meta_by_hash(&h));
    match meta {
        Some(m) => {
            let (user, device) = parse_message(m.message.as_deref());
            ConflictValue {
                value,
                shown,
                actor: m.actor.to_hex_string(),
                user,
                device,
                at: DateTime::from_timestamp_millis(m.timestamp).filter(|_| m.timestamp != 0),
            }
        }
        None => ConflictValue {
            value,
            shown,
            actor: String::new(),
            user: None,
            device: None,
            at: None,
        },
    }
}
