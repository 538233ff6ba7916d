//! Demo data for `zoufang serve --demo`: a demo surveyor and a dozen households of 诗礼乡, so
//! the UI can be tried with no server and no roster.

use zoufang_shared::codes::*;
use zoufang_shared::ids::HouseholdId;
use zoufang_shared::model::{Income, Living, Member};
use zoufang_shared::money::Fen;

use crate::store::{Store, StoreError};

/// The id prefix of demo households.
pub const ID_PREFIX: &str = "demo-";

/// The demo villages of 诗礼乡 and their area codes (as in the server's demo area tree).
const VILLAGES: [(&str, &str); 3] = [
    ("三合村", "530921100201"),
    ("孔兴村", "530921100202"),
    ("河平村", "530921100203"),
];

/// One demo family: the head's surname and given name, the spouse's and the grandmother's full
/// names, the schoolchild's given name, the head's birth year, and the year's wage income in yuan.
/// A tuple struct, so that each family of the table below is one line.
#[derive(Clone, Copy)]
struct Family(
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    i32,
    i64,
);

/// Twelve families as a village roster lists them: common surnames of the area, often shared
/// within a village, each person with a name of their own.
const FAMILIES: [Family; 12] = [
    Family("李", "大山", "王秀英", "明", "杨桂芬", 1970, 18_000),
    Family("王", "建国", "字春梅", "浩", "李玉兰", 1968, 22_500),
    Family("张", "志强", "罗海燕", "宇", "赵秀珍", 1975, 15_800),
    Family("杨", "文华", "张丽", "杰", "鲁桂英", 1972, 26_000),
    Family("赵", "永福", "茶艳", "鑫", "查凤英", 1966, 12_400),
    Family("字", "正明", "杨美", "涛", "王兰芬", 1979, 19_600),
    Family("李", "国平", "周娟", "博", "胡秀兰", 1974, 9_800),
    Family("鲁", "成林", "李琼", "磊", "何德英", 1969, 24_300),
    Family("查", "光荣", "赵翠", "然", "陈玉珍", 1977, 16_700),
    Family("杨", "家顺", "高敏", "轩", "马正英", 1971, 20_900),
    Family("茶", "德贵", "孙芳", "晨", "林秀芳", 1973, 13_200),
    Family("罗", "绍华", "吴静", "航", "郭兰英", 1976, 21_400),
];

/// Seeds demo data into an empty store (a store with households is left alone). Refused on a
/// store enrolled with a server: its next sync would push made-up households into the county's
/// real roster.
pub fn seed(store: &mut Store) -> Result<(), StoreError> {
    if store.setting(crate::sync::SERVER_URL_SETTING)?.is_some() {
        return Err(StoreError::DemoOnEnrolled);
    }
    if store.identity().is_err() {
        store.init("demo-surveyor", "演示调查员")?;
    }
    if store.count()? > 0 {
        return Ok(());
    }
    let year = chrono::Datelike::year(&chrono::Local::now().date_naive());
    for (n, f) in FAMILIES.iter().enumerate() {
        let (village, code) = VILLAGES[n % VILLAGES.len()];
        let id = HouseholdId(format!("{ID_PREFIX}{n:02}"));
        store.create_household(&id, |e| {
            zoufang_shared::demo::fill_typical(e)?;
            let mut h = e.household()?;
            h.info.village = Some(village.into());
            h.info.area_code = Some(code.into());
            h.info.household_no = Some(format!("{code}{:07}", 101 + n / VILLAGES.len()));
            h.info.phone = h.info.phone.map(|p| phone(&p, n));
            h.info.year = Some(year);
            e.set_info(&h.info)?;
            for (k, (mid, m)) in h.members.clone().into_iter().enumerate() {
                let person = person(f, n, k, m.relation);
                e.update_member(
                    &mid,
                    &Member {
                        name: person.0,
                        id_number: Some(person.1),
                        ..m
                    },
                )?;
            }
            if let Some(income) = h.incomes.values().next().cloned() {
                // Incomes differ by family, by as much as a wage and a harvest do.
                let income = Income {
                    wage: Fen::from_yuan(f.6),
                    planting: Fen::from_yuan(2_000 + 300 * n as i64),
                    ..income
                };
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

/// The typical household's phone made the `n`th family's: the same network and last four
/// digits (family 0 keeps it), the middle four its own.
fn phone(typical: &str, n: usize) -> String {
    match (typical.get(..3), typical.get(7..)) {
        (Some(head), Some(tail)) if n > 0 => format!("{head}{:04}{tail}", 2_000 + 137 * n),
        _ => typical.to_owned(),
    }
}

/// The name and resident ID of the `k`th member (of relation `rel`) of family `n`: births
/// spread by family, and a sequence number that no other demo person has (its last digit
/// giving the sex, as IDs do).
fn person(f: &Family, n: usize, k: usize, rel: Option<Relation>) -> (String, String) {
    let Family(surname, head, spouse, child, grandmother, born, _) = *f;
    let (name, year, female) = match rel {
        Some(Relation::Head) => (format!("{surname}{head}"), born, false),
        Some(Relation::Spouse) => (spouse.to_owned(), born + 2, true),
        Some(Relation::Son) => (format!("{surname}{child}"), 2010 + (n % 4) as i32, false),
        _ => (grandmother.to_owned(), 1940 + (n % 8) as i32, true),
    };
    let birth = format!(
        "{year}{:02}{:02}",
        1 + (n + k) % 12,
        1 + (7 * n + 5 * k) % 28
    );
    let seq = format!("{:02}{}", 4 * n + k, if female { 2 } else { 1 });
    (name, zoufang_shared::demo::id_number(&birth, &seq))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use zoufang_shared::rules::resident_id::{ResidentId, check_sex};

    use super::*;

    #[test]
    fn demo_households_are_distinct_people_with_valid_ids() {
        let dir = tempfile::tempdir().expect("dir");
        let mut store = Store::create(dir.path(), "demo-test").expect("store");
        seed(&mut store).expect("seed");
        let ids = store.household_ids().expect("ids");
        assert_eq!(ids.len(), FAMILIES.len());
        let (mut numbers, mut names, mut nos, mut incomes) = (
            HashSet::new(),
            HashSet::new(),
            HashSet::new(),
            HashSet::new(),
        );
        for id in &ids {
            let h = store.household(id).expect("household");
            let no = h.info.household_no.clone().expect("户编号");
            let area = h.info.area_code.clone().expect("area code");
            assert!(no.len() == 19 && no.starts_with(&area), "{no}");
            assert!(nos.insert(no));
            for m in h.members.values() {
                let number = m.id_number.clone().expect("an ID number");
                let parsed = ResidentId::parse(&number).expect("a valid ID");
                check_sex(&parsed, m.sex.expect("sex")).expect("the ID's sex");
                assert!(numbers.insert(number), "{} shares an ID", m.name);
                assert!(names.insert(m.name.clone()), "{} twice", m.name);
            }
            let income = h.incomes.values().next().expect("an income");
            assert!(incomes.insert(income.wage), "{id:?}: same income");
        }
        assert_eq!(numbers.len(), 4 * FAMILIES.len());
    }
}
