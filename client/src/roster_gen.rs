//! A deterministic roster of made-up households in the national export's CSV layout, for the
//! import tests and the list benchmark: same seed, same file, on every machine.
//!
//! Every person has a valid resident ID (unique in the roster) whose birth date fits their place
//! in the family, and school-age children are at a stage fitting their age, so an untouched
//! roster imports without a single bad row. Values are kept as the text the file carries, so a
//! test can spoil one to see the import refuse it.

use std::collections::HashSet;
use std::ops::Range;

use chrono::{Datelike, NaiveDate};
use zoufang_shared::CodeList;
use zoufang_shared::codes::{
    Education, Health, HouseholdStatus, LabourSkill, MonitoringCategory, PoliticalStatus,
    PovertyAttribute, PovertyCause, Relation, SchoolStage, Sex, StandardLevel, WorkPlace,
};
use zoufang_shared::demo::id_number;
use zoufang_shared::rng::{Draw, SplitMix64};

use crate::import::{COLUMNS, Column};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterHousehold {
    pub household_no: String,
    pub province: String,
    pub city: String,
    pub county: String,
    pub township: String,
    pub village: String,
    pub group: String,
    /// Empty: the generator's villages are in no area tree.
    pub area_code: String,
    pub status: String,
    pub attribute: String,
    pub standard_level: String,
    pub main_cause: String,
    pub other_causes: String,
    pub exit_year: String,
    pub monitoring: String,
    pub phone: String,
    pub bank_name: String,
    pub bank_account: String,
    pub year: String,
    /// The head first.
    pub members: Vec<RosterPerson>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterPerson {
    pub name: String,
    pub sex: String,
    pub id_number: String,
    pub relation: String,
    pub ethnicity: String,
    pub political: String,
    pub education: String,
    pub school: String,
    pub dropout: String,
    pub health: String,
    pub disability_cert: String,
    pub labour: String,
    pub work_place: String,
    pub work_months: String,
    /// 是 or 否, as the export writes them.
    pub medical_insurance: String,
    pub serious_illness_insurance: String,
    pub pension_insurance: String,
    pub dibao: String,
    pub tekun: String,
    pub public_job: String,
}

impl RosterHousehold {
    /// The name the 户主姓名 column carries: the first member recorded as head.
    pub fn head_name(&self) -> &str {
        self.members
            .iter()
            .find(|m| m.relation == Relation::Head.label())
            .map_or("", |m| m.name.as_str())
    }

    fn value(&self, person: &RosterPerson, column: Column) -> String {
        let v = match column {
            Column::HouseholdNo => &self.household_no,
            Column::Province => &self.province,
            Column::City => &self.city,
            Column::County => &self.county,
            Column::Township => &self.township,
            Column::Village => &self.village,
            Column::Group => &self.group,
            Column::AreaCode => &self.area_code,
            Column::HeadName => return self.head_name().to_owned(),
            Column::Name => &person.name,
            Column::Sex => &person.sex,
            Column::IdNumber => &person.id_number,
            Column::Relation => &person.relation,
            Column::Ethnicity => &person.ethnicity,
            Column::Political => &person.political,
            Column::Education => &person.education,
            Column::School => &person.school,
            Column::Dropout => &person.dropout,
            Column::Health => &person.health,
            Column::DisabilityCert => &person.disability_cert,
            Column::Labour => &person.labour,
            Column::WorkPlace => &person.work_place,
            Column::WorkMonths => &person.work_months,
            Column::MedicalInsurance => &person.medical_insurance,
            Column::SeriousIllnessInsurance => &person.serious_illness_insurance,
            Column::PensionInsurance => &person.pension_insurance,
            Column::Dibao => &person.dibao,
            Column::Tekun => &person.tekun,
            Column::PublicJob => &person.public_job,
            Column::Status => &self.status,
            Column::Attribute => &self.attribute,
            Column::StandardLevel => &self.standard_level,
            Column::MainCause => &self.main_cause,
            Column::OtherCauses => &self.other_causes,
            Column::ExitYear => &self.exit_year,
            Column::Monitoring => &self.monitoring,
            Column::Phone => &self.phone,
            Column::BankName => &self.bank_name,
            Column::BankAccount => &self.bank_account,
            Column::Year => &self.year,
        };
        v.clone()
    }
}

/// The roster as CSV text: a header line, then one line per member, households in order.
pub fn to_csv(households: &[RosterHousehold]) -> String {
    let mut out = csv::Writer::from_writer(Vec::new());
    let mut write = |cells: Vec<String>| out.write_record(&cells);
    // Writing to a Vec cannot fail; a failure would show as a short file the tests notice.
    let _ = write(
        COLUMNS
            .iter()
            .map(|s| s.column.header().to_owned())
            .collect(),
    );
    for h in households {
        for p in &h.members {
            let _ = write(COLUMNS.iter().map(|s| h.value(p, s.column)).collect());
        }
    }
    let bytes = out.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

/// The lines [`to_csv`] puts each household's rows on (the header is line 1).
pub fn line_ranges(households: &[RosterHousehold]) -> Vec<Range<usize>> {
    let mut next = 2;
    households
        .iter()
        .map(|h| {
            let r = next..next + h.members.len();
            next = r.end;
            r
        })
        .collect()
}

/// `count` households of 凤庆县, 3–5 members each (3.5 on average), as of `today`.
pub fn generate(count: usize, seed: u64, today: NaiveDate) -> Vec<RosterHousehold> {
    let mut g = Generator {
        rng: SplitMix64::new(seed),
        today,
        ids: HashSet::new(),
    };
    (0..count).map(|i| g.household(i)).collect()
}

const TOWNSHIPS: [&str; 8] = [
    "凤山镇",
    "勐佑镇",
    "三岔河镇",
    "营盘镇",
    "诗礼乡",
    "小湾镇",
    "鲁史镇",
    "郭大寨乡",
];
/// Five villages per township, each name once, so a village filter picks one village.
const VILLAGES: [&str; 40] = [
    "三合", "古墨", "新民", "红星", "安石", "马庄", "团山", "平河", "大坪", "文华", "青树", "永新",
    "德乐", "光明", "金马", "落星", "回龙", "岔河", "高峰", "新华", "双龙", "凤鸣", "大山", "田坝",
    "白岩", "长箐", "河边", "松林", "小村", "中和", "红岩", "龙潭", "新寨", "石洞", "响水", "箐口",
    "大兴", "温泉", "沿江", "太平",
];
const SURNAMES: [&str; 24] = [
    "李", "王", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林",
    "何", "郭", "马", "罗", "字", "段", "鲁", "查",
];
const MALE: [&str; 18] = [
    "国", "建", "明", "华", "文", "志", "永", "学", "大", "春", "海", "荣", "德", "成", "光", "军",
    "平", "勇",
];
const FEMALE: [&str; 15] = [
    "秀", "英", "兰", "芳", "玉", "珍", "梅", "丽", "桂", "凤", "美", "琼", "艳", "娟", "霞",
];
const ETHNICITIES: [(&str, u32); 4] = [("汉族", 80), ("彝族", 12), ("傣族", 5), ("布朗族", 3)];
const STATUSES: [(HouseholdStatus, u32); 6] = [
    (HouseholdStatus::ExitedSupported, 50),
    (HouseholdStatus::ExitedUnsupported, 15),
    (HouseholdStatus::Ordinary, 15),
    (HouseholdStatus::Edge, 10),
    (HouseholdStatus::NotExited, 7),
    (HouseholdStatus::Relapsed, 3),
];

struct Generator {
    rng: SplitMix64,
    today: NaiveDate,
    ids: HashSet<String>,
}

impl Generator {
    fn household(&mut self, index: usize) -> RosterHousehold {
        let t = self.rng.index(TOWNSHIPS.len());
        let v = t * 5 + self.rng.index(5);
        let surname = *self.rng.pick(&SURNAMES);
        let head_sex = if self.rng.percent(85) {
            Sex::Male
        } else {
            Sex::Female
        };
        let head_year = 1950 + self.rng.below(46) as i32;
        let mut members = vec![self.person(surname, Relation::Head, head_sex, head_year)];
        let spouse_sex = if head_sex == Sex::Male {
            Sex::Female
        } else {
            Sex::Male
        };
        let spouse_surname = *self.rng.pick(&SURNAMES);
        let spouse_year = head_year - 3 + self.rng.below(7) as i32;
        members.push(self.person(spouse_surname, Relation::Spouse, spouse_sex, spouse_year));
        let children = 1 + usize::from(self.rng.percent(40));
        for _ in 0..children {
            let year = (head_year + 20 + self.rng.below(16) as i32).min(self.today.year() - 1);
            let (rel, sex) = if self.rng.percent(50) {
                (Relation::Son, Sex::Male)
            } else {
                (Relation::Daughter, Sex::Female)
            };
            members.push(self.person(surname, rel, sex, year));
        }
        if self.rng.percent(10) {
            let year = (head_year - 20 - self.rng.below(12) as i32).max(1925);
            let sex = if self.rng.percent(50) {
                Sex::Male
            } else {
                Sex::Female
            };
            members.push(self.person(surname, Relation::Parent, sex, year));
        }
        let status = *self.rng.pick_weighted(&STATUSES);
        let attribute = *self.rng.pick(PovertyAttribute::ALL);
        let cause = *self.rng.pick(PovertyCause::ALL);
        let other = *self.rng.pick(PovertyCause::ALL);
        let other_causes = if other != cause && self.rng.percent(50) {
            other.label()
        } else {
            ""
        };
        let exit_year = match status {
            HouseholdStatus::ExitedSupported | HouseholdStatus::ExitedUnsupported => {
                (2016 + self.rng.below(5)).to_string()
            }
            _ => String::new(),
        };
        let monitoring = match status {
            HouseholdStatus::Edge => MonitoringCategory::EdgeAtRisk.label(),
            HouseholdStatus::ExitedSupported if self.rng.percent(10) => {
                MonitoringCategory::UnstableExited.label()
            }
            _ => "",
        };
        let yes_no = |b: bool| if b { "是" } else { "否" }.to_owned();
        for m in &mut members {
            m.dibao = yes_no(attribute == PovertyAttribute::Dibao);
            m.tekun = yes_no(attribute == PovertyAttribute::Tekun);
        }
        let bank_account = format!("62215{:014}", self.rng.below(100_000_000_000_000));
        RosterHousehold {
            household_no: format!("530921{:03}{:03}{:07}", t + 1, v + 1, index + 1),
            province: "云南省".into(),
            city: "临沧市".into(),
            county: "凤庆县".into(),
            township: TOWNSHIPS[t].into(),
            village: format!("{}村", VILLAGES[v]),
            group: format!("{}{}组", VILLAGES[v], 1 + self.rng.below(6)),
            area_code: String::new(),
            status: status.label().into(),
            attribute: attribute.label().into(),
            standard_level: StandardLevel::National.label().into(),
            main_cause: cause.label().into(),
            other_causes: other_causes.into(),
            exit_year,
            monitoring: monitoring.into(),
            phone: format!("139{:08}", self.rng.below(100_000_000)),
            bank_name: "凤庆县农村信用合作联社".into(),
            bank_account,
            year: self.today.year().to_string(),
            members,
        }
    }

    fn person(&mut self, surname: &str, relation: Relation, sex: Sex, year: i32) -> RosterPerson {
        let chars: &[&str] = if sex == Sex::Male { &MALE } else { &FEMALE };
        let given: String = (0..1 + self.rng.below(2))
            .map(|_| *self.rng.pick(chars))
            .collect();
        let birth = NaiveDate::from_ymd_opt(year, 1 + self.rng.below(12) as u32, 1)
            .and_then(|d| d.with_day(1 + self.rng.below(28) as u32))
            .filter(|d| *d <= self.today)
            .unwrap_or(self.today);
        let age = self.today.years_since(birth).unwrap_or(0);
        let (education, school) = self.schooling(age, year);
        let health = if self.rng.percent(85) {
            Health::Healthy
        } else {
            *self.rng.pick(Health::ALL)
        };
        let labour = match age {
            0..16 | 71.. => LabourSkill::NoLabour,
            _ if health != Health::Healthy => LabourSkill::Weak,
            _ if self.rng.percent(20) => LabourSkill::Skilled,
            _ => LabourSkill::Ordinary,
        };
        let id_number = self.id_number(birth, sex);
        let adult = age >= 18;
        let political = if adult && self.rng.percent(10) {
            PoliticalStatus::CpcMember
        } else {
            PoliticalStatus::Masses
        };
        let disability_cert = if health == Health::Disabled {
            format!("{id_number}{}", 41 + self.rng.below(4))
        } else {
            String::new()
        };
        let working = matches!(labour, LabourSkill::Ordinary | LabourSkill::Skilled)
            && school.is_none()
            && self.rng.percent(60);
        let (work_place, work_months) = if working {
            (
                self.rng.pick(WorkPlace::ALL).label().to_owned(),
                (3 + self.rng.below(10)).to_string(),
            )
        } else {
            (String::new(), String::new())
        };
        let yes_no = |b: bool| if b { "是" } else { "否" }.to_owned();
        RosterPerson {
            name: format!("{surname}{given}"),
            sex: sex.label().into(),
            id_number,
            relation: relation.label().into(),
            ethnicity: (*self.rng.pick_weighted(&ETHNICITIES)).into(),
            political: political.label().into(),
            education: education.map_or("", |e| e.label()).into(),
            school: school.map_or("", |s| s.label()).into(),
            dropout: String::new(),
            health: health.label().into(),
            disability_cert,
            labour: labour.label().into(),
            work_place,
            work_months,
            medical_insurance: yes_no(self.rng.percent(97)),
            serious_illness_insurance: yes_no(self.rng.percent(90)),
            pension_insurance: yes_no(adult && school.is_none() && self.rng.percent(80)),
            // Set with the household's 贫困户属性.
            dibao: String::new(),
            tekun: String::new(),
            public_job: yes_no(working && self.rng.percent(5)),
        }
    }

    /// 文化程度 or 在校生状况, whichever fits the age.
    fn schooling(&mut self, age: u32, born: i32) -> (Option<Education>, Option<SchoolStage>) {
        match age {
            0..3 => (None, None),
            3..6 => (None, Some(SchoolStage::Preschool)),
            6..12 => (None, Some(SchoolStage::Primary)),
            12..15 => (None, Some(SchoolStage::Junior)),
            15..18 if self.rng.percent(70) => (None, Some(SchoolStage::Senior)),
            15..18 => (None, Some(SchoolStage::Vocational)),
            18..22 if self.rng.percent(40) => (None, Some(SchoolStage::University)),
            _ if born < 1960 => (
                Some(*self.rng.pick(&[Education::Illiterate, Education::Primary])),
                None,
            ),
            _ => (
                Some(*self.rng.pick(&[
                    Education::Primary,
                    Education::Junior,
                    Education::Junior,
                    Education::Senior,
                    Education::College,
                ])),
                None,
            ),
        }
    }

    /// A resident ID not yet used in this roster: the sequence number is stepped until free.
    fn id_number(&mut self, birth: NaiveDate, sex: Sex) -> String {
        let date = birth.format("%Y%m%d").to_string();
        let odd = u32::from(sex == Sex::Male);
        let start = self.rng.below(500) as u32;
        for k in 0..500 {
            let n = (start + k) % 500;
            let id = id_number(&date, &format!("{:02}{}", n / 5, 2 * (n % 5) + odd));
            if self.ids.insert(id.clone()) {
                return id;
            }
        }
        // 500 people of one sex born on one day in one county: not in a roster of this size.
        id_number(&date, &format!("99{odd}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, 1).expect("date")
    }

    #[test]
    fn is_deterministic_and_ids_are_unique_and_valid() {
        let a = generate(300, 7, today());
        assert_eq!(a, generate(300, 7, today()));
        let ids: HashSet<_> = a
            .iter()
            .flat_map(|h| &h.members)
            .map(|p| &p.id_number)
            .collect();
        let people: usize = a.iter().map(|h| h.members.len()).sum();
        assert_eq!(ids.len(), people);
        for id in ids {
            let id = zoufang_shared::rules::resident_id::ResidentId::parse_on(id, today());
            assert!(id.is_ok(), "{id:?}");
        }
        assert!((3.2..3.8).contains(&(people as f64 / 300.0)), "{people}");
    }

    #[test]
    fn line_ranges_match_the_csv() {
        let hs = generate(3, 1, today());
        let csv = to_csv(&hs);
        let ranges = line_ranges(&hs);
        assert_eq!(ranges.first().map(|r| r.start), Some(2));
        assert_eq!(ranges.last().map(|r| r.end - 1), Some(csv.lines().count()));
    }
}
