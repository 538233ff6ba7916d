//! The web UI's lock: locked, nothing but the unlock page answers; unlocking takes the right
//! passphrase from this UI's own page only, and repeated wrong guesses are slowed down.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;
use zoufang_client::store::Store;
use zoufang_client::web::{AppState, router};

const PASSPHRASE: &str = "135790";

struct Answer {
    status: StatusCode,
    location: Option<String>,
    cache: Option<String>,
    body: String,
}

async fn send(app: &axum::Router, req: Request<Body>) -> Answer {
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

/// A form post from the UI's own page (`same-origin`), or from another site.
async fn post(app: &axum::Router, uri: &str, form: &str, site: &str) -> Answer {
    let req = Request::post(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("sec-fetch-site", site)
        .body(Body::from(form.to_owned()))
        .expect("request");
    send(app, req).await
}

fn locked_ui() -> (tempfile::TempDir, axum::Router) {
    let dir = tempfile::tempdir().expect("dir");
    let mut store = Store::create(dir.path(), PASSPHRASE).expect("store");
    store.init("u-test", "测试员").expect("init");
    drop(store);
    let app = router(AppState::locked(dir.path().to_owned(), false));
    (dir, app)
}

#[tokio::test]
async fn locked_only_the_unlock_page_answers() {
    let (_dir, app) = locked_ui();
    for uri in ["/", "/h/new", "/sync", "/h/hh-1"] {
        let a = get(&app, uri).await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{uri}");
        assert_eq!(a.location.as_deref(), Some("/unlock"), "{uri}");
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
    let a = post(
        &app,
        "/unlock",
        &format!("passphrase={PASSPHRASE}"),
        "same-origin",
    )
    .await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(a.body.contains("秒后再试"), "{}", a.body);
}

#[tokio::test]
async fn a_new_store_gets_its_passphrase_set_twice() {
    let dir = tempfile::tempdir().expect("dir");
    let app = router(AppState::locked(dir.path().to_owned(), true));
    let a = get(&app, "/unlock").await;
    assert!(a.body.contains("设置口令") && a.body.contains("再次输入口令"));
    let a = post(
        &app,
        "/unlock",
        "passphrase=112233&confirm=112234",
        "same-origin",
    )
    .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("不一致"));
    let a = post(
        &app,
        "/unlock",
        "passphrase=11223&confirm=11223",
        "same-origin",
    )
    .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("口令太短"));
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
    let app = router(state);
    let a = post(
        &app,
        "/unlock",
        &format!("passphrase={PASSPHRASE}"),
        "same-origin",
    )
    .await;
    assert_eq!(a.location.as_deref(), Some("/"));
    assert_eq!(get(&app, "/").await.status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    assert_eq!(get(&app, "/").await.location.as_deref(), Some("/unlock"));
}
