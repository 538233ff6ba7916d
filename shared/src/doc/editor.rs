//! Typed edits of a household document. Callers never write raw paths: each operation takes
//! model values, validates them with the rules, and writes only what differs (see [`super::tree`]).

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, ReadDoc, Value};
use chrono::NaiveDate;
use serde::Serialize;
use serde_json::{Map, Value as Json};

use super::{DocError, tree};
use crate::codes::{MemberChange, ProcedureStep, StepOutcome};
use crate::ids::*;
use crate::model::*;
use crate::rules::resident_id::{self, IdError, ResidentId};

/// An edit the rules refuse. Messages are for the person at the form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    #[error("姓名不能为空")]
    EmptyName,
    #[error("{name}的证件号码有误:{error}")]
    IdNumber { name: String, error: IdError },
    #[error("{name}:外出务工月数应在 0–12 之间")]
    WorkMonths { name: String },
    #[error("{name}:已填写减员原因,但缺少减员日期(或反之)")]
    Departure { name: String },
    #[error("收入项目「{0}」不能为负数")]
    NegativeIncome(&'static str),
    #[error("年度 {0} 不在合理范围内")]
    Year(i32),
    #[error("其他致贫原因最多填写两项")]
    TooManyCauses,
    #[error("找不到成员 {0}")]
    UnknownMember(MemberId),
    #[error("找不到事项 {0}")]
    UnknownCase(CaseId),
    #[error("事项 {0} 尚未公告,不能改变户状态")]
    NotAnnounced(CaseId),
    #[error("找不到步骤记录 {0}")]
    UnknownStep(StepId),
    #[error("记录 {0} 已存在")]
    AlreadyExists(String),
    #[error("走访人不能为空")]
    NoVisitor,
    #[error("经办人不能为空")]
    NoActor,
    #[error("「{step}」之前须先完成「{missing}」")]
    StepOutOfOrder {
        step: ProcedureStep,
        missing: ProcedureStep,
    },
    #[error("事项已在「{0}」被否决,不能继续办理")]
    CaseRejected(ProcedureStep),
    #[error("公示须填写起止日期,且结束日期不早于开始日期")]
    PublicityDates,
    #[error("新建事项时不能带步骤记录")]
    CaseWithSteps,
    #[error("附件标识不是有效的 SHA-256 摘要")]
    BadHash,
    #[error("字段路径「{0}」无效")]
    BadPath(String),
    #[error("「{path}」的值无效:{message}")]
    BadValue { path: String, message: String },
}

impl ValidationError {
    /// The member field a member error is about, for showing it next to that input.
    pub fn member_field(&self) -> Option<&'static str> {
        match self {
            ValidationError::EmptyName => Some("name"),
            ValidationError::IdNumber { .. } => Some("id_number"),
            ValidationError::WorkMonths { .. } => Some("work_months"),
            ValidationError::Departure { .. } => Some("left_on"),
            _ => None,
        }
    }
}

/// Edits within one change; obtained from [`super::HouseholdDoc::edit`].
pub struct Editor<'a> {
    doc: &'a mut AutoCommit,
    /// The author's date: resident IDs may not carry a birth date after it.
    today: NaiveDate,
}

fn to_object<T: Serialize>(value: &T) -> Result<Map<String, Json>, DocError> {
    match serde_json::to_value(value).map_err(|e| DocError::Model(e.to_string()))? {
        Json::Object(m) => Ok(m),
        _ => Err(DocError::Layout("not an object".into())),
    }
}

impl<'a> Editor<'a> {
    pub(crate) fn new(doc: &'a mut AutoCommit, today: NaiveDate) -> Self {
        Editor { doc, today }
    }

    /// The household as it stands inside this edit (earlier operations included).
    pub fn household(&self) -> Result<crate::model::Household, DocError> {
        super::HouseholdDoc::read_from(self.doc)
    }

    /// The maps at `path`, colliding ones included (visible first, as [`tree::child_maps`]
    /// gives them); created in the visible parent where missing.
    fn maps_at(&mut self, path: &[&str]) -> Result<Vec<ObjId>, DocError> {
        let mut objs = vec![automerge::ROOT];
        for key in path {
            let found = tree::child_maps(self.doc, &objs, key)?;
            objs = if found.is_empty() {
                if let Some((Value::Object(_), _)) = self.doc.get(&objs[0], *key)? {
                    return Err(DocError::Layout(format!("{key} is not a map")));
                }
                vec![self.doc.put_object(&objs[0], *key, ObjType::Map)?]
            } else {
                found
            };
        }
        Ok(objs)
    }

    fn write<T: Serialize>(&mut self, path: &[&str], value: &T) -> Result<(), DocError> {
        let objs = self.maps_at(path)?;
        tree::write_maps(self.doc, &objs, &to_object(value)?)
    }

    fn exists(&self, section: &str, key: &str) -> Result<bool, DocError> {
        Ok(match self.doc.get(automerge::ROOT, section)? {
            Some((Value::Object(ObjType::Map), obj)) => self.doc.get(&obj, key)?.is_some(),
            _ => false,
        })
    }

    pub fn set_info(&mut self, info: &HouseholdInfo) -> Result<(), DocError> {
        validate_info(info)?;
        self.write(&["info"], info)
    }

    pub fn set_land(&mut self, land: &Land) -> Result<(), DocError> {
        self.write(&["land"], land)
    }

    pub fn set_living(&mut self, living: &Living) -> Result<(), DocError> {
        self.write(&["living"], living)
    }

    pub fn set_water(&mut self, water: &Water) -> Result<(), DocError> {
        self.write(&["water"], water)
    }

    /// Adds a member under a fresh id.
    pub fn add_member(&mut self, member: &Member) -> Result<MemberId, DocError> {
        let id = MemberId::random();
        validate_member(member, self.today)?;
        self.write(&["members", id.as_str()], member)?;
        Ok(id)
    }

    /// Replaces a member's fields; only the ones that differ are written.
    pub fn update_member(&mut self, id: &MemberId, member: &Member) -> Result<(), DocError> {
        if !self.exists("members", id.as_str())? {
            return Err(ValidationError::UnknownMember(id.clone()).into());
        }
        validate_member(member, self.today)?;
        self.write(&["members", id.as_str()], member)
    }

    /// 人员变动: marks a member as departed; the record stays.
    pub fn remove_member(
        &mut self,
        id: &MemberId,
        reason: MemberChange,
        on: NaiveDate,
    ) -> Result<(), DocError> {
        let mut member = self
            .household()?
            .members
            .remove(id)
            .ok_or_else(|| ValidationError::UnknownMember(id.clone()))?;
        member.left_reason = Some(reason);
        member.left_on = Some(on);
        self.write(&["members", id.as_str()], &member)
    }

    /// Records a year's income. A year with nothing in it is not created: an untouched form
    /// section must not leave an empty record that reads as "surveyed, no income" (an existing
    /// year may still be set back to all zero).
    pub fn set_income(&mut self, year: i32, income: &Income) -> Result<(), DocError> {
        validate_year(year)?;
        validate_income(income)?;
        if *income == Income::default() && !self.household()?.incomes.contains_key(&year) {
            return Ok(());
        }
        self.write(&["incomes", &year.to_string()], income)
    }

    pub fn put_helper(&mut self, id: &HelperId, helper: &Helper) -> Result<(), DocError> {
        if helper.name.trim().is_empty() {
            return Err(ValidationError::EmptyName.into());
        }
        self.write(&["helpers", id.as_str()], helper)
    }

    /// Records a visit. Visits are never changed afterwards.
    pub fn add_visit(&mut self, visit: &Visit) -> Result<VisitId, DocError> {
        let id = VisitId::random();
        self.add_visit_with_id(&id, visit)?;
        Ok(id)
    }

    /// As [`Self::add_visit`], under an id the caller chose (imports, retries).
    pub fn add_visit_with_id(&mut self, id: &VisitId, visit: &Visit) -> Result<(), DocError> {
        if visit.visitor.trim().is_empty() {
            return Err(ValidationError::NoVisitor.into());
        }
        validate_hashes(&visit.attachments)?;
        if self.exists("visits", id.as_str())? {
            return Err(ValidationError::AlreadyExists(id.to_string()).into());
        }
        self.write(&["visits", id.as_str()], visit)
    }

    /// Opens a case; its steps are recorded with [`Self::add_step`].
    pub fn add_case(&mut self, case: &Case) -> Result<CaseId, DocError> {
        if !case.steps.is_empty() {
            return Err(ValidationError::CaseWithSteps.into());
        }
        if case.proposed_by.trim().is_empty() {
            return Err(ValidationError::NoActor.into());
        }
        let members = self.household()?.members;
        if let Some(m) = case.members.iter().find(|m| !members.contains_key(*m)) {
            return Err(ValidationError::UnknownMember(m.clone()).into());
        }
        let id = CaseId::random();
        self.write(&["cases", id.as_str()], case)?;
        Ok(id)
    }

    /// Records a procedure step. Steps follow the procedure: each needs the previous one passed,
    /// and nothing follows a rejection.
    pub fn add_step(&mut self, case_id: &CaseId, record: &StepRecord) -> Result<StepId, DocError> {
        let household = self.household()?;
        let case = household
            .cases
            .get(case_id)
            .ok_or_else(|| ValidationError::UnknownCase(case_id.clone()))?;
        validate_step(case, record)?;
        let id = StepId::time_ordered();
        self.write(&["cases", case_id.as_str(), "steps", id.as_str()], record)?;
        Ok(id)
    }

    /// Writes what the announced case `case_id` decided (see [`crate::rules::outcome`]): the
    /// household's status fields and, for a 错评 naming members, their departure. Refused unless
    /// the case's last record is a passed 公告, so nothing but a finished procedure moves a
    /// status.
    pub fn apply_outcome(&mut self, case_id: &CaseId, year: i32) -> Result<(), DocError> {
        validate_year(year)?;
        let mut household = self.household()?;
        let case = household
            .cases
            .get(case_id)
            .ok_or_else(|| ValidationError::UnknownCase(case_id.clone()))?
            .clone();
        let on = match case.stage() {
            CaseStage::Passed(ProcedureStep::Announcement) => case
                .passed(ProcedureStep::Announcement)
                .map(|r| r.date)
                .unwrap_or(self.today),
            _ => return Err(ValidationError::NotAnnounced(case_id.clone()).into()),
        };
        crate::rules::outcome::apply(&case, &mut household, year, on);
        self.set_info(&household.info)?;
        for id in &case.members {
            if let Some(m) = household.members.get(id) {
                self.write(&["members", id.as_str()], m)?;
            }
        }
        Ok(())
    }

    /// Records an objection raised during 公示.
    pub fn add_objection(
        &mut self,
        case_id: &CaseId,
        step_id: &StepId,
        objection: &Objection,
    ) -> Result<ObjectionId, DocError> {
        let household = self.household()?;
        let case = household
            .cases
            .get(case_id)
            .ok_or_else(|| ValidationError::UnknownCase(case_id.clone()))?;
        if !case.steps.contains_key(step_id) {
            return Err(ValidationError::UnknownStep(step_id.clone()).into());
        }
        let id = ObjectionId::random();
        let path = [
            "cases",
            case_id.as_str(),
            "steps",
            step_id.as_str(),
            "objections",
            id.as_str(),
        ];
        self.write(&path, objection)?;
        Ok(id)
    }

    pub fn put_attachment(&mut self, hash: &str, meta: &Attachment) -> Result<(), DocError> {
        if !is_content_hash(hash) {
            return Err(ValidationError::BadHash.into());
        }
        self.write(&["attachments", hash], meta)
    }

    /// Sets one field by its path (e.g. `living.house_grade`), for the command line. The value is
    /// checked by the typed model and the same rules as the typed setters.
    pub fn set_field(&mut self, path: &str, value: Json) -> Result<(), DocError> {
        let parts: Vec<&str> = path.split('.').collect();
        let bad_path = || ValidationError::BadPath(path.to_owned());
        let (field, parent) = parts.split_last().ok_or_else(bad_path)?;
        if matches!(parts[0], "id" | "zoufang" | "schema" | "visits") || parent.is_empty() {
            // Identity is fixed and visits are append-only.
            return Err(bad_path().into());
        }
        let household = self.household()?;
        let mut json =
            serde_json::to_value(&household).map_err(|e| DocError::Model(e.to_string()))?;
        // A new survey year's income starts empty rather than being a path error.
        if let ["incomes", year, _] = parts.as_slice()
            && let Ok(y) = year.parse::<i32>()
            && !household.incomes.contains_key(&y)
        {
            validate_year(y)?;
            json["incomes"][*year] = serde_json::to_value(Income::default())
                .map_err(|e| DocError::Model(e.to_string()))?;
        }
        let mut obj = &mut json;
        for key in parent {
            obj = obj
                .get_mut(*key)
                .filter(|v| v.is_object())
                .ok_or_else(bad_path)?;
        }
        let map = obj.as_object_mut().ok_or_else(bad_path)?;
        map.insert((*field).to_owned(), value);
        // The model's structs refuse unknown fields, so a mistyped name fails here.
        let updated: crate::model::Household = serde_path_to_error::deserialize(json.clone())
            .map_err(|e| {
                let message = e.inner().to_string();
                if message.starts_with("unknown field") {
                    ValidationError::BadPath(path.to_owned())
                } else {
                    ValidationError::BadValue {
                        path: path.to_owned(),
                        message,
                    }
                }
            })?;
        self.validate_entity(&updated, &parts)?;
        // Written from the parsed model, so labels typed on the command line are stored as codes.
        let canonical =
            serde_json::to_value(&updated).map_err(|e| DocError::Model(e.to_string()))?;
        let parent_json = parent
            .iter()
            .try_fold(&canonical, |v, k| v.get(*k))
            .and_then(|v| v.as_object())
            .ok_or_else(bad_path)?
            .clone();
        let objs = self.maps_at(parent)?;
        tree::write_maps(self.doc, &objs, &parent_json)
    }

    fn validate_entity(&self, h: &crate::model::Household, parts: &[&str]) -> Result<(), DocError> {
        match parts {
            ["info", ..] => validate_info(&h.info)?,
            ["members", id, ..] => {
                if let Some(m) = h.members.get(&MemberId::from(*id)) {
                    validate_member(m, self.today)?;
                }
            }
            ["incomes", year, ..] => {
                if let Some(i) = year.parse().ok().and_then(|y: i32| h.incomes.get(&y)) {
                    validate_income(i)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Settles a conflicted field: writes `value` over every concurrent value, in every colliding
    /// object, as one new change that has seen them all.
    pub fn resolve(&mut self, path: &[String], value: Json) -> Result<(), DocError> {
        let (field, parent) = path
            .split_last()
            .ok_or_else(|| ValidationError::BadPath(String::new()))?;
        let mut objs = vec![automerge::ROOT];
        for key in parent {
            objs = tree::child_maps(self.doc, &objs, key)?;
            if objs.is_empty() {
                return Err(ValidationError::BadPath(path.join(".")).into());
            }
        }
        tree::put_everywhere(self.doc, &objs, field, &value)?;
        // The result must still be a valid household.
        self.household().map_err(|e| ValidationError::BadValue {
            path: path.join("."),
            message: e.to_string(),
        })?;
        Ok(())
    }
}

fn validate_year(year: i32) -> Result<(), ValidationError> {
    if (2000..=2100).contains(&year) {
        Ok(())
    } else {
        Err(ValidationError::Year(year))
    }
}

fn validate_info(info: &HouseholdInfo) -> Result<(), ValidationError> {
    if info.other_causes.len() > 2 {
        return Err(ValidationError::TooManyCauses);
    }
    for y in [info.year, info.exit_year].into_iter().flatten() {
        validate_year(y)?;
    }
    Ok(())
}

/// The rules a member must meet to be written (also used by forms to check before saving).
pub fn validate_member(m: &Member, today: NaiveDate) -> Result<(), ValidationError> {
    let name = m.name.trim();
    if name.is_empty() {
        return Err(ValidationError::EmptyName);
    }
    let id_error = |error| ValidationError::IdNumber {
        name: name.to_owned(),
        error,
    };
    if let Some(text) = m.id_number.as_deref().filter(|t| !t.trim().is_empty()) {
        let id = ResidentId::parse_on(text, today).map_err(id_error)?;
        if let Some(sex) = m.sex {
            resident_id::check_sex(&id, sex).map_err(id_error)?;
        }
    }
    if m.work_months.is_some_and(|n| n > 12) {
        return Err(ValidationError::WorkMonths {
            name: name.to_owned(),
        });
    }
    if m.left_reason.is_some() != m.left_on.is_some() {
        return Err(ValidationError::Departure {
            name: name.to_owned(),
        });
    }
    Ok(())
}

fn validate_income(income: &Income) -> Result<(), ValidationError> {
    match income.items().into_iter().find(|(_, _, v)| v.is_negative()) {
        Some((_, label, _)) => Err(ValidationError::NegativeIncome(label)),
        None => Ok(()),
    }
}

fn validate_hashes(hashes: &std::collections::BTreeSet<String>) -> Result<(), ValidationError> {
    if hashes.iter().all(|h| is_content_hash(h)) {
        Ok(())
    } else {
        Err(ValidationError::BadHash)
    }
}

fn validate_step(case: &Case, record: &StepRecord) -> Result<(), ValidationError> {
    if record.actor.trim().is_empty() {
        return Err(ValidationError::NoActor);
    }
    validate_hashes(&record.attachments)?;
    if let crate::model::CaseStage::Rejected(step) = case.stage() {
        return Err(ValidationError::CaseRejected(step));
    }
    // The previous step must stand passed now: a pass later sent back does not count.
    if let Some(previous) = record.step.previous()
        && case
            .latest(previous)
            .is_none_or(|r| r.outcome != StepOutcome::Passed)
    {
        return Err(ValidationError::StepOutOfOrder {
            step: record.step,
            missing: previous,
        });
    }
    if record.step == ProcedureStep::Publicity && record.outcome != StepOutcome::Returned {
        match (record.publicity_start, record.publicity_end) {
            (Some(start), Some(end)) if end >= start => {}
            _ => return Err(ValidationError::PublicityDates),
        }
    }
    Ok(())
}
