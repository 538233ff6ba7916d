//! The supervisors' side: a reviewer signed in to the server's review API, and the field steps
//! (cases, procedure steps) entered through a client's own local web API, as a surveyor's phone
//! does.

use chrono::NaiveDate;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::{Value, json};

use crate::survey::client_api;
use crate::{ClientProcess, TEST_PASSWORD};

/// A user signed in to the review API: the session cookie and its anti-forgery token.
pub struct Reviewer {
    http: reqwest::Client,
    pub base: String,
    cookie: String,
    pub csrf: String,
}

impl Reviewer {
    /// Signs in as `username` (password [`TEST_PASSWORD`]); panics unless it succeeds.
    pub async fn login(server_url: &str, username: &str) -> Reviewer {
        let http = reqwest::Client::new();
        let res = http
            .post(format!("{server_url}/api/review/login"))
            .json(&json!({ "username": username, "password": TEST_PASSWORD }))
            .send()
            .await
            .expect("login request");
        assert_eq!(res.status(), StatusCode::OK, "login as {username}");
        let cookie = res
            .headers()
            .get(SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .expect("a session cookie")
            .to_owned();
        let body: Value = res.json().await.expect("login JSON");
        Reviewer {
            http,
            base: server_url.to_owned(),
            cookie,
            csrf: body["csrf"].as_str().expect("csrf").to_owned(),
        }
    }

    /// GET `path` in this session.
    async fn send_get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .send()
            .await
            .expect("GET")
    }

    /// GET `path` (with its query); the status and the body as JSON (Null when not JSON).
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let res = self.send_get(path).await;
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// GET `path` as bytes, with the response's content type.
    pub async fn get_bytes(&self, path: &str) -> (StatusCode, String, Vec<u8>) {
        let res = self.send_get(path).await;
        let status = res.status();
        let ct = crate::api::content_type(&res);
        (status, ct, res.bytes().await.expect("body").to_vec())
    }

    /// POST JSON to `path` with the session's anti-forgery token (or `csrf` instead, to test
    /// its absence); the status and the body as JSON (Null when empty).
    pub async fn post_with(&self, path: &str, body: &Value, csrf: &str) -> (StatusCode, Value) {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .header("X-CSRF-Token", csrf)
            .json(body)
            .send()
            .await
            .expect("POST");
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.post_with(path, body, &self.csrf.clone()).await
    }

    /// The session cookie as sent (`zf_session=…`), for requests the methods above do not
    /// make: a POST with no anti-forgery header at all, a form post to a page.
    pub fn cookie(&self) -> &str {
        &self.cookie
    }
}

/// Posts JSON to a client's local web API; returns the `redirect` it answers with.
async fn client_post(client: &ClientProcess, path: &str, body: &Value) -> String {
    let http = reqwest::Client::new();
    let reply = client_api(&http, client, reqwest::Method::POST, path, Some(body)).await;
    reply["redirect"].as_str().unwrap_or("").to_owned()
}

/// The day the stories' cases are proposed: before every step they record (the write model
/// refuses a step dated before its case's proposal), within the 30 days that need no reason.
pub fn proposed_on() -> NaiveDate {
    crate::access::today()
        .checked_sub_days(chrono::Days::new(20))
        .expect("date")
}

/// A case as the client's case form proposes it.
#[derive(Debug, Clone, Copy)]
pub struct Proposal<'a> {
    pub kind: &'a str,
    pub origin: Option<&'a str>,
    pub on: NaiveDate,
    /// The 工作批次; none: the client's default for the day.
    pub round: Option<&'a str>,
    /// Member ids of a case that concerns only some members (人员变动, a partial 错评).
    pub members: &'a [&'a str],
}

impl<'a> Proposal<'a> {
    /// A case for the whole household on [`proposed_on`], in the client's default round.
    pub fn new(kind: &'a str, origin: Option<&'a str>) -> Self {
        Proposal {
            kind,
            origin,
            on: proposed_on(),
            round: None,
            members: &[],
        }
    }
}

/// Proposes a case on a household through the client; returns the case id.
pub async fn propose_case(
    client: &ClientProcess,
    household: &str,
    kind: &str,
    origin: Option<&str>,
) -> String {
    propose(client, household, &Proposal::new(kind, origin)).await
}

/// As [`propose_case`], for a case that concerns only some members.
pub async fn propose_case_for(
    client: &ClientProcess,
    household: &str,
    kind: &str,
    origin: Option<&str>,
    members: &[&str],
) -> String {
    let p = Proposal {
        members,
        ..Proposal::new(kind, origin)
    };
    propose(client, household, &p).await
}

/// Proposes `p` on `household` through the client's case form API; returns the case id.
pub async fn propose(client: &ClientProcess, household: &str, p: &Proposal<'_>) -> String {
    let mut case = json!({
        "kind": p.kind, "origin": p.origin, "reason": "入户排查",
        "proposed_on": p.on.to_string(), "members": p.members.join(","),
    });
    if let Some(round) = p.round {
        case["round"] = round.into();
    }
    post_proposal(client, household, &case).await
}

/// Posts a proposal to the client; returns the new case's id.
async fn post_proposal(client: &ClientProcess, household: &str, case: &Value) -> String {
    let to = client_post(client, &format!("/api/households/{household}/cases"), case).await;
    to.rsplit('/').next().expect("a case id").to_owned()
}

/// `POST /api/review/decide` as `r`: a decision on a case's `step` with a `comment` ("" for
/// none); the status and the body.
pub async fn decide(
    r: &Reviewer,
    household: &str,
    case: &str,
    step: &str,
    outcome: &str,
    comment: &str,
) -> (StatusCode, Value) {
    r.post(
        "/api/review/decide",
        &json!({
            "household": household, "case": case, "step": step, "outcome": outcome,
            "comment": comment,
        }),
    )
    .await
}

/// Records a procedure step of a case through the client. `publicity` gives a 公示's first
/// and last day.
pub async fn record_step(
    client: &ClientProcess,
    household: &str,
    case: &str,
    step: &str,
    outcome: &str,
    date: NaiveDate,
    publicity: Option<(NaiveDate, NaiveDate)>,
) {
    client_post(
        client,
        &format!("/api/households/{household}/cases/{case}/steps"),
        &json!({
            "step": step,
            "outcome": outcome,
            "date": date.to_string(),
            "actor": "村委会",
            "comment": transcription_reason(date),
            "publicity_start": publicity.map(|(a, _)| a.to_string()),
            "publicity_end": publicity.map(|(_, b)| b.to_string()),
        }),
    )
    .await;
}

/// What a surveyor writes on a step transcribed from paper more than 30 days after its date
/// (the write model asks for a reason then); nothing otherwise.
fn transcription_reason(date: NaiveDate) -> &'static str {
    let month_ago = crate::areas::days_before(crate::areas::today(), 30);
    if date < month_ago {
        "据纸质记录补录"
    } else {
        ""
    }
}

/// The field steps in procedure order, up to and including `upto`, all passed, dated `on`;
/// a 公示 runs `publicity`.
pub async fn pass_steps_through(
    client: &ClientProcess,
    household: &str,
    case: &str,
    upto: &str,
    on: NaiveDate,
    publicity: (NaiveDate, NaiveDate),
) {
    for step in ["home_check", "deliberation", "publicity"] {
        let p = (step == "publicity").then_some(publicity);
        record_step(client, household, case, step, "passed", on, p).await;
        if step == upto {
            return;
        }
    }
}
