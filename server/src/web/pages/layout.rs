//! What every page shares: the frame with its navigation, the error page, and how areas,
//! statuses, amounts and times read.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};
use zoufang_shared::CodeList;
use zoufang_shared::codes::*;

use crate::projection::local_offset;
use crate::report::Hp;
use crate::storage::Area;
use crate::web::Viewer;

/// `a=1&b=2`, percent-encoded.
pub fn query_string<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .collect();
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

pub(super) fn layout(viewer: Option<&Viewer>, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · 走访审核" }
                link rel="stylesheet" href="/assets/review.css";
            }
            body {
                header.top {
                    a.brand href="/report" { "走访审核" }
                    @if let Some(v) = viewer {
                        nav {
                            a href="/report" { "统计" }
                            a href="/roster" { "花名册" }
                            a href="/conflicts" { "冲突" }
                            a href="/checks" { "核查" }
                            a href="/spot" { "抽查" }
                        }
                        form.logout method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(v.csrf);
                            span.user { (v.user.display_name) "(" (v.user.role.label()) ")" }
                            button type="submit" { "退出" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

pub fn error_page(status: StatusCode, message: &str) -> Markup {
    layout(
        None,
        "出错了",
        html! {
            h1 { "出错了(" (status.as_u16()) ")" }
            p.error role="alert" { (message) }
            p { a href="/report" { "返回统计" } }
        },
    )
}

/// The name of the smallest known area containing `code`.
pub fn area_name(areas: &[Area], code: &str) -> String {
    areas
        .iter()
        .filter(|a| code.starts_with(a.code.as_str()))
        .max_by_key(|a| a.code.len())
        .map(|a| a.name.clone())
        .unwrap_or_else(|| code.to_owned())
}

/// An area picker: every readable area, indented by level.
pub(super) fn area_select(areas: &[Area], selected: &str) -> Markup {
    html! {
        select name="area" aria-label="区域" {
            @for a in areas {
                @let indent = match a.level.as_str() { "county" => "", "township" => "  ", "village" => "    ", _ => "      " };
                option value=(a.code) selected[a.code == selected] { (indent) (a.name) }
            }
        }
    }
}

/// A status or monitoring category code as people read it.
pub fn status_label(code: &str) -> String {
    HouseholdStatus::parse(code)
        .map(|s| s.label().to_owned())
        .or_else(|_| MonitoringCategory::parse(code).map(|m| m.label().to_owned()))
        .unwrap_or_else(|_| {
            if code == "none" {
                "未填状态".into()
            } else {
                code.to_owned()
            }
        })
}

pub(super) fn hp(h: Hp) -> Markup {
    html! { (h.households) "户" span.p { (h.persons) "人" } }
}

pub(super) fn percent(v: Option<f64>) -> String {
    v.map(|r| format!("{:.2}%", r * 100.0))
        .unwrap_or_else(|| "—".into())
}

pub(super) fn yuan(fen: i64) -> String {
    crate::export::fen_to_yuan(fen)
}

pub(super) fn time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| {
        t.with_timezone(&local_offset())
            .format("%Y-%m-%d %H:%M")
            .to_string()
    })
    .unwrap_or_else(|| "时间不详".into())
}
