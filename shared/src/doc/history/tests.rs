//! Tests of the field history, kept apart from the code because they outweigh it: each case is
//! checked against automerge's answer at every change's heads and against both replays.

use automerge::ObjType;
use chrono::TimeZone;
use serde_json::json;

use super::super::author::change_info;
use super::super::{ActorId, ChangeAuthor, HouseholdDoc};
use super::automerge_replay::change_fields;
use super::*;
use crate::codes::{HouseGrade, Relation, Sex};
use crate::ids::HouseholdId;
use crate::model::{HouseholdInfo, Income, Living, Member};
use crate::money::Fen;
use crate::rng::{Draw as _, SplitMix64};

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

/// The history as each change's own heads in the whole document show it (the way it was
/// read before the replay): what `field_history` must give, row for row.
fn history_at_heads(doc: &mut HouseholdDoc) -> Vec<FieldChange> {
    let doc = doc.automerge();
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
        let whole: &AutoCommit = doc;
        let fields = change_fields(&patches, whole, &deps, whole, hash).expect("fields");
        out.extend(rows(&info, fields));
    }
    out
}

/// `field_history`, checked against [`history_at_heads`].
fn history_of(doc: &mut HouseholdDoc) -> Vec<FieldChange> {
    let rows = doc.field_history().expect("history");
    assert_eq!(rows, history_at_heads(doc));
    let encoding = doc.automerge().text_encoding();
    let by_automerge =
        automerge_history(encoding, doc.automerge().get_changes(&[])).expect("automerge's replay");
    assert_eq!(rows, by_automerge);
    rows
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
    let history = history_of(&mut doc);
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

    let history = history_of(&mut doc);
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
            .all(|c| c.user.as_deref() == Some("user1") && c.device.as_deref() == Some("device1"))
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

    let history = history_of(&mut a);
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
    let [b_grade, c_grade, d_grade] = [HouseGrade::B, HouseGrade::C, HouseGrade::D].map(json_of);
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

    let history = history_of(&mut doc);
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

    let history = history_of(&mut a);
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

fn merge_into(devices: &mut [HouseholdDoc], to: usize, from: usize) {
    if to == from {
        return;
    }
    let (low, high) = devices.split_at_mut(to.max(from));
    let (a, b) = if to < from {
        (&mut low[to], &mut high[0])
    } else {
        (&mut high[0], &mut low[from])
    };
    a.merge(b).expect("merge");
}

/// Three devices editing, merging now and then, resolving conflicts: concurrent edits,
/// colliding income years (fields cleared in the hidden map too), members added on one
/// device and edited on another. The replay must read every change as its own heads do.
#[test]
fn the_replay_gives_what_each_changes_own_heads_show() {
    for seed in 1..=12u64 {
        // Seeded, so that a failing history can be replayed.
        let mut dice = SplitMix64::new(seed);
        let mut devices = vec![created()];
        for n in [2, 3] {
            let fork = devices[0].fork(actor(n));
            devices.push(fork);
        }
        let mut members = Vec::new();
        for step in 0..40u32 {
            let d = dice.below(3) as usize;
            let who = author(d as u8 + 1, step);
            let village = ["三合村", "四合村", "五合村"][dice.below(3) as usize];
            let grade = [HouseGrade::B, HouseGrade::C, HouseGrade::D][dice.below(3) as usize];
            let year = 2025 + dice.below(2) as i32;
            let income = Income {
                wage: Fen::from_yuan(dice.below(3) as i64 * 100),
                planting: Fen::from_yuan(dice.below(2) as i64 * 7),
                ..Income::default()
            };
            let member = Member {
                name: ["李小花", "李大山"][dice.below(2) as usize].into(),
                sex: Some(Sex::Female),
                relation: Some(Relation::Daughter),
                ..Member::default()
            };
            let pick = dice.below(9);
            let other = dice.below(3) as usize;
            let doc = &mut devices[d];
            // An edit the model refuses (a member this device has not seen) is rolled back
            // whole and leaves no change: that is fine here.
            let _ = match pick {
                0 => doc.edit(&who, |e| e.set_info(&info(village))).map(drop),
                1 => doc
                    .edit(&who, |e| e.set_field("info.village", Json::Null))
                    .map(drop),
                2 => doc
                    .edit(&who, |e| {
                        e.set_living(&Living {
                            house_grade: Some(grade),
                            ..Living::default()
                        })
                    })
                    .map(drop),
                3 | 4 => doc.edit(&who, |e| e.set_income(year, &income)).map(drop),
                5 => doc.edit(&who, |e| e.add_member(&member)).map(|(id, _)| {
                    members.push(id);
                }),
                6 if !members.is_empty() => {
                    let id = members[dice.below(members.len() as u64) as usize].clone();
                    doc.edit(&who, |e| e.update_member(&id, &member)).map(drop)
                }
                7 => {
                    let conflicts = doc.conflicts().expect("conflicts");
                    match conflicts.first() {
                        Some(c) => {
                            let value = c.values[dice.below(c.values.len() as u64) as usize]
                                .value
                                .clone();
                            doc.edit(&who, |e| e.resolve(&c.path, value)).map(drop)
                        }
                        None => Ok(()),
                    }
                }
                _ => {
                    merge_into(&mut devices, d, other);
                    Ok(())
                }
            };
        }
        for doc in &mut devices {
            assert!(replayed(doc), "seed {seed}");
            history_of(doc);
        }
        merge_into(&mut devices, 0, 1);
        merge_into(&mut devices, 0, 2);
        let all = history_of(&mut devices[0]);
        assert!(all.len() > 10, "seed {seed}: {} rows", all.len());
    }
}

/// Whether [`Replay`] follows the document (else automerge's replay serves).
fn replayed(doc: &mut HouseholdDoc) -> bool {
    let changes = doc.automerge().get_changes(&[]);
    Replay::history(&changes).is_ok()
}

fn commit(doc: &mut HouseholdDoc, minute: u32) {
    use automerge::transaction::CommitOptions;
    doc.automerge()
        .commit_with(CommitOptions::default().with_message(author(1, minute).message()));
}

/// Maps and scalars as the forms never write them, straight into automerge: a deleted key,
/// a key written twice in one change, a map put over a value, a map replaced while being
/// written into, writes into the map that lost a collision, a conflict settled by a delete.
#[test]
fn the_replay_follows_odd_writes_of_maps_and_values() {
    use automerge::ROOT;
    use automerge::transaction::Transactable;

    let mut a = created();
    {
        let am = a.automerge();
        am.put(ROOT, "gone", "soon").expect("put");
        am.put(ROOT, "scalar", "plain").expect("put");
    }
    commit(&mut a, 1);
    {
        let am = a.automerge();
        am.delete(ROOT, "gone").expect("delete");
        am.put(ROOT, "twice", "first").expect("put");
        am.put(ROOT, "twice", "second").expect("put");
        am.put(ROOT, "short", "lived").expect("put");
        am.delete(ROOT, "short").expect("delete");
        let over = am.put_object(ROOT, "scalar", ObjType::Map).expect("map");
        am.put(&over, "inner", 1).expect("put");
        let child = am.put_object(ROOT, "parent", ObjType::Map).expect("map");
        am.put(&child, "k", "v").expect("put");
        let deep = am.put_object(&child, "deep", ObjType::Map).expect("map");
        am.put(&deep, "x", 1.5).expect("put");
    }
    commit(&mut a, 2);
    {
        // Written into, then replaced, in one change.
        let am = a.automerge();
        let (_, child) = am.get(ROOT, "parent").expect("get").expect("parent");
        am.put(&child, "k", "w").expect("put");
        am.put(ROOT, "parent", "replaced").expect("put");
    }
    commit(&mut a, 3);
    let mut b = a.fork(actor(2));
    for (doc, value) in [(&mut a, 1), (&mut b, 2)] {
        let am = doc.automerge();
        let map = am.put_object(ROOT, "extra", ObjType::Map).expect("map");
        am.put(&map, "k", value).expect("put");
        am.put(ROOT, "tie", value).expect("put");
        commit(doc, 4);
    }
    a.merge(&mut b).expect("merge");
    {
        let am = a.automerge();
        let (_, shown) = am.get(ROOT, "extra").expect("get").expect("extra");
        let hidden = am
            .get_all(ROOT, "extra")
            .expect("get all")
            .into_iter()
            .map(|(_, id)| id)
            .find(|id| *id != shown)
            .expect("two maps collided");
        am.put(&hidden, "k", 3).expect("put");
        am.put(&hidden, "only_hidden", 4).expect("put");
        am.put(&shown, "k", 5).expect("put");
        // Settled by deleting both values.
        am.delete(ROOT, "tie").expect("delete");
    }
    commit(&mut a, 5);
    assert!(replayed(&mut a));
    let history = history_of(&mut a);
    assert!(
        history.iter().any(|c| c.path_string() == "extra.k"),
        "{history:#?}"
    );
    assert!(replayed(&mut b));
    history_of(&mut b);
}

/// What the layout never holds (sequences, text, counters) goes through automerge's replay,
/// with the same rows.
#[test]
fn sequences_text_and_counters_go_through_automerge() {
    use automerge::transaction::Transactable;
    use automerge::{ROOT, ScalarValue};

    let mut a = created();
    {
        let am = a.automerge();
        let list = am.put_object(ROOT, "list", ObjType::List).expect("list");
        am.insert(&list, 0, "一").expect("insert");
        am.insert(&list, 1, 2).expect("insert");
        let text = am.put_object(ROOT, "note", ObjType::Text).expect("text");
        am.splice_text(&text, 0, 0, "你好").expect("splice");
        am.put(ROOT, "count", ScalarValue::counter(1))
            .expect("counter");
    }
    commit(&mut a, 1);
    {
        let am = a.automerge();
        let (_, list) = am.get(ROOT, "list").expect("get").expect("list");
        am.delete(&list, 0).expect("delete");
        let (_, text) = am.get(ROOT, "note").expect("get").expect("text");
        am.splice_text(&text, 2, 0, "世界").expect("splice");
        am.increment(ROOT, "count", 5).expect("increment");
    }
    commit(&mut a, 2);
    let mut b = a.fork(actor(2));
    for doc in [&mut a, &mut b] {
        doc.automerge()
            .increment(ROOT, "count", 1)
            .expect("increment");
        commit(doc, 3);
    }
    a.merge(&mut b).expect("merge");
    assert!(!replayed(&mut a));
    let history = history_of(&mut a);
    assert!(
        history.iter().any(|c| c.path_string() == "count"),
        "{history:#?}"
    );
}
