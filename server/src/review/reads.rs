//! What supervisors read besides the report: the areas they may pick, roster sizes, the
//! conflicts queue and the checks page's numbers — each checked against the reader's areas here,
//! so the pages and the JSON API never query storage on their own.

use serde_json::Value as Json;
use zoufang_shared::doc::{Conflict, HouseholdDoc};

use crate::report::cross::{BusyHelper, ConflictEntry, DuplicateId, MAX_HOUSEHOLDS_PER_HELPER};
use crate::report::roster::RosterFilter;
use crate::storage::{Area, Database};

use super::{Review, ReviewError, readable_area};

impl<D: Database> Review<D> {
    /// The areas a user may pick: their own and everything below.
    pub async fn readable_areas(&self) -> Result<Vec<Area>, ReviewError> {
        let (db, user) = (&self.db, &self.user);
        Ok(db
            .areas()
            .await?
            .into_iter()
            .filter(|a| crate::auth::in_scope(&user.areas, &a.code))
            .collect())
    }

    /// Households and persons a roster filter matches (its area already checked or checked here).
    pub async fn roster_size(&self, filter: &RosterFilter) -> Result<(i64, i64), ReviewError> {
        let (db, user) = (&self.db, &self.user);
        readable_area(user, Some(&filter.area))?;
        Ok(db.roster_count(filter).await?)
    }

    /// The conflicted fields of an area the user may read (default: their first), at most `limit`.
    pub async fn conflicts(
        &self,
        area: Option<&str>,
        limit: i64,
    ) -> Result<(String, Vec<ConflictEntry>), ReviewError> {
        let (db, user) = (&self.db, &self.user);
        let area = readable_area(user, area)?;
        let queue = db.conflict_queue(&area, limit).await?;
        Ok((area, queue))
    }

    /// The cross-household checks and the flagged counts of an area the user may read.
    pub async fn checks(
        &self,
        area: Option<&str>,
        no_visit_days: i64,
    ) -> Result<ChecksSummary, ReviewError> {
        let (db, user) = (&self.db, &self.user);
        let area = readable_area(user, area)?;
        let base = RosterFilter {
            area: area.clone(),
            limit: 0,
            ..RosterFilter::default()
        };
        let today = crate::projection::today();
        let count = |filter: RosterFilter| async move { db.roster_count(&filter).await };
        let unvisited = count(RosterFilter {
            not_visited_since: Some(today - chrono::Duration::days(no_visit_days)),
            ..base.clone()
        })
        .await?;
        let income_jumps = count(RosterFilter {
            flag: Some("income_jump".into()),
            ..base.clone()
        })
        .await?;
        let exit_failing = count(RosterFilter {
            exit_failing: true,
            ..base.clone()
        })
        .await?;
        let errors = count(RosterFilter {
            flag: Some("error".into()),
            ..base.clone()
        })
        .await?;
        Ok(ChecksSummary {
            duplicate_ids: db.duplicate_ids(&area).await?,
            busy_helpers: db.busy_helpers(&area, MAX_HOUSEHOLDS_PER_HELPER).await?,
            area,
            unvisited,
            income_jumps,
            exit_failing,
            errors,
            no_visit_days,
        })
    }

    /// The `n`-th value written to the conflicted field at `path` of a household the user may
    /// read (how the settle form names a value); none when that field is no longer in conflict.
    pub async fn picked_value(
        &self,
        household_id: &str,
        path: &str,
        n: usize,
    ) -> Result<Option<Json>, ReviewError> {
        let (_, mut doc) = self.household(household_id).await?;
        Ok(conflicts_of(&mut doc)?
            .into_iter()
            .find(|c| c.path_string() == path)
            .and_then(|c| c.values.into_iter().nth(n))
            .map(|v| v.value))
    }
}

/// The numbers of the checks page.
pub struct ChecksSummary {
    pub area: String,
    pub duplicate_ids: Vec<DuplicateId>,
    pub busy_helpers: Vec<BusyHelper>,
    pub unvisited: (i64, i64),
    pub income_jumps: (i64, i64),
    pub exit_failing: (i64, i64),
    pub errors: (i64, i64),
    pub no_visit_days: i64,
}

/// The conflicted fields of a household's document, each with every value written.
pub fn conflicts_of(doc: &mut HouseholdDoc) -> Result<Vec<Conflict>, ReviewError> {
    doc.conflicts()
        .map_err(|e| ReviewError::Invalid(e.to_string()))
}
