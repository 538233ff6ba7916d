//! What a reviewer needs beside the household to decide: its photos and signatures (served only
//! to those who may read the household), which outcomes of a step may be decided today and when
//! the rest may, and who the people named in its lists are.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate};
use zoufang_shared::CodeList;
use zoufang_shared::codes::{ProcedureStep, StepOutcome};
use zoufang_shared::doc::HouseholdDoc;
use zoufang_shared::model::{Case, Household, is_content_hash};

use super::{Review, ReviewError};
use crate::storage::Database;

/// The image types the device API accepts; anything else stored is never served as an image.
const IMAGE_TYPES: [&str; 2] = ["image/jpeg", "image/png"];

impl<D: Database> Review<D> {
    /// A photo or signature of a household the user may read: its content type and bytes. A hash
    /// the household does not name is "not found", like a household outside the user's areas, so
    /// a session cannot fetch another household's photos through one it may read.
    pub async fn attachment(
        &self,
        household_id: &str,
        hash: &str,
    ) -> Result<(String, Vec<u8>), ReviewError> {
        let db = &self.db;
        if !is_content_hash(hash) {
            return Err(ReviewError::NotFound);
        }
        let (h, _) = self.household(household_id).await?;
        if !names_attachment(&h, hash) {
            return Err(ReviewError::NotFound);
        }
        let stored = db.attachment(hash).await?.ok_or(ReviewError::NotFound)?;
        let mime = stored.mime.to_ascii_lowercase();
        if !stored.complete || !IMAGE_TYPES.contains(&mime.as_str()) {
            return Err(ReviewError::NotFound);
        }
        Ok((mime, stored.bytes))
    }

    /// Accounts by login name, for lists that name who did what (a login name not found is shown
    /// as it is).
    pub async fn people(&self) -> Result<HashMap<String, Person>, ReviewError> {
        let db = &self.db;
        Ok(db
            .users()
            .await?
            .into_iter()
            .map(|u| {
                let person = Person {
                    name: u.display_name,
                    role: u.role.label(),
                };
                (u.username, person)
            })
            .collect())
    }

    /// The names of the devices that wrote a household's changes, by device id.
    pub async fn devices_of(
        &self,
        doc: &mut HouseholdDoc,
    ) -> Result<HashMap<String, String>, ReviewError> {
        let db = &self.db;
        let mut ids: Vec<String> = doc.history().into_iter().filter_map(|c| c.device).collect();
        ids.sort();
        ids.dedup();
        Ok(db.device_names(&ids).await?.into_iter().collect())
    }
}

/// Whether the household names `hash`: in its attachment list, a visit or a procedure step.
fn names_attachment(h: &Household, hash: &str) -> bool {
    h.attachments.contains_key(hash)
        || h.visits.values().any(|v| v.attachments.contains(hash))
        || h.cases
            .values()
            .flat_map(|c| c.steps.values())
            .any(|s| s.attachments.contains(hash))
}

/// Why a step may not be passed today, and from which day it may (none when no day will
/// help: a 公示 missing, too short, or objections open).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    pub reason: String,
    pub from: Option<NaiveDate>,
}

/// "12月8日".
pub fn month_day(d: NaiveDate) -> String {
    format!("{}月{}日", d.month(), d.day())
}

/// Whether `step` of `case` may be passed on `today`: the township check waits for a 公示 of
/// at least `min_publicity_days` that has ended and whose objections are all handled. The
/// decision itself ([`super::decide`]) and the form that offers it ask this one function.
pub fn pass_blocked(
    case: &Case,
    step: ProcedureStep,
    today: NaiveDate,
    min_publicity_days: i64,
) -> Option<Blocked> {
    if step != ProcedureStep::TownshipReview {
        return None;
    }
    let never = |reason: String| Some(Blocked { reason, from: None });
    // The latest 公示 counts: one passed and later sent back is not done.
    let Some(publicity) = case
        .latest(ProcedureStep::Publicity)
        .filter(|r| r.outcome == StepOutcome::Passed)
    else {
        return never("该事项尚未完成村内公示,不能通过乡镇审核".into());
    };
    if let (Some(start), Some(end)) = (publicity.publicity_start, publicity.publicity_end) {
        let days = (end - start).num_days() + 1;
        if days < min_publicity_days {
            return never(format!(
                "公示期只有 {days} 天,至少须 {min_publicity_days} 天"
            ));
        }
        if today <= end {
            return Some(Blocked {
                reason: format!("公示 {}结束后可审核通过", month_day(end)),
                from: end.succ_opt(),
            });
        }
    }
    let open_objections = case
        .steps
        .values()
        .flat_map(|s| s.objections.values())
        .filter(|o| o.resolution.as_deref().unwrap_or("").trim().is_empty())
        .count();
    if open_objections > 0 {
        return never(format!(
            "公示期间有 {open_objections} 条异议尚未处理,处理后才能通过"
        ));
    }
    None
}

/// The outcomes a reviewer may choose for `step` today: all of them, or, while passing is
/// blocked, only a return or a rejection.
pub fn outcomes_now(blocked: Option<&Blocked>) -> Vec<StepOutcome> {
    StepOutcome::ALL
        .iter()
        .copied()
        .filter(|o| blocked.is_none() || *o != StepOutcome::Passed)
        .collect()
}

/// An account as lists name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub name: String,
    pub role: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};
    use zoufang_shared::codes::CaseKind;
    use zoufang_shared::ids::{ObjectionId, StepId};
    use zoufang_shared::model::{Objection, StepRecord};

    fn day(m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, d).expect("date")
    }

    /// A 脱贫退出 whose 公示 ran from `start` to `end`, with `objection` raised in it.
    fn exit(start: NaiveDate, end: NaiveDate, objection: Option<Option<&str>>) -> Case {
        let objections: BTreeMap<ObjectionId, Objection> = objection
            .map(|resolution| {
                let o = Objection {
                    date: start,
                    by: "村民".into(),
                    content: "收入不实".into(),
                    resolution: resolution.map(str::to_owned),
                };
                (ObjectionId::from("o1"), o)
            })
            .into_iter()
            .collect();
        let record = StepRecord {
            step: ProcedureStep::Publicity,
            date: start,
            actor: "村委会".into(),
            actor_user: None,
            outcome: StepOutcome::Passed,
            comment: String::new(),
            publicity_start: Some(start),
            publicity_end: Some(end),
            objections,
            attachments: BTreeSet::new(),
        };
        Case {
            kind: CaseKind::Exit,
            origin: None,
            round: None,
            proposed_on: day(11, 1),
            proposed_by: "张调查".into(),
            proposed_by_user: None,
            reason: String::new(),
            members: BTreeSet::new(),
            steps: [(StepId::from("s1"), record)].into_iter().collect(),
        }
    }

    #[test]
    fn a_running_publicity_says_from_which_day_the_check_may_pass() {
        let case = exit(day(12, 2), day(12, 8), None);
        let blocked = pass_blocked(&case, ProcedureStep::TownshipReview, day(12, 8), 5)
            .expect("blocked on its last day");
        assert_eq!(blocked.reason, "公示 12月8日结束后可审核通过");
        assert_eq!(blocked.from, Some(day(12, 9)));
        assert_eq!(
            outcomes_now(Some(&blocked)),
            [StepOutcome::Returned, StepOutcome::Rejected]
        );
        assert_eq!(
            pass_blocked(&case, ProcedureStep::TownshipReview, day(12, 9), 5),
            None
        );
        assert_eq!(outcomes_now(None).len(), StepOutcome::ALL.len());
        // Only the township check waits for the 公示.
        assert_eq!(
            pass_blocked(&case, ProcedureStep::CountyDecision, day(12, 8), 5),
            None
        );
    }

    #[test]
    fn no_day_helps_a_short_publicity_or_an_open_objection() {
        let short = exit(day(12, 1), day(12, 3), None);
        let b = pass_blocked(&short, ProcedureStep::TownshipReview, day(12, 20), 5).expect("short");
        assert!(b.reason.contains("只有 3 天") && b.from.is_none(), "{b:?}");
        let open = exit(day(12, 1), day(12, 7), Some(None));
        let b = pass_blocked(&open, ProcedureStep::TownshipReview, day(12, 20), 5).expect("open");
        assert!(b.reason.contains("1 条异议") && b.from.is_none(), "{b:?}");
        let handled = exit(day(12, 1), day(12, 7), Some(Some("已核实,收入属实")));
        assert_eq!(
            pass_blocked(&handled, ProcedureStep::TownshipReview, day(12, 20), 5),
            None
        );
    }
}
