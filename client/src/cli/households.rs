//! `list`, `edit` and `export`.

use std::process::ExitCode;

use serde_json::Value as Json;
use zoufang_client::import::household_id;
use zoufang_client::store::{IndexRow, ListFilter, Store};
use zoufang_shared::CodeList;
use zoufang_shared::codes::{CaseKind, HouseholdStatus};
use zoufang_shared::doc::{DocError, Editor, ValidationError};
use zoufang_shared::ids::HouseholdId;

use super::args::ListArgs;
use super::output::{Text, emit_json, table, write_out};
use super::{Context, Failure, Outcome};

/// The household `arg` names: its id, or the 户编号 it was imported under.
pub fn resolve(store: &Store, arg: &str) -> Result<HouseholdId, Failure> {
    let arg = arg.trim();
    for id in [HouseholdId::from(arg), household_id(arg)] {
        if store.contains(&id)? {
            return Ok(id);
        }
    }
    Err(Failure::error(format!("找不到农户「{arg}」")))
}

pub fn list(ctx: &Context, a: ListArgs) -> Outcome {
    let code_of = |s: Option<String>, parse: fn(&str) -> Result<&'static str, Failure>| {
        s.map(|s| parse(&s).map(str::to_owned)).transpose()
    };
    let filter = ListFilter {
        status: code_of(a.status, |s| Ok(HouseholdStatus::parse(s)?.code()))?,
        case_kind: code_of(a.case_kind, |s| Ok(CaseKind::parse(s)?.code()))?,
        village: a.village.map(|v| v.trim().to_owned()),
        flag: a.flag.map(|v| v.trim().to_owned()),
        search: a.search,
        limit: a.limit,
        ..ListFilter::default()
    };
    let store = ctx.store()?;
    let rows = store.list(&filter)?;
    if ctx.json {
        emit_json(&rows)?;
    } else {
        let mut t = Text::default();
        if rows.is_empty() {
            t.line("没有符合条件的农户");
        } else {
            t.line(table(
                &[
                    "农户",
                    "户编号",
                    "户主",
                    "乡镇",
                    "村",
                    "组",
                    "户状态",
                    "人数",
                    "在办事项",
                    "问题标记",
                ],
                &rows.iter().map(cells).collect::<Vec<_>>(),
            ));
            t.line(format_args!("共 {} 户", rows.len()));
        }
        t.emit()?;
    }
    Ok(ExitCode::SUCCESS)
}

fn cells(r: &IndexRow) -> Vec<String> {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let status = r
        .status
        .as_deref()
        .and_then(|s| HouseholdStatus::parse(s).ok())
        .map_or("", |s| s.label());
    let cases: Vec<&str> = r
        .open_cases
        .iter()
        .map(|c| CaseKind::parse(c).map_or(c.as_str(), |k| k.label()))
        .collect();
    vec![
        r.id.clone(),
        text(&r.household_no),
        text(&r.head_name),
        text(&r.township),
        text(&r.village),
        text(&r.group),
        status.to_owned(),
        r.size.to_string(),
        cases.join("、"),
        r.flags.join(" "),
    ]
}

pub fn edit(ctx: &Context, id: &str, field: &str, value: &str) -> Outcome {
    let mut store = ctx.store()?;
    let id = resolve(&store, id)?;
    store
        .edit_household(&id, |e| set_from_text(e, field, value))
        .map_err(|e| Failure::error(humanise(&e.to_string())))?;
    let household = store.household(&id)?;
    let json = serde_json::to_value(&household).map_err(|e| Failure::error(e.to_string()))?;
    let stored = field
        .split('.')
        .try_fold(&json, |v, k| v.get(k))
        .cloned()
        .unwrap_or(Json::Null);
    if ctx.json {
        emit_json(&serde_json::json!({ "id": id, "field": field, "value": stored }))?;
    } else {
        let mut t = Text::default();
        t.line(format_args!("已保存:{id} 的 {field} = {stored}"));
        t.emit()?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn reset(ctx: &Context, id: &str) -> Outcome {
    let mut store = ctx.store()?;
    let id = resolve(&store, id)?;
    let kept = store.reset_to_server(&id)?;
    if ctx.json {
        emit_json(&serde_json::json!({ "id": id, "kept": kept }))?;
    } else {
        let mut t = Text::default();
        if kept {
            t.line(format_args!(
                "已放弃本设备对 {id} 的修改,回到服务器上的版本"
            ));
        } else {
            t.line(format_args!("{id} 从未同步到服务器,已从本设备删除"));
        }
        t.emit()?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Sets `field` from command-line text: JSON when it parses as JSON (numbers, true/false, null,
/// quoted text), plain text otherwise. A phone number or 户编号 typed bare parses as a number
/// that the model refuses for a text field, so that is tried again as text.
fn set_from_text(e: &mut Editor<'_>, field: &str, raw: &str) -> Result<(), DocError> {
    let as_text = || Json::String(raw.to_owned());
    match serde_json::from_str::<Json>(raw) {
        Ok(Json::String(s)) => e.set_field(field, Json::String(s)),
        Ok(value) => match e.set_field(field, value) {
            Err(err) if is_type_error(&err) => e.set_field(field, as_text()),
            other => other,
        },
        Err(_) => e.set_field(field, as_text()),
    }
}

/// The field does not take this kind of JSON value at all (as opposed to a value out of range).
fn is_type_error(e: &DocError) -> bool {
    matches!(e.validation(), Some(ValidationError::BadValue { message, .. }) if message.starts_with("invalid type:"))
}

/// The model's type errors come from serde in English; the common ones are said in Chinese.
fn humanise(message: &str) -> String {
    let Some((before, expected)) = message.rsplit_once(", expected ") else {
        return message.to_owned();
    };
    let Some(prefix) = before
        .find("invalid type:")
        .or_else(|| before.find("invalid value:"))
        .map(|i| &before[..i])
    else {
        return message.to_owned();
    };
    let want = match expected.trim() {
        "u8" | "u16" | "u32" | "u64" => "不小于 0 的整数",
        "i8" | "i16" | "i32" | "i64" => "整数",
        "a boolean" => "是或否(true 或 false)",
        "a string" => "文本",
        e if e.contains("date") => "形如 2026-03-01 的日期",
        _ => return message.to_owned(),
    };
    format!("{prefix}应为{want}")
}

pub fn export(ctx: &Context, ids: &[String]) -> Outcome {
    let store = ctx.store()?;
    let ids: Vec<HouseholdId> = if ids.is_empty() {
        store
            .list(&ListFilter::default())?
            .into_iter()
            .map(|r| HouseholdId(r.id))
            .collect()
    } else {
        // Every id is checked before anything is printed: half an export looks like a whole one.
        ids.iter()
            .map(|i| resolve(&store, i))
            .collect::<Result<_, _>>()?
    };
    let mut failure = None;
    write_out(|out| {
        out.write_all(b"[")?;
        for (n, id) in ids.iter().enumerate() {
            let household = match store.household(id) {
                Ok(h) => h,
                Err(e) => {
                    // Left unclosed, so no reader takes the part for the whole.
                    failure = Some(Failure::error(format!("无法读取农户 {id}:{e}")));
                    return Ok(());
                }
            };
            out.write_all(if n == 0 { b"\n" } else { b",\n" })?;
            serde_json::to_writer_pretty(&mut *out, &household)?;
        }
        out.write_all(b"\n]\n")
    })?;
    match failure {
        Some(f) => Err(f),
        None => Ok(ExitCode::SUCCESS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humanises_serde_type_errors() {
        assert_eq!(
            humanise("「living.house_area_m2」的值无效:invalid type: string \"abc\", expected u32"),
            "「living.house_area_m2」的值无效:应为不小于 0 的整数"
        );
        assert_eq!(
            humanise("「info.food_secure」的值无效:invalid type: integer `3`, expected a boolean"),
            "「info.food_secure」的值无效:应为是或否(true 或 false)"
        );
        assert_eq!(humanise("字段路径「x」无效"), "字段路径「x」无效");
    }
}
