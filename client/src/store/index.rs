//! The list row of a household: what lists, filters and search read instead of the document.

use chrono::NaiveDate;
use serde::Serialize;
use zoufang_shared::CodeList;
use zoufang_shared::model::Household;
use zoufang_shared::rules::{checks, standards::Standards};

/// Flag code for a household with unresolved concurrent edits.
pub const CONFLICT_FLAG: &str = "conflict";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexRow {
    pub id: String,
    pub household_no: Option<String>,
    pub head_name: Option<String>,
    pub township: Option<String>,
    pub village: Option<String>,
    pub group: Option<String>,
    /// Status code.
    pub status: Option<String>,
    pub size: i64,
    /// Kinds (codes) of the cases still under way.
    pub open_cases: Vec<String>,
    /// Codes of the checks that found something, plus [`CONFLICT_FLAG`].
    pub flags: Vec<String>,
    pub updated_at: String,
    /// The day of the latest visit; `None` if never visited.
    pub last_visit: Option<NaiveDate>,
}

impl IndexRow {
    pub fn of(
        h: &Household,
        conflicts: usize,
        standards: &Standards,
        today: NaiveDate,
        updated_at: String,
    ) -> IndexRow {
        let mut open_cases: Vec<String> = h
            .cases
            .values()
            .filter(|c| c.is_open())
            .map(|c| c.kind.code().to_owned())
            .collect();
        open_cases.sort();
        open_cases.dedup();
        let mut flags: Vec<String> = checks::check_household(h, today, standards)
            .into_iter()
            .map(|f| f.code.to_owned())
            .collect();
        if conflicts > 0 {
            flags.push(CONFLICT_FLAG.to_owned());
        }
        flags.sort();
        flags.dedup();
        IndexRow {
            id: h.id.to_string(),
            household_no: h.info.household_no.clone(),
            head_name: h.head().map(|m| m.name.clone()),
            township: h.info.township.clone(),
            village: h.info.village.clone(),
            group: h.info.group.clone(),
            status: h.info.status.map(|s| s.code().to_owned()),
            size: h.size() as i64,
            open_cases,
            flags,
            updated_at,
            last_visit: h.visits.values().map(|v| v.date).max(),
        }
    }

    /// Text the search box matches: member names, household number, village and group.
    pub fn search_text(h: &Household) -> String {
        let mut parts: Vec<&str> = h.members.values().map(|m| m.name.as_str()).collect();
        parts.extend(
            [&h.info.household_no, &h.info.village, &h.info.group]
                .into_iter()
                .flatten()
                .map(String::as_str),
        );
        parts.join(" ")
    }
}

/// `' a b '`: codes joined so that `LIKE '% a %'` finds exactly one code.
pub fn code_set(codes: &[String]) -> String {
    format!(" {} ", codes.join(" "))
}

pub fn parse_code_set(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}
