//! 成员 — a person in the household.

use crate::codes::*;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Member {
    pub name: String,
    pub sex: Option<Sex>,
    /// 证件号码 as entered (sensitive). Validated when written; kept as text so that a document
    /// holding a bad one (e.g. from an import) still opens and the bad value is flagged.
    pub id_number: Option<String>,
    /// Only for a person without a resident ID; otherwise the ID's birth date is used.
    pub birth_date: Option<NaiveDate>,
    pub relation: Option<Relation>,
    pub ethnicity: Option<String>,
    pub political: Option<PoliticalStatus>,
    /// 文化程度 — exclusive with `school`.
    pub education: Option<Education>,
    /// 在校生状况 — exclusive with `education`.
    pub school: Option<SchoolStage>,
    pub dropout_reason: Option<DropoutReason>,
    pub health: Option<Health>,
    pub disability_cert: Option<String>,
    pub labour: Option<LabourSkill>,
    pub work_place: Option<WorkPlace>,
    pub work_months: Option<u8>,
    /// 城乡居民基本医疗保险.
    pub medical_insurance: bool,
    pub serious_illness_insurance: bool,
    pub pension_insurance: bool,
    pub dibao: bool,
    pub tekun: bool,
    /// 公益岗位.
    pub public_job: bool,
    pub phone: Option<String>,
    /// Set when the person left the household (人员变动); the record stays for history.
    pub left_reason: Option<MemberChange>,
    pub left_on: Option<NaiveDate>,
}

impl Member {
    /// Still a member (not departed).
    pub fn is_current(&self) -> bool {
        self.left_reason.is_none()
    }

    /// Birth date from the resident ID when it parses, else the recorded one.
    pub fn birth(&self) -> Option<NaiveDate> {
        self.id_number
            .as_deref()
            .and_then(|id| crate::rules::resident_id::ResidentId::parse(id).ok())
            .map(|id| id.birth_date())
            .or(self.birth_date)
    }

    /// Full years of age on `on`.
    pub fn age_on(&self, on: NaiveDate) -> Option<u32> {
        self.birth().and_then(|b| on.years_since(b))
    }
}
