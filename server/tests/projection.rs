//! The projection on both backends: what a merge writes is what the report, the rosters and
//! the cross-household checks read, and a rebuild from the documents gives the same rows.

mod common;

use chrono::{Datelike, NaiveDate, TimeDelta, Utc};
use common::{open, with_pg, with_sqlite};
use zoufang_server::projection::household_write;
use zoufang_server::projection::reindex::{reindex, reindex_with};
use zoufang_server::report::CaseWindow;
use zoufang_server::report::roster::{CaseFilter, RosterFilter};
use zoufang_server::report::{self, Bucket, Hp, ReportQuery};
use zoufang_server::storage::{Accounts, Area, Database, Projections, SyncWrite, WebStore};
use zoufang_shared::codes::*;
use zoufang_shared::demo::id_number;
use zoufang_shared::doc::{ActorId, ChangeAuthor, Editor, HouseholdDoc};
use zoufang_shared::ids::{CaseId, HelperId, HouseholdId};
use zoufang_shared::model::{Case, Helper, HouseholdInfo, Member, StepRecord, Visit};
use zoufang_storage_any::AnyDb;

const V1: &str = "530921100201";
const V2: &str = "530921100202";
const TOWNSHIP: &str = "530921100";

fn today() -> NaiveDate {
    zoufang_server::projection::today()
}

fn author() -> ChangeAuthor {
    ChangeAuthor::new("zhang", "dev-1", Utc::now())
}

/// A household of `persons` members (IDs from `seq`), in `area` with `status`.
fn household(
    area: &str,
    status: Option<HouseholdStatus>,
    persons: usize,
    seq: u32,
    fill: impl FnOnce(&mut Editor<'_>) -> Result<(), zoufang_shared::doc::DocError>,
) -> (String, HouseholdDoc) {
    let id = HouseholdId::random();
    let (doc, ()) = HouseholdDoc::create_with(&id, ActorId::random(), &author(), |e| {
        e.set_info(&HouseholdInfo {
            area_code: Some(area.into()),
            status,
            year: Some(2026),
            ..HouseholdInfo::default()
        })?;
        for i in 0..persons {
            e.add_member(&Member {
                name: format!("成员{seq}-{i}"),
                id_number: Some(id_number(
                    "19800101",
                    &format!("{:03}", seq * 10 + i as u32),
                )),
                relation: Some(if i == 0 {
                    Relation::Head
                } else {
                    Relation::Other
                }),
                education: Some(Education::Junior),
                medical_insurance: true,
                ..Member::default()
            })?;
        }
        fill(e)
    })
    .expect("household");
    (id.as_str().to_owned(), doc)
}

fn case(kind: CaseKind, origin: Option<CaseOrigin>) -> Case {
    Case {
        kind,
        origin,
        round: None,
        proposed_on: today(),
        proposed_by: "张调查".into(),
        proposed_by_user: None,
        reason: String::new(),
        members: Default::default(),
        steps: Default::default(),
    }
}

fn passed(step: ProcedureStep) -> StepRecord {
    let publicity = step == ProcedureStep::Publicity;
    StepRecord {
        step,
        date: today(),
        actor: "村委会".into(),
        actor_user: None,
        outcome: StepOutcome::Passed,
        comment: String::new(),
        publicity_start: publicity.then(|| today() - TimeDelta::days(2)),
        publicity_end: publicity.then(|| today() + TimeDelta::days(3)),
        objections: Default::default(),
        attachments: Default::default(),
    }
}

/// Adds a case with its steps passed up to and including `upto`.
fn case_through(
    e: &mut Editor<'_>,
    kind: CaseKind,
    origin: Option<CaseOrigin>,
    upto: Option<ProcedureStep>,
) -> Result<CaseId, zoufang_shared::doc::DocError> {
    let id = e.add_case(&case(kind, origin))?;
    if let Some(upto) = upto {
        for step in ProcedureStep::ALL.iter().take(upto.index() + 1) {
            e.add_step(&id, &passed(*step))?;
        }
    }
    Ok(id)
}

async fn store(db: &AnyDb, docs: &mut [(String, HouseholdDoc)]) {
    let households = docs
        .iter_mut()
        .map(|(id, doc)| household_write(id, doc, None, Vec::new()).expect("write"))
        .collect();
    db.commit_sync(&SyncWrite { households })
        .await
        .expect("commit");
}

/// Stores a later version of a household already stored.
async fn store_again(db: &AnyDb, id: &str, doc: &mut HouseholdDoc) {
    let stored = db
        .households(std::slice::from_ref(&id.to_owned()))
        .await
        .expect("read");
    // As a sync's merge does: the stored version's digest lets unchanged tables be skipped.
    let mut w = household_write(id, doc, Some(stored[0].version), Vec::new()).expect("write");
    w.projected_before = stored[0].projected.clone();
    db.commit_sync(&SyncWrite {
        households: vec![w],
    })
    .await
    .expect("commit");
}

async fn with_areas(db: &AnyDb) {
    let area = |code: &str, name: &str, parent: &str, level: &str| Area {
        code: code.into(),
        name: name.into(),
        parent: Some(parent.into()),
        level: level.into(),
    };
    db.upsert_areas(&[
        area(TOWNSHIP, "诗礼乡", "530921", "township"),
        area(V1, "三合村", TOWNSHIP, "village"),
        area(V2, "孔兴村", TOWNSHIP, "village"),
    ])
    .await
    .expect("areas");
}

/// Four households: A (poor, 3 persons, new entry in 公示), B (exited, 4, exit proposed),
/// C (relapsed, 2, relapse passed the township check), D (ordinary, 1, nothing).
fn township() -> Vec<(String, HouseholdDoc)> {
    vec![
        household(V1, Some(HouseholdStatus::NotExited), 3, 1, |e| {
            case_through(
                e,
                CaseKind::NewEntry,
                Some(CaseOrigin::Screening),
                Some(ProcedureStep::Publicity),
            )
            .map(drop)
        }),
        household(V1, Some(HouseholdStatus::ExitedSupported), 4, 2, |e| {
            case_through(e, CaseKind::Exit, Some(CaseOrigin::Application), None).map(drop)
        }),
        household(V2, Some(HouseholdStatus::Relapsed), 2, 3, |e| {
            case_through(
                e,
                CaseKind::Relapse,
                None,
                Some(ProcedureStep::TownshipReview),
            )
            .map(drop)
        }),
        household(V2, Some(HouseholdStatus::Ordinary), 1, 4, |_| Ok(())),
    ]
}

async fn report_of(db: &AnyDb, area: &str) -> report::Report {
    let q = ReportQuery::over_period(area, today() - TimeDelta::days(30), today(), today());
    zoufang_server::review::counted_report(db, &q)
        .await
        .expect("report")
}

fn hp(households: i64, persons: i64) -> Hp {
    Hp {
        households,
        persons,
    }
}

fn bucket_of(r: &report::Section, kind: CaseKind, b: Bucket) -> Hp {
    let line = r
        .by_case
        .iter()
        .find(|l| l.kind == kind.code())
        .expect("kind");
    line.buckets[Bucket::ALL.iter().position(|x| *x == b).expect("bucket")]
}

fn status_of(r: &report::Section, code: &str) -> Hp {
    r.by_status
        .iter()
        .find(|l| l.code == code)
        .expect("status")
        .count
}

fn roster_filter(area: &str) -> RosterFilter {
    RosterFilter {
        area: area.into(),
        limit: 100,
        ..RosterFilter::default()
    }
}

async fn report_and_drill_down(url: String) {
    let db = open(&url).await;
    with_areas(&db).await;
    let mut docs = township();
    store(&db, &mut docs).await;

    let r = report_of(&db, TOWNSHIP).await;
    assert_eq!(r.total.all, hp(4, 10));
    assert_eq!(status_of(&r.total, "not_exited"), hp(1, 3));
    assert_eq!(status_of(&r.total, "exited_supported"), hp(1, 4));
    assert_eq!(status_of(&r.total, "relapsed"), hp(1, 2));
    assert_eq!(
        bucket_of(&r.total, CaseKind::NewEntry, Bucket::PublicityRunning),
        hp(1, 3)
    );
    assert_eq!(
        bucket_of(&r.total, CaseKind::Exit, Bucket::Proposed),
        hp(1, 4)
    );
    assert_eq!(
        bucket_of(&r.total, CaseKind::Relapse, Bucket::TownshipReview),
        hp(1, 2)
    );
    assert_eq!(r.total.rates.missed, hp(1, 3));
    assert_eq!(r.children.len(), 2);
    assert_eq!(r.children[0].all, hp(2, 7));
    assert_eq!(r.children[1].all, hp(2, 3));

    // Drill down: the households behind a number.
    let mut f = roster_filter(TOWNSHIP);
    f.case = Some(CaseFilter {
        kind: Some(CaseKind::NewEntry.code().into()),
        bucket: Some(Bucket::PublicityRunning),
        window: CaseWindow::Period {
            from: today() - TimeDelta::days(30),
            to: today(),
        },
        today: today(),
        missed: false,
        objected: false,
    });
    let rows = db.roster(&f).await.expect("roster");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].id, docs[0].0);
    assert_eq!(rows[0].persons, 3);
    assert_eq!(db.roster_count(&f).await.expect("count"), (1, 3));

    // Cases filed before rounds existed count in their year's round: the rounds of the last
    // two years hold exactly the cases proposed in those two years.
    let year = today().year();
    let mut by_round = Vec::new();
    for y in [year - 1, year] {
        let round = CaseWindow::Round(zoufang_shared::rounds::year_round_id(y));
        by_round.extend(
            db.case_counts(TOWNSHIP, &round, today())
                .await
                .expect("round"),
        );
    }
    let years = CaseWindow::Period {
        from: NaiveDate::from_ymd_opt(year - 1, 1, 1).expect("date"),
        to: NaiveDate::from_ymd_opt(year, 12, 31).expect("date"),
    };
    let mut by_period = db
        .case_counts(TOWNSHIP, &years, today())
        .await
        .expect("period");
    let key = |c: &report::CaseCount| format!("{c:?}");
    by_round.sort_by_key(key);
    by_period.sort_by_key(key);
    assert!(!by_period.is_empty());
    assert_eq!(by_round, by_period);
    let none = CaseWindow::Round("no-such-round".into());
    assert!(
        db.case_counts(TOWNSHIP, &none, today())
            .await
            .expect("none")
            .is_empty()
    );

    let mut f = roster_filter(TOWNSHIP);
    f.status = Some("relapsed".into());
    let rows = db.roster(&f).await.expect("roster");
    assert_eq!(rows.iter().map(|r| &r.id).collect::<Vec<_>>(), [&docs[2].0]);

    // Paging by key visits every household once, in (area, id) order.
    let mut f = roster_filter(TOWNSHIP);
    f.limit = 3;
    let first = db.roster(&f).await.expect("page 1");
    let last = first.last().expect("a row");
    f.after = Some((last.area_code.clone(), last.id.clone()));
    let second = db.roster(&f).await.expect("page 2");
    assert_eq!((first.len(), second.len()), (3, 1));
    let mut all: Vec<String> = first.iter().chain(&second).map(|r| r.id.clone()).collect();
    all.dedup();
    assert_eq!(all.len(), 4);

    // A village is its own area.
    let r = report_of(&db, V2).await;
    assert_eq!(r.total.all, hp(2, 3));
    assert!(r.children.is_empty());
}

#[tokio::test]
async fn report_and_drill_down_sqlite() {
    with_sqlite(report_and_drill_down).await;
}

#[tokio::test]
async fn report_and_drill_down_postgres() {
    with_pg(report_and_drill_down).await;
}

/// A visit made today, in person.
fn a_visit() -> Visit {
    Visit {
        date: today(),
        visitor: "张调查".into(),
        visitor_user: None,
        mode: VisitMode::InPerson,
        household_present: Some(true),
        notes: String::new(),
        policies_known: String::new(),
        satisfaction: Some(Satisfaction::Satisfied),
        attachments: Default::default(),
    }
}

async fn rebuild_is_identical(url: String) {
    let db = open(&url).await;
    with_areas(&db).await;
    let mut docs = township();
    // An edit after the first write: the projection follows the latest document.
    store(&db, &mut docs[..2]).await;
    let (id, doc) = &mut docs[0];
    doc.edit(&author(), |e| e.add_visit(&a_visit()).map(drop))
        .expect("visit");
    store_again(&db, id, doc).await;
    store(&db, &mut docs[2..]).await;

    let before = db.dump_projection().await.expect("dump");
    assert!(before.iter().any(|r| r.starts_with("p_visits: ")));
    wipe_projection(&url).await;
    assert!(db.dump_projection().await.expect("dump").is_empty());
    let done = reindex(&db).await.expect("reindex");
    assert_eq!(done.households, 4);
    assert!(done.unreadable.is_empty());
    assert_eq!(db.dump_projection().await.expect("dump"), before);

    // In parallel, a household per page: the same tables.
    wipe_projection(&url).await;
    let done = reindex_with(&db, 3, 1).await.expect("parallel reindex");
    assert_eq!((done.households, done.moved), (4, 0));
    assert_eq!(db.dump_projection().await.expect("dump"), before);
}

async fn wipe_projection(url: &str) {
    for t in zoufang_server::projection::TABLES {
        execute(url, &format!("DELETE FROM {}", t.name)).await;
    }
}

#[tokio::test]
async fn rebuild_is_identical_sqlite() {
    with_sqlite(rebuild_is_identical).await;
}

/// A later write of a household rewrites only the tables whose rows changed, and of those only
/// the rows that changed: member rows altered behind the projection's back stay as they are
/// through a visit (members untouched) and through an edit of one member (its row alone is
/// written again), and a visit added writes its own row, leaving the earlier visits' rows be.
async fn unchanged_tables_are_not_rewritten(url: String) {
    let db = open(&url).await;
    with_areas(&db).await;
    let mut docs = township();
    store(&db, &mut docs[..1]).await;
    let (id, doc) = &mut docs[0];
    let stored = db.households(std::slice::from_ref(id)).await.expect("read");
    assert!(stored[0].projected.is_some(), "the digest is kept");
    let tamper = format!("UPDATE p_members SET name = 'tampered' WHERE household_id = '{id}'");
    let tampered = || {
        count(
            &url,
            "SELECT count(*) FROM p_members WHERE name = 'tampered'",
        )
    };
    let members = execute(&url, &tamper).await as i64;
    assert!(members > 0);
    assert_eq!(tampered().await, members);

    doc.edit(&author(), |e| e.add_visit(&a_visit()).map(drop))
        .expect("visit");
    store_again(&db, id, doc).await;
    assert_eq!(tampered().await, members, "members not rewritten");

    rename_first_member(doc, "李新名");
    store_again(&db, id, doc).await;
    assert_eq!(
        tampered().await,
        members - 1,
        "the renamed member's row rewritten, no other"
    );
    assert_eq!(
        count(&url, "SELECT count(*) FROM p_members WHERE name = '李新名'").await,
        1
    );

    let visits = || count(&url, "SELECT count(*) FROM p_visits");
    let before = visits().await;
    assert!(before > 0, "the visit above");
    execute(&url, "UPDATE p_visits SET visitor = 'tampered'").await;
    doc.edit(&author(), |e| e.add_visit(&a_visit()).map(drop))
        .expect("another visit");
    store_again(&db, id, doc).await;
    assert_eq!(visits().await, before + 1);
    assert_eq!(
        count(
            &url,
            "SELECT count(*) FROM p_visits WHERE visitor = 'tampered'"
        )
        .await,
        before,
        "the earlier visits' rows not rewritten"
    );
    // A rebuild trusts no hash: every row is written anew.
    let done = reindex(&db).await.expect("reindex");
    assert!(done.households >= 1);
    assert_eq!(tampered().await, 0, "a rebuild puts every row right");

    // Rows written before row hashes were kept (migration 0017) have none: the next write of
    // their table replaces them all.
    execute(&url, &tamper).await;
    execute(&url, "UPDATE p_members SET row_hash = NULL").await;
    rename_first_member(doc, "王再改");
    store_again(&db, id, doc).await;
    assert_eq!(tampered().await, 0, "rows without a hash rewritten");
}

/// Every projection row and the digest of a household lie in its county (migration 0018), and
/// a move to another county takes them along: none stays behind under the old county, the new
/// county has them all, and the next write there trusts the digest it finds there.
async fn a_move_to_another_county_takes_its_rows(url: String) {
    let db = open(&url).await;
    with_areas(&db).await;
    let mut docs = township();
    store(&db, &mut docs[..1]).await;
    let (id, doc) = &mut docs[0];
    let rows_in = |county: &'static str| {
        let url = url.clone();
        let id = id.clone();
        async move {
            let mut n = 0;
            for t in zoufang_server::projection::TABLES {
                let key = t.columns[0];
                n += count(
                    &url,
                    &format!(
                        "SELECT count(*) FROM {} WHERE county = '{county}' AND {key} = '{id}'",
                        t.name
                    ),
                )
                .await;
            }
            let digests = count(
                &url,
                &format!(
                    "SELECT count(*) FROM p_digests WHERE county = '{county}' \
                     AND household_id = '{id}'"
                ),
            )
            .await;
            let household = count(
                &url,
                &format!(
                    "SELECT count(*) FROM households WHERE county = '{county}' AND id = '{id}'"
                ),
            )
            .await;
            (n, digests, household)
        }
    };
    let (rows, digests, household) = rows_in("530921").await;
    assert!(rows > 3, "the household, its members and more: {rows}");
    assert_eq!((digests, household), (1, 1));

    doc.edit(&author(), |e| {
        let mut info = e.household()?.info;
        info.area_code = Some("530922100101".into());
        e.set_info(&info)
    })
    .expect("move");
    store_again(&db, id, doc).await;
    assert_eq!(rows_in("530921").await, (0, 0, 0), "nothing left behind");
    let (moved, digests, household) = rows_in("530922").await;
    assert_eq!((moved, digests, household), (rows, 1, 1));
    assert_eq!(
        db.households(std::slice::from_ref(id)).await.expect("read")[0].area_code,
        "530922100101"
    );

    // Written again in its new county, on the digest kept there: unchanged tables stay.
    let tamper = format!("UPDATE p_members SET name = 'tampered' WHERE household_id = '{id}'");
    let members = execute(&url, &tamper).await as i64;
    doc.edit(&author(), |e| e.add_visit(&a_visit()).map(drop))
        .expect("visit");
    store_again(&db, id, doc).await;
    assert_eq!(
        count(
            &url,
            "SELECT count(*) FROM p_members WHERE name = 'tampered'"
        )
        .await,
        members,
        "members not rewritten"
    );
    assert_eq!(rows_in("530921").await, (0, 0, 0));
}

#[tokio::test]
async fn a_move_to_another_county_takes_its_rows_sqlite() {
    with_sqlite(a_move_to_another_county_takes_its_rows).await;
}

#[tokio::test]
async fn a_move_to_another_county_takes_its_rows_postgres() {
    with_pg(a_move_to_another_county_takes_its_rows).await;
}

fn rename_first_member(doc: &mut HouseholdDoc, name: &str) {
    doc.edit(&author(), |e| {
        let (mid, mut m) = e.household()?.members.into_iter().next().expect("a member");
        m.name = name.into();
        e.update_member(&mid, &m)
    })
    .expect("rename");
}

/// A statement on the test database behind the storage layer's back; its rows affected.
async fn execute(url: &str, sql: &str) -> u64 {
    use sqlx::Connection;
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    if url.starts_with("postgres") {
        let mut c = sqlx::PgConnection::connect(url).await.expect("connect");
        sqlx::query(sql)
            .execute(&mut c)
            .await
            .map(|r| r.rows_affected())
    } else {
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{url}"))
            .await
            .expect("connect");
        sqlx::query(sql)
            .execute(&mut c)
            .await
            .map(|r| r.rows_affected())
    }
    .expect("execute")
}

/// A count on the test database.
async fn count(url: &str, sql: &str) -> i64 {
    use sqlx::Connection;
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    if url.starts_with("postgres") {
        let mut c = sqlx::PgConnection::connect(url).await.expect("connect");
        sqlx::query_scalar(sql).fetch_one(&mut c).await
    } else {
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{url}"))
            .await
            .expect("connect");
        sqlx::query_scalar(sql).fetch_one(&mut c).await
    }
    .expect("count")
}

#[tokio::test]
async fn unchanged_tables_are_not_rewritten_sqlite() {
    with_sqlite(unchanged_tables_are_not_rewritten).await;
}

#[tokio::test]
async fn unchanged_tables_are_not_rewritten_postgres() {
    with_pg(unchanged_tables_are_not_rewritten).await;
}

#[tokio::test]
async fn rebuild_is_identical_postgres() {
    with_pg(rebuild_is_identical).await;
}

async fn cross_household_checks(url: String) {
    let db = open(&url).await;
    with_areas(&db).await;
    let helper = Helper {
        name: "刘帮扶".into(),
        unit: Some("县交通局".into()),
        ..Helper::default()
    };
    // Six households share one helper; two of them share a person (seq 7 and 7).
    let mut docs: Vec<(String, HouseholdDoc)> = (0..6)
        .map(|i| {
            let seq = if i == 5 { 7 } else { 20 + i };
            let area = if i % 2 == 0 { V1 } else { V2 };
            let helper = helper.clone();
            household(area, Some(HouseholdStatus::NotExited), 2, seq, move |e| {
                e.put_helper(&HelperId::random(), &helper)
            })
        })
        .collect();
    docs.push(household(V2, Some(HouseholdStatus::Edge), 1, 7, |_| Ok(())));
    store(&db, &mut docs).await;

    let dups = db.duplicate_ids(TOWNSHIP).await.expect("duplicates");
    let holders: Vec<&str> = dups.iter().map(|d| d.household_id.as_str()).collect();
    assert_eq!(dups.len(), 2, "{dups:?}");
    assert!(holders.contains(&docs[5].0.as_str()) && holders.contains(&docs[6].0.as_str()));
    assert!(db.duplicate_ids(V1).await.expect("v1").is_empty() || V1 == V2);

    let busy = db.busy_helpers(TOWNSHIP, 5).await.expect("helpers");
    assert_eq!(busy.len(), 1);
    assert_eq!((busy[0].name.as_str(), busy[0].households), ("刘帮扶", 6));
    assert!(
        db.busy_helpers(TOWNSHIP, 6)
            .await
            .expect("helpers")
            .is_empty()
    );
    let mut f = roster_filter(TOWNSHIP);
    f.helper_key = Some(busy[0].helper_key.clone());
    assert_eq!(db.roster_count(&f).await.expect("count").0, 6);

    // No visit recorded anywhere: every registered household is overdue, the edge one too
    // (边缘户 is not registered, so it is not).
    let mut f = roster_filter(TOWNSHIP);
    f.not_visited_since = Some(today() - TimeDelta::days(7));
    assert_eq!(db.roster_count(&f).await.expect("count").0, 6);

    // Two devices set one field concurrently: the queue lists it.
    let (id, doc) = &mut docs[0];
    let mut other = doc.fork(ActorId::random());
    doc.edit(&author(), |e| {
        e.set_field("living.house_grade", serde_json::json!("c"))
    })
    .expect("edit");
    other
        .edit(&ChangeAuthor::new("li", "dev-2", Utc::now()), |e| {
            e.set_field("living.house_grade", serde_json::json!("d"))
        })
        .expect("edit");
    doc.merge(&mut other).expect("merge");
    store_again(&db, id, doc).await;
    let queue = db.conflict_queue(TOWNSHIP, 100).await.expect("queue");
    assert_eq!(queue.len(), 1, "{queue:?}");
    assert_eq!(
        (queue[0].path.as_str(), queue[0].n_values),
        ("living.house_grade", 2)
    );
    let mut f = roster_filter(TOWNSHIP);
    f.conflicted = true;
    assert_eq!(db.roster_count(&f).await.expect("count").0, 1);
}

#[tokio::test]
async fn cross_household_checks_sqlite() {
    with_sqlite(cross_household_checks).await;
}

#[tokio::test]
async fn cross_household_checks_postgres() {
    with_pg(cross_household_checks).await;
}

fn user(
    username: &str,
    role: zoufang_server::storage::Role,
    area: &str,
) -> zoufang_server::storage::User {
    zoufang_server::storage::User {
        id: 1,
        username: username.into(),
        display_name: username.into(),
        password_hash: String::new(),
        role,
        disabled: false,
        areas: vec![area.into()],
    }
}

async fn spot_checks_are_drawn_once_and_recorded(url: String) {
    use zoufang_server::review::{Review, ReviewError};
    use zoufang_server::storage::Role;
    let db = open(&url).await;
    with_areas(&db).await;
    let mut docs: Vec<(String, HouseholdDoc)> = (0..12)
        .map(|i| {
            let area = if i < 8 { V1 } else { V2 };
            household(
                area,
                Some(HouseholdStatus::NotExited),
                1,
                40 + i,
                |_| Ok(()),
            )
        })
        .collect();
    store(&db, &mut docs).await;
    let inspector = user("zhao", Role::CountySupervisor, "530921");
    let inspector = Review::over(db.clone(), db.clone(), inspector);
    let day = today();
    let first = inspector
        .spot_sample(TOWNSHIP, day, 4, "salt")
        .await
        .expect("draw");
    assert_eq!(first.len(), 4);
    // Stratified: both villages are in the sample (8 and 4 households: 3 and 1 of 4).
    let in_v2 = first.iter().filter(|s| s.village == V2).count();
    assert_eq!(in_v2, 1, "{first:?}");
    // The day's sample is fixed: asking again (even for more) shows the same list.
    let again = inspector
        .spot_sample(TOWNSHIP, day, 10, "salt")
        .await
        .expect("again");
    assert_eq!(again, first);
    // A township reviewer sees the list but cannot draw or record.
    let reviewer = user("wang", Role::TownshipReviewer, TOWNSHIP);
    let reviewer = Review::over(db.clone(), db.clone(), reviewer);
    let next_day = day + TimeDelta::days(1);
    assert!(
        reviewer
            .spot_sample(TOWNSHIP, next_day, 4, "salt")
            .await
            .expect("view")
            .is_empty()
    );
    let hh = first[0].household_id.clone();
    assert!(matches!(
        reviewer.record_spot(TOWNSHIP, day, &hh, "ok", "").await,
        Err(ReviewError::Forbidden(_))
    ));
    inspector
        .record_spot(TOWNSHIP, day, &hh, "problem", "门牌不符")
        .await
        .expect("record");
    let stored = db
        .spot_checks(TOWNSHIP, &day.to_string())
        .await
        .expect("read");
    let row = stored.iter().find(|s| s.household_id == hh).expect("row");
    assert_eq!(
        (
            row.result.as_deref(),
            row.note.as_deref(),
            row.checked_by.as_deref()
        ),
        (Some("problem"), Some("门牌不符"), Some("zhao"))
    );
    // A household not in the sample is not recordable.
    let outside = docs
        .iter()
        .map(|(id, _)| id.clone())
        .find(|id| !first.iter().any(|s| &s.household_id == id))
        .expect("one not drawn");
    assert!(matches!(
        inspector
            .record_spot(TOWNSHIP, day, &outside, "ok", "")
            .await,
        Err(ReviewError::NotFound)
    ));
}

#[tokio::test]
async fn spot_checks_are_drawn_once_and_recorded_sqlite() {
    with_sqlite(spot_checks_are_drawn_once_and_recorded).await;
}

#[tokio::test]
async fn spot_checks_are_drawn_once_and_recorded_postgres() {
    with_pg(spot_checks_are_drawn_once_and_recorded).await;
}
