//! The check of one change (or one push of changes) against the write model: the table's rights
//! for every write, then the procedure's rules for what devices record — steps in order, dated
//! between the case's proposal and tomorrow, a 公示 with its dates, back-dating only with a
//! reason. The 公示 minimum is the township review's to enforce: devices record the notice when
//! it is posted (the report counts it as 公示中 until it ends), and only the server writes the
//! 乡镇审核 that may follow it, after checking its length.

use chrono::{Days, NaiveDate};

use super::{PathClass, WriteKind, Writer, may, writes};
use crate::codes::{CaseKind, CodeList, HouseholdStatus, ProcedureStep, StepOutcome};
use crate::ids::{CaseId, StepId};
use crate::model::{Case, CaseStage, Household, HouseholdInfo, StepRecord};

/// How far back a step or a proposal may be dated without a reason: transcribing last year's
/// paper forms is real work, and is flagged as 补录 on the review pages.
pub const BACKDATE_DAYS: u64 = 30;

/// What the check needs beyond the household.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    /// The checking side's day: the server's (one day of clock skew is allowed), or the
    /// device's own.
    pub today: NaiveDate,
    /// The day the change was written, by its own time stamp.
    pub written_on: NaiveDate,
}

/// Why a write was refused; the code is stable, the message for the person at the form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalCode {
    NotPermitted,
    Removal,
    StepOrder,
    StepDate,
    BackdatedWithoutReason,
}

impl RefusalCode {
    pub fn code(self) -> &'static str {
        match self {
            RefusalCode::NotPermitted => "not_permitted",
            RefusalCode::Removal => "removal",
            RefusalCode::StepOrder => "step_order",
            RefusalCode::StepDate => "step_date",
            RefusalCode::BackdatedWithoutReason => "backdated_without_reason",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub code: RefusalCode,
    pub message: String,
}

fn refuse(code: RefusalCode, message: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message: message.into(),
    }
}

/// Checks everything `writer` did between `before` (`None`: a new household) and `after`.
/// The server's own writes are judged by the review API's rules before it makes them.
pub fn check(
    writer: Writer,
    before: Option<&Household>,
    after: &Household,
    ctx: &Context,
) -> Result<(), Refusal> {
    if writer == Writer::Server {
        return Ok(());
    }
    for w in writes(before, after) {
        if !may(writer, w.class, w.kind) {
            let (code, verb) = match w.kind {
                WriteKind::Create => (RefusalCode::NotPermitted, "新建"),
                WriteKind::Change => (RefusalCode::NotPermitted, "修改"),
                WriteKind::Remove => (RefusalCode::Removal, "删除"),
            };
            return Err(refuse(
                code,
                format!(
                    "{}不能{verb}「{}」({});该户的本次修改已拒绝",
                    writer.label(),
                    w.class.label(),
                    w.path
                ),
            ));
        }
        if w.class == PathClass::Objections {
            check_objection(after, &w.path)?;
        }
        if w.kind != WriteKind::Create {
            continue;
        }
        let mut parts = w.path.split('.');
        match (
            w.class,
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) {
            (PathClass::Case, Some("cases"), Some(case), None, None) => {
                if let Some(c) = after.cases.get(&CaseId::from(case)) {
                    check_proposal(c, ctx)?;
                }
            }
            (PathClass::Step(_), Some("cases"), Some(case), Some("steps"), Some(step)) => {
                if let Some(c) = after.cases.get(&CaseId::from(case)) {
                    check_step_record(c, &StepId::from(step), ctx)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Objections belong to the 公示 they were raised at: once the township has reviewed the case
/// on them, they are not added or rewritten (a review decided on what it saw).
fn check_objection(after: &Household, path: &str) -> Result<(), Refusal> {
    let mut parts = path.split('.').skip(1);
    let Some(case) = parts.next().and_then(|c| after.cases.get(&CaseId::from(c))) else {
        return Ok(());
    };
    let reviewed = case
        .steps
        .values()
        .any(|r| r.step.index() >= ProcedureStep::TownshipReview.index());
    if reviewed {
        return Err(refuse(
            RefusalCode::StepOrder,
            "事项已经乡镇审核,不能再登记或修改公示异议",
        ));
    }
    Ok(())
}

/// Whether a case of `kind` can concern a household registered as `info` says: an exit needs a
/// poor household, a relapse an exited one, and so on. A household whose status is not known
/// yet takes any. For the forms, which offer only these; not a server check, since a case may
/// rightly race a status change.
pub fn kind_fits(kind: CaseKind, info: &HouseholdInfo) -> bool {
    use HouseholdStatus::*;
    let Some(status) = info.status else {
        return true;
    };
    let exited = matches!(status, ExitedSupported | ExitedUnsupported);
    match kind {
        CaseKind::NewEntry => matches!(status, Ordinary | Edge),
        CaseKind::Exit => matches!(status, NotExited | Relapsed),
        CaseKind::Relapse | CaseKind::WrongfulExit => exited,
        CaseKind::WrongEntryRemoval => matches!(status, NotExited | Relapsed) || exited,
        CaseKind::MonitoringInclude => info.monitoring.is_none(),
        CaseKind::RiskCleared => info.monitoring.is_some(),
        CaseKind::MemberChange => true,
    }
}

fn latest_allowed(ctx: &Context) -> NaiveDate {
    ctx.today
        .checked_add_days(Days::new(1))
        .unwrap_or(ctx.today)
}

/// A `date` more than [`BACKDATE_DAYS`] before the day it is written is a transcription (补录)
/// and must give its `reason`; the refusal names the date as `what` and asks for the reason as
/// `ask`.
fn backdating_explained(
    date: NaiveDate,
    reason: &str,
    ctx: &Context,
    what: &str,
    ask: &str,
) -> Result<(), Refusal> {
    if backdated(date, ctx.written_on) && reason.trim().is_empty() {
        return Err(refuse(
            RefusalCode::BackdatedWithoutReason,
            format!("{what} {date} 早于录入日 {BACKDATE_DAYS} 天以上,补录须{ask}"),
        ));
    }
    Ok(())
}

/// Whether a step record was written more than [`BACKDATE_DAYS`] after the day it names: a
/// transcription of an earlier paper form (补录), which the review pages flag.
pub fn transcribed(id: &StepId, record: &StepRecord) -> bool {
    id.written_on().is_some_and(|on| backdated(record.date, on))
}

/// Whether `date` lies more than [`BACKDATE_DAYS`] before `written_on`.
fn backdated(date: NaiveDate, written_on: NaiveDate) -> bool {
    written_on
        .checked_sub_days(Days::new(BACKDATE_DAYS))
        .is_some_and(|limit| date < limit)
}

fn check_proposal(case: &Case, ctx: &Context) -> Result<(), Refusal> {
    if case.proposed_on > latest_allowed(ctx) {
        return Err(refuse(
            RefusalCode::StepDate,
            format!("提出日期 {} 晚于今天", case.proposed_on),
        ));
    }
    backdating_explained(case.proposed_on, &case.reason, ctx, "提出日期", "填写事由")
}

/// The procedure's rules for the new step record `id` of `case` (as it stands with the record):
/// the step before it passed, nothing after a rejection, dated from the proposal to tomorrow, a
/// 公示 with its dates, and a reason when back-dated.
pub fn check_step_record(case: &Case, id: &StepId, ctx: &Context) -> Result<(), Refusal> {
    let Some(record) = case.steps.get(id) else {
        return Ok(());
    };
    let label = record.step.label();
    // The case as it stood before this record, in the order every replica sorts records.
    let earlier = Case {
        steps: case
            .records()
            .into_iter()
            .take_while(|(sid, _)| *sid != id)
            .map(|(sid, r)| (sid.clone(), r.clone()))
            .collect(),
        ..case.clone()
    };
    if let CaseStage::Rejected(step) = earlier.stage() {
        return Err(refuse(
            RefusalCode::StepOrder,
            format!("事项已在「{}」被否决,不能再记录「{label}」", step.label()),
        ));
    }
    if let Some(previous) = record.step.previous()
        && earlier
            .latest(previous)
            .is_none_or(|r| r.outcome != StepOutcome::Passed)
    {
        return Err(refuse(
            RefusalCode::StepOrder,
            format!("「{label}」之前须先完成「{}」", previous.label()),
        ));
    }
    if record.date < case.proposed_on || record.date > latest_allowed(ctx) {
        return Err(refuse(
            RefusalCode::StepDate,
            format!(
                "「{label}」的日期 {} 须在提出日期 {} 与今天之间",
                record.date, case.proposed_on
            ),
        ));
    }
    if record.step == ProcedureStep::Publicity && record.outcome != StepOutcome::Returned {
        check_publicity(record, case)?;
    }
    backdating_explained(
        record.date,
        &record.comment,
        ctx,
        &format!("「{label}」的日期"),
        "在意见中写明事由",
    )
}

fn check_publicity(record: &StepRecord, case: &Case) -> Result<(), Refusal> {
    let (Some(start), Some(end)) = (record.publicity_start, record.publicity_end) else {
        return Err(refuse(RefusalCode::StepDate, "公示须填写起止日期"));
    };
    if end < start || start < case.proposed_on {
        return Err(refuse(
            RefusalCode::StepDate,
            format!("公示起止日期 {start} 至 {end} 无效(不能早于提出日期,结束不能早于开始)"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authority::Role;
    use crate::authority::testkit::{add, add_step, day, step, step_mut, with_case, with_decision};
    use crate::ids::HouseholdId;
    use StepOutcome::Passed;

    fn ctx() -> Context {
        Context {
            today: day("2026-11-25"),
            written_on: day("2026-11-25"),
        }
    }

    const SURVEYOR: Writer = Writer::Device(Role::Surveyor);

    #[test]
    fn a_device_cannot_record_a_decision() {
        let (h, c) = with_case();
        let after = with_decision(&h, &c);
        let e = check(SURVEYOR, Some(&h), &after, &ctx()).expect_err("refused");
        assert_eq!(e.code, RefusalCode::NotPermitted);
        assert!(e.message.contains("县级审定"), "{e}");
        assert!(check(Writer::Server, Some(&h), &after, &ctx()).is_ok());
    }

    #[test]
    fn field_steps_go_in_order_and_in_time() {
        let (h, c) = with_case();
        let home = add_step(
            &h,
            &c,
            "s1",
            (ProcedureStep::HomeCheck, "2026-11-02", Passed),
        );
        check(SURVEYOR, Some(&h), &home, &ctx()).expect("a home check");
        for (record, code, why) in [
            (
                (ProcedureStep::Deliberation, "2026-11-02", Passed),
                RefusalCode::StepOrder,
                "order",
            ),
            (
                (ProcedureStep::HomeCheck, "2026-10-30", Passed),
                RefusalCode::StepDate,
                "before proposal",
            ),
            (
                (ProcedureStep::HomeCheck, "2027-01-02", Passed),
                RefusalCode::StepDate,
                "in the future",
            ),
        ] {
            let after = add_step(&h, &c, "s1", record);
            let e = check(SURVEYOR, Some(&h), &after, &ctx()).expect_err(why);
            assert_eq!(e.code, code, "{why}");
        }
    }

    #[test]
    fn back_dating_needs_a_reason() {
        let (h, c) = with_case();
        let later = Context {
            written_on: day("2027-03-01"),
            today: day("2027-03-01"),
        };
        let mut r = step(ProcedureStep::HomeCheck, "2026-11-02", StepOutcome::Passed);
        let after = add(&h, &c, "s1", r.clone());
        let e = check(SURVEYOR, Some(&h), &after, &later).expect_err("no reason");
        assert_eq!(e.code, RefusalCode::BackdatedWithoutReason);
        r.comment = "补录 2026 年纸质表".into();
        let after = add(&h, &c, "s1", r);
        assert!(check(SURVEYOR, Some(&h), &after, &later).is_ok());
    }

    #[test]
    fn a_transcribed_step_is_known_by_its_id() {
        let id = StepId::time_ordered();
        let today = chrono::Utc::now().date_naive();
        let mut r = step(ProcedureStep::HomeCheck, "2020-01-02", StepOutcome::Passed);
        assert!(transcribed(&id, &r));
        r.date = today;
        assert!(!transcribed(&id, &r));
        assert!(
            !transcribed(&StepId::from("s1"), &r),
            "not a time-ordered id"
        );
    }

    #[test]
    fn objections_close_with_the_township_review() {
        let (h, c) = with_case();
        let mut publicity = step(ProcedureStep::Publicity, "2026-11-10", StepOutcome::Passed);
        publicity.publicity_start = Some(day("2026-11-03"));
        publicity.publicity_end = Some(day("2026-11-10"));
        let open = add(&h, &c, "s1", publicity);
        let objection = |h: &Household| {
            let mut after = h.clone();
            step_mut(&mut after, &c, "s1").objections.insert(
                crate::ids::ObjectionId::from("o1"),
                crate::model::Objection {
                    date: day("2026-11-05"),
                    by: "村民".into(),
                    content: "收入不实".into(),
                    resolution: None,
                },
            );
            after
        };
        assert!(check(SURVEYOR, Some(&open), &objection(&open), &ctx()).is_ok());
        let review = (ProcedureStep::TownshipReview, "2026-11-12", Passed);
        let reviewed = add_step(&open, &c, "s2", review);
        let e = check(SURVEYOR, Some(&reviewed), &objection(&reviewed), &ctx())
            .expect_err("after the review");
        assert_eq!(e.code, RefusalCode::StepOrder);
    }

    #[test]
    fn a_step_record_is_never_rewritten() {
        let (h, c) = with_case();
        let returned = (
            ProcedureStep::HomeCheck,
            "2026-11-02",
            StepOutcome::Returned,
        );
        let returned = add_step(&h, &c, "s1", returned);
        let flipped = add_step(
            &h,
            &c,
            "s1",
            (ProcedureStep::HomeCheck, "2026-11-02", Passed),
        );
        let e = check(SURVEYOR, Some(&returned), &flipped, &ctx()).expect_err("rewrite");
        assert_eq!(e.code, RefusalCode::NotPermitted);
    }

    #[test]
    fn case_kinds_fit_the_households_status() {
        let mut info = HouseholdInfo::default();
        assert!(kind_fits(CaseKind::Exit, &info), "unknown status: any");
        info.status = Some(HouseholdStatus::ExitedSupported);
        assert!(!kind_fits(CaseKind::Exit, &info));
        assert!(kind_fits(CaseKind::Relapse, &info));
        info.status = Some(HouseholdStatus::Ordinary);
        assert!(kind_fits(CaseKind::NewEntry, &info));
        assert!(!kind_fits(CaseKind::WrongfulExit, &info));
    }

    #[test]
    fn status_is_filled_in_once_by_hand() {
        let mut h = Household::new(HouseholdId::from("hh-1"));
        let mut after = h.clone();
        after.info.status = Some(HouseholdStatus::NotExited);
        assert!(check(SURVEYOR, Some(&h), &after, &ctx()).is_ok());
        h = after.clone();
        after.info.status = Some(HouseholdStatus::ExitedSupported);
        let e = check(SURVEYOR, Some(&h), &after, &ctx()).expect_err("status change");
        assert_eq!(e.code, RefusalCode::NotPermitted);
        assert!(check(Writer::Device(Role::Admin), Some(&h), &after, &ctx()).is_ok());
    }
}
