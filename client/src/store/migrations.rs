//! Schema versions of the client store, applied on open.
//!
//! The version lives in `PRAGMA user_version`; upgrades run in one immediate transaction, so a
//! crash mid-upgrade leaves the old schema; a database newer than this build is refused rather
//! than misread (the approach of mozilla/application-services' `open_database`).

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;

/// Every migration, in order; the version after applying entry `i` is `i + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/client/0001_init.sql"),
    include_str!("../../../migrations/client/0002_person_ids_by_household.sql"),
    include_str!("../../../migrations/client/0003_sync.sql"),
    include_str!("../../../migrations/client/0004_drafts.sql"),
    include_str!("../../../migrations/client/0005_last_visit.sql"),
];

pub const CURRENT_VERSION: i64 = MIGRATIONS.len() as i64;

pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > CURRENT_VERSION {
        return Err(StoreError::NewerDatabase {
            found,
            supported: CURRENT_VERSION,
        });
    }
    if found == CURRENT_VERSION {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for (i, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(found).unwrap_or(0))
    {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
    }
    tx.commit()?;
    Ok(())
}
