//! [`crate::Database`] in one text: documents, the pull and attachments. A sync's commit and
//! the lock an upload's append takes are the backend's own ([`crate::Backend`]). An unfinished
//! upload is stored as its chunks (`attachment_upload_parts`), joined once when it completes.

/// Generates `impl Database` for a [`crate::Backend`] type (see [`crate::neutral_sql!`]).
#[doc(hidden)]
#[macro_export]
macro_rules! database_sql {
    ($ty:ty) => {
        const _: () = {
            use $crate::reexports::chrono::{DateTime, Utc};
            use $crate::reexports::sqlx::{self, QueryBuilder};
            use $crate::sql::{
                IDS_PER_QUERY, PAGE_SCAN_ROWS, gone_query, left_query, push_log_filter,
            };
            use $crate::{
                Append, AttachmentState, Backend, ChangePage, Database, DbError, LoggedChange,
                OwnChanges, StoredAttachment, StoredHousehold, SyncWrite, UploadChunk,
            };

            type Db = <$ty as Backend>::Db;

            /// Stores a chunk of an unfinished upload as a part of its own (no rewrite of what came
            /// before it: appending stays linear in the upload's length).
            async fn add_part(
                conn: &mut <Db as sqlx::Database>::Connection,
                c: &UploadChunk<'_>,
            ) -> Result<(), DbError> {
                sqlx::query(
                    "INSERT INTO attachment_upload_parts (device_id, hash, start, bytes)
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(c.device_id)
                .bind(c.hash)
                .bind(c.offset)
                .bind(c.bytes)
                .execute(&mut *conn)
                .await?;
                Ok(())
            }

            /// An unfinished upload's bytes: its parts in order, joined.
            async fn joined_parts(
                conn: &mut <Db as sqlx::Database>::Connection,
                device_id: &str,
                hash: &str,
            ) -> Result<Vec<u8>, DbError> {
                let parts: Vec<Vec<u8>> = sqlx::query_scalar(
                    "SELECT bytes FROM attachment_upload_parts
                     WHERE device_id = $1 AND hash = $2 ORDER BY start",
                )
                .bind(device_id)
                .bind(hash)
                .fetch_all(&mut *conn)
                .await?;
                Ok(parts.concat())
            }

            /// `SELECT … WHERE column IN (…)` over `keys` in chunks: `head` ends before the list.
            async fn select_in<T>(
                db: &$ty,
                head: &str,
                keys: &[String],
                tail: &str,
            ) -> Result<Vec<T>, DbError>
            where
                T: for<'r> sqlx::FromRow<'r, <Db as sqlx::Database>::Row> + Send + Unpin,
            {
                let mut found = Vec::new();
                for chunk in keys.chunks(IDS_PER_QUERY) {
                    let mut qb = QueryBuilder::<Db>::new(head);
                    qb.push(" IN (");
                    let mut list = qb.separated(", ");
                    for k in chunk {
                        list.push_bind(k.clone());
                    }
                    qb.push(")").push(tail);
                    found.extend(qb.build_query_as::<T>().fetch_all(db.pool()).await?);
                }
                Ok(found)
            }

            impl Database for $ty {
                async fn households_left(
                    &self,
                    old: &[String],
                    new: &[String],
                ) -> Result<Vec<String>, DbError> {
                    if old.is_empty() {
                        return Ok(Vec::new());
                    }
                    Ok(left_query::<Db>(old, new)
                        .build_query_scalar()
                        .fetch_all(self.pool())
                        .await?)
                }

                async fn households(
                    &self,
                    ids: &[String],
                ) -> Result<Vec<StoredHousehold>, DbError> {
                    // One statement: the digest is the one the read version wrote (both are
                    // written in one transaction).
                    let rows: Vec<(String, String, Vec<u8>, i64, Option<String>)> = select_in(
                        self,
                        "SELECT h.id, h.area_code, h.doc, h.version, d.digest FROM households h \
                         LEFT JOIN p_digests d ON d.county = h.county AND d.household_id = h.id \
                         WHERE h.id",
                        ids,
                        "",
                    )
                    .await?;
                    let mut found: Vec<StoredHousehold> = rows
                        .into_iter()
                        .map(|(id, area_code, doc, version, projected)| StoredHousehold {
                            id,
                            area_code,
                            doc,
                            version,
                            projected,
                        })
                        .collect();
                    found.sort_by(|a, b| a.id.cmp(&b.id));
                    Ok(found)
                }

                async fn commit_sync(&self, write: &SyncWrite) -> Result<(), DbError> {
                    let logged = Backend::commit(self, write).await?;
                    Backend::recent(self).remember(logged);
                    Ok(())
                }

                async fn changes_since(
                    &self,
                    from: &$crate::LogPosition,
                    scope: &[String],
                    own: OwnChanges<'_>,
                    max_bytes: usize,
                ) -> Result<ChangePage, DbError> {
                    let mut page = ChangePage::default();
                    if scope.is_empty() {
                        return Ok(page);
                    }
                    // The snapshot is fixed by the counters' read, the first statement: in each
                    // county, every log row numbered up to its counter is committed in it (see
                    // the PostgreSQL backend).
                    let mut tx = self.pool().begin_with(<$ty>::BEGIN_SNAPSHOT).await?;
                    let counties: Vec<(String, i64)> = $crate::sql::counters_query::<Db>(scope)
                        .build_query_as()
                        .fetch_all(&mut *tx)
                        .await?;
                    // First sizes only, so the page's bytes are read once and only for what is
                    // sent.
                    let mut total = 0usize;
                    for (county, upto) in counties {
                        let after = from.at(&county);
                        if upto <= after {
                            // Nothing numbered here since: no statement for this county.
                            page.cursors.set(&county, after);
                            continue;
                        }
                        let mut picked = Vec::new();
                        let mut scanned_to = after;
                        'scan: loop {
                            // Read from the index alone (migration 0019): no change bytes.
                            let mut qb =
                                QueryBuilder::<Db>::new("SELECT seq, size FROM changes");
                            push_log_filter(&mut qb, &county, (scanned_to, upto), own, scope);
                            qb.push(" ORDER BY seq LIMIT ").push_bind(PAGE_SCAN_ROWS);
                            let sizes: Vec<(i64, i64)> =
                                qb.build_query_as().fetch_all(&mut *tx).await?;
                            let scanned = sizes.len() as i64;
                            for (seq, len) in sizes {
                                let len = usize::try_from(len).unwrap_or(usize::MAX);
                                if total > 0 && total.saturating_add(len) > max_bytes {
                                    page.more = true;
                                    break 'scan;
                                }
                                total = total.saturating_add(len.max(1));
                                picked.push(seq);
                                scanned_to = seq;
                            }
                            if scanned < PAGE_SCAN_ROWS {
                                break;
                            }
                        }
                        let picked_last = picked.last().copied();
                        if let Some(last) = picked_last {
                            // Rows this handle committed lately come from memory; the rest
                            // from the table: by their numbers when memory had some (a
                            // statement per IDS_PER_QUERY numbers), else by walking the range
                            // again in one statement.
                            let recalled = Backend::recent(self).get(&county, &picked);
                            let mut rows = recalled.rows;
                            let mut read = Vec::new();
                            if rows.is_empty() {
                                let mut qb = QueryBuilder::<Db>::new(
                                    "SELECT seq, household_id, bytes FROM changes",
                                );
                                push_log_filter(&mut qb, &county, (after, last), own, scope);
                                read = qb.build_query_as().fetch_all(&mut *tx).await?;
                            } else {
                                for chunk in recalled.missing.chunks(IDS_PER_QUERY) {
                                    let mut qb = QueryBuilder::<Db>::new(
                                        "SELECT seq, household_id, bytes FROM changes \
                                         WHERE county = ",
                                    );
                                    qb.push_bind(county.clone()).push(" AND seq IN (");
                                    let mut list = qb.separated(", ");
                                    for seq in chunk {
                                        list.push_bind(*seq);
                                    }
                                    qb.push(")");
                                    let got: Vec<(i64, String, Vec<u8>)> =
                                        qb.build_query_as().fetch_all(&mut *tx).await?;
                                    read.extend(got);
                                }
                            }
                            rows.extend(read.into_iter().map(|(seq, household_id, bytes)| {
                                LoggedChange {
                                    seq,
                                    household_id,
                                    bytes,
                                }
                            }));
                            rows.sort_unstable_by_key(|c| c.seq);
                            page.changes.extend(rows);
                        }
                        let next = if page.more {
                            picked_last.unwrap_or(after)
                        } else {
                            after.max(upto)
                        };
                        // Moves in the range the new cursor covers, in the same snapshot.
                        let gone: Vec<String> = gone_query::<Db>(&county, (after, next), scope)
                            .build_query_scalar()
                            .fetch_all(&mut *tx)
                            .await?;
                        page.gone.extend(gone);
                        page.cursors.set(&county, next);
                        if page.more {
                            break;
                        }
                    }
                    tx.rollback().await?;
                    page.gone.sort();
                    page.gone.dedup();
                    Ok(page)
                }

                async fn resend_own_changes(
                    &self,
                    device_id: &str,
                ) -> Result<$crate::LogPosition, DbError> {
                    let counters: Vec<(String, i64)> =
                        sqlx::query_as("SELECT county, seq FROM log_counters")
                            .fetch_all(self.pool())
                            .await?;
                    let cursors: $crate::reexports::Cursors = counters.into_iter().collect();
                    let json = $crate::sql::cursors_to_json(&cursors);
                    let floor: Option<i64> = sqlx::query_scalar(
                        "UPDATE devices SET own_resent = $1 WHERE id = $2
                         RETURNING own_resent_until",
                    )
                    .bind(json)
                    .bind(device_id)
                    .fetch_optional(self.pool())
                    .await?;
                    Ok($crate::LogPosition {
                        cursors,
                        floor: floor.unwrap_or(0),
                    })
                }

                async fn ping(&self) -> Result<(), DbError> {
                    sqlx::query("SELECT 1").execute(self.pool()).await?;
                    Ok(())
                }

                async fn pending_migrations(&self) -> Result<usize, DbError> {
                    let applied = self.applied_migrations().await?;
                    Ok(<$ty>::known_migrations()
                        .iter()
                        .filter(|v| !applied.contains(v))
                        .count())
                }

                async fn applied_migrations(&self) -> Result<Vec<i64>, DbError> {
                    let applied = sqlx::query_scalar(
                        "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version",
                    )
                    .fetch_all(self.pool())
                    .await;
                    match applied {
                        Err(sqlx::Error::Database(e)) if $crate::sql::no_such_table(&*e) => {
                            Ok(Vec::new())
                        }
                        other => Ok(other?),
                    }
                }

                async fn household_count(&self) -> Result<i64, DbError> {
                    Ok(sqlx::query_scalar("SELECT count(*) FROM households")
                        .fetch_one(self.pool())
                        .await?)
                }

                async fn attachment_states(
                    &self,
                    device_id: &str,
                    hashes: &[String],
                    fresh_since: DateTime<Utc>,
                ) -> Result<Vec<AttachmentState>, DbError> {
                    let mut states = Vec::new();
                    for chunk in hashes.chunks(IDS_PER_QUERY) {
                        let mut qb = QueryBuilder::<Db>::new(
                            "SELECT hash, total, TRUE FROM attachments WHERE hash IN (",
                        );
                        let mut list = qb.separated(", ");
                        for h in chunk {
                            list.push_bind(h.clone());
                        }
                        qb.push(
                            ") UNION ALL SELECT hash, received, FALSE \
                             FROM attachment_uploads WHERE device_id = ",
                        )
                        .push_bind(device_id.to_owned())
                        .push(" AND updated_at >= ")
                        .push_bind(<$ty>::stamp(fresh_since))
                        .push(" AND hash IN (");
                        let mut list = qb.separated(", ");
                        for h in chunk {
                            list.push_bind(h.clone());
                        }
                        qb.push(")");
                        let rows: Vec<(String, i64, bool)> =
                            qb.build_query_as().fetch_all(self.pool()).await?;
                        states.extend(rows.into_iter().map(|(hash, received, complete)| {
                            AttachmentState {
                                hash,
                                received,
                                complete,
                            }
                        }));
                    }
                    Ok(states)
                }

                async fn expire_uploads(&self, before: DateTime<Utc>) -> Result<u64, DbError> {
                    Ok(
                        sqlx::query("DELETE FROM attachment_uploads WHERE updated_at < $1")
                            .bind(<$ty>::stamp(before))
                            .execute(self.pool())
                            .await?
                            .rows_affected(),
                    )
                }

                async fn append_upload(&self, c: &UploadChunk<'_>) -> Result<Append, DbError> {
                    let mut tx = self.pool().begin_with(<$ty>::BEGIN_WRITE).await?;
                    <$ty>::lock_uploads(&mut tx, c.device_id).await?;
                    let stored: Option<i64> =
                        sqlx::query_scalar("SELECT total FROM attachments WHERE hash = $1")
                            .bind(c.hash)
                            .fetch_optional(&mut *tx)
                            .await?;
                    let drop_own =
                        "DELETE FROM attachment_uploads WHERE device_id = $1 AND hash = $2";
                    if let Some(total) = stored {
                        // Left over when another device completed the hash meanwhile: of no use.
                        sqlx::query(drop_own)
                            .bind(c.device_id)
                            .bind(c.hash)
                            .execute(&mut *tx)
                            .await?;
                        tx.commit().await?;
                        return Ok(Append::Complete(total));
                    }
                    let own: Option<(i64, i64)> = sqlx::query_as(
                        "SELECT received, total FROM attachment_uploads
                         WHERE device_id = $1 AND hash = $2",
                    )
                    .bind(c.device_id)
                    .bind(c.hash)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if let Some((received, total)) = own
                        && total == c.total
                    {
                        if received != c.offset {
                            return Ok(Append::Misplaced(received));
                        }
                        sqlx::query(
                            "UPDATE attachment_uploads SET received = $1, updated_at = $2
                             WHERE device_id = $3 AND hash = $4",
                        )
                        .bind(received + c.bytes.len() as i64)
                        .bind(<$ty>::stamp(Utc::now()))
                        .bind(c.device_id)
                        .bind(c.hash)
                        .execute(&mut *tx)
                        .await?;
                        add_part(&mut tx, c).await?;
                        tx.commit().await?;
                        return Ok(Append::Stored(received + c.bytes.len() as i64));
                    }
                    if own.is_some() {
                        // It declared another total: a new upload of the hash starts over.
                        sqlx::query(drop_own)
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
                        "SELECT CAST(COALESCE(SUM(total), 0) AS BIGINT) FROM attachment_uploads
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
                        "INSERT INTO attachment_uploads (device_id, hash, mime, total, received)
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(c.device_id)
                    .bind(c.hash)
                    .bind(c.mime)
                    .bind(c.total)
                    .bind(c.bytes.len() as i64)
                    .execute(&mut *tx)
                    .await?;
                    add_part(&mut tx, c).await?;
                    tx.commit().await?;
                    Ok(Append::Stored(c.bytes.len() as i64))
                }

                async fn upload_received(
                    &self,
                    device_id: &str,
                    hash: &str,
                ) -> Result<Option<StoredAttachment>, DbError> {
                    let mut conn = self.pool().acquire().await?;
                    let row: Option<(String, i64)> = sqlx::query_as(
                        "SELECT mime, total FROM attachment_uploads
                         WHERE device_id = $1 AND hash = $2",
                    )
                    .bind(device_id)
                    .bind(hash)
                    .fetch_optional(&mut *conn)
                    .await?;
                    let Some((mime, total)) = row else {
                        return Ok(None);
                    };
                    Ok(Some(StoredAttachment {
                        mime,
                        total,
                        bytes: joined_parts(&mut conn, device_id, hash).await?,
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
                        sqlx::query(
                            "DELETE FROM attachment_uploads WHERE device_id = $1 AND hash = $2",
                        )
                        .bind(device_id)
                        .bind(hash)
                        .execute(self.pool())
                        .await?;
                        return Ok(());
                    }
                    let mut tx = self.pool().begin_with(<$ty>::BEGIN_WRITE).await?;
                    let bytes = joined_parts(&mut tx, device_id, hash).await?;
                    sqlx::query(
                        "INSERT INTO attachments (hash, mime, total, bytes, complete)
                         SELECT hash, mime, total, $3, TRUE FROM attachment_uploads
                         WHERE device_id = $1 AND hash = $2
                         ON CONFLICT (hash) DO NOTHING",
                    )
                    .bind(device_id)
                    .bind(hash)
                    .bind(bytes)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query("DELETE FROM attachment_uploads WHERE hash = $1")
                        .bind(hash)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn attachment(
                    &self,
                    hash: &str,
                ) -> Result<Option<StoredAttachment>, DbError> {
                    let row: Option<(String, i64, Vec<u8>, bool)> = sqlx::query_as(
                        "SELECT mime, total, bytes, complete FROM attachments WHERE hash = $1",
                    )
                    .bind(hash)
                    .fetch_optional(self.pool())
                    .await?;
                    Ok(row.map(|(mime, total, bytes, complete)| StoredAttachment {
                        mime,
                        total,
                        bytes,
                        complete,
                    }))
                }
            }
        };
    };
}
