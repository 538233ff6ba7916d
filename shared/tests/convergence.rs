//! Property tests: replicas of one household edited concurrently converge, in any merge order,
//! and nothing added anywhere is lost.

mod support;

use proptest::prelude::*;
use std::collections::BTreeSet;
use support::*;
use zoufang_shared::codes::*;
use zoufang_shared::demo::step_record;
use zoufang_shared::doc::{Conflict, HouseholdDoc};
use zoufang_shared::model::*;
use zoufang_shared::money::Fen;

/// One random edit. Indices pick among what the replica currently has.
#[derive(Debug, Clone)]
enum Op {
    Grade(u8),
    Phone(u16),
    Cause(u8, bool),
    Income { year: i32, item: u8, yuan: u32 },
    AddMember(u8),
    MemberPhone { pick: u8, n: u16 },
    MemberInsured { pick: u8, insured: bool },
    RemoveMember(u8),
    Visit(u8),
    Case(u8),
    Step(u8),
    Water(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..4).prop_map(Op::Grade),
        any::<u16>().prop_map(Op::Phone),
        (0u8..12, any::<bool>()).prop_map(|(c, on)| Op::Cause(c, on)),
        (2025i32..2027, 0u8..15, 0u32..50_000).prop_map(|(year, item, yuan)| Op::Income {
            year,
            item,
            yuan
        }),
        any::<u8>().prop_map(Op::AddMember),
        (any::<u8>(), any::<u16>()).prop_map(|(pick, n)| Op::MemberPhone { pick, n }),
        (any::<u8>(), any::<bool>())
            .prop_map(|(pick, insured)| Op::MemberInsured { pick, insured }),
        any::<u8>().prop_map(Op::RemoveMember),
        (1u8..29).prop_map(Op::Visit),
        (0u8..8).prop_map(Op::Case),
        any::<u8>().prop_map(Op::Step),
        any::<u8>().prop_map(Op::Water),
    ]
}

fn pick<T: Clone>(items: &[T], n: u8) -> Option<T> {
    (!items.is_empty()).then(|| items[n as usize % items.len()].clone())
}

fn set_income_item(income: &mut Income, item: u8, value: Fen) {
    let fields: [&mut Fen; 15] = [
        &mut income.wage,
        &mut income.planting,
        &mut income.breeding,
        &mut income.forestry_fruit,
        &mut income.business_other,
        &mut income.property,
        &mut income.family_planning,
        &mut income.dibao,
        &mut income.tekun,
        &mut income.pension,
        &mut income.eco_compensation,
        &mut income.transfer_other,
        &mut income.production_cost,
        &mut income.insurance_claims,
        &mut income.compliant_out_of_pocket,
    ];
    if let Some(f) = fields.into_iter().nth(item as usize) {
        *f = value;
    }
}

/// What one replica added, to check nothing is lost.
#[derive(Default)]
struct Added {
    members: BTreeSet<String>,
    visits: BTreeSet<String>,
    cases: BTreeSet<String>,
    steps: BTreeSet<String>,
}

fn apply(doc: &mut HouseholdDoc, who: u8, op: &Op, added: &mut Added) {
    let author = author(who);
    let result = doc.edit(&author, |e| {
        let h = e.household()?;
        match op {
            Op::Grade(g) => {
                let mut living = h.living;
                living.house_grade = Some(HouseGrade::ALL[*g as usize]);
                e.set_living(&living)?;
            }
            Op::Phone(n) => {
                let mut info = h.info;
                info.phone = Some(format!("139{n:08}"));
                e.set_info(&info)?;
            }
            Op::Cause(c, on) => {
                let mut info = h.info;
                let cause = PovertyCause::ALL[*c as usize];
                if *on {
                    if info.other_causes.len() < 2 {
                        info.other_causes.insert(cause);
                    }
                } else {
                    info.other_causes.remove(&cause);
                }
                e.set_info(&info)?;
            }
            Op::Income { year, item, yuan } => {
                let mut income = h.incomes.get(year).cloned().unwrap_or_default();
                set_income_item(&mut income, *item, Fen::from_yuan((*yuan).into()));
                e.set_income(*year, &income)?;
            }
            Op::AddMember(n) => {
                let id = e.add_member(&member(
                    &format!("成员{n}"),
                    Relation::Other,
                    Sex::Female,
                    "19900101",
                ))?;
                added.members.insert(id.to_string());
            }
            Op::MemberPhone { pick: p, n } => {
                let ids: Vec<_> = h.members.keys().cloned().collect();
                if let Some(id) = pick(&ids, *p) {
                    let mut m = h.members[&id].clone();
                    m.phone = Some(format!("137{n:08}"));
                    e.update_member(&id, &m)?;
                }
            }
            Op::MemberInsured { pick: p, insured } => {
                let ids: Vec<_> = h.members.keys().cloned().collect();
                if let Some(id) = pick(&ids, *p) {
                    let mut m = h.members[&id].clone();
                    m.medical_insurance = *insured;
                    e.update_member(&id, &m)?;
                }
            }
            Op::RemoveMember(p) => {
                let ids: Vec<_> = h.current_members().map(|(id, _)| id.clone()).collect();
                if let Some(id) = pick(&ids, *p) {
                    e.remove_member(&id, MemberChange::MoveOut, date(2026, 11, 3))?;
                }
            }
            Op::Visit(day) => {
                let id = e.add_visit(&visit(u32::from(*day), &format!("走访{who}")))?;
                added.visits.insert(id.to_string());
            }
            Op::Case(k) => {
                let id = e.add_case(&Case {
                    kind: CaseKind::ALL[*k as usize],
                    origin: None,
                    round: None,
                    proposed_on: date(2026, 11, 5),
                    proposed_by: format!("调查员{who}"),
                    proposed_by_user: None,
                    reason: String::new(),
                    members: Default::default(),
                    steps: Default::default(),
                })?;
                added.cases.insert(id.to_string());
            }
            Op::Step(p) => {
                let ids: Vec<_> = h.cases.keys().cloned().collect();
                if let Some(id) = pick(&ids, *p) {
                    let step = e.add_step(
                        &id,
                        &step_record(
                            ProcedureStep::HomeCheck,
                            date(2026, 11, 6),
                            &format!("队长{who}"),
                            StepOutcome::Passed,
                        ),
                    );
                    // A rejected case refuses further steps; that is the rule, not a failure.
                    if let Ok(step) = step {
                        added.steps.insert(step.to_string());
                    }
                }
            }
            Op::Water(n) => {
                let mut water = h.water;
                water.litres_per_person_day = Some(u32::from(*n));
                water.quality_tested = Some(n % 2 == 0);
                e.set_water(&water)?;
            }
        }
        Ok(())
    });
    result.expect("every generated edit is valid");
}

fn state(doc: &mut HouseholdDoc) -> (Household, Vec<Conflict>, Vec<String>) {
    let mut heads: Vec<String> = doc.heads().iter().map(|h| h.to_string()).collect();
    heads.sort();
    let household = doc.read().expect("read");
    let conflicts = doc.conflicts().expect("conflicts");
    // A merge reads both in one walk: it must see what the two walks see.
    let one_walk = doc.read_all().expect("read_all");
    assert_eq!(one_walk.household, household);
    assert_eq!(one_walk.conflicts, conflicts);
    (household, conflicts, heads)
}

fn assert_nothing_lost(h: &Household, added: &[Added]) {
    for a in added {
        for m in &a.members {
            assert!(h.members.keys().any(|k| k.as_str() == m), "member {m} lost");
        }
        for v in &a.visits {
            assert!(h.visits.keys().any(|k| k.as_str() == v), "visit {v} lost");
        }
        for c in &a.cases {
            assert!(h.cases.keys().any(|k| k.as_str() == c), "case {c} lost");
        }
        for s in &a.steps {
            assert!(
                h.cases
                    .values()
                    .any(|c| c.steps.keys().any(|k| k.as_str() == s)),
                "step {s} lost"
            );
        }
    }
}

/// Edits `ops` on forks of `base`, one replica per op list (actor 2, 3, …).
fn edit_replicas(base: &mut HouseholdDoc, ops: &[Vec<Op>]) -> (Vec<HouseholdDoc>, Vec<Added>) {
    let mut replicas = Vec::new();
    let mut added = Vec::new();
    for (i, list) in ops.iter().enumerate() {
        let who = u8::try_from(i + 2).expect("few replicas");
        let mut doc = base.fork(actor(who));
        let mut a = Added::default();
        for op in list {
            apply(&mut doc, who, op, &mut a);
        }
        replicas.push(doc);
        added.push(a);
    }
    (replicas, added)
}

/// Merges the replicas into a fresh copy of `base` in the given order.
fn merged(base: &mut HouseholdDoc, replicas: &mut [HouseholdDoc], order: &[usize]) -> HouseholdDoc {
    let mut doc = base.fork(actor(100));
    for &i in order {
        doc.merge(&mut replicas[i]).expect("merge");
    }
    doc
}

/// Fields the conflict property writes, and a distinct valid value for each number.
const FIELDS: [&str; 4] = [
    "info.phone",
    "incomes.2026.wage",
    "water.trip_minutes",
    "land.cultivated",
];

fn field_value(field: usize, v: u32) -> serde_json::Value {
    match field {
        0 => serde_json::json!(format!("138{v:08}")),
        1 => serde_json::json!(i64::from(v) * 100),
        2 => serde_json::json!(v),
        _ => serde_json::json!(format!("{}.{:02}", v / 100, v % 100)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn two_replicas_converge_in_either_order(
        a in prop::collection::vec(op(), 0..12),
        b in prop::collection::vec(op(), 0..12),
    ) {
        let mut base = typical_household();
        let (mut replicas, added) = edit_replicas(&mut base, &[a, b]);
        let mut ab = merged(&mut base, &mut replicas, &[0, 1]);
        let mut ba = merged(&mut base, &mut replicas, &[1, 0]);
        // Replica-to-replica exchange, as two devices syncing with each other.
        let (left, right) = replicas.split_at_mut(1);
        left[0].merge(&mut right[0]).expect("merge");
        right[0].merge(&mut left[0]).expect("merge");
        let s = state(&mut ab);
        prop_assert_eq!(&s, &state(&mut ba));
        prop_assert_eq!(&s, &state(&mut replicas[0]));
        prop_assert_eq!(&s, &state(&mut replicas[1]));
        assert_nothing_lost(&s.0, &added);
        // What was saved loads back to the same state.
        let mut reloaded = HouseholdDoc::load(&ab.save(), actor(7)).expect("load");
        prop_assert_eq!(&s, &state(&mut reloaded));
    }

    #[test]
    fn three_replicas_converge_in_every_order(
        ops in prop::collection::vec(prop::collection::vec(op(), 0..8), 3),
    ) {
        let mut base = typical_household();
        let (mut replicas, added) = edit_replicas(&mut base, &ops);
        let orders = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
        let mut first = merged(&mut base, &mut replicas, &orders[0]);
        let expected = state(&mut first);
        for order in &orders[1..] {
            let mut doc = merged(&mut base, &mut replicas, order);
            prop_assert_eq!(&expected, &state(&mut doc), "order {:?}", order);
        }
        // Pairwise gossip (1↔2, 2↔3, 1↔2 again, then 2→3) reaches the same state too.
        let (r0, rest) = replicas.split_at_mut(1);
        let (r1, r2) = rest.split_at_mut(1);
        r0[0].merge(&mut r1[0]).expect("merge");
        r1[0].merge(&mut r2[0]).expect("merge");
        r2[0].merge(&mut r1[0]).expect("merge");
        r0[0].merge(&mut r1[0]).expect("merge");
        r1[0].merge(&mut r0[0]).expect("merge");
        r2[0].merge(&mut r1[0]).expect("merge");
        for r in replicas.iter_mut() {
            prop_assert_eq!(&expected, &state(r));
        }
        assert_nothing_lost(&expected.0, &added);
    }

    #[test]
    fn a_field_written_concurrently_is_reported_with_both_values(
        field in 0usize..4,
        x in 1u32..10_000,
        y in 1u32..10_000,
        pre_a in prop::collection::vec(op(), 0..4),
        pre_b in prop::collection::vec(op(), 0..4),
    ) {
        prop_assume!(x != y);
        let mut base = typical_household();
        let (mut replicas, _) = edit_replicas(&mut base, &[pre_a, pre_b]);
        let path = FIELDS[field];
        let value = |v| field_value(field, v);
        for (doc, (who, v)) in replicas.iter_mut().zip([(2u8, x), (3u8, y)]) {
            doc.edit(&author(who), |e| e.set_field(path, value(v))).expect("set");
        }
        let (left, right) = replicas.split_at_mut(1);
        left[0].merge(&mut right[0]).expect("merge");
        let conflicts = left[0].conflicts().expect("conflicts");
        let c = conflicts.iter().find(|c| c.path_string() == *path);
        prop_assert!(c.is_some(), "{} not reported: {:?}", path, conflicts);
        let c = c.expect("checked");
        let values: BTreeSet<String> = c.values.iter().map(|v| v.value.to_string()).collect();
        let expected: BTreeSet<String> = [value(x).to_string(), value(y).to_string()].into();
        prop_assert_eq!(values, expected);
        let users: BTreeSet<_> = c.values.iter().filter_map(|v| v.user.clone()).collect();
        prop_assert_eq!(users, BTreeSet::from(["user2".to_string(), "user3".to_string()]));
    }
}
