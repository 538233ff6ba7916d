//! The dynamic-management case pages: proposing a case and recording its field steps. Separate
//! because which kinds and steps a device may offer is decided here, by the shared authority rules.

use maud::{Markup, html};
use zoufang_shared::codes::*;
use zoufang_shared::limits::{MAX_NOTE_CHARS, MAX_SHORT_CHARS};
use zoufang_shared::model::*;
use zoufang_shared::rounds::Round;

use super::household::stage_label;
use super::{note_limit, options};
use crate::web::fields;

/// The case kinds that can concern `h` as it is registered (see
/// [`zoufang_shared::authority::kind_fits`]): no 脱贫退出 for a household already exited.
fn case_kinds_for(h: &Household) -> Vec<(&'static str, &'static str)> {
    CaseKind::ALL
        .iter()
        .filter(|k| zoufang_shared::authority::kind_fits(**k, &h.info))
        .map(|k| (k.code(), k.label()))
        .collect()
}

/// The procedure steps a device records: the field steps. 乡镇审核, 县级审定 and 公告 are
/// decided on the review pages (`zoufang_shared::authority::decided_by`).
fn device_steps() -> Vec<(&'static str, &'static str)> {
    ProcedureStep::ALL
        .iter()
        .filter(|s| zoufang_shared::authority::decided_by(**s).is_none())
        .map(|s| (s.code(), s.label()))
        .collect()
}

/// `open`: the rounds open for the household today, the default first.
pub fn case_form(h: &Household, open: &[&Round]) -> Markup {
    html! {
        h1 { "提出动态管理事项" }
        p.muted { (h.head().map(|m| m.name.clone()).unwrap_or_default()) " 户" }
        form #case-form data-api={ "/api/households/" (h.id) "/cases" } data-method="POST" data-draft={ "case:" (h.id) } novalidate {
            p.draft-note #draft-note hidden {}
            p.err.form-error data-err-for="form" {}
            ul.failures #case-failures {}
            div.field {
                label for="c-kind" { "事项类型" }
                select name="kind" id="c-kind" { (options(&case_kinds_for(h), None, "请选择")) }
                @if let Some(status) = h.info.status { p.muted { "本户为" (status.label()) ",只列出可对其提出的事项。" } }
                p.err data-err-for="kind" {}
            }
            div.field {
                label for="c-origin" { "发起方式" }
                select name="origin" id="c-origin" { (options(&fields::choices::<CaseOrigin>(), None, "请选择")) }
            }
            div.field {
                label for="c-round" { "工作批次" }
                @if open.is_empty() {
                    p.muted #c-round { "县里尚未开启本户所在地区的工作批次,事项计入当年。" }
                } @else {
                    select name="round" id="c-round" {
                        @for r in open {
                            option value=(r.id) { (r.name) "(" (r.kind.label()) ")" }
                        }
                    }
                }
                p.err data-err-for="round" {}
            }
            div.field { label for="c-reason" { "理由" } textarea name="reason" id="c-reason" rows="3" maxlength=(MAX_NOTE_CHARS) {} (note_limit()) }
            div.field {
                span.label { "涉及成员(人员变动、部分错评时选择)" }
                div.set data-set="members" {
                    @for (id, m) in h.members_in_order().into_iter().filter(|(_, m)| m.is_current()) {
                        label.check { input type="checkbox" value=(id.as_str()); " " (m.name) }
                    }
                }
            }
            button.primary type="submit" { "提出" }
        }
    }
}

pub fn case_page(
    h: &Household,
    case_id: &str,
    c: &Case,
    actor: &str,
    today: chrono::NaiveDate,
) -> Markup {
    html! {
        h1 { (c.kind.label()) }
        p.muted { (h.head().map(|m| m.name.clone()).unwrap_or_default()) " 户 · 提出:" (c.proposed_on) " " (c.proposed_by) }
        p.stage #case-stage { "当前:" (stage_label(c)) }
        @if !c.reason.is_empty() { p { (c.reason) } }
        h2 { "办理记录" }
        ol.steps #steps {
            @for (_, r) in c.records() {
                li {
                    strong { (r.step.label()) " · " (r.outcome.label()) } " " (r.date) " " (r.actor)
                    @if let (Some(s), Some(e)) = (r.publicity_start, r.publicity_end) { " 公示期 " (s) " 至 " (e) }
                    @if !r.comment.is_empty() { br; (r.comment) }
                }
            }
        }
        @if c.is_open() {
            h2 { "记录办理步骤" }
            form #step-form data-api={ "/api/households/" (h.id) "/cases/" (case_id) "/steps" } data-method="POST" novalidate {
                p.err.form-error data-err-for="form" {}
                div.field {
                    label for="s-step" { "步骤" }
                    select name="step" id="s-step" { (options(&device_steps(), None, "请选择")) }
                    p.err data-err-for="step" {}
                }
                div.field {
                    label for="s-outcome" { "结果" }
                    select name="outcome" id="s-outcome" { (options(&fields::choices::<StepOutcome>(), Some("passed"), "请选择")) }
                }
                div.field { label for="s-date" { "日期" } input type="date" name="date" id="s-date" value=(today); p.err data-err-for="date" {} }
                div.field { label for="s-actor" { "经办人" } input type="text" name="actor" id="s-actor" value=(actor) maxlength=(MAX_SHORT_CHARS); }
                div.field { label for="s-ps" { "公示开始(公示步骤填写)" } input type="date" name="publicity_start" id="s-ps"; }
                div.field { label for="s-pe" { "公示结束" } input type="date" name="publicity_end" id="s-pe"; }
                div.field { label for="s-comment" { "意见" } textarea name="comment" id="s-comment" rows="2" maxlength=(MAX_NOTE_CHARS) {} (note_limit()) }
                button.primary type="submit" { "记录" }
            }
        }
        p { a href={ "/h/" (h.id) } { "← 返回农户" } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zoufang_shared::ids::HouseholdId;

    #[test]
    fn the_case_form_offers_what_fits_the_household_and_the_device() {
        let mut h = Household::new(HouseholdId::from("hh-1"));
        h.info.status = Some(HouseholdStatus::ExitedSupported);
        let form = case_form(&h, &[]).into_string();
        assert!(
            !form.contains(r#"value="exit""#),
            "no 脱贫退出 for an exited household"
        );
        assert!(form.contains(r#"value="relapse""#));
        h.info.status = Some(HouseholdStatus::NotExited);
        assert!(case_form(&h, &[]).into_string().contains(r#"value="exit""#));
        let steps = device_steps();
        assert!(!steps.iter().any(|(code, _)| *code == "township_review"));
        assert!(
            steps.iter().any(|(code, _)| *code == "home_check"),
            "{steps:?}"
        );
    }
}
