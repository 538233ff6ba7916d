//! What a decided case does to its household: once 公告 passes, the household's status follows
//! the decision (新识别 → 未脱贫, 脱贫退出 → 已脱贫 with its 脱贫年度, 返贫 → 返贫, 错评剔除 → out
//! of the register, 错退 → back to 未脱贫, 纳入监测 → a monitoring category, 风险消除 → cleared).
//!
//! One pure function, so the server (which writes the result as its own change when the county
//! announces) and any reader that wants to know "what will this case do" agree.

use chrono::NaiveDate;

use crate::codes::{CaseKind, HouseholdStatus, MemberChange, MonitoringCategory};
use crate::model::{Case, Household, HouseholdInfo};

/// The status fields a decision sets, as they stand after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    pub status: Option<HouseholdStatus>,
    pub exit_year: Option<i32>,
    pub monitoring: Option<MonitoringCategory>,
}

impl Status {
    fn of(info: &HouseholdInfo) -> Status {
        Status {
            status: info.status,
            exit_year: info.exit_year,
            monitoring: info.monitoring,
        }
    }
}

/// The household's status fields after `case` is announced; `year` is the year the decision
/// counts for (the 脱贫年度 of an exit).
pub fn status_after(case: &Case, info: &HouseholdInfo, year: i32) -> Status {
    use HouseholdStatus::*;
    let now = Status::of(info);
    match case.kind {
        CaseKind::NewEntry | CaseKind::WrongfulExit => Status {
            status: Some(NotExited),
            exit_year: None,
            ..now
        },
        CaseKind::Exit => Status {
            status: Some(ExitedSupported),
            exit_year: Some(year),
            ..now
        },
        // The year it once exited stays on record: it is what a relapse is measured against.
        CaseKind::Relapse => Status {
            status: Some(Relapsed),
            ..now
        },
        // A 错评 naming members removes those members only; the household stays registered.
        CaseKind::WrongEntryRemoval if !case.members.is_empty() => now,
        CaseKind::WrongEntryRemoval => Status {
            status: Some(Ordinary),
            exit_year: None,
            ..now
        },
        CaseKind::MonitoringInclude => Status {
            monitoring: Some(info.monitoring.unwrap_or(match info.status {
                Some(ExitedSupported | ExitedUnsupported) => MonitoringCategory::UnstableExited,
                _ => MonitoringCategory::EdgeAtRisk,
            })),
            ..now
        },
        CaseKind::RiskCleared => Status {
            monitoring: None,
            ..now
        },
        CaseKind::MemberChange => now,
    }
}

/// Where a household stands for the county's rates: registered poor (未脱贫, 返贫), exited
/// (已脱贫, both kinds), or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Register {
    Poor,
    Exited,
    Outside,
}

/// What an announced case moved its household between, by the kind the procedure decided:
/// the rates' denominators are the register at a round's start, so a report taken after the
/// decisions undoes them. `None`: the household stays where it was (a 错评 naming members, the
/// monitoring kinds, 人员变动).
pub fn register_move(case: &Case) -> Option<(Register, Register)> {
    use Register::*;
    Some(match case.kind {
        CaseKind::NewEntry => (Outside, Poor),
        CaseKind::Exit => (Poor, Exited),
        CaseKind::Relapse | CaseKind::WrongfulExit => (Exited, Poor),
        CaseKind::WrongEntryRemoval if case.members.is_empty() => (Poor, Outside),
        _ => return None,
    })
}

/// The change in (registered poor, exited) households an announced case made.
pub fn register_deltas(case: &Case) -> (i64, i64) {
    let Some((from, to)) = register_move(case) else {
        return (0, 0);
    };
    let count = |r: Register| {
        (
            i64::from(r == Register::Poor),
            i64::from(r == Register::Exited),
        )
    };
    let (f, t) = (count(from), count(to));
    (t.0 - f.0, t.1 - f.1)
}

/// Applies the announced `case` to `h`: the status fields, and for a 错评 that names members,
/// those members leave the register (减员, 错误登记) on `on`. Members already gone stay as they
/// left.
pub fn apply(case: &Case, h: &mut Household, year: i32, on: NaiveDate) {
    let after = status_after(case, &h.info, year);
    h.info.status = after.status;
    h.info.exit_year = after.exit_year;
    h.info.monitoring = after.monitoring;
    if case.kind == CaseKind::WrongEntryRemoval {
        for id in &case.members {
            if let Some(m) = h.members.get_mut(id).filter(|m| m.left_reason.is_none()) {
                m.left_reason = Some(MemberChange::WrongEntry);
                m.left_on = Some(on);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CodeList;
    use crate::ids::{HouseholdId, MemberId};
    use crate::model::Member;
    use HouseholdStatus::*;

    fn case(kind: CaseKind) -> Case {
        let proposed_on = NaiveDate::from_ymd_opt(2017, 9, 1).expect("date");
        crate::demo::case_record(kind, proposed_on, "张三")
    }

    fn info(status: HouseholdStatus, exit_year: Option<i32>) -> HouseholdInfo {
        HouseholdInfo {
            status: Some(status),
            exit_year,
            ..Default::default()
        }
    }

    fn after(kind: CaseKind, before: &HouseholdInfo) -> Status {
        status_after(&case(kind), before, 2017)
    }

    #[test]
    fn each_kind_moves_the_status_the_procedure_decided() {
        let poor = info(NotExited, None);
        let exited = info(ExitedSupported, Some(2016));
        let cases = [
            (
                CaseKind::NewEntry,
                info(Ordinary, None),
                Some(NotExited),
                None,
            ),
            (
                CaseKind::Exit,
                poor.clone(),
                Some(ExitedSupported),
                Some(2017),
            ),
            (
                CaseKind::Relapse,
                exited.clone(),
                Some(Relapsed),
                Some(2016),
            ),
            (
                CaseKind::WrongEntryRemoval,
                poor.clone(),
                Some(Ordinary),
                None,
            ),
            (
                CaseKind::WrongfulExit,
                exited.clone(),
                Some(NotExited),
                None,
            ),
            (CaseKind::MemberChange, poor.clone(), Some(NotExited), None),
        ];
        for (kind, before, status, exit_year) in cases {
            let got = after(kind, &before);
            assert_eq!(
                (got.status, got.exit_year),
                (status, exit_year),
                "{}",
                kind.label()
            );
        }
    }

    #[test]
    fn each_kind_moves_the_register_its_status_change_does() {
        // The deltas agree with status_after on a household in the register the kind expects.
        let poor = info(NotExited, None);
        let exited = info(ExitedSupported, Some(2016));
        let outside = info(Ordinary, None);
        let group = |s: Option<HouseholdStatus>| match s {
            Some(NotExited | Relapsed) => (1, 0),
            Some(ExitedSupported | ExitedUnsupported) => (0, 1),
            _ => (0, 0),
        };
        for &kind in CaseKind::ALL {
            let c = case(kind);
            let before = match register_move(&c) {
                Some((Register::Outside, _)) | None => &outside,
                Some((Register::Poor, _)) => &poor,
                Some((Register::Exited, _)) => &exited,
            };
            let (b, a) = (group(before.status), group(after(kind, before).status));
            assert_eq!(
                register_deltas(&c),
                (a.0 - b.0, a.1 - b.1),
                "{}",
                kind.label()
            );
        }
        let mut partial = case(CaseKind::WrongEntryRemoval);
        partial.members.insert(crate::ids::MemberId::random());
        assert_eq!(register_deltas(&partial), (0, 0), "named members only");
        assert_eq!(register_deltas(&case(CaseKind::NewEntry)), (1, 0));
        assert_eq!(register_deltas(&case(CaseKind::Exit)), (-1, 1));
    }

    #[test]
    fn monitoring_is_entered_by_category_and_cleared() {
        let exited = info(ExitedSupported, Some(2019));
        assert_eq!(
            after(CaseKind::MonitoringInclude, &exited).monitoring,
            Some(MonitoringCategory::UnstableExited)
        );
        let ordinary = info(Ordinary, None);
        let entered = after(CaseKind::MonitoringInclude, &ordinary);
        assert_eq!(entered.monitoring, Some(MonitoringCategory::EdgeAtRisk));
        assert_eq!(entered.status, Some(Ordinary), "status untouched");
        let hardship = HouseholdInfo {
            monitoring: Some(MonitoringCategory::SuddenHardship),
            ..ordinary
        };
        assert_eq!(
            after(CaseKind::MonitoringInclude, &hardship).monitoring,
            Some(MonitoringCategory::SuddenHardship),
            "a category already set stays"
        );
        assert_eq!(after(CaseKind::RiskCleared, &hardship).monitoring, None);
    }

    #[test]
    fn a_wrong_entry_naming_members_removes_only_them() {
        let mut h = Household::new(HouseholdId("hh-1".into()));
        h.info = info(NotExited, None);
        let (a, b) = (MemberId::random(), MemberId::random());
        for id in [&a, &b] {
            h.members.insert(
                id.clone(),
                Member {
                    name: "成员".into(),
                    ..Default::default()
                },
            );
        }
        let mut c = case(CaseKind::WrongEntryRemoval);
        c.members.insert(a.clone());
        let on = NaiveDate::from_ymd_opt(2017, 12, 1).expect("date");
        apply(&c, &mut h, 2017, on);
        assert_eq!(h.info.status, Some(NotExited), "household stays");
        assert_eq!(h.members[&a].left_reason, Some(MemberChange::WrongEntry));
        assert_eq!(h.members[&a].left_on, Some(on));
        assert_eq!(h.members[&b].left_reason, None);
    }
}
