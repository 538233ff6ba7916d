//! The web UI's lock: locked, nothing but the unlock page answers; unlocking takes the right
//! passphrase from this UI's own page only, and repeated wrong guesses are slowed down.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;
use zoufang_client::store::Store;
use zoufang_client::web::{AppState, router};

const PASSPHRASE: &str = "135790";
/// Where the UI under test would listen: requests must name it in `Host`.
const ADDR: &str = "127.0.0.1:8181";

struct Answer {
    status: StatusCode,
    location: Option<String>,
    cache: Option<String>,
    body: String,
}

async fn send(app: &axum::Router, mut req: Request<Body>) -> Answer {
    req.headers_mut()
        .entry(header::HOST)
        .or_insert(header::HeaderValue::from_static(ADDR));
    let res = app.clone().oneshot(req).await.expect("response");
    let status = res.status();
    let text = |name| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (location, cache) = (text(header::LOCATION), text(header::CACHE_CONTROL));
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    Answer {
        status,
        location,
        cache,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

async fn get(app: &axum::Router, uri: &str) -> Answer {
    send(app, Request::get(uri).body(Body::empty()).expect("request")).await
}

/// The anti-forgery token as a browser finds it: in the unlock page's form while locked,
/// else from `GET /api/csrf` as the lock button's script reads it.
async fn token(app: &axum::Router) -> String {
    let a = get(app, "/unlock").await;
    if a.status == StatusCode::OK {
        let at = a
            .body
            .find("name=\"csrf\" value=\"")
            .expect("a token in the form");
        let rest = &a.body[at + "name=\"csrf\" value=\"".len()..];
        return rest[..rest.find('"').expect("end of the value")].to_owned();
    }
    let a = get(app, "/api/csrf").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let v: serde_json::Value = serde_json::from_str(&a.body).expect("JSON");
    v["csrf"].as_str().expect("csrf").to_owned()
}

/// A form post from the UI's own page (`same-origin`), or from another site, with the
/// page's anti-forgery token.
async fn post(app: &axum::Router, uri: &str, form: &str, site: &str) -> Answer {
    let token = token(app).await;
    let form = if form.is_empty() {
        format!("csrf={token}")
    } else {
        format!("csrf={token}&{form}")
    };
    post_raw(app, uri, &form, site).await
}

/// A form post as given, token or not.
/// Unlocks the UI with the right passphrase, from its own pages.
async fn unlock(app: &axum::Router) -> Answer {
    post(
        app,
        "/unlock",
        &format!("passphrase={PASSPHRASE}"),
        "same-origin",
    )
    .await
}

/// The page's autosave: the form's fields as JSON, kept as its draft.
async fn put_draft(app: &axum::Router, form: &str, json: &str) -> Answer {
    let req = Request::put(format!("/api/drafts?form={form}"))
        .header(header::CONTENT_TYPE, "application/json")
        .header("sec-fetch-site", "same-origin")
        .body(Body::from(json.to_owned()))
        .expect("request");
    send(app, req).await
}

/// Auto-lock struck mid-form: what the page saves meanwhile is held, the unlock goes back to
/// the form, and the draft is there for it.
#[tokio::test]
async fn a_draft_sent_while_locked_waits_for_the_unlock_and_its_form() {
    let (_dir, app) = locked_ui();
    let a = put_draft(&app, "household:new", r#"{"info.village":"三合村"}"#).await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);
    assert!(a.body.contains(r#""held":true"#), "{}", a.body);
    assert_eq!(
        get(&app, "/api/drafts?form=household:new").await.status,
        StatusCode::LOCKED
    );
    let page = get(&app, "/unlock?next=/h/new").await;
    assert!(
        page.body.contains(r#"name="next" value="/h/new""#),
        "{}",
        page.body
    );
    let a = post(
        &app,
        "/unlock",
        &format!("passphrase={PASSPHRASE}&next=/h/new"),
        "same-origin",
    )
    .await;
    assert_eq!(a.location.as_deref(), Some("/h/new"));
    let a = get(&app, "/api/drafts?form=household:new").await;
    assert!(a.body.contains("三合村"), "{}", a.body);
    // Never to another site.
    let page = get(&app, "/unlock?next=//evil.example/").await;
    assert_eq!(
        page.location.as_deref(),
        Some("/"),
        "already unlocked: home"
    );
    assert!(put_draft(&app, "nosuch:1", "{}").await.status == StatusCode::NOT_FOUND);
}

async fn post_raw(app: &axum::Router, uri: &str, form: &str, site: &str) -> Answer {
    let req = Request::post(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("sec-fetch-site", site)
        .body(Body::from(form.to_owned()))
        .expect("request");
    send(app, req).await
}

fn addr() -> std::net::SocketAddr {
    ADDR.parse().expect("address")
}

fn locked_ui() -> (tempfile::TempDir, axum::Router) {
    let dir = tempfile::tempdir().expect("dir");
    let mut store = Store::create(dir.path(), PASSPHRASE).expect("store");
    store.init("u-test", "测试员").expect("init");
    drop(store);
    let app = router(AppState::locked(dir.path().to_owned(), false).bound_to(addr()));
    (dir, app)
}

#[tokio::test]
async fn locked_only_the_unlock_page_answers() {
    let (_dir, app) = locked_ui();
    // The unlock page returns to the page asked for (whose draft the page then restores).
    for (uri, to) in [
        ("/", "/unlock"),
        ("/h/new", "/unlock?next=/h/new"),
        ("/sync", "/unlock?next=/sync"),
        ("/h/hh-1/edit?x=1", "/unlock?next=/h/hh-1/edit%3Fx%3D1"),
    ] {
        let a = get(&app, uri).await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{uri}");
        assert_eq!(a.location.as_deref(), Some(to), "{uri}");
    }

    let a = get(&app, "/api/sync").await;
    assert_eq!(a.status, StatusCode::LOCKED);
    assert!(a.body.contains("已锁定"), "{}", a.body);
    let a = get(&app, "/unlock").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains("输入口令解锁"), "{}", a.body);
    assert!(!a.body.contains("测试员"), "nothing of the store shows");
}

#[tokio::test]
async fn unlock_takes_the_right_passphrase_from_this_ui_only_and_lock_drops_it() {
    let (_dir, app) = locked_ui();
    let right = format!("passphrase={PASSPHRASE}");
    let a = post(&app, "/unlock", &right, "cross-site").await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(get(&app, "/").await.location.as_deref(), Some("/unlock"));
    // Without the page's token, or with another, the right passphrase opens nothing.
    for form in [right.clone(), format!("csrf=0123&{right}")] {
        let a = post_raw(&app, "/unlock", &form, "same-origin").await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{form}");
        assert!(a.body.contains("页面已过期"), "{}", a.body);
        assert_eq!(get(&app, "/").await.location.as_deref(), Some("/unlock"));
    }

    let a = post(&app, "/unlock", "passphrase=999999", "same-origin").await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.body.contains("口令错误"), "{}", a.body);

    let a = post(&app, "/unlock", &right, "same-origin").await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.location.as_deref(), Some("/"));
    let a = get(&app, "/").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains("测试员"));
    assert_eq!(
        a.cache.as_deref(),
        Some("no-store"),
        "pages stay out of the browser's disk cache"
    );

    assert_eq!(
        post(&app, "/lock", "", "cross-site").await.status,
        StatusCode::FORBIDDEN
    );
    for form in ["", "csrf=", "csrf=0123"] {
        let a = post_raw(&app, "/lock", form, "same-origin").await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{form}");
        assert_eq!(
            get(&app, "/").await.status,
            StatusCode::OK,
            "still unlocked"
        );
    }
    let a = post(&app, "/lock", "", "same-origin").await;
    assert_eq!(a.location.as_deref(), Some("/unlock"));
    assert_eq!(get(&app, "/").await.location.as_deref(), Some("/unlock"));
    assert_eq!(get(&app, "/api/sync").await.status, StatusCode::LOCKED);
}

#[tokio::test]
async fn repeated_wrong_guesses_are_slowed_down() {
    let (_dir, app) = locked_ui();
    for _ in 0..4 {
        let a = post(&app, "/unlock", "passphrase=000000", "same-origin").await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    }
    // Even the right passphrase waits its turn now.
    let a = unlock(&app).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(a.body.contains("秒后再试"), "{}", a.body);
}

#[tokio::test]
async fn a_new_store_gets_its_passphrase_set_twice() {
    let dir = tempfile::tempdir().expect("dir");
    let app = router(AppState::locked(dir.path().to_owned(), true).bound_to(addr()));
    let a = get(&app, "/unlock").await;
    assert!(a.body.contains("设置口令") && a.body.contains("再次输入口令"));
    for (form, why) in [
        ("passphrase=112233&confirm=112234", "不一致"),
        ("passphrase=11223&confirm=11223", "口令太短"),
    ] {
        let a = post(&app, "/unlock", form, "same-origin").await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{form}");
        assert!(a.body.contains(why), "{form}");
    }
    assert!(!dir.path().join("zoufang.db").exists());
    let a = post(
        &app,
        "/unlock",
        "passphrase=112233&confirm=112233",
        "same-origin",
    )
    .await;
    assert_eq!(a.location.as_deref(), Some("/"));
    let a = get(&app, "/").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        a.body.contains("演示调查员"),
        "demo data seeded once unlocked"
    );
    assert!(Store::unlock(dir.path(), "112233").is_ok());
}

#[tokio::test]
async fn an_idle_ui_locks_itself() {
    let (dir, _) = locked_ui();
    let state = AppState::locked(dir.path().to_owned(), false);
    state.lock_when_idle(std::time::Duration::from_secs(2));
    let app = router(state.bound_to(addr()));
    let a = unlock(&app).await;
    assert_eq!(a.location.as_deref(), Some("/"));
    assert_eq!(get(&app, "/").await.status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    assert_eq!(get(&app, "/").await.location.as_deref(), Some("/unlock"));
}

#[tokio::test]
async fn only_requests_naming_this_ui_are_answered() {
    let (_dir, app) = locked_ui();
    let with_host = |host: &'static str| {
        Request::get("/unlock")
            .header(header::HOST, host)
            .body(Body::empty())
            .expect("request")
    };
    for host in ["127.0.0.1:8181", "localhost:8181", "LocalHost:8181"] {
        assert_eq!(
            send(&app, with_host(host)).await.status,
            StatusCode::OK,
            "{host}"
        );
    }
    for host in [
        "evil.example",
        "evil.example:8181",
        "127.0.0.1:8182",
        "localhost",
    ] {
        let a = send(&app, with_host(host)).await;
        assert_eq!(a.status, StatusCode::MISDIRECTED_REQUEST, "{host}");
        assert!(!a.body.contains("csrf"), "no token for {host}");
    }
    // No Host at all (HTTP/1.0), and an absolute-form target naming another host.
    let res = app
        .clone()
        .oneshot(
            Request::get("/unlock")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    assert_eq!(res.status(), StatusCode::MISDIRECTED_REQUEST);
    let a = send(
        &app,
        Request::get("http://evil.example/unlock")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(a.status, StatusCode::MISDIRECTED_REQUEST);

    // A write from another origin is refused whatever it carries.
    let token = token(&app).await;
    let form = format!("csrf={token}&passphrase={PASSPHRASE}");
    for origin in ["http://evil.example", "null", "http://localhost:9999"] {
        let req = Request::post("/unlock")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ORIGIN, origin)
            .body(Body::from(form.clone()))
            .expect("request");
        assert_eq!(
            send(&app, req).await.status,
            StatusCode::FORBIDDEN,
            "{origin}"
        );
    }
    assert_eq!(get(&app, "/").await.location.as_deref(), Some("/unlock"));
    let req = Request::post("/unlock")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ORIGIN, "http://localhost:8181")
        .body(Body::from(form))
        .expect("request");
    assert_eq!(send(&app, req).await.location.as_deref(), Some("/"));
}

#[tokio::test]
async fn an_unbound_ui_answers_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let app = router(AppState::locked(dir.path().to_owned(), false));
    assert_eq!(
        get(&app, "/unlock").await.status,
        StatusCode::MISDIRECTED_REQUEST
    );
}
