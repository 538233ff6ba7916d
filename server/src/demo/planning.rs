//! What is decided for the county as a whole: areas, village sizes, every member with an ID
//! unique in the county, helpers and their households, and where the showcase goes.

use std::collections::{HashMap, HashSet};

use chrono::{Datelike, NaiveDate, TimeDelta};
use zoufang_shared::codes::{HouseholdStatus, MemberChange, MonitoringCategory, Relation, Sex};
use zoufang_shared::demo::id_number;

use super::names::{GIVEN, PLACE_A, PLACE_B, SURNAMES, TOWNSHIPS, UNITS};
use super::rng::{Draw as _, Rng};
use super::{COUNTY, COUNTY_NAME, County, CountySpec, Layout, Plan, PlannedMember, Village};
use crate::report::Bucket;
use crate::storage::Area;

pub(super) fn surname(rng: &mut Rng) -> &'static str {
    SURNAMES[rng.below(SURNAMES.len() as u64) as usize]
}

pub(super) fn person_name(rng: &mut Rng, surname: &str) -> String {
    format!("{surname}{}", rng.pick(&GIVEN))
}

fn day_in(year: i64, rng: &mut Rng) -> NaiveDate {
    let start = NaiveDate::from_ymd_opt(year as i32, 1, 1).unwrap_or(NaiveDate::MIN);
    start + TimeDelta::days(rng.below(365) as i64)
}

/// The generated layout: the county, ten townships, their villages.
fn generated_areas(rng: &mut Rng) -> (Vec<Area>, Vec<Village>) {
    let mut areas = vec![Area {
        code: COUNTY.into(),
        name: COUNTY_NAME.into(),
        parent: Some("530900".into()),
        level: "county".into(),
    }];
    let mut villages = Vec::new();
    let mut used_names = HashSet::new();
    for (t, (tname, nv)) in TOWNSHIPS.iter().enumerate() {
        let tcode = format!("{COUNTY}{:03}", 100 + t);
        areas.push(Area {
            code: tcode.clone(),
            name: (*tname).into(),
            parent: Some(COUNTY.into()),
            level: "township".into(),
        });
        for v in 0..*nv {
            let code = format!("{tcode}{:03}", 201 + v);
            let name = loop {
                let name = format!("{}{}村", rng.pick(&PLACE_A), rng.pick(&PLACE_B));
                if used_names.insert(name.clone()) {
                    break name;
                }
            };
            areas.push(Area {
                code: code.clone(),
                name: name.clone(),
                parent: Some(tcode.clone()),
                level: "village".into(),
            });
            villages.push(Village {
                code,
                name,
                township: (*tname).into(),
                township_index: t,
            });
        }
    }
    (areas, villages)
}

/// The villages of given areas, each with its township (its parent).
fn given_villages(areas: &[Area]) -> Vec<Village> {
    let mut townships: Vec<&str> = Vec::new();
    areas
        .iter()
        .filter(|a| a.level == "village")
        .map(|v| {
            let parent = v.parent.as_deref().unwrap_or_default();
            let township_index = townships
                .iter()
                .position(|t| *t == parent)
                .unwrap_or_else(|| {
                    townships.push(parent);
                    townships.len() - 1
                });
            Village {
                code: v.code.clone(),
                name: v.name.clone(),
                township: areas
                    .iter()
                    .find(|a| a.code == parent)
                    .map_or_else(|| parent.to_owned(), |a| a.name.clone()),
                township_index,
            }
        })
        .collect()
}

pub(super) fn plan(spec: &CountySpec) -> County {
    let n = spec.households;
    let today = spec.today;
    let mut rng = Rng::new(spec.seed);
    let (areas, villages) = match &spec.layout {
        Layout::Generated => generated_areas(&mut rng),
        Layout::Given(areas) => (areas.clone(), given_villages(areas)),
    };
    assert!(!villages.is_empty(), "the county has no village");
    let county_name = areas
        .iter()
        .find(|a| a.level == "county")
        .map_or_else(|| COUNTY_NAME.to_owned(), |a| a.name.clone());

    // Villages differ in size (about 1:3); households are numbered village by village.
    let weights: Vec<f64> = villages
        .iter()
        .map(|_| 0.5 + rng.below(1000) as f64 / 1000.0)
        .collect();
    let total: f64 = weights.iter().sum();
    let mut bounds = Vec::with_capacity(villages.len());
    let mut acc = 0.0;
    for w in &weights {
        acc += w;
        bounds.push(((acc / total) * n as f64).round() as usize);
    }
    if let Some(last) = bounds.last_mut() {
        *last = n;
    }

    let busy = spec.showcase.as_ref().map(|s| s.busy_helpers);
    let mut ids: HashSet<(NaiveDate, u16)> = HashSet::new();
    let mut helpers: Vec<(String, String)> = Vec::new();
    let mut helper_keys = HashSet::new();
    // Per township: the helper being filled and how many households it still takes.
    let mut current: HashMap<usize, (usize, usize)> = HashMap::new();

    let mut plans = Vec::with_capacity(n);
    let mut village = 0;
    for index in 0..n {
        while index >= bounds[village] {
            village += 1;
        }
        use HouseholdStatus as S;
        let status = [
            S::Ordinary,
            S::NotExited,
            S::ExitedSupported,
            S::ExitedUnsupported,
            S::Relapsed,
            S::Edge,
        ][rng.weighted(&[0.71, 0.10, 0.10, 0.05, 0.01, 0.03])];
        let monitoring = match status {
            S::ExitedSupported if rng.chance(0.10) => Some(MonitoringCategory::UnstableExited),
            S::Edge if rng.chance(0.5) => Some(MonitoringCategory::EdgeAtRisk),
            S::Ordinary if rng.chance(0.005) => Some(MonitoringCategory::SuddenHardship),
            _ => None,
        };
        let members = plan_members(&mut rng, &mut ids, today);
        let helped = monitoring.is_some()
            || matches!(status, S::NotExited | S::ExitedSupported | S::Relapsed);
        let helper = helped.then(|| {
            let t = villages[village].township_index;
            match current.get(&t) {
                Some(&(h, left)) if left > 0 => {
                    current.insert(t, (h, left - 1));
                    h
                }
                _ => {
                    let (name, unit) = loop {
                        let surname = surname(&mut rng);
                        let name = person_name(&mut rng, surname);
                        let unit = if rng.chance(0.3) {
                            format!("{}人民政府", villages[village].township)
                        } else {
                            (*rng.pick(&UNITS)).to_owned()
                        };
                        if helper_keys.insert(format!("{name}|{unit}")) {
                            break (name, unit);
                        }
                    };
                    helpers.push((name, unit));
                    let quota = match busy {
                        None => rng.between(3, 6) as usize,
                        Some(busy) if helpers.len() <= busy => 7,
                        Some(_) => rng.between(3, 5) as usize,
                    };
                    current.insert(t, (helpers.len() - 1, quota - 1));
                    helpers.len() - 1
                }
            }
        });
        plans.push(Plan {
            index,
            village,
            status,
            monitoring,
            members,
            helper,
            case: None,
            conflict: rng.chance(0.003),
            seed: rng.next_u64(),
        });
    }

    if let Some(s) = &spec.showcase {
        // Spread over the county, so that every village has some of it.
        let spread = |count: usize, k: usize, offset: usize| (k * n / count + offset) % n;
        let cases = s.cases_per_bucket * Bucket::ALL.len();
        for k in 0..cases.min(n) {
            plans[spread(cases, k, 0)].case = Some(Bucket::ALL[k % Bucket::ALL.len()]);
        }
        for k in 0..s.conflicts.min(n) {
            plans[spread(s.conflicts, k, n / (2 * s.conflicts))].conflict = true;
        }
        for _ in 0..s.duplicate_ids {
            list_twice(&mut plans, &mut rng, today);
        }
    }

    County {
        areas,
        county_name,
        villages,
        helpers,
        plans,
        today,
    }
}

/// Lists a grown-up son or daughter of one household also in another one they married into,
/// under the same name and ID: the duplicate the cross-household check is there to find.
fn list_twice(plans: &mut [Plan], rng: &mut Rng, today: NaiveDate) {
    let n = plans.len();
    if n < 2 {
        return;
    }
    let start = rng.below(n as u64) as usize;
    let found = (0..n).map(|i| (start + i) % n).find_map(|h| {
        plans[h]
            .members
            .iter()
            .position(|m| {
                matches!(m.relation, Relation::Son | Relation::Daughter)
                    && m.left.is_none()
                    && m.name.is_none()
                    && today.year() - m.birth.year() >= 20
            })
            .map(|m| (h, m))
    });
    let Some((from, m)) = found else {
        return;
    };
    let into = (from + n / 2 + rng.below((n / 4).max(1) as u64) as usize) % n;
    if into == from {
        return;
    }
    let name = person_name(rng, surname(&mut Rng::new(plans[from].seed)));
    let person = &mut plans[from].members[m];
    person.name = Some(name.clone());
    let copy = PlannedMember {
        relation: if person.sex == Sex::Male {
            Relation::SonInLaw
        } else {
            Relation::DaughterInLaw
        },
        sex: person.sex,
        birth: person.birth,
        id_number: person.id_number.clone(),
        left: None,
        name: Some(name),
    };
    plans[into].members.push(copy);
}

/// 1–7 members (3.5 on average), each with a resident ID no one else in the county holds.
fn plan_members(
    rng: &mut Rng,
    ids: &mut HashSet<(NaiveDate, u16)>,
    today: NaiveDate,
) -> Vec<PlannedMember> {
    let size = 1 + rng.weighted(&[0.10, 0.18, 0.24, 0.22, 0.14, 0.08, 0.04]);
    let head_year = rng.between(1950, 1995);
    let mut roles: Vec<(Relation, i64)> = vec![(Relation::Head, head_year)];
    let mut has_child = false;
    for k in 1..size {
        let child_year = (head_year + rng.between(20, 32)).min(2023);
        let role = if k == 1 && rng.chance(0.85) {
            (Relation::Spouse, (head_year + rng.between(-5, 5)).min(2000))
        } else {
            match rng.weighted(&[0.6, 0.25, 0.15]) {
                2 if has_child => (
                    Relation::Grandchild,
                    (head_year + rng.between(42, 55)).min(2023),
                ),
                1 => (
                    Relation::Parent,
                    (head_year - rng.between(20, 30)).max(1928),
                ),
                _ => {
                    has_child = true;
                    if rng.chance(0.5) {
                        (Relation::Son, child_year)
                    } else {
                        (Relation::Daughter, child_year)
                    }
                }
            }
        };
        roles.push(role);
    }
    let head_male = rng.chance(0.88);
    roles
        .into_iter()
        .enumerate()
        .map(|(k, (relation, year))| {
            let sex = match relation {
                Relation::Head => head_male,
                Relation::Spouse => !head_male,
                Relation::Son => true,
                Relation::Daughter => false,
                _ => rng.chance(0.5),
            };
            let sex = if sex { Sex::Male } else { Sex::Female };
            // The sequence's last digit encodes the sex (odd for men); probe for a free one.
            let (birth, seq) = 'found: loop {
                let birth = day_in(year, rng);
                let start = rng.below(500) as u16;
                for i in 0..500u16 {
                    let seq = ((start + i) % 500) * 2 + u16::from(sex == Sex::Male);
                    if ids.insert((birth, seq)) {
                        break 'found (birth, seq);
                    }
                }
            };
            let left = (k > 0 && rng.chance(0.015)).then(|| {
                (
                    *rng.pick(&[
                        MemberChange::Death,
                        MemberChange::MarryOut,
                        MemberChange::MoveOut,
                    ]),
                    today - TimeDelta::days(rng.between(400, 900)),
                )
            });
            PlannedMember {
                relation,
                sex,
                birth,
                id_number: id_number(&birth.format("%Y%m%d").to_string(), &format!("{seq:03}")),
                left,
                name: None,
            }
        })
        .collect()
}
