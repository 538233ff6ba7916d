//! Spot checks: the day's sample of a township (drawn once, stratified by village), what the
//! check of each sampled household found, and the list as the inspectors work from it: each
//! drawn household with its head, 户编号 and why it was drawn, and who checked it by name.

use std::collections::HashMap;

use zoufang_shared::doc::HouseholdDoc;

use chrono::{NaiveDate, Utc};
use zoufang_shared::limits::{self, TextClass};

use super::{Review, ReviewError, readable_area, spot_checks};
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

    /// The day's spot-check sample of a township: drawn (and stored) on first request, the same
    /// list for everyone after that.
    pub async fn spot_sample(
        &self,
        township: &str,
        day: NaiveDate,
        n: usize,
        salt: &str,
    ) -> Result<Vec<SpotCheck>, ReviewError> {
        let (db, user) = (&self.db, &self.user);
        let township = readable_area(user, Some(township))?;
        let day_text = day.to_string();
        let existing = db.spot_checks(&township, &day_text).await?;
        if !existing.is_empty() || !spot_checks(user.role) {
            return Ok(existing);
        }
        let candidates: Vec<crate::spot_check::Candidate> = db
            .household_areas(&township)
            .await?
            .into_iter()
            .map(|(household_id, area)| crate::spot_check::Candidate {
                household_id,
                village: village_of(&area, &township),
            })
            .collect();
        let drawn = crate::spot_check::draw(&candidates, n, &township, day, salt);
        let rows: Vec<SpotCheck> = drawn
            .into_iter()
            .map(|c| SpotCheck {
                township: township.clone(),
                day: day_text.clone(),
                household_id: c.household_id,
                village: c.village,
                drawn_by: user.username.clone(),
                result: None,
                note: None,
                checked_by: None,
                checked_at: None,
            })
            .collect();
        db.save_spot_checks(&rows).await?;
        // Another inspector may have drawn at the same moment: what is stored is the sample.
        Ok(db.spot_checks(&township, &day_text).await?)
    }

    /// Records what the check of one sampled household found.
    pub async fn record_spot(
        &self,
        township: &str,
        day: NaiveDate,
        household_id: &str,
        result: &str,
        note: &str,
    ) -> Result<(), ReviewError> {
        let (db, user) = (&self.db, &self.user);
        self.role_may(spot_checks(user.role), "登记抽查结果")?;
        let township = readable_area(user, Some(township))?;
        if !SPOT_RESULTS.iter().any(|(code, _)| *code == result) {
            return Err(ReviewError::Invalid("抽查结果无效".into()));
        }
        // The note is text like a household's (PostgreSQL cannot store a NUL in it).
        let note = note.trim();
        limits::check_value("note", "抽查说明", TextClass::Note, note)
            .map_err(|r| ReviewError::Invalid(r.to_string()))?;
        // No id holds a NUL, and PostgreSQL would refuse it in a query.
        if household_id.contains('\0') {
            return Err(ReviewError::NotFound);
        }
        let recorded = db
            .record_spot_check(&SpotCheck {
                township,
                day: day.to_string(),
                household_id: household_id.to_owned(),
                village: String::new(),
                drawn_by: String::new(),
                result: Some(result.to_owned()),
                note: Some(note.to_owned()),
                checked_by: Some(user.username.clone()),
                checked_at: Some(Utc::now().to_rfc3339()),
            })
            .await?;
        if recorded {
            Ok(())
        } else {
            Err(ReviewError::NotFound)
        }
    }
}

/// The village (12-digit code) a household's area lies in, or the township itself.
fn village_of(area: &str, township: &str) -> String {
    if area.len() >= 12 {
        area[..12].to_owned()
    } else {
        township.to_owned()
    }
}

/// What a spot check found.
pub const SPOT_RESULTS: [(&str, &str); 3] = [
    ("ok", "属实"),
    ("problem", "发现问题"),
    ("absent", "未遇到户主"),
];
