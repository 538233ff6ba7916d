//! Builders shared by the document tests.
#![allow(dead_code)]

use chrono::{NaiveDate, TimeZone, Utc};
use zoufang_shared::codes::*;
use zoufang_shared::doc::{ActorId, ChangeAuthor, HouseholdDoc};
use zoufang_shared::ids::HouseholdId;
use zoufang_shared::model::*;

pub fn actor(n: u8) -> ActorId {
    ActorId::from([n; 16])
}

pub fn author(n: u8) -> ChangeAuthor {
    ChangeAuthor::new(
        format!("user{n}"),
        format!("device{n}"),
        Utc.with_ymd_and_hms(2026, 11, 20, 9, n.into(), 0)
            .single()
            .expect("valid time"),
    )
}

pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

/// Appends the ISO 7064 MOD 11-2 check digit to 17 digits.
pub fn with_check_digit(first17: &str) -> String {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17
        .chars()
        .zip(W)
        .map(|(c, w)| c.to_digit(10).expect("digit") * w)
        .sum();
    let check = b"10X98765432"[(sum % 11) as usize] as char;
    format!("{first17}{check}")
}

pub fn member(name: &str, relation: Relation, sex: Sex, birth: &str) -> Member {
    // Sex digit: odd for men.
    let seq = if sex == Sex::Male { "011" } else { "022" };
    Member {
        name: name.into(),
        sex: Some(sex),
        id_number: Some(with_check_digit(&format!("530921{birth}{seq}"))),
        relation: Some(relation),
        medical_insurance: true,
        ..Member::default()
    }
}

/// A household of four with a visit's worth of data, created by device 1.
pub fn typical_household() -> HouseholdDoc {
    let mut doc =
        HouseholdDoc::create(&HouseholdId::from("hh-1"), actor(1), &author(1)).expect("create");
    doc.edit(&author(1), |e| {
        e.set_info(&HouseholdInfo {
            household_no: Some("530921001001000123".into()),
            year: Some(2026),
            province: Some("云南省".into()),
            city: Some("临沧市".into()),
            county: Some("凤庆县".into()),
            township: Some("诗礼乡".into()),
            village: Some("三合村".into()),
            group: Some("三合组".into()),
            status: Some(HouseholdStatus::ExitedSupported),
            main_cause: Some(PovertyCause::Illness),
            ..HouseholdInfo::default()
        })?;
        e.add_member(&member("李大山", Relation::Head, Sex::Male, "19700312"))?;
        e.add_member(&member("王秀英", Relation::Spouse, Sex::Female, "19720801"))?;
        e.add_member(&member("李小明", Relation::Son, Sex::Male, "20120905"))?;
        e.add_member(&member("李奶奶", Relation::Parent, Sex::Female, "19450120"))?;
        e.set_income(
            2026,
            &Income {
                wage: zoufang_shared::money::Fen::from_yuan(18_000),
                planting: zoufang_shared::money::Fen::from_yuan(3_000),
                transfer_other: zoufang_shared::money::Fen::from_yuan(2_000),
                production_cost: zoufang_shared::money::Fen::from_yuan(1_000),
                ..Income::default()
            },
        )?;
        e.set_living(&Living {
            house_grade: Some(HouseGrade::B),
            house_structure: Some(HouseStructure::BrickConcrete),
            house_area_m2: Some(96),
            ..Living::default()
        })
    })
    .expect("edit");
    doc
}

pub fn visit(day: u32, notes: &str) -> Visit {
    Visit {
        date: date(2026, 11, day),
        visitor: "张调查".into(),
        visitor_user: Some("user1".into()),
        mode: VisitMode::InPerson,
        household_present: Some(true),
        notes: notes.into(),
        policies_known: "低保、医保".into(),
        satisfaction: Some(Satisfaction::Satisfied),
        attachments: Default::default(),
    }
}
