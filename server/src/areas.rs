//! The administrative area tree as imported: `code,name,parent,level` CSV lines.

use crate::storage::Area;

pub use zoufang_storage::scope::{past_scope_row, scope_key, split_scope};

pub const LEVELS: [&str; 4] = ["county", "township", "village", "group"];

/// Why an area CSV was refused; `line` counts from 1, the header being line 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AreaCsvError {
    #[error("第 {line} 行应有 4 列:code,name,parent,level")]
    Columns { line: usize },
    #[error("第 {line} 行:区划代码「{code}」应为数字")]
    Code { line: usize, code: String },
    #[error("第 {line} 行:级别「{level}」应为 {}", LEVELS.join("/"))]
    Level { line: usize, level: String },
    #[error("第 {line} 行:区划代码 {code} 应以上级代码 {parent} 开头")]
    Parent {
        line: usize,
        code: String,
        parent: String,
    },
}

/// `code,name,parent,level` lines after a header; a child's code must extend its parent's.
pub fn parse_areas(text: &str) -> Result<Vec<Area>, AreaCsvError> {
    let mut out: Vec<Area> = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split(',').map(str::trim).collect();
        let [code, name, parent, level] = cols[..] else {
            return Err(AreaCsvError::Columns { line: n });
        };
        if code.is_empty() || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AreaCsvError::Code {
                line: n,
                code: code.into(),
            });
        }
        if !LEVELS.contains(&level) {
            return Err(AreaCsvError::Level {
                line: n,
                level: level.into(),
            });
        }
        let parent = (!parent.is_empty()).then(|| parent.to_owned());
        if let Some(p) = &parent
            && !code.starts_with(p.as_str())
        {
            return Err(AreaCsvError::Parent {
                line: n,
                code: code.into(),
                parent: p.clone(),
            });
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The operator reads these messages after 错误:; they must not change with the type.
    #[test]
    fn refusals_keep_their_messages() {
        let refused = |body: &str| {
            parse_areas(&format!("code,name,parent,level\n{body}"))
                .expect_err("refused")
                .to_string()
        };
        assert_eq!(
            refused("53,云南"),
            "第 2 行应有 4 列:code,name,parent,level"
        );
        assert_eq!(
            refused("53x,云南,,county"),
            "第 2 行:区划代码「53x」应为数字"
        );
        assert_eq!(
            refused("53,云南,,province"),
            "第 2 行:级别「province」应为 county/township/village/group"
        );
        assert_eq!(
            refused("530921,凤庆县,,county\n540101,某镇,530921,township"),
            "第 3 行:区划代码 540101 应以上级代码 530921 开头"
        );
    }
}
