//! The projection write of a sync's commit in statements of one fixed shape per table: each
//! column goes as one array (`unnest`), so a table's insert is the same text whatever the batch
//! holds and is prepared once per connection. The shared form (`VALUES` lists, which SQLite
//! needs: it has no arrays) is a new text for every row count, parsed, planned and cached anew.
//! Both carry out the one plan of [`ProjectionWrite`].

use sqlx::{AssertSqlSafe, PgConnection};
use zoufang_storage::DbError;
use zoufang_storage::projection::{Projection, Table, Val};
use zoufang_storage::sql::projection::ProjectionWrite;

pub(crate) async fn write_projections(
    conn: &mut PgConnection,
    projections: &[(&Projection, Option<&str>)],
) -> Result<(), DbError> {
    let plan = ProjectionWrite::of(projections);
    for t in &plan.tables {
        let delete = format!(
            "DELETE FROM {} WHERE {} = ANY($1)",
            t.table.name, t.table.columns[0]
        );
        sqlx::query(AssertSqlSafe(delete))
            .bind(&t.households)
            .execute(&mut *conn)
            .await?;
        insert_rows(conn, t.table, &t.rows).await?;
    }
    let (households, digests): (Vec<&str>, Vec<&str>) =
        plan.digests.iter().map(|(h, d)| (*h, d.as_str())).unzip();
    sqlx::query(
        "INSERT INTO p_digests (household_id, digest)
         SELECT * FROM unnest($1::text[], $2::text[])
         ON CONFLICT (household_id) DO UPDATE SET digest = EXCLUDED.digest",
    )
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
    table: &Table,
    rows: &[&[Val]],
) -> Result<(), DbError> {
    let Some(first) = rows.first() else {
        return Ok(());
    };
    let mut columns: Vec<Column> = first
        .iter()
        .map(|v| match v {
            Val::Text(_) => Column::Text(Vec::with_capacity(rows.len())),
            Val::Int(_) => Column::Int(Vec::with_capacity(rows.len())),
        })
        .collect();
    for row in rows {
        for (column, value) in columns.iter_mut().zip(row.iter()) {
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
            Column::Text(_) => format!("${}::text[]", i + 1),
            Column::Int(_) => format!("${}::int8[]", i + 1),
        })
        .collect();
    let sql = format!(
        "INSERT INTO {} ({}) SELECT * FROM unnest({})",
        table.name,
        table.columns.join(", "),
        arrays.join(", ")
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for column in columns {
        query = match column {
            Column::Text(values) => query.bind(values),
            Column::Int(values) => query.bind(values),
        };
    }
    query.execute(&mut *conn).await?;
    Ok(())
}
