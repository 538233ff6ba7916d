//! The typed household model: what a household document holds, as Rust values.
//!
//! The document layer ([`crate::doc`]) stores exactly these structures; their serde form is the
//! document layout, so the two cannot drift apart. Unknown fields and unknown codes are errors.

mod activity;
mod case;
mod household;
mod income;
mod member;
pub(crate) mod sets;

pub use activity::{Attachment, Helper, Visit, is_content_hash};
pub use case::{Case, CaseStage, Objection, StepRecord};
pub use household::{HouseholdInfo, Land, Living, Water};
pub use income::Income;
pub use member::Member;

use crate::CodeList;
use crate::codes::Relation;
use crate::ids::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A survey year and its income.
pub type YearIncome<'a> = (i32, &'a Income);

/// Everything known about one household.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Household {
    pub id: HouseholdId,
    #[serde(default)]
    pub info: HouseholdInfo,
    #[serde(default)]
    pub land: Land,
    #[serde(default)]
    pub living: Living,
    #[serde(default)]
    pub water: Water,
    #[serde(default)]
    pub members: BTreeMap<MemberId, Member>,
    /// Income per survey year.
    #[serde(default)]
    pub incomes: BTreeMap<i32, Income>,
    #[serde(default)]
    pub helpers: BTreeMap<HelperId, Helper>,
    #[serde(default)]
    pub visits: BTreeMap<VisitId, Visit>,
    #[serde(default)]
    pub cases: BTreeMap<CaseId, Case>,
    /// Keyed by content hash.
    #[serde(default)]
    pub attachments: BTreeMap<String, Attachment>,
}

impl Household {
    pub fn new(id: HouseholdId) -> Self {
        Household {
            id,
            info: HouseholdInfo::default(),
            land: Land::default(),
            living: Living::default(),
            water: Water::default(),
            members: BTreeMap::new(),
            incomes: BTreeMap::new(),
            helpers: BTreeMap::new(),
            visits: BTreeMap::new(),
            cases: BTreeMap::new(),
            attachments: BTreeMap::new(),
        }
    }

    /// Members who have not left.
    pub fn current_members(&self) -> impl Iterator<Item = (&MemberId, &Member)> {
        self.members.iter().filter(|(_, m)| m.is_current())
    }

    /// Members as forms list them: current ones first, then by relation to the head (户主 first),
    /// then by name.
    pub fn members_in_order(&self) -> Vec<(&MemberId, &Member)> {
        let mut v: Vec<_> = self.members.iter().collect();
        v.sort_by_key(|(id, m)| {
            let relation = m.relation.map_or(usize::MAX, |r| {
                Relation::ALL
                    .iter()
                    .position(|x| *x == r)
                    .unwrap_or(usize::MAX)
            });
            (!m.is_current(), relation, m.name.clone(), (*id).clone())
        });
        v
    }

    /// 家庭人口数.
    pub fn size(&self) -> usize {
        self.current_members().count()
    }

    /// The current member recorded as 户主, if exactly one is.
    pub fn head(&self) -> Option<&Member> {
        let mut heads = self
            .current_members()
            .filter(|(_, m)| m.relation == Some(Relation::Head));
        match (heads.next(), heads.next()) {
            (Some((_, m)), None) => Some(m),
            _ => None,
        }
    }

    /// The latest survey year's income, and the one before it.
    pub fn latest_incomes(&self) -> (Option<YearIncome<'_>>, Option<YearIncome<'_>>) {
        let mut it = self.incomes.iter().rev().map(|(y, i)| (*y, i));
        (it.next(), it.next())
    }
}
