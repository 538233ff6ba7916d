//! What sync needs of a household document: the changes a peer lacks, and applying a peer's
//! changes with the checks a server makes before it keeps them.

use std::collections::HashSet;

use automerge::legacy::{ObjectId, OpId, OpType};
use automerge::{ActorId, AutoCommit, Change, ChangeHash, ReadDoc};

use super::{DocError, HouseholdDoc, Reading};

/// A change as it arrives over the wire, decoded.
#[derive(Debug, Clone)]
pub struct IncomingChange {
    change: Change,
}

impl IncomingChange {
    /// Decodes one change; garbage is an error, never a panic.
    pub fn decode(bytes: &[u8]) -> Result<IncomingChange, DocError> {
        // automerge 0.12 panics on some malformed changes instead of returning its error (an
        // object id counter beyond u32 unwraps a failed conversion deep in its column decoder;
        // found by fuzzing). Validating that first would mean re-implementing its columnar
        // format, so the panic is caught here, and only here: decoding is a pure function of
        // `bytes` that touches no shared state, so nothing is left half-done by the unwind.
        let decoded = std::panic::catch_unwind(|| Change::try_from(bytes))
            .map_err(|_| DocError::Layout("变更数据无法解析".into()))?;
        decoded
            .map(|change| IncomingChange { change })
            .map_err(|e| DocError::Layout(format!("变更数据无法解析: {e}")))
    }

    pub fn hash(&self) -> ChangeHash {
        self.change.hash()
    }

    pub fn actor(&self) -> &ActorId {
        self.change.actor_id()
    }

    /// The time the change is stamped with, in milliseconds since the Unix epoch (0 when none
    /// was set); see [`super::check_change_time`].
    pub fn time(&self) -> i64 {
        self.change.timestamp()
    }

    /// How many operations the change holds (a server bounds it).
    pub fn ops(&self) -> usize {
        self.change.len()
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
/// receiver refuses them as it would any malformed change). A change stored uncompressed is
/// already in that form and is passed on without being parsed: the server stores what it
/// receives that way, so a pull costs no decoding (older rows may be compressed).
pub fn wire_form(stored: Vec<u8>) -> Vec<u8> {
    if is_uncompressed_change(&stored) {
        return stored;
    }
    match IncomingChange::decode(&stored) {
        Ok(c) => c.wire_bytes(),
        Err(_) => stored,
    }
}

/// Automerge's chunk header: 4 magic bytes, a 4-byte checksum, then the chunk type (0 a
/// document, 1 a change, 2 a compressed change).
fn is_uncompressed_change(bytes: &[u8]) -> bool {
    const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
    const CHANGE: u8 = 1;
    bytes.get(..4) == Some(&MAGIC[..]) && bytes.get(8) == Some(&CHANGE)
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
        // The metadata alone: automerge rebuilds a whole change to return one.
        self.doc.get_change_meta_by_hash(hash).is_some()
    }

    /// Applies a peer's changes. Afterwards the document must be complete (no change waiting
    /// for a dependency it lacks: [`DocError::MissingDependencies`]) and still a valid
    /// household of this schema, which is returned with its conflicts (read once: reading is the
    /// costly part of a merge). On error the caller must drop this copy: it may hold part of the changes.
    pub fn apply(&mut self, changes: Vec<IncomingChange>) -> Result<Reading, DocError> {
        check_objects(&mut self.doc, &changes)?;
        let before = self.doc.get_heads();
        let new: Vec<ChangeHash> = changes
            .iter()
            .map(IncomingChange::hash)
            .filter(|h| !self.has_change(h))
            .collect();
        // automerge 0.12 also panics on other malformed changes while applying them (an actor
        // listed in a change but unknown to the document: an unwrap in its op import; found by
        // fuzzing) that no check short of re-implementing it foresees. The unwind is caught:
        // this copy of the document may then be half-changed, and the contract above already
        // makes every caller drop it on error.
        let doc = &mut self.doc;
        let applied = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            doc.apply_changes(changes.into_iter().map(|c| c.change))
        }))
        .map_err(|_| DocError::Layout("变更数据无法应用".into()))?;
        applied?;
        if !self.doc.get_missing_deps(&[]).is_empty() {
            return Err(DocError::MissingDependencies);
        }
        self.check_reproducible(&before, &new)?;
        self.check_schema()?;
        self.read_all()
    }
}

impl HouseholdDoc {
    /// Refuses changes that automerge applied but cannot give back as they came. automerge 0.12
    /// keeps operations, not change bytes, and rebuilds a change when it is asked for one; a
    /// change encoded in a way its own encoder never would (found by fuzzing: one forged change
    /// with well-formed operations) is accepted, and then rebuilt with another hash. The
    /// document's heads still name the original, so it could no longer be saved and loaded
    /// again, nor its changes listed (a panic): one device could make a household unreadable
    /// on the server. Rebuilding only the changes after `before` keeps the check to the size
    /// of the push.
    fn check_reproducible(
        &mut self,
        before: &[ChangeHash],
        new: &[ChangeHash],
    ) -> Result<(), DocError> {
        let doc = &mut self.doc;
        let rebuilt: HashSet<ChangeHash> =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                doc.get_changes(before).iter().map(|c| c.hash()).collect()
            }))
            .map_err(|_| DocError::Layout("变更数据编码不规范".into()))?;
        if new.iter().all(|h| rebuilt.contains(h)) {
            Ok(())
        } else {
            Err(DocError::Layout("变更数据编码不规范".into()))
        }
    }
}

/// Refuses changes with an operation on an object that neither the document nor the changes
/// themselves create. automerge 0.12 panics on such a change while applying it ("Obj … Missing
/// from Index"), so one forged or corrupt change from a device would take down the request that
/// carries it (found by fuzzing). Only changes whose dependencies are all at hand are checked:
/// automerge queues the others unapplied, and [`HouseholdDoc::apply`] then reports
/// [`DocError::MissingDependencies`] as before.
fn check_objects(doc: &mut AutoCommit, changes: &[IncomingChange]) -> Result<(), DocError> {
    // The changes automerge will apply: dependencies in the document or applied before them.
    let mut ready: HashSet<ChangeHash> = HashSet::new();
    let mut applied = vec![false; changes.len()];
    let mut progress = true;
    while progress {
        progress = false;
        for (change, applied) in changes.iter().zip(applied.iter_mut()) {
            if !*applied
                && change
                    .change
                    .deps()
                    .iter()
                    .all(|d| ready.contains(d) || doc.get_change_meta_by_hash(d).is_some())
            {
                *applied = true;
                ready.insert(change.change.hash());
                progress = true;
            }
        }
    }
    // Expanding a change that decoded can still panic in automerge 0.12 (an `unwrap` in its
    // change.rs on a malformed operation; found by fuzzing). Like `IncomingChange::decode` it
    // reads only the change, so nothing is left half-done by the unwind.
    let decoded: Vec<_> = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        changes
            .iter()
            .zip(&applied)
            .filter(|(_, applied)| **applied)
            .map(|(c, _)| c.change.decode())
            .collect()
    }))
    .map_err(|_| DocError::Layout("变更数据无法解析".into()))?;
    let made: HashSet<(u64, &ActorId)> = decoded
        .iter()
        .flat_map(|c| {
            c.operations
                .iter()
                .zip(c.start_op.get()..)
                .filter(|(op, _)| matches!(op.action, OpType::Make(_)))
                .map(move |(_, counter)| (counter, &c.actor_id))
        })
        .collect();
    for op in decoded.iter().flat_map(|c| &c.operations) {
        let ObjectId::Id(OpId(counter, actor)) = &op.obj else {
            continue;
        };
        // `import` resolves an object id as automerge prints it, and fails for one the document
        // does not hold.
        if !made.contains(&(*counter, actor))
            && doc
                .import(&format!("{counter}@{}", actor.to_hex_string()))
                .is_err()
        {
            return Err(DocError::Layout("变更修改了文档中不存在的对象".into()));
        }
    }
    Ok(())
}
