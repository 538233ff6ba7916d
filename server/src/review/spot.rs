//! The spot-check list as the inspectors work from it: each drawn household with its head,
//! 户编号 and why it was drawn, and who checked it by name.

use std::collections::HashMap;

use zoufang_shared::doc::HouseholdDoc;

use super::{Review, ReviewError, readable_area, village_of};
use crate::actor::server_actor;
use crate::storage::{Database, SpotCheck};

/// One household of a day's sample.
#[derive(Debug, Clone)]
pub struct SpotRow {
    pub check: SpotCheck,
    /// The head's name; empty when the household has none recorded (or cannot be read).
    pub head: String,
    pub household_no: Option<String>,
    /// Why it was drawn: its village held this many households and was given this many checks
    /// (the draw is stratified by village, see `crate::spot_check`).
    pub village_households: usize,
    pub village_drawn: usize,
    /// The checker's display name.
    pub checker: Option<String>,
}

impl<D: Database> Review<D> {
    /// The rows of `sample`, a day's list of `township` (which the user must be able to read).
    pub async fn spot_rows(
        &self,
        township: &str,
        sample: Vec<SpotCheck>,
    ) -> Result<Vec<SpotRow>, ReviewError> {
        let (db, user) = (&self.db, &self.user);
        let township = readable_area(user, Some(township))?;
        let ids: Vec<String> = sample.iter().map(|s| s.household_id.clone()).collect();
        let stored = db.households(&ids).await?;
        let heads: HashMap<String, (String, Option<String>)> = crate::heavy::cpu(|| {
            stored
                .into_iter()
                .filter_map(|s| {
                    let h = HouseholdDoc::load(&s.doc, server_actor())
                        .ok()?
                        .read()
                        .ok()?;
                    let head = h.head().map(|m| m.name.clone()).unwrap_or_default();
                    Some((s.id, (head, h.info.household_no)))
                })
                .collect()
        });
        let mut per_village: HashMap<String, usize> = HashMap::new();
        for (_, area) in db.household_areas(&township).await? {
            *per_village.entry(village_of(&area, &township)).or_default() += 1;
        }
        let mut drawn: HashMap<String, usize> = HashMap::new();
        for s in &sample {
            *drawn.entry(s.village.clone()).or_default() += 1;
        }
        let names = self.people().await?;
        Ok(sample
            .into_iter()
            .map(|check| {
                let (head, household_no) =
                    heads.get(&check.household_id).cloned().unwrap_or_default();
                SpotRow {
                    head,
                    household_no,
                    village_households: per_village.get(&check.village).copied().unwrap_or(0),
                    village_drawn: drawn.get(&check.village).copied().unwrap_or(0),
                    checker: check
                        .checked_by
                        .as_ref()
                        .map(|u| names.get(u).map_or_else(|| u.clone(), |p| p.name.clone())),
                    check,
                }
            })
            .collect())
    }
}
