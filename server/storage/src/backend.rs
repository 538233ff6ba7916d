//! What a backend writes itself: how its transactions begin, how it stamps times, a sync's
//! commit, and the two steps of an upload whose SQL truly differs. Everything else is generated from one text by
//! [`crate::neutral_sql!`].

use std::future::Future;

use chrono::{DateTime, Utc};

use crate::recent::{Logged, RecentLog};
use crate::sql::projection::Statements;
use crate::{DbError, SyncWrite};

pub trait Backend: Clone + Send + Sync + 'static {
    type Db: sqlx::Database;
    /// How a time is bound against the upload tables' `updated_at` (text on SQLite, so that
    /// text order is time order; `timestamptz` on PostgreSQL).
    type Stamp;

    /// Opens a write transaction.
    const BEGIN_WRITE: &'static str;
    /// Opens the read transaction of a pull, whose first statement (the counter read) fixes
    /// the snapshot every later statement sees.
    const BEGIN_SNAPSHOT: &'static str;
    /// Suffix of a `SELECT` that locks the rows it reads in a write transaction (empty where a
    /// write transaction already locks the whole database).
    const FOR_UPDATE: &'static str;
    /// How a write of many statements is sent ([`Statements`]).
    const STATEMENTS: Statements;

    fn stamp(t: DateTime<Utc>) -> Self::Stamp;
    fn pool(&self) -> &sqlx::Pool<Self::Db>;
    /// The log rows this handle's commits numbered lately ([`crate::recent`]).
    fn recent(&self) -> &RecentLog;

    /// [`crate::Database::commit_sync`]: the change-log counter and the batched inserts. The
    /// log rows it numbered, once committed.
    fn commit(
        &self,
        write: &SyncWrite,
    ) -> impl Future<Output = Result<Vec<Logged>, DbError>> + Send;
    /// Inside [`crate::Database::append_upload`]'s write transaction, before anything is read:
    /// whatever makes one device's chunks go one at a time, so that its quota is read and
    /// charged without another of its chunks in between (SQLite's write lock already does).
    fn lock_uploads<'c>(
        conn: &'c mut <Self::Db as sqlx::Database>::Connection,
        device_id: &'c str,
    ) -> impl Future<Output = Result<(), DbError>> + Send + 'c;
}
