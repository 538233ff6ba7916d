//! Rows of the server-side checks that span households (a person in two households, a helper
//! with too many households) and of the conflicts queue.

/// A helper may be paired with at most this many households (seed 004).
pub const MAX_HOUSEHOLDS_PER_HELPER: i64 = 5;

pub use zoufang_storage::views::{BusyHelper, ConflictEntry, DuplicateId};
