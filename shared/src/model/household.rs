//! The household (户) form: identity, area, classification, land, living conditions and water.

use crate::codes::*;
use crate::money::Mu;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// 户 — the household's own fields from the registration form.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HouseholdInfo {
    /// 户编号 in the national system; absent for a household not yet registered.
    pub household_no: Option<String>,
    /// 年度 of the survey round.
    pub year: Option<i32>,
    pub province: Option<String>,
    pub city: Option<String>,
    pub county: Option<String>,
    pub township: Option<String>,
    pub village: Option<String>,
    /// 村民小组.
    pub group: Option<String>,
    /// Code of the smallest administrative area the household lies in (scope checks use it).
    pub area_code: Option<String>,
    /// Sensitive.
    pub phone: Option<String>,
    pub bank_name: Option<String>,
    /// Sensitive.
    pub bank_account: Option<String>,
    pub standard_level: Option<StandardLevel>,
    pub attribute: Option<PovertyAttribute>,
    pub main_cause: Option<PovertyCause>,
    /// 其他致贫原因, at most two.
    #[serde(with = "super::sets")]
    pub other_causes: BTreeSet<PovertyCause>,
    pub status: Option<HouseholdStatus>,
    pub exit_year: Option<i32>,
    pub monitoring: Option<MonitoringCategory>,
    #[serde(with = "super::sets")]
    pub measures: BTreeSet<HelpMeasure>,
    /// 不愁吃, as the surveyor judged it.
    pub food_secure: Option<bool>,
    /// 不愁穿 (四季有换洗衣服).
    pub clothing_secure: Option<bool>,
}

/// 土地 in mu.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Land {
    pub cultivated: Option<Mu>,
    pub forest: Option<Mu>,
    /// 退耕还林.
    pub returned_to_forest: Option<Mu>,
    /// 林果.
    pub fruit_forest: Option<Mu>,
    /// 牧草地.
    pub pasture: Option<Mu>,
    /// 水面.
    pub water_surface: Option<Mu>,
}

/// 生产生活条件, housing included.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Living {
    pub road_type: Option<RoadType>,
    /// 与村主干路距离, in metres (the form says km; metres keep it an integer).
    pub distance_to_road_m: Option<u32>,
    pub production_power: Option<bool>,
    pub living_power: Option<bool>,
    pub broadcast_tv: Option<bool>,
    pub sanitary_toilet: Option<bool>,
    /// 住房面积 m².
    pub house_area_m2: Option<u32>,
    pub house_structure: Option<HouseStructure>,
    pub house_grade: Option<HouseGrade>,
    /// A C/D house renovated (危改) since grading.
    pub house_renovated: Option<bool>,
    /// The family moved out of the C/D house (搬迁 or living elsewhere safely).
    pub moved_out: Option<bool>,
}

/// 饮水安全 measurements.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Water {
    /// Litres per person per day.
    pub litres_per_person_day: Option<u32>,
    /// 干旱地区: the quantity threshold is 20 L instead of 35 L.
    pub dry_area: Option<bool>,
    /// Minutes for one water-fetching trip.
    pub trip_minutes: Option<u32>,
    /// Days per year the supply is cut.
    pub cut_days_per_year: Option<u32>,
    pub quality_tested: Option<bool>,
}
