//! One household's rows → the household to create, or every reason it cannot be. Only the file is
//! consulted here; what the store already holds is checked by the caller.

use std::collections::HashMap;

use chrono::NaiveDate;
use csv::StringRecord;
use zoufang_shared::CodeList;
use zoufang_shared::codes::{Relation, Sex};
use zoufang_shared::doc::{DocError, Editor};
use zoufang_shared::model::{HouseholdInfo, Member};
use zoufang_shared::rules::resident_id::{self, ResidentId};

use super::columns::{COLUMNS, Column, Header, Level, Read};

/// A household whose rows are all good, as the file gives it.
pub struct Candidate {
    pub info: HouseholdInfo,
    pub persons: Vec<Person>,
}

impl Candidate {
    /// Writes the household into a new document: what an import stores.
    pub fn fill(&self, e: &mut Editor<'_>) -> Result<(), DocError> {
        self.fill_as(e, &self.info)
    }

    /// As [`Candidate::fill`], with `info` (the file's, filed in its area) for the household's.
    pub fn fill_as(&self, e: &mut Editor<'_>, info: &HouseholdInfo) -> Result<(), DocError> {
        e.set_info(info)?;
        for p in &self.persons {
            e.add_member(&p.member)?;
        }
        Ok(())
    }
}

pub struct Person {
    pub line: usize,
    pub member: Member,
    pub id: ResidentId,
}

impl Person {
    /// A reason about this person, in the same form as the file checks give.
    pub fn reason(&self, message: &str) -> String {
        row_reason(self.line, Some(&self.member.name), message)
    }
}

/// Where each resident ID was first seen in the file: its household number and line.
pub type Seen = HashMap<ResidentId, (String, usize)>;

/// A CSV row and its line number in the file.
pub type Row = (usize, StringRecord);

fn row_reason(line: usize, name: Option<&str>, message: &str) -> String {
    match name.filter(|n| !n.is_empty()) {
        Some(name) => format!("第 {line} 行({name}):{message}"),
        None => format!("第 {line} 行:{message}"),
    }
}

/// 户编号 becomes part of the household's id, so it is kept to characters that are safe there.
pub fn valid_household_no(no: &str) -> bool {
    !no.is_empty() && no.chars().all(|c| c.is_ascii_alphanumeric())
}

/// Checks the rows of household `no` (in file order) and records its people in `seen`. The
/// first household to name a person keeps them; a later one naming them again is refused.
pub fn check(
    no: &str,
    rows: &[&Row],
    header: &Header,
    today: NaiveDate,
    seen: &mut Seen,
) -> Result<Candidate, Vec<String>> {
    let mut reasons = Vec::new();
    if !valid_household_no(no) {
        reasons.push(format!("户编号「{no}」只能由字母和数字组成"));
    }
    let info = household_info(no, rows, header, &mut reasons);
    let mut persons = Vec::new();
    // Heads are counted from the relation column alone: a head whose ID is wrong is still the
    // head, and saying "no head" about it would send the surveyor looking for the wrong fault.
    let mut heads = Vec::new();
    for (line, record) in rows {
        let name = header.get(record, Column::Name);
        let mut reader = RowReader {
            header,
            record,
            line: *line,
            name,
            reasons: &mut reasons,
        };
        let (relation, person) = reader.person(today);
        if relation == Some(Relation::Head) {
            heads.push((*line, name));
        }
        persons.extend(person);
    }
    check_heads(rows, header, &heads, &mut reasons);
    check_duplicates(no, &persons, seen, &mut reasons);
    if reasons.is_empty() {
        Ok(Candidate { info, persons })
    } else {
        Err(reasons)
    }
}

fn household_info(
    no: &str,
    rows: &[&Row],
    header: &Header,
    reasons: &mut Vec<String>,
) -> HouseholdInfo {
    // Household columns repeat on every row of the household; a row that disagrees means the
    // export mixed two households under one number, so nothing from it can be trusted.
    let mut values: HashMap<Column, (usize, &str)> = HashMap::new();
    for (line, record) in rows {
        for spec in COLUMNS
            .iter()
            .filter(|s| s.read.level() == Level::Household)
        {
            let Some(v) = header.get(record, spec.column) else {
                continue;
            };
            match values.get(&spec.column) {
                None => {
                    values.insert(spec.column, (*line, v));
                }
                Some((first, seen)) if *seen != v => reasons.push(row_reason(
                    *line,
                    None,
                    &format!(
                        "「{}」为「{v}」,与本户第 {first} 行的「{seen}」不一致",
                        spec.column.header()
                    ),
                )),
                Some(_) => {}
            }
        }
    }
    let mut info = HouseholdInfo {
        household_no: Some(no.to_owned()),
        ..HouseholdInfo::default()
    };
    for spec in COLUMNS {
        if let (Read::Household(apply), Some((line, v))) = (spec.read, values.get(&spec.column))
            && let Err(message) = apply(&mut info, v, spec.column.header())
        {
            reasons.push(row_reason(*line, None, &message));
        }
    }
    info
}

fn check_heads(
    rows: &[&Row],
    header: &Header,
    heads: &[(usize, Option<&str>)],
    reasons: &mut Vec<String>,
) {
    match heads {
        [] => reasons.push("没有户主:本户没有「与户主关系」为「户主」的成员".to_owned()),
        [(line, Some(name))] => {
            let named = rows
                .iter()
                .find_map(|(_, r)| header.get(r, Column::HeadName));
            if let Some(named) = named.filter(|n| n != name) {
                reasons.push(row_reason(
                    *line,
                    Some(name),
                    &format!("户主姓名为「{named}」,与户主本人的姓名「{name}」不一致"),
                ));
            }
        }
        [_] => {}
        many => {
            let lines: Vec<String> = many.iter().map(|(l, _)| l.to_string()).collect();
            reasons.push(format!(
                "有 {} 名户主(第 {} 行),一户只能有一名户主",
                many.len(),
                lines.join("、")
            ));
        }
    }
}

fn check_duplicates(no: &str, persons: &[Person], seen: &mut Seen, reasons: &mut Vec<String>) {
    for p in persons {
        match seen.get(&p.id) {
            Some((other, line)) if other == no => {
                reasons.push(p.reason(&format!("证件号码与本户第 {line} 行的成员重复")));
            }
            Some((other, line)) => reasons.push(p.reason(&format!(
                "此人已在户编号 {other} 中登记(第 {line} 行),同一人不能在两户"
            ))),
            None => {
                seen.insert(p.id.clone(), (no.to_owned(), p.line));
            }
        }
    }
}

/// Reads one person's row, recording a reason for every bad value.
struct RowReader<'a> {
    header: &'a Header,
    record: &'a StringRecord,
    line: usize,
    name: Option<&'a str>,
    reasons: &'a mut Vec<String>,
}

impl RowReader<'_> {
    fn fail(&mut self, message: &str) {
        self.reasons.push(row_reason(self.line, self.name, message));
    }

    fn required(&mut self, column: Column) -> Option<&str> {
        let v = self.header.get(self.record, column);
        if v.is_none() {
            self.fail(&format!("缺少「{}」", column.header()));
        }
        v
    }

    /// The row's relation (when readable) and, when every required value is good, the person.
    fn person(&mut self, today: NaiveDate) -> (Option<Relation>, Option<Person>) {
        // Every column is read before giving up on the row, so one pass reports all its faults.
        let name = self.required(Column::Name).map(str::to_owned);
        let relation = match self.required(Column::Relation) {
            Some(v) => Relation::parse(v)
                .map_err(|e| self.fail(&e.to_string()))
                .ok(),
            None => None,
        };
        let sex = self
            .header
            .get(self.record, Column::Sex)
            .and_then(|v| Sex::parse(v).map_err(|e| self.fail(&e.to_string())).ok());
        let id = self.resident_id(today, sex);
        let mut member = Member::default();
        for spec in COLUMNS {
            if let (Read::Person(apply), Some(v)) =
                (spec.read, self.header.get(self.record, spec.column))
                && let Err(message) = apply(&mut member, v, spec.column.header())
            {
                self.fail(&message);
            }
        }
        let (Some(name), Some(rel), Some(id)) = (name, relation, id) else {
            return (relation, None);
        };
        let member = Member {
            name,
            sex: Some(sex.unwrap_or_else(|| id.sex())),
            id_number: Some(id.as_str().to_owned()),
            relation: Some(rel),
            ..member
        };
        let person = Person {
            line: self.line,
            member,
            id,
        };
        (relation, Some(person))
    }

    fn resident_id(&mut self, today: NaiveDate, sex: Option<Sex>) -> Option<ResidentId> {
        let text = self.required(Column::IdNumber)?;
        if text.contains("E+") || text.contains("e+") {
            self.fail("证件号码被表格软件改成了科学计数法,原号码已丢失;请把该列设为文本后重新导出");
            return None;
        }
        let id = ResidentId::parse_on(text, today)
            .map_err(|e| self.fail(&e.to_string()))
            .ok()?;
        if let Some(sex) = sex {
            resident_id::check_sex(&id, sex)
                .map_err(|e| self.fail(&e.to_string()))
                .ok()?;
        }
        Some(id)
    }
}
