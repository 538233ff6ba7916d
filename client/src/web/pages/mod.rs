//! Server-rendered pages (maud). Plain HTML forms and lists, readable without JavaScript; the
//! script in `assets/app.js` adds the live verdict, member cards, photos and signatures.
//!
//! Each page (or family of pages) lives in a submodule of its own; this module holds the page
//! frame and the small helpers every page shares.

mod case;
mod household;
mod household_form;
mod list;
mod visit;

pub use case::{case_form, case_page};
pub use household::{HouseholdView, household};
pub use household_form::{household_draft_key, household_form};
pub use list::{DUE_DAYS, ListCounts, list};
pub use visit::visit_form;

use maud::{DOCTYPE, Markup, html};
use zoufang_shared::CodeList;
use zoufang_shared::limits::MAX_NOTE_CHARS;

pub fn layout(title: &str, user: &str, body: Markup) -> Markup {
    document(
        title,
        html! {
            nav {
                a href="/" { "农户" }
                a href="/h/new" { "新建" }
                a href="/sync" { "同步" }
            }
            span.user { (user) }
            form.lock method="post" action="/lock" {
                button type="submit" { "锁定" }
            }
        },
        body,
    )
}

/// A page with no navigation: the unlock page, where nothing else is reachable.
pub fn bare(title: &str, body: Markup) -> Markup {
    document(title, html! { span.spacer {} }, body)
}

fn document(title: &str, top: Markup, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · 走访" }
                link rel="stylesheet" href="/assets/app.css";
                script src="/assets/app.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/" { "走访" }
                    (top)
                }
                main { (body) }
            }
        }
    }
}

fn code_label<T: CodeList>(code: Option<&str>) -> String {
    code.and_then(|c| T::parse(c).ok())
        .map(|c| c.label().to_owned())
        .unwrap_or_default()
}

fn options(list: &[(&'static str, &'static str)], selected: Option<&str>, blank: &str) -> Markup {
    html! {
        option value="" { (blank) }
        @for (code, label) in list {
            option value=(code) selected[selected == Some(*code)] { (label) }
        }
    }
}

/// Text as a query value (`/` may stay: a path passed as a value reads better so).
pub fn query_text(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Under a note's textarea: how much it holds (the browser stops typing there, a paste is cut).
fn note_limit() -> Markup {
    html! { p.muted { "最多 " (MAX_NOTE_CHARS) " 字" } }
}

pub fn message(title: &str, text: &str) -> Markup {
    html! { h1 { (title) } p { (text) } p { a href="/" { "返回农户列表" } } }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zoufang_shared::ids::HouseholdId;
    use zoufang_shared::limits::MAX_SHORT_CHARS;
    use zoufang_shared::model::Household;

    #[test]
    fn text_inputs_hold_what_the_limits_allow_and_notes_say_so() {
        let h = Household::new(HouseholdId::from("hh-1"));
        let form = household_form(&h, None, 2026, None, &[]).into_string();
        assert!(
            form.contains(&format!(
                r#"name="info.village" id="info-village" value="" maxlength="{MAX_SHORT_CHARS}""#
            )),
            "{form}"
        );
        let visit = visit_form(&h, chrono::NaiveDate::MIN, "张调查").into_string();
        assert!(visit.contains(&format!(r#"maxlength="{MAX_NOTE_CHARS}""#)));
        assert!(visit.contains(&format!("最多 {MAX_NOTE_CHARS} 字")));
    }
}
