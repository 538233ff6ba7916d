//! [`crate::Accounts`] in one text: areas, users and enrolled devices.

/// Generates `impl Accounts` for a [`crate::Backend`] type (see [`crate::neutral_sql!`]).
#[doc(hidden)]
#[macro_export]
macro_rules! accounts_sql {
    ($ty:ty) => {
        const _: () = {
            use std::collections::HashMap;

            use $crate::reexports::CodeList;
            use $crate::reexports::chrono::{DateTime, Utc};
            use $crate::reexports::sqlx;
            use $crate::reexports::sqlx::QueryBuilder;
            use $crate::sql::{IDS_PER_QUERY, duplicate_on_unique, enroll_refused, parse_role};
            use $crate::{
                Accounts, Area, Backend, DbError, DeviceAuth, NewDevice, NewUser, StoredRound,
                StoredStandards, User,
            };

            type Db = <$ty as Backend>::Db;
            type UserRow = (i64, String, String, String, String, bool);

            async fn areas_of(db: &$ty, user_id: i64) -> Result<Vec<String>, DbError> {
                Ok(sqlx::query_scalar(
                    "SELECT area_code FROM user_areas WHERE user_id = $1 ORDER BY area_code",
                )
                .bind(user_id)
                .fetch_all(db.pool())
                .await?)
            }

            async fn user_from_row(db: &$ty, row: UserRow) -> Result<User, DbError> {
                let (id, username, display_name, password_hash, role, disabled) = row;
                Ok(User {
                    id,
                    username,
                    display_name,
                    password_hash,
                    role: parse_role(&role)?,
                    disabled,
                    areas: areas_of(db, id).await?,
                })
            }

            /// Inserts `user_id`'s areas (a user has a handful: one statement each).
            async fn insert_user_areas(
                conn: &mut <Db as sqlx::Database>::Connection,
                user_id: i64,
                areas: &[String],
            ) -> Result<(), DbError> {
                for area in areas {
                    sqlx::query(
                        "INSERT INTO user_areas (user_id, area_code) VALUES ($1, $2)
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(user_id)
                    .bind(area)
                    .execute(&mut *conn)
                    .await?;
                }
                Ok(())
            }

            impl Accounts for $ty {
                async fn upsert_areas(&self, areas: &[Area]) -> Result<usize, DbError> {
                    let mut tx = self.pool().begin_with(<$ty>::BEGIN_WRITE).await?;
                    let mut count = 0;
                    for a in areas {
                        count += sqlx::query(
                            "INSERT INTO areas (code, name, parent, level) VALUES ($1, $2, $3, $4)
                             ON CONFLICT (code) DO UPDATE
                             SET name = excluded.name, parent = excluded.parent,
                                 level = excluded.level",
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
                            .fetch_all(self.pool())
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
                    let mut tx = self.pool().begin_with(<$ty>::BEGIN_WRITE).await?;
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
                    insert_user_areas(&mut tx, id, &user.areas).await?;
                    tx.commit().await?;
                    Ok(id)
                }

                async fn set_user_areas(
                    &self,
                    username: &str,
                    areas: &[String],
                ) -> Result<(), DbError> {
                    let mut tx = self.pool().begin_with(<$ty>::BEGIN_WRITE).await?;
                    let id: Option<i64> =
                        sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
                            .bind(username)
                            .fetch_optional(&mut *tx)
                            .await?;
                    let id = id.ok_or(DbError::NotFound)?;
                    let old: Vec<String> =
                        sqlx::query_scalar("SELECT area_code FROM user_areas WHERE user_id = $1")
                            .bind(id)
                            .fetch_all(&mut *tx)
                            .await?;
                    let (key, joined) = $crate::scope::past_scope_row(&old);
                    sqlx::query(
                        "INSERT INTO past_scopes (scope_key, areas) VALUES ($1, $2)
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(key)
                    .bind(joined)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query("DELETE FROM user_areas WHERE user_id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    insert_user_areas(&mut tx, id, areas).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn past_scope(&self, key: &str) -> Result<Option<Vec<String>>, DbError> {
                    let areas: Option<String> =
                        sqlx::query_scalar("SELECT areas FROM past_scopes WHERE scope_key = $1")
                            .bind(key)
                            .fetch_optional(self.pool())
                            .await?;
                    Ok(areas.map(|a| $crate::scope::split_scope(&a)))
                }

                async fn user_by_name(&self, username: &str) -> Result<Option<User>, DbError> {
                    let row: Option<UserRow> = sqlx::query_as(
                        "SELECT id, username, display_name, password_hash, role, disabled
                         FROM users WHERE username = $1",
                    )
                    .bind(username)
                    .fetch_optional(self.pool())
                    .await?;
                    match row {
                        Some(row) => Ok(Some(user_from_row(self, row).await?)),
                        None => Ok(None),
                    }
                }

                async fn users(&self) -> Result<Vec<User>, DbError> {
                    let rows: Vec<UserRow> = sqlx::query_as(
                        "SELECT id, username, display_name, password_hash, role, disabled
                         FROM users ORDER BY id",
                    )
                    .fetch_all(self.pool())
                    .await?;
                    let links: Vec<(i64, String)> = sqlx::query_as(
                        "SELECT user_id, area_code FROM user_areas ORDER BY user_id, area_code",
                    )
                    .fetch_all(self.pool())
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

                async fn set_user_disabled(
                    &self,
                    username: &str,
                    disabled: bool,
                ) -> Result<(), DbError> {
                    let done = sqlx::query("UPDATE users SET disabled = $1 WHERE username = $2")
                        .bind(disabled)
                        .bind(username)
                        .execute(self.pool())
                        .await?;
                    if done.rows_affected() == 0 {
                        return Err(DbError::NotFound);
                    }
                    Ok(())
                }

                async fn enroll_device(&self, device: &NewDevice) -> Result<(), DbError> {
                    // The WHERE keeps a device id enrolled by one user from being taken over by
                    // another (who would then own its actor); that case reports Duplicate like a
                    // taken actor. Nor does re-enrolling bring a revoked device back: a lost
                    // phone found again (or whoever holds it) gets a new id.
                    let done = sqlx::query(
                        "INSERT INTO devices (id, user_id, name, actor, token_hash, expires_at,
                                              revoked)
                         VALUES ($1, $2, $3, $4, $5, $6, FALSE)
                         ON CONFLICT (id) DO UPDATE
                         SET name = excluded.name, actor = excluded.actor,
                             token_hash = excluded.token_hash, expires_at = excluded.expires_at
                         WHERE devices.user_id = excluded.user_id AND NOT devices.revoked",
                    )
                    .bind(&device.id)
                    .bind(device.user_id)
                    .bind(&device.name)
                    .bind(&device.actor)
                    .bind(&device.token_hash)
                    .bind(device.expires_at)
                    .execute(self.pool())
                    .await
                    .map_err(duplicate_on_unique)?;
                    if done.rows_affected() == 0 {
                        let revoked: Option<bool> =
                            sqlx::query_scalar("SELECT revoked FROM devices WHERE id = $1")
                                .bind(&device.id)
                                .fetch_optional(self.pool())
                                .await?;
                        return Err(enroll_refused(revoked));
                    }
                    Ok(())
                }

                async fn device_by_token(
                    &self,
                    token_hash: &str,
                ) -> Result<Option<DeviceAuth>, DbError> {
                    type Row = (String, String, DateTime<Utc>, bool, i64, String, i64, String,
                                String, String, String, bool);
                    let row: Option<Row> = sqlx::query_as(
                        "SELECT d.id, d.actor, d.expires_at, d.revoked, d.own_resent_until,
                                d.own_resent, u.id, u.username, u.display_name, u.password_hash, u.role,
                                u.disabled
                         FROM devices d JOIN users u ON u.id = d.user_id
                         WHERE d.token_hash = $1",
                    )
                    .bind(token_hash)
                    .fetch_optional(self.pool())
                    .await?;
                    let Some((device_id, actor, expires_at, revoked, own_resent_until, own_resent,
                              uid, name, display, pw, role, disabled)) = row
                    else {
                        return Ok(None);
                    };
                    let own_resent = $crate::LogPosition {
                        cursors: $crate::sql::cursors_from_json(&own_resent)?,
                        floor: own_resent_until,
                    };
                    let user = user_from_row(self, (uid, name, display, pw, role, disabled)).await?;
                    Ok(Some(DeviceAuth {
                        device_id,
                        actor,
                        expires_at,
                        revoked,
                        user,
                        own_resent,
                    }))
                }

                async fn device_names(
                    &self,
                    ids: &[String],
                ) -> Result<Vec<(String, String)>, DbError> {
                    let mut found = Vec::new();
                    for chunk in ids.chunks(IDS_PER_QUERY) {
                        let mut qb =
                            QueryBuilder::<Db>::new("SELECT id, name FROM devices WHERE id IN (");
                        let mut list = qb.separated(", ");
                        for id in chunk {
                            list.push_bind(id.clone());
                        }
                        qb.push(")");
                        let rows: Vec<(String, String)> =
                            qb.build_query_as().fetch_all(self.pool()).await?;
                        found.extend(rows);
                    }
                    Ok(found)
                }

                async fn device_token_hash(
                    &self,
                    device_id: &str,
                ) -> Result<Option<String>, DbError> {
                    Ok(
                        sqlx::query_scalar("SELECT token_hash FROM devices WHERE id = $1")
                            .bind(device_id)
                            .fetch_optional(self.pool())
                            .await?,
                    )
                }

                async fn standards(&self) -> Result<Option<StoredStandards>, DbError> {
                    let row: Option<(String, String, String)> = sqlx::query_as(
                        "SELECT json, digest, imported_at FROM standards WHERE id = 1",
                    )
                    .fetch_optional(self.pool())
                    .await?;
                    row.map(|(json, digest, at)| {
                        let imported_at = DateTime::parse_from_rfc3339(&at)
                            .map_err(|e| DbError::Other(sqlx::Error::Decode(Box::new(e))))?
                            .with_timezone(&Utc);
                        Ok(StoredStandards {
                            json,
                            digest,
                            imported_at,
                        })
                    })
                    .transpose()
                }

                async fn standards_digest(&self) -> Result<Option<String>, DbError> {
                    Ok(
                        sqlx::query_scalar("SELECT digest FROM standards WHERE id = 1")
                            .fetch_optional(self.pool())
                            .await?,
                    )
                }

                async fn set_standards(&self, table: &StoredStandards) -> Result<(), DbError> {
                    sqlx::query(
                        "INSERT INTO standards (id, json, digest, imported_at)
                         VALUES (1, $1, $2, $3)
                         ON CONFLICT (id) DO UPDATE
                         SET json = excluded.json, digest = excluded.digest,
                             imported_at = excluded.imported_at",
                    )
                    .bind(&table.json)
                    .bind(&table.digest)
                    .bind(table.imported_at.to_rfc3339())
                    .execute(self.pool())
                    .await?;
                    Ok(())
                }

                async fn rounds(&self) -> Result<Vec<StoredRound>, DbError> {
                    type Row = (String, String, String, String, Option<String>, String, String, String);
                    let rows: Vec<Row> = sqlx::query_as(
                        "SELECT id, name, kind, starts_on, ends_on, areas, opened_by, opened_at \
                         FROM rounds ORDER BY starts_on DESC, id",
                    )
                    .fetch_all(self.pool())
                    .await?;
                    let bad = |what: String| DbError::Other(sqlx::Error::Decode(what.into()));
                    let day = |s: &str| {
                        s.parse::<$crate::reexports::chrono::NaiveDate>()
                            .map_err(|e| bad(format!("round date {s:?}: {e}")))
                    };
                    rows.into_iter()
                        .map(|(id, name, kind, starts, ends, areas, by, at)| {
                            let kind = $crate::reexports::RoundKind::parse(&kind)
                                .map_err(|e| bad(e.to_string()))?;
                            let opened_at = DateTime::parse_from_rfc3339(&at)
                                .map_err(|e| bad(format!("round opened_at {at:?}: {e}")))?
                                .with_timezone(&Utc);
                            Ok(StoredRound {
                                round: $crate::reexports::Round {
                                    id,
                                    name,
                                    kind,
                                    starts_on: day(&starts)?,
                                    ends_on: ends.as_deref().map(day).transpose()?,
                                    areas: areas.split(',').map(str::to_owned).collect(),
                                },
                                opened_by: by,
                                opened_at,
                            })
                        })
                        .collect()
                }

                async fn open_round(&self, r: &StoredRound) -> Result<(), DbError> {
                    sqlx::query(
                        "INSERT INTO rounds (id, name, kind, starts_on, ends_on, areas, opened_by, \
                         opened_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(&r.round.id)
                    .bind(&r.round.name)
                    .bind(r.round.kind.code())
                    .bind(r.round.starts_on.to_string())
                    .bind(r.round.ends_on.map(|d| d.to_string()))
                    .bind(r.round.areas.join(","))
                    .bind(&r.opened_by)
                    .bind(r.opened_at.to_rfc3339())
                    .execute(self.pool())
                    .await
                    .map_err(duplicate_on_unique)?;
                    Ok(())
                }

                async fn revoke_device(&self, device_id: &str) -> Result<(), DbError> {
                    let done = sqlx::query("UPDATE devices SET revoked = TRUE WHERE id = $1")
                        .bind(device_id)
                        .execute(self.pool())
                        .await?;
                    if done.rows_affected() == 0 {
                        return Err(DbError::NotFound);
                    }
                    Ok(())
                }
            }
        };
    };
}
