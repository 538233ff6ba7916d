//! How a projection write is planned and run inside the caller's transaction: per table, the
//! households whose rows are replaced and their new rows, written in statements of `VALUES`
//! lists by [`write_projections`] (a SQLite sync's commit, and a reindex on either backend; a
//! PostgreSQL sync's commit writes the same plan with `unnest` arrays in its own crate).

use sqlx::QueryBuilder;

use crate::DbError;
use crate::projection::{Projection, TABLES, Table, Val};
use crate::sql::MAX_BINDS;

/// One table's share of a projection write: the households whose rows in it are replaced, and
/// their new rows.
pub struct TableWrite<'a> {
    pub table: &'static Table,
    pub households: Vec<&'a str>,
    pub rows: Vec<&'a [Val]>,
}

/// What a write of some households' projections does: of each household only the tables whose
/// rows differ from those its previous digest describes (all tables when it has none), then its
/// new digest. Both backends carry out this one plan; only their statements differ (SQLite has
/// no arrays: rows go as `VALUES` lists; PostgreSQL binds one array per column, see
/// `zoufang-storage-postgres`).
pub struct ProjectionWrite<'a> {
    /// Tables with something to replace, in [`TABLES`] order.
    pub tables: Vec<TableWrite<'a>>,
    /// Every household's new digest, to replace its old one.
    pub digests: Vec<(&'a str, String)>,
}

impl<'a> ProjectionWrite<'a> {
    pub fn of(projections: &[(&'a Projection, Option<&str>)]) -> ProjectionWrite<'a> {
        // Hashed once: compared here, stored with the rows.
        let digests: Vec<(&str, String)> = projections
            .iter()
            .map(|(p, _)| (p.household_id.as_str(), p.digest()))
            .collect();
        let changed: Vec<Vec<bool>> = projections
            .iter()
            .zip(&digests)
            .map(|((_, before), (_, now))| Projection::changed_tables(now, *before))
            .collect();
        let tables = TABLES
            .iter()
            .enumerate()
            .filter_map(|(t, table)| {
                let written: Vec<&Projection> = projections
                    .iter()
                    .zip(&changed)
                    .filter(|(_, changed)| changed[t])
                    .map(|((p, _), _)| *p)
                    .collect();
                (!written.is_empty()).then(|| TableWrite {
                    table,
                    households: written.iter().map(|p| p.household_id.as_str()).collect(),
                    rows: written
                        .iter()
                        .flat_map(|p| p.tables[t].rows.iter().map(Vec::as_slice))
                        .collect(),
                })
            })
            .collect();
        ProjectionWrite { tables, digests }
    }
}

/// Replaces the projection rows of the given households, inside the caller's transaction (a
/// sync's commit, a reindex), as [`ProjectionWrite`] plans it, in statements of `VALUES` lists.
pub async fn write_projections<DB>(
    conn: &mut DB::Connection,
    projections: &[(&Projection, Option<&str>)],
) -> Result<(), DbError>
where
    DB: sqlx::Database,
    <DB as sqlx::Database>::Arguments: Default + sqlx::IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<String>: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<i64>: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    for chunk in projections.chunks(MAX_BINDS / 20) {
        let plan = ProjectionWrite::of(chunk);
        for t in &plan.tables {
            delete_rows(conn, t.table.name, t.table.columns[0], &t.households).await?;
            for rows in t.rows.chunks(MAX_BINDS / t.table.columns.len()) {
                let mut qb = QueryBuilder::<DB>::new(format!(
                    "INSERT INTO {} ({}) ",
                    t.table.name,
                    t.table.columns.join(", ")
                ));
                qb.push_values(rows, |mut sep, row| {
                    for v in row.iter() {
                        match v {
                            Val::Text(s) => sep.push_bind(s.clone()),
                            Val::Int(n) => sep.push_bind(*n),
                        };
                    }
                });
                qb.build().execute(&mut *conn).await?;
            }
        }
        let households: Vec<&str> = plan.digests.iter().map(|(h, _)| *h).collect();
        delete_rows(conn, "p_digests", "household_id", &households).await?;
        let mut qb = QueryBuilder::<DB>::new("INSERT INTO p_digests (household_id, digest) ");
        qb.push_values(plan.digests, |mut sep, (household, digest)| {
            sep.push_bind(household.to_owned());
            sep.push_bind(digest);
        });
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Deletes the rows of `table` whose `key` is one of `households`.
async fn delete_rows<DB>(
    conn: &mut DB::Connection,
    table: &str,
    key: &str,
    households: &[&str],
) -> Result<(), DbError>
where
    DB: sqlx::Database,
    <DB as sqlx::Database>::Arguments: Default + sqlx::IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut qb = QueryBuilder::<DB>::new(format!("DELETE FROM {table} WHERE {key} IN ("));
    let mut ids = qb.separated(", ");
    for h in households {
        ids.push_bind((*h).to_owned());
    }
    qb.push(")");
    qb.build().execute(&mut *conn).await?;
    Ok(())
}
