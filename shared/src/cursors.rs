//! Where a device's pulls stand: one cursor per county (protocol 6).
//!
//! The server numbers its change log per county, each county under a counter of its own, so
//! that writers in different counties never wait for one another and a PostgreSQL sharded by
//! county (Citus) can hold the log with every row beside its county's households. A device's
//! position in the log is therefore a small map, county → last number pulled, plus a floor:
//! the one cursor of protocol 5 and earlier, when all counties shared one counter. Every
//! county's numbering continued above that counter's last value, so the old cursor is still
//! right for any county the map does not name.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Digits of a county's area code (省 2, 市 2, 县 2): every area code below a county starts
/// with it.
pub const COUNTY_CODE_LEN: usize = 6;

/// The county an area code lies in: its first six digits (a shorter code is its own county).
pub fn county_of(area_code: &str) -> &str {
    area_code.get(..COUNTY_CODE_LEN).unwrap_or(area_code)
}

/// County → the last change-log number pulled there.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cursors(BTreeMap<String, i64>);

impl Cursors {
    pub const fn new() -> Cursors {
        Cursors(BTreeMap::new())
    }

    /// Where pulls stand in `county`, `floor` when the map does not name it.
    pub fn get(&self, county: &str, floor: i64) -> i64 {
        self.0.get(county).copied().unwrap_or(floor)
    }

    pub fn set(&mut self, county: &str, seq: i64) {
        self.0.insert(county.to_owned(), seq);
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, i64)> {
        self.0.iter().map(|(c, s)| (c.as_str(), *s))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<(String, i64)> for Cursors {
    fn from_iter<I: IntoIterator<Item = (String, i64)>>(iter: I) -> Self {
        Cursors(iter.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_county_is_the_first_six_digits() {
        assert_eq!(county_of("530921100201"), "530921");
        assert_eq!(county_of("530921"), "530921");
        assert_eq!(county_of("5309"), "5309");
    }

    #[test]
    fn a_county_the_map_does_not_name_stands_at_the_floor() {
        let mut c = Cursors::default();
        c.set("530921", 12);
        assert_eq!(c.get("530921", 5), 12);
        assert_eq!(c.get("530922", 5), 5);
    }
}
