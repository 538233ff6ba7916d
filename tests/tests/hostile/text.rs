//! Values a backend or a format cannot hold: long text, NUL, exports.
//!
//! Found by the examiner: on PostgreSQL one NUL in one household's text made the whole sync
//! request a 500, so the device's other households never synced either; a head of household
//! named with 40,000 characters made every XLSX export holding it fail. Now every writer holds
//! a household's text to the limits of `zoufang_shared::limits` (the device before it saves, the
//! server per household of a push and for reviewers' decisions), and an export cuts a cell too
//! long for its format, visibly, instead of failing.

use chrono::Days;
use reqwest::StatusCode;
use serde_json::json;
use zoufang_e2e::api::{ApiDevice, actor_hex, has_chinese, outcome};
use zoufang_e2e::areas::{SANHE, SHILI};
use zoufang_e2e::db::ServerDb;
use zoufang_e2e::review::{Reviewer, proposed_on};
use zoufang_e2e::sheets::xlsx_rows;
use zoufang_e2e::{Device, ServerProcess, TestDb, exported_household, roster_csv};
use zoufang_shared::codes::{CaseKind, ProcedureStep, Relation, StepOutcome};
use zoufang_shared::demo::step_record;
use zoufang_shared::doc::{ActorId, ChangeAuthor, DocError, Editor, HouseholdDoc};
use zoufang_shared::ids::HouseholdId;
use zoufang_shared::limits::{MAX_NOTE_CHARS, MAX_SHORT_CHARS};
use zoufang_shared::model::{Case, Member, StepRecord};
use zoufang_shared::wire::{Push, PushOutcome, SyncResponse};

const NUL_NAME: &str = "hh-text-nul-name";
const LONG_NAME: &str = "hh-text-long-name";
const FINE: &str = "hh-text-fine";

/// The marker an export puts where it cut a cell.
fn cut_marker(chars: usize) -> String {
    format!("…(已截断,原长 {chars} 字)")
}

/// An enrolled API device of surveyor `zhang` (its id is its actor's hex).
async fn surveyor_device(server: &ServerProcess, actor: [u8; 16]) -> ApiDevice {
    ApiDevice::enroll(&server.url, "zhang", &actor_hex(&actor), actor).await
}

/// A new household of 三合村 with members of these names (the first the head), as one push of
/// `device`; `more` may add to it in the same change.
fn created(
    device: &ApiDevice,
    id: &str,
    names: &[&str],
    more: impl FnOnce(&mut Editor<'_>) -> Result<(), DocError>,
) -> Push {
    let author = ChangeAuthor::new("zhang", &device.device_id, chrono::Utc::now());
    let (mut doc, ()) = HouseholdDoc::create_with(
        &HouseholdId(id.to_owned()),
        ActorId::from(device.actor),
        &author,
        |e| {
            e.set_field("info.area_code", json!(SANHE))?;
            for (i, name) in names.iter().enumerate() {
                e.add_member(&Member {
                    name: (*name).to_owned(),
                    relation: Some(if i == 0 {
                        Relation::Head
                    } else {
                        Relation::Spouse
                    }),
                    ..Member::default()
                })?;
            }
            more(e)
        },
    )
    .unwrap_or_else(|e| panic!("crafting {id:?}: {e}"));
    Push {
        household: id.to_owned(),
        changes: doc.changes_after(&[]),
    }
}

/// A 新识别 case proposed 20 days ago whose three field steps have passed, 公示 included.
fn case_at_township_review(e: &mut Editor<'_>) -> Result<(), DocError> {
    let proposed = proposed_on();
    let day = |n: u64| proposed.checked_add_days(Days::new(n)).expect("date");
    let case = e.add_case(&Case {
        kind: CaseKind::NewEntry,
        origin: None,
        round: None,
        proposed_on: proposed,
        proposed_by: "张调查".into(),
        proposed_by_user: Some("zhang".into()),
        reason: "入户排查".into(),
        members: Default::default(),
        steps: Default::default(),
    })?;
    for (n, step) in [
        ProcedureStep::HomeCheck,
        ProcedureStep::Deliberation,
        ProcedureStep::Publicity,
    ]
    .into_iter()
    .enumerate()
    {
        let publicity = step == ProcedureStep::Publicity;
        e.add_step(
            &case,
            &StepRecord {
                publicity_start: publicity.then(|| day(3)),
                publicity_end: publicity.then(|| day(9)),
                ..step_record(step, day(n as u64 + 1), "村委会", StepOutcome::Passed)
            },
        )?;
    }
    Ok(())
}

/// The refusal the server answered for `household`: (code, message).
fn refusal<'a>(res: &'a SyncResponse, household: &str) -> (&'a str, &'a str) {
    match outcome(res, household) {
        PushOutcome::Rejected { code, message } => (code, message),
        other => panic!("{household:?} should be refused, got {other:?}"),
    }
}

/// The rows of an exported roster, header first, from XLSX or CSV.
async fn roster(reviewer: &Reviewer, format: &str) -> Vec<Vec<String>> {
    let (status, _, bytes) = reviewer
        .get_bytes(&format!("/export/roster?format={format}"))
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{format} export: {}",
        String::from_utf8_lossy(&bytes)
    );
    match format {
        "xlsx" => xlsx_rows(bytes, "the roster"),
        _ => {
            let text = bytes
                .strip_prefix(b"\xEF\xBB\xBF")
                .expect("the CSV starts with a UTF-8 BOM");
            csv_rows(std::str::from_utf8(text).expect("UTF-8"))
        }
    }
}

/// RFC 4180 records: fields separated by commas, quoted when they hold a comma, a quote or a
/// line break (a cut cell's marker holds a comma).
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    rows
}

/// The first exported row whose `column` starts with `value_starts`, and that column's index.
fn row_of<'a>(rows: &'a [Vec<String>], column: &str, value_starts: &str) -> (&'a [String], usize) {
    let col = rows[0]
        .iter()
        .position(|h| h == column)
        .unwrap_or_else(|| panic!("no {column} in {:?}", rows[0]));
    let row = rows[1..]
        .iter()
        .find(|r| r[col].starts_with(value_starts))
        .unwrap_or_else(|| {
            let short: Vec<Vec<String>> = rows
                .iter()
                .map(|r| r.iter().map(|c| c.chars().take(12).collect()).collect())
                .collect();
            panic!("no row with {column} {value_starts:?} in {short:?}")
        });
    (row, col)
}

async fn one_households_text_does_not_sink_the_others(db: TestDb) {
    let server = ServerProcess::start_with_users(
        &db.url,
        &[
            ("zhang", "surveyor", SHILI),
            ("li", "township_reviewer", SHILI),
        ],
    )
    .await;
    let device = surveyor_device(&server, [0x7e; 16]).await;
    let long = "名".repeat(40_000);
    let res = device
        .sync(
            0,
            vec![
                created(&device, NUL_NAME, &["王五", "李\0四"], |_| Ok(())),
                created(&device, LONG_NAME, &[&long], |_| Ok(())),
                created(&device, FINE, &["赵六"], case_at_township_review),
            ],
        )
        .await;

    let (code, message) = refusal(&res, NUL_NAME);
    assert_eq!(code, "invalid_text", "{message}");
    assert!(
        message.contains("成员姓名") && message.contains("U+0000"),
        "{message}"
    );
    let (code, message) = refusal(&res, LONG_NAME);
    assert_eq!(code, "text_too_long", "{message}");
    assert!(
        message.contains("成员姓名") && message.contains(&MAX_SHORT_CHARS.to_string()),
        "{message}"
    );
    assert!(
        message.chars().count() < 200,
        "the refusal does not echo the value: {} characters",
        message.chars().count()
    );
    assert!(
        matches!(outcome(&res, FINE), PushOutcome::Accepted { .. }),
        "{res:?}"
    );

    // Stored: the valid one only.
    let li = Reviewer::login(&server.url, "li").await;
    let (status, body) = li.get(&format!("/api/review/households/{FINE}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for refused in [NUL_NAME, LONG_NAME] {
        let (status, _) = li.get(&format!("/api/review/households/{refused}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{refused} was not stored");
    }

    // A reviewer's decision is held to the same limits: a 4xx naming the field, not a 500.
    let case = body["cases"]
        .as_object()
        .and_then(|c| c.keys().next().cloned())
        .unwrap_or_else(|| panic!("the case of {FINE}: {body}"));
    for (comment, what) in [
        ("审".repeat(MAX_NOTE_CHARS + 1), "过长"),
        ("材料不全\0".to_owned(), "U+0000"),
    ] {
        let (status, answer) = li
            .post(
                "/api/review/decide",
                &json!({
                    "household": FINE, "case": case, "step": "township_review",
                    "outcome": "returned", "comment": comment,
                }),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(has_chinese(error) && error.contains(what), "{error}");
    }
    let (status, answer) = li
        .post(
            "/api/review/decide",
            &json!({
                "household": FINE, "case": case, "step": "township_review",
                "outcome": "returned", "comment": "请补充收入证明",
            }),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");

    // The township's exports go through, in both formats.
    for format in ["xlsx", "csv"] {
        let rows = roster(&li, format).await;
        assert_eq!(rows.len(), 2, "{format}: the header and {FINE}: {rows:?}");
        row_of(&rows, "户主姓名", "赵六");
    }

    // A household stored before the limits existed (its projection row written as then) still
    // exports: the 40,000 characters are cut where the format requires, visibly, and a 户编号
    // that reads as a formula is kept as text in the CSV.
    let sdb = ServerDb::connect(&db.url).await;
    let changed = sdb
        .execute(&format!(
            "UPDATE p_households SET head_name = '{long}', household_no = '\u{3000}＝1+1' \
             WHERE id = '{FINE}'"
        ))
        .await;
    assert_eq!(changed, 1);
    for format in ["xlsx", "csv"] {
        let rows = roster(&li, format).await;
        let (row, col) = row_of(&rows, "户主姓名", "名名名");
        let name = &row[col];
        assert!(name.ends_with(&cut_marker(40_000)), "{format}: …{}", {
            let tail: String = name.chars().rev().take(30).collect();
            tail.chars().rev().collect::<String>()
        });
        assert!(name.encode_utf16().count() <= 32_767, "{format}");
        let (row, col) = row_of(&rows, "户编号", "");
        let expected = if format == "csv" {
            "'\u{3000}＝1+1"
        } else {
            "\u{3000}＝1+1"
        };
        assert_eq!(row[col], expected, "{format}");
    }
    sdb.close().await;
    server.kill().await;
}

zoufang_e2e::on_both_databases!(one_households_text_does_not_sink_the_others);

async fn a_household_id_with_a_nul_is_refused_alone(db: TestDb) {
    let server = ServerProcess::start_with_users(&db.url, &[("zhang", "surveyor", SHILI)]).await;
    let device = surveyor_device(&server, [0x7d; 16]).await;
    let nul_id = "hh-text\0id";
    let res = device
        .sync(
            0,
            vec![
                created(&device, nul_id, &["钱七"], |_| Ok(())),
                created(&device, FINE, &["孙八"], |_| Ok(())),
            ],
        )
        .await;
    let (code, message) = refusal(&res, nul_id);
    assert_eq!(code, "invalid_id", "{message}");
    assert!(has_chinese(message), "{message}");
    assert!(
        matches!(outcome(&res, FINE), PushOutcome::Accepted { .. }),
        "{res:?}"
    );
    // Stored: the valid one only (a NUL cannot even be asked about on PostgreSQL).
    let sdb = ServerDb::connect(&db.url).await;
    assert_eq!(
        sdb.scalar("SELECT COUNT(*) FROM households").await,
        1,
        "only {FINE} is stored"
    );
    assert_eq!(
        sdb.scalar(&format!(
            "SELECT COUNT(*) FROM households WHERE id = '{FINE}'"
        ))
        .await,
        1
    );
    sdb.close().await;
    server.kill().await;
}

zoufang_e2e::on_both_databases!(a_household_id_with_a_nul_is_refused_alone);

/// The stock client refuses such text before it is stored: the CLI says why, in Chinese, and
/// the household is as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_refuses_text_the_server_would() {
    const HOUSEHOLD: &str = "hh-530921100201001";
    let device = Device::initialised("zhang", "张调查").await;
    device
        .import_roster(&roster_csv(&[("530921100201001", "三合村", 2)], 60))
        .await;
    let before = device.export().await;
    let members = exported_household(&before, HOUSEHOLD)["members"]
        .as_object()
        .expect("members")
        .clone();
    let head = members
        .iter()
        .find(|(_, m)| m["relation"] == "head")
        .map(|(id, _)| id.clone())
        .expect("a head");
    let field = format!("members.{head}.name");

    let long = "名".repeat(40_000);
    // A NUL cannot be a command-line argument; as a JSON string it can be a value.
    let nul = serde_json::to_string("张\0三").expect("JSON");
    for (value, says) in [
        (long.as_str(), format!("最多 {MAX_SHORT_CHARS} 字")),
        (nul.as_str(), "U+0000".to_owned()),
    ] {
        let (status, out, err) = device.run(&["edit", HOUSEHOLD, &field, value]).await;
        assert!(!status.success(), "refused: {out}");
        assert!(
            has_chinese(&err) && err.contains("成员姓名") && err.contains(&says),
            "{err}"
        );
        assert!(
            err.chars().count() < 300,
            "the message does not echo the value"
        );
    }
    let after = device.export().await;
    assert_eq!(
        exported_household(&after, HOUSEHOLD),
        exported_household(&before, HOUSEHOLD),
        "nothing saved"
    );
}
