//! What the server is known to have of each household, and what to send it next.
//!
//! A household is *dirty* while it has changes the server is not known to hold. Work is marked
//! synced only from the server's answer, and a whole answer (acknowledgements, pulled changes,
//! the new cursor) is applied in one transaction: a crash leaves the device as before the sync,
//! and the retried sync is harmless because the server ignores changes it already has.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{OptionalExtension, TransactionBehavior, params};
use zoufang_shared::doc::{ChangeHash, HouseholdDoc};
use zoufang_shared::ids::HouseholdId;
use zoufang_shared::wire::{Cursors, DEVICE_CHANGES_PER_PUSH};

use super::households::{load_doc, write_doc};
use super::{Store, StoreError};

/// Settings keys: the pull cursor, the scope it covers, and households to fetch in full.
pub(super) const CURSOR: &str = "sync_cursor";
/// Protocol 6: the pull cursor of each county (JSON); `sync_cursor` is then their floor.
pub(super) const CURSORS: &str = "sync_cursors";
pub(super) const SCOPE: &str = "sync_scope";
pub(super) const WANT_FULL: &str = "sync_want_full";

/// One household's changes to send.
#[derive(Debug, Clone)]
pub struct PendingPush {
    pub household: String,
    pub changes: Vec<Vec<u8>>,
    /// The household's heads when the push was made: what the server has once it accepts.
    pub heads: Vec<ChangeHash>,
}

/// The heads each pushed household had, by id (see [`Store::apply_sync`]).
pub type SentHeads = BTreeMap<String, Vec<ChangeHash>>;

/// What a set of pushes sent.
pub fn sent_heads(pushes: &[PendingPush]) -> SentHeads {
    pushes
        .iter()
        .map(|p| (p.household.clone(), p.heads.clone()))
        .collect()
}

/// A push the server refused, as kept for the user.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rejection {
    pub household: String,
    pub code: String,
    pub message: String,
}

/// What applying one response did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncOutcome {
    pub accepted: usize,
    pub rejected: Vec<Rejection>,
    /// Households the server wants in full (it lacks earlier changes).
    pub need_all: usize,
    /// Households to ask for whole next round (pulled changes that could not be applied).
    pub want_full: usize,
    pub pulled_changes: usize,
    pub households_updated: usize,
    /// Households that left the user's areas, removed from this device (protocol 5, `gone`).
    pub households_removed: usize,
    /// Of those, how many had edits not yet sent (lost: the server would refuse them).
    pub removed_unsent: usize,
    /// Steps decided on the server (乡镇审核, 县级审定, 公告) newly arrived for households that
    /// were already on the device.
    pub decisions_received: usize,
}

/// The heads of `id` the server is known to hold; none if it never received the household.
fn server_heads(
    conn: &rusqlite::Connection,
    id: &HouseholdId,
) -> Result<Vec<ChangeHash>, StoreError> {
    let text: String = conn
        .query_row(
            "SELECT server_heads FROM households WHERE id = ?1",
            [id.as_str()],
            |r| r.get(0),
        )
        .optional()?
        .ok_or_else(|| StoreError::NotFound(id.clone()))?;
    Ok(to_hashes(&text))
}

pub(super) fn to_hashes(text: &str) -> Vec<ChangeHash> {
    serde_json::from_str::<Vec<String>>(text)
        .unwrap_or_default()
        .iter()
        .filter_map(|h| h.parse().ok())
        .collect()
}

/// The first [`DEVICE_CHANGES_PER_PUSH`] changes after `have` in causal order, in their wire
/// form; the heads a document holding just them has; and whether changes were left out.
fn first_changes_after(
    doc: &mut HouseholdDoc,
    have: &[ChangeHash],
) -> (Vec<Vec<u8>>, Vec<ChangeHash>, bool) {
    let mut changes = doc.automerge().get_changes(have);
    if changes.len() <= DEVICE_CHANGES_PER_PUSH {
        let bytes = changes.iter().map(|c| c.raw_bytes().to_vec()).collect();
        return (bytes, doc.heads(), false);
    }
    changes.truncate(DEVICE_CHANGES_PER_PUSH);
    // A change another sent one depends on is not a head; the heads before `have` do not
    // matter, the server already holds them.
    let covered: BTreeSet<ChangeHash> = changes
        .iter()
        .flat_map(|c| c.deps().iter().copied())
        .collect();
    let mut heads: Vec<ChangeHash> = changes
        .iter()
        .map(|c| c.hash())
        .filter(|h| !covered.contains(h))
        .collect();
    heads.sort_unstable();
    let bytes = changes.iter().map(|c| c.raw_bytes().to_vec()).collect();
    (bytes, heads, true)
}

pub(super) fn to_text(hashes: &[ChangeHash]) -> String {
    serde_json::to_string(&hashes.iter().map(ToString::to_string).collect::<Vec<_>>())
        .unwrap_or_else(|_| "[]".into())
}

impl Store {
    pub fn sync_cursor(&self) -> Result<i64, StoreError> {
        Ok(self
            .setting(CURSOR)?
            .and_then(|c| c.parse().ok())
            .unwrap_or(0))
    }

    /// Where pulls stand in each county (the counties not named stand at [`Store::sync_cursor`]).
    pub fn sync_cursors(&self) -> Result<Cursors, StoreError> {
        Ok(self
            .setting(CURSORS)?
            .and_then(|c| serde_json::from_str(&c).ok())
            .unwrap_or_default())
    }

    /// The scope key of the last pull ("" before the first).
    pub fn sync_scope(&self) -> Result<String, StoreError> {
        Ok(self.setting(SCOPE)?.unwrap_or_default())
    }

    /// Households whose pulled changes could not be applied, to fetch whole.
    pub fn want_full(&self) -> Result<Vec<String>, StoreError> {
        Ok(self
            .setting(WANT_FULL)?
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default())
    }

    /// Households with changes the server lacks, up to about `max_bytes` of changes (at least
    /// one household), and whether more remain. Of one household at most
    /// [`DEVICE_CHANGES_PER_PUSH`] changes go, the earliest: a prefix of the causal order, which
    /// the server can apply on its own, and whose heads it then holds. The household stays dirty
    /// for the rest, which the next round sends.
    pub fn pending_pushes(&self, max_bytes: usize) -> Result<(Vec<PendingPush>, bool), StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, server_heads FROM households WHERE dirty = 1 ORDER BY id",
        )?;
        let rows: Vec<(String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let mut out = Vec::new();
        let mut bytes = 0;
        let mut cut = false;
        for (i, (id, heads)) in rows.iter().enumerate() {
            let mut doc = self.doc(&HouseholdId(id.clone()))?;
            let have: Vec<ChangeHash> = to_hashes(heads)
                .into_iter()
                .filter(|h| doc.has_change(h))
                .collect();
            let (changes, heads, rest) = first_changes_after(&mut doc, &have);
            if changes.is_empty() {
                continue;
            }
            cut |= rest;
            bytes += changes.iter().map(Vec::len).sum::<usize>();
            out.push(PendingPush {
                household: id.clone(),
                changes,
                heads,
            });
            if bytes >= max_bytes {
                return Ok((out, cut || i + 1 < rows.len()));
            }
        }
        Ok((out, cut))
    }

    /// Households with changes the server is not known to have.
    pub fn pending_count(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM households WHERE dirty = 1", [], |r| {
                r.get(0)
            })?)
    }

    pub fn rejections(&self) -> Result<Vec<Rejection>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT household_id, code, message FROM sync_rejections ORDER BY 1")?;
        let rows = stmt.query_map([], |r| {
            Ok(Rejection {
                household: r.get(0)?,
                code: r.get(1)?,
                message: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Whether the server has never received anything of this household (a household created
    /// here and not synced yet).
    pub fn never_synced(&self, id: &HouseholdId) -> Result<bool, StoreError> {
        Ok(server_heads(&self.conn, id)?.is_empty())
    }

    /// Takes back a household created on this device by mistake, before any sync: it is
    /// removed. One the server holds stays (it can only be proposed for 错评剔除).
    pub fn withdraw_new(&mut self, id: &HouseholdId) -> Result<(), StoreError> {
        if !self.never_synced(id)? {
            return Err(StoreError::AlreadySynced);
        }
        self.reset_to_server(id).map(|_| ())
    }

    /// Drops this device's changes to a household the server refused, going back to the
    /// version the server is known to hold (the document forked at the server's heads); a
    /// household the server never had is removed. Other households are untouched. Returns
    /// whether the household is still on the device.
    pub fn reset_to_server(&mut self, id: &HouseholdId) -> Result<bool, StoreError> {
        let actor = self.identity()?.actor;
        let salt = self.id_salt()?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let heads = server_heads(&tx, id)?;
        let mut doc = load_doc(&tx, id, actor)?.ok_or_else(|| StoreError::NotFound(id.clone()))?;
        let heads: Vec<ChangeHash> = heads.into_iter().filter(|h| doc.has_change(h)).collect();
        tx.execute(
            "DELETE FROM sync_rejections WHERE household_id = ?1",
            [id.as_str()],
        )?;
        let kept = if heads.is_empty() {
            for sql in [
                "DELETE FROM person_ids WHERE household_id = ?1",
                "DELETE FROM household_index WHERE id = ?1",
                "DELETE FROM households WHERE id = ?1",
            ] {
                tx.execute(sql, [id.as_str()])?;
            }
            false
        } else {
            let mut server = doc.fork_at(&heads)?;
            write_doc(&tx, &mut server, &self.standards, &salt)?;
            tx.execute(
                "UPDATE households SET server_heads = ?2, dirty = 0 WHERE id = ?1",
                params![id.as_str(), to_text(&heads)],
            )?;
            true
        };
        tx.commit()?;
        Ok(kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zoufang_shared::wire::{PushOutcome, SyncResponse};

    /// A store of user zhang in a directory of its own (kept while the store is used).
    fn new_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("dir");
        let mut store = Store::create(dir.path(), "test-passphrase").expect("store");
        store.init("zhang", "张调查").expect("init");
        (dir, store)
    }

    fn answer(scope: &str) -> SyncResponse {
        SyncResponse {
            cursor: 7,
            scope: scope.to_owned(),
            ..SyncResponse::default()
        }
    }

    /// Over HTTP the server names no heads: an accepted push counts as what was sent, and an
    /// edit made while the answer was on its way stays to be sent.
    #[test]
    fn an_accepted_push_counts_as_what_was_sent() {
        let (_dir, mut store) = new_store();
        let id = HouseholdId("hh-1".into());
        store.create_household(&id, |_| Ok(())).expect("household");
        let (sent, _) = store.pending_pushes(usize::MAX).expect("pending");
        store
            .edit_household(&id, |e| e.set_field("info.phone", "13800000000".into()))
            .expect("edit while syncing");
        let mut answer = answer("aaaa");
        answer.results.push(zoufang_shared::wire::PushResult {
            household: "hh-1".into(),
            outcome: PushOutcome::Accepted { heads: Vec::new() },
        });
        store
            .apply_sync(&answer, &sent_heads(&sent))
            .expect("apply");
        let (left, _) = store.pending_pushes(usize::MAX).expect("pending");
        assert_eq!(left.len(), 1, "the later edit is still to send");
        assert_eq!(left[0].changes.len(), 1, "and only it");
    }

    /// A refused household goes back to what the server holds; one the server never had goes;
    /// other households keep their unsent edits.
    #[test]
    fn resetting_a_refused_household_drops_only_its_local_changes() {
        let (_dir, mut store) = new_store();
        let (synced, other, fresh) = (
            HouseholdId("hh-1".into()),
            HouseholdId("hh-2".into()),
            HouseholdId("hh-3".into()),
        );
        for id in [&synced, &other] {
            store.create_household(id, |_| Ok(())).expect("household");
        }
        let (sent, _) = store.pending_pushes(usize::MAX).expect("pending");
        let mut answer = answer("aaaa");
        for id in [&synced, &other] {
            answer.results.push(zoufang_shared::wire::PushResult {
                household: id.0.clone(),
                outcome: PushOutcome::Accepted { heads: Vec::new() },
            });
        }
        store
            .apply_sync(&answer, &sent_heads(&sent))
            .expect("apply");
        for id in [&synced, &other] {
            store
                .edit_household(id, |e| e.set_field("info.phone", "13800000000".into()))
                .expect("edit");
        }
        store.create_household(&fresh, |_| Ok(())).expect("new");

        assert!(store.reset_to_server(&synced).expect("reset"), "kept");
        assert_eq!(store.household(&synced).expect("read").info.phone, None);
        assert!(!store.reset_to_server(&fresh).expect("reset"), "removed");
        assert!(!store.contains(&fresh).expect("contains"));
        let (left, _) = store.pending_pushes(usize::MAX).expect("pending");
        let left: Vec<&str> = left.iter().map(|p| p.household.as_str()).collect();
        assert_eq!(
            left,
            ["hh-2"],
            "only the other household's edit is still to send"
        );
        assert_eq!(
            store.household(&other).expect("read").info.phone.as_deref(),
            Some("13800000000")
        );
    }

    /// Households the server names `gone` leave the device whole, unsent edits included
    /// (counted), in the same transaction as the rest of the answer; a photo goes unless
    /// another household still refers to it; other households are untouched.
    #[test]
    fn a_gone_household_is_removed_with_what_only_it_refers_to() {
        use zoufang_shared::codes::AttachmentKind;
        use zoufang_shared::model::Attachment;
        let (_dir, mut store) = new_store();
        let (leaving, staying, edited) = (
            HouseholdId("hh-1".into()),
            HouseholdId("hh-2".into()),
            HouseholdId("hh-3".into()),
        );
        let (own, shared) = ("a".repeat(64), "b".repeat(64));
        let meta = Attachment {
            kind: AttachmentKind::Photo,
            signer: None,
            mime: "image/png".into(),
            bytes: 3,
            width: None,
            height: None,
            captured_at: None,
            captured_by: None,
            visit: None,
            case: None,
        };
        for hash in [&own, &shared] {
            store
                .conn
                .execute(
                    "INSERT INTO attachments(hash, mime, size, bytes, original_of, uploaded,
                                             created_at)
                     VALUES (?1, 'image/png', 3, x'010203', NULL, 1, '2024-01-01T00:00:00Z')",
                    [hash],
                )
                .expect("attachment");
        }
        store
            .conn
            .execute(
                "INSERT INTO attachments(hash, mime, size, bytes, original_of, created_at)
                 VALUES (?1, 'image/jpeg', 3, x'040506', ?2, '2024-01-01T00:00:00Z')",
                params!["c".repeat(64), own],
            )
            .expect("the camera original");
        store
            .create_household(&leaving, |e| {
                e.put_attachment(&own, &meta)?;
                e.put_attachment(&shared, &meta)
            })
            .expect("household");
        store
            .create_household(&staying, |e| e.put_attachment(&shared, &meta))
            .expect("household");
        store
            .create_household(&edited, |_| Ok(()))
            .expect("household");
        let (sent, _) = store.pending_pushes(usize::MAX).expect("pending");
        let mut synced = answer("aaaa");
        for id in [&leaving, &staying, &edited] {
            synced.results.push(zoufang_shared::wire::PushResult {
                household: id.0.clone(),
                outcome: PushOutcome::Accepted { heads: Vec::new() },
            });
        }
        store
            .apply_sync(&synced, &sent_heads(&sent))
            .expect("apply");
        store
            .edit_household(&edited, |e| e.set_field("info.phone", "13800000000".into()))
            .expect("an edit not sent yet");
        store
            .conn
            .execute(
                "INSERT INTO sync_rejections(household_id, code, message, at)
                 VALUES ('hh-3', 'out_of_scope', '该户不在您负责的区域内', 'now')",
                [],
            )
            .expect("rejection");

        let mut gone = answer("aaaa");
        gone.cursor = 9;
        gone.gone = vec!["hh-1".into(), "hh-3".into(), "hh-unknown".into()];
        let outcome = store.apply_sync(&gone, &SentHeads::new()).expect("apply");
        assert_eq!((outcome.households_removed, outcome.removed_unsent), (2, 1));
        assert!(!store.contains(&leaving).expect("contains"));
        assert!(!store.contains(&edited).expect("contains"));
        assert!(store.contains(&staying).expect("contains"));
        assert_eq!(store.count().expect("count"), 1, "the index row went too");
        assert!(store.rejections().expect("rejections").is_empty());
        assert!(store.attachment(&own).expect("read").is_none());
        assert!(
            store.attachment(&"c".repeat(64)).expect("read").is_none(),
            "its camera original"
        );
        assert!(store.attachment(&shared).expect("read").is_some());
        for table in ["person_ids", "household_index", "households"] {
            let left: i64 = store
                .conn
                .query_row(
                    &format!(
                        "SELECT count(*) FROM {table} WHERE {} IN ('hh-1', 'hh-3')",
                        if table == "person_ids" {
                            "household_id"
                        } else {
                            "id"
                        }
                    ),
                    [],
                    |r| r.get(0),
                )
                .expect("count");
            assert_eq!(left, 0, "{table}");
        }
        assert_eq!(store.sync_cursor().expect("cursor"), 9);
        assert!(
            store
                .pending_pushes(usize::MAX)
                .expect("pending")
                .0
                .is_empty()
        );
    }

    /// A household the server acknowledged is offered again only when the server names another
    /// change log (it was restored from a backup), not when the user's areas change.
    #[test]
    fn a_restored_server_gets_everything_again() {
        let (_dir, mut store) = new_store();
        store
            .create_household(&HouseholdId("hh-1".into()), |_| Ok(()))
            .expect("household");
        let pending = |store: &Store| store.pending_pushes(usize::MAX).expect("pending").0;
        assert_eq!(pending(&store).len(), 1);
        let heads = store.doc(&HouseholdId("hh-1".into())).expect("doc").heads();
        let mut acknowledged = answer("aaaa");
        acknowledged.results.push(zoufang_shared::wire::PushResult {
            household: "hh-1".into(),
            outcome: PushOutcome::Accepted {
                heads: heads.iter().map(|h| h.0).collect(),
            },
        });
        store
            .apply_sync(&acknowledged, &SentHeads::new())
            .expect("apply");
        assert!(pending(&store).is_empty(), "synced");

        let moved = store
            .apply_sync(&answer("bbbb"), &SentHeads::new())
            .expect("areas changed");
        assert_eq!(moved.need_all, 0);
        assert!(pending(&store).is_empty(), "an area change resends nothing");

        let restored = store
            .apply_sync(&answer("bbbb.4f1c2a9b7e01"), &SentHeads::new())
            .expect("restored");
        assert_eq!(restored.need_all, 1);
        let again = pending(&store);
        assert_eq!(again.len(), 1);
        let every = store
            .doc(&HouseholdId("hh-1".into()))
            .expect("doc")
            .changes_after(&[]);
        assert_eq!(
            again[0].changes, every,
            "the whole household, from the start"
        );
        assert_eq!(store.sync_scope().expect("scope"), "bbbb.4f1c2a9b7e01");

        let same = store
            .apply_sync(&answer("bbbb.4f1c2a9b7e01"), &SentHeads::new())
            .expect("again");
        assert_eq!(same.need_all, 0, "once per restore");
    }
}
