use super::*;

fn day(s: &str) -> NaiveDate {
    s.parse().expect("date")
}

fn area(code: &str, name: &str, parent: Option<&str>, level: &str) -> Area {
    Area {
        code: code.into(),
        name: name.into(),
        parent: parent.map(Into::into),
        level: level.into(),
    }
}

fn areas() -> Vec<Area> {
    vec![
        area("530921100", "诗礼乡", Some("530921"), "township"),
        area("530921100201", "三合村", Some("530921100"), "village"),
        area("530921100202", "孔兴村", Some("530921100"), "village"),
    ]
}

fn status(area: &str, s: Option<&str>, m: Option<&str>, h: i64, p: i64) -> StatusCount {
    StatusCount {
        area_code: area.into(),
        status: s.map(Into::into),
        monitoring: m.map(Into::into),
        households: h,
        persons: p,
    }
}

/// A case count at `stage`, written `stage` or `stage/step`; the rare origin and running
/// publicity are set with struct update syntax where a test needs them.
fn case(area: &str, kind: &str, stage: &str, h: i64, p: i64) -> CaseCount {
    let (stage, step) = match stage.split_once('/') {
        Some((stage, step)) => (stage, Some(step)),
        None => (stage, None),
    };
    CaseCount {
        area_code: area.into(),
        kind: kind.into(),
        origin: None,
        stage: stage.into(),
        stage_step: step.map(Into::into),
        publicity_running: 0,
        objected: 0,
        households: h,
        persons: p,
    }
}

/// The report of the test areas over [`query`]'s period.
fn report(statuses: &[StatusCount], cases: &[CaseCount], moves: &[RegisterMove]) -> Report {
    build(
        &query(),
        &areas(),
        Counts {
            statuses,
            cases,
            moves,
        },
    )
}

fn query() -> ReportQuery {
    ReportQuery::over_period(
        "530921100",
        day("2026-01-01"),
        day("2026-12-31"),
        day("2026-11-25"),
    )
}

fn hp(households: i64, persons: i64) -> Hp {
    Hp {
        households,
        persons,
    }
}

fn status_line<'a>(s: &'a Section, code: &str) -> &'a Line {
    s.by_status.iter().find(|l| l.code == code).expect("line")
}

fn case_line<'a>(s: &'a Section, kind: &str) -> &'a CaseLine {
    s.by_case.iter().find(|l| l.kind == kind).expect("kind")
}

fn bucket(l: &CaseLine, b: Bucket) -> Hp {
    l.buckets[Bucket::ALL.iter().position(|x| *x == b).expect("bucket")]
}

#[test]
fn counts_split_by_village_and_add_up() {
    let statuses = [
        status("530921100201", Some("not_exited"), None, 3, 11),
        status(
            "530921100201",
            Some("exited_supported"),
            Some("unstable_exited"),
            2,
            7,
        ),
        status("530921100202", Some("not_exited"), None, 1, 4),
        status("530921100202", Some("ordinary"), None, 4, 12),
    ];
    let r = report(&statuses, &[], &[]);
    assert_eq!(r.total.all, hp(10, 34));
    assert_eq!(status_line(&r.total, "not_exited").count, hp(4, 15));
    assert_eq!(status_line(&r.total, "unstable_exited").count, hp(2, 7));
    assert_eq!(
        r.children.len(),
        2,
        "no direct row when none is filed directly"
    );
    assert_eq!(r.children[0].area_name, "三合村");
    assert_eq!(status_line(&r.children[0], "not_exited").count, hp(3, 11));
    assert_eq!(status_line(&r.children[1], "ordinary").count, hp(4, 12));
    // 贫困发生率: 15 persons of 34.
    let incidence = r.total.rates.poverty_incidence.expect("rate");
    assert!((incidence - 15.0 / 34.0).abs() < 1e-12);
}

#[test]
fn cases_fall_in_procedure_buckets() {
    let cases = [
        case("530921100201", "exit", "proposed", 1, 4),
        CaseCount {
            publicity_running: 1,
            ..case("530921100201", "exit", "passed/publicity", 2, 6)
        },
        case("530921100202", "exit", "passed/publicity", 1, 3),
        case("530921100202", "exit", "returned/township_review", 1, 2),
        CaseCount {
            origin: Some("screening".into()),
            ..case("530921100202", "new_entry", "passed/announcement", 2, 5)
        },
        CaseCount {
            origin: Some("application".into()),
            ..case("530921100202", "new_entry", "rejected/deliberation", 1, 1)
        },
    ];
    let r = report(&[], &cases, &[]);
    let exit = case_line(&r.total, "exit");
    assert_eq!(exit.total, hp(5, 15));
    assert_eq!(bucket(exit, Bucket::Proposed), hp(1, 4));
    assert_eq!(bucket(exit, Bucket::PublicityRunning), hp(2, 6));
    assert_eq!(bucket(exit, Bucket::PublicityDone), hp(1, 3));
    assert_eq!(bucket(exit, Bucket::Returned), hp(1, 2));
    let new = case_line(&r.total, "new_entry");
    assert_eq!(bucket(new, Bucket::Announced), hp(2, 5));
    assert_eq!(bucket(new, Bucket::Rejected), hp(1, 1));
    assert_eq!(
        r.total.rates.missed,
        hp(2, 5),
        "only screening finds count as 漏评"
    );
    assert_eq!(case_line(&r.children[0], "exit").total, hp(3, 10));
}

#[test]
fn rates_leave_rejected_cases_out() {
    let statuses = [
        status("530921100201", Some("not_exited"), None, 50, 200),
        status("530921100201", Some("exited_supported"), None, 50, 180),
    ];
    let cases = [
        case(
            "530921100201",
            "wrong_entry_removal",
            "passed/county_decision",
            5,
            20,
        ),
        case(
            "530921100201",
            "wrong_entry_removal",
            "rejected/township_review",
            3,
            9,
        ),
        case("530921100201", "wrongful_exit", "proposed", 1, 3),
    ];
    let r = report(&statuses, &cases, &[]);
    // 错评 applies to the 50 households registered as poor, 错退 to the 50 exited ones.
    assert_eq!(r.total.rates.wrong_entry, Some(0.1));
    assert_eq!(r.total.rates.wrongful_exit, Some(0.02));
    let removal = case_line(&r.total, "wrong_entry_removal");
    assert_eq!(removal.total, hp(5, 20), "the rejected case is in no 合计");
    assert_eq!(
        removal.buckets[Bucket::ALL.len() - 1],
        hp(3, 9),
        "but in its own column"
    );
}

#[test]
fn seed_001_rates_have_the_denominators_the_county_uses() {
    // 诗礼乡 (seed 001): 1,415 households registered as poor (未脱贫 and 返贫), 1,667 exited;
    // the 精准核查 found 74 错评 and 1 错退: 5.23 % and 0.06 %.
    let statuses = [
        status("530921100201", Some("not_exited"), None, 1_404, 5_300),
        status("530921100201", Some("relapsed"), None, 11, 47),
        status("530921100201", Some("exited_supported"), None, 1_600, 6_000),
        status("530921100201", Some("exited_unsupported"), None, 67, 298),
    ];
    let cases = [
        case(
            "530921100201",
            "wrong_entry_removal",
            "passed/county_decision",
            74,
            324,
        ),
        case(
            "530921100201",
            "wrongful_exit",
            "passed/township_review",
            1,
            4,
        ),
    ];
    let r = report(&statuses, &cases, &[]);
    let b = r.total.basis;
    assert_eq!((b.wrong_entry.part, b.wrong_entry.whole), (74, 1_415));
    assert_eq!((b.wrongful_exit.part, b.wrongful_exit.whole), (1, 1_667));
    let percent = |v: Option<f64>| format!("{:.2}", v.unwrap_or(f64::NAN) * 100.0);
    assert_eq!(percent(r.total.rates.wrong_entry), "5.23");
    assert_eq!(percent(r.total.rates.wrongful_exit), "0.06");
    assert_eq!(
        (b.poverty_incidence.part, b.poverty_incidence.whole),
        (5_347, 11_645)
    );
}

#[test]
fn rates_count_the_register_at_the_start_once_decisions_move_it() {
    // After 公告 of 74 whole-household 错评 (poor → out), 7 exits (poor → exited) and one 错退
    // (exited → poor) in 三合村, and one 返贫 in 孔兴村: the register now is 1,415 − 74 − 7 + 1
    // poor and 1,667 + 7 − 1 − 1 exited; the moves recorded put the start back, per village too.
    let statuses = [
        status("530921100201", Some("not_exited"), None, 1_335, 5_000),
        status("530921100202", Some("relapsed"), None, 1, 2),
        status("530921100201", Some("exited_supported"), None, 1_672, 6_300),
        status("530921100201", Some("ordinary"), None, 74, 324),
    ];
    let moves = [
        RegisterMove {
            area_code: "530921100201".into(),
            poor: -74 - 7 + 1,
            exited: 7 - 1,
        },
        RegisterMove {
            area_code: "530921100202".into(),
            poor: 1,
            exited: -1,
        },
    ];
    let cases = [case(
        "530921100201",
        "wrong_entry_removal",
        "passed/announcement",
        74,
        324,
    )];
    let r = report(&statuses, &cases, &moves);
    let b = r.total.basis;
    assert_eq!((b.wrong_entry.part, b.wrong_entry.whole), (74, 1_415));
    assert_eq!(b.wrongful_exit.whole, 1_667);
    let kongxing = &r.children[1].basis;
    assert_eq!(
        (kongxing.wrong_entry.whole, kongxing.wrongful_exit.whole),
        (0, 1),
        "孔兴村 had one exited household and no poor one at the start"
    );
    // The status lines are today's.
    assert_eq!(status_line(&r.total, "not_exited").count, hp(1_335, 5_000));
}

#[test]
fn households_filed_on_the_area_itself_get_their_own_row() {
    let statuses = [
        status("530921100201", Some("not_exited"), None, 1, 2),
        status("530921100", Some("edge"), None, 1, 3),
    ];
    let r = report(&statuses, &[], &[]);
    assert_eq!(r.children.len(), 3);
    assert_eq!(r.children[2].area_name, "诗礼乡(直属)");
    assert_eq!(status_line(&r.children[2], "edge").count, hp(1, 3));
    assert_eq!(r.total.rates.wrong_entry, Some(0.0));
    assert_eq!(
        r.total.rates.wrongful_exit, None,
        "no exited household: no rate"
    );
}

#[test]
fn bucket_codes_round_trip_and_conditions_name_the_step() {
    for b in Bucket::ALL {
        assert_eq!(Bucket::parse(b.code()), Some(b));
    }
    let (sql, binds_today) = Bucket::PublicityRunning.condition();
    assert!(sql.contains("'publicity'") && binds_today, "{sql}");
    assert!(!Bucket::Announced.condition().1);
}
