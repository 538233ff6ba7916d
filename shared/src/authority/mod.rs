//! Who may write what: the write model every change is checked against, on the device before it
//! commits and on the server before it keeps a device's push.
//!
//! A change is judged by **what it does to the typed household** — the fields it creates or
//! changes, read before and after it (see [`diff`]) — not by the bytes it carries, so that a
//! crafted change and one made by the stock client are judged alike. Each field belongs to a
//! [`PathClass`]; [`TABLE`] says, for each class and each [`Writer`], whether it may create it
//! (write where nothing stood) and change it (overwrite or clear a value). Nobody deletes: the
//! layout clears (`null`) and marks (`left_reason`) instead, so a removed key is always refused.
//! On top of the table, [`check`] holds the procedure's own rules for the steps devices record.
//!
//! The table is written once, here; the README renders it with [`markdown_table`], and the write
//! matrix test derives its expected answers from it.

mod check;
mod diff;
#[cfg(test)]
mod testkit;

pub use check::{
    BACKDATE_DAYS, Context, Refusal, RefusalCode, check, check_step_record, kind_fits, transcribed,
};
pub use diff::{Write, WriteKind, writes};

use crate::codes::{CodeList, ProcedureStep};

crate::code_list!(
    /// Roles of user accounts, from least to most privileged.
    Role, "角色" {
        Helper = "helper", "帮扶责任人";
        Surveyor = "surveyor", "调查员";
        TeamLeader = "team_leader", "队长";
        TownshipReviewer = "township_reviewer", "乡镇审核员";
        CountySupervisor = "county_supervisor", "县级督查";
        Admin = "admin", "管理员";
    }
);

/// Who writes a change: a device of a user in a role, or the server itself (reviewers'
/// decisions and settlements through the review API, whose own rules decide who may ask).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writer {
    Device(Role),
    Server,
}

impl Writer {
    pub fn label(self) -> &'static str {
        match self {
            Writer::Device(r) => r.label(),
            Writer::Server => "服务器",
        }
    }
}

/// The writers as the table's columns.
pub const WRITERS: [Writer; 7] = [
    Writer::Device(Role::Helper),
    Writer::Device(Role::Surveyor),
    Writer::Device(Role::TeamLeader),
    Writer::Device(Role::TownshipReviewer),
    Writer::Device(Role::CountySupervisor),
    Writer::Device(Role::Admin),
    Writer::Server,
];

/// Whether a role may hold a device at all. A device receives whole documents, so a role whose
/// review pages mask ID numbers (the county supervisor's) reads through those pages instead.
pub fn may_hold_devices(role: Role) -> bool {
    role != Role::CountySupervisor
}

/// A class of document paths that share their rights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathClass {
    /// `id`, `zoufang`, `schema`: written once, when the household is created.
    Identity,
    /// `info.*` but the area and the status: names, phone, bank, causes, measures, 两不愁.
    Info,
    /// `info.area_code`: also within the writer's areas, before and after.
    AreaCode,
    /// `info.status`, `info.exit_year`, `info.monitoring`: changed by decisions, not by hand.
    Status,
    Members,
    Incomes,
    Land,
    Living,
    Water,
    /// 帮扶责任人 assignments.
    Helpers,
    /// Visits are append-only.
    Visits,
    /// Photo and signature metadata (the bytes are content-addressed elsewhere).
    Attachments,
    /// A case's proposal: kind, date, reason, members.
    Case,
    /// A procedure step record of this kind.
    Step(ProcedureStep),
    /// Objections raised during 公示, and their resolution.
    Objections,
}

impl PathClass {
    pub const ALL: [PathClass; 20] = [
        PathClass::Identity,
        PathClass::Info,
        PathClass::AreaCode,
        PathClass::Status,
        PathClass::Members,
        PathClass::Incomes,
        PathClass::Land,
        PathClass::Living,
        PathClass::Water,
        PathClass::Helpers,
        PathClass::Visits,
        PathClass::Attachments,
        PathClass::Case,
        PathClass::Step(ProcedureStep::HomeCheck),
        PathClass::Step(ProcedureStep::Deliberation),
        PathClass::Step(ProcedureStep::Publicity),
        PathClass::Objections,
        PathClass::Step(ProcedureStep::TownshipReview),
        PathClass::Step(ProcedureStep::CountyDecision),
        PathClass::Step(ProcedureStep::Announcement),
    ];

    /// Every class once, in the table's order.
    pub fn classes() -> &'static [PathClass] {
        &Self::ALL
    }

    /// The document paths of the class, for the table.
    pub fn paths(self) -> &'static str {
        match self {
            PathClass::Identity => "`id` `zoufang` `schema`",
            PathClass::Info => "`info.*` (其余)",
            PathClass::AreaCode => "`info.area_code`",
            PathClass::Status => "`info.status` `info.exit_year` `info.monitoring`",
            PathClass::Members => "`members.*`",
            PathClass::Incomes => "`incomes.*`",
            PathClass::Land => "`land.*`",
            PathClass::Living => "`living.*`",
            PathClass::Water => "`water.*`",
            PathClass::Helpers => "`helpers.*`",
            PathClass::Visits => "`visits.*`",
            PathClass::Attachments => "`attachments.*`",
            PathClass::Case => "`cases.<id>` (除 steps)",
            PathClass::Step(ProcedureStep::HomeCheck) => "`steps` 入户核查",
            PathClass::Step(ProcedureStep::Deliberation) => "`steps` 民主评议",
            PathClass::Step(ProcedureStep::Publicity) => "`steps` 公示",
            PathClass::Step(ProcedureStep::TownshipReview) => "`steps` 乡镇审核",
            PathClass::Step(ProcedureStep::CountyDecision) => "`steps` 县级审定",
            PathClass::Step(ProcedureStep::Announcement) => "`steps` 公告",
            PathClass::Objections => "`steps.<id>.objections.*`",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            PathClass::Identity => "农户标识",
            PathClass::Info => "农户信息",
            PathClass::AreaCode => "区划代码",
            PathClass::Status => "户状态",
            PathClass::Members => "家庭成员",
            PathClass::Incomes => "收入",
            PathClass::Land => "土地",
            PathClass::Living => "住房与生活条件",
            PathClass::Water => "饮水",
            PathClass::Helpers => "帮扶责任人",
            PathClass::Visits => "走访记录",
            PathClass::Attachments => "照片与签名",
            PathClass::Case => "动态管理事项",
            PathClass::Step(s) => s.label(),
            PathClass::Objections => "公示异议",
        }
    }
}

/// What a writer may do to a class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// Write where nothing stood (a new key, an empty field).
    pub create: bool,
    /// Overwrite or clear what stands.
    pub change: bool,
}

const NO: Access = Access {
    create: false,
    change: false,
};
const NEW: Access = Access {
    create: true,
    change: false,
};
const ALL: Access = Access {
    create: true,
    change: true,
};

impl Access {
    fn text(self) -> &'static str {
        match (self.create, self.change) {
            (true, true) => "新建、修改",
            (true, false) => "新建",
            (false, true) => "修改",
            (false, false) => "—",
        }
    }
}

/// The write model: for each class, the access of each of [`WRITERS`] (helper, surveyor, team
/// leader, township reviewer, county supervisor, admin, server). A county supervisor holds no
/// device ([`may_hold_devices`]): the column is empty. The server writes 乡镇审核 on a township
/// reviewer's decision and 县级审定 / 公告 on a county supervisor's, through the review API, and
/// settles conflicts for team leaders, township reviewers and admins. A helper visits and
/// records income but creates no household (which needs an area code, not the helper's to set).
pub const TABLE: [(PathClass, [Access; 7]); 20] = [
    (PathClass::Identity, [NO, NEW, NEW, NEW, NO, NEW, NEW]),
    (PathClass::Info, EDITABLE),
    (PathClass::AreaCode, EDITABLE),
    (PathClass::Status, [NO, NEW, NEW, NEW, NO, ALL, ALL]),
    (PathClass::Members, EDITABLE),
    (PathClass::Incomes, [ALL, ALL, ALL, ALL, NO, ALL, ALL]),
    (PathClass::Land, EDITABLE),
    (PathClass::Living, EDITABLE),
    (PathClass::Water, EDITABLE),
    (PathClass::Helpers, [NO, NEW, ALL, ALL, NO, ALL, ALL]),
    (PathClass::Visits, RECORD),
    (PathClass::Attachments, RECORD),
    (PathClass::Case, [NO, NEW, NEW, NEW, NO, NEW, ALL]),
    (PathClass::Step(ProcedureStep::HomeCheck), FIELD_STEP),
    (PathClass::Step(ProcedureStep::Deliberation), FIELD_STEP),
    (PathClass::Step(ProcedureStep::Publicity), FIELD_STEP),
    (PathClass::Objections, EDITABLE),
    (PathClass::Step(ProcedureStep::TownshipReview), DECISION),
    (PathClass::Step(ProcedureStep::CountyDecision), DECISION),
    (PathClass::Step(ProcedureStep::Announcement), DECISION),
];

// The rows several classes share, named so that a rule is changed for all of them at once.

/// Filled in and corrected by the field roles and admins (and the server), not by helpers.
const EDITABLE: [Access; 7] = [NO, ALL, ALL, ALL, NO, ALL, ALL];
/// Records anyone in the field adds, a helper included; only the server changes one.
const RECORD: [Access; 7] = [NEW, NEW, NEW, NEW, NO, NEW, ALL];
/// Steps a field team records on its devices, each record written once.
const FIELD_STEP: [Access; 7] = [NO, NEW, NEW, NEW, NO, NEW, NEW];
/// Decisions: the server writes them on a reviewer's word through the review API.
const DECISION: [Access; 7] = [NO, NO, NO, NO, NO, NO, NEW];

/// The access `writer` has to `class`.
pub fn access(writer: Writer, class: PathClass) -> Access {
    let column = WRITERS.iter().position(|w| *w == writer).unwrap_or(0);
    TABLE
        .iter()
        .find(|(c, _)| *c == class)
        .map_or(NO, |(_, row)| row[column])
}

/// Whether `writer` may do `kind` to `class` (a removal never).
pub fn may(writer: Writer, class: PathClass, kind: WriteKind) -> bool {
    let a = access(writer, class);
    match kind {
        WriteKind::Create => a.create,
        WriteKind::Change => a.change,
        WriteKind::Remove => false,
    }
}

/// Who decides a step through the review API (the server then writes it): none for the field
/// steps, which devices record.
pub fn decided_by(step: ProcedureStep) -> Option<Role> {
    match step {
        ProcedureStep::TownshipReview => Some(Role::TownshipReviewer),
        ProcedureStep::CountyDecision | ProcedureStep::Announcement => Some(Role::CountySupervisor),
        _ => None,
    }
}

/// The table as Markdown, for the README.
pub fn markdown_table() -> String {
    let mut out = String::from("| 路径类别 | 路径 |");
    for w in WRITERS {
        out.push_str(&format!(" {} |", w.label()));
    }
    out.push_str("\n|---|---|");
    out.push_str(&"---|".repeat(WRITERS.len()));
    out.push('\n');
    for (class, row) in TABLE {
        out.push_str(&format!("| {} | {} |", class.label(), class.paths()));
        for a in row {
            out.push_str(&format!(" {} |", a.text()));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_has_one_row_in_order() {
        let classes: Vec<PathClass> = TABLE.iter().map(|(c, _)| *c).collect();
        assert_eq!(classes, PathClass::classes());
    }

    #[test]
    fn decisions_are_the_servers_alone() {
        for step in [
            ProcedureStep::TownshipReview,
            ProcedureStep::CountyDecision,
            ProcedureStep::Announcement,
        ] {
            for role in Role::ALL {
                assert!(!may(
                    Writer::Device(*role),
                    PathClass::Step(step),
                    WriteKind::Create
                ));
            }
            assert!(may(
                Writer::Server,
                PathClass::Step(step),
                WriteKind::Create
            ));
            assert!(decided_by(step).is_some());
        }
    }

    #[test]
    fn a_role_without_devices_has_an_empty_column() {
        for class in PathClass::classes() {
            assert_eq!(
                access(Writer::Device(Role::CountySupervisor), *class),
                NO,
                "{class:?}"
            );
        }
    }

    #[test]
    fn the_readme_renders_the_table() {
        let md = markdown_table();
        assert!(md.contains("| 乡镇审核 | `steps` 乡镇审核 | — | — | — | — | — | — | 新建 |"));
        assert_eq!(md.lines().count(), 2 + TABLE.len());
    }
}
