//! The general path of the field history: every change applied through automerge and diffed
//! there. Slower than [`super::replay`] but follows any document, so it serves whatever the
//! replay does not model; the tests also check the replay against it.

use automerge::{AutoCommit, Change, ChangeHash, ObjId, ObjType, Patch, PatchAction, Prop};
use automerge::{ReadDoc, Value};
use serde_json::{Map, Value as Json};

use super::super::DocError;
use super::super::author::change_info;
use super::super::tree::{MAX_DEPTH, scalar_to_json, too_deep};
use super::{After, FieldChange, Fields, rows};

/// The history replayed through automerge, for documents [`Replay`] does not follow: every
/// change is applied to two fresh documents, `before` (the changes preceding it) and `after`
/// (those and it), so that a change written on top of everything before it finds both at the
/// points it is compared between (automerge then diffs from its patch log and reads through its
/// indexes). Applying one change still costs a pass over the operations of each object it
/// touches, and a change written beside others is compared at its heads.
///
/// [`Replay`]: super::replay::Replay
pub(super) fn automerge_history(
    encoding: automerge::TextEncoding,
    changes: Vec<Change>,
) -> Result<Vec<FieldChange>, DocError> {
    let mut before = AutoCommit::new_with_encoding(encoding);
    let mut after = AutoCommit::new_with_encoding(encoding);
    let mut out = Vec::new();
    for change in changes {
        let hash = change.hash();
        let deps = change.deps().to_vec();
        let info = change_info(
            hash,
            change.actor_id(),
            change.seq(),
            change.timestamp(),
            change.message(),
        );
        after.apply_changes([change.clone()])?;
        let patches = diff_of_change(&mut after, &deps, hash);
        let fields = change_fields(&patches, &before, &deps, &after, hash)?;
        before.apply_changes([change])?;
        out.extend(rows(&info, fields));
    }
    Ok(out)
}

/// `after.diff(deps, [hash])`, just after `hash` was applied to `after`. When the change's
/// dependencies are the heads `after` had (the diff cursor, moved after every change), that is
/// the patch log automerge kept while applying it: the cost of the change, not of the document.
fn diff_of_change(after: &mut AutoCommit, deps: &[ChangeHash], hash: ChangeHash) -> Vec<Patch> {
    let cursor = after.diff_cursor();
    let heads = after.get_heads();
    let patches = if heads == [hash] && same_hashes(&cursor, deps) {
        after.diff(&cursor, &heads)
    } else {
        after.diff(deps, &[hash])
    };
    after.update_diff_cursor();
    patches
}

fn same_hashes(a: &[ChangeHash], b: &[ChangeHash]) -> bool {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort_unstable();
    a.dedup();
    b.sort_unstable();
    b.dedup();
    a == b
}

/// The fields that `patches`, the diff of change `hash` from its dependencies `deps`, set: the
/// value before read from `before` as of `deps`, the value after from `after` as of the change.
pub(super) fn change_fields(
    patches: &[Patch],
    before: &AutoCommit,
    deps: &[ChangeHash],
    after: &AutoCommit,
    hash: ChangeHash,
) -> Result<Fields, DocError> {
    let mut fields = Fields::new();
    for patch in patches {
        let Some((path, written)) = patch_field(after, patch, hash)? else {
            continue;
        };
        if fields.contains_key(&path) {
            continue;
        }
        let was = value_at_path(before, &path, deps)?;
        let now = match written {
            After::Written(value) => value,
            // Creating a map is structure, not data: its fields are reported one by one.
            // Only a value it displaces is worth a row of its own.
            After::Map if was.is_null() || was.is_object() => continue,
            After::Map | After::Whole => value_at_path(after, &path, &[hash])?,
        };
        fields.insert(path, (was, now));
    }
    Ok(fields)
}

/// The field a patch touches, and what it says of the value; `None` for a patch that is no
/// field's change.
fn patch_field(
    doc: &AutoCommit,
    patch: &Patch,
    hash: ChangeHash,
) -> Result<Option<(Vec<Prop>, After)>, DocError> {
    let mut path: Vec<Prop> = patch.path.iter().map(|(_, p)| p.clone()).collect();
    let after = match &patch.action {
        PatchAction::PutMap { key, value, .. } => {
            path.push(Prop::Map(key.clone()));
            match &value.0 {
                Value::Scalar(s) => After::Written(scalar_to_json(s)?),
                Value::Object(ObjType::Map | ObjType::Table) => After::Map,
                Value::Object(ObjType::List | ObjType::Text) => After::Whole,
            }
        }
        PatchAction::DeleteMap { key } => {
            path.push(Prop::Map(key.clone()));
            After::Written(Json::Null)
        }
        PatchAction::Increment { prop, .. } => {
            let value = match doc.get_at(&patch.obj, prop.clone(), &[hash])? {
                Some((v, id)) => value_json_at(doc, v, &id, &[hash])?,
                None => Json::Null,
            };
            path.push(prop.clone());
            After::Written(value)
        }
        // The layout has no lists or text; should another writer add some, the sequence is
        // one field, shown whole before and after, rather than a row per inserted element.
        PatchAction::PutSeq { .. }
        | PatchAction::Insert { .. }
        | PatchAction::SpliceText { .. }
        | PatchAction::DeleteSeq { .. }
        | PatchAction::Mark { .. } => After::Whole,
        // A diff from a change's own dependencies to itself cannot create a conflict: the
        // change overwrites every value it saw at the keys it writes.
        PatchAction::Conflict { .. } => return Ok(None),
    };
    Ok(Some((path, after)))
}

/// The value at `path` as of `heads`, with colliding objects unioned as `tree::read_maps`
/// does: the first non-null value, visible object first.
fn value_at_path(doc: &AutoCommit, path: &[Prop], heads: &[ChangeHash]) -> Result<Json, DocError> {
    let Some((leaf, parents)) = path.split_last() else {
        return Ok(Json::Null);
    };
    let mut objs = vec![automerge::ROOT];
    for prop in parents {
        objs = child_objects_at(doc, &objs, prop, heads)?;
    }
    for obj in &objs {
        match doc.get_at(obj, leaf.clone(), heads)? {
            Some((Value::Scalar(s), _)) if s.is_null() => {}
            Some((v, id)) => return value_json_at(doc, v, &id, heads),
            None => {}
        }
    }
    Ok(Json::Null)
}

/// `tree::child_maps` as of `heads`, for any object type so that a foreign path still resolves.
fn child_objects_at(
    doc: &AutoCommit,
    parents: &[ObjId],
    prop: &Prop,
    heads: &[ChangeHash],
) -> Result<Vec<ObjId>, DocError> {
    let mut out = Vec::new();
    for parent in parents {
        let winner = doc.get_at(parent, prop.clone(), heads)?.map(|(_, id)| id);
        let mut all: Vec<ObjId> = doc
            .get_all_at(parent, prop.clone(), heads)?
            .into_iter()
            .filter(|(v, _)| v.is_object())
            .map(|(_, id)| id)
            .collect();
        super::super::tree::visible_first(&mut all, winner.as_ref());
        out.extend(all);
    }
    Ok(out)
}

/// A value as JSON as of `heads`; objects are read whole (only for rare, non-layout cases, so
/// colliding objects inside them are not unioned).
fn value_json_at(
    doc: &AutoCommit,
    value: Value<'_>,
    id: &ObjId,
    heads: &[ChangeHash],
) -> Result<Json, DocError> {
    value_json_below(doc, value, id, heads, 0)
}

fn value_json_below(
    doc: &AutoCommit,
    value: Value<'_>,
    id: &ObjId,
    heads: &[ChangeHash],
    depth: usize,
) -> Result<Json, DocError> {
    if depth > MAX_DEPTH {
        return Err(too_deep());
    }
    Ok(match value {
        Value::Scalar(s) => scalar_to_json(&s)?,
        Value::Object(ObjType::Map | ObjType::Table) => {
            let mut map = Map::new();
            for key in doc.keys_at(id, heads) {
                if let Some((v, child)) = doc.get_at(id, key.as_str(), heads)? {
                    map.insert(key, value_json_below(doc, v, &child, heads, depth + 1)?);
                }
            }
            Json::Object(map)
        }
        Value::Object(ObjType::List) => {
            let mut items = Vec::new();
            for i in 0..doc.length_at(id, heads) {
                if let Some((v, child)) = doc.get_at(id, i, heads)? {
                    items.push(value_json_below(doc, v, &child, heads, depth + 1)?);
                }
            }
            Json::Array(items)
        }
        Value::Object(ObjType::Text) => Json::String(doc.text_at(id, heads)?),
    })
}
