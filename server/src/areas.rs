//! The administrative area tree as imported: `code,name,parent,level` CSV lines.

use zoufang_shared::wire::AreaNode;

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

/// Every area of the trees that hold the areas of `scope`: what a device needs to file a
/// roster's households by the names of their township and village, and to tell a village
/// outside the user's areas from one the tree does not know.
pub fn trees_of(all: &[Area], scope: &[String]) -> Vec<AreaNode> {
    let parent_of = |code: &str| {
        all.iter()
            .find(|a| a.code == code)
            .and_then(|a| a.parent.clone())
    };
    let mut roots: Vec<String> = Vec::new();
    for code in scope {
        let mut root = code.clone();
        // Bounded: a parent's code is shorter than its child's, so no chain loops.
        while let Some(p) = parent_of(&root).filter(|p| p.len() < root.len()) {
            root = p;
        }
        if !roots.contains(&root) {
            roots.push(root);
        }
    }
    all.iter()
        .filter(|a| roots.iter().any(|r| a.code.starts_with(r.as_str())))
        .map(|a| AreaNode {
            code: a.code.clone(),
            name: a.name.clone(),
            parent: a.parent.clone(),
            level: a.level.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trees_of_a_village_is_its_whole_county() {
        let all = parse_areas(
            "code,name,parent,level\n\
             530921,凤庆县,,county\n\
             530921100,诗礼乡,530921,township\n\
             530921100201,三合村,530921100,village\n\
             530921200,小湾镇,530921,township\n\
             530922,云县,,county\n\
             530922100,爱华镇,530922,township\n",
        )
        .expect("areas");
        let codes = |scope: &[&str]| {
            let scope: Vec<String> = scope.iter().map(|s| (*s).to_owned()).collect();
            trees_of(&all, &scope)
                .into_iter()
                .map(|a| a.code)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            codes(&["530921100201"]),
            ["530921", "530921100", "530921100201", "530921200"]
        );
        assert_eq!(codes(&["530922100"]), ["530922", "530922100"]);
        assert!(codes(&[]).is_empty());
    }

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
