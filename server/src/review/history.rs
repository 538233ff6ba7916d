//! A household's history for people: the CRDT's field changes grouped into the changes that
//! made them (one save, visit or decision each: who, which device, when), newest first, with
//! form labels and values as the forms show them — the shared field table where it has the
//! field, and the visit, case and attachment words of this module where it does not.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value as Json;
use zoufang_shared::CodeList;
use zoufang_shared::codes::{
    AttachmentKind, CaseKind, CaseOrigin, HelpMeasure, PovertyCause, ProcedureStep, Satisfaction,
    SignerRole, StepOutcome, VisitMode,
};
use zoufang_shared::doc::{DocError, FieldChange, HouseholdDoc};
use zoufang_shared::fields;

use super::{REVIEW_DEVICE, SERVER_DEVICE};

/// One field written by a change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    pub at: Option<DateTime<Utc>>,
    pub user: Option<String>,
    pub device: Option<String>,
    /// The document path, e.g. `living.house_grade`.
    pub path: String,
    /// The form's label, e.g. 危房等级; for fields no form shows, words of this module.
    pub label: String,
    pub before: String,
    pub after: String,
    /// Sensitive values (ID numbers, phones, bank accounts, health) are hidden for roles that
    /// may not read them.
    pub masked: bool,
}

/// What a change was, as people tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ChangeKind {
    /// A reviewer's decision or settlement on the server.
    Review,
    /// A visit recorded.
    Visit,
    /// A form saved, an import, anything else.
    Save,
}

impl ChangeKind {
    pub fn label(self) -> &'static str {
        match self {
            ChangeKind::Review => "审核",
            ChangeKind::Visit => "走访",
            ChangeKind::Save => "保存",
        }
    }
}

/// One change: everything one save, visit or decision wrote.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub at: Option<DateTime<Utc>>,
    pub user: Option<String>,
    pub device: Option<String>,
    pub kind: ChangeKind,
    pub entries: Vec<Entry>,
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

/// A code of list `L` as its label, else the text as it is.
fn code<L: CodeList>(v: &Json) -> Option<String> {
    v.as_str().map(|s| {
        L::parse(s)
            .map(|c| c.label().to_owned())
            .unwrap_or_else(|_| s.to_owned())
    })
}

/// How a stored value reads, when it has a reading.
type Reading = fn(&Json) -> Option<String>;

/// How a field's values read on the page.
type Show = Box<dyn Fn(&Json) -> String>;

/// Labels of the keys of visits, cases, their steps, helpers and attachments (no form field
/// table holds them), and how their coded values read.
fn key_label(key: &str) -> Option<(&'static str, Reading)> {
    fn plain(v: &Json) -> Option<String> {
        match v {
            Json::String(s) => Some(s.clone()),
            Json::Bool(true) => Some("是".into()),
            Json::Bool(false) => Some("否".into()),
            Json::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
    Some(match key {
        "date" => ("日期", plain),
        "visitor" => ("走访人", plain),
        "visitor_user" | "actor_user" | "captured_by" => ("账号", plain),
        "mode" => ("走访方式", code::<VisitMode>),
        "household_present" => ("户主在家", plain),
        "notes" => ("走访情况", plain),
        "policies_known" => ("享受政策知晓情况", plain),
        "satisfaction" => ("满意度", code::<Satisfaction>),
        "kind" => ("类型", |v| {
            code::<CaseKind>(v)
                .filter(|s| v.as_str() != Some(s.as_str()))
                .or_else(|| code::<AttachmentKind>(v))
        }),
        "origin" => ("发起方式", code::<CaseOrigin>),
        "reason" => ("理由", plain),
        "proposed_on" => ("提出日期", plain),
        "proposed_by" => ("提出人", plain),
        "step" => ("步骤", code::<ProcedureStep>),
        "outcome" => ("结果", code::<StepOutcome>),
        "actor" => ("经办人", plain),
        "comment" => ("意见", plain),
        "publicity_start" => ("公示开始", plain),
        "publicity_end" => ("公示结束", plain),
        "signer" => ("签字人", code::<SignerRole>),
        "name" => ("姓名", plain),
        "unit" => ("帮扶单位", plain),
        "from" => ("开始日期", plain),
        "to" => ("结束日期", plain),
        "content" => ("内容", plain),
        "by" => ("提出人", plain),
        "resolution" => ("处理结果", plain),
        _ => return None,
    })
}

/// The section a path lies in, as people name it.
fn section_label(section: &str) -> Option<&'static str> {
    Some(match section {
        "visits" => "走访",
        "cases" => "动态管理事项",
        "helpers" => "帮扶责任人",
        "attachments" => "照片/签名",
        "members" => "家庭成员",
        "incomes" => "收入",
        _ => return None,
    })
}

/// A whole record written at once (a visit, a step, a case) in a few words.
fn summary(v: &Json) -> Option<String> {
    let obj = v.as_object()?;
    let word = |key: &str| {
        obj.get(key)
            .and_then(|v| key_label(key).and_then(|(_, f)| f(v)))
    };
    let parts: Vec<String> = [
        "date", "step", "outcome", "mode", "kind", "name", "signer", "comment",
    ]
    .iter()
    .filter_map(|k| word(k))
    .filter(|s| !s.is_empty())
    .collect();
    Some(if parts.is_empty() {
        format!("(记录,{} 项)", obj.len())
    } else {
        parts.join(" ")
    })
}

fn raw(v: &Json) -> String {
    match v {
        Json::Null => "(空)".to_owned(),
        Json::String(s) => s.clone(),
        Json::Array(a) => format!("(共 {} 项)", a.len()),
        Json::Object(_) => summary(v).unwrap_or_default(),
        other => other.to_string(),
    }
}

/// The label of a path and how its values read, for paths the form table does not know.
fn described(path: &[String]) -> (String, Show) {
    if let [id] = path
        && id == "id"
    {
        return ("农户标识".into(), Box::new(raw));
    }
    // A member of a set field (`info.other_causes.<code>`): the field's label, the code's.
    if let [section, key, element] = path
        && let Some((label, _)) = fields::for_path(&[section.clone(), key.clone()])
    {
        let element = PovertyCause::parse(element)
            .map(|c| c.label().to_owned())
            .or_else(|_| HelpMeasure::parse(element).map(|m| m.label().to_owned()))
            .unwrap_or_else(|_| element.clone());
        return (
            label,
            Box::new(move |v: &Json| {
                if v.is_null() {
                    "(空)".to_owned()
                } else {
                    element.clone()
                }
            }),
        );
    }
    let section = path.first().map(String::as_str).unwrap_or("");
    let Some(section_word) = section_label(section) else {
        return (path.join("."), Box::new(raw));
    };
    // A step of a case: `cases.<id>.steps.<id>[.key]`.
    let key = match path {
        [_, _, steps, _, key, ..] if steps == "steps" => Some(key.as_str()),
        [_, _, steps, _] if steps == "steps" => None,
        [_, _, key, ..] => Some(key.as_str()),
        _ => None,
    };
    let step = path.get(2).is_some_and(|s| s == "steps");
    let prefix = if step {
        format!("{section_word} · 步骤")
    } else {
        section_word.to_owned()
    };
    match key.and_then(|k| key_label(k).map(|l| (k, l))) {
        Some((_, (label, show))) => (
            format!("{prefix} · {label}"),
            Box::new(move |v: &Json| match v {
                Json::Null => "(空)".to_owned(),
                other => show(other).unwrap_or_else(|| raw(other)),
            }),
        ),
        None => (prefix, Box::new(raw)),
    }
}

/// Every field change, newest first. `sees_personal` says whether sensitive values are shown.
pub fn timeline(doc: &mut HouseholdDoc, sees_personal: bool) -> Result<Vec<Entry>, DocError> {
    Ok(changes(doc, sees_personal)?
        .into_iter()
        .flat_map(|c| c.entries)
        .collect())
}

/// The changes, newest first, each with the fields it wrote: one pass over the history and one
/// sort, so a household with a long history costs its length, not its square.
pub fn changes(doc: &mut HouseholdDoc, sees_personal: bool) -> Result<Vec<Change>, DocError> {
    let history: Vec<FieldChange> = doc.field_history()?;
    let mut out: Vec<Change> = Vec::new();
    let mut by_hash: HashMap<String, usize> = HashMap::new();
    for c in history {
        let entry = entry(&c, sees_personal);
        let i = *by_hash.entry(c.hash.clone()).or_insert_with(|| {
            out.push(Change {
                at: c.at,
                user: c.user.clone(),
                device: c.device.clone(),
                kind: ChangeKind::Save,
                entries: Vec::new(),
            });
            out.len() - 1
        });
        let change = &mut out[i];
        if c.device
            .as_deref()
            .is_some_and(|d| d == REVIEW_DEVICE || d == SERVER_DEVICE)
        {
            change.kind = ChangeKind::Review;
        } else if c.path.first().is_some_and(|s| s == "visits") && change.kind == ChangeKind::Save {
            change.kind = ChangeKind::Visit;
        }
        change.entries.push(entry);
    }
    // The history lists changes in causal order; people read them by time, newest first (a
    // change without a time goes last). The sort is stable, so causal order breaks ties.
    out.reverse();
    out.sort_by_key(|c| std::cmp::Reverse(c.at));
    Ok(out)
}

fn entry(c: &FieldChange, sees_personal: bool) -> Entry {
    let masked = is_sensitive(&c.path) && !sees_personal;
    let (label, show): (String, Show) = match fields::for_path(&c.path) {
        Some((label, f)) => (label, Box::new(move |v: &Json| f.describe(v))),
        None => described(&c.path),
    };
    let shown = |v: &Json| {
        if masked && !v.is_null() {
            "***".to_owned()
        } else {
            show(v)
        }
    };
    Entry {
        at: c.at,
        user: c.user.clone(),
        device: c.device.clone(),
        path: c.path_string(),
        label,
        before: shown(&c.before),
        after: shown(&c.after),
        masked,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zoufang_shared::doc::{ActorId, ChangeAuthor};
    use zoufang_shared::ids::HouseholdId;

    /// A typical household, as `zhang` entered it on `dev-1`.
    fn typical() -> HouseholdDoc {
        let author = ChangeAuthor::new("zhang", "dev-1", Utc::now());
        let (doc, ()) = HouseholdDoc::create_with(
            &HouseholdId::random(),
            ActorId::random(),
            &author,
            zoufang_shared::demo::fill_typical,
        )
        .expect("household");
        doc
    }

    #[test]
    fn changes_group_their_fields_newest_first_in_words() {
        let mut doc = typical();
        let later = ChangeAuthor::new(
            "wang",
            REVIEW_DEVICE,
            Utc::now() + chrono::TimeDelta::seconds(5),
        );
        doc.edit(&later, |e| {
            e.set_field("living.house_grade", serde_json::json!("c"))?;
            e.set_field("water.trip_minutes", serde_json::json!(30))
        })
        .expect("edit");
        let all = changes(&mut doc, true).expect("changes");
        assert_eq!(all.len(), 2, "one entry per change: {all:?}");
        let newest = &all[0];
        assert_eq!(newest.kind, ChangeKind::Review);
        assert_eq!(newest.user.as_deref(), Some("wang"));
        let labels: Vec<&str> = newest.entries.iter().map(|e| e.label.as_str()).collect();
        assert_eq!(labels.len(), 2, "{labels:?}");
        assert!(labels.contains(&"危房等级"), "{labels:?}");
        assert_eq!(all[1].kind, ChangeKind::Save);
        let words: Vec<&str> = all[1].entries.iter().map(|e| e.label.as_str()).collect();
        assert!(
            words.iter().all(|l| !l.contains('.')),
            "no raw paths: {words:?}"
        );
    }

    #[test]
    fn visit_and_case_fields_read_in_words() {
        let path = |p: &str| p.split('.').map(str::to_owned).collect::<Vec<_>>();
        let (label, show) = described(&path("visits.v1.satisfaction"));
        assert_eq!(label, "走访 · 满意度");
        assert_eq!(show(&serde_json::json!("satisfied")), "满意");
        let (label, show) = described(&path("cases.c1.steps.s1.outcome"));
        assert_eq!(label, "动态管理事项 · 步骤 · 结果");
        assert_eq!(show(&serde_json::json!("returned")), "退回");
        let (label, show) = described(&path("cases.c1.steps.s1"));
        assert_eq!(label, "动态管理事项 · 步骤");
        let step = serde_json::json!({"step": "township_review", "outcome": "passed", "date": "2026-12-05"});
        assert_eq!(show(&step), "2026-12-05 乡镇审核 通过");
    }

    #[test]
    fn labels_values_and_masks_sensitive_ones() {
        let mut doc = typical();
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
