//! The embedded backend: one SQLite file in WAL mode.
//!
//! SQLite has one writer at a time, so every write transaction starts with `BEGIN IMMEDIATE`:
//! it takes the write lock up front (waiting up to the busy timeout) instead of reading under a
//! shared lock and failing with SQLITE_BUSY when two transactions both try to upgrade it. With
//! the lock held, a sync's commit reads and bumps the change-log counter one row at a time; the
//! rest is `zoufang_storage`'s shared SQL.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, Sqlite, SqliteConnection};
use zoufang_storage::reexports::county_of;
use zoufang_storage::sql::projection::write_projections;
use zoufang_storage::{Backend, DbError, SyncWrite};

zoufang_storage::migrated_db!(
    SqliteDb,
    SqlitePool,
    "../../migrations/server-sqlite",
    "Opens (creating if missing) the database at a plain path or an `sqlite:` URL and brings \
     its schema up to date."
);

impl SqliteDb {
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
        .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            // No maintenance task (see `zoufang_storage_postgres::PgDb::connect`).
            .idle_timeout(None)
            .max_lifetime(None)
            // A COMMIT that fails (disk full) may leave sqlx believing a transaction is still
            // open when SQLite already rolled it back: its ROLLBACK then fails too, and the
            // connection would refuse every later write and run reads in a stale snapshot.
            // Such a connection is closed instead of going back to the pool.
            .after_release(|conn, _| {
                Box::pin(async move {
                    conn.ping().await?;
                    Ok(!conn.is_in_transaction())
                })
            })
            .connect_with(options)
            .await?;
        Ok(SqliteDb { pool })
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

    /// A time as the upload tables' `updated_at` default writes it, so that text order is time
    /// order.
    fn stamp(t: DateTime<Utc>) -> String {
        t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
    }

    fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    async fn commit(&self, write: &SyncWrite) -> Result<(), DbError> {
        if write.households.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin_with(Self::BEGIN_WRITE).await?;
        // Households whose area this batch changes: their logged changes move with them.
        let mut moved = Vec::new();
        for h in &write.households {
            if let Some(v) = h.expected_version {
                // The write lock is held: what this reads is what the update below replaces.
                let before: Option<String> = sqlx::query_scalar(
                    "SELECT area_code FROM households WHERE id = ? AND version = ?",
                )
                .bind(&h.id)
                .bind(v)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(from) = before.filter(|a| a != &h.area_code) {
                    moved.push((h, from));
                }
            }
            let done =
                match h.expected_version {
                    Some(v) => {
                        sqlx::query(
                            "UPDATE households
                         SET area_code = ?, doc = ?, version = version + 1,
                             updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                         WHERE id = ? AND version = ?",
                        )
                        .bind(&h.area_code)
                        .bind(&h.doc)
                        .bind(&h.id)
                        .bind(v)
                        .execute(&mut *tx)
                        .await?
                    }
                    None => sqlx::query(
                        "INSERT INTO households (id, area_code, doc, version) VALUES (?, ?, ?, 1)
                         ON CONFLICT (id) DO NOTHING",
                    )
                    .bind(&h.id)
                    .bind(&h.area_code)
                    .bind(&h.doc)
                    .execute(&mut *tx)
                    .await?,
                };
            if done.rows_affected() == 0 {
                tx.rollback().await?;
                return Err(DbError::Conflict);
            }
        }
        // A move within its county rewrites the area of the logged changes; one into another
        // county takes them out of the old county's log, to be numbered anew in the new one's.
        let mut relogged: Vec<(&str, &str, String, String, Vec<u8>)> = Vec::new();
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
                relogged.extend(rows.into_iter().map(|(_, hash, actor, bytes)| {
                    (h.id.as_str(), h.area_code.as_str(), hash, actor, bytes)
                }));
            }
        }
        write_projections::<Sqlite>(&mut tx, &write.projections()).await?;
        // The write lock is already held, so numbering only the rows actually inserted leaves
        // no gaps: each county's counter equals the highest number in its log.
        let mut log = CountyLog::default();
        for (id, area, hash, actor, bytes) in &relogged {
            log.append(&mut tx, id, area, hash, actor, bytes).await?;
        }
        for h in &write.households {
            for c in &h.changes {
                log.append(&mut tx, &h.id, &h.area_code, &c.hash, &c.actor, &c.bytes)
                    .await?;
            }
        }
        // Each move takes the next number of the county it left: a pull's cursor covers moves
        // as it covers changes.
        for (h, from) in &moved {
            let seq = log.next(&mut tx, county_of(from)).await?;
            sqlx::query(
                "INSERT INTO household_moves (county, seq, household_id, from_area, to_area)
                 VALUES (?, ?, ?, ?, ?)",
            )
            .bind(county_of(from))
            .bind(seq)
            .bind(&h.id)
            .bind(from)
            .bind(&h.area_code)
            .execute(&mut *tx)
            .await?;
        }
        log.save(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn lock_uploads(_: &mut SqliteConnection, _: &str) -> Result<(), DbError> {
        // BEGIN IMMEDIATE took the database's write lock.
        Ok(())
    }
}

/// The counters of the counties one commit logs in, read when first needed and written back
/// once; the write lock is held throughout.
#[derive(Default)]
struct CountyLog {
    /// County → its counter now.
    counters: std::collections::BTreeMap<String, i64>,
}

impl CountyLog {
    /// The next number of `county`'s log, taken.
    async fn next(&mut self, tx: &mut SqliteConnection, county: &str) -> Result<i64, DbError> {
        if !self.counters.contains_key(county) {
            // A county's first numbers follow the one counter of before (migration 0016).
            let now: i64 = sqlx::query_scalar(
                "SELECT coalesce((SELECT seq FROM log_counters WHERE county = ?),
                                 (SELECT seq FROM sync_state WHERE id = 1))",
            )
            .bind(county)
            .fetch_one(&mut *tx)
            .await?;
            self.counters.insert(county.to_owned(), now);
        }
        let seq = self.counters.entry(county.to_owned()).or_default();
        *seq += 1;
        Ok(*seq)
    }

    /// Logs a change of household `id` (now in `area`) unless the log has it.
    async fn append(
        &mut self,
        tx: &mut SqliteConnection,
        id: &str,
        area: &str,
        hash: &str,
        actor: &str,
        bytes: &[u8],
    ) -> Result<(), DbError> {
        let county = county_of(area);
        let seq = self.next(tx, county).await?;
        let done = sqlx::query(
            "INSERT INTO changes (county, seq, household_id, hash, actor, area_code, bytes)
             VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (household_id, hash) DO NOTHING",
        )
        .bind(county)
        .bind(seq)
        .bind(id)
        .bind(hash)
        .bind(actor)
        .bind(area)
        .bind(bytes)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            // Known already: the number goes back.
            if let Some(seq) = self.counters.get_mut(county) {
                *seq -= 1;
            }
        }
        Ok(())
    }

    async fn save(self, tx: &mut SqliteConnection) -> Result<(), DbError> {
        for (county, seq) in self.counters {
            sqlx::query(
                "INSERT INTO log_counters (county, seq) VALUES (?, ?)
                 ON CONFLICT (county) DO UPDATE SET seq = excluded.seq",
            )
            .bind(county)
            .bind(seq)
            .execute(&mut *tx)
            .await?;
        }
        Ok(())
    }
}
