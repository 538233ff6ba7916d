//! Bad input on every CLI argument: a plain Chinese message, a non-zero exit, no panic, and the
//! store exactly as it was.

mod support;

use std::process::Output;

use support::{Device, stderr, stdout, today, zoufang};
use zoufang_client::roster_gen;

#[track_caller]
fn refused(o: &Output, code: i32, message: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "stderr: {err}");
    assert!(err.starts_with("错误:"), "{err}");
    assert!(err.contains(message), "expected «{message}» in: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(stdout(o).is_empty(), "stdout: {}", stdout(o));
}

#[test]
fn usage_errors_are_told_in_chinese() {
    let o = zoufang(&[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).starts_with("错误:请指定要执行的命令"),
        "{}",
        stderr(&o)
    );
    let refusals: [(&[&str], &str); 12] = [
        (&["frob"], "不认识的命令「frob」"),
        (&["lst"], "是否想用「list」"),
        (&["list", "--bogus"], "不认识的参数「--bogus」"),
        (&["import"], "缺少必需的参数:<文件>"),
        (&["edit", "hh-1"], "缺少必需的参数"),
        (&["init", "--user-id", "u1"], "缺少必需的参数:--user-name"),
        (&["show", "a", "b"], "不认识的参数「b」"),
        (&["list", "--limit", "-3"], "条数应为不小于 0 的整数"),
        (&["list", "--limit"], "--limit <条数> 需要一个值"),
        (&["serve", "--port", "http"], "端口应为 0–65535 之间的整数"),
        (&["serve", "--bind", "localhost:1"], "地址应为 IP 地址"),
        (&["assess", "x.json", "--on", "2026-02-30"], "日期应形如"),
    ];
    for (args, message) in refusals {
        refused(&zoufang(args), 2, message);
    }
    let help = zoufang(&["edit", "--help"]);
    assert!(help.status.success());
    assert!(
        stdout(&help).contains("用法:zoufang edit"),
        "{}",
        stdout(&help)
    );
}

#[test]
fn a_missing_data_directory_is_not_created_by_reading_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("typo");
    let data = missing.to_str().expect("path");
    refused(
        &zoufang(&["--data", data, "list"]),
        2,
        "还没有数据,请先运行 zoufang init",
    );
    refused(
        &zoufang(&["--data", data, "show", "hh-1"]),
        2,
        "请先运行 zoufang init",
    );
    assert!(!missing.exists());
    refused(
        &zoufang(&["--data", data, "init", "--user-id", " ", "--user-name", "x"]),
        2,
        "用户编号不能为空",
    );
    assert!(!missing.exists());
}

#[test]
fn checks_report_problems_with_exit_code_one() {
    refused(
        &zoufang(&["check-id", "123"]),
        1,
        "证件号码应为 18 位,实为 3 位",
    );
    refused(
        &zoufang(&["check-id", "11010519491231002X", "--sex", "男"]),
        1,
        "性别与证件号码不符",
    );
    refused(
        &zoufang(&["check-id", "11010519491231002X", "--sex", "x"]),
        2,
        "「性别」不认识的值「x」",
    );
    refused(
        &zoufang(&["assess", "/nonexistent/h.json"]),
        2,
        "文件不存在",
    );
}

#[test]
fn bad_input_leaves_the_store_unchanged() {
    let device = Device::new();
    let hs = roster_gen::generate(3, 9, today());
    device.import(&hs);
    let before = device.export();
    let id = format!("hh-{}", hs[0].household_no);
    let exported: serde_json::Value = serde_json::from_str(&before).expect("export json");
    let member = exported[0]["members"]
        .as_object()
        .and_then(|m| m.keys().next().cloned())
        .expect("a member");

    let id_path = format!("members.{member}.id_number");
    let name_path = format!("members.{member}.name");
    let refusals: [(&[&str], &str); 14] = [
        (&["show", "hh-nope"], "找不到农户「hh-nope」"),
        (
            &["edit", "hh-nope", "living.house_grade", "C级"],
            "找不到农户",
        ),
        (&["export", &id, "hh-nope"], "找不到农户「hh-nope」"),
        (
            &["edit", &id, "living.nope", "1"],
            "字段路径「living.nope」无效",
        ),
        (&["edit", &id, "id", "hh-x"], "字段路径「id」无效"),
        (&["edit", &id, "", "1"], "字段路径「」无效"),
        (
            &["edit", &id, "living.house_grade", "E级"],
            "「危房等级」不认识的值「E级」,可选:A级、B级、C级、D级",
        ),
        (
            &["edit", &id, "living.house_area_m2", "九十"],
            "「living.house_area_m2」的值无效:应为不小于 0 的整数",
        ),
        (
            &["edit", &id, "living.house_area_m2", "-5"],
            "「living.house_area_m2」的值无效",
        ),
        (
            &["edit", &id, &id_path, "110105194912310023"],
            "证件号码校验位错误:应为 X,实为 3",
        ),
        (&["edit", &id, &name_path, " "], "姓名不能为空"),
        (
            &["edit", &id, "info.year", "1800"],
            "年度 1800 不在合理范围内",
        ),
        (
            &["list", "--status", "不存在"],
            "「户状态」不认识的值「不存在」",
        ),
        (
            &["list", "--case", "脱贫"],
            "「动态管理类型」不认识的值「脱贫」",
        ),
    ];
    for (args, message) in refusals {
        refused(&device.run(args), 2, message);
    }

    // Files that are no roster: each refused for what it is.
    let files: [(&str, &[u8], &str); 5] = [
        (
            "garbage.csv",
            b"\x81\xff\x00\x01\x02garbage\xfe",
            "文件编码无法识别",
        ),
        ("binary.csv", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "二进制内容"),
        ("roster.xlsx", b"PK\x03\x04\x14\0\x06\0", "另存为”CSV"),
        (
            "headless.csv",
            "姓名,证件号码\n李大山,1\n".as_bytes(),
            "找不到表头:缺少必需的列 户编号、与户主关系",
        ),
        ("empty.csv", b"", "文件为空"),
    ];
    for (name, bytes, message) in files {
        let path = device.file(name, bytes);
        refused(
            &device.run(&["import", path.to_str().expect("path")]),
            2,
            message,
        );
    }
    refused(
        &device.run(&["import", "/nonexistent/roster.csv"]),
        2,
        "文件不存在",
    );
    let dir = device.data().to_str().expect("path").to_owned();
    refused(&device.run(&["import", &dir]), 2, "无法读取");

    assert_eq!(device.export(), before);
}
