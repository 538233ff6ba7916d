//! What the figures were measured on.

use crate::table::bytes;

fn proc_field(file: &str, key: &str) -> Option<String> {
    std::fs::read_to_string(file).ok()?.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_owned())
    })
}

fn os() -> String {
    let name = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| std::env::consts::OS.to_owned());
    match std::fs::read_to_string("/proc/sys/kernel/osrelease") {
        Ok(k) => format!("{name}, kernel {}", k.trim()),
        Err(_) => name,
    }
}

/// The lines printed above the table.
pub fn describe(pg_version: Option<String>) -> Vec<String> {
    let cpu = proc_field("/proc/cpuinfo", "model name").unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let ram = proc_field("/proc/meminfo", "MemTotal")
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or("unknown".into(), |kb| bytes(kb * 1024));
    let load = std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    let mut lines = vec![
        format!("CPU      {cpu}, {cores} logical cores (load average {load} at start)"),
        format!("RAM      {ram}"),
        format!("OS       {}", os()),
        format!("rustc    {}", env!("BENCH_RUSTC")),
        format!(
            "build    profile {} (opt-level {}, debug assertions {})",
            env!("BENCH_PROFILE"),
            env!("BENCH_OPT_LEVEL"),
            if cfg!(debug_assertions) { "on" } else { "off" }
        ),
    ];
    if let Some(v) = pg_version {
        lines.push(format!("Postgres {v}"));
    }
    lines
}
