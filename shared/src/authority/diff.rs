//! What a change does to a household: the writes that turn the typed household before it into
//! the one after, each with its [`PathClass`].
//!
//! Sections (`info`, `land`, `living`, `water`) are compared field by field, so that filling in
//! an empty field is a creation and overwriting or clearing a value a change. Maps of entities
//! (members, incomes, helpers, visits, attachments, cases, steps, objections) are compared entry
//! by entry: a new key is a creation, any difference inside an existing entry a change, a key
//! that is gone a removal.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value as Json};

use super::PathClass;
use crate::model::{Case, Household, StepRecord};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WriteKind {
    Create,
    Change,
    Remove,
}

/// One write: its class, its kind and the path it touched (for messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub class: PathClass,
    pub kind: WriteKind,
    pub path: String,
}

/// Every write between `before` (`None`: the household is new) and `after`.
pub fn writes(before: Option<&Household>, after: &Household) -> Vec<Write> {
    let mut out = Vec::new();
    let mut add = |class, kind, path: String| out.push(Write { class, kind, path });
    match before {
        None => add(PathClass::Identity, WriteKind::Create, "id".into()),
        Some(b) if b.id != after.id => add(PathClass::Identity, WriteKind::Change, "id".into()),
        Some(_) => {}
    }
    let empty = Household::new(after.id.clone());
    let b = before.unwrap_or(&empty);

    fields(&b.info, &after.info, "info", &mut add, |key| match key {
        "area_code" => PathClass::AreaCode,
        "status" | "exit_year" | "monitoring" => PathClass::Status,
        _ => PathClass::Info,
    });
    fields(&b.land, &after.land, "land", &mut add, |_| PathClass::Land);
    fields(&b.living, &after.living, "living", &mut add, |_| {
        PathClass::Living
    });
    fields(&b.water, &after.water, "water", &mut add, |_| {
        PathClass::Water
    });
    entries(
        &b.members,
        &after.members,
        "members",
        PathClass::Members,
        &mut add,
    );
    entries(
        &b.incomes,
        &after.incomes,
        "incomes",
        PathClass::Incomes,
        &mut add,
    );
    entries(
        &b.helpers,
        &after.helpers,
        "helpers",
        PathClass::Helpers,
        &mut add,
    );
    entries(
        &b.visits,
        &after.visits,
        "visits",
        PathClass::Visits,
        &mut add,
    );
    entries(
        &b.attachments,
        &after.attachments,
        "attachments",
        PathClass::Attachments,
        &mut add,
    );
    for (id, case) in &after.cases {
        let path = format!("cases.{id}");
        let old = b.cases.get(id);
        match old {
            None => add(PathClass::Case, WriteKind::Create, path.clone()),
            Some(old) if proposal(old) != proposal(case) => {
                add(PathClass::Case, WriteKind::Change, path.clone())
            }
            Some(_) => {}
        }
        let no_steps = BTreeMap::new();
        let old_steps = old.map_or(&no_steps, |c| &c.steps);
        for (sid, record) in &case.steps {
            let step_path = format!("{path}.steps.{sid}");
            let class = PathClass::Step(record.step);
            match old_steps.get(sid) {
                None => {
                    add(class, WriteKind::Create, step_path.clone());
                    for oid in record.objections.keys() {
                        let p = format!("{step_path}.objections.{oid}");
                        add(PathClass::Objections, WriteKind::Create, p);
                    }
                }
                Some(old_record) => {
                    if bare(old_record) != bare(record) {
                        add(class, WriteKind::Change, step_path.clone());
                    }
                    entries(
                        &old_record.objections,
                        &record.objections,
                        &format!("{step_path}.objections"),
                        PathClass::Objections,
                        &mut add,
                    );
                }
            }
        }
        for sid in old_steps.keys().filter(|s| !case.steps.contains_key(*s)) {
            add(
                PathClass::Step(old_steps[sid].step),
                WriteKind::Remove,
                format!("{path}.steps.{sid}"),
            );
        }
    }
    for id in b.cases.keys().filter(|c| !after.cases.contains_key(*c)) {
        add(PathClass::Case, WriteKind::Remove, format!("cases.{id}"));
    }
    out
}

/// A case without its steps.
fn proposal(c: &Case) -> Case {
    Case {
        steps: BTreeMap::new(),
        ..c.clone()
    }
}

/// A step record without its objections.
fn bare(r: &StepRecord) -> StepRecord {
    StepRecord {
        objections: BTreeMap::new(),
        ..r.clone()
    }
}

fn object<T: Serialize>(v: &T) -> Map<String, Json> {
    match serde_json::to_value(v) {
        Ok(Json::Object(m)) => m,
        _ => Map::new(),
    }
}

/// An empty value (absent, null, an empty set) is "nothing stands there".
fn is_empty(v: Option<&Json>) -> bool {
    match v {
        None | Some(Json::Null) => true,
        Some(Json::Object(m)) => m.is_empty(),
        Some(Json::String(s)) => s.is_empty(),
        _ => false,
    }
}

fn fields<T: Serialize>(
    before: &T,
    after: &T,
    section: &str,
    add: &mut impl FnMut(PathClass, WriteKind, String),
    class_of: impl Fn(&str) -> PathClass,
) {
    let (b, a) = (object(before), object(after));
    let keys: std::collections::BTreeSet<&String> = b.keys().chain(a.keys()).collect();
    for key in keys {
        let (old, new) = (b.get(key), a.get(key));
        if old == new || (is_empty(old) && is_empty(new)) {
            continue;
        }
        let kind = if is_empty(old) {
            WriteKind::Create
        } else {
            WriteKind::Change
        };
        add(class_of(key), kind, format!("{section}.{key}"));
    }
}

fn entries<K: Ord + std::fmt::Display, V: PartialEq>(
    before: &BTreeMap<K, V>,
    after: &BTreeMap<K, V>,
    section: &str,
    class: PathClass,
    add: &mut impl FnMut(PathClass, WriteKind, String),
) {
    for (k, v) in after {
        match before.get(k) {
            None => add(class, WriteKind::Create, format!("{section}.{k}")),
            Some(old) if old != v => add(class, WriteKind::Change, format!("{section}.{k}")),
            Some(_) => {}
        }
    }
    for k in before.keys().filter(|k| !after.contains_key(*k)) {
        add(class, WriteKind::Remove, format!("{section}.{k}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authority::testkit::{step_mut, with_case, with_decision};
    use crate::codes::*;
    use crate::ids::*;
    use crate::model::*;

    fn household() -> Household {
        let mut h = Household::new(HouseholdId::from("hh-1"));
        h.info.village = Some("三合村".into());
        h
    }

    #[test]
    fn a_new_household_is_all_creations() {
        let h = household();
        let w = writes(None, &h);
        assert!(w.iter().all(|w| w.kind == WriteKind::Create), "{w:?}");
        assert!(w.iter().any(|w| w.class == PathClass::Identity));
        assert!(w.iter().any(|w| w.path == "info.village"));
    }

    #[test]
    fn filling_a_field_creates_and_overwriting_changes() {
        let before = household();
        let mut after = before.clone();
        after.info.status = Some(HouseholdStatus::NotExited);
        after.info.village = Some("新村".into());
        let w = writes(Some(&before), &after);
        assert_eq!(
            w,
            vec![
                Write {
                    class: PathClass::Status,
                    kind: WriteKind::Create,
                    path: "info.status".into()
                },
                Write {
                    class: PathClass::Info,
                    kind: WriteKind::Change,
                    path: "info.village".into()
                },
            ]
        );
    }

    #[test]
    fn steps_and_objections_are_their_own_classes() {
        let (before, case_id) = with_case();
        let after = with_decision(&before, &case_id);
        let w = writes(Some(&before), &after);
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(w[0].class, PathClass::Step(ProcedureStep::CountyDecision));
        assert_eq!(w[0].kind, WriteKind::Create);

        let mut flipped = after.clone();
        step_mut(&mut flipped, &case_id, "s1").outcome = StepOutcome::Returned;
        let w = writes(Some(&after), &flipped);
        assert_eq!(w[0].kind, WriteKind::Change);
    }
}
