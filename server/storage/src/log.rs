//! Household documents and the change log devices pull.

use crate::projection::Projection;

/// Which of a device's own changes a pull leaves out: those under `actor` numbered after
/// `resent_until` (the device has them; before that point it may have dropped some).
#[derive(Debug, Clone, Copy)]
pub struct OwnChanges<'a> {
    pub actor: &'a str,
    pub resent_until: i64,
}

impl OwnChanges<'_> {
    /// A pull that leaves nothing out.
    pub const NONE: OwnChanges<'static> = OwnChanges {
        actor: "",
        resent_until: 0,
    };
}

impl<'a> OwnChanges<'a> {
    /// The changes of `actor` the device has.
    pub fn of(actor: &'a str) -> Self {
        OwnChanges {
            actor,
            resent_until: 0,
        }
    }
}

/// A household as stored.
#[derive(Debug, Clone)]
pub struct StoredHousehold {
    pub id: String,
    pub area_code: String,
    /// Automerge save format.
    pub doc: Vec<u8>,
    /// Optimistic-concurrency version, bumped by every write.
    pub version: i64,
    /// The [`crate::projection::Projection::digest`] of its projection rows as that version
    /// wrote them; `None` when unknown (written before digests were kept).
    pub projected: Option<String>,
}

/// One household written by a sync batch.
#[derive(Debug, Clone)]
pub struct HouseholdWrite {
    pub id: String,
    pub area_code: String,
    pub doc: Vec<u8>,
    /// The version merged onto; `None` for a household new to the server.
    pub expected_version: Option<i64>,
    /// Changes new to the server, in causal order.
    pub changes: Vec<NewChange>,
    /// The merged document's projection, written in the same transaction.
    pub projection: Projection,
    /// The digest of the projection the expected version wrote ([`StoredHousehold::projected`]):
    /// tables whose rows it matches are not rewritten.
    pub projected_before: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewChange {
    /// Hex change hash; (household, hash) is unique, so a retried change is stored once.
    pub hash: String,
    /// Hex actor id.
    pub actor: String,
    pub bytes: Vec<u8>,
}

/// Everything one sync request writes, committed in one transaction.
#[derive(Debug, Clone, Default)]
pub struct SyncWrite {
    pub households: Vec<HouseholdWrite>,
}

impl SyncWrite {
    /// Each household's new projection with the digest of the one it replaces, as the
    /// projection writers take them.
    pub fn projections(&self) -> Vec<(&crate::projection::Projection, Option<&str>)> {
        self.households
            .iter()
            .map(|h| (&h.projection, h.projected_before.as_deref()))
            .collect()
    }
}

/// A change from the log, for a pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedChange {
    pub seq: i64,
    pub household_id: String,
    pub bytes: Vec<u8>,
}

/// A page of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangePage {
    pub changes: Vec<LoggedChange>,
    /// The cursor to ask from next time: the last sequence number this page covered.
    pub cursor: i64,
    /// More changes wait beyond this page.
    pub more: bool,
    /// Households that moved out of the scope after the asked-for cursor, up to this page's
    /// `cursor`, and are not back in it (the move log's `from_area` in scope, the household's
    /// current area not), in id order.
    pub gone: Vec<String>,
}
