//! Between the automerge tree and JSON values: reading with merge, and writing by difference.
//!
//! The typed model's serde form *is* the document layout, so one generic mapping serves every
//! struct instead of a hand-written setter per field. Two properties make it safe for a CRDT:
//!
//! - **Writes touch only what changed.** A form saved with one edited field produces one `put`,
//!   so an unrelated concurrent edit on another device is never overwritten and never shows up as
//!   a spurious conflict. A field cleared in the model is written as `null`; keys are never
//!   deleted, and nested objects are never replaced.
//! - **Reads lose nothing when objects collide.** If two devices created a map at the same key
//!   concurrently (e.g. both imported the same roster row, or both opened income year 2025),
//!   automerge keeps both objects and shows one. The reader unions them: fields of the visible
//!   object win, fields only the other one has are still shown, and [`super::conflicts`]
//!   reports the fields on which they disagree.

use automerge::ObjId;
use automerge::{
    AutoCommit, ObjType, ReadDoc, ScalarValue, Value, ValueRef, transaction::Transactable,
};
use serde_json::{Map, Value as Json};

use super::DocError;
use super::conflicts::Gathered;

/// How deeply objects may nest. The layout nests maps at most six deep (cases → case → steps →
/// step → objections → objection); the readers below recurse once per level, and a change
/// nesting thousands of maps (a few kilobytes) would overflow the stack and abort the process
/// — a server taking a device's push — so past this depth a document is refused as malformed.
pub(crate) const MAX_DEPTH: usize = 32;

pub(crate) fn too_deep() -> DocError {
    DocError::Layout(format!("对象嵌套超过 {MAX_DEPTH} 层"))
}

/// Scalar to JSON. Bytes and values from a future automerge are not part of our layout.
pub(crate) fn scalar_to_json(s: &ScalarValue) -> Result<Json, DocError> {
    Ok(match s {
        ScalarValue::Str(s) => Json::String(s.to_string()),
        ScalarValue::Int(i) => Json::from(*i),
        ScalarValue::Uint(u) => Json::from(*u),
        ScalarValue::F64(f) => serde_json::Number::from_f64(*f)
            .map(Json::Number)
            .unwrap_or(Json::Null),
        ScalarValue::Counter(c) => Json::from(i64::from(c)),
        ScalarValue::Timestamp(t) => Json::from(*t),
        ScalarValue::Boolean(b) => Json::Bool(*b),
        ScalarValue::Null => Json::Null,
        ScalarValue::Bytes(_) | ScalarValue::Unknown { .. } => {
            return Err(DocError::Layout("unexpected binary value".into()));
        }
    })
}

fn json_to_scalar(j: &Json) -> Result<ScalarValue, DocError> {
    Ok(match j {
        Json::Null => ScalarValue::Null,
        Json::Bool(b) => ScalarValue::Boolean(*b),
        Json::String(s) => ScalarValue::Str(s.as_str().into()),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                ScalarValue::Int(i)
            } else if let Some(u) = n.as_u64() {
                ScalarValue::Uint(u)
            } else {
                return Err(DocError::Layout(format!("non-integer number {n}")));
            }
        }
        Json::Array(_) | Json::Object(_) => {
            return Err(DocError::Layout("not a scalar".into()));
        }
    })
}

/// All map objects stored at `key` of every map in `parents`, the visible one first.
pub(crate) fn child_maps(
    doc: &AutoCommit,
    parents: &[ObjId],
    key: &str,
) -> Result<Vec<ObjId>, DocError> {
    Ok(maps_held(&held_at(doc, parents, key)?))
}

/// What one map holds at a key: the value it shows, and where devices wrote the key
/// concurrently every value (the shown one among them).
pub(crate) struct Held<'a> {
    pub shown: (Value<'a>, ObjId),
    /// Empty when the shown value is the only one.
    concurrent: Vec<(Value<'a>, ObjId)>,
}

impl Held<'_> {
    /// Every value the map holds at the key.
    pub fn values(&self) -> &[(Value<'_>, ObjId)] {
        if self.concurrent.is_empty() {
            std::slice::from_ref(&self.shown)
        } else {
            &self.concurrent
        }
    }
}

/// What each of the maps `parents` that holds `key` holds there, in their order.
pub(crate) fn held_at<'a>(
    doc: &'a AutoCommit,
    parents: &[ObjId],
    key: &str,
) -> Result<Vec<Held<'a>>, DocError> {
    let mut out = Vec::new();
    for parent in parents {
        if let Some(shown) = doc.get(parent, key)? {
            let all = doc.get_all(parent, key)?;
            let concurrent = if all.len() > 1 { all } else { Vec::new() };
            out.push(Held { shown, concurrent });
        }
    }
    Ok(out)
}

/// Every key of the maps `objs` (visible first), in key order, with what each map holds there
/// ([`held_at`] for all keys at once). One pass over each map: a lookup by key decodes the
/// document's op columns afresh, and maps collide in every household whose new survey year
/// two devices opened before they synced, so reading them key by key cost a merge of such a
/// household several times its reading.
pub(crate) fn held_by_key<'a>(
    doc: &'a AutoCommit,
    objs: &[ObjId],
) -> Result<std::collections::BTreeMap<String, Vec<Held<'a>>>, DocError> {
    let mut out: std::collections::BTreeMap<String, Vec<Held<'a>>> = Default::default();
    for obj in objs {
        for item in doc.map_range(obj, ..) {
            let concurrent = if item.conflict {
                doc.get_all(obj, item.key.as_ref())?
            } else {
                Vec::new()
            };
            let held = Held {
                shown: (item.value.clone().into_value(), item.id()),
                concurrent,
            };
            out.entry(item.key.into_owned()).or_default().push(held);
        }
    }
    Ok(out)
}

/// The map objects of `held` (as [`child_maps`] gives them: each map's visible one first).
pub(crate) fn maps_held(held: &[Held<'_>]) -> Vec<ObjId> {
    let mut out = Vec::new();
    for h in held {
        let mut all: Vec<ObjId> = h
            .values()
            .iter()
            .filter(|(v, _)| matches!(v, Value::Object(ObjType::Map)))
            .map(|(_, id)| id.clone())
            .collect();
        visible_first(&mut all, Some(&h.shown.1));
        out.extend(all);
    }
    out
}

/// Moves the visible object (`winner`) of `all` to the front, so that its fields win when
/// objects are unioned.
pub(crate) fn visible_first(all: &mut Vec<ObjId>, winner: Option<&ObjId>) {
    if let Some(pos) = all.iter().position(|id| Some(id) == winner) {
        let w = all.remove(pos);
        all.insert(0, w);
    }
}

/// Reads the map(s) `objs` (visible first) as one JSON object.
pub(crate) fn read_maps(doc: &AutoCommit, objs: &[ObjId]) -> Result<Map<String, Json>, DocError> {
    read_maps_below(doc, objs, 0)
}

/// Reads the map `obj` as [`read_maps`] does and, in the same pass, gathers the fields with
/// concurrent values (see [`super::conflicts`]): a merge needs both, and each is a walk over
/// the whole document.
pub(crate) fn read_map_gathering(
    doc: &AutoCommit,
    obj: &ObjId,
    found: &mut Gathered,
) -> Result<Map<String, Json>, DocError> {
    read_map(doc, obj, 0, Some(found))
}

fn read_maps_below(
    doc: &AutoCommit,
    objs: &[ObjId],
    depth: usize,
) -> Result<Map<String, Json>, DocError> {
    if depth > MAX_DEPTH {
        return Err(too_deep());
    }
    if let [obj] = objs {
        return read_map(doc, obj, depth, None);
    }
    let mut out = Map::new();
    for (key, held) in held_by_key(doc, objs)? {
        let mut value = Json::Null;
        for h in &held {
            match &h.shown.0 {
                Value::Object(ObjType::Map) => {
                    value = Json::Object(read_maps_below(doc, &maps_held(&held), depth + 1)?);
                    break;
                }
                // A null (cleared) field may still be set in a colliding object.
                Value::Scalar(s) if s.is_null() => {}
                Value::Scalar(s) => {
                    value = scalar_to_json(s)?;
                    break;
                }
                Value::Object(t) => {
                    return Err(DocError::Layout(format!("unexpected {t:?} at {key}")));
                }
            }
        }
        // Null is a cleared field: the model reads it as absent (its default).
        if !value.is_null() {
            out.insert(key, value);
        }
    }
    Ok(out)
}

/// A key of the map `obj` holding concurrent values, as a one-map reader meets it: gathered
/// into `found` (when given) as a conflict candidate, and when the value shown is a map, the
/// union of the colliding maps there, read at `depth`. One lookup of the key serves both.
pub(crate) fn concurrent_key(
    doc: &AutoCommit,
    obj: &ObjId,
    key: &str,
    shows_map: bool,
    depth: usize,
    found: Option<&mut Gathered>,
) -> Result<Option<Map<String, Json>>, DocError> {
    if found.is_none() && !shows_map {
        return Ok(None);
    }
    let held = held_at(doc, std::slice::from_ref(obj), key)?;
    if let Some(found) = found {
        found.held(doc, key, &held)?;
    }
    match shows_map {
        true => read_maps_below(doc, &maps_held(&held), depth).map(Some),
        false => Ok(None),
    }
}

/// One map that collides with no other: one pass over its visible values. Every lookup by key
/// decodes the document's op columns afresh, so reading key by key costs several times this;
/// only keys with concurrent values take the general path ([`concurrent_key`]). With `found`,
/// those keys are also gathered as conflict candidates (their subtrees by
/// [`super::conflicts`]'s own walk).
fn read_map(
    doc: &AutoCommit,
    obj: &ObjId,
    depth: usize,
    mut found: Option<&mut Gathered>,
) -> Result<Map<String, Json>, DocError> {
    let mut out = Map::new();
    for item in doc.map_range(obj, ..) {
        let union = if item.conflict {
            let shows_map = matches!(item.value, ValueRef::Object(ObjType::Map));
            let found = found.as_deref_mut();
            concurrent_key(doc, obj, &item.key, shows_map, depth + 1, found)?
        } else {
            None
        };
        let value = match item.value {
            ValueRef::Object(ObjType::Map) => match union {
                Some(union) => Json::Object(union),
                None => {
                    if depth + 1 > MAX_DEPTH {
                        return Err(too_deep());
                    }
                    let child = item.id();
                    let below = match found.as_deref_mut() {
                        Some(found) => found.within(&item.key, |found| {
                            read_map(doc, &child, depth + 1, Some(found))
                        })?,
                        None => read_map(doc, &child, depth + 1, None)?,
                    };
                    Json::Object(below)
                }
            },
            ValueRef::Object(t) => {
                return Err(DocError::Layout(format!(
                    "unexpected {t:?} at {}",
                    item.key
                )));
            }
            scalar => match scalar.into_value() {
                Value::Scalar(s) => scalar_to_json(&s)?,
                Value::Object(t) => {
                    return Err(DocError::Layout(format!(
                        "unexpected {t:?} at {}",
                        item.key
                    )));
                }
            },
        };
        // Null is a cleared field: the model reads it as absent (its default).
        if !value.is_null() {
            out.insert(item.key.into_owned(), value);
        }
    }
    Ok(out)
}

/// Writes `value` into the map `obj`, touching only fields whose value differs.
pub(crate) fn write_map(
    doc: &mut AutoCommit,
    obj: &ObjId,
    value: &Map<String, Json>,
) -> Result<(), DocError> {
    write_maps(doc, std::slice::from_ref(obj), value)
}

/// Writes `value` over the colliding maps `objs` (visible first, as [`child_maps`] gives them),
/// comparing each field with what [`read_maps`] shows of them: a field the caller did not change
/// is not touched, also where its shown value comes from a map that lost the collision (copying
/// it into the visible map would be a write nobody made, and would bring an old value back as a
/// conflict when the maps' writers later disagree). A changed value goes into the visible map,
/// which the reader puts first; a cleared one is cleared in every map that still holds a value,
/// or the reader would show that value instead.
pub(crate) fn write_maps(
    doc: &mut AutoCommit,
    objs: &[ObjId],
    value: &Map<String, Json>,
) -> Result<(), DocError> {
    let Some(visible) = objs.first() else {
        return Err(DocError::Layout("no map to write".into()));
    };
    for (key, v) in value {
        match v {
            Json::Object(child) => {
                let mut children = child_maps(doc, objs, key)?;
                if children.is_empty() {
                    if let Some((Value::Object(t), _)) = doc.get(visible, key)? {
                        return Err(DocError::Layout(format!("unexpected {t:?} at {key}")));
                    }
                    children.push(doc.put_object(visible, key, ObjType::Map)?);
                }
                write_maps(doc, &children, child)?;
            }
            Json::Array(_) => {
                return Err(DocError::Layout(format!("lists are not stored ({key})")));
            }
            scalar => {
                let new = json_to_scalar(scalar)?;
                let shown = shown_scalar(doc, objs, key)?.unwrap_or(ScalarValue::Null);
                if shown == new {
                    continue;
                }
                if new.is_null() {
                    clear_everywhere(doc, objs, key)?;
                } else {
                    doc.put(visible, key, new)?;
                }
            }
        }
    }
    // Fields the model no longer has are cleared, not deleted: a delete racing a concurrent
    // write would vanish without a trace, a null shows up as a conflict instead.
    let stale: std::collections::BTreeSet<String> = objs
        .iter()
        .flat_map(|obj| doc.keys(obj))
        .filter(|k| !value.contains_key(k))
        .collect();
    for key in stale {
        if shown_scalar(doc, objs, &key)?.is_some_and(|s| !s.is_null()) {
            clear_everywhere(doc, objs, &key)?;
        }
    }
    Ok(())
}

/// The scalar the reader shows at `key` of the colliding maps `objs`: the first that is not
/// null. `None` where no map has the key or the first value found is an object.
fn shown_scalar(
    doc: &AutoCommit,
    objs: &[ObjId],
    key: &str,
) -> Result<Option<ScalarValue>, DocError> {
    let mut found = None;
    for obj in objs {
        match doc.get(obj, key)? {
            Some((Value::Scalar(s), _)) if s.is_null() => found = Some(ScalarValue::Null),
            Some((Value::Scalar(s), _)) => return Ok(Some(s.into_owned())),
            Some((Value::Object(_), _)) if found.is_none() => {
                return Err(DocError::Layout(format!("{key} is an object")));
            }
            _ => {}
        }
    }
    Ok(found)
}

/// Nulls `key` in each of `objs` that holds a non-null scalar there.
fn clear_everywhere(doc: &mut AutoCommit, objs: &[ObjId], key: &str) -> Result<(), DocError> {
    for obj in objs {
        if let Some((Value::Scalar(s), _)) = doc.get(obj, key)?
            && !s.is_null()
        {
            doc.put(obj, key, ScalarValue::Null)?;
        }
    }
    Ok(())
}

/// Puts `value` at `key` in every one of the (colliding) maps `objs`.
pub(crate) fn put_everywhere(
    doc: &mut AutoCommit,
    objs: &[ObjId],
    key: &str,
    value: &Json,
) -> Result<(), DocError> {
    let scalar = json_to_scalar(value)?;
    for (i, obj) in objs.iter().enumerate() {
        if i == 0 || doc.get(obj, key)?.is_some() {
            doc.put(obj, key, scalar.clone())?;
        }
    }
    Ok(())
}
