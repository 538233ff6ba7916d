//! 两不愁三保障 + 饮水安全 + 收入: does a household meet the exit criteria for a year?
//!
//! Each criterion is judged from what the survey recorded. A value that was never recorded is a
//! failure ("未核实"), not a pass: an exit must rest on checked facts, and a gap in the data is
//! exactly what the county's 督查 would find. Every failure carries a stable code (for reports
//! and tests) and a specific Chinese message (for the surveyor).
//!
//! | criterion | codes |
//! |---|---|
//! | food 不愁吃 | `food_unverified`, `food_insecure` |
//! | clothing 不愁穿 | `clothing_unverified`, `clothing_insecure` |
//! | education 义务教育有保障 | `education_out_of_school`, `education_stage_mismatch`, `education_age_unknown` |
//! | medical 基本医疗有保障 | `medical_uninsured` |
//! | housing 住房安全有保障 | `housing_ungraded`, `housing_unsafe` |
//! | water 饮水安全 | `water_quantity_unknown`, `water_quantity_low`, `water_trip_unknown`, `water_trip_long`, `water_cut_unknown`, `water_cut_frequent`, `water_quality_unknown`, `water_quality_untested` |
//! | income 收入达标 | `income_no_members`, `income_missing`, `income_invalid`, `standard_missing`, `income_below_line` |

use super::income::{self, IncomeError, IncomeSummary};
use super::standards::{Applied, Standard, StandardKind, Standards};
use crate::codes::{CodeList, DropoutReason, SchoolStage, StandardLevel};
use crate::model::{Household, Member};
use chrono::NaiveDate;
use serde::Serialize;
use std::fmt;

/// 义务教育 covers ages 6 to 16 (inclusive) in the national collection forms.
pub const COMPULSORY_SCHOOL_AGES: std::ops::RangeInclusive<u32> = 6..=16;
/// From this age a pupil may have finished 初中 and moved on to 高中/中职 or beyond.
const POST_COMPULSORY_FROM_AGE: u32 = 15;
/// Enrolment is by 31 August, so a child who turned 6 later in the year is still in 学前教育.
const PRESCHOOL_UNTIL_AGE: u32 = 6;
/// 饮水安全 quantity, litres per person per day; dry areas have a lower threshold.
pub const WATER_LITRES_MIN: u32 = 35;
pub const WATER_LITRES_MIN_DRY: u32 = 20;
/// Longest acceptable single water-fetching trip, minutes.
pub const WATER_TRIP_MAX_MINUTES: u32 = 20;
/// Most days per year the supply may be cut.
pub const WATER_CUT_MAX_DAYS: u32 = 36;

crate::codes::code_list!(
    /// The criteria, in the order forms list them.
    Criterion, "评估标准" {
        Food = "food", "不愁吃";
        Clothing = "clothing", "不愁穿";
        Education = "education", "义务教育有保障";
        Medical = "medical", "基本医疗有保障";
        Housing = "housing", "住房安全有保障";
        Water = "water", "饮水安全";
        Income = "income", "收入达标";
    }
);

/// One unmet criterion, or one unmet part of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub criterion: Criterion,
    /// Stable snake_case code; see the module table.
    pub code: &'static str,
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.criterion.label(), self.message)
    }
}

/// The result of [`assess`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assessment {
    /// No failures at all.
    pub passed: bool,
    pub failures: Vec<Failure>,
    /// The income standard applied, when one was found.
    pub standard: Option<Standard>,
    /// Set when the table had no line of its own for the year or region and another was applied
    /// ([`Standards::resolve`]): the county's to fix, not a failure of the household.
    pub notice: Option<String>,
    /// The year's income figures, when they could be computed.
    pub income: Option<IncomeSummary>,
}

impl Assessment {
    pub fn fails(&self, c: Criterion) -> bool {
        self.failures.iter().any(|f| f.criterion == c)
    }

    /// Failed criteria, each once, in [`Criterion::ALL`] order.
    pub fn failed_criteria(&self) -> Vec<Criterion> {
        Criterion::ALL
            .iter()
            .copied()
            .filter(|c| self.fails(*c))
            .collect()
    }
}

/// Assesses household `h` for survey year `year` (its income record and that year's line) with
/// ages taken on `on`. A household with no 识别标准 recorded is held to the national line.
pub fn assess(h: &Household, year: i32, on: NaiveDate, standards: &Standards) -> Assessment {
    let mut failures = Vec::new();
    let mut fail = |criterion, code, message: String| {
        failures.push(Failure {
            criterion,
            code,
            message,
        })
    };

    for (criterion, value, what) in [
        (Criterion::Food, h.info.food_secure, "不愁吃"),
        (Criterion::Clothing, h.info.clothing_secure, "不愁穿"),
    ] {
        match value {
            Some(true) => {}
            Some(false) => {
                let code = if criterion == Criterion::Food {
                    "food_insecure"
                } else {
                    "clothing_insecure"
                };
                fail(criterion, code, format!("经核实,{what}未达标"));
            }
            None => {
                let code = if criterion == Criterion::Food {
                    "food_unverified"
                } else {
                    "clothing_unverified"
                };
                fail(criterion, code, format!("未核实是否{what}"));
            }
        }
    }

    for (_, m) in h.current_members() {
        if let Some((code, message)) = education_failure(m, on) {
            fail(Criterion::Education, code, message);
        }
    }

    let uninsured: Vec<&str> = h
        .current_members()
        .filter(|(_, m)| !m.medical_insurance)
        .map(|(_, m)| display_name(m))
        .collect();
    if !uninsured.is_empty() {
        fail(
            Criterion::Medical,
            "medical_uninsured",
            format!("未参加城乡居民基本医疗保险:{}", uninsured.join("、")),
        );
    }

    if let Some((code, message)) = housing_failure(h) {
        fail(Criterion::Housing, code, message);
    }

    for (code, message) in water_failures(h) {
        fail(Criterion::Water, code, message);
    }

    let (applied, income) = assess_income(h, year, standards, &mut fail);
    let (standard, notice) = match applied {
        Some(a) => (Some(a.standard), a.notice),
        None => (None, None),
    };

    Assessment {
        passed: failures.is_empty(),
        failures,
        standard,
        notice,
        income,
    }
}

pub(crate) fn display_name(m: &Member) -> &str {
    let name = m.name.trim();
    if name.is_empty() {
        "(未填姓名)"
    } else {
        name
    }
}

/// Where a member stands with respect to compulsory schooling on a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Schooling {
    AgeUnknown,
    NotSchoolAge,
    InSchool,
    /// Out of school for a physical reason (因病, 因残): excused.
    Excused,
    /// Out of school with no reason or a non-physical one.
    Out {
        age: u32,
        reason: Option<DropoutReason>,
    },
    /// Recorded in school at a stage that does not fit the age.
    StageMismatch {
        age: u32,
        stage: SchoolStage,
    },
}

pub(crate) fn schooling(m: &Member, on: NaiveDate) -> Schooling {
    let Some(age) = m.age_on(on) else {
        return Schooling::AgeUnknown;
    };
    if !COMPULSORY_SCHOOL_AGES.contains(&age) {
        return Schooling::NotSchoolAge;
    }
    match m.school {
        Some(SchoolStage::Primary | SchoolStage::Junior) => Schooling::InSchool,
        Some(
            SchoolStage::Senior
            | SchoolStage::Vocational
            | SchoolStage::HigherVocational
            | SchoolStage::University,
        ) if age >= POST_COMPULSORY_FROM_AGE => Schooling::InSchool,
        Some(SchoolStage::Preschool) if age <= PRESCHOOL_UNTIL_AGE => Schooling::InSchool,
        Some(stage) => Schooling::StageMismatch { age, stage },
        None => match m.dropout_reason {
            Some(r) if r.is_physical() => Schooling::Excused,
            reason => Schooling::Out { age, reason },
        },
    }
}

fn education_failure(m: &Member, on: NaiveDate) -> Option<(&'static str, String)> {
    let name = display_name(m);
    match schooling(m, on) {
        Schooling::NotSchoolAge | Schooling::InSchool | Schooling::Excused => None,
        Schooling::AgeUnknown => Some((
            "education_age_unknown",
            format!("无法确定{name}的年龄(无有效证件号码,也未登记出生日期),不能核实义务教育"),
        )),
        Schooling::Out { age, reason } => Some((
            "education_out_of_school",
            match reason {
                Some(r) => format!("{name}({age}岁)失学辍学({}),不属于身体原因", r.label()),
                None => format!("{name}({age}岁)未在校,也未登记失辍学原因"),
            },
        )),
        Schooling::StageMismatch { age, stage } => Some((
            "education_stage_mismatch",
            format!(
                "{name}({age}岁)登记为「{}」在校,与年龄不符,请核实",
                stage.label()
            ),
        )),
    }
}

fn housing_failure(h: &Household) -> Option<(&'static str, String)> {
    let l = &h.living;
    let Some(grade) = l.house_grade else {
        return Some(("housing_ungraded", "未评定危房等级".to_owned()));
    };
    if grade.is_safe() || l.house_renovated == Some(true) || l.moved_out == Some(true) {
        return None;
    }
    let detail = if l.house_renovated.is_none() && l.moved_out.is_none() {
        "未登记是否已改造或已搬离"
    } else {
        "未改造也未搬离"
    };
    Some((
        "housing_unsafe",
        format!("住房为{}危房,{detail}", grade.label()),
    ))
}

/// A measurement with a most it may reach: unrecorded fails as `unknown`, beyond the most as
/// `over`, read "{what} {value} {unit},超过 {max} {unit}".
fn at_most(
    value: Option<u32>,
    max: u32,
    (unknown_code, unknown): (&'static str, &str),
    (over_code, what, unit): (&'static str, &str, &str),
) -> Option<(&'static str, String)> {
    match value {
        None => Some((unknown_code, unknown.to_owned())),
        Some(v) if v > max => Some((over_code, format!("{what} {v} {unit},超过 {max} {unit}"))),
        Some(_) => None,
    }
}

fn water_failures(h: &Household) -> Vec<(&'static str, String)> {
    let w = &h.water;
    let mut out = Vec::new();
    let dry = w.dry_area == Some(true);
    let min = if dry {
        WATER_LITRES_MIN_DRY
    } else {
        WATER_LITRES_MIN
    };
    match w.litres_per_person_day {
        None => out.push(("water_quantity_unknown", "未登记人均日用水量".to_owned())),
        Some(l) if l < min => {
            // An unrecorded dry-area flag is judged by the stricter line; say so, since the
            // household may simply be in a dry area.
            let hint = if w.dry_area.is_none() && l >= WATER_LITRES_MIN_DRY {
                format!("(如属干旱地区,标准为 {WATER_LITRES_MIN_DRY} 升,请登记)")
            } else {
                String::new()
            };
            out.push((
                "water_quantity_low",
                format!("人均日用水量 {l} 升,低于 {min} 升{hint}"),
            ));
        }
        Some(_) => {}
    }
    out.extend(at_most(
        w.trip_minutes,
        WATER_TRIP_MAX_MINUTES,
        ("water_trip_unknown", "未登记单次取水往返时间"),
        ("water_trip_long", "单次取水往返", "分钟"),
    ));
    out.extend(at_most(
        w.cut_days_per_year,
        WATER_CUT_MAX_DAYS,
        ("water_cut_unknown", "未登记每年停水天数"),
        ("water_cut_frequent", "每年停水", "天"),
    ));
    match w.quality_tested {
        None => out.push(("water_quality_unknown", "未核实水质是否经过检测".to_owned())),
        Some(false) => out.push(("water_quality_untested", "水质未经检测".to_owned())),
        Some(true) => {}
    }
    out
}

fn assess_income(
    h: &Household,
    year: i32,
    standards: &Standards,
    fail: &mut impl FnMut(Criterion, &'static str, String),
) -> (Option<Applied>, Option<IncomeSummary>) {
    let level = h.info.standard_level.unwrap_or(StandardLevel::National);
    let region = match level {
        StandardLevel::National => None,
        StandardLevel::Provincial => h.info.province.as_deref(),
        StandardLevel::Municipal => h.info.city.as_deref(),
    };
    let standard = match standards.resolve(year, level, region, StandardKind::PovertyLine) {
        Ok(a) => Some(a),
        Err(e) => {
            fail(Criterion::Income, "standard_missing", e.to_string());
            None
        }
    };
    let summary = match h.incomes.get(&year) {
        // An empty household has no per-capita figure whatever its income record says.
        _ if h.size() == 0 => {
            let e = IncomeError::NoMembers;
            fail(Criterion::Income, "income_no_members", e.to_string());
            None
        }
        None => {
            fail(
                Criterion::Income,
                "income_missing",
                format!("没有 {year} 年的收入记录"),
            );
            None
        }
        Some(i) => match income::summarize(i, h.size()) {
            Ok(s) => Some(s),
            Err(e) => {
                let code = if e == IncomeError::NoMembers {
                    "income_no_members"
                } else {
                    "income_invalid"
                };
                fail(Criterion::Income, code, e.to_string());
                None
            }
        },
    };
    if let (Some(Applied { standard: st, .. }), Some(s)) = (&standard, &summary)
        && !income::meets_line(s.net, s.size, st.amount)
    {
        fail(
            Criterion::Income,
            "income_below_line",
            format!(
                "{year} 年人均纯收入 {} 元,低于 {}({} 元)",
                s.per_capita,
                st.describe(),
                st.amount
            ),
        );
    }
    (standard, summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::{DropoutReason, HouseGrade, Relation, SchoolStage, Sex, StandardLevel};
    use crate::money::Fen;
    use crate::rules::testkit::{
        add, add_all, assert_first, codes, household, income_2020, on, person, pupil, unschooled,
    };

    fn builtin() -> Standards {
        Standards::builtin().expect("builtin table")
    }

    /// Assessed for 2020 on the survey date, the year the sample household is built for.
    fn assess_2020(h: &Household) -> Assessment {
        assess(h, 2020, on(), &builtin())
    }

    #[test]
    fn the_sample_household_passes_2020() {
        let a = assess(&household(), 2020, on(), &builtin());
        assert!(a.passed, "{:?}", a.failures);
        assert_eq!(
            a.income.as_ref().map(|s| s.per_capita),
            Some(Fen::from_yuan(5000))
        );
        assert_eq!(
            a.standard.as_ref().map(|s| s.amount),
            Some(Fen::from_yuan(4000))
        );
    }

    #[test]
    fn unrenovated_c_grade_house_fails_housing_but_income_passes() {
        let mut h = household();
        h.living.house_grade = Some(HouseGrade::C);
        h.living.house_renovated = Some(false);
        let a = assess_2020(&h);
        assert!(!a.passed);
        assert_eq!(a.failed_criteria(), vec![Criterion::Housing]);
        assert_first(
            &a.failures,
            &["housing_unsafe"],
            "住房为C级危房,未改造也未搬离",
        );
        assert!(!a.fails(Criterion::Income));
    }

    #[test]
    fn dangerous_house_passes_once_renovated_or_left() {
        let mut h = household();
        h.living.house_grade = Some(HouseGrade::D);
        h.living.moved_out = Some(true);
        assert!(assess_2020(&h).passed);
        h.living.moved_out = None;
        h.living.house_renovated = Some(true);
        assert!(assess_2020(&h).passed);
        h.living.house_grade = None;
        let a = assess_2020(&h);
        assert_eq!(codes(&a.failures), vec!["housing_ungraded"]);
    }

    #[test]
    fn unverified_food_and_clothing_fail() {
        let mut h = household();
        h.info.food_secure = None;
        h.info.clothing_secure = Some(false);
        let a = assess_2020(&h);
        assert_first(
            &a.failures,
            &["food_unverified", "clothing_insecure"],
            "未核实是否不愁吃",
        );
    }

    #[test]
    fn school_age_child_out_of_school_fails_unless_for_physical_reasons() {
        let mut h = household();
        let mut child = unschooled("张小兵", Relation::Son, Sex::Male, "20060415");
        add(&mut h, child.clone());
        let a = assess_2020(&h);
        assert_first(
            &a.failures,
            &["education_out_of_school"],
            "张小兵(14岁)未在校,也未登记失辍学原因",
        );

        child.dropout_reason = Some(DropoutReason::FamilyHardship);
        add(&mut h, child.clone());
        let a = assess_2020(&h);
        assert_eq!(
            a.failures[0].message,
            "张小兵(14岁)失学辍学(因家庭困难),不属于身体原因"
        );

        child.dropout_reason = Some(DropoutReason::Illness);
        add(&mut h, child);
        let a = assess_2020(&h);
        assert!(!a.fails(Criterion::Education), "{:?}", a.failures);
    }

    #[test]
    fn school_stage_must_fit_the_age() {
        let mut h = household();
        add_all(
            &mut h,
            [
                pupil(
                    "张小妹",
                    Relation::Daughter,
                    Sex::Female,
                    "20120101",
                    SchoolStage::Senior,
                ),
                // 15 and in 中职: finished compulsory school, fine.
                pupil(
                    "张小军",
                    Relation::Son,
                    Sex::Male,
                    "20050901",
                    SchoolStage::Vocational,
                ),
                // 17: past compulsory age, whatever is recorded.
                unschooled("张大军", Relation::Son, Sex::Male, "20030101"),
            ],
        );
        let a = assess_2020(&h);
        let education: Vec<_> = a
            .failures
            .iter()
            .filter(|f| f.criterion == Criterion::Education)
            .collect();
        assert_eq!(education.len(), 1, "{education:?}");
        assert_eq!(education[0].code, "education_stage_mismatch");
        assert!(
            education[0].message.contains("张小妹(8岁)"),
            "{}",
            education[0]
        );
    }

    #[test]
    fn member_of_unknown_age_cannot_be_checked() {
        let mut h = household();
        let mut m = person("王奶奶", Relation::Grandparent, Sex::Female, "19400101");
        m.id_number = None;
        add(&mut h, m);
        let a = assess_2020(&h);
        assert_eq!(codes(&a.failures), vec!["education_age_unknown"]);
    }

    #[test]
    fn uninsured_members_are_listed() {
        let mut h = household();
        for m in h.members.values_mut() {
            if m.relation != Some(Relation::Head) && m.relation != Some(Relation::Daughter) {
                m.medical_insurance = false;
            }
        }
        let a = assess_2020(&h);
        assert_first(
            &a.failures,
            &["medical_uninsured"],
            "未参加城乡居民基本医疗保险:张伟、李秀英",
        );
    }

    #[test]
    fn departed_members_are_not_assessed() {
        let mut h = household();
        let mut gone = unschooled("张二", Relation::Son, Sex::Male, "20060101");
        gone.medical_insurance = false;
        gone.left_reason = Some(crate::codes::MemberChange::MoveOut);
        add(&mut h, gone);
        assert!(assess_2020(&h).passed);
    }

    #[test]
    fn water_sub_items_fail_separately() {
        let mut h = household();
        h.water.litres_per_person_day = Some(25);
        h.water.trip_minutes = Some(30);
        h.water.cut_days_per_year = None;
        h.water.quality_tested = Some(false);
        let a = assess_2020(&h);
        assert_eq!(
            codes(&a.failures),
            vec![
                "water_quantity_low",
                "water_trip_long",
                "water_cut_unknown",
                "water_quality_untested"
            ]
        );
        assert_eq!(
            a.failures[0].message,
            "人均日用水量 25 升,低于 35 升(如属干旱地区,标准为 20 升,请登记)"
        );
        h.water.dry_area = Some(true);
        h.water.trip_minutes = Some(20);
        h.water.cut_days_per_year = Some(36);
        h.water.quality_tested = Some(true);
        assert!(assess_2020(&h).passed);
    }

    #[test]
    fn income_below_the_line_names_both_figures() {
        let mut h = household();
        income_2020(&mut h).wage = Fen::from_yuan(10_000);
        // 10000 + 3000 + 2000 − 1000 = 14000 for 4 people.
        let a = assess_2020(&h);
        assert_first(
            &a.failures,
            &["income_below_line"],
            "2020 年人均纯收入 3500.00 元,低于 2020 年国家贫困线/脱贫标准(4000.00 元)",
        );
        assert_eq!(a.income.map(|s| s.per_capita), Some(Fen::from_yuan(3500)));
    }

    #[test]
    fn a_gap_in_the_table_is_a_notice_never_a_failure_of_the_household() {
        let h = household();
        let a = assess(&h, 2023, on(), &builtin());
        assert_first(&a.failures, &["income_missing"], "没有 2023 年的收入记录");
        assert_eq!(a.standard.as_ref().map(|s| s.year), Some(2020));
        assert_eq!(
            a.notice.as_deref(),
            Some(
                "标准表中没有 2023 年国家贫困线/脱贫标准,沿用 2020 年标准(4000.00 元),请县扶贫办核实"
            )
        );

        // 省定 with no provincial line: judged by the national line, and passes on its merits.
        let mut h = household();
        h.info.standard_level = Some(StandardLevel::Provincial);
        let a = assess_2020(&h);
        assert!(a.passed, "{:?}", a.failures);
        assert!(
            a.notice
                .as_deref()
                .is_some_and(|n| n.contains("2020 年云南省省定贫困线/脱贫标准")),
            "{:?}",
            a.notice
        );
    }

    #[test]
    fn a_year_before_every_line_and_an_unrecorded_province_are_named() {
        let a = assess(&household(), 2009, on(), &builtin());
        assert_first(
            &a.failures,
            &["standard_missing", "income_missing"],
            "标准表中没有 2009 年国家贫困线/脱贫标准,请县扶贫办在标准表中补充",
        );
        let mut h = household();
        h.info.standard_level = Some(StandardLevel::Provincial);
        h.info.province = None;
        let a = assess_2020(&h);
        assert_first(
            &a.failures,
            &["standard_missing"],
            "识别标准为省定,但户未登记所在省份,无法确定适用标准",
        );
    }

    #[test]
    fn household_without_current_members_fails_income() {
        let mut h = household();
        h.members.clear();
        let a = assess_2020(&h);
        assert_eq!(codes(&a.failures), vec!["income_no_members"]);
    }

    #[test]
    fn negative_income_item_is_reported_not_summed() {
        let mut h = household();
        income_2020(&mut h).dibao = Fen(-100);
        let a = assess_2020(&h);
        assert_eq!(codes(&a.failures), vec!["income_invalid"]);
        assert!(a.income.is_none());
    }

    #[test]
    fn serialises_with_snake_case_criteria() {
        let mut h = household();
        h.living.house_grade = None;
        let a = assess_2020(&h);
        let json = serde_json::to_value(&a).expect("ser");
        assert_eq!(json["failures"][0]["criterion"], "housing");
        assert_eq!(json["failures"][0]["code"], "housing_ungraded");
        assert_eq!(json["standard"]["kind"], "poverty_line");
    }
}
