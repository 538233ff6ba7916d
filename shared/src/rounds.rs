//! 工作批次 (rounds): the exercises a county runs — a 动态管理 round, a 精准核查 special action,
//! a 集中排查, a monitoring round — each with its own dates, areas and report. Seed 001 reports
//! two of them for one township side by side; a case counts in the round it was proposed in.
//!
//! The county opens rounds on the server; devices receive the open ones at sync and file every
//! new case under one. Cases from before rounds existed (no `round` on the case) count in the
//! round of their year, `year-2017`, so every case belongs to exactly one round.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::codes::RoundKind;
use crate::model::Case;

/// A round as the county opened it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Round {
    /// Stable id (letters, digits, `-`); `year-YYYY` is reserved for the rounds of cases filed
    /// before rounds existed.
    pub id: String,
    pub name: String,
    /// `dynamic` 动态管理, `verification` 精准核查, `screening` 集中排查, `monitoring` 监测.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub kind: RoundKind,
    pub starts_on: NaiveDate,
    /// Last day cases may be filed under it; none while it runs without an end.
    #[serde(default)]
    pub ends_on: Option<NaiveDate>,
    /// Area codes (prefixes) it covers.
    pub areas: Vec<String>,
}

/// Why a round cannot be opened as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoundError {
    #[error("批次名称不能为空")]
    NoName,
    #[error("批次名称最多 {MAX_NAME_CHARS} 个字,且不能含控制字符")]
    BadName,
    #[error("批次编号只能由字母、数字和 - 组成(1–40 个字符),且不能以 year- 开头")]
    BadId,
    #[error("结束日期早于开始日期")]
    EndsBeforeStart,
    #[error("至少选择一个地区")]
    NoArea,
}

/// A round's name is a title on pages and exports: a line, not a text.
pub const MAX_NAME_CHARS: usize = 60;

/// The prefix of the rounds every case without one belongs to.
const YEAR_PREFIX: &str = "year-";

/// The round a case from before rounds existed counts in.
pub fn year_round_id(year: i32) -> String {
    format!("{YEAR_PREFIX}{year}")
}

/// The round `case` counts in: its own, or its year's.
pub fn case_round_id(case: &Case) -> String {
    case.round
        .clone()
        .unwrap_or_else(|| year_round_id(case.proposed_on.year()))
}

/// The name a round id is shown with when no opened round has it (a year round).
pub fn year_round_name(id: &str) -> Option<String> {
    year_round(id).map(|r| r.name)
}

/// The round of a year's cases filed before rounds existed, as a report names it: the whole
/// calendar year, everywhere.
pub fn year_round(id: &str) -> Option<Round> {
    let year: i32 = id.strip_prefix(YEAR_PREFIX)?.parse().ok()?;
    Some(Round {
        id: id.to_owned(),
        name: format!("{year} 年(未分批次的事项)"),
        kind: RoundKind::Dynamic,
        starts_on: NaiveDate::from_ymd_opt(year, 1, 1)?,
        ends_on: Some(NaiveDate::from_ymd_opt(year, 12, 31)?),
        areas: Vec::new(),
    })
}

impl Round {
    /// Refuses a round no one could file a case under or read a report of.
    pub fn check(&self) -> Result<(), RoundError> {
        if self.name.trim().is_empty() {
            return Err(RoundError::NoName);
        }
        // A NUL is what PostgreSQL cannot store; any control character is no title.
        if self.name.chars().count() > MAX_NAME_CHARS || self.name.chars().any(char::is_control) {
            return Err(RoundError::BadName);
        }
        let id_ok = !self.id.is_empty()
            && self.id.len() <= 40
            && self
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !self.id.starts_with(YEAR_PREFIX);
        if !id_ok {
            return Err(RoundError::BadId);
        }
        if self.ends_on.is_some_and(|end| end < self.starts_on) {
            return Err(RoundError::EndsBeforeStart);
        }
        if self.areas.iter().all(|a| a.trim().is_empty()) {
            return Err(RoundError::NoArea);
        }
        Ok(())
    }

    /// Whether a case on a household filed in `area` may be proposed under this round on `day`.
    pub fn admits(&self, area: &str, day: NaiveDate) -> bool {
        self.open_on(day) && self.areas.iter().any(|a| area.starts_with(a.as_str()))
    }

    /// Running on `day`.
    pub fn open_on(&self, day: NaiveDate) -> bool {
        self.starts_on <= day && self.ends_on.is_none_or(|end| day <= end)
    }
}

/// Why a new case of `after` (one `before` lacks) may not stand: it names a round that is
/// unknown, not running on the case's day, or not covering the household. The server's check of
/// a push, the same rule the device's case form applies ([`open_for`]).
pub fn misfiled_case(
    before: Option<&crate::model::Household>,
    after: &crate::model::Household,
    rounds: &[Round],
) -> Option<String> {
    let area = after.info.area_code.as_deref().unwrap_or("");
    after
        .cases
        .iter()
        .filter(|(id, _)| before.is_none_or(|b| !b.cases.contains_key(*id)))
        .find_map(|(_, c)| {
            let id = c.round.as_deref()?;
            let admitted = rounds
                .iter()
                .any(|r| r.id == id && r.admits(area, c.proposed_on));
            (!admitted).then(|| {
                format!(
                    "事项所属工作批次「{id}」不存在、在 {} 未开放或不包括本户所在地区",
                    c.proposed_on
                )
            })
        })
}

/// The rounds a case on a household in `area` may be filed under on `day`, latest start first
/// (the one a form offers by default).
pub fn open_for<'a>(rounds: &'a [Round], area: &str, day: NaiveDate) -> Vec<&'a Round> {
    let mut open: Vec<&Round> = rounds.iter().filter(|r| r.admits(area, day)).collect();
    open.sort_by(|a, b| (b.starts_on, &b.id).cmp(&(a.starts_on, &a.id)));
    open
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
    }

    /// An exit case proposed on `on`, in `round` when given.
    fn exit_case(round: Option<&str>, on: NaiveDate) -> Case {
        Case {
            round: round.map(str::to_owned),
            ..crate::demo::case_record(crate::codes::CaseKind::Exit, on, "张三")
        }
    }

    fn round(id: &str, starts: NaiveDate, ends: Option<NaiveDate>, areas: &[&str]) -> Round {
        Round {
            id: id.into(),
            name: "2017 年动态管理".into(),
            kind: RoundKind::Dynamic,
            starts_on: starts,
            ends_on: ends,
            areas: areas.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    #[test]
    fn a_round_admits_its_areas_on_its_days() {
        let r = round(
            "2017-dynamic",
            day(2017, 9, 1),
            Some(day(2017, 11, 30)),
            &["530921100"],
        );
        assert!(r.admits("530921100201", day(2017, 9, 1)));
        assert!(r.admits("530921100201", day(2017, 11, 30)));
        assert!(!r.admits("530921100201", day(2017, 12, 1)), "after its end");
        assert!(
            !r.admits("530921100201", day(2017, 8, 31)),
            "before its start"
        );
        assert!(
            !r.admits("530921200201", day(2017, 10, 1)),
            "another township"
        );
    }

    #[test]
    fn the_latest_open_round_is_offered_first() {
        let rounds = [
            round("a", day(2017, 9, 1), None, &["5309"]),
            round("b", day(2017, 10, 1), None, &["530921"]),
            round("c", day(2017, 10, 1), Some(day(2017, 10, 2)), &["5309"]),
        ];
        let ids: Vec<&str> = open_for(&rounds, "530921100201", day(2017, 10, 5))
            .iter()
            .map(|r| r.id.as_str())
            .collect();
        assert_eq!(ids, ["b", "a"]);
    }

    #[test]
    fn cases_without_a_round_count_in_their_year() {
        let mut case = exit_case(None, day(2016, 12, 31));
        assert_eq!(case_round_id(&case), "year-2016");
        assert_eq!(
            year_round_name("year-2016").as_deref(),
            Some("2016 年(未分批次的事项)")
        );
        case.round = Some("2017-dynamic".into());
        assert_eq!(case_round_id(&case), "2017-dynamic");
        assert_eq!(year_round_name("2017-dynamic"), None);
    }

    #[test]
    fn a_new_case_must_name_a_round_open_for_its_household() {
        use crate::ids::{CaseId, HouseholdId};
        let rounds = [round(
            "2017-dynamic",
            day(2017, 9, 1),
            Some(day(2017, 11, 30)),
            &["530921100"],
        )];
        let mut h = crate::model::Household::new(HouseholdId("hh-1".into()));
        h.info.area_code = Some("530921100201".into());
        let with = |c: Case| {
            let mut after = h.clone();
            after.cases.insert(CaseId::from("c1"), c);
            after
        };
        let inside = day(2017, 10, 1);
        for ok in [
            exit_case(Some("2017-dynamic"), inside),
            exit_case(None, inside),
        ] {
            assert_eq!(misfiled_case(Some(&h), &with(ok), &rounds), None);
        }
        for bad in [
            exit_case(Some("2017-dynamic"), day(2017, 12, 1)),
            exit_case(Some("no-such"), inside),
        ] {
            assert!(misfiled_case(Some(&h), &with(bad), &rounds).is_some());
        }
        let mut elsewhere = with(exit_case(Some("2017-dynamic"), inside));
        elsewhere.info.area_code = Some("530921200201".into());
        assert!(misfiled_case(None, &elsewhere, &rounds).is_some());
        // A case already stored is not judged again (the round may have ended since).
        let stored = with(exit_case(Some("2017-dynamic"), inside));
        assert_eq!(misfiled_case(Some(&stored), &stored, &[]), None);
    }

    #[test]
    fn rounds_that_could_never_be_used_are_refused() {
        let ok = round("2017-verify", day(2017, 9, 1), None, &["530921100"]);
        assert_eq!(ok.check(), Ok(()));
        let cases = [
            (
                Round {
                    name: " ".into(),
                    ..ok.clone()
                },
                RoundError::NoName,
            ),
            (
                Round {
                    name: "核查\0".into(),
                    ..ok.clone()
                },
                RoundError::BadName,
            ),
            (
                Round {
                    name: "长".repeat(61),
                    ..ok.clone()
                },
                RoundError::BadName,
            ),
            (
                Round {
                    id: "year-2017".into(),
                    ..ok.clone()
                },
                RoundError::BadId,
            ),
            (
                Round {
                    id: "含中文".into(),
                    ..ok.clone()
                },
                RoundError::BadId,
            ),
            (
                Round {
                    ends_on: Some(day(2017, 8, 1)),
                    ..ok.clone()
                },
                RoundError::EndsBeforeStart,
            ),
            (
                Round {
                    areas: vec![],
                    ..ok.clone()
                },
                RoundError::NoArea,
            ),
        ];
        for (r, want) in cases {
            assert_eq!(r.check(), Err(want.clone()), "{want}");
        }
    }
}
