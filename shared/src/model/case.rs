//! 动态管理事项 — a proposed action and where it stands in the procedure.

use crate::codes::*;
use crate::ids::{MemberId, ObjectionId, StepId};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A dynamic-management case on one household.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub kind: CaseKind,
    #[serde(default)]
    pub origin: Option<CaseOrigin>,
    /// The 工作批次 it was proposed in (see [`crate::rounds`]); none for cases from before
    /// rounds existed, which count in their year's round.
    #[serde(default)]
    pub round: Option<String>,
    pub proposed_on: NaiveDate,
    pub proposed_by: String,
    #[serde(default)]
    pub proposed_by_user: Option<String>,
    #[serde(default)]
    pub reason: String,
    /// Members the case concerns (人员变动, or a partial 错评).
    #[serde(default, with = "super::sets")]
    pub members: BTreeSet<MemberId>,
    /// Step records, append-only: a returned step is recorded again, never overwritten.
    #[serde(default)]
    pub steps: BTreeMap<StepId, StepRecord>,
}

/// One procedure step as recorded: who, when, with what outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepRecord {
    pub step: ProcedureStep,
    pub date: NaiveDate,
    pub actor: String,
    #[serde(default)]
    pub actor_user: Option<String>,
    pub outcome: StepOutcome,
    #[serde(default)]
    pub comment: String,
    /// 公示 only: first and last day of the notice.
    #[serde(default)]
    pub publicity_start: Option<NaiveDate>,
    #[serde(default)]
    pub publicity_end: Option<NaiveDate>,
    #[serde(default)]
    pub objections: BTreeMap<ObjectionId, Objection>,
    /// Content hashes of signatures, minutes or photos for this step.
    #[serde(default, with = "super::sets")]
    pub attachments: BTreeSet<String>,
}

/// 异议 raised during 公示.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Objection {
    pub date: NaiveDate,
    pub by: String,
    pub content: String,
    #[serde(default)]
    pub resolution: Option<String>,
}

/// Where a case stands in the procedure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "state", content = "step", rename_all = "snake_case")]
pub enum CaseStage {
    /// Proposed, no step recorded yet.
    Proposed,
    /// The last step recorded passed; the next one is due (or the case is complete after 公告).
    Passed(ProcedureStep),
    /// Sent back at this step; it must be redone.
    Returned(ProcedureStep),
    /// Rejected at this step: the case ends here.
    Rejected(ProcedureStep),
}

impl Case {
    /// Step records in the order they happened: by date, then by step order, then by id so that
    /// every replica sees the same order (step ids are time-ordered, so two records of one step
    /// on one day stand in the order they were written).
    pub fn records(&self) -> Vec<(&StepId, &StepRecord)> {
        let mut v: Vec<_> = self.steps.iter().collect();
        v.sort_by(|(ia, a), (ib, b)| {
            (a.date, a.step.index(), ia.as_str()).cmp(&(b.date, b.step.index(), ib.as_str()))
        });
        v
    }

    pub fn stage(&self) -> CaseStage {
        match self.records().last() {
            None => CaseStage::Proposed,
            Some((_, r)) => match r.outcome {
                StepOutcome::Passed => CaseStage::Passed(r.step),
                StepOutcome::Returned => CaseStage::Returned(r.step),
                StepOutcome::Rejected => CaseStage::Rejected(r.step),
            },
        }
    }

    /// Still under way: not rejected, and not yet announced.
    pub fn is_open(&self) -> bool {
        !matches!(
            self.stage(),
            CaseStage::Rejected(_) | CaseStage::Passed(ProcedureStep::Announcement)
        )
    }

    /// The latest record of `step`, whatever its outcome.
    pub fn latest(&self, step: ProcedureStep) -> Option<&StepRecord> {
        self.records()
            .into_iter()
            .rev()
            .map(|(_, r)| r)
            .find(|r| r.step == step)
    }

    /// The latest passed record of `step`, if any.
    pub fn passed(&self, step: ProcedureStep) -> Option<&StepRecord> {
        self.records()
            .into_iter()
            .rev()
            .map(|(_, r)| r)
            .find(|r| r.step == step && r.outcome == StepOutcome::Passed)
    }
}
