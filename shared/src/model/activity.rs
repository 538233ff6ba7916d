//! What happens to a household over time: assigned helpers, visits and attachments.

use crate::codes::*;
use crate::ids::VisitId;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// 帮扶责任人 assigned to the household.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Helper {
    pub name: String,
    /// 帮扶单位.
    pub unit: Option<String>,
    pub phone: Option<String>,
    /// The helper's account, when the helper uses Zoufang.
    pub user_id: Option<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

/// 走访 — one visit; visits are only ever added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Visit {
    pub date: NaiveDate,
    /// Name of the visitor as signed.
    pub visitor: String,
    #[serde(default)]
    pub visitor_user: Option<String>,
    pub mode: VisitMode,
    #[serde(default)]
    pub household_present: Option<bool>,
    #[serde(default)]
    pub notes: String,
    /// 享受政策知晓情况: what the household says it receives.
    #[serde(default)]
    pub policies_known: String,
    #[serde(default)]
    pub satisfaction: Option<Satisfaction>,
    /// Content hashes of photos and signatures taken at this visit.
    #[serde(default, with = "super::sets")]
    pub attachments: BTreeSet<String>,
}

/// Metadata of a photo or signature; the bytes live in a content-addressed store keyed by the
/// SHA-256 of the content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    pub kind: AttachmentKind,
    #[serde(default)]
    pub signer: Option<SignerRole>,
    pub mime: String,
    pub bytes: u64,
    #[serde(default)]
    pub width: Option<u32>,
    #[serde(default)]
    pub height: Option<u32>,
    /// RFC 3339 time of capture.
    #[serde(default)]
    pub captured_at: Option<String>,
    #[serde(default)]
    pub captured_by: Option<String>,
    /// The visit this belongs to, if any.
    #[serde(default)]
    pub visit: Option<VisitId>,
    /// The case this belongs to, if any.
    #[serde(default)]
    pub case: Option<crate::ids::CaseId>,
}

/// Is `s` a lowercase hex SHA-256 digest (an attachment key)?
pub fn is_content_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
