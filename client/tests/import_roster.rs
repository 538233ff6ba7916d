//! `zoufang import` of a national roster export: 1,000 households of which 20 are spoilt in the
//! ways real exports are, plus a GBK-encoded file.

mod support;

use std::time::Instant;

use serde_json::{Value, json};
use support::{Device, stderr, stdout, today};
use zoufang_client::roster_gen::{self, RosterHousehold};
use zoufang_shared::rules::resident_id::check_digit;

/// Spoils household `i` in way `kind`, returning the one reason the import must give.
fn spoil(hs: &mut [RosterHousehold], i: usize, kind: usize) -> String {
    let lines = roster_gen::line_ranges(hs);
    let first = lines[i].start;
    match kind {
        0 => {
            let p = &mut hs[i].members[1];
            let expected = check_digit(&p.id_number[..17]).expect("digits");
            let got = if expected == '0' { '1' } else { '0' };
            p.id_number.replace_range(17.., &got.to_string());
            format!(
                "第 {} 行({}):证件号码校验位错误:应为 {expected},实为 {got}",
                first + 1,
                p.name
            )
        }
        1 => {
            hs[i].members[0].relation = "其他".into();
            "没有户主:本户没有「与户主关系」为「户主」的成员".into()
        }
        2 => {
            // A person of the previous (good) household registered here again.
            let earlier = hs[i - 1].clone();
            let person = earlier.members[2].clone();
            hs[i].members[2] = person.clone();
            format!(
                "第 {} 行({}):此人已在户编号 {} 中登记(第 {} 行),同一人不能在两户",
                first + 2,
                person.name,
                earlier.household_no,
                lines[i - 1].start + 2
            )
        }
        3 => {
            hs[i].members[0].education = "博士".into();
            format!(
                "第 {first} 行({}):「文化程度」不认识的值「博士」,可选:文盲或半文盲、小学、初中、高中(含中专)、大专及以上",
                hs[i].members[0].name
            )
        }
        _ => {
            hs[i].members[1].relation = "户主".into();
            format!(
                "有 2 名户主(第 {first}、{} 行),一户只能有一名户主",
                first + 1
            )
        }
    }
}

#[test]
fn imports_good_households_and_reports_each_bad_one() {
    let device = Device::new();
    let mut hs = roster_gen::generate(1000, 2026, today());
    let bad: Vec<usize> = (0..20).map(|k| 37 + k * 47).collect();
    let mut expected = Vec::new();
    for (k, &i) in bad.iter().enumerate() {
        let reason = spoil(&mut hs, i, k % 5);
        expected.push((i, reason));
    }
    let lines = roster_gen::line_ranges(&hs);
    let path = device.file("roster.csv", roster_gen::to_csv(&hs).as_bytes());
    let path = path.to_str().expect("path");

    let started = Instant::now();
    let report = device.json(&["import", path], 1);
    eprintln!("imported 1,000 households in {:?}", started.elapsed());

    assert_eq!(report["imported"], 980);
    assert_eq!(report["skipped_existing"], 0);
    assert_eq!(
        report["notices"],
        json!([
            "本机尚未登记到服务器,还不知道区域表:980 户暂未填区划代码,登记(zoufang enroll)时将按文件中的县、乡镇、村填入"
        ])
    );
    let reported = report["bad"].as_array().expect("bad list");
    assert_eq!(reported.len(), 20);
    for ((i, reason), got) in expected.iter().zip(reported) {
        let want = json!({
            "household_no": hs[*i].household_no,
            "lines": lines[*i].clone().collect::<Vec<_>>(),
            "reasons": [reason],
        });
        assert_eq!(got, &want);
    }

    let listed = device.json(&["list"], 0);
    assert_eq!(listed.as_array().map(Vec::len), Some(980));
    let bad_ids: Vec<String> = bad
        .iter()
        .map(|i| format!("hh-{}", hs[*i].household_no))
        .collect();
    assert!(
        listed
            .as_array()
            .into_iter()
            .flatten()
            .all(|r| !bad_ids.iter().any(|b| r["id"] == json!(b)))
    );

    // What the file says is kept: 脱贫年度 and the other columns the model has.
    let exported = device.json(&["export"], 0);
    let by_id: std::collections::HashMap<&str, &Value> = exported
        .as_array()
        .expect("export")
        .iter()
        .map(|h| (h["id"].as_str().expect("id"), h))
        .collect();
    let mut exited = 0;
    for (i, h) in hs.iter().enumerate().filter(|(i, _)| !bad.contains(i)) {
        let stored = by_id[format!("hh-{}", h.household_no).as_str()];
        let year = h.exit_year.parse::<i64>().ok();
        exited += usize::from(year.is_some());
        assert_eq!(stored["info"]["exit_year"].as_i64(), year, "household {i}");
        assert_eq!(stored["info"]["bank_name"], json!(h.bank_name));
        let members = stored["members"].as_object().expect("members");
        for p in &h.members {
            let m = members
                .values()
                .find(|m| m["name"] == json!(p.name) && m["id_number"] == json!(p.id_number))
                .expect("member");
            assert_eq!(m["work_months"].as_i64(), p.work_months.parse().ok());
            assert_eq!(m["medical_insurance"], json!(p.medical_insurance == "是"));
        }
    }
    assert!(exited > 500, "{exited} exited households");

    // The same file again: nothing new, nothing harmed, the same households refused.
    let again = device.json(&["import", path], 1);
    assert_eq!(again["imported"], 0);
    assert_eq!(again["skipped_existing"], 980);
    assert_eq!(again["bad"], report["bad"]);
    assert_eq!(
        device.json(&["list"], 0).as_array().map(Vec::len),
        Some(980)
    );
}

#[test]
fn text_report_names_lines_and_reasons() {
    let device = Device::new();
    let mut hs = roster_gen::generate(3, 5, today());
    let reason = spoil(&mut hs, 1, 1);
    let path = device.file("roster.csv", roster_gen::to_csv(&hs).as_bytes());
    let o = device.run(&["import", path.to_str().expect("path")]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    let lines = &roster_gen::line_ranges(&hs)[1];
    assert!(
        out.contains("新导入 2 户,已存在 0 户(未改动),有问题 1 户(未导入)"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "户编号 {}(第 {}–{} 行):\n  {reason}",
            hs[1].household_no,
            lines.start,
            lines.end - 1
        )),
        "{out}"
    );
}

#[test]
fn imports_a_gbk_export_with_title_row_and_extra_columns() {
    let device = Device::new();
    let hs = roster_gen::generate(2, 11, today());
    let csv = format!(
        "凤庆县建档立卡贫困人口花名册(导出日期 2026-01-05)\n{}",
        roster_gen::to_csv(&hs).replacen('\n', ",备注\n", 1)
    );
    let (gbk, _, unmappable) = encoding_rs::GBK.encode(&csv);
    assert!(!unmappable);
    assert!(std::str::from_utf8(&gbk).is_err(), "must really be GBK");
    let path = device.file("gbk.csv", &gbk);
    let report = device.json(&["import", path.to_str().expect("path")], 0);
    assert_eq!(report["imported"], 2);
    assert_eq!(
        report["notices"],
        json!([
            "文件按 GBK/GB18030 编码读取",
            "跳过了表头之前的 1 行标题",
            "未导入的列:备注(系统没有对应字段)",
            "本机尚未登记到服务器,还不知道区域表:2 户暂未填区划代码,登记(zoufang enroll)时将按文件中的县、乡镇、村填入"
        ])
    );
    let shown = device.json(&["show", &hs[0].household_no], 0);
    let h: &Value = &shown["household"];
    assert_eq!(h["info"]["village"], json!(hs[0].village));
    assert_eq!(h["info"]["bank_account"], json!(hs[0].bank_account));
    let names: Vec<&str> = h["members"]
        .as_object()
        .expect("members")
        .values()
        .filter_map(|m| m["name"].as_str())
        .collect();
    for p in &hs[0].members {
        assert!(
            names.contains(&p.name.as_str()),
            "{names:?} lacks {}",
            p.name
        );
    }
}
