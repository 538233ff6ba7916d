//! The household document: one Automerge document per household.
//!
//! # Layout
//! ```text
//! /zoufang      "household"        marks the document's kind
//! /schema       1                  layout version; newer documents are refused, not misread
//! /id           household id
//! /info         {…}                HouseholdInfo; sets as {code: true}
//! /land /living /water  {…}        fixed sections, created with the document
//! /members      {member-id: {…}}   keyed by random id: concurrent adds never collide
//! /incomes      {"2025": {…}}      one map per survey year, items in fen
//! /helpers      {helper-id: {…}}
//! /visits       {visit-id: {…}}    append-only
//! /cases        {case-id: {…, steps: {step-id: {…, objections: {id: {…}}}}}}
//! /attachments  {sha256: {…}}      metadata only; bytes are content-addressed elsewhere
//! ```
//! Maps everywhere, never lists: every entity has its own key, so merges are field by field.
//! Nothing is deleted: a member who leaves is marked (`left_reason`), a cleared field is `null`.
//! The serde form of [`crate::model::Household`] is this layout, see [`tree`].
//!
//! Every edit is one Automerge change under the device's actor id, stamped with the author's user,
//! device and time ([`ChangeAuthor`]). An edit that fails validation is rolled back whole.

mod author;
mod clock;
mod conflicts;
mod editor;
mod history;
mod packed;
mod rebase;
mod stored;
mod sync;
mod tree;
mod typed;

pub use author::{ChangeAuthor, ChangeInfo};
pub use automerge::{ActorId, ChangeHash};
pub use clock::{EARLIEST_CHANGE_MS, ImplausibleTime, MAX_AHEAD_MS, check_change_time};
pub use conflicts::{Conflict, ConflictValue};
pub use editor::{Editor, ValidationError, validate_member};
pub use history::FieldChange;
pub use packed::{UnpackTooLarge, pack_changes, unpack_changes};
pub use rebase::rebase;
pub use sync::{IncomingChange, wire_form};

use automerge::transaction::CommitOptions;
use automerge::{AutoCommit, ReadDoc, ScalarValue, Value};

use crate::ids::HouseholdId;
use crate::model::Household;

/// Layout version this build writes and reads.
pub const SCHEMA_VERSION: i64 = 1;
const KIND: &str = "household";
/// The root keys that say what the document is ([`HouseholdDoc::check_schema`]), not part of the
/// household's model.
const LAYOUT_KEYS: [&str; 2] = ["zoufang", "schema"];

/// Why a document could not be opened, read or edited.
#[derive(Debug, thiserror::Error)]
pub enum DocError {
    #[error("文档数据损坏,无法读取: {0}")]
    Malformed(#[source] Box<automerge::AutomergeError>),
    #[error("这不是走访系统的农户文档")]
    NotAHousehold,
    #[error("文档版本 {found} 比本程序支持的版本 {supported} 新,请升级程序")]
    NewerSchema { found: i64, supported: i64 },
    #[error("文档版本 {0} 无法识别")]
    UnknownSchema(i64),
    #[error("文档内容不符合数据模型: {0}")]
    Model(String),
    #[error("文档结构异常: {0}")]
    Layout(String),
    #[error("缺少先前的变更,需要完整重传")]
    MissingDependencies,
    #[error(transparent)]
    Invalid(Box<ValidationError>),
    #[error("文档操作失败: {0}")]
    Automerge(#[source] Box<automerge::AutomergeError>),
}

// Boxed: automerge's error is large, and every edit returns a `Result<_, DocError>`.
impl From<automerge::AutomergeError> for DocError {
    fn from(e: automerge::AutomergeError) -> Self {
        DocError::Automerge(Box::new(e))
    }
}

impl From<ValidationError> for DocError {
    fn from(e: ValidationError) -> Self {
        DocError::Invalid(Box::new(e))
    }
}

impl DocError {
    /// The rule that refused the edit, if that is what happened.
    pub fn validation(&self) -> Option<&ValidationError> {
        match self {
            DocError::Invalid(v) => Some(v),
            _ => None,
        }
    }
}

/// A household as read, with the fields where concurrent writes left more than one value.
#[derive(Debug, Clone)]
pub struct Reading {
    pub household: Household,
    pub conflicts: Vec<Conflict>,
}

/// One household's CRDT document.
#[derive(Debug)]
pub struct HouseholdDoc {
    doc: AutoCommit,
}

impl HouseholdDoc {
    /// A new, empty household, created as one change by `author`.
    pub fn create(
        id: &HouseholdId,
        actor: ActorId,
        author: &ChangeAuthor,
    ) -> Result<Self, DocError> {
        Self::create_with(id, actor, author, |_| Ok(())).map(|(doc, ())| doc)
    }

    /// A new household filled by `fill`, all as one change by `author` (or nothing, on error).
    pub fn create_with<R>(
        id: &HouseholdId,
        actor: ActorId,
        author: &ChangeAuthor,
        fill: impl FnOnce(&mut Editor<'_>) -> Result<R, DocError>,
    ) -> Result<(Self, R), DocError> {
        let mut doc = AutoCommit::new().with_actor(actor);
        let json = serde_json::to_value(Household::new(id.clone()))
            .map_err(|e| DocError::Model(e.to_string()))?;
        let serde_json::Value::Object(mut map) = json else {
            return Err(DocError::Layout("household is not an object".into()));
        };
        map.insert("zoufang".into(), KIND.into());
        map.insert("schema".into(), SCHEMA_VERSION.into());
        tree::write_map(&mut doc, &automerge::ROOT, &map)?;
        let r = fill(&mut Editor::new(&mut doc, author.at.date_naive()))?;
        let mut this = HouseholdDoc { doc };
        this.commit(author);
        Ok((this, r))
    }

    /// Opens saved bytes (or a concatenation of changes), checking kind and schema version.
    pub fn load(bytes: &[u8], actor: ActorId) -> Result<Self, DocError> {
        let doc = AutoCommit::load(&stored::saved_bytes(bytes)?)
            .map_err(|e| DocError::Malformed(Box::new(e)))?
            .with_actor(actor);
        let this = HouseholdDoc { doc };
        this.check_schema()?;
        Ok(this)
    }

    fn check_schema(&self) -> Result<(), DocError> {
        let kind = self.doc.get(automerge::ROOT, "zoufang")?;
        match kind {
            Some((Value::Scalar(s), _)) if s.as_str() == Some(KIND) => {}
            _ => return Err(DocError::NotAHousehold),
        }
        match self.doc.get(automerge::ROOT, "schema")? {
            Some((Value::Scalar(s), _)) => match s.as_ref() {
                ScalarValue::Int(v) if *v == SCHEMA_VERSION => Ok(()),
                ScalarValue::Int(v) if *v > SCHEMA_VERSION => Err(DocError::NewerSchema {
                    found: *v,
                    supported: SCHEMA_VERSION,
                }),
                ScalarValue::Int(v) => Err(DocError::UnknownSchema(*v)),
                _ => Err(DocError::NotAHousehold),
            },
            _ => Err(DocError::NotAHousehold),
        }
    }

    /// The compact stored form (see [`stored`]); [`Self::load`] reads it and automerge's own.
    pub fn save(&mut self) -> Vec<u8> {
        stored::save(&mut self.doc)
    }

    /// The household as typed values. Where fields conflict, the deterministic winner is shown;
    /// [`Self::conflicts`] lists the rest.
    pub fn read(&self) -> Result<Household, DocError> {
        Self::read_from(&self.doc)
    }

    /// The household and its conflicts ([`Self::read`] and [`Self::conflicts`]) in one walk
    /// over the document.
    pub fn read_all(&mut self) -> Result<Reading, DocError> {
        let (household, found) = Self::read_gathering(&self.doc)?;
        Ok(Reading {
            household,
            conflicts: found.describe(&mut self.doc),
        })
    }

    fn read_from(doc: &AutoCommit) -> Result<Household, DocError> {
        Self::read_gathering(doc).map(|(household, _)| household)
    }

    /// The household, and the keys with concurrent values met on the way: straight into the
    /// model where [`typed`] can, else through the JSON form.
    fn read_gathering(doc: &AutoCommit) -> Result<(Household, conflicts::Gathered), DocError> {
        let mut found = conflicts::Gathered::default();
        if let Ok(household) = typed::read(doc, &automerge::ROOT, &LAYOUT_KEYS, &mut found) {
            return Ok((household, found));
        }
        let mut found = conflicts::Gathered::default();
        let map = tree::read_map_gathering(doc, &automerge::ROOT, &mut found)?;
        Ok((Self::from_map(doc, map)?, found))
    }

    /// The household from its read map, doc being the document it was read from. The path of
    /// a field that does not fit is tracked only when one does not: tracking it costs twice the
    /// deserializing itself (≈ 13 µs a read of a typical household), and a stored document
    /// fits.
    fn from_map(
        doc: &AutoCommit,
        map: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Household, DocError> {
        let typed = |mut map: serde_json::Map<String, serde_json::Value>| {
            for key in LAYOUT_KEYS {
                map.remove(key);
            }
            serde_json::Value::Object(map)
        };
        serde_json::from_value(typed(map)).or_else(|_| {
            let again = typed(tree::read_maps(doc, &[automerge::ROOT])?);
            serde_path_to_error::deserialize(again)
                .map_err(|e| DocError::Model(format!("{}: {}", e.path(), e.inner())))
        })
    }

    /// The household as it was at `heads` (a version a form was opened on); `None` when this
    /// document lacks one of them.
    pub fn read_at(&mut self, heads: &[ChangeHash]) -> Result<Option<Household>, DocError> {
        if heads
            .iter()
            .any(|h| self.doc.get_change_by_hash(h).is_none())
        {
            return Ok(None);
        }
        let then = self.doc.fork_at(heads)?;
        Self::read_from(&then).map(Some)
    }

    /// Runs `f` as one change by `author`: all of it is committed, or (on error) none of it.
    /// Returns the change hash, or `None` when nothing actually changed.
    pub fn edit<R>(
        &mut self,
        author: &ChangeAuthor,
        f: impl FnOnce(&mut Editor<'_>) -> Result<R, DocError>,
    ) -> Result<(R, Option<ChangeHash>), DocError> {
        let result = f(&mut Editor::new(&mut self.doc, author.at.date_naive()));
        match result {
            Ok(r) => Ok((r, self.commit(author))),
            Err(e) => {
                self.doc.rollback();
                Err(e)
            }
        }
    }

    fn commit(&mut self, author: &ChangeAuthor) -> Option<ChangeHash> {
        self.doc.commit_with(
            CommitOptions::default()
                .with_message(author.message())
                .with_time(author.at.timestamp_millis()),
        )
    }

    /// The document as it was at `heads`, writing under the same actor.
    pub fn fork_at(&mut self, heads: &[ChangeHash]) -> Result<Self, DocError> {
        let actor = self.doc.get_actor().clone();
        Ok(HouseholdDoc {
            doc: self.doc.fork_at(heads)?.with_actor(actor),
        })
    }

    /// A copy that writes under another actor (another device).
    pub fn fork(&mut self, actor: ActorId) -> Self {
        HouseholdDoc {
            doc: self.doc.fork().with_actor(actor),
        }
    }

    /// Brings in every change `other` has that this one lacks.
    pub fn merge(&mut self, other: &mut HouseholdDoc) -> Result<(), DocError> {
        self.doc.merge(&mut other.doc)?;
        Ok(())
    }

    /// Every field with more than one concurrent value.
    pub fn conflicts(&mut self) -> Result<Vec<Conflict>, DocError> {
        conflicts::find(&mut self.doc)
    }

    /// Every change, oldest first, with its author.
    pub fn history(&mut self) -> Vec<ChangeInfo> {
        self.doc
            .get_changes_meta(&[])
            .into_iter()
            .map(|m| {
                author::change_info(m.hash, &m.actor, m.seq, m.timestamp, m.message.as_deref())
            })
            .collect()
    }

    /// Every field each change set, oldest change first, with its value before (as the writer
    /// saw it) and after.
    pub fn field_history(&mut self) -> Result<Vec<FieldChange>, DocError> {
        history::field_history(&mut self.doc)
    }

    pub fn heads(&mut self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    pub fn actor(&self) -> &ActorId {
        self.doc.get_actor()
    }

    /// Direct access for the sync layer (changes since heads, applying changes).
    pub fn automerge(&mut self) -> &mut AutoCommit {
        &mut self.doc
    }
}
