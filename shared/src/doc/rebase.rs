//! A form's edit carried onto the document as it stands now.
//!
//! A form is filled in against the household as it was when the page opened; meanwhile a sync
//! may have brought a teammate's value for a field the surveyor never touched. Writing the whole
//! form back would put the old value over the new one — an edit nobody made. So a form is applied
//! as a three-way merge: the fields the surveyor changed (form against the version the form was
//! opened on) over the current household; every other field keeps its current value.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value as Json;

use super::DocError;

/// `current` with the changes that turn `base` into `edited`, field by field (nested maps, such
/// as sets stored as `{code: true}`, key by key).
pub fn rebase<T: Serialize + DeserializeOwned>(
    base: &T,
    edited: &T,
    current: &T,
) -> Result<T, DocError> {
    let json = |v: &T| serde_json::to_value(v).map_err(|e| DocError::Model(e.to_string()));
    let merged = merge(&json(base)?, &json(edited)?, json(current)?);
    serde_json::from_value(merged).map_err(|e| DocError::Model(e.to_string()))
}

fn merge(base: &Json, edited: &Json, current: Json) -> Json {
    if base == edited {
        return current;
    }
    match (base, edited, current) {
        (Json::Object(b), Json::Object(e), Json::Object(mut c)) => {
            let keys: std::collections::BTreeSet<&String> = b.keys().chain(e.keys()).collect();
            for key in keys {
                let (bv, ev) = (
                    b.get(key).unwrap_or(&Json::Null),
                    e.get(key).unwrap_or(&Json::Null),
                );
                if bv == ev {
                    continue;
                }
                let cv = c.remove(key).unwrap_or(Json::Null);
                let merged = merge(bv, ev, cv);
                if !merged.is_null() {
                    c.insert(key.clone(), merged);
                }
            }
            Json::Object(c)
        }
        // A scalar, or a map replaced by something else: the edit wins.
        (_, edited, _) => edited.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_the_fields_the_form_changed_are_carried_over() {
        let base = json!({"a": 1, "b": 2, "set": {"x": true}});
        let edited = json!({"a": 5, "b": 2, "set": {"x": true, "y": true}});
        let current = json!({"a": 1, "b": 9, "c": 3, "set": {"x": true, "z": true}});
        let merged: Json = rebase(&base, &edited, &current).expect("rebase");
        assert_eq!(
            merged,
            json!({"a": 5, "b": 9, "c": 3, "set": {"x": true, "y": true, "z": true}})
        );
    }

    #[test]
    fn a_cleared_field_is_cleared_and_an_untouched_one_stays() {
        let base = json!({"a": 1, "b": 2});
        let edited = json!({"b": 2});
        let current = json!({"a": 1, "b": 3});
        let merged: Json = rebase(&base, &edited, &current).expect("rebase");
        assert_eq!(merged, json!({"b": 3}));
    }
}
