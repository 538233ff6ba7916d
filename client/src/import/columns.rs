//! The columns of the national system's roster export, declared once: the importer finds them by
//! these names and the roster generator writes them under the same names.

use std::collections::{BTreeSet, HashMap};

use zoufang_shared::CodeList;
use zoufang_shared::codes::PovertyCause;
use zoufang_shared::model::{HouseholdInfo, Member};

/// One column of the roster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    HouseholdNo,
    Province,
    City,
    County,
    Township,
    Village,
    Group,
    AreaCode,
    HeadName,
    Name,
    Sex,
    IdNumber,
    Relation,
    Ethnicity,
    Political,
    Education,
    School,
    Dropout,
    Health,
    DisabilityCert,
    Labour,
    WorkPlace,
    WorkMonths,
    MedicalInsurance,
    SeriousIllnessInsurance,
    PensionInsurance,
    Dibao,
    Tekun,
    PublicJob,
    Status,
    Attribute,
    StandardLevel,
    MainCause,
    OtherCauses,
    ExitYear,
    Monitoring,
    Phone,
    BankName,
    BankAccount,
    Year,
}

/// Whether a value describes the household (repeated on each of its rows) or the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Household,
    Person,
}

/// Writes a cell's value into the model, or says (in Chinese, naming the column, which is the
/// second argument) why it cannot.
pub type Apply<T> = fn(&mut T, &str, &'static str) -> Result<(), String>;

/// What the import does with a column's values.
#[derive(Clone, Copy)]
pub enum Read {
    /// Read by the checks themselves: the household's number and head, the person's identity.
    Key(Level),
    Household(Apply<HouseholdInfo>),
    Person(Apply<Member>),
}

impl Read {
    pub fn level(self) -> Level {
        match self {
            Read::Key(level) => level,
            Read::Household(_) => Level::Household,
            Read::Person(_) => Level::Person,
        }
    }
}

pub struct Spec {
    pub column: Column,
    /// The export's header first; the rest are spellings other exports and hand-made sheets use.
    pub names: &'static [&'static str],
    pub read: Read,
    pub required: bool,
}

const fn spec(column: Column, names: &'static [&'static str], read: Read, required: bool) -> Spec {
    Spec {
        column,
        names,
        read,
        required,
    }
}

/// An optional column written into the household.
const fn household(
    column: Column,
    names: &'static [&'static str],
    apply: Apply<HouseholdInfo>,
) -> Spec {
    spec(column, names, Read::Household(apply), false)
}

/// An optional column written into the person.
const fn person(column: Column, names: &'static [&'static str], apply: Apply<Member>) -> Spec {
    spec(column, names, Read::Person(apply), false)
}

use Column as C;
use Level::{Household as H, Person as P};

/// Every accepted column, in the order the generator writes them.
pub const COLUMNS: &[Spec] = &[
    household(C::Province, &["省"], |i, v, _| text(&mut i.province, v)),
    household(C::City, &["市", "州(市)"], |i, v, _| {
        text(&mut i.city, v)
    }),
    household(C::County, &["县", "县(市、区)"], |i, v, _| {
        text(&mut i.county, v)
    }),
    household(C::Township, &["乡镇", "乡(镇)"], |i, v, _| {
        text(&mut i.township, v)
    }),
    household(C::Village, &["村", "行政村"], |i, v, _| {
        text(&mut i.village, v)
    }),
    household(C::Group, &["村民小组", "组"], |i, v, _| {
        text(&mut i.group, v)
    }),
    household(
        C::AreaCode,
        &["行政区划代码", "区划代码"],
        |i, v, h| area_code(&mut i.area_code, v, h),
    ),
    spec(C::HouseholdNo, &["户编号"], Read::Key(H), true),
    spec(C::HeadName, &["户主姓名"], Read::Key(H), false),
    spec(C::Name, &["姓名"], Read::Key(P), true),
    spec(C::Sex, &["性别"], Read::Key(P), false),
    spec(
        C::IdNumber,
        &["证件号码", "身份证号码", "身份证号"],
        Read::Key(P),
        true,
    ),
    spec(C::Relation, &["与户主关系"], Read::Key(P), true),
    person(C::Ethnicity, &["民族"], |m, v, _| {
        text(&mut m.ethnicity, v)
    }),
    person(C::Political, &["政治面貌"], |m, v, _| {
        code(&mut m.political, v)
    }),
    person(C::Education, &["文化程度"], |m, v, _| {
        code(&mut m.education, v)
    }),
    person(C::School, &["在校生状况"], |m, v, _| {
        code(&mut m.school, v)
    }),
    person(
        C::Dropout,
        &["失辍学原因", "失学或辍学原因"],
        |m, v, _| code(&mut m.dropout_reason, v),
    ),
    person(C::Health, &["健康状况"], |m, v, _| {
        code(&mut m.health, v)
    }),
    person(
        C::DisabilityCert,
        &["残疾证号", "残疾证号码"],
        |m, v, _| text(&mut m.disability_cert, v),
    ),
    person(C::Labour, &["劳动技能"], |m, v, _| {
        code(&mut m.labour, v)
    }),
    person(
        C::WorkPlace,
        &["务工地点", "务工区域"],
        |m, v, _| code(&mut m.work_place, v),
    ),
    person(
        C::WorkMonths,
        &["务工时间(月)", "务工时间（月）", "务工时间", "务工月数"],
        |m, v, h| months(&mut m.work_months, v, h),
    ),
    person(
        C::MedicalInsurance,
        &[
            "是否参加城乡居民基本医疗保险",
            "参加城乡居民基本医疗保险",
            "居民医保",
        ],
        |m, v, h| yes_no(&mut m.medical_insurance, v, h),
    ),
    person(
        C::SeriousIllnessInsurance,
        &["是否参加大病保险", "参加大病保险", "大病保险"],
        |m, v, h| yes_no(&mut m.serious_illness_insurance, v, h),
    ),
    person(
        C::PensionInsurance,
        &[
            "是否参加城乡居民基本养老保险",
            "参加城乡居民基本养老保险",
            "居民养老",
        ],
        |m, v, h| yes_no(&mut m.pension_insurance, v, h),
    ),
    person(
        C::Dibao,
        &["是否享受低保", "享受低保", "低保"],
        |m, v, h| yes_no(&mut m.dibao, v, h),
    ),
    person(
        C::Tekun,
        &["是否特困供养", "特困供养"],
        |m, v, h| yes_no(&mut m.tekun, v, h),
    ),
    person(
        C::PublicJob,
        &["是否公益岗位", "公益岗位"],
        |m, v, h| yes_no(&mut m.public_job, v, h),
    ),
    household(C::Status, &["户状态", "贫困户状态"], |i, v, _| {
        code(&mut i.status, v)
    }),
    household(C::Attribute, &["贫困户属性"], |i, v, _| {
        code(&mut i.attribute, v)
    }),
    household(C::StandardLevel, &["识别标准"], |i, v, _| {
        code(&mut i.standard_level, v)
    }),
    household(C::MainCause, &["主要致贫原因"], |i, v, _| {
        code(&mut i.main_cause, v)
    }),
    household(C::OtherCauses, &["其他致贫原因"], |i, v, h| {
        causes(&mut i.other_causes, v, h)
    }),
    household(C::ExitYear, &["脱贫年度", "脱贫年份"], |i, v, h| {
        year(&mut i.exit_year, v, h)
    }),
    household(
        C::Monitoring,
        &["监测对象类别", "监测对象类型"],
        |i, v, _| code(&mut i.monitoring, v),
    ),
    household(C::Phone, &["联系电话"], |i, v, _| text(&mut i.phone, v)),
    household(
        C::BankName,
        &["开户银行", "开户银行名称"],
        |i, v, _| text(&mut i.bank_name, v),
    ),
    household(
        C::BankAccount,
        &["银行账号", "银行卡号"],
        |i, v, _| text(&mut i.bank_account, v),
    ),
    household(C::Year, &["年度"], |i, v, h| year(&mut i.year, v, h)),
];

fn text(slot: &mut Option<String>, v: &str) -> Result<(), String> {
    *slot = Some(v.to_owned());
    Ok(())
}

/// A code list's value, by its Chinese label (or its code).
fn code<T: CodeList>(slot: &mut Option<T>, v: &str) -> Result<(), String> {
    *slot = Some(T::parse(v).map_err(|e| e.to_string())?);
    Ok(())
}

/// The years a household document accepts.
const YEARS: std::ops::RangeInclusive<i32> = 2000..=2100;

fn year(slot: &mut Option<i32>, v: &str, header: &str) -> Result<(), String> {
    // Hand-made sheets write 2019年.
    let y = v
        .strip_suffix('年')
        .unwrap_or(v)
        .trim()
        .parse::<i32>()
        .map_err(|_| format!("{header}「{v}」不是有效的年份"))?;
    if !YEARS.contains(&y) {
        return Err(format!(
            "{header}「{v}」不在 {}–{} 年之间",
            YEARS.start(),
            YEARS.end()
        ));
    }
    *slot = Some(y);
    Ok(())
}

fn months(slot: &mut Option<u8>, v: &str, header: &str) -> Result<(), String> {
    let n = v
        .strip_suffix("个月")
        .unwrap_or(v)
        .trim()
        .parse::<u8>()
        .ok()
        .filter(|n| *n <= 12)
        .ok_or_else(|| format!("「{header}」的值「{v}」应为 0 到 12 的月数"))?;
    *slot = Some(n);
    Ok(())
}

fn yes_no(slot: &mut bool, v: &str, header: &str) -> Result<(), String> {
    *slot = match v {
        "是" => true,
        "否" => false,
        _ => return Err(format!("「{header}」的值「{v}」应为「是」或「否」")),
    };
    Ok(())
}

/// 其他致贫原因: up to two causes, however the sheet separates them.
fn causes(set: &mut BTreeSet<PovertyCause>, v: &str, header: &str) -> Result<(), String> {
    let mut parsed = BTreeSet::new();
    for part in v
        .split(['、', ',', '，', ';', '；', '/', ' '])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        parsed.insert(PovertyCause::parse(part).map_err(|e| e.to_string())?);
    }
    if parsed.len() > 2 {
        return Err(format!("「{header}」最多两项,文件中为「{v}」"));
    }
    *set = parsed;
    Ok(())
}

/// Digits only: the code is matched against the area tree, and must extend its parents' codes.
fn area_code(slot: &mut Option<String>, v: &str, header: &str) -> Result<(), String> {
    if !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("「{header}」的值「{v}」应为数字"));
    }
    *slot = Some(v.to_owned());
    Ok(())
}

impl Column {
    fn spec(self) -> Option<&'static Spec> {
        COLUMNS.iter().find(|s| s.column == self)
    }

    /// The header the national export uses.
    pub fn header(self) -> &'static str {
        self.spec()
            .and_then(|s| s.names.first().copied())
            .unwrap_or("")
    }

    pub fn level(self) -> Level {
        self.spec().map_or(Level::Person, |s| s.read.level())
    }
}

/// The header row, resolved: where each known column is, and what else the file has.
pub struct Header {
    positions: HashMap<Column, usize>,
    pub unknown: Vec<String>,
}

/// Why a row is not a usable header.
pub enum HeaderError {
    /// No known column at all: a title line above the header, or not a roster.
    Title,
    /// Some known columns, but not every required one.
    Missing(Vec<&'static str>),
    Duplicate(String),
}

impl Header {
    pub fn parse<'a>(cells: impl IntoIterator<Item = &'a str>) -> Result<Header, HeaderError> {
        let mut positions = HashMap::new();
        let mut unknown = Vec::new();
        for (i, cell) in cells.into_iter().enumerate() {
            let name = clean(cell);
            if name.is_empty() {
                continue;
            }
            match COLUMNS.iter().find(|s| s.names.contains(&name)) {
                Some(s) => {
                    if positions.insert(s.column, i).is_some() {
                        return Err(HeaderError::Duplicate(s.column.header().to_owned()));
                    }
                }
                None => unknown.push(name.to_owned()),
            }
        }
        let missing: Vec<_> = COLUMNS
            .iter()
            .filter(|s| s.required && !positions.contains_key(&s.column))
            .map(|s| s.column.header())
            .collect();
        if positions.is_empty() {
            Err(HeaderError::Title)
        } else if missing.is_empty() {
            Ok(Header { positions, unknown })
        } else {
            Err(HeaderError::Missing(missing))
        }
    }

    /// The cleaned, non-empty value of `column` in `record`.
    pub fn get<'r>(&self, record: &'r csv::StringRecord, column: Column) -> Option<&'r str> {
        let i = *self.positions.get(&column)?;
        Some(clean(record.get(i)?)).filter(|v| !v.is_empty())
    }
}

/// Trims a cell and undoes the two ways spreadsheets are told to keep a long number as text
/// (`'530921…` and `="530921…"`): exports use them so that Excel does not round ID numbers.
pub fn clean(cell: &str) -> &str {
    let t = cell.trim().trim_start_matches('\u{feff}');
    let t = t
        .strip_prefix("=\"")
        .and_then(|s| s.strip_suffix('"'))
        .or_else(|| t.strip_prefix('\''))
        .unwrap_or(t);
    t.trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_column_has_one_spec_and_unique_names() {
        let mut names: Vec<&str> = COLUMNS
            .iter()
            .flat_map(|s| s.names.iter().copied())
            .collect();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n);
        for s in COLUMNS {
            assert_eq!(s.column.spec().map(|x| x.names), Some(s.names));
        }
    }

    #[test]
    fn header_finds_aliases_and_reports_the_rest() {
        let h = Header::parse(["户编号", " 姓名 ", "身份证号", "与户主关系", "备注", ""]).ok();
        let h = h.expect("valid header");
        assert_eq!(h.positions.get(&Column::IdNumber), Some(&2));
        assert_eq!(h.unknown, vec!["备注".to_owned()]);
    }

    #[test]
    fn header_names_missing_and_duplicate_columns() {
        match Header::parse(["户编号", "姓名"]) {
            Err(HeaderError::Missing(m)) => assert_eq!(m, vec!["证件号码", "与户主关系"]),
            _ => panic!("expected missing columns"),
        }
        assert!(matches!(
            Header::parse(["凤庆县花名册"]),
            Err(HeaderError::Title)
        ));
        match Header::parse(["户编号", "姓名", "证件号码", "身份证号", "与户主关系"])
        {
            Err(HeaderError::Duplicate(d)) => assert_eq!(d, "证件号码"),
            _ => panic!("expected a duplicate"),
        }
    }

    #[test]
    fn clean_undoes_spreadsheet_text_markers() {
        assert_eq!(clean(" '530921 "), "530921");
        assert_eq!(clean("=\"530921\""), "530921");
        assert_eq!(clean("\t张三\t"), "张三");
    }
}
