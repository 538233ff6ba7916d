//! Household documents and the change log devices pull.

use zoufang_shared::cursors::{Cursors, county_of};

use crate::projection::Projection;

/// A place in the change log, which is numbered per county (see [`zoufang_shared::cursors`]):
/// a number per county, and `floor` for the counties `cursors` does not name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogPosition {
    pub cursors: Cursors,
    pub floor: i64,
}

impl LogPosition {
    /// The log's start.
    pub const START: LogPosition = LogPosition {
        cursors: Cursors::new(),
        floor: 0,
    };

    /// The last number covered in `county`.
    pub fn at(&self, county: &str) -> i64 {
        self.cursors.get(county, self.floor)
    }
}

/// [`LogPosition::START`] to borrow for as long as the program runs.
static LOG_START: LogPosition = LogPosition::START;

/// Which of a device's own changes a pull leaves out: those under `actor` numbered after
/// `resent` in their county (the device has them; before that point it may have dropped some).
#[derive(Debug, Clone, Copy)]
pub struct OwnChanges<'a> {
    pub actor: &'a str,
    pub resent: &'a LogPosition,
}

impl OwnChanges<'_> {
    /// A pull that leaves nothing out.
    pub const NONE: OwnChanges<'static> = OwnChanges {
        actor: "",
        resent: &LOG_START,
    };
}

impl<'a> OwnChanges<'a> {
    /// The changes of `actor` the device has.
    pub fn of(actor: &'a str) -> Self {
        OwnChanges {
            actor,
            resent: &LOG_START,
        }
    }
}

/// A household as stored.
#[derive(Debug, Clone)]
pub struct StoredHousehold {
    pub id: String,
    pub area_code: String,
    /// Automerge save format.
    pub doc: Vec<u8>,
    /// Optimistic-concurrency version, bumped by every write.
    pub version: i64,
    /// The [`crate::projection::Projection::digest`] of its projection rows as that version
    /// wrote them; `None` when unknown (written before digests were kept).
    pub projected: Option<String>,
}

/// One household written by a sync batch.
#[derive(Debug, Clone)]
pub struct HouseholdWrite {
    pub id: String,
    pub area_code: String,
    pub doc: Vec<u8>,
    /// The version merged onto; `None` for a household new to the server.
    pub expected_version: Option<i64>,
    /// Changes new to the server, in causal order.
    pub changes: Vec<NewChange>,
    /// The merged document's projection, written in the same transaction.
    pub projection: Projection,
    /// The digest of the projection the expected version wrote ([`StoredHousehold::projected`]):
    /// tables whose rows it matches are not rewritten.
    pub projected_before: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewChange {
    /// Hex change hash; (household, hash) is unique, so a retried change is stored once.
    pub hash: String,
    /// Hex actor id.
    pub actor: String,
    pub bytes: Vec<u8>,
}

/// Everything one sync request writes, committed in one transaction.
#[derive(Debug, Clone, Default)]
pub struct SyncWrite {
    pub households: Vec<HouseholdWrite>,
}

impl SyncWrite {
    /// Each household's new projection in its county, with the digest of the one it replaces,
    /// as the projection writers take them.
    pub fn projections(&self) -> Vec<crate::projection::Projected<'_>> {
        self.households
            .iter()
            .map(|h| crate::projection::Projected {
                projection: &h.projection,
                county: county_of(&h.area_code),
                before: h.projected_before.as_deref(),
                new: h.expected_version.is_none(),
            })
            .collect()
    }

    /// Every pushed change, with its household, in the batch's order.
    pub fn changes(&self) -> impl Iterator<Item = (&HouseholdWrite, &NewChange)> {
        self.households
            .iter()
            .flat_map(|h| h.changes.iter().map(move |c| (h, c)))
    }

    /// The pushed changes to log: each once, and none of the `(household, hash)` pairs the log
    /// was found to hold already.
    pub fn unlogged(&self, known: &[(String, String)]) -> Vec<(&HouseholdWrite, &NewChange)> {
        let mut seen: std::collections::HashSet<(&str, &str)> = known
            .iter()
            .map(|(h, c)| (h.as_str(), c.as_str()))
            .collect();
        self.changes()
            .filter(|(h, c)| seen.insert((&h.id, &c.hash)))
            .collect()
    }
}

/// A change from the log, for a pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedChange {
    pub seq: i64,
    pub household_id: String,
    pub bytes: Vec<u8>,
}

/// A page of the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangePage {
    /// County by county (in code order), each county's in log order.
    pub changes: Vec<LoggedChange>,
    /// Where to ask from next time in each county the page covered: the last number it
    /// covered there. A county the scope holds but the log has never numbered is not named.
    pub cursors: Cursors,
    /// More changes wait beyond this page.
    pub more: bool,
    /// Households that moved out of the scope after the asked-for position, up to this page's
    /// `cursors`, and are not back in it (the move log's `from_area` in scope, the household's
    /// current area not), in id order.
    pub gone: Vec<String>,
}

/// How one commit numbers what it logs: in each county, its changes take the next numbers in
/// the order given, then its moves (so a pull's cursor covers moves exactly as it covers
/// changes). Both backends number with it and bump the counters with
/// [`crate::sql::bump_counters`].
#[derive(Debug, Default)]
pub struct LogNumbering {
    /// County → (changes, moves) to number there.
    needs: std::collections::BTreeMap<String, (i64, i64)>,
}

impl LogNumbering {
    /// The counties of the changes and of the moves to number, each in its log order.
    pub fn new<'a>(
        changes: impl IntoIterator<Item = &'a str>,
        moves: impl IntoIterator<Item = &'a str>,
    ) -> LogNumbering {
        let mut needs = std::collections::BTreeMap::<String, (i64, i64)>::new();
        for c in changes {
            needs.entry(c.to_owned()).or_default().0 += 1;
        }
        for c in moves {
            needs.entry(c.to_owned()).or_default().1 += 1;
        }
        LogNumbering { needs }
    }

    /// Each county and how many numbers it needs, in county order: the order counters are
    /// bumped in, so that two commits never wait for each other's counters crosswise.
    pub fn counties(&self) -> impl Iterator<Item = (&str, i64)> {
        self.needs.iter().map(|(c, (n, m))| (c.as_str(), n + m))
    }

    /// The numbers of the changes and of the moves (in the order [`LogNumbering::new`] took
    /// them), given each county's counter after its bump.
    pub fn assign<'a>(
        &self,
        ends: &std::collections::BTreeMap<String, i64>,
        changes: impl IntoIterator<Item = &'a str>,
        moves: impl IntoIterator<Item = &'a str>,
    ) -> (Vec<i64>, Vec<i64>) {
        // The next number to hand out in each county, changes first.
        let mut next: std::collections::BTreeMap<&str, (i64, i64)> = self
            .needs
            .iter()
            .map(|(c, (n, m))| {
                let end = ends.get(c).copied().unwrap_or(n + m);
                (c.as_str(), (end - n - m + 1, end - m + 1))
            })
            .collect();
        let mut take = |county: &str, moves: bool| {
            // Every county given here was given to `new`, so it has a slot.
            let Some(slot) = next.get_mut(county) else {
                return 0;
            };
            let n = if moves { &mut slot.1 } else { &mut slot.0 };
            *n += 1;
            *n - 1
        };
        let change_seqs = changes.into_iter().map(|c| take(c, false)).collect();
        let move_seqs = moves.into_iter().map(|c| take(c, true)).collect();
        (change_seqs, move_seqs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_county_numbers_its_changes_then_its_moves_above_its_counter() {
        let changes = ["530921", "530922", "530921"];
        let moves = ["530921"];
        let numbering = LogNumbering::new(changes, moves);
        assert_eq!(
            numbering.counties().collect::<Vec<_>>(),
            [("530921", 3), ("530922", 1)]
        );
        // Counters after the bumps: 530921 was at 10, 530922 at 40.
        let ends = [("530921".to_owned(), 13), ("530922".to_owned(), 41)].into();
        let (c, m) = numbering.assign(&ends, changes, moves);
        assert_eq!(c, [11, 41, 12]);
        assert_eq!(m, [13]);
    }
}
