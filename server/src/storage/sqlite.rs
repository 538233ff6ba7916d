//! The embedded backend: one SQLite file in WAL mode.
//!
//! SQLite has one writer at a time, so every write transaction starts with `BEGIN IMMEDIATE`:
//! it takes the write lock up front (waiting up to the busy timeout) instead of reading under a
//! shared lock and failing with SQLITE_BUSY when two transactions both try to upgrade it.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;
use zoufang_shared::CodeList;

use chrono::{DateTime, Utc};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, QueryBuilder, Sqlite};

use super::{
    Append, Area, AttachmentState, ChangePage, Database, DbError, DeviceAuth, LoggedChange,
    NewDevice, NewUser, OwnChanges, PAGE_SCAN_ROWS, StoredAttachment, StoredHousehold, SyncWrite,
    UploadChunk, User, duplicate_on_unique, gone_query, left_query, parse_role, push_log_filter,
};

mod projection {
    super::super::projection_sql::projection_sql!(
        super::SqliteDb,
        sqlx::Sqlite,
        "",
        "BEGIN IMMEDIATE"
    );
}

static MIGRATOR: Migrator = sqlx::migrate!("../migrations/server-sqlite");

/// SQLite's default limit on bound parameters is 32766; stay far below it.
const IDS_PER_QUERY: usize = 500;

#[derive(Clone, Debug)]
pub struct SqliteDb {
    pool: SqlitePool,
}

type UserRow = (i64, String, String, String, String, bool);

impl SqliteDb {
    /// Opens (creating if missing) the database at a plain path or an `sqlite:` URL and brings
    /// its schema up to date.
    pub async fn connect(url_or_path: &str) -> Result<SqliteDb, DbError> {
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
            // No maintenance task (see `PgDb::connect`).
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
        MIGRATOR.run(&pool).await?;
        Ok(SqliteDb { pool })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    async fn areas_of(&self, user_id: i64) -> Result<Vec<String>, DbError> {
        Ok(sqlx::query_scalar(
            "SELECT area_code FROM user_areas WHERE user_id = ? ORDER BY area_code",
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

impl Database for SqliteDb {
    async fn upsert_areas(&self, areas: &[Area]) -> Result<usize, DbError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut count = 0;
        for a in areas {
            count += sqlx::query(
                "INSERT INTO areas (code, name, parent, level) VALUES (?, ?, ?, ?)
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
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (username, display_name, password_hash, role)
             VALUES (?, ?, ?, ?) RETURNING id",
        )
        .bind(&user.username)
        .bind(&user.display_name)
        .bind(&user.password_hash)
        .bind(user.role.code())
        .fetch_one(&mut *tx)
        .await
        .map_err(duplicate_on_unique)?;
        for area in &user.areas {
            sqlx::query(
                "INSERT INTO user_areas (user_id, area_code) VALUES (?, ?) ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(area)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    async fn set_user_areas(&self, username: &str, areas: &[String]) -> Result<(), DbError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE username = ?")
            .bind(username)
            .fetch_optional(&mut *tx)
            .await?;
        let id = id.ok_or(DbError::NotFound)?;
        let old: Vec<String> =
            sqlx::query_scalar("SELECT area_code FROM user_areas WHERE user_id = ?")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
        let (key, joined) = crate::areas::past_scope_row(&old);
        sqlx::query(
            "INSERT INTO past_scopes (scope_key, areas) VALUES (?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(key)
        .bind(joined)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM user_areas WHERE user_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        for area in areas {
            sqlx::query(
                "INSERT INTO user_areas (user_id, area_code) VALUES (?, ?) ON CONFLICT DO NOTHING",
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
            sqlx::query_scalar("SELECT areas FROM past_scopes WHERE scope_key = ?")
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
        Ok(left_query::<Sqlite>(old, new)
            .build_query_scalar()
            .fetch_all(&self.pool)
            .await?)
    }

    async fn user_by_name(&self, username: &str) -> Result<Option<User>, DbError> {
        let row: Option<UserRow> = sqlx::query_as(
            "SELECT id, username, display_name, password_hash, role, disabled
             FROM users WHERE username = ?",
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
        let done = sqlx::query("UPDATE users SET disabled = ? WHERE username = ?")
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
             VALUES (?, ?, ?, ?, ?, ?, FALSE)
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
                sqlx::query_scalar("SELECT revoked FROM devices WHERE id = ?")
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
             WHERE d.token_hash = ?",
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
            sqlx::query_scalar("SELECT token_hash FROM devices WHERE id = ?")
                .bind(device_id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn revoke_device(&self, device_id: &str) -> Result<(), DbError> {
        let done = sqlx::query("UPDATE devices SET revoked = TRUE WHERE id = ?")
            .bind(device_id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::NotFound);
        }
        Ok(())
    }

    async fn households(&self, ids: &[String]) -> Result<Vec<StoredHousehold>, DbError> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_QUERY) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "SELECT id, area_code, doc, version FROM households WHERE id IN (",
            );
            let mut list = qb.separated(", ");
            for id in chunk {
                list.push_bind(id.clone());
            }
            qb.push(")");
            let rows: Vec<(String, String, Vec<u8>, i64)> =
                qb.build_query_as().fetch_all(&self.pool).await?;
            found.extend(
                rows.into_iter()
                    .map(|(id, area_code, doc, version)| StoredHousehold {
                        id,
                        area_code,
                        doc,
                        version,
                    }),
            );
        }
        found.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(found)
    }

    async fn commit_sync(&self, write: &SyncWrite) -> Result<(), DbError> {
        if write.households.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
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
        for (h, _) in &moved {
            sqlx::query(
                "UPDATE changes SET area_code = ? WHERE household_id = ? AND area_code <> ?",
            )
            .bind(&h.area_code)
            .bind(&h.id)
            .bind(&h.area_code)
            .execute(&mut *tx)
            .await?;
        }
        let projections: Vec<_> = write.households.iter().map(|h| &h.projection).collect();
        projection::write_projections(&mut tx, &projections).await?;
        // The write lock is already held, so numbering only the rows actually inserted leaves
        // no gaps: the counter always equals the highest seq in the log (changes and moves).
        let mut seq: i64 = sqlx::query_scalar("SELECT seq FROM sync_state WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        let before = seq;
        for h in &write.households {
            for c in &h.changes {
                let done = sqlx::query(
                    "INSERT INTO changes (seq, household_id, hash, actor, area_code, bytes)
                     VALUES (?, ?, ?, ?, ?, ?)
                     ON CONFLICT (household_id, hash) DO NOTHING",
                )
                .bind(seq + 1)
                .bind(&h.id)
                .bind(&c.hash)
                .bind(&c.actor)
                .bind(&h.area_code)
                .bind(&c.bytes)
                .execute(&mut *tx)
                .await?;
                seq += done.rows_affected() as i64;
            }
        }
        // Each move takes the next number: a pull's cursor covers moves as it covers changes.
        for (h, from) in &moved {
            seq += 1;
            sqlx::query(
                "INSERT INTO household_moves (seq, household_id, from_area, to_area)
                 VALUES (?, ?, ?, ?)",
            )
            .bind(seq)
            .bind(&h.id)
            .bind(from)
            .bind(&h.area_code)
            .execute(&mut *tx)
            .await?;
        }
        if seq != before {
            sqlx::query("UPDATE sync_state SET seq = ? WHERE id = 1")
                .bind(seq)
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
        // One read transaction is one WAL snapshot. Writers are serialised and bump the counter
        // in the same transaction as their log rows, so the counter read here bounds exactly
        // the rows this snapshot can see; see the PostgreSQL backend for the general argument.
        let mut tx = self.pool.begin().await?;
        let upto: i64 = sqlx::query_scalar("SELECT seq FROM sync_state WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        // First sizes only, so the page's bytes are read once and only for what is sent.
        let mut picked_last = None;
        let mut total = 0usize;
        let mut more = false;
        let mut after = cursor;
        'scan: loop {
            let mut qb = QueryBuilder::<Sqlite>::new("SELECT seq, length(bytes) FROM changes");
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
            let gone = gone_query::<Sqlite>(cursor, upto, scope)
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
        let mut qb = QueryBuilder::<Sqlite>::new("SELECT seq, household_id, bytes FROM changes");
        push_log_filter(&mut qb, cursor, last, own, scope);
        qb.push(" ORDER BY seq");
        let rows: Vec<(i64, String, Vec<u8>)> = qb.build_query_as().fetch_all(&mut *tx).await?;
        let next = if more { last } else { cursor.max(upto) };
        // Moves in the range the new cursor covers, in the same snapshot as the page.
        let gone = gone_query::<Sqlite>(cursor, next, scope)
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
             WHERE id = ? RETURNING own_resent_until",
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
        let fresh_since = timestamp(fresh_since);
        let mut states = Vec::new();
        for chunk in hashes.chunks(IDS_PER_QUERY) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "SELECT hash, total, TRUE FROM attachments WHERE hash IN (",
            );
            let mut list = qb.separated(", ");
            for h in chunk {
                list.push_bind(h.clone());
            }
            qb.push(") UNION ALL SELECT hash, length(bytes), FALSE FROM attachment_uploads WHERE device_id = ")
                .push_bind(device_id)
                .push(" AND updated_at >= ")
                .push_bind(fresh_since.clone())
                .push(" AND hash IN (");
            let mut list = qb.separated(", ");
            for h in chunk {
                list.push_bind(h.clone());
            }
            qb.push(")");
            let rows: Vec<(String, i64, bool)> = qb.build_query_as().fetch_all(&self.pool).await?;
            states.extend(
                rows.into_iter()
                    .map(|(hash, received, complete)| AttachmentState {
                        hash,
                        received,
                        complete,
                    }),
            );
        }
        Ok(states)
    }

    async fn expire_uploads(&self, before: DateTime<Utc>) -> Result<u64, DbError> {
        Ok(
            sqlx::query("DELETE FROM attachment_uploads WHERE updated_at < ?")
                .bind(timestamp(before))
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    async fn append_upload(&self, c: &UploadChunk<'_>) -> Result<Append, DbError> {
        // Read, check and rewrite in one write transaction: SQLite's `||` is a text operator,
        // and the quota must be read and charged without another chunk in between.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let stored: Option<i64> =
            sqlx::query_scalar("SELECT total FROM attachments WHERE hash = ?")
                .bind(c.hash)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(total) = stored {
            // Left over when another device completed the hash meanwhile: of no use now.
            sqlx::query("DELETE FROM attachment_uploads WHERE device_id = ? AND hash = ?")
                .bind(c.device_id)
                .bind(c.hash)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(Append::Complete(total));
        }
        let row: Option<(Vec<u8>, i64)> = sqlx::query_as(
            "SELECT bytes, total FROM attachment_uploads WHERE device_id = ? AND hash = ?",
        )
        .bind(c.device_id)
        .bind(c.hash)
        .fetch_optional(&mut *tx)
        .await?;
        let received = match row {
            Some((mut bytes, total)) if total == c.total => {
                if bytes.len() as i64 != c.offset {
                    return Ok(Append::Misplaced(bytes.len() as i64));
                }
                bytes.extend_from_slice(c.bytes);
                let received = bytes.len() as i64;
                sqlx::query(
                    "UPDATE attachment_uploads
                     SET bytes = ?, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                     WHERE device_id = ? AND hash = ?",
                )
                .bind(bytes)
                .bind(c.device_id)
                .bind(c.hash)
                .execute(&mut *tx)
                .await?;
                received
            }
            other => {
                if other.is_some() {
                    sqlx::query("DELETE FROM attachment_uploads WHERE device_id = ? AND hash = ?")
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
                    "SELECT COALESCE(SUM(total), 0) FROM attachment_uploads WHERE device_id = ?",
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
                     VALUES (?, ?, ?, ?, ?)",
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
            "SELECT mime, total, bytes FROM attachment_uploads WHERE device_id = ? AND hash = ?",
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
            sqlx::query("DELETE FROM attachment_uploads WHERE device_id = ? AND hash = ?")
                .bind(device_id)
                .bind(hash)
                .execute(&self.pool)
                .await?;
            return Ok(());
        }
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(
            "INSERT INTO attachments (hash, mime, total, bytes, complete)
             SELECT hash, mime, total, bytes, TRUE FROM attachment_uploads
             WHERE device_id = ? AND hash = ?
             ON CONFLICT (hash) DO NOTHING",
        )
        .bind(device_id)
        .bind(hash)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM attachment_uploads WHERE hash = ?")
            .bind(hash)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn attachment(&self, hash: &str) -> Result<Option<StoredAttachment>, DbError> {
        let row: Option<(String, i64, Vec<u8>, bool)> =
            sqlx::query_as("SELECT mime, total, bytes, complete FROM attachments WHERE hash = ?")
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

/// A time as the upload tables' `updated_at` default writes it, so that text order is time order.
fn timestamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}
