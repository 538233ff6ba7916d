//! The household form as the browser sends it: a flat map from field name to text, e.g.
//! `info.village`, `living.house_grade`, `income.wage`, `m.<member-key>.name`. Parsed onto the
//! household as it stands, so fields the form does not show are kept; each problem is reported
//! against the field it concerns.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value as Json};
use zoufang_shared::doc::{ChangeHash, DocError, Editor, rebase, validate_member};
use zoufang_shared::ids::MemberId;
use zoufang_shared::limits;
use zoufang_shared::model::*;

use super::fields::{self, Field, Kind};

pub type FormData = BTreeMap<String, String>;

/// Messages keyed by field name (or `form` for the whole).
#[derive(Debug, Default, Serialize)]
pub struct FieldErrors(pub BTreeMap<String, String>);

impl FieldErrors {
    fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.entry(field.into()).or_insert_with(|| message.into());
    }
}

/// A member card: an existing member (by id) or a new one (by the card's key).
#[derive(Debug, Clone)]
pub enum MemberKey {
    Existing(MemberId),
    New(String),
}

#[derive(Debug, Clone)]
pub struct HouseholdForm {
    pub info: HouseholdInfo,
    pub land: Land,
    pub living: Living,
    pub water: Water,
    pub income_year: i32,
    pub income: Income,
    pub members: Vec<(MemberKey, Member)>,
}

/// Applies the fields of `prefix` present in `data` onto `current`.
fn section<T: Serialize + DeserializeOwned + Clone>(
    data: &FormData,
    prefix: &str,
    specs: &[&[Field]],
    current: &T,
    errors: &mut FieldErrors,
) -> T {
    let mut json = match serde_json::to_value(current) {
        Ok(Json::Object(m)) => m,
        _ => Map::new(),
    };
    for spec in specs.iter().flat_map(|s| s.iter()) {
        let name = format!("{prefix}.{}", spec.key);
        let Some(text) = data.get(&name) else {
            continue;
        };
        match spec.parse(Some(text)) {
            Ok(v) => {
                json.insert(spec.key.to_owned(), v);
            }
            Err(message) => errors.add(name, format!("{}:{message}", spec.label)),
        }
    }
    serde_json::from_value(Json::Object(json)).unwrap_or_else(|e| {
        errors.add(prefix, e.to_string());
        current.clone()
    })
}

/// Member card keys present in the form, in first-seen order.
fn member_keys(data: &FormData) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for name in data.keys() {
        if let Some(rest) = name.strip_prefix("m.")
            && let Some((key, _)) = rest.split_once('.')
            && !keys.iter().any(|k| k == key)
        {
            keys.push(key.to_owned());
        }
    }
    keys
}

pub fn parse(
    data: &FormData,
    base: &Household,
    today: NaiveDate,
) -> Result<HouseholdForm, FieldErrors> {
    let mut errors = FieldErrors::default();
    let info: HouseholdInfo = section(
        data,
        "info",
        &[fields::INFO, fields::CHECKLIST],
        &base.info,
        &mut errors,
    );
    if info.other_causes.len() > 2 {
        errors.add("info.other_causes", "其他致贫原因最多填写两项");
    }
    let land = section(data, "land", &[fields::LAND], &base.land, &mut errors);
    let living = section(data, "living", &[fields::LIVING], &base.living, &mut errors);
    let water = section(data, "water", &[fields::WATER], &base.water, &mut errors);

    let year_text = data.get("income.year").map(String::as_str).unwrap_or("");
    let income_year = match year_text.trim() {
        "" => info.year.unwrap_or_else(|| chrono::Datelike::year(&today)),
        t => t.parse().unwrap_or_else(|_| {
            errors.add("income.year", format!("收入年度「{t}」无效"));
            0
        }),
    };
    let current_income = base.incomes.get(&income_year).cloned().unwrap_or_default();
    let income = section(
        data,
        "income",
        &[fields::INCOME],
        &current_income,
        &mut errors,
    );

    let mut members = Vec::new();
    for key in member_keys(data) {
        let existing = base.members.get(&MemberId::from(key.as_str()));
        let current = existing.cloned().unwrap_or_default();
        let prefix = format!("m.{key}");
        let member = section(data, &prefix, &[fields::MEMBER], &current, &mut errors);
        if let Err(e) = validate_member(&member, today) {
            let field = e.member_field().unwrap_or("name");
            errors.add(format!("{prefix}.{field}"), e.to_string());
        }
        let key = match existing {
            Some(_) => MemberKey::Existing(MemberId::from(key.as_str())),
            None => MemberKey::New(key),
        };
        members.push((key, member));
    }

    if !errors.0.is_empty() {
        return Err(errors);
    }
    let form = HouseholdForm {
        info,
        land,
        living,
        water,
        income_year,
        income,
        members,
    };
    // The text limits the store holds the save to, reported at the input they concern.
    if let Err(r) = limits::check_text(Some(base), &form.preview(base)) {
        errors.add(input_name(&r.path), r.to_string());
        return Err(errors);
    }
    Ok(form)
}

/// What a new household cannot be saved without: a village, at least one member, and one head
/// among them. Each message goes to the input it concerns (`members` for the member step);
/// nothing is created while any is missing.
pub fn check_new(form: &HouseholdForm) -> Result<(), FieldErrors> {
    let mut errors = FieldErrors::default();
    if form
        .info
        .village
        .as_deref()
        .is_none_or(|v| v.trim().is_empty())
    {
        errors.add("info.village", "请选择村(必填)");
    }
    let current: Vec<&Member> = form
        .members
        .iter()
        .map(|(_, m)| m)
        .filter(|m| m.left_reason.is_none())
        .collect();
    if current.is_empty() {
        errors.add("members", "请至少添加一名成员(户主)");
    } else if !current
        .iter()
        .any(|m| m.relation == Some(zoufang_shared::codes::Relation::Head))
    {
        errors.add("members", "请指定户主:一名成员的「与户主关系」选「户主」");
    }
    if errors.0.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// How [`HouseholdForm::preview`] keys a member card not saved yet.
const NEW_MEMBER_PREFIX: &str = "new-";

/// The input a document path of [`HouseholdForm::preview`] names: `info.phone` is itself,
/// `members.<id>.name` is `m.<card key>.name`.
fn input_name(path: &str) -> String {
    match path.strip_prefix("members.") {
        Some(rest) => format!("m.{}", rest.strip_prefix(NEW_MEMBER_PREFIX).unwrap_or(rest)),
        None => path.to_owned(),
    }
}

impl HouseholdForm {
    /// The household as it would be after saving, for the live verdict.
    pub fn preview(&self, base: &Household) -> Household {
        let mut h = base.clone();
        h.info = self.info.clone();
        h.land = self.land.clone();
        h.living = self.living.clone();
        h.water = self.water.clone();
        h.incomes.insert(self.income_year, self.income.clone());
        for (key, member) in &self.members {
            let id = match key {
                MemberKey::Existing(id) => id.clone(),
                MemberKey::New(k) => MemberId(format!("{NEW_MEMBER_PREFIX}{k}")),
            };
            h.members.insert(id, member.clone());
        }
        h
    }

    /// Writes the form as part of one edit; only what differs is written.
    pub fn apply(&self, e: &mut Editor<'_>) -> Result<(), DocError> {
        let empty = Household::new(e.household()?.id);
        self.apply_onto(&empty, e)
    }

    /// Writes what the surveyor changed on a form opened on `base` over the household as it
    /// stands in the edit (see [`zoufang_shared::doc::rebase`]): a value a sync brought in for
    /// a field the form left alone is kept. An income year nobody filled in is not created.
    pub fn apply_onto(&self, base: &Household, e: &mut Editor<'_>) -> Result<(), DocError> {
        let current = e.household()?;
        e.set_info(&rebase(&base.info, &self.info, &current.info)?)?;
        e.set_land(&rebase(&base.land, &self.land, &current.land)?)?;
        e.set_living(&rebase(&base.living, &self.living, &current.living)?)?;
        e.set_water(&rebase(&base.water, &self.water, &current.water)?)?;
        let year = self.income_year;
        let base_income = base.incomes.get(&year).cloned().unwrap_or_default();
        if self.income != base_income {
            let now = current.incomes.get(&year).cloned().unwrap_or_default();
            e.set_income(year, &rebase(&base_income, &self.income, &now)?)?;
        }
        for (key, member) in &self.members {
            match key {
                MemberKey::Existing(id) => {
                    let (Some(then), Some(now)) = (base.members.get(id), current.members.get(id))
                    else {
                        e.update_member(id, member)?;
                        continue;
                    };
                    e.update_member(id, &rebase(then, member, now)?)?;
                }
                MemberKey::New(_) => {
                    e.add_member(member)?;
                }
            }
        }
        Ok(())
    }
}

/// The name of the hidden input holding the document version a form was opened on.
pub const VERSION_FIELD: &str = "_version";

/// A document version (its heads) as the form carries it.
pub fn version_text(heads: &[ChangeHash]) -> String {
    heads
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The version a submitted form was opened on; `None` for a new household, or text that does not
/// name heads.
pub fn version_of(data: &FormData) -> Option<Vec<ChangeHash>> {
    let text = data.get(VERSION_FIELD)?;
    text.split(',')
        .filter(|t| !t.is_empty())
        .map(|t| t.parse().ok())
        .collect()
}

/// The model value of `field` in `section` of `h`, as an input shows it.
pub fn shown(section_json: &Json, field: &Field) -> String {
    field.show(section_json.get(field.key))
}

/// Whether a field of this kind is a checkbox.
pub fn is_check(field: &Field) -> bool {
    matches!(field.kind, Kind::Check)
}

#[cfg(test)]
mod tests {
    use super::*;
    use zoufang_shared::ids::HouseholdId;

    #[test]
    fn a_new_household_needs_a_village_a_member_and_a_head() {
        let base = Household::new(HouseholdId::from("hh-new"));
        let empty = parse(&FormData::new(), &base, today()).expect("parses");
        let errors = check_new(&empty).expect_err("refused").0;
        assert!(errors.contains_key("info.village"), "{errors:?}");
        assert!(errors["members"].contains("至少添加一名成员"), "{errors:?}");
        let no_head = data(&[("info.village", "三合村"), ("m.new1.name", "李四")]);
        let form = parse(&no_head, &base, today()).expect("parses");
        let errors = check_new(&form).expect_err("refused").0;
        assert!(errors["members"].contains("户主"), "{errors:?}");
        let whole = data(&[
            ("info.village", "三合村"),
            ("m.new1.name", "李四"),
            ("m.new1.relation", "head"),
        ]);
        assert!(check_new(&parse(&whole, &base, today()).expect("parses")).is_ok());
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, 1).expect("date")
    }

    fn data(fields: &[(&str, &str)]) -> FormData {
        fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn with_member(name: &str) -> Household {
        let mut h = Household::new(HouseholdId::from("hh-1"));
        h.members.insert(
            MemberId::from("m1"),
            Member {
                name: name.to_owned(),
                ..Member::default()
            },
        );
        h
    }

    #[test]
    fn text_over_its_limit_or_with_a_nul_is_refused_at_its_input() {
        let base = with_member("张三");
        let long = "名".repeat(limits::MAX_SHORT_CHARS + 1);
        for (name, value, label) in [
            ("m.k1.name", long.as_str(), "成员姓名"),
            ("m.m1.name", "张\0三", "成员姓名"),
            ("info.village", long.as_str(), "村"),
            ("m.m1.phone", "138\u{7}", "成员联系电话"),
        ] {
            let errors = parse(&data(&[(name, value)]), &base, today())
                .expect_err("refused")
                .0;
            let message = errors
                .get(name)
                .unwrap_or_else(|| panic!("{name}: {errors:?}"));
            assert!(message.starts_with(&format!("「{label}」")), "{message}");
        }
        let fits = "名".repeat(limits::MAX_SHORT_CHARS);
        assert!(parse(&data(&[("m.k1.name", &fits)]), &base, today()).is_ok());
    }

    #[test]
    fn a_value_stored_before_the_limits_may_stay_as_it_is() {
        let long = "名".repeat(limits::MAX_SHORT_CHARS * 3);
        let base = with_member(&long);
        let form = data(&[("m.m1.name", &long), ("m.m1.phone", "13812345678")]);
        assert!(parse(&form, &base, today()).is_ok());
    }
}

#[cfg(test)]
mod untouched_sections {
    use super::*;
    use zoufang_shared::doc::{ActorId, HouseholdDoc};
    use zoufang_shared::ids::HouseholdId;

    /// What a browser posts for a form whose income section nobody touched: every input, empty.
    fn posted() -> FormData {
        let mut d: FormData = fields::INCOME
            .iter()
            .map(|f| (format!("income.{}", f.key), String::new()))
            .collect();
        d.insert("income.year".into(), "2017".into());
        d.insert("info.village".into(), "三合村".into());
        d
    }

    #[test]
    fn an_untouched_income_section_creates_no_income_record() {
        let today = NaiveDate::from_ymd_opt(2017, 7, 1).expect("date");
        let id = HouseholdId::from("hh-1");
        let form = parse(&posted(), &Household::new(id.clone()), today).expect("valid form");
        let author = zoufang_shared::doc::ChangeAuthor::new("u1", "d1", chrono::Utc::now());
        let (doc, ()) =
            HouseholdDoc::create_with(&id, ActorId::random(), &author, |e| form.apply(e))
                .expect("saved");
        let h = doc.read().expect("read");
        assert_eq!(h.info.village.as_deref(), Some("三合村"));
        assert!(h.incomes.is_empty(), "{:?}", h.incomes);
    }
}
