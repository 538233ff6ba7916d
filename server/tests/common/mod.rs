//! Scaffolding shared by the server's integration tests: a scratch database on each backend.
//!
//! PostgreSQL is not optional: CI has one. It is taken from `ZOUFANG_TEST_PG` (default
//! `postgres://postgres@127.0.0.1:5432/test`); every test creates its own scratch database on it
//! and drops it afterwards, so tests run in parallel.
#![allow(dead_code)]

use std::future::Future;
use std::sync::Mutex;

use sqlx::{AssertSqlSafe, Connection, PgConnection};
use zoufang_storage_any::AnyDb;

pub const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/test";

// --- scaffolding

pub fn pg_base_url() -> String {
    std::env::var("ZOUFANG_TEST_PG").unwrap_or_else(|_| DEFAULT_PG.to_owned())
}

pub async fn pg_admin(base: &str) -> PgConnection {
    PgConnection::connect(base).await.unwrap_or_else(|e| {
        panic!(
            "PostgreSQL is required by these tests and is unreachable at {base}: {e}\n\
             start it (pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) \
             or point ZOUFANG_TEST_PG at one"
        )
    })
}

pub use zoufang_storage_any::postgres::with_database;

/// Runs `body` with the URL of a fresh PostgreSQL database, dropped afterwards even when
/// `body` panics.
pub async fn with_pg<F, Fut>(body: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let base = pg_base_url();
    let name = format!("zf_{}", uuid::Uuid::new_v4().simple());
    let mut admin = pg_admin(&base).await;
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("create the scratch database");
    let outcome = tokio::spawn(body(with_database(&base, &name))).await;
    close_opened(&name).await;
    sqlx::query(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .expect("drop the scratch database");
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// Runs `body` with the path of an SQLite file in a fresh directory.
pub async fn with_sqlite<F, Fut>(body: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("server.db");
    let path = path.to_str().expect("utf-8 temp path").to_owned();
    body(path.clone()).await;
    close_opened(&path).await;
}

/// Every database [`open`] gave this test process, with the URL it was opened by. SQLCipher
/// (linked for the client's encrypted store; `libsqlite3-sys` is shared) frees its crypto state
/// in an `atexit` handler, and an SQLite connection that sqlx is still closing on its worker
/// thread then touches freed memory: a test that had passed aborted at exit
/// ("malloc_consolidate(): invalid chunk size", `moves::sqlite_moves` in CI). So [`with_sqlite`]
/// and [`with_pg`] close theirs, waiting for every connection, before they return, as the server
/// binary's `main` does. Only theirs: under `cargo test` the tests of a binary share the process.
static OPENED: Mutex<Vec<(String, AnyDb)>> = Mutex::new(Vec::new());

pub async fn open(url: &str) -> AnyDb {
    let db = AnyDb::connect(url).await.expect("open the database");
    opened().push((url.to_owned(), db.clone()));
    db
}

fn opened() -> std::sync::MutexGuard<'static, Vec<(String, AnyDb)>> {
    // A list of handles: a panic elsewhere leaves nothing half-done in it.
    OPENED.lock().unwrap_or_else(|e| e.into_inner())
}

/// Closes the databases opened on a URL naming `database` (a scratch file's path, a scratch
/// PostgreSQL database's name).
async fn close_opened(database: &str) {
    let mine: Vec<(String, AnyDb)> = {
        let mut all = opened();
        let (mine, others) = std::mem::take(&mut *all)
            .into_iter()
            .partition(|(url, _)| url.contains(database));
        *all = others;
        mine
    };
    for (_, db) in mine {
        db.close().await;
    }
}
