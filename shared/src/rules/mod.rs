//! The rules: pure functions over the model, no I/O and no clock (dates are passed in).
//!
//! - [`resident_id`]: 18-digit resident ID validation, birth date and sex.
//! - [`income`]: 纯收入 and 人均纯收入 in exact fen.
//! - [`standards`]: the versioned table of income lines (data, not constants).
//! - [`assessment`]: 两不愁三保障, 饮水安全 and income against the year's line.
//! - [`checks`]: data-quality findings on one household.
//! - [`outcome`]: what an announced case does to its household's status.

pub mod assessment;
pub mod checks;
pub mod income;
pub mod outcome;
pub mod resident_id;
pub mod standards;

#[cfg(test)]
pub(crate) mod testkit;
