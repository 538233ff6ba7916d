//! Scaffolding shared by the server's integration tests: a scratch database on each backend.
//!
//! PostgreSQL is not optional: CI has one. It is taken from `ZOUFANG_TEST_PG` (default
//! `postgres://postgres@127.0.0.1:5432/test`); every test creates its own scratch database on it
//! and drops it afterwards, so tests run in parallel.
#![allow(dead_code)]

use std::future::Future;

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
    body(path.to_str().expect("utf-8 temp path").to_owned()).await;
}

pub async fn open(url: &str) -> AnyDb {
    AnyDb::connect(url).await.expect("open the database")
}
