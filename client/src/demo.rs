//! Demo data for `zoufang serve --demo`: a demo surveyor and a dozen households of 诗礼乡, so
//! the UI can be tried with no server and no roster.

use zoufang_shared::codes::*;
use zoufang_shared::ids::HouseholdId;
use zoufang_shared::model::{Living, Member};

use crate::store::{STANDARDS_FILE, Store, StoreError};

/// The demo's own income line for the current year, clearly labelled: the built-in table holds
/// only figures with a published source, and none covers the current year.
fn demo_standards(year: i32) -> String {
    let mut table: Vec<serde_json::Value> =
        serde_json::from_str(zoufang_shared::rules::standards::Standards::builtin_json())
            .unwrap_or_default();
    table.push(serde_json::json!({
        "year": year,
        "level": "national",
        "kind": "poverty_line",
        "amount_yuan": 4000,
        "source": "演示数据:沿用 2020 年脱贫标准 4000 元,非官方标准"
    }));
    serde_json::to_string_pretty(&table).unwrap_or_default()
}

const VILLAGES: [&str; 3] = ["三合村", "孔兴村", "河平村"];
const SURNAMES: [&str; 6] = ["李", "王", "张", "杨", "赵", "字"];

/// Seeds demo data into an empty store (a store with households is left alone).
pub fn seed(store: &mut Store) -> Result<(), StoreError> {
    if store.identity().is_err() {
        store.init("demo-surveyor", "演示调查员")?;
    }
    let year = chrono::Datelike::year(&chrono::Local::now().date_naive());
    let path = store.dir().join(STANDARDS_FILE);
    if !path.exists() {
        std::fs::write(&path, demo_standards(year)).map_err(|source| StoreError::Io {
            path: path.clone(),
            source,
        })?;
        // Reopen so the store reads the table it will assess with.
        *store = Store::open(store.dir(), store.key())?;
    }
    if store.count()? > 0 {
        return Ok(());
    }
    for n in 0..12usize {
        let village = VILLAGES[n % VILLAGES.len()];
        let surname = SURNAMES[n % SURNAMES.len()];
        let id = HouseholdId(format!("demo-{n:02}"));
        store.create_household(&id, |e| {
            zoufang_shared::demo::fill_typical(e)?;
            let mut h = e.household()?;
            h.info.village = Some(village.into());
            h.info.household_no = Some(format!("53092110{n:02}"));
            h.info.year = Some(year);
            e.set_info(&h.info)?;
            for (mid, m) in h.members.clone() {
                let given: String = m.name.chars().skip(1).collect();
                let renamed = Member {
                    name: format!("{surname}{given}"),
                    ..m
                };
                e.update_member(&mid, &renamed)?;
            }
            if let Some(income) = h.incomes.values().next().cloned() {
                e.set_income(year, &income)?;
            }
            // A few households with an unsafe house, so the verdict has something to say.
            if n % 4 == 1 {
                e.set_living(&Living {
                    house_grade: Some(HouseGrade::C),
                    ..h.living
                })?;
            }
            Ok(())
        })?;
    }
    Ok(())
}
