//! Rows of the server-side checks that span households (a person in two households, a helper
//! with too many households) and of the conflicts queue.

use serde::Serialize;

/// A helper may be paired with at most this many households (seed 004).
pub const MAX_HOUSEHOLDS_PER_HELPER: i64 = 5;

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
