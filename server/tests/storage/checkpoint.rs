//! SQLite's write-ahead log copied into the database file by the serving process's checkpointer
//! (`SqliteDb::checkpoint`), beside writers, rather than by the commit that crosses the threshold.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use zoufang_server::storage::Database;
use zoufang_storage_any::AnyDb;

use crate::common::{open, with_sqlite};
use crate::fixtures::*;

/// Households in the file alone: a copy of the main file without its `-wal` holds only what
/// was checkpointed.
async fn in_the_file(path: &str, copy: &str) -> i64 {
    std::fs::copy(path, copy).expect("copy the database file");
    open(copy).await.household_count().await.expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_checkpoints_copy_the_log_into_the_file_beside_writers() {
    with_sqlite(|path| async move {
        let AnyDb::Sqlite(db) = open(&path).await else {
            panic!("a path opens SQLite");
        };
        // Checkpoints far more often than a serving process's, while writers commit.
        let stop = Arc::new(AtomicBool::new(false));
        let checkpointer = tokio::spawn({
            let (db, stop) = (db.clone(), stop.clone());
            async move {
                let mut done = 0;
                while !stop.load(Ordering::SeqCst) {
                    db.checkpoint().await.expect("checkpoint");
                    done += 1;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                done
            }
        });
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let db = db.clone();
                tokio::spawn(async move {
                    for i in 0..25 {
                        let id = format!("w{w}-{i}");
                        commit(&db, &id, vec![write(&id, VILLAGE, "v1", None, vec![])]).await;
                    }
                })
            })
            .collect();
        for w in writers {
            w.await.expect("writer");
        }
        stop.store(true, Ordering::SeqCst);
        assert!(checkpointer.await.expect("checkpointer") > 0);
        assert_eq!(db.household_count().await.expect("count"), 100);

        // Committed after the last checkpoint: in the log only (SQLite's own threshold is
        // far away), until the next one.
        commit(
            &db,
            "late",
            vec![write("late", VILLAGE, "v1", None, vec![])],
        )
        .await;
        let before = in_the_file(&path, &format!("{path}.before")).await;
        assert!(
            before < 101,
            "{before} households in the file before the checkpoint"
        );
        db.checkpoint().await.expect("checkpoint");
        let after = in_the_file(&path, &format!("{path}.after")).await;
        assert_eq!(after, 101);
    })
    .await;
}
