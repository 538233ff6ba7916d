//! The evidence a reviewer decides on, section by section: the members, the year's income
//! against its line, the 两不愁三保障 + 饮水 + income verdict criterion by criterion, land,
//! housing and water, helpers, and the visits with their photos and signatures.

use chrono::NaiveDate;
use maud::{Markup, html};
use zoufang_shared::CodeList;
use zoufang_shared::codes::*;
use zoufang_shared::model::{Household, Member};
use zoufang_shared::money::{Fen, Mu};
use zoufang_shared::rules::assessment::{Assessment, Criterion};

use crate::report::roster::mask_id;

/// What the page may show of personal data, by the viewer's role (`report::roster`).
#[derive(Debug, Clone, Copy)]
pub struct Shown {
    pub ids: bool,
    pub phones: bool,
}

fn or_dash<T: CodeList>(v: Option<T>) -> &'static str {
    v.map(|c| c.label()).unwrap_or("—")
}

fn yes_no(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "是",
        Some(false) => "否",
        None => "未填",
    }
}

fn mu(v: Option<Mu>) -> String {
    v.map(|m| format!("{m} 亩")).unwrap_or_else(|| "—".into())
}

/// The members, current first, with their age on `on` (a day the page names).
pub fn members(h: &Household, shown: Shown, on: NaiveDate) -> Markup {
    let id_of = |m: &Member| match &m.id_number {
        Some(idn) if shown.ids => idn.clone(),
        Some(idn) => mask_id(idn),
        None => "—".into(),
    };
    let insured = |m: &Member| {
        let mut kinds = Vec::new();
        if m.medical_insurance {
            kinds.push("医保");
        }
        if m.serious_illness_insurance {
            kinds.push("大病");
        }
        if m.pension_insurance {
            kinds.push("养老");
        }
        if kinds.is_empty() {
            "未参保".to_owned()
        } else {
            kinds.join("、")
        }
    };
    html! {
        section id="members" {
            h2 { "家庭成员(" (h.size()) " 人)" }
            p.muted { "年龄按 " (on) " 计算。" }
            div.scroll { table.members {
                thead { tr { th { "姓名" } th { "关系" } th { "年龄" } th { "证件号码" } th { "在校/文化" } th { "健康" } th { "劳动能力" } th { "参保" } } }
                tbody {
                    @for (_, m) in h.members_in_order() {
                        tr class=(if m.is_current() { "" } else { "left" }) {
                            td { (m.name) @if !m.is_current() { " (已减员)" } }
                            td { (or_dash(m.relation)) }
                            td { (m.age_on(on).map(|a| format!("{a} 岁")).unwrap_or_else(|| "—".into())) }
                            td.id { (id_of(m)) }
                            td { @match (m.school, m.education) {
                                (Some(s), _) => { (s.label()) }
                                (None, Some(e)) => { (e.label()) }
                                (None, None) => { "—" }
                            } }
                            td { (if shown.ids { or_dash(m.health) } else { "***" }) }
                            td { (or_dash(m.labour)) }
                            td { (insured(m)) }
                        }
                    }
                }
            } }
        }
    }
}

/// The year's income by source, the per-capita figure and the line it is held to, and the
/// verdict criterion by criterion: all from the projection's one assessment.
pub fn income_and_verdict(h: &Household, year: i32, a: &Assessment) -> Markup {
    let items: Vec<(&'static str, Fen)> = h
        .incomes
        .get(&year)
        .map(|i| {
            i.items()
                .into_iter()
                .filter(|(_, _, v)| v.0 != 0)
                .map(|(_, label, v)| (label, v))
                .collect()
        })
        .unwrap_or_default();
    html! {
        section id="income" {
            h2 { (year) " 年收入" }
            @if items.is_empty() { p.muted { "未登记 " (year) " 年收入。" } }
            @else {
                table.income {
                    tbody {
                        @for (label, v) in &items { tr { th { (label) } td.amount { (v) " 元" } } }
                    }
                }
            }
            @if let Some(s) = &a.income {
                dl.figures {
                    dt { "家庭纯收入" } dd { (s.net) " 元" }
                    dt { "家庭人口" } dd { (s.size) " 人" }
                    dt { "人均纯收入" } dd.per-capita { strong { (s.per_capita) " 元" } }
                    @if let Some(st) = &a.standard {
                        dt { "对照标准" }
                        dd.line { (st.describe()) " " strong { (st.amount) " 元/人·年" } br; span.muted { "来源:" (st.source) } }
                    }
                }
            }
            @if let Some(n) = &a.notice { p.flag { (n) } }
        }
        section id="verdict" {
            h2 { "两不愁三保障及饮水安全、收入评估" }
            p class={ "verdict " (if a.passed { "pass" } else { "fail" }) } {
                strong { (if a.passed { "各项均达标" } else { "未全部达标" }) }
                " " span.muted { (year) " 年" }
            }
            ul.criteria {
                @for c in Criterion::ALL {
                    @let failures: Vec<&str> = a.failures.iter().filter(|f| f.criterion == *c).map(|f| f.message.as_str()).collect();
                    li class=(if failures.is_empty() { "pass" } else { "fail" }) {
                        span.mark { (if failures.is_empty() { "✓" } else { "✗" }) }
                        strong { (c.label()) }
                        @if failures.is_empty() { " 达标" }
                        @for m in failures { br; span.muted { (m) } }
                    }
                }
            }
        }
    }
}

/// Land, housing and water as recorded.
pub fn living(h: &Household) -> Markup {
    let l = &h.living;
    let w = &h.water;
    html! {
        section id="living" {
            h2 { "住房、饮水与土地" }
            dl.figures {
                dt { "危房等级" } dd { (or_dash(l.house_grade)) @if l.house_renovated == Some(true) { "(已改造)" } @if l.moved_out == Some(true) { "(已搬离)" } }
                dt { "住房面积" } dd { (l.house_area_m2.map(|a| format!("{a} ㎡")).unwrap_or_else(|| "—".into())) }
                dt { "房屋结构" } dd { (or_dash(l.house_structure)) }
                dt { "每人每天用水" } dd { (w.litres_per_person_day.map(|v| format!("{v} 升")).unwrap_or_else(|| "—".into())) @if w.dry_area == Some(true) { "(干旱地区)" } }
                dt { "单次取水往返" } dd { (w.trip_minutes.map(|v| format!("{v} 分钟")).unwrap_or_else(|| "—".into())) }
                dt { "每年断水" } dd { (w.cut_days_per_year.map(|v| format!("{v} 天")).unwrap_or_else(|| "—".into())) }
                dt { "水质检测" } dd { (yes_no(w.quality_tested)) }
                dt { "耕地" } dd { (mu(h.land.cultivated)) }
                dt { "林地" } dd { (mu(h.land.forest)) }
                dt { "退耕还林" } dd { (mu(h.land.returned_to_forest)) }
            }
        }
    }
}

/// The household's helpers.
pub fn helpers(h: &Household, shown: Shown) -> Markup {
    html! {
        section id="helpers" {
            h2 { "帮扶责任人" }
            @if h.helpers.is_empty() { p.muted { "未登记帮扶责任人。" } }
            ul.plain {
                @for hp in h.helpers.values() {
                    li {
                        (hp.name) " " span.muted { (hp.unit.clone().unwrap_or_default()) }
                        @if shown.phones { @if let Some(p) = &hp.phone { " " span.muted { (p) } } }
                    }
                }
            }
        }
    }
}

/// Thumbnails of attachments of household `id`, each a link to the full image; signatures
/// are labelled with who signed.
pub fn thumbs<'a>(id: &str, h: &Household, hashes: impl IntoIterator<Item = &'a String>) -> Markup {
    let mut items: Vec<(&String, String, bool)> = hashes
        .into_iter()
        .map(|hash| {
            let meta = h.attachments.get(hash);
            let signature = meta.is_some_and(|a| a.kind == AttachmentKind::Signature);
            let label = match meta {
                Some(a) if signature => {
                    format!("{}签名", a.signer.map(|s| s.label()).unwrap_or(""))
                }
                _ => "照片".to_owned(),
            };
            (hash, label, signature)
        })
        .collect();
    // Photos first, then signatures: a person looks at the house, then checks who signed.
    items.sort_by_key(|(_, _, signature)| *signature);
    html! {
        @if !items.is_empty() {
            ul.thumbs {
                @for (hash, label, signature) in items {
                    @let src = format!("/households/{id}/attachments/{hash}");
                    li class=(if signature { "signature" } else { "photo" }) {
                        a href=(src) {
                            img src=(src) alt=(label);
                            span.caption { (label) }
                        }
                    }
                }
            }
        }
    }
}

/// The visits, newest first.
pub fn visits(id: &str, h: &Household) -> Markup {
    let mut visits: Vec<_> = h.visits.iter().collect();
    visits.sort_by(|(ia, a), (ib, b)| (b.date, ib.as_str()).cmp(&(a.date, ia.as_str())));
    html! {
        section id="visits" {
            h2 { "走访记录(" (visits.len()) " 次)" }
            @if visits.is_empty() { p.muted { "没有走访记录。" } }
            @for (_, v) in visits {
                article.visit {
                    h3 { (v.date) " " span.stage { (v.mode.label()) } " " span.muted { (v.visitor) } }
                    @if let Some(s) = v.satisfaction { p { "满意度:" (s.label()) } }
                    @if v.household_present == Some(false) { p.muted { "户主不在家" } }
                    @if !v.notes.is_empty() { p.notes { (v.notes) } }
                    @if !v.policies_known.is_empty() { p.muted { "享受政策知晓:" (v.policies_known) } }
                    (thumbs(id, h, &v.attachments))
                }
            }
        }
    }
}
