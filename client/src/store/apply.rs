//! Carrying out a sync answer ([`super::answer::Answer`]) on the store, in one transaction: a
//! crash leaves the device as before the sync, and the retried sync is harmless because the
//! server ignores changes it already has.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};
use zoufang_shared::authority::decided_by;
use zoufang_shared::doc::{ActorId, ChangeHash, HouseholdDoc};
use zoufang_shared::ids::{CaseId, StepId};
use zoufang_shared::wire::SyncResponse;

use super::answer::{Answer, read_answer};
use super::households::write_doc;
use super::sync_state::{
    CURSOR, CURSORS, SCOPE, SentHeads, SyncOutcome, WANT_FULL, to_hashes, to_text,
};
use super::{Store, StoreError};

impl Store {
    /// Applies a server's answer to the pushes in `sent`, all in one transaction. An accepted
    /// push counts as the heads it was sent with, else (a bundle's reply, read later) as the
    /// heads the server names.
    pub fn apply_sync(
        &mut self,
        res: &SyncResponse,
        sent: &SentHeads,
    ) -> Result<SyncOutcome, StoreError> {
        let answer = read_answer(res, sent, &self.sync_scope()?)?;
        let actor = self.identity()?.actor;
        let salt = self.id_salt()?;
        let mut want_full: BTreeSet<String> = self.want_full()?.into_iter().collect();
        let mut outcome = SyncOutcome {
            accepted: answer.accepted.len(),
            rejected: answer.rejected.clone(),
            need_all: answer.need_all.len(),
            pulled_changes: answer.pulled_changes(),
            ..SyncOutcome::default()
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        record_results(&tx, &answer)?;
        // What the server is now known to have, per household touched.
        let mut known: BTreeMap<String, Vec<ChangeHash>> = BTreeMap::new();
        for (id, heads) in &answer.accepted {
            let mut k = server_heads(&tx, id)?;
            k.extend(heads.iter().copied());
            known.insert(id.clone(), k);
        }
        let mut docs: BTreeMap<String, HouseholdDoc> = BTreeMap::new();
        for (id, changes) in answer.pulled {
            let existing = load(&tx, &id, &actor)?;
            // Only households already on the device: a household arriving whole brings its past
            // decisions, which are history rather than news for the surveyor.
            let decided_before = existing.as_ref().map(decisions);
            let mut doc = existing.unwrap_or_else(|| HouseholdDoc::empty(actor.clone()));
            let hashes: Vec<ChangeHash> = changes.iter().map(|c| c.hash()).collect();
            // A change whose dependency never reached this device (the household moved into
            // its areas, say) must not stop the rest: ask for the whole household next round.
            if let Err(e) = doc.apply(changes) {
                tracing::warn!(household = id, error = %e, "pulled changes not applicable");
                want_full.insert(id);
                continue;
            }
            want_full.remove(&id);
            if let Some(before) = decided_before {
                outcome.decisions_received += decisions(&doc).difference(&before).count();
            }
            let heads = match known.entry(id.clone()) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => e.insert(server_heads(&tx, &id)?),
            };
            heads.extend(hashes);
            docs.insert(id, doc);
        }
        for (id, hashes) in &known {
            let mut doc = match docs.remove(id) {
                Some(mut d) => {
                    write_doc(&tx, &mut d, &self.standards, &salt)?;
                    outcome.households_updated += 1;
                    d
                }
                None => match load(&tx, id, &actor)? {
                    Some(d) => d,
                    None => continue,
                },
            };
            let present: Vec<ChangeHash> = hashes
                .iter()
                .copied()
                .filter(|h| doc.has_change(h))
                .collect();
            let dirty = !doc.changes_after(&present).is_empty();
            let heads = if dirty { present } else { doc.heads() };
            tx.execute(
                "UPDATE households SET server_heads = ?2, dirty = ?3 WHERE id = ?1",
                params![id, to_text(&heads), dirty as i64],
            )?;
        }
        // Photos of the households that go, kept while another household still refers to one.
        let mut photos = BTreeSet::new();
        for id in &answer.gone {
            want_full.remove(id);
            if let Some(unsent) = drop_household(&tx, id, &actor, &mut photos)? {
                outcome.households_removed += 1;
                outcome.removed_unsent += usize::from(unsent);
            }
        }
        drop_unreferenced_photos(&tx, photos, &actor)?;
        for id in answer.need_all.difference(&answer.gone) {
            tx.execute(
                "UPDATE households SET server_heads = '[]', dirty = 1 WHERE id = ?1",
                [id],
            )?;
        }
        if answer.restored {
            // The server went back to a backup: offer every household again from the start (it
            // keeps what it lacks, its own changes and those it may take back from other
            // devices, and skips the rest), and every photo.
            tracing::warn!("the server was restored from a backup: sending everything again");
            outcome.need_all +=
                tx.execute("UPDATE households SET server_heads = '[]', dirty = 1", [])?;
            tx.execute(
                "UPDATE attachments SET uploaded = 0 WHERE original_of IS NULL",
                [],
            )?;
        }
        outcome.want_full = want_full.len();
        let want_full = serde_json::to_string(&want_full).unwrap_or_else(|_| "[]".into());
        for (key, value) in [
            (CURSOR, res.cursor.to_string()),
            (
                CURSORS,
                serde_json::to_string(&res.cursors).unwrap_or_else(|_| "{}".into()),
            ),
            (SCOPE, res.scope.clone()),
            (WANT_FULL, want_full),
        ] {
            tx.execute(
                "INSERT INTO settings(key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )?;
        }
        tx.commit()?;
        Ok(outcome)
    }
}

/// The step records of `doc` decided on the server (乡镇审核, 县级审定, 公告), by case and step
/// record; none when the document does not read (it is then not news either).
fn decisions(doc: &HouseholdDoc) -> BTreeSet<(CaseId, StepId)> {
    let Ok(h) = doc.read() else {
        return BTreeSet::new();
    };
    h.cases
        .into_iter()
        .flat_map(|(case, c)| {
            c.steps
                .into_iter()
                .filter(|(_, r)| decided_by(r.step).is_some())
                .map(move |(step, _)| (case.clone(), step))
        })
        .collect()
}

/// Keeps refusals for the user; an accepted push clears its household's.
fn record_results(tx: &Transaction<'_>, answer: &Answer) -> Result<(), StoreError> {
    let now = chrono::Utc::now().to_rfc3339();
    for (id, _) in &answer.accepted {
        tx.execute("DELETE FROM sync_rejections WHERE household_id = ?1", [id])?;
    }
    for r in &answer.rejected {
        tx.execute(
            "INSERT OR REPLACE INTO sync_rejections(household_id, code, message, at)
             VALUES (?1, ?2, ?3, ?4)",
            params![r.household, r.code, r.message, now],
        )?;
    }
    Ok(())
}

/// The heads the server was known to hold of a household before this answer.
fn server_heads(tx: &Transaction<'_>, id: &str) -> Result<Vec<ChangeHash>, StoreError> {
    Ok(tx
        .query_row(
            "SELECT server_heads FROM households WHERE id = ?1",
            [id],
            |r| r.get::<_, String>(0),
        )
        .optional()?
        .map(|t| to_hashes(&t))
        .unwrap_or_default())
}

fn load(
    tx: &Transaction<'_>,
    id: &str,
    actor: &ActorId,
) -> Result<Option<HouseholdDoc>, StoreError> {
    let bytes: Option<Vec<u8>> = tx
        .query_row("SELECT doc FROM households WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(match bytes {
        Some(b) => Some(HouseholdDoc::load(&b, actor.clone())?),
        None => None,
    })
}

/// Removes a household that left the user's areas — the server sends nothing more of it and
/// would refuse this device's edits of it (`out_of_scope`) — adding the photos it referred to
/// to `photos`. Returns whether it had unsent edits (lost with it), or `None` when absent.
fn drop_household(
    tx: &Transaction<'_>,
    id: &str,
    actor: &ActorId,
    photos: &mut BTreeSet<String>,
) -> Result<Option<bool>, StoreError> {
    let row: Option<(Vec<u8>, bool)> = tx
        .query_row(
            "SELECT doc, dirty FROM households WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((doc, dirty)) = row else {
        return Ok(None);
    };
    match HouseholdDoc::load(&doc, actor.clone()).and_then(|d| d.read()) {
        Ok(h) => photos.extend(h.attachments.into_keys()),
        Err(e) => tracing::warn!(household = %id, error = %e, "unreadable document"),
    }
    if dirty {
        tracing::warn!(
            household = %id,
            "household left the user's areas: its unsent edits are dropped with it"
        );
    }
    for sql in [
        "DELETE FROM sync_rejections WHERE household_id = ?1",
        "DELETE FROM person_ids WHERE household_id = ?1",
        "DELETE FROM household_index WHERE id = ?1",
        "DELETE FROM households WHERE id = ?1",
    ] {
        tx.execute(sql, [id])?;
    }
    Ok(Some(dirty))
}

/// Deletes those of `photos` no household left on the device refers to.
fn drop_unreferenced_photos(
    tx: &Transaction<'_>,
    mut photos: BTreeSet<String>,
    actor: &ActorId,
) -> Result<(), StoreError> {
    if photos.is_empty() {
        return Ok(());
    }
    let mut stmt = tx.prepare("SELECT id, doc FROM households")?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
    })?;
    for row in rows {
        let (id, doc) = row?;
        match HouseholdDoc::load(&doc, actor.clone()).and_then(|d| d.read()) {
            Ok(h) => {
                for hash in h.attachments.keys() {
                    photos.remove(hash);
                }
            }
            Err(e) => {
                // Cannot tell what it refers to: keep every photo.
                tracing::warn!(household = %id, error = %e, "unreadable document");
                return Ok(());
            }
        }
    }
    drop(stmt);
    for hash in &photos {
        tx.execute(
            "DELETE FROM attachments WHERE hash = ?1 OR original_of = ?1",
            [hash],
        )?;
    }
    Ok(())
}
