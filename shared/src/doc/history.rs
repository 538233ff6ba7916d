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

use std::collections::BTreeMap;

use automerge::{AutoCommit, ChangeHash, ObjId, ObjType, Prop, ReadDoc, Value};
use automerge::{Patch, PatchAction};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value as Json};

use super::DocError;
use super::author::change_info;
use super::tree::{MAX_DEPTH, scalar_to_json, too_deep};

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

pub(crate) fn field_history(doc: &mut AutoCommit) -> Result<Vec<FieldChange>, DocError> {
    // Same order as `HouseholdDoc::history`, collected first: the metadata borrows the document
    // and diffing needs it mutably.
    let changes: Vec<_> = doc
        .get_changes_meta(&[])
        .into_iter()
        .map(|m| {
            let info = change_info(m.hash, &m.actor, m.seq, m.timestamp, m.message.as_deref());
            (info, m.hash, m.deps)
        })
        .collect();
    let mut out = Vec::new();
    for (info, hash, deps) in changes {
        let patches = doc.diff(&deps, &[hash]);
        let mut fields: BTreeMap<Vec<Prop>, (Json, Json)> = BTreeMap::new();
        for patch in &patches {
            let Some((path, after)) = patch_field(doc, patch, hash)? else {
                continue;
            };
            if fields.contains_key(&path) {
                continue;
            }
            let before = value_at_path(doc, &path, &deps)?;
            let after = match after {
                After::Written(value) => value,
                // Creating a map is structure, not data: its fields are reported one by one.
                // Only a value it displaces is worth a row of its own.
                After::Map if before.is_null() || before.is_object() => continue,
                After::Map | After::Whole => value_at_path(doc, &path, &[hash])?,
            };
            fields.insert(path, (before, after));
        }
        out.extend(fields.into_iter().filter_map(|(path, (before, after))| {
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
        }));
    }
    Ok(out)
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

fn prop_string(p: &Prop) -> String {
    match p {
        Prop::Map(k) => k.clone(),
        Prop::Seq(i) => i.to_string(),
    }
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
        if let Some(pos) = all.iter().position(|id| Some(id) == winner.as_ref()) {
            let w = all.remove(pos);
            all.insert(0, w);
        }
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

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::super::{ActorId, ChangeAuthor, HouseholdDoc};
    use super::*;
    use crate::codes::{HouseGrade, Relation, Sex};
    use crate::ids::HouseholdId;
    use crate::model::{HouseholdInfo, Income, Living, Member};
    use crate::money::Fen;

    fn actor(n: u8) -> ActorId {
        ActorId::from([n; 16])
    }

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, 9, minute, 0)
            .single()
            .expect("valid time")
    }

    fn author(n: u8, minute: u32) -> ChangeAuthor {
        ChangeAuthor::new(format!("user{n}"), format!("device{n}"), at(minute))
    }

    fn info(village: &str) -> HouseholdInfo {
        HouseholdInfo {
            village: Some(village.into()),
            ..HouseholdInfo::default()
        }
    }

    fn created() -> HouseholdDoc {
        let (doc, ()) =
            HouseholdDoc::create_with(&HouseholdId::from("hh-1"), actor(1), &author(1, 0), |e| {
                e.set_info(&info("三合村"))?;
                e.set_living(&Living {
                    house_grade: Some(HouseGrade::B),
                    ..Living::default()
                })
            })
            .expect("create");
        doc
    }

    fn rows_at<'a>(history: &'a [FieldChange], path: &str) -> Vec<&'a FieldChange> {
        history.iter().filter(|c| c.path_string() == path).collect()
    }

    fn set_grade(doc: &mut HouseholdDoc, who: &ChangeAuthor, grade: HouseGrade) {
        doc.edit(who, |e| {
            e.set_living(&Living {
                house_grade: Some(grade),
                ..Living::default()
            })
        })
        .expect("edit");
    }

    fn json_of<T: Serialize>(v: T) -> Json {
        serde_json::to_value(v).expect("serialize")
    }

    #[test]
    fn creation_lists_its_fields_from_nothing_without_bookkeeping_keys() {
        let mut doc = created();
        let history = doc.field_history().expect("history");
        let create = &doc.history()[0];
        assert!(history.iter().all(|c| c.hash == create.hash));
        assert!(history.iter().all(|c| c.before.is_null()));
        let paths: Vec<String> = history.iter().map(FieldChange::path_string).collect();
        assert_eq!(paths, ["id", "info.village", "living.house_grade"]);
        assert_eq!(history[0].after, json!("hh-1"));
        assert_eq!(history[1].after, json!("三合村"));
        assert_eq!(history[1].user.as_deref(), Some("user1"));
        assert_eq!(history[1].device.as_deref(), Some("device1"));
        assert_eq!(history[1].actor, actor(1).to_hex_string());
        assert_eq!(history[1].at, Some(at(0)));
    }

    #[test]
    fn a_field_edited_twice_on_one_device_chains_its_values() {
        let mut doc = created();
        doc.edit(&author(1, 5), |e| e.set_info(&info("四合村")))
            .expect("first edit");
        doc.edit(&author(1, 7), |e| e.set_info(&info("五合村")))
            .expect("second edit");

        let history = doc.field_history().expect("history");
        let changes = doc.history();
        let village = rows_at(&history, "info.village");
        let summary: Vec<_> = village
            .iter()
            .map(|c| (c.hash.as_str(), c.before.clone(), c.after.clone(), c.at))
            .collect();
        assert_eq!(
            summary,
            [
                (
                    changes[0].hash.as_str(),
                    Json::Null,
                    json!("三合村"),
                    Some(at(0))
                ),
                (
                    changes[1].hash.as_str(),
                    json!("三合村"),
                    json!("四合村"),
                    Some(at(5))
                ),
                (
                    changes[2].hash.as_str(),
                    json!("四合村"),
                    json!("五合村"),
                    Some(at(7))
                ),
            ]
        );
        // Only what differed was written, so the edits list nothing else.
        assert_eq!(history.len(), 3 + 2);
        assert!(
            village
                .iter()
                .all(|c| c.user.as_deref() == Some("user1")
                    && c.device.as_deref() == Some("device1"))
        );
    }

    #[test]
    fn concurrent_edits_each_show_what_their_writer_replaced() {
        let mut a = created();
        let mut b = a.fork(actor(2));
        set_grade(&mut a, &author(1, 10), HouseGrade::C);
        set_grade(&mut b, &author(2, 11), HouseGrade::D);
        a.merge(&mut b).expect("merge");
        let shown = a.read().expect("read").living.house_grade;
        a.edit(&author(3, 20), |e| {
            e.resolve(
                &["living".into(), "house_grade".into()],
                json_of(HouseGrade::C),
            )
        })
        .expect("resolve");

        let history = a.field_history().expect("history");
        // Oldest first, in the order of `history()`.
        let changes = a.history();
        let order: Vec<&str> = changes.iter().map(|c| c.hash.as_str()).collect();
        let mut seen: Vec<&str> = history.iter().map(|c| c.hash.as_str()).collect();
        seen.dedup();
        assert_eq!(seen, order);

        let grade = rows_at(&history, "living.house_grade");
        let grade_hashes: Vec<&str> = grade.iter().map(|c| c.hash.as_str()).collect();
        assert_eq!(grade_hashes, order, "every change set the grade once");
        let grade: Vec<_> = grade
            .into_iter()
            .map(|c| {
                (
                    c.user.as_deref().unwrap_or(""),
                    c.device.as_deref().unwrap_or(""),
                    c.before.clone(),
                    c.after.clone(),
                )
            })
            .collect();
        let [b_grade, c_grade, d_grade] =
            [HouseGrade::B, HouseGrade::C, HouseGrade::D].map(json_of);
        assert_eq!(grade[0], ("user1", "device1", Json::Null, b_grade.clone()));
        // Both concurrent edits replaced the B they saw, not each other's value.
        let mut concurrent = grade[1..3].to_vec();
        concurrent.sort_by_key(|(user, ..)| *user);
        assert_eq!(
            concurrent,
            [
                ("user1", "device1", b_grade.clone(), c_grade.clone()),
                ("user2", "device2", b_grade, d_grade),
            ]
        );
        // The resolution saw the conflict's shown value.
        assert_eq!(grade[3], ("user3", "device3", json_of(shown), c_grade));
    }

    #[test]
    fn a_new_member_lists_each_field_from_nothing() {
        let mut doc = created();
        let member = Member {
            name: "李小花".into(),
            sex: Some(Sex::Female),
            relation: Some(Relation::Daughter),
            medical_insurance: true,
            ..Member::default()
        };
        let (id, hash) = doc
            .edit(&author(2, 30), |e| e.add_member(&member))
            .expect("add member");
        let hash = hash.expect("a change").to_string();

        let history = doc.field_history().expect("history");
        let rows: Vec<&FieldChange> = history.iter().filter(|c| c.hash == hash).collect();
        assert!(!rows.is_empty());
        assert!(rows.iter().all(|c| c.path.len() == 3
            && c.path[0] == "members"
            && c.path[1] == id.as_str()
            && c.before.is_null()
            && c.user.as_deref() == Some("user2")
            && c.device.as_deref() == Some("device2")
            && c.at == Some(at(30))));
        let field = |name: &str| {
            rows.iter()
                .find(|c| c.path[2] == name)
                .map(|c| c.after.clone())
        };
        assert_eq!(field("name"), Some(json!("李小花")));
        assert_eq!(field("sex"), Some(json_of(Sex::Female)));
        assert_eq!(field("relation"), Some(json_of(Relation::Daughter)));
        assert_eq!(field("medical_insurance"), Some(json!(true)));
        assert_eq!(field("phone"), None, "unset fields are not written");
    }

    #[test]
    fn before_values_read_colliding_objects_as_the_form_did() {
        let mut a = created();
        let mut b = a.fork(actor(2));
        let income = |wage, planting| Income {
            wage: Fen::from_yuan(wage),
            planting: Fen::from_yuan(planting),
            ..Income::default()
        };
        a.edit(&author(1, 40), |e| e.set_income(2026, &income(100, 0)))
            .expect("a");
        b.edit(&author(2, 41), |e| e.set_income(2026, &income(0, 2)))
            .expect("b");
        a.merge(&mut b).expect("merge");
        let (_, hash) = a
            .edit(&author(3, 42), |e| e.set_income(2026, &income(300, 2)))
            .expect("edit merged");
        let hash = hash.expect("a change").to_string();

        let history = a.field_history().expect("history");
        let wage: Vec<_> = rows_at(&history, "incomes.2026.wage")
            .into_iter()
            .filter(|c| c.hash == hash)
            .map(|c| (c.before.clone(), c.after.clone()))
            .collect();
        assert_eq!(
            wage,
            [(json_of(Fen::from_yuan(100)), json_of(Fen::from_yuan(300)))]
        );
    }
}
