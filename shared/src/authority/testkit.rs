//! A household with one proposed case, and hand-recorded steps on it: the setup the write-model
//! tests share.

use crate::codes::{CaseKind, HouseholdStatus, ProcedureStep, StepOutcome};
use crate::ids::{CaseId, HouseholdId, StepId};
use crate::model::{Household, StepRecord};
use chrono::NaiveDate;

pub(crate) fn day(d: &str) -> NaiveDate {
    d.parse().expect("date")
}

/// A not-yet-exited household with an exit case proposed on 2026-11-01.
pub(crate) fn with_case() -> (Household, CaseId) {
    let mut h = Household::new(HouseholdId::from("hh-1"));
    h.info.status = Some(HouseholdStatus::NotExited);
    let id = CaseId::from("c1");
    let case = crate::demo::case_record(CaseKind::Exit, day("2026-11-01"), "张");
    h.cases.insert(id.clone(), case);
    (h, id)
}

pub(crate) fn step(s: ProcedureStep, date: &str, outcome: StepOutcome) -> StepRecord {
    crate::demo::step_record(s, day(date), "张", outcome)
}

/// `h` with `r` recorded on `case` as step `id`.
pub(crate) fn add(h: &Household, case: &CaseId, id: &str, r: StepRecord) -> Household {
    let mut after = h.clone();
    after
        .cases
        .get_mut(case)
        .expect("case")
        .steps
        .insert(StepId::from(id), r);
    after
}

/// `h` with a hand-recorded step (which, dated when, with what outcome) on `case` as `id`.
pub(crate) fn add_step(
    h: &Household,
    case: &CaseId,
    id: &str,
    (s, date, outcome): (ProcedureStep, &str, StepOutcome),
) -> Household {
    add(h, case, id, step(s, date, outcome))
}

/// `h` with a 县级审定 recorded by hand on `case`, which only the server may write.
pub(crate) fn with_decision(h: &Household, case: &CaseId) -> Household {
    let decision = (
        ProcedureStep::CountyDecision,
        "2026-11-02",
        StepOutcome::Passed,
    );
    add_step(h, case, "s1", decision)
}

/// The step record `id` of `case`, to rewrite in place.
pub(crate) fn step_mut<'h>(h: &'h mut Household, case: &CaseId, id: &str) -> &'h mut StepRecord {
    h.cases
        .get_mut(case)
        .and_then(|c| c.steps.get_mut(&StepId::from(id)))
        .expect("step")
}
