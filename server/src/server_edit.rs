//! Changes the server itself makes to a household — reviewers' decisions, corrections — written
//! as Automerge changes under the server's actor into the document and the change log, so they
//! reach every device's next pull like any device's edit.

use zoufang_shared::doc::{ChangeAuthor, DocError, Editor, HouseholdDoc};
use zoufang_shared::limits::{self, TextRefusal};

use crate::actor::server_actor;
use crate::projection::household_write_read;
use crate::storage::{Database, DbError, NewChange, SyncWrite};

#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("找不到农户 {0}")]
    NotFound(String),
    #[error("{0}")]
    Doc(#[from] DocError),
    /// The edit writes text over the limits devices are held to.
    #[error("{0}")]
    Text(#[from] TextRefusal),
    #[error("服务器繁忙,请重试")]
    Busy,
    #[error("数据库错误:{0}")]
    Db(#[from] DbError),
}

/// Applies `f` to household `id` as one server-authored change; retried on a concurrent write.
/// Returns `None` when `f` changed nothing.
pub async fn edit_household<D: Database, R>(
    db: &D,
    id: &str,
    author: &ChangeAuthor,
    f: impl Fn(&mut Editor<'_>) -> Result<R, DocError>,
) -> Result<R, EditError> {
    for _ in 0..8 {
        let stored = db
            .households(&[id.to_owned()])
            .await?
            .pop()
            .ok_or_else(|| EditError::NotFound(id.to_owned()))?;
        let mut doc = HouseholdDoc::load(&stored.doc, server_actor())?;
        let before = doc.read()?;
        let (r, hash) = doc.edit(author, &f)?;
        let Some(hash) = hash else { return Ok(r) };
        // A reviewer's comment or settled value is text like a device's: PostgreSQL cannot
        // store a NUL, and every export and device gets what is written here.
        let after = doc.read_all()?;
        limits::check_text(Some(&before), &after.household)?;
        let change = doc
            .automerge()
            .get_last_local_change()
            .ok_or_else(|| DocError::Layout("no change after an edit".into()))?;
        let change = NewChange {
            hash: hash.to_string(),
            actor: server_actor().to_hex_string(),
            bytes: change.raw_bytes().to_vec(),
        };
        let mut household =
            household_write_read(id, &mut doc, after, Some(stored.version), vec![change])?;
        household.projected_before = stored.projected.clone();
        let write = SyncWrite {
            households: vec![household],
        };
        match db.commit_sync(&write).await {
            Ok(()) => return Ok(r),
            Err(DbError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(EditError::Busy)
}
