//! `show`: one household as a surveyor reads it, or (`--json`) the full model with the verdicts.
//! ID numbers are masked in the text: a screen gets looked over shoulders.

use std::process::ExitCode;

use serde_json::json;
use zoufang_shared::CodeList;
use zoufang_shared::codes::{ProcedureStep, Relation};
use zoufang_shared::doc::Conflict;
use zoufang_shared::model::{Case, CaseStage, Household, Member};
use zoufang_shared::rules::resident_id::ResidentId;
use zoufang_shared::rules::{assessment, checks, income};

use super::checks::{assessment_year, describe};
use super::households::resolve;
use super::output::{Text, emit_json, table};
use super::{Context, Outcome, today};

pub fn show(ctx: &Context, arg: &str) -> Outcome {
    let store = ctx.store()?;
    let id = resolve(&store, arg)?;
    let mut doc = store.doc(&id)?;
    let h = doc.read()?;
    let conflicts = doc.conflicts()?;
    let on = today();
    let year = assessment_year(&h, on);
    let verdict = assessment::assess(&h, year, on, store.standards());
    let findings = checks::check_household(&h, on, store.standards());
    if ctx.json {
        let incomes: Vec<_> = h
            .incomes
            .iter()
            .map(|(y, i)| match income::summarize(i, h.size()) {
                Ok(s) => json!({ "year": y, "summary": s }),
                Err(e) => json!({ "year": y, "error": e.to_string() }),
            })
            .collect();
        emit_json(&json!({
            "household": h,
            "incomes": incomes,
            "year": year,
            "assessment": verdict,
            "findings": findings,
            "conflicts": conflicts,
        }))?;
    } else {
        let mut t = Text::default();
        overview(&mut t, &h);
        members(&mut t, &h);
        incomes(&mut t, &h);
        living(&mut t, &h);
        visits(&mut t, &h);
        cases(&mut t, &h);
        conflicts_text(&mut t, &conflicts);
        t.line("");
        describe(&mut t, year, &verdict, &findings);
        t.emit()?;
    }
    Ok(ExitCode::SUCCESS)
}

fn label<T: CodeList>(v: Option<T>) -> &'static str {
    v.map_or("未填", |c| c.label())
}

fn yes_no(v: Option<bool>, yes: &'static str, no: &'static str) -> &'static str {
    match v {
        Some(true) => yes,
        Some(false) => no,
        None => "未核实",
    }
}

fn overview(t: &mut Text, h: &Household) {
    let i = &h.info;
    t.line(format_args!(
        "农户 {}  户编号 {}",
        h.id,
        i.household_no.as_deref().unwrap_or("无")
    ));
    let area: Vec<&str> = [
        &i.province,
        &i.city,
        &i.county,
        &i.township,
        &i.village,
        &i.group,
    ]
    .into_iter()
    .flatten()
    .map(String::as_str)
    .collect();
    t.line(format_args!("地址:{}", area.join(" ")));
    let others: Vec<&str> = i.other_causes.iter().map(|c| c.label()).collect();
    let others = if others.is_empty() {
        String::new()
    } else {
        format!("(其他:{})", others.join("、"))
    };
    t.line(format_args!(
        "户状态:{};识别标准:{};贫困户属性:{};主要致贫原因:{}{others}",
        label(i.status),
        label(i.standard_level),
        label(i.attribute),
        label(i.main_cause),
    ));
    if let Some(m) = i.monitoring {
        t.line(format_args!("监测对象类别:{}", m.label()));
    }
    t.line(format_args!(
        "不愁吃:{};不愁穿:{}",
        yes_no(i.food_secure, "是", "否"),
        yes_no(i.clothing_secure, "是", "否")
    ));
}

fn members(t: &mut Text, h: &Household) {
    let on = today();
    let order = |m: &Member| {
        let rel = m
            .relation
            .and_then(|r| Relation::ALL.iter().position(|x| *x == r))
            .unwrap_or(Relation::ALL.len());
        (rel, m.birth())
    };
    let mut current: Vec<&Member> = h.current_members().map(|(_, m)| m).collect();
    current.sort_by_key(|m| order(m));
    t.line(format_args!("\n成员({} 人):", current.len()));
    let rows: Vec<Vec<String>> = current
        .iter()
        .map(|m| {
            let id = match m.id_number.as_deref() {
                None => "未填".to_owned(),
                Some(text) => {
                    ResidentId::parse(text).map_or("(号码有误)".to_owned(), |i| i.masked())
                }
            };
            let schooling = match (m.school, m.education) {
                (Some(s), _) => format!("在校:{}", s.label()),
                (None, Some(e)) => e.label().to_owned(),
                (None, None) => String::new(),
            };
            vec![
                format!("  {}", label(m.relation)),
                m.name.clone(),
                label(m.sex).to_owned(),
                m.age_on(on).map_or(String::new(), |a| format!("{a} 岁")),
                id,
                schooling,
                label(m.health).to_owned(),
                label(m.labour).to_owned(),
                if m.medical_insurance {
                    "已参保"
                } else {
                    "未参医保"
                }
                .to_owned(),
            ]
        })
        .collect();
    if !rows.is_empty() {
        t.line(table(
            &[
                "  关系",
                "姓名",
                "性别",
                "年龄",
                "证件号码",
                "文化程度",
                "健康",
                "劳动技能",
                "医保",
            ],
            &rows,
        ));
    }
    for (_, m) in h.members.iter().filter(|(_, m)| !m.is_current()) {
        let when = m.left_on.map(|d| d.to_string()).unwrap_or_default();
        t.line(format_args!(
            "  已减员:{}({} {when})",
            m.name,
            label(m.left_reason)
        ));
    }
}

fn incomes(t: &mut Text, h: &Household) {
    t.line("\n收入:");
    if h.incomes.is_empty() {
        t.line("  未填写");
    }
    for (year, i) in &h.incomes {
        match income::summarize(i, h.size()) {
            Ok(s) => t.line(format_args!(
                "  {year} 年:纯收入 {} 元,人均纯收入 {} 元({} 人)",
                s.net, s.per_capita, s.size
            )),
            Err(e) => t.line(format_args!("  {year} 年:{e}")),
        }
    }
}

fn living(t: &mut Text, h: &Household) {
    let l = &h.living;
    let mut house = vec![format!("危房等级 {}", label(l.house_grade))];
    if let Some(s) = l.house_structure {
        house.push(s.label().to_owned());
    }
    if let Some(a) = l.house_area_m2 {
        house.push(format!("{a} 平方米"));
    }
    if l.house_renovated == Some(true) {
        house.push("已完成危房改造".to_owned());
    }
    if l.moved_out == Some(true) {
        house.push("已搬离危房".to_owned());
    }
    t.line(format_args!("\n住房:{}", house.join(" · ")));
    let w = &h.water;
    let num = |v: Option<u32>, unit: &str| v.map_or("未填".to_owned(), |n| format!("{n} {unit}"));
    t.line(format_args!(
        "饮水:每人每天 {} · 单次取水 {} · 每年断水 {} · 水质{}",
        num(w.litres_per_person_day, "升"),
        num(w.trip_minutes, "分钟"),
        num(w.cut_days_per_year, "天"),
        yes_no(w.quality_tested, "已检测", "未检测"),
    ));
}

fn visits(t: &mut Text, h: &Household) {
    let mut visits: Vec<_> = h.visits.values().collect();
    visits.sort_by_key(|v| v.date);
    t.line(format_args!("\n走访({} 次):", visits.len()));
    for v in visits {
        let satisfaction = v.satisfaction.map_or("", |s| s.label());
        let notes = if v.notes.trim().is_empty() {
            String::new()
        } else {
            format!(":{}", v.notes.trim())
        };
        t.line(format_args!(
            "  {} {} {} {satisfaction}{notes}",
            v.date,
            v.mode.label(),
            v.visitor
        ));
    }
}

fn stage(case: &Case) -> String {
    match case.stage() {
        CaseStage::Proposed => "已提出,待入户核查".to_owned(),
        CaseStage::Passed(ProcedureStep::Announcement) => "已公告,办结".to_owned(),
        CaseStage::Passed(step) => {
            let next = ProcedureStep::ALL
                .get(step.index() + 1)
                .map_or("", |s| s.label());
            format!("{}已通过,待{next}", step.label())
        }
        CaseStage::Returned(step) => format!("{}被退回,须重新办理", step.label()),
        CaseStage::Rejected(step) => format!("{}未通过,事项终止", step.label()),
    }
}

fn cases(t: &mut Text, h: &Household) {
    if h.cases.is_empty() {
        return;
    }
    let mut cases: Vec<&Case> = h.cases.values().collect();
    cases.sort_by_key(|c| c.proposed_on);
    t.line(format_args!("\n动态管理事项({} 项):", cases.len()));
    for c in cases {
        t.line(format_args!(
            "  {}({} 由 {} 提出):{}",
            c.kind.label(),
            c.proposed_on,
            c.proposed_by,
            stage(c)
        ));
    }
}

fn conflicts_text(t: &mut Text, conflicts: &[Conflict]) {
    if conflicts.is_empty() {
        return;
    }
    t.line(format_args!("\n待处理的并发修改({} 处):", conflicts.len()));
    for c in conflicts {
        let values: Vec<String> = c
            .values
            .iter()
            .map(|v| {
                let who = v.user.as_deref().unwrap_or("未知用户");
                let shown = if v.shown { ",当前显示" } else { "" };
                format!("{}({who}{shown})", v.value)
            })
            .collect();
        t.line(format_args!("  {}:{}", c.path_string(), values.join(" / ")));
    }
}
