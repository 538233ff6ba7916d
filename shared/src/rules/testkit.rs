//! Test households built from the seeds' situations. Every helper returns valid data; tests
//! break one thing at a time.

use super::assessment::Failure;
use super::checks::Finding;
use super::resident_id::check_digit;
use crate::codes::*;
use crate::ids::{HouseholdId, MemberId};
use crate::model::{Household, Income, Member};
use crate::money::Fen;
use chrono::NaiveDate;
use std::fmt;

pub(crate) fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid test date")
}

/// The survey date the tests assess on.
pub(crate) fn on() -> NaiveDate {
    date(2020, 12, 1)
}

/// A resident ID with a correct check digit.
pub(crate) fn id_with(region: &str, birth: &str, seq: &str) -> String {
    let body = format!("{region}{birth}{seq}");
    let check = check_digit(&body).expect("17 digits");
    format!("{body}{check}")
}

/// A member with a valid ID whose sequence number encodes `sex` and differs by name.
pub(crate) fn person(name: &str, relation: Relation, sex: Sex, birth: &str) -> Member {
    let spread: u32 = name.chars().map(u32::from).sum::<u32>() % 400;
    let seq = spread * 2 + u32::from(sex == Sex::Male);
    Member {
        name: name.to_owned(),
        sex: Some(sex),
        id_number: Some(id_with("532621", birth, &format!("{seq:03}"))),
        relation: Some(relation),
        education: Some(Education::Junior),
        medical_insurance: true,
        ..Member::default()
    }
}

pub(crate) fn pupil(
    name: &str,
    relation: Relation,
    sex: Sex,
    birth: &str,
    stage: SchoolStage,
) -> Member {
    Member {
        education: None,
        school: Some(stage),
        ..person(name, relation, sex, birth)
    }
}

/// A member with neither 文化程度 nor 在校生状况 recorded.
pub(crate) fn unschooled(name: &str, relation: Relation, sex: Sex, birth: &str) -> Member {
    Member {
        education: None,
        ..person(name, relation, sex, birth)
    }
}

pub(crate) fn add(h: &mut Household, m: Member) -> MemberId {
    let id = MemberId::from(m.name.as_str());
    h.members.insert(id.clone(), m);
    id
}

pub(crate) fn add_all(h: &mut Household, members: impl IntoIterator<Item = Member>) {
    for m in members {
        add(h, m);
    }
}

/// The 2020 income of a [`household`], to change one item.
pub(crate) fn income_2020(h: &mut Household) -> &mut Income {
    h.incomes
        .get_mut(&2020)
        .expect("the sample household has 2020 income")
}

/// A four-person household in 云南省 that meets every criterion in 2020 (assessed on
/// 2020-12-01): 人均纯收入 5000 yuan against the 4000 yuan line.
pub(crate) fn household() -> Household {
    let mut h = Household::new(HouseholdId::from("hh-1"));
    h.info.year = Some(2020);
    h.info.province = Some("云南省".into());
    h.info.city = Some("文山壮族苗族自治州".into());
    h.info.standard_level = Some(StandardLevel::National);
    h.info.food_secure = Some(true);
    h.info.clothing_secure = Some(true);
    h.living.house_grade = Some(HouseGrade::B);
    h.water.litres_per_person_day = Some(50);
    h.water.trip_minutes = Some(10);
    h.water.cut_days_per_year = Some(0);
    h.water.quality_tested = Some(true);
    add_all(
        &mut h,
        [
            person("张建国", Relation::Head, Sex::Male, "19750310"),
            person("李秀英", Relation::Spouse, Sex::Female, "19770602"),
            pupil(
                "张伟",
                Relation::Son,
                Sex::Male,
                "20080901",
                SchoolStage::Junior,
            ),
            pupil(
                "张丽",
                Relation::Daughter,
                Sex::Female,
                "20140520",
                SchoolStage::Primary,
            ),
        ],
    );
    h.incomes.insert(
        2019,
        Income {
            wage: Fen::from_yuan(14_000),
            planting: Fen::from_yuan(2_500),
            transfer_other: Fen::from_yuan(2_000),
            production_cost: Fen::from_yuan(800),
            ..Income::default()
        },
    );
    h.incomes.insert(
        2020,
        Income {
            wage: Fen::from_yuan(16_000),
            planting: Fen::from_yuan(3_000),
            transfer_other: Fen::from_yuan(2_000),
            production_cost: Fen::from_yuan(1_000),
            ..Income::default()
        },
    );
    h
}

/// What the checks' findings and the assessment's failures share, so that their tests assert
/// them alike.
pub(crate) trait Coded: fmt::Debug {
    fn code(&self) -> &'static str;
    fn message(&self) -> &str;
}

impl Coded for Finding {
    fn code(&self) -> &'static str {
        self.code
    }
    fn message(&self) -> &str {
        &self.message
    }
}

impl Coded for Failure {
    fn code(&self) -> &'static str {
        self.code
    }
    fn message(&self) -> &str {
        &self.message
    }
}

pub(crate) fn codes<T: Coded>(items: &[T]) -> Vec<&'static str> {
    items.iter().map(Coded::code).collect()
}

/// The codes are exactly `expected`, and the first item reads `message`.
pub(crate) fn assert_first<T: Coded>(items: &[T], expected: &[&str], message: &str) {
    assert_eq!(codes(items), expected, "{items:?}");
    assert_eq!(items[0].message(), message);
}
