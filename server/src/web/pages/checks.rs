//! The conflicts queue, the cross-household checks and the spot checks.

use chrono::NaiveDate;
use maud::{Markup, html};
use zoufang_shared::fields;

use std::collections::HashMap;

use crate::report::cross::{ConflictEntry, DuplicateId};
use crate::report::roster::{mask_id, sees_ids};
use crate::review;
use crate::review::{ChecksSummary, SpotRow};
use crate::storage::Area;
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

/// Duplicate ID numbers shown on one page of the checks.
pub const DUPLICATE_GROUPS_PER_PAGE: usize = 20;

pub fn checks_page(viewer: &Viewer, s: &ChecksSummary, areas: &[Area], page: usize) -> Markup {
    // One group per ID number, with every household it appears in.
    let mut groups: Vec<(&str, Vec<&DuplicateId>)> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for d in &s.duplicate_ids {
        let i = *index.entry(d.id_number.as_str()).or_insert_with(|| {
            groups.push((d.id_number.as_str(), Vec::new()));
            groups.len() - 1
        });
        groups[i].1.push(d);
    }
    let pages = groups.len().div_ceil(DUPLICATE_GROUPS_PER_PAGE).max(1);
    let page = page.min(pages - 1);
    let page_link = |p: usize| {
        format!(
            "/checks?{}#duplicates",
            query_string(&[("area", s.area.clone()), ("page", p.to_string())])
        )
    };
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
            h2 id="duplicates" { "一人多户(证件号码重复," (groups.len()) " 个号码)" }
            @if groups.is_empty() { p.muted { "没有发现。" } }
            ul.cards.duplicates {
                @for (idn, rows) in groups.iter().skip(page * DUPLICATE_GROUPS_PER_PAGE).take(DUPLICATE_GROUPS_PER_PAGE) {
                    li.card {
                        p { strong { (if shows_ids { (*idn).to_owned() } else { mask_id(idn) }) } " " span.muted { "出现在 " (rows.len()) " 户" } }
                        ul.plain {
                            @for d in rows {
                                li {
                                    (d.name) " · "
                                    @if crate::auth::in_scope(&viewer.user.areas, &d.area_code) {
                                        a href={ "/households/" (d.household_id) } { (area_name(areas, &d.area_code)) }
                                    } @else {
                                        "其他区域(" (d.area_code.get(..6).unwrap_or("")) ")"
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if pages > 1 {
                p.actions.pager {
                    @if page > 0 { a.button href=(page_link(page - 1)) { "上一页" } }
                    span.muted { "第 " (page + 1) " / " (pages) " 页" }
                    @if page + 1 < pages { a.button href=(page_link(page + 1)) { "下一页" } }
                }
            }
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

/// Why a household is on the list: the draw is stratified by village (`crate::spot_check`).
pub fn spot_reason(r: &SpotRow, village: &str) -> String {
    format!(
        "{village}共 {} 户,按户数比例抽取 {} 户,随机抽中",
        r.village_households, r.village_drawn
    )
}

/// A spot-check result code as people read it.
pub fn spot_result_label(code: &str) -> &str {
    review::SPOT_RESULTS
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, l)| *l)
        .unwrap_or(code)
}

pub fn spot_page(
    viewer: &Viewer,
    township: Option<&str>,
    day: NaiveDate,
    rows: &[SpotRow],
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
                input type="date" name="day" value=(day) aria-label="日期";
                button type="submit" { (if may_record { "抽取 / 查看名单" } else { "查看名单" }) }
            }
            p.muted { "按村分层随机抽取,同一乡镇同一天的名单固定,可复核。" }
            @if let Some(t) = township {
                @let query = query_string(&[("township", t.to_owned()), ("day", day.to_string())]);
                h2 { (area_name(areas, t)) " " (day) " 抽查名单(" (rows.len()) " 户)" }
                @if rows.is_empty() { p.muted { "尚未抽取。" } }
                @else {
                    p.actions {
                        a.button href={ "/export/spot?" (query) "&format=xlsx" } { "导出 Excel" }
                        a.button href={ "/export/spot?" (query) "&format=csv" } { "导出 CSV" }
                    }
                }
                ul.cards.spot {
                    @for r in rows {
                        @let s = &r.check;
                        @let village = area_name(areas, &s.village);
                        li.card {
                            a href={ "/households/" (s.household_id) } {
                                strong { (if r.head.is_empty() { "(未登记户主)" } else { r.head.as_str() }) }
                                " " span.muted { (village) }
                                @if let Some(no) = &r.household_no { br; span.muted { "户编号 " (no) } }
                            }
                            p.muted.why { (spot_reason(r, &village)) }
                            @if let Some(code) = &s.result {
                                p.result { span.badge { (spot_result_label(code)) } " " (s.note.clone().unwrap_or_default()) " — " (r.checker.clone().unwrap_or_default()) }
                            }
                            @if may_record {
                                form.spot method="post" action="/spot/record" {
                                    input type="hidden" name="csrf" value=(viewer.csrf);
                                    input type="hidden" name="township" value=(t);
                                    input type="hidden" name="day" value=(day);
                                    input type="hidden" name="household" value=(s.household_id);
                                    div.choices role="radiogroup" aria-label="抽查结果" {
                                        @for (code, label) in review::SPOT_RESULTS {
                                            label.check { input type="radio" name="result" value=(code) required; (label) }
                                        }
                                    }
                                    input type="text" name="note" placeholder="说明" aria-label="说明" value=[s.note.as_deref()];
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
