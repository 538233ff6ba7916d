//! How a projection write is planned and run inside the caller's transaction: per county and
//! table, the households whose rows are replaced or brought up to date and their new rows,
//! written in statements of `VALUES` lists (on SQLite joined into one text: [`Statements`]) by
//! [`write_projections`] (a SQLite sync's commit, and a reindex on either backend; a PostgreSQL
//! sync's commit writes the same plan with `unnest` arrays in its own crate). Every statement
//! names its county: the rows are keyed with it (migration 0018), so a PostgreSQL sharded by
//! county routes each to one node.

use sqlx::QueryBuilder;

use crate::DbError;
use crate::projection::{Projected, Projection, TABLES, Table, Val};
use crate::sql::MAX_BINDS;

/// The digests' table and its household column (the key a digest is written and deleted by).
const DIGESTS: (&str, &str) = ("p_digests", "household_id");

/// One new row of a table: its household, its values and their hash (its `row_hash` column).
pub struct NewRow<'a> {
    pub household: &'a str,
    pub values: &'a [Val],
    pub hash: i64,
    /// Whether its household is one of [`TableWrite::diffed`].
    pub diffed: bool,
}

/// One table's share of a projection write.
pub struct TableWrite<'a> {
    pub table: &'static Table,
    /// Households with rows of unknown content (no digest: a reindex, a move between
    /// counties): all their rows go. A household new to the server has none to delete.
    pub replaced: Vec<&'a str>,
    /// Households whose table changed since their digest: their rows whose `row_hash` is not
    /// among their new rows' go; a row that is already there stays (inserts skip it).
    pub diffed: Vec<&'a str>,
    /// The new rows of both.
    pub rows: Vec<NewRow<'a>>,
}

impl TableWrite<'_> {
    /// The new rows of the `diffed` households: the (household, hash) pairs their old rows are
    /// kept by.
    pub fn kept(&self) -> impl Iterator<Item = &NewRow<'_>> {
        self.rows.iter().filter(|r| r.diffed)
    }
}

/// What a write of some households' projections in one county does: of each household only the
/// tables whose rows differ from those its previous digest describes (all tables when it has
/// none), and of those tables only the rows that differ; then its new digest. Both backends
/// carry out this one plan; only their statements differ (SQLite has no arrays: rows go as
/// `VALUES` lists; PostgreSQL binds one array per column, see `zoufang-storage-postgres`).
pub struct ProjectionWrite<'a> {
    /// The county every row of the plan is keyed under.
    pub county: &'a str,
    /// Tables with something to write, in [`TABLES`] order.
    pub tables: Vec<TableWrite<'a>>,
    /// Every household's new digest, to replace its old one.
    pub digests: Vec<(&'a str, String)>,
}

impl<'a> ProjectionWrite<'a> {
    /// The plans of `projections`, one per county, in county order.
    pub fn plan(projections: &[Projected<'a>]) -> Vec<ProjectionWrite<'a>> {
        let mut by_county: std::collections::BTreeMap<&str, Vec<Projected<'a>>> =
            std::collections::BTreeMap::new();
        for p in projections {
            by_county.entry(p.county).or_default().push(*p);
        }
        by_county
            .into_iter()
            .map(|(county, projections)| ProjectionWrite::of(county, &projections))
            .collect()
    }

    fn of(county: &'a str, projections: &[Projected<'a>]) -> ProjectionWrite<'a> {
        // Each row hashed once: for the digests, compared here and stored, and for the rows.
        let hashes: Vec<Vec<Vec<i64>>> = projections
            .iter()
            .map(|p| p.projection.row_hashes())
            .collect();
        let digests: Vec<(&str, String)> = projections
            .iter()
            .zip(&hashes)
            .map(|(p, h)| (p.projection.household_id.as_str(), Projection::digest_of(h)))
            .collect();
        let changed: Vec<Vec<bool>> = projections
            .iter()
            .zip(&digests)
            .map(|(p, (_, now))| Projection::changed_tables(now, p.before))
            .collect();
        let tables = TABLES
            .iter()
            .enumerate()
            .filter_map(|(t, table)| {
                let mut write = TableWrite {
                    table,
                    replaced: Vec::new(),
                    diffed: Vec::new(),
                    rows: Vec::new(),
                };
                for ((p, changed), hashes) in projections.iter().zip(&changed).zip(&hashes) {
                    if !changed[t] {
                        continue;
                    }
                    let diffed = p.before.is_some();
                    let household = p.projection.household_id.as_str();
                    if diffed {
                        write.diffed.push(household);
                    } else if !p.new {
                        write.replaced.push(household);
                    }
                    write
                        .rows
                        .extend(p.projection.tables[t].rows.iter().zip(&hashes[t]).map(
                            |(row, &hash)| NewRow {
                                household,
                                values: row,
                                hash,
                                diffed,
                            },
                        ));
                }
                let any = [write.replaced.len(), write.diffed.len(), write.rows.len()];
                any.iter().any(|n| *n > 0).then_some(write)
            })
            .collect();
        ProjectionWrite {
            county,
            tables,
            digests,
        }
    }
}

/// How a backend takes a write of many statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Statements {
    /// One query each: PostgreSQL takes one statement per query that binds values.
    Each,
    /// Joined into one text that SQLite's connection thread runs in one go: sqlx hands every
    /// query to that thread and waits for its answer, two thread switches a statement (a sync's
    /// projection is a dozen statements), each taken with the database's write lock held.
    Joined,
}

/// The statements of one write, gathered as their backend takes them ([`Statements`]), then
/// run in order by [`Batch::run`].
pub struct Batch<DB: sqlx::Database> {
    how: Statements,
    statements: Vec<QueryBuilder<DB>>,
}

impl<DB> Batch<DB>
where
    DB: sqlx::Database + sqlx::database::HasStatementCache,
    <DB as sqlx::Database>::Arguments: Default + sqlx::IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    pub fn new(how: Statements) -> Self {
        Batch {
            how,
            statements: Vec::new(),
        }
    }

    /// The builder to write the next statement into.
    pub fn statement(&mut self) -> &mut QueryBuilder<DB> {
        let joined = self.how == Statements::Joined && !self.statements.is_empty();
        if !joined {
            self.statements.push(QueryBuilder::new(""));
        }
        let qb = self
            .statements
            .last_mut()
            .unwrap_or_else(|| unreachable!("a builder was pushed above"));
        if joined {
            qb.push(";\n");
        }
        qb
    }

    /// Runs the statements in order. A joined text is not kept in the connection's statement
    /// cache: it differs from one write to the next.
    pub async fn run(self, conn: &mut DB::Connection) -> Result<(), DbError> {
        let keep = self.how == Statements::Each;
        for mut qb in self.statements {
            qb.build().persistent(keep).execute(&mut *conn).await?;
        }
        Ok(())
    }
}

/// Writes the projection rows of the given households, inside the caller's transaction (a
/// sync's commit, a reindex), as [`ProjectionWrite`] plans it, in statements of `VALUES` lists.
pub async fn write_projections<DB>(
    conn: &mut DB::Connection,
    projections: &[Projected<'_>],
    how: Statements,
) -> Result<(), DbError>
where
    DB: sqlx::Database + sqlx::database::HasStatementCache,
    <DB as sqlx::Database>::Arguments: Default + sqlx::IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<String>: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<i64>: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    for chunk in projections.chunks(MAX_BINDS / 20) {
        let mut batch = Batch::<DB>::new(how);
        for plan in ProjectionWrite::plan(chunk) {
            let county = plan.county;
            for t in &plan.tables {
                let key = t.table.columns[0];
                if !t.replaced.is_empty() {
                    push_delete(batch.statement(), t.table.name, key, county, &t.replaced);
                }
                push_stale_deletes(&mut batch, county, t);
                for rows in t.rows.chunks(MAX_BINDS / (t.table.columns.len() + 2)) {
                    let qb = batch.statement();
                    qb.push(format!(
                        "INSERT INTO {} (county, {}, row_hash) ",
                        t.table.name,
                        t.table.columns.join(", ")
                    ));
                    qb.push_values(rows, |mut sep, row| {
                        sep.push_bind(county.to_owned());
                        for v in row.values {
                            match v {
                                Val::Text(s) => sep.push_bind(s.clone()),
                                Val::Int(n) => sep.push_bind(*n),
                            };
                        }
                        sep.push_bind(row.hash);
                    });
                    // A diffed household's row that is already there, hash and all.
                    qb.push(" ON CONFLICT DO NOTHING");
                }
            }
            let households: Vec<&str> = plan.digests.iter().map(|(h, _)| *h).collect();
            push_delete(batch.statement(), DIGESTS.0, DIGESTS.1, county, &households);
            let qb = batch.statement();
            qb.push(format!(
                "INSERT INTO {} (county, {}, digest) ",
                DIGESTS.0, DIGESTS.1
            ));
            qb.push_values(&plan.digests, |mut sep, (household, digest)| {
                sep.push_bind(county.to_owned());
                sep.push_bind((*household).to_owned());
                sep.push_bind(digest.clone());
            });
        }
        batch.run(conn).await?;
    }
    Ok(())
}

/// Readies a sync's `projections` for the households it moved, given as (household, area it
/// left): one that left its county has its rows and digest there deleted and all its rows
/// written in the new county, whatever digest that county may hold for it.
pub async fn leave_counties<DB>(
    conn: &mut DB::Connection,
    projections: &mut [Projected<'_>],
    moves: &[(&str, &str)],
    how: Statements,
) -> Result<(), DbError>
where
    DB: sqlx::Database + sqlx::database::HasStatementCache,
    <DB as sqlx::Database>::Arguments: Default + sqlx::IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut batch = Batch::<DB>::new(how);
    for &(household, from) in moves {
        let left = crate::reexports::county_of(from);
        for p in projections
            .iter_mut()
            .filter(|p| p.projection.household_id == household && p.county != left)
        {
            let tables = TABLES.iter().map(|t| (t.name, t.columns[0]));
            for (table, key) in tables.chain([DIGESTS]) {
                push_delete(batch.statement(), table, key, left, &[household]);
            }
            p.before = None;
        }
    }
    batch.run(conn).await
}

/// `DELETE FROM table WHERE county = .. AND key IN (households)`, for a caller to narrow
/// further.
fn push_delete<DB>(
    qb: &mut QueryBuilder<DB>,
    table: &str,
    key: &str,
    county: &str,
    households: &[&str],
) where
    DB: sqlx::Database,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    qb.push(format!("DELETE FROM {table} WHERE county = "));
    qb.push_bind(county.to_owned());
    qb.push(format!(" AND {key} IN ("));
    let mut ids = qb.separated(", ");
    for h in households {
        ids.push_bind((*h).to_owned());
    }
    qb.push(")");
}

/// Deletes the rows of the `diffed` households of `t` that are not among their new rows (rows
/// written before hashes were kept have none, and go too), a few households per statement.
fn push_stale_deletes<DB>(batch: &mut Batch<DB>, county: &str, t: &TableWrite<'_>)
where
    DB: sqlx::Database + sqlx::database::HasStatementCache,
    <DB as sqlx::Database>::Arguments: Default + sqlx::IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let key = t.table.columns[0];
    let mut kept: std::collections::HashMap<&str, Vec<&NewRow>> = std::collections::HashMap::new();
    for row in t.kept() {
        kept.entry(row.household).or_default().push(row);
    }
    let rows_of = |h: &str| kept.get(h).map_or(&[][..], Vec::as_slice);
    let mut start = 0;
    while start < t.diffed.len() {
        // Households in this statement and their kept rows: 1 bind a household, 2 a row.
        let mut end = start;
        let mut binds = 0;
        while end < t.diffed.len() {
            let more = 1 + 2 * rows_of(t.diffed[end]).len();
            if end > start && binds + more > MAX_BINDS - 1 {
                break;
            }
            binds += more;
            end += 1;
        }
        let households = &t.diffed[start..end];
        let qb = batch.statement();
        push_delete(qb, t.table.name, key, county, households);
        let pairs: Vec<&NewRow> = households
            .iter()
            .flat_map(|h| rows_of(h))
            .copied()
            .collect();
        if !pairs.is_empty() {
            qb.push(format!(
                " AND (row_hash IS NULL OR ({key}, row_hash) NOT IN ("
            ));
            qb.push_values(pairs, |mut sep, row| {
                sep.push_bind(row.household.to_owned());
                sep.push_bind(row.hash);
            });
            qb.push("))");
        }
        start = end;
    }
}
