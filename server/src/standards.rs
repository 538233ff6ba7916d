//! The county's income standards table, of which the server is the authority (issue 18).
//!
//! An admin imports it (`zoufang-server standards import FILE`: validated, stored with its
//! digest, every household re-projected); devices fetch it (`GET /api/standards`) after each
//! sync; verdicts on both sides then use the same lines. Until a table is imported, the
//! built-in one (`shared/data/standards.json`) applies on both sides.
//!
//! The table in use is process-wide ([`current`]) rather than threaded through every caller:
//! the projection is a function of a document and this table, called from sync merges, server
//! edits and reindexing alike. A running server polls the stored digest ([`watch`]), so an
//! import made by the command line (or on another server process) reaches it within
//! [`POLL`] without a restart.

use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use chrono::Utc;
use zoufang_shared::rules::standards::{Standards, StandardsError};

use crate::storage::{Accounts, DbError, StoredStandards};

/// How often a running server looks for a newly imported table.
pub const POLL: Duration = Duration::from_secs(10);

/// A table in use: the parsed lines, their JSON text and its digest.
#[derive(Debug)]
pub struct Table {
    pub standards: Standards,
    pub json: String,
    pub digest: String,
}

impl Table {
    fn parse(json: String) -> Result<Table, StandardsError> {
        Ok(Table {
            standards: Standards::from_json(&json)?,
            digest: Standards::digest(&json),
            json,
        })
    }
}

fn slot() -> &'static RwLock<Arc<Table>> {
    static SLOT: OnceLock<RwLock<Arc<Table>>> = OnceLock::new();
    SLOT.get_or_init(|| {
        let builtin = Table::parse(Standards::builtin_json().to_owned())
            .expect("the built-in standards table is valid (a unit test checks it)");
        RwLock::new(Arc::new(builtin))
    })
}

/// The table in use now.
pub fn current() -> Arc<Table> {
    match slot().read() {
        Ok(t) => t.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

fn set(table: Table) {
    let table = Arc::new(table);
    match slot().write() {
        Ok(mut t) => *t = table,
        Err(poisoned) => *poisoned.into_inner() = table,
    }
}

/// Loads the stored table if it differs from the one in use; true when it changed. A stored
/// table that no longer parses (written by a newer version?) is logged and left unused.
pub async fn refresh<D: Accounts>(db: &D) -> Result<bool, DbError> {
    let Some(digest) = db.standards_digest().await? else {
        return Ok(false);
    };
    if digest == current().digest {
        return Ok(false);
    }
    let Some(stored) = db.standards().await? else {
        return Ok(false);
    };
    match Table::parse(stored.json) {
        Ok(table) => {
            tracing::info!(
                entries = table.standards.entries().len(),
                "standards table loaded"
            );
            set(table);
            Ok(true)
        }
        Err(e) => {
            tracing::error!(error = %e, "stored standards table is invalid; keeping the one in use");
            Ok(false)
        }
    }
}

/// Polls for a newly imported table, for as long as the server runs.
pub async fn watch<D: Accounts>(db: D) {
    let mut tick = tokio::time::interval(POLL);
    loop {
        tick.tick().await;
        if let Err(e) = refresh(&db).await {
            tracing::warn!(error = %e, "standards table not checked");
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Invalid(#[from] StandardsError),
    #[error("数据库错误:{0}")]
    Db(#[from] DbError),
}

/// Validates `json` and stores it as the county's table, in use from now on in this process.
pub async fn import<D: Accounts>(db: &D, json: &str) -> Result<Arc<Table>, ImportError> {
    let table = Table::parse(json.to_owned())?;
    db.set_standards(&StoredStandards {
        json: table.json.clone(),
        digest: table.digest.clone(),
        imported_at: Utc::now(),
    })
    .await?;
    set(table);
    Ok(current())
}
