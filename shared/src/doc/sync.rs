//! What sync needs of a household document: the changes a peer lacks, and applying a peer's
//! changes with the checks a server makes before it keeps them.

use automerge::{ActorId, AutoCommit, Change, ChangeHash, ReadDoc};

use super::{DocError, HouseholdDoc};
use crate::model::Household;

/// A change as it arrives over the wire, decoded.
#[derive(Debug, Clone)]
pub struct IncomingChange {
    change: Change,
}

impl IncomingChange {
    /// Decodes one change; garbage is an error, never a panic.
    pub fn decode(bytes: &[u8]) -> Result<IncomingChange, DocError> {
        Change::try_from(bytes)
            .map(|change| IncomingChange { change })
            .map_err(|e| DocError::Layout(format!("变更数据无法解析: {e}")))
    }

    pub fn hash(&self) -> ChangeHash {
        self.change.hash()
    }

    pub fn actor(&self) -> &ActorId {
        self.change.actor_id()
    }

    /// The user and device the change says wrote it (see [`super::ChangeAuthor`]).
    pub fn author(&self) -> (Option<String>, Option<String>) {
        super::author::parse_message(self.change.message())
    }

    /// The change as it is stored (compressed when that is smaller).
    pub fn bytes(&mut self) -> Vec<u8> {
        self.change.bytes().into_owned()
    }

    /// The change as it is sent: uncompressed, for the sync body's compression to span
    /// households (see `crate::wire`).
    pub fn wire_bytes(&self) -> Vec<u8> {
        self.change.raw_bytes().to_vec()
    }
}

/// A stored change in its wire form; bytes that do not decode are passed on as they are (the
/// receiver refuses them as it would any malformed change).
pub fn wire_form(stored: Vec<u8>) -> Vec<u8> {
    match IncomingChange::decode(&stored) {
        Ok(c) => c.wire_bytes(),
        Err(_) => stored,
    }
}

impl HouseholdDoc {
    /// A document with no changes yet, for changes of a household not seen before.
    pub fn empty(actor: ActorId) -> HouseholdDoc {
        HouseholdDoc {
            doc: AutoCommit::new().with_actor(actor),
        }
    }

    /// Every change after `have` (the heads a peer is known to hold), in causal order, in
    /// their wire form ([`IncomingChange::wire_bytes`]).
    pub fn changes_after(&mut self, have: &[ChangeHash]) -> Vec<Vec<u8>> {
        self.doc
            .get_changes(have)
            .into_iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect()
    }

    /// Whether the document already holds this change.
    pub fn has_change(&mut self, hash: &ChangeHash) -> bool {
        self.doc.get_change_by_hash(hash).is_some()
    }

    /// Applies a peer's changes. Afterwards the document must be complete (no change waiting
    /// for a dependency it lacks: [`DocError::MissingDependencies`]) and still a valid
    /// household of this schema, which is returned (read once: reading is the costly part of a
    /// merge). On error the caller must drop this copy: it may hold part of the changes.
    pub fn apply(&mut self, changes: Vec<IncomingChange>) -> Result<Household, DocError> {
        self.doc
            .apply_changes(changes.into_iter().map(|c| c.change))?;
        if !self.doc.get_missing_deps(&[]).is_empty() {
            return Err(DocError::MissingDependencies);
        }
        self.check_schema()?;
        self.read()
    }
}
