//! A log written before it was numbered per county (migrations up to 0015) keeps its numbers
//! through migration 0016, and every county goes on above the one counter it had: so a cursor
//! handed out before, kept by a device as its floor, misses nothing in any county. Its rows get
//! the sizes a pull fills its page by (0019).

use std::borrow::Cow;
use std::path::Path;

use sqlx::migrate::Migrator;
use sqlx::{Connection, PgPool, SqliteConnection};
use zoufang_server::storage::{Database, LogPosition, OwnChanges};

use crate::common::{open, with_pg, with_sqlite};
use crate::fixtures::*;

/// The other county's village.
const YUN_VILLAGE: &str = "530922100101";

/// The migrations of `dialect` before the log was numbered per county.
async fn before_county_logs(dialect: &str) -> Migrator {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../migrations/server-{dialect}"));
    let mut m = Migrator::new(dir).await.expect("read the migrations");
    let older: Vec<_> = m
        .migrations
        .iter()
        .filter(|m| m.version < 16)
        .cloned()
        .collect();
    assert_eq!(older.len(), 15);
    m.migrations = Cow::Owned(older);
    m
}

/// Rows as the old schema held them: 凤庆县's changes 1 and 2, 云县's 3, the counter at 3.
const OLD_LOG: [&str; 3] = [
    "INSERT INTO households (id, area_code, doc, version) VALUES
         ('f1', '530921100201', 'f1 v1', 1), ('y1', '530922100101', 'y1 v1', 1)",
    "INSERT INTO changes (seq, household_id, hash, actor, area_code, bytes) VALUES
         (1, 'f1', 'f1a', 'A', '530921100201', 'f1a|'),
         (2, 'f1', 'f1b', 'A', '530921100201', 'f1b|'),
         (3, 'y1', 'y1a', 'A', '530922100101', 'y1a|')",
    "UPDATE sync_state SET seq = 3 WHERE id = 1",
];

async fn after_the_upgrade<D: Database>(db: D) {
    let both = scope(&[TOWNSHIP, YUN_VILLAGE]);
    let pull = |floor: i64| {
        let from = LogPosition {
            floor,
            ..LogPosition::default()
        };
        let db = db.clone();
        let both = both.clone();
        async move {
            db.changes_since(&from, &both, OwnChanges::NONE, usize::MAX)
                .await
                .expect("pull")
        }
    };
    let all = pull(0).await;
    assert_eq!(hashes(&all), ["f1a", "f1b", "y1a"], "the numbers are kept");
    assert_eq!(
        all.changes.iter().map(|c| c.seq).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    // A device that had pulled to 2 before the upgrade still gets 云县's 3.
    assert_eq!(hashes(&pull(2).await), ["y1a"]);
    // Migration 0019 gave the old rows their sizes: a page of 8 bytes holds two of the 4-byte
    // changes, not all three.
    let small = db
        .changes_since(&LogPosition::START, &both, OwnChanges::NONE, 8)
        .await
        .expect("pull");
    assert_eq!(hashes(&small), ["f1a", "f1b"]);
    assert!(small.more);
    // Past the old counter, each county numbers on from it: a device at 3 gets both.
    commit(
        &db,
        "after the upgrade",
        vec![
            write(
                "f1",
                VILLAGE,
                "f1 v2",
                Some(1),
                vec![change("f1c", "B", 10)],
            ),
            write(
                "y1",
                YUN_VILLAGE,
                "y1 v2",
                Some(1),
                vec![change("y1b", "B", 10)],
            ),
        ],
    )
    .await;
    let on = pull(3).await;
    assert_eq!(hashes(&on), ["f1c", "y1b"]);
    assert_eq!(
        on.changes.iter().map(|c| c.seq).collect::<Vec<_>>(),
        [4, 4],
        "each county's next number is above the old counter"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_log_upgrades_to_county_numbering() {
    with_sqlite(|path| async move {
        let mut conn = SqliteConnection::connect(&format!("sqlite://{path}?mode=rwc"))
            .await
            .expect("create");
        before_county_logs("sqlite")
            .await
            .run(&mut conn)
            .await
            .expect("old schema");
        for sql in OLD_LOG {
            sqlx::query(sql).execute(&mut conn).await.expect(sql);
        }
        conn.close().await.expect("close");
        after_the_upgrade(open(&path).await).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_log_upgrades_to_county_numbering() {
    with_pg(|url| async move {
        let pool = PgPool::connect(&url).await.expect("connect");
        before_county_logs("postgres")
            .await
            .run(&pool)
            .await
            .expect("old schema");
        for sql in OLD_LOG {
            sqlx::query(sql).execute(&pool).await.expect(sql);
        }
        pool.close().await;
        after_the_upgrade(open(&url).await).await;
    })
    .await;
}
