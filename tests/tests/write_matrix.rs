//! Who may write what, end to end, as one table (issue 15): every role that may hold a device ×
//! every path class of the write model × create and change × a household of the user's own
//! township and one of another township. Each cell is one real push from a device enrolled at a
//! real server, carrying one change built here with the household document on top of the
//! server's current copy of a household prepared for it, under the device's own actor and author
//! label. The expected answer of each cell comes from the write model's table
//! (`zoufang_shared::authority::may`) — never written down here — so a changed rule shows up as
//! a diff: own township → accepted iff the table allows the write, else `not_permitted`; another
//! township → `out_of_scope`. A removal (an entity's key made to vanish) is refused `removal` for
//! every role, and a role that may not hold a device (`may_hold_devices`) cannot enroll one.
//!
//! Before a cell's push is judged, the test checks that the change does what the cell says: the
//! write model's own diff (`authority::writes`) must attribute it to exactly the cell's class and
//! kind (creating a household also creates its area code: that cell declares both). After the
//! matrix, the server's change log must hold exactly one change of each accepted cell and none of
//! a refused one, and for a sample of refused cells the whole server database is compared before
//! and after.
//!
//! Also, the reproductions of issue 15 as regression stories: with the stock CLI a surveyor's
//! 县级审定 and 乡镇审核 are refused on the device and never reach the server; crafted, the server
//! refuses them; a reviewer's 退回 rewritten to 通过, a 2017 exit case already 已公告, a step
//! dated before its case's proposal (or a month ahead), a back-dated step without a reason, and a
//! change labelled with another user's name are all refused.
//!
//! Each runs on SQLite and on PostgreSQL.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Instant;

use chrono::{NaiveDate, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use zoufang_e2e::api::{self, ApiDevice, PullFrom, actor_hex, doc_from, has_chinese, outcome};
use zoufang_e2e::areas::{COUNTY, JINXIU, KONGXING, SANHE, SHILI, XIAOWAN, day};
use zoufang_e2e::db::ServerDb;
use zoufang_e2e::review::{Reviewer, decide, pass_steps_through, propose_case};
use zoufang_e2e::{
    ClientProcess, Device, ServerProcess, TestDb, add_users, enroll_all, roster_csv,
};
use zoufang_shared::CodeList;
use zoufang_shared::authority::{
    PathClass, Role, WriteKind, Writer, may, may_hold_devices, writes,
};
use zoufang_shared::codes::{
    AttachmentKind, CaseKind, CaseOrigin, ProcedureStep, StepOutcome, VisitMode,
};
use zoufang_shared::demo::step_record;
use zoufang_shared::doc::{ActorId, ChangeAuthor, DocError, Editor, HouseholdDoc};
use zoufang_shared::ids::{CaseId, HelperId, HouseholdId, StepId};
use zoufang_shared::model::{
    Attachment, Case, Helper, Household, Member, Objection, StepRecord, Visit,
};
use zoufang_shared::wire::{PulledChange, Push, PushOutcome, SyncResponse};

fn author(user: &str, device: &str) -> ChangeAuthor {
    ChangeAuthor::new(user, device, Utc::now())
}

fn path(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|p| (*p).to_owned()).collect()
}

/// A lowercase-hex "content hash" made from `seed` (distinct short seeds, distinct hashes).
fn content_hash(seed: &str) -> String {
    let mut s: String = seed.bytes().map(|b| format!("{b:02x}")).collect();
    s.truncate(64);
    while s.len() < 64 {
        s.push('0');
    }
    s
}

fn visit(date: NaiveDate, notes: &str) -> Visit {
    Visit {
        date,
        visitor: "张调查".into(),
        visitor_user: None,
        mode: VisitMode::InPerson,
        household_present: Some(true),
        notes: notes.into(),
        policies_known: String::new(),
        satisfaction: None,
        attachments: Default::default(),
    }
}

fn photo() -> Attachment {
    Attachment {
        kind: AttachmentKind::Photo,
        signer: None,
        mime: "image/jpeg".into(),
        bytes: 2048,
        width: Some(640),
        height: Some(480),
        captured_at: None,
        captured_by: None,
        visit: None,
        case: None,
    }
}

fn proposal(on: NaiveDate, by: &str, reason: &str) -> Case {
    Case {
        kind: CaseKind::Exit,
        origin: Some(CaseOrigin::Screening),
        round: None,
        proposed_on: on,
        proposed_by: by.into(),
        proposed_by_user: Some(by.into()),
        reason: reason.into(),
        members: Default::default(),
        steps: Default::default(),
    }
}

fn record(step: ProcedureStep, date: NaiveDate, comment: &str) -> StepRecord {
    StepRecord {
        comment: comment.into(),
        ..step_record(step, date, "村委会", StepOutcome::Passed)
    }
}

fn objection(date: NaiveDate, resolution: Option<&str>) -> Objection {
    Objection {
        date,
        by: "村民".into(),
        content: "收入情况需要核实".into(),
        resolution: resolution.map(str::to_owned),
    }
}

/// The one case of a prepared household.
fn the_case(h: &Household) -> &CaseId {
    h.cases
        .keys()
        .next()
        .unwrap_or_else(|| panic!("{} has no case", h.id.as_str()))
}

/// The latest record of `step` in the case.
fn step_of(h: &Household, step: ProcedureStep) -> StepId {
    let case = &h.cases[the_case(h)];
    case.records()
        .into_iter()
        .rev()
        .find(|(_, r)| r.step == step)
        .map(|(id, _)| id.clone())
        .unwrap_or_else(|| panic!("{} has no {step:?} record", h.id.as_str()))
}

fn first<K: Clone, V>(map: &BTreeMap<K, V>, what: &str, h: &Household) -> K {
    map.keys()
        .next()
        .cloned()
        .unwrap_or_else(|| panic!("{} has no {what}", h.id.as_str()))
}

// ---------------------------------------------------------------------------------------------
// Baselines: what a household holds before a cell writes to it.

/// Each builds on the one before. Up to `Publicized` a surveyor's device writes it; the last
/// three add reviewers' decisions made through the review API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Base {
    /// As the roster import made it: members, household number, village; no status.
    Plain,
    /// Status, an income year, land, living and water fields, a helper, a visit, a photo, and a
    /// case (proposed 20 days ago) without steps.
    Filled,
    HomeChecked,
    Deliberated,
    /// 公示 from 16 to 10 days ago, with an objection raised and resolved.
    Publicized,
    TownshipPassed,
    CountyPassed,
    Announced,
}

/// The baseline a cell needs; `None` for the cells that create a household.
fn base_of(class: PathClass, kind: WriteKind) -> Option<Base> {
    use PathClass as C;
    use ProcedureStep as P;
    use WriteKind::{Change, Create, Remove};
    Some(match (class, kind) {
        (_, Remove) => Base::Announced,
        (C::Identity | C::AreaCode, Create) => return None,
        (C::Identity | C::Info | C::AreaCode | C::Members, _) => Base::Plain,
        // The household's own sections: a new one on a plain household, a change on filled ones.
        (
            C::Status
            | C::Incomes
            | C::Land
            | C::Living
            | C::Water
            | C::Helpers
            | C::Visits
            | C::Attachments
            | C::Case,
            Create | Change,
        ) => match kind {
            Create => Base::Plain,
            _ => Base::Filled,
        },
        (C::Step(P::HomeCheck), Create) => Base::Filled,
        (C::Step(P::HomeCheck), Change) | (C::Step(P::Deliberation), Create) => Base::HomeChecked,
        (C::Step(P::Deliberation), Change) | (C::Step(P::Publicity), Create) => Base::Deliberated,
        (C::Step(P::Publicity), Change)
        | (C::Objections, _)
        | (C::Step(P::TownshipReview), Create) => Base::Publicized,
        (C::Step(P::TownshipReview), Change) | (C::Step(P::CountyDecision), Create) => {
            Base::TownshipPassed
        }
        (C::Step(P::CountyDecision), Change) | (C::Step(P::Announcement), Create) => {
            Base::CountyPassed
        }
        (C::Step(P::Announcement), Change) => Base::Announced,
    })
}

/// Writes the device-side part of `base` (everything up to 公示) as one edit; returns the case.
fn prepare(
    e: &mut Editor<'_>,
    base: Base,
    user: &str,
    seed: &str,
) -> Result<Option<CaseId>, DocError> {
    if base == Base::Plain {
        return Ok(None);
    }
    e.set_field("info.status", json!("not_exited"))?;
    e.set_field("incomes.2025.wage", json!(1_200_000))?;
    e.set_field("land.cultivated", json!("1.5"))?;
    e.set_field("living.distance_to_road_m", json!(100))?;
    e.set_field("water.trip_minutes", json!(5))?;
    e.put_helper(
        &HelperId::random(),
        &Helper {
            name: "李帮扶".into(),
            unit: Some("县农业农村局".into()),
            ..Helper::default()
        },
    )?;
    e.add_visit(&visit(day(-3), "首次入户走访"))?;
    e.put_attachment(&content_hash(&format!("base:{seed}")), &photo())?;
    let case = e.add_case(&proposal(day(-20), user, "入户排查"))?;
    if base >= Base::HomeChecked {
        e.add_step(&case, &record(ProcedureStep::HomeCheck, day(-19), ""))?;
    }
    if base >= Base::Deliberated {
        e.add_step(&case, &record(ProcedureStep::Deliberation, day(-18), ""))?;
    }
    if base >= Base::Publicized {
        let step = e.add_step(
            &case,
            &StepRecord {
                publicity_start: Some(day(-16)),
                publicity_end: Some(day(-10)),
                ..record(ProcedureStep::Publicity, day(-17), "")
            },
        )?;
        e.add_objection(
            &case,
            &step,
            &objection(day(-14), Some("已入户核实,情况属实")),
        )?;
    }
    Ok(Some(case))
}

/// The decisions `base` needs after the device's part: (step, who decides).
fn decisions(base: Base) -> Vec<ProcedureStep> {
    let mut out = Vec::new();
    if base >= Base::TownshipPassed {
        out.push(ProcedureStep::TownshipReview);
    }
    if base >= Base::CountyPassed {
        out.push(ProcedureStep::CountyDecision);
    }
    if base >= Base::Announced {
        out.push(ProcedureStep::Announcement);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The cells' writes.

/// Performs the one write of `class` and `kind` that a cell makes on `h` (its baseline).
fn cell_edit(
    e: &mut Editor<'_>,
    h: &Household,
    class: PathClass,
    kind: WriteKind,
    other: bool,
    seed: &str,
) -> Result<(), DocError> {
    use PathClass as C;
    use WriteKind::{Change, Create, Remove};
    if kind == Remove {
        return removal(e, h, class);
    }
    match (class, kind) {
        (C::Identity, Change) => e.resolve(&path(&["id"]), json!(format!("{}-x", h.id.as_str()))),
        (C::Info, Create) => e.set_field("info.phone", json!("13912345678")),
        (C::Info, Change) => e.set_field("info.village", json!("孔兴村")),
        // The import files each household in its village (三合村, 锦秀村): move it to another
        // area of the same township.
        (C::AreaCode, Change) => e.set_field(
            "info.area_code",
            json!(if other { XIAOWAN } else { KONGXING }),
        ),
        (C::Status, Create) => e.set_field("info.status", json!("not_exited")),
        (C::Status, Change) => e.set_field("info.status", json!("exited_supported")),
        (C::Members, Create) => e
            .add_member(&Member {
                name: "新增成员".into(),
                ..Member::default()
            })
            .map(drop),
        (C::Members, Change) => {
            let m = first(&h.members, "member", h);
            e.set_field(
                &format!("members.{}.phone", m.as_str()),
                json!("13700000000"),
            )
        }
        (C::Incomes, Create) => e.set_field("incomes.2025.wage", json!(1_200_000)),
        (C::Incomes, Change) => e.set_field("incomes.2025.wage", json!(1_500_000)),
        (C::Land, Create) => e.set_field("land.cultivated", json!("1.5")),
        (C::Land, Change) => e.set_field("land.cultivated", json!("2.5")),
        (C::Living, Create) => e.set_field("living.distance_to_road_m", json!(100)),
        (C::Living, Change) => e.set_field("living.distance_to_road_m", json!(200)),
        (C::Water, Create) => e.set_field("water.trip_minutes", json!(5)),
        (C::Water, Change) => e.set_field("water.trip_minutes", json!(10)),
        (C::Helpers, Create) => e.put_helper(
            &HelperId::random(),
            &Helper {
                name: "王帮扶".into(),
                ..Helper::default()
            },
        ),
        (C::Helpers, Change) => {
            let id = first(&h.helpers, "helper", h);
            let helper = Helper {
                phone: Some("13600000000".into()),
                ..h.helpers[&id].clone()
            };
            e.put_helper(&id, &helper)
        }
        (C::Visits, Create) => e.add_visit(&visit(day(-1), "再次走访")).map(drop),
        (C::Visits, Change) => {
            let id = first(&h.visits, "visit", h);
            e.resolve(
                &path(&["visits", id.as_str(), "notes"]),
                json!("事后改写的走访记录"),
            )
        }
        (C::Attachments, Create) => {
            e.put_attachment(&content_hash(&format!("cell:{seed}")), &photo())
        }
        (C::Attachments, Change) => {
            let hash = first(&h.attachments, "attachment", h);
            e.set_field(&format!("attachments.{hash}.width"), json!(800))
        }
        (C::Case, Create) => e
            .add_case(&proposal(day(-2), "张调查", "入户排查"))
            .map(drop),
        (C::Case, Change) => {
            let case = the_case(h);
            e.set_field(
                &format!("cases.{}.reason", case.as_str()),
                json!("改写的事由"),
            )
        }
        (C::Step(step), Create) => {
            let case = the_case(h).clone();
            let mut r = record(step, day(-1), "");
            match step {
                ProcedureStep::Publicity => {
                    r.publicity_start = Some(day(-1));
                    r.publicity_end = Some(day(5));
                }
                // The server's steps, dated as the server dates its own.
                ProcedureStep::TownshipReview
                | ProcedureStep::CountyDecision
                | ProcedureStep::Announcement => r.date = day(0),
                _ => {}
            }
            e.add_step(&case, &r).map(drop)
        }
        (C::Step(step), Change) => {
            let case = the_case(h);
            let id = step_of(h, step);
            e.set_field(
                &format!("cases.{}.steps.{}.outcome", case.as_str(), id.as_str()),
                json!("returned"),
            )
        }
        (C::Objections, Create) => {
            let case = the_case(h).clone();
            let step = step_of(h, ProcedureStep::Publicity);
            e.add_objection(&case, &step, &objection(day(-1), None))
                .map(drop)
        }
        (C::Objections, Change) => {
            let case = the_case(h);
            let step = step_of(h, ProcedureStep::Publicity);
            let o = first(&h.cases[case].steps[&step].objections, "objection", h);
            e.set_field(
                &format!(
                    "cases.{}.steps.{}.objections.{}.resolution",
                    case.as_str(),
                    step.as_str(),
                    o.as_str()
                ),
                json!("改写的处理意见"),
            )
        }
        (c, k) => panic!("no cell writes {c:?} {k:?} on an existing household"),
    }
}

/// Classes whose entries are keyed, so that an entry can be made to vanish.
fn removable(class: PathClass) -> bool {
    matches!(
        class,
        PathClass::Members
            | PathClass::Incomes
            | PathClass::Helpers
            | PathClass::Visits
            | PathClass::Attachments
            | PathClass::Case
            | PathClass::Step(_)
            | PathClass::Objections
    )
}

/// Makes one entry of `class` vanish from the household: its key is overwritten with a null, which
/// readers show as nothing (this crate has no automerge of its own to write a `delete` op with;
/// for the typed household, and so for the write model, the two are the same removal).
fn removal(e: &mut Editor<'_>, h: &Household, class: PathClass) -> Result<(), DocError> {
    let key: Vec<String> = match class {
        PathClass::Members => path(&["members", first(&h.members, "member", h).as_str()]),
        PathClass::Incomes => path(&["incomes", "2025"]),
        PathClass::Helpers => path(&["helpers", first(&h.helpers, "helper", h).as_str()]),
        PathClass::Visits => path(&["visits", first(&h.visits, "visit", h).as_str()]),
        PathClass::Attachments => path(&["attachments", &first(&h.attachments, "attachment", h)]),
        PathClass::Case => path(&["cases", the_case(h).as_str()]),
        PathClass::Step(step) => path(&[
            "cases",
            the_case(h).as_str(),
            "steps",
            step_of(h, step).as_str(),
        ]),
        PathClass::Objections => {
            let case = the_case(h);
            let step = step_of(h, ProcedureStep::Publicity);
            let o = first(&h.cases[case].steps[&step].objections, "objection", h);
            path(&[
                "cases",
                case.as_str(),
                "steps",
                step.as_str(),
                "objections",
                o.as_str(),
            ])
        }
        c => panic!("{c:?} has no keyed entries"),
    };
    e.resolve(&key, Value::Null)
}

/// What a cell's change must do, as the write model's diff attributes it.
fn declared(class: PathClass, kind: WriteKind) -> Vec<(PathClass, WriteKind)> {
    match (class, kind) {
        // A household cannot be created without its area code (the server refuses one outside
        // the user's areas), so creating either creates both.
        (PathClass::Identity | PathClass::AreaCode, WriteKind::Create) => vec![
            (PathClass::Identity, WriteKind::Create),
            (PathClass::AreaCode, WriteKind::Create),
        ],
        _ => vec![(class, kind)],
    }
}

fn kind_word(kind: WriteKind) -> &'static str {
    match kind {
        WriteKind::Create => "create",
        WriteKind::Change => "change",
        WriteKind::Remove => "remove",
    }
}

fn writes_words(w: &[(PathClass, WriteKind)]) -> Vec<String> {
    let mut v: Vec<String> = w
        .iter()
        .map(|(c, k)| format!("{c:?}:{}", kind_word(*k)))
        .collect();
    v.sort();
    v
}

/// The expected answer, from the write model's table alone.
fn expected(role: Role, writes: &[(PathClass, WriteKind)], other: bool) -> &'static str {
    if other {
        return "out_of_scope";
    }
    match writes
        .iter()
        .find(|(c, k)| !may(Writer::Device(role), *c, *k))
    {
        None => "accepted",
        Some((_, WriteKind::Remove)) => "removal",
        Some(_) => "not_permitted",
    }
}

fn outcome_word(res: &SyncResponse, household: &str) -> String {
    match res.results.iter().find(|r| r.household == household) {
        Some(r) => match &r.outcome {
            PushOutcome::Accepted { .. } => "accepted".into(),
            PushOutcome::Rejected { code, message } => {
                if has_chinese(message) {
                    code.clone()
                } else {
                    format!("{code} (message not Chinese: {message:?})")
                }
            }
            PushOutcome::NeedAll => "need_all".into(),
        },
        None => "no result".into(),
    }
}

// ---------------------------------------------------------------------------------------------
// The matrix.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Area {
    Own,
    Other,
}

impl Area {
    fn word(self) -> &'static str {
        match self {
            Area::Own => "own",
            Area::Other => "other",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Cell {
    role: Role,
    class: PathClass,
    kind: WriteKind,
    area: Area,
}

fn username(role: Role) -> String {
    format!("wm_{}", role.code())
}

/// The roles that hold devices, in the table's order.
fn device_roles() -> Vec<Role> {
    Role::ALL
        .iter()
        .copied()
        .filter(|r| may_hold_devices(*r))
        .collect()
}

/// Every cell: role × class × {create, change} × {own, other}, then role × removable class ×
/// remove × {own, other}.
fn cells() -> Vec<Cell> {
    let mut out = Vec::new();
    for role in device_roles() {
        for class in PathClass::classes() {
            for kind in [WriteKind::Create, WriteKind::Change] {
                for area in [Area::Own, Area::Other] {
                    out.push(Cell {
                        role,
                        class: *class,
                        kind,
                        area,
                    });
                }
            }
        }
        for class in PathClass::classes().iter().filter(|c| removable(**c)) {
            for area in [Area::Own, Area::Other] {
                out.push(Cell {
                    role,
                    class: *class,
                    kind: WriteKind::Remove,
                    area,
                });
            }
        }
    }
    out
}

/// The household a cell writes to: its own in township A (one per role, class and kind; the
/// removals share one, since none may succeed), or a shared one per class and kind in township
/// B (every push there is refused).
fn household_key(c: &Cell) -> String {
    let kind = kind_word(c.kind);
    match (c.area, c.kind) {
        (Area::Own, WriteKind::Remove) => "own/remove".into(),
        (Area::Other, WriteKind::Remove) => "other/remove".into(),
        (Area::Own, _) => format!("own/{}/{:?}/{kind}", c.role.code(), c.class),
        (Area::Other, _) => format!("other/{:?}/{kind}", c.class),
    }
}

struct Planned {
    id: String,
    no: String,
    base: Base,
    case: Option<CaseId>,
}

/// Sets up township A and B with every household the cells need, runs every cell, and panics
/// with every cell that differs from the table. Returns the number of cells checked.
async fn run_matrix(db: TestDb, backend: &str) -> usize {
    let started = Instant::now();
    let server = ServerProcess::start(&db.url).await;
    let url = server.url.clone();
    let roles = device_roles();
    let mut users: Vec<(String, &str, &str)> = Role::ALL
        .iter()
        .map(|r| (username(*r), r.code(), SHILI))
        .collect();
    users.extend([
        ("wm_prep_a".to_owned(), "surveyor", SHILI),
        ("wm_prep_b".to_owned(), "surveyor", XIAOWAN),
        ("wm_tr_b".to_owned(), "township_reviewer", XIAOWAN),
        ("wm_county".to_owned(), "county_supervisor", COUNTY),
    ]);
    let user_refs: Vec<(&str, &str, &str)> =
        users.iter().map(|(u, r, a)| (u.as_str(), *r, *a)).collect();
    add_users(&db.url, &user_refs).await;

    // The households: one roster per township, imported and synced by a stock client.
    let all = cells();
    let mut plan: BTreeMap<String, Planned> = BTreeMap::new();
    let (mut n_a, mut n_b) = (0, 0);
    for c in &all {
        let key = household_key(c);
        if plan.contains_key(&key) {
            continue;
        }
        let Some(base) = base_of(c.class, c.kind) else {
            continue;
        };
        let no = match c.area {
            Area::Own => {
                n_a += 1;
                format!("1{n_a:05}")
            }
            Area::Other => {
                n_b += 1;
                format!("2{n_b:05}")
            }
        };
        plan.insert(
            key,
            Planned {
                id: format!("hh-{no}"),
                no,
                base,
                case: None,
            },
        );
    }
    let roster = |prefix: &str, village: &'static str| -> Vec<(String, &'static str, usize)> {
        plan.values()
            .filter(|p| p.no.starts_with(prefix))
            .map(|p| (p.no.clone(), village, 2))
            .collect()
    };
    let (rows_a, rows_b) = (roster("1", "三合村"), roster("2", "锦秀村"));
    let csv_a = roster_csv(
        &rows_a
            .iter()
            .map(|(n, v, m)| (n.as_str(), *v, *m))
            .collect::<Vec<_>>(),
        0,
    );
    let csv_b = roster_csv(
        &rows_b
            .iter()
            .map(|(n, v, m)| (n.as_str(), *v, *m))
            .collect::<Vec<_>>(),
        2000,
    );
    let stock = enroll_all(&url, &["wm_prep_a", "wm_prep_b"]).await;
    tokio::join!(
        stock[0].import_roster(&csv_a),
        stock[1].import_roster(&csv_b)
    );
    for (device, rows) in stock.iter().zip([&rows_a, &rows_b]) {
        let report = device.sync().await;
        assert_eq!(
            report["accepted"],
            rows.len(),
            "the roster's sync: {report}"
        );
    }
    let imported = started.elapsed();

    // The baselines: a surveyor's device of each township writes its part, in one sync each.
    let prep_a = ApiDevice::enroll(&url, "wm_prep_a", &actor_hex(&[0xa0; 16]), [0xa0; 16]).await;
    let prep_b = ApiDevice::enroll(&url, "wm_prep_b", &actor_hex(&[0xb0; 16]), [0xb0; 16]).await;
    for (dev, user, prefix) in [(&prep_a, "wm_prep_a", "1"), (&prep_b, "wm_prep_b", "2")] {
        let (pulled, cursor) = dev.pull_to_end().await;
        let mut pushes = Vec::new();
        for p in plan.values_mut().filter(|p| p.no.starts_with(prefix)) {
            if p.base == Base::Plain {
                continue;
            }
            let mut doc = doc_from(&pulled, &p.id, ActorId::from(dev.actor));
            let have = doc.heads();
            let (case, _) = doc
                .edit(&author(user, &dev.device_id), |e| {
                    prepare(e, p.base, user, &p.id)
                })
                .unwrap_or_else(|e| panic!("baseline {:?} of {}: {e}", p.base, p.id));
            p.case = case;
            pushes.push(Push {
                household: p.id.clone(),
                changes: doc.changes_after(&have),
            });
        }
        let ids: Vec<String> = pushes.iter().map(|p| p.household.clone()).collect();
        let res = dev.sync_from(&cursor, pushes).await;
        for id in &ids {
            assert!(
                matches!(outcome(&res, id), PushOutcome::Accepted { .. }),
                "baseline of {id}: {:?}",
                outcome(&res, id)
            );
        }
    }
    // The reviewers' decisions.
    let township_reviewer = username(Role::TownshipReviewer);
    let (tr_a, tr_b, county) = tokio::join!(
        Reviewer::login(&url, &township_reviewer),
        Reviewer::login(&url, "wm_tr_b"),
        Reviewer::login(&url, "wm_county"),
    );
    let mut decided = 0;
    for p in plan.values() {
        for step in decisions(p.base) {
            let r = match step {
                ProcedureStep::TownshipReview if p.no.starts_with('1') => &tr_a,
                ProcedureStep::TownshipReview => &tr_b,
                _ => &county,
            };
            let case = p.case.as_ref().expect("a case");
            let (status, body) = decide(r, &p.id, case.as_str(), step.code(), "passed", "").await;
            assert_eq!(
                status,
                StatusCode::NO_CONTENT,
                "{step:?} of {}: {body}",
                p.id
            );
            decided += 1;
        }
    }
    let prepared = started.elapsed();
    println!(
        "write matrix ({backend}): {} households ({n_a} in A, {n_b} in B) imported in {:.1?}, \
         baselines and {decided} decisions by {:.1?}",
        plan.len(),
        imported,
        prepared
    );

    // Enrollment: every role that may hold a device enrolls one; the others are refused.
    let mut wrong = Vec::new();
    let mut devices: BTreeMap<Role, ApiDevice> = BTreeMap::new();
    for (i, role) in Role::ALL.iter().enumerate() {
        let actor = [0x10 + i as u8; 16];
        let reply = api::enroll(
            &url,
            &username(*role),
            &actor_hex(&actor),
            &actor_hex(&actor),
        )
        .await;
        let got = if reply.status == StatusCode::OK {
            "200".to_owned()
        } else {
            let body = reply.expect_client_error("enroll");
            format!("{} {}", reply.status.as_u16(), body.code)
        };
        let want = if may_hold_devices(*role) {
            "200"
        } else {
            "403 role_cannot_enroll"
        };
        if got != want {
            wrong.push(format!(
                "{:<18} {:<26} {:<6} {:<5} expected {want:<14} got {got}",
                role.code(),
                "(enroll)",
                "-",
                "-"
            ));
        }
        if reply.status == StatusCode::OK {
            devices.insert(
                *role,
                ApiDevice::enroll(
                    &url,
                    &username(*role),
                    &actor_hex(&[0x30 + i as u8; 16]),
                    [0x30 + i as u8; 16],
                )
                .await,
            );
        }
    }
    assert_eq!(
        devices.keys().copied().collect::<Vec<_>>(),
        roles,
        "the devices of the matrix: {wrong:?}"
    );
    // Each device's view of township A, and township B as its own surveyor's device sees it.
    let mut views: BTreeMap<Role, (Vec<PulledChange>, PullFrom)> = BTreeMap::new();
    for (role, dev) in &devices {
        views.insert(*role, dev.pull_to_end().await);
    }
    // (A device is never sent its own changes back: another device of B's surveyor reads B.)
    let b_reader = ApiDevice::enroll(&url, "wm_prep_b", &actor_hex(&[0xb1; 16]), [0xb1; 16]).await;
    let (b_view, _) = b_reader.pull_to_end().await;

    let sdb = ServerDb::connect(&db.url).await;
    let cells_started = Instant::now();
    let mut accepted_households: BTreeSet<String> = BTreeSet::new();
    let mut sampled: HashSet<(Role, &'static str, &'static str)> = HashSet::new();
    let mut snapshots = 0;
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for c in &all {
        let dev = &devices[&c.role];
        let user = username(c.role);
        let other = c.area == Area::Other;
        let planned = plan.get(&household_key(c));
        let household = match planned {
            Some(p) => p.id.clone(),
            None => format!("hh-new-{}-{:?}-{}", c.role.code(), c.class, c.area.word())
                .to_lowercase()
                .replace(['(', ')'], "")
                .replace('_', "-"),
        };
        // The change, built on the server's current document under the device's own actor.
        let actor = ActorId::from(dev.actor);
        let stamp = author(&user, &dev.device_id);
        let (before, after, push) = match planned {
            Some(_) => {
                let pulled = if other { &b_view } else { &views[&c.role].0 };
                let mut doc = doc_from(pulled, &household, actor);
                let before = doc.read().expect("read the household");
                let have = doc.heads();
                let (_, hash) = doc
                    .edit(&stamp, |e| {
                        cell_edit(
                            e,
                            &before,
                            c.class,
                            c.kind,
                            other,
                            &format!("{household}/{}", c.role.code()),
                        )
                    })
                    .unwrap_or_else(|e| panic!("{c:?} on {household}: {e}"));
                assert!(hash.is_some(), "{c:?} on {household} changed nothing");
                let after = doc.read().expect("read the household");
                let push = Push {
                    household: household.clone(),
                    changes: doc.changes_after(&have),
                };
                (Some(before), after, push)
            }
            None => {
                let area = if other { JINXIU } else { SANHE };
                let (mut doc, ()) = HouseholdDoc::create_with(
                    &HouseholdId(household.clone()),
                    actor,
                    &stamp,
                    |e| e.set_field("info.area_code", json!(area)),
                )
                .expect("create a household");
                let after = doc.read().expect("read the household");
                let push = Push {
                    household: household.clone(),
                    changes: doc.changes_after(&[]),
                };
                (None, after, push)
            }
        };
        let want_writes = declared(c.class, c.kind);
        let observed: Vec<(PathClass, WriteKind)> = writes(before.as_ref(), &after)
            .into_iter()
            .map(|w| (w.class, w.kind))
            .collect();
        let want = expected(c.role, &want_writes, other);
        let sample = want != "accepted" && sampled.insert((c.role, c.area.word(), want));
        let snapshot = if sample {
            snapshots += 1;
            Some(sdb.snapshot().await)
        } else {
            None
        };
        let res = dev.sync_from(&views[&c.role].1, vec![push]).await;
        if let Some(v) = views.get_mut(&c.role) {
            v.1 = PullFrom::after(&res);
        }
        let mut got = outcome_word(&res, &household);
        if writes_words(&observed) != writes_words(&want_writes) {
            got = format!(
                "{got}; but the diff attributes the change as {:?}",
                writes_words(&observed)
            );
        }
        if let Some(before) = snapshot
            && sdb.snapshot().await != before
        {
            got = format!("{got}; and the server's data changed");
        }
        if got == "accepted" {
            accepted_households.insert(household.clone());
        }
        *counts.entry(got.clone()).or_default() += 1;
        if got != want {
            wrong.push(format!(
                "{:<18} {:<26} {:<6} {:<5} expected {want:<14} got {got}",
                c.role.code(),
                format!("{:?}", c.class),
                kind_word(c.kind),
                c.area.word()
            ));
        }
    }
    let pushed_in = cells_started.elapsed();

    // The change log: one change of each accepted cell, none of a refused one.
    let actors: BTreeSet<String> = devices.values().map(|d| actor_hex(&d.actor)).collect();
    let mut logged: BTreeMap<String, usize> = BTreeMap::new();
    for row in sdb.snapshot().await.changes {
        let words: Vec<&str> = row.split_whitespace().collect();
        if let [_, household, _, actor, ..] = words.as_slice()
            && actors.contains(*actor)
        {
            *logged.entry((*household).to_owned()).or_default() += 1;
        }
    }
    for (household, n) in &logged {
        if !accepted_households.contains(household) || *n != 1 {
            wrong.push(format!(
                "change log: {household} holds {n} change(s) of the matrix's devices, expected {}",
                if accepted_households.contains(household) {
                    1
                } else {
                    0
                }
            ));
        }
    }
    for household in accepted_households
        .iter()
        .filter(|h| !logged.contains_key(*h))
    {
        wrong.push(format!(
            "change log: {household} was accepted but holds no change"
        ));
    }
    sdb.close().await;
    println!(
        "write matrix ({backend}): {} cells pushed in {:.1?} ({snapshots} refused ones compared \
         with a database snapshot); answers {counts:?}; {} differ; total {:.1?}",
        all.len(),
        pushed_in,
        wrong.len(),
        started.elapsed()
    );
    assert!(
        wrong.is_empty(),
        "{} cells differ from the write model's table:\n{:<18} {:<26} {:<6} {:<5}\n{}",
        wrong.len(),
        "role",
        "class",
        "kind",
        "area",
        wrong.join("\n")
    );
    server.kill().await;
    all.len() + Role::ALL.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn write_matrix_on_sqlite() {
    let checked = run_matrix(TestDb::sqlite(), "SQLite").await;
    assert_eq!(checked, cells().len() + Role::ALL.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn write_matrix_on_postgres() {
    let checked = run_matrix(TestDb::postgres(), "PostgreSQL").await;
    assert_eq!(checked, cells().len() + Role::ALL.len());
}

// ---------------------------------------------------------------------------------------------
// Issue 15's reproductions.

/// `edit` on a fork of `doc` (same actor), as one change stamped `stamp`: the push of just that
/// change, the fork (to go on from if the server takes it) and what `edit` returned.
fn crafted<R>(
    doc: &mut HouseholdDoc,
    household: &str,
    stamp: &ChangeAuthor,
    edit: impl FnOnce(&mut Editor<'_>) -> Result<R, DocError>,
) -> (Push, HouseholdDoc, R) {
    let actor = doc.actor().clone();
    let mut fork = doc.fork(actor);
    let have = fork.heads();
    let (r, hash) = fork
        .edit(stamp, edit)
        .unwrap_or_else(|e| panic!("crafting a change of {household}: {e}"));
    assert!(
        hash.is_some(),
        "the crafted change of {household} changes nothing"
    );
    let push = Push {
        household: household.to_owned(),
        changes: fork.changes_after(&have),
    };
    (push, fork, r)
}

async fn push_one(dev: &ApiDevice, push: Push) -> String {
    let household = push.household.clone();
    outcome_word(&dev.sync(0, vec![push]).await, &household)
}

/// The records of `step` in a case of a `zoufang --json export` household.
fn exported_steps(export: &Value, household: &str, case: &str, step: &str) -> usize {
    let h = zoufang_e2e::exported_household(export, household);
    h["cases"][case]["steps"]
        .as_object()
        .map_or(0, |s| s.values().filter(|r| r["step"] == step).count())
}

/// A 2017 exit case already through 公告, as a transcription of old paper forms would carry
/// it: with a reason and a comment on every step when `with_reasons`.
fn case_of_2017(with_reasons: bool) -> Value {
    let note = if with_reasons {
        "补录 2017 年纸质档案"
    } else {
        ""
    };
    let step = |step: &str, date: &str| {
        json!({ "step": step, "date": date, "actor": "村委会", "outcome": "passed",
                "comment": note })
    };
    let mut publicity = step("publicity", "2017-03-12");
    publicity["publicity_start"] = json!("2017-03-12");
    publicity["publicity_end"] = json!("2017-03-18");
    json!({
        "kind": "exit", "origin": "screening", "proposed_on": "2017-03-01",
        "proposed_by": "张调查", "reason": note,
        "steps": {
            "s1": step("home_check", "2017-03-05"),
            "s2": step("deliberation", "2017-03-10"),
            "s3": publicity,
            "s4": step("township_review", "2017-03-25"),
            "s5": step("county_decision", "2017-04-01"),
            "s6": step("announcement", "2017-04-05"),
        }
    })
}

async fn issue_15_reproductions_are_refused(db: TestDb) {
    let started = Instant::now();
    let server = ServerProcess::start_with_users(
        &db.url,
        &[
            ("rp_zhang", "surveyor", SHILI),
            ("rp_li", "surveyor", SHILI),
            ("rp_shen", "township_reviewer", SHILI),
            ("rp_zhao", "county_supervisor", COUNTY),
        ],
    )
    .await;
    let url = server.url.clone();
    let zhang = Device::enrolled(&server, "rp_zhang").await;
    let nos = [
        "301001", "301002", "301003", "301004", "301005", "301006", "301007",
    ];
    let rows: Vec<(&str, &str, usize)> = nos.iter().map(|n| (*n, "三合村", 2)).collect();
    zhang.import_roster(&roster_csv(&rows, 0)).await;
    let [h1, h2, h3, h4, h5, h6, h7] = nos.map(|n| format!("hh-{n}"));

    // Cases through the client's own API, as the phone's forms enter them: 1 and 3 through a
    // 7-day 公示, 2 through a 3-day one, 5 only proposed.
    let client = ClientProcess::start(zhang.data.path()).await;
    let seven = (day(-16), day(-10));
    let c1 = propose_case(&client, &h1, "new_entry", Some("screening")).await;
    pass_steps_through(&client, &h1, &c1, "publicity", day(-18), seven).await;
    let c2 = propose_case(&client, &h2, "new_entry", Some("screening")).await;
    pass_steps_through(&client, &h2, &c2, "publicity", day(-18), (day(-8), day(-6))).await;
    let c3 = propose_case(&client, &h3, "new_entry", Some("screening")).await;
    pass_steps_through(&client, &h3, &c3, "publicity", day(-18), seven).await;
    let c5 = propose_case(&client, &h5, "new_entry", Some("screening")).await;
    client.kill().await;
    let report = zhang.sync().await;
    assert_eq!(report["accepted"], nos.len(), "{report}");

    // The township reviewer passes case 1, returns case 3, and cannot pass the 3-day 公示.
    let shen = Reviewer::login(&url, "rp_shen").await;
    let tr = ProcedureStep::TownshipReview;
    let (status, body) = decide(&shen, &h1, &c1, tr.code(), "passed", "").await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = decide(&shen, &h3, &c3, tr.code(), "returned", "缺少收入证明材料").await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = decide(&shen, &h2, &c2, tr.code(), "passed", "").await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a 3-day 公示 is too short: {body}"
    );
    zhang.sync().await;

    let sdb = ServerDb::connect(&db.url).await;
    let before = sdb.snapshot().await;

    // 1. The stock CLI: a surveyor records 县级审定 and 乡镇审核 — refused on the device.
    let step_json = |step: &str, date: NaiveDate| {
        json!({ "step": step, "date": date.to_string(), "actor": "县扶贫办",
                "outcome": "passed" })
        .to_string()
    };
    for (h, c, step, label) in [
        (&h1, &c1, "county_decision", "县级审定"),
        (&h2, &c2, "township_review", "乡镇审核"),
    ] {
        let (status, out, err) = zhang
            .run(&[
                "edit",
                h,
                &format!("cases.{c}.steps.x"),
                &step_json(step, day(0)),
            ])
            .await;
        assert!(
            !status.success(),
            "a surveyor's {step} must be refused on the device: {out}"
        );
        assert!(
            has_chinese(&err) && err.contains(label),
            "the refusal says why, in Chinese: {err:?}"
        );
    }
    // …and a reviewer's 退回 rewritten to 通过.
    let export = zhang.export().await;
    let returned = zoufang_e2e::exported_household(&export, &h3)["cases"][&c3]["steps"]
        .as_object()
        .and_then(|s| {
            s.iter()
                .find(|(_, r)| r["step"] == "township_review")
                .map(|(id, _)| id.clone())
        })
        .expect("the returned 乡镇审核 reached the device");
    let (status, _, err) = zhang
        .run(&[
            "edit",
            &h3,
            &format!("cases.{c3}.steps.{returned}.outcome"),
            "passed",
        ])
        .await;
    assert!(!status.success(), "a rewritten 退回 must be refused: {err}");
    assert!(has_chinese(&err) && err.contains("乡镇审核"), "{err:?}");
    // …and a 2017 exit case already 已公告, even with reasons on every step.
    let (status, _, err) = zhang
        .run(&["edit", &h4, "cases.c2017", &case_of_2017(true).to_string()])
        .await;
    assert!(
        !status.success(),
        "a 2017 case through 公告 must be refused: {err}"
    );
    assert!(has_chinese(&err) && err.contains("乡镇审核"), "{err:?}");
    // …and a step dated before its case's proposal.
    let (status, _, err) = zhang
        .run(&[
            "edit",
            &h5,
            &format!("cases.{c5}.steps.x"),
            &step_json("home_check", day(-25)),
        ])
        .await;
    assert!(
        !status.success(),
        "a step before the proposal must be refused: {err}"
    );
    assert!(has_chinese(&err) && err.contains("提出日期"), "{err:?}");
    // Nothing of it was kept, so nothing reaches the server.
    let export = zhang.export().await;
    assert_eq!(exported_steps(&export, &h1, &c1, "county_decision"), 0);
    assert_eq!(exported_steps(&export, &h2, &c2, "township_review"), 0);
    assert_eq!(exported_steps(&export, &h5, &c5, "home_check"), 0);
    assert!(
        zoufang_e2e::exported_household(&export, &h4)["cases"]
            .as_object()
            .is_none_or(|c| c.is_empty()),
        "no 2017 case on the device"
    );
    let report = zhang.sync().await;
    assert_eq!(report["pushed_households"], 0, "{report}");
    assert_eq!(
        sdb.snapshot().await,
        before,
        "refused CLI edits reached the server"
    );

    // 2. The same changes crafted and pushed by a device of the same surveyor.
    let api = ApiDevice::enroll(&url, "rp_zhang", &actor_hex(&[0x51; 16]), [0x51; 16]).await;
    let (pulled, _) = api.pull_to_end().await;
    let before = sdb.snapshot().await;
    let doc_of = |h: &str| doc_from(&pulled, h, ActorId::from(api.actor));
    let stamp = author("rp_zhang", &api.device_id);
    let mut refused: Vec<(String, String, &str)> = Vec::new();
    for (h, c, step) in [
        (&h1, &c1, ProcedureStep::CountyDecision),
        (&h2, &c2, ProcedureStep::TownshipReview),
    ] {
        let (push, _, _) = crafted(&mut doc_of(h.as_str()), h, &stamp, |e| {
            e.add_step(&CaseId::from(c.as_str()), &record(step, day(0), ""))
                .map(drop)
        });
        refused.push((
            format!("a surveyor's {step:?}"),
            push_one(&api, push).await,
            "not_permitted",
        ));
    }
    let (push, _, _) = crafted(&mut doc_of(&h3), &h3, &stamp, |e| {
        e.set_field(
            &format!("cases.{c3}.steps.{returned}.outcome"),
            json!("passed"),
        )
    });
    refused.push((
        "a 退回 rewritten to 通过".into(),
        push_one(&api, push).await,
        "not_permitted",
    ));
    for (with_reasons, code) in [(true, "not_permitted"), (false, "backdated_without_reason")] {
        let (push, _, _) = crafted(&mut doc_of(&h4), &h4, &stamp, |e| {
            e.set_field("cases.c2017", case_of_2017(with_reasons))
        });
        refused.push((
            format!("a 2017 case through 公告 (reasons: {with_reasons})"),
            push_one(&api, push).await,
            code,
        ));
    }
    for (date, what) in [
        (day(-25), "before its proposal"),
        (day(30), "a month ahead"),
    ] {
        let (push, _, _) = crafted(&mut doc_of(&h5), &h5, &stamp, |e| {
            e.add_step(
                &CaseId::from(c5.as_str()),
                &record(ProcedureStep::HomeCheck, date, ""),
            )
            .map(drop)
        });
        refused.push((
            format!("a step dated {what}"),
            push_one(&api, push).await,
            "step_date",
        ));
    }
    // A label naming another user, or the reviewers' own device label.
    for (user, device) in [("rp_li", api.device_id.as_str()), ("rp_zhang", "review")] {
        let (push, _, _) = crafted(&mut doc_of(&h7), &h7, &author(user, device), |e| {
            e.set_field("info.phone", json!("13911112222"))
        });
        refused.push((
            format!("a change labelled {user}/{device}"),
            push_one(&api, push).await,
            "forged_author",
        ));
    }
    let wrong: Vec<String> = refused
        .iter()
        .filter(|(_, got, want)| got != want)
        .map(|(what, got, want)| format!("{what}: expected {want}, got {got}"))
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(
        sdb.snapshot().await,
        before,
        "refused pushes changed the server's data"
    );

    // 3. Back-dating needs a reason: a case proposed 45 days ago, then a step 35 days ago.
    let mut doc = doc_of(&h6);
    let (push, _, _) = crafted(&mut doc, &h6, &stamp, |e| {
        e.add_case(&proposal(day(-45), "张调查", ""))
    });
    assert_eq!(push_one(&api, push).await, "backdated_without_reason");
    let (push, mut doc, case) = crafted(&mut doc, &h6, &stamp, |e| {
        e.add_case(&proposal(day(-45), "张调查", "补录去年的纸质档案"))
    });
    assert_eq!(
        push_one(&api, push).await,
        "accepted",
        "a back-dated case with a reason"
    );
    let step = |comment: &str| record(ProcedureStep::HomeCheck, day(-35), comment);
    let (push, _, _) = crafted(&mut doc, &h6, &stamp, |e| e.add_step(&case, &step("")));
    let after_case = sdb.snapshot().await;
    assert_eq!(push_one(&api, push).await, "backdated_without_reason");
    assert_eq!(
        sdb.snapshot().await,
        after_case,
        "a refused back-dated step was kept"
    );
    let (push, _, _) = crafted(&mut doc, &h6, &stamp, |e| {
        e.add_step(&case, &step("补录:据纸质入户核查表"))
    });
    assert_eq!(
        push_one(&api, push).await,
        "accepted",
        "a back-dated step with a reason"
    );

    // The procedure itself still goes on: the county decides case 1 on the server.
    let zhao = Reviewer::login(&url, "rp_zhao").await;
    let (status, body) = decide(
        &zhao,
        &h1,
        &c1,
        ProcedureStep::CountyDecision.code(),
        "passed",
        "",
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    sdb.close().await;
    server.kill().await;
    println!("issue 15 reproductions: {:.1?}", started.elapsed());
}

zoufang_e2e::on_both_databases!(issue_15_reproductions_are_refused, worker_threads = 4);
