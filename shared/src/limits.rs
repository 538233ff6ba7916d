//! The text limits of a household: which characters a string of it may hold and how long it may
//! be. One check, [`check_text`], serves every writer — the device before it saves an edit, the
//! server before it keeps a device's push or writes a reviewer's decision — so text the server
//! would refuse is never saved on a device either.
//!
//! Every string of the typed household belongs to a [`TextClass`]: ids (the household's, and the
//! keys of its members, visits, cases…), one-line fields (names, numbers, codes), or notes. No
//! class holds a control character (PostgreSQL cannot store a NUL at all, and one NUL in one
//! household once made a device's whole sync fail), except that notes keep their line breaks and
//! tabs; ids are printable ASCII, as every id Zoufang makes is; each class has a length limit,
//! counted in characters.
//!
//! A value the household already held before the write is not judged again: a household stored
//! before these limits existed can still be edited, and only what the write itself puts there
//! has to fit.

use std::borrow::Cow;
use std::collections::BTreeSet;

use crate::doc::{DocError, ValidationError};
use crate::fields;
use crate::model::{
    Attachment, Case, Helper, Household, HouseholdInfo, Income, Land, Living, Member, Objection,
    StepRecord, Visit, Water,
};

/// Longest id, in characters: a household's id (`hh-` and a 户编号 of up to
/// [`MAX_SHORT_CHARS`], as the roster import makes it) and the keys of its members, helpers,
/// visits, cases, step records and objections (32-character UUIDs) and attachments (64-digit
/// SHA-256), with room to spare.
pub const MAX_ID_CHARS: usize = 128;

/// Longest one-line field, in characters: names of people, places and work units, 户编号,
/// 证件号码 and other numbers, phone numbers, bank names and accounts, area codes, account
/// names, a MIME type. Room for a work unit's full name (「某某县农业农村局驻某某村工作队」 is
/// 14 characters) several times over; a form's text input holds this much.
pub const MAX_SHORT_CHARS: usize = 100;

/// Longest note, in characters: a visit's notes and the policies the household knows of, a
/// case's reason, a step's comment, an objection and its resolution. About two pages of
/// handwriting, far more than the paper forms' boxes hold; the review API already capped a
/// decision's comment and a spot check's note at it.
pub const MAX_NOTE_CHARS: usize = 2_000;

/// What a string of a household is, for its limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextClass {
    /// The household's id, or a key naming one of its entities or attachments.
    Id,
    /// A one-line field.
    Short,
    /// Free text over several lines.
    Note,
}

impl TextClass {
    pub const fn max_chars(self) -> usize {
        match self {
            TextClass::Id => MAX_ID_CHARS,
            TextClass::Short => MAX_SHORT_CHARS,
            TextClass::Note => MAX_NOTE_CHARS,
        }
    }

    /// Whether `c` may stand in a value of this class. Ids are printable ASCII (UUIDs, SHA-256
    /// digests, `hh-` and a 户编号). Notes keep line breaks (a browser sends a textarea's as
    /// CR LF) and tabs; no other control character (Unicode category Cc: C0, DEL, C1) belongs
    /// in any field.
    fn allows(self, c: char) -> bool {
        match self {
            TextClass::Id => c.is_ascii_graphic(),
            TextClass::Short => !c.is_control(),
            TextClass::Note => !c.is_control() || matches!(c, '\n' | '\r' | '\t'),
        }
    }
}

/// Why a value was refused; stable, for machines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextRefusalCode {
    /// A text field holds a control character.
    InvalidText,
    /// A text field is over its class's limit.
    TextTooLong,
    /// An id is empty, holds a character other than printable ASCII, or is over
    /// [`MAX_ID_CHARS`].
    InvalidId,
}

impl TextRefusalCode {
    pub fn code(self) -> &'static str {
        match self {
            TextRefusalCode::InvalidText => "invalid_text",
            TextRefusalCode::TextTooLong => "text_too_long",
            TextRefusalCode::InvalidId => "invalid_id",
        }
    }
}

/// A value refused by the text limits. Its `Display` is the message for people, naming the
/// field: 「成员姓名」过长:40000 字,最多 100 字.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("「{label}」{problem}")]
pub struct TextRefusal {
    pub code: TextRefusalCode,
    /// Where the value stands in the document, e.g. `members.<id>.name`; an id that is itself
    /// refused appears escaped and cut short.
    pub path: String,
    /// What the form calls the field, e.g. 成员姓名.
    pub label: String,
    /// What is wrong with the value, e.g. 过长:40000 字,最多 100 字.
    pub problem: String,
}

/// A refusal is a failed validation of the edit that wrote the value: the device's store
/// reports it like the document's own rules (and an import refuses that household alone).
impl From<TextRefusal> for DocError {
    fn from(r: TextRefusal) -> Self {
        DocError::Invalid(Box::new(ValidationError::BadValue {
            path: r.label,
            message: r.problem,
        }))
    }
}

/// Checks the text `after` holds against the limits; a value that stood at the same place in
/// `before` (`None`: a new household) is not judged again. The first value refused, if any.
pub fn check_text(before: Option<&Household>, after: &Household) -> Result<(), TextRefusal> {
    let refusals = refused(after);
    if refusals.is_empty() {
        return Ok(());
    }
    let kept = before.map(refused).unwrap_or_default();
    match refusals
        .into_iter()
        .find(|(r, value)| !kept.iter().any(|(k, v)| k.path == r.path && v == value))
    {
        Some((r, _)) => Err(r),
        None => Ok(()),
    }
}

/// Checks a household id as it arrives outside a document (a push names its household).
pub fn check_household_id(id: &str) -> Result<(), TextRefusal> {
    check_value("id", HOUSEHOLD_ID_LABEL, TextClass::Id, id)
}

/// Checks one value of `class`, which `path` and `label` name in the refusal: for text written
/// beside the household (a spot check's note) or checked before a document is built.
pub fn check_value(
    path: &str,
    label: &str,
    class: TextClass,
    value: &str,
) -> Result<(), TextRefusal> {
    match problem(class, value) {
        None => Ok(()),
        Some(p) => Err(p.refusal(class, path.to_owned(), label.to_owned())),
    }
}

const HOUSEHOLD_ID_LABEL: &str = "农户标识";

/// How many characters of a refused id a path shows.
const SHOWN_ID_CHARS: usize = 16;

enum Problem {
    Empty,
    Char(char),
    Length(usize),
}

fn problem(class: TextClass, value: &str) -> Option<Problem> {
    if class == TextClass::Id && value.is_empty() {
        return Some(Problem::Empty);
    }
    let mut n = 0;
    for c in value.chars() {
        if !class.allows(c) {
            return Some(Problem::Char(c));
        }
        n += 1;
    }
    (n > class.max_chars()).then_some(Problem::Length(n))
}

impl Problem {
    fn refusal(&self, class: TextClass, path: String, label: String) -> TextRefusal {
        let problem = match *self {
            Problem::Empty => "不能为空".to_owned(),
            Problem::Char(c) if c.is_control() => {
                format!("含有不允许的控制字符 U+{:04X}", u32::from(c))
            }
            Problem::Char(c) => format!("含有不允许的字符「{c}」(只能用英文字母、数字和符号)"),
            Problem::Length(n) => format!("过长:{n} 字,最多 {} 字", class.max_chars()),
        };
        let code = match (class, self) {
            (TextClass::Id, _) => TextRefusalCode::InvalidId,
            (_, Problem::Length(_)) => TextRefusalCode::TextTooLong,
            (_, _) => TextRefusalCode::InvalidText,
        };
        TextRefusal {
            code,
            path,
            label,
            problem,
        }
    }
}

/// Every value of `h` the limits refuse, with the value.
fn refused(h: &Household) -> Vec<(TextRefusal, &str)> {
    let mut out = Vec::new();
    walk(h, |path, label, class, value| {
        if let Some(p) = problem(class, value) {
            out.push((
                p.refusal(class, path_text(path), label_text(path, label)),
                value,
            ));
        }
    });
    out
}

/// The path as a refusal shows it.
fn path_text(path: &[&str]) -> String {
    let shown: Vec<Cow<'_, str>> = path.iter().map(|s| shown_segment(s)).collect();
    shown.join(".")
}

/// A path segment, printable and short even when it is an id refused for its characters or its
/// length.
fn shown_segment(segment: &str) -> Cow<'_, str> {
    if problem(TextClass::Id, segment).is_none() {
        return Cow::Borrowed(segment);
    }
    let mut out = String::new();
    for c in segment.chars().take(SHOWN_ID_CHARS) {
        if c.is_control() {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    if segment.chars().nth(SHOWN_ID_CHARS).is_some() {
        out.push('…');
    }
    Cow::Owned(out)
}

/// Where a field's label for people comes from.
#[derive(Debug, Clone, Copy)]
enum Label {
    /// The household form's own label of the field ([`fields::for_path`]).
    Form,
    /// A field the form does not show.
    Own(&'static str),
}

fn label_text(path: &[&str], label: Label) -> String {
    match label {
        Label::Own(l) => l.to_owned(),
        Label::Form => {
            let path: Vec<String> = path.iter().map(|s| (*s).to_owned()).collect();
            fields::for_path(&path).map_or_else(|| path.join("."), |(l, _)| l)
        }
    }
}

/// A walk over the strings of a household, keeping the path of the one it is at.
struct Walk<'h, F> {
    path: Vec<&'h str>,
    visit: F,
}

impl<'h, F: FnMut(&[&'h str], Label, TextClass, &'h str)> Walk<'h, F> {
    fn text(&mut self, key: &'h str, label: Label, class: TextClass, value: &'h str) {
        self.path.push(key);
        (self.visit)(&self.path, label, class, value);
        self.path.pop();
    }

    fn opt(&mut self, key: &'h str, label: Label, class: TextClass, value: &'h Option<String>) {
        if let Some(v) = value {
            self.text(key, label, class, v);
        }
    }

    /// The entries of the map (or set) at `key`: each key an id called `label`, then `f` on its
    /// value.
    fn entries<K: AsRef<str> + 'h, V: 'h>(
        &mut self,
        key: &'h str,
        label: &'static str,
        entries: impl IntoIterator<Item = (&'h K, &'h V)>,
        mut f: impl FnMut(&mut Self, &'h V),
    ) {
        self.path.push(key);
        for (id, value) in entries {
            let id = id.as_ref();
            self.path.push(id);
            (self.visit)(&self.path, Label::Own(label), TextClass::Id, id);
            f(self, value);
            self.path.pop();
        }
        self.path.pop();
    }

    /// The ids of the set at `key`.
    fn ids<K: AsRef<str> + 'h>(&mut self, key: &'h str, label: &'static str, ids: &'h BTreeSet<K>) {
        self.entries(key, label, ids.iter().map(|id| (id, &())), |_, _| {});
    }
}

/// Calls `visit` with the path, label, class and value of every string of `h`. Every struct is
/// taken apart field by field, so a field added to the model fails to compile here until it is
/// given its class.
fn walk<'h>(h: &'h Household, visit: impl FnMut(&[&'h str], Label, TextClass, &'h str)) {
    use Label::{Form, Own};
    use TextClass::{Id, Note, Short};
    let mut w = Walk {
        path: Vec::with_capacity(8),
        visit,
    };
    let Household {
        id,
        info,
        land,
        living,
        water,
        members,
        incomes,
        helpers,
        visits,
        cases,
        attachments,
    } = h;
    w.text("id", Own(HOUSEHOLD_ID_LABEL), Id, id.as_str());

    let HouseholdInfo {
        household_no,
        year: _,
        province,
        city,
        county,
        township,
        village,
        group,
        area_code,
        phone,
        bank_name,
        bank_account,
        standard_level: _,
        attribute: _,
        main_cause: _,
        other_causes: _,
        status: _,
        exit_year: _,
        monitoring: _,
        measures: _,
        food_secure: _,
        clothing_secure: _,
    } = info;
    w.path.push("info");
    w.opt("household_no", Form, Short, household_no);
    w.opt("province", Form, Short, province);
    w.opt("city", Form, Short, city);
    w.opt("county", Form, Short, county);
    w.opt("township", Form, Short, township);
    w.opt("village", Form, Short, village);
    w.opt("group", Form, Short, group);
    w.opt("area_code", Own("区划代码"), Short, area_code);
    w.opt("phone", Form, Short, phone);
    w.opt("bank_name", Own("开户银行"), Short, bank_name);
    w.opt("bank_account", Own("银行账号"), Short, bank_account);
    w.path.pop();

    // Numbers, codes and flags only.
    let Land {
        cultivated: _,
        forest: _,
        returned_to_forest: _,
        fruit_forest: _,
        pasture: _,
        water_surface: _,
    } = land;
    let Living {
        road_type: _,
        distance_to_road_m: _,
        production_power: _,
        living_power: _,
        broadcast_tv: _,
        sanitary_toilet: _,
        house_area_m2: _,
        house_structure: _,
        house_grade: _,
        house_renovated: _,
        moved_out: _,
    } = living;
    let Water {
        litres_per_person_day: _,
        dry_area: _,
        trip_minutes: _,
        cut_days_per_year: _,
        quality_tested: _,
    } = water;
    for income in incomes.values() {
        let Income {
            wage: _,
            planting: _,
            breeding: _,
            forestry_fruit: _,
            business_other: _,
            property: _,
            family_planning: _,
            dibao: _,
            tekun: _,
            pension: _,
            eco_compensation: _,
            transfer_other: _,
            production_cost: _,
            insurance_claims: _,
            compliant_out_of_pocket: _,
        } = income;
    }

    w.entries("members", "成员标识", members, |w, m| {
        let Member {
            name,
            sex: _,
            id_number,
            birth_date: _,
            relation: _,
            ethnicity,
            political: _,
            education: _,
            school: _,
            dropout_reason: _,
            health: _,
            disability_cert,
            labour: _,
            work_place: _,
            work_months: _,
            medical_insurance: _,
            serious_illness_insurance: _,
            pension_insurance: _,
            dibao: _,
            tekun: _,
            public_job: _,
            phone,
            left_reason: _,
            left_on: _,
        } = m;
        w.text("name", Form, Short, name);
        w.opt("id_number", Form, Short, id_number);
        w.opt("ethnicity", Form, Short, ethnicity);
        w.opt(
            "disability_cert",
            Own("成员残疾证号"),
            Short,
            disability_cert,
        );
        w.opt("phone", Form, Short, phone);
    });

    w.entries("helpers", "帮扶责任人标识", helpers, |w, h| {
        let Helper {
            name,
            unit,
            phone,
            user_id,
            from: _,
            to: _,
        } = h;
        w.text("name", Own("帮扶责任人姓名"), Short, name);
        w.opt("unit", Own("帮扶单位"), Short, unit);
        w.opt("phone", Own("帮扶责任人电话"), Short, phone);
        w.opt("user_id", Own("帮扶责任人账号"), Short, user_id);
    });

    w.entries("visits", "走访记录标识", visits, |w, v| {
        let Visit {
            date: _,
            visitor,
            visitor_user,
            mode: _,
            household_present: _,
            notes,
            policies_known,
            satisfaction: _,
            attachments,
        } = v;
        w.text("visitor", Own("走访人"), Short, visitor);
        w.opt("visitor_user", Own("走访人账号"), Short, visitor_user);
        w.text("notes", Own("走访情况"), Note, notes);
        w.text(
            "policies_known",
            Own("享受政策知晓情况"),
            Note,
            policies_known,
        );
        w.ids("attachments", "走访附件", attachments);
    });

    w.entries("cases", "事项标识", cases, |w, c| {
        let Case {
            kind: _,
            origin: _,
            round,
            proposed_on: _,
            proposed_by,
            proposed_by_user,
            reason,
            members,
            steps,
        } = c;
        w.text("proposed_by", Own("提出人"), Short, proposed_by);
        w.opt(
            "proposed_by_user",
            Own("提出人账号"),
            Short,
            proposed_by_user,
        );
        w.opt("round", Own("工作批次"), Short, round);
        w.text("reason", Own("事项理由"), Note, reason);
        w.ids("members", "事项涉及成员", members);
        w.entries("steps", "步骤记录标识", steps, |w, s| {
            let StepRecord {
                step: _,
                date: _,
                actor,
                actor_user,
                outcome: _,
                comment,
                publicity_start: _,
                publicity_end: _,
                objections,
                attachments,
            } = s;
            w.text("actor", Own("经办人"), Short, actor);
            w.opt("actor_user", Own("经办人账号"), Short, actor_user);
            w.text("comment", Own("办理意见"), Note, comment);
            w.entries("objections", "异议标识", objections, |w, o| {
                let Objection {
                    date: _,
                    by,
                    content,
                    resolution,
                } = o;
                w.text("by", Own("异议人"), Short, by);
                w.text("content", Own("异议内容"), Note, content);
                w.opt("resolution", Own("异议处理结果"), Note, resolution);
            });
            w.ids("attachments", "步骤附件", attachments);
        });
    });

    w.entries("attachments", "附件标识", attachments, |w, a| {
        let Attachment {
            kind: _,
            signer: _,
            mime,
            bytes: _,
            width: _,
            height: _,
            captured_at,
            captured_by,
            visit,
            case,
        } = a;
        w.text("mime", Own("附件类型"), Short, mime);
        w.opt("captured_at", Own("拍摄时间"), Short, captured_at);
        w.opt("captured_by", Own("拍摄人"), Short, captured_by);
        if let Some(v) = visit {
            w.text("visit", Own("附件所属走访"), Id, v.as_str());
        }
        if let Some(c) = case {
            w.text("case", Own("附件所属事项"), Id, c.as_str());
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::*;
    use crate::ids::*;
    use crate::money::Fen;
    use chrono::NaiveDate;
    use serde_json::Value as Json;
    use std::collections::{BTreeMap, BTreeSet};

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, 1).expect("date")
    }

    /// A household with every string of the model filled (each struct written out in full, so
    /// a new field breaks this until it is filled too).
    fn full() -> Household {
        let mut h = Household::new(HouseholdId::from("hh-1"));
        h.info = HouseholdInfo {
            household_no: Some("5309211002010001".into()),
            year: Some(2026),
            province: Some("云南省".into()),
            city: Some("临沧市".into()),
            county: Some("凤庆县".into()),
            township: Some("诗礼乡".into()),
            village: Some("三合村".into()),
            group: Some("一组".into()),
            area_code: Some("530921100201".into()),
            phone: Some("13800000000".into()),
            bank_name: Some("农村信用社".into()),
            bank_account: Some("6228480000000000000".into()),
            standard_level: None,
            attribute: None,
            main_cause: None,
            other_causes: BTreeSet::new(),
            status: None,
            exit_year: None,
            monitoring: None,
            measures: BTreeSet::new(),
            food_secure: None,
            clothing_secure: None,
        };
        let member = MemberId::from("m1");
        h.members.insert(
            member.clone(),
            Member {
                name: "张三".into(),
                sex: Some(Sex::Male),
                id_number: Some("530921199001010011".into()),
                birth_date: None,
                relation: Some(Relation::Head),
                ethnicity: Some("汉族".into()),
                political: None,
                education: None,
                school: None,
                dropout_reason: None,
                health: None,
                disability_cert: Some("残123".into()),
                labour: None,
                work_place: None,
                work_months: None,
                medical_insurance: true,
                serious_illness_insurance: false,
                pension_insurance: false,
                dibao: false,
                tekun: false,
                public_job: false,
                phone: Some("13900000000".into()),
                left_reason: None,
                left_on: None,
            },
        );
        h.incomes.insert(
            2026,
            Income {
                wage: Fen(100),
                ..Income::default()
            },
        );
        h.helpers.insert(
            HelperId::from("hp1"),
            Helper {
                name: "李四".into(),
                unit: Some("县农业农村局".into()),
                phone: Some("13700000000".into()),
                user_id: Some("lisi".into()),
                from: None,
                to: None,
            },
        );
        let hash = "a".repeat(64);
        let visit = VisitId::from("v1");
        h.visits.insert(
            visit.clone(),
            Visit {
                date: day(),
                visitor: "王五".into(),
                visitor_user: Some("wangwu".into()),
                mode: VisitMode::InPerson,
                household_present: Some(true),
                notes: "入户走访".into(),
                policies_known: "低保".into(),
                satisfaction: None,
                attachments: BTreeSet::from([hash.clone()]),
            },
        );
        let objection = Objection {
            date: day(),
            by: "村民".into(),
            content: "有异议".into(),
            resolution: Some("已核实".into()),
        };
        let step = StepRecord {
            step: ProcedureStep::Publicity,
            date: day(),
            actor: "村委会".into(),
            actor_user: Some("cun".into()),
            outcome: StepOutcome::Passed,
            comment: "无".into(),
            publicity_start: Some(day()),
            publicity_end: Some(day()),
            objections: BTreeMap::from([(ObjectionId::from("o1"), objection)]),
            attachments: BTreeSet::from([hash.clone()]),
        };
        let case = CaseId::from("c1");
        h.cases.insert(
            case.clone(),
            Case {
                kind: CaseKind::NewEntry,
                origin: None,
                round: None,
                proposed_on: day(),
                proposed_by: "王五".into(),
                proposed_by_user: Some("wangwu".into()),
                reason: "因病".into(),
                members: BTreeSet::from([member]),
                steps: BTreeMap::from([(StepId::from("s1"), step)]),
            },
        );
        h.attachments.insert(
            hash,
            Attachment {
                kind: AttachmentKind::Photo,
                signer: None,
                mime: "image/jpeg".into(),
                bytes: 1,
                width: None,
                height: None,
                captured_at: Some("2026-03-01T10:00:00+08:00".into()),
                captured_by: Some("wangwu".into()),
                visit: Some(visit),
                case: Some(case),
            },
        );
        h
    }

    /// Every string the walk visits: its path and class.
    fn walked(h: &Household) -> Vec<(Vec<String>, TextClass)> {
        let mut out = Vec::new();
        walk(h, |path, _, class, _| {
            out.push((path.iter().map(|s| (*s).to_owned()).collect(), class));
        });
        out
    }

    /// Every string of the household's serde form (the document layout): string values, and
    /// the keys of its id-keyed maps and sets (not income years, not sets of codes).
    fn strings_in(json: &Json, path: &mut Vec<String>, out: &mut BTreeSet<Vec<String>>) {
        const KEYED_BY_ID: [&str; 7] = [
            "members",
            "helpers",
            "visits",
            "cases",
            "steps",
            "objections",
            "attachments",
        ];
        match json {
            Json::String(_) => {
                out.insert(path.clone());
            }
            Json::Object(map) => {
                let keyed = path
                    .last()
                    .is_some_and(|k| KEYED_BY_ID.contains(&k.as_str()));
                for (k, v) in map {
                    path.push(k.clone());
                    if keyed {
                        out.insert(path.clone());
                    }
                    strings_in(v, path, out);
                    path.pop();
                }
            }
            _ => {}
        }
    }

    /// The JSON object holding the last segment of `path`.
    fn parent<'j>(json: &'j mut Json, path: &[String]) -> &'j mut serde_json::Map<String, Json> {
        path[..path.len() - 1]
            .iter()
            .try_fold(json, |v, k| v.get_mut(k))
            .and_then(Json::as_object_mut)
            .expect("the parent of a walked path")
    }

    /// Whether `path` names a key of a map or set (not a string value).
    fn is_key(h: &Household, path: &[String]) -> bool {
        let mut json = serde_json::to_value(h).expect("serialise");
        let last = &path[path.len() - 1];
        !parent(&mut json, path)[last].is_string()
    }

    /// `h` with the string at `path` (a value, or a key) replaced by `text`.
    fn with_text(h: &Household, path: &[String], text: &str) -> Household {
        let key = is_key(h, path);
        let mut json = serde_json::to_value(h).expect("serialise");
        let last = &path[path.len() - 1];
        let parent = parent(&mut json, path);
        if key {
            let value = parent.remove(last).expect("the entry");
            parent.insert(text.to_owned(), value);
        } else {
            parent.insert(last.clone(), Json::from(text));
        }
        serde_json::from_value(json).expect("still a household")
    }

    #[test]
    fn the_walk_visits_every_string_of_the_model() {
        // The document's other strings: codes of lists and dates.
        const NOT_TEXT: [&str; 10] = [
            "sex",
            "relation",
            "date",
            "mode",
            "kind",
            "proposed_on",
            "step",
            "outcome",
            "publicity_start",
            "publicity_end",
        ];
        let h = full();
        let walked: BTreeSet<Vec<String>> = walked(&h).into_iter().map(|(p, _)| p).collect();
        let mut in_json = BTreeSet::new();
        strings_in(
            &serde_json::to_value(&h).expect("serialise"),
            &mut Vec::new(),
            &mut in_json,
        );
        assert!(
            walked.is_subset(&in_json),
            "{:?}",
            walked.difference(&in_json)
        );
        for path in in_json.difference(&walked) {
            let last = path.last().map(String::as_str).unwrap_or("");
            assert!(NOT_TEXT.contains(&last), "{path:?} is text the walk misses");
        }
        for class in [TextClass::Id, TextClass::Short, TextClass::Note] {
            assert!(
                self::walked(&h).iter().any(|(_, c)| *c == class),
                "{class:?} is exercised"
            );
        }
    }

    #[test]
    fn every_field_at_its_limit_passes_and_one_more_is_refused_there() {
        let h = full();
        assert_eq!(check_text(None, &h), Ok(()));
        for (path, class) in walked(&h) {
            let max = class.max_chars();
            // ASCII for ids (a key stays a key), CJK for text: characters, not bytes, count.
            let unit = if class == TextClass::Id { "k" } else { "名" };
            let at = with_text(&h, &path, &unit.repeat(max));
            assert_eq!(check_text(None, &at), Ok(()), "{path:?} at {max}");
            let over = with_text(&h, &path, &unit.repeat(max + 1));
            let r = check_text(None, &over).expect_err("one over the limit");
            if is_key(&h, &path) {
                // The over-long key is in the path, shown cut short.
                let parent = path[..path.len() - 1].join(".");
                let shown = format!("{parent}.{}…", unit.repeat(SHOWN_ID_CHARS));
                assert_eq!(r.path, shown);
            } else {
                assert_eq!(r.path, path.join("."));
            }
            let code = match class {
                TextClass::Id => TextRefusalCode::InvalidId,
                _ => TextRefusalCode::TextTooLong,
            };
            assert_eq!(r.code, code, "{path:?}");
            assert!(r.problem.contains(&max.to_string()), "{}", r.problem);
            assert!(
                r.label
                    .chars()
                    .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
                "{path:?} has a Chinese label, not {:?}",
                r.label
            );
        }
    }

    #[test]
    fn a_nul_is_refused_in_every_field_and_line_breaks_only_in_notes() {
        let h = full();
        for (path, class) in walked(&h) {
            let text = if class == TextClass::Id {
                "a\0b"
            } else {
                "张\0三"
            };
            let nul = with_text(&h, &path, text);
            let r = check_text(None, &nul).expect_err("a NUL");
            let code = match class {
                TextClass::Id => TextRefusalCode::InvalidId,
                _ => TextRefusalCode::InvalidText,
            };
            assert_eq!(r.code, code, "{path:?}");
            assert!(r.problem.contains("U+0000"), "{}", r.problem);
            assert!(
                !r.path.contains('\0'),
                "the path is printable: {:?}",
                r.path
            );
            assert!(!r.to_string().contains('\0'));
            let lines = with_text(&h, &path, "一行\r\n二行\t完");
            assert_eq!(
                check_text(None, &lines).is_ok(),
                class == TextClass::Note,
                "{path:?}"
            );
        }
    }

    #[test]
    fn the_forms_text_inputs_are_short_fields() {
        // The client's form gives each text input a `maxlength` of MAX_SHORT_CHARS.
        let walked = walked(&full());
        let class_of = |path: &[&str]| {
            walked
                .iter()
                .find(|(p, _)| p.iter().map(String::as_str).eq(path.iter().copied()))
                .map(|(_, c)| *c)
        };
        for (section, table) in [
            ("info", fields::INFO),
            ("info", fields::CHECKLIST),
            ("members", fields::MEMBER),
        ] {
            for f in table
                .iter()
                .filter(|f| matches!(f.kind, fields::Kind::Text))
            {
                let path: Vec<&str> = match section {
                    "members" => vec!["members", "m1", f.key],
                    _ => vec![section, f.key],
                };
                assert_eq!(class_of(&path), Some(TextClass::Short), "{path:?}");
            }
        }
    }

    #[test]
    fn values_the_household_held_before_are_not_judged_again() {
        let mut old = full();
        let head = MemberId::from("m1");
        let long = "名".repeat(40_000);
        if let Some(m) = old.members.get_mut(&head) {
            m.name = long.clone();
        }
        // Another field edited: the long name stood before, so the edit goes through.
        let mut edited = old.clone();
        edited.info.phone = Some("13811112222".into());
        assert_eq!(check_text(Some(&old), &edited), Ok(()));
        assert!(check_text(None, &edited).is_err());
        // Writing another over-long value there is refused.
        let mut rewritten = old.clone();
        if let Some(m) = rewritten.members.get_mut(&head) {
            m.name = "姓".repeat(40_000);
        }
        let r = check_text(Some(&old), &rewritten).expect_err("a new long name");
        assert_eq!(r.path, "members.m1.name");
        assert_eq!(r.code, TextRefusalCode::TextTooLong);
        assert_eq!(r.to_string(), "「成员姓名」过长:40000 字,最多 100 字");
    }

    #[test]
    fn refused_ids_read_escaped_and_short() {
        let mut h = full();
        let member = h.members.remove(&MemberId::from("m1")).expect("m1");
        h.members.insert(MemberId::from("m\0x"), member);
        let r = check_text(None, &h).expect_err("a NUL in a key");
        assert_eq!(r.code, TextRefusalCode::InvalidId);
        assert_eq!(r.path, "members.m\\u{0}x");
        assert_eq!(r.label, "成员标识");

        assert_eq!(
            check_household_id("hh-\0").map_err(|r| r.code),
            Err(TextRefusalCode::InvalidId)
        );
        assert_eq!(
            check_household_id(&"h".repeat(MAX_ID_CHARS + 1)).map_err(|r| r.code),
            Err(TextRefusalCode::InvalidId)
        );
        assert_eq!(check_household_id("hh-5309211002010001"), Ok(()));
        for id in ["", "hh 1", "户1"] {
            assert_eq!(
                check_household_id(id).map_err(|r| r.code),
                Err(TextRefusalCode::InvalidId),
                "{id:?}"
            );
        }
        let mut h = full();
        h.id = HouseholdId("h".repeat(1000));
        let r = check_text(None, &h).expect_err("a long id");
        assert_eq!(
            (r.path.as_str(), r.code),
            ("id", TextRefusalCode::InvalidId)
        );
    }

    #[test]
    fn a_refusal_reads_as_a_validation_error_naming_the_field() {
        let r = check_value(
            "visits.v1.notes",
            "走访情况",
            TextClass::Note,
            &"字".repeat(2001),
        )
        .expect_err("too long");
        assert_eq!(
            DocError::from(r).to_string(),
            "「走访情况」的值无效:过长:2001 字,最多 2000 字"
        );
        let r = check_value("cases.c1.reason", "事项理由", TextClass::Note, "\u{85}")
            .expect_err("a C1 control");
        assert_eq!(r.code, TextRefusalCode::InvalidText);
    }

    proptest::proptest! {
        #[test]
        fn a_name_passes_exactly_when_it_is_short_and_has_no_control_character(
            name in "(\\PC|[\\x00-\\x1f\\x7f]){0,120}",
        ) {
            let mut h = full();
            if let Some(m) = h.members.get_mut(&MemberId::from("m1")) {
                m.name = name.clone();
            }
            let fits = name.chars().count() <= MAX_SHORT_CHARS && !name.chars().any(char::is_control);
            proptest::prop_assert_eq!(check_text(None, &h).is_ok(), fits);
        }

        #[test]
        fn a_write_that_changes_no_text_is_never_refused(
            note in "(\\PC|[\\x00-\\x1f]){0,2100}",
            key in "(\\PC|\\x00){0,140}",
        ) {
            let mut h = full();
            if let Some(v) = h.visits.get_mut(&VisitId::from("v1")) {
                v.notes = note;
            }
            let helper = h.helpers.values().next().cloned().expect("a helper");
            h.helpers.insert(HelperId(key), helper);
            proptest::prop_assert_eq!(check_text(Some(&h), &h), Ok(()));
        }
    }
}
