//! Roster import: the CSV the national system exports (one row per person, the household's
//! columns repeated on each of its rows) becomes the households a team sets out to visit.
//!
//! A household goes in whole or not at all: one bad row keeps its whole household out, and the
//! report names every bad row by line with the reason. Each household is written in its own
//! transaction, so an interrupted import leaves whole households only, and household ids derive
//! from 户编号, so importing the same file again adds nothing and harms nothing.

mod check;
pub mod columns;
mod decode;

use std::collections::HashMap;

use chrono::NaiveDate;
use serde::Serialize;
use zoufang_shared::ids::HouseholdId;

pub use check::{Candidate, Person, valid_household_no};
pub use columns::{COLUMNS, Column};
pub use decode::DecodeError;

use crate::store::{Store, StoreError};
use check::{Row, Seen};
use columns::{Header, HeaderError};

/// Rows above the header that are skipped as a title (the national export puts the sheet's name
/// and the export date there); past this many, the file is not a roster.
const MAX_TITLE_ROWS: usize = 5;

#[derive(Debug, Default, Clone, Serialize)]
pub struct ImportReport {
    /// Households created.
    pub imported: usize,
    /// Households already in the store (from an earlier import), left as they are.
    pub skipped_existing: usize,
    /// Households not imported, in file order.
    pub bad: Vec<BadHousehold>,
    /// Things worth knowing that kept nothing out (ignored columns, the encoding read).
    pub notices: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadHousehold {
    /// As in the file; empty for rows that have none.
    pub household_no: String,
    /// Every line of the household, ascending.
    pub lines: Vec<usize>,
    pub reasons: Vec<String>,
}

/// Why nothing (or, for [`ImportError::Interrupted`], nothing more) was imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("第 {line} 行无法按 CSV 格式解析")]
    Csv { line: u64 },
    #[error("找不到表头:缺少必需的列 {0}")]
    MissingColumns(String),
    #[error("表头中「{0}」列出现了不止一次")]
    DuplicateColumn(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("导入中断(此前已完整导入 {imported} 户,重新导入会跳过它们):{source}")]
    Interrupted { imported: usize, source: StoreError },
}

/// The household id a 户编号 is imported under.
pub fn household_id(household_no: &str) -> HouseholdId {
    HouseholdId(format!("hh-{household_no}"))
}

/// The roster read and checked against itself, before the store is consulted.
pub struct Roster {
    /// As [`ImportReport::notices`].
    pub notices: Vec<String>,
    /// Every household of the file, in file order.
    pub households: Vec<CheckedHousehold>,
}

/// One household of the file: ready to create, or every reason it cannot be.
pub struct CheckedHousehold {
    /// As in the file; empty for rows that have none.
    pub household_no: String,
    /// Every line of the household, ascending.
    pub lines: Vec<usize>,
    pub outcome: Result<Candidate, Vec<String>>,
}

impl CheckedHousehold {
    fn bad(&self, reasons: Vec<String>) -> BadHousehold {
        BadHousehold {
            household_no: self.household_no.clone(),
            lines: self.lines.clone(),
            reasons,
        }
    }
}

/// Reads and checks the roster in `bytes` (UTF-8 or GBK CSV) without writing anything. `today`
/// bounds the birth dates in IDs.
pub fn read(bytes: &[u8], today: NaiveDate) -> Result<Roster, ImportError> {
    let mut notices = Vec::new();
    let (text, encoding) = decode::decode(bytes)?;
    if let Some(encoding) = encoding {
        notices.push(format!("文件按 {encoding} 编码读取"));
    }
    let table = Table::read(&text)?;
    if table.title_rows > 0 {
        notices.push(format!("跳过了表头之前的 {} 行标题", table.title_rows));
    }
    if !table.header.unknown.is_empty() {
        notices.push(format!(
            "忽略了不认识的列:{}",
            table.header.unknown.join("、")
        ));
    }
    let mut seen = Seen::new();
    let households = table
        .households()
        .into_iter()
        .map(|group| {
            let lines: Vec<usize> = group.rows.iter().map(|(l, _)| *l).collect();
            let outcome = if group.no.is_empty() {
                Err(lines
                    .iter()
                    .map(|l| format!("第 {l} 行:缺少「{}」", Column::HouseholdNo.header()))
                    .collect())
            } else {
                check::check(group.no, &group.rows, &table.header, today, &mut seen)
            };
            CheckedHousehold {
                household_no: group.no.to_owned(),
                lines,
                outcome,
            }
        })
        .collect();
    Ok(Roster {
        notices,
        households,
    })
}

/// Imports the roster in `bytes` (UTF-8 or GBK CSV). `today` bounds the birth dates in IDs.
pub fn import(
    store: &mut Store,
    bytes: &[u8],
    today: NaiveDate,
) -> Result<ImportReport, ImportError> {
    // Checked first so an uninitialised device fails before any reading.
    store.identity()?;
    let roster = read(bytes, today)?;
    let mut report = ImportReport {
        notices: roster.notices,
        ..ImportReport::default()
    };
    for household in roster.households {
        let candidate = match &household.outcome {
            Ok(c) => c,
            Err(reasons) => {
                report.bad.push(household.bad(reasons.clone()));
                continue;
            }
        };
        match write(store, &household.household_no, candidate) {
            Ok(Written::Created) => report.imported += 1,
            Ok(Written::Existing) => report.skipped_existing += 1,
            Ok(Written::Refused(reasons)) => report.bad.push(household.bad(reasons)),
            Err(source) => {
                return Err(ImportError::Interrupted {
                    imported: report.imported,
                    source,
                });
            }
        }
    }
    Ok(report)
}

enum Written {
    Created,
    Existing,
    Refused(Vec<String>),
}

/// Creates the household unless the store already has it or holds one of its people elsewhere.
fn write(store: &mut Store, no: &str, c: &Candidate) -> Result<Written, StoreError> {
    let id = household_id(no);
    if store.contains(&id)? {
        return Ok(Written::Existing);
    }
    let mut reasons = Vec::new();
    for p in &c.persons {
        if let Some(other) = store.household_of_person(&p.id, Some(&id))? {
            reasons.push(p.reason(&format!("此人已是本机农户 {other} 的成员,同一人不能在两户")));
        }
    }
    if !reasons.is_empty() {
        return Ok(Written::Refused(reasons));
    }
    let created = store.create_household(&id, |e| c.fill(e));
    match created {
        Ok(()) => Ok(Written::Created),
        // Another process imported it meanwhile: the same outcome as finding it first.
        Err(StoreError::AlreadyExists(_)) => Ok(Written::Existing),
        // The document's own rules are the last word; the file checks mirror them, this catches
        // whatever they missed.
        Err(StoreError::Doc(e)) if e.validation().is_some() => {
            Ok(Written::Refused(vec![e.to_string()]))
        }
        Err(e) => Err(e),
    }
}

/// The file as rows under a header.
struct Table {
    header: Header,
    title_rows: usize,
    rows: Vec<Row>,
}

/// The rows of one 户编号 (empty for rows without one), in file order.
struct Group<'a> {
    no: &'a str,
    rows: Vec<&'a Row>,
}

impl Table {
    fn read(text: &str) -> Result<Table, ImportError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes());
        let mut header = None;
        let mut title_rows = 0;
        let mut first_error = None;
        let mut rows = Vec::new();
        let mut lines = Lines::new(text);
        for record in reader.records() {
            let record = record.map_err(|e| ImportError::Csv {
                line: e.position().map_or(0, |p| lines.at(p.byte()) as u64),
            })?;
            let line = record.position().map_or(0, |p| lines.at(p.byte()));
            if record.iter().all(|c| columns::clean(c).is_empty()) {
                continue;
            }
            if header.is_some() {
                rows.push((line, record));
                continue;
            }
            match Header::parse(record.iter()) {
                Ok(h) => header = Some(h),
                Err(HeaderError::Title) if title_rows < MAX_TITLE_ROWS => {
                    title_rows += 1;
                    first_error.get_or_insert(HeaderError::Title);
                }
                Err(e) => return Err(header_error(e)),
            }
        }
        match header {
            Some(header) => Ok(Table {
                header,
                title_rows,
                rows,
            }),
            None => Err(header_error(first_error.unwrap_or(HeaderError::Title))),
        }
    }

    /// Rows grouped by 户编号, households in the order they first appear.
    fn households(&self) -> Vec<Group<'_>> {
        let mut order: HashMap<&str, usize> = HashMap::new();
        let mut groups: Vec<Group<'_>> = Vec::new();
        for row in &self.rows {
            let no = self.header.get(&row.1, Column::HouseholdNo).unwrap_or("");
            let i = *order.entry(no).or_insert_with(|| {
                groups.push(Group {
                    no,
                    rows: Vec::new(),
                });
                groups.len() - 1
            });
            if let Some(g) = groups.get_mut(i) {
                g.rows.push(row);
            }
        }
        groups
    }
}

/// Line numbers as people count them, where a line ends at `\n`, `\r\n` or a lone `\r`. The
/// csv crate splits records at all three but counts only `\n`, so in a file saved with CR line
/// endings (Excel for Mac's "CSV (Macintosh)") it would name every row line 1 (found by fuzzing).
struct Lines<'a> {
    text: &'a [u8],
    /// Bytes before `pos` are counted; `line` is the line at `pos`.
    pos: usize,
    line: usize,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Self {
        Lines {
            text: text.as_bytes(),
            pos: 0,
            line: 1,
        }
    }

    /// The line of byte offset `byte`; offsets must not go backwards.
    fn at(&mut self, byte: u64) -> usize {
        let end = usize::try_from(byte)
            .unwrap_or(usize::MAX)
            .min(self.text.len());
        let start = self.pos.min(end);
        let before = start.checked_sub(1).and_then(|i| self.text.get(i)).copied();
        let mut previous = before;
        for &b in self.text.get(start..end).unwrap_or_default() {
            if b == b'\r' || (b == b'\n' && previous != Some(b'\r')) {
                self.line += 1;
            }
            previous = Some(b);
        }
        self.pos = self.pos.max(end);
        self.line
    }
}

fn header_error(e: HeaderError) -> ImportError {
    match e {
        HeaderError::Duplicate(name) => ImportError::DuplicateColumn(name),
        HeaderError::Missing(missing) => ImportError::MissingColumns(missing.join("、")),
        HeaderError::Title => ImportError::MissingColumns(
            COLUMNS
                .iter()
                .filter(|s| s.required)
                .map(|s| s.column.header())
                .collect::<Vec<_>>()
                .join("、"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zoufang_shared::demo::id_number;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::create(dir.path(), "test-passphrase").expect("open");
        store.init("u1", "测试员").expect("init");
        (dir, store)
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, 1).expect("date")
    }

    const HEADER: &str = "户编号,村,姓名,性别,与户主关系,证件号码";

    fn row(no: &str, name: &str, rel: &str, id: &str) -> String {
        format!("{no},三合村,{name},,{rel},{id}")
    }

    #[test]
    fn imports_a_household_with_title_rows_and_unknown_columns() {
        let (_d, mut s) = store();
        let csv = format!(
            "凤庆县建档立卡花名册\n\n{HEADER},备注\n{}\n{},外出\n",
            row("A1", "李大山", "户主", &id_number("19700312", "011")),
            row("A1", "王秀英", "配偶", &id_number("19720801", "022")),
        );
        let r = import(&mut s, csv.as_bytes(), today()).expect("import");
        assert_eq!((r.imported, r.bad.len()), (1, 0), "{r:?}");
        assert_eq!(
            r.notices,
            vec!["跳过了表头之前的 1 行标题", "忽略了不认识的列:备注"]
        );
        let h = s.household(&household_id("A1")).expect("stored");
        assert_eq!(h.head().map(|m| m.name.as_str()), Some("李大山"));
        assert_eq!(h.info.village.as_deref(), Some("三合村"));
        // Sex comes from the ID when the file has none.
        let spouse = h
            .members
            .values()
            .find(|m| m.name == "王秀英")
            .expect("spouse");
        assert_eq!(spouse.sex, Some(zoufang_shared::codes::Sex::Female));
    }

    #[test]
    fn refuses_a_person_already_in_another_household_of_the_store() {
        let (_d, mut s) = store();
        let head = id_number("19700312", "011");
        let first = format!("{HEADER}\n{}\n", row("A1", "李大山", "户主", &head));
        import(&mut s, first.as_bytes(), today()).expect("first");
        let second = format!("{HEADER}\n{}\n", row("B2", "李大山", "户主", &head));
        let r = import(&mut s, second.as_bytes(), today()).expect("second");
        assert_eq!(r.imported, 0);
        assert_eq!(
            r.bad,
            vec![BadHousehold {
                household_no: "B2".into(),
                lines: vec![2],
                reasons: vec![
                    "第 2 行(李大山):此人已是本机农户 hh-A1 的成员,同一人不能在两户".into()
                ],
            }]
        );
    }

    #[test]
    fn reports_rows_without_household_number_and_bad_numbers() {
        let (_d, mut s) = store();
        let csv = format!(
            "{HEADER}\n{}\n{}\n",
            row("", "李大山", "户主", &id_number("19700312", "011")),
            row("A-1", "王秀英", "户主", &id_number("19720801", "022")),
        );
        let r = import(&mut s, csv.as_bytes(), today()).expect("import");
        let reasons: Vec<_> = r.bad.iter().map(|b| b.reasons.join(";")).collect();
        assert_eq!(
            reasons,
            vec![
                "第 2 行:缺少「户编号」",
                "户编号「A-1」只能由字母和数字组成"
            ]
        );
    }

    #[test]
    fn a_household_whose_rows_disagree_is_refused() {
        let (_d, mut s) = store();
        let csv = format!(
            "{HEADER}\n{}\nA1,新民村,王秀英,女,配偶,{}\n",
            row("A1", "李大山", "户主", &id_number("19700312", "011")),
            id_number("19720801", "022"),
        );
        let r = import(&mut s, csv.as_bytes(), today()).expect("import");
        assert_eq!(
            r.bad.first().map(|b| b.reasons.clone()),
            Some(vec![
                "第 3 行:「村」为「新民村」,与本户第 2 行的「三合村」不一致".into()
            ])
        );
    }

    #[test]
    fn reports_every_fault_of_a_row_and_of_the_household() {
        let (_d, mut s) = store();
        let head = id_number("19700312", "011");
        let csv = format!(
            "户编号,户主姓名,姓名,性别,与户主关系,证件号码,年度\n\
             A1,李大山,李大山,女,户主,{head},二〇二六\n\
             A1,李大山,,,之子,5.30921E+17,二〇二六\n\
             A1,李大山,李小山,男,之子,{head},二〇二六\n\
             B2,王五,李四,男,户主,{},2026\n",
            id_number("19800101", "031"),
        );
        let r = import(&mut s, csv.as_bytes(), today()).expect("import");
        assert_eq!(r.imported, 0);
        let reasons: Vec<Vec<String>> = r.bad.iter().map(|b| b.reasons.clone()).collect();
        assert_eq!(
            reasons,
            vec![
                vec![
                    "第 2 行:年度「二〇二六」不是有效的年份",
                    "第 2 行(李大山):性别与证件号码不符:证件号码为男性,登记为女性",
                    "第 3 行:缺少「姓名」",
                    "第 3 行:证件号码被表格软件改成了科学计数法,原号码已丢失;请把该列设为文本后重新导出",
                ],
                vec!["第 5 行(李四):户主姓名为「王五」,与户主本人的姓名「李四」不一致"],
            ]
        );
        let csv = format!(
            "户编号,姓名,与户主关系,证件号码\nA1,李大山,户主,{head}\nA1,李小山,之子,{head}\n"
        );
        let r = import(&mut s, csv.as_bytes(), today()).expect("import");
        assert_eq!(
            r.bad.first().map(|b| b.reasons.clone()),
            Some(vec![
                "第 3 行(李小山):证件号码与本户第 2 行的成员重复".into()
            ])
        );
    }

    #[test]
    fn header_problems_are_errors_and_write_nothing() {
        let (_d, mut s) = store();
        let e = import(&mut s, "户编号,姓名\nA1,李大山\n".as_bytes(), today());
        assert_eq!(
            e.map_err(|e| e.to_string()).err().as_deref(),
            Some("找不到表头:缺少必需的列 证件号码、与户主关系")
        );
        let e = import(&mut s, "x\ny\n".as_bytes(), today());
        assert!(matches!(e, Err(ImportError::MissingColumns(_))));
        assert_eq!(s.count().expect("count"), 0);
    }

    #[test]
    fn names_lines_right_whatever_the_line_endings() {
        let rows = [
            row("A1", "李大山", "户主", &id_number("19700312", "011")),
            row("A1", "", "配偶", &id_number("19720801", "022")),
        ];
        for end in ["\n", "\r\n", "\r"] {
            let csv = format!("{HEADER}{end}{}{end}{}{end}", rows[0], rows[1]);
            let roster = read(csv.as_bytes(), today()).expect("read");
            let lines: Vec<_> = roster.households.iter().map(|h| h.lines.clone()).collect();
            assert_eq!(lines, vec![vec![2, 3]], "{end:?}");
            let reasons = roster.households.first().map(|h| h.outcome.as_ref().err());
            assert_eq!(
                reasons,
                Some(Some(&vec!["第 3 行:缺少「姓名」".to_owned()])),
                "{end:?}"
            );
        }
    }

    #[test]
    fn refuses_to_import_before_init() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Store::create(dir.path(), "test-passphrase").expect("open");
        let e = import(&mut s, HEADER.as_bytes(), today());
        assert!(matches!(
            e,
            Err(ImportError::Store(StoreError::NotInitialised))
        ));
    }
}
