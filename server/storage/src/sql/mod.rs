//! SQL both backends run, written once.
//!
//! Statements use `$n` placeholders, which SQLite (through sqlx) and PostgreSQL both accept, and
//! `QueryBuilder` wherever a list is bound; the schema's types (TEXT, BIGINT, BOOLEAN, BLOB /
//! BYTEA, times) decode alike. The impls are generated per backend by [`neutral_sql!`] rather
//! than written as generic functions because a generic sqlx function needs executor, encode and
//! decode bounds for every type it touches that Rust cannot state once; a macro expanded for a
//! concrete backend needs none. The generic helpers below only build queries, which needs few.

mod accounts;
mod database;
pub mod projection;
mod projection_write;
mod recovery;

use zoufang_shared::CodeList;
use zoufang_shared::cursors::{Cursors, county_of};

use std::collections::BTreeMap;

use crate::{DbError, LogNumbering, OwnChanges, Role};

/// Generates every storage trait impl for a [`crate::Backend`] type: `neutral_sql!(SqliteDb)`.
#[macro_export]
macro_rules! neutral_sql {
    ($ty:ty) => {
        $crate::accounts_sql!($ty);
        $crate::database_sql!($ty);
        $crate::projection_sql!($ty);
        $crate::recovery_sql!($ty);
    };
}

/// Binds stay far below both backends' limits (SQLite 32766, PostgreSQL 65535).
pub const MAX_BINDS: usize = 30_000;

/// Ids bound in one `IN (…)` list: a whole sync request's households (at most 5,000 by default)
/// in one query, as PostgreSQL's `= ANY($1)` did before the SQL was shared; twice that (the
/// attachment check binds its list twice) stays far below both backends' limits.
pub const IDS_PER_QUERY: usize = 5_000;

/// Why an enrollment's upsert changed no row, from the `revoked` flag of the device id's row (if
/// any): a revoked id stays revoked, any other refusal is an id or actor taken by another user.
pub fn enroll_refused(revoked: Option<bool>) -> DbError {
    if revoked == Some(true) {
        DbError::Revoked
    } else {
        DbError::Duplicate
    }
}

/// Appends the pull filter over `changes` in `county`: after `after`, up to `upto`, not one of
/// `actor`'s numbered after `resent`, in one of the `scope` areas (which must not be empty).
///
/// "Code starts with p" is written as the range `p <= code < successor(p)`, which holds for
/// byte-order (SQLite BINARY, PostgreSQL "C") comparison, needs no LIKE escaping, and lets an
/// index on the code serve it.
pub fn push_log_filter<DB>(
    qb: &mut sqlx::QueryBuilder<DB>,
    county: &str,
    (after, upto): (i64, i64),
    own: OwnChanges<'_>,
    scope: &[String],
) where
    DB: sqlx::Database,
    <DB as sqlx::Database>::Arguments: Default,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    qb.push(" WHERE county = ")
        .push_bind(county.to_owned())
        .push(" AND seq > ")
        .push_bind(after)
        .push(" AND seq <= ")
        .push_bind(upto)
        .push(" AND (actor <> ")
        .push_bind(own.actor.to_owned())
        .push(" OR seq <= ")
        .push_bind(own.resent.at(county))
        .push(") AND (");
    push_any_prefix(qb, "area_code", scope);
    qb.push(")");
}

/// The counters of the counties the `scope` areas (which must not be empty) lie in, in county
/// order: a pull's first statement, which fixes its snapshot.
pub fn counters_query<DB>(scope: &[String]) -> sqlx::QueryBuilder<DB>
where
    DB: sqlx::Database,
    <DB as sqlx::Database>::Arguments: Default,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let counties: Vec<String> = scope.iter().map(|a| county_of(a).to_owned()).collect();
    let mut qb = sqlx::QueryBuilder::new("SELECT county, seq FROM log_counters WHERE ");
    push_any_prefix(&mut qb, "county", &counties);
    qb.push(" ORDER BY county");
    qb
}

/// Adds `$2` to county `$1`'s counter and returns its new value. A county's first numbers
/// follow the one counter of the log before it was numbered per county (`sync_state`, no longer
/// moved), so a device's cursor from then stays right in every county.
const BUMP_COUNTER: &str = "INSERT INTO log_counters (county, seq)
     SELECT $1, seq + $2 FROM sync_state WHERE id = 1
     ON CONFLICT (county) DO UPDATE SET seq = log_counters.seq + $2
     RETURNING seq";

/// Inside a sync's commit, bumps each county's counter by the numbers `numbering` needs there:
/// each county's counter after its bump, for [`LogNumbering::assign`]. On PostgreSQL each
/// counter row then stays locked until commit (that county's serialisation point), taken in
/// county order so two commits never hold one counter each while waiting for the other's;
/// SQLite's write lock is held already.
pub async fn bump_counters<DB>(
    conn: &mut DB::Connection,
    numbering: &LogNumbering,
) -> Result<BTreeMap<String, i64>, DbError>
where
    DB: sqlx::Database,
    <DB as sqlx::Database>::Arguments: Default + sqlx::IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    (i64,): for<'r> sqlx::FromRow<'r, DB::Row>,
{
    let mut ends = BTreeMap::new();
    for (county, n) in numbering.counties() {
        let end: i64 = sqlx::query_scalar(BUMP_COUNTER)
            .bind(county.to_owned())
            .bind(n)
            .fetch_one(&mut *conn)
            .await?;
        ends.insert(county.to_owned(), end);
    }
    Ok(ends)
}

/// The highest number the change log has handed out in any county: how far a backup or a
/// restore point reaches, for people to read (a device's position is per county).
pub const LOG_END: &str = "SELECT coalesce((SELECT max(seq) FROM log_counters),
                                           (SELECT seq FROM sync_state WHERE id = 1))";

/// A device's [`crate::DeviceAuth::own_resent`] map to store (JSON text).
pub fn cursors_to_json(cursors: &Cursors) -> String {
    let map: std::collections::BTreeMap<&str, i64> = cursors.iter().collect();
    serde_json::to_string(&map).unwrap_or_else(|_| unreachable!("a map of text to numbers"))
}

/// A device's [`crate::DeviceAuth::own_resent`] map as stored (JSON text).
pub fn cursors_from_json(text: &str) -> Result<Cursors, DbError> {
    serde_json::from_str(text).map_err(|e| DbError::Other(sqlx::Error::Decode(Box::new(e))))
}

/// The query for [`crate::ChangePage::gone`]: households with a move numbered in (`after`,
/// `upto`] of `county` out of one of the `scope` areas (which must not be empty), whose current
/// area is in none of them.
pub fn gone_query<DB>(
    county: &str,
    (after, upto): (i64, i64),
    scope: &[String],
) -> sqlx::QueryBuilder<DB>
where
    DB: sqlx::Database,
    <DB as sqlx::Database>::Arguments: Default,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut qb = sqlx::QueryBuilder::new(
        "SELECT DISTINCT m.household_id FROM household_moves m
         JOIN households h ON h.id = m.household_id WHERE m.county = ",
    );
    qb.push_bind(county.to_owned())
        .push(" AND m.seq > ")
        .push_bind(after)
        .push(" AND m.seq <= ")
        .push_bind(upto);
    for (column, negate) in [("m.from_area", false), ("h.area_code", true)] {
        qb.push(if negate { " AND NOT (" } else { " AND (" });
        push_any_prefix(&mut qb, column, scope);
        qb.push(")");
    }
    qb.push(" ORDER BY m.household_id");
    qb
}

/// The query for [`crate::Database::households_left`] (`old` must not be empty).
pub fn left_query<DB>(old: &[String], new: &[String]) -> sqlx::QueryBuilder<DB>
where
    DB: sqlx::Database,
    <DB as sqlx::Database>::Arguments: Default,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut qb = sqlx::QueryBuilder::new("SELECT h.id FROM households h WHERE (");
    push_any_prefix(&mut qb, "h.area_code", old);
    qb.push(" OR EXISTS (SELECT 1 FROM household_moves m WHERE m.household_id = h.id AND (");
    push_any_prefix(&mut qb, "m.from_area", old);
    qb.push(")))");
    if !new.is_empty() {
        qb.push(" AND NOT (");
        push_any_prefix(&mut qb, "h.area_code", new);
        qb.push(")");
    }
    qb.push(" ORDER BY h.id");
    qb
}

/// `column` starts with one of `prefixes` (which must not be empty), as ORed ranges.
pub fn push_any_prefix<DB>(qb: &mut sqlx::QueryBuilder<DB>, column: &str, prefixes: &[String])
where
    DB: sqlx::Database,
    <DB as sqlx::Database>::Arguments: Default,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    for (i, prefix) in prefixes.iter().enumerate() {
        if i > 0 {
            qb.push(" OR ");
        }
        push_prefix_range(qb, column, prefix);
    }
}

/// `(column >= prefix AND column < successor(prefix))`: the column starts with `prefix`.
pub fn push_prefix_range<DB>(qb: &mut sqlx::QueryBuilder<DB>, column: &str, prefix: &str)
where
    DB: sqlx::Database,
    <DB as sqlx::Database>::Arguments: Default,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    qb.push("(")
        .push(column)
        .push(" >= ")
        .push_bind(prefix.to_owned());
    if let Some(upper) = prefix_successor(prefix) {
        qb.push(" AND ").push(column).push(" < ").push_bind(upper);
    }
    qb.push(")");
}

/// Whether a statement failed because its table does not exist (SQLite's message; PostgreSQL's
/// SQLSTATE 42P01, undefined_table).
pub fn no_such_table(e: &dyn sqlx::error::DatabaseError) -> bool {
    e.code().as_deref() == Some("42P01") || e.message().starts_with("no such table")
}

/// The smallest string greater than every string starting with `prefix` in code-point order,
/// or `None` when no such string exists (an empty prefix, or one of only U+10FFFF).
pub fn prefix_successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match u32::from(last) + 1 {
            0xD800 => 0xE000,
            n => n,
        };
        if let Some(c) = char::from_u32(next) {
            chars.push(c);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// A unique-constraint violation becomes [`DbError::Duplicate`].
pub fn duplicate_on_unique(e: sqlx::Error) -> DbError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => DbError::Duplicate,
        _ => DbError::Other(e),
    }
}

pub fn parse_role(code: &str) -> Result<Role, DbError> {
    Role::parse(code)
        .map_err(|_| DbError::Other(sqlx::Error::Decode(format!("unknown role {code:?}").into())))
}

/// How many log rows a pull examines per query while filling a page.
pub const PAGE_SCAN_ROWS: i64 = 500;

#[cfg(test)]
mod tests {
    use super::prefix_successor;

    #[test]
    fn successor_bounds_exactly_the_prefixed_strings() {
        assert_eq!(prefix_successor("530921100").as_deref(), Some("530921101"));
        assert_eq!(prefix_successor("53092119").as_deref(), Some("5309211:"));
        assert_eq!(prefix_successor(""), None);
        assert_eq!(prefix_successor("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_successor("\u{D7FF}").as_deref(), Some("\u{E000}"));
        let upper = prefix_successor("530921100").expect("a successor");
        for code in ["530921100", "530921100201", "5309211009"] {
            assert!(code >= "530921100" && code < upper.as_str(), "{code}");
        }
        for code in ["530921101", "530921200101", "53092110", "5309210"] {
            assert!(!(code >= "530921100" && code < upper.as_str()), "{code}");
        }
    }
}
