//! `edit`, `show`, `list` and `export` on imported households.

mod support;

use serde_json::json;
use support::{Device, stderr, stdout, today};
use zoufang_client::roster_gen;

#[test]
fn an_edit_shows_up_in_show_and_changes_the_verdict() {
    let device = Device::new();
    let hs = roster_gen::generate(2, 3, today());
    device.import(&hs);
    let id = format!("hh-{}", hs[0].household_no);

    let o = device.run(&["edit", &id, "living.house_grade", "C级"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        format!("已保存:{id} 的 living.house_grade = \"c\"\n")
    );
    let shown = device.json(&["show", &id], 0);
    assert_eq!(shown["household"]["living"]["house_grade"], "c");
    let failures = shown["assessment"]["failures"]
        .as_array()
        .expect("failures");
    assert!(
        failures.iter().any(|f| f["code"] == "housing_unsafe"),
        "{failures:?}"
    );

    // A bare phone number parses as a JSON number; the text field takes it as text.
    let o = device.json(
        &["edit", &hs[0].household_no, "info.phone", "13800001111"],
        0,
    );
    assert_eq!(o["value"], "13800001111");
    let o = device.json(&["edit", &id, "living.house_area_m2", "88"], 0);
    assert_eq!(o["value"], 88);
    device.json(&["edit", &id, "living.house_grade", "null"], 0);
    let shown = device.json(&["show", &id], 0);
    assert_eq!(shown["household"]["info"]["phone"], "13800001111");
    assert_eq!(shown["household"]["living"]["house_area_m2"], 88);
    assert_eq!(shown["household"]["living"]["house_grade"], json!(null));
    assert_eq!(shown["conflicts"], json!([]));

    // The other household is untouched.
    let other = device.json(&["export", &format!("hh-{}", hs[1].household_no)], 0);
    assert_eq!(other[0]["info"]["phone"], json!(hs[1].phone));
}

#[test]
fn show_masks_id_numbers_in_text() {
    let device = Device::new();
    let hs = roster_gen::generate(1, 4, today());
    device.import(&hs);
    let o = device.run(&["show", &hs[0].household_no]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let head = &hs[0].members[0];
    assert!(out.contains(&head.name), "{out}");
    assert!(!out.contains(&head.id_number), "{out}");
    assert!(out.contains(&format!(
        "{}**********{}",
        &head.id_number[..4],
        &head.id_number[14..]
    )));
    assert!(
        out.contains(&format!("{} 年评估:未达标", today().format("%Y"))),
        "{out}"
    );
}

#[test]
fn list_filters_by_status_label_or_code_village_and_name() {
    let device = Device::new();
    let hs = roster_gen::generate(40, 8, today());
    device.import(&hs);
    let count = |args: &[&str]| device.json(args, 0).as_array().map_or(0, Vec::len);
    assert_eq!(count(&["list"]), 40);
    let status = &hs[0].status;
    let want = hs.iter().filter(|h| &h.status == status).count();
    assert_eq!(count(&["list", "--status", status]), want);
    let code = device.json(&["list", "--limit", "1", "--status", status], 0)[0]["status"].clone();
    assert_eq!(
        count(&["list", "--status", code.as_str().expect("code")]),
        want
    );
    let village = &hs[0].village;
    let want = hs.iter().filter(|h| &h.village == village).count();
    assert_eq!(count(&["list", "--village", village]), want);
    assert_eq!(count(&["list", "--search", &hs[5].members[1].name]), {
        let name = &hs[5].members[1].name;
        hs.iter()
            .filter(|h| h.members.iter().any(|p| p.name.contains(name.as_str())))
            .count()
    });
    assert_eq!(count(&["list", "--limit", "3"]), 3);
    assert_eq!(count(&["list", "--case", "脱贫退出"]), 0);

    let o = device.run(&["list", "--village", village]);
    let out = stdout(&o);
    assert!(out.starts_with("农户"), "{out}");
    assert!(out.contains(&format!("共 {want} 户")), "{out}");
    let o = device.run(&["list", "--search", "查无此人"]);
    assert_eq!(stdout(&o), "没有符合条件的农户\n");
}
