//! Which area a household of the roster lies in: its area code, or its county, township,
//! village and 村民小组 names looked up in the area tree the server sent at enrollment.
//!
//! The server accepts a household only inside its user's areas, so a household is filed where
//! the file says it is, or refused here with the reason; the user's own area stands in only
//! where the file cannot say (no names, or names the tree does not know) and the user has one.

use zoufang_shared::model::HouseholdInfo;
use zoufang_shared::wire::AreaNode;

use super::columns::Column;

/// The area tree and the user's areas, as known from enrollment.
pub struct Areas {
    tree: Vec<AreaNode>,
    scope: Vec<String>,
}

/// Where a household is filed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub code: String,
    /// The file's name the tree does not know (`村「本村」`), when the household went to the
    /// user's area, or to the area above that name, instead.
    pub unknown: Option<String>,
}

/// Where a level's name is kept.
type NameOf = fn(&HouseholdInfo) -> &Option<String>;

/// The levels of the tree, from the top, with the column that names each.
const LEVELS: [(&str, Column, NameOf); 4] = [
    ("county", Column::County, |i| &i.county),
    ("township", Column::Township, |i| &i.township),
    ("village", Column::Village, |i| &i.village),
    ("group", Column::Group, |i| &i.group),
];

impl Areas {
    pub fn new(tree: Vec<AreaNode>, scope: Vec<String>) -> Areas {
        Areas { tree, scope }
    }

    /// "三合村(530921100201)", or the code alone when the tree lacks it.
    pub fn describe(&self, code: &str) -> String {
        match self.tree.iter().find(|a| a.code == code) {
            Some(a) => format!("{}({code})", a.name),
            None => code.to_owned(),
        }
    }

    fn in_scope(&self, code: &str) -> bool {
        self.scope
            .iter()
            .any(|s| !s.is_empty() && code.starts_with(s.as_str()))
    }

    /// The area `info` lies in, or why it cannot be told.
    pub fn place(&self, info: &HouseholdInfo) -> Result<Placed, String> {
        if let Some(code) = &info.area_code {
            return self.check_code(code);
        }
        // Down the tree as far as the file's names go; a name the tree does not know stops the
        // descent, since a known name below it could belong to another place of the same name.
        let mut found: Vec<&AreaNode> = Vec::new();
        let mut deepest = None;
        let mut unknown = None;
        for (level, column, name_of) in LEVELS {
            let Some(name) = name_of(info)
                .as_deref()
                .map(str::trim)
                .filter(|n| !n.is_empty())
            else {
                continue;
            };
            let matches: Vec<&AreaNode> = self
                .tree
                .iter()
                .filter(|a| a.level == level && a.name == name)
                .filter(|a| {
                    deepest.is_none() || found.iter().any(|p| a.code.starts_with(p.code.as_str()))
                })
                .collect();
            if matches.is_empty() {
                // Trees often stop at villages: a 村民小组 they lack leaves the village as near
                // as it gets, which is no stand-in.
                if level != "group" {
                    unknown = Some(format!("{}「{name}」", column.header()));
                }
                break;
            }
            found = matches;
            deepest = Some(name);
        }
        let Some(name) = deepest else {
            return self.stand_in(unknown, None);
        };
        match found.as_slice() {
            [one] if self.in_scope(&one.code) => Ok(Placed {
                code: one.code.clone(),
                unknown,
            }),
            // Named only above the user's areas (a county for a township's surveyor, say).
            [one] if self.scope.iter().any(|s| s.starts_with(one.code.as_str())) => {
                self.stand_in(unknown, Some(one))
            }
            [one] => Err(format!(
                "{}不在您负责的区域内({})",
                self.describe(&one.code),
                self.scope_text()
            )),
            many => Err(format!(
                "区域表中有 {} 处「{name}」({}),请在文件中写明它所属的乡镇",
                many.len(),
                many.iter()
                    .map(|a| a.code.as_str())
                    .collect::<Vec<_>>()
                    .join("、")
            )),
        }
    }

    fn check_code(&self, code: &str) -> Result<Placed, String> {
        if !self.tree.iter().any(|a| a.code == code) {
            return Err(format!("区划代码「{code}」不在区域表中"));
        }
        if !self.in_scope(code) {
            return Err(format!(
                "区划代码 {}不在您负责的区域内({})",
                self.describe(code),
                self.scope_text()
            ));
        }
        Ok(Placed {
            code: code.to_owned(),
            unknown: None,
        })
    }

    /// The user's area where the file cannot say which: only when the user has one.
    fn stand_in(
        &self,
        unknown: Option<String>,
        above: Option<&AreaNode>,
    ) -> Result<Placed, String> {
        match (self.scope.as_slice(), &unknown, above) {
            ([one], _, _) => Ok(Placed {
                code: one.clone(),
                unknown,
            }),
            ([], _, _) => Err("您没有负责的区域,无法登记农户".to_owned()),
            (_, Some(u), _) => Err(format!(
                "区域表中没有{u},无法确定该户的区划代码;请核对文件中的乡镇和村"
            )),
            (_, None, Some(a)) => Err(format!(
                "文件只写到{},您负责其中多个区域({}),请在文件中写明乡镇和村",
                a.name,
                self.scope_text()
            )),
            (_, None, None) => Err(format!(
                "文件没有写明该户所在的乡镇和村,您负责多个区域({}),无法确定区划代码",
                self.scope_text()
            )),
        }
    }

    fn scope_text(&self) -> String {
        let areas: Vec<String> = self.scope.iter().map(|c| self.describe(c)).collect();
        format!("您负责:{}", areas.join("、"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(code: &str, name: &str, parent: &str, level: &str) -> AreaNode {
        AreaNode {
            code: code.into(),
            name: name.into(),
            parent: (!parent.is_empty()).then(|| parent.to_owned()),
            level: level.into(),
        }
    }

    fn areas(scope: &[&str]) -> Areas {
        Areas::new(
            vec![
                node("530921", "凤庆县", "", "county"),
                node("530921100", "诗礼乡", "530921", "township"),
                node("530921100201", "三合村", "530921100", "village"),
                node("530921100202", "孔兴村", "530921100", "village"),
                node("530921200", "小湾镇", "530921", "township"),
                node("530921200201", "锦秀村", "530921200", "village"),
                // The same village name in another township.
                node("530921200202", "三合村", "530921200", "village"),
            ],
            scope.iter().map(|s| (*s).to_owned()).collect(),
        )
    }

    fn info(township: Option<&str>, village: Option<&str>) -> HouseholdInfo {
        HouseholdInfo {
            county: Some("凤庆县".into()),
            township: township.map(Into::into),
            village: village.map(Into::into),
            group: Some("三组".into()),
            ..HouseholdInfo::default()
        }
    }

    fn placed(code: &str) -> Result<Placed, String> {
        Ok(Placed {
            code: code.into(),
            unknown: None,
        })
    }

    #[test]
    fn files_a_household_in_the_village_the_file_names() {
        let a = areas(&["530921100"]);
        assert_eq!(
            a.place(&info(Some("诗礼乡"), Some("孔兴村"))),
            placed("530921100202")
        );
        // Two 三合村: the township tells them apart; without it the file is ambiguous.
        assert_eq!(
            a.place(&info(Some("诗礼乡"), Some("三合村"))),
            placed("530921100201")
        );
        assert_eq!(
            a.place(&info(None, Some("三合村"))),
            Err(
                "区域表中有 2 处「三合村」(530921100201、530921200202),请在文件中写明它所属的乡镇"
                    .into()
            )
        );
    }

    #[test]
    fn refuses_a_village_outside_the_users_areas() {
        assert_eq!(
            areas(&["530921100"]).place(&info(Some("小湾镇"), Some("锦秀村"))),
            Err("锦秀村(530921200201)不在您负责的区域内(您负责:诗礼乡(530921100))".into())
        );
    }

    #[test]
    fn the_users_one_area_stands_in_only_where_the_file_cannot_say() {
        let one = areas(&["530921200"]);
        assert_eq!(
            one.place(&info(None, Some("本村"))),
            Ok(Placed {
                code: "530921200".into(),
                unknown: Some("村「本村」".into())
            })
        );
        assert_eq!(one.place(&HouseholdInfo::default()), placed("530921200"));
        let two = areas(&["530921100201", "530921100202"]);
        assert_eq!(
            two.place(&info(Some("诗礼乡"), Some("三和村"))),
            Err("区域表中没有村「三和村」,无法确定该户的区划代码;请核对文件中的乡镇和村".into())
        );
        assert_eq!(
            two.place(&info(Some("诗礼乡"), None)),
            Err("文件只写到诗礼乡,您负责其中多个区域(您负责:三合村(530921100201)、孔兴村(530921100202)),请在文件中写明乡镇和村".into())
        );
    }

    #[test]
    fn an_area_code_in_the_file_is_checked_against_tree_and_scope() {
        let a = areas(&["530921100"]);
        let with = |code: &str| HouseholdInfo {
            area_code: Some(code.into()),
            village: Some("不管".into()),
            ..HouseholdInfo::default()
        };
        assert_eq!(a.place(&with("530921100201")), placed("530921100201"));
        assert_eq!(
            a.place(&with("530921999999")),
            Err("区划代码「530921999999」不在区域表中".into())
        );
        assert!(a.place(&with("530921200201")).is_err());
    }
}
