//! The projection's tables: the rows supervisors query, derived by the server from each merged
//! household document (`zoufang_server::projection` computes them) and handed to storage as plain
//! values per table ([`TableRows`]) so that one piece of SQL writes them on either backend.

use chrono::NaiveDate;

/// One SQL value of a projection row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Val {
    Text(Option<String>),
    Int(Option<i64>),
}

impl From<&str> for Val {
    fn from(s: &str) -> Val {
        Val::Text(Some(s.to_owned()))
    }
}
impl From<String> for Val {
    fn from(s: String) -> Val {
        Val::Text(Some(s))
    }
}
impl From<Option<String>> for Val {
    fn from(s: Option<String>) -> Val {
        Val::Text(s)
    }
}
impl From<Option<&str>> for Val {
    fn from(s: Option<&str>) -> Val {
        Val::Text(s.map(str::to_owned))
    }
}
impl From<i64> for Val {
    fn from(n: i64) -> Val {
        Val::Int(Some(n))
    }
}
impl From<Option<i64>> for Val {
    fn from(n: Option<i64>) -> Val {
        Val::Int(n)
    }
}
impl From<Option<NaiveDate>> for Val {
    fn from(d: Option<NaiveDate>) -> Val {
        Val::Text(d.map(|d| d.to_string()))
    }
}
impl From<NaiveDate> for Val {
    fn from(d: NaiveDate) -> Val {
        Val::Text(Some(d.to_string()))
    }
}

/// A projection table: its name and columns, the first of which is always `household_id` (or
/// `id` for the household table itself), the key a rewrite deletes by.
#[derive(Debug, PartialEq, Eq)]
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [&'static str],
}

pub const HOUSEHOLDS: Table = Table {
    name: "p_households",
    columns: &[
        "id",
        "area_code",
        "household_no",
        "head_name",
        "head_id",
        "phone",
        "status",
        "monitoring",
        "attribute",
        "main_cause",
        "persons",
        "income_year",
        "net_income",
        "per_capita",
        "prev_net_income",
        "last_visit",
        "errors",
        "warnings",
        "conflicts",
        "failed_criteria",
        "changed_at",
    ],
};
pub const MEMBERS: Table = Table {
    name: "p_members",
    columns: &[
        "household_id",
        "member_id",
        "area_code",
        "name",
        "id_number",
        "sex",
        "relation",
        "birth_date",
        "health",
        "is_current",
    ],
};
pub const CASES: Table = Table {
    name: "p_cases",
    columns: &[
        "household_id",
        "case_id",
        "area_code",
        "kind",
        "origin",
        "proposed_on",
        "stage",
        "stage_step",
        "persons",
        "publicity_start",
        "publicity_end",
        "objections",
        "round_id",
        "announced_on",
        "poor_move",
        "exited_move",
    ],
};
pub const STEPS: Table = Table {
    name: "p_steps",
    columns: &[
        "household_id",
        "case_id",
        "step_id",
        "step",
        "outcome",
        "day",
        "actor",
        "comment",
    ],
};
pub const VISITS: Table = Table {
    name: "p_visits",
    columns: &["household_id", "visit_id", "day", "visitor", "mode"],
};
pub const HELPERS: Table = Table {
    name: "p_helpers",
    columns: &[
        "household_id",
        "helper_id",
        "area_code",
        "name",
        "unit",
        "helper_key",
    ],
};
pub const FLAGS: Table = Table {
    name: "p_flags",
    columns: &[
        "household_id",
        "n",
        "area_code",
        "code",
        "severity",
        "message",
        "member_id",
    ],
};
pub const CONFLICTS: Table = Table {
    name: "p_conflicts",
    columns: &["household_id", "path", "area_code", "n_values"],
};

/// Every projection table, in the order rows are written.
pub const TABLES: [&Table; 8] = [
    &HOUSEHOLDS,
    &MEMBERS,
    &CASES,
    &STEPS,
    &VISITS,
    &HELPERS,
    &FLAGS,
    &CONFLICTS,
];

/// The rows of one table for one household.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRows {
    pub table: &'static Table,
    pub rows: Vec<Vec<Val>>,
}

/// Every projection row of one household.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Projection {
    pub household_id: String,
    /// The household's area code as the document has it ('' when unset).
    pub area_code: String,
    /// One entry per table of [`TABLES`], in that order.
    pub tables: Vec<TableRows>,
}

impl Projection {
    /// What its rows are, table by table: a short hash per table of [`TABLES`], comma-separated.
    /// Stored beside the rows (`p_digests`), it lets the next write of the household skip the
    /// tables whose rows did not change (a visit rewrites neither members nor cases).
    pub fn digest(&self) -> String {
        Self::digest_of(&self.row_hashes())
    }

    /// Every row's [`row_hash`], table by table.
    pub fn row_hashes(&self) -> Vec<Vec<i64>> {
        self.tables
            .iter()
            .map(|t| t.rows.iter().map(|r| row_hash(r)).collect())
            .collect()
    }

    /// [`Projection::digest`] from the [`Projection::row_hashes`]: each row is hashed once
    /// for both.
    pub fn digest_of(row_hashes: &[Vec<i64>]) -> String {
        use sha2::{Digest, Sha256};
        let tables: Vec<String> = row_hashes
            .iter()
            .map(|rows| {
                let mut h = Sha256::new();
                for row in rows {
                    h.update(row.to_le_bytes());
                }
                h.finalize()[..8]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect()
            })
            .collect();
        tables.join(",")
    }

    /// Which tables differ between two [`Projection::digest`]s, `now` and `previous`; all of
    /// them when `previous` is unknown or from another table layout.
    pub fn changed_tables(now: &str, previous: Option<&str>) -> Vec<bool> {
        let now: Vec<&str> = now.split(',').collect();
        let before: Vec<&str> = previous.map(|p| p.split(',').collect()).unwrap_or_default();
        if before.len() != now.len() {
            return vec![true; now.len()];
        }
        now.iter().zip(&before).map(|(a, b)| a != b).collect()
    }

    /// No rows: writing it clears the household's projection (storage tests use it with
    /// documents that are not household documents).
    pub fn empty(household_id: &str) -> Projection {
        Projection {
            household_id: household_id.to_owned(),
            area_code: String::new(),
            tables: TABLES
                .iter()
                .map(|t| TableRows {
                    table: t,
                    rows: Vec::new(),
                })
                .collect(),
        }
    }
}

/// A household's new projection as a write takes it: the county its rows are keyed under (its
/// household row's, see migration 0018) and the digest of the rows it replaces there (`None`
/// when there are none, or they are not to be trusted: a rebuild, a move between counties).
#[derive(Debug, Clone, Copy)]
pub struct Projected<'a> {
    pub projection: &'a Projection,
    pub county: &'a str,
    pub before: Option<&'a str>,
    /// The household is new to the server in this write, so no rows of it can be there to
    /// delete: rows are written with their household row, and a household row leaves a
    /// county only in a move, which deletes its rows there too (`leave_counties`).
    pub new: bool,
}

/// A row's hash, stored in its `row_hash` column: a write of a table that changed deletes the
/// household's rows whose hash is not among the new rows' and inserts the rest, so a visit
/// added writes one `p_visits` row, not all of them. Each value is tagged and length-prefixed,
/// so that no two rows feed the hash the same bytes.
pub fn row_hash(row: &[Val]) -> i64 {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for v in row {
        let int;
        let (tag, bytes): (u8, &[u8]) = match v {
            Val::Text(Some(s)) => (b't', s.as_bytes()),
            Val::Int(Some(n)) => {
                int = n.to_le_bytes();
                (b'i', &int)
            }
            Val::Text(None) | Val::Int(None) => (b'n', &[]),
        };
        h.update([tag]);
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    }
    let mut first = [0u8; 8];
    first.copy_from_slice(&h.finalize()[..8]);
    i64::from_le_bytes(first)
}
