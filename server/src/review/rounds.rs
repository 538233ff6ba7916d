//! 工作批次: the county opens rounds; reviewers and devices read the ones covering their areas.

use chrono::Utc;
use zoufang_shared::rounds::Round;

use super::{Review, ReviewError};
use crate::auth::in_scope;
use crate::storage::{Database, DbError, Role, StoredRound};

/// Who opens rounds: the county office (its supervisor) and admins.
pub fn opens_rounds(role: Role) -> bool {
    matches!(role, Role::CountySupervisor | Role::Admin)
}

/// Whether round `r` covers part of `area` (a township's round shows in its county's report
/// too, and a county's round in each township's).
pub fn overlaps(r: &Round, area: &str) -> bool {
    r.areas
        .iter()
        .any(|a| a.starts_with(area) || area.starts_with(a.as_str()))
}

/// The rounds covering any of `areas`, latest start first.
pub async fn covering<D: Database>(db: &D, areas: &[String]) -> Result<Vec<Round>, DbError> {
    Ok(db
        .rounds()
        .await?
        .into_iter()
        .map(|r| r.round)
        .filter(|r| areas.iter().any(|a| overlaps(r, a)))
        .collect())
}

impl<D: Database> Review<D> {
    /// The rounds covering the user's areas, latest start first.
    pub async fn rounds(&self) -> Result<Vec<Round>, DbError> {
        covering(&self.db, &self.user.areas).await
    }

    /// Opens `round` for `user`: the role must open rounds and every area of the round must be the
    /// user's; the round is checked whole (name, id, dates, areas).
    pub async fn open_round(&self, round: Round) -> Result<Round, ReviewError> {
        let (db, user) = (&self.db, &self.user);
        self.role_may(opens_rounds(user.role), "开启工作批次")?;
        let round = Round {
            name: round.name.trim().to_owned(),
            areas: round
                .areas
                .iter()
                .map(|a| a.trim().to_owned())
                .filter(|a| !a.is_empty())
                .collect(),
            ..round
        };
        round
            .check()
            .map_err(|e| ReviewError::Invalid(e.to_string()))?;
        let known = db.areas().await?;
        if let Some(a) = round
            .areas
            .iter()
            .find(|a| !in_scope(&user.areas, a) || !known.iter().any(|k| &k.code == *a))
        {
            return Err(ReviewError::Invalid(format!(
                "地区「{a}」不在您负责的范围内"
            )));
        }
        let stored = StoredRound {
            round: round.clone(),
            opened_by: user.username.clone(),
            opened_at: Utc::now(),
        };
        match db.open_round(&stored).await {
            Ok(()) => {}
            Err(DbError::Duplicate) => {
                return Err(ReviewError::Invalid(format!(
                    "批次编号「{}」已被使用",
                    round.id
                )));
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(user = %user.username, round = %round.id, "round opened");
        Ok(round)
    }
}
