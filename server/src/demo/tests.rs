use chrono::NaiveDate;

use super::*;

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 14).unwrap_or_default()
}

#[test]
fn the_demo_areas_are_the_bundled_tree() {
    let areas = demo_areas();
    assert_eq!(areas.len(), 7);
    assert_eq!(areas[0].code, COUNTY);
    assert_eq!(areas[0].name, COUNTY_NAME);
    assert_eq!(areas[0].parent, None);
    let villages: Vec<&str> = areas
        .iter()
        .filter(|a| a.level == "village")
        .map(|a| a.code.as_str())
        .collect();
    assert_eq!(
        villages,
        [
            "530921100201",
            "530921100202",
            "530921100203",
            "530921200201"
        ]
    );
}

#[test]
fn the_generated_layout_is_ten_townships() {
    let county = plan(&CountySpec::new(500, 1, day()));
    let townships = county
        .areas()
        .iter()
        .filter(|a| a.level == "township")
        .count();
    assert_eq!(townships, 10);
    assert_eq!(county.villages().len(), 100);
    assert_eq!(county.households(), 500);
    assert!(county.persons() > 1_500 && county.persons() < 2_000);
}

#[test]
fn households_go_into_the_given_villages() {
    let county = plan(&CountySpec::demo(120, day()));
    assert_eq!(county.areas(), demo_areas().as_slice());
    let villages: Vec<&str> = county.villages().iter().map(|v| v.code.as_str()).collect();
    let built = county.build(0..county.households()).expect("build");
    assert_eq!(built.len(), 120);
    for v in &villages {
        assert!(built.iter().any(|h| h.area_code == *v), "{v} is empty");
    }
    assert!(
        built
            .iter()
            .all(|h| villages.contains(&h.area_code.as_str()))
    );
    let xiaowan = county
        .villages()
        .iter()
        .find(|v| v.code == "530921200201")
        .expect("锦秀村");
    assert_eq!(
        (xiaowan.name.as_str(), xiaowan.township.as_str()),
        ("锦秀村", "小湾镇")
    );
}

/// Per household, the rows of the households and members tables without the member ids the
/// editor draws.
fn rows(county: &County, range: std::ops::Range<usize>) -> Vec<Vec<String>> {
    let built = county.build(range).expect("build");
    built
        .iter()
        .map(|h| {
            let households = h.projection.tables[0].rows.iter().map(|r| format!("{r:?}"));
            let members = h.projection.tables[1].rows.iter().map(|r| {
                let mut r = r.clone();
                r.remove(1);
                format!("{r:?}")
            });
            let mut rows: Vec<String> = households.chain(members).collect();
            rows.sort();
            rows
        })
        .collect()
}

#[test]
fn a_seed_names_one_county() {
    let spec = CountySpec::demo(40, day());
    let (a, b) = (plan(&spec), plan(&spec));
    let all = rows(&a, 0..40);
    assert_eq!(all, rows(&b, 0..40));
    // A range built alone is what it is built among the others.
    assert_eq!(rows(&b, 20..30), all[20..30]);
    let other = plan(&CountySpec {
        seed: DEMO_SEED + 1,
        ..spec
    });
    assert_ne!(rows(&other, 0..40), all);
}
