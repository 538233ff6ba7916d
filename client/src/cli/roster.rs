//! Setting a device up: `init`, `import` of the roster, and `serve` for the web UI.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::ExitCode;

use zoufang_client::import::{self, ImportReport};
use zoufang_client::web::{ServeOptions, serve as serve_web};

use super::output::{Text, emit_json};
use super::{Context, Failure, Outcome, read_file, today};

pub fn init(ctx: &Context, user_id: &str, user_name: &str) -> Outcome {
    let (user_id, user_name) = (user_id.trim(), user_name.trim());
    if user_id.is_empty() {
        return Err(Failure::error("用户编号不能为空"));
    }
    if user_name.is_empty() {
        return Err(Failure::error("使用者姓名不能为空"));
    }
    let mut store = ctx.create_store()?;
    let identity = store.init(user_id, user_name)?;
    if ctx.json {
        emit_json(&serde_json::json!({
            "device_id": identity.device_id,
            "user_id": identity.user_id,
            "user_name": identity.user_name,
            "data": store.dir(),
        }))?;
    } else {
        let mut t = Text::default();
        t.line(format_args!("已初始化,设备编号:{}", identity.device_id));
        t.line(format_args!(
            "使用者:{}({}),数据目录:{}",
            identity.user_name,
            identity.user_id,
            store.dir().display()
        ));
        t.emit()?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn import(ctx: &Context, file: &Path) -> Outcome {
    let bytes = read_file(file)?;
    let mut store = ctx.store()?;
    let report = import::import(&mut store, &bytes, today())
        .map_err(|e| Failure::error(format!("无法导入 {}:{e}", file.display())))?;
    if ctx.json {
        emit_json(&report)?;
    } else {
        describe(&report).emit()?;
    }
    Ok(if report.bad.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn describe(r: &ImportReport) -> Text {
    let mut t = Text::default();
    t.line(format_args!(
        "导入完成:新导入 {} 户,已存在 {} 户(未改动),有问题 {} 户(未导入)",
        r.imported,
        r.skipped_existing,
        r.bad.len()
    ));
    if r.areas_filled > 0 {
        t.line(format_args!(
            "为本机已有但缺区划代码的 {} 户填入了区划代码",
            r.areas_filled
        ));
    }
    for n in &r.notices {
        t.line(format_args!("提示:{n}"));
    }
    for b in &r.bad {
        let no = if b.household_no.is_empty() {
            "(无户编号)"
        } else {
            &b.household_no
        };
        t.line(format_args!("户编号 {no}({}):", line_span(&b.lines)));
        for reason in &b.reasons {
            t.line(format_args!("  {reason}"));
        }
    }
    t
}

/// "第 12–15 行" for consecutive lines, otherwise each listed.
fn line_span(lines: &[usize]) -> String {
    match (lines.first(), lines.last()) {
        (Some(a), Some(b)) if b.saturating_sub(*a) + 1 == lines.len() && a != b => {
            format!("第 {a}–{b} 行")
        }
        _ => {
            let all: Vec<String> = lines.iter().map(ToString::to_string).collect();
            format!("第 {} 行", all.join("、"))
        }
    }
}

pub fn serve(
    ctx: &Context,
    bind: IpAddr,
    port: u16,
    demo: bool,
    lock_after: std::time::Duration,
) -> Outcome {
    let options = ServeOptions {
        data: ctx.data_dir()?,
        addr: SocketAddr::new(bind, port),
        demo,
        // Only from the environment: without it the UI starts locked and asks in the browser.
        passphrase: std::env::var(super::passphrase::PASSPHRASE_ENV)
            .ok()
            .map(zeroize::Zeroizing::new),
        lock_after: (!lock_after.is_zero()).then_some(lock_after),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::error(format!("无法启动网页服务:{e}")))?;
    runtime
        .block_on(serve_web(options))
        .map_err(|e| Failure::error(format!("网页服务出错:{e}")))?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_spans() {
        assert_eq!(line_span(&[12, 13, 14]), "第 12–14 行");
        assert_eq!(line_span(&[5]), "第 5 行");
        assert_eq!(line_span(&[5, 9]), "第 5、9 行");
    }
}
