//! The administrative area tree as imported: `code,name,parent,level` CSV lines.

use crate::storage::Area;

pub use zoufang_storage::scope::{past_scope_row, scope_key, split_scope};

pub const LEVELS: [&str; 4] = ["county", "township", "village", "group"];

/// `code,name,parent,level` lines after a header; a child's code must extend its parent's.
pub fn parse_areas(text: &str) -> Result<Vec<Area>, String> {
    let mut out: Vec<Area> = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split(',').map(str::trim).collect();
        let [code, name, parent, level] = cols[..] else {
            return Err(format!("第 {n} 行应有 4 列:code,name,parent,level"));
        };
        if code.is_empty() || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("第 {n} 行:区划代码「{code}」应为数字"));
        }
        if !LEVELS.contains(&level) {
            return Err(format!(
                "第 {n} 行:级别「{level}」应为 {}",
                LEVELS.join("/")
            ));
        }
        let parent = (!parent.is_empty()).then(|| parent.to_owned());
        if let Some(p) = &parent
            && !code.starts_with(p.as_str())
        {
            return Err(format!("第 {n} 行:区划代码 {code} 应以上级代码 {p} 开头"));
        }
        out.push(Area {
            code: code.into(),
            name: name.into(),
            parent,
            level: level.into(),
        });
    }
    Ok(out)
}
