//! The columns of the national system's roster export, declared once: the importer finds them by
//! these names and the roster generator writes them under the same names.

use std::collections::HashMap;

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
    HeadName,
    Name,
    Sex,
    IdNumber,
    Relation,
    Ethnicity,
    Education,
    School,
    Health,
    Labour,
    Status,
    Attribute,
    StandardLevel,
    MainCause,
    Phone,
    Year,
}

/// Whether a value describes the household (repeated on each of its rows) or the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Household,
    Person,
}

pub struct Spec {
    pub column: Column,
    /// The export's header first; the rest are spellings other exports and hand-made sheets use.
    pub names: &'static [&'static str],
    pub level: Level,
    pub required: bool,
}

const fn spec(
    column: Column,
    names: &'static [&'static str],
    level: Level,
    required: bool,
) -> Spec {
    Spec {
        column,
        names,
        level,
        required,
    }
}

use Column as C;
use Level::{Household as H, Person as P};

/// Every accepted column, in the order the generator writes them.
pub const COLUMNS: &[Spec] = &[
    spec(C::Province, &["省"], H, false),
    spec(C::City, &["市", "州(市)"], H, false),
    spec(C::County, &["县", "县(市、区)"], H, false),
    spec(C::Township, &["乡镇", "乡(镇)"], H, false),
    spec(C::Village, &["村", "行政村"], H, false),
    spec(C::Group, &["村民小组", "组"], H, false),
    spec(C::HouseholdNo, &["户编号"], H, true),
    spec(C::HeadName, &["户主姓名"], H, false),
    spec(C::Name, &["姓名"], P, true),
    spec(C::Sex, &["性别"], P, false),
    spec(
        C::IdNumber,
        &["证件号码", "身份证号码", "身份证号"],
        P,
        true,
    ),
    spec(C::Relation, &["与户主关系"], P, true),
    spec(C::Ethnicity, &["民族"], P, false),
    spec(C::Education, &["文化程度"], P, false),
    spec(C::School, &["在校生状况"], P, false),
    spec(C::Health, &["健康状况"], P, false),
    spec(C::Labour, &["劳动技能"], P, false),
    spec(C::Status, &["户状态", "贫困户状态"], H, false),
    spec(C::Attribute, &["贫困户属性"], H, false),
    spec(C::StandardLevel, &["识别标准"], H, false),
    spec(C::MainCause, &["主要致贫原因"], H, false),
    spec(C::Phone, &["联系电话"], H, false),
    spec(C::Year, &["年度"], H, false),
];

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
        self.spec().map_or(Level::Person, |s| s.level)
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
