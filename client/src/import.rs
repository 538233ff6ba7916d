//! Roster import: the CSV the national system exports (one row per person, the household's
//! columns repeated on each of its rows) becomes the households a team sets out to visit.
//!
//! A household goes in whole or not at all: one bad row keeps its whole household out, and the
//! report names every bad row by line with the reason. Each household is written in its own
//! transaction, so an interrupted import leaves whole households only, and household ids derive
//! from 户编号, so importing the same file again adds nothing and harms nothing.
//!
//! Each household is filed in the area the file names (see [`areas`]). A device not enrolled
//! yet does not know the area tree: it keeps the households without an area code, and
//! enrollment files them ([`place_households`]); importing the file again fills the area of
//! any household still without one.

mod areas;
mod check;
pub mod columns;
mod decode;

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use serde::Serialize;
use zoufang_shared::ids::HouseholdId;
use zoufang_shared::model::HouseholdInfo;

pub use areas::{Areas, Placed};
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
    /// Households already in the store without an area code, filed now by this file's names.
    pub areas_filled: usize,
    /// Households not imported, in file order.
    pub bad: Vec<BadHousehold>,
    /// Things worth knowing that kept nothing out (columns not kept, the encoding read, how
    /// areas were filed).
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
            "未导入的列:{}(系统没有对应字段)",
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
    let filing = Filing::of(store)?;
    let mut report = ImportReport {
        notices: roster.notices,
        ..ImportReport::default()
    };
    let mut filed = Filed::default();
    for household in roster.households {
        let candidate = match &household.outcome {
            Ok(c) => c,
            Err(reasons) => {
                report.bad.push(household.bad(reasons.clone()));
                continue;
            }
        };
        match write(
            store,
            &household.household_no,
            candidate,
            &filing,
            &mut filed,
        ) {
            Ok(Written::Created) => report.imported += 1,
            Ok(Written::Existing) => report.skipped_existing += 1,
            Ok(Written::AreaFilled) => report.areas_filled += 1,
            Ok(Written::Refused(reasons)) => report.bad.push(household.bad(reasons)),
            Err(source) => {
                return Err(ImportError::Interrupted {
                    imported: report.imported,
                    source,
                });
            }
        }
    }
    report.notices.extend(filed.notices(&filing));
    Ok(report)
}

/// How the households of this device get their area code.
enum Filing {
    /// Not enrolled: the area tree comes with enrollment, which files them.
    AtEnrollment,
    /// Enrolled where no tree came (an older server or version): the user's first area, as
    /// the store files any new household.
    FirstArea(Option<String>),
    ByName(Areas),
}

impl Filing {
    fn of(store: &Store) -> Result<Filing, StoreError> {
        if store.setting("token")?.is_none() {
            return Ok(Filing::AtEnrollment);
        }
        Ok(match store.area_tree()? {
            Some(tree) => Filing::ByName(Areas::new(tree, store.user_areas()?)),
            None => Filing::FirstArea(store.default_area()?),
        })
    }

    /// The area code of a household as `info` describes it; `Ok(None)` when it must wait.
    fn area(&self, info: &HouseholdInfo, filed: &mut Filed) -> Result<Option<String>, String> {
        match self {
            Filing::AtEnrollment => {
                filed.waiting += usize::from(info.area_code.is_none());
                Ok(info.area_code.clone())
            }
            Filing::FirstArea(first) => {
                if info.area_code.is_some() {
                    return Ok(info.area_code.clone());
                }
                filed.first_area += usize::from(first.is_some());
                Ok(first.clone())
            }
            Filing::ByName(areas) => {
                let placed = areas.place(info)?;
                if let Some(unknown) = placed.unknown {
                    *filed
                        .stand_ins
                        .entry((unknown, placed.code.clone()))
                        .or_default() += 1;
                }
                Ok(Some(placed.code))
            }
        }
    }
}

/// How an import or an enrollment filed its households, for the notices.
#[derive(Default)]
struct Filed {
    /// Households kept without an area until enrollment.
    waiting: usize,
    /// Households filed in the user's first area for want of a tree.
    first_area: usize,
    /// (the name the tree lacks, the area used instead) → households.
    stand_ins: BTreeMap<(String, String), usize>,
}

impl Filed {
    fn notices(&self, filing: &Filing) -> Vec<String> {
        let mut out = Vec::new();
        match filing {
            Filing::AtEnrollment if self.waiting > 0 => out.push(format!(
                "本机尚未登记到服务器,还不知道区域表:{} 户暂未填区划代码,登记(zoufang enroll)时将按文件中的县、乡镇、村填入",
                self.waiting
            )),
            Filing::FirstArea(Some(first)) if self.first_area > 0 => out.push(format!(
                "本机登记时没有取得区域表:{} 户按您负责的第一个区域 {first} 登记;重新登记(zoufang enroll)后将按文件中的乡镇和村登记",
                self.first_area
            )),
            Filing::ByName(areas) => {
                for ((unknown, code), n) in &self.stand_ins {
                    out.push(format!(
                        "区域表中没有{unknown}:{n} 户按{}登记",
                        areas.describe(code)
                    ));
                }
            }
            _ => {}
        }
        out
    }
}

enum Written {
    Created,
    Existing,
    AreaFilled,
    Refused(Vec<String>),
}

/// Creates the household unless the store already has it or holds one of its people elsewhere;
/// one the store has without an area code gets the area the file names.
fn write(
    store: &mut Store,
    no: &str,
    c: &Candidate,
    filing: &Filing,
    filed: &mut Filed,
) -> Result<Written, StoreError> {
    let id = household_id(no);
    if store.contains(&id)? {
        return fill_area(store, &id, c, filing, filed);
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
    let mut info = c.info.clone();
    info.area_code = match filing.area(&c.info, filed) {
        Ok(code) => code,
        Err(reason) => return Ok(Written::Refused(vec![reason])),
    };
    let created = store.create_household(&id, |e| c.fill_as(e, &info));
    match created {
        Ok(()) => Ok(Written::Created),
        // Another process imported it meanwhile: the same outcome as finding it first.
        Err(StoreError::AlreadyExists(_)) => Ok(Written::Existing),
        Err(e) => refused(e),
    }
}

/// The document's own rules, and the write model, are the last word; the file checks mirror
/// them, this catches whatever they missed.
fn refused(e: StoreError) -> Result<Written, StoreError> {
    match e {
        StoreError::Doc(e) if e.validation().is_some() => Ok(Written::Refused(vec![e.to_string()])),
        StoreError::Refused(r) => Ok(Written::Refused(vec![r.to_string()])),
        e => Err(e),
    }
}

/// Files a stored household that has no area code yet (imported before enrollment, or by a
/// version that could not file it) where the file says it lies. Such a household never
/// reached the server, so the file's area names replace what the earlier import wrote.
fn fill_area(
    store: &mut Store,
    id: &HouseholdId,
    c: &Candidate,
    filing: &Filing,
    filed: &mut Filed,
) -> Result<Written, StoreError> {
    if matches!(filing, Filing::AtEnrollment) || store.household(id)?.info.area_code.is_some() {
        return Ok(Written::Existing);
    }
    let code = match filing.area(&c.info, filed) {
        Ok(Some(code)) => code,
        Ok(None) => return Ok(Written::Existing),
        Err(reason) => {
            return Ok(Written::Refused(vec![format!(
                "本机已有该户,但仍缺区划代码:{reason}"
            )]));
        }
    };
    let f = &c.info;
    let edited = store.edit_household(id, |e| {
        let mut info = e.household()?.info;
        info.province.clone_from(&f.province);
        info.city.clone_from(&f.city);
        info.county.clone_from(&f.county);
        info.township.clone_from(&f.township);
        info.village.clone_from(&f.village);
        info.group.clone_from(&f.group);
        info.area_code = Some(code);
        e.set_info(&info)
    });
    match edited {
        Ok(()) => Ok(Written::AreaFilled),
        Err(e) => refused(e),
    }
}

/// What enrollment did to the households the device held without an area code.
#[derive(Debug, Default, Clone, Serialize)]
pub struct PlaceReport {
    /// Households filed now.
    pub filed: usize,
    /// Households still without an area code: the server will refuse them until they have one.
    pub unfiled: Vec<Unfiled>,
    /// As [`ImportReport::notices`].
    pub notices: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unfiled {
    pub household: String,
    pub reason: String,
}

/// Files every household of the store that has no area code yet by the area names it holds:
/// what enrollment does once the device knows the area tree.
pub fn place_households(store: &mut Store) -> Result<PlaceReport, StoreError> {
    let filing = Filing::of(store)?;
    let mut report = PlaceReport::default();
    if matches!(filing, Filing::AtEnrollment) {
        return Ok(report);
    }
    let mut filed = Filed::default();
    for id in store.household_ids()? {
        let info = store.household(&id)?.info;
        if info.area_code.is_some() {
            continue;
        }
        let code = match filing.area(&info, &mut filed) {
            Ok(Some(code)) => code,
            Ok(None) => continue,
            Err(reason) => {
                report.unfiled.push(Unfiled {
                    household: id.to_string(),
                    reason,
                });
                continue;
            }
        };
        let edited = store.edit_household(&id, |e| {
            let mut info = e.household()?.info;
            info.area_code = Some(code);
            e.set_info(&info)
        });
        match edited.map_or_else(refused, |()| Ok(Written::AreaFilled))? {
            Written::Refused(reasons) => report.unfiled.push(Unfiled {
                household: id.to_string(),
                reason: reasons.join(";"),
            }),
            _ => report.filed += 1,
        }
    }
    report.notices = filed.notices(&filing);
    Ok(report)
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
        row_in(no, "三合村", name, rel, id)
    }

    fn row_in(no: &str, village: &str, name: &str, rel: &str, id: &str) -> String {
        format!("{no},{village},{name},,{rel},{id}")
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
            vec![
                "跳过了表头之前的 1 行标题",
                "未导入的列:备注(系统没有对应字段)",
                "本机尚未登记到服务器,还不知道区域表:1 户暂未填区划代码,登记(zoufang enroll)时将按文件中的县、乡镇、村填入"
            ]
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

    /// The national per-person export's household and person columns, a 备注 beside them.
    const FULL_HEADER: &str = "省,市,县,乡镇,行政村,村民小组,户编号,户主姓名,姓名,性别,证件号码,\
        与户主关系,民族,政治面貌,文化程度,在校生状况,失辍学原因,健康状况,残疾证号,劳动技能,\
        务工地点,务工时间(月),是否参加城乡居民基本医疗保险,是否参加大病保险,\
        是否参加城乡居民基本养老保险,是否享受低保,是否特困供养,是否公益岗位,识别标准,\
        贫困户属性,主要致贫原因,其他致贫原因,贫困户状态,脱贫年度,监测对象类别,联系电话,\
        开户银行,银行账号,年度,备注";

    /// One person's row of [`FULL_HEADER`]; `person` is 民族 to 是否公益岗位, `household` is
    /// 识别标准 to 年度.
    fn full_row(
        no: &str,
        village: &str,
        name: &str,
        rel: &str,
        id: &str,
        person: &str,
        household: &str,
    ) -> String {
        format!(
            "云南省,临沧市,凤庆县,诗礼乡,{village},三组,{no},李大山,{name},,{id},{rel},{person},{household},"
        )
    }

    const HEAD: &str =
        "彝族,中共党员,初中,,,残疾,53092119700312011X41,普通劳动力,省外,8,是,是,是,否,否,是";
    const SPOUSE: &str = "汉族,群众,小学,,,健康,,弱劳动力或半劳动力,,,是,否,否,否,否,否";
    const HOUSEHOLD: &str = "国家,一般贫困户,因病,因残、缺技术,已脱贫(享受政策),2019年,脱贫不稳定户,13800000001,凤庆县农村信用合作联社,6221500000000000001,2026";

    /// Household A1's head, as the full-export tests all start.
    fn a1_head() -> String {
        full_row(
            "A1",
            "三合村",
            "李大山",
            "户主",
            &id_number("19700312", "011"),
            HEAD,
            HOUSEHOLD,
        )
    }

    /// Household A1's spouse with the person columns `person`.
    fn a1_spouse(person: &str) -> String {
        full_row(
            "A1",
            "三合村",
            "王秀英",
            "配偶",
            &id_number("19720801", "022"),
            person,
            HOUSEHOLD,
        )
    }

    #[test]
    fn keeps_every_column_of_the_national_export_the_model_has() {
        let (_d, mut s) = store();
        let csv = format!("{FULL_HEADER}\n{}\n{}\n", a1_head(), a1_spouse(SPOUSE),);
        let r = import(&mut s, csv.as_bytes(), today()).expect("import");
        assert_eq!((r.imported, r.bad.len()), (1, 0), "{r:?}");
        assert_eq!(
            r.notices.first().map(String::as_str),
            Some("未导入的列:备注(系统没有对应字段)")
        );
        let h = s.household(&household_id("A1")).expect("stored");
        use zoufang_shared::codes::*;
        let i = &h.info;
        assert_eq!(i.exit_year, Some(2019));
        assert_eq!(i.year, Some(2026));
        assert_eq!(i.status, Some(HouseholdStatus::ExitedSupported));
        assert_eq!(i.standard_level, Some(StandardLevel::National));
        assert_eq!(i.attribute, Some(PovertyAttribute::General));
        assert_eq!(i.main_cause, Some(PovertyCause::Illness));
        assert_eq!(
            i.other_causes,
            [PovertyCause::Disability, PovertyCause::LackSkills].into()
        );
        assert_eq!(i.monitoring, Some(MonitoringCategory::UnstableExited));
        assert_eq!(i.phone.as_deref(), Some("13800000001"));
        assert_eq!(i.bank_name.as_deref(), Some("凤庆县农村信用合作联社"));
        assert_eq!(i.bank_account.as_deref(), Some("6221500000000000001"));
        assert_eq!(
            [
                &i.province,
                &i.city,
                &i.county,
                &i.township,
                &i.village,
                &i.group
            ]
            .map(|v| v.as_deref().unwrap_or("")),
            ["云南省", "临沧市", "凤庆县", "诗礼乡", "三合村", "三组"]
        );
        let head = h.head().expect("head");
        assert_eq!(head.ethnicity.as_deref(), Some("彝族"));
        assert_eq!(head.political, Some(PoliticalStatus::CpcMember));
        assert_eq!(head.education, Some(Education::Junior));
        assert_eq!(head.health, Some(Health::Disabled));
        assert_eq!(
            head.disability_cert.as_deref(),
            Some("53092119700312011X41")
        );
        assert_eq!(head.labour, Some(LabourSkill::Ordinary));
        assert_eq!(head.work_place, Some(WorkPlace::OutsideProvince));
        assert_eq!(head.work_months, Some(8));
        assert_eq!(
            [
                head.medical_insurance,
                head.serious_illness_insurance,
                head.pension_insurance,
                head.dibao,
                head.tekun,
                head.public_job
            ],
            [true, true, true, false, false, true]
        );
        let spouse = h
            .members
            .values()
            .find(|m| m.name == "王秀英")
            .expect("spouse");
        assert_eq!(spouse.political, Some(PoliticalStatus::Masses));
        assert_eq!(spouse.work_place, None);
        assert!(spouse.medical_insurance && !spouse.serious_illness_insurance);
    }

    #[test]
    fn a_bad_value_refuses_its_household_naming_line_and_column() {
        let (_d, mut s) = store();
        let spoilt = SPOUSE
            .replacen("群众", "党员", 1)
            .replacen(",是,否,否", ",有,否,否", 1);
        let csv = format!(
            "{FULL_HEADER}\n{}\n{}\n{}\n",
            a1_head(),
            a1_spouse(&spoilt),
            full_row(
                "B2",
                "三合村",
                "李大山",
                "户主",
                &id_number("19800101", "031"),
                HEAD,
                &HOUSEHOLD.replacen("2019年", "二〇一九", 1).replacen(
                    "因残、缺技术",
                    "因残、缺技术、因学",
                    1
                )
            ),
        );
        let r = import(&mut s, csv.as_bytes(), today()).expect("import");
        assert_eq!(r.imported, 0);
        let reasons: Vec<Vec<String>> = r.bad.iter().map(|b| b.reasons.clone()).collect();
        assert_eq!(
            reasons,
            vec![
                vec![
                    "第 3 行(王秀英):「政治面貌」不认识的值「党员」,可选:中共党员、中共预备党员、共青团员、民主党派、群众".to_owned(),
                    "第 3 行(王秀英):「是否参加城乡居民基本医疗保险」的值「有」应为「是」或「否」".to_owned(),
                ],
                vec![
                    "第 4 行:「其他致贫原因」最多两项,文件中为「因残、缺技术、因学」".to_owned(),
                    "第 4 行:脱贫年度「二〇一九」不是有效的年份".to_owned(),
                ],
            ]
        );
        assert_eq!(s.count().expect("count"), 0);
    }

    /// As enrollment leaves a device: a token, the user's areas and the area tree.
    fn enroll(s: &Store, areas: &str) {
        use zoufang_shared::wire::AreaNode;
        let node = |code: &str, name: &str, level: &str| AreaNode {
            code: code.into(),
            name: name.into(),
            parent: None,
            level: level.into(),
        };
        s.set_setting("token", "t").expect("token");
        s.set_setting("areas", areas).expect("areas");
        s.set_area_tree(&[
            node("530921", "凤庆县", "county"),
            node("530921100", "诗礼乡", "township"),
            node("530921100201", "三合村", "village"),
            node("530921100202", "孔兴村", "village"),
            node("530921200", "小湾镇", "township"),
            node("530921200201", "锦秀村", "village"),
        ])
        .expect("tree");
    }

    fn area(s: &Store, no: &str) -> Option<String> {
        s.household(&household_id(no))
            .expect("stored")
            .info
            .area_code
    }

    #[test]
    fn an_enrolled_device_files_each_household_in_the_village_the_file_names() {
        let (_d, mut s) = store();
        enroll(&s, "530921100");
        let csv = format!(
            "{HEADER}\n{}\n{}\n{}\n",
            row("A1", "李大山", "户主", &id_number("19700312", "011")),
            row_in(
                "B2",
                "孔兴村",
                "王五",
                "户主",
                &id_number("19800101", "031")
            ),
            row_in(
                "C3",
                "锦秀村",
                "赵六",
                "户主",
                &id_number("19810101", "031")
            ),
        );
        let r = import(&mut s, csv.as_bytes(), today()).expect("import");
        assert_eq!(r.imported, 2, "{r:?}");
        assert_eq!(area(&s, "A1").as_deref(), Some("530921100201"));
        assert_eq!(area(&s, "B2").as_deref(), Some("530921100202"));
        assert_eq!(
            r.bad,
            vec![BadHousehold {
                household_no: "C3".into(),
                lines: vec![4],
                reasons: vec![
                    "锦秀村(530921200201)不在您负责的区域内(您负责:诗礼乡(530921100))".into()
                ],
            }]
        );
    }

    #[test]
    fn households_imported_before_enrollment_are_filed_then_or_by_a_new_import() {
        let (_d, mut s) = store();
        let csv = |village: &str| {
            format!(
                "{HEADER}\n{}\n{}\n",
                row("A1", "李大山", "户主", &id_number("19700312", "011")),
                row_in("B2", village, "王五", "户主", &id_number("19800101", "031")),
            )
        };
        let r = import(&mut s, csv("三和村").as_bytes(), today()).expect("import");
        assert_eq!(r.imported, 2);
        assert_eq!((area(&s, "A1"), area(&s, "B2")), (None, None));

        // Two villages: the misspelt one cannot be told by the user's area either.
        enroll(&s, "530921100201,530921100202");
        let placed = place_households(&mut s).expect("place");
        assert_eq!(placed.filed, 1);
        assert_eq!(
            placed.unfiled,
            vec![Unfiled {
                household: "hh-B2".into(),
                reason: "区域表中没有村「三和村」,无法确定该户的区划代码;请核对文件中的乡镇和村"
                    .into()
            }]
        );
        assert_eq!(area(&s, "A1").as_deref(), Some("530921100201"));
        assert_eq!(area(&s, "B2"), None);

        // The corrected file fills the one still without an area, and harms nothing else.
        let r = import(&mut s, csv("孔兴村").as_bytes(), today()).expect("again");
        assert_eq!(
            (r.imported, r.skipped_existing, r.areas_filled, r.bad.len()),
            (0, 1, 1, 0),
            "{r:?}"
        );
        let b2 = s.household(&household_id("B2")).expect("stored");
        assert_eq!(b2.info.area_code.as_deref(), Some("530921100202"));
        assert_eq!(b2.info.village.as_deref(), Some("孔兴村"));
        assert_eq!(place_households(&mut s).expect("place").filed, 0);
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
