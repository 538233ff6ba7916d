//! The conflicts queue, the cross-household checks and the spot checks.

use chrono::NaiveDate;
use maud::{Markup, html};
use zoufang_shared::fields;

use crate::report::cross::ConflictEntry;
use crate::report::roster::{mask_id, sees_ids};
use crate::review;
use crate::review::ChecksSummary;
use crate::storage::{Area, SpotCheck};
use crate::web::Viewer;

use super::layout::{area_name, area_select, layout, query_string};

pub fn conflicts_page(
    viewer: &Viewer,
    area: &str,
    queue: &[ConflictEntry],
    areas: &[Area],
) -> Markup {
    layout(
        Some(viewer),
        "数据冲突",
        html! {
            h1 { "数据冲突 · " (area_name(areas, area)) }
            form.filters method="get" action="/conflicts" {
                (area_select(areas, area))
                button type="submit" { "查询" }
            }
            p.muted { "多台设备同时修改同一字段时,所有值都保留在这里,由队长或审核员选定。" }
            @if queue.is_empty() { p { "没有待处理的冲突。" } }
            ul.cards {
                @for c in queue {
                    li.card {
                        a href={ "/households/" (c.household_id) "#conflicts" } {
                            strong { (c.head_name) } " "
                            span.muted { (area_name(areas, &c.area_code)) }
                            br;
                            (fields::for_path(&c.path.split('.').map(str::to_owned).collect::<Vec<_>>()).map(|(l, _)| l).unwrap_or_else(|| c.path.clone()))
                            " · " (c.n_values) " 个不同的值"
                        }
                    }
                }
            }
        },
    )
}

pub fn checks_page(viewer: &Viewer, s: &ChecksSummary, areas: &[Area]) -> Markup {
    let roster = |extra: (&str, &str)| {
        format!(
            "/roster?{}",
            query_string(&[("area", s.area.as_str()), extra])
        )
    };
    let shows_ids = sees_ids(viewer.user.role);
    layout(
        Some(viewer),
        "核查",
        html! {
            h1 { "跨户核查 · " (area_name(areas, &s.area)) }
            form.filters method="get" action="/checks" {
                (area_select(areas, &s.area))
                button type="submit" { "查询" }
            }
            ul.cards {
                li.card { a href=(roster(("flag", "error"))) { strong { "数据错误" } " " (s.errors.0) " 户" } }
                li.card { a href=(roster(("unvisited", "1"))) { strong { (s.no_visit_days) " 天以上未走访" } " " (s.unvisited.0) " 户" } }
                li.card { a href=(roster(("flag", "income_jump"))) { strong { "收入与上次调查相差十倍以上" } " " (s.income_jumps.0) " 户" } }
                li.card { a href=(roster(("exit_failing", "1"))) { strong { "退出已通过审核但未达标" } " " (s.exit_failing.0) " 户" } }
            }
            h2 { "一人多户(证件号码重复)" }
            @if s.duplicate_ids.is_empty() { p.muted { "没有发现。" } }
            div.scroll { table {
                thead { tr { th { "证件号码" } th { "姓名" } th { "所在户" } } }
                tbody {
                    @for d in &s.duplicate_ids {
                        tr {
                            td { (if shows_ids { d.id_number.clone() } else { mask_id(&d.id_number) }) }
                            td { (d.name) }
                            td {
                                @if crate::auth::in_scope(&viewer.user.areas, &d.area_code) {
                                    a href={ "/households/" (d.household_id) } { (area_name(areas, &d.area_code)) }
                                } @else {
                                    "其他区域(" (d.area_code.get(..6).unwrap_or("")) ")"
                                }
                            }
                        }
                    }
                }
            } }
            h2 { "帮扶责任人结对超过 5 户" }
            @if s.busy_helpers.is_empty() { p.muted { "没有发现。" } }
            ul.cards {
                @for b in &s.busy_helpers {
                    li.card { a href=(roster(("helper", b.helper_key.as_str()))) {
                        strong { (b.name) } " " span.muted { (b.unit.clone().unwrap_or_default()) } " 结对 " (b.households) " 户"
                    } }
                }
            }
        },
    )
}

pub fn spot_page(
    viewer: &Viewer,
    township: Option<&str>,
    day: NaiveDate,
    sample: &[SpotCheck],
    areas: &[Area],
) -> Markup {
    let townships: Vec<&Area> = areas.iter().filter(|a| a.level == "township").collect();
    let may_record = review::spot_checks(viewer.user.role);
    layout(
        Some(viewer),
        "抽查",
        html! {
            h1 { "督查抽查" }
            form.filters method="get" action="/spot" {
                select name="township" aria-label="乡镇" {
                    @for t in &townships { option value=(t.code) selected[Some(t.code.as_str()) == township] { (t.name) } }
                }
                input type="date" name="day" value=(day);
                button type="submit" { (if may_record { "抽取 / 查看名单" } else { "查看名单" }) }
            }
            p.muted { "按村分层随机抽取,同一乡镇同一天的名单固定,可复核。" }
            @if let Some(t) = township {
                h2 { (area_name(areas, t)) " " (day) " 抽查名单(" (sample.len()) " 户)" }
                @if sample.is_empty() { p.muted { "尚未抽取。" } }
                ul.cards {
                    @for s in sample {
                        li.card {
                            a href={ "/households/" (s.household_id) } { (area_name(areas, &s.village)) " · 查看农户" }
                            @if let Some(r) = &s.result {
                                p { span.badge { (review::SPOT_RESULTS.iter().find(|(c, _)| c == r).map(|(_, l)| *l).unwrap_or("")) } " " (s.note.clone().unwrap_or_default()) " — " (s.checked_by.clone().unwrap_or_default()) }
                            }
                            @if may_record {
                                form.spot method="post" action="/spot/record" {
                                    input type="hidden" name="csrf" value=(viewer.csrf);
                                    input type="hidden" name="township" value=(t);
                                    input type="hidden" name="day" value=(day);
                                    input type="hidden" name="household" value=(s.household_id);
                                    select name="result" aria-label="抽查结果" {
                                        @for (code, label) in review::SPOT_RESULTS { option value=(code) selected[s.result.as_deref() == Some(code)] { (label) } }
                                    }
                                    input type="text" name="note" placeholder="说明" value=[s.note.as_deref()];
                                    button type="submit" { "登记" }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}
