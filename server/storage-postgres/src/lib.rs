//! The PostgreSQL backend, for several server processes sharing one database.
//!
//! Why a pull never misses a change. The log is numbered per county, each county by a counter
//! row of its own (`log_counters`); what follows holds in each county on its own.
//!
//! 1. A sync write updates its households first and then, as its last statements, adds n to the
//!    counter row of each county it logs in (in county order, so two writers never wait for
//!    each other crosswise) and inserts its n log rows there numbered just above the counter's
//!    old value. The counter row stays locked until the transaction ends, so the next writer's
//!    counter update in that county waits for this commit (or rollback) and then builds on its
//!    result. Hence a county's numbers are handed out in commit order: when a transaction
//!    holding numbers up to C commits, every transaction holding a number below C in that
//!    county has already committed (a rolled back one leaves the counter as it was, so its
//!    numbers are reissued, not lost).
//! 2. A pull reads the counters of its counties first, in one statement of a REPEATABLE READ
//!    transaction, so its snapshot is taken by that read. If the snapshot shows counter value C
//!    for a county, the transaction that set C is committed in it, and by 1. so is every log
//!    row of the county numbered C or less; no such row can appear later. Rows above C are
//!    invisible and ignored.
//! 3. The pull therefore reads the county's rows in (cursor, C] and may move the county's
//!    cursor to C once it has passed all of them, even those its scope or actor filter dropped;
//!    when the page fills up first, the cursor stops at the last row sent, and the counties
//!    after it keep their cursors.
//!
//! 4. A sync that moves a household to another area of its county also rewrites the
//!    `area_code` of its logged changes, in its own transaction and under the household's row
//!    lock (which every writer of that household's log rows holds), so a snapshot sees the
//!    whole log of a household in one area, before the move or after it. Pulls filter by the
//!    household's current area: the history of a household that moved away stops flowing; one
//!    that moved in is pulled whole from cursor 0, and a device past it asks for the whole
//!    document (`want_full`). A move into another county takes the logged changes out of the
//!    old county's log and numbers them anew in the new one's, so they reach its devices above
//!    their cursors.
//!
//! 5. The same sync logs each move (`household_moves`) in the county it left, under a number
//!    drawn with that county's changes, so 1.-3. hold for moves too: a pull lists the
//!    households that left its scope in (cursor, new cursor] and no later page can reveal an
//!    earlier move.
//!
//! A sequence (`nextval`) would break 1.: it hands out numbers at call time, and a writer that
//! drew 7 may commit after one that drew 8 and was already pulled past.

mod projection;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{PgConnection, Postgres};
use zoufang_storage::recent::{Logged, RecentLog};
use zoufang_storage::reexports::county_of;
use zoufang_storage::sql::bump_counters;
use zoufang_storage::sql::projection::{Statements, leave_counties};
use zoufang_storage::{Backend, DbError, HouseholdWrite, LogNumbering, SyncWrite};

/// `base` (a `postgres://` URL) with its database name replaced by `name`: scratch databases
/// of tests and benchmarks live beside the one configured.
pub fn with_database(base: &str, name: &str) -> String {
    let (rest, query) = match base.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (base, None),
    };
    let server = match rest.rsplit_once('/') {
        Some((server, _)) if server.contains("//") && !server.ends_with('/') => server,
        _ => rest.trim_end_matches('/'),
    };
    match query {
        Some(q) => format!("{server}/{name}?{q}"),
        None => format!("{server}/{name}"),
    }
}

zoufang_storage::migrated_db!(
    PgDb,
    PgPool,
    "../../migrations/server-postgres",
    "Connects and brings the schema up to date. Several processes may do this at once: the \
     migrator serialises them with an advisory lock."
);

impl PgDb {
    /// Connects to the database as it is (a serving replica checks the schema, see
    /// [`zoufang_storage::Database::applied_migrations`]).
    pub async fn open(url: &str) -> Result<PgDb, DbError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            // No maintenance task: sqlx 0.9.0's can read a transiently wrapped idle count and
            // spin a worker thread forever (seen in the fault suite's long runs).
            .idle_timeout(None)
            .max_lifetime(None)
            .connect(url)
            .await?;
        Ok(PgDb {
            pool,
            recent: Default::default(),
        })
    }
}

zoufang_storage::neutral_sql!(PgDb);

impl Backend for PgDb {
    type Db = Postgres;
    type Stamp = DateTime<Utc>;

    const BEGIN_WRITE: &'static str = "BEGIN";
    // The snapshot is taken by the counter read, the first statement (module comment, 2.).
    const BEGIN_SNAPSHOT: &'static str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
    const FOR_UPDATE: &'static str = " FOR UPDATE";
    const STATEMENTS: Statements = Statements::Each;

    fn stamp(t: DateTime<Utc>) -> DateTime<Utc> {
        t
    }

    fn pool(&self) -> &PgPool {
        &self.pool
    }

    fn recent(&self) -> &RecentLog {
        &self.recent
    }

    async fn commit(&self, write: &SyncWrite) -> Result<Vec<Logged>, DbError> {
        if write.households.is_empty() {
            return Ok(Vec::new());
        }
        // READ COMMITTED: a household update that waited for a concurrent writer re-checks the
        // version against the committed row, so a moved version shows as 0 rows (Conflict)
        // rather than a serialization failure.
        let mut tx = self.pool.begin().await?;
        // Row locks in id order, so two batches sharing households cannot deadlock: first the
        // updated rows, then the new keys. A batch waits for another's new key only once its
        // own updates are done, so no two batches can each wait for the other.
        let mut by_id: Vec<&HouseholdWrite> = write.households.iter().collect();
        by_id.sort_by(|a, b| a.id.cmp(&b.id));
        // Households whose area this batch changes: their logged changes move with them.
        let (mut moved_ids, mut moved_areas) = (Vec::<&str>::new(), Vec::<&str>::new());
        // The areas they left, for the move log.
        let mut moved_from = Vec::<String>::new();
        for h in &by_id {
            let Some(v) = h.expected_version else {
                continue;
            };
            let county = county_of(&h.area_code);
            // Within its county, one statement that names it. The CTE reads the statement's
            // snapshot, and the update goes through only if the row still has that version when
            // locked, so `before` is the area this update replaces (NULL only when the update
            // fails).
            let before: Option<Option<String>> = sqlx::query_scalar(
                "WITH before AS (
                     SELECT area_code FROM households
                     WHERE county = $5 AND id = $3 AND version = $4
                 )
                 UPDATE households
                 SET area_code = $1, doc = $2, version = version + 1, updated_at = now()
                 WHERE county = $5 AND id = $3 AND version = $4
                 RETURNING (SELECT area_code FROM before)",
            )
            .bind(&h.area_code)
            .bind(&h.doc)
            .bind(&h.id)
            .bind(v)
            .bind(county)
            .fetch_optional(&mut *tx)
            .await?;
            let before = match before {
                Some(before) => Some(before),
                None => moved_in(&mut tx, h, v).await?.map(Some),
            };
            let Some(before) = before else {
                tx.rollback().await?;
                return Err(DbError::Conflict);
            };
            if let Some(from) = before
                && from != h.area_code
            {
                moved_ids.push(&h.id);
                moved_areas.push(&h.area_code);
                moved_from.push(from);
            }
        }
        // The new households in one statement (each its own was a third of a W3 commit's
        // statements), inserted in id order as the arrays give them.
        let mut created = NewHouseholds::default();
        for h in by_id.iter().filter(|h| h.expected_version.is_none()) {
            created.push(h);
        }
        if !created.id.is_empty() {
            let done = sqlx::query(
                "INSERT INTO households (county, id, area_code, doc, version)
                 SELECT t.*, 1 FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[]) AS t
                 ON CONFLICT DO NOTHING",
            )
            .bind(&created.county)
            .bind(&created.id)
            .bind(&created.area_code)
            .bind(&created.doc)
            .execute(&mut *tx)
            .await?;
            // Another writer created one of them first.
            if done.rows_affected() != created.id.len() as u64 {
                tx.rollback().await?;
                return Err(DbError::Conflict);
            }
        }
        // Which changes the log already has. Every log insert for a household happens in a
        // transaction that also wrote the household row, and this one now holds those rows'
        // locks, so the answer cannot go stale before commit. Filtering here (not with
        // ON CONFLICT under the counter lock) keeps the locked section short and the
        // numbering free of gaps.
        let (ids, hashes): (Vec<&str>, Vec<&str>) = write
            .changes()
            .map(|(h, c)| (h.id.as_str(), c.hash.as_str()))
            .unzip();
        let known: Vec<(String, String)> = if ids.is_empty() {
            Vec::new()
        } else {
            sqlx::query_as(
                "SELECT c.household_id, c.hash
             FROM changes c
             JOIN unnest($1::text[], $2::text[]) AS t(household_id, hash)
               ON c.household_id = t.household_id AND c.hash = t.hash",
            )
            .bind(&ids)
            .bind(&hashes)
            .fetch_all(&mut *tx)
            .await?
        };

        // Under the row locks of the moved households: no other writer logs a change of theirs
        // until this commits, and a pull sees their log either before or after the move. A
        // move within its county rewrites the area of the logged changes; one into another
        // county takes them out of the old county's log, to be numbered anew in the new one's.
        let (mut within, mut across) = (Vec::<usize>::new(), Vec::<usize>::new());
        for (i, (from, to)) in moved_from.iter().zip(&moved_areas).enumerate() {
            if county_of(from) == county_of(to) {
                within.push(i);
            } else {
                across.push(i);
            }
        }
        if !within.is_empty() {
            let ids: Vec<&str> = within.iter().map(|&i| moved_ids[i]).collect();
            let areas: Vec<&str> = within.iter().map(|&i| moved_areas[i]).collect();
            sqlx::query(
                "UPDATE changes c SET area_code = t.area_code
                 FROM unnest($1::text[], $2::text[]) AS t(household_id, area_code)
                 WHERE c.household_id = t.household_id AND c.area_code <> t.area_code",
            )
            .bind(&ids)
            .bind(&areas)
            .execute(&mut *tx)
            .await?;
        }
        // (old number, household, hash, actor, bytes, new area) of each row to log anew.
        type Relogged = (i64, String, String, String, Vec<u8>, String);
        let mut relogged: Vec<Relogged> = Vec::new();
        if !across.is_empty() {
            let ids: Vec<&str> = across.iter().map(|&i| moved_ids[i]).collect();
            let areas: Vec<&str> = across.iter().map(|&i| moved_areas[i]).collect();
            relogged = sqlx::query_as(
                "DELETE FROM changes c
                 USING unnest($1::text[], $2::text[]) AS t(household_id, area_code)
                 WHERE c.household_id = t.household_id
                 RETURNING c.seq, c.household_id, c.hash, c.actor, c.bytes, t.area_code",
            )
            .bind(&ids)
            .bind(&areas)
            .fetch_all(&mut *tx)
            .await?;
            // The old log order is the dependency order; RETURNING promises none.
            relogged.sort_by(|a, b| (&a.1, a.0).cmp(&(&b.1, b.0)));
        }
        // Under the household row locks just taken, so two writers of one household cannot
        // interleave their projection rows. A household from another county leaves its rows
        // there and has all of them written in its new one.
        let mut projections = write.projections();
        let moves: Vec<(&str, &str)> = moved_ids
            .iter()
            .zip(&moved_from)
            .map(|(id, from)| (*id, from.as_str()))
            .collect();
        leave_counties::<Postgres>(&mut tx, &mut projections, &moves, Self::STATEMENTS).await?;
        projection::write_projections(&mut tx, &projections).await?;

        let mut new = NewRows::default();
        for (_, household_id, hash, actor, bytes, area) in &relogged {
            new.push(household_id, hash, actor, area, bytes);
        }
        for (h, c) in write.unlogged(&known) {
            new.push(&h.id, &c.hash, &c.actor, &h.area_code, &c.bytes);
        }
        let move_counties: Vec<&str> = moved_from.iter().map(|a| county_of(a)).collect();
        let mut logged = Vec::new();
        if !new.hash.is_empty() || !move_counties.is_empty() {
            let numbering =
                LogNumbering::new(new.county.iter().copied(), move_counties.iter().copied());
            // From the first bump to commit each county's counter row is locked: that county's
            // serialisation point (module comment, 1.-3.).
            let ends = bump_counters::<Postgres>(&mut tx, &numbering).await?;
            let (seqs, move_seqs) = numbering.assign(
                &ends,
                new.county.iter().copied(),
                move_counties.iter().copied(),
            );
            if !move_seqs.is_empty() {
                sqlx::query(
                    "INSERT INTO household_moves (county, seq, household_id, from_area, to_area)
                     SELECT * FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[], $5::text[])",
                )
                .bind(&move_counties)
                .bind(&move_seqs)
                .bind(&moved_ids)
                .bind(&moved_from)
                .bind(&moved_areas)
                .execute(&mut *tx)
                .await?;
            }
            if !seqs.is_empty() {
                sqlx::query(
                    "INSERT INTO changes
                         (county, seq, household_id, hash, actor, area_code, bytes, size)
                     SELECT * FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[],
                                          $5::text[], $6::text[], $7::bytea[], $8::int8[])
                     ON CONFLICT (household_id, hash) DO NOTHING",
                )
                .bind(&new.county)
                .bind(&seqs)
                .bind(&new.household_id)
                .bind(&new.hash)
                .bind(&new.actor)
                .bind(&new.area_code)
                .bind(&new.bytes)
                .bind(&new.size)
                .execute(&mut *tx)
                .await?;
                // A row the conflict clause skipped leaves its number unused: no pull picks
                // it, so remembering it is harmless.
                logged = new.logged(&seqs);
            }
        }
        tx.commit().await?;
        Ok(logged)
    }

    async fn lock_uploads(conn: &mut PgConnection, device_id: &str) -> Result<(), DbError> {
        // A lock of two keys never meets the migrator's one-key lock.
        sqlx::query("SELECT pg_advisory_xact_lock(16, hashtext($1))")
            .bind(device_id)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}

/// Columns of the households one commit creates, bound as arrays.
#[derive(Default)]
struct NewHouseholds<'a> {
    county: Vec<&'a str>,
    id: Vec<&'a str>,
    area_code: Vec<&'a str>,
    doc: Vec<&'a [u8]>,
}

impl<'a> NewHouseholds<'a> {
    fn push(&mut self, h: &'a HouseholdWrite) {
        self.county.push(county_of(&h.area_code));
        self.id.push(&h.id);
        self.area_code.push(&h.area_code);
        self.doc.push(&h.doc);
    }
}

/// Columns of the log rows one commit inserts, bound as arrays.
#[derive(Default)]
struct NewRows<'a> {
    county: Vec<&'a str>,
    household_id: Vec<&'a str>,
    hash: Vec<&'a str>,
    actor: Vec<&'a str>,
    area_code: Vec<&'a str>,
    bytes: Vec<&'a [u8]>,
    size: Vec<i64>,
}

impl<'a> NewRows<'a> {
    fn push(
        &mut self,
        household_id: &'a str,
        hash: &'a str,
        actor: &'a str,
        area: &'a str,
        bytes: &'a [u8],
    ) {
        self.county.push(county_of(area));
        self.household_id.push(household_id);
        self.hash.push(hash);
        self.actor.push(actor);
        self.area_code.push(area);
        self.bytes.push(bytes);
        self.size.push(bytes.len() as i64);
    }

    /// The rows as numbered by `seqs`, for [`RecentLog::remember`].
    fn logged(&self, seqs: &[i64]) -> Vec<Logged> {
        seqs.iter()
            .enumerate()
            .map(|(i, seq)| Logged {
                county: self.county[i].into(),
                seq: *seq,
                household_id: self.household_id[i].into(),
                bytes: self.bytes[i].to_vec(),
            })
            .collect()
    }
}

/// The update of `h` found no row at `version` in its new county: if the row is at that version
/// in another county, `h` moved from there. The row leaves that county and is written anew in
/// this one (a table distributed by county cannot move a row by updating its key), and the
/// area it had is returned; `None` when the version moved (a conflict).
async fn moved_in(
    tx: &mut PgConnection,
    h: &HouseholdWrite,
    version: i64,
) -> Result<Option<String>, DbError> {
    let county = county_of(&h.area_code);
    let from: Option<String> = sqlx::query_scalar(
        "DELETE FROM households WHERE id = $1 AND version = $2 AND county <> $3
         RETURNING area_code",
    )
    .bind(&h.id)
    .bind(version)
    .bind(county)
    .fetch_optional(&mut *tx)
    .await?;
    if from.is_some() {
        sqlx::query(
            "INSERT INTO households (county, id, area_code, doc, version)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(county)
        .bind(&h.id)
        .bind(&h.area_code)
        .bind(&h.doc)
        .bind(version + 1)
        .execute(&mut *tx)
        .await?;
    }
    Ok(from)
}
