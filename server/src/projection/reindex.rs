//! Rebuilding the projection from the stored documents alone.
//!
//! Safe while the server runs: each page's projections are written only for households whose
//! version is still the one read, so a rebuild never overwrites what a concurrent sync wrote.

use zoufang_shared::doc::HouseholdDoc;

use super::project;
use crate::actor::server_actor;
use crate::storage::{Database, DbError};

/// Households read and rewritten per transaction.
const PAGE: i64 = 200;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReindexReport {
    pub households: usize,
    /// Skipped because a concurrent write moved them (their own write projected them).
    pub moved: usize,
    /// Documents that could not be read, by id; their old rows stay.
    pub unreadable: Vec<String>,
}

pub async fn reindex<D: Database>(db: &D) -> Result<ReindexReport, DbError> {
    let mut report = ReindexReport::default();
    let mut after = String::new();
    loop {
        let page = db.household_ids_after(&after, PAGE).await?;
        let Some((last, _)) = page.last() else { break };
        after = last.clone();
        let ids: Vec<String> = page.iter().map(|(id, _)| id.clone()).collect();
        let mut items = Vec::with_capacity(ids.len());
        for stored in db.households(&ids).await? {
            let projected = HouseholdDoc::load(&stored.doc, server_actor())
                .and_then(|mut doc| project(&stored.id, &mut doc));
            match projected {
                Ok(p) => items.push((stored.version, p)),
                Err(e) => {
                    tracing::error!(household = %stored.id, error = %e, "document unreadable");
                    report.unreadable.push(stored.id);
                }
            }
        }
        let written = db.rewrite_projections(&items).await?;
        report.households += written;
        report.moved += items.len() - written;
    }
    Ok(report)
}
