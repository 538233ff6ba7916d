//! The household document: round trips, merges, conflicts, history and bad input.

mod support;

use support::*;
use zoufang_shared::codes::*;
use zoufang_shared::demo::step_record;
use zoufang_shared::doc::{DocError, HouseholdDoc, ValidationError};
use zoufang_shared::ids::HouseholdId;
use zoufang_shared::model::*;
use zoufang_shared::money::Fen;

#[test]
fn a_created_household_reads_back_what_was_written() {
    let mut doc = typical_household();
    let h = doc.read().expect("read");
    assert_eq!(h.id, HouseholdId::from("hh-1"));
    assert_eq!(h.size(), 4);
    assert_eq!(h.head().map(|m| m.name.as_str()), Some("李大山"));
    assert_eq!(h.info.village.as_deref(), Some("三合村"));
    assert_eq!(h.incomes[&2026].wage, Fen::from_yuan(18_000));
    assert_eq!(h.living.house_grade, Some(HouseGrade::B));

    let bytes = doc.save();
    let reopened = HouseholdDoc::load(&bytes, actor(9)).expect("load");
    assert_eq!(reopened.read().expect("read"), h);
}

#[test]
fn saving_an_unchanged_form_makes_no_change() {
    let mut doc = typical_household();
    let before = doc.heads();
    let living = doc.read().expect("read").living;
    let ((), hash) = doc
        .edit(&author(1), |e| e.set_living(&living))
        .expect("edit");
    assert_eq!(hash, None);
    assert_eq!(doc.heads(), before);
}

#[test]
fn each_edit_is_one_change_stamped_with_user_device_and_time() {
    let mut doc = typical_household();
    let mut other = doc.fork(actor(2));
    other
        .edit(&author(2), |e| e.add_visit(&visit(21, "入户核实收入")))
        .expect("visit");
    let history = other.history();
    assert_eq!(history.len(), 3, "create, first edit, visit");
    let last = history.last().expect("a change");
    assert_eq!(last.user.as_deref(), Some("user2"));
    assert_eq!(last.device.as_deref(), Some("device2"));
    assert_eq!(last.actor, actor(2).to_hex_string());
    assert_eq!(last.at, Some(author(2).at));
}

#[test]
fn concurrent_edits_merge_field_by_field_and_report_the_conflict() {
    let mut a = typical_household();
    let mut b = a.fork(actor(2));
    let head_id = a
        .read()
        .expect("read")
        .members
        .iter()
        .find(|(_, m)| m.relation == Some(Relation::Head))
        .map(|(id, _)| id.clone())
        .expect("head");

    a.edit(&author(1), |e| {
        let mut h = e.household()?;
        let mut income = h.incomes.remove(&2026).unwrap_or_default();
        income.wage = Fen::from_yuan(24_000);
        e.set_income(2026, &income)?;
        let mut living = h.living.clone();
        living.house_grade = Some(HouseGrade::C);
        e.set_living(&living)
    })
    .expect("edit a");
    b.edit(&author(2), |e| {
        let h = e.household()?;
        e.add_member(&member(
            "李小花",
            Relation::Daughter,
            Sex::Female,
            "20150611",
        ))?;
        let mut living = h.living.clone();
        living.house_grade = Some(HouseGrade::D);
        let mut head = h.members[&head_id].clone();
        head.phone = Some("13800000000".into());
        e.update_member(&head_id, &head)?;
        e.set_living(&living)
    })
    .expect("edit b");

    a.merge(&mut b).expect("merge");
    b.merge(&mut a).expect("merge back");
    let (ha, hb) = (a.read().expect("read a"), b.read().expect("read b"));
    assert_eq!(ha, hb);
    assert_eq!(ha.size(), 5, "the added member survives");
    assert_eq!(
        ha.incomes[&2026].wage,
        Fen::from_yuan(24_000),
        "the income survives"
    );
    assert_eq!(ha.members[&head_id].phone.as_deref(), Some("13800000000"));

    let conflicts = a.conflicts().expect("conflicts");
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    let c = &conflicts[0];
    assert_eq!(c.path, ["living", "house_grade"]);
    let mut values: Vec<_> = c
        .values
        .iter()
        .map(|v| v.value.as_str().unwrap_or(""))
        .collect();
    values.sort_unstable();
    assert_eq!(values, ["c", "d"]);
    let writers: Vec<_> = c.values.iter().filter_map(|v| v.user.as_deref()).collect();
    assert!(writers.contains(&"user1") && writers.contains(&"user2"));
    assert!(c.values.iter().all(|v| v.at.is_some()));
    assert_eq!(c.values.iter().filter(|v| v.shown).count(), 1);
    let shown = &c.values[0];
    assert!(shown.shown);
    assert_eq!(
        serde_json::to_value(ha.living.house_grade).expect("json"),
        shown.value
    );
}

#[test]
fn resolving_a_conflict_writes_one_value_everywhere() {
    let mut a = typical_household();
    let mut b = a.fork(actor(2));
    for (doc, who, grade) in [(&mut a, 1, HouseGrade::C), (&mut b, 2, HouseGrade::D)] {
        doc.edit(&author(who), |e| {
            let mut living = e.household()?.living;
            living.house_grade = Some(grade);
            e.set_living(&living)
        })
        .expect("edit");
    }
    a.merge(&mut b).expect("merge");
    let path = a.conflicts().expect("conflicts")[0].path.clone();
    a.edit(&author(3), |e| e.resolve(&path, serde_json::json!("c")))
        .expect("resolve");
    assert!(a.conflicts().expect("conflicts").is_empty());
    b.merge(&mut a).expect("merge");
    assert!(b.conflicts().expect("conflicts").is_empty());
    assert_eq!(
        b.read().expect("read").living.house_grade,
        Some(HouseGrade::C)
    );
}

#[test]
fn two_devices_creating_the_same_household_lose_nothing() {
    // Both devices import the same roster row: the same id, two independent creations.
    let id = HouseholdId::from("hh-import");
    let mut a = HouseholdDoc::create(&id, actor(1), &author(1)).expect("create a");
    let mut b = HouseholdDoc::create(&id, actor(2), &author(2)).expect("create b");
    a.edit(&author(1), |e| {
        e.set_income(
            2026,
            &Income {
                wage: Fen::from_yuan(5_000),
                ..Income::default()
            },
        )?;
        e.add_member(&member("甲", Relation::Head, Sex::Male, "19800101"))
    })
    .expect("a");
    b.edit(&author(2), |e| {
        e.set_income(
            2026,
            &Income {
                planting: Fen::from_yuan(700),
                ..Income::default()
            },
        )?;
        e.set_living(&Living {
            house_grade: Some(HouseGrade::A),
            ..Living::default()
        })?;
        e.add_member(&member("乙", Relation::Spouse, Sex::Female, "19820202"))
    })
    .expect("b");
    a.merge(&mut b).expect("merge");
    let h = a.read().expect("read");
    assert_eq!(h.size(), 2);
    assert_eq!(h.incomes[&2026].wage, Fen::from_yuan(5_000));
    assert_eq!(h.incomes[&2026].planting, Fen::from_yuan(700));
    assert_eq!(h.living.house_grade, Some(HouseGrade::A));
    // The two creations wrote the same values wherever both wrote: nothing to resolve.
    assert_eq!(a.conflicts().expect("conflicts"), vec![]);
}

/// Two devices open the same income year at once; the maps collide and the reader unions them.
/// Editing one field afterwards writes that field only: nothing is copied from the map that
/// lost into the one shown, and no old value comes back as a conflict.
#[test]
fn editing_a_field_of_colliding_maps_touches_only_that_field() {
    let mut a = typical_household();
    let mut b = a.fork(actor(2));
    for (doc, who, income) in [
        (
            &mut a,
            1,
            Income {
                wage: Fen::from_yuan(5_000),
                ..Income::default()
            },
        ),
        (
            &mut b,
            2,
            Income {
                planting: Fen::from_yuan(700),
                ..Income::default()
            },
        ),
    ] {
        doc.edit(&author(who), |e| e.set_income(2027, &income))
            .expect("open 2027");
    }
    a.merge(&mut b).expect("merge");
    let shown = a.read().expect("read").incomes[&2027].clone();
    assert_eq!(shown.wage, Fen::from_yuan(5_000));
    assert_eq!(shown.planting, Fen::from_yuan(700));

    for edit in [
        |e: &mut zoufang_shared::doc::Editor<'_>| {
            e.set_field("incomes.2027.pension", serde_json::json!(1200))
        },
        |e: &mut zoufang_shared::doc::Editor<'_>| {
            let mut income = e.household()?.incomes.remove(&2027).unwrap_or_default();
            income.pension = Fen::from_yuan(13);
            e.set_income(2027, &income)
        },
    ] {
        let mut doc = a.fork(actor(3));
        doc.edit(&author(3), edit).expect("edit one field");
        let change = doc.automerge().get_last_local_change().expect("change");
        assert_eq!(change.len(), 1, "one operation, nothing copied across maps");
        let h = doc.read().expect("read");
        assert_eq!(h.incomes[&2027].wage, Fen::from_yuan(5_000));
        assert_eq!(h.incomes[&2027].planting, Fen::from_yuan(700));
        assert!(doc.conflicts().expect("conflicts").is_empty());
    }

    // Clearing a value shown from the losing map clears it there, so it does not reappear.
    let mut doc = a.fork(actor(3));
    doc.edit(&author(3), |e| {
        let mut income = e.household()?.incomes.remove(&2027).unwrap_or_default();
        income.planting = Fen(0);
        income.wage = Fen(0);
        e.set_income(2027, &income)
    })
    .expect("clear");
    let h = doc.read().expect("read");
    assert_eq!(h.incomes[&2027].planting, Fen(0));
    assert_eq!(h.incomes[&2027].wage, Fen(0));
}

#[test]
fn invalid_edits_are_refused_whole() {
    let mut doc = typical_household();
    let before = doc.heads();
    let err = doc
        .edit(&author(1), |e| {
            e.add_visit(&visit(22, "先记一次走访"))?;
            e.add_member(&Member {
                name: "错号".into(),
                id_number: Some("530921199001010010".into()),
                ..Member::default()
            })
        })
        .expect_err("bad id number");
    assert!(
        matches!(err.validation(), Some(ValidationError::IdNumber { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("证件号码"), "{err}");
    assert_eq!(doc.heads(), before, "nothing half-written");
    assert!(doc.read().expect("read").visits.is_empty());

    let negative = Income {
        wage: Fen(-100),
        ..Income::default()
    };
    let err = doc
        .edit(&author(1), |e| e.set_income(2026, &negative))
        .expect_err("negative income");
    assert_eq!(
        err.validation(),
        Some(&ValidationError::NegativeIncome("工资性收入"))
    );

    let err = doc
        .edit(&author(1), |e| {
            e.set_field("living.house_grade", serde_json::json!("e"))
        })
        .expect_err("unknown code");
    assert!(err.to_string().contains("危房等级"), "{err}");
    let err = doc
        .edit(&author(1), |e| {
            e.set_field("living.no_such_field", serde_json::json!(1))
        })
        .expect_err("unknown field");
    assert!(matches!(
        err.validation(),
        Some(ValidationError::BadPath(_))
    ));
    assert_eq!(doc.heads(), before);
}

#[test]
fn set_field_changes_exactly_one_field() {
    let mut doc = typical_household();
    let before = doc.history().len();
    doc.edit(&author(1), |e| {
        e.set_field("living.house_grade", serde_json::json!("C级"))
    })
    .expect("a label is accepted");
    assert_eq!(
        doc.read().expect("read").living.house_grade,
        Some(HouseGrade::C)
    );
    assert_eq!(doc.history().len(), before + 1);
    let change = doc.automerge().get_last_local_change().expect("change");
    assert_eq!(change.len(), 1, "one operation");
}

#[test]
fn procedure_steps_follow_the_order() {
    let mut doc = typical_household();
    let case = Case {
        kind: CaseKind::Exit,
        origin: Some(CaseOrigin::Screening),
        round: None,
        proposed_on: date(2026, 11, 1),
        proposed_by: "张调查".into(),
        proposed_by_user: None,
        reason: "收入稳定超过标准".into(),
        members: Default::default(),
        steps: Default::default(),
    };
    let step = |step, outcome| step_record(step, date(2026, 11, 2), "王队长", outcome);
    let (case_id, _) = doc.edit(&author(1), |e| e.add_case(&case)).expect("case");
    let err = doc
        .edit(&author(1), |e| {
            e.add_step(
                &case_id,
                &step(ProcedureStep::Deliberation, StepOutcome::Passed),
            )
        })
        .expect_err("deliberation before home check");
    assert!(err.to_string().contains("入户核查"), "{err}");
    doc.edit(&author(1), |e| {
        e.add_step(
            &case_id,
            &step(ProcedureStep::HomeCheck, StepOutcome::Passed),
        )?;
        e.add_step(
            &case_id,
            &step(ProcedureStep::Deliberation, StepOutcome::Passed),
        )
    })
    .expect("in order");
    let err = doc
        .edit(&author(1), |e| {
            e.add_step(
                &case_id,
                &step(ProcedureStep::Publicity, StepOutcome::Passed),
            )
        })
        .expect_err("publicity needs dates");
    assert_eq!(err.validation(), Some(&ValidationError::PublicityDates));
    let h = doc.read().expect("read");
    assert_eq!(
        h.cases[&case_id].stage(),
        CaseStage::Passed(ProcedureStep::Deliberation)
    );

    // Sent back and passed again on the same day: the later record stands, and a step whose
    // predecessor was sent back after passing must wait for it to pass again.
    doc.edit(&author(1), |e| {
        e.add_step(
            &case_id,
            &step(ProcedureStep::Deliberation, StepOutcome::Returned),
        )
    })
    .expect("returned");
    let h = doc.read().expect("read");
    assert_eq!(
        h.cases[&case_id].stage(),
        CaseStage::Returned(ProcedureStep::Deliberation)
    );
    let mut publicity = step(ProcedureStep::Publicity, StepOutcome::Passed);
    publicity.publicity_start = Some(date(2026, 11, 2));
    publicity.publicity_end = Some(date(2026, 11, 8));
    let err = doc
        .edit(&author(1), |e| e.add_step(&case_id, &publicity))
        .expect_err("the deliberation was sent back");
    assert!(err.to_string().contains("民主评议"), "{err}");
    doc.edit(&author(1), |e| {
        e.add_step(
            &case_id,
            &step(ProcedureStep::Deliberation, StepOutcome::Passed),
        )
    })
    .expect("passed again");
    let h = doc.read().expect("read");
    assert_eq!(
        h.cases[&case_id].stage(),
        CaseStage::Passed(ProcedureStep::Deliberation)
    );
    doc.edit(&author(1), |e| e.add_step(&case_id, &publicity))
        .expect("now the publicity may follow");

    // The status moves only with a passed 公告, and then in the same edit.
    let err = doc
        .edit(&author(1), |e| e.apply_outcome(&case_id, 2026))
        .expect_err("not announced");
    assert_eq!(
        err.validation(),
        Some(&ValidationError::NotAnnounced(case_id.clone()))
    );
    let (_, hash) = doc
        .edit(&author(1), |e| {
            for s in [
                ProcedureStep::TownshipReview,
                ProcedureStep::CountyDecision,
                ProcedureStep::Announcement,
            ] {
                e.add_step(
                    &case_id,
                    &step_record(s, date(2026, 11, 12), "县扶贫办", StepOutcome::Passed),
                )?;
            }
            e.apply_outcome(&case_id, 2026)
        })
        .expect("announced");
    assert!(hash.is_some(), "one change");
    let h = doc.read().expect("read");
    assert_eq!(h.info.status, Some(HouseholdStatus::ExitedSupported));
    assert_eq!(h.info.exit_year, Some(2026));
}

#[test]
fn garbage_bytes_are_a_typed_error() {
    for bytes in [
        &b""[..],
        b"\x00\x01\x02",
        b"not an automerge document at all",
        &[0x85, 0x6f, 0x4a, 0x83, 0xff, 0xff],
    ] {
        let err = HouseholdDoc::load(bytes, actor(1)).expect_err("garbage");
        assert!(
            matches!(err, DocError::Malformed(_) | DocError::NotAHousehold),
            "{err:?}"
        );
    }
    // A truncated real document.
    let mut doc = typical_household();
    let bytes = doc.save();
    for cut in [1, bytes.len() / 3, bytes.len() / 2, bytes.len() - 1] {
        assert!(
            HouseholdDoc::load(&bytes[..cut], actor(1)).is_err(),
            "cut at {cut}"
        );
    }
}

#[test]
fn changes_automerge_mishandles_are_refused() {
    use zoufang_shared::doc::IncomingChange;
    // Found by fuzzing, each a change that decodes: one automerge applies but, asked for its
    // changes, rebuilds under another hash (kept, the document would no longer load after a
    // save); one whose expansion panics inside automerge.
    for (bytes, why) in [
        (
            &include_bytes!(
                "../../fuzz/regressions/doc_load/non-canonical-change-rebuilt-with-another-hash"
            )[..],
            "不规范",
        ),
        (
            &include_bytes!("../../fuzz/regressions/doc_load/change-expansion-panics")[..],
            "无法解析",
        ),
    ] {
        let change = IncomingChange::decode(bytes).expect("it decodes");
        let mut doc = HouseholdDoc::empty(actor(1));
        let err = doc.apply(vec![change]).expect_err("refused");
        assert!(err.to_string().contains(why), "{err}");
    }

    // The same check passes every change automerge itself wrote, pushed again or anew.
    let mut original = typical_household();
    let changes: Vec<IncomingChange> = original
        .changes_after(&[])
        .iter()
        .map(|c| IncomingChange::decode(c).expect("decodes"))
        .collect();
    let mut copy = HouseholdDoc::empty(actor(2));
    copy.apply(changes.clone()).expect("applies");
    copy.apply(changes).expect("applies again, unchanged");
    assert_eq!(copy.heads(), original.heads());
}

#[test]
fn documents_of_another_kind_or_schema_are_refused() {
    use automerge::transaction::Transactable;
    let mut plain = automerge::AutoCommit::new();
    plain
        .put(automerge::ROOT, "title", "not a household")
        .expect("put");
    assert!(matches!(
        HouseholdDoc::load(&plain.save(), actor(1)),
        Err(DocError::NotAHousehold)
    ));

    let mut doc = typical_household();
    let am = doc.automerge();
    am.put(automerge::ROOT, "schema", 99_i64).expect("put");
    am.commit();
    let err = HouseholdDoc::load(&doc.save(), actor(1)).expect_err("newer schema");
    assert!(
        matches!(err, DocError::NewerSchema { found: 99, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("升级"));
}

#[test]
fn a_document_with_values_of_the_wrong_type_reports_the_path() {
    use automerge::ReadDoc;
    use automerge::transaction::Transactable;
    let mut doc = typical_household();
    let am = doc.automerge();
    let (_, living) = am
        .get(automerge::ROOT, "living")
        .expect("get")
        .expect("living");
    am.put(&living, "house_area_m2", "ninety").expect("put");
    am.commit();
    let err = doc.read().expect_err("wrong type");
    assert!(err.to_string().contains("living.house_area_m2"), "{err}");
}

#[test]
fn a_household_created_with_its_contents_is_one_change() {
    let (mut doc, ()) = HouseholdDoc::create_with(
        &HouseholdId::from("hh-2"),
        actor(1),
        &author(1),
        zoufang_shared::demo::fill_typical,
    )
    .expect("create");
    assert_eq!(doc.history().len(), 1);
    assert_eq!(doc.read().expect("read").size(), 4);
    let failed = HouseholdDoc::create_with(&HouseholdId::from("hh-3"), actor(1), &author(1), |e| {
        e.add_member(&Member::default())
    });
    assert!(failed.is_err(), "a member without a name is refused");
}

#[test]
fn an_empty_income_year_is_not_created_but_an_existing_one_may_be_cleared() {
    let mut doc = typical_household();
    doc.edit(&author(1), |e| e.set_income(2017, &Income::default()))
        .expect("edit");
    assert!(!doc.read().expect("read").incomes.contains_key(&2017));

    let wage = Income {
        wage: Fen::from_yuan(100),
        ..Income::default()
    };
    doc.edit(&author(1), |e| e.set_income(2017, &wage))
        .expect("edit");
    doc.edit(&author(1), |e| e.set_income(2017, &Income::default()))
        .expect("edit");
    assert_eq!(
        doc.read().expect("read").incomes.get(&2017),
        Some(&Income::default()),
        "a year once recorded stays, at zero"
    );
}

#[test]
fn a_stored_change_reaches_its_wire_form_either_way() {
    use zoufang_shared::doc::{IncomingChange, wire_form};
    let mut doc = typical_household();
    let raw = doc.changes_after(&[]).remove(0);
    let mut change = IncomingChange::decode(&raw).expect("decodes");
    assert_eq!(change.wire_bytes(), raw);
    // Rows stored before the server kept changes as they travel hold `bytes()`.
    assert_eq!(wire_form(change.bytes()), raw);
    assert_eq!(wire_form(raw.clone()), raw);
    // What does not decode goes on as it is, for the receiver to refuse.
    let garbage = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 2, 9, 9];
    assert_eq!(wire_form(garbage.clone()), garbage);
}

#[test]
fn a_field_that_does_not_fit_the_model_is_named() {
    use automerge::ReadDoc;
    use automerge::transaction::Transactable;
    let mut doc = typical_household();
    let am = doc.automerge();
    let (_, info) = am
        .get(automerge::ROOT, "info")
        .expect("get")
        .expect("the household has its info");
    am.put(&info, "year", "去年").expect("put");
    am.commit();
    for err in [
        doc.read().expect_err("a year that is text"),
        doc.read_all().expect_err("a year that is text"),
    ] {
        assert!(
            matches!(&err, DocError::Model(m) if m.starts_with("info.year: ")),
            "{err:?}"
        );
    }
}
