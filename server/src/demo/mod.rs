//! A synthetic county of household documents: the demo data of `zoufang-server demo` and the
//! data of the review benchmark (W4 of `bench/`, the `zoufang-bench` crate). One generator
//! serves both, so the households a person trying Zoufang out clicks through are the households
//! the report and the roster pages are measured on.
//!
//! The county is 凤庆县 (`530921`): by default ten townships of 8–12 villages whose names are
//! drawn from the seed ([`Layout::Generated`]), or the areas given ([`Layout::Given`], the demo's
//! `data/demo-areas.csv`). Its households have 1–7 members (3.5 on average) with valid resident
//! IDs no two households share, a realistic status mix (71 % 一般农户, 10 % 未脱贫, 10 % 已脱贫享受
//! 政策, 5 % 已脱贫不享受政策, 1 % 返贫, 3 % 边缘户, some of them monitored), cases of every kind
//! at every step of the procedure, visits, incomes, helpers with 3–6 households each, and a few
//! fields edited on two devices at once (conflicts). [`Showcase`] adds what a demo must show
//! whatever the seed: cases in every column of the report, duplicate IDs, an over-busy helper,
//! conflicts.
//!
//! Generation has two stages. [`plan`] decides what concerns the county as a whole — areas,
//! unique IDs, helpers, where the showcase goes — and gives each household a seed of its own;
//! [`County::build`] then builds any range of households independently (so the benchmark builds
//! on every core), each the way a device builds it: a creating change, then one change per
//! visit, proposal and procedure step, each dated on its day, and returns the
//! [`HouseholdWrite`]s `commit_sync` stores, projection and change log included.
//!
//! Everything is deterministic given the seed and `today`: households, their ids, names, IDs,
//! statuses, cases and dates. Only the ids the document editor gives members, visits, cases and
//! steps are random.

mod documents;
mod names;
mod planning;
mod rng;

use std::ops::Range;

use chrono::NaiveDate;
use zoufang_shared::codes::{HouseholdStatus, MemberChange, MonitoringCategory, Relation, Sex};
use zoufang_shared::doc::DocError;

use crate::report::Bucket;
use crate::storage::{Area, Database, DbError, HouseholdWrite, SyncWrite};

/// The synthetic county's code (凤庆县, 临沧市, 云南省).
pub const COUNTY: &str = "530921";
/// Its name.
pub const COUNTY_NAME: &str = "凤庆县";
/// The seed of the demo county.
pub const DEMO_SEED: u64 = 20_240_530;
/// The area tree of `zoufang-server demo`: 凤庆县 with 诗礼乡 and 小湾镇 and their villages.
pub const DEMO_AREAS_CSV: &str = include_str!("../../data/demo-areas.csv");

/// What county to generate.
#[derive(Debug, Clone)]
pub struct CountySpec {
    pub households: usize,
    pub layout: Layout,
    pub seed: u64,
    /// Every date is relative to this day: surveys, visits, cases, publicity periods.
    pub today: NaiveDate,
    /// What the county must show besides its random mix; `None` leaves it all to chance.
    pub showcase: Option<Showcase>,
}

/// Where the households go.
#[derive(Debug, Clone)]
pub enum Layout {
    /// 凤庆县 with ten townships (`530921100`, `530921101`, …) of 8–12 villages each
    /// (`…201`, `…202`, …), village names drawn from the seed.
    Generated,
    /// These areas; households go into those of level `village`, which must exist. Names of the
    /// county and townships come from the list too.
    Given(Vec<Area>),
}

/// Features a demo needs whatever the seed brings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Showcase {
    /// Recent cases resting in each column of the report ([`Bucket::ALL`]), 公示中 and 公示结束
    /// included; on top of the cases drawn at random.
    pub cases_per_bucket: usize,
    /// Persons listed in two households: a son or daughter who married into another household
    /// and is still listed at home (one ID, current in both).
    pub duplicate_ids: usize,
    /// Helpers paired with 7 households, more than the 5 allowed; every other helper then has
    /// 3–5.
    pub busy_helpers: usize,
    /// Households whose 住房安全等级 was set on two devices at once.
    pub conflicts: usize,
}

impl Default for Showcase {
    /// What the demo shows: two cases in every column, two duplicate IDs, one busy helper,
    /// three conflicts.
    fn default() -> Showcase {
        Showcase {
            cases_per_bucket: 2,
            duplicate_ids: 2,
            busy_helpers: 1,
            conflicts: 3,
        }
    }
}

impl CountySpec {
    /// A county of the generated layout, nothing showcased: the benchmark's.
    pub fn new(households: usize, seed: u64, today: NaiveDate) -> CountySpec {
        CountySpec {
            households,
            layout: Layout::Generated,
            seed,
            today,
            showcase: None,
        }
    }

    /// The demo county: the demo areas, [`DEMO_SEED`], the default [`Showcase`].
    pub fn demo(households: usize, today: NaiveDate) -> CountySpec {
        CountySpec {
            households,
            layout: Layout::Given(demo_areas()),
            seed: DEMO_SEED,
            today,
            showcase: Some(Showcase::default()),
        }
    }
}

/// The areas of [`DEMO_AREAS_CSV`].
pub fn demo_areas() -> Vec<Area> {
    crate::areas::parse_areas(DEMO_AREAS_CSV).expect("the bundled demo-areas.csv is valid")
}

/// A village households go into.
#[derive(Debug, Clone)]
pub struct Village {
    pub code: String,
    pub name: String,
    /// The township's name.
    pub township: String,
    /// The township's position among the county's townships.
    township_index: usize,
}

/// A planned county, ready to build.
pub struct County {
    areas: Vec<Area>,
    county_name: String,
    villages: Vec<Village>,
    /// (name, unit)
    helpers: Vec<(String, String)>,
    plans: Vec<Plan>,
    today: NaiveDate,
}

/// One person as planned for the whole county (the ID must be unique, or deliberately not).
struct PlannedMember {
    relation: Relation,
    sex: Sex,
    birth: NaiveDate,
    id_number: String,
    left: Option<(MemberChange, NaiveDate)>,
    /// Fixed when the person is listed in two households; else drawn while building.
    name: Option<String>,
}

/// What must be decided for the county as a whole (areas, unique IDs, helpers, the showcase);
/// everything else about a household is drawn from its own seed while its document is built.
struct Plan {
    index: usize,
    village: usize,
    status: HouseholdStatus,
    monitoring: Option<MonitoringCategory>,
    members: Vec<PlannedMember>,
    helper: Option<usize>,
    /// A case resting in this column; else whether there is a case is drawn.
    case: Option<Bucket>,
    /// A field edited on two devices at once.
    conflict: bool,
    seed: u64,
}

/// Plans the county: areas, households with their members and helpers.
///
/// # Panics
///
/// When a [`Layout::Given`] has no area of level `village`.
pub fn plan(spec: &CountySpec) -> County {
    planning::plan(spec)
}

impl County {
    /// Every area: the county, its townships and villages.
    pub fn areas(&self) -> &[Area] {
        &self.areas
    }

    pub fn villages(&self) -> &[Village] {
        &self.villages
    }

    /// The day the county's dates are relative to.
    pub fn today(&self) -> NaiveDate {
        self.today
    }

    /// How many households.
    pub fn households(&self) -> usize {
        self.plans.len()
    }

    /// Persons listed, those who left included.
    pub fn persons(&self) -> usize {
        self.plans.iter().map(|p| p.members.len()).sum()
    }

    /// Persons still members of their households.
    pub fn current_persons(&self) -> usize {
        self.plans
            .iter()
            .flat_map(|p| &p.members)
            .filter(|m| m.left.is_none())
            .count()
    }

    /// How many helpers (帮扶责任人).
    pub fn helpers(&self) -> usize {
        self.helpers.len()
    }

    /// Builds the documents of the households in `range` (of `0..households()`), each
    /// independently of the others.
    pub fn build(&self, range: Range<usize>) -> Result<Vec<HouseholdWrite>, DocError> {
        self.plans[range]
            .iter()
            .map(|p| documents::build(p, self))
            .collect()
    }
}

/// Writes `n` households of the demo county ([`CountySpec::demo`], dates relative to today)
/// when the database has no household yet; upserts the demo areas first. Returns how many were
/// written (0: there were households already). The households are committed with
/// `commit_sync` in one transaction, projection and change log included, as a sync writes them.
pub async fn seed_demo_households<D: Database>(db: &D, n: usize) -> Result<usize, DbError> {
    if n == 0 || db.household_count().await? > 0 {
        return Ok(0);
    }
    let spec = CountySpec::demo(n, crate::projection::today());
    if let Layout::Given(areas) = &spec.layout {
        db.upsert_areas(areas).await?;
    }
    let county = plan(&spec);
    let households = tokio::task::spawn_blocking(move || build_on_every_core(&county))
        .await
        .map_err(|e| match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => DbError::Other(sqlx::Error::Encode(Box::new(e))),
        })?
        // A generated document that fails to build is a bug; say so as an encoding error.
        .map_err(|e| DbError::Other(sqlx::Error::Encode(Box::new(e))))?;
    db.commit_sync(&SyncWrite { households }).await?;
    Ok(n)
}

/// Every household of the county, built in as many parts as there are cores.
fn build_on_every_core(county: &County) -> Result<Vec<HouseholdWrite>, DocError> {
    let n = county.households();
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let part = n.div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let parts: Vec<_> = (0..n)
            .step_by(part)
            .map(|start| s.spawn(move || county.build(start..(start + part).min(n))))
            .collect();
        parts
            .into_iter()
            .try_fold(Vec::with_capacity(n), |mut all, part| {
                all.extend(
                    part.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?,
                );
                Ok(all)
            })
    })
}

#[cfg(test)]
mod tests;
