//! Checks that need no store: `check-id` and `assess` of a household file.

use std::path::Path;
use std::process::ExitCode;

use chrono::{Datelike, NaiveDate};
use zoufang_shared::CodeList;
use zoufang_shared::codes::Sex;
use zoufang_shared::model::Household;
use zoufang_shared::rules::assessment::{self, Assessment};
use zoufang_shared::rules::checks::{self, Finding};
use zoufang_shared::rules::resident_id::{self, ResidentId};
use zoufang_shared::rules::standards::Standards;

use super::output::{Text, emit_json};
use super::{Context, Failure, Outcome, read_file, today};

pub fn check_id(ctx: &Context, number: &str, sex: Option<&str>) -> Outcome {
    // The sex is an argument, so a bad one is a usage error, not a finding about the number.
    let sex = sex.map(Sex::parse).transpose()?;
    let id = ResidentId::parse_on(number, today())
        .and_then(|id| match sex {
            Some(s) => resident_id::check_sex(&id, s).map(|()| id),
            None => Ok(id),
        })
        .map_err(|e| Failure::problem(e.to_string()))?;
    if ctx.json {
        emit_json(&serde_json::json!({
            "valid": true,
            "birth_date": id.birth_date(),
            "sex": id.sex(),
        }))?;
    } else {
        let mut t = Text::default();
        t.line(format_args!(
            "有效:出生日期 {},性别 {}",
            id.birth_date(),
            id.sex().label()
        ));
        t.emit()?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The year a household is assessed for when none is asked: its latest income year, else its
/// survey year, else this year.
pub fn assessment_year(h: &Household, on: NaiveDate) -> i32 {
    h.incomes
        .keys()
        .next_back()
        .copied()
        .or(h.info.year)
        .unwrap_or_else(|| on.year())
}

/// The lines `assess` and `show` print for a verdict and the findings.
pub fn describe(t: &mut Text, year: i32, verdict: &Assessment, findings: &[Finding]) {
    let result = if verdict.passed {
        "达标"
    } else {
        "未达标"
    };
    t.line(format_args!("{year} 年评估:{result}"));
    if let Some(s) = &verdict.standard {
        t.line(format_args!("  标准:{}", s.citation()));
    }
    if let Some(n) = &verdict.notice {
        t.line(format_args!("  注意:{n}"));
    }
    if let Some(i) = &verdict.income {
        t.line(format_args!("  人均纯收入:{} 元", i.per_capita));
    }
    for f in &verdict.failures {
        t.line(format_args!("  ✗ {f}"));
    }
    if !findings.is_empty() {
        t.line("数据检查:");
        for f in findings {
            t.line(format_args!("  {f}"));
        }
    }
}

pub fn assess(ctx: &Context, file: &Path, year: Option<i32>, on: Option<NaiveDate>) -> Outcome {
    let bytes = read_file(file)?;
    let household: Household =
        serde_json::from_slice(&bytes).map_err(|e| Failure::error(format!("农户数据无效:{e}")))?;
    let standards = Standards::builtin().map_err(|e| Failure::error(e.to_string()))?;
    let on = on.unwrap_or_else(today);
    let year = year.unwrap_or_else(|| assessment_year(&household, on));
    let verdict = assessment::assess(&household, year, on, &standards);
    let findings = checks::check_household(&household, on, &standards);
    if ctx.json {
        emit_json(&serde_json::json!({
            "year": year,
            "assessment": verdict,
            "findings": findings,
        }))?;
    } else {
        let mut t = Text::default();
        describe(&mut t, year, &verdict, &findings);
        t.emit()?;
    }
    Ok(if verdict.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
