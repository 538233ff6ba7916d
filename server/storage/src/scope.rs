//! Scope keys: a short name for the set of areas a device's pulls cover. Storage keeps each
//! replaced set under its key (`past_scopes`) so a device still on the old key learns what left.

/// Names the set of areas a pull covered; it changes when the user's areas do.
pub fn scope_key(areas: &[String]) -> String {
    use sha2::{Digest, Sha256};
    let mut sorted = areas.to_vec();
    sorted.sort();
    Sha256::digest(sorted.join(",").as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The `past_scopes` row that keeps `areas` under their scope key: the key and the sorted
/// codes joined by "," (area codes are digits).
pub fn past_scope_row(areas: &[String]) -> (String, String) {
    let mut sorted = areas.to_vec();
    sorted.sort();
    (scope_key(areas), sorted.join(","))
}

/// The areas of a `past_scopes` row.
pub fn split_scope(joined: &str) -> Vec<String> {
    joined
        .split(',')
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect()
}
