//! The household form (new and edit), in steps: the largest page, with its own input widgets,
//! skip logic and member cards, none of which the other pages use.

use maud::{Markup, html};
use serde_json::Value as Json;
use zoufang_shared::codes::*;
use zoufang_shared::limits::MAX_SHORT_CHARS;
use zoufang_shared::model::*;
use zoufang_shared::rules::assessment::Assessment;

use super::household::verdict;
use super::{code_label, options};
use crate::web::fields::{self, Field, Kind};

/// Inputs a household cannot be saved without, marked on the form and checked as they are left.
const REQUIRED: &[&str] = &["info.village", "name", "relation"];

/// How an input shows: which other answer it depends on (skip logic, applied by the page
/// script: `data-show-if="<field>=<value>|<value>"`, `!` for "not", `age:<from>-<to>` for a
/// member's age from the ID number).
fn show_if(key: &str) -> Option<&'static str> {
    Some(match key {
        "school" => "age:3-24",
        "dropout_reason" => "age:6-17",
        "education" => {
            "!school=preschool|primary|junior|senior|vocational|higher_vocational|university"
        }
        "work_place" | "work_months" => "!labour=lost|none",
        "left_on" => "left_reason=*",
        _ => return None,
    })
}

fn input(name: &str, field: &Field, value: &str) -> Markup {
    let id = name.replace('.', "-");
    let key = name.rsplit('.').next().unwrap_or(name);
    let required = REQUIRED.contains(&name) || (name.starts_with("m.") && REQUIRED.contains(&key));
    html! {
        div.field data-field=(name) data-show-if=[show_if(key)] data-required[required] {
            @match field.kind {
                Kind::Check => {
                    label.check {
                        input type="checkbox" name=(name) id=(id) value="true" checked[value == "true"];
                        " " (field.label)
                    }
                }
                _ => {
                    label for=(id) { (field.label) @if required { span.req title="必填" { " *" } } }
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

fn section_inputs<'a>(
    prefix: &str,
    specs: impl IntoIterator<Item = &'a Field>,
    json: &Json,
) -> Markup {
    html! {
        @for spec in specs {
            (input(&format!("{prefix}.{}", spec.key), spec, &spec.show(json.get(spec.key))))
        }
    }
}

/// A member's fields as the card asks them: relation and ID number first (the ID gives sex and
/// age, which the page fills in and uses to skip what does not apply), then the rest.
fn member_fields() -> impl Iterator<Item = &'static Field> {
    const FIRST: [&str; 3] = ["relation", "id_number", "name"];
    let first = FIRST
        .iter()
        .filter_map(|k| fields::MEMBER.iter().find(|f| f.key == *k));
    first.chain(fields::MEMBER.iter().filter(|f| !FIRST.contains(&f.key)))
}

/// One member: a card of its own, folded to its name and relation when it is not being edited.
fn member_card(key: &str, json: &Json, is_new: bool) -> Markup {
    let prefix = format!("m.{key}");
    let name = json.get("name").and_then(Json::as_str).unwrap_or("");
    let relation = code_label::<Relation>(json.get("relation").and_then(Json::as_str));
    html! {
        details.member data-member=(key) open[is_new] {
            summary {
                strong.member-name { @if name.is_empty() { "新成员" } @else { (name) } }
                " " span.muted.member-relation { (relation) }
            }
            @for spec in member_fields() {
                (input(&format!("{prefix}.{}", spec.key), spec, &spec.show(json.get(spec.key))))
            }
            @if is_new { button type="button" class="remove-member" { "删除此成员" } }
        }
    }
}

/// The steps of the household form, in order: (key, label). The last shows what was changed
/// and saves.
pub const FORM_STEPS: [(&str, &str); 6] = [
    ("basic", "基本"),
    ("members", "成员"),
    ("income", "收入"),
    ("living", "住房与饮水"),
    ("guarantees", "两不愁三保障"),
    ("review", "核对保存"),
];

fn step(key: &str, body: Markup) -> Markup {
    let label = FORM_STEPS
        .iter()
        .find(|(k, _)| *k == key)
        .map_or("", |(_, l)| *l);
    html! { section.step data-step=(key) { h2.step-title { (label) } (body) } }
}

/// The draft key of a household's form (`household:new` for a new one).
pub fn household_draft_key(id: Option<&str>) -> String {
    format!("household:{}", id.unwrap_or("new"))
}

/// The household form: new (`h` is a blank household) or edit, in steps.
/// `version` names the document version the form shows (its heads), so that saving carries
/// only what the surveyor changed over whatever a sync brought in meanwhile.
pub fn household_form(
    h: &Household,
    version: Option<&str>,
    year: i32,
    a: Option<&Assessment>,
    villages: &[crate::web::areas::Village],
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
    let draft = household_draft_key((!is_new).then_some(h.id.as_str()));
    // 户编号 names the household in the national system: typed once, at creation.
    // With an area tree, the place is picked from it, not typed.
    const PICKED: [&str; 5] = ["province", "city", "county", "township", "village"];
    let basic = fields::INFO.iter().filter(|f| {
        (is_new || f.key != "household_no") && (villages.is_empty() || !PICKED.contains(&f.key))
    });
    let picked = h.info.area_code.as_deref();
    html! {
        h1 { @if is_new { "新建农户" } @else { "编辑农户信息" } }
        @if !is_new {
            p.muted #household-no { "户编号:" (h.info.household_no.clone().unwrap_or_else(|| "(无)".into())) "(建户后不可更改)" }
        }
        form #household-form.stepped data-api=(action) data-method=(method) data-draft=(draft) data-preview={ "/api/preview?household=" (h.id) } novalidate {
            nav.stepbar aria-label="填写步骤" {
                @for (i, (key, label)) in FORM_STEPS.iter().enumerate() {
                    button.step-tab type="button" data-goto=(key) { span.n { (i + 1) } (label) }
                }
            }
            div.progress { div.bar #step-bar {} }
            p.draft-note #draft-note hidden {}
            p.err.form-error data-err-for="form" {}
            @if let Some(v) = version { input type="hidden" name="_version" value=(v); }
            (step("basic", html! {
                @if !villages.is_empty() {
                    div.field data-field=(crate::web::areas::PICKER) data-required {
                        label for="info-area_code" { "所在村" span.req title="必填" { " *" } }
                        select name=(crate::web::areas::PICKER) id="info-area_code" {
                            option value="" { "请选择" }
                            @for v in villages {
                                option value=(v.code) selected[picked == Some(v.code.as_str())] { (v.label) }
                            }
                        }
                        p.err data-err-for=(crate::web::areas::PICKER) {}
                    }
                }
                (section_inputs("info", basic, &info))
            }))
            (step("members", html! {
                p.err data-err-for="members" {}
                div #member-cards {
                    @for (id, m) in h.members_in_order() { (member_card(id.as_str(), &to_json(m), false)) }
                }
                template #member-template { (member_card("__KEY__", &to_json(&Member::default()), true)) }
                button.wide type="button" #add-member { "+ 再添加一名成员" }
            }))
            (step("income", html! {
                div.field data-field="income.year" {
                    label for="income-year" { "收入年度" }
                    input type="number" name="income.year" id="income-year" value=(year);
                    p.err data-err-for="income.year" {}
                }
                p.muted { "近 12 个月,单位:元" }
                (section_inputs("income", fields::INCOME, &to_json(&income)))
                p.live { "人均纯收入(自动计算):" output #per-capita-live { "—" } " 元" }
            }))
            (step("living", html! {
                fieldset { legend { "住房与生活条件" } (section_inputs("living", fields::LIVING, &to_json(&h.living))) }
                fieldset { legend { "饮水安全" } (section_inputs("water", fields::WATER, &to_json(&h.water))) }
                fieldset { legend { "土地" } (section_inputs("land", fields::LAND, &to_json(&h.land))) }
            }))
            (step("guarantees", html! { (section_inputs("info", fields::CHECKLIST, &info)) }))
            (step("review", html! {
                h3 { "本次填写的内容" }
                ul.summary #summary { li.muted { "尚未修改任何内容。" } }
                (verdict(a))
                button.primary type="submit" { "保存" }
                button.secondary type="submit" data-then="visit" { "保存并记录走访" }
            }))
            div.stepnav {
                button type="button" #step-prev { "上一步" }
                button type="button" #step-next { "下一步" }
            }
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
