//! Access and hardening stories' harness: a server whose log is kept, a county with one
//! household per township that has everything a reviewer can act on (cases waiting at each
//! server-side step, conflicting values, a spot-check sample) and the personal data that must
//! never leak (ID numbers, phones, bank accounts), and a plain HTTP session that remembers every
//! URL it requested.

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, HeaderMap, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use tokio::process::Command;
use zoufang_shared::doc::{ActorId, ChangeAuthor, HouseholdDoc};
use zoufang_shared::wire::{PulledChange, Push};

pub use crate::api::doc_from;
use crate::api::{ApiDevice, actor_hex};
use crate::areas::days_before;
use crate::photos::{post_visit, solid_png, upload};
use crate::review::{Reviewer, pass_steps_through, propose_case};
use crate::{ClientProcess, Device, ServerProcess, TEST_PASSWORD, bin};

pub use crate::areas::{COUNTY, JINXIU, SANHE, SHILI, XIAOWAN, today};

impl ServerProcess {
    /// As [`ServerProcess::start`], with the server's stderr (its log, at `level`, e.g.
    /// `debug`) written to `log` instead of the test's own.
    pub async fn start_logged(database: &str, log: &Path, level: &str) -> ServerProcess {
        crate::import_areas(database).await;
        let file = std::fs::File::create(log).expect("create the server's log file");
        let mut child = Command::new(bin("zoufang-server"))
            .arg("--database")
            .arg(database)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("ZOUFANG_LOG", level)
            .stdout(Stdio::piped())
            .stderr(Stdio::from(file))
            .kill_on_drop(true)
            .spawn()
            .expect("spawn zoufang-server");
        let url = crate::read_url(&mut child).await;
        ServerProcess {
            child,
            url,
            database: database.to_owned(),
            config_dir: None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Documents built and pushed by the test itself.

pub fn author(user: &str, device: &str) -> ChangeAuthor {
    ChangeAuthor::new(user, device, Utc::now())
}

/// Edits of `doc` by `device` (an [`ApiDevice`]: its device id is its actor's hex) as a push of
/// just those changes on top of what the server has.
pub fn edit_push(
    doc: &mut HouseholdDoc,
    household: &str,
    user: &str,
    edits: &[(&str, Value)],
) -> Push {
    let have = doc.heads();
    let device = doc.actor().to_hex_string();
    doc.edit(&author(user, &device), |e| {
        edits
            .iter()
            .try_for_each(|(field, value)| e.set_field(field, value.clone()))
    })
    .expect("edit");
    Push {
        household: household.to_owned(),
        changes: doc.changes_after(&have),
    }
}

/// A new household `id` in `area`, created as one change of `device`.
pub fn new_household_push(id: &str, device: &ApiDevice, user: &str, area: &str) -> Push {
    let (mut doc, ()) = HouseholdDoc::create_with(
        &zoufang_shared::ids::HouseholdId(id.to_owned()),
        ActorId::from(device.actor),
        &author(user, &device.device_id),
        |e| e.set_field("info.area_code", json!(area)),
    )
    .expect("create a household");
    Push {
        household: id.to_owned(),
        changes: doc.changes_after(&[]),
    }
}

/// A device enrolled through the API under `username`, writing as `actor`.
pub async fn api_device(server: &str, username: &str, actor: [u8; 16]) -> ApiDevice {
    ApiDevice::enroll(server, username, &actor_hex(&actor), actor).await
}

// ---------------------------------------------------------------------------------------------
// The county.

/// Fields two devices of a team set to different values at once: each a conflict for one
/// settle to take (two values per field; a settle picks the first).
pub const CONFLICT_FIELDS: [(&str, &str, &str); 16] = [
    ("land.cultivated", "\"1.5\"", "\"2.5\""),
    ("land.forest", "\"3\"", "\"4\""),
    ("land.returned_to_forest", "\"0.5\"", "\"0.8\""),
    ("land.fruit_forest", "\"1\"", "\"2\""),
    ("land.pasture", "\"6\"", "\"7\""),
    ("land.water_surface", "\"0.1\"", "\"0.2\""),
    ("living.house_area_m2", "80", "90"),
    ("living.distance_to_road_m", "100", "200"),
    ("water.litres_per_person_day", "60", "70"),
    ("water.trip_minutes", "5", "10"),
    ("water.cut_days_per_year", "3", "4"),
    ("info.group", "\"一组\"", "\"二组\""),
    ("info.province", "\"云南省\"", "\"云南\""),
    ("info.city", "\"临沧市\"", "\"临沧\""),
    ("info.county", "\"凤庆县\"", "\"凤庆\""),
    ("info.township", "\"乡\"", "\"镇\""),
];

/// A household as set up, with the personal data it holds.
#[derive(Debug, Clone)]
pub struct Home {
    pub id: String,
    /// The household's area (its team's village) and its township.
    pub area: String,
    pub township: String,
    pub head_id: String,
    /// Every member's resident ID number.
    pub ids: Vec<String>,
    pub phone: String,
    pub bank_account: String,
    pub member_phones: Vec<String>,
    /// 新识别 cases: [0] waiting for 乡镇审核 (公示 over), [1] 乡镇审核 passed, [2] 县级审定
    /// passed.
    pub cases: Vec<String>,
    /// Paths with two conflicting values (see [`CONFLICT_FIELDS`]).
    pub conflicts: Vec<String>,
    /// Content hashes of a visit's photo and of the head's signature at it.
    pub photo: String,
    pub signature: String,
    /// The household's changes, as its team's device last pulled them.
    pub changes: Vec<PulledChange>,
}

impl Home {
    /// Every ID number, phone and bank account it holds.
    pub fn personal_data(&self) -> Vec<String> {
        let mut all = self.ids.clone();
        all.push(self.phone.clone());
        all.push(self.bank_account.clone());
        all.extend(self.member_phones.iter().cloned());
        all
    }
}

/// A running server with its county set up.
pub struct County {
    pub server: ServerProcess,
    /// In 诗礼乡 (三合村), entered by `field_a`.
    pub shili: Home,
    /// In 小湾镇 (锦秀村), entered by `field_b`.
    pub xiaowan: Home,
    /// The field teams' devices (`field_a`, `field_b`).
    pub devices: Vec<Device>,
}

/// The accounts every county has: the field teams of 三合村 and 锦秀村, the township reviewers
/// of 诗礼乡 and 小湾镇, and a county supervisor.
pub const SETUP_USERS: [(&str, &str, &str); 5] = [
    ("field_a", "surveyor", SANHE),
    ("field_b", "surveyor", JINXIU),
    ("tr_a", "township_reviewer", SHILI),
    ("tr_b", "township_reviewer", XIAOWAN),
    ("county", "county_supervisor", COUNTY),
];

struct Team {
    user: &'static str,
    no: &'static str,
    first_person: u32,
    phone: &'static str,
    bank_account: &'static str,
    /// Member phones are this followed by the member's index.
    member_phone_prefix: &'static str,
    village: &'static str,
    township: &'static str,
}

const TEAMS: [Team; 2] = [
    Team {
        user: "field_a",
        no: "530921100201001",
        first_person: 0,
        phone: "13987650011",
        bank_account: "6217001234567890011",
        member_phone_prefix: "1357654001",
        village: SANHE,
        township: SHILI,
    },
    Team {
        user: "field_b",
        no: "530921200201001",
        first_person: 3,
        phone: "13987650022",
        bank_account: "6217001234567890022",
        member_phone_prefix: "1357654002",
        village: JINXIU,
        township: XIAOWAN,
    },
];

/// Sets up a county on a started `server`: [`SETUP_USERS`] and `users` (username, role, area)
/// are added; each team enters, on its device, a household of three with phones and a bank
/// account and three cases, and syncs; the township reviewers and the county move the cases
/// to their steps; two devices of each team leave [`CONFLICT_FIELDS`] in conflict; the county
/// draws today's spot-check sample of both townships.
pub async fn county(server: ServerProcess, users: &[(&str, &str, &str)]) -> County {
    let mut all: Vec<(&str, &str, &str)> = SETUP_USERS.to_vec();
    all.extend_from_slice(users);
    crate::add_users(&server.database, &all).await;
    let devices = crate::enroll_all(&server.url, &["field_a", "field_b"]).await;
    let (a, b) = tokio::join!(enter(&devices[0], &TEAMS[0]), enter(&devices[1], &TEAMS[1]));
    let mut homes = [a, b];

    // The reviewers' steps.
    let url = &server.url;
    let (tr_a, tr_b, county) = tokio::join!(
        Reviewer::login(url, "tr_a"),
        Reviewer::login(url, "tr_b"),
        Reviewer::login(url, "county")
    );
    for (home, township) in homes.iter().zip([&tr_a, &tr_b]) {
        for case in &home.cases[1..] {
            decide(township, home, case, "township_review", "passed").await;
        }
        decide(&county, home, &home.cases[2], "county_decision", "passed").await;
    }

    // Conflicts: two devices of each team set the same fields at once.
    for (home, team) in homes.iter_mut().zip(&TEAMS) {
        let tag = team.user.as_bytes()[team.user.len() - 1];
        let first = api_device(
            url,
            team.user,
            [tag, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        )
        .await;
        let second = api_device(
            url,
            team.user,
            [tag, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
        )
        .await;
        let (p1, p2) = (first.pull_all().await, second.pull_all().await);
        let mut d1 = doc_from(&p1, &home.id, ActorId::from(first.actor));
        let mut d2 = doc_from(&p2, &home.id, ActorId::from(second.actor));
        let value = |v: &str| serde_json::from_str::<Value>(v).expect("a JSON value");
        let e1: Vec<(&str, Value)> = CONFLICT_FIELDS
            .iter()
            .map(|(f, v, _)| (*f, value(v)))
            .collect();
        let e2: Vec<(&str, Value)> = CONFLICT_FIELDS
            .iter()
            .map(|(f, _, v)| (*f, value(v)))
            .collect();
        let push1 = edit_push(&mut d1, &home.id, team.user, &e1);
        let push2 = edit_push(&mut d2, &home.id, team.user, &e2);
        for (device, push) in [(&first, push1), (&second, push2)] {
            let res = device.sync(0, vec![push]).await;
            assert!(
                matches!(
                    res.results[0].outcome,
                    zoufang_shared::wire::PushOutcome::Accepted { .. }
                ),
                "conflicting edit: {res:?}"
            );
        }
        home.conflicts = CONFLICT_FIELDS
            .iter()
            .map(|(f, _, _)| (*f).to_owned())
            .collect();
        home.changes = first
            .pull_all()
            .await
            .into_iter()
            .filter(|c| c.household == home.id)
            .collect();
        let (_, view) = tr_of(&tr_a, &tr_b, home)
            .get(&format!("/api/review/households/{}", home.id))
            .await;
        let conflicted = view["conflicts"].as_array().map(Vec::len).unwrap_or(0);
        assert_eq!(
            conflicted,
            CONFLICT_FIELDS.len(),
            "conflicts of {}: {view}",
            home.id
        );
    }

    // Today's spot-check samples.
    for township in [SHILI, XIAOWAN] {
        let (status, _) = county.get(&format!("/spot?township={township}")).await;
        assert_eq!(status, StatusCode::OK, "spot-check draw of {township}");
    }
    let [shili, xiaowan] = homes;
    County {
        server,
        shili,
        xiaowan,
        devices,
    }
}

fn tr_of<'a>(a: &'a Reviewer, b: &'a Reviewer, home: &Home) -> &'a Reviewer {
    if home.township == SHILI { a } else { b }
}

async fn decide(r: &Reviewer, home: &Home, case: &str, step: &str, outcome: &str) {
    let (status, body) = r
        .post(
            "/api/review/decide",
            &json!({ "household": home.id, "case": case, "step": step, "outcome": outcome }),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "{step} of {}: {body}",
        home.id
    );
}

/// One team's household: imported with three members, phones and a bank account added with
/// `zoufang edit`, three 新识别 cases through 公示 and a visit with a photo and the head's
/// signature (images of the team's own, so each household names its own) on the client's web
/// API, synced.
async fn enter(device: &Device, team: &Team) -> Home {
    device
        .import_roster(&crate::roster_csv(
            &[(team.no, "本村", 3)],
            team.first_person,
        ))
        .await;
    let id = format!("hh-{}", team.no);
    let export = device.export().await;
    let doc = export
        .as_array()
        .and_then(|a| a.iter().find(|h| h["id"] == id))
        .unwrap_or_else(|| panic!("{id} not imported"))
        .clone();
    assert_eq!(
        doc["info"]["area_code"], team.village,
        "{id} filed in the team's village"
    );
    let members = doc["members"].as_object().expect("members");
    let mut ids = Vec::new();
    let mut head_id = String::new();
    let mut member_phones = Vec::new();
    device.ok(&["edit", &id, "info.status", "not_exited"]).await;
    device.ok(&["edit", &id, "info.phone", team.phone]).await;
    device
        .ok(&["edit", &id, "info.bank_account", team.bank_account])
        .await;
    for (i, (mid, m)) in members.iter().enumerate() {
        let idn = m["id_number"].as_str().expect("an ID number").to_owned();
        if m["relation"] == "head" {
            head_id.clone_from(&idn);
        }
        ids.push(idn);
        let phone = format!("{}{i}", team.member_phone_prefix);
        device
            .ok(&["edit", &id, &format!("members.{mid}.phone"), &phone])
            .await;
        member_phones.push(phone);
    }
    assert_eq!(ids.len(), 3);
    assert!(!head_id.is_empty(), "a head");

    let client = ClientProcess::start(device.data.path()).await;
    let today = today();
    let on = days_before(today, 12);
    let publicity = (days_before(today, 10), days_before(today, 3));
    let mut cases = Vec::new();
    for _ in 0..3 {
        let case = propose_case(&client, &id, "new_entry", Some("screening")).await;
        pass_steps_through(&client, &id, &case, "publicity", on, publicity).await;
        cases.push(case);
    }
    let http = reqwest::Client::new();
    let shade = u8::try_from(team.first_person).unwrap_or(0);
    let mut uploaded = Vec::new();
    for png in [
        solid_png(8, 6, [shade, 120, 60]),
        solid_png(8, 3, [shade, 0, 0]),
    ] {
        uploaded.push(upload(&http, &client.url, "image/png", png).await);
    }
    let [photo, signature] = <[Value; 2]>::try_from(uploaded).expect("two uploads");
    let hash = |v: &Value| v["hash"].as_str().expect("a hash").to_owned();
    post_visit(
        &http,
        &client.url,
        &id,
        &json!({
            "date": on.to_string(), "visitor": team.user, "mode": "in_person",
            "photos": [photo["hash"]],
            "signatures": [{ "role": "head", "hash": signature["hash"] }],
        }),
    )
    .await;
    client.kill().await;
    let report = device.sync().await;
    assert_eq!(report["accepted"], 1, "{}'s sync: {report}", team.user);
    assert_eq!(report["attachments_uploaded"], 2, "{report}");
    Home {
        id,
        area: team.village.to_owned(),
        township: team.township.to_owned(),
        head_id,
        ids,
        phone: team.phone.to_owned(),
        bank_account: team.bank_account.to_owned(),
        member_phones,
        cases,
        conflicts: Vec::new(),
        photo: hash(&photo),
        signature: hash(&signature),
        changes: Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// A plain HTTP session that remembers every URL.

/// Every URL a test requested or was sent to (`Location`), in order.
pub type UrlLog = Arc<Mutex<Vec<String>>>;

/// An answer, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

/// A browser without a browser: one session cookie (or none), no redirects followed.
#[derive(Clone)]
pub struct Web {
    http: reqwest::Client,
    pub base: String,
    cookie: Option<String>,
    pub csrf: String,
    pub urls: UrlLog,
    /// Extra headers sent with every request (e.g. `X-Forwarded-For`).
    extra: Vec<(String, String)>,
}

impl Web {
    pub fn anonymous(base: &str, urls: &UrlLog) -> Web {
        Web {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(std::time::Duration::from_secs(60))
                .build()
                .expect("HTTP client"),
            base: base.to_owned(),
            cookie: None,
            csrf: String::new(),
            urls: urls.clone(),
            extra: Vec::new(),
        }
    }

    /// The same session, also sending `name: value` with every request.
    pub fn with_header(&self, name: &str, value: &str) -> Web {
        let mut w = self.clone();
        w.extra.push((name.to_owned(), value.to_owned()));
        w
    }

    /// Signs in through `POST /api/review/login`; panics unless that succeeds.
    pub async fn login_api(base: &str, username: &str, urls: &UrlLog) -> Web {
        let mut w = Web::anonymous(base, urls);
        let a = w
            .post_json(
                "/api/review/login",
                &json!({ "username": username, "password": TEST_PASSWORD }),
            )
            .await;
        assert_eq!(
            a.status,
            StatusCode::OK,
            "API login as {username}: {}",
            a.text()
        );
        w.cookie = Some(session_cookie(&a));
        w.csrf = a.json()["csrf"].as_str().expect("csrf").to_owned();
        w
    }

    /// Signs in through the login page's form, as a browser does, and reads the anti-forgery
    /// token from a page's form; panics unless that succeeds.
    pub async fn login_page(base: &str, username: &str, urls: &UrlLog) -> Web {
        let mut w = Web::anonymous(base, urls);
        let a = w
            .post_login(&[("username", username), ("password", TEST_PASSWORD)])
            .await;
        assert!(
            a.status.is_redirection(),
            "page login as {username}: {} {}",
            a.status,
            a.text()
        );
        w.cookie = Some(session_cookie(&a));
        let page = w.get("/report").await;
        assert_eq!(page.status, StatusCode::OK, "the report after login");
        w.csrf = hidden_csrf(&page.text()).expect("a form with the anti-forgery token");
        w
    }

    fn log(&self, path: &str) {
        if let Ok(mut urls) = self.urls.lock() {
            urls.push(path.to_owned());
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder, path: &str) -> Answer {
        self.log(path);
        let mut req = req;
        if let Some(c) = &self.cookie {
            req = req.header(COOKIE, c);
        }
        for (k, v) in &self.extra {
            req = req.header(k.as_str(), v.as_str());
        }
        let res = req.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = res.status();
        let headers = res.headers().clone();
        if let Some(to) = headers.get(LOCATION).and_then(|v| v.to_str().ok()) {
            self.log(to);
        }
        let body = res.bytes().await.expect("body").to_vec();
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(self.http.get(format!("{}{path}", self.base)), path)
            .await
    }

    /// Posts the login form as a browser does: opens `/login` first, then posts `pairs` with
    /// the form's anti-forgery token and the cookie that came with it.
    pub async fn post_login(&self, pairs: &[(&str, &str)]) -> Answer {
        let page = self.get("/login").await;
        assert_eq!(page.status, StatusCode::OK, "the login page");
        let token = hidden_csrf(&page.text()).expect("the login form's token");
        let pair = cookie_named(&page, "zf_login").expect("the login form's cookie");
        let mut w = self.clone();
        w.cookie = Some(match &self.cookie {
            Some(c) => format!("{c}; {pair}"),
            None => pair,
        });
        let mut pairs = pairs.to_vec();
        pairs.push(("csrf", &token));
        w.post_form("/login", &pairs).await
    }

    /// The household page's decision form: `outcome` of `step` of `case`, with `comment`.
    pub async fn post_decision(
        &self,
        household: &str,
        case: &str,
        step: &str,
        outcome: &str,
        comment: &str,
    ) -> Answer {
        let at = format!("/households/{household}/decide");
        self.post_decision_at(&at, case, step, outcome, comment)
            .await
    }

    /// [`Web::post_decision`] posted to `path`: the household page's own URL, where the page's
    /// form posts (`/decide` stays for pages loaded before).
    pub async fn post_decision_at(
        &self,
        path: &str,
        case: &str,
        step: &str,
        outcome: &str,
        comment: &str,
    ) -> Answer {
        let form = [
            ("csrf", self.csrf.as_str()),
            ("case", case),
            ("step", step),
            ("outcome", outcome),
            ("comment", comment),
        ];
        self.post_form(path, &form).await
    }

    /// The household page's conflict form: settles `path` by `choice` (`pick:N`, or `typed`
    /// with the `typed` value).
    pub async fn post_settle(
        &self,
        household: &str,
        path: &str,
        choice: &str,
        typed: Option<&str>,
    ) -> Answer {
        let mut form = vec![
            ("csrf", self.csrf.as_str()),
            ("path", path),
            ("choice", choice),
        ];
        form.extend(typed.map(|t| ("typed", t)));
        self.post_form(&format!("/households/{household}/settle"), &form)
            .await
    }

    /// The spot-check form: `household` of `township` checked today, found `result`.
    pub async fn post_spot_check(
        &self,
        township: &str,
        household: &str,
        result: &str,
        note: &str,
    ) -> Answer {
        let form = [
            ("csrf", self.csrf.as_str()),
            ("township", township),
            ("day", ""),
            ("household", household),
            ("result", result),
            ("note", note),
        ];
        self.post_form("/spot/record", &form).await
    }

    pub async fn post_form(&self, path: &str, pairs: &[(&str, &str)]) -> Answer {
        let body = serde_urlencoded_pairs(pairs);
        self.post_raw(path, "application/x-www-form-urlencoded", body.into_bytes())
            .await
    }

    /// JSON with the session's `X-CSRF-Token`.
    pub async fn post_json(&self, path: &str, body: &Value) -> Answer {
        self.post_raw(
            path,
            "application/json",
            serde_json::to_vec(body).expect("JSON"),
        )
        .await
    }

    pub async fn post_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> Answer {
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .header(CONTENT_TYPE, content_type)
            .header("X-CSRF-Token", &self.csrf)
            .body(body);
        self.send(req, path).await
    }
}

fn session_cookie(a: &Answer) -> String {
    cookie_named(a, "zf_session").expect("a session cookie")
}

/// `name=value` of the cookie `name` an answer sets.
pub fn cookie_named(a: &Answer, name: &str) -> Option<String> {
    a.headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|pair| pair.split_once('=').is_some_and(|(n, _)| n.trim() == name))
        .map(str::to_owned)
}

/// `a=1&b=2`, percent-encoded.
fn serde_urlencoded_pairs(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent(k), percent(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `s` percent-encoded for a form body or a query (all but RFC 3986's unreserved bytes).
pub fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The value of the first `<input … name="csrf" value="…">` of a page.
pub fn hidden_csrf(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf\"")?;
    let rest = &html[at..];
    let v = rest.find("value=\"")? + "value=\"".len();
    let end = rest[v..].find('"')?;
    Some(rest[v..v + end].to_owned())
}

/// Every URL a page links to or posts to: `href`, `action` and `src` attributes, unescaped.
pub fn links(html: &str) -> Vec<String> {
    attributes(html, &["href=\"", "action=\"", "src=\""])
}

/// The `href` links of a page, unescaped.
pub fn hrefs(html: &str) -> Vec<String> {
    attributes(html, &["href=\""])
}

fn attributes(html: &str, attrs: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for attr in attrs {
        let mut rest = html;
        while let Some(i) = rest.find(attr) {
            rest = &rest[i + attr.len()..];
            if let Some(end) = rest.find('"') {
                out.push(
                    rest[..end]
                        .replace("&amp;", "&")
                        .replace("&quot;", "\"")
                        .replace("&lt;", "<")
                        .replace("&gt;", ">"),
                );
                rest = &rest[end..];
            }
        }
    }
    out
}
