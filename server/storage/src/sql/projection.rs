//! The projection's reads and writes ([`crate::Projections`]) and the review pages' sessions and
//! spot checks ([`crate::WebStore`]), in one text.

pub use super::projection_write::{
    NewRow, ProjectionWrite, Statements, TableWrite, leave_counties, write_projections,
};

/// Generates `impl Projections` and `impl WebStore` for a [`crate::Backend`] type (see
/// [`crate::neutral_sql!`]).
#[doc(hidden)]
#[macro_export]
macro_rules! projection_sql {
    ($ty:ty) => {
        const _: () = {
            use $crate::reexports::chrono::NaiveDate;
            use $crate::reexports::sqlx::{self, QueryBuilder};
            use $crate::projection::{Projected, Projection, TABLES};
            use $crate::reexports::county_of;
            use $crate::sql::projection::write_projections;
            use $crate::sql::push_prefix_range;
            use $crate::views::{
                BusyHelper, CaseCount, CaseWindow, ConflictEntry, DuplicateId, RegisterMove,
                RosterFilter, RosterRow, SpotCheck, StatusCount, WebSession,
            };
            use $crate::{Backend, DbError, Projections, WebStore};

            type Db = <$ty as Backend>::Db;

            /// The condition selecting the cases of `window`, their columns prefixed `prefix`.
            fn push_window(qb: &mut QueryBuilder<Db>, prefix: &str, window: &CaseWindow) {
                match window {
                    CaseWindow::Round(id) => {
                        qb.push(format!("{prefix}round_id = ")).push_bind(id.clone());
                    }
                    CaseWindow::Period { from, to } => {
                        qb.push(format!("{prefix}proposed_on >= "))
                            .push_bind(from.to_string())
                            .push(format!(" AND {prefix}proposed_on <= "))
                            .push_bind(to.to_string());
                    }
                }
            }

            /// `WHERE`-less conditions of a roster filter, each starting with " AND ".
            fn push_roster_filter(qb: &mut QueryBuilder<Db>, f: &RosterFilter) {
                use $crate::reexports::CodeList;
                qb.push(" AND ");
                push_prefix_range(qb, "h.area_code", &f.area);
                if let Some(s) = &f.status {
                    if s == "none" {
                        qb.push(" AND h.status IS NULL");
                    } else if $crate::reexports::MonitoringCategory::parse(s).is_ok() {
                        qb.push(" AND h.monitoring = ").push_bind(s.clone());
                    } else {
                        qb.push(" AND h.status = ").push_bind(s.clone());
                    }
                }
                if let Some(c) = &f.case {
                    // `IN`, not a correlated `EXISTS`: the few matching cases are found first and
                    // their households looked up, instead of one probe of p_cases per household in
                    // the area (W4, SQLite 3.50: 586 ms for a county's exits in publicity).
                    qb.push(
                        " AND (h.county, h.id) IN (SELECT c.county, c.household_id FROM p_cases c WHERE ",
                    );
                    push_window(qb, "c.", &c.window);
                    if let Some(kind) = &c.kind {
                        qb.push(" AND c.kind = ").push_bind(kind.clone());
                    }
                    if let Some(b) = c.bucket {
                        let (sql, binds_today) = b.condition();
                        qb.push(" AND ").push(sql);
                        if binds_today {
                            qb.push_bind(c.today.to_string());
                        }
                    }
                    if c.missed {
                        qb.push(" AND c.kind = 'new_entry' AND c.origin = 'screening'")
                            .push(" AND c.stage <> 'rejected'");
                    }
                    if c.objected {
                        qb.push(" AND c.objections > 0");
                    }
                    qb.push(")");
                }
                match f.flag.as_deref() {
                    None => {}
                    Some(sev @ ("error" | "warning")) => {
                        qb.push(if sev == "error" {
                            " AND h.errors > 0"
                        } else {
                            " AND h.warnings > 0"
                        });
                    }
                    Some(code) => {
                        qb.push(
                            " AND EXISTS (SELECT 1 FROM p_flags f WHERE f.county = h.county \
                             AND f.household_id = h.id \
                             AND f.code = ",
                        )
                        .push_bind(code.to_owned())
                        .push(")");
                    }
                }
                if f.conflicted {
                    qb.push(" AND h.conflicts > 0");
                }
                if let Some(key) = &f.helper_key {
                    qb.push(
                        " AND EXISTS (SELECT 1 FROM p_helpers x WHERE x.county = h.county \
                         AND x.household_id = h.id \
                         AND x.helper_key = ",
                    )
                    .push_bind(key.clone())
                    .push(")");
                }
                if let Some(since) = f.not_visited_since {
                    qb.push(
                        " AND (h.status IN ('not_exited', 'exited_supported', 'exited_unsupported', \
                         'relapsed') OR h.monitoring IS NOT NULL)",
                    )
                    .push(" AND (h.last_visit IS NULL OR h.last_visit < ")
                    .push_bind(since.to_string())
                    .push(")");
                }
                if f.exit_failing {
                    qb.push(
                        " AND h.failed_criteria <> '' AND EXISTS (SELECT 1 FROM p_cases c \
                         WHERE c.county = h.county AND c.household_id = h.id AND c.kind = 'exit' \
                         AND c.stage = 'passed' \
                         AND c.stage_step IN ('township_review', 'county_decision', 'announcement'))",
                    );
                }
                if let Some(idn) = &f.id_number {
                    qb.push(
                        " AND EXISTS (SELECT 1 FROM p_members m WHERE m.county = h.county \
                         AND m.household_id = h.id \
                         AND m.is_current = 1 AND m.id_number = ",
                    )
                    .push_bind(idn.clone())
                    .push(")");
                }
                if let Some(text) = f.search.as_deref().filter(|t| !t.trim().is_empty()) {
                    let like = format!(
                        "%{}%",
                        text.trim()
                            .replace('\\', "\\\\")
                            .replace('%', "\\%")
                            .replace('_', "\\_")
                    );
                    qb.push(" AND (h.head_name LIKE ")
                        .push_bind(like.clone())
                        .push(" ESCAPE '\\' OR h.household_no LIKE ")
                        .push_bind(like)
                        .push(" ESCAPE '\\')");
                }
                if let Some((area, id)) = &f.after {
                    // A row value, so both planners seek the (area_code, id) index to the page
                    // instead of reading past every earlier row.
                    qb.push(" AND (h.area_code, h.id) > (")
                        .push_bind(area.clone())
                        .push(", ")
                        .push_bind(id.clone())
                        .push(")");
                }
            }

            impl Projections for $ty {
                async fn household_ids_after(
                    &self,
                    after: &str,
                    limit: i64,
                ) -> Result<Vec<(String, i64)>, DbError> {
                    let mut qb =
                        QueryBuilder::<Db>::new("SELECT id, version FROM households WHERE id > ");
                    qb.push_bind(after.to_owned())
                        .push(" ORDER BY id LIMIT ")
                        .push_bind(limit);
                    Ok(qb.build_query_as().fetch_all(self.pool()).await?)
                }

                async fn rewrite_projections(
                    &self,
                    items: &[(i64, Projection)],
                ) -> Result<usize, DbError> {
                    if items.is_empty() {
                        return Ok(0);
                    }
                    let mut tx = self.pool().begin_with(<$ty>::BEGIN_WRITE).await?;
                    let mut qb = QueryBuilder::<Db>::new(
                        "SELECT id, version, county FROM households WHERE id IN (",
                    );
                    let mut ids = qb.separated(", ");
                    for (_, p) in items {
                        ids.push_bind(p.household_id.clone());
                    }
                    qb.push(")");
                    qb.push(<$ty>::FOR_UPDATE);
                    let current: std::collections::HashMap<String, (i64, String)> = qb
                        .build_query_as::<(String, i64, String)>()
                        .fetch_all(&mut *tx)
                        .await?
                        .into_iter()
                        .map(|(id, version, county)| (id, (version, county)))
                        .collect();
                    // Every table rewritten: a rebuild trusts no digest.
                    let fresh: Vec<Projected> = items
                        .iter()
                        .filter_map(|(v, p)| match current.get(&p.household_id) {
                            Some((version, county)) if version == v => Some(Projected {
                                projection: p,
                                county,
                                before: None,
                                new: false,
                            }),
                            _ => None,
                        })
                        .collect();
                    write_projections::<Db>(&mut tx, &fresh, <$ty>::STATEMENTS).await?;
                    tx.commit().await?;
                    Ok(fresh.len())
                }

                async fn dump_projection(&self) -> Result<Vec<String>, DbError> {
                    let mut out = Vec::new();
                    for table in TABLES {
                        let cols: Vec<String> = table
                            .columns
                            .iter()
                            .map(|c| format!("COALESCE(CAST({c} AS TEXT), '∅')"))
                            .collect();
                        let sql = format!(
                            "SELECT {} FROM {} ORDER BY {}",
                            cols.join(" || '|' || "),
                            table.name,
                            table.columns.join(", ")
                        );
                        let rows: Vec<String> = QueryBuilder::<Db>::new(sql)
                            .build_query_scalar()
                            .fetch_all(self.pool())
                            .await?;
                        out.extend(rows.into_iter().map(|r| format!("{}: {r}", table.name)));
                    }
                    Ok(out)
                }

                async fn projected_count(&self) -> Result<i64, DbError> {
                    Ok(QueryBuilder::<Db>::new("SELECT COUNT(*) FROM p_households")
                        .build_query_scalar()
                        .fetch_one(self.pool())
                        .await?)
                }

                async fn status_counts(&self, area: &str) -> Result<Vec<StatusCount>, DbError> {
                    let mut qb = QueryBuilder::<Db>::new(
                        "SELECT area_code, status, monitoring, COUNT(*) AS households, \
                         CAST(COALESCE(SUM(persons), 0) AS BIGINT) AS persons FROM p_households WHERE ",
                    );
                    push_prefix_range(&mut qb, "area_code", area);
                    qb.push(" GROUP BY area_code, status, monitoring");
                    Ok(qb.build_query_as().fetch_all(self.pool()).await?)
                }

                async fn case_counts(
                    &self,
                    area: &str,
                    window: &CaseWindow,
                    today: NaiveDate,
                ) -> Result<Vec<CaseCount>, DbError> {
                    let mut qb = QueryBuilder::<Db>::new(
                        "SELECT area_code, kind, origin, stage, stage_step, \
                         CASE WHEN publicity_end >= ",
                    );
                    qb.push_bind(today.to_string()).push(
                        " THEN CAST(1 AS BIGINT) ELSE CAST(0 AS BIGINT) END AS publicity_running, \
                         CASE WHEN objections > 0 THEN CAST(1 AS BIGINT) ELSE CAST(0 AS BIGINT) END \
                         AS objected, \
                         COUNT(*) AS households, CAST(COALESCE(SUM(persons), 0) AS BIGINT) AS persons \
                         FROM p_cases WHERE ",
                    );
                    push_prefix_range(&mut qb, "area_code", area);
                    qb.push(" AND ");
                    push_window(&mut qb, "", window);
                    qb.push(" GROUP BY 1, 2, 3, 4, 5, 6, 7");
                    Ok(qb.build_query_as().fetch_all(self.pool()).await?)
                }

                async fn register_moves(
                    &self,
                    area: &str,
                    since: NaiveDate,
                ) -> Result<Vec<RegisterMove>, DbError> {
                    let mut qb = QueryBuilder::<Db>::new(
                        "SELECT area_code, CAST(COALESCE(SUM(poor_move), 0) AS BIGINT) AS poor, \
                         CAST(COALESCE(SUM(exited_move), 0) AS BIGINT) AS exited FROM p_cases \
                         WHERE announced_on >= ",
                    );
                    qb.push_bind(since.to_string()).push(" AND ");
                    push_prefix_range(&mut qb, "area_code", area);
                    qb.push(" GROUP BY area_code");
                    Ok(qb.build_query_as().fetch_all(self.pool()).await?)
                }

                async fn roster(&self, filter: &RosterFilter) -> Result<Vec<RosterRow>, DbError> {
                    let mut qb = QueryBuilder::<Db>::new(
                        "SELECT h.id, h.area_code, h.household_no, h.head_name, h.head_id, h.phone, \
                         h.status, h.monitoring, h.persons, h.per_capita, h.income_year, \
                         h.last_visit, h.errors, h.warnings, h.conflicts, h.failed_criteria, \
                         lc.kind AS case_kind, lc.stage AS case_stage, lc.stage_step AS case_step, \
                         lc.publicity_end AS case_publicity_end \
                         FROM p_households h LEFT JOIN p_cases lc ON lc.county = h.county \
                         AND lc.household_id = h.id \
                         AND lc.case_id = (SELECT o.case_id FROM p_cases o \
                           WHERE o.county = h.county AND o.household_id = h.id AND o.stage <> 'rejected' \
                           AND NOT (o.stage = 'passed' AND o.stage_step = 'announcement') \
                           ORDER BY o.proposed_on DESC, o.case_id DESC LIMIT 1) \
                         WHERE 1 = 1",
                    );
                    push_roster_filter(&mut qb, filter);
                    qb.push(" ORDER BY h.area_code, h.id LIMIT ")
                        .push_bind(filter.limit);
                    Ok(qb.build_query_as().fetch_all(self.pool()).await?)
                }

                async fn roster_count(&self, filter: &RosterFilter) -> Result<(i64, i64), DbError> {
                    let mut qb = QueryBuilder::<Db>::new(
                        "SELECT COUNT(*), CAST(COALESCE(SUM(h.persons), 0) AS BIGINT) FROM p_households h WHERE 1 = 1",
                    );
                    let mut f = filter.clone();
                    f.after = None;
                    push_roster_filter(&mut qb, &f);
                    Ok(qb.build_query_as().fetch_one(self.pool()).await?)
                }

                async fn duplicate_ids(&self, area: &str) -> Result<Vec<DuplicateId>, DbError> {
                    // Every holder of an ID that some member in the area holds in another household
                    // too, wherever the other household is: the reader must learn there is one.
                    // It starts from the area's households (their index, then the members' key)
                    // and asks the ID index once per member, so its cost follows the area asked
                    // about, not the province. MATERIALIZED: the duplicated IDs are few.
                    let mut qb = QueryBuilder::<Db>::new(
                        "WITH dup AS MATERIALIZED (SELECT DISTINCT a.id_number \
                           FROM p_households h JOIN p_members a ON a.county = h.county \
                             AND a.household_id = h.id \
                           WHERE a.is_current = 1 AND a.id_number IS NOT NULL \
                           AND EXISTS (SELECT 1 FROM p_members o WHERE o.id_number = a.id_number \
                             AND o.is_current = 1 AND o.household_id <> a.household_id) AND ",
                    );
                    push_prefix_range(&mut qb, "h.area_code", area);
                    qb.push(
                        ") SELECT m.id_number, m.household_id, m.area_code, m.name \
                         FROM dup JOIN p_members m ON m.id_number = dup.id_number \
                         WHERE m.is_current = 1 ORDER BY m.id_number, m.household_id",
                    );
                    Ok(qb.build_query_as().fetch_all(self.pool()).await?)
                }

                async fn busy_helpers(
                    &self,
                    area: &str,
                    max: i64,
                ) -> Result<Vec<BusyHelper>, DbError> {
                    let mut qb = QueryBuilder::<Db>::new(
                        "SELECT helper_key, MIN(name) AS name, MIN(unit) AS unit, \
                         COUNT(DISTINCT household_id) AS households FROM p_helpers \
                         WHERE helper_key IN (SELECT helper_key FROM p_helpers a WHERE ",
                    );
                    push_prefix_range(&mut qb, "a.area_code", area);
                    qb.push(") GROUP BY helper_key HAVING COUNT(DISTINCT household_id) > ")
                        .push_bind(max)
                        .push(" ORDER BY households DESC, helper_key");
                    Ok(qb.build_query_as().fetch_all(self.pool()).await?)
                }

                async fn conflict_queue(
                    &self,
                    area: &str,
                    limit: i64,
                ) -> Result<Vec<ConflictEntry>, DbError> {
                    let mut qb = QueryBuilder::<Db>::new(
                        "SELECT c.household_id, c.path, c.n_values, h.head_name, h.area_code \
                         FROM p_conflicts c JOIN p_households h ON h.county = c.county \
                         AND h.id = c.household_id WHERE ",
                    );
                    push_prefix_range(&mut qb, "c.area_code", area);
                    qb.push(" ORDER BY h.area_code, c.household_id, c.path LIMIT ")
                        .push_bind(limit);
                    Ok(qb.build_query_as().fetch_all(self.pool()).await?)
                }
            }

            impl WebStore for $ty {
                async fn create_session(
                    &self,
                    token_hash: &str,
                    user_id: i64,
                    csrf: &str,
                    expires_at: &str,
                ) -> Result<(), DbError> {
                    let mut qb = QueryBuilder::<Db>::new(
                        "INSERT INTO web_sessions (token_hash, user_id, csrf, expires_at) ",
                    );
                    qb.push_values([()], |mut sep, ()| {
                        sep.push_bind(token_hash.to_owned())
                            .push_bind(user_id)
                            .push_bind(csrf.to_owned())
                            .push_bind(expires_at.to_owned());
                    });
                    qb.build().execute(self.pool()).await?;
                    Ok(())
                }

                async fn session(&self, token_hash: &str) -> Result<Option<WebSession>, DbError> {
                    let mut qb = QueryBuilder::<Db>::new(
                        "SELECT u.username, s.csrf, s.expires_at FROM web_sessions s \
                         JOIN users u ON u.id = s.user_id WHERE s.token_hash = ",
                    );
                    qb.push_bind(token_hash.to_owned());
                    Ok(qb.build_query_as().fetch_optional(self.pool()).await?)
                }

                async fn delete_session(&self, token_hash: &str) -> Result<(), DbError> {
                    let mut qb =
                        QueryBuilder::<Db>::new("DELETE FROM web_sessions WHERE token_hash = ");
                    qb.push_bind(token_hash.to_owned());
                    qb.build().execute(self.pool()).await?;
                    Ok(())
                }

                async fn delete_sessions_before(&self, time: &str) -> Result<(), DbError> {
                    let mut qb =
                        QueryBuilder::<Db>::new("DELETE FROM web_sessions WHERE expires_at < ");
                    qb.push_bind(time.to_owned());
                    qb.build().execute(self.pool()).await?;
                    Ok(())
                }

                async fn household_areas(
                    &self,
                    area: &str,
                ) -> Result<Vec<(String, String)>, DbError> {
                    let mut qb = QueryBuilder::<Db>::new(
                        "SELECT id, area_code FROM p_households WHERE ",
                    );
                    push_prefix_range(&mut qb, "area_code", area);
                    Ok(qb.build_query_as().fetch_all(self.pool()).await?)
                }

                async fn spot_checks(
                    &self,
                    township: &str,
                    day: &str,
                ) -> Result<Vec<SpotCheck>, DbError> {
                    let mut qb = QueryBuilder::<Db>::new(
                        "SELECT township, day, household_id, village, drawn_by, result, note, \
                         checked_by, checked_at FROM spot_checks WHERE county = ",
                    );
                    qb.push_bind(county_of(township).to_owned())
                        .push(" AND township = ")
                        .push_bind(township.to_owned())
                        .push(" AND day = ")
                        .push_bind(day.to_owned())
                        .push(" ORDER BY village, household_id");
                    Ok(qb.build_query_as().fetch_all(self.pool()).await?)
                }

                async fn save_spot_checks(&self, rows: &[SpotCheck]) -> Result<(), DbError> {
                    if rows.is_empty() {
                        return Ok(());
                    }
                    let mut qb = QueryBuilder::<Db>::new(
                        "INSERT INTO spot_checks \
                         (county, township, day, household_id, village, drawn_by) ",
                    );
                    qb.push_values(rows, |mut sep, r| {
                        sep.push_bind(county_of(&r.township).to_owned())
                            .push_bind(r.township.clone())
                            .push_bind(r.day.clone())
                            .push_bind(r.household_id.clone())
                            .push_bind(r.village.clone())
                            .push_bind(r.drawn_by.clone());
                    });
                    qb.push(" ON CONFLICT DO NOTHING");
                    qb.build().execute(self.pool()).await?;
                    Ok(())
                }

                async fn record_spot_check(&self, r: &SpotCheck) -> Result<bool, DbError> {
                    let mut qb = QueryBuilder::<Db>::new("UPDATE spot_checks SET result = ");
                    qb.push_bind(r.result.clone())
                        .push(", note = ")
                        .push_bind(r.note.clone())
                        .push(", checked_by = ")
                        .push_bind(r.checked_by.clone())
                        .push(", checked_at = ")
                        .push_bind(r.checked_at.clone())
                        .push(" WHERE county = ")
                        .push_bind(county_of(&r.township).to_owned())
                        .push(" AND township = ")
                        .push_bind(r.township.clone())
                        .push(" AND day = ")
                        .push_bind(r.day.clone())
                        .push(" AND household_id = ")
                        .push_bind(r.household_id.clone());
                    Ok(qb.build().execute(self.pool()).await?.rows_affected() == 1)
                }
            }
        };
    };
}
