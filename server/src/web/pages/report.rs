//! The report of an area over a period.

use maud::{Markup, html};
use zoufang_shared::CodeList;
use zoufang_shared::codes::*;

use crate::report::{Bucket, Fraction, Hp, RATE_FORMULAS, Report, Section};
use crate::storage::Area;
use crate::web::Viewer;

use super::layout::{area_select, hp, layout, percent, query_string};

pub fn report_page(viewer: &Viewer, r: &Report, areas: &[Area]) -> Markup {
    let s = &r.total;
    // A round's report and its links name the round; a period's, its dates.
    let window = |area: &str| -> Vec<(&'static str, String)> {
        match &r.round {
            Some(round) => vec![("area", area.to_owned()), ("round", round.id.clone())],
            None => vec![
                ("area", area.to_owned()),
                ("from", r.from.to_string()),
                ("to", r.to.to_string()),
            ],
        }
    };
    let period = window(&s.area_code);
    let link = |extra: &[(&str, String)]| {
        let mut q: Vec<(&str, String)> = period.to_vec();
        q.extend(extra.iter().cloned());
        format!("/roster?{}", query_string(&q))
    };
    layout(
        Some(viewer),
        "动态管理统计",
        html! {
            h1 { "动态管理统计 · " (s.area_name) }
            form.filters method="get" action="/report" {
                (area_select(areas, &s.area_code))
                label { "工作批次"
                    select name="round" {
                        option value="" selected[r.round.is_none()] { "不分批次(按日期)" }
                        @for round in &r.rounds {
                            option value=(round.id) selected[r.round.as_ref().is_some_and(|x| x.id == round.id)] {
                                (round.name) "(" (round.kind) ")"
                            }
                        }
                    }
                }
                label { "自" input type="date" name="from" value=(r.from); }
                label { "至" input type="date" name="to" value=(r.to); }
                button type="submit" { "查询" }
            }
            @match &r.round {
                Some(round) => p.muted { "工作批次「" (round.name) "」(" (round.kind) "," (round.starts_on) " 起):户状态为当前状态;事项按所属批次计入,不论提出日期。每个数字可点开查看对应农户。" },
                None => p.muted { "户状态为当前状态;动态管理事项按提出日期计入统计期。每个数字可点开查看对应农户。" },
            }
            p.actions {
                a.button href={ "/export/report?" (query_string(&period)) "&format=xlsx" } { "导出 Excel" }
                a.button href={ "/export/report?" (query_string(&period)) "&format=csv" } { "导出 CSV" }
            }
            h2 { "合计 " (hp(s.all)) }
            h2 { "户状态" }
            div.scroll { table.counts {
                thead { tr { th { "状态" } th { "户数 / 人数" } } }
                tbody {
                    @for l in &s.by_status {
                        tr {
                            td { (l.label) }
                            td { a href=(link(&[("status", l.code.clone())])) { (hp(l.count)) } }
                        }
                    }
                }
            } }
            h2 { "动态管理事项(按程序阶段)" }
            div.scroll { table.counts.wide {
                thead { tr {
                    th { "事项" } th { "合计" }
                    @for b in Bucket::ALL { th { (b.label()) } }
                    th { "公示有异议" }
                } }
                tbody {
                    @for c in &s.by_case {
                        tr {
                            th scope="row" { (c.label) }
                            td { a href=(link(&[("kind", c.kind.clone())])) { (hp(c.total)) } }
                            @for (b, n) in Bucket::ALL.iter().zip(&c.buckets) {
                                td {
                                    @if n.households > 0 {
                                        a href=(link(&[("kind", c.kind.clone()), ("bucket", b.code().into())])) { (hp(*n)) }
                                    } @else { span.zero { "0" } }
                                }
                            }
                            td { a href=(link(&[("kind", c.kind.clone()), ("objected", "1".into())])) { (hp(c.objected)) } }
                        }
                    }
                }
            } }
            (rates(s, &link(&[("kind", "new_entry".into()), ("missed", "1".into())])))
            @if !r.children.is_empty() {
                h2 { "下级区域" }
                div.scroll { table.counts {
                    thead { tr { th { "区域" } th { "合计" } th { "未脱贫" } th { "返贫" } th { "事项" } th { "错评率" } } }
                    tbody {
                        @for c in &r.children {
                            tr {
                                td { a href={ "/report?" (query_string(&window(&c.area_code))) } { (c.area_name) } }
                                td { (hp(c.all)) }
                                td { (hp(status_count(c, HouseholdStatus::NotExited))) }
                                td { (hp(status_count(c, HouseholdStatus::Relapsed))) }
                                td { (c.by_case.iter().map(|l| l.total.households).sum::<i64>()) "户" }
                                td { (percent(c.rates.wrong_entry)) }
                            }
                        }
                    }
                } }
            }
        },
    )
}

fn status_count(s: &Section, status: HouseholdStatus) -> Hp {
    s.by_status
        .iter()
        .find(|l| l.code == status.code())
        .map(|l| l.count)
        .unwrap_or_default()
}

fn rates(s: &Section, missed_link: &str) -> Markup {
    // A rate with the county's own arithmetic beside it: "5.23%(74 ÷ 1415)".
    let rate = |v: Option<f64>, f: Fraction| {
        html! { (percent(v)) span.muted { "(" (f.part) " ÷ " (f.whole) ")" } }
    };
    html! {
        h2 { "比率" }
        dl.rates {
            dt { "错评率" } dd #rate-wrong-entry { (rate(s.rates.wrong_entry, s.basis.wrong_entry)) }
            dt { "错退率" } dd #rate-wrongful-exit { (rate(s.rates.wrongful_exit, s.basis.wrongful_exit)) }
            dt { "漏评" } dd { a href=(missed_link) { (hp(s.rates.missed)) } }
            dt { "贫困发生率" } dd { (rate(s.rates.poverty_incidence, s.basis.poverty_incidence)) }
        }
        ul.muted.formulas {
            @for (name, formula) in RATE_FORMULAS { li { (name) " = " (formula) } }
            li { "不通过的事项单列「不通过」一栏,不计入任何合计和比率。" }
        }
    }
}
