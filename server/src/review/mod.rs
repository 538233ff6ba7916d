//! What supervisors do, independent of HTTP: read reports and rosters of their areas, decide
//! procedure steps, settle conflicts, draw and record spot checks.
//!
//! Every operation is a method of [`Review`], which holds the database and the acting [`User`]
//! (handlers open it and never query storage themselves), and checks both axes of least privilege here, once
//! for pages and API alike: the role (who may decide which step, who may settle conflicts) and
//! the area (a household outside the user's areas is "not found", so its existence leaks
//! nothing).
//!
//! Decisions and settlements are written into the household document as server-authored
//! changes (`server_edit`), so they reach the field teams on their next sync like any edit.

mod evidence;
mod reads;
mod spot;

pub use evidence::{Blocked, Person, month_day, outcomes_now, pass_blocked};
pub use reads::{ChecksSummary, conflicts_of};
pub use spot::{SPOT_RESULTS, SpotRow};

use std::collections::HashSet;
use std::sync::Mutex;

use chrono::{Datelike, NaiveDate, Utc};
use serde_json::Value as Json;
use zoufang_shared::CodeList;
use zoufang_shared::codes::{ProcedureStep, StepOutcome};
use zoufang_shared::doc::{ChangeAuthor, DocError, HouseholdDoc};
use zoufang_shared::ids::CaseId;
use zoufang_shared::model::{Household, StepRecord};
use zoufang_shared::rounds::{self as shared_rounds, Round};

use crate::actor::server_actor;
use crate::auth::in_scope;
use crate::report::roster::{RosterFilter, RosterRow, mask_row};
use crate::report::{self, CaseWindow, Report, ReportQuery, RoundLabel};
use crate::server_edit::{EditError, edit_household};
use crate::state::AppState;
use crate::storage::{Database, DbError, Role, User};
use zoufang_shared::authority::{self, Writer};

pub mod history;
pub mod rounds;

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// The role may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// Unknown, or outside the user's areas (the same answer, on purpose).
    #[error("找不到该农户或区域,或不在您负责的范围内")]
    NotFound,
    /// The request contradicts the procedure or the data.
    #[error("{0}")]
    Invalid(String),
    #[error("服务器繁忙,请重试")]
    Busy,
    #[error("数据库错误")]
    Db(#[from] DbError),
}

impl From<EditError> for ReviewError {
    fn from(e: EditError) -> Self {
        match e {
            EditError::NotFound(_) => ReviewError::NotFound,
            EditError::Doc(d) => ReviewError::Invalid(d.to_string()),
            EditError::Text(r) => ReviewError::Invalid(r.to_string()),
            EditError::Busy => ReviewError::Busy,
            EditError::Db(d) => ReviewError::Db(d),
        }
    }
}

/// The one door supervisors' pages and API go through: it alone holds the database for their
/// reads and writes, together with the signed-in user every operation is checked against, so a
/// handler cannot query storage past the role and area rules (`crate::web::session::Viewer::
/// review` opens it; the device API and the admin commands have their own paths).
pub struct Review<D> {
    db: D,
    /// Where reports are counted (`AppState::reports`: the primary or a standby).
    reports: D,
    user: User,
}

impl<D: Database> Review<D> {
    /// The service over the server's databases (`AppState::db` and `AppState::reports`).
    pub fn new(state: &AppState<D>, user: User) -> Self {
        Review::over(state.db.clone(), state.reports.clone(), user)
    }

    /// The service over a primary `db` and the copy reports are counted on.
    pub fn over(db: D, reports: D, user: User) -> Self {
        Review { db, reports, user }
    }

    /// Refuses, naming the role and the `action` ("县级督查不能处理冲突"), what the user's role
    /// may not do.
    fn role_may(&self, may: bool, action: &str) -> Result<(), ReviewError> {
        if may {
            return Ok(());
        }
        Err(ReviewError::Forbidden(format!(
            "{}不能{action}",
            self.user.role.label()
        )))
    }
}

/// The server-side device label of review changes in household histories.
pub const REVIEW_DEVICE: &str = "review";

/// The device label of changes made with `zoufang-server household set` (`server/cli/`).
pub const SERVER_DEVICE: &str = "server";

/// Labels the server writes its own changes under. A household's history names the device of
/// each change, so no device may be enrolled under one of these as its id or its name, nor
/// under anything starting with [`RESERVED_DEVICE_PREFIX`] (the server's actor is
/// `zoufang-server`); compared without regard to case.
pub const RESERVED_DEVICE_LABELS: [&str; 2] = [REVIEW_DEVICE, SERVER_DEVICE];
pub const RESERVED_DEVICE_PREFIX: &str = "zoufang";

/// Whether a device id or name is one the server keeps for itself (see
/// [`RESERVED_DEVICE_LABELS`]).
pub fn reserved_device_label(label: &str) -> bool {
    let label = label.trim().to_lowercase();
    RESERVED_DEVICE_LABELS.contains(&label.as_str()) || label.starts_with(RESERVED_DEVICE_PREFIX)
}

/// Who may enroll a device (and keep syncing one). A device receives whole household documents,
/// ID numbers and bank accounts unmasked, so a role whose review pages mask ID numbers (the
/// county supervisor) reads through those pages and the review API instead. The rule lives in
/// the write model (`zoufang_shared::authority`), beside the other role rules of devices.
pub use zoufang_shared::authority::may_hold_devices;

/// The procedure steps a role decides on the server. Field steps (入户核查, 评议, 公示) are
/// recorded by the teams on their devices.
pub fn decides(role: Role, step: ProcedureStep) -> bool {
    authority::decided_by(step) == Some(role)
}

/// Who settles conflicting values: those who answer for the data of an area.
pub fn settles_conflicts(role: Role) -> bool {
    matches!(
        role,
        Role::TeamLeader | Role::TownshipReviewer | Role::Admin
    )
}

/// Who draws and records spot checks: the county's inspection team.
pub fn spot_checks(role: Role) -> bool {
    matches!(role, Role::CountySupervisor | Role::Admin)
}

/// The area asked for, if the user may read it: inside one of their areas. An empty request
/// means the user's first area.
pub fn readable_area(user: &User, asked: Option<&str>) -> Result<String, ReviewError> {
    match asked.map(str::trim).filter(|a| !a.is_empty()) {
        None => user.areas.first().cloned().ok_or(ReviewError::NotFound),
        Some(a) if a.bytes().all(|b| b.is_ascii_digit()) && in_scope(&user.areas, a) => {
            Ok(a.to_owned())
        }
        Some(_) => Err(ReviewError::NotFound),
    }
}

/// What a report is asked for: a period, or a round, or neither (the round running today).
#[derive(Debug, Clone)]
pub struct ReportAsk {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub today: NaiveDate,
    pub round: Option<String>,
    /// A period was asked for (`from` or `to` given).
    pub dated: bool,
}

impl ReportAsk {
    /// The cases asked for by name: the round, else the period (a roster's filter; a report
    /// also resolves the default round, see [`report`]).
    pub fn window(&self) -> CaseWindow {
        match &self.round {
            Some(id) => CaseWindow::Round(id.clone()),
            None => CaseWindow::Period {
                from: self.from,
                to: self.to,
            },
        }
    }
}

impl<D: Database> Review<D> {
    /// The report of an area the user may read: of the round asked for; else of the period asked
    /// for; else of the round running in the area today (latest started); else of this year.
    pub async fn report(&self, area: Option<&str>, ask: &ReportAsk) -> Result<Report, ReviewError> {
        let (db, user) = (&self.reports, &self.user);
        let area = readable_area(user, area)?;
        if ask.from > ask.to {
            return Err(ReviewError::Invalid("开始日期不能晚于结束日期".into()));
        }
        let rounds = self::rounds::covering(db, std::slice::from_ref(&area)).await?;
        let round = match &ask.round {
            Some(id) => Some(round_named(&rounds, id)?),
            None if ask.dated => None,
            None => rounds.iter().find(|r| r.open_on(ask.today)).cloned(),
        };
        let (from, to) = match &round {
            Some(r) => (r.starts_on, r.ends_on.unwrap_or(ask.today)),
            None => (ask.from, ask.to),
        };
        let q = ReportQuery {
            round: round.as_ref().map(RoundLabel::from),
            rounds: rounds.iter().map(RoundLabel::from).collect(),
            ..ReportQuery::over_period(&area, from, to, ask.today)
        };
        Ok(counted_report(db, &q).await?)
    }

    /// A roster page, masked for the user's role. `filter.area` must already be readable.
    pub async fn roster(&self, filter: &RosterFilter) -> Result<Vec<RosterRow>, ReviewError> {
        let (db, user) = (&self.db, &self.user);
        readable_area(user, Some(&filter.area))?;
        let mut rows = db.roster(filter).await?;
        for r in &mut rows {
            mask_row(r, user.role);
        }
        Ok(rows)
    }

    /// The whole roster a filter selects, read page by page, at most `max` households (the first
    /// by area and id), masked for the user's role.
    pub async fn roster_upto(
        &self,
        filter: &RosterFilter,
        max: usize,
    ) -> Result<Vec<RosterRow>, ReviewError> {
        let mut filter = filter.clone();
        let mut rows: Vec<RosterRow> = Vec::new();
        while rows.len() < max {
            let page = self.roster(&filter).await?;
            let full = page.len() as i64 == filter.limit;
            filter.after = page.last().map(|r| (r.area_code.clone(), r.id.clone()));
            rows.extend(page);
            if !full || filter.limit <= 0 {
                break;
            }
        }
        rows.truncate(max);
        Ok(rows)
    }

    /// A household the user may read, as merged, with its document (for conflicts and history).
    pub async fn household(&self, id: &str) -> Result<(Household, HouseholdDoc), ReviewError> {
        let (db, user) = (&self.db, &self.user);
        // No id holds a NUL, and PostgreSQL would refuse it in a query.
        if id.contains('\0') {
            return Err(ReviewError::NotFound);
        }
        let stored = db
            .households(&[id.to_owned()])
            .await?
            .pop()
            .ok_or(ReviewError::NotFound)?;
        if !in_scope(&user.areas, &stored.area_code) {
            return Err(ReviewError::NotFound);
        }
        crate::heavy::cpu(|| {
            let doc = HouseholdDoc::load(&stored.doc, server_actor()).map_err(|e| {
                tracing::error!(household = %id, error = %e, "stored document unreadable");
                ReviewError::Invalid("该户数据无法读取,已记录".into())
            })?;
            let h = doc
                .read()
                .map_err(|e| ReviewError::Invalid(format!("该户数据无法读取:{e}")))?;
            Ok((h, doc))
        })
    }

    /// Records a decision: the role must decide this step, the household must be in the user's
    /// areas, the procedure order holds (the document's editor refuses a step whose predecessor
    /// has not passed), a return or rejection says why (within the text limits every server edit
    /// keeps), and the township check waits until a 公示 of at least `min_publicity_days` has
    /// ended.
    pub async fn decide(
        &self,
        d: &Decision,
        today: NaiveDate,
        min_publicity_days: i64,
    ) -> Result<(), ReviewError> {
        let (db, user) = (&self.db, &self.user);
        self.role_may(
            decides(user.role, d.step),
            &format!("审批「{}」", d.step.label()),
        )?;
        let comment = d.comment.trim().to_owned();
        if d.outcome != StepOutcome::Passed && comment.is_empty() {
            return Err(ReviewError::Invalid("退回或不通过须填写意见".into()));
        }
        let (h, _) = self.household(&d.household_id).await?;
        let case_id = CaseId::from(d.case_id.as_str());
        let case = h.cases.get(&case_id).ok_or(ReviewError::NotFound)?;
        if d.outcome == StepOutcome::Passed
            && let Some(b) = pass_blocked(case, d.step, today, min_publicity_days)
        {
            return Err(ReviewError::Invalid(b.reason));
        }
        let record = StepRecord {
            step: d.step,
            date: today,
            actor: user.display_name.clone(),
            actor_user: Some(user.username.clone()),
            outcome: d.outcome,
            comment,
            publicity_start: None,
            publicity_end: None,
            objections: Default::default(),
            attachments: Default::default(),
        };
        // The announcement and the status it decides are one change: no device ever pulls a
        // finished case whose household still stands as before.
        let finishes = d.step == ProcedureStep::Announcement && d.outcome == StepOutcome::Passed;
        edit_household(db, &d.household_id, &author(user), |e| {
            e.add_step(&case_id, &record)?;
            if finishes {
                e.apply_outcome(&case_id, today.year())?;
            }
            Ok(())
        })
        .await?;
        tracing::info!(
            user = %user.username,
            household = %d.household_id,
            step = d.step.code(),
            outcome = d.outcome.code(),
            "step decided"
        );
        Ok(())
    }

    /// Settles a conflicted field with `value` (one of the values written, or a typed one) as one
    /// new change that has seen every concurrent value.
    pub async fn settle(
        &self,
        household_id: &str,
        path: &str,
        value: Json,
    ) -> Result<(), ReviewError> {
        let (db, user) = (&self.db, &self.user);
        self.role_may(settles_conflicts(user.role), "处理冲突")?;
        let (_, mut doc) = self.household(household_id).await?;
        let Some(conflict) = conflicts_of(&mut doc)?
            .into_iter()
            .find(|c| c.path_string() == path)
        else {
            return Err(ReviewError::Invalid(
                "该字段已没有冲突(可能已被他人处理)".into(),
            ));
        };
        let parts = conflict.path.clone();
        // A settled value is a write like any other: the household's area must stay a known area
        // inside the settling user's areas, or it would leave their sight (and every reviewer's).
        // Only `info.area_code` (or a map holding it) can move the household; another settlement
        // that somehow changed the area would find no known area and be refused.
        let known: HashSet<String> =
            if parts.len() <= 2 && parts.iter().zip(["info", "area_code"]).all(|(p, q)| p == q) {
                db.areas().await?.into_iter().map(|a| a.code).collect()
            } else {
                HashSet::new()
            };
        // Why the edit below was refused, when it was refused by that check (not by the document).
        let refused: Mutex<Option<String>> = Mutex::new(None);
        let settled = edit_household(db, household_id, &author(user), |e| {
            let before = e.household()?;
            let area_before = before.info.area_code.clone();
            e.resolve(&parts, value.clone())?;
            // A label typed for a coded field is stored as its code, like every other write.
            let household = e.household()?;
            let canonical =
                serde_json::to_value(&household).map_err(|err| DocError::Model(err.to_string()))?;
            let stored = parts
                .iter()
                .try_fold(&canonical, |v, k| v.get(k))
                .cloned()
                .unwrap_or(Json::Null);
            if stored != value {
                e.resolve(&parts, stored)?;
            }
            let after = e.household()?;
            // The settler's role must be allowed to write what the settlement changes (a team
            // leader cannot turn a decision's outcome by settling it, say).
            let today = chrono::Utc::now().date_naive();
            let ctx = authority::Context {
                today,
                written_on: today,
            };
            if let Err(r) = authority::check(Writer::Device(user.role), Some(&before), &after, &ctx)
            {
                *refused.lock().unwrap_or_else(|p| p.into_inner()) = Some(r.message.clone());
                return Err(DocError::Model(r.message));
            }
            let area_after = after.info.area_code;
            if area_after != area_before
                && let Err(why) = settled_area_allowed(user, &known, area_after.as_deref())
            {
                *refused.lock().unwrap_or_else(|p| p.into_inner()) = Some(why.clone());
                // Rolls the edit back: nothing is written.
                return Err(DocError::Model(why));
            }
            Ok(())
        })
        .await;
        if let Err(e) = settled {
            return Err(
                match refused.into_inner().unwrap_or_else(|p| p.into_inner()) {
                    Some(why) => ReviewError::Invalid(why),
                    None => e.into(),
                },
            );
        }
        tracing::info!(user = %user.username, household = %household_id, "conflict settled");
        Ok(())
    }
}

/// The report `q` describes, from storage's grouped counts. No access check: the caller has
/// resolved `q.area` for its reader (or is the bench or a storage test).
pub async fn counted_report<D: Database>(db: &D, q: &ReportQuery) -> Result<Report, DbError> {
    let statuses = db.status_counts(&q.area).await?;
    let cases = db.case_counts(&q.area, &q.window(), q.today).await?;
    let moves = db.register_moves(&q.area, q.from).await?;
    let areas = db.areas().await?;
    let counts = report::Counts {
        statuses: &statuses,
        cases: &cases,
        moves: &moves,
    };
    Ok(report::build(q, &areas, counts))
}

/// The round `id` among `rounds`, or a year's round of cases filed before rounds existed.
fn round_named(rounds: &[Round], id: &str) -> Result<Round, ReviewError> {
    if let Some(r) = rounds.iter().find(|r| r.id == id) {
        return Ok(r.clone());
    }
    shared_rounds::year_round(id)
        .ok_or_else(|| ReviewError::Invalid(format!("没有工作批次「{id}」")))
}

/// A reviewer's decision on one step of one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub household_id: String,
    pub case_id: String,
    pub step: ProcedureStep,
    pub outcome: StepOutcome,
    pub comment: String,
}

fn author(user: &User) -> ChangeAuthor {
    ChangeAuthor::new(user.username.clone(), REVIEW_DEVICE, Utc::now())
}

/// The value a reviewer typed for the field at `path`, as the model stores it: parsed by the
/// form's own field table where the field has one (money in yuan, 亩, codes or their labels,
/// 是/否), else numbers and true/false as such and anything else as text.
pub fn typed_value(path: &str, text: &str) -> Result<Json, ReviewError> {
    let t = text.trim();
    let parts: Vec<String> = path.split('.').map(str::to_owned).collect();
    if let Some((_, field)) = zoufang_shared::fields::for_path(&parts) {
        let t = match t {
            "是" => "true",
            "否" => "false",
            other => other,
        };
        return field.parse(Some(t)).map_err(ReviewError::Invalid);
    }
    Ok(match serde_json::from_str::<Json>(t) {
        Ok(v @ (Json::Number(_) | Json::Bool(_) | Json::Null)) => v,
        _ => Json::String(t.to_owned()),
    })
}

/// Whether a settlement may give a household the area `area`: a code of the server's area tree
/// inside one of the user's areas; else why not.
fn settled_area_allowed(
    user: &User,
    known: &HashSet<String>,
    area: Option<&str>,
) -> Result<(), String> {
    let area = area.unwrap_or("");
    if area.trim().is_empty() {
        return Err("农户的区划代码不能为空".into());
    }
    if !known.contains(area) {
        return Err(format!(
            "区划代码「{area}」不是服务器区划表中的代码,不能作为该户的区划"
        ));
    }
    if !in_scope(&user.areas, area) {
        return Err(format!(
            "区划代码「{area}」不在您负责的区域内:处理冲突不能把农户移出您负责的区域"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{may_hold_devices, reserved_device_label, typed_value};
    use crate::report::roster::sees_ids;
    use crate::storage::Role;
    use serde_json::json;
    use zoufang_shared::CodeList;

    #[test]
    fn no_role_whose_review_pages_mask_ids_holds_a_device_but_the_field_teams() {
        for &role in Role::ALL {
            let field = matches!(role, Role::Helper | Role::Surveyor | Role::TeamLeader);
            if !field {
                assert_eq!(may_hold_devices(role), sees_ids(role), "{role:?}");
            }
        }
        assert!(!may_hold_devices(Role::CountySupervisor));
        assert!(may_hold_devices(Role::Surveyor));
    }

    #[test]
    fn the_servers_own_labels_are_reserved() {
        for label in [
            "review",
            "server",
            "Review",
            " SERVER ",
            "zoufang",
            "zoufang-server",
        ] {
            assert!(reserved_device_label(label), "{label}");
        }
        for label in ["走访设备", "reviewer-phone", "my-server", "3f2a9c", ""] {
            assert!(!reserved_device_label(label), "{label}");
        }
    }

    #[test]
    fn typed_values_are_parsed_as_the_field_stores_them() {
        let v = |path: &str, text: &str| typed_value(path, text).expect(path);
        assert_eq!(v("living.house_grade", "C级"), json!("c"));
        assert_eq!(v("info.phone", "13812345678"), json!("13812345678"));
        assert_eq!(v("living.house_area_m2", "96"), json!(96));
        assert_eq!(v("incomes.2026.wage", "1250.5"), json!(125_050));
        assert_eq!(v("members.abc.medical_insurance", "是"), json!(true));
        assert!(v("land.forest", "5").is_string(), "亩 are stored as text");
        assert!(typed_value("living.house_grade", "E级").is_err());
        assert_eq!(v("not.a.form.field", "12"), json!(12));
    }
}
