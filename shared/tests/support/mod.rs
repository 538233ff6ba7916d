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

pub fn member(name: &str, relation: Relation, sex: Sex, birth: &str) -> Member {
    let seq = if sex == Sex::Male { "011" } else { "022" };
    Member {
        name: name.into(),
        sex: Some(sex),
        id_number: Some(zoufang_shared::demo::id_number(birth, seq)),
        relation: Some(relation),
        medical_insurance: true,
        ..Member::default()
    }
}

/// The demo's typical household of four, created by device 1.
pub fn typical_household() -> HouseholdDoc {
    let mut doc =
        HouseholdDoc::create(&HouseholdId::from("hh-1"), actor(1), &author(1)).expect("create");
    doc.edit(&author(1), zoufang_shared::demo::fill_typical)
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
