//! Demo data for `zoufang serve --demo`: a demo surveyor and a dozen households of 诗礼乡, so
//! the UI can be tried with no server and no roster.

use zoufang_shared::codes::*;
use zoufang_shared::ids::HouseholdId;
use zoufang_shared::model::{Living, Member};

use crate::store::{Store, StoreError};

const VILLAGES: [&str; 3] = ["三合村", "孔兴村", "河平村"];
const SURNAMES: [&str; 6] = ["李", "王", "张", "杨", "赵", "字"];

/// Seeds demo data into an empty store (a store with households is left alone).
pub fn seed(store: &mut Store) -> Result<(), StoreError> {
    if store.identity().is_err() {
        store.init("demo-surveyor", "演示调查员")?;
    }
    if store.count()? > 0 {
        return Ok(());
    }
    let year = chrono::Datelike::year(&chrono::Local::now().date_naive());
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
