//! `enroll` and `sync`: the commands that talk to the server.

use std::process::ExitCode;

use zoufang_client::import;
use zoufang_client::store::Rejection;
use zoufang_client::sync::{self, SyncReport};

use super::output::{Text, emit_json};
use super::{Context, Failure, Outcome, read_file};

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::error(format!("无法启动网络:{e}")))
}

fn read_password() -> Result<String, Failure> {
    zoufang_shared::term::read_password().map_err(|e| Failure::error(format!("无法读取密码:{e}")))
}

pub fn enroll(ctx: &Context, server: &str, username: &str, device_name: &str) -> Outcome {
    if !(server.starts_with("http://") || server.starts_with("https://")) {
        return Err(Failure::error(format!(
            "服务器地址「{server}」应以 http:// 或 https:// 开头"
        )));
    }
    let mut store = ctx.store()?;
    let password = read_password()?;
    let res = runtime()?
        .block_on(sync::enroll(
            &store,
            server,
            username,
            &password,
            device_name,
        ))
        .map_err(|e| Failure::error(e.to_string()))?;
    // An older server sends no tree: the device then keeps filing by the user's first area.
    if !res.area_tree.is_empty() {
        store.set_area_tree(&res.area_tree)?;
    }
    if let Some(offset) = &res.utc_offset {
        store.set_county_zone(offset)?;
    }
    // Households imported before enrollment waited for the tree to be filed.
    let placed = import::place_households(&mut store)?;
    if ctx.json {
        emit_json(&serde_json::json!({
            "user_id": res.user_id,
            "user_name": res.user_name,
            "role": res.role,
            "areas": res.areas,
            "expires_at": res.expires_at,
            "households_filed": placed.filed,
            "households_unfiled": placed.unfiled,
            "notices": placed.notices,
        }))?;
    } else {
        let mut t = Text::default();
        t.line(format_args!(
            "已登记:{}({}),负责区域 {},令牌有效至 {}",
            res.user_name,
            res.user_id,
            res.areas.join("、"),
            res.expires_at
        ));
        if placed.filed > 0 {
            t.line(format_args!(
                "已按区域表为登记前导入的 {} 户填入区划代码",
                placed.filed
            ));
        }
        for n in &placed.notices {
            t.line(format_args!("提示:{n}"));
        }
        if !placed.unfiled.is_empty() {
            t.line(format_args!(
                "{} 户仍缺区划代码,同步时服务器不会接收;请改正文件中的乡镇和村后重新导入,或用 zoufang edit 填写 info.area_code:",
                placed.unfiled.len()
            ));
            for u in &placed.unfiled {
                t.line(format_args!("  {}:{}", u.household, u.reason));
            }
        }
        t.emit()?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn sync(ctx: &Context) -> Outcome {
    let mut store = ctx.store()?;
    let json = ctx.json;
    let report = runtime()?
        .block_on(sync::sync(&mut store, |r: &SyncReport| {
            if !json {
                if let Some(n) = r.notice() {
                    eprintln!("{n}");
                    return;
                }
                eprintln!(
                    "第 {} 轮:已上传 {} 户,已下载 {} 项变更(上行 {} 字节,下行 {} 字节)",
                    r.rounds, r.accepted, r.pulled_changes, r.bytes_up, r.bytes_down
                );
            }
        }))
        .map_err(|e| Failure::error(e.to_string()))?;
    if json {
        emit_json(&report)?;
    } else {
        let mut t = Text::default();
        t.line(format_args!(
            "同步完成:{} 轮往返,上传 {} 户,更新本机 {} 户",
            report.rounds, report.accepted, report.households_updated
        ));
        received_lines(
            &mut t,
            report.decisions_received,
            (report.households_removed, report.removed_unsent),
            &report.rejected,
        );
        if report.standards_updated {
            t.line(format_args!("  收入标准表已按服务器更新"));
        }
        if report.incomplete {
            t.line(format_args!("  尚未全部完成,请再次同步"));
        }
        t.emit()?;
    }
    Ok(exit_code(&report.rejected))
}

pub fn bundle_export(ctx: &Context, file: &std::path::Path) -> Outcome {
    let store = ctx.store()?;
    let (bytes, households, attachments) =
        sync::export_bundle(&store).map_err(|e| Failure::error(e.to_string()))?;
    // Written beside and renamed, so a pulled-out stick never holds half a file.
    let tmp = file.with_extension("part");
    std::fs::write(&tmp, &bytes)
        .and_then(|()| std::fs::rename(&tmp, file))
        .map_err(|e| Failure::error(format!("无法写入 {}:{e}", file.display())))?;
    if ctx.json {
        emit_json(&serde_json::json!({
            "households": households, "attachments": attachments, "bytes": bytes.len(),
        }))?;
    } else {
        let mut t = Text::default();
        t.line(format_args!(
            "已写入 {}:{households} 户的修改、{attachments} 个照片或签名,共 {} 字节",
            file.display(),
            bytes.len()
        ));
        t.emit()?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn bundle_import(ctx: &Context, file: &std::path::Path) -> Outcome {
    let bytes = read_file(file)?;
    let mut store = ctx.store()?;
    let outcome =
        sync::import_reply(&mut store, &bytes).map_err(|e| Failure::error(e.to_string()))?;
    if ctx.json {
        emit_json(&serde_json::json!({
            "accepted": outcome.accepted,
            "rejected": outcome.rejected,
            "pulled_changes": outcome.pulled_changes,
            "households_updated": outcome.households_updated,
            "households_removed": outcome.households_removed,
            "removed_unsent": outcome.removed_unsent,
            "decisions_received": outcome.decisions_received,
        }))?;
    } else {
        let mut t = Text::default();
        t.line(format_args!(
            "已导入回执:服务器接收 {} 户,带回 {} 项变更,更新本机 {} 户",
            outcome.accepted, outcome.pulled_changes, outcome.households_updated
        ));
        received_lines(
            &mut t,
            outcome.decisions_received,
            (outcome.households_removed, outcome.removed_unsent),
            &outcome.rejected,
        );
        t.emit()?;
    }
    Ok(exit_code(&outcome.rejected))
}

/// What a sync and an imported reply both brought back: decisions made on the review pages,
/// households moved out of the user's areas (`(removed, of them unsent)`), and the pushes the
/// server refused.
fn received_lines(
    t: &mut Text,
    decisions: usize,
    (removed, unsent): (usize, usize),
    rejected: &[Rejection],
) {
    if decisions > 0 {
        t.line(format_args!("收到审核决定 {decisions} 项"));
    }
    if removed > 0 {
        t.line(format_args!(
            "{removed} 户已调出您的负责区域,已从本设备移除"
        ));
    }
    if unsent > 0 {
        t.line(format_args!(
            "  其中 {unsent} 户有尚未上传的修改,已随之舍弃(调出后服务器不再接受本设备对其的修改)"
        ));
    }
    for r in rejected {
        t.line(format_args!("  未被接受:{} —— {}", r.household, r.message));
    }
}

/// A refused push fails the command, so that a script notices.
fn exit_code(rejected: &[Rejection]) -> ExitCode {
    if rejected.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
