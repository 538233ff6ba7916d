//! Building a household's document from its plan, the way devices build one: a creating
//! change, then one change per visit, proposal, procedure step and objection, each dated on its
//! day; then what `commit_sync` stores.

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};
use zoufang_shared::CodeList;
use zoufang_shared::codes::*;
use zoufang_shared::doc::{ActorId, ChangeAuthor, DocError, HouseholdDoc, IncomingChange};
use zoufang_shared::ids::{CaseId, HelperId, HouseholdId, MemberId, StepId};
use zoufang_shared::model::{
    Case, Helper, HouseholdInfo, Income, Living, Member, Objection, StepRecord, Visit, Water,
};
use zoufang_shared::money::Fen;

use super::planning::{person_name, surname};
use super::rng::{Draw as _, Rng};
use super::{County, Plan};
use crate::projection::household_write;
use crate::report::Bucket;
use crate::storage::{HouseholdWrite, NewChange};

/// What happens to a household after it was surveyed, in date order.
enum Event {
    Visit(Visit),
    Propose,
    Step(usize),
    Objection(Objection),
}

struct PlannedCase {
    case: Case,
    steps: Vec<StepRecord>,
}

/// A time on `day` at 09:00–17:59 China Standard Time.
fn at(day: NaiveDate, rng: &mut Rng) -> DateTime<Utc> {
    let local = day
        .and_hms_opt(9 + rng.below(9) as u32, rng.below(60) as u32, 0)
        .unwrap_or_default();
    DateTime::<Utc>::from_naive_utc_and_offset(local - TimeDelta::hours(8), Utc)
}

/// A case of the household, resting in `target` or wherever chance puts it.
fn plan_case(
    p: &Plan,
    target: Option<Bucket>,
    rng: &mut Rng,
    today: NaiveDate,
    members: &[MemberId],
) -> PlannedCase {
    use CaseKind as K;
    use HouseholdStatus as S;
    let kind = if p.monitoring.is_some() && rng.chance(0.5) {
        K::RiskCleared
    } else {
        match p.status {
            S::NotExited => *rng.pick(&[
                K::Exit,
                K::Exit,
                K::Exit,
                K::WrongEntryRemoval,
                K::MemberChange,
            ]),
            S::ExitedSupported | S::ExitedUnsupported => *rng.pick(&[
                K::WrongfulExit,
                K::Relapse,
                K::Relapse,
                K::MemberChange,
                K::MemberChange,
                K::MonitoringInclude,
            ]),
            S::Relapsed => *rng.pick(&[K::Exit, K::MemberChange]),
            S::Edge => *rng.pick(&[K::NewEntry, K::MonitoringInclude, K::MonitoringInclude]),
            S::Ordinary => *rng.pick(&[K::NewEntry, K::NewEntry, K::MonitoringInclude]),
        }
    };
    let origin = if rng.chance(if kind == K::NewEntry { 0.4 } else { 0.3 }) {
        CaseOrigin::Screening
    } else {
        CaseOrigin::Application
    };
    // How far it got (passed steps, then perhaps one returned or rejected record), how many
    // days ago its last record was made and at most how many days apart its records are.
    let (passed, last, ago, gap) = match target {
        None => {
            let passed = rng.weighted(&[0.15, 0.15, 0.15, 0.2, 0.1, 0.1, 0.15]);
            let last = match rng.weighted(&[0.88, 0.08, 0.04]) {
                1 if passed < ProcedureStep::ALL.len() => Some(StepOutcome::Returned),
                2 if passed < ProcedureStep::ALL.len() => Some(StepOutcome::Rejected),
                _ => None,
            };
            // A case resting in 公示 is recent, so that about half of them are still running.
            let ago = if last.is_none() && passed == 3 {
                rng.between(0, 12)
            } else {
                rng.between(0, 150)
            };
            (passed, last, ago, 8)
        }
        Some(bucket) => {
            let (passed, last) = match bucket {
                Bucket::Proposed => (0, None),
                Bucket::HomeCheck => (1, None),
                Bucket::Deliberation => (2, None),
                Bucket::PublicityRunning | Bucket::PublicityDone => (3, None),
                Bucket::TownshipReview => (4, None),
                Bucket::CountyDecision => (5, None),
                Bucket::Announced => (6, None),
                Bucket::Returned => (rng.below(5) as usize, Some(StepOutcome::Returned)),
                Bucket::Rejected => (rng.below(5) as usize, Some(StepOutcome::Rejected)),
            };
            // Recent, so that it counts in this year's report. A 公示 runs 7 days, its start
            // included: it is running for 0–6 days after the record, over from the 7th.
            let ago = match bucket {
                Bucket::PublicityRunning => rng.between(0, 6),
                Bucket::PublicityDone => rng.between(7, 12),
                _ => rng.between(0, 20),
            };
            (passed, last, ago, 3)
        }
    };
    let n = passed + usize::from(last.is_some());
    // Dates backwards from the last record.
    let mut day = today - TimeDelta::days(ago);
    let mut days = Vec::with_capacity(n);
    for _ in 0..n {
        days.push(day);
        day -= TimeDelta::days(rng.between(1, gap));
    }
    days.reverse();
    let proposed_on = day;
    let steps = (0..n)
        .map(|i| {
            let step = ProcedureStep::ALL[i];
            let outcome = if i < passed {
                StepOutcome::Passed
            } else {
                last.unwrap_or(StepOutcome::Passed)
            };
            let publicity = step == ProcedureStep::Publicity && outcome != StepOutcome::Returned;
            StepRecord {
                step,
                date: days[i],
                actor: match step {
                    ProcedureStep::HomeCheck => "驻村工作队".into(),
                    ProcedureStep::Deliberation | ProcedureStep::Publicity => "村委会".into(),
                    ProcedureStep::TownshipReview => "乡镇人民政府".into(),
                    _ => "县乡村振兴局".into(),
                },
                actor_user: None,
                outcome,
                comment: match outcome {
                    StepOutcome::Passed => String::new(),
                    StepOutcome::Returned => "材料不全,退回补充".into(),
                    StepOutcome::Rejected => "经核实不符合条件".into(),
                },
                publicity_start: publicity.then_some(days[i]),
                publicity_end: publicity.then(|| days[i] + TimeDelta::days(6)),
                objections: Default::default(),
                attachments: Default::default(),
            }
        })
        .collect();
    let case_members = if kind == K::MemberChange {
        members.last().into_iter().cloned().collect()
    } else {
        Default::default()
    };
    PlannedCase {
        case: Case {
            kind,
            origin: Some(origin),
            round: None,
            proposed_on,
            proposed_by: "调查员".into(),
            proposed_by_user: None,
            reason: format!("{}:农户情况发生变化", kind.label()),
            members: case_members,
            steps: Default::default(),
        },
        steps,
    }
}

fn income(rng: &mut Rng, persons: usize, attribute: Option<PovertyAttribute>) -> Income {
    let persons = persons.max(1) as i64;
    let per_capita = rng.between(6_000, 22_000);
    let total = per_capita * persons;
    let wage = total * rng.between(30, 70) / 100;
    let planting = total * rng.between(10, 30) / 100;
    let breeding = total * rng.between(0, 15) / 100;
    Income {
        wage: Fen::from_yuan(wage),
        planting: Fen::from_yuan(planting),
        breeding: Fen::from_yuan(breeding),
        dibao: Fen::from_yuan(if attribute == Some(PovertyAttribute::Dibao) {
            3_600 * persons
        } else {
            0
        }),
        transfer_other: Fen::from_yuan((total - wage - planting - breeding).max(0)),
        production_cost: Fen::from_yuan(planting * rng.between(10, 40) / 100),
        ..Income::default()
    }
}

/// Builds a household's document with its history and returns what `commit_sync` stores.
pub(super) fn build(p: &Plan, county: &County) -> Result<HouseholdWrite, DocError> {
    use HouseholdStatus as S;
    let mut rng = Rng::new(p.seed);
    let today = county.today;
    let village = &county.villages[p.village];
    // One device (actor) per village, as one surveyor covers a village.
    let mut actor_bytes = vec![0x5a; 16];
    actor_bytes[..8].copy_from_slice(&(p.village as u64).to_be_bytes());
    let actor = ActorId::from(actor_bytes);
    let device = format!("dev-{}", village.code);
    let surveyor = format!("surveyor{}", p.village);
    let registered = matches!(
        p.status,
        S::NotExited | S::ExitedSupported | S::ExitedUnsupported | S::Relapsed
    );
    // The first draw: planning draws it too, for a person listed in two households.
    let family = surname(&mut rng);
    let created = today - TimeDelta::days(rng.between(365, 565));
    let attribute = registered.then(|| {
        [
            PovertyAttribute::General,
            PovertyAttribute::Dibao,
            PovertyAttribute::Tekun,
        ][rng.weighted(&[0.8, 0.15, 0.05])]
    });
    let current = p.members.iter().filter(|m| m.left.is_none()).count();
    let info = HouseholdInfo {
        household_no: (registered || p.monitoring.is_some())
            .then(|| format!("{}{:07}", village.code, p.index % 10_000_000)),
        year: Some(today.year() - 1),
        province: Some("云南省".into()),
        city: Some("临沧市".into()),
        county: Some(county.county_name.clone()),
        township: Some(village.township.clone()),
        village: Some(village.name.clone()),
        group: Some(format!("{}组", rng.between(1, 12))),
        area_code: Some(village.code.clone()),
        phone: rng.chance(0.8).then(|| {
            format!(
                "1{}{:09}",
                rng.pick(&[3, 5, 8, 9]),
                rng.below(1_000_000_000)
            )
        }),
        standard_level: registered.then_some(StandardLevel::National),
        attribute,
        main_cause: registered.then(|| *rng.pick(PovertyCause::ALL)),
        status: Some(p.status),
        exit_year: matches!(
            p.status,
            S::ExitedSupported | S::ExitedUnsupported | S::Relapsed
        )
        .then(|| rng.between(2016, 2020) as i32),
        monitoring: p.monitoring,
        measures: if registered || p.monitoring.is_some() {
            (0..rng.between(1, 3))
                .map(|_| *rng.pick(HelpMeasure::ALL))
                .collect()
        } else {
            Default::default()
        },
        food_secure: Some(true),
        clothing_secure: Some(true),
        ..HouseholdInfo::default()
    };
    let members: Vec<Member> = p
        .members
        .iter()
        .map(|m| {
            let age = today.year() - m.birth.year();
            Member {
                name: m.name.clone().unwrap_or_else(|| {
                    person_name(
                        &mut rng,
                        if matches!(m.relation, Relation::Spouse | Relation::Parent) {
                            surname(&mut Rng::new(p.seed ^ m.birth.num_days_from_ce() as u64))
                        } else {
                            family
                        },
                    )
                }),
                sex: Some(m.sex),
                id_number: Some(m.id_number.clone()),
                birth_date: Some(m.birth),
                relation: Some(m.relation),
                ethnicity: Some(if rng.chance(0.8) { "汉族" } else { "彝族" }.into()),
                political: Some(if rng.chance(0.05) {
                    PoliticalStatus::CpcMember
                } else {
                    PoliticalStatus::Masses
                }),
                education: (age >= 18).then(|| {
                    *rng.pick(&[
                        Education::Primary,
                        Education::Junior,
                        Education::Junior,
                        Education::Senior,
                        Education::Illiterate,
                    ])
                }),
                school: match age {
                    3..=5 => Some(SchoolStage::Preschool),
                    6..=11 => Some(SchoolStage::Primary),
                    12..=14 => Some(SchoolStage::Junior),
                    15..=17 => Some(SchoolStage::Senior),
                    _ => None,
                },
                health: Some(
                    [
                        Health::Healthy,
                        Health::Chronic,
                        Health::SeriousIllness,
                        Health::Disabled,
                    ][rng.weighted(&[0.85, 0.1, 0.03, 0.02])],
                ),
                labour: Some(match age {
                    ..=15 => LabourSkill::NoLabour,
                    16..=64 => LabourSkill::Ordinary,
                    _ => LabourSkill::Weak,
                }),
                work_place: (18..=50)
                    .contains(&age)
                    .then(|| *rng.pick(WorkPlace::ALL))
                    .filter(|_| rng.chance(0.4)),
                medical_insurance: rng.chance(0.98),
                pension_insurance: age >= 16 && rng.chance(0.8),
                dibao: attribute == Some(PovertyAttribute::Dibao),
                left_reason: m.left.map(|(r, _)| r),
                left_on: m.left.map(|(_, d)| d),
                ..Member::default()
            }
        })
        .collect();
    let with_income = if registered || p.monitoring.is_some() {
        rng.chance(0.9)
    } else {
        rng.chance(0.2)
    };

    let author = ChangeAuthor::new(surveyor.as_str(), device.as_str(), at(created, &mut rng));
    let household_id = HouseholdId(rng.uuid());
    let (mut doc, member_ids) =
        HouseholdDoc::create_with(&household_id, actor.clone(), &author, |e| {
            e.set_info(&info)?;
            let ids = members
                .iter()
                .map(|m| e.add_member(m))
                .collect::<Result<Vec<_>, _>>()?;
            if with_income {
                e.set_income(today.year() - 1, &income(&mut rng, current, attribute))?;
                if rng.chance(0.6) {
                    e.set_income(today.year() - 2, &income(&mut rng, current, attribute))?;
                }
            }
            let grade = [HouseGrade::A, HouseGrade::B, HouseGrade::C, HouseGrade::D]
                [rng.weighted(&[0.3, 0.67, 0.02, 0.01])];
            e.set_living(&Living {
                road_type: Some(*rng.pick(&[
                    RoadType::Hardened,
                    RoadType::Hardened,
                    RoadType::Gravel,
                ])),
                distance_to_road_m: Some(rng.between(0, 2000) as u32),
                production_power: Some(true),
                living_power: Some(true),
                broadcast_tv: Some(true),
                sanitary_toilet: Some(rng.chance(0.85)),
                house_area_m2: Some(rng.between(40, 200) as u32),
                house_structure: Some(*rng.pick(HouseStructure::ALL)),
                house_grade: Some(grade),
                house_renovated: (!grade.is_safe()).then(|| rng.chance(0.5)),
                moved_out: None,
            })?;
            e.set_water(&Water {
                litres_per_person_day: Some(rng.between(30, 100) as u32),
                dry_area: Some(false),
                trip_minutes: Some(rng.between(0, 20) as u32),
                cut_days_per_year: Some(rng.between(0, 20) as u32),
                quality_tested: Some(rng.chance(0.9)),
            })?;
            if let Some(h) = p.helper {
                let (name, unit) = &county.helpers[h];
                e.put_helper(
                    &HelperId(rng.uuid()),
                    &Helper {
                        name: name.clone(),
                        unit: Some(unit.clone()),
                        phone: Some(format!("139{:08}", h)),
                        from: Some(created),
                        ..Helper::default()
                    },
                )?;
            }
            Ok(ids)
        })?;

    // Later events, each its own change on its own day.
    let mut events: Vec<(NaiveDate, Event)> = Vec::new();
    let visits = if registered || p.monitoring.is_some() {
        rng.weighted(&[0.2, 0.35, 0.3, 0.15])
    } else if p.status == S::Edge {
        rng.weighted(&[0.5, 0.5])
    } else {
        usize::from(rng.chance(0.05))
    };
    for _ in 0..visits {
        let date = today - TimeDelta::days(rng.between(0, 180));
        let mode = if rng.chance(0.8) {
            VisitMode::InPerson
        } else {
            VisitMode::Phone
        };
        events.push((
            date,
            Event::Visit(Visit {
                date,
                visitor: p
                    .helper
                    .map_or_else(|| surveyor.clone(), |h| county.helpers[h].0.clone()),
                visitor_user: None,
                mode,
                household_present: Some(mode == VisitMode::InPerson),
                notes: "了解家庭收入和两不愁三保障情况".into(),
                policies_known: String::new(),
                satisfaction: Some(*rng.pick(&[Satisfaction::Satisfied, Satisfaction::Basically])),
                attachments: Default::default(),
            }),
        ));
    }
    let case_p = if registered || p.monitoring.is_some() {
        0.15
    } else {
        0.05
    };
    let case = match p.case {
        Some(target) => Some(plan_case(p, Some(target), &mut rng, today, &member_ids)),
        None => rng
            .chance(case_p)
            .then(|| plan_case(p, None, &mut rng, today, &member_ids)),
    };
    if let Some(c) = &case {
        events.push((c.case.proposed_on, Event::Propose));
        for (i, s) in c.steps.iter().enumerate() {
            events.push((s.date, Event::Step(i)));
            if s.step == ProcedureStep::Publicity
                && s.outcome == StepOutcome::Passed
                && rng.chance(0.05)
            {
                events.push((
                    s.date,
                    Event::Objection(Objection {
                        date: s.date,
                        by: "村民".into(),
                        content: "对家庭收入有异议".into(),
                        resolution: Some("经核实,异议不成立".into()),
                    }),
                ));
            }
        }
    }
    // Stable: a case's records keep their order within a day.
    events.sort_by_key(|(d, _)| *d);
    let mut case_id: Option<CaseId> = None;
    let mut publicity: Option<StepId> = None;
    for (date, event) in events {
        let author = ChangeAuthor::new(surveyor.as_str(), device.as_str(), at(date, &mut rng));
        doc.edit(&author, |e| match &event {
            Event::Visit(v) => e.add_visit(v).map(drop),
            Event::Propose => {
                let c = case
                    .as_ref()
                    .map(|c| &c.case)
                    .ok_or_else(|| DocError::Model("a proposal without a case".into()))?;
                case_id = Some(e.add_case(c)?);
                Ok(())
            }
            Event::Step(i) => {
                let (Some(c), Some(id)) = (&case, &case_id) else {
                    return Err(DocError::Model("a step before its case".into()));
                };
                let step = e.add_step(id, &c.steps[*i])?;
                if c.steps[*i].step == ProcedureStep::Publicity {
                    publicity = Some(step);
                }
                Ok(())
            }
            Event::Objection(o) => {
                let (Some(id), Some(step)) = (&case_id, &publicity) else {
                    return Err(DocError::Model("an objection before its 公示".into()));
                };
                e.add_objection(id, step, o).map(drop)
            }
        })?;
    }

    // A field edited on two devices at once, left for the conflicts queue.
    if p.conflict {
        // The surveyor and the team leader grade the house at once, differently, and both
        // unlike the stored grade (a write of the stored value would leave no conflict).
        use HouseGrade as G;
        let (mine, theirs) = match doc.read()?.living.house_grade {
            Some(G::A) | None => (G::B, G::C),
            Some(G::B) => (G::C, G::A),
            Some(G::C) => (G::B, G::D),
            Some(G::D) => (G::C, G::B),
        };
        let mut other = doc.fork(ActorId::from(vec![0xc0; 16]));
        let day = today - TimeDelta::days(rng.between(0, 30));
        doc.edit(
            &ChangeAuthor::new(surveyor.as_str(), device.as_str(), at(day, &mut rng)),
            |e| e.set_field("living.house_grade", serde_json::json!(mine.code())),
        )?;
        other.edit(
            &ChangeAuthor::new("teamleader", "dev-leader", at(day, &mut rng)),
            |e| e.set_field("living.house_grade", serde_json::json!(theirs.code())),
        )?;
        doc.merge(&mut other)?;
    }

    let id = household_id.as_str().to_owned();
    let changes = doc
        .changes_after(&[])
        .into_iter()
        .map(|bytes| {
            let mut c = IncomingChange::decode(&bytes)?;
            Ok(NewChange {
                hash: c.hash().to_string(),
                actor: c.actor().to_hex_string(),
                bytes: c.bytes(),
            })
        })
        .collect::<Result<Vec<_>, DocError>>()?;
    household_write(&id, &mut doc, None, changes)
}
