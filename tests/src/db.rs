//! Direct access to a server's database, for what no API does: putting a token's expiry in the
//! past, and taking a snapshot of everything a sync may write, to show that a refused request
//! changed nothing.

use std::str::FromStr;
use std::time::Duration;

use sqlx::AssertSqlSafe;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};

/// A connection pool on a test server's database (the URL a [`crate::TestDb`] gives).
pub enum ServerDb {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Everything of the server's state that a request could change, in a comparable form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// `id area_code v<version> doc:<fnv-1a of the saved document>/<length>`, by id.
    pub households: Vec<String>,
    /// `seq household hash actor area_code`, by seq.
    pub changes: Vec<String>,
    /// The change log's counter.
    pub seq: i64,
    /// `id user_id actor token_hash expires_at revoked`, by id.
    pub devices: Vec<String>,
    /// `username disabled`, by username.
    pub users: Vec<String>,
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

type HouseholdRow = (String, String, i64, Vec<u8>);
type ChangeRow = (i64, String, String, String, String);
type DeviceRow = (String, i64, String, String, String, bool);
type UserRow = (String, bool);

/// Runs one query on whichever backend, with the same Rust row type.
macro_rules! fetch_all {
    ($db:expr, $ty:ty, $sqlite:expr, $pg:expr) => {
        match $db {
            ServerDb::Sqlite(p) => sqlx::query_as::<_, $ty>($sqlite).fetch_all(p).await,
            ServerDb::Postgres(p) => sqlx::query_as::<_, $ty>($pg).fetch_all(p).await,
        }
        .expect("query the server database")
    };
}

/// How far the change log reaches: its counties' counters together (each moves with every
/// change or move logged in its county).
pub const LOG_LENGTH: &str = "SELECT CAST(COALESCE(sum(seq), 0) AS BIGINT) FROM log_counters";

impl ServerDb {
    /// Opens the database at `url`: `postgres://…`, or an SQLite file path (which must exist).
    pub async fn connect(url: &str) -> ServerDb {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(2)
                // No maintenance task: sqlx 0.9.0's can read a transiently wrapped idle count
                // and spin a worker thread forever (seen in the fault suite's long runs).
                .idle_timeout(None)
                .max_lifetime(None)
                .connect(url)
                .await
                .expect("connect to PostgreSQL");
            ServerDb::Postgres(pool)
        } else {
            let options = if url.starts_with("sqlite:") {
                SqliteConnectOptions::from_str(url).expect("SQLite URL")
            } else {
                SqliteConnectOptions::new().filename(url)
            }
            .busy_timeout(Duration::from_secs(10));
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await
                .expect("open the SQLite database");
            ServerDb::Sqlite(pool)
        }
    }

    /// Runs a statement (the same SQL text on both backends); returns the rows affected.
    pub async fn execute(&self, sql: &str) -> u64 {
        match self {
            ServerDb::Sqlite(p) => sqlx::query(AssertSqlSafe(sql.to_owned()))
                .execute(p)
                .await
                .map(|r| r.rows_affected()),
            ServerDb::Postgres(p) => sqlx::query(AssertSqlSafe(sql.to_owned()))
                .execute(p)
                .await
                .map(|r| r.rows_affected()),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// One integer (a `count(*)`, say), the same SQL text on both backends.
    pub async fn scalar(&self, sql: &str) -> i64 {
        match self {
            ServerDb::Sqlite(p) => {
                sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql.to_owned()))
                    .fetch_one(p)
                    .await
            }
            ServerDb::Postgres(p) => {
                sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql.to_owned()))
                    .fetch_one(p)
                    .await
            }
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Makes a device's token expired, as if its lifetime had run out.
    pub async fn expire_device(&self, device_id: &str) {
        let sql = format!(
            "UPDATE devices SET expires_at = '2020-01-01 00:00:00+00:00' WHERE id = '{}'",
            device_id.replace('\'', "''")
        );
        assert_eq!(self.execute(&sql).await, 1, "no device {device_id}");
    }

    pub async fn snapshot(&self) -> Snapshot {
        let households = fetch_all!(
            self,
            HouseholdRow,
            "SELECT id, area_code, version, doc FROM households ORDER BY id",
            "SELECT id, area_code, version, doc FROM households ORDER BY id"
        )
        .into_iter()
        .map(|(id, area, version, doc)| {
            format!(
                "{id} {area} v{version} doc:{:016x}/{}",
                fnv1a(&doc),
                doc.len()
            )
        })
        .collect();
        let changes = fetch_all!(
            self,
            ChangeRow,
            "SELECT seq, household_id, hash, actor, area_code FROM changes ORDER BY seq",
            "SELECT seq, household_id, hash, actor, area_code FROM changes ORDER BY seq"
        )
        .into_iter()
        .map(|(seq, h, hash, actor, area)| format!("{seq} {h} {hash} {actor} {area}"))
        .collect();
        let devices = fetch_all!(
            self,
            DeviceRow,
            "SELECT id, user_id, actor, token_hash, expires_at, revoked FROM devices ORDER BY id",
            "SELECT id, user_id, actor, token_hash, expires_at::text, revoked FROM devices
             ORDER BY id"
        )
        .into_iter()
        .map(|(id, user, actor, token, expires, revoked)| {
            format!("{id} {user} {actor} {token} {expires} {revoked}")
        })
        .collect();
        let users = fetch_all!(
            self,
            UserRow,
            "SELECT username, disabled FROM users ORDER BY username",
            "SELECT username, disabled FROM users ORDER BY username"
        )
        .into_iter()
        .map(|(u, d)| format!("{u} {d}"))
        .collect();
        let seq = self.scalar(LOG_LENGTH).await;
        Snapshot {
            households,
            changes,
            seq,
            devices,
            users,
        }
    }

    pub async fn close(self) {
        match self {
            ServerDb::Sqlite(p) => p.close().await,
            ServerDb::Postgres(p) => p.close().await,
        }
    }
}
