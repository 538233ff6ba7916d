//! `restore`: from a backup file, or the recovery window of a restore done by other means.

use std::path::PathBuf;

use zoufang_server::config::Config;

use crate::connect;
use crate::error::{CliError, refused};

pub async fn restore(
    config: &Config,
    file: Option<PathBuf>,
    window_days: Option<i64>,
    mark: bool,
    close: bool,
) -> Result<(), CliError> {
    use crate::backup::{DEFAULT_WINDOW_DAYS, RecoveryStore};
    let days = window_days.unwrap_or(DEFAULT_WINDOW_DAYS);
    if !(0..=365).contains(&days) {
        return Err(refused("--window-days 须在 0 到 365 之间"));
    }
    let window = chrono::Duration::days(days);
    if let Some(file) = file {
        let done = crate::backup::restore(&config.database, &file, window).await?;
        println!(
            "已从 {} 恢复:{} 户,变更日志至 {} 号",
            file.display(),
            done.households,
            done.point.seq
        );
        if let Some(aside) = &done.replaced {
            println!("原数据库已移至 {}(确认无误后可删除)", aside.display());
        }
        print_restore_next_steps(&done.point);
        return Ok(());
    }
    let db = connect(config).await?;
    if mark {
        let point = db
            .open_restore_point("restored by other means (--mark)", window)
            .await?;
        println!("已记录恢复点,变更日志至 {} 号", point.seq);
        print_restore_next_steps(&point);
        return Ok(());
    }
    if close {
        return match db.close_restore_point().await? {
            Some(point) => {
                println!(
                    "恢复窗口已关闭(恢复于 {}):此后设备只能提交本设备的修改",
                    point.restored_at.format("%Y-%m-%d %H:%M:%S UTC")
                );
                Ok(())
            }
            None => Err(refused("该数据库没有恢复记录")),
        };
    }
    // Otherwise (--status): the last restore and the recovery's progress.
    let Some(point) = db.restore_point().await? else {
        println!("该数据库没有恢复记录");
        return Ok(());
    };
    let now = chrono::Utc::now();
    let time = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    println!(
        "恢复于 {}(来源 {},恢复时变更日志至 {} 号)",
        time(point.restored_at),
        point.source,
        point.seq
    );
    match point.closed_at {
        Some(t) => println!("恢复窗口:已于 {} 关闭", time(t)),
        None if point.window_open(now) => {
            println!("恢复窗口:开放至 {}", time(point.window_until));
        }
        None => println!("恢复窗口:已于 {} 到期", time(point.window_until)),
    }
    let st = db.recovery_status(point.id).await?;
    let active: Vec<_> = st.devices.iter().filter(|d| !d.revoked).collect();
    let resynced = active.iter().filter(|d| d.resynced_at.is_some()).count();
    println!("在用设备恢复后已同步 {resynced}/{} 台:", active.len());
    for d in &st.devices {
        let state = match (d.revoked, d.resynced_at) {
            (true, _) => "已停用".to_owned(),
            (false, Some(t)) => format!("已同步 {}", time(t)),
            (false, None) => "未同步".to_owned(),
        };
        println!("  {}\t{}\t{}\t{state}", d.device_id, d.username, d.name);
    }
    println!("代其他设备补传的变更:{} 项", st.recovered.len());
    for r in &st.recovered {
        let c = &r.change;
        let mut notes = Vec::new();
        if !r.stored {
            notes.push("未入库");
        }
        if c.change_time.is_some_and(|t| t > point.restored_at) {
            notes.push("⚠ 变更时间晚于恢复时间");
        }
        println!(
            "  {}\t{}\t{}\t{} 的变更\t由 {} 补传\t{}\t{}",
            time(r.at),
            c.household_id,
            &c.hash[..c.hash.len().min(12)],
            c.actor_device,
            c.pushed_by,
            c.change_time.map(time).unwrap_or_else(|| "-".into()),
            notes.join(" ")
        );
    }
    Ok(())
}

fn print_restore_next_steps(point: &crate::backup::RestorePoint) {
    println!(
        "恢复窗口开放至 {}:各设备下次同步时会重新提交备份之后的修改(包括它们从其他设备收到的)。",
        point.window_until.format("%Y-%m-%d %H:%M:%S UTC")
    );
    println!(
        "设备都同步过后运行 zoufang-server restore --close;进度见 zoufang-server restore --status。"
    );
    println!("备份之后新建的账号、登记的设备、停用和区域调整须重新办理。");
}
