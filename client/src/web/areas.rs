//! Where a household lies, picked from the area tree the device received at enrollment rather
//! than typed: the household form offers the villages of the user's areas, and the save writes
//! the village's code with the names of its county, township and village from the tree.

use zoufang_shared::model::HouseholdInfo;
use zoufang_shared::wire::AreaNode;

use crate::store::{Store, StoreError};

/// The name of the form's area picker.
pub const PICKER: &str = "info.area_code";

/// A village the form offers: its code and "乡镇 村".
pub struct Village {
    pub code: String,
    pub label: String,
}

/// The villages of the user's areas in the device's tree, by code; none before enrollment
/// (the form then takes the names as typed).
pub fn villages(s: &Store) -> Result<Vec<Village>, StoreError> {
    let Some(tree) = s.area_tree()? else {
        return Ok(Vec::new());
    };
    let scope = s.user_areas()?;
    let name_of = |code: Option<&String>| {
        code.and_then(|c| tree.iter().find(|a| &a.code == c))
            .map_or("", |a| a.name.as_str())
    };
    let mut out: Vec<Village> = tree
        .iter()
        .filter(|a| a.level == "village")
        .filter(|a| scope.is_empty() || scope.iter().any(|s| a.code.starts_with(s.as_str())))
        .map(|a| Village {
            code: a.code.clone(),
            label: format!("{} {}", name_of(a.parent.as_ref()), a.name),
        })
        .collect();
    out.sort_by(|a, b| a.code.cmp(&b.code));
    Ok(out)
}

/// Files `info` in the village `code` of the tree: its code and the names above it. `Err` with
/// the message for the picker when the code is not one of [`villages`].
pub fn file_in(s: &Store, info: &mut HouseholdInfo, code: &str) -> Result<(), String> {
    if !villages(s)
        .map_err(|e| e.to_string())?
        .iter()
        .any(|v| v.code == code)
    {
        return Err("请从列表中选择所在村".to_owned());
    }
    let tree = s
        .area_tree()
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    let mut at = tree.iter().find(|a| a.code == code);
    while let Some(node) = at {
        let slot = match node.level.as_str() {
            "county" => &mut info.county,
            "township" => &mut info.township,
            "village" => &mut info.village,
            _ => &mut info.group,
        };
        *slot = Some(node.name.clone());
        at = node
            .parent
            .as_ref()
            .and_then(|p| tree.iter().find(|a: &&AreaNode| &a.code == p));
    }
    info.area_code = Some(code.to_owned());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(code: &str, name: &str, parent: Option<&str>, level: &str) -> AreaNode {
        AreaNode {
            code: code.into(),
            name: name.into(),
            parent: parent.map(Into::into),
            level: level.into(),
        }
    }

    #[test]
    fn a_village_of_the_users_areas_is_picked_with_the_names_above_it() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::create(dir.path(), "test-passphrase").expect("store");
        assert!(villages(&store).expect("none yet").is_empty());
        store
            .set_area_tree(&[
                node("530921", "凤庆县", None, "county"),
                node("530921100", "诗礼乡", Some("530921"), "township"),
                node("530921200", "小湾镇", Some("530921"), "township"),
                node("530921100201", "三合村", Some("530921100"), "village"),
                node("530921200201", "锦秀村", Some("530921200"), "village"),
            ])
            .expect("tree");
        store.set_setting("areas", "530921100").expect("areas");
        let offered: Vec<String> = villages(&store)
            .expect("villages")
            .into_iter()
            .map(|v| v.label)
            .collect();
        assert_eq!(offered, ["诗礼乡 三合村"], "only the user's township");
        let mut info = HouseholdInfo::default();
        file_in(&store, &mut info, "530921100201").expect("filed");
        assert_eq!(info.area_code.as_deref(), Some("530921100201"));
        assert_eq!(
            (
                info.county.as_deref(),
                info.township.as_deref(),
                info.village.as_deref()
            ),
            (Some("凤庆县"), Some("诗礼乡"), Some("三合村"))
        );
        assert!(
            file_in(&store, &mut info, "530921200201").is_err(),
            "another township's"
        );
    }
}
