//! The projection write of a sync's commit in statements of one fixed shape per table: each
//! column goes as one array (`unnest`), so a table's insert is the same text whatever the batch
//! holds and is prepared once per connection. The shared form (`VALUES` lists, which SQLite
//! needs: it has no arrays) is a new text for every row count, parsed, planned and cached anew.
//! Both carry out the one plan of [`ProjectionWrite`], county by county.

use sqlx::{AssertSqlSafe, PgConnection};
use zoufang_storage::DbError;
use zoufang_storage::projection::{Projected, Val};
use zoufang_storage::sql::projection::{ProjectionWrite, TableWrite};

pub(crate) async fn write_projections(
    conn: &mut PgConnection,
    projections: &[Projected<'_>],
) -> Result<(), DbError> {
    for plan in ProjectionWrite::plan(projections) {
        write_plan(conn, &plan).await?;
    }
    Ok(())
}

async fn write_plan(conn: &mut PgConnection, plan: &ProjectionWrite<'_>) -> Result<(), DbError> {
    let county = plan.county;
    for t in &plan.tables {
        let key = t.table.columns[0];
        if !t.replaced.is_empty() {
            let delete = format!(
                "DELETE FROM {} WHERE county = $1 AND {key} = ANY($2)",
                t.table.name
            );
            sqlx::query(AssertSqlSafe(delete))
                .bind(county)
                .bind(&t.replaced)
                .execute(&mut *conn)
                .await?;
        }
        if !t.diffed.is_empty() {
            // An anti-join, whatever the number of rows (a row written before hashes were kept
            // has none, matches nothing, and goes too).
            let delete = format!(
                "DELETE FROM {table} t WHERE t.county = $1 AND t.{key} = ANY($2) AND NOT EXISTS \
                 (SELECT 1 FROM unnest($3::text[], $4::int8[]) AS k(household, hash) \
                 WHERE k.household = t.{key} AND k.hash = t.row_hash)",
                table = t.table.name
            );
            let (households, hashes): (Vec<&str>, Vec<i64>) =
                t.kept().map(|r| (r.household, r.hash)).unzip();
            sqlx::query(AssertSqlSafe(delete))
                .bind(county)
                .bind(&t.diffed)
                .bind(households)
                .bind(hashes)
                .execute(&mut *conn)
                .await?;
        }
        insert_rows(conn, county, t).await?;
    }
    let (households, digests): (Vec<&str>, Vec<&str>) =
        plan.digests.iter().map(|(h, d)| (*h, d.as_str())).unzip();
    sqlx::query(
        "INSERT INTO p_digests (county, household_id, digest)
         SELECT $1, * FROM unnest($2::text[], $3::text[])
         ON CONFLICT (county, household_id) DO UPDATE SET digest = EXCLUDED.digest",
    )
    .bind(county)
    .bind(&households)
    .bind(&digests)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One column's values, typed as its first row's value is (a table's column holds one kind).
enum Column {
    Text(Vec<Option<String>>),
    Int(Vec<Option<i64>>),
}

async fn insert_rows(
    conn: &mut PgConnection,
    county: &str,
    t: &TableWrite<'_>,
) -> Result<(), DbError> {
    let table = t.table;
    let Some(first) = t.rows.first() else {
        return Ok(());
    };
    let mut columns: Vec<Column> = first
        .values
        .iter()
        .map(|v| match v {
            Val::Text(_) => Column::Text(Vec::with_capacity(t.rows.len())),
            Val::Int(_) => Column::Int(Vec::with_capacity(t.rows.len())),
        })
        .collect();
    columns.push(Column::Int(Vec::with_capacity(t.rows.len())));
    for row in &t.rows {
        let hash = Val::Int(Some(row.hash));
        for (column, value) in columns.iter_mut().zip(row.values.iter().chain([&hash])) {
            match (column, value) {
                (Column::Text(c), Val::Text(v)) => c.push(v.clone()),
                (Column::Int(c), Val::Int(v)) => c.push(*v),
                _ => {
                    return Err(DbError::Other(sqlx::Error::Encode(
                        format!("{}: a column holds text and numbers", table.name).into(),
                    )));
                }
            }
        }
    }
    let arrays: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| match c {
            Column::Text(_) => format!("${}::text[]", i + 2),
            Column::Int(_) => format!("${}::int8[]", i + 2),
        })
        .collect();
    // A diffed household's row that is already there, hash and all, is skipped.
    let sql = format!(
        "INSERT INTO {} (county, {}, row_hash) SELECT $1, * FROM unnest({}) ON CONFLICT DO NOTHING",
        table.name,
        table.columns.join(", "),
        arrays.join(", ")
    );
    let mut query = sqlx::query(AssertSqlSafe(sql)).bind(county);
    for column in columns {
        query = match column {
            Column::Text(values) => query.bind(values),
            Column::Int(values) => query.bind(values),
        };
    }
    query.execute(&mut *conn).await?;
    Ok(())
}
