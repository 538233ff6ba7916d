//! Many writers on two handles (two server processes on one database) and two pullers
//! following the log: each change reaches each puller in scope exactly once, in order.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use zoufang_server::storage::{Database, DbError, NewChange, OwnChanges};
use zoufang_storage_any::postgres::PgDb;
use zoufang_storage_any::sqlite::SqliteDb;

use crate::common::{with_pg, with_sqlite};
use crate::fixtures::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_concurrent_writers_and_pullers() {
    with_sqlite(|path| async move {
        // Two handles on one file, as two processes would have.
        let a = SqliteDb::connect(&path).await.expect("open a");
        let b = SqliteDb::connect(&format!("sqlite://{path}"))
            .await
            .expect("open b");
        let tally = concurrency_story(a, b, 6, 40).await;
        report("sqlite", &tally);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn pg_concurrent_writers_and_pullers() {
    with_pg(|url| async move {
        // Two pools, as two server processes; both migrate at once on the empty database.
        let (a, b) = tokio::join!(PgDb::connect(&url), PgDb::connect(&url));
        let tally = concurrency_story(a.expect("connect a"), b.expect("connect b"), 16, 60).await;
        report("postgres", &tally);
    })
    .await;
}

/// What one concurrency run did.
struct Tally {
    writers: usize,
    changes: usize,
    commits: usize,
    conflicts: usize,
    pulls: usize,
    elapsed: Duration,
}

/// `writers` tasks, alternating between the two handles (two "server processes"), commit
/// batches of their own households (and now and then a household they all share, retrying on
/// conflict) while two pullers, one per handle, follow the log with small pages. Each puller must
/// end up with exactly the committed changes in its scope, each once, in increasing seq order.
async fn concurrency_story<D: Database>(a: D, b: D, writers: usize, rounds: usize) -> Tally {
    let started = Instant::now();
    let hot = write("hot", VILLAGE, "hot v1", None, vec![]);
    commit(&a, "create the shared household", vec![hot]).await;
    let done = Arc::new(AtomicBool::new(false));
    let conflicts = Arc::new(AtomicUsize::new(0));
    let commits = Arc::new(AtomicUsize::new(0));

    let mut writing = Vec::new();
    for w in 0..writers {
        let db = if w % 2 == 0 { a.clone() } else { b.clone() };
        let (conflicts, commits) = (conflicts.clone(), commits.clone());
        writing.push(tokio::spawn(async move {
            let actor = format!("actor{w}");
            let home = if w % 3 == 0 { OTHER_VILLAGE } else { VILLAGE };
            // (hash, household area) of every change this writer got committed.
            let mut committed: Vec<(String, &'static str)> = Vec::new();
            for r in 0..rounds {
                let own = format!("w{w}-h{}", r % 3);
                let mut ids = vec![own.clone()];
                if r % 4 == w % 4 {
                    ids.push("hot".to_owned());
                }
                let mut attempts = 0;
                loop {
                    attempts += 1;
                    assert!(attempts < 1000, "writer {w} starved");
                    let versions: BTreeMap<String, i64> = db
                        .households(&ids)
                        .await
                        .expect("read versions")
                        .into_iter()
                        .map(|h| (h.id, h.version))
                        .collect();
                    let mut households = Vec::new();
                    let mut logged = Vec::new();
                    for id in &ids {
                        let area = if id == "hot" { VILLAGE } else { home };
                        let n = if id == "hot" { 1 } else { 1 + (r + w) % 3 };
                        let changes: Vec<NewChange> = (0..n)
                            .map(|i| {
                                let hash = format!("{w}-{r}-{id}-{i}");
                                logged.push((hash.clone(), area));
                                change(&hash, &actor, 40 + (w * 37 + r * 11 + i * 53) % 400)
                            })
                            .collect();
                        let doc = format!("{id} by {w} in round {r}");
                        households.push(write(id, area, &doc, versions.get(id).copied(), changes));
                    }
                    match db.commit_sync(&batch(households)).await {
                        Ok(()) => {
                            commits.fetch_add(1, Ordering::Relaxed);
                            committed.extend(logged);
                            break;
                        }
                        Err(DbError::Conflict) => {
                            conflicts.fetch_add(1, Ordering::Relaxed);
                            tokio::task::yield_now().await;
                        }
                        Err(e) => panic!("writer {w}: {e}"),
                    }
                }
            }
            (actor, committed)
        }));
    }

    let pullers = [
        (a.clone(), scope(&[TOWNSHIP, OTHER_TOWNSHIP]), String::new()),
        (b.clone(), scope(&[TOWNSHIP]), "actor1".to_owned()),
    ]
    .map(|(db, scope, exclude)| {
        let done = done.clone();
        tokio::spawn(async move {
            let mut cursor = 0;
            let mut got: Vec<String> = Vec::new();
            let mut pulls = 0;
            loop {
                // Read before the pull: a pull that started after the last commit and found
                // nothing more means the log is drained.
                let finished = done.load(Ordering::SeqCst);
                let page = db
                    .changes_since(&from(cursor), &scope, OwnChanges::of(&exclude), 1500)
                    .await
                    .expect("pull");
                pulls += 1;
                for c in &page.changes {
                    assert!(c.seq > cursor, "seq {} at or behind cursor {cursor}", c.seq);
                }
                assert!(
                    page.changes.windows(2).all(|p| p[0].seq < p[1].seq),
                    "a page in seq order"
                );
                assert!(page.cursor() >= cursor, "the cursor never moves back");
                if let Some(last) = page.changes.last() {
                    assert!(page.cursor() >= last.seq);
                }
                cursor = page.cursor();
                got.extend(page.changes.iter().map(|c| hash_of(&c.bytes)));
                if !page.more {
                    if finished {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            (scope, exclude, got, pulls)
        })
    });

    let mut committed = Vec::new();
    for w in writing {
        committed.push(w.await.expect("writer"));
    }
    done.store(true, Ordering::SeqCst);
    let mut pulls = 0;
    for p in pullers {
        let (scope, exclude, got, n) = p.await.expect("puller");
        pulls += n;
        let expected: HashSet<&str> = committed
            .iter()
            .filter(|(actor, _)| *actor != exclude)
            .flat_map(|(_, changes)| changes)
            .filter(|(_, area)| scope.iter().any(|s| area.starts_with(s.as_str())))
            .map(|(hash, _)| hash.as_str())
            .collect();
        let received: HashSet<&str> = got.iter().map(String::as_str).collect();
        assert_eq!(received.len(), got.len(), "{scope:?}: a change came twice");
        let missing: Vec<_> = expected.difference(&received).collect();
        let extra: Vec<_> = received.difference(&expected).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{scope:?} minus {exclude:?}: missed {} changes (e.g. {:?}), got {} unexpected \
             (e.g. {:?})",
            missing.len(),
            missing.first(),
            extra.len(),
            extra.first()
        );
        assert!(!expected.is_empty());
    }
    let changes = committed.iter().map(|(_, c)| c.len()).sum();
    let total = pull_bytes(&a, 0, &["5"], usize::MAX).await;
    assert_eq!(
        total.changes.len(),
        changes,
        "the log holds each change once"
    );
    assert_eq!(total.cursor(), changes as i64, "numbering without gaps");
    Tally {
        writers,
        changes,
        commits: commits.load(Ordering::Relaxed),
        conflicts: conflicts.load(Ordering::Relaxed),
        pulls,
        elapsed: started.elapsed(),
    }
}

fn report(backend: &str, t: &Tally) {
    eprintln!(
        "{backend}: {} writers on 2 handles committed {} changes in {} batches ({} conflicts \
         retried), 2 pullers made {} pulls, {:.2?}",
        t.writers, t.changes, t.commits, t.conflicts, t.pulls, t.elapsed
    );
}
