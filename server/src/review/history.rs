//! A household's timeline for people: every field change from the CRDT history (who, which
//! device, when, before → after), with form labels and values as the forms show them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value as Json;
use zoufang_shared::doc::{DocError, FieldChange, HouseholdDoc};
use zoufang_shared::fields;

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    pub at: Option<DateTime<Utc>>,
    pub user: Option<String>,
    pub device: Option<String>,
    /// The document path, e.g. `living.house_grade`.
    pub path: String,
    /// The form's label, e.g. 危房等级; the path itself for fields no form shows.
    pub label: String,
    pub before: String,
    pub after: String,
    /// Sensitive values (ID numbers, phones, bank accounts, health) are hidden for roles that
    /// may not read them.
    pub masked: bool,
}

/// Keys whose values are personal data.
const SENSITIVE: [&str; 6] = [
    "id_number",
    "phone",
    "bank_account",
    "health",
    "disability_cert",
    "bank_name",
];

fn is_sensitive(path: &[String]) -> bool {
    path.last().is_some_and(|k| SENSITIVE.contains(&k.as_str()))
}

fn raw(v: &Json) -> String {
    match v {
        Json::Null => "(空)".to_owned(),
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The timeline, newest first. `sees_personal` says whether sensitive values are shown.
pub fn timeline(doc: &mut HouseholdDoc, sees_personal: bool) -> Result<Vec<Entry>, DocError> {
    let changes: Vec<FieldChange> = doc.field_history()?;
    let mut out: Vec<Entry> = changes
        .into_iter()
        .map(|c| {
            let field = fields::for_path(&c.path);
            let masked = is_sensitive(&c.path) && !sees_personal;
            let show = |v: &Json| match (&field, masked) {
                (_, true) if !v.is_null() => "***".to_owned(),
                (Some((_, f)), _) => f.describe(v),
                (None, _) => raw(v),
            };
            Entry {
                at: c.at,
                user: c.user.clone(),
                device: c.device.clone(),
                path: c.path_string(),
                label: field
                    .as_ref()
                    .map(|(label, _)| label.clone())
                    .unwrap_or_else(|| c.path_string()),
                before: show(&c.before),
                after: show(&c.after),
                masked,
            }
        })
        .collect();
    out.reverse();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use zoufang_shared::doc::{ActorId, ChangeAuthor};
    use zoufang_shared::ids::HouseholdId;

    #[test]
    fn labels_values_and_masks_sensitive_ones() {
        let author = ChangeAuthor::new("zhang", "dev-1", Utc::now());
        let (mut doc, ()) = HouseholdDoc::create_with(
            &HouseholdId::random(),
            ActorId::random(),
            &author,
            zoufang_shared::demo::fill_typical,
        )
        .expect("household");
        let later = ChangeAuthor::new("li", "dev-2", Utc::now());
        doc.edit(&later, |e| {
            e.set_field("living.house_grade", serde_json::json!("c"))
        })
        .expect("edit");
        let t = timeline(&mut doc, false).expect("timeline");
        let first = &t[0];
        assert_eq!(first.label, "危房等级");
        assert_eq!(
            (first.before.as_str(), first.after.as_str()),
            ("B级", "C级")
        );
        assert_eq!(first.user.as_deref(), Some("li"));
        assert_eq!(first.device.as_deref(), Some("dev-2"));
        let id = t
            .iter()
            .find(|e| e.path.ends_with(".id_number"))
            .expect("an ID was written");
        assert!(id.masked && id.after == "***", "{id:?}");
        let shown = timeline(&mut doc, true).expect("timeline");
        let id = shown
            .iter()
            .find(|e| e.path.ends_with(".id_number"))
            .expect("an ID");
        assert!(!id.masked && id.after.len() == 18, "{id:?}");
    }
}
