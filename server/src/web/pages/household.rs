//! One household: members, checks' findings, cases with the form of their next step,
//! conflicts with the form to settle them, and the field history.

use maud::{Markup, html};
use serde_json::Value as Json;
use zoufang_shared::CodeList;
use zoufang_shared::codes::*;
use zoufang_shared::doc::Conflict;
use zoufang_shared::fields;
use zoufang_shared::model::{CaseStage, Household};
use zoufang_shared::rules::checks::{Finding, Severity};

use crate::report::roster::{mask_id, sees_ids};
use crate::review::{self, history::Entry};
use crate::web::Viewer;

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

#[allow(clippy::too_many_arguments)]
pub fn household_page(
    viewer: &Viewer,
    id: &str,
    h: &Household,
    findings: &[Finding],
    conflicts: &[Conflict],
    timeline: &[Entry],
    message: Option<(&str, bool)>,
    min_publicity_days: i64,
) -> Markup {
    let head = h
        .head()
        .map(|m| m.name.clone())
        .unwrap_or_else(|| "(未登记户主)".into());
    let shows_ids = sees_ids(viewer.user.role);
    let today = crate::projection::today();
    layout(
        Some(viewer),
        &head,
        html! {
            h1 { (head) " 户" }
            @if let Some((text, is_error)) = message {
                p class=(if is_error { "error" } else { "notice" }) role="alert" { (text) }
            }
            p {
                @if let Some(s) = h.info.status { span.badge { (s.label()) } }
                @if let Some(m) = h.info.monitoring { span.badge { (m.label()) } }
                " " (h.info.village.clone().unwrap_or_default()) " · " (h.size()) " 人"
            }
            section id="members" {
                h2 { "家庭成员" }
                ul.plain {
                    @for (_, m) in h.members_in_order() {
                        li class=(if m.is_current() { "" } else { "left" }) {
                            (m.name) " "
                            span.muted {
                                (m.relation.map(|r| r.label()).unwrap_or("")) " "
                                @if let Some(idn) = &m.id_number {
                                    (if shows_ids { idn.clone() } else { mask_id(idn) })
                                }
                                @if !m.is_current() { " (已减员)" }
                            }
                        }
                    }
                }
            }
            @if !findings.is_empty() {
                section id="findings" {
                    h2 { "数据核查" }
                    ul.findings {
                        @for f in findings {
                            li class=(if f.severity == Severity::Error { "error" } else { "warning" }) { (f.to_string()) }
                        }
                    }
                }
            }
            section id="cases" {
                h2 { "动态管理事项" }
                @if h.cases.is_empty() { p.muted { "没有事项。" } }
                @for (cid, c) in &h.cases {
                    article.case {
                        h3 { (c.kind.label()) " " span.stage { (stage_words(c.stage())) } }
                        p.muted { (c.proposed_on) " 由 " (c.proposed_by) " 提出" @if !c.reason.is_empty() { ":" (c.reason) } }
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
                        @if let Some(step) = next_step(c.stage()) {
                            @if review::decides(viewer.user.role, step) {
                                form.decide method="post" action={ "/households/" (id) "/decide" } {
                                    input type="hidden" name="csrf" value=(viewer.csrf);
                                    input type="hidden" name="case" value=(cid.as_str());
                                    input type="hidden" name="step" value=(step.code());
                                    p { strong { (step.label()) } }
                                    @if step == ProcedureStep::TownshipReview {
                                        p.muted { "公示须满 " (min_publicity_days) " 天且已结束(今天 " (today) "),异议须已处理。" }
                                    }
                                    div.choices {
                                        @for o in StepOutcome::ALL {
                                            label.check { input type="radio" name="outcome" value=(o.code()) required; (o.label()) }
                                        }
                                    }
                                    label { "意见(退回或不通过时必填)" textarea name="comment" rows="2" {} }
                                    button type="submit" { "提交审批" }
                                }
                            } @else {
                                p.muted { "下一步:" (step.label()) }
                            }
                        }
                    }
                }
            }
            section id="conflicts" {
                h2 { "数据冲突" }
                @if conflicts.is_empty() { p.muted { "没有冲突。" } }
                @for c in conflicts { (conflict_form(viewer, id, c, shows_ids)) }
            }
            section id="history" {
                details {
                    summary { "修改记录(" (timeline.len()) " 条)" }
                    div.scroll { table.history {
                        thead { tr { th { "时间" } th { "修改人" } th { "字段" } th { "原值" } th { "新值" } } }
                        tbody {
                            @for e in timeline.iter().take(500) {
                                tr {
                                    td { (time(e.at)) }
                                    td { (e.user.clone().unwrap_or_default()) br; span.muted { (e.device.clone().unwrap_or_default()) } }
                                    td { (e.label) }
                                    td { (e.before) }
                                    td { (e.after) }
                                }
                            }
                        }
                    } }
                    @if timeline.len() > 500 { p.muted { "仅显示最近 500 条。" } }
                }
            }
        },
    )
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
