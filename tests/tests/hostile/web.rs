//! The field client's web UI and the review logins: Host, CSRF, cookies.
//!
//! The client's UI listens on loopback, but a page of another site can still reach it: through
//! a name re-pointed at 127.0.0.1 (DNS rebinding, `Host: evil.example`) or by posting to it
//! across origins. Such requests must be refused before they read or change anything. The
//! review server's login form must not be postable from another site (login CSRF), and its
//! cookies must be `Secure` when the server is reached over https.

use reqwest::StatusCode;
use reqwest::header::{COOKIE, HOST, LOCATION, ORIGIN, SET_COOKIE};
use serde_json::{Value, json};
use zoufang_e2e::access::{Answer, UrlLog, Web, cookie_named, hidden_csrf, percent};
use zoufang_e2e::{
    ClientProcess, Device, ServerProcess, TEST_PASSPHRASE, TEST_PASSWORD, TestDb, add_users,
    photos, roster_csv,
};

const HOUSEHOLD: &str = "hh-530921100201001";

/// A device with one imported household (no server needed); returns it with the head's ID
/// number.
async fn device_with_household() -> (Device, String) {
    let device = Device::initialised("zhang", "张调查").await;
    let csv = roster_csv(&[("530921100201001", "三合村", 3)], 40);
    let mut lines = csv.lines().map(|l| l.split(',').collect::<Vec<_>>());
    let header = lines.next().expect("a header");
    let column = header
        .iter()
        .position(|c| *c == "证件号码")
        .expect("an ID column");
    let head_id = lines.next().expect("the head's line")[column].to_owned();
    assert_eq!(head_id.len(), 18, "{head_id}");
    device.import_roster(&csv).await;
    (device, head_id)
}

fn today() -> String {
    chrono::Local::now().date_naive().to_string()
}

/// The client's UI over HTTP, every request naming `host`; no redirect followed.
struct Ui {
    http: reqwest::Client,
    url: String,
}

struct Reply {
    status: StatusCode,
    location: Option<String>,
    body: String,
}

impl Ui {
    fn new(client: &ClientProcess) -> Ui {
        Ui {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("HTTP client"),
            url: client.url.clone(),
        }
    }

    /// `127.0.0.1:PORT`, as the client printed it.
    fn own_host(&self) -> String {
        self.url.trim_start_matches("http://").to_owned()
    }

    fn port(&self) -> String {
        self.url.rsplit(':').next().expect("a port").to_owned()
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let res = req.send().await.expect("request");
        let status = res.status();
        let location = res
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = res.text().await.expect("body");
        Reply {
            status,
            location,
            body,
        }
    }

    async fn get(&self, host: &str, path: &str) -> Reply {
        self.send(
            self.http
                .get(format!("{}{path}", self.url))
                .header(HOST, host),
        )
        .await
    }

    async fn post(&self, host: &str, path: &str, content_type: &str, body: Vec<u8>) -> Reply {
        self.send(
            self.http
                .post(format!("{}{path}", self.url))
                .header(HOST, host)
                .header("Content-Type", content_type)
                .body(body),
        )
        .await
    }

    async fn form(&self, host: &str, path: &str, form: &str) -> Reply {
        self.post(
            host,
            path,
            "application/x-www-form-urlencoded",
            form.as_bytes().to_vec(),
        )
        .await
    }

    /// The anti-forgery token as the UI's own pages get it: the unlock form's hidden field
    /// while locked, else what the lock button's script reads.
    async fn token(&self) -> String {
        let page = self.get(&self.own_host(), "/unlock").await;
        if page.status == StatusCode::OK {
            return hidden_csrf(&page.body).expect("the unlock form's token");
        }
        let a = self.get(&self.own_host(), "/api/csrf").await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        let v: Value = serde_json::from_str(&a.body).expect("JSON");
        v["csrf"].as_str().expect("csrf").to_owned()
    }

    /// Whether the UI is unlocked, asked as its own page asks.
    async fn unlocked(&self) -> bool {
        let a = self.get(&self.own_host(), "/").await;
        match a.status {
            StatusCode::OK => true,
            StatusCode::SEE_OTHER if a.location.as_deref() == Some("/unlock") => false,
            other => panic!("GET /: {other} {}", a.body),
        }
    }

    /// The household as its edit page shows it, version included.
    async fn household(&self) -> String {
        let a = self
            .get(&self.own_host(), &format!("/h/{HOUSEHOLD}/edit"))
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        a.body
    }
}

/// Requests naming another host (DNS rebinding) are refused before anything is read or done:
/// pages, photos, assets, lock, unlock and the JSON API all answer 421, and no answer holds an
/// ID number. Requests naming the UI by its loopback address or `localhost` are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_ui_answers_only_to_its_own_host() {
    let (device, head_id) = device_with_household().await;
    let client = ClientProcess::start(device.data.path()).await;
    let ui = Ui::new(&client);
    let own = ui.own_host();
    let localhost = format!("localhost:{}", ui.port());

    let photo: Value = serde_json::from_str(
        &ui.post(
            &own,
            "/api/attachments",
            "image/png",
            photos::png(64, 48, 1_000),
        )
        .await
        .body,
    )
    .expect("upload answer");
    let photo = photo["hash"].as_str().expect("a photo hash").to_owned();
    let edit = format!("/h/{HOUSEHOLD}/edit");
    for host in [own.as_str(), localhost.as_str()] {
        for path in ["/", edit.as_str(), &format!("/a/{photo}"), "/assets/app.js"] {
            let a = ui.get(host, path).await;
            assert_eq!(a.status, StatusCode::OK, "{host} {path}: {}", a.body);
        }
    }
    assert!(
        ui.household().await.contains(&head_id),
        "the ID number is on the edit page"
    );
    let before = ui.household().await;

    let token = ui.token().await;
    let evil_hosts = [
        "evil.example".to_owned(),
        format!("evil.example:{}", ui.port()),
        format!("127.0.0.1.evil.example:{}", ui.port()),
    ];
    for evil in &evil_hosts {
        for path in [
            "/".to_owned(),
            edit.clone(),
            format!("/h/{HOUSEHOLD}"),
            format!("/a/{photo}"),
            "/assets/app.js".to_owned(),
            "/api/csrf".to_owned(),
            "/api/sync".to_owned(),
            "/sync".to_owned(),
            "/unlock".to_owned(),
        ] {
            let a = ui.get(evil, &path).await;
            assert_eq!(
                a.status,
                StatusCode::MISDIRECTED_REQUEST,
                "GET {path} as {evil}"
            );
            assert!(
                !a.body.contains(&head_id),
                "GET {path} as {evil}: {}",
                a.body
            );
            assert!(!a.body.contains(&token), "GET {path} as {evil}: the token");
        }
        let a = ui.form(evil, "/lock", &format!("csrf={token}")).await;
        assert_eq!(a.status, StatusCode::MISDIRECTED_REQUEST, "lock as {evil}");
        let a = ui
            .form(
                evil,
                "/unlock",
                &format!("csrf={token}&passphrase={TEST_PASSPHRASE}"),
            )
            .await;
        assert_eq!(
            a.status,
            StatusCode::MISDIRECTED_REQUEST,
            "unlock as {evil}"
        );
        for (path, body) in [
            (format!("/api/households/{HOUSEHOLD}/reset"), json!({})),
            (
                format!("/api/households/{HOUSEHOLD}/visits"),
                json!({ "date": today(), "visitor": "李调查", "mode": "in_person" }),
            ),
            ("/api/sync".to_owned(), json!({})),
        ] {
            let a = ui
                .post(
                    evil,
                    &path,
                    "application/json",
                    serde_json::to_vec(&body).expect("JSON"),
                )
                .await;
            assert_eq!(
                a.status,
                StatusCode::MISDIRECTED_REQUEST,
                "POST {path} as {evil}"
            );
            assert!(a.body.contains("已拒绝"), "a message: {}", a.body);
        }
        let a = ui
            .send(
                ui.http
                    .put(format!("{}/api/households/{HOUSEHOLD}", ui.url))
                    .header(HOST, evil.as_str())
                    .json(&json!({ "info.phone": "13000000000" })),
            )
            .await;
        assert_eq!(a.status, StatusCode::MISDIRECTED_REQUEST, "PUT as {evil}");
    }
    assert!(ui.unlocked().await, "still unlocked");
    assert_eq!(ui.household().await, before, "the household is unchanged");

    // The same on a locked UI: the right passphrase and token from another host open nothing.
    client.kill().await;
    let client = ClientProcess::start_locked(device.data.path(), &[]).await;
    let ui = Ui::new(&client);
    assert!(!ui.unlocked().await);
    let token = ui.token().await;
    let a = ui
        .form(
            "evil.example",
            "/unlock",
            &format!("csrf={token}&passphrase={TEST_PASSPHRASE}"),
        )
        .await;
    assert_eq!(a.status, StatusCode::MISDIRECTED_REQUEST);
    assert!(!ui.unlocked().await, "still locked");
    client.kill().await;
}

/// Writes a browser marks as coming from another origin or site are refused, token or not,
/// and change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_ui_refuses_cross_origin_writes() {
    let (device, _) = device_with_household().await;
    let client = ClientProcess::start(device.data.path()).await;
    let ui = Ui::new(&client);
    let own = ui.own_host();
    let before = ui.household().await;
    let token = ui.token().await;
    let visit =
        serde_json::to_vec(&json!({ "date": today(), "visitor": "李调查", "mode": "in_person" }))
            .expect("JSON");
    let cross = [
        (ORIGIN.as_str(), "http://evil.example"),
        (ORIGIN.as_str(), "null"),
        (ORIGIN.as_str(), "http://localhost:1"),
        ("Sec-Fetch-Site", "cross-site"),
        ("Sec-Fetch-Site", "same-site"),
    ];
    for (name, value) in cross {
        let post = |path: &str, content_type: &str, body: Vec<u8>| {
            ui.http
                .post(format!("{}{path}", ui.url))
                .header(HOST, own.as_str())
                .header(name, value)
                .header("Content-Type", content_type)
                .body(body)
        };
        let a = ui
            .send(post(
                &format!("/api/households/{HOUSEHOLD}/visits"),
                "application/json",
                visit.clone(),
            ))
            .await;
        assert_eq!(
            a.status,
            StatusCode::FORBIDDEN,
            "visit with {name}: {value}"
        );
        assert!(a.body.contains("已拒绝"), "{}", a.body);
        let a = ui
            .send(post(
                &format!("/api/households/{HOUSEHOLD}/reset"),
                "application/json",
                b"{}".to_vec(),
            ))
            .await;
        assert_eq!(
            a.status,
            StatusCode::FORBIDDEN,
            "reset with {name}: {value}"
        );
        let a = ui
            .send(post(
                "/lock",
                "application/x-www-form-urlencoded",
                format!("csrf={token}").into_bytes(),
            ))
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "lock with {name}: {value}");
    }
    assert!(ui.unlocked().await, "still unlocked");
    assert_eq!(ui.household().await, before, "the household is unchanged");

    // The UI's own origin may write.
    let a = ui
        .send(
            ui.http
                .post(format!("{}/api/households/{HOUSEHOLD}/visits", ui.url))
                .header(ORIGIN, format!("http://{own}"))
                .header("Sec-Fetch-Site", "same-origin")
                .header("Content-Type", "application/json")
                .body(visit),
        )
        .await;
    assert!(a.status.is_success(), "{} {}", a.status, a.body);
    assert_ne!(ui.household().await, before, "the visit is recorded");
    client.kill().await;
}

/// Unlock and lock take this process's token: without it, or with another, nothing happens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_unlock_and_lock_need_the_page_token() {
    let (device, _) = device_with_household().await;
    let client = ClientProcess::start_locked(device.data.path(), &[]).await;
    let ui = Ui::new(&client);
    let own = ui.own_host();
    let page = ui.get(&own, "/unlock").await;
    let token = hidden_csrf(&page.body).expect("a token in the unlock form");
    assert_eq!(token.len(), 64, "{token}");

    let right = format!("passphrase={TEST_PASSPHRASE}");
    for form in [
        right.clone(),
        format!("csrf=&{right}"),
        format!("csrf={}&{right}", "0".repeat(64)),
        format!("csrf={}&{right}", &token[..63]),
    ] {
        let a = ui.form(&own, "/unlock", &form).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{form}");
        assert!(a.body.contains("页面已过期"), "{}", a.body);
        assert!(!ui.unlocked().await, "{form}: still locked");
    }
    let a = ui
        .form(&own, "/unlock", &format!("csrf={token}&{right}"))
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(a.location.as_deref(), Some("/"));
    assert!(ui.unlocked().await);

    for form in ["", "csrf=", "csrf=wrong"] {
        let a = ui.form(&own, "/lock", form).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "lock with {form:?}");
        assert!(a.body.contains("页面已过期"), "{}", a.body);
        assert!(ui.unlocked().await, "{form:?}: still unlocked");
    }
    let a = ui
        .post(&own, "/lock", "text/plain", b"csrf=x".to_vec())
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "not a form");
    assert!(ui.unlocked().await);
    assert_eq!(ui.token().await, token, "one token per process");
    let a = ui.form(&own, "/lock", &format!("csrf={token}")).await;
    assert_eq!(a.location.as_deref(), Some("/unlock"));
    assert!(!ui.unlocked().await, "locked");
    client.kill().await;
}

// ---------------------------------------------------------------------------------------------
// The review server's login.

const REVIEWER: &str = "tr_web";

async fn server_with_reviewer(db: &TestDb, config: Option<&str>) -> ServerProcess {
    let server = match config {
        Some(toml) => ServerProcess::start_with_config(&db.url, toml).await,
        None => ServerProcess::start(&db.url).await,
    };
    add_users(&db.url, &[(REVIEWER, "township_reviewer", "530921100")]).await;
    server
}

fn set_cookies(a: &Answer) -> Vec<String> {
    a.headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_owned)
        .collect()
}

fn set_cookie(a: &Answer, name: &str) -> Option<String> {
    set_cookies(a)
        .into_iter()
        .find(|c| c.starts_with(&format!("{name}=")))
}

/// A login post with exactly the given cookie and form, as another site could make it.
async fn raw_login(base: &str, cookie: Option<&str>, form: &str) -> Answer {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTP client");
    let mut req = http
        .post(format!("{base}/login"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form.to_owned());
    if let Some(c) = cookie {
        req = req.header(COOKIE, c);
    }
    let res = req.send().await.expect("login request");
    Answer {
        status: res.status(),
        headers: res.headers().clone(),
        body: res.bytes().await.expect("body").to_vec(),
    }
}

/// A login form posted without the page's cookie and field pair is refused before the
/// password is checked (so it counts as no attempt), and opens no session; the browser's way
/// (open the page, post the form) signs in. Over http the cookies are not `Secure`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_review_login_form_needs_its_token_pair() {
    let db = TestDb::sqlite();
    let server = server_with_reviewer(&db, None).await;
    let urls = UrlLog::default();
    let web = Web::anonymous(&server.url, &urls);

    let page = web.get("/login").await;
    assert_eq!(page.status, StatusCode::OK);
    let token = hidden_csrf(&page.text()).expect("a token in the login form");
    let cookie = set_cookie(&page, "zf_login").expect("the login form's cookie");
    assert!(
        cookie.starts_with(&format!("zf_login={token};")),
        "{cookie}"
    );
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/login"] {
        assert!(cookie.contains(attribute), "{attribute}: {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");
    let pair = cookie_named(&page, "zf_login").expect("name=value");

    let password = format!("password={}", percent(TEST_PASSWORD));
    let right = format!("username={REVIEWER}&{password}");
    let other = "f".repeat(64);
    let other_pair = format!("zf_login={other}");
    let forged: [(Option<&str>, String); 5] = [
        (None, right.clone()),
        (None, format!("{right}&csrf={token}")),
        (Some(&pair), right.clone()),
        (Some(&pair), format!("{right}&csrf={other}")),
        (Some(&other_pair), format!("{right}&csrf={token}")),
    ];
    for (cookie, form) in &forged {
        let a = raw_login(&server.url, *cookie, form).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{cookie:?} {form}");
        assert!(a.text().contains("页面已过期,请刷新后重试"), "{}", a.text());
        assert!(
            set_cookie(&a, "zf_session").is_none(),
            "no session: {:?}",
            set_cookies(&a)
        );
    }
    // Refused before the password is checked: more wrong guesses than the limit allows are
    // not counted, and the right login still goes through.
    for _ in 0..8 {
        let form = format!("username={REVIEWER}&password=wrong&csrf={token}");
        let a = raw_login(&server.url, None, &form).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
    }

    let a = raw_login(&server.url, Some(&pair), &format!("{right}&csrf={token}")).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.text());
    let session = set_cookie(&a, "zf_session").expect("a session cookie");
    assert!(!session.contains("Secure"), "plain http: {session}");
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Strict"));
    let spent = set_cookie(&a, "zf_login").expect("the login cookie is cleared");
    assert!(spent.contains("Max-Age=0"), "{spent}");

    // The helper every other suite uses signs in the same way.
    let reviewer = Web::login_page(&server.url, REVIEWER, &urls).await;
    assert_eq!(reviewer.get("/report").await.status, StatusCode::OK);
    server.kill().await;
}

/// Behind TLS (`public_url` is https) the session cookie and the login form's cookie are
/// `Secure`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_tls_the_cookies_are_secure() {
    let db = TestDb::sqlite();
    let server = server_with_reviewer(&db, Some("public_url = \"https://zf.example\"\n")).await;
    let urls = UrlLog::default();
    let web = Web::anonymous(&server.url, &urls);
    let page = web.get("/login").await;
    let cookie = set_cookie(&page, "zf_login").expect("the login form's cookie");
    assert!(cookie.contains("; Secure"), "{cookie}");
    let a = web
        .post_login(&[("username", REVIEWER), ("password", TEST_PASSWORD)])
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.text());
    let session = set_cookie(&a, "zf_session").expect("a session cookie");
    assert!(session.contains("; Secure"), "{session}");
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Strict"));
    server.kill().await;
}
