//! Data-quality checks on one household: the "逻辑无一错误" the county demands before a roster
//! is reported up. Errors block reporting (the data contradicts itself or the rules); warnings
//! ask a person to look (the data is possible but unlikely, like an income ten times last
//! year's — seed 004's 2000 entered as 20000).
//!
//! | code | severity | meaning |
//! |---|---|---|
//! | `no_members` | error | no current member at all |
//! | `head_missing` | error | no current member is 户主 |
//! | `head_multiple` | error | more than one current member is 户主 |
//! | `exit_guarantee_failed` | error | an open 脱贫退出 case while the assessment fails ("三保障未实现就宣布脱贫") |
//! | `id_invalid` | error | 证件号码 fails validation (length, check digit, birth date, future birth) |
//! | `id_sex_mismatch` | error | recorded 性别 differs from the one in the ID |
//! | `id_duplicate_in_household` | error | two current members share one ID |
//! | `school_age_not_in_school` | warning | aged 6–16, not in school, not excused by illness or disability |
//! | `school_stage_mismatch` | warning | aged 6–16 and recorded at a school stage that does not fit the age |
//! | `income_jump` | warning | an income item or the net income differs ≥ 10× from the previous year |
//! | `relation_age_implausible` | warning | 与户主关系 contradicts the age difference to the head |
//! | `education_conflict` | warning | both 文化程度 and 在校生状况 recorded (exactly one is allowed) |
//! | `education_missing` | warning | neither recorded for someone aged 6 or more |
//! | `birth_missing` | warning | no ID and no birth date: age-based rules cannot run |
//!
//! Only current members are checked; departed ones are history.

use super::assessment::{self, Criterion, Schooling};
use super::income::net_income;
use super::resident_id::{self, ResidentId};
use super::standards::Standards;
use crate::codes::{CaseKind, CodeList, Relation};
use crate::ids::MemberId;
use crate::model::{Household, Member};
use crate::money::Fen;
use chrono::{Datelike, NaiveDate};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// An income this many times the previous year's (or a tenth of it) is most likely a slipped
/// digit, the mistake seed 004 reports.
pub const INCOME_JUMP_FACTOR: i64 = 10;
/// A parent is at least this much older than a child; anything less is a typo in a birth date
/// or a wrong relation, not a real family (adoption and remarriage only widen the gap).
pub const MIN_GENERATION_GAP_YEARS: i64 = 12;
/// 儿媳/女婿 are compared with the head as if they were the head's children: a child's spouse
/// is of the child's generation. Kept separate so the county can relax it.
pub const MIN_CHILD_IN_LAW_GAP_YEARS: i64 = 12;
/// Two generations: 孙辈 and 祖辈.
pub const MIN_TWO_GENERATION_GAP_YEARS: i64 = 2 * MIN_GENERATION_GAP_YEARS;
/// Below this age a person recorded as 配偶 (or a head with a spouse) is a data error. It is far
/// under the legal marriage age on purpose: customary marriages exist in the records, typos are
/// what this catches.
pub const MIN_SPOUSE_AGE: u32 = 16;
/// 文化程度 or 在校生状况 is required from school age; younger children may have neither.
pub const EDUCATION_REQUIRED_FROM_AGE: u32 = 6;

crate::codes::code_list!(
    /// How serious a finding is. 错误: must be fixed before the roster is reported; 警告: must
    /// be looked at, may be right.
    Severity, "严重程度" {
        Error = "error", "错误";
        Warning = "warning", "警告";
    }
);

/// One problem found in a household.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable snake_case code; see the module table.
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    /// The member concerned, when there is one.
    pub member: Option<MemberId>,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.severity.label(), self.message)
    }
}

impl Finding {
    fn error(code: &'static str, message: String, member: Option<&MemberId>) -> Finding {
        Finding {
            code,
            severity: Severity::Error,
            message,
            member: member.cloned(),
        }
    }

    fn warning(code: &'static str, message: String, member: Option<&MemberId>) -> Finding {
        Finding {
            code,
            severity: Severity::Warning,
            message,
            member: member.cloned(),
        }
    }
}

/// Runs every check on `h` with ages and the ID birth-date limit taken on `on`.
pub fn check_household(h: &Household, on: NaiveDate, standards: &Standards) -> Vec<Finding> {
    let mut out = Vec::new();
    check_heads(h, &mut out);
    check_exit(h, on, standards, &mut out);
    check_income_jump(h, &mut out);
    check_ids(h, on, &mut out);
    check_relations(h, on, &mut out);
    check_members(h, on, &mut out);
    out
}

fn name(m: &Member) -> &str {
    assessment::display_name(m)
}

fn check_heads(h: &Household, out: &mut Vec<Finding>) {
    if h.size() == 0 {
        out.push(Finding::error(
            "no_members",
            "户内没有现有成员".to_owned(),
            None,
        ));
        return;
    }
    let heads: Vec<&Member> = h
        .current_members()
        .filter(|(_, m)| m.relation == Some(Relation::Head))
        .map(|(_, m)| m)
        .collect();
    match heads.len() {
        0 => out.push(Finding::error(
            "head_missing",
            "户内没有登记户主".to_owned(),
            None,
        )),
        1 => {}
        n => out.push(Finding::error(
            "head_multiple",
            format!(
                "户内登记了 {n} 名户主:{},只能有一名",
                heads.iter().map(|m| name(m)).collect::<Vec<_>>().join("、")
            ),
            None,
        )),
    }
}

/// The year a household's standing is judged in: that of the latest income on file; without
/// any, the survey round's year (whose missing income then fails the assessment, as it should).
pub fn judged_year(h: &Household, on: NaiveDate) -> i32 {
    h.latest_incomes()
        .0
        .map(|(y, _)| y)
        .or(h.info.year)
        .unwrap_or_else(|| on.year())
}

fn check_exit(h: &Household, on: NaiveDate, standards: &Standards, out: &mut Vec<Finding>) {
    let exit_open = h
        .cases
        .values()
        .any(|c| c.kind == CaseKind::Exit && c.is_open());
    if !exit_open {
        return;
    }
    let year = judged_year(h, on);
    let a = assessment::assess(h, year, on, standards);
    if a.passed {
        return;
    }
    let criteria = a.failed_criteria();
    let prefix = if criteria.iter().any(|c| *c != Criterion::Income) {
        "三保障未实现就宣布脱贫"
    } else {
        "收入未达标就宣布脱贫"
    };
    let labels: Vec<&str> = criteria.iter().map(|c| c.label()).collect();
    let details: Vec<String> = a.failures.iter().map(|f| f.to_string()).collect();
    out.push(Finding::error(
        "exit_guarantee_failed",
        format!(
            "{prefix}:{year} 年未达标项为{}。{}",
            labels.join("、"),
            details.join(";")
        ),
        None,
    ));
}

/// Is one of two positive amounts at least `factor` times the other? Zero or negative amounts
/// never count: a new or dropped income source is not a slipped digit.
pub fn jump_ratio_exceeded(prev: Fen, cur: Fen, factor: i64) -> bool {
    if prev.0 <= 0 || cur.0 <= 0 || factor <= 0 {
        return false;
    }
    let (small, large) = if prev <= cur {
        (prev.0, cur.0)
    } else {
        (cur.0, prev.0)
    };
    // In i128 the product of two i64 values cannot overflow.
    i128::from(large) >= i128::from(small) * i128::from(factor)
}

fn check_income_jump(h: &Household, out: &mut Vec<Finding>) {
    let (Some((cur_year, cur)), Some((prev_year, prev))) = h.latest_incomes() else {
        return;
    };
    let mut flag = |label: &str, p: Fen, c: Fen| {
        if jump_ratio_exceeded(p, c, INCOME_JUMP_FACTOR) {
            out.push(Finding::warning(
                "income_jump",
                format!(
                    "{label} {prev_year} 年为 {p} 元,{cur_year} 年为 {c} 元,相差 {INCOME_JUMP_FACTOR} 倍以上,请核实是否多录或少录了一位数"
                ),
                None,
            ));
        }
    };
    if let (Ok(p), Ok(c)) = (net_income(prev), net_income(cur)) {
        flag("家庭纯收入", p, c);
    }
    for ((_, label, p), (_, _, c)) in prev.items().into_iter().zip(cur.items()) {
        flag(label, p, c);
    }
}

fn check_ids(h: &Household, on: NaiveDate, out: &mut Vec<Finding>) {
    let mut seen: BTreeMap<ResidentId, Vec<(&MemberId, &Member)>> = BTreeMap::new();
    for (mid, m) in h.current_members() {
        let Some(text) = m.id_number.as_deref().filter(|t| !t.trim().is_empty()) else {
            continue;
        };
        match ResidentId::parse_on(text, on) {
            Err(e) => out.push(Finding::error(
                "id_invalid",
                format!("{}的证件号码有误:{e}", name(m)),
                Some(mid),
            )),
            Ok(id) => {
                if let Some(Err(e)) = m.sex.map(|s| resident_id::check_sex(&id, s)) {
                    out.push(Finding::error(
                        "id_sex_mismatch",
                        format!("{}:{e}", name(m)),
                        Some(mid),
                    ));
                }
                seen.entry(id).or_default().push((mid, m));
            }
        }
    }
    for (id, holders) in seen {
        if let [_, (dup, _), ..] = holders.as_slice() {
            let names: Vec<&str> = holders.iter().map(|(_, m)| name(m)).collect();
            out.push(Finding::error(
                "id_duplicate_in_household",
                format!(
                    "{}的证件号码相同({}),同一人不能重复登记",
                    names.join("、"),
                    id.masked()
                ),
                Some(dup),
            ));
        }
    }
}

/// Whole years from `earlier` to `later` birth date; negative when `later` is in fact earlier.
fn years_between(earlier: NaiveDate, later: NaiveDate) -> i64 {
    match later.years_since(earlier) {
        Some(y) => i64::from(y),
        None => earlier.years_since(later).map_or(0, |y| -i64::from(y)),
    }
}

fn check_relations(h: &Household, on: NaiveDate, out: &mut Vec<Finding>) {
    let Some((head_id, head)) = h
        .current_members()
        .find(|(_, m)| m.relation == Some(Relation::Head))
        .filter(|_| h.head().is_some())
    else {
        return;
    };
    let mut has_spouse = false;
    for (mid, m) in h.current_members() {
        let Some(relation) = m.relation else { continue };
        if relation == Relation::Spouse {
            has_spouse = true;
            if let Some(age) = m.age_on(on).filter(|a| *a < MIN_SPOUSE_AGE) {
                out.push(Finding::warning(
                    "relation_age_implausible",
                    format!(
                        "{}与户主关系为「配偶」,但只有 {age} 岁(不足 {MIN_SPOUSE_AGE} 岁),请核实关系或出生日期",
                        name(m)
                    ),
                    Some(mid),
                ));
            }
            continue;
        }
        // (must the member be younger than the head?, minimum gap in years)
        let rule = match relation {
            Relation::Son | Relation::Daughter => (true, MIN_GENERATION_GAP_YEARS),
            Relation::SonInLaw | Relation::DaughterInLaw => (true, MIN_CHILD_IN_LAW_GAP_YEARS),
            Relation::Grandchild => (true, MIN_TWO_GENERATION_GAP_YEARS),
            Relation::Parent | Relation::ParentInLaw => (false, MIN_GENERATION_GAP_YEARS),
            Relation::Grandparent => (false, MIN_TWO_GENERATION_GAP_YEARS),
            Relation::Head | Relation::Spouse | Relation::Sibling | Relation::Other => continue,
        };
        let (Some(hb), Some(mb)) = (head.birth(), m.birth()) else {
            continue;
        };
        let (younger, min) = rule;
        let gap = if younger {
            years_between(hb, mb)
        } else {
            years_between(mb, hb)
        };
        if gap >= min {
            continue;
        }
        let (should, less, more) = if younger {
            ("小", "小", "大")
        } else {
            ("大", "大", "小")
        };
        let detail = match gap {
            0 => "与户主年龄相近".to_owned(),
            g if g > 0 => format!("只比户主{less} {g} 岁"),
            g => format!("反而比户主{more} {} 岁", g.unsigned_abs()),
        };
        out.push(Finding::warning(
            "relation_age_implausible",
            format!(
                "{}与户主关系为「{}」,但{detail}(应至少{should} {min} 岁),请核实关系或出生日期",
                name(m),
                relation.label()
            ),
            Some(mid),
        ));
    }
    if has_spouse && let Some(age) = head.age_on(on).filter(|a| *a < MIN_SPOUSE_AGE) {
        out.push(Finding::warning(
            "relation_age_implausible",
            format!(
                "户主{}登记有配偶,但只有 {age} 岁(不足 {MIN_SPOUSE_AGE} 岁),请核实关系或出生日期",
                name(head)
            ),
            Some(head_id),
        ));
    }
}

fn check_members(h: &Household, on: NaiveDate, out: &mut Vec<Finding>) {
    for (mid, m) in h.current_members() {
        let n = name(m);
        match assessment::schooling(m, on) {
            Schooling::Out { age, reason } => out.push(Finding::warning(
                "school_age_not_in_school",
                match reason {
                    Some(r) => format!("{n}({age}岁)失学辍学({}),请核实并落实控辍保学", r.label()),
                    None => format!("{n}({age}岁)处于义务教育年龄但未在校,也未登记失辍学原因"),
                },
                Some(mid),
            )),
            Schooling::StageMismatch { age, stage } => out.push(Finding::warning(
                "school_stage_mismatch",
                format!("{n}({age}岁)登记为「{}」在校,与年龄不符", stage.label()),
                Some(mid),
            )),
            // Unknown ages are `birth_missing` or `id_invalid`; excused dropouts are fine.
            Schooling::AgeUnknown
            | Schooling::NotSchoolAge
            | Schooling::InSchool
            | Schooling::Excused => {}
        }
        if m.education.is_some() && m.school.is_some() {
            out.push(Finding::warning(
                "education_conflict",
                format!("{n}同时登记了文化程度和在校生状况,只能填写其中一项"),
                Some(mid),
            ));
        }
        let age = m.age_on(on);
        if m.education.is_none()
            && m.school.is_none()
            && age.is_some_and(|a| a >= EDUCATION_REQUIRED_FROM_AGE)
        {
            out.push(Finding::warning(
                "education_missing",
                format!("{n}未登记文化程度或在校生状况"),
                Some(mid),
            ));
        }
        let has_id_text = m.id_number.as_deref().is_some_and(|t| !t.trim().is_empty());
        if !has_id_text && m.birth_date.is_none() {
            out.push(Finding::warning(
                "birth_missing",
                format!("{n}既无证件号码也无出生日期,无法核对年龄"),
                Some(mid),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::{
        DropoutReason, Education, HouseGrade, MemberChange, ProcedureStep, SchoolStage, Sex,
        StepOutcome,
    };
    use crate::ids::{CaseId, StepId};
    use crate::model::{Case, StepRecord};
    use crate::rules::testkit::{
        add, add_all, assert_first, codes, date, household, income_2020, on, person, pupil,
        unschooled,
    };
    use std::collections::BTreeSet;

    fn run(h: &Household) -> Vec<Finding> {
        check_household(h, on(), &Standards::builtin().expect("builtin table"))
    }

    fn exit_case(last: Option<(ProcedureStep, StepOutcome)>) -> Case {
        let mut steps = BTreeMap::new();
        if let Some((step, outcome)) = last {
            steps.insert(
                StepId::from("s1"),
                StepRecord {
                    step,
                    date: date(2020, 11, 20),
                    actor: "乡扶贫办".into(),
                    actor_user: None,
                    outcome,
                    comment: String::new(),
                    publicity_start: None,
                    publicity_end: None,
                    objections: BTreeMap::new(),
                    attachments: BTreeSet::new(),
                },
            );
        }
        Case {
            steps,
            ..crate::demo::case_record(CaseKind::Exit, date(2020, 11, 1), "驻村工作队")
        }
    }

    #[test]
    fn the_sample_household_is_clean() {
        assert_eq!(run(&household()), vec![]);
    }

    #[test]
    fn exit_with_unsafe_house_is_an_error() {
        let mut h = household();
        h.living.house_grade = Some(HouseGrade::C);
        h.living.house_renovated = Some(false);
        h.cases.insert(CaseId::from("c1"), exit_case(None));
        let f = run(&h);
        assert_first(
            &f,
            &["exit_guarantee_failed"],
            "三保障未实现就宣布脱贫:2020 年未达标项为住房安全有保障。住房安全有保障:住房为C级危房,未改造也未搬离",
        );
        assert_eq!(f[0].severity, Severity::Error);
    }

    #[test]
    fn exit_below_the_line_is_an_error_too() {
        let mut h = household();
        income_2020(&mut h).wage = Fen::from_yuan(10_000);
        h.cases.insert(CaseId::from("c1"), exit_case(None));
        let f = run(&h);
        assert_eq!(codes(&f), vec!["exit_guarantee_failed"]);
        assert!(
            f[0].message
                .starts_with("收入未达标就宣布脱贫:2020 年未达标项为收入达标")
        );
    }

    #[test]
    fn closed_exit_cases_and_passing_households_are_not_flagged() {
        let mut h = household();
        h.cases.insert(CaseId::from("c1"), exit_case(None));
        assert_eq!(run(&h), vec![]);

        h.living.house_grade = Some(HouseGrade::D);
        let announced = Some((ProcedureStep::Announcement, StepOutcome::Passed));
        h.cases.insert(CaseId::from("c1"), exit_case(announced));
        assert!(!codes(&run(&h)).contains(&"exit_guarantee_failed"));
        let rejected = Some((ProcedureStep::TownshipReview, StepOutcome::Rejected));
        h.cases.insert(CaseId::from("c1"), exit_case(rejected));
        assert!(!codes(&run(&h)).contains(&"exit_guarantee_failed"));
        let returned = Some((ProcedureStep::TownshipReview, StepOutcome::Returned));
        h.cases.insert(CaseId::from("c1"), exit_case(returned));
        assert!(codes(&run(&h)).contains(&"exit_guarantee_failed"));
    }

    #[test]
    fn transfer_entered_ten_times_too_high_is_flagged() {
        // Seed 004: 政府补助资金 2000 元 entered as 20000 元.
        let mut h = household();
        income_2020(&mut h).transfer_other = Fen::from_yuan(20_000);
        let f = run(&h);
        assert_first(
            &f,
            &["income_jump"],
            "其他转移性收入 2019 年为 2000.00 元,2020 年为 20000.00 元,相差 10 倍以上,请核实是否多录或少录了一位数",
        );
        assert_eq!(f[0].severity, Severity::Warning);

        income_2020(&mut h).transfer_other = Fen::from_yuan(3_000);
        assert_eq!(run(&h), vec![]);
    }

    #[test]
    fn net_income_jump_is_flagged_as_well() {
        let mut h = household();
        income_2020(&mut h).wage = Fen::from_yuan(200_000);
        let f = run(&h);
        assert_eq!(codes(&f), vec!["income_jump", "income_jump"]);
        assert!(f[0].message.starts_with("家庭纯收入"), "{}", f[0]);
        assert!(f[1].message.starts_with("工资性收入"), "{}", f[1]);
    }

    #[test]
    fn jump_ratio_uses_exact_integers() {
        let y = Fen::from_yuan;
        assert!(jump_ratio_exceeded(y(2_000), y(20_000), 10));
        assert!(jump_ratio_exceeded(y(20_000), y(2_000), 10));
        assert!(!jump_ratio_exceeded(y(2_000), y(19_999), 10));
        assert!(!jump_ratio_exceeded(y(2_000), y(3_000), 10));
        assert!(!jump_ratio_exceeded(Fen(0), y(20_000), 10));
        assert!(!jump_ratio_exceeded(Fen(-5), y(20_000), 10));
        assert!(!jump_ratio_exceeded(y(1), y(100), 0));
        assert!(jump_ratio_exceeded(Fen(1), Fen(i64::MAX), i64::MAX));
    }

    #[test]
    fn fourteen_year_old_out_of_school_is_flagged_unless_ill() {
        let mut h = household();
        let mut child = person("张小兵", Relation::Son, Sex::Male, "20060415");
        child.education = Some(Education::Primary);
        let id = add(&mut h, child.clone());
        let f = run(&h);
        assert_first(
            &f,
            &["school_age_not_in_school"],
            "张小兵(14岁)处于义务教育年龄但未在校,也未登记失辍学原因",
        );
        assert_eq!(f[0].member, Some(id));

        child.dropout_reason = Some(DropoutReason::Illness);
        add(&mut h, child);
        assert_eq!(run(&h), vec![]);
    }

    #[test]
    fn school_stage_that_does_not_fit_the_age_is_flagged() {
        let mut h = household();
        add(
            &mut h,
            pupil(
                "张小妹",
                Relation::Daughter,
                Sex::Female,
                "20120101",
                SchoolStage::University,
            ),
        );
        assert_eq!(codes(&run(&h)), vec!["school_stage_mismatch"]);
    }

    #[test]
    fn heads_are_counted() {
        let mut h = household();
        for m in h.members.values_mut() {
            if m.relation == Some(Relation::Spouse) {
                m.relation = Some(Relation::Head);
            }
        }
        let f = run(&h);
        assert_first(
            &f,
            &["head_multiple"],
            "户内登记了 2 名户主:张建国、李秀英,只能有一名",
        );

        for m in h.members.values_mut() {
            if m.relation == Some(Relation::Head) {
                m.relation = Some(Relation::Other);
            }
        }
        assert_eq!(codes(&run(&h)), vec!["head_missing"]);

        h.members.clear();
        let f = run(&h);
        assert!(codes(&f).contains(&"no_members"), "{f:?}");
        assert!(!codes(&f).contains(&"head_missing"), "{f:?}");
    }

    #[test]
    fn departed_head_does_not_count() {
        let mut h = household();
        let mut old = person("张老汉", Relation::Head, Sex::Male, "19450101");
        old.left_reason = Some(MemberChange::Death);
        old.left_on = Some(date(2019, 3, 1));
        add(&mut h, old);
        assert_eq!(run(&h), vec![]);
    }

    #[test]
    fn child_older_than_the_head_is_flagged() {
        let mut h = household();
        let id = add(
            &mut h,
            person("张大哥", Relation::Son, Sex::Male, "19700101"),
        );
        let f = run(&h);
        assert_first(
            &f,
            &["relation_age_implausible"],
            "张大哥与户主关系为「之子」,但反而比户主大 5 岁(应至少小 12 岁),请核实关系或出生日期",
        );
        assert_eq!(f[0].member, Some(id));
    }

    #[test]
    fn generation_gaps_are_checked_both_ways() {
        let mut h = household();
        // Head born 1975-03-10.
        add_all(
            &mut h,
            [
                person("张老爹", Relation::Parent, Sex::Male, "19650101"),
                person("张太公", Relation::Grandparent, Sex::Male, "19400101"),
                person("张孙", Relation::Grandchild, Sex::Male, "19980101"),
                person("王女婿", Relation::SonInLaw, Sex::Male, "19900101"),
                person("张兄", Relation::Sibling, Sex::Male, "19500101"),
            ],
        );
        let f = run(&h);
        let implausible: Vec<&str> = f
            .iter()
            .filter(|f| f.code == "relation_age_implausible")
            .map(|f| f.message.as_str())
            .collect();
        assert_eq!(
            implausible,
            vec![
                "张孙与户主关系为「孙辈」,但只比户主小 22 岁(应至少小 24 岁),请核实关系或出生日期",
                "张老爹与户主关系为「父母」,但只比户主大 10 岁(应至少大 12 岁),请核实关系或出生日期",
            ]
        );
    }

    #[test]
    fn child_spouse_is_flagged() {
        let mut h = household();
        let id = add(
            &mut h,
            person("王小芳", Relation::Spouse, Sex::Female, "20060101"),
        );
        let f = run(&h);
        assert!(
            f.iter().any(|f| f.code == "relation_age_implausible"
                && f.member == Some(id.clone())
                && f.message.contains("只有 14 岁")),
            "{f:?}"
        );
    }

    #[test]
    fn id_problems_are_errors() {
        let mut h = household();
        let mut bad = person("赵错号", Relation::Other, Sex::Male, "19800101");
        bad.id_number = Some("110105194912310023".into());
        let bad_id = add(&mut h, bad);
        let mut wrong_sex = person("赵男", Relation::Other, Sex::Male, "19800101");
        wrong_sex.sex = Some(Sex::Female);
        add(&mut h, wrong_sex);
        let mut future = person("赵未来", Relation::Other, Sex::Male, "19800101");
        future.id_number = Some(crate::rules::testkit::id_with("532621", "20210101", "001"));
        add(&mut h, future);
        let f = run(&h);
        let ids: Vec<_> = f.iter().filter(|f| f.code.starts_with("id_")).collect();
        assert_eq!(ids.len(), 3, "{f:?}");
        let about = |who: &str| {
            ids.iter()
                .find(|f| f.member == Some(MemberId::from(who)))
                .copied()
                .expect("a finding about this member")
        };
        let bad = about("赵错号");
        assert_eq!(bad.code, "id_invalid");
        assert_eq!(bad.member, Some(bad_id));
        assert_eq!(
            bad.message,
            "赵错号的证件号码有误:证件号码校验位错误:应为 X,实为 3"
        );
        let sex = about("赵男");
        assert_eq!(sex.code, "id_sex_mismatch");
        assert_eq!(
            sex.message,
            "赵男:性别与证件号码不符:证件号码为男性,登记为女性"
        );
        let future = about("赵未来");
        assert_eq!(future.code, "id_invalid");
        assert!(future.message.contains("晚于今天"), "{future}");
        assert!(ids.iter().all(|f| f.severity == Severity::Error));
    }

    #[test]
    fn same_id_twice_in_a_household_is_an_error() {
        let mut h = household();
        let head_id = h
            .members
            .values()
            .find(|m| m.relation == Some(Relation::Head))
            .and_then(|m| m.id_number.clone())
            .expect("head has an id");
        let mut twin = person("张建国二", Relation::Sibling, Sex::Male, "19750310");
        twin.id_number = Some(head_id.to_lowercase());
        let twin_id = add(&mut h, twin);
        let f = run(&h);
        assert_eq!(codes(&f), vec!["id_duplicate_in_household"]);
        assert_eq!(f[0].member, Some(twin_id));
        assert!(
            f[0].message
                .starts_with("张建国、张建国二的证件号码相同(5326**********"),
            "{}",
            f[0]
        );
    }

    #[test]
    fn education_fields_must_be_exactly_one_from_age_six() {
        let mut h = household();
        let mut both = person("张两填", Relation::Other, Sex::Male, "19800101");
        both.school = Some(SchoolStage::University);
        add_all(
            &mut h,
            [
                both,
                unschooled("张未填", Relation::Other, Sex::Male, "19800101"),
                unschooled("张宝宝", Relation::Grandchild, Sex::Male, "20180101"),
            ],
        );
        let f = run(&h);
        let edu: Vec<_> = codes(&f)
            .into_iter()
            .filter(|c| c.starts_with("education_"))
            .collect();
        assert_eq!(edu, vec!["education_conflict", "education_missing"]);
    }

    #[test]
    fn member_without_id_or_birth_date_is_flagged() {
        let mut h = household();
        let mut m = person("王奶奶", Relation::Other, Sex::Female, "19400101");
        m.id_number = None;
        add(&mut h, m.clone());
        assert_eq!(codes(&run(&h)), vec!["birth_missing"]);
        m.birth_date = Some(date(1940, 1, 1));
        add(&mut h, m);
        assert_eq!(run(&h), vec![]);
    }

    #[test]
    fn findings_serialise_with_snake_case_severity() {
        let mut h = household();
        h.members.clear();
        let f = run(&h);
        let json = serde_json::to_value(&f[0]).expect("ser");
        assert_eq!(json["code"], "no_members");
        assert_eq!(json["severity"], "error");
        assert_eq!(f[0].to_string(), "[错误] 户内没有现有成员");
    }
}
