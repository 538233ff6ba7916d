//! Which requests are heavy (`zoufang_server::heavy`), seen through the whole router: with the
//! one heavy slot taken and no room in line, every heavy route is shed at once (503
//! `overloaded`) and every other one answers as it would anyway.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use tower::ServiceExt;
use zoufang_server::app::{AppState, router};
use zoufang_server::config::Config;

#[tokio::test(flavor = "multi_thread")]
async fn merges_documents_exports_and_passwords_are_heavy() {
    common::with_sqlite(|url| async move {
        let mut config = Config::default();
        config.limits.heavy_concurrency = 1;
        config.limits.heavy_queue = 0;
        let state = Arc::new(AppState::new(common::open(&url).await, config));
        let _taken = state.heavy.admit(0).await.expect("the one slot");
        let app = router(state.clone());
        let answer = |method: Method, path: &str| {
            let req = Request::builder()
                .method(method)
                .uri(path)
                .body(Body::empty())
                .expect("request");
            let app = app.clone();
            async move { app.oneshot(req).await.expect("infallible") }
        };
        for (method, path) in [
            (Method::POST, "/api/sync"),
            (Method::POST, "/api/enroll"),
            (Method::POST, "/login"),
            (Method::POST, "/api/review/login"),
            (Method::GET, "/households/hh-1"),
            (Method::POST, "/households/hh-1/decide"),
            (Method::POST, "/households/hh-1/settle"),
            (Method::GET, "/api/review/households/hh-1"),
            (Method::POST, "/api/review/decide"),
            (Method::POST, "/api/review/settle"),
            (Method::GET, "/export/roster"),
            (Method::GET, "/export/report"),
        ] {
            let res = answer(method.clone(), path).await;
            assert_eq!(
                res.status(),
                StatusCode::SERVICE_UNAVAILABLE,
                "{method} {path}"
            );
            let body = axum::body::to_bytes(res.into_body(), 1 << 16)
                .await
                .expect("body");
            assert!(
                String::from_utf8_lossy(&body).contains("\"overloaded\""),
                "{method} {path}"
            );
        }
        for (method, path) in [
            (Method::GET, "/healthz"),
            (Method::GET, "/login"),
            (Method::GET, "/report"),
            (Method::GET, "/assets/review.css"),
            (Method::POST, "/api/attachments/status"),
        ] {
            let res = answer(method.clone(), path).await;
            assert_ne!(
                res.status(),
                StatusCode::SERVICE_UNAVAILABLE,
                "{method} {path}"
            );
        }
    })
    .await;
}
