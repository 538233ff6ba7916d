//! Serde form of a set inside a household document: a map `{element: true}`.
//!
//! A set stored as a list would merge concurrent edits by position; as a map each element is its
//! own key, so one device adding 因病 while another adds 因学 keeps both, and removing an element
//! (written as `null` by the document layer) touches that element alone.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::{BTreeMap, BTreeSet};

pub fn serialize<T: Serialize + Ord, S: Serializer>(
    set: &BTreeSet<T>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_map(set.iter().map(|e| (e, true)))
}

pub fn deserialize<'de, T, D>(d: D) -> Result<BTreeSet<T>, D::Error>
where
    T: DeserializeOwned + Ord,
    D: Deserializer<'de>,
{
    let map = BTreeMap::<T, Option<bool>>::deserialize(d)?;
    Ok(map
        .into_iter()
        .filter_map(|(k, v)| (v == Some(true)).then_some(k))
        .collect())
}
