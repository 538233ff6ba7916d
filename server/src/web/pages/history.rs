//! A household's history as people read it: one row per change (who by name and role, which
//! device, when, what kind), its fields before → after, newest first, a page at a time, and
//! a filter by field.

use std::collections::{BTreeSet, HashMap};

use maud::{Markup, html};

use crate::review::history::{Change, Entry};
use crate::review::{Person, REVIEW_DEVICE, SERVER_DEVICE};

use super::layout::{query_string, time};

/// Changes on one page of the history.
pub const CHANGES_PER_PAGE: usize = 20;

/// Which part of the history is asked for.
#[derive(Debug, Clone, Default)]
pub struct HistoryAsk {
    /// 0: the newest changes.
    pub page: usize,
    /// Only the fields of this label.
    pub field: Option<String>,
}

pub struct History<'a> {
    pub changes: &'a [Change],
    pub people: &'a HashMap<String, Person>,
    /// Enrolled devices' names by id.
    pub devices: &'a HashMap<String, String>,
    pub ask: &'a HistoryAsk,
}

/// The device of a change as people know it: the server's own pages and commands by what they
/// are, a field device by the name it was enrolled under (its id when it never was).
fn device_words(devices: &HashMap<String, String>, device: Option<&str>) -> String {
    match device {
        Some(REVIEW_DEVICE) => "审核页面".into(),
        Some(SERVER_DEVICE) => "服务器命令".into(),
        Some(d) => match devices.get(d) {
            Some(name) => format!("设备「{name}」"),
            None => format!("设备 {d}"),
        },
        None => "设备不详".into(),
    }
}

fn who(people: &HashMap<String, Person>, user: Option<&str>) -> String {
    match user {
        Some(u) => match people.get(u) {
            Some(p) => format!("{}({})", p.name, p.role),
            None => u.to_owned(),
        },
        None => "未知".into(),
    }
}

pub fn section(id: &str, h: &History<'_>) -> Markup {
    let labels: BTreeSet<&str> = h
        .changes
        .iter()
        .flat_map(|c| c.entries.iter().map(|e| e.label.as_str()))
        .collect();
    let field = h.ask.field.as_deref();
    let keep = |e: &Entry| field.is_none_or(|f| e.label == f);
    let shown: Vec<(&Change, Vec<&Entry>)> = h
        .changes
        .iter()
        .map(|c| (c, c.entries.iter().filter(|e| keep(e)).collect::<Vec<_>>()))
        .filter(|(_, entries)| !entries.is_empty())
        .collect();
    let pages = shown.len().div_ceil(CHANGES_PER_PAGE).max(1);
    let page = h.ask.page.min(pages - 1);
    let link = |p: usize| {
        let mut pairs = vec![("hist", p.to_string())];
        if let Some(f) = field {
            pairs.push(("field", f.to_owned()));
        }
        format!("/households/{id}?{}#history", query_string(&pairs))
    };
    let asked = h.ask.page > 0 || field.is_some();
    html! {
        section id="history" {
            details open[asked] {
                summary { "修改记录(" (h.changes.len()) " 次修改)" }
                form.filters method="get" action={ "/households/" (id) "#history" } {
                    select name="field" aria-label="字段" {
                        option value="" { "全部字段" }
                        @for l in &labels { option value=(l) selected[field == Some(*l)] { (l) } }
                    }
                    button type="submit" { "筛选" }
                }
                @if shown.is_empty() { p.muted { "没有修改记录。" } }
                ol.changes {
                    @for (c, entries) in shown.iter().skip(page * CHANGES_PER_PAGE).take(CHANGES_PER_PAGE) {
                        li.change {
                            p.who {
                                span.badge { (c.kind.label()) } " "
                                strong { (who(h.people, c.user.as_deref())) } " "
                                span.muted { (time(c.at)) " · " (device_words(h.devices, c.device.as_deref())) }
                            }
                            ul.fields {
                                @for e in entries {
                                    li {
                                        span.field { (e.label) } ":"
                                        span.before { (e.before) } " → " span.after { (e.after) }
                                    }
                                }
                            }
                        }
                    }
                }
                @if pages > 1 {
                    p.actions.pager {
                        @if page > 0 { a.button href=(link(page - 1)) { "较新的修改" } }
                        span.muted { "第 " (page + 1) " / " (pages) " 页" }
                        @if page + 1 < pages { a.button href=(link(page + 1)) { "较早的修改" } }
                    }
                }
            }
        }
    }
}
