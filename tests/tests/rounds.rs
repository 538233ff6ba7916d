//! 工作批次 end to end, real server and client processes: the county opens a round for a
//! township (only the county, only inside its areas, only a round that could be used); a device
//! receives it at its next sync and files a new case under it; the report covers the running
//! round by default and each round on request, and its rosters follow.

use chrono::Datelike;
use reqwest::StatusCode;
use serde_json::{Value, json};
use zoufang_e2e::access::{api_device, author};
use zoufang_e2e::areas::{COUNTY, SANHE, SHILI, XIAOWAN, days_before, today};
use zoufang_e2e::review::{Reviewer, propose_case_for, proposed_on};
use zoufang_e2e::{ClientProcess, Device, ServerProcess, TestDb, roster_csv, texts};
use zoufang_shared::codes::{CaseKind, CaseOrigin};
use zoufang_shared::doc::{ActorId, HouseholdDoc};
use zoufang_shared::ids::HouseholdId;
use zoufang_shared::model::Case;
use zoufang_shared::wire::{Push, PushOutcome};

const HOUSEHOLD: &str = "hh-530921100201001";
const ROUND: &str = "2026-verification";

fn round(id: &str, areas: &[&str]) -> Value {
    json!({
        "id": id, "name": "精准核查专项行动", "kind": "verification",
        "starts_on": days_before(today(), 30).to_string(), "ends_on": null, "areas": areas,
    })
}

/// The households and persons of `kind`'s line in a report's total.
fn case_total(report: &Value, kind: &str) -> (i64, i64) {
    let line = report["total"]["by_case"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["kind"] == kind))
        .unwrap_or_else(|| panic!("no {kind} line: {report}"));
    let n = |k: &str| line["total"][k].as_i64().expect("count");
    (n("households"), n("persons"))
}

async fn a_round_files_and_reports_its_cases(db: TestDb) {
    let server = ServerProcess::start_with_users(
        &db.url,
        &[
            ("zhang", "surveyor", SANHE),
            ("li", "surveyor", SANHE),
            ("shen", "township_reviewer", SHILI),
            ("zhao", "county_supervisor", COUNTY),
        ],
    )
    .await;
    let zhang = Device::enrolled(&server, "zhang").await;
    zhang
        .import_roster(&roster_csv(&[("530921100201001", "三合村", 3)], 0))
        .await;
    let shen = Reviewer::login(&server.url, "shen").await;
    let zhao = Reviewer::login(&server.url, "zhao").await;

    // Only the county opens rounds, inside its areas, and only rounds that could be used.
    let (status, body) = shen
        .post("/api/review/rounds", &round(ROUND, &[SHILI]))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a township reviewer: {body}");
    let mut ends_early = round(ROUND, &[SHILI]);
    ends_early["ends_on"] = json!(days_before(today(), 40).to_string());
    let refused = [
        (round(ROUND, &["530922"]), "another county"),
        (round("year-2026", &[SHILI]), "a reserved id"),
        (ends_early, "ending before it starts"),
        (round(ROUND, &[]), "no area"),
    ];
    for (bad, what) in refused {
        let (status, body) = zhao.post("/api/review/rounds", &bad).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {body}");
    }
    let (status, body) = zhao
        .post("/api/review/rounds", &round(ROUND, &[SHILI]))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = zhao
        .post("/api/review/rounds", &round(ROUND, &[SHILI]))
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "the id again: {body}"
    );
    let (status, body) = zhao
        .post(
            "/api/review/rounds",
            &round("xiaowan-screening", &[XIAOWAN]),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (_, listed) = shen.get("/api/review/rounds").await;
    let ids: Vec<&str> = texts(&listed["rounds"], "id");
    assert_eq!(ids, [ROUND], "a township sees the rounds covering it only");

    // The device learns the round at its sync and files a new case under it.
    zhang.sync().await;
    let ui = ClientProcess::start(zhang.data.path()).await;
    let res = reqwest::Client::new()
        .post(format!("{}/api/households/{HOUSEHOLD}/cases", ui.url))
        .json(&json!({
            "kind": "new_entry", "origin": "screening", "reason": "入户排查",
            "proposed_on": proposed_on().to_string(), "round": "xiaowan-screening",
        }))
        .send()
        .await
        .expect("client");
    assert_eq!(
        res.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "a round not covering the household: {}",
        res.text().await.unwrap_or_default()
    );
    propose_case_for(&ui, HOUSEHOLD, "new_entry", Some("screening"), &[]).await;
    ui.kill().await;
    let report = zhang.sync().await;
    assert_eq!(report["accepted"], 1, "{report}");
    let export = zhang.export().await;
    let case = export[0]["cases"]
        .as_object()
        .and_then(|c| c.values().next())
        .cloned()
        .expect("the case");
    assert_eq!(case["round"], ROUND, "{case}");

    // The report covers the running round by default, each round on request.
    let (status, r) = shen.get(&format!("/api/review/report?area={SHILI}")).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["round"]["id"], ROUND);
    assert_eq!(r["round"]["kind"], "精准核查");
    assert_eq!(case_total(&r, "new_entry"), (1, 3));
    let year = format!("year-{}", today().year());
    let (_, r) = shen
        .get(&format!("/api/review/report?area={SHILI}&round={year}"))
        .await;
    assert_eq!(r["round"]["id"], year.as_str());
    assert_eq!(
        case_total(&r, "new_entry"),
        (0, 0),
        "not in the year's round"
    );
    let (status, r) = shen
        .get(&format!(
            "/api/review/report?area={SHILI}&round=no-such-round"
        ))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{r}");
    // A period asked for is a period: the case was proposed inside it.
    let (_, r) = shen
        .get(&format!(
            "/api/review/report?area={SHILI}&from={}",
            days_before(today(), 60)
        ))
        .await;
    assert!(r["round"].is_null(), "{r}");
    assert_eq!(case_total(&r, "new_entry"), (1, 3));

    // Rosters follow the round.
    for (asked, want) in [(ROUND, 1), (year.as_str(), 0)] {
        let (status, page) = shen
            .get(&format!(
                "/api/review/roster?area={SHILI}&kind=new_entry&round={asked}"
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(page["households"], want, "roster of {asked}: {page}");
    }
    // A device that files a case under a round not covering the household, bypassing its own
    // form, is refused by the server; under its own round, accepted.
    let li = api_device(&server.url, "li", [0x11; 16]).await;
    for (round, accepted) in [("xiaowan-screening", false), (ROUND, true)] {
        let id = format!("hh-5309211002019{}", u8::from(accepted));
        let (mut doc, ()) = HouseholdDoc::create_with(
            &HouseholdId(id.clone()),
            ActorId::from(li.actor),
            &author("li", &li.device_id),
            |e| {
                e.set_field("info.area_code", json!(SANHE))?;
                e.add_case(&Case {
                    kind: CaseKind::NewEntry,
                    origin: Some(CaseOrigin::Screening),
                    round: Some(round.into()),
                    proposed_on: proposed_on(),
                    proposed_by: "李".into(),
                    proposed_by_user: Some("li".into()),
                    reason: String::new(),
                    members: Default::default(),
                    steps: Default::default(),
                })
                .map(drop)
            },
        )
        .expect("a household with a case");
        let push = Push {
            household: id.clone(),
            changes: doc.changes_after(&[]),
        };
        let answer = li.sync(0, vec![push]).await;
        let outcome = &answer.results[0].outcome;
        match (accepted, outcome) {
            (true, PushOutcome::Accepted { .. }) => {}
            (false, PushOutcome::Rejected { code, .. }) if code == "round_not_open" => {}
            _ => panic!("a case under {round}: {outcome:?}"),
        }
    }

    server.kill().await;
}

zoufang_e2e::on_both_databases!(a_round_files_and_reports_its_cases);
