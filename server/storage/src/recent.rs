//! The change-log rows this process committed lately, kept in memory for the pulls that follow.
//!
//! A pull reads its page in two passes: the numbers and sizes of the rows it may send (from an
//! index alone, migration 0019), then those rows' bytes. In a township's evening the rows a
//! device pulls are mostly its teammates' pushes of the last minutes, committed through this
//! same process; the second pass then finds them here instead of looking each one up in the
//! table (a page read per row: on SQLite every other connection's write empties a
//! connection's page cache), and asks the table only for the others by their numbers (with
//! several server processes, those their neighbours committed).
//!
//! Why it cannot serve a stale row: a log row, once numbered, never changes. Its county's
//! numbers only grow (the counter is bumped in the transaction that writes the row, and rows are
//! remembered only after that transaction committed); a move within a county rewrites only the
//! row's area, which the first pass filters on in SQL, not here; a move to another county
//! deletes the row and logs it anew under a new number, so the old number is never picked
//! again. A restore rolls the numbers back, but it needs every server process stopped (see
//! `docs/restore.md`: `restore` refuses a database in use), and with the process goes this
//! memory.
//!
//! A hand-written map rather than an LRU crate: entries are evicted oldest first by commit order
//! (a pull wants the newest rows), which a queue beside the map gives without a dependency.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::LoggedChange;

/// Bytes of change data kept by default; beyond it the oldest rows go first.
pub const DEFAULT_BUDGET: usize = 16 << 20;

/// A log row as a commit numbered it.
#[derive(Clone)]
pub struct Logged {
    pub county: String,
    pub seq: i64,
    pub household_id: String,
    pub bytes: Vec<u8>,
}

/// What [`RecentLog::get`] found: the rows held, in the order asked, and the numbers not held.
#[derive(Debug, Default)]
pub struct Recalled {
    pub rows: Vec<LoggedChange>,
    pub missing: Vec<i64>,
}

/// Recently committed log rows by county and number, within a budget of bytes.
pub struct RecentLog {
    budget: usize,
    inner: Mutex<Inner>,
    /// Rows given to pulls so far (what the tests read to see that it served).
    served: AtomicU64,
}

#[derive(Default)]
struct Inner {
    /// County → number → (household, bytes).
    rows: HashMap<String, HashMap<i64, (String, Vec<u8>)>>,
    /// Commit order, for eviction.
    order: VecDeque<(String, i64)>,
    bytes: usize,
}

impl std::fmt::Debug for RecentLog {
    // The rows are household data: a `Debug` of the database shows how much is kept, not what.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        f.debug_struct("RecentLog")
            .field("budget", &self.budget)
            .field("rows", &inner.order.len())
            .field("bytes", &inner.bytes)
            .finish()
    }
}

impl Default for RecentLog {
    fn default() -> Self {
        RecentLog::new(DEFAULT_BUDGET)
    }
}

impl RecentLog {
    pub fn new(budget: usize) -> Self {
        RecentLog {
            budget,
            inner: Mutex::new(Inner::default()),
            served: AtomicU64::new(0),
        }
    }

    /// Keeps the rows of a transaction that has committed (never before: a rolled-back number
    /// is given out again).
    pub fn remember(&self, logged: Vec<Logged>) {
        if logged.is_empty() || self.budget == 0 {
            return;
        }
        let mut inner = self.lock();
        for row in logged {
            if row.bytes.len() > self.budget {
                continue;
            }
            inner.bytes += row.bytes.len();
            inner.order.push_back((row.county.clone(), row.seq));
            let old = inner
                .rows
                .entry(row.county)
                .or_default()
                .insert(row.seq, (row.household_id, row.bytes));
            if let Some((_, bytes)) = old {
                // Not reached (numbers are not given twice), but the budget stays exact.
                inner.bytes -= bytes.len();
            }
        }
        while inner.bytes > self.budget {
            let Some((county, seq)) = inner.order.pop_front() else {
                break;
            };
            let freed = inner
                .rows
                .get_mut(&county)
                .and_then(|rows| rows.remove(&seq))
                .map_or(0, |(_, bytes)| bytes.len());
            inner.bytes -= freed;
            if inner.rows.get(&county).is_some_and(HashMap::is_empty) {
                inner.rows.remove(&county);
            }
        }
    }

    /// The rows `seqs` of `county` that are here, and the numbers of those that are not.
    pub fn get(&self, county: &str, seqs: &[i64]) -> Recalled {
        let mut recalled = Recalled::default();
        {
            let inner = self.lock();
            let rows = inner.rows.get(county);
            for seq in seqs {
                match rows.and_then(|rows| rows.get(seq)) {
                    Some((household_id, bytes)) => recalled.rows.push(LoggedChange {
                        seq: *seq,
                        household_id: household_id.clone(),
                        bytes: bytes.clone(),
                    }),
                    None => recalled.missing.push(*seq),
                }
            }
        }
        self.served
            .fetch_add(recalled.rows.len() as u64, Ordering::Relaxed);
        recalled
    }

    /// How many rows [`RecentLog::get`] has given so far.
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The map is left consistent between statements, so a panic elsewhere while it was
        // held leaves nothing half-done.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(county: &str, seq: i64, len: usize) -> Logged {
        Logged {
            county: county.into(),
            seq,
            household_id: format!("h{seq}"),
            bytes: vec![seq as u8; len],
        }
    }

    /// The numbers of the rows found, and of those missing.
    fn seqs(recalled: &Recalled) -> (Vec<i64>, Vec<i64>) {
        let found = recalled.rows.iter().map(|c| c.seq).collect();
        (found, recalled.missing.clone())
    }

    #[test]
    fn gives_the_rows_it_holds_and_names_the_others() {
        let recent = RecentLog::new(1_000);
        recent.remember(vec![
            row("530921", 1, 10),
            row("530921", 2, 10),
            row("530922", 1, 5),
        ]);
        let got = recent.get("530921", &[2, 1]);
        assert_eq!(seqs(&got), (vec![2, 1], vec![]));
        assert_eq!(got.rows[0].household_id, "h2");
        assert_eq!(got.rows[0].bytes, vec![2u8; 10]);
        assert_eq!(seqs(&recent.get("530921", &[1, 3])), (vec![1], vec![3]));
        assert_eq!(recent.get("530922", &[1]).rows[0].bytes.len(), 5);
        assert_eq!(seqs(&recent.get("530923", &[1, 2])), (vec![], vec![1, 2]));
        assert_eq!(recent.served(), 4);
    }

    #[test]
    fn evicts_the_oldest_commits_first_within_its_budget() {
        let recent = RecentLog::new(25);
        recent.remember(vec![row("530921", 1, 10), row("530922", 1, 10)]);
        recent.remember(vec![row("530921", 2, 10)]);
        assert_eq!(
            seqs(&recent.get("530921", &[1, 2])),
            (vec![2], vec![1]),
            "oldest evicted"
        );
        assert_eq!(seqs(&recent.get("530922", &[1])), (vec![1], vec![]));
        // A row larger than the whole budget is not kept, and evicts nothing.
        recent.remember(vec![row("530921", 3, 26)]);
        assert_eq!(seqs(&recent.get("530921", &[2, 3])), (vec![2], vec![3]));
        assert_eq!(recent.lock().bytes, 20);
        // No budget: nothing kept.
        let off = RecentLog::new(0);
        off.remember(vec![row("530921", 1, 1)]);
        assert_eq!(seqs(&off.get("530921", &[1])), (vec![], vec![1]));
    }
}
