//! The roster (花名册): households of an area, filtered the ways the report drills down and the
//! cross-household checks list them, paged by key so a county of 100,000 households pages as
//! fast at the end as at the start.

use chrono::NaiveDate;
use serde::Serialize;
use zoufang_shared::rules::resident_id::ResidentId;

use super::Bucket;
use crate::storage::Role;

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

/// Households with a case matching all of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseFilter {
    pub kind: Option<String>,
    pub bucket: Option<Bucket>,
    pub from: NaiveDate,
    pub to: NaiveDate,
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
}

/// What of the sensitive fields a role may read in rosters and exports. Township reviewers
/// verify identities and admins fix records, so they see ID numbers; the county supervisors
/// phone households for checks, so they see phones; surveyors and team leaders have both on
/// their devices for their own households and need neither in a roster.
pub fn sees_ids(role: Role) -> bool {
    matches!(role, Role::TownshipReviewer | Role::Admin)
}

pub fn sees_phones(role: Role) -> bool {
    matches!(
        role,
        Role::TownshipReviewer | Role::CountySupervisor | Role::Admin
    )
}

/// 138****5678.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() < 7 {
        return "*".repeat(chars.len());
    }
    let keep_end = 4;
    let keep_start = 3;
    chars[..keep_start]
        .iter()
        .chain(std::iter::repeat_n(
            &'*',
            chars.len() - keep_start - keep_end,
        ))
        .chain(&chars[chars.len() - keep_end..])
        .collect()
}

/// An ID number masked as the ID rules do; text that is no valid ID is hidden whole.
pub fn mask_id(id: &str) -> String {
    ResidentId::parse(id)
        .map(|r| r.masked())
        .unwrap_or_else(|_| "*".repeat(id.chars().count()))
}

impl RosterRow {
    /// Hides what `role` may not read.
    pub fn mask_for(&mut self, role: Role) {
        if !sees_ids(role) {
            self.head_id = self.head_id.as_deref().map(mask_id);
        }
        if !sees_phones(role) {
            self.phone = self.phone.as_deref().map(mask_phone);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_and_ids_are_masked_for_roles_that_need_no_more() {
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone("123"), "***");
        let id = zoufang_shared::demo::id_number("19800101", "123");
        let mut row = RosterRow {
            id: "h".into(),
            area_code: "530921100201".into(),
            household_no: None,
            head_name: "张三".into(),
            head_id: Some(id.clone()),
            phone: Some("13812345678".into()),
            status: None,
            monitoring: None,
            persons: 1,
            per_capita: None,
            income_year: None,
            last_visit: None,
            errors: 0,
            warnings: 0,
            conflicts: 0,
            failed_criteria: String::new(),
        };
        let mut surveyor = row.clone();
        surveyor.mask_for(Role::Surveyor);
        assert_ne!(surveyor.head_id.as_deref(), Some(id.as_str()));
        assert!(surveyor.head_id.as_deref().unwrap_or("").contains('*'));
        assert_eq!(surveyor.phone.as_deref(), Some("138****5678"));
        row.mask_for(Role::TownshipReviewer);
        assert_eq!(row.head_id.as_deref(), Some(id.as_str()));
        assert_eq!(row.phone.as_deref(), Some("13812345678"));
        assert_eq!(mask_id("not an id"), "*********");
    }
}
