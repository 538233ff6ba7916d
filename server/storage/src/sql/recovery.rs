//! Restore points and the recovery audit ([`crate::RecoveryStore`]) in one text.

/// Generates `impl RecoveryStore` for a [`crate::Backend`] type (see [`crate::neutral_sql!`]).
#[doc(hidden)]
#[macro_export]
macro_rules! recovery_sql {
    ($ty:ty) => {
        const _: () = {
            use $crate::reexports::chrono::{DateTime, Duration, Utc};
            use $crate::reexports::sqlx::QueryBuilder;
            use $crate::recovery::{
                ActorDevice, DeviceResync, PointRow, Recovered, RecoveredRow, RecoveryStatus,
                RecoveryStore, RestorePoint, new_log_id, point_from,
            };
            use $crate::sql::IDS_PER_QUERY;
            use $crate::{Backend, DbError};

            type Db = <$ty as Backend>::Db;

            impl RecoveryStore for $ty {
                async fn restore_point(&self) -> Result<Option<RestorePoint>, DbError> {
                    let row: Option<PointRow> = QueryBuilder::<Db>::new(
                        "SELECT id, log_id, restored_at, seq, source, window_until, closed_at
                         FROM restore_points ORDER BY id DESC LIMIT 1",
                    )
                    .build_query_as()
                    .fetch_optional(self.pool())
                    .await?;
                    Ok(row.map(point_from))
                }

                async fn open_restore_point(
                    &self,
                    source: &str,
                    window: Duration,
                ) -> Result<RestorePoint, DbError> {
                    let now = Utc::now();
                    let mut tx = self.pool().begin_with(<$ty>::BEGIN_WRITE).await?;
                    let seq: i64 = QueryBuilder::<Db>::new($crate::sql::LOG_END)
                    .build_query_scalar()
                    .fetch_one(&mut *tx)
                    .await?;
                    let mut qb = QueryBuilder::<Db>::new(
                        "INSERT INTO restore_points (log_id, restored_at, seq, source, window_until)
                         VALUES (",
                    );
                    let mut values = qb.separated(", ");
                    values.push_bind(new_log_id());
                    values.push_bind(now);
                    values.push_bind(seq);
                    values.push_bind(source.to_owned());
                    values.push_bind(now + window);
                    qb.push(
                        ") RETURNING id, log_id, restored_at, seq, source, window_until, closed_at",
                    );
                    let row: PointRow = qb.build_query_as().fetch_one(&mut *tx).await?;
                    tx.commit().await?;
                    Ok(point_from(row))
                }

                async fn close_restore_point(&self) -> Result<Option<RestorePoint>, DbError> {
                    let mut qb = QueryBuilder::<Db>::new("UPDATE restore_points SET closed_at = ");
                    qb.push_bind(Utc::now()).push(
                        " WHERE closed_at IS NULL
                          AND id = (SELECT max(id) FROM restore_points)",
                    );
                    qb.build().execute(self.pool()).await?;
                    self.restore_point().await
                }

                async fn actor_devices(&self, actors: &[String]) -> Result<Vec<ActorDevice>, DbError> {
                    let mut found = Vec::new();
                    for chunk in actors.chunks(IDS_PER_QUERY) {
                        let mut qb = QueryBuilder::<Db>::new(
                            "SELECT d.actor, d.id, d.revoked, u.id, u.username
                             FROM devices d JOIN users u ON u.id = d.user_id
                             WHERE d.actor IN (",
                        );
                        let mut list = qb.separated(", ");
                        for a in chunk {
                            list.push_bind(a.clone());
                        }
                        qb.push(")");
                        let rows: Vec<(String, String, bool, i64, String)> =
                            qb.build_query_as().fetch_all(self.pool()).await?;
                        for (actor, device_id, revoked, user_id, username) in rows {
                            let mut qb = QueryBuilder::<Db>::new(
                                "SELECT area_code FROM user_areas WHERE user_id = ",
                            );
                            qb.push_bind(user_id).push(" ORDER BY area_code");
                            let areas: Vec<String> =
                                qb.build_query_scalar().fetch_all(self.pool()).await?;
                            found.push(ActorDevice {
                                actor,
                                device_id,
                                revoked,
                                username,
                                areas,
                            });
                        }
                    }
                    Ok(found)
                }

                async fn record_recovered(&self, rows: &[Recovered]) -> Result<(), DbError> {
                    if rows.is_empty() {
                        return Ok(());
                    }
                    let now = Utc::now();
                    let mut tx = self.pool().begin_with(<$ty>::BEGIN_WRITE).await?;
                    for chunk in rows.chunks(1000) {
                        let mut qb = QueryBuilder::<Db>::new(
                            "INSERT INTO restore_recovered (restore_id, household_id, hash, actor,
                             actor_device, pushed_by, change_time, at) ",
                        );
                        qb.push_values(chunk, |mut row, r| {
                            row.push_bind(r.restore_id)
                                .push_bind(r.household_id.clone())
                                .push_bind(r.hash.clone())
                                .push_bind(r.actor.clone())
                                .push_bind(r.actor_device.clone())
                                .push_bind(r.pushed_by.clone())
                                .push_bind(r.change_time)
                                .push_bind(now);
                        });
                        qb.push(" ON CONFLICT (restore_id, household_id, hash) DO NOTHING");
                        qb.build().execute(&mut *tx).await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }

                async fn note_resynced(&self, restore_id: i64, device_id: &str) -> Result<(), DbError> {
                    // A read first: on SQLite even an insert that does nothing takes the write lock.
                    let mut qb = QueryBuilder::<Db>::new(
                        "SELECT count(*) FROM restore_resynced WHERE restore_id = ",
                    );
                    qb.push_bind(restore_id)
                        .push(" AND device_id = ")
                        .push_bind(device_id.to_owned());
                    let seen: i64 = qb.build_query_scalar().fetch_one(self.pool()).await?;
                    if seen > 0 {
                        return Ok(());
                    }
                    let mut qb = QueryBuilder::<Db>::new(
                        "INSERT INTO restore_resynced (restore_id, device_id, at) VALUES (",
                    );
                    let mut values = qb.separated(", ");
                    values.push_bind(restore_id);
                    values.push_bind(device_id.to_owned());
                    values.push_bind(Utc::now());
                    qb.push(") ON CONFLICT (restore_id, device_id) DO NOTHING");
                    qb.build().execute(self.pool()).await?;
                    Ok(())
                }

                async fn recovery_status(&self, restore_id: i64) -> Result<RecoveryStatus, DbError> {
                    type Row = (
                        String,
                        String,
                        String,
                        String,
                        String,
                        Option<DateTime<Utc>>,
                        DateTime<Utc>,
                        bool,
                    );
                    let mut qb = QueryBuilder::<Db>::new(
                        "SELECT r.household_id, r.hash, r.actor, r.actor_device, r.pushed_by,
                                r.change_time, r.at,
                                EXISTS (SELECT 1 FROM changes c
                                        WHERE c.household_id = r.household_id AND c.hash = r.hash)
                         FROM restore_recovered r WHERE r.restore_id = ",
                    );
                    qb.push_bind(restore_id)
                        .push(" ORDER BY r.at, r.household_id, r.hash");
                    let rows: Vec<Row> = qb.build_query_as().fetch_all(self.pool()).await?;
                    let recovered = rows
                        .into_iter()
                        .map(
                            |(household_id, hash, actor, actor_device, pushed_by, change_time, at, stored)| {
                                RecoveredRow {
                                    change: Recovered {
                                        restore_id,
                                        household_id,
                                        hash,
                                        actor,
                                        actor_device,
                                        pushed_by,
                                        change_time,
                                    },
                                    at,
                                    stored,
                                }
                            },
                        )
                        .collect();
                    let mut qb = QueryBuilder::<Db>::new(
                        "SELECT d.id, u.username, d.name, d.revoked, r.at
                         FROM devices d JOIN users u ON u.id = d.user_id
                         LEFT JOIN restore_resynced r ON r.device_id = d.id AND r.restore_id = ",
                    );
                    qb.push_bind(restore_id).push(" ORDER BY u.username, d.id");
                    let rows: Vec<(String, String, String, bool, Option<DateTime<Utc>>)> =
                        qb.build_query_as().fetch_all(self.pool()).await?;
                    let devices = rows
                        .into_iter()
                        .map(|(device_id, username, name, revoked, resynced_at)| DeviceResync {
                            device_id,
                            username,
                            name,
                            revoked,
                            resynced_at,
                        })
                        .collect();
                    Ok(RecoveryStatus { recovered, devices })
                }
            }
        };
    };
}
