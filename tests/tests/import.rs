//! The national roster import end to end, real server and client processes: a device imports
//! the file before it is enrolled, enrollment files each household in the village the file
//! names (from the area tree the server sends), and the server accepts every one; a household
//! whose village the file misspells waits without an area code (the server refuses it) until
//! a corrected file, imported again, fills it in. What the file says — 脱贫年度 among it — reaches
//! the server, and the columns the system has no field for are named.

use serde_json::{Value, json};
use zoufang_e2e::areas::{KONGXING, SANHE, SHILI};
use zoufang_e2e::{Device, ServerProcess, TestDb, exported_household};

const HEADER: &str = "省,市,县,乡镇,村,户编号,户主姓名,姓名,性别,与户主关系,证件号码,政治面貌,\
                      贫困户状态,脱贫年度,其他致贫原因,备注";

const EXITED: &str = "530921100201101";
const KONG: &str = "530921100202102";
const MISSPELT: &str = "530921100202103";

/// The export's rows: 三合村's household exited in 2019, two of 孔兴村 — the last one's village
/// written `village_of_last`.
fn roster(village_of_last: &str) -> String {
    let id = |birth: &str, seq: &str| zoufang_shared::demo::id_number(birth, seq);
    let rows = [
        (
            EXITED,
            "三合村",
            "李大山",
            "李大山",
            "男",
            "户主",
            id("19700312", "011"),
            "中共党员",
            "已脱贫(享受政策)",
            "2019",
        ),
        (
            EXITED,
            "三合村",
            "李大山",
            "王秀英",
            "女",
            "配偶",
            id("19720801", "022"),
            "群众",
            "已脱贫(享受政策)",
            "2019",
        ),
        (
            KONG,
            "孔兴村",
            "张国华",
            "张国华",
            "男",
            "户主",
            id("19650101", "031"),
            "群众",
            "未脱贫",
            "",
        ),
        (
            MISSPELT,
            village_of_last,
            "赵明",
            "赵明",
            "男",
            "户主",
            id("19800505", "051"),
            "群众",
            "未脱贫",
            "",
        ),
    ];
    let mut csv = format!("{HEADER}\n");
    for (no, village, head, name, sex, rel, id, political, status, exit_year) in rows {
        let causes = if no == EXITED {
            "因残、缺技术"
        } else {
            ""
        };
        csv.push_str(&format!(
            "云南省,临沧市,凤庆县,诗礼乡,{village},{no},{head},{name},{sex},{rel},{id},{political},\
             {status},{exit_year},{causes},外出务工\n"
        ));
    }
    csv
}

fn area_of(export: &Value, no: &str) -> Value {
    exported_household(export, &format!("hh-{no}"))["info"]["area_code"].clone()
}

async fn import_before_enroll_then_sync(db: TestDb) {
    let server = ServerProcess::start(&db.url).await;
    // Two villages: the misspelt one cannot fall back on "the user's one area".
    server
        .add_user("zhang", "张调查", "surveyor", &[SANHE, KONGXING])
        .await;
    server
        .add_user("tl", "田队长", "team_leader", &[SHILI])
        .await;
    let zhang = Device::initialised("zhang", "张调查").await;

    // Not enrolled: the households are kept, and the report says they wait for enrollment.
    let report = zhang.import_roster(&roster("孔星村")).await;
    assert_eq!(report["imported"], 3, "{report}");
    assert_eq!(
        report["notices"],
        json!([
            "未导入的列:备注(系统没有对应字段)",
            "本机尚未登记到服务器,还不知道区域表:3 户暂未填区划代码,登记(zoufang enroll)时将按文件中的县、乡镇、村填入"
        ])
    );
    let export = zhang.export().await;
    assert_eq!(area_of(&export, EXITED), Value::Null);

    // Enrollment brings the tree and files the households by their villages.
    assert_eq!(zhang.setting("county_utc_offset").await, None);
    let enrolled = zhang.enroll(&server.url, "zhang").await;
    assert_eq!(enrolled["households_filed"], 2, "{enrolled}");
    // Enrollment also tells the device the county's zone, in which its pages show times.
    assert_eq!(
        zhang.setting("county_utc_offset").await.as_deref(),
        Some("+08:00")
    );
    assert_eq!(
        enrolled["households_unfiled"],
        json!([{
            "household": format!("hh-{MISSPELT}"),
            "reason": "区域表中没有村「孔星村」,无法确定该户的区划代码;请核对文件中的乡镇和村"
        }])
    );
    let export = zhang.export().await;
    assert_eq!(area_of(&export, EXITED), SANHE);
    assert_eq!(area_of(&export, KONG), KONGXING);

    let first = zhang.try_sync().await.expect("sync");
    assert_eq!(first["accepted"], 2, "{first}");
    let rejected = first["rejected"].as_array().expect("rejected");
    assert_eq!(rejected.len(), 1, "{first}");
    assert_eq!(rejected[0]["household"], format!("hh-{MISSPELT}"));
    assert_eq!(rejected[0]["code"], "out_of_scope");

    // A re-import does not skip the household still without an area: the corrected file
    // fills it in, and the next sync delivers it.
    let again = zhang.import_roster(&roster("孔兴村")).await;
    assert_eq!(
        (
            &again["imported"],
            &again["skipped_existing"],
            &again["areas_filled"]
        ),
        (&json!(0), &json!(2), &json!(1)),
        "{again}"
    );
    let second = zhang.try_sync().await.expect("sync");
    assert_eq!(second["accepted"], 1, "{second}");
    assert_eq!(second["rejected"], json!([]), "{second}");

    // The team leader's device reads all three from the server, filed and whole.
    let tl = Device::enrolled(&server, "tl").await;
    tl.sync().await;
    let at_tl = tl.export().await;
    for (no, area) in [(EXITED, SANHE), (KONG, KONGXING), (MISSPELT, KONGXING)] {
        assert_eq!(area_of(&at_tl, no), area, "{no}");
    }
    let exited = exported_household(&at_tl, &format!("hh-{EXITED}"));
    assert_eq!(exited["info"]["exit_year"], 2019, "{exited}");
    assert_eq!(exited["info"]["status"], "exited_supported");
    assert_eq!(
        exited["info"]["other_causes"],
        json!({"disability": true, "lack_skills": true})
    );
    let head = exited["members"]
        .as_object()
        .and_then(|m| m.values().find(|m| m["relation"] == "head"))
        .expect("head");
    assert_eq!(head["political"], "cpc_member");
    let misspelt = exported_household(&at_tl, &format!("hh-{MISSPELT}"));
    assert_eq!(misspelt["info"]["village"], "孔兴村");
    server.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_before_enroll_then_sync_on_sqlite() {
    import_before_enroll_then_sync(TestDb::sqlite()).await;
}
