//! The roster: the households a filter (a report's cell, the checks page) selects.

use chrono::NaiveDate;
use maud::{Markup, html};
use zoufang_shared::CodeList;
use zoufang_shared::codes::*;

use crate::report::CaseWindow;
use crate::report::roster::{RosterFilter, RosterRow};
use crate::storage::Area;
use crate::web::{RosterParams, Viewer};

use super::layout::{area_name, area_select, layout, query_string, status_label, yuan};

/// What a roster filter shows, in words.
fn filter_words(f: &RosterFilter, areas: &[Area]) -> Vec<String> {
    let mut w = vec![area_name(areas, &f.area)];
    if let Some(s) = &f.status {
        w.push(status_label(s));
    }
    if let Some(c) = &f.case {
        if let Some(k) = c.kind.as_deref().and_then(|k| CaseKind::parse(k).ok()) {
            w.push(k.label().into());
        }
        if let Some(b) = c.bucket {
            w.push(b.label().into());
        }
        if c.missed {
            w.push("漏评".into());
        }
        if c.objected {
            w.push("公示有异议".into());
        }
        w.push(match &c.window {
            CaseWindow::Round(id) => format!("工作批次 {id}"),
            CaseWindow::Period { from, to } => format!("{from} 至 {to} 提出"),
        });
    }
    match f.flag.as_deref() {
        Some("error") => w.push("有错误".into()),
        Some("warning") => w.push("有警告".into()),
        Some("income_jump") => w.push("收入与上年相差十倍以上".into()),
        Some(other) => w.push(format!("核查项 {other}")),
        None => {}
    }
    if f.conflicted {
        w.push("有冲突".into());
    }
    if f.helper_key.is_some() {
        w.push("同一帮扶责任人".into());
    }
    if let Some(d) = f.not_visited_since {
        w.push(format!("{d} 以来未走访"));
    }
    if f.exit_failing {
        w.push("退出已审核但未达标".into());
    }
    if let Some(q) = &f.search {
        w.push(format!("含「{q}」"));
    }
    w
}

/// The columns the roster sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RosterSort {
    Name,
    Village,
    Status,
    Persons,
    Income,
    Case,
    Step,
    Visit,
    Flags,
}

impl RosterSort {
    const COLUMNS: [(RosterSort, &'static str, &'static str); 9] = [
        (RosterSort::Name, "name", "户主"),
        (RosterSort::Village, "village", "村"),
        (RosterSort::Status, "status", "户状态"),
        (RosterSort::Persons, "persons", "人口"),
        (RosterSort::Income, "income", "人均纯收入"),
        (RosterSort::Case, "case", "事项"),
        (RosterSort::Step, "step", "环节"),
        (RosterSort::Visit, "visit", "最近走访"),
        (RosterSort::Flags, "flags", "问题"),
    ];
}

/// Problems a row carries, worst first: errors, conflicts, warnings.
fn flags(r: &RosterRow) -> (i64, i64, i64) {
    (r.errors, r.conflicts, r.warnings)
}

/// The label of the household's open case kind, and of where that case stands on `today`.
fn case_labels(r: &RosterRow, today: NaiveDate) -> (Option<&'static str>, Option<&'static str>) {
    let kind = r.case_kind.as_deref().and_then(|k| CaseKind::parse(k).ok());
    (
        kind.map(|k| k.label()),
        r.case_bucket(today).map(|b| b.label()),
    )
}

/// Sorts rows by a column (ties by area and id, so the order is the same every time); `today`
/// places a case in 公示中 or 公示结束.
pub fn sort_roster(
    rows: &mut [RosterRow],
    by: RosterSort,
    desc: bool,
    areas: &[Area],
    today: NaiveDate,
) {
    let village: std::collections::HashMap<&str, String> = rows
        .iter()
        .map(|r| (r.area_code.as_str(), area_name(areas, &r.area_code)))
        .collect();
    let mut keyed: Vec<(usize, &RosterRow)> = rows.iter().enumerate().collect();
    keyed.sort_by(|(_, a), (_, b)| {
        let order = match by {
            RosterSort::Name => a.head_name.cmp(&b.head_name),
            RosterSort::Village => {
                village[a.area_code.as_str()].cmp(&village[b.area_code.as_str()])
            }
            RosterSort::Status => a.status.cmp(&b.status),
            RosterSort::Persons => a.persons.cmp(&b.persons),
            RosterSort::Income => a.per_capita.cmp(&b.per_capita),
            RosterSort::Case => a.case_kind.cmp(&b.case_kind),
            // In procedure order, not by label.
            RosterSort::Step => a.case_bucket(today).cmp(&b.case_bucket(today)),
            RosterSort::Visit => a.last_visit.cmp(&b.last_visit),
            RosterSort::Flags => flags(a).cmp(&flags(b)),
        };
        let order = if desc { order.reverse() } else { order };
        order.then_with(|| (&a.area_code, &a.id).cmp(&(&b.area_code, &b.id)))
    });
    let order: Vec<usize> = keyed.into_iter().map(|(i, _)| i).collect();
    let sorted: Vec<RosterRow> = order.into_iter().map(|i| rows[i].clone()).collect();
    rows.clone_from_slice(&sorted);
}

/// What the roster page shows.
pub struct RosterView<'a> {
    pub params: &'a RosterParams,
    pub filter: &'a RosterFilter,
    pub rows: &'a [RosterRow],
    pub total: (i64, i64),
    pub areas: &'a [Area],
    pub limit: i64,
    /// The column sorted by and whether descending; none: by area, a page at a time.
    pub sort: Option<(RosterSort, bool)>,
    pub today: NaiveDate,
}

pub fn roster_page(viewer: &Viewer, v: &RosterView<'_>) -> Markup {
    let (filter, rows, areas) = (v.filter, v.rows, v.areas);
    let base = v.params.query();
    let next = (v.sort.is_none() && rows.len() as i64 == v.limit)
        .then(|| rows.last())
        .flatten()
        .map(|r| {
            format!(
                "/roster?{base}&{}",
                query_string(&[("after", format!("{}|{}", r.area_code, r.id))])
            )
        });
    let sort_link = |col: RosterSort, code: &str| {
        let desc = v.sort == Some((col, false));
        format!(
            "/roster?{base}&{}",
            query_string(&[
                ("sort", code),
                ("desc", if desc { "true" } else { "false" })
            ])
        )
    };
    layout(
        Some(viewer),
        "花名册",
        html! {
            h1 { "花名册" }
            p.filter-words { (filter_words(filter, areas).join(" · ")) }
            form.filters method="get" action="/roster" {
                (area_select(areas, &filter.area))
                input type="search" name="q" placeholder="户主姓名或户编号" value=[filter.search.as_deref()];
                @for (k, val) in hidden_filters(v.params) { input type="hidden" name=(k) value=(val); }
                button type="submit" { "查询" }
            }
            p { "共 " strong.total { (v.total.0) } " 户 " (v.total.1) " 人" }
            p.actions {
                a.button href={ "/export/roster?" (base) "&format=xlsx" } { "导出 Excel" }
                a.button href={ "/export/roster?" (base) "&format=csv" } { "导出 CSV" }
            }
            @if rows.is_empty() { p.muted { "没有符合条件的农户。" } }
            @if v.sort.is_some() && v.total.0 > rows.len() as i64 {
                p.flag { "只排序了前 " (rows.len()) " 户,请先缩小范围。" }
            }
            div.scroll.wide-only { table.roster {
                thead { tr {
                    @for (col, code, label) in RosterSort::COLUMNS {
                        th { a href=(sort_link(col, code)) {
                            (label)
                            @match v.sort { Some((s, d)) if s == col => { (if d { " ▼" } else { " ▲" }) } _ => {} }
                        } }
                    }
                } }
                tbody {
                    @for r in rows {
                        @let (kind, step) = case_labels(r, v.today);
                        tr {
                            td { a href={ "/households/" (r.id) } { (r.head_name) } }
                            td { (area_name(areas, &r.area_code)) }
                            td { @if let Some(s) = &r.status { (status_label(s)) } @if let Some(m) = &r.monitoring { " " span.muted { (status_label(m)) } } }
                            td { (r.persons) }
                            td { @if let Some(pc) = r.per_capita { (yuan(pc)) } }
                            td { (kind.unwrap_or_default()) }
                            td { (step.unwrap_or_default()) }
                            td { (r.last_visit.clone().unwrap_or_default()) }
                            td {
                                @if r.errors > 0 { span.badge.warn { (r.errors) " 错误" } }
                                @if r.conflicts > 0 { span.badge.warn { (r.conflicts) " 冲突" } }
                                @if r.warnings > 0 { span.badge { (r.warnings) " 警告" } }
                            }
                        }
                    }
                }
            } }
            ul.cards.narrow-only {
                @for r in rows {
                    li.card {
                        a href={ "/households/" (r.id) } {
                            strong { (r.head_name) }
                            " " span.muted { (area_name(areas, &r.area_code)) " · " (r.persons) "人" }
                            br;
                            @if let Some(s) = &r.status { span.badge { (status_label(s)) } }
                            @if let Some(m) = &r.monitoring { span.badge { (status_label(m)) } }
                            @if let Some(pc) = r.per_capita { span.badge { "人均 " (yuan(pc)) " 元" } }
                            @if r.errors > 0 { span.badge.warn { (r.errors) " 个错误" } }
                            @if r.conflicts > 0 { span.badge.warn { (r.conflicts) " 处冲突" } }
                            @if let (Some(kind), Some(step)) = case_labels(r, v.today) { br; span.muted { (kind) " · " (step) } }
                            @if let Some(id) = &r.head_id { br; span.muted { "户主证件 " (id) } }
                        }
                    }
                }
            }
            @if let Some(n) = next { p { a.button href=(n) { "下一页" } } }
        },
    )
}

/// The filters of a roster other than area and search, carried through the search form.
fn hidden_filters(p: &RosterParams) -> Vec<(&'static str, String)> {
    let all: [(&'static str, &Option<String>); 13] = [
        ("from", &p.period.from),
        ("to", &p.period.to),
        ("status", &p.status),
        ("kind", &p.kind),
        ("bucket", &p.bucket),
        ("missed", &p.missed),
        ("objected", &p.objected),
        ("flag", &p.flag),
        ("conflicted", &p.conflicted),
        ("helper", &p.helper),
        ("unvisited", &p.unvisited),
        ("exit_failing", &p.exit_failing),
        ("after", &None),
    ];
    all.iter()
        .filter_map(|(k, v)| {
            v.as_ref()
                .filter(|v| !v.is_empty())
                .map(|v| (*k, v.clone()))
        })
        .collect()
}
