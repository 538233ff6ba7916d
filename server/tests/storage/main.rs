//! Storage stories, each told against SQLite and against PostgreSQL, one file per concern.
//!
//! PostgreSQL is not optional: CI has one, and the sync guarantees that matter most (several
//! server processes on one database) only exist there. The server is taken from
//! `ZOUFANG_TEST_PG` (default `postgres://postgres@127.0.0.1:5432/test`); every test creates its
//! own scratch database on it and drops it afterwards, so tests run in parallel.

/// Tells `$story` against a fresh SQLite file (test `$sqlite`) and a fresh PostgreSQL database
/// (test `$pg`), each opened as the server opens it.
macro_rules! on_both_backends {
    ($story:ident, $sqlite:ident, $pg:ident, threads = $threads:literal) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = $threads)]
        async fn $sqlite() {
            $crate::common::with_sqlite(|path| async move {
                $story($crate::common::open(&path).await).await
            })
            .await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = $threads)]
        async fn $pg() {
            $crate::common::with_pg(
                |url| async move { $story($crate::common::open(&url).await).await },
            )
            .await;
        }
    };
}
use on_both_backends;

#[path = "../common/mod.rs"]
mod common;

mod accounts;
mod checkpoint;
mod concurrency;
mod counties;
mod fixtures;
mod moves;
mod recent;
mod sync_log;
mod upgrade;

use common::{open, with_database, with_sqlite};
use fixtures::{TOWNSHIP, area};
use zoufang_server::storage::{Accounts, Backend};
use zoufang_storage_any::AnyDb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_reopens_with_data_and_url_forms() {
    with_sqlite(|path| async move {
        let db = open(&format!("sqlite://{path}")).await;
        db.upsert_areas(&[area(TOWNSHIP, "勐勐镇", None, "township")])
            .await
            .expect("write");
        drop(db);
        let db = open(&path).await;
        assert_eq!(db.areas().await.expect("read").len(), 1);
        let AnyDb::Sqlite(inner) = &db else {
            panic!("a path opens SQLite");
        };
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(inner.pool())
            .await
            .expect("pragma");
        assert_eq!(mode, "wal");
        let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(inner.pool())
            .await
            .expect("pragma");
        assert_eq!(sync, 2, "synchronous = FULL");
    })
    .await;
}

#[test]
fn scratch_database_urls() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/test", "zf_1"),
        "postgres://postgres@127.0.0.1:5432/zf_1"
    );
    assert_eq!(
        with_database("postgres://u:p@db/test?sslmode=disable", "zf_1"),
        "postgres://u:p@db/zf_1?sslmode=disable"
    );
    assert_eq!(with_database("postgres://db", "zf_1"), "postgres://db/zf_1");
}
