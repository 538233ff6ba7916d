//! Who may do what, end to end, as one table: every role (each scoped to 诗礼乡, and the county
//! roles also scoped to the whole county) and an anonymous caller × a household and area of
//! their own township or of another township × every endpoint — the device API (enroll, sync
//! pushes and pulls), the review pages and their posts, the JSON API — and what each role sees
//! of ID numbers and phones. The expected value of each cell comes from the documented rules
//! (README "The server"; `review::{decides, settles_conflicts, spot_checks, readable_area}`;
//! `report::roster::{sees_ids, sees_phones}`; the household history masks for roles without
//! `sees_ids`), written down here, one row per cell, so a changed rule shows up as a diff.
//!
//! Also: login throttling, revocation taking effect at once, security headers on every page
//! (the server's and the field client's, error pages included) and body size limits.

use std::collections::{BTreeMap, VecDeque};

use reqwest::StatusCode;
use serde_json::{Value, json};
use zoufang_e2e::access::{
    Answer, CONFLICT_FIELDS, COUNTY, County, Home, SHILI, UrlLog, Web, XIAOWAN, api_device, county,
    doc_from, edit_push, new_household_push,
};
use zoufang_e2e::api::{self, ApiDevice, PullFrom, actor_hex};
use zoufang_e2e::{ClientProcess, ServerProcess, TEST_PASSWORD, TestDb, zoufang_server};
use zoufang_shared::doc::ActorId;
use zoufang_shared::wire::{
    self, PROTOCOL_VERSION, PushOutcome, SYNC_CONTENT_TYPE, SyncRequest, SyncResponse,
};

/// role · area · endpoint · expected. `own` is 诗礼乡 (its household and its area code), `other`
/// 小湾镇; `-` an endpoint without an area. Statuses are HTTP statuses; `accepted` /
/// `out_of_scope` a push's outcome; `pulled` / `absent` whether a pull carries the household;
/// `full` / `masked` whether an ID number, phone or bank account shows in full; `no_device`
/// for a role that may not enroll a device (`review::may_hold_devices`). Decisions post
/// 退回 (with a reason) so that each can be repeated; a settle takes a conflict of its own.
///
/// The table is data, one line a cell, kept beside this file.
const MATRIX: &str = include_str!("access_matrix.txt");

/// Matrix users: the role column's name → username, role and area.
const USERS: [(&str, &str, &str, &str); 7] = [
    ("surveyor", "m_sv", "surveyor", SHILI),
    ("team_leader", "m_tl", "team_leader", SHILI),
    ("township_reviewer", "m_tr", "township_reviewer", SHILI),
    ("county_supervisor", "m_cs", "county_supervisor", SHILI),
    ("admin", "m_ad", "admin", SHILI),
    (
        "county_supervisor@county",
        "m_cs_county",
        "county_supervisor",
        COUNTY,
    ),
    ("admin@county", "m_ad_county", "admin", COUNTY),
];

#[derive(Debug, Clone)]
struct Cell {
    role: String,
    area: String,
    endpoint: String,
    expect: String,
}

fn cells() -> Vec<Cell> {
    MATRIX
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            assert!(words.len() >= 4, "matrix row {l:?}");
            Cell {
                role: words[0].to_owned(),
                area: words[1].to_owned(),
                endpoint: words[2..words.len() - 1].join(" "),
                expect: words[words.len() - 1].to_owned(),
            }
        })
        .collect()
}

/// One caller of the matrix: a review session (or none) and, once needed, a device.
struct Caller {
    username: Option<&'static str>,
    web: Web,
    device: Option<ApiDevice>,
    /// Distinguishes this caller's devices and new households.
    tag: u8,
}

struct Run<'a> {
    county: &'a County,
    callers: BTreeMap<String, Caller>,
    /// Conflicted paths not yet settled, per household id.
    conflicts: BTreeMap<String, VecDeque<String>>,
    urls: UrlLog,
}

fn outcome_word(res: &SyncResponse, household: &str) -> String {
    match res.results.iter().find(|r| r.household == household) {
        Some(r) => match &r.outcome {
            PushOutcome::Accepted { .. } => "accepted".into(),
            PushOutcome::Rejected { code, .. } => code.clone(),
            PushOutcome::NeedAll => "need_all".into(),
        },
        None => "no result".into(),
    }
}

fn full(shown: bool) -> String {
    if shown { "full" } else { "masked" }.to_owned()
}

impl<'a> Run<'a> {
    async fn new(county: &'a County) -> Run<'a> {
        let urls = UrlLog::default();
        let url = &county.server.url;
        let mut callers = BTreeMap::new();
        let mut set = tokio::task::JoinSet::new();
        for (i, (_, username, _, _)) in USERS.iter().enumerate() {
            let (url, urls) = (url.clone(), urls.clone());
            set.spawn(async move { (i, Web::login_api(&url, username, &urls).await) });
        }
        let mut webs: Vec<(usize, Web)> = Vec::new();
        while let Some(done) = set.join_next().await {
            webs.push(done.expect("login task"));
        }
        webs.sort_by_key(|(i, _)| *i);
        for ((i, web), (name, username, _, _)) in webs.into_iter().zip(USERS) {
            callers.insert(
                name.to_owned(),
                Caller {
                    username: Some(username),
                    web,
                    device: None,
                    tag: i as u8 + 1,
                },
            );
        }
        callers.insert(
            "anonymous".to_owned(),
            Caller {
                username: None,
                web: Web::anonymous(url, &urls),
                device: None,
                tag: 0xee,
            },
        );
        let conflicts = [&county.shili, &county.xiaowan]
            .iter()
            .map(|h| (h.id.clone(), h.conflicts.iter().cloned().collect()))
            .collect();
        Run {
            county,
            callers,
            conflicts,
            urls,
        }
    }

    fn home(&self, area: &str) -> &'a Home {
        match area {
            "own" => &self.county.shili,
            "other" => &self.county.xiaowan,
            a => panic!("no household for area {a:?}"),
        }
    }

    fn township(area: &str) -> &'static str {
        if area == "other" { XIAOWAN } else { SHILI }
    }

    /// The role's device, enrolled on first use; `None` when the role may not hold one (its
    /// enrollment is refused with `role_cannot_enroll`).
    async fn device(&mut self, role: &str) -> Option<ApiDevice> {
        let url = self.county.server.url.clone();
        let caller = self.callers.get_mut(role).expect("caller");
        if caller.device.is_none() {
            let username = caller.username.expect("a user");
            let actor = [caller.tag; 16];
            let reply = api::enroll(&url, username, &actor_hex(&actor), &actor_hex(&actor)).await;
            if reply.status == StatusCode::FORBIDDEN {
                let body = reply.expect_error(StatusCode::FORBIDDEN, "enroll");
                assert_eq!(body.code, "role_cannot_enroll", "{}", body.error);
                return None;
            }
            caller.device = Some(api_device(&url, username, actor).await);
        }
        caller.device.clone()
    }

    /// The URL a `GET` cell requests for `page` (`/roster`, `/households/{id}`, …): a
    /// household's page names the home household, a list its township (the spot-check page
    /// takes it as `township`), an export asks for CSV; an attachment is the home's photo or
    /// signature, or the photo of the household of the other township (`{foreign}`).
    fn page_url(page: &str, township: &str, home: &Home, other: &Home) -> String {
        let query = match page {
            _ if page.contains("{id}") => String::new(),
            "/spot" => format!("?township={township}"),
            "/export/spot" => format!("?township={township}&format=csv"),
            _ if page.starts_with("/export/") => format!("?area={township}&format=csv"),
            _ => format!("?area={township}"),
        };
        let path = page
            .replace("{id}", &home.id)
            .replace("{photo}", &home.photo)
            .replace("{signature}", &home.signature)
            .replace("{foreign}", &other.photo);
        format!("{path}{query}")
    }

    /// Runs one cell; returns what was observed, in the table's words.
    async fn observe(&mut self, c: &Cell) -> String {
        let url = self.county.server.url.clone();
        let (username, tag, web) = {
            let caller = &self.callers[&c.role];
            (caller.username, caller.tag, caller.web.clone())
        };
        let area = c.area.as_str();
        let ep = c.endpoint.as_str();
        let status = |a: &Answer| a.status.as_u16().to_string();
        if let Some(dev) = ep.strip_prefix("device ") {
            return self
                .device_cell(&c.role, username, tag, area, dev, &url)
                .await;
        }
        if let Some(rest) = ep.strip_prefix("mask ") {
            return self.mask_cell(&web, rest).await;
        }
        let home = self.home(area);
        let township = Self::township(area);
        let step_case = |step: &str| match step {
            "township_review" => home.cases[0].clone(),
            "county_decision" => home.cases[1].clone(),
            "announcement" => home.cases[2].clone(),
            s => panic!("step {s}"),
        };
        if let Some(page) = ep.strip_prefix("GET ") {
            let other = self.home(if area == "own" { "other" } else { "own" });
            let a = web.get(&Self::page_url(page, township, home, other)).await;
            if page.contains("/attachments/") && a.status == StatusCode::OK {
                // Shown as an image, kept by no cache.
                assert_eq!(
                    a.header("content-type").as_deref(),
                    Some("image/png"),
                    "{ep}"
                );
                assert_eq!(
                    a.header("cache-control").as_deref(),
                    Some("no-store, private"),
                    "{ep}"
                );
            }
            return status(&a);
        }
        match ep {
            "POST /households/{id}/settle" => {
                let path = self.next_conflict(&home.id);
                status(&web.post_settle(&home.id, &path, "pick:0", None).await)
            }
            "POST /api/review/settle" => {
                let path = self.next_conflict(&home.id);
                let value = CONFLICT_FIELDS
                    .iter()
                    .find(|(f, _, _)| *f == path)
                    .map(|(_, v, _)| serde_json::from_str::<Value>(v).expect("value"))
                    .expect("a conflict field");
                status(
                    &web.post_json(
                        "/api/review/settle",
                        &json!({ "household": home.id, "path": path, "value": value }),
                    )
                    .await,
                )
            }
            "POST /spot/record" => status(&web.post_spot_check(township, &home.id, "ok", "").await),
            _ => {
                if let Some(step) = ep.strip_prefix("POST /households/{id} ") {
                    let case = step_case(step);
                    let at = format!("/households/{}", home.id);
                    let a = web
                        .post_decision_at(&at, &case, step, "returned", "材料不全")
                        .await;
                    return status(&a);
                }
                if let Some(step) = ep.strip_prefix("POST /households/{id}/decide ") {
                    let case = step_case(step);
                    let a = web
                        .post_decision(&home.id, &case, step, "returned", "材料不全")
                        .await;
                    return status(&a);
                }
                if let Some(step) = ep.strip_prefix("POST /api/review/decide ") {
                    let case = step_case(step);
                    return status(
                        &web.post_json(
                            "/api/review/decide",
                            &json!({
                                "household": home.id, "case": case, "step": step,
                                "outcome": "returned", "comment": "材料不全",
                            }),
                        )
                        .await,
                    );
                }
                panic!("unknown endpoint {ep:?}")
            }
        }
    }

    fn next_conflict(&mut self, household: &str) -> String {
        self.conflicts
            .get_mut(household)
            .and_then(VecDeque::pop_front)
            .unwrap_or_else(|| panic!("no conflict of {household} left to settle"))
    }

    async fn device_cell(
        &mut self,
        role: &str,
        username: Option<&str>,
        tag: u8,
        area: &str,
        what: &str,
        url: &str,
    ) -> String {
        let Some(username) = username else {
            // No account: no token.
            let reply = match what {
                "enroll" => {
                    api::enroll(url, "nobody", "anonymous-device", &actor_hex(&[tag; 16])).await
                }
                "attachments" => attachment_status(url, None).await,
                "sync" => {
                    let body = wire::encode(&request(
                        &PullFrom::default(),
                        String::new(),
                        Vec::new(),
                        Vec::new(),
                    ))
                    .expect("encode");
                    api::post_sync(url, None, Some(SYNC_CONTENT_TYPE), body).await
                }
                w => panic!("anonymous device {w}"),
            };
            return reply.status.as_u16().to_string();
        };
        if what == "enroll" {
            let actor = [tag, 0xe0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xe0];
            let reply = api::enroll(url, username, &actor_hex(&actor), &actor_hex(&actor)).await;
            return reply.status.as_u16().to_string();
        }
        // Every other device endpoint needs the role's device, which some roles may not hold.
        let Some(d) = self.device(role).await else {
            return "no_device".into();
        };
        match what {
            "attachments" => {
                let reply = attachment_status(url, Some(&d.token)).await;
                reply.status.as_u16().to_string()
            }
            "push-edit" => {
                let home = self.home(area);
                let changes = if area == "own" {
                    d.pull_all().await
                } else {
                    home.changes.clone()
                };
                let mut doc = doc_from(&changes, &home.id, ActorId::from(d.actor));
                let push = edit_push(
                    &mut doc,
                    &home.id,
                    username,
                    &[("living.sanitary_toilet", json!(true))],
                );
                outcome_word(&d.sync(0, vec![push]).await, &home.id)
            }
            "push-new" => {
                let id = format!("hh-new-{tag}-{area}");
                let push = new_household_push(&id, &d, username, Self::township(area));
                outcome_word(&d.sync(0, vec![push]).await, &id)
            }
            "pull" => {
                let home = self.home(area);
                let pulled = d.pull_all().await;
                pulled_word(pulled.iter().any(|p| p.household == home.id))
            }
            "pull-full" => {
                let home = self.home(area);
                // Caught up first, so only the asked-for document can bring the household.
                let (mut cursor, mut scope) = (PullFrom::default(), String::new());
                loop {
                    let res = sync_raw(
                        url,
                        &d.token,
                        request(&cursor, scope.clone(), vec![], vec![]),
                    )
                    .await;
                    cursor = PullFrom::after(&res);
                    scope = res.scope;
                    if !res.more {
                        break;
                    }
                }
                let res = sync_raw(
                    url,
                    &d.token,
                    request(&cursor, scope, vec![], vec![home.id.clone()]),
                )
                .await;
                pulled_word(res.pulled.iter().any(|p| p.household == home.id))
            }
            w => panic!("device endpoint {w}"),
        }
    }

    async fn mask_cell(&self, web: &Web, what: &str) -> String {
        let home = &self.county.shili;
        let (path, value) = match what {
            "/api/review/roster head_id" | "/api/review/roster phone" => {
                let a = web.get(&format!("/api/review/roster?area={SHILI}")).await;
                if a.status != StatusCode::OK {
                    return format!("status {}", a.status.as_u16());
                }
                let body = a.json();
                let Some(row) = body["rows"]
                    .as_array()
                    .and_then(|rows| rows.iter().find(|r| r["id"] == home.id))
                else {
                    return "row missing".into();
                };
                return if what.ends_with("head_id") {
                    full(row["head_id"] == home.head_id.as_str())
                } else {
                    full(row["phone"] == home.phone.as_str())
                };
            }
            "/export/roster head_id" => (
                format!("/export/roster?area={SHILI}&format=csv"),
                &home.head_id,
            ),
            "/export/roster phone" => (
                format!("/export/roster?area={SHILI}&format=csv"),
                &home.phone,
            ),
            "/roster head_id" => (format!("/roster?area={SHILI}"), &home.head_id),
            "/households/{id} id_number" => (format!("/households/{}", home.id), &home.head_id),
            "/households/{id} phone" => (format!("/households/{}", home.id), &home.phone),
            "/households/{id} bank_account" => {
                (format!("/households/{}", home.id), &home.bank_account)
            }
            w => panic!("mask {w}"),
        };
        let a = web.get(&path).await;
        if a.status != StatusCode::OK {
            return format!("status {}", a.status.as_u16());
        }
        full(a.text().contains(value.as_str()))
    }
}

fn pulled_word(pulled: bool) -> String {
    if pulled { "pulled" } else { "absent" }.to_owned()
}

fn request(
    from: &PullFrom,
    scope: String,
    pushes: Vec<wire::Push>,
    want_full: Vec<String>,
) -> SyncRequest {
    SyncRequest {
        protocol: PROTOCOL_VERSION,
        cursor: from.floor,
        cursors: from.cursors.clone(),
        scope,
        pushes,
        want_full,
        max_pull_bytes: 8 << 20,
    }
}

async fn sync_raw(url: &str, token: &str, req: SyncRequest) -> SyncResponse {
    let reply = api::post_sync(
        url,
        Some(&format!("Bearer {token}")),
        Some(SYNC_CONTENT_TYPE),
        wire::encode(&req).expect("encode"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "sync: {}", reply.text());
    wire::decode(&reply.body).expect("decode the sync response")
}

async fn attachment_status(url: &str, token: Option<&str>) -> api::Reply {
    let mut req = reqwest::Client::new()
        .post(format!("{url}/api/attachments/status"))
        .json(&json!({ "hashes": ["0".repeat(64)] }));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    api::read(req.send().await.expect("POST /api/attachments/status")).await
}

/// Sets up a county with the matrix users and runs the cells `keep` selects; panics with every
/// cell that differs. Returns how many cells were checked.
async fn run_matrix(db: TestDb, keep: impl Fn(&Cell) -> bool) -> usize {
    let server = ServerProcess::start(&db.url).await;
    let users: Vec<(&str, &str, &str)> = USERS.iter().map(|(_, u, r, a)| (*u, *r, *a)).collect();
    let county = county(server, &users).await;
    let mut run = Run::new(&county).await;
    let mut checked = 0;
    let mut wrong = Vec::new();
    for c in cells().iter().filter(|c| keep(c)) {
        let got = run.observe(c).await;
        checked += 1;
        if got != c.expect {
            wrong.push(format!(
                "{:<26} {:<5} {:<46} expected {:<12} got {got}",
                c.role, c.area, c.endpoint, c.expect
            ));
        }
    }
    // Nothing an anonymous or out-of-area caller asked for was ever answered with a server
    // error, and no URL carried personal data.
    let urls = run.urls.lock().map(|u| u.clone()).unwrap_or_default();
    for u in &urls {
        for p in county
            .shili
            .personal_data()
            .iter()
            .chain(&county.xiaowan.personal_data())
        {
            assert!(!u.contains(p.as_str()), "a URL carries personal data: {u}");
        }
    }
    println!(
        "access matrix: {checked} cells checked, {} differ",
        wrong.len()
    );
    assert!(
        wrong.is_empty(),
        "{} of {checked} cells differ from the rules:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    checked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn access_matrix_on_sqlite() {
    let all = cells().len();
    let checked = run_matrix(TestDb::sqlite(), |_| true).await;
    assert_eq!(checked, all);
}

/// A few cells of each kind on PostgreSQL: the rules live above the storage, but the area
/// filters are SQL of each backend's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn access_matrix_smoke_on_postgres() {
    let roles = [
        "surveyor",
        "township_reviewer",
        "county_supervisor@county",
        "anonymous",
    ];
    let endpoints = [
        "device push-edit",
        "device pull",
        "device pull-full",
        "device sync",
        "GET /households/{id}",
        "GET /api/review/roster",
        "GET /export/roster",
        "POST /api/review/decide township_review",
        "POST /api/review/decide county_decision",
        "POST /households/{id}/settle",
        "mask /api/review/roster head_id",
        "mask /export/roster phone",
    ];
    let checked = run_matrix(TestDb::postgres(), |c| {
        roles.contains(&c.role.as_str()) && endpoints.contains(&c.endpoint.as_str())
    })
    .await;
    assert!(checked >= 30, "{checked} cells");
}

// ---------------------------------------------------------------------------------------------
// Login throttling.

fn enroll_body(username: &str, password: &str, actor: [u8; 16]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "username": username, "password": password, "device_id": actor_hex(&actor),
        "device_name": "throttle test", "actor": actor_hex(&actor),
    }))
    .expect("JSON")
}

/// A 429 as the rules want it: a `Retry-After` within the window and a message in Chinese.
fn assert_throttled(a: &Answer, what: &str) -> String {
    assert_eq!(
        a.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{what}: {}",
        a.text()
    );
    let wait: u64 = a
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{what}: a Retry-After in seconds"));
    assert!((1..=15 * 60).contains(&wait), "{what}: Retry-After {wait}");
    let text = a.text();
    assert!(text.contains("登录失败次数过多"), "{what}: {text}");
    assert!(api::has_chinese(&text), "{what}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_throttled_per_username_and_per_address() {
    let db = TestDb::sqlite();
    let server = ServerProcess::start_with_users(
        &db.url,
        &[
            ("zhang", "surveyor", SHILI),
            ("li", "township_reviewer", SHILI),
        ],
    )
    .await;
    let urls = UrlLog::default();
    let web = Web::anonymous(&server.url, &urls);
    let api_login = |user: &str, password: &str| json!({ "username": user, "password": password });

    // Five wrong passwords for zhang, through all three doors: each an ordinary 401.
    for _ in 0..2 {
        let a = web
            .post_login(&[("username", "zhang"), ("password", "wrong-password")])
            .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.text());
        let a = web
            .post_json("/api/review/login", &api_login("zhang", "wrong-password"))
            .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.text());
    }
    let a = web
        .post_raw(
            "/api/enroll",
            "application/json",
            enroll_body("zhang", "wrong", [1; 16]),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.text());

    // The sixth attempt is refused before the password is looked at, even the right one.
    let a = web
        .post_json("/api/review/login", &api_login("zhang", TEST_PASSWORD))
        .await;
    assert_throttled(&a, "API login");
    assert_eq!(a.json()["code"], "too_many_attempts", "{}", a.text());
    let a = web
        .post_login(&[("username", "zhang"), ("password", TEST_PASSWORD)])
        .await;
    let page = assert_throttled(&a, "the login page");
    assert!(page.contains("<form"), "the login form again: {page}");
    let a = web
        .post_raw(
            "/api/enroll",
            "application/json",
            enroll_body("zhang", TEST_PASSWORD, [2; 16]),
        )
        .await;
    assert_throttled(&a, "enrollment");
    // Case and spaces do not make another user of him.
    let a = web
        .post_json("/api/review/login", &api_login(" Zhang ", TEST_PASSWORD))
        .await;
    assert_throttled(&a, "the same name, written otherwise");

    // Another user at the same address is not affected; a success clears his count.
    let ok = web
        .post_json("/api/review/login", &api_login("li", TEST_PASSWORD))
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    for round in 0..2 {
        for _ in 0..4 {
            let a = web
                .post_json("/api/review/login", &api_login("li", "nope"))
                .await;
            assert_eq!(a.status, StatusCode::UNAUTHORIZED, "round {round}");
        }
        let a = web
            .post_json("/api/review/login", &api_login("li", TEST_PASSWORD))
            .await;
        assert_eq!(
            a.status,
            StatusCode::OK,
            "round {round}: 4 failures, then right: {}",
            a.text()
        );
    }

    // Per address: behind a proxy on the same host, the address it forwards counts. Twenty
    // failures from one address (names that do not exist) close it for every name …
    let guesser = web.with_header("X-Forwarded-For", "198.51.100.9, 203.0.113.7");
    for i in 0..20 {
        let a = guesser
            .post_json("/api/review/login", &api_login(&format!("guess{i}"), "x"))
            .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "guess {i}");
    }
    let a = guesser
        .post_json("/api/review/login", &api_login("li", TEST_PASSWORD))
        .await;
    assert_throttled(&a, "the guessing address");
    // … and no other.
    let neighbour = web.with_header("X-Forwarded-For", "203.0.113.8");
    let a = neighbour
        .post_json("/api/review/login", &api_login("li", TEST_PASSWORD))
        .await;
    assert_eq!(a.status, StatusCode::OK, "another address: {}", a.text());
    let a = web
        .post_json("/api/review/login", &api_login("li", TEST_PASSWORD))
        .await;
    assert_eq!(
        a.status,
        StatusCode::OK,
        "the proxy's own address: {}",
        a.text()
    );
    server.kill().await;
}

// ---------------------------------------------------------------------------------------------
// Revocation.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_devices_and_disabled_users_are_refused_at_once() {
    let db = TestDb::sqlite();
    let server = ServerProcess::start_with_users(
        &db.url,
        &[
            ("zhang", "surveyor", SHILI),
            ("li", "surveyor", SHILI),
            ("wang", "township_reviewer", SHILI),
        ],
    )
    .await;
    let url = server.url.clone();
    let (lost, kept, li) = tokio::join!(
        api_device(&url, "zhang", [0x11; 16]),
        api_device(&url, "zhang", [0x12; 16]),
        api_device(&url, "li", [0x13; 16]),
    );
    for d in [&lost, &kept, &li] {
        d.sync(0, Vec::new()).await;
    }
    let urls = UrlLog::default();
    let wang = Web::login_page(&url, "wang", &urls).await;
    assert_eq!(wang.get("/api/review/report").await.status, StatusCode::OK);

    let empty = || {
        wire::encode(&request(
            &PullFrom::default(),
            String::new(),
            Vec::new(),
            Vec::new(),
        ))
        .expect("encode")
    };
    let expect_401 = |r: &api::Reply, what: &str| {
        let body = r.expect_error(StatusCode::UNAUTHORIZED, what);
        assert_eq!(body.code, "unauthorized", "{what}");
        assert!(
            body.error.contains("停用"),
            "{what}: says why: {}",
            body.error
        );
    };

    // A lost phone: its very next call is refused; the user's other device goes on.
    let (status, _, err) = zoufang_server(&db.url, &["device", "revoke", &lost.device_id]).await;
    assert!(status.success(), "device revoke: {err}");
    let bearer = format!("Bearer {}", lost.token);
    let r = api::post_sync(&url, Some(&bearer), Some(SYNC_CONTENT_TYPE), empty()).await;
    expect_401(&r, "sync of a revoked device");
    expect_401(
        &attachment_status(&url, Some(&lost.token)).await,
        "attachments of a revoked device",
    );
    kept.sync(0, Vec::new()).await;

    // A disabled user: devices and review session alike, at once.
    for user in ["li", "wang"] {
        let (status, _, err) = zoufang_server(&db.url, &["user", "disable", user]).await;
        assert!(status.success(), "user disable {user}: {err}");
    }
    let bearer = format!("Bearer {}", li.token);
    let r = api::post_sync(&url, Some(&bearer), Some(SYNC_CONTENT_TYPE), empty()).await;
    expect_401(&r, "sync of a disabled user's device");
    let a = wang.get("/api/review/report").await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.text());
    assert_eq!(a.json()["code"], "unauthorized");
    let a = wang.get("/report").await;
    assert!(a.status.is_redirection(), "the page: {}", a.status);
    assert_eq!(a.header("location").as_deref(), Some("/login"));
    let a = wang
        .post_json(
            "/api/review/decide",
            &json!({ "household": "hh-x", "case": "c", "step": "township_review", "outcome": "passed" }),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "a write: {}", a.text());
    let a = Web::anonymous(&url, &urls)
        .post_json(
            "/api/review/login",
            &json!({ "username": "wang", "password": TEST_PASSWORD }),
        )
        .await;
    assert_eq!(
        a.status,
        StatusCode::UNAUTHORIZED,
        "a new login: {}",
        a.text()
    );
    server.kill().await;
}

// ---------------------------------------------------------------------------------------------
// Headers and body limits.

/// The security headers every answer must carry; panics naming `what` otherwise.
fn assert_hardened(headers: &reqwest::header::HeaderMap, what: &str) {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{what}: no {name}"))
            .to_owned()
    };
    let csp = get("content-security-policy");
    for banned in ["'unsafe-inline'", "'unsafe-eval'", "unsafe-hashes"] {
        assert!(!csp.contains(banned), "{what}: CSP allows {banned}: {csp}");
    }
    let directive = |name: &str| {
        csp.split(';')
            .map(str::trim)
            .find(|d| d.split_whitespace().next() == Some(name))
            .map(|d| {
                d.split_whitespace()
                    .skip(1)
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
    };
    let default =
        directive("default-src").unwrap_or_else(|| panic!("{what}: no default-src: {csp}"));
    assert!(
        !default.is_empty() && !default.iter().any(|s| s == "*" || s.ends_with(':')),
        "{what}: default-src too wide: {csp}"
    );
    let frames =
        directive("frame-ancestors").unwrap_or_else(|| panic!("{what}: no frame-ancestors: {csp}"));
    assert!(
        frames == ["'none'"] || frames == ["'self'"],
        "{what}: frame-ancestors {frames:?}"
    );
    assert_eq!(get("x-content-type-options"), "nosniff", "{what}");
    let referrer = get("referrer-policy");
    assert!(
        [
            "no-referrer",
            "same-origin",
            "strict-origin",
            "strict-origin-when-cross-origin"
        ]
        .contains(&referrer.as_str()),
        "{what}: Referrer-Policy {referrer}"
    );
}

/// An HTML page the CSP can keep working: no inline script, style or event handler.
fn assert_no_inline_code(html: &str, what: &str) {
    let lower = html.to_lowercase();
    let mut rest = lower.as_str();
    while let Some(i) = rest.find("<script") {
        let tag_end = rest[i..].find('>').map(|e| i + e).unwrap_or(rest.len());
        assert!(
            rest[i..tag_end].contains(" src="),
            "{what}: an inline <script>"
        );
        rest = &rest[tag_end..];
    }
    assert!(!lower.contains("<style"), "{what}: an inline <style>");
    assert!(!lower.contains(" style=\""), "{what}: a style attribute");
    for handler in [
        " onclick=",
        " onload=",
        " onsubmit=",
        " onchange=",
        " oninput=",
        "javascript:",
    ] {
        assert!(!lower.contains(handler), "{what}: {handler}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_and_error_has_strict_headers_and_bodies_are_limited() {
    let db = TestDb::sqlite();
    let server = ServerProcess::start(&db.url).await;
    let county = county(server, &[]).await;
    let url = county.server.url.clone();
    let (own, other) = (&county.shili, &county.xiaowan);
    let urls = UrlLog::default();
    let anon = Web::anonymous(&url, &urls);
    let tr = Web::login_page(&url, "tr_a", &urls).await;
    let surveyor = Web::login_api(&url, "field_a", &urls).await;
    let mut checked = 0;

    // The review pages, their downloads and assets.
    let pages = [
        "/report".to_owned(),
        format!("/report?area={SANHE}", SANHE = zoufang_e2e::access::SANHE),
        format!("/roster?area={SHILI}"),
        format!("/roster?area={SHILI}&conflicted=1"),
        format!("/households/{}", own.id),
        format!("/households/{}?done=decided", own.id),
        format!("/conflicts?area={SHILI}"),
        format!("/checks?area={SHILI}"),
        "/spot".to_owned(),
        format!("/spot?township={SHILI}"),
    ];
    for p in &pages {
        let a = tr.get(p).await;
        assert_eq!(a.status, StatusCode::OK, "{p}");
        assert_hardened(&a.headers, p);
        assert_no_inline_code(&a.text(), p);
        checked += 1;
    }
    for p in [
        format!("/export/report?area={SHILI}&format=csv"),
        format!("/export/report?area={SHILI}&format=xlsx"),
        format!("/export/roster?area={SHILI}&format=csv"),
        format!("/export/roster?area={SHILI}&format=xlsx"),
        "/assets/review.css".to_owned(),
    ] {
        let a = tr.get(&p).await;
        assert_eq!(a.status, StatusCode::OK, "{p}");
        assert_hardened(&a.headers, &p);
        checked += 1;
    }
    let a = anon.get("/login").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_hardened(&a.headers, "the login page");
    assert_no_inline_code(&a.text(), "the login page");
    checked += 1;

    // Errors and redirects, pages and API alike.
    let wrong_csrf = [
        ("csrf", "not-the-token"),
        ("case", own.cases[0].as_str()),
        ("step", "township_review"),
        ("outcome", "passed"),
    ];
    let mut errors: Vec<(String, Answer, u16)> = vec![
        ("anonymous /".into(), anon.get("/").await, 303),
        ("anonymous /report".into(), anon.get("/report").await, 303),
        ("anonymous API".into(), anon.get("/api/review/report").await, 401),
        ("unknown page".into(), tr.get("/no-such-page").await, 404),
        ("unknown API".into(), tr.get("/api/no-such-thing").await, 404),
        ("unknown household".into(), tr.get("/households/hh-none").await, 404),
        ("another township's household".into(), tr.get(&format!("/households/{}", other.id)).await, 404),
        ("API: another township".into(), tr.get(&format!("/api/review/roster?area={XIAOWAN}")).await, 404),
        ("a bad date".into(), tr.get("/report?from=yesterday").await, 400),
        (
            "a forged form".into(),
            tr.post_form(&format!("/households/{}/decide", own.id), &wrong_csrf).await,
            403,
        ),
        (
            "a forged form to the household page".into(),
            tr.post_form(&format!("/households/{}", own.id), &wrong_csrf).await,
            403,
        ),
        (
            "a surveyor deciding".into(),
            surveyor
                .post_json(
                    "/api/review/decide",
                    &json!({ "household": own.id, "case": own.cases[0], "step": "township_review", "outcome": "passed" }),
                )
                .await,
            403,
        ),
        (
            "a surveyor settling on the page".into(),
            surveyor.post_settle(&own.id, "info.group", "pick:0", None).await,
            403,
        ),
        ("a wrong login".into(), anon.post_login(&[("username", "tr_a"), ("password", "x")]).await, 401),
        ("health".into(), anon.get("/healthz").await, 200),
        ("device API without a token".into(), anon.post_raw("/api/sync", SYNC_CONTENT_TYPE, Vec::new()).await, 401),
        (
            "enrollment with a wrong password".into(),
            anon.post_raw("/api/enroll", "application/json", enroll_body("field_a", "x", [9; 16])).await,
            401,
        ),
        ("GET of a POST route".into(), anon.get("/api/enroll").await, 405),
    ];
    // Too large: 413, never a 5xx, with the same headers.
    let big = "x".repeat(70 * 1024);
    let big_json = json!({ "username": "tr_a", "password": big });
    errors.push((
        "an oversized login form".into(),
        anon.post_form("/login", &[("username", "tr_a"), ("password", &big)])
            .await,
        413,
    ));
    errors.push((
        "an oversized API login".into(),
        anon.post_json("/api/review/login", &big_json).await,
        413,
    ));
    errors.push((
        "an oversized enrollment".into(),
        anon.post_raw(
            "/api/enroll",
            "application/json",
            enroll_body("field_a", &"y".repeat(20 * 1024), [8; 16]),
        )
        .await,
        413,
    ));
    errors.push((
        "an oversized decision form".into(),
        tr.post_decision(&own.id, &own.cases[0], "township_review", "returned", &big)
            .await,
        413,
    ));
    let api_tr = Web::login_api(&url, "tr_a", &urls).await;
    errors.push((
        "an oversized API decision".into(),
        api_tr
            .post_json(
                "/api/review/decide",
                &json!({ "household": own.id, "case": own.cases[0], "step": "township_review",
                         "outcome": "returned", "comment": big }),
            )
            .await,
        413,
    ));
    errors.push((
        "an oversized settle".into(),
        api_tr
            .post_json(
                "/api/review/settle",
                &json!({ "household": own.id, "path": "info.group", "value": big }),
            )
            .await,
        413,
    ));
    errors.push((
        "an oversized spot check".into(),
        tr.post_spot_check(SHILI, &own.id, "ok", &big).await,
        413,
    ));
    for (what, a, want) in &errors {
        assert_eq!(a.status.as_u16(), *want, "{what}: {}", a.text());
        assert!(!a.status.is_server_error(), "{what}");
        assert_hardened(&a.headers, what);
        if a.header("content-type")
            .is_some_and(|c| c.starts_with("text/html"))
        {
            assert_no_inline_code(&a.text(), what);
        }
        checked += 1;
    }
    // A login body of unknown length (chunked) past the limit: 413 as well.
    let host = url.trim_start_matches("http://");
    let head = format!(
        "POST /api/review/login HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    let body = serde_json::to_vec(&big_json).expect("JSON");
    let r = api::raw_request(&url, head, api::chunked(&body), true).await;
    assert_eq!(
        r.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "chunked: {}",
        r.text()
    );
    // Nothing oversized was taken for a login attempt: tr_a still signs in.
    let a = anon
        .post_json(
            "/api/review/login",
            &json!({ "username": "tr_a", "password": TEST_PASSWORD }),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);

    // The field client's own pages.
    let client = ClientProcess::start(county.devices[0].data.path()).await;
    let local = Web::anonymous(&client.url, &urls);
    let id = &own.id;
    for (p, want) in [
        ("/".to_owned(), 200),
        ("/?q=户主".to_owned(), 200),
        ("/h/new".to_owned(), 200),
        (format!("/h/{id}"), 200),
        (format!("/h/{id}/edit"), 200),
        (format!("/h/{id}/visit"), 200),
        (format!("/h/{id}/case/new"), 200),
        (format!("/h/{id}/case/{}", own.cases[0]), 200),
        ("/sync".to_owned(), 200),
        ("/assets/app.css".to_owned(), 200),
        ("/assets/app.js".to_owned(), 200),
        ("/api/sync".to_owned(), 200),
        ("/h/hh-none".to_owned(), 404),
        ("/no-such-page".to_owned(), 404),
    ] {
        let a = local.get(&p).await;
        assert_eq!(a.status.as_u16(), want, "client {p}: {}", a.text());
        assert_hardened(&a.headers, &format!("client {p}"));
        if a.header("content-type")
            .is_some_and(|c| c.starts_with("text/html"))
        {
            assert_no_inline_code(&a.text(), &format!("client {p}"));
        }
        checked += 1;
    }
    client.kill().await;
    println!("security headers: {checked} answers checked");
}
