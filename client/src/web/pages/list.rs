//! The household list, the device's front page: its filters, counts and paging. Separate
//! because it reads the store's index rows, not whole households.

use maud::{Markup, html};
use zoufang_shared::codes::*;

use super::{code_label, options, query_text};
use crate::store::{IndexRow, ListFilter};
use crate::web::fields;

/// The "due for a visit" count on top of the list: households without a visit in this many days.
pub const DUE_DAYS: u32 = 30;

/// The figures on top of the list and its paging.
pub struct ListCounts {
    pub total: i64,
    pub matching: i64,
    /// Households without a visit in [`DUE_DAYS`].
    pub due: i64,
    pub page: u32,
    pub pages: u32,
}

/// The list's address with the same filters, on page `page`.
fn list_href(filter: &ListFilter, due: Option<u32>, page: u32) -> String {
    let mut parts: Vec<(&str, String)> = Vec::new();
    let mut keep = |k, v: &Option<String>| {
        if let Some(v) = v {
            parts.push((k, v.clone()));
        }
    };
    keep("q", &filter.search);
    keep("village", &filter.village);
    keep("status", &filter.status);
    keep("case", &filter.case_kind);
    keep("flag", &filter.flag);
    if let Some(d) = due {
        parts.push(("due", d.to_string()));
    }
    let sort = match filter.sort {
        crate::store::ListSort::Village => None,
        crate::store::ListSort::LastVisit => Some("last_visit"),
        crate::store::ListSort::Updated => Some("updated"),
    };
    if let Some(s) = sort {
        parts.push(("sort", s.to_owned()));
    }
    parts.push(("page", page.to_string()));
    let query: Vec<String> = parts
        .iter()
        .map(|(k, v)| format!("{k}={}", query_text(v)))
        .collect();
    format!("/?{}", query.join("&"))
}

pub fn list(
    rows: &[IndexRow],
    villages: &[String],
    filter: &ListFilter,
    due: Option<u32>,
    counts: &ListCounts,
) -> Markup {
    let f = |v: &Option<String>| v.clone().unwrap_or_default();
    let sort = filter.sort;
    use crate::store::ListSort;
    html! {
        h1 { "农户列表" }
        p.counts #list-counts {
            span { "本机 " strong { (counts.total) } " 户" }
            a href={ "/?due=" (DUE_DAYS) "&sort=last_visit" } { "超过 " (DUE_DAYS) " 天未走访 " strong { (counts.due) } " 户" }
        }
        form.filters method="get" action="/" {
            input type="search" name="q" placeholder="搜索姓名、户编号、村" value=(f(&filter.search));
            select name="village" {
                option value="" { "全部村" }
                @for v in villages {
                    option value=(v) selected[filter.village.as_deref() == Some(v.as_str())] { (v) }
                }
            }
            select name="status" { (options(&fields::choices::<HouseholdStatus>(), filter.status.as_deref(), "全部状态")) }
            select name="case" { (options(&fields::choices::<CaseKind>(), filter.case_kind.as_deref(), "全部事项")) }
            select name="flag" {
                option value="" { "全部提示" }
                @for (code, label) in FLAG_LABELS {
                    option value=(code) selected[filter.flag.as_deref() == Some(*code)] { (label) }
                }
            }
            select name="due" {
                option value="" { "走访:不限" }
                @for d in [14u32, 30, 90] {
                    option value=(d) selected[due == Some(d)] { "超过 " (d) " 天未走访" }
                }
            }
            select name="sort" {
                option value="village" selected[sort == ListSort::Village] { "按村排序" }
                option value="last_visit" selected[sort == ListSort::LastVisit] { "最久未走访在前" }
                option value="updated" selected[sort == ListSort::Updated] { "最近修改在前" }
            }
            button type="submit" { "筛选" }
        }
        p.count { "符合条件 " (counts.matching) " 户" @if counts.pages > 1 { ",第 " (counts.page) " / " (counts.pages) " 页" } }
        ul.cards {
            @for r in rows {
                li.card {
                    a href={ "/h/" (r.id) } {
                        strong { (r.head_name.clone().unwrap_or_else(|| "(未填户主)".into())) }
                        span.muted { " " (f(&r.household_no)) }
                        br;
                        span { (f(&r.village)) " " (f(&r.group)) " · " (r.size) " 人 · " (code_label::<HouseholdStatus>(r.status.as_deref())) }
                        br;
                        span.muted.last-visit {
                            @match r.last_visit { Some(d) => { "上次走访 " (d) }, None => "尚未走访" }
                        }
                        @if !r.open_cases.is_empty() || !r.flags.is_empty() {
                            br;
                            @for c in &r.open_cases { span.badge { (code_label::<CaseKind>(Some(c))) } }
                            @for fl in &r.flags { span.badge.warn { (flag_label(fl)) } }
                        }
                    }
                }
            }
        }
        @if rows.is_empty() { p.muted { "没有符合条件的农户。" } }
        @if counts.pages > 1 {
            nav.pager {
                @if counts.page > 1 { a.button href=(list_href(filter, due, counts.page - 1)) { "上一页" } }
                @if counts.page < counts.pages { a.button href=(list_href(filter, due, counts.page + 1)) { "下一页" } }
            }
        }
    }
}

/// Filterable flags and their labels.
pub const FLAG_LABELS: &[(&str, &str)] = &[
    ("conflict", "有冲突"),
    ("exit_guarantee_failed", "三保障未实现拟退出"),
    ("income_jump", "收入异常变动"),
    ("school_age_not_in_school", "适龄未在校"),
    ("head_missing", "缺户主"),
    ("head_multiple", "多个户主"),
    ("id_invalid", "证件号码错误"),
    ("relation_age_implausible", "年龄与关系不符"),
    ("no_members", "无成员"),
    ("id_sex_mismatch", "证件号码与性别不符"),
    ("id_duplicate_in_household", "户内证件号码重复"),
    ("school_stage_mismatch", "在校阶段与年龄不符"),
    ("education_conflict", "文化程度与在校状况矛盾"),
    ("education_missing", "未登记文化程度"),
    ("birth_missing", "缺出生日期"),
];

pub fn flag_label(code: &str) -> String {
    FLAG_LABELS
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, l)| (*l).to_owned())
        .unwrap_or_else(|| code.to_owned())
}
