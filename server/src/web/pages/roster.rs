//! The roster: the households a filter (a report's cell, the checks page) selects.

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

pub fn roster_page(
    viewer: &Viewer,
    params: &RosterParams,
    filter: &RosterFilter,
    rows: &[RosterRow],
    total: (i64, i64),
    areas: &[Area],
    limit: i64,
) -> Markup {
    let base = params.query();
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last())
        .flatten()
        .map(|r| {
            format!(
                "/roster?{base}&{}",
                query_string(&[("after", format!("{}|{}", r.area_code, r.id))])
            )
        });
    layout(
        Some(viewer),
        "花名册",
        html! {
            h1 { "花名册" }
            p.filter-words { (filter_words(filter, areas).join(" · ")) }
            form.filters method="get" action="/roster" {
                (area_select(areas, &filter.area))
                input type="search" name="q" placeholder="户主姓名或户编号" value=[filter.search.as_deref()];
                @for (k, v) in hidden_filters(params) { input type="hidden" name=(k) value=(v); }
                button type="submit" { "查询" }
            }
            p { "共 " strong.total { (total.0) } " 户 " (total.1) " 人" }
            p.actions {
                a.button href={ "/export/roster?" (base) "&format=xlsx" } { "导出 Excel" }
                a.button href={ "/export/roster?" (base) "&format=csv" } { "导出 CSV" }
            }
            @if rows.is_empty() { p.muted { "没有符合条件的农户。" } }
            ul.cards {
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
