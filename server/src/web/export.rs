//! Downloads: the report and rosters as XLSX or CSV, masked like the pages for the role.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::pages::{area_name, status_label};
use super::report::RosterParams;
use super::{PageError, PeriodParams, Viewer};
use crate::export::{CSV_CONTENT_TYPE, Cell, Table, XLSX_CONTENT_TYPE, content_disposition};
use crate::report::{Bucket, Report};
use crate::state::Shared;
use crate::storage::Database;

/// A roster export stops here; a county is about 100,000 households.
const MAX_EXPORT_ROWS: usize = 500_000;
const EXPORT_PAGE: i64 = 5_000;

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Xlsx,
    Csv,
}

#[derive(Debug, Default, Deserialize)]
pub struct FormatParam {
    #[serde(default)]
    pub format: Format,
}

pub(super) fn download(table: &Table, stem: &str, format: Format) -> Result<Response, PageError> {
    let (bytes, content_type, ext) = crate::heavy::cpu(|| {
        Ok::<_, PageError>(match format {
            Format::Csv => (table.to_csv(), CSV_CONTENT_TYPE, "csv"),
            Format::Xlsx => (
                table.to_xlsx().map_err(|e| {
                    tracing::error!(error = %e, "xlsx export");
                    PageError::bad_request(format!("无法生成 Excel 文件:{e}"))
                })?,
                XLSX_CONTENT_TYPE,
                "xlsx",
            ),
        })
    })?;
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, content_disposition(stem, ext)),
        ],
        bytes,
    )
        .into_response())
}

fn hp_cells(h: crate::report::Hp) -> [Cell; 2] {
    [Cell::Int(h.households), Cell::Int(h.persons)]
}

/// The report as one table: a block of status lines, one of case lines and one of rates, for
/// the area and each area below it. Counts stand in 户数/人数 and the procedure columns; a rate
/// stands in its own columns with its numerator, denominator and formula, so a county can redo
/// the arithmetic from the file alone.
pub fn report_table(r: &Report) -> Table {
    let mut headers: Vec<String> = vec!["区域".into(), "类别".into(), "项目".into()];
    headers.extend(["户数".to_owned(), "人数".to_owned()]);
    for b in Bucket::ALL {
        headers.push(format!("{}(户)", b.label()));
        headers.push(format!("{}(人)", b.label()));
    }
    headers.extend(
        [
            "公示有异议(户)",
            "公示有异议(人)",
            "分子",
            "分母",
            "比率",
            "计算公式",
        ]
        .map(String::from),
    );
    // Index of the first rate column: after the counts, buckets and objections.
    let rate_at = 5 + 2 * Bucket::ALL.len() + 2;
    let mut rows = Vec::new();
    for section in std::iter::once(&r.total).chain(&r.children) {
        let start = |category: &str, item: &str| {
            vec![
                Cell::Text(section.area_name.clone()),
                Cell::Text(category.into()),
                Cell::Text(item.into()),
            ]
        };
        for l in &section.by_status {
            let mut row = start("户状态", &l.label);
            row.extend(hp_cells(l.count));
            rows.push(row);
        }
        for c in &section.by_case {
            let mut row = start("动态管理事项", &c.label);
            row.extend(hp_cells(c.total));
            for b in &c.buckets {
                row.extend(hp_cells(*b));
            }
            row.extend(hp_cells(c.objected));
            rows.push(row);
        }
        let basis = &section.basis;
        for (label, fraction) in [
            ("错评率", basis.wrong_entry),
            ("错退率", basis.wrongful_exit),
            ("贫困发生率", basis.poverty_incidence),
        ] {
            let mut row = start("比率", label);
            row.resize(rate_at, Cell::Empty);
            row.extend([
                Cell::Int(fraction.part),
                Cell::Int(fraction.whole),
                fraction.ratio().map(Cell::Percent).unwrap_or(Cell::Empty),
                Cell::Text(formula(label).into()),
            ]);
            rows.push(row);
        }
        let mut missed = start("比率", "漏评");
        missed.extend(hp_cells(section.rates.missed));
        missed.resize(rate_at + 3, Cell::Empty);
        missed.push(Cell::Text(formula("漏评").into()));
        rows.push(missed);
    }
    Table {
        title: format!("动态管理统计 {} 至 {}", r.from, r.to),
        headers,
        rows,
    }
}

fn formula(label: &str) -> &'static str {
    crate::report::RATE_FORMULAS
        .iter()
        .find(|(l, _)| *l == label)
        .map_or("", |(_, f)| f)
}

#[tracing::instrument(skip_all, fields(user = %viewer.user.username))]
pub async fn report<D: Database>(
    State(state): State<Shared<D>>,
    viewer: Viewer,
    Query(params): Query<PeriodParams>,
    Query(f): Query<FormatParam>,
) -> Result<Response, PageError> {
    let r = super::report_of(&state, &viewer, &params).await?;
    let table = report_table(&r);
    download(
        &table,
        &format!("动态管理统计-{}", r.total.area_name),
        f.format,
    )
}

#[tracing::instrument(skip_all, fields(user = %viewer.user.username))]
pub async fn roster<D: Database>(
    State(state): State<Shared<D>>,
    viewer: Viewer,
    Query(params): Query<RosterParams>,
    Query(f): Query<FormatParam>,
) -> Result<Response, PageError> {
    let review = viewer.review(&state);
    let mut filter = params.filter(&viewer, state.config.no_visit_days, EXPORT_PAGE)?;
    filter.after = None;
    let areas = review.readable_areas().await?;
    let area_name = |code: &str| area_name(&areas, code);
    let headers = [
        "户编号",
        "区划代码",
        "所在区域",
        "户主姓名",
        "户主证件号码",
        "联系电话",
        "户状态",
        "监测类别",
        "家庭人口",
        "收入年度",
        "人均纯收入(元)",
        "最近走访",
        "错误",
        "警告",
        "冲突",
    ];
    let mut rows = Vec::new();
    loop {
        let page = review.roster(&filter).await?;
        let Some(last) = page.last() else { break };
        filter.after = Some((last.area_code.clone(), last.id.clone()));
        let full = page.len() as i64 == filter.limit;
        for r in page {
            rows.push(vec![
                r.household_no.into(),
                Cell::Text(r.area_code.clone()),
                Cell::Text(area_name(&r.area_code)),
                Cell::Text(r.head_name),
                r.head_id.into(),
                r.phone.into(),
                Cell::Text(r.status.as_deref().map(status_label).unwrap_or_default()),
                Cell::Text(
                    r.monitoring
                        .as_deref()
                        .map(status_label)
                        .unwrap_or_default(),
                ),
                Cell::Int(r.persons),
                r.income_year.into(),
                r.per_capita.map(Cell::Fen).unwrap_or(Cell::Empty),
                r.last_visit.into(),
                Cell::Int(r.errors),
                Cell::Int(r.warnings),
                Cell::Int(r.conflicts),
            ]);
        }
        if !full || rows.len() >= MAX_EXPORT_ROWS {
            break;
        }
    }
    let table = Table {
        title: "花名册".into(),
        headers: headers.iter().map(|h| (*h).to_owned()).collect(),
        rows,
    };
    download(
        &table,
        &format!("花名册-{}", area_name(&filter.area)),
        f.format,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{ReportQuery, StatusCount, build};
    use crate::storage::Area;

    fn cell<'a>(t: &'a Table, item: &str, header: &str) -> &'a Cell {
        let col = t.headers.iter().position(|h| h == header).expect(header);
        let row = t
            .rows
            .iter()
            .find(|r| r[2] == Cell::Text(item.into()))
            .expect(item);
        &row[col]
    }

    #[test]
    fn rates_stand_in_their_own_columns_with_their_arithmetic() {
        let day = chrono::NaiveDate::from_ymd_opt(2017, 7, 1).expect("date");
        let q = ReportQuery::over_period("530921100", day, day, day);
        let areas = [Area {
            code: "530921100".into(),
            name: "诗礼乡".into(),
            parent: None,
            level: "township".into(),
        }];
        let status = |status: &str, households, persons| StatusCount {
            area_code: "530921100".into(),
            status: Some(status.into()),
            monitoring: None,
            households,
            persons,
        };
        let statuses = [
            status("not_exited", 1_415, 5_000),
            status("exited_supported", 1_667, 6_645),
        ];
        let t = report_table(&build(
            &q,
            &areas,
            crate::report::Counts {
                statuses: &statuses,
                ..Default::default()
            },
        ));
        assert_eq!(cell(&t, "错评率", "分母"), &Cell::Int(1_415));
        assert_eq!(cell(&t, "错退率", "分母"), &Cell::Int(1_667));
        assert_eq!(cell(&t, "错评率", "比率"), &Cell::Percent(0.0));
        assert_eq!(
            cell(&t, "错评率", "户数"),
            &Cell::Empty,
            "a rate is no count"
        );
        assert_eq!(
            cell(&t, "错评率", "计算公式"),
            &Cell::Text("错评剔除户 ÷ 批次开始时在册未脱贫户(未脱贫、返贫)".into())
        );
        assert_eq!(cell(&t, "贫困发生率", "分子"), &Cell::Int(5_000));
        assert!(t.headers.contains(&"公示有异议(户)".to_owned()));
        assert!(t.rows.iter().all(|r| r.len() <= t.headers.len()));
    }
}
