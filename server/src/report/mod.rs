//! The dynamic-management report (动态管理统计): households AND persons by status, by case type
//! and by where each case stands in the procedure, for an area and each area below it, over a
//! period; with the rates the county reports (错评率, 错退率, 漏评, 贫困发生率).
//!
//! Storage answers two grouped counts over the projection ([`StatusCount`], [`CaseCount`]);
//! everything else — which child area a row belongs to, buckets, totals, rates — is computed
//! here, so both backends share it and it is tested without a database.
//!
//! Definitions (stated on the report page too):
//! - cases count when they belong to the 工作批次 asked for (by default the round running in the
//!   area today), or, asked for a period instead, when proposed within it; status counts are the
//!   current state;
//! - a case's persons are the members it names, or the household's current members;
//! - a case rejected (不通过) stands in its own column and in no 合计 and no rate;
//! - 错评率 = 错评剔除 households ÷ households registered as poor and not exited (未脱贫, 返贫)
//!   at the start of the round (or period): the ones 错评 can apply to. Seed 001's township:
//!   74户 ÷ 1,415 = 5.23 %;
//! - 错退率 = 错退 households ÷ exited households (已脱贫, both kinds) at the start, the ones 错退
//!   can apply to: 1户 ÷ 1,667 = 0.06 %;
//! - "at the start": the current counts with the moves of the cases announced since undone
//!   ([`RegisterMove`]), so the rates do not drift while the round's own decisions land;
//! - 漏评 = 新识别 cases found by screening (排查发现) rather than applied for;
//! - 贫困发生率 = persons in 未脱贫 or 返贫 households ÷ persons in every household on file.
//!
//! Each rate comes with its numerator and denominator ([`Fraction`]), so the page and the
//! exports show the county's own arithmetic, not only its result.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;
use zoufang_shared::CodeList;
use zoufang_shared::codes::{CaseKind, CaseOrigin, HouseholdStatus, MonitoringCategory};

use crate::storage::Area;
pub use zoufang_storage::views::{Bucket, CaseCount, CaseWindow, RegisterMove, StatusCount};

pub mod cross;
pub mod roster;

/// Households and persons: every count in a roster is both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Hp {
    pub households: i64,
    pub persons: i64,
}

impl Hp {
    fn add(&mut self, households: i64, persons: i64) {
        self.households += households;
        self.persons += persons;
    }
}

impl std::ops::AddAssign for Hp {
    fn add_assign(&mut self, o: Hp) {
        self.add(o.households, o.persons);
    }
}

/// What a report is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportQuery {
    /// The area reported on (inside the reader's scope).
    pub area: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub today: NaiveDate,
    /// The 工作批次 whose cases count; none: the cases proposed in [from, to].
    pub round: Option<RoundLabel>,
    /// The rounds the reader may choose from for this area.
    pub rounds: Vec<RoundLabel>,
}

impl ReportQuery {
    /// A report of the cases proposed in [from, to], no round.
    pub fn over_period(area: &str, from: NaiveDate, to: NaiveDate, today: NaiveDate) -> Self {
        ReportQuery {
            area: area.to_owned(),
            from,
            to,
            today,
            round: None,
            rounds: Vec::new(),
        }
    }

    /// The cases this report counts.
    pub fn window(&self) -> CaseWindow {
        match &self.round {
            Some(r) => CaseWindow::Round(r.id.clone()),
            None => CaseWindow::Period {
                from: self.from,
                to: self.to,
            },
        }
    }
}

/// A 工作批次 as a report names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RoundLabel {
    pub id: String,
    pub name: String,
    /// 动态管理, 精准核查, 集中排查 or 监测.
    pub kind: &'static str,
    pub starts_on: NaiveDate,
    pub ends_on: Option<NaiveDate>,
}

impl From<&zoufang_shared::rounds::Round> for RoundLabel {
    fn from(r: &zoufang_shared::rounds::Round) -> Self {
        RoundLabel {
            id: r.id.clone(),
            name: r.name.clone(),
            kind: r.kind.label(),
            starts_on: r.starts_on,
            ends_on: r.ends_on,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Label {
    pub code: &'static str,
    pub label: &'static str,
}

/// A count line with its key and label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Line {
    pub code: String,
    pub label: String,
    #[serde(flatten)]
    pub count: Hp,
}

/// One case kind across the procedure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CaseLine {
    pub kind: String,
    pub label: String,
    /// Every case of the kind except the rejected ones (those are in their own bucket only).
    pub total: Hp,
    /// In [`Bucket::ALL`] order.
    pub buckets: Vec<Hp>,
    /// Cases whose 公示 drew objections.
    pub objected: Hp,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Rates {
    /// 错评率, a ratio (0.0523 = 5.23 %); None when the denominator is zero.
    pub wrong_entry: Option<f64>,
    /// 错退率.
    pub wrongful_exit: Option<f64>,
    /// 漏评.
    pub missed: Hp,
    /// 贫困发生率 over persons.
    pub poverty_incidence: Option<f64>,
}

/// A rate's numerator and denominator, in households (persons for 贫困发生率).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Fraction {
    pub part: i64,
    pub whole: i64,
}

impl Fraction {
    pub fn ratio(self) -> Option<f64> {
        (self.whole > 0).then(|| self.part as f64 / self.whole as f64)
    }
}

/// What each rate of [`Rates`] was computed from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RateBasis {
    /// 错评剔除户 ÷ 未脱贫及返贫户.
    pub wrong_entry: Fraction,
    /// 错退户 ÷ 已脱贫户.
    pub wrongful_exit: Fraction,
    /// 未脱贫及返贫人口 ÷ 在册总人口.
    pub poverty_incidence: Fraction,
}

/// The formulas as the page and the exports state them, one per rate.
pub const RATE_FORMULAS: [(&str, &str); 4] = [
    (
        "错评率",
        "错评剔除户 ÷ 批次开始时在册未脱贫户(未脱贫、返贫)",
    ),
    (
        "错退率",
        "错退户 ÷ 批次开始时已脱贫户(享受政策、不再享受政策)",
    ),
    ("漏评", "排查发现(非农户申请)的新识别户"),
    ("贫困发生率", "未脱贫及返贫人口 ÷ 在册总人口"),
];

/// The figures of one area.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Section {
    pub area_code: String,
    pub area_name: String,
    pub all: Hp,
    /// Every status, then every monitoring category, then "未填状态" when any.
    pub by_status: Vec<Line>,
    /// Every case kind.
    pub by_case: Vec<CaseLine>,
    pub rates: Rates,
    pub basis: RateBasis,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Report {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub today: NaiveDate,
    /// The 工作批次 reported on (its cases, whatever their date); none: cases proposed in
    /// [from, to].
    pub round: Option<RoundLabel>,
    /// The rounds that cover the area, latest first.
    pub rounds: Vec<RoundLabel>,
    /// The procedure columns, in the order of every [`CaseLine::buckets`].
    pub buckets: Vec<Label>,
    pub total: Section,
    /// One per child area (the next level down), then one for households filed directly under
    /// the area itself, when there are any.
    pub children: Vec<Section>,
}

/// Sums that make a [`Section`].
#[derive(Default)]
struct Tally {
    all: Hp,
    status: BTreeMap<String, Hp>,
    monitoring: BTreeMap<String, Hp>,
    no_status: Hp,
    cases: BTreeMap<(String, usize), Hp>,
    case_totals: BTreeMap<String, Hp>,
    objected: BTreeMap<String, Hp>,
    missed: Hp,
    /// Households that joined the registered poor / the exited since the start.
    moved: (i64, i64),
}

impl Tally {
    fn status(&mut self, r: &StatusCount) {
        self.all.add(r.households, r.persons);
        match &r.status {
            Some(s) => self.status.entry(s.clone()).or_default(),
            None => &mut self.no_status,
        }
        .add(r.households, r.persons);
        if let Some(m) = &r.monitoring {
            self.monitoring
                .entry(m.clone())
                .or_default()
                .add(r.households, r.persons);
        }
    }

    fn case(&mut self, r: &CaseCount) {
        let Some(bucket) = Bucket::of(&r.stage, r.stage_step.as_deref(), r.publicity_running != 0)
        else {
            return;
        };
        let idx = Bucket::ALL.iter().position(|b| *b == bucket).unwrap_or(0);
        self.cases
            .entry((r.kind.clone(), idx))
            .or_default()
            .add(r.households, r.persons);
        if bucket != Bucket::Rejected {
            self.case_totals
                .entry(r.kind.clone())
                .or_default()
                .add(r.households, r.persons);
        }
        if r.objected != 0 {
            self.objected
                .entry(r.kind.clone())
                .or_default()
                .add(r.households, r.persons);
        }
        if r.kind == CaseKind::NewEntry.code()
            && r.origin.as_deref() == Some(CaseOrigin::Screening.code())
            && bucket != Bucket::Rejected
        {
            self.missed.add(r.households, r.persons);
        }
    }

    fn moved(&mut self, r: &RegisterMove) {
        self.moved.0 += r.poor;
        self.moved.1 += r.exited;
    }

    fn status_hp(&self, s: HouseholdStatus) -> Hp {
        self.status.get(s.code()).copied().unwrap_or_default()
    }

    /// A kind's cases, rejected ones left out.
    fn standing(&self, kind: CaseKind) -> Hp {
        self.case_totals
            .get(kind.code())
            .copied()
            .unwrap_or_default()
    }

    fn section(&self, area_code: &str, area_name: &str) -> Section {
        use HouseholdStatus as S;
        let mut by_status: Vec<Line> = HouseholdStatus::ALL
            .iter()
            .map(|s| line(s.code(), s.label(), self.status_hp(*s)))
            .collect();
        by_status.extend(MonitoringCategory::ALL.iter().map(|m| {
            line(
                m.code(),
                m.label(),
                self.monitoring.get(m.code()).copied().unwrap_or_default(),
            )
        }));
        if self.no_status.households > 0 {
            by_status.push(line("none", "未填状态", self.no_status));
        }
        let by_case = CaseKind::ALL
            .iter()
            .map(|k| CaseLine {
                kind: k.code().into(),
                label: k.label().into(),
                total: self.case_totals.get(k.code()).copied().unwrap_or_default(),
                buckets: (0..Bucket::ALL.len())
                    .map(|i| {
                        self.cases
                            .get(&(k.code().to_owned(), i))
                            .copied()
                            .unwrap_or_default()
                    })
                    .collect(),
                objected: self.objected.get(k.code()).copied().unwrap_or_default(),
            })
            .collect();
        let hh = |s: HouseholdStatus| self.status_hp(s).households;
        let basis = RateBasis {
            wrong_entry: Fraction {
                part: self.standing(CaseKind::WrongEntryRemoval).households,
                whole: hh(S::NotExited) + hh(S::Relapsed) - self.moved.0,
            },
            wrongful_exit: Fraction {
                part: self.standing(CaseKind::WrongfulExit).households,
                whole: hh(S::ExitedSupported) + hh(S::ExitedUnsupported) - self.moved.1,
            },
            poverty_incidence: Fraction {
                part: self.status_hp(S::NotExited).persons + self.status_hp(S::Relapsed).persons,
                whole: self.all.persons,
            },
        };
        Section {
            area_code: area_code.into(),
            area_name: area_name.into(),
            all: self.all,
            by_status,
            by_case,
            rates: Rates {
                wrong_entry: basis.wrong_entry.ratio(),
                wrongful_exit: basis.wrongful_exit.ratio(),
                missed: self.missed,
                poverty_incidence: basis.poverty_incidence.ratio(),
            },
            basis,
        }
    }
}

fn line(code: &str, label: &str, count: Hp) -> Line {
    Line {
        code: code.into(),
        label: label.into(),
        count,
    }
}

/// The grouped counts a report is built from.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts<'a> {
    pub statuses: &'a [StatusCount],
    pub cases: &'a [CaseCount],
    /// The register moves of the cases announced since `q.from`.
    pub moves: &'a [RegisterMove],
}

/// Builds the report of `q.area` from grouped counts over it. `areas` is the area tree (for the
/// children and their names).
pub fn build(q: &ReportQuery, areas: &[Area], counts: Counts<'_>) -> Report {
    let name_of = |code: &str| {
        areas
            .iter()
            .find(|a| a.code == code)
            .map(|a| a.name.clone())
            .unwrap_or_else(|| code.to_owned())
    };
    let children: Vec<&Area> = areas
        .iter()
        .filter(|a| a.parent.as_deref() == Some(q.area.as_str()))
        .collect();
    // None: filed under the area itself, not under one of its children.
    let child_of = |code: &str| -> Option<usize> {
        children
            .iter()
            .position(|c| code.starts_with(c.code.as_str()))
    };
    let mut total = Tally::default();
    let mut per_child: Vec<Tally> = children.iter().map(|_| Tally::default()).collect();
    let mut direct = Tally::default();
    let mut direct_used = false;
    let mut tally = |area_code: &str, add: &dyn Fn(&mut Tally)| {
        add(&mut total);
        match child_of(area_code) {
            Some(i) => add(&mut per_child[i]),
            None => {
                direct_used = true;
                add(&mut direct)
            }
        }
    };
    for r in counts.statuses {
        tally(&r.area_code, &|t| t.status(r));
    }
    for r in counts.cases {
        tally(&r.area_code, &|t| t.case(r));
    }
    for r in counts.moves {
        tally(&r.area_code, &|t| t.moved(r));
    }
    let mut sections: Vec<Section> = children
        .iter()
        .zip(&per_child)
        .map(|(a, t)| t.section(&a.code, &a.name))
        .collect();
    if direct_used && !children.is_empty() {
        sections.push(direct.section(&q.area, &format!("{}(直属)", name_of(&q.area))));
    }
    Report {
        from: q.from,
        to: q.to,
        today: q.today,
        round: q.round.clone(),
        rounds: q.rounds.clone(),
        buckets: Bucket::ALL
            .iter()
            .map(|b| Label {
                code: b.code(),
                label: b.label(),
            })
            .collect(),
        total: total.section(&q.area, &name_of(&q.area)),
        children: sections,
    }
}

#[cfg(test)]
mod tests;
