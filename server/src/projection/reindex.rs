//! Rebuilding the projection from the stored documents alone.
//!
//! Safe while the server runs: each page's projections are written only for households whose
//! version is still the one read, so a rebuild never overwrites what a concurrent sync wrote.

use zoufang_shared::doc::HouseholdDoc;

use super::project;
use crate::actor::server_actor;
use crate::storage::{Database, DbError};

/// Households read and rewritten per transaction.
pub const PAGE: i64 = 200;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReindexReport {
    pub households: usize,
    /// Skipped because a concurrent write moved them (their own write projected them).
    pub moved: usize,
    /// Documents that could not be read, by id; their old rows stay.
    pub unreadable: Vec<String>,
}

/// [`reindex_with`] one page at a time.
pub async fn reindex<D: Database + Clone + 'static>(db: &D) -> Result<ReindexReport, DbError> {
    reindex_with(db, 1, PAGE).await
}

/// Rebuilds the projection `page` households at a time, with up to `jobs` pages read, projected
/// and written at once (on PostgreSQL the writes go in parallel too; SQLite takes them one at a
/// time while the documents of the next pages are being read and projected).
pub async fn reindex_with<D: Database + Clone + 'static>(
    db: &D,
    jobs: usize,
    page: i64,
) -> Result<ReindexReport, DbError> {
    let mut report = ReindexReport::default();
    let mut running = tokio::task::JoinSet::new();
    let mut after = String::new();
    loop {
        let ids = db.household_ids_after(&after, page).await?;
        let Some((last, _)) = ids.last() else { break };
        after = last.clone();
        if running.len() >= jobs.max(1) {
            report.add(joined(running.join_next().await)?);
        }
        let ids: Vec<String> = ids.into_iter().map(|(id, _)| id).collect();
        let db = db.clone();
        running.spawn(async move { rebuild_page(&db, &ids).await });
    }
    while let Some(done) = running.join_next().await {
        report.add(joined(Some(done))?);
    }
    report.unreadable.sort();
    Ok(report)
}

/// A finished page's report; a page's panic is the caller's.
fn joined(
    done: Option<Result<Result<ReindexReport, DbError>, tokio::task::JoinError>>,
) -> Result<ReindexReport, DbError> {
    match done {
        Some(Ok(report)) => report,
        Some(Err(e)) => std::panic::resume_unwind(e.into_panic()),
        None => Ok(ReindexReport::default()),
    }
}

impl ReindexReport {
    fn add(&mut self, page: ReindexReport) {
        self.households += page.households;
        self.moved += page.moved;
        self.unreadable.extend(page.unreadable);
    }
}

async fn rebuild_page<D: Database>(db: &D, ids: &[String]) -> Result<ReindexReport, DbError> {
    let mut report = ReindexReport::default();
    let stored = db.households(ids).await?;
    // Off the async threads: the loads and projections are the page's CPU work.
    let (items, unreadable) = tokio::task::spawn_blocking(move || {
        let mut items = Vec::with_capacity(stored.len());
        let mut unreadable = Vec::new();
        for stored in stored {
            let projected = HouseholdDoc::load(&stored.doc, server_actor())
                .and_then(|mut doc| project(&stored.id, &mut doc));
            match projected {
                Ok(p) => items.push((stored.version, p)),
                Err(e) => {
                    tracing::error!(household = %stored.id, error = %e, "document unreadable");
                    unreadable.push(stored.id);
                }
            }
        }
        (items, unreadable)
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    report.unreadable = unreadable;
    let written = db.rewrite_projections(&items).await?;
    report.households = written;
    report.moved = items.len() - written;
    Ok(report)
}
