//! The roster (花名册): households of an area, filtered the ways the report drills down and the
//! cross-household checks list them, paged by key so a county of 100,000 households pages as
//! fast at the end as at the start.

use crate::storage::Role;

pub use zoufang_storage::views::{CaseFilter, RosterFilter, RosterRow};

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

pub use zoufang_shared::mask::{id_number as mask_id, phone as mask_phone};

/// A roster row as `role` may read it.
pub fn mask_row(row: &mut RosterRow, role: Role) {
    if !sees_ids(role) {
        row.head_id = row.head_id.as_deref().map(mask_id);
    }
    if !sees_phones(role) {
        row.phone = row.phone.as_deref().map(mask_phone);
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
            case_kind: None,
            case_stage: None,
            case_step: None,
            case_publicity_end: None,
        };
        let mut surveyor = row.clone();
        mask_row(&mut surveyor, Role::Surveyor);
        assert_ne!(surveyor.head_id.as_deref(), Some(id.as_str()));
        assert!(surveyor.head_id.as_deref().unwrap_or("").contains('*'));
        assert_eq!(surveyor.phone.as_deref(), Some("138****5678"));
        mask_row(&mut row, Role::TownshipReviewer);
        assert_eq!(row.head_id.as_deref(), Some(id.as_str()));
        assert_eq!(row.phone.as_deref(), Some("13812345678"));
        assert_eq!(mask_id("not an id"), "*********");
    }
}
