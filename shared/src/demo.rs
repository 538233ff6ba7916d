//! A typical household, built the way the forms fill it: the demo data of the client and server,
//! and the fixture of tests and benchmarks.

use crate::codes::*;
use crate::doc::{DocError, Editor};
use crate::model::*;
use crate::money::Fen;

/// A valid resident ID for a person of 凤庆县 born on `birth` (YYYYMMDD); `seq` is the
/// three-digit sequence whose last digit encodes the sex (odd for men).
pub fn id_number(birth: &str, seq: &str) -> String {
    let first = format!("530921{birth}{seq}");
    let check = crate::rules::resident_id::check_digit(&first).unwrap_or('0');
    format!("{first}{check}")
}

/// A step as a field team records it by hand: no user account, comment, 公示 period,
/// objections or attachments.
pub fn step_record(
    step: ProcedureStep,
    date: chrono::NaiveDate,
    actor: &str,
    outcome: StepOutcome,
) -> StepRecord {
    StepRecord {
        step,
        date,
        actor: actor.into(),
        actor_user: None,
        outcome,
        comment: String::new(),
        publicity_start: None,
        publicity_end: None,
        objections: Default::default(),
        attachments: Default::default(),
    }
}

/// A case as a field team proposes it by hand: no origin, round, user account, reason, members
/// or steps yet.
pub fn case_record(kind: CaseKind, proposed_on: chrono::NaiveDate, proposed_by: &str) -> Case {
    Case {
        kind,
        origin: None,
        round: None,
        proposed_on,
        proposed_by: proposed_by.into(),
        proposed_by_user: None,
        reason: String::new(),
        members: Default::default(),
        steps: Default::default(),
    }
}

/// Fills a new household with the figures of a typical exited family of four in 诗礼乡 三合村:
/// head, spouse, a schoolboy and a grandmother; wage income, a B-grade house, safe water.
pub fn fill_typical(e: &mut Editor<'_>) -> Result<(), DocError> {
    e.set_info(&HouseholdInfo {
        household_no: Some("5309210010010001230".into()),
        year: Some(2026),
        province: Some("云南省".into()),
        city: Some("临沧市".into()),
        county: Some("凤庆县".into()),
        township: Some("诗礼乡".into()),
        village: Some("三合村".into()),
        group: Some("三合组".into()),
        phone: Some("13912345678".into()),
        status: Some(HouseholdStatus::ExitedSupported),
        standard_level: Some(StandardLevel::National),
        attribute: Some(PovertyAttribute::General),
        main_cause: Some(PovertyCause::Illness),
        other_causes: [PovertyCause::LackSkills].into(),
        food_secure: Some(true),
        clothing_secure: Some(true),
        ..HouseholdInfo::default()
    })?;
    for (name, rel, sex, birth, seq) in [
        ("李大山", Relation::Head, Sex::Male, "19700312", "011"),
        ("王秀英", Relation::Spouse, Sex::Female, "19720801", "022"),
        ("李小明", Relation::Son, Sex::Male, "20120905", "031"),
        ("李奶奶", Relation::Parent, Sex::Female, "19450120", "042"),
    ] {
        e.add_member(&Member {
            name: name.into(),
            sex: Some(sex),
            id_number: Some(id_number(birth, seq)),
            relation: Some(rel),
            school: (rel == Relation::Son).then_some(SchoolStage::Junior),
            education: (rel != Relation::Son).then_some(Education::Junior),
            ethnicity: Some("汉族".into()),
            health: Some(Health::Healthy),
            labour: Some(LabourSkill::Ordinary),
            medical_insurance: true,
            ..Member::default()
        })?;
    }
    e.set_income(
        2026,
        &Income {
            wage: Fen::from_yuan(18_000),
            planting: Fen::from_yuan(3_200),
            breeding: Fen::from_yuan(1_500),
            transfer_other: Fen::from_yuan(2_000),
            production_cost: Fen::from_yuan(1_100),
            ..Income::default()
        },
    )?;
    e.set_living(&Living {
        road_type: Some(RoadType::Hardened),
        distance_to_road_m: Some(300),
        living_power: Some(true),
        production_power: Some(true),
        house_area_m2: Some(96),
        house_structure: Some(HouseStructure::BrickConcrete),
        house_grade: Some(HouseGrade::B),
        sanitary_toilet: Some(true),
        ..Living::default()
    })?;
    e.set_water(&Water {
        litres_per_person_day: Some(60),
        trip_minutes: Some(0),
        cut_days_per_year: Some(5),
        quality_tested: Some(true),
        dry_area: Some(false),
    })
}
