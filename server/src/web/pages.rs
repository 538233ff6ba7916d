//! The review pages' HTML (maud). Phone first: one column, tables that scroll sideways inside
//! their box, large touch targets; the same pages widen on a desktop.

use axum::http::StatusCode;
use chrono::{DateTime, NaiveDate, Utc};
use maud::{DOCTYPE, Markup, html};
use serde_json::Value as Json;
use zoufang_shared::CodeList;
use zoufang_shared::codes::*;
use zoufang_shared::doc::Conflict;
use zoufang_shared::fields;
use zoufang_shared::model::{CaseStage, Household};
use zoufang_shared::rules::checks::{Finding, Severity};

use super::Viewer;
use super::report::RosterParams;
use crate::projection::local_offset;
use crate::report::cross::ConflictEntry;
use crate::report::roster::{RosterFilter, RosterRow, mask_id, sees_ids};
use crate::report::{Bucket, Hp, Report, Section};
use crate::review::ChecksSummary;
use crate::review::{self, history::Entry};
use crate::storage::{Area, SpotCheck};

/// `a=1&b=2`, percent-encoded.
pub fn query_string<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .collect();
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

fn layout(viewer: Option<&Viewer>, title: &str, body: Markup) -> Markup {
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

/// `csrf`: the login form's anti-forgery token (`session`), paired with its cookie.
pub fn login_page(error: Option<&str>, csrf: Option<&str>) -> Markup {
    layout(
        None,
        "登录",
        html! {
            h1 { "登录" }
            @if let Some(e) = error { p.error role="alert" { (e) } }
            form.stack method="post" action="/login" {
                @if let Some(token) = csrf { input type="hidden" name="csrf" value=(token); }
                label { "用户名" input type="text" name="username" autocomplete="username" required; }
                label { "密码" input type="password" name="password" autocomplete="current-password" required; }
                button.primary type="submit" { "登录" }
            }
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
fn area_select(areas: &[Area], selected: &str) -> Markup {
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

fn hp(h: Hp) -> Markup {
    html! { (h.households) "户" span.p { (h.persons) "人" } }
}

fn percent(v: Option<f64>) -> String {
    v.map(|r| format!("{:.2}%", r * 100.0))
        .unwrap_or_else(|| "—".into())
}

fn yuan(fen: i64) -> String {
    crate::export::fen_to_yuan(fen)
}

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| {
        t.with_timezone(&local_offset())
            .format("%Y-%m-%d %H:%M")
            .to_string()
    })
    .unwrap_or_else(|| "时间不详".into())
}

pub fn report_page(viewer: &Viewer, r: &Report, areas: &[Area]) -> Markup {
    let s = &r.total;
    let period = [
        ("area", s.area_code.clone()),
        ("from", r.from.to_string()),
        ("to", r.to.to_string()),
    ];
    let link = |extra: &[(&str, String)]| {
        let mut q: Vec<(&str, String)> = period.to_vec();
        q.extend(extra.iter().cloned());
        format!("/roster?{}", query_string(&q))
    };
    layout(
        Some(viewer),
        "动态管理统计",
        html! {
            h1 { "动态管理统计 · " (s.area_name) }
            form.filters method="get" action="/report" {
                (area_select(areas, &s.area_code))
                label { "自" input type="date" name="from" value=(r.from); }
                label { "至" input type="date" name="to" value=(r.to); }
                button type="submit" { "查询" }
            }
            p.muted { "户状态为当前状态;动态管理事项按提出日期计入统计期。每个数字可点开查看对应农户。" }
            p.actions {
                a.button href={ "/export/report?" (query_string(&period)) "&format=xlsx" } { "导出 Excel" }
                a.button href={ "/export/report?" (query_string(&period)) "&format=csv" } { "导出 CSV" }
            }
            h2 { "合计 " (hp(s.all)) }
            h2 { "户状态" }
            div.scroll { table.counts {
                thead { tr { th { "状态" } th { "户数 / 人数" } } }
                tbody {
                    @for l in &s.by_status {
                        tr {
                            td { (l.label) }
                            td { a href=(link(&[("status", l.code.clone())])) { (hp(l.count)) } }
                        }
                    }
                }
            } }
            h2 { "动态管理事项(按程序阶段)" }
            div.scroll { table.counts.wide {
                thead { tr {
                    th { "事项" } th { "合计" }
                    @for b in Bucket::ALL { th { (b.label()) } }
                    th { "公示有异议" }
                } }
                tbody {
                    @for c in &s.by_case {
                        tr {
                            th scope="row" { (c.label) }
                            td { a href=(link(&[("kind", c.kind.clone())])) { (hp(c.total)) } }
                            @for (b, n) in Bucket::ALL.iter().zip(&c.buckets) {
                                td {
                                    @if n.households > 0 {
                                        a href=(link(&[("kind", c.kind.clone()), ("bucket", b.code().into())])) { (hp(*n)) }
                                    } @else { span.zero { "0" } }
                                }
                            }
                            td { a href=(link(&[("kind", c.kind.clone()), ("objected", "1".into())])) { (hp(c.objected)) } }
                        }
                    }
                }
            } }
            (rates(s, &link(&[("kind", "new_entry".into()), ("missed", "1".into())])))
            @if !r.children.is_empty() {
                h2 { "下级区域" }
                div.scroll { table.counts {
                    thead { tr { th { "区域" } th { "合计" } th { "未脱贫" } th { "返贫" } th { "事项" } th { "错评率" } } }
                    tbody {
                        @for c in &r.children {
                            tr {
                                td { a href={ "/report?" (query_string(&[("area", c.area_code.clone()), ("from", r.from.to_string()), ("to", r.to.to_string())])) } { (c.area_name) } }
                                td { (hp(c.all)) }
                                td { (hp(status_count(c, HouseholdStatus::NotExited))) }
                                td { (hp(status_count(c, HouseholdStatus::Relapsed))) }
                                td { (c.by_case.iter().map(|l| l.total.households).sum::<i64>()) "户" }
                                td { (percent(c.rates.wrong_entry)) }
                            }
                        }
                    }
                } }
            }
        },
    )
}

fn status_count(s: &Section, status: HouseholdStatus) -> Hp {
    s.by_status
        .iter()
        .find(|l| l.code == status.code())
        .map(|l| l.count)
        .unwrap_or_default()
}

fn rates(s: &Section, missed_link: &str) -> Markup {
    html! {
        h2 { "比率" }
        dl.rates {
            dt { "错评率" } dd { (percent(s.rates.wrong_entry)) }
            dt { "错退率" } dd { (percent(s.rates.wrongful_exit)) }
            dt { "漏评" } dd { a href=(missed_link) { (hp(s.rates.missed)) } }
            dt { "贫困发生率" } dd { (percent(s.rates.poverty_incidence)) }
        }
        p.muted {
            "错评率 = 错评剔除户 ÷ 建档立卡户(未脱贫、已脱贫、返贫);错退率 = 错退户 ÷ 已脱贫户;"
            "漏评 = 排查发现的新识别户;贫困发生率 = 未脱贫及返贫人口 ÷ 在册总人口。不通过的事项不计入。"
        }
    }
}

/// What a roster filter shows, in words.
fn filter_words(f: &RosterFilter, areas: &[Area]) -> Vec<String> {
    let mut w = vec![area_name(areas, &f.area)];
    if let Some(s) = &f.status {
        w.push(status_label(s));
    }
    if let Some(c) = &f.case {
        if let Some(k) = c.kind.as_deref().and_then(|k| CaseKind::parse(k).ok()) {
            w.push(k.label().into());
        }
        if let Some(b) = c.bucket {
            w.push(b.label().into());
        }
        if c.missed {
            w.push("漏评".into());
        }
        if c.objected {
            w.push("公示有异议".into());
        }
        w.push(format!("{} 至 {} 提出", c.from, c.to));
    }
    match f.flag.as_deref() {
        Some("error") => w.push("有错误".into()),
        Some("warning") => w.push("有警告".into()),
        Some("income_jump") => w.push("收入与上年相差十倍以上".into()),
        Some(other) => w.push(format!("核查项 {other}")),
        None => {}
    }
    if f.conflicted {
        w.push("有冲突".into());
    }
    if f.helper_key.is_some() {
        w.push("同一帮扶责任人".into());
    }
    if let Some(d) = f.not_visited_since {
        w.push(format!("{d} 以来未走访"));
    }
    if f.exit_failing {
        w.push("退出已审核但未达标".into());
    }
    if let Some(q) = &f.search {
        w.push(format!("含「{q}」"));
    }
    w
}

pub fn roster_page(
    viewer: &Viewer,
    params: &RosterParams,
    filter: &RosterFilter,
    rows: &[RosterRow],
    total: (i64, i64),
    areas: &[Area],
    limit: i64,
) -> Markup {
    let base = params.query();
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last())
        .flatten()
        .map(|r| {
            format!(
                "/roster?{base}&{}",
                query_string(&[("after", format!("{}|{}", r.area_code, r.id))])
            )
        });
    layout(
        Some(viewer),
        "花名册",
        html! {
            h1 { "花名册" }
            p.filter-words { (filter_words(filter, areas).join(" · ")) }
            form.filters method="get" action="/roster" {
                (area_select(areas, &filter.area))
                input type="search" name="q" placeholder="户主姓名或户编号" value=[filter.search.as_deref()];
                @for (k, v) in hidden_filters(params) { input type="hidden" name=(k) value=(v); }
                button type="submit" { "查询" }
            }
            p { "共 " strong.total { (total.0) } " 户 " (total.1) " 人" }
            p.actions {
                a.button href={ "/export/roster?" (base) "&format=xlsx" } { "导出 Excel" }
                a.button href={ "/export/roster?" (base) "&format=csv" } { "导出 CSV" }
            }
            @if rows.is_empty() { p.muted { "没有符合条件的农户。" } }
            ul.cards {
                @for r in rows {
                    li.card {
                        a href={ "/households/" (r.id) } {
                            strong { (r.head_name) }
                            " " span.muted { (area_name(areas, &r.area_code)) " · " (r.persons) "人" }
                            br;
                            @if let Some(s) = &r.status { span.badge { (status_label(s)) } }
                            @if let Some(m) = &r.monitoring { span.badge { (status_label(m)) } }
                            @if let Some(pc) = r.per_capita { span.badge { "人均 " (yuan(pc)) " 元" } }
                            @if r.errors > 0 { span.badge.warn { (r.errors) " 个错误" } }
                            @if r.conflicts > 0 { span.badge.warn { (r.conflicts) " 处冲突" } }
                            @if let Some(id) = &r.head_id { br; span.muted { "户主证件 " (id) } }
                        }
                    }
                }
            }
            @if let Some(n) = next { p { a.button href=(n) { "下一页" } } }
        },
    )
}

/// The filters of a roster other than area and search, carried through the search form.
fn hidden_filters(p: &RosterParams) -> Vec<(&'static str, String)> {
    let all: [(&'static str, &Option<String>); 13] = [
        ("from", &p.period.from),
        ("to", &p.period.to),
        ("status", &p.status),
        ("kind", &p.kind),
        ("bucket", &p.bucket),
        ("missed", &p.missed),
        ("objected", &p.objected),
        ("flag", &p.flag),
        ("conflicted", &p.conflicted),
        ("helper", &p.helper),
        ("unvisited", &p.unvisited),
        ("exit_failing", &p.exit_failing),
        ("after", &None),
    ];
    all.iter()
        .filter_map(|(k, v)| {
            v.as_ref()
                .filter(|v| !v.is_empty())
                .map(|v| (*k, v.clone()))
        })
        .collect()
}

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
