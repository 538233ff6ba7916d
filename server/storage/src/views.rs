//! What the review side reads from the projection (grouped counts, roster rows, cross-household
//! checks) with the filters that select it, and the review pages' sessions and spot checks.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use zoufang_shared::CodeList;
use zoufang_shared::codes::ProcedureStep;

/// One group of the status count, as storage returns it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StatusCount {
    pub area_code: String,
    pub status: Option<String>,
    pub monitoring: Option<String>,
    pub households: i64,
    pub persons: i64,
}

/// One group of the case count, as storage returns it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CaseCount {
    pub area_code: String,
    pub kind: String,
    pub origin: Option<String>,
    pub stage: String,
    pub stage_step: Option<String>,
    /// 1 while the case's 公示 period has not ended.
    pub publicity_running: i64,
    /// 1 when objections were recorded.
    pub objected: i64,
    pub households: i64,
    pub persons: i64,
}

/// How announced cases moved the register in one area code: households that joined (+) or
/// left (−) the registered poor and the exited.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RegisterMove {
    pub area_code: String,
    pub poor: i64,
    pub exited: i64,
}

/// Where a case stands, as the report's columns show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    Proposed,
    HomeCheck,
    Deliberation,
    PublicityRunning,
    PublicityDone,
    TownshipReview,
    CountyDecision,
    Announced,
    Returned,
    Rejected,
}

impl Bucket {
    pub const ALL: [Bucket; 10] = [
        Bucket::Proposed,
        Bucket::HomeCheck,
        Bucket::Deliberation,
        Bucket::PublicityRunning,
        Bucket::PublicityDone,
        Bucket::TownshipReview,
        Bucket::CountyDecision,
        Bucket::Announced,
        Bucket::Returned,
        Bucket::Rejected,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Bucket::Proposed => "已提出",
            Bucket::HomeCheck => "入户核查",
            Bucket::Deliberation => "民主评议",
            Bucket::PublicityRunning => "公示中",
            Bucket::PublicityDone => "公示结束",
            Bucket::TownshipReview => "乡镇审核",
            Bucket::CountyDecision => "县级审定",
            Bucket::Announced => "已公告",
            Bucket::Returned => "退回",
            Bucket::Rejected => "不通过",
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Bucket::Proposed => "proposed",
            Bucket::HomeCheck => "home_check",
            Bucket::Deliberation => "deliberation",
            Bucket::PublicityRunning => "publicity_running",
            Bucket::PublicityDone => "publicity_done",
            Bucket::TownshipReview => "township_review",
            Bucket::CountyDecision => "county_decision",
            Bucket::Announced => "announced",
            Bucket::Returned => "returned",
            Bucket::Rejected => "rejected",
        }
    }

    pub fn parse(code: &str) -> Option<Bucket> {
        Bucket::ALL.into_iter().find(|b| b.code() == code)
    }

    /// The bucket of a case from its projected stage.
    pub fn of(stage: &str, step: Option<&str>, publicity_running: bool) -> Option<Bucket> {
        let step = step.and_then(|s| ProcedureStep::parse(s).ok());
        Some(match (stage, step) {
            ("proposed", _) => Bucket::Proposed,
            ("returned", _) => Bucket::Returned,
            ("rejected", _) => Bucket::Rejected,
            ("passed", Some(step)) => match step {
                ProcedureStep::HomeCheck => Bucket::HomeCheck,
                ProcedureStep::Deliberation => Bucket::Deliberation,
                ProcedureStep::Publicity if publicity_running => Bucket::PublicityRunning,
                ProcedureStep::Publicity => Bucket::PublicityDone,
                ProcedureStep::TownshipReview => Bucket::TownshipReview,
                ProcedureStep::CountyDecision => Bucket::CountyDecision,
                ProcedureStep::Announcement => Bucket::Announced,
            },
            _ => return None,
        })
    }

    /// The SQL condition on `p_cases` (aliased `c`) selecting this bucket; when the second
    /// value is true the condition ends in a comparison whose right side (today's date) the
    /// caller binds. The codes are constants, never user input.
    pub fn condition(self) -> (String, bool) {
        let passed = |step: ProcedureStep| {
            format!("c.stage = 'passed' AND c.stage_step = '{}'", step.code())
        };
        match self {
            Bucket::Proposed => ("c.stage = 'proposed'".into(), false),
            Bucket::Returned => ("c.stage = 'returned'".into(), false),
            Bucket::Rejected => ("c.stage = 'rejected'".into(), false),
            Bucket::HomeCheck => (passed(ProcedureStep::HomeCheck), false),
            Bucket::Deliberation => (passed(ProcedureStep::Deliberation), false),
            Bucket::TownshipReview => (passed(ProcedureStep::TownshipReview), false),
            Bucket::CountyDecision => (passed(ProcedureStep::CountyDecision), false),
            Bucket::Announced => (passed(ProcedureStep::Announcement), false),
            Bucket::PublicityRunning => (
                format!(
                    "{} AND c.publicity_end >= ",
                    passed(ProcedureStep::Publicity)
                ),
                true,
            ),
            Bucket::PublicityDone => (
                format!(
                    "{} AND c.publicity_end < ",
                    passed(ProcedureStep::Publicity)
                ),
                true,
            ),
        }
    }
}

/// Which households a roster lists. Every condition narrows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RosterFilter {
    /// Area code prefix (already checked against the reader's scope).
    pub area: String,
    /// A household status code, a monitoring category code, or `none` (no status recorded).
    pub status: Option<String>,
    pub case: Option<CaseFilter>,
    /// Households with a finding of this code (`error` / `warning`: any of that severity).
    pub flag: Option<String>,
    /// Households with conflicting concurrent values.
    pub conflicted: bool,
    /// Households served by this helper (see `projection::helper_key`).
    pub helper_key: Option<String>,
    /// Registered or monitored households with no visit on or after this day.
    pub not_visited_since: Option<NaiveDate>,
    /// Households whose exit passed the township check although a criterion fails.
    pub exit_failing: bool,
    /// Households with a current member of this ID number.
    pub id_number: Option<String>,
    /// Part of the head's name or of the household number.
    pub search: Option<String>,
    /// Resume after this (area code, id).
    pub after: Option<(String, String)>,
    pub limit: i64,
}

/// Which cases a report or roster counts: those of one 工作批次 (whatever their date), or those
/// proposed in a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseWindow {
    Round(String),
    Period { from: NaiveDate, to: NaiveDate },
}

/// Households with a case matching all of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseFilter {
    pub kind: Option<String>,
    pub bucket: Option<Bucket>,
    pub window: CaseWindow,
    pub today: NaiveDate,
    /// 漏评 only: new entries found by screening, not rejected.
    pub missed: bool,
    /// Only cases whose 公示 drew objections.
    pub objected: bool,
}

/// One household of a roster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct RosterRow {
    pub id: String,
    pub area_code: String,
    pub household_no: Option<String>,
    pub head_name: String,
    pub head_id: Option<String>,
    pub phone: Option<String>,
    pub status: Option<String>,
    pub monitoring: Option<String>,
    pub persons: i64,
    /// Per-capita net income in fen, of the latest survey year.
    pub per_capita: Option<i64>,
    pub income_year: Option<i64>,
    pub last_visit: Option<String>,
    pub errors: i64,
    pub warnings: i64,
    pub conflicts: i64,
    pub failed_criteria: String,
    /// The household's latest open case (neither rejected nor announced), by proposal date:
    /// its kind, stage, the step the stage applies to and the day its 公示 ends.
    pub case_kind: Option<String>,
    pub case_stage: Option<String>,
    pub case_step: Option<String>,
    pub case_publicity_end: Option<String>,
}

impl RosterRow {
    /// Where the household's open case stands on `today` (公示 running or done depends on it).
    pub fn case_bucket(&self, today: NaiveDate) -> Option<Bucket> {
        let running = self
            .case_publicity_end
            .as_deref()
            .is_some_and(|end| end >= today.to_string().as_str());
        Bucket::of(
            self.case_stage.as_deref()?,
            self.case_step.as_deref(),
            running,
        )
    }
}

/// A current member whose ID number is also a current member's of another household.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct DuplicateId {
    pub id_number: String,
    pub household_id: String,
    pub area_code: String,
    pub name: String,
}

/// A helper (name and unit) paired with more households than allowed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct BusyHelper {
    pub helper_key: String,
    pub name: String,
    pub unit: Option<String>,
    pub households: i64,
}

/// A field with concurrent values, in the conflicts queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ConflictEntry {
    pub household_id: String,
    pub path: String,
    pub n_values: i64,
    pub head_name: String,
    pub area_code: String,
}
/// A review-page login, as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WebSession {
    pub username: String,
    /// The session's anti-forgery token, echoed by every form it posts.
    pub csrf: String,
    /// RFC 3339.
    pub expires_at: String,
}

/// One household of a day's spot-check sample, and what the check found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct SpotCheck {
    pub township: String,
    pub day: String,
    pub household_id: String,
    pub village: String,
    pub drawn_by: String,
    pub result: Option<String>,
    pub note: Option<String>,
    pub checked_by: Option<String>,
    pub checked_at: Option<String>,
}
