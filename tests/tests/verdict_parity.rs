//! A device and the server give the same verdict (issue 18): 200 generated households, each
//! judged in one of the years 2014–2026, are surveyed on a real device, synced to a real server,
//! and the device's verdict for every one of them (each criterion, the line it applied, its
//! amount and any notice about it) must be the server's, as its review API shows the
//! projection's verdict and as its roster lists the failed criteria. SQLite and PostgreSQL.
//!
//! The households are drawn from a seed (`zoufang_shared::rng`), so a failure names a roster
//! that can be made again. Incomes sit around the line of their year and 识别标准 (far below,
//! one fen below, at, one fen above, far above), so a device and a server that disagree on the
//! line, its amount or the rounding of a per-capita figure cannot agree by chance.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Instant;

use chrono::{Days, Months, NaiveDate};
use serde_json::{Value, json};
use zoufang_e2e::areas::{SHILI, today};
use zoufang_e2e::review::Reviewer;
use zoufang_e2e::survey::{client_api, exit_ready_form, save_form};
use zoufang_e2e::{ClientProcess, Device, ServerProcess, TestDb, zoufang_server};
use zoufang_shared::codes::StandardLevel;
use zoufang_shared::demo::id_number;
use zoufang_shared::money::Fen;
use zoufang_shared::rng::{Draw, SplitMix64};
use zoufang_shared::rules::standards::{StandardKind, Standards};

const SEED: u64 = 18;
const HOUSEHOLDS: usize = 200;
const FIRST_YEAR: i32 = 2014;
const LAST_YEAR: i32 = 2026;
const VILLAGES: [(&str, &str); 3] = [
    ("530921100201", "三合村"),
    ("530921100202", "孔兴村"),
    ("530921100203", "河平村"),
];

/// The built-in table plus lines of the county's own: a provincial line that starts in 2016 and
/// changes in 2022 and a municipal one from 2019, so 省定 and 市定 households meet their own
/// line, an earlier one carried on, and the national line before theirs begins.
fn county_table() -> String {
    let mut table: Vec<Value> =
        serde_json::from_str(Standards::builtin_json()).expect("built-in table");
    for (year, level, region, amount) in [
        (2016, "provincial", "云南省", 3100),
        (2022, "provincial", "云南省", 4600),
        (2019, "municipal", "临沧市", 3500),
    ] {
        table.push(json!({
            "year": year, "level": level, "region": region, "kind": "poverty_line",
            "amount_yuan": amount, "source": format!("测试县:{region} {year} 年收入线(测试数据)"),
        }));
    }
    serde_json::to_string_pretty(&table).expect("json")
}

/// 识别标准 as recorded: the level and the province or city it names.
#[derive(Debug, Clone, Copy)]
enum Level {
    /// Nothing recorded: held to the national line.
    Unrecorded,
    National,
    Provincial,
    Municipal,
    /// 省定 with no province recorded: no line can apply.
    ProvincialNoProvince,
}

impl Level {
    fn standard(self) -> (StandardLevel, Option<&'static str>) {
        match self {
            Level::Unrecorded | Level::National => (StandardLevel::National, None),
            Level::Provincial => (StandardLevel::Provincial, Some("云南省")),
            Level::Municipal => (StandardLevel::Municipal, Some("临沧市")),
            Level::ProvincialNoProvince => (StandardLevel::Provincial, None),
        }
    }
}

/// Where the per-capita net income sits against the line.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Position {
    FarBelow,
    JustBelow,
    At,
    JustAbove,
    FarAbove,
}

const POSITIONS: [Position; 5] = [
    Position::FarBelow,
    Position::JustBelow,
    Position::At,
    Position::JustAbove,
    Position::FarAbove,
];

/// A child as the form records their schooling.
#[derive(Debug, Clone, Copy)]
struct Child {
    age: u32,
    school: Option<&'static str>,
    dropout: Option<&'static str>,
}

const CHILDREN: [Child; 8] = [
    Child {
        age: 3,
        school: None,
        dropout: None,
    },
    Child {
        age: 9,
        school: Some("primary"),
        dropout: None,
    },
    Child {
        age: 14,
        school: Some("junior"),
        dropout: None,
    },
    // Out of compulsory school: fails, unless for a physical reason.
    Child {
        age: 11,
        school: None,
        dropout: None,
    },
    Child {
        age: 15,
        school: None,
        dropout: Some("family_hardship"),
    },
    Child {
        age: 13,
        school: None,
        dropout: Some("illness"),
    },
    // In school at a stage that does not fit the age.
    Child {
        age: 8,
        school: Some("senior"),
        dropout: None,
    },
    Child {
        age: 19,
        school: None,
        dropout: None,
    },
];

/// Form fields and the value each is given (`None`: left unanswered).
type Fields = &'static [(&'static str, Option<&'static str>)];

/// The house, weighted: safe, dangerous and unanswered, dangerous but renovated or left.
const HOUSES: [(Fields, u32); 6] = [
    (&[("living.house_grade", Some("a"))], 3),
    (&[("living.house_grade", Some("b"))], 3),
    (
        &[
            ("living.house_grade", Some("c")),
            ("living.house_renovated", Some("false")),
        ],
        1,
    ),
    (&[("living.house_grade", Some("d"))], 1),
    (
        &[
            ("living.house_grade", Some("c")),
            ("living.house_renovated", Some("true")),
        ],
        1,
    ),
    (
        &[
            ("living.house_grade", Some("d")),
            ("living.moved_out", Some("true")),
        ],
        1,
    ),
];

/// Departures from safe water, weighted; 25 litres is enough in a dry area only.
const WATER: [(Fields, u32); 6] = [
    (&[], 6),
    (&[("water.litres_per_person_day", Some("25"))], 1),
    (
        &[
            ("water.litres_per_person_day", Some("25")),
            ("water.dry_area", Some("true")),
        ],
        1,
    ),
    (&[("water.trip_minutes", Some("30"))], 1),
    (&[("water.cut_days_per_year", Some("40"))], 1),
    (&[("water.quality_tested", Some("false"))], 1),
];

/// One generated household.
#[derive(Debug)]
struct Plan {
    /// 户编号; the household's id is `hh-` and this.
    no: String,
    village: &'static str,
    /// The year it is judged in: its latest income year.
    year: i32,
    /// The 年度 recorded, when one is: mostly `year`, sometimes the next round's.
    survey_year: Option<i32>,
    level: Level,
    position: Position,
    /// Net income of the year, fen: wage + planting + 低保 − production costs.
    wage: Fen,
    planting: Fen,
    dibao: Fen,
    cost: Fen,
    /// A wage-only income recorded for an earlier year, which the verdict must not use.
    earlier: Option<(i32, Fen)>,
    spouse: bool,
    children: Vec<Child>,
    /// Form fields for 两不愁, the house and the water, beyond [`exit_ready_form`]'s.
    fields: Vec<(&'static str, Option<&'static str>)>,
    /// A member (by name) left without medical insurance.
    uninsured: Option<String>,
}

impl Plan {
    fn id(&self) -> String {
        format!("hh-{}", self.no)
    }

    fn head(&self) -> String {
        format!("户主{}", self.no)
    }

    fn size(&self) -> usize {
        1 + usize::from(self.spouse) + self.children.len()
    }
}

fn yuan(f: Fen) -> String {
    f.to_string()
}

/// The households, drawn from `seed`: every year the same number of times give or take one,
/// and every year meets every income position.
fn generate(seed: u64, table: &Standards) -> Vec<Plan> {
    let mut rng = SplitMix64::new(seed);
    let years = (LAST_YEAR - FIRST_YEAR + 1) as usize;
    let mut plans = Vec::new();
    for i in 0..HOUSEHOLDS {
        let year = FIRST_YEAR + (i % years) as i32;
        let position = POSITIONS[(i / years) % POSITIONS.len()];
        let (village_code, village) = VILLAGES[i % VILLAGES.len()];
        let no = format!("{village_code}{:03}", i / VILLAGES.len() + 1);
        let level = *rng.pick_weighted(&[
            (Level::Unrecorded, 1),
            (Level::National, 3),
            (Level::Provincial, 3),
            (Level::Municipal, 3),
            (Level::ProvincialNoProvince, 1),
        ]);
        let spouse = rng.percent(80);
        let children: Vec<Child> = (0..rng.below(3)).map(|_| *rng.pick(&CHILDREN)).collect();
        let size = 1 + i64::from(spouse) + children.len() as i64;

        // The line the income is placed around; a household no line applies to is placed
        // around the national line all the same.
        let (std_level, region) = level.standard();
        let line = table
            .resolve(year, std_level, region, StandardKind::PovertyLine)
            .or_else(|_| {
                table.resolve(
                    year,
                    StandardLevel::National,
                    None,
                    StandardKind::PovertyLine,
                )
            })
            .expect("a line up to every generated year")
            .standard
            .amount
            .0;
        let net = match position {
            Position::FarBelow => line * size / 2,
            Position::JustBelow => line * size - 1,
            Position::At => line * size,
            Position::JustAbove => line * size + 1,
            Position::FarAbove => line * size * 3,
        };
        let planting = rng.below(net as u64 / 3 + 1) as i64;
        let dibao = if rng.percent(40) {
            rng.below(net as u64 / 3 + 1) as i64
        } else {
            0
        };
        let cost = rng.below(planting as u64 / 2 + 1) as i64;
        let wage = net - planting - dibao + cost;
        let earlier = rng.percent(25).then(|| {
            (
                year - 1 - rng.below(3) as i32,
                Fen(rng.below(line as u64 * 4) as i64),
            )
        });
        let survey_year = *rng.pick_weighted(&[(Some(year), 7), (None, 2), (Some(year + 1), 1)]);

        let mut fields: Vec<(&'static str, Option<&'static str>)> = Vec::new();
        if rng.percent(5) {
            fields.push(("info.food_secure", Some("false")));
        }
        if rng.percent(5) {
            fields.push(("info.clothing_secure", None));
        }
        fields.extend_from_slice(rng.pick_weighted::<Fields>(&HOUSES));
        fields.extend_from_slice(rng.pick_weighted::<Fields>(&WATER));

        let mut plan = Plan {
            no,
            village,
            year,
            survey_year,
            level,
            position,
            wage: Fen(wage),
            planting: Fen(planting),
            dibao: Fen(dibao),
            cost: Fen(cost),
            earlier,
            spouse,
            children,
            fields,
            uninsured: None,
        };
        if rng.percent(10) {
            let names = member_names(&plan);
            plan.uninsured = Some(rng.pick(&names).clone());
        }
        plans.push(plan);
    }
    plans
}

/// The members' names, head first.
fn member_names(p: &Plan) -> Vec<String> {
    let mut names = vec![p.head()];
    if p.spouse {
        names.push(format!("配偶{}", p.no));
    }
    names.extend((0..p.children.len()).map(|j| child_name(p, j)));
    names
}

fn child_name(p: &Plan, j: usize) -> String {
    format!("子女{}-{}", p.no, j + 1)
}

/// The roster the device imports: each household's members with resident IDs that are unique
/// across the roster. A child's birthday lies two months or more from today, so a verdict
/// judged a day apart (a device's local day, the server's China Standard Time) sees one age.
fn roster(plans: &[Plan]) -> String {
    let today = today();
    let mut csv = String::from("户编号,村,户主姓名,姓名,性别,与户主关系,证件号码\n");
    for (i, p) in plans.iter().enumerate() {
        let mut row = |name: &str, sex: &str, relation: &str, birth: NaiveDate, seq: String| {
            let id = id_number(&birth.format("%Y%m%d").to_string(), &seq);
            writeln!(
                csv,
                "{},{},{},{name},{sex},{relation},{id}",
                p.no,
                p.village,
                p.head()
            )
            .expect("write");
        };
        let adult = |from: (i32, u32)| {
            NaiveDate::from_ymd_opt(from.0, from.1, 1).expect("date") + Days::new(13 * i as u64)
        };
        row(&p.head(), "男", "户主", adult((1960, 1)), "011".into());
        if p.spouse {
            row(
                &format!("配偶{}", p.no),
                "女",
                "配偶",
                adult((1962, 3)),
                "022".into(),
            );
        }
        for (j, c) in p.children.iter().enumerate() {
            let birth = today
                .checked_sub_months(Months::new(c.age * 12 + 2))
                .and_then(|d| d.checked_sub_days(Days::new(3 * j as u64)))
                .expect("date");
            let (sex, relation, parity) = if j % 2 == 0 {
                ("男", "之子", 1)
            } else {
                ("女", "之女", 0)
            };
            let seq = format!("{:03}", 100 + 2 * i + parity);
            row(&child_name(p, j), sex, relation, birth, seq);
        }
    }
    csv
}

/// The household form for a plan: [`exit_ready_form`] with the plan's departures from it, its
/// 识别标准, its income and each member's insurance and schooling.
fn form(p: &Plan, members: &BTreeMap<String, String>) -> Value {
    let mut form = exit_ready_form(p.year, &yuan(p.wage));
    let (level, region) = p.level.standard();
    match p.level {
        Level::Unrecorded => {
            form.as_object_mut()
                .expect("form")
                .remove("info.standard_level");
        }
        _ => form["info.standard_level"] = json!(level_code(level)),
    }
    match (level, region) {
        (StandardLevel::Provincial, Some(r)) => form["info.province"] = json!(r),
        (StandardLevel::Municipal, Some(r)) => {
            form["info.province"] = json!("云南省");
            form["info.city"] = json!(r);
        }
        _ => {}
    }
    if let Some(y) = p.survey_year {
        form["info.year"] = json!(y.to_string());
    }
    form["income.planting"] = json!(yuan(p.planting));
    form["income.dibao"] = json!(yuan(p.dibao));
    form["income.production_cost"] = json!(yuan(p.cost));
    for (field, value) in &p.fields {
        match value {
            Some(v) => form[*field] = json!(v),
            None => {
                form.as_object_mut().expect("form").remove(*field);
            }
        }
    }
    for (name, id) in members {
        let insured = p.uninsured.as_deref() != Some(name.as_str());
        form[format!("m.{id}.medical_insurance")] = json!(insured.to_string());
    }
    for (j, c) in p.children.iter().enumerate() {
        let id = &members[&child_name(p, j)];
        if let Some(s) = c.school {
            form[format!("m.{id}.school")] = json!(s);
        }
        if let Some(d) = c.dropout {
            form[format!("m.{id}.dropout_reason")] = json!(d);
        }
    }
    form
}

fn level_code(level: StandardLevel) -> &'static str {
    match level {
        StandardLevel::National => "national",
        StandardLevel::Provincial => "provincial",
        StandardLevel::Municipal => "municipal",
    }
}

/// GET on a client's local web API, as JSON.
async fn client_get(http: &reqwest::Client, client: &ClientProcess, path: &str) -> Value {
    client_api(http, client, reqwest::Method::GET, path, None).await
}

/// A verdict as both sides state it: the year, pass or fail, each failure (criterion and
/// code), the line applied (year, level, region, amount in fen), the notice about the line
/// and the per-capita income.
#[derive(Debug, Clone, PartialEq)]
struct Verdict {
    year: i64,
    passed: bool,
    failures: Vec<String>,
    line: Option<(i64, String, Option<String>, i64)>,
    notice: Option<String>,
    per_capita: Option<i64>,
}

impl Verdict {
    fn of(year: &Value, a: &Value) -> Verdict {
        let failures = a["failures"]
            .as_array()
            .unwrap_or_else(|| panic!("no failures in {a}"))
            .iter()
            .map(|f| format!("{}/{}", text(&f["criterion"]), text(&f["code"])))
            .collect();
        let s = &a["standard"];
        Verdict {
            year: year.as_i64().unwrap_or_else(|| panic!("no year: {year}")),
            passed: a["passed"].as_bool().unwrap_or_else(|| panic!("{a}")),
            failures,
            line: (!s.is_null()).then(|| {
                (
                    s["year"].as_i64().expect("line year"),
                    text(&s["level"]),
                    s["region"].as_str().map(str::to_owned),
                    s["amount"].as_i64().expect("line amount"),
                )
            }),
            notice: a["notice"].as_str().map(str::to_owned),
            per_capita: a["income"]["per_capita"].as_i64(),
        }
    }

    /// Failed criteria, each once, as the roster lists them ("medical,income").
    fn failed_criteria(&self) -> String {
        let mut out: Vec<&str> = Vec::new();
        for f in &self.failures {
            let c = f.split('/').next().unwrap_or("");
            if !out.contains(&c) {
                out.push(c);
            }
        }
        out.join(",")
    }

    fn has(&self, code: &str) -> bool {
        self.failures
            .iter()
            .any(|f| f.ends_with(&format!("/{code}")))
    }
}

fn text(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not text: {v}"))
        .to_owned()
}

/// The roster's rows for the township, all pages: id → (failed criteria, income year).
async fn roster_rows(reviewer: &Reviewer) -> BTreeMap<String, (String, Option<i64>)> {
    let mut rows = BTreeMap::new();
    let mut after: Option<String> = None;
    loop {
        let mut path = format!("/api/review/roster?area={SHILI}");
        if let Some(a) = &after {
            path.push_str(&format!("&after={}", a.replace('|', "%7C")));
        }
        let (status, page) = reviewer.get(&path).await;
        assert_eq!(status, 200, "{path}: {page}");
        for r in page["rows"].as_array().expect("rows") {
            rows.insert(
                text(&r["id"]),
                (
                    r["failed_criteria"].as_str().unwrap_or("").to_owned(),
                    r["income_year"].as_i64(),
                ),
            );
        }
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => return rows,
        }
    }
}

async fn a_device_and_the_server_judge_every_household_alike(db: TestDb) {
    let started = Instant::now();
    let server = ServerProcess::start_with_users(
        &db.url,
        &[
            ("zhang", "surveyor", SHILI),
            ("wu", "township_reviewer", SHILI),
        ],
    )
    .await;
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("standards.json");
    let json = county_table();
    std::fs::write(&file, &json).expect("table");
    let (status, out, err) = zoufang_server(
        &db.url,
        &["standards", "import", &file.display().to_string()],
    )
    .await;
    assert!(status.success(), "standards import: {out}{err}");
    let table = Standards::from_json(&json).expect("the county table");

    let plans = generate(SEED, &table);
    let device = Device::enrolled(&server, "zhang").await;
    device.import_roster(&roster(&plans)).await;

    // The surveyor fills in every household's form on the device.
    let http = reqwest::Client::new();
    let ui = ClientProcess::start(device.data.path()).await;
    for p in &plans {
        let shown = client_get(&http, &ui, &format!("/api/households/{}", p.id())).await;
        let members: BTreeMap<String, String> = shown["household"]["members"]
            .as_object()
            .expect("members")
            .iter()
            .map(|(id, m)| (text(&m["name"]), id.clone()))
            .collect();
        assert_eq!(members.len(), p.size(), "{}: {shown}", p.id());
        if let Some((year, wage)) = p.earlier {
            let earlier = json!({ "income.year": year.to_string(), "income.wage": yuan(wage) });
            save_form(&http, &ui, &p.id(), &earlier).await;
        }
        save_form(&http, &ui, &p.id(), &form(p, &members)).await;
    }
    ui.kill().await;
    let entered = started.elapsed();

    let report = device.sync().await;
    assert_eq!(
        report["accepted"].as_u64(),
        Some(HOUSEHOLDS as u64),
        "{report}"
    );
    assert_eq!(report["rejected"], json!([]), "{report}");
    assert_eq!(report["standards_updated"], true, "{report}");

    // The device's verdicts, by the table it received at the sync.
    let ui = ClientProcess::start(device.data.path()).await;
    let mut device_verdicts = BTreeMap::new();
    let mut device_json = BTreeMap::new();
    for p in &plans {
        let shown = client_get(&http, &ui, &format!("/api/households/{}", p.id())).await;
        device_verdicts.insert(p.id(), Verdict::of(&shown["year"], &shown["assessment"]));
        device_json.insert(p.id(), shown["assessment"].clone());
    }
    ui.kill().await;

    // The server's: the projection's verdict as the review API shows it, and the failed
    // criteria the roster lists.
    let reviewer = Reviewer::login(&server.url, "wu").await;
    let rows = roster_rows(&reviewer).await;
    let mut mismatches = Vec::new();
    for p in &plans {
        let id = p.id();
        let (status, view) = reviewer.get(&format!("/api/review/households/{id}")).await;
        assert_eq!(status, 200, "{id}: {view}");
        let on_server = Verdict::of(&view["year"], &view["assessment"]);
        let on_device = &device_verdicts[&id];
        let year = p.year;
        if *on_device != on_server {
            mismatches.push(format!(
                "{id} ({year}): device {on_device:?}\n    server {on_server:?}"
            ));
        } else if device_json[&id] != view["assessment"] {
            mismatches.push(format!(
                "{id} ({year}): the same verdict in other words: device {}\n    server {}",
                device_json[&id], view["assessment"]
            ));
        }
        match rows.get(&id) {
            None => mismatches.push(format!("{id} ({year}): not in the server's roster")),
            Some((failed, income_year)) => {
                if *failed != on_device.failed_criteria() || *income_year != Some(on_device.year) {
                    mismatches.push(format!(
                        "{id} ({year}): device fails [{}] in {}, the roster [{failed}] in \
                         {income_year:?}",
                        on_device.failed_criteria(),
                        on_device.year
                    ));
                }
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {HOUSEHOLDS} households judged differently by the device and the server \
         (seed {SEED}):\n  {}",
        mismatches.len(),
        mismatches.join("\n  ")
    );

    // The households exercised what they were drawn for: each judged in its own year, incomes
    // on the side of the line they were placed, every criterion failing somewhere, and lines
    // of their own, carried on, borrowed from the national table and missing.
    let mut wrong_side = Vec::new();
    for p in &plans {
        let v = &device_verdicts[&p.id()];
        assert_eq!(v.year, i64::from(p.year), "{}: {v:?}", p.id());
        if v.line.is_some() {
            let below = matches!(p.position, Position::FarBelow | Position::JustBelow);
            if v.has("income_below_line") != below {
                wrong_side.push(format!("{} ({:?}): {v:?}", p.id(), p.position));
            }
        }
    }
    assert!(wrong_side.is_empty(), "{}", wrong_side.join("\n"));
    let count = |f: &dyn Fn(&Verdict) -> bool| device_verdicts.values().filter(|v| f(v)).count();
    for criterion in [
        "food",
        "clothing",
        "education",
        "medical",
        "housing",
        "water",
        "income",
    ] {
        let failing = count(&|v| v.failed_criteria().split(',').any(|c| c == criterion));
        assert!(failing > 0, "no household fails {criterion}");
    }
    let passed = count(&|v| v.passed);
    let carried = count(&|v| v.notice.as_deref().is_some_and(|n| n.contains("沿用")));
    let borrowed = count(&|v| v.notice.as_deref().is_some_and(|n| n.contains(",按 ")));
    let own_regional =
        count(&|v| v.notice.is_none() && v.line.as_ref().is_some_and(|l| l.1 != "national"));
    let missing = count(&|v| v.has("standard_missing"));
    assert!(passed > 0, "no household passes");
    for (what, n) in [
        ("carried on", carried),
        ("borrowed from the national table", borrowed),
        ("a regional line of its own", own_regional),
        ("no line", missing),
    ] {
        assert!(n > 0, "no verdict with {what}");
    }
    println!(
        "verdict parity: {HOUSEHOLDS} households, years {FIRST_YEAR}–{LAST_YEAR}, {} verdicts \
         compared (device, review API, roster): {passed} pass, {carried} with a line carried \
         on, {borrowed} by the national line for want of their own, {own_regional} by a \
         regional line of their own, {missing} with no line; entered in {:.1} s, {:.1} s in all",
        HOUSEHOLDS,
        entered.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

zoufang_e2e::on_both_databases!(a_device_and_the_server_judge_every_household_alike);
