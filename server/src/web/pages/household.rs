//! One household: the evidence (`evidence`), checks' findings, cases with the form of their
//! next step, visits, conflicts with the form to settle them, and the field history.

use chrono::NaiveDate;
use maud::{Markup, html};
use serde_json::Value as Json;
use zoufang_shared::CodeList;
use zoufang_shared::codes::*;
use zoufang_shared::doc::Conflict;
use zoufang_shared::model::{Case, CaseStage, Household};
use zoufang_shared::rules::assessment::Assessment;
use zoufang_shared::rules::checks::{Finding, Severity};
use zoufang_shared::{fields, mask};

use crate::report::roster::{sees_ids, sees_phones};
use crate::review;
use crate::web::Viewer;

use super::evidence::{self, Shown};
use super::history::{self, History};
use super::layout::{layout, time};

fn stage_words(stage: CaseStage) -> String {
    match stage {
        CaseStage::Proposed => "已提出,待入户核查".into(),
        CaseStage::Passed(ProcedureStep::Announcement) => "已公告,程序完成".into(),
        CaseStage::Passed(s) => format!("{}已通过", s.label()),
        CaseStage::Returned(s) => format!("{}被退回", s.label()),
        CaseStage::Rejected(s) => format!("{}未通过,事项终止", s.label()),
    }
}

/// The step a case waits for next.
fn next_step(stage: CaseStage) -> Option<ProcedureStep> {
    match stage {
        CaseStage::Proposed => Some(ProcedureStep::HomeCheck),
        CaseStage::Passed(s) => ProcedureStep::ALL.get(s.index() + 1).copied(),
        CaseStage::Returned(s) => Some(s),
        CaseStage::Rejected(_) => None,
    }
}

/// A refused decision, shown in its case's form with what the reviewer had chosen.
#[derive(Debug, Clone, Copy)]
pub struct Refused<'a> {
    pub case: &'a str,
    pub outcome: &'a str,
    pub comment: &'a str,
    pub error: &'a str,
}

/// Everything the household page shows.
pub struct HouseholdView<'a> {
    pub id: &'a str,
    pub h: &'a Household,
    pub findings: &'a [Finding],
    pub conflicts: &'a [Conflict],
    pub history: History<'a>,
    /// The projection's verdict and the year it is for.
    pub verdict: (i32, &'a Assessment),
    /// A notice or an error not tied to one form.
    pub message: Option<(&'a str, bool)>,
    pub refused: Option<Refused<'a>>,
    /// The case whose decision was just saved.
    pub decided: Option<&'a str>,
    pub today: NaiveDate,
    pub min_publicity_days: i64,
}

pub fn household_page(viewer: &Viewer, v: &HouseholdView<'_>) -> Markup {
    let (id, h) = (v.id, v.h);
    let head = h
        .head()
        .map(|m| m.name.clone())
        .unwrap_or_else(|| "(未登记户主)".into());
    let shows_ids = sees_ids(viewer.user.role);
    let shown = Shown {
        ids: shows_ids,
        phones: sees_phones(viewer.user.role),
    };
    layout(
        Some(viewer),
        &head,
        html! {
            h1 { (head) " 户" }
            @if let Some((text, is_error)) = v.message {
                p class=(if is_error { "error" } else { "notice" }) role="alert" { (text) }
            }
            p.summary {
                @if let Some(s) = h.info.status { span.badge { (s.label()) } }
                @if let Some(m) = h.info.monitoring { span.badge { (m.label()) } }
                " " (h.info.township.clone().unwrap_or_default()) (h.info.village.clone().unwrap_or_default())
                " · " (h.size()) " 人"
                @if let Some(no) = &h.info.household_no { br; span.muted { "户编号 " (no) } }
                @if let Some(phone) = &h.info.phone {
                    br; span.muted { "联系电话 " (if shows_ids { phone.clone() } else { mask::phone(phone) }) }
                }
                @if let Some(account) = &h.info.bank_account {
                    br; span.muted {
                        "银行账号 "
                        @if shows_ids { (h.info.bank_name.clone().unwrap_or_default()) " " (account) }
                        @else { (mask::account(account)) }
                    }
                }
            }
            nav.jump {
                a href="#cases" { "事项" } a href="#income" { "收入" } a href="#verdict" { "评估" }
                a href="#visits" { "走访" } a href="#history" { "记录" }
            }
            (evidence::members(h, shown, v.today))
            (evidence::income_and_verdict(h, v.verdict.0, v.verdict.1))
            (evidence::living(h))
            (evidence::helpers(h, shown))
            @if !v.findings.is_empty() {
                section id="findings" {
                    h2 { "数据核查" }
                    ul.findings {
                        @for f in v.findings {
                            li class=(if f.severity == Severity::Error { "error" } else { "warning" }) { (f.to_string()) }
                        }
                    }
                }
            }
            section id="cases" {
                h2 { "动态管理事项" }
                @if h.cases.is_empty() { p.muted { "没有事项。" } }
                @for (cid, c) in &h.cases { (case_article(viewer, v, cid.as_str(), c)) }
            }
            (evidence::visits(id, h))
            section id="conflicts" {
                h2 { "数据冲突" }
                @if v.conflicts.is_empty() { p.muted { "没有冲突。" } }
                @for c in v.conflicts { (conflict_form(viewer, id, c, shows_ids)) }
            }
            (history::section(id, &v.history))
        },
    )
}

/// A case with its steps, the evidence its procedure asks for (a step's minutes, photos and
/// signatures, a 公示's dates and objections), and the form of its next step when the viewer
/// decides it: offering only what may be decided today, and saying when the rest may.
fn case_article(viewer: &Viewer, v: &HouseholdView<'_>, cid: &str, c: &Case) -> Markup {
    let refused = v.refused.filter(|r| r.case == cid);
    // Devices write the login name; people know each other by name.
    let proposer = v
        .history
        .people
        .get(&c.proposed_by)
        .map_or(c.proposed_by.as_str(), |p| p.name.as_str());
    html! {
        article.case id={ "case-" (cid) } {
            h3 { (c.kind.label()) " " span.stage { (stage_words(c.stage())) } }
            @if v.decided == Some(cid) {
                p.notice role="status" { "审批意见已保存,调查队下次同步时会收到" }
            }
            p.muted { (c.proposed_on) " 由 " (proposer) " 提出" @if !c.reason.is_empty() { ":" (c.reason) } }
            div.scroll { table.steps {
                thead { tr { th { "步骤" } th { "结果" } th { "日期" } th { "经办" } th { "意见" } } }
                tbody {
                    @for (sid, s) in c.records() {
                        tr {
                            td { (s.step.label()) }
                            td { (s.outcome.label()) }
                            td { (s.date)
                                @if zoufang_shared::authority::transcribed(sid, s) {
                                    " " span.flag title="录入日期比步骤日期晚 30 天以上" { "补录" }
                                }
                                @if let (Some(a), Some(b)) = (s.publicity_start, s.publicity_end) { br; span.muted { "公示 " (a) "–" (b) } } }
                            td { (s.actor) }
                            td { (s.comment)
                                @for o in s.objections.values() {
                                    br; span.muted { "异议(" (o.date) " " (o.by) "):" (o.content) @if let Some(r) = &o.resolution { ";处理:" (r) } }
                                }
                            }
                        }
                    }
                }
            } }
            @for (_, s) in c.records() {
                @if !s.attachments.is_empty() {
                    p.muted { (s.step.label()) "材料" }
                    (evidence::thumbs(v.id, v.h, &s.attachments))
                }
            }
            @if let Some(step) = next_step(c.stage()) {
                @if review::decides(viewer.user.role, step) {
                    (decide_form(viewer, v, cid, c, step, refused))
                } @else {
                    p.muted { "下一步:" (step.label()) }
                }
            }
        }
    }
}

fn decide_form(
    viewer: &Viewer,
    v: &HouseholdView<'_>,
    cid: &str,
    c: &Case,
    step: ProcedureStep,
    refused: Option<Refused<'_>>,
) -> Markup {
    let blocked = review::pass_blocked(c, step, v.today, v.min_publicity_days);
    let outcomes = review::outcomes_now(blocked.as_ref());
    html! {
        form.decide method="post" action={ "/households/" (v.id) "#case-" (cid) } {
            input type="hidden" name="csrf" value=(viewer.csrf);
            input type="hidden" name="case" value=(cid);
            input type="hidden" name="step" value=(step.code());
            p { strong { (step.label()) } }
            @if step == ProcedureStep::TownshipReview {
                p.muted { "公示须满 " (v.min_publicity_days) " 天且已结束,异议须已处理。" }
            }
            @if let Some(b) = &blocked { p.blocked { (b.reason) } }
            @if let Some(r) = refused { p.error role="alert" { (r.error) } }
            div.choices {
                @for o in outcomes {
                    label.check { input type="radio" name="outcome" value=(o.code()) required checked[refused.is_some_and(|r| r.outcome == o.code())]; (o.label()) }
                }
            }
            label { "意见(退回或不通过时必填)" textarea name="comment" rows="2" { (refused.map(|r| r.comment).unwrap_or("")) } }
            button.primary type="submit" { "提交审批" }
        }
    }
}

fn conflict_form(viewer: &Viewer, id: &str, c: &Conflict, shows_personal: bool) -> Markup {
    let field = fields::for_path(&c.path);
    let label = field
        .as_ref()
        .map(|(l, _)| l.clone())
        .unwrap_or_else(|| c.path_string());
    let sensitive = matches!(
        c.path.last().map(String::as_str),
        Some("id_number" | "phone" | "bank_account" | "health" | "disability_cert")
    );
    let describe = |v: &Json| {
        if sensitive && !shows_personal {
            "***".to_owned()
        } else {
            match &field {
                Some((_, f)) => f.describe(v),
                None => v.to_string(),
            }
        }
    };
    html! {
        form.conflict method="post" action={ "/households/" (id) "/settle" } {
            input type="hidden" name="csrf" value=(viewer.csrf);
            input type="hidden" name="path" value=(c.path_string());
            fieldset {
                legend { (label) }
                @for (i, v) in c.values.iter().enumerate() {
                    label.check.value {
                        input type="radio" name="choice" value={ "pick:" (i) } required;
                        strong { (describe(&v.value)) }
                        span.muted {
                            " " (v.user.clone().unwrap_or_else(|| "未知".into()))
                            " · " (v.device.clone().unwrap_or_default())
                            " · " (time(v.at))
                            @if v.shown { " · 当前显示" }
                        }
                    }
                }
                label.check.value {
                    input type="radio" name="choice" value="typed";
                    "填写正确的值:"
                    input type="text" name="typed" aria-label="正确的值";
                }
                @if review::settles_conflicts(viewer.user.role) {
                    button type="submit" { "采用所选值" }
                } @else {
                    p.muted { "您的角色不能处理冲突。" }
                }
            }
        }
    }
}
