//! The household form's fields, declared once: the same table renders the client's inputs,
//! parses what the browser sends back (with a Chinese message per field), names the model's
//! serde keys — so a field cannot be shown but not saved, or saved under another name — and
//! gives the server's conflict and history pages their labels.

use crate::CodeList;
use crate::codes::*;
use crate::money::{Fen, Mu};
use serde_json::Value as Json;

/// How a field is entered and what it holds.
#[derive(Clone, Copy)]
pub enum Kind {
    Text,
    /// A non-negative whole number.
    Number,
    /// A checkbox: true or false.
    Check,
    /// 是 / 否 / 未核实.
    YesNo,
    /// One code of a list.
    Choice(fn() -> Vec<(&'static str, &'static str)>),
    /// Any number of codes of a list (a set in the document).
    Set(fn() -> Vec<(&'static str, &'static str)>),
    /// Yuan with up to two decimals, stored in fen.
    Money,
    /// Mu with up to two decimals.
    Mu,
    Date,
}

pub struct Field {
    /// The model's serde key.
    pub key: &'static str,
    pub label: &'static str,
    pub kind: Kind,
}

const fn f(key: &'static str, label: &'static str, kind: Kind) -> Field {
    Field { key, label, kind }
}

pub fn choices<T: CodeList>() -> Vec<(&'static str, &'static str)> {
    T::ALL.iter().map(|c| (c.code(), c.label())).collect()
}

pub const INFO: &[Field] = &[
    f("household_no", "户编号", Kind::Text),
    f("year", "年度", Kind::Number),
    f("province", "省", Kind::Text),
    f("city", "市", Kind::Text),
    f("county", "县", Kind::Text),
    f("township", "乡镇", Kind::Text),
    f("village", "村", Kind::Text),
    f("group", "村民小组", Kind::Text),
    f("phone", "联系电话", Kind::Text),
    f("status", "户状态", Kind::Choice(choices::<HouseholdStatus>)),
    f(
        "standard_level",
        "识别标准",
        Kind::Choice(choices::<StandardLevel>),
    ),
    f(
        "attribute",
        "贫困户属性",
        Kind::Choice(choices::<PovertyAttribute>),
    ),
    f(
        "main_cause",
        "主要致贫原因",
        Kind::Choice(choices::<PovertyCause>),
    ),
    f(
        "other_causes",
        "其他致贫原因(最多两项)",
        Kind::Set(choices::<PovertyCause>),
    ),
    f(
        "monitoring",
        "监测对象类别",
        Kind::Choice(choices::<MonitoringCategory>),
    ),
    f("measures", "帮扶措施", Kind::Set(choices::<HelpMeasure>)),
];

/// 两不愁: the part of the checklist the surveyor judges directly.
pub const CHECKLIST: &[Field] = &[
    f("food_secure", "不愁吃", Kind::YesNo),
    f("clothing_secure", "不愁穿(四季有换洗衣服)", Kind::YesNo),
];

pub const LIVING: &[Field] = &[
    f(
        "house_grade",
        "危房等级",
        Kind::Choice(choices::<HouseGrade>),
    ),
    f("house_renovated", "已完成危房改造", Kind::YesNo),
    f("moved_out", "已搬离危房", Kind::YesNo),
    f(
        "house_structure",
        "住房结构",
        Kind::Choice(choices::<HouseStructure>),
    ),
    f("house_area_m2", "住房面积(平方米)", Kind::Number),
    f("road_type", "入户路类型", Kind::Choice(choices::<RoadType>)),
    f("distance_to_road_m", "与村主干路距离(米)", Kind::Number),
    f("living_power", "通生活用电", Kind::YesNo),
    f("production_power", "通生产用电", Kind::YesNo),
    f("broadcast_tv", "通广播电视", Kind::YesNo),
    f("sanitary_toilet", "有卫生厕所", Kind::YesNo),
];

pub const WATER: &[Field] = &[
    f("litres_per_person_day", "人均日用水量(升)", Kind::Number),
    f("dry_area", "干旱地区", Kind::YesNo),
    f("trip_minutes", "单次取水往返(分钟)", Kind::Number),
    f("cut_days_per_year", "每年停水天数", Kind::Number),
    f("quality_tested", "水质经过检测", Kind::YesNo),
];

pub const LAND: &[Field] = &[
    f("cultivated", "耕地(亩)", Kind::Mu),
    f("forest", "林地(亩)", Kind::Mu),
    f("returned_to_forest", "退耕还林(亩)", Kind::Mu),
    f("fruit_forest", "林果(亩)", Kind::Mu),
    f("pasture", "牧草地(亩)", Kind::Mu),
    f("water_surface", "水面(亩)", Kind::Mu),
];

pub const INCOME: &[Field] = &[
    f("wage", "工资性收入", Kind::Money),
    f("planting", "种植收入", Kind::Money),
    f("breeding", "养殖收入", Kind::Money),
    f("forestry_fruit", "林果收入", Kind::Money),
    f("business_other", "其他生产经营收入", Kind::Money),
    f("property", "财产性收入", Kind::Money),
    f("family_planning", "计划生育金", Kind::Money),
    f("dibao", "低保金", Kind::Money),
    f("tekun", "特困供养金", Kind::Money),
    f("pension", "养老保险金", Kind::Money),
    f("eco_compensation", "生态补偿金", Kind::Money),
    f("transfer_other", "其他转移性收入", Kind::Money),
    f("production_cost", "生产经营性支出", Kind::Money),
    f("insurance_claims", "理赔收入", Kind::Money),
    f("compliant_out_of_pocket", "合规自付支出", Kind::Money),
];

pub const MEMBER: &[Field] = &[
    f("name", "姓名", Kind::Text),
    f("relation", "与户主关系", Kind::Choice(choices::<Relation>)),
    f("sex", "性别", Kind::Choice(choices::<Sex>)),
    f("id_number", "证件号码", Kind::Text),
    f("ethnicity", "民族", Kind::Text),
    f("health", "健康状况", Kind::Choice(choices::<Health>)),
    f(
        "education",
        "文化程度(非在校生)",
        Kind::Choice(choices::<Education>),
    ),
    f("school", "在校生状况", Kind::Choice(choices::<SchoolStage>)),
    f(
        "dropout_reason",
        "失辍学原因",
        Kind::Choice(choices::<DropoutReason>),
    ),
    f("labour", "劳动技能", Kind::Choice(choices::<LabourSkill>)),
    f("work_place", "务工地点", Kind::Choice(choices::<WorkPlace>)),
    f("work_months", "务工月数", Kind::Number),
    f("medical_insurance", "参加城乡居民基本医疗保险", Kind::Check),
    f("serious_illness_insurance", "参加大病保险", Kind::Check),
    f("pension_insurance", "参加居民养老保险", Kind::Check),
    f("dibao", "享受低保", Kind::Check),
    f("tekun", "特困供养", Kind::Check),
    f("public_job", "公益岗位", Kind::Check),
    f("phone", "联系电话", Kind::Text),
    f(
        "left_reason",
        "减员原因(离开本户时填写)",
        Kind::Choice(choices::<MemberChange>),
    ),
    f("left_on", "减员日期", Kind::Date),
];

impl Field {
    /// The browser's text for this field as the model's JSON value, or a message for the person
    /// at the form. Empty means "not filled".
    pub fn parse(&self, text: Option<&str>) -> Result<Json, String> {
        let text = text.map(str::trim).unwrap_or("");
        let empty = text.is_empty();
        Ok(match self.kind {
            Kind::Text if empty => Json::Null,
            Kind::Text => Json::String(text.to_owned()),
            Kind::Number if empty => Json::Null,
            Kind::Number => Json::from(
                text.parse::<u32>()
                    .map_err(|_| format!("「{text}」不是有效的非负整数"))?,
            ),
            Kind::Check => Json::Bool(text == "true"),
            Kind::YesNo => match text {
                "true" => Json::Bool(true),
                "false" => Json::Bool(false),
                "" => Json::Null,
                other => return Err(format!("「{other}」应为 是/否")),
            },
            Kind::Choice(_) if empty => Json::Null,
            Kind::Choice(list) => Json::String(self.code_of(&list(), text)?.to_owned()),
            Kind::Set(list) => {
                let all = list();
                let mut set = serde_json::Map::new();
                for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    set.insert(self.code_of(&all, part)?.to_owned(), Json::Bool(true));
                }
                Json::Object(set)
            }
            Kind::Money if empty => Json::from(0),
            Kind::Money => Json::from(Fen::parse_yuan(text).map_err(|e| e.to_string())?.0),
            Kind::Mu if empty => Json::Null,
            Kind::Mu => Json::String(Mu::parse(text).map_err(|e| e.to_string())?.to_string()),
            Kind::Date if empty => Json::Null,
            Kind::Date => Json::String(
                chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                    .map_err(|_| format!("「{text}」不是有效日期(年-月-日)"))?
                    .to_string(),
            ),
        })
    }

    /// The code of the choice `text` names by code or label, or a message naming this field.
    fn code_of(
        &self,
        list: &[(&'static str, &'static str)],
        text: &str,
    ) -> Result<&'static str, String> {
        list.iter()
            .find(|(code, label)| *code == text || *label == text)
            .map(|(code, _)| *code)
            .ok_or_else(|| format!("「{text}」不是有效的{}", self.label))
    }

    /// The model's JSON value as the text an input shows.
    pub fn show(&self, value: Option<&Json>) -> String {
        match (self.kind, value) {
            (_, None | Some(Json::Null)) => String::new(),
            (Kind::Money, Some(v)) => match v.as_i64().unwrap_or(0) {
                0 => String::new(),
                fen => Fen(fen).to_string(),
            },
            (Kind::Set(_), Some(Json::Object(m))) => m
                .iter()
                .filter(|(_, v)| **v == Json::Bool(true))
                .map(|(k, _)| k.as_str())
                .collect::<Vec<_>>()
                .join(","),
            (_, Some(Json::String(s))) => s.clone(),
            (_, Some(v)) => v.to_string(),
        }
    }
}

/// The form field a document path names, with a label for people: `living.house_grade` is
/// 危房等级, `incomes.2026.wage` is 2026 年 工资性收入, `members.<id>.name` is 成员 姓名.
pub fn for_path(path: &[String]) -> Option<(String, &'static Field)> {
    let find = |tables: &[&'static [Field]], key: &str| {
        tables.iter().flat_map(|t| t.iter()).find(|f| f.key == key)
    };
    match path {
        [section, key] => {
            let tables: &[&'static [Field]] = match section.as_str() {
                "info" => &[INFO, CHECKLIST],
                "living" => &[LIVING],
                "water" => &[WATER],
                "land" => &[LAND],
                _ => return None,
            };
            find(tables, key).map(|f| (f.label.to_owned(), f))
        }
        [section, year, key] if section == "incomes" => {
            find(&[INCOME], key).map(|f| (format!("{year} 年{}", f.label), f))
        }
        [section, _, key] if section == "members" => {
            find(&[MEMBER], key).map(|f| (format!("成员{}", f.label), f))
        }
        _ => None,
    }
}

impl Field {
    /// A stored value as people read it: choice codes as their labels, money in yuan.
    pub fn describe(&self, value: &Json) -> String {
        let shown = self.show(Some(value));
        match self.kind {
            _ if value.is_null() => "(空)".to_owned(),
            Kind::Choice(list) => list()
                .into_iter()
                .find(|(code, _)| *code == shown)
                .map(|(_, label)| label.to_owned())
                .unwrap_or(shown),
            Kind::YesNo | Kind::Check => match value {
                Json::Bool(true) => "是".to_owned(),
                Json::Bool(false) => "否".to_owned(),
                _ => shown,
            },
            Kind::Money if shown.is_empty() => "0.00".to_owned(),
            _ => shown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> Vec<String> {
        p.split('.').map(str::to_owned).collect()
    }

    #[test]
    fn conflicted_paths_read_as_form_labels_and_values() {
        let (label, f) = for_path(&path("living.house_grade")).expect("known");
        assert_eq!(label, "危房等级");
        assert_eq!(f.describe(&Json::from("c")), "C级");
        let (label, f) = for_path(&path("incomes.2026.wage")).expect("known");
        assert_eq!(label, "2026 年工资性收入");
        assert_eq!(f.describe(&Json::from(1_250_050)), "12500.50");
        let (label, f) = for_path(&path("members.abc.medical_insurance")).expect("known");
        assert_eq!(label, "成员参加城乡居民基本医疗保险");
        assert_eq!(f.describe(&Json::Bool(false)), "否");
        assert_eq!(f.describe(&Json::Null), "(空)");
        assert!(for_path(&path("cases.x.steps.y.outcome")).is_none());
    }

    #[test]
    fn choices_are_read_by_code_or_label_and_unknown_ones_name_the_field() {
        let (_, grade) = for_path(&path("living.house_grade")).expect("known");
        assert_eq!(grade.parse(Some("C级")), Ok(Json::from("c")));
        assert_eq!(grade.parse(Some(" c ")), Ok(Json::from("c")));
        assert_eq!(
            grade.parse(Some("E级")),
            Err("「E级」不是有效的危房等级".to_owned())
        );
        let (_, measures) = for_path(&path("info.measures")).expect("known");
        assert_eq!(
            measures.parse(Some("产业, housing,")),
            Ok(serde_json::json!({"industry": true, "housing": true}))
        );
        assert_eq!(
            measures.parse(Some("产业,飞行")),
            Err("「飞行」不是有效的帮扶措施".to_owned())
        );
    }

    #[test]
    fn every_form_key_is_a_model_field() {
        use crate::model::*;
        let keys = |v: serde_json::Value| -> Vec<String> {
            v.as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default()
        };
        let full_income = Income {
            wage: Fen(1),
            planting: Fen(1),
            breeding: Fen(1),
            forestry_fruit: Fen(1),
            business_other: Fen(1),
            property: Fen(1),
            family_planning: Fen(1),
            dibao: Fen(1),
            tekun: Fen(1),
            pension: Fen(1),
            eco_compensation: Fen(1),
            transfer_other: Fen(1),
            production_cost: Fen(1),
            insurance_claims: Fen(1),
            compliant_out_of_pocket: Fen(1),
        };
        let to = |v: Result<Json, serde_json::Error>| keys(v.expect("model serialises"));
        for (tables, model) in [
            (
                vec![INFO, CHECKLIST],
                to(serde_json::to_value(HouseholdInfo::default())),
            ),
            (vec![LIVING], to(serde_json::to_value(Living::default()))),
            (vec![WATER], to(serde_json::to_value(Water::default()))),
            (vec![LAND], to(serde_json::to_value(Land::default()))),
            (vec![INCOME], to(serde_json::to_value(full_income))),
            (vec![MEMBER], to(serde_json::to_value(Member::default()))),
        ] {
            for f in tables.iter().flat_map(|t| t.iter()) {
                assert!(
                    model.contains(&f.key.to_owned()),
                    "{} is not a model field",
                    f.key
                );
            }
        }
    }
}
