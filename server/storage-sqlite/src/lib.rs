//! The embedded backend: one SQLite file in WAL mode.
//!
//! SQLite has one writer at a time, so every write transaction starts with `BEGIN IMMEDIATE`:
//! it takes the write lock up front (waiting up to the busy timeout) instead of reading under a
//! shared lock and failing with SQLITE_BUSY when two transactions both try to upgrade it. With
//! the lock held, a sync's commit numbers its log rows as PostgreSQL's does (`LogNumbering`,
//! `sql::bump_counters`) and writes them in a few statements of many rows; the rest is
//! `zoufang_storage`'s shared SQL.

use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, QueryBuilder, Sqlite, SqliteConnection};
use zoufang_storage::recent::{Logged, RecentLog};
use zoufang_storage::reexports::county_of;
use zoufang_storage::sql::projection::{Statements, leave_counties, write_projections};
use zoufang_storage::sql::{MAX_BINDS, bump_counters};
use zoufang_storage::{Backend, DbError, HouseholdWrite, LogNumbering, NewChange, SyncWrite};

zoufang_storage::migrated_db!(
    SqliteDb,
    SqlitePool,
    "../../migrations/server-sqlite",
    "Opens (creating if missing) the database at a plain path or an `sqlite:` URL and brings \
     its schema up to date."
);

/// Pages (4 kB) of write-ahead log after which the commit that crosses the mark copies the log
/// into the database file itself (SQLite's default is 1,000).
const WAL_AUTOCHECKPOINT_PAGES: u32 = 10_000;

impl SqliteDb {
    /// Copies the write-ahead log's committed pages into the database file, waiting for no
    /// reader or writer (`PASSIVE`). Left to SQLite, the commit that crosses the threshold does
    /// it: that commit's request then waits for the copy and its fsync, and a small threshold
    /// writes the same hot pages (indexes, the counter) again and again. A serving process
    /// calls this once a second from a task of its own instead.
    pub async fn checkpoint(&self) -> Result<(), DbError> {
        sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Opens (creating if missing) the database at a plain path or an `sqlite:` URL as it is.
    pub async fn open(url_or_path: &str) -> Result<SqliteDb, DbError> {
        let options = if url_or_path.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(url_or_path)?
        } else {
            SqliteConnectOptions::new().filename(url_or_path)
        }
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // FULL: an acknowledged sync must survive a power cut, not only a process crash.
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        // The backstop: a serving process copies the log into the file once a second
        // ([`SqliteDb::checkpoint`]), so this is crossed only by other processes (the CLI's
        // imports and reindex) and by a checkpointer that falls behind.
        .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES.to_string())
        .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            // No maintenance task (see `zoufang_storage_postgres::PgDb::connect`).
            .idle_timeout(None)
            .max_lifetime(None)
            // A connection to a local file does not drop as one over a network does: no ping
            // (a round trip to the connection's thread) before each use; a broken one fails
            // its first statement instead.
            .test_before_acquire(false)
            // A COMMIT that fails (disk full) may leave sqlx believing a transaction is still
            // open when SQLite already rolled it back: its ROLLBACK then fails too, and the
            // connection would refuse every later write and run reads in a stale snapshot.
            // Such a connection is closed instead of going back to the pool. A connection
            // that no transaction left open is kept as it is: a rollback still queued on its
            // thread (a dropped transaction) counts as open until it has run, and the ping
            // that waits for it would otherwise cost every release a round trip to that thread.
            .after_release(|conn, _| {
                Box::pin(async move {
                    if !conn.is_in_transaction() {
                        return Ok(true);
                    }
                    conn.ping().await?;
                    Ok(!conn.is_in_transaction())
                })
            })
            .connect_with(options)
            .await?;
        Ok(SqliteDb {
            pool,
            recent: Default::default(),
        })
    }
}

zoufang_storage::neutral_sql!(SqliteDb);

impl Backend for SqliteDb {
    type Db = Sqlite;
    type Stamp = String;

    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    // One read transaction is one WAL snapshot; writers are serialised and bump the counter in
    // the same transaction as their log rows.
    const BEGIN_SNAPSHOT: &'static str = "BEGIN";
    const FOR_UPDATE: &'static str = "";
    const STATEMENTS: Statements = Statements::Joined;

    /// A time as the upload tables' `updated_at` default writes it, so that text order is time
    /// order.
    fn stamp(t: DateTime<Utc>) -> String {
        t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
    }

    fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    fn recent(&self) -> &RecentLog {
        &self.recent
    }

    async fn commit(&self, write: &SyncWrite) -> Result<Vec<Logged>, DbError> {
        if write.households.is_empty() {
            return Ok(Vec::new());
        }
        // Statements go one at a time to the connection's thread and the write lock is held
        // throughout, so a commit is written in few statements of many rows: the other
        // requests' commits wait for this one, not for its statement count.
        let mut tx = self.pool.begin_with(Self::BEGIN_WRITE).await?;
        // The write lock is held: the areas read here are the ones the updates below replace.
        let updated: Vec<&HouseholdWrite> = write
            .households
            .iter()
            .filter(|h| h.expected_version.is_some())
            .collect();
        let mut areas_before = std::collections::HashMap::new();
        for chunk in updated.chunks(MAX_BINDS / 2) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "SELECT id, area_code FROM households WHERE (id, version) IN (",
            );
            qb.push_values(chunk, |mut row, h| {
                row.push_bind(&h.id).push_bind(h.expected_version);
            });
            qb.push(")");
            let rows: Vec<(String, String)> = qb.build_query_as().fetch_all(&mut *tx).await?;
            areas_before.extend(rows);
        }
        // Households whose area this batch changes: their logged changes move with them.
        let mut moved = Vec::new();
        // Many rows to a statement, as the inserts below: each statement is a round trip to
        // the connection's thread while the write lock is held.
        for chunk in updated.chunks(MAX_BINDS / 4) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "UPDATE households
                 SET area_code = v.column2, doc = v.column3, version = version + 1,
                     updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                 FROM (",
            );
            qb.push_values(chunk, |mut row, h| {
                row.push_bind(&h.id)
                    .push_bind(&h.area_code)
                    .push_bind(&h.doc)
                    .push_bind(h.expected_version);
            });
            qb.push(") AS v WHERE households.id = v.column1 AND households.version = v.column4");
            let done = qb.build().execute(&mut *tx).await?;
            // Another writer moved one of them.
            if done.rows_affected() != chunk.len() as u64 {
                tx.rollback().await?;
                return Err(DbError::Conflict);
            }
        }
        for h in &updated {
            if let Some(from) = areas_before.remove(&h.id).filter(|a| a != &h.area_code) {
                moved.push((*h, from));
            }
        }
        let created: Vec<&HouseholdWrite> = write
            .households
            .iter()
            .filter(|h| h.expected_version.is_none())
            .collect();
        for chunk in created.chunks(MAX_BINDS / 3) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "INSERT INTO households (id, area_code, doc, version) ",
            );
            qb.push_values(chunk, |mut row, h| {
                row.push_bind(&h.id)
                    .push_bind(&h.area_code)
                    .push_bind(&h.doc)
                    .push_unseparated(", 1");
            });
            qb.push(" ON CONFLICT (id) DO NOTHING");
            let done = qb.build().execute(&mut *tx).await?;
            // Another writer created one of them first.
            if done.rows_affected() != chunk.len() as u64 {
                tx.rollback().await?;
                return Err(DbError::Conflict);
            }
        }
        // A move within its county rewrites the area of the logged changes; one into another
        // county takes them out of the old county's log, to be numbered anew in the new one's.
        let mut relogged: Vec<LogRow> = Vec::new();
        for (h, from) in &moved {
            if county_of(from) == county_of(&h.area_code) {
                sqlx::query(
                    "UPDATE changes SET area_code = ? WHERE household_id = ? AND area_code <> ?",
                )
                .bind(&h.area_code)
                .bind(&h.id)
                .bind(&h.area_code)
                .execute(&mut *tx)
                .await?;
            } else {
                let mut rows: Vec<(i64, String, String, Vec<u8>)> = sqlx::query_as(
                    "DELETE FROM changes WHERE household_id = ? RETURNING seq, hash, actor, bytes",
                )
                .bind(&h.id)
                .fetch_all(&mut *tx)
                .await?;
                // The log order is the dependency order; RETURNING promises none.
                rows.sort_by_key(|r| r.0);
                relogged.extend(rows.into_iter().map(|(_, hash, actor, bytes)| LogRow {
                    household_id: &h.id,
                    area: &h.area_code,
                    hash: hash.into(),
                    actor: actor.into(),
                    bytes: bytes.into(),
                }));
            }
        }
        let mut projections = write.projections();
        let moves: Vec<(&str, &str)> = moved
            .iter()
            .map(|(h, from)| (h.id.as_str(), from.as_str()))
            .collect();
        leave_counties::<Sqlite>(&mut tx, &mut projections, &moves, Self::STATEMENTS).await?;
        write_projections::<Sqlite>(&mut tx, &projections, Self::STATEMENTS).await?;
        // The changes the log has already are skipped (a household's log and its row are
        // written in one transaction, and the write lock is held, so this cannot go stale);
        // numbering only the rest leaves no gaps: each county's counter equals the highest
        // number in its log.
        let pushed: Vec<(&HouseholdWrite, &NewChange)> = write.changes().collect();
        let mut known: Vec<(String, String)> = Vec::new();
        for chunk in pushed.chunks(MAX_BINDS / 2) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "SELECT household_id, hash FROM changes WHERE (household_id, hash) IN (",
            );
            qb.push_values(chunk, |mut row, (h, c)| {
                row.push_bind(&h.id).push_bind(&c.hash);
            });
            qb.push(")");
            known.extend(qb.build_query_as().fetch_all(&mut *tx).await?);
        }
        let mut rows = relogged;
        rows.extend(write.unlogged(&known).into_iter().map(|(h, c)| LogRow {
            household_id: &h.id,
            area: &h.area_code,
            hash: c.hash.as_str().into(),
            actor: c.actor.as_str().into(),
            bytes: c.bytes.as_slice().into(),
        }));
        // Each county numbers its changes, then its moves (a pull's cursor covers moves as it
        // covers changes), above its counter as bumped here.
        let move_counties: Vec<&str> = moved.iter().map(|(_, from)| county_of(from)).collect();
        let numbering = LogNumbering::new(
            rows.iter().map(|r| county_of(r.area)),
            move_counties.iter().copied(),
        );
        let ends = bump_counters::<Sqlite>(&mut tx, &numbering).await?;
        let (seqs, move_seqs) = numbering.assign(
            &ends,
            rows.iter().map(|r| county_of(r.area)),
            move_counties.iter().copied(),
        );
        let numbered: Vec<(i64, &LogRow)> = seqs.into_iter().zip(&rows).collect();
        for chunk in numbered.chunks(MAX_BINDS / 8) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "INSERT INTO changes (county, seq, household_id, hash, actor, area_code, bytes, \
                 size) ",
            );
            qb.push_values(chunk, |mut row, (seq, r)| {
                row.push_bind(county_of(r.area))
                    .push_bind(*seq)
                    .push_bind(r.household_id)
                    .push_bind(r.hash.as_ref())
                    .push_bind(r.actor.as_ref())
                    .push_bind(r.area)
                    .push_bind(r.bytes.as_ref())
                    .push_bind(r.bytes.len() as i64);
            });
            qb.build().execute(&mut *tx).await?;
        }
        for (((h, from), county), seq) in moved.iter().zip(&move_counties).zip(move_seqs) {
            sqlx::query(
                "INSERT INTO household_moves (county, seq, household_id, from_area, to_area)
                 VALUES (?, ?, ?, ?, ?)",
            )
            .bind(county)
            .bind(seq)
            .bind(&h.id)
            .bind(from)
            .bind(&h.area_code)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(numbered
            .into_iter()
            .map(|(seq, r)| Logged {
                county: county_of(r.area).into(),
                seq,
                household_id: r.household_id.into(),
                bytes: r.bytes.to_vec(),
            })
            .collect())
    }

    async fn lock_uploads(_: &mut SqliteConnection, _: &str) -> Result<(), DbError> {
        // BEGIN IMMEDIATE took the database's write lock.
        Ok(())
    }
}

/// A row a commit adds to the change log: a pushed change, or a logged one numbered anew.
struct LogRow<'a> {
    household_id: &'a str,
    area: &'a str,
    hash: Cow<'a, str>,
    actor: Cow<'a, str>,
    bytes: Cow<'a, [u8]>,
}
