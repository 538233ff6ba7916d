//! The PostgreSQL backend, for several server processes sharing one database.
//!
//! Why a pull never misses a change:
//!
//! 1. A sync write updates its households first and then, as its last statements, adds n to the
//!    one counter row (`sync_state`) and inserts its n log rows numbered just above the
//!    counter's old value. The counter row stays locked until the transaction ends, so the next
//!    writer's counter update waits for this commit (or rollback) and then builds on its result.
//!    Hence numbers are handed out in commit order: when a transaction holding numbers up to C
//!    commits, every transaction holding a number below C has already committed (a rolled back
//!    one leaves the counter as it was, so its numbers are reissued, not lost).
//! 2. A pull reads the counter first, in a REPEATABLE READ transaction, so its snapshot is taken
//!    by that read. If the snapshot shows counter value C, the transaction that set C is
//!    committed in it, and by 1. so is every log row numbered C or less; no such row can appear
//!    later. Rows above C are invisible and ignored.
//! 3. The pull therefore reads the rows in (cursor, C] and may move the cursor to C once it has
//!    passed all of them, even those its scope or actor filter dropped; when the page fills up
//!    first, the cursor stops at the last row sent.
//!
//! 4. A sync that moves a household to another area also rewrites the `area_code` of its logged
//!    changes, in its own transaction and under the household's row lock (which every writer of
//!    that household's log rows holds), so a snapshot sees the whole log of a household in one
//!    area, before the move or after it. Pulls filter by the household's current area: the
//!    history of a household that moved away stops flowing; one that moved in is pulled whole
//!    from cursor 0, and a device past it asks for the whole document (`want_full`).
//!
//! 5. The same sync logs each move (`household_moves`) under a number drawn with its changes'
//!    in the one counter update, so 1.-3. hold for moves too: a pull lists the households that
//!    left its scope in (cursor, new cursor] and no later page can reveal an earlier move.
//!
//! A sequence (`nextval`) would break 1.: it hands out numbers at call time, and a writer that
//! drew 7 may commit after one that drew 8 and was already pulled past.

use std::collections::{HashMap, HashSet};
use zoufang_shared::CodeList;

use chrono::{DateTime, Utc};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, QueryBuilder};

use super::{
    Append, Area, AttachmentState, ChangePage, Database, DbError, DeviceAuth, HouseholdWrite,
    LoggedChange, NewDevice, NewUser, OwnChanges, PAGE_SCAN_ROWS, StoredAttachment,
    StoredHousehold, SyncWrite, UploadChunk, User, duplicate_on_unique, gone_query, left_query,
    parse_role, push_log_filter,
};

mod projection {
    super::super::projection_sql::projection_sql!(
        super::PgDb,
        sqlx::Postgres,
        " FOR UPDATE",
        "BEGIN"
    );
}

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

static MIGRATOR: Migrator = sqlx::migrate!("../migrations/server-postgres");

#[derive(Clone, Debug)]
pub struct PgDb {
    pool: PgPool,
}

type UserRow = (i64, String, String, String, String, bool);

impl PgDb {
    /// Connects and brings the schema up to date. Several processes may do this at once: the
    /// migrator serialises them with an advisory lock.
    pub async fn connect(url: &str) -> Result<PgDb, DbError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            // No maintenance task: sqlx 0.9.0's can read a transiently wrapped idle count and
            // spin a worker thread forever (seen in the fault suite's long runs).
            .idle_timeout(None)
            .max_lifetime(None)
            .connect(url)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(PgDb { pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn areas_of(&self, user_id: i64) -> Result<Vec<String>, DbError> {
        Ok(sqlx::query_scalar(
            "SELECT area_code FROM user_areas WHERE user_id = $1 ORDER BY area_code",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn user_from_row(&self, row: UserRow) -> Result<User, DbError> {
        let (id, username, display_name, password_hash, role, disabled) = row;
        Ok(User {
            id,
            username,
            display_name,
            password_hash,
            role: parse_role(&role)?,
            disabled,
            areas: self.areas_of(id).await?,
        })
    }
}

impl Database for PgDb {
    async fn upsert_areas(&self, areas: &[Area]) -> Result<usize, DbError> {
        let mut tx = self.pool.begin().await?;
        let mut count = 0;
        for a in areas {
            count += sqlx::query(
                "INSERT INTO areas (code, name, parent, level) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (code) DO UPDATE
                 SET name = excluded.name, parent = excluded.parent, level = excluded.level",
            )
            .bind(&a.code)
            .bind(&a.name)
            .bind(&a.parent)
            .bind(&a.level)
            .execute(&mut *tx)
            .await?
            .rows_affected() as usize;
        }
        tx.commit().await?;
        Ok(count)
    }

    async fn areas(&self) -> Result<Vec<Area>, DbError> {
        let rows: Vec<(String, String, Option<String>, String)> =
            sqlx::query_as("SELECT code, name, parent, level FROM areas ORDER BY code")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(code, name, parent, level)| Area {
                code,
                name,
                parent,
                level,
            })
            .collect())
    }

    async fn create_user(&self, user: &NewUser) -> Result<i64, DbError> {
        let mut tx = self.pool.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (username, display_name, password_hash, role)
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(&user.username)
        .bind(&user.display_name)
        .bind(&user.password_hash)
        .bind(user.role.code())
        .fetch_one(&mut *tx)
        .await
        .map_err(duplicate_on_unique)?;
        sqlx::query(
            "INSERT INTO user_areas (user_id, area_code)
             SELECT $1, code FROM unnest($2::text[]) AS t(code)
             ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(&user.areas)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn set_user_areas(&self, username: &str, areas: &[String]) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&mut *tx)
            .await?;
        let id = id.ok_or(DbError::NotFound)?;
        let old: Vec<String> =
            sqlx::query_scalar("SELECT area_code FROM user_areas WHERE user_id = $1")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
        let (key, joined) = crate::areas::past_scope_row(&old);
        sqlx::query(
            "INSERT INTO past_scopes (scope_key, areas) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(key)
        .bind(joined)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM user_areas WHERE user_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        for area in areas {
            sqlx::query(
                "INSERT INTO user_areas (user_id, area_code) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(area)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn past_scope(&self, key: &str) -> Result<Option<Vec<String>>, DbError> {
        let areas: Option<String> =
            sqlx::query_scalar("SELECT areas FROM past_scopes WHERE scope_key = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?;
        Ok(areas.map(|a| crate::areas::split_scope(&a)))
    }

    async fn households_left(
        &self,
        old: &[String],
        new: &[String],
    ) -> Result<Vec<String>, DbError> {
        if old.is_empty() {
            return Ok(Vec::new());
        }
        Ok(left_query::<Postgres>(old, new)
            .build_query_scalar()
            .fetch_all(&self.pool)
            .await?)
    }

    async fn user_by_name(&self, username: &str) -> Result<Option<User>, DbError> {
        let row: Option<UserRow> = sqlx::query_as(
            "SELECT id, username, display_name, password_hash, role, disabled
             FROM users WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => Ok(Some(self.user_from_row(row).await?)),
            None => Ok(None),
        }
    }

    async fn users(&self) -> Result<Vec<User>, DbError> {
        let rows: Vec<UserRow> = sqlx::query_as(
            "SELECT id, username, display_name, password_hash, role, disabled
             FROM users ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        let links: Vec<(i64, String)> =
            sqlx::query_as("SELECT user_id, area_code FROM user_areas ORDER BY user_id, area_code")
                .fetch_all(&self.pool)
                .await?;
        let mut areas: HashMap<i64, Vec<String>> = HashMap::new();
        for (user_id, code) in links {
            areas.entry(user_id).or_default().push(code);
        }
        rows.into_iter()
            .map(
                |(id, username, display_name, password_hash, role, disabled)| {
                    Ok(User {
                        id,
                        username,
                        display_name,
                        password_hash,
                        role: parse_role(&role)?,
                        disabled,
                        areas: areas.remove(&id).unwrap_or_default(),
                    })
                },
            )
            .collect()
    }

    async fn set_user_disabled(&self, username: &str, disabled: bool) -> Result<(), DbError> {
        let done = sqlx::query("UPDATE users SET disabled = $1 WHERE username = $2")
            .bind(disabled)
            .bind(username)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::NotFound);
        }
        Ok(())
    }

    async fn enroll_device(&self, device: &NewDevice) -> Result<(), DbError> {
        // The WHERE keeps a device id enrolled by one user from being taken over by another
        // (who would then own its actor); that case reports Duplicate like a taken actor. Nor
        // does re-enrolling bring a revoked device back: a lost phone found again (or whoever
        // holds it) gets a new id.
        let done = sqlx::query(
            "INSERT INTO devices (id, user_id, name, actor, token_hash, expires_at, revoked)
             VALUES ($1, $2, $3, $4, $5, $6, FALSE)
             ON CONFLICT (id) DO UPDATE
             SET name = excluded.name, actor = excluded.actor, token_hash = excluded.token_hash,
                 expires_at = excluded.expires_at
             WHERE devices.user_id = excluded.user_id AND NOT devices.revoked",
        )
        .bind(&device.id)
        .bind(device.user_id)
        .bind(&device.name)
        .bind(&device.actor)
        .bind(&device.token_hash)
        .bind(device.expires_at)
        .execute(&self.pool)
        .await
        .map_err(duplicate_on_unique)?;
        if done.rows_affected() == 0 {
            let revoked: Option<bool> =
                sqlx::query_scalar("SELECT revoked FROM devices WHERE id = $1")
                    .bind(&device.id)
                    .fetch_optional(&self.pool)
                    .await?;
            return Err(super::enroll_refused(revoked));
        }
        Ok(())
    }

    async fn device_by_token(&self, token_hash: &str) -> Result<Option<DeviceAuth>, DbError> {
        type Row = (
            String,
            String,
            DateTime<Utc>,
            bool,
            i64,
            i64,
            String,
            String,
            String,
            String,
            bool,
        );
        let row: Option<Row> = sqlx::query_as(
            "SELECT d.id, d.actor, d.expires_at, d.revoked, d.own_resent_until,
                    u.id, u.username, u.display_name, u.password_hash, u.role, u.disabled
             FROM devices d JOIN users u ON u.id = d.user_id
             WHERE d.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some((
            device_id,
            actor,
            expires_at,
            revoked,
            own_resent_until,
            uid,
            uname,
            display,
            pw,
            role,
            disabled,
        )) = row
        else {
            return Ok(None);
        };
        let user = self
            .user_from_row((uid, uname, display, pw, role, disabled))
            .await?;
        Ok(Some(DeviceAuth {
            device_id,
            actor,
            expires_at,
            revoked,
            user,
            own_resent_until,
        }))
    }

    async fn device_token_hash(&self, device_id: &str) -> Result<Option<String>, DbError> {
        Ok(
            sqlx::query_scalar("SELECT token_hash FROM devices WHERE id = $1")
                .bind(device_id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn revoke_device(&self, device_id: &str) -> Result<(), DbError> {
        let done = sqlx::query("UPDATE devices SET revoked = TRUE WHERE id = $1")
            .bind(device_id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::NotFound);
        }
        Ok(())
    }

    async fn households(&self, ids: &[String]) -> Result<Vec<StoredHousehold>, DbError> {
        let rows: Vec<(String, String, Vec<u8>, i64)> = sqlx::query_as(
            "SELECT id, area_code, doc, version FROM households WHERE id = ANY($1) ORDER BY id",
        )
        .bind(ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, area_code, doc, version)| StoredHousehold {
                id,
                area_code,
                doc,
                version,
            })
            .collect())
    }

    async fn commit_sync(&self, write: &SyncWrite) -> Result<(), DbError> {
        if write.households.is_empty() {
            return Ok(());
        }
        // READ COMMITTED: a household update that waited for a concurrent writer re-checks the
        // version against the committed row, so a moved version shows as 0 rows (Conflict)
        // rather than a serialization failure.
        let mut tx = self.pool.begin().await?;
        // Row locks in id order, so two batches sharing households cannot deadlock.
        let mut by_id: Vec<&HouseholdWrite> = write.households.iter().collect();
        by_id.sort_by(|a, b| a.id.cmp(&b.id));
        // Households whose area this batch changes: their logged changes move with them.
        let (mut moved_ids, mut moved_areas) = (Vec::<&str>::new(), Vec::<&str>::new());
        // The areas they left, for the move log.
        let mut moved_from = Vec::<String>::new();
        for h in by_id {
            let done = match h.expected_version {
                Some(v) => {
                    // The area it had: the CTE reads the statement's snapshot, and the update
                    // goes through only if the row still has that version when locked, so it is
                    // the area this update replaces (NULL only when the update fails).
                    let before: Option<Option<String>> = sqlx::query_scalar(
                        "WITH before AS (
                             SELECT area_code FROM households WHERE id = $3 AND version = $4
                         )
                         UPDATE households
                         SET area_code = $1, doc = $2, version = version + 1, updated_at = now()
                         WHERE id = $3 AND version = $4
                         RETURNING (SELECT area_code FROM before)",
                    )
                    .bind(&h.area_code)
                    .bind(&h.doc)
                    .bind(&h.id)
                    .bind(v)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if let Some(Some(from)) = &before
                        && from != &h.area_code
                    {
                        moved_ids.push(&h.id);
                        moved_areas.push(&h.area_code);
                        moved_from.push(from.clone());
                    }
                    u64::from(before.is_some())
                }
                None => sqlx::query(
                    "INSERT INTO households (id, area_code, doc, version)
                         VALUES ($1, $2, $3, 1)
                         ON CONFLICT (id) DO NOTHING",
                )
                .bind(&h.id)
                .bind(&h.area_code)
                .bind(&h.doc)
                .execute(&mut *tx)
                .await?
                .rows_affected(),
            };
            if done == 0 {
                tx.rollback().await?;
                return Err(DbError::Conflict);
            }
        }
        if !moved_ids.is_empty() {
            // Under the row locks of those households: no other writer logs a change of theirs
            // until this commits, and a pull sees the log either before or after the move.
            sqlx::query(
                "UPDATE changes c SET area_code = t.area_code
                 FROM unnest($1::text[], $2::text[]) AS t(household_id, area_code)
                 WHERE c.household_id = t.household_id AND c.area_code <> t.area_code",
            )
            .bind(&moved_ids)
            .bind(&moved_areas)
            .execute(&mut *tx)
            .await?;
        }
        // Under the household row locks just taken, so two writers of one household cannot
        // interleave their projection rows.
        let projections: Vec<_> = write.households.iter().map(|h| &h.projection).collect();
        projection::write_projections(&mut tx, &projections).await?;

        // Which changes the log already has. Every log insert for a household happens in a
        // transaction that also wrote the household row, and this one now holds those rows'
        // locks, so the answer cannot go stale before commit. Filtering here (not with
        // ON CONFLICT under the counter lock) keeps the locked section to two statements and
        // the numbering free of gaps.
        let (mut ids, mut hashes) = (Vec::<&str>::new(), Vec::<&str>::new());
        for h in &write.households {
            for c in &h.changes {
                ids.push(&h.id);
                hashes.push(&c.hash);
            }
        }
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
        let mut seen: HashSet<(&str, &str)> = known
            .iter()
            .map(|(h, c)| (h.as_str(), c.as_str()))
            .collect();
        let mut new = NewRows::default();
        for h in &write.households {
            for c in &h.changes {
                if seen.insert((&h.id, &c.hash)) {
                    new.household_id.push(&h.id);
                    new.hash.push(&c.hash);
                    new.actor.push(&c.actor);
                    new.area_code.push(&h.area_code);
                    new.bytes.push(&c.bytes);
                }
            }
        }
        let n = new.hash.len() as i64;
        let moves = moved_ids.len() as i64;
        if n + moves > 0 {
            // From here to commit the counter row is locked: the serialisation point. The
            // changes take the first n numbers, the moves the rest, so a pull's cursor covers
            // moves exactly as it covers changes (module comment, 1.-3.).
            let end: i64 = sqlx::query_scalar(
                "UPDATE sync_state SET seq = seq + $1 WHERE id = 1 RETURNING seq",
            )
            .bind(n + moves)
            .fetch_one(&mut *tx)
            .await?;
            if moves > 0 {
                sqlx::query(
                    "INSERT INTO household_moves (seq, household_id, from_area, to_area)
                     SELECT $1 + t.ord, t.household_id, t.from_area, t.to_area
                     FROM unnest($2::text[], $3::text[], $4::text[])
                          WITH ORDINALITY AS t(household_id, from_area, to_area, ord)",
                )
                .bind(end - moves)
                .bind(&moved_ids)
                .bind(&moved_from)
                .bind(&moved_areas)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query(
                "INSERT INTO changes (seq, household_id, hash, actor, area_code, bytes)
                 SELECT $1 + t.ord, t.household_id, t.hash, t.actor, t.area_code, t.bytes
                 FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::bytea[])
                      WITH ORDINALITY AS t(household_id, hash, actor, area_code, bytes, ord)
                 ON CONFLICT (household_id, hash) DO NOTHING",
            )
            .bind(end - moves - n)
            .bind(&new.household_id)
            .bind(&new.hash)
            .bind(&new.actor)
            .bind(&new.area_code)
            .bind(&new.bytes)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn changes_since(
        &self,
        cursor: i64,
        scope: &[String],
        own: OwnChanges<'_>,
        max_bytes: usize,
    ) -> Result<ChangePage, DbError> {
        if scope.is_empty() {
            return Ok(ChangePage {
                changes: Vec::new(),
                cursor,
                more: false,
                gone: Vec::new(),
            });
        }
        // The snapshot is taken by the counter read, the first statement (module comment, 2.).
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?;
        let upto: i64 = sqlx::query_scalar("SELECT seq FROM sync_state WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        // First sizes only, so the page's bytes are read once and only for what is sent.
        let mut picked_last = None;
        let mut total = 0usize;
        let mut more = false;
        let mut after = cursor;
        'scan: loop {
            let mut qb = QueryBuilder::<Postgres>::new(
                "SELECT seq, octet_length(bytes)::BIGINT FROM changes",
            );
            push_log_filter(&mut qb, after, upto, own, scope);
            qb.push(" ORDER BY seq LIMIT ").push_bind(PAGE_SCAN_ROWS);
            let sizes: Vec<(i64, i64)> = qb.build_query_as().fetch_all(&mut *tx).await?;
            let scanned = sizes.len() as i64;
            for (seq, len) in sizes {
                let len = usize::try_from(len).unwrap_or(usize::MAX);
                if picked_last.is_some() && total.saturating_add(len) > max_bytes {
                    more = true;
                    break 'scan;
                }
                total = total.saturating_add(len);
                picked_last = Some(seq);
                after = seq;
            }
            if scanned < PAGE_SCAN_ROWS {
                break;
            }
        }
        let Some(last) = picked_last else {
            let gone = gone_query::<Postgres>(cursor, upto, scope)
                .build_query_scalar()
                .fetch_all(&mut *tx)
                .await?;
            tx.rollback().await?;
            return Ok(ChangePage {
                changes: Vec::new(),
                cursor: cursor.max(upto),
                more: false,
                gone,
            });
        };
        let mut qb = QueryBuilder::<Postgres>::new("SELECT seq, household_id, bytes FROM changes");
        push_log_filter(&mut qb, cursor, last, own, scope);
        qb.push(" ORDER BY seq");
        let rows: Vec<(i64, String, Vec<u8>)> = qb.build_query_as().fetch_all(&mut *tx).await?;
        let next = if more { last } else { cursor.max(upto) };
        // Moves in the range the new cursor covers, in the same snapshot as the page.
        let gone = gone_query::<Postgres>(cursor, next, scope)
            .build_query_scalar()
            .fetch_all(&mut *tx)
            .await?;
        tx.rollback().await?;
        Ok(ChangePage {
            changes: rows
                .into_iter()
                .map(|(seq, household_id, bytes)| LoggedChange {
                    seq,
                    household_id,
                    bytes,
                })
                .collect(),
            cursor: next,
            more,
            gone,
        })
    }

    async fn resend_own_changes(&self, device_id: &str) -> Result<i64, DbError> {
        Ok(sqlx::query_scalar(
            "UPDATE devices SET own_resent_until = (SELECT seq FROM sync_state WHERE id = 1)
             WHERE id = $1 RETURNING own_resent_until",
        )
        .bind(device_id)
        .fetch_optional(&self.pool)
        .await?
        .unwrap_or(0))
    }

    async fn household_count(&self) -> Result<i64, DbError> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM households")
            .fetch_one(&self.pool)
            .await?)
    }

    async fn attachment_states(
        &self,
        device_id: &str,
        hashes: &[String],
        fresh_since: DateTime<Utc>,
    ) -> Result<Vec<AttachmentState>, DbError> {
        let rows: Vec<(String, i64, bool)> = sqlx::query_as(
            "SELECT hash, total, TRUE FROM attachments WHERE hash = ANY($1)
             UNION ALL
             SELECT hash, length(bytes)::BIGINT, FALSE FROM attachment_uploads
             WHERE device_id = $2 AND updated_at >= $3 AND hash = ANY($1)",
        )
        .bind(hashes)
        .bind(device_id)
        .bind(fresh_since)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(hash, received, complete)| AttachmentState {
                hash,
                received,
                complete,
            })
            .collect())
    }

    async fn expire_uploads(&self, before: DateTime<Utc>) -> Result<u64, DbError> {
        Ok(
            sqlx::query("DELETE FROM attachment_uploads WHERE updated_at < $1")
                .bind(before)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    async fn append_upload(&self, c: &UploadChunk<'_>) -> Result<Append, DbError> {
        let mut tx = self.pool.begin().await?;
        // One device's chunks in turn, so that its quota is read and charged without another of
        // its chunks in between. (A lock of two keys never meets the migrator's one-key lock.)
        sqlx::query("SELECT pg_advisory_xact_lock(16, hashtext($1))")
            .bind(c.device_id)
            .execute(&mut *tx)
            .await?;
        let stored: Option<i64> =
            sqlx::query_scalar("SELECT total FROM attachments WHERE hash = $1")
                .bind(c.hash)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(total) = stored {
            // Left over when another device completed the hash meanwhile: of no use now.
            sqlx::query("DELETE FROM attachment_uploads WHERE device_id = $1 AND hash = $2")
                .bind(c.device_id)
                .bind(c.hash)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(Append::Complete(total));
        }
        let row: Option<(i32, i64)> = sqlx::query_as(
            "SELECT length(bytes), total FROM attachment_uploads
             WHERE device_id = $1 AND hash = $2",
        )
        .bind(c.device_id)
        .bind(c.hash)
        .fetch_optional(&mut *tx)
        .await?;
        let received = match row {
            Some((received, total)) if total == c.total => {
                let received = i64::from(received);
                if received != c.offset {
                    return Ok(Append::Misplaced(received));
                }
                sqlx::query(
                    "UPDATE attachment_uploads SET bytes = bytes || $1, updated_at = now()
                     WHERE device_id = $2 AND hash = $3",
                )
                .bind(c.bytes)
                .bind(c.device_id)
                .bind(c.hash)
                .execute(&mut *tx)
                .await?;
                received + c.bytes.len() as i64
            }
            other => {
                if other.is_some() {
                    sqlx::query(
                        "DELETE FROM attachment_uploads WHERE device_id = $1 AND hash = $2",
                    )
                    .bind(c.device_id)
                    .bind(c.hash)
                    .execute(&mut *tx)
                    .await?;
                }
                if c.offset != 0 {
                    tx.commit().await?;
                    return Ok(Append::Misplaced(0));
                }
                let held: i64 = sqlx::query_scalar(
                    "SELECT COALESCE(SUM(total), 0)::BIGINT FROM attachment_uploads
                     WHERE device_id = $1",
                )
                .bind(c.device_id)
                .fetch_one(&mut *tx)
                .await?;
                if held.saturating_add(c.total) > c.quota {
                    tx.commit().await?;
                    return Ok(Append::OverQuota);
                }
                sqlx::query(
                    "INSERT INTO attachment_uploads (device_id, hash, mime, total, bytes)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(c.device_id)
                .bind(c.hash)
                .bind(c.mime)
                .bind(c.total)
                .bind(c.bytes)
                .execute(&mut *tx)
                .await?;
                c.bytes.len() as i64
            }
        };
        tx.commit().await?;
        Ok(Append::Stored(received))
    }

    async fn upload_received(
        &self,
        device_id: &str,
        hash: &str,
    ) -> Result<Option<StoredAttachment>, DbError> {
        let row: Option<(String, i64, Vec<u8>)> = sqlx::query_as(
            "SELECT mime, total, bytes FROM attachment_uploads WHERE device_id = $1 AND hash = $2",
        )
        .bind(device_id)
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(mime, total, bytes)| StoredAttachment {
            mime,
            total,
            bytes,
            complete: false,
        }))
    }

    async fn finish_upload(
        &self,
        device_id: &str,
        hash: &str,
        verified: bool,
    ) -> Result<(), DbError> {
        if !verified {
            sqlx::query("DELETE FROM attachment_uploads WHERE device_id = $1 AND hash = $2")
                .bind(device_id)
                .bind(hash)
                .execute(&self.pool)
                .await?;
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO attachments (hash, mime, total, bytes, complete)
             SELECT hash, mime, total, bytes, TRUE FROM attachment_uploads
             WHERE device_id = $1 AND hash = $2
             ON CONFLICT (hash) DO NOTHING",
        )
        .bind(device_id)
        .bind(hash)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM attachment_uploads WHERE hash = $1")
            .bind(hash)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn attachment(&self, hash: &str) -> Result<Option<StoredAttachment>, DbError> {
        let row: Option<(String, i64, Vec<u8>, bool)> =
            sqlx::query_as("SELECT mime, total, bytes, complete FROM attachments WHERE hash = $1")
                .bind(hash)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(mime, total, bytes, complete)| StoredAttachment {
            mime,
            total,
            bytes,
            complete,
        }))
    }
}

/// Columns of the log rows one commit inserts, bound as arrays.
#[derive(Default)]
struct NewRows<'a> {
    household_id: Vec<&'a str>,
    hash: Vec<&'a str>,
    actor: Vec<&'a str>,
    area_code: Vec<&'a str>,
    bytes: Vec<&'a [u8]>,
}
