//! Server-rendered pages (maud). Plain HTML forms and lists, readable without JavaScript; the
//! script in `assets/app.js` adds the live verdict, member cards, photos and signatures.

use maud::{DOCTYPE, Markup, html};
use serde_json::Value as Json;
use zoufang_shared::CodeList;
use zoufang_shared::codes::*;
use zoufang_shared::doc::Conflict;
use zoufang_shared::limits::{MAX_NOTE_CHARS, MAX_SHORT_CHARS};
use zoufang_shared::model::*;
use zoufang_shared::rounds::Round;
use zoufang_shared::rules::assessment::Assessment;
use zoufang_shared::rules::checks::Finding;
use zoufang_shared::rules::resident_id::ResidentId;

use super::fields::{self, Field, Kind};
use crate::store::{IndexRow, ListFilter};

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

pub fn list(rows: &[IndexRow], villages: &[String], filter: &ListFilter, total: i64) -> Markup {
    let f = |v: &Option<String>| v.clone().unwrap_or_default();
    html! {
        h1 { "农户列表" }
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
            button type="submit" { "筛选" }
        }
        p.count { "共 " (rows.len()) " 户" @if (rows.len() as i64) < total { "(全部 " (total) " 户)" } }
        ul.cards {
            @for r in rows {
                li.card {
                    a href={ "/h/" (r.id) } {
                        strong { (r.head_name.clone().unwrap_or_else(|| "(未填户主)".into())) }
                        span.muted { " " (f(&r.household_no)) }
                        br;
                        span { (f(&r.village)) " " (f(&r.group)) " · " (r.size) " 人 · " (code_label::<HouseholdStatus>(r.status.as_deref())) }
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
];

pub fn flag_label(code: &str) -> String {
    FLAG_LABELS
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, l)| (*l).to_owned())
        .unwrap_or_else(|| code.to_owned())
}

fn masked(id: Option<&str>) -> String {
    match id.map(ResidentId::parse) {
        Some(Ok(r)) => r.masked(),
        Some(Err(_)) => "(号码有误)".into(),
        None => String::new(),
    }
}

pub struct HouseholdView<'a> {
    pub h: &'a Household,
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
                                    span.badge { (field.describe(&val.value)) " — " (writer(val)) }
                                }
                            }
                            None => {
                                code { (c.path_string()) } ":"
                                @for val in &c.values {
                                    span.badge { (val.value.to_string()) " — " (writer(val)) }
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
                            img src={ "/a/" (hash) } alt=(attachment_alt(h, hash)) loading="lazy";
                        }
                    }
                }
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

/// Who wrote a conflicting value, and when.
fn writer(v: &zoufang_shared::doc::ConflictValue) -> String {
    let who = v.user.clone().unwrap_or_else(|| "未知".into());
    match v.at {
        Some(at) => format!(
            "{who},{}",
            at.with_timezone(&chrono::Local).format("%m-%d %H:%M")
        ),
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

fn input(name: &str, field: &Field, value: &str) -> Markup {
    let id = name.replace('.', "-");
    html! {
        div.field data-field=(name) {
            @match field.kind {
                Kind::Check => {
                    label.check {
                        input type="checkbox" name=(name) id=(id) value="true" checked[value == "true"];
                        " " (field.label)
                    }
                }
                _ => {
                    label for=(id) { (field.label) }
                    @match field.kind {
                        Kind::Choice(list) => {
                            select name=(name) id=(id) { (options(&list(), Some(value), "请选择")) }
                        }
                        Kind::YesNo => {
                            select name=(name) id=(id) {
                                option value="" { "未核实" }
                                option value="true" selected[value == "true"] { "是" }
                                option value="false" selected[value == "false"] { "否" }
                            }
                        }
                        Kind::Set(list) => {
                            div.set data-set=(name) id=(id) {
                                @for (code, label) in list() {
                                    label.check {
                                        input type="checkbox" value=(code) checked[value.split(',').any(|v| v == code)];
                                        " " (label)
                                    }
                                }
                            }
                        }
                        Kind::Number => { input type="number" inputmode="numeric" min="0" name=(name) id=(id) value=(value); }
                        Kind::Money | Kind::Mu => { input type="text" inputmode="decimal" name=(name) id=(id) value=(value) placeholder="0"; }
                        Kind::Date => { input type="date" name=(name) id=(id) value=(value); }
                        // Every text field of the household form is a one-line field.
                        _ => { input type="text" name=(name) id=(id) value=(value) maxlength=(MAX_SHORT_CHARS); }
                    }
                }
            }
            p.err data-err-for=(name) {}
        }
    }
}

fn section_inputs(prefix: &str, specs: &[Field], json: &Json) -> Markup {
    html! {
        @for spec in specs {
            (input(&format!("{prefix}.{}", spec.key), spec, &spec.show(json.get(spec.key))))
        }
    }
}

fn member_card(key: &str, json: &Json, is_new: bool) -> Markup {
    html! {
        fieldset.member data-member=(key) {
            legend { "成员" }
            (section_inputs(&format!("m.{key}"), fields::MEMBER, json))
            @if is_new { button type="button" class="remove-member" { "删除此卡片" } }
        }
    }
}

/// The household form: new (`h` is a blank household) or edit.
/// `version` names the document version the form shows (its heads), so that saving carries
/// only what the surveyor changed over whatever a sync brought in meanwhile.
pub fn household_form(
    h: &Household,
    version: Option<&str>,
    year: i32,
    a: Option<&Assessment>,
) -> Markup {
    let is_new = version.is_none();
    let to_json = |v: &dyn erased::Ser| v.json();
    let info = to_json(&h.info);
    let income = h.incomes.get(&year).cloned().unwrap_or_default();
    let (method, action) = if is_new {
        ("POST", "/api/households".to_owned())
    } else {
        ("PUT", format!("/api/households/{}", h.id))
    };
    html! {
        h1 { @if is_new { "新建农户" } @else { "编辑农户信息" } }
        form #household-form data-api=(action) data-method=(method) data-preview={ "/api/preview?household=" (h.id) } novalidate {
            p.err.form-error data-err-for="form" {}
            @if let Some(v) = version { input type="hidden" name="_version" value=(v); }
            fieldset { legend { "基本信息" } (section_inputs("info", fields::INFO, &info)) }
            fieldset #members-section {
                legend { "家庭成员" }
                div #member-cards {
                    @for (id, m) in h.members_in_order() { (member_card(id.as_str(), &to_json(m), false)) }
                }
                template #member-template { (member_card("__KEY__", &to_json(&Member::default()), true)) }
                button type="button" #add-member { "+ 添加成员" }
            }
            fieldset {
                legend { "收入(近 12 个月,元)" }
                div.field data-field="income.year" {
                    label for="income-year" { "收入年度" }
                    input type="number" name="income.year" id="income-year" value=(year);
                    p.err data-err-for="income.year" {}
                }
                (section_inputs("income", fields::INCOME, &to_json(&income)))
                p.live { "人均纯收入(自动计算):" output #per-capita-live { "—" } " 元" }
            }
            fieldset { legend { "住房与生活条件" } (section_inputs("living", fields::LIVING, &to_json(&h.living))) }
            fieldset { legend { "饮水安全" } (section_inputs("water", fields::WATER, &to_json(&h.water))) }
            fieldset { legend { "土地" } (section_inputs("land", fields::LAND, &to_json(&h.land))) }
            fieldset {
                legend { "两不愁三保障" }
                (section_inputs("info", fields::CHECKLIST, &info))
                (verdict(a))
            }
            button.primary type="submit" { "保存" }
        }
    }
}

/// Serialising any model value to JSON without naming its type at each call.
mod erased {
    pub trait Ser {
        fn json(&self) -> serde_json::Value;
    }
    impl<T: serde::Serialize> Ser for T {
        fn json(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap_or_default()
        }
    }
}

pub fn visit_form(h: &Household, today: chrono::NaiveDate, visitor: &str) -> Markup {
    html! {
        h1 { "记录走访" }
        p.muted { (h.head().map(|m| m.name.clone()).unwrap_or_default()) " 户" }
        form #visit-form data-api={ "/api/households/" (h.id) "/visits" } data-method="POST" data-back={ "/h/" (h.id) } novalidate {
            p.err.form-error data-err-for="form" {}
            div.field { label for="v-date" { "走访日期" } input type="date" name="date" id="v-date" value=(today); p.err data-err-for="date" {} }
            div.field { label for="v-visitor" { "走访人" } input type="text" name="visitor" id="v-visitor" value=(visitor) maxlength=(MAX_SHORT_CHARS); p.err data-err-for="visitor" {} }
            div.field {
                span.label { "走访方式" }
                @for m in VisitMode::ALL {
                    label.check { input type="radio" name="mode" value=(m.code()) checked[*m == VisitMode::InPerson]; " " (m.label()) }
                }
                p.err data-err-for="mode" {}
            }
            div.field {
                label.check { input type="checkbox" name="household_present" value="true" checked; " 户主或家庭成员在家" }
            }
            div.field { label for="v-notes" { "走访情况" } textarea name="notes" id="v-notes" rows="4" maxlength=(MAX_NOTE_CHARS) {} (note_limit()) }
            div.field { label for="v-policies" { "享受政策知晓情况" } textarea name="policies_known" id="v-policies" rows="2" maxlength=(MAX_NOTE_CHARS) {} (note_limit()) }
            div.field {
                label for="v-sat" { "对帮扶工作满意度" }
                select name="satisfaction" id="v-sat" { (options(&fields::choices::<Satisfaction>(), None, "未询问")) }
            }
            div.field {
                label for="v-photo" { "照片" }
                input type="file" id="v-photo" accept="image/*" capture="environment" multiple;
                p.muted { "照片在本机缩小至 1600 像素以内后保存同步,原图仅保留在本机。" }
                div.thumbs #photo-thumbs {}
                p.err data-err-for="photos" {}
            }
            @for role in [SignerRole::Head, SignerRole::Surveyor, SignerRole::TeamLeader] {
                div.field.signature data-role=(role.code()) {
                    span.label { (role.label()) "签名" }
                    canvas.pad width="600" height="200" {}
                    button type="button" class="clear-pad" { "清除" }
                }
            }
            button.primary type="submit" { "保存走访" }
        }
    }
}

/// `open`: the rounds open for the household today, the default first.
pub fn case_form(h: &Household, open: &[&Round]) -> Markup {
    html! {
        h1 { "提出动态管理事项" }
        p.muted { (h.head().map(|m| m.name.clone()).unwrap_or_default()) " 户" }
        form #case-form data-api={ "/api/households/" (h.id) "/cases" } data-method="POST" novalidate {
            p.err.form-error data-err-for="form" {}
            ul.failures #case-failures {}
            div.field {
                label for="c-kind" { "事项类型" }
                select name="kind" id="c-kind" { (options(&fields::choices::<CaseKind>(), None, "请选择")) }
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
                    @for (id, m) in h.current_members() {
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
                    select name="step" id="s-step" { (options(&fields::choices::<ProcedureStep>(), None, "请选择")) }
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

    #[test]
    fn text_inputs_hold_what_the_limits_allow_and_notes_say_so() {
        let h = Household::new(HouseholdId::from("hh-1"));
        let form = household_form(&h, None, 2026, None).into_string();
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
