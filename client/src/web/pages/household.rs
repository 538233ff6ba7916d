//! One household's page, read only: its verdict, findings, conflicts, members, visits and
//! cases. Separate from the forms, which write; the household form borrows only the verdict.

use maud::{Markup, html};
use zoufang_shared::CodeList;
use zoufang_shared::codes::ProcedureStep;
use zoufang_shared::doc::Conflict;
use zoufang_shared::model::*;
use zoufang_shared::rules::assessment::Assessment;
use zoufang_shared::rules::checks::Finding;
use zoufang_shared::rules::resident_id::ResidentId;

use crate::web::fields;

fn masked(id: Option<&str>) -> String {
    match id.map(ResidentId::parse) {
        Some(Ok(r)) => r.masked(),
        Some(Err(_)) => "(号码有误)".into(),
        None => String::new(),
    }
}

pub struct HouseholdView<'a> {
    pub h: &'a Household,
    /// Created here and never synced: it may still be withdrawn.
    pub unsynced: bool,
    /// The county's time zone, for the times shown.
    pub zone: chrono::FixedOffset,
    pub year: Option<i32>,
    pub assessment: Option<Assessment>,
    pub findings: Vec<Finding>,
    pub conflicts: Vec<Conflict>,
}

pub fn verdict(a: Option<&Assessment>) -> Markup {
    html! {
        div #verdict.verdict.ok[a.is_some_and(|a| a.passed)] {
            @match a {
                None => p { "尚无收入年度,无法评估。" },
                Some(a) => {
                    p.headline {
                        @if a.passed { "✓ 符合两不愁三保障及收入标准" } @else { "✗ 未达标" }
                    }
                    @if let Some(i) = &a.income { p #per-capita { "人均纯收入:" (i.per_capita) " 元(" (i.size) " 人)" } }
                    @if let Some(s) = &a.standard { p.muted #standard { "标准:" (s.citation()) } }
                    @if let Some(n) = &a.notice { p.notice #standard-notice { (n) } }
                    ul.failures {
                        @for f in &a.failures { li { strong { (f.criterion.label()) } ":" (f.message) } }
                    }
                }
            }
        }
    }
}

pub fn household(v: &HouseholdView<'_>) -> Markup {
    let h = v.h;
    let title = h
        .head()
        .map(|m| m.name.clone())
        .unwrap_or_else(|| "农户".into());
    html! {
        h1 { (title) " 户" }
        p.muted {
            (h.info.household_no.clone().unwrap_or_default()) " "
            (h.info.township.clone().unwrap_or_default()) (h.info.village.clone().unwrap_or_default()) (h.info.group.clone().unwrap_or_default())
            " · " (h.info.status.map(|s| s.label()).unwrap_or("状态未填"))
        }
        div.actions {
            a.button href={ "/h/" (h.id) "/edit" } { "编辑农户信息" }
            a.button href={ "/h/" (h.id) "/visit" } { "记录走访" }
            a.button href={ "/h/" (h.id) "/case/new" } { "提出动态管理事项" }
        }
        h2 { "评估" @if let Some(y) = v.year { "(" (y) " 年)" } }
        (verdict(v.assessment.as_ref()))
        @if !v.findings.is_empty() {
            h2 { "数据质量提示" }
            ul.findings #findings {
                @for f in &v.findings { li.(f.severity.code()) { (f.severity.label()) ":" (f.message) } }
            }
        }
        @if !v.conflicts.is_empty() {
            h2 { "冲突(多人同时修改)" }
            ul.conflicts #conflicts {
                @for c in &v.conflicts {
                    li {
                        @match fields::for_path(&c.path) {
                            Some((label, field)) => {
                                strong { (label) } ":"
                                @for val in &c.values {
                                    span.badge { (field.describe(&val.value)) " — " (writer(val, &v.zone)) }
                                }
                            }
                            None => {
                                code { (c.path_string()) } ":"
                                @for val in &c.values {
                                    span.badge { (val.value.to_string()) " — " (writer(val, &v.zone)) }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "家庭成员(" (h.size()) " 人)" }
        ul.cards #members {
            @for (_, m) in h.members_in_order() {
                li.card.left[!m.is_current()] {
                    strong { (m.name) } " " (m.relation.map(|r| r.label()).unwrap_or("")) " "
                    (m.sex.map(|s| s.label()).unwrap_or("")) " "
                    @if let Some(age) = m.age_on(chrono::Local::now().date_naive()) { (age) " 岁 " }
                    span.muted { (masked(m.id_number.as_deref())) }
                    @if let Some(r) = m.left_reason { " · 已减员(" (r.label()) ")" }
                }
            }
        }
        h2 { "走访记录(" (h.visits.len()) ")" }
        ul.cards #visits {
            @for (_, visit) in visits_newest_first(h) {
                li.card {
                    strong { (visit.date) " " (visit.mode.label()) } " " (visit.visitor)
                    @if let Some(s) = visit.satisfaction { " · " (s.label()) }
                    @if !visit.notes.is_empty() { p { (visit.notes) } }
                    div.thumbs {
                        @for hash in &visit.attachments {
                            @let signer = h.attachments.get(hash).and_then(|a| a.signer);
                            @match signer {
                                Some(role) => figure.signed {
                                    img src={ "/a/" (hash) } alt=(attachment_alt(h, hash)) loading="lazy";
                                    figcaption { (role.label()) "签名" }
                                },
                                None => { img src={ "/a/" (hash) } alt=(attachment_alt(h, hash)) loading="lazy"; },
                            }
                        }
                    }
                }
            }
        }
        @if v.unsynced {
            form.reset-form #withdraw data-api={ "/api/households/" (h.id) "/withdraw" } data-back="/"
                data-confirm="撤回后本户从本设备删除(尚未同步,服务器上没有)。确定撤回?" {
                p.muted { "本户尚未同步。如系误建,可在同步前撤回。" }
                p.err data-err-for="form" {}
                button type="submit" { "撤回此农户" }
            }
        }
        h2 { "动态管理事项" }
        ul.cards #cases {
            @for (id, c) in &h.cases {
                li.card {
                    a href={ "/h/" (h.id) "/case/" (id) } {
                        strong { (c.kind.label()) } " " (c.proposed_on) " · " (stage_label(c))
                    }
                }
            }
        }
    }
}

/// Who wrote a conflicting value, and when (in the county's time).
fn writer(v: &zoufang_shared::doc::ConflictValue, zone: &chrono::FixedOffset) -> String {
    let who = v.user.clone().unwrap_or_else(|| "未知".into());
    match v.at {
        Some(at) => format!("{who},{}", at.with_timezone(zone).format("%m-%d %H:%M")),
        None => who,
    }
}

fn attachment_alt(h: &Household, hash: &str) -> String {
    match h.attachments.get(hash) {
        Some(a) => match a.signer {
            Some(s) => format!("{}签名", s.label()),
            None => a.kind.label().to_owned(),
        },
        None => "附件".into(),
    }
}

fn visits_newest_first(h: &Household) -> Vec<(&zoufang_shared::ids::VisitId, &Visit)> {
    let mut v: Vec<_> = h.visits.iter().collect();
    v.sort_by(|a, b| b.1.date.cmp(&a.1.date).then(a.0.cmp(b.0)));
    v
}

pub fn stage_label(c: &Case) -> String {
    match c.stage() {
        CaseStage::Proposed => "已提出,待入户核查".into(),
        CaseStage::Passed(ProcedureStep::Announcement) => "已公告,办结".into(),
        CaseStage::Passed(s) => format!("{}已通过", s.label()),
        CaseStage::Returned(s) => format!("{}被退回", s.label()),
        CaseStage::Rejected(s) => format!("{}未通过", s.label()),
    }
}
