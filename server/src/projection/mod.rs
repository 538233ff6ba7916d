//! The projection: what supervisors query, derived from each merged household document.
//!
//! Documents are the truth; these rows are a pure function of one document, recomputed and
//! rewritten in the same transaction that stores the document (sync merges and server edits
//! alike), so a report never disagrees with what was merged. Because the function reads nothing
//! but the document — checks run as of the day of its newest change, not "today" — rebuilding
//! every row from the stored documents (`zoufang-server reindex`) gives identical tables.
//!
//! Rows are handed to storage as plain values per table ([`TableRows`], defined with the tables
//! in `zoufang_storage::projection`) so that one piece of SQL writes them on either backend.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use zoufang_shared::CodeList;
use zoufang_shared::codes::ProcedureStep;
use zoufang_shared::doc::{DocError, HouseholdDoc, Reading};
use zoufang_shared::model::{CaseStage, Household};
use zoufang_shared::rules::assessment::{Assessment, assess};
use zoufang_shared::rules::checks::{Severity, check_household, judged_year};
use zoufang_shared::rules::income::net_income;

use crate::storage::{HouseholdWrite, NewChange};
pub use zoufang_storage::projection::{
    CASES, CONFLICTS, FLAGS, HELPERS, HOUSEHOLDS, MEMBERS, Projection, STEPS, TABLES, Table,
    TableRows, VISITS, Val,
};

pub mod reindex;

/// The write that stores a merged or edited document: its bytes, its area and its projection,
/// so every path that stores a document keeps the projection current.
pub fn household_write(
    id: &str,
    doc: &mut HouseholdDoc,
    expected_version: Option<i64>,
    changes: Vec<NewChange>,
) -> Result<HouseholdWrite, DocError> {
    let reading = doc.read_all()?;
    household_write_read(id, doc, reading, expected_version, changes)
}

/// [`household_write`] of a document already read (a merge reads it to check it).
pub fn household_write_read(
    id: &str,
    doc: &mut HouseholdDoc,
    reading: Reading,
    expected_version: Option<i64>,
    changes: Vec<NewChange>,
) -> Result<HouseholdWrite, DocError> {
    let projection = project_read(id, doc, reading)?;
    Ok(HouseholdWrite {
        id: id.to_owned(),
        // Read once, by the projection: a merge is the hot path.
        area_code: projection.area_code.clone(),
        doc: doc.save(),
        expected_version,
        changes,
        projection,
        // The caller that merged onto a stored version knows what it wrote, if anything.
        projected_before: None,
    })
}

/// China Standard Time: "the day" of a change, a visit or a publicity period is a local day.
pub fn local_offset() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// Today in China Standard Time.
pub fn today() -> NaiveDate {
    Utc::now().with_timezone(&local_offset()).date_naive()
}

/// The key that makes one helper one person across households: name and unit, trimmed.
pub fn helper_key(name: &str, unit: Option<&str>) -> String {
    format!("{}|{}", name.trim(), unit.unwrap_or("").trim())
}

/// When a document last changed, by its changes' own timestamps.
fn newest_change(doc: &mut HouseholdDoc) -> Option<DateTime<Utc>> {
    doc.history().iter().filter_map(|c| c.at).max()
}

/// The day a document's checks and verdict are judged on: that of its newest change, so that
/// reindexing gives the rows a merge gave.
fn judged_on(newest: Option<DateTime<Utc>>) -> NaiveDate {
    newest
        .map(|t| t.with_timezone(&local_offset()).date_naive())
        .unwrap_or(NaiveDate::MIN)
}

/// The verdict the projection records for a document read as `h` (the roster's
/// `failed_criteria`), with the year it is for: the review API shows it whole, so a device's
/// verdict can be compared with the server's line, amount and notice, not only pass or fail.
pub fn verdict(doc: &mut HouseholdDoc, h: &Household) -> (i32, Assessment) {
    verdict_on(h, judged_on(newest_change(doc)))
}

fn verdict_on(h: &Household, as_of: NaiveDate) -> (i32, Assessment) {
    let year = judged_year(h, as_of);
    let table = crate::standards::current();
    (year, assess(h, year, as_of, &table.standards))
}

/// Builds the projection of a document.
pub fn project(id: &str, doc: &mut HouseholdDoc) -> Result<Projection, DocError> {
    let reading = doc.read_all()?;
    project_read(id, doc, reading)
}

/// [`project`] of a document already read.
pub fn project_read(
    id: &str,
    doc: &mut HouseholdDoc,
    reading: Reading,
) -> Result<Projection, DocError> {
    let Reading {
        household: h,
        conflicts,
    } = reading;
    let newest = newest_change(doc);
    let as_of = judged_on(newest);
    let area = h.info.area_code.clone().unwrap_or_default();
    let table = crate::standards::current();
    let findings = check_household(&h, as_of, &table.standards);

    let mut tables = Projection::empty(id).tables;
    let persons = h.size() as i64;
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count() as i64;

    let counts = [
        errors,
        findings.len() as i64 - errors,
        conflicts.len() as i64,
    ];
    tables[0]
        .rows
        .push(household_row(id, &h, &area, counts, as_of, newest));
    for (mid, m) in &h.members {
        tables[1].rows.push(vec![
            id.into(),
            mid.as_str().into(),
            area.as_str().into(),
            m.name.as_str().into(),
            m.id_number.clone().into(),
            m.sex.map(|s| s.code()).into(),
            m.relation.map(|r| r.code()).into(),
            m.birth_date.into(),
            m.health.map(|x| x.code()).into(),
            i64::from(m.is_current()).into(),
        ]);
    }
    for (cid, c) in &h.cases {
        let (stage, step) = match c.stage() {
            CaseStage::Proposed => ("proposed", None),
            CaseStage::Passed(s) => ("passed", Some(s.code())),
            CaseStage::Returned(s) => ("returned", Some(s.code())),
            CaseStage::Rejected(s) => ("rejected", Some(s.code())),
        };
        let publicity = c.passed(ProcedureStep::Publicity);
        let objections: usize = c.steps.values().map(|s| s.objections.len()).sum();
        let announced_on = (c.stage() == CaseStage::Passed(ProcedureStep::Announcement))
            .then(|| c.passed(ProcedureStep::Announcement).map(|r| r.date))
            .flatten();
        let (poor_move, exited_move) = match announced_on {
            Some(_) => zoufang_shared::rules::outcome::register_deltas(c),
            None => (0, 0),
        };
        let case_persons = if c.members.is_empty() {
            persons
        } else {
            c.members.len() as i64
        };
        tables[2].rows.push(vec![
            id.into(),
            cid.as_str().into(),
            area.as_str().into(),
            c.kind.code().into(),
            c.origin.map(|o| o.code()).into(),
            c.proposed_on.into(),
            stage.into(),
            step.into(),
            case_persons.into(),
            publicity.and_then(|p| p.publicity_start).into(),
            publicity.and_then(|p| p.publicity_end).into(),
            (objections as i64).into(),
            zoufang_shared::rounds::case_round_id(c).into(),
            announced_on.into(),
            poor_move.into(),
            exited_move.into(),
        ]);
        for (sid, s) in &c.steps {
            tables[3].rows.push(vec![
                id.into(),
                cid.as_str().into(),
                sid.as_str().into(),
                s.step.code().into(),
                s.outcome.code().into(),
                s.date.into(),
                s.actor.as_str().into(),
                s.comment.as_str().into(),
            ]);
        }
    }
    for (vid, v) in &h.visits {
        tables[4].rows.push(vec![
            id.into(),
            vid.as_str().into(),
            v.date.into(),
            v.visitor.as_str().into(),
            v.mode.code().into(),
        ]);
    }
    for (hid, helper) in &h.helpers {
        tables[5].rows.push(vec![
            id.into(),
            hid.as_str().into(),
            area.as_str().into(),
            helper.name.as_str().into(),
            helper.unit.clone().into(),
            helper_key(&helper.name, helper.unit.as_deref()).into(),
        ]);
    }
    for (n, f) in findings.iter().enumerate() {
        tables[6].rows.push(vec![
            id.into(),
            (n as i64).into(),
            area.as_str().into(),
            f.code.into(),
            f.severity.code().into(),
            f.message.as_str().into(),
            f.member.as_ref().map(|m| m.as_str()).into(),
        ]);
    }
    for c in &conflicts {
        tables[7].rows.push(vec![
            id.into(),
            c.path_string().into(),
            area.as_str().into(),
            (c.values.len() as i64).into(),
        ]);
    }
    Ok(Projection {
        household_id: id.to_owned(),
        area_code: area,
        tables,
    })
}

/// `counts`: errors, warnings, conflicted fields.
fn household_row(
    id: &str,
    h: &Household,
    area: &str,
    counts: [i64; 3],
    as_of: NaiveDate,
    newest: Option<DateTime<Utc>>,
) -> Vec<Val> {
    let [errors, warnings, conflicts] = counts;
    let failed: Vec<&str> = verdict_on(h, as_of)
        .1
        .failed_criteria()
        .iter()
        .map(|c| c.code())
        .collect();
    let head = h.head();
    let (latest, previous) = h.latest_incomes();
    let persons = h.size() as i64;
    let net = latest.and_then(|(_, i)| net_income(i).ok()).map(|f| f.0);
    let last_visit = h.visits.values().map(|v| v.date).max();
    vec![
        id.into(),
        area.into(),
        h.info.household_no.clone().into(),
        head.map(|m| m.name.clone()).unwrap_or_default().into(),
        head.and_then(|m| m.id_number.clone()).into(),
        h.info.phone.clone().into(),
        h.info.status.map(|s| s.code()).into(),
        h.info.monitoring.map(|s| s.code()).into(),
        h.info.attribute.map(|s| s.code()).into(),
        h.info.main_cause.map(|s| s.code()).into(),
        persons.into(),
        latest.map(|(y, _)| i64::from(y)).into(),
        net.into(),
        net.filter(|_| persons > 0).map(|n| n / persons).into(),
        previous
            .and_then(|(_, i)| net_income(i).ok())
            .map(|f| f.0)
            .into(),
        last_visit.into(),
        errors.into(),
        warnings.into(),
        conflicts.into(),
        failed.join(",").into(),
        newest.map(|t| t.to_rfc3339()).unwrap_or_default().into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use zoufang_shared::doc::ChangeAuthor;

    #[test]
    fn every_row_has_a_value_per_column() {
        let author = ChangeAuthor::new("u", "d", Utc::now());
        let (mut doc, ()) = HouseholdDoc::create_with(
            &zoufang_shared::ids::HouseholdId::random(),
            zoufang_shared::doc::ActorId::random(),
            &author,
            zoufang_shared::demo::fill_typical,
        )
        .expect("demo household");
        let p = project("h1", &mut doc).expect("projection");
        for t in &p.tables {
            for row in &t.rows {
                assert_eq!(row.len(), t.table.columns.len(), "{}", t.table.name);
            }
        }
        assert_eq!(p.tables[0].rows.len(), 1);
        assert!(!p.tables[1].rows.is_empty(), "members are projected");
    }

    #[test]
    fn the_verdict_shown_is_the_one_the_row_records() {
        let author = ChangeAuthor::new("u", "d", Utc::now());
        let (mut doc, ()) = HouseholdDoc::create_with(
            &zoufang_shared::ids::HouseholdId::random(),
            zoufang_shared::doc::ActorId::random(),
            &author,
            |e| {
                zoufang_shared::demo::fill_typical(e)?;
                // A failure of the demo household's own, so the row has something to list.
                let mut living = e.household()?.living;
                living.house_grade = Some(zoufang_shared::codes::HouseGrade::D);
                living.house_renovated = Some(false);
                e.set_living(&living)
            },
        )
        .expect("demo household");
        let p = project("h1", &mut doc).expect("projection");
        let h = doc.read().expect("read");
        let (year, a) = verdict(&mut doc, &h);
        let column = |name| {
            let i = HOUSEHOLDS
                .columns
                .iter()
                .position(|c| *c == name)
                .expect("column");
            p.tables[0].rows[0][i].clone()
        };
        let failed: Vec<&str> = a.failed_criteria().iter().map(|c| c.code()).collect();
        assert!(failed.contains(&"housing"), "{failed:?}");
        assert_eq!(column("failed_criteria"), Val::from(failed.join(",")));
        assert_eq!(column("income_year"), Val::Int(Some(i64::from(year))));
    }
}
