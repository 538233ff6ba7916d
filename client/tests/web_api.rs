//! The web UI's API against bad input: every mistake is a 4xx with a Chinese message, and the
//! store is exactly as it was.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use zoufang_client::store::{DbKey, ListFilter, Store};
use zoufang_client::web::{AppState, router};

/// Where the UI under test would listen: requests must name it in `Host`.
const ADDR: &str = "127.0.0.1:8180";

struct Fixture {
    dir: tempfile::TempDir,
    key: DbKey,
    app: axum::Router,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("dir");
        let mut store = Store::create(dir.path(), "test-passphrase").expect("store");
        store.init("u-test", "测试员").expect("init");
        zoufang_client::demo::seed(&mut store).expect("demo data");
        let key = store.key();
        Fixture {
            app: router(
                AppState::new(Store::open(dir.path(), key.clone()).expect("store"))
                    .bound_to(ADDR.parse().expect("address")),
            ),
            key,
            dir,
        }
    }

    async fn send(
        &self,
        method: &str,
        uri: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::CONTENT_TYPE, content_type)
            .header(header::HOST, ADDR)
            .body(Body::from(body))
            .expect("request");
        let res = self.app.clone().oneshot(req).await.expect("response");
        let status = res.status();
        let bytes = res.into_body().collect().await.expect("body").to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn json(&self, method: &str, uri: &str, body: Value) -> (StatusCode, Value) {
        self.send(
            method,
            uri,
            "application/json",
            body.to_string().into_bytes(),
        )
        .await
    }

    /// Everything the store holds, to compare before and after.
    fn snapshot(&self) -> Vec<String> {
        let store = Store::open(self.dir.path(), self.key.clone()).expect("store");
        store
            .list(&ListFilter::default())
            .expect("list")
            .iter()
            .map(|row| {
                let h = store.household(&row.id.as_str().into()).expect("household");
                serde_json::to_string(&h).expect("json")
            })
            .collect()
    }
}

fn message(body: &Value) -> String {
    body.to_string()
}

#[tokio::test]
async fn bad_household_forms_are_refused_field_by_field() {
    let f = Fixture::new();
    let before = f.snapshot();
    let cases = [
        (
            json!({"m.k1.name": "甲", "m.k1.id_number": "530921197003120110"}),
            "m.k1.id_number",
            "证件号码",
        ),
        (
            json!({"m.k1.name": "", "m.k1.relation": "head"}),
            "m.k1.name",
            "姓名",
        ),
        (json!({"income.wage": "-5"}), "income.wage", "负数"),
        (json!({"income.wage": "12.345"}), "income.wage", "两位小数"),
        (
            json!({"living.house_grade": "E"}),
            "living.house_grade",
            "危房等级",
        ),
        (
            json!({"water.trip_minutes": "十分钟"}),
            "water.trip_minutes",
            "非负整数",
        ),
        (
            json!({"info.other_causes": "illness,disability,schooling"}),
            "info.other_causes",
            "最多",
        ),
        (
            json!({"m.k1.name": "乙", "m.k1.left_reason": "death"}),
            "m.k1.left_on",
            "减员",
        ),
    ];
    for (body, field, needle) in cases {
        let (status, res) = f.json("POST", "/api/households", body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {res}");
        let text = res["fields"][field].as_str().unwrap_or_default();
        assert!(
            text.contains(needle),
            "{body}: {field} says {text:?} ({res})"
        );
        // The same form on an existing household is refused the same way.
        let (status, _) = f.json("PUT", "/api/households/demo-00", body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    assert_eq!(f.snapshot(), before, "nothing written");
}

#[tokio::test]
async fn malformed_bodies_are_clear_4xx() {
    let f = Fixture::new();
    let before = f.snapshot();
    for (method, uri) in [
        ("POST", "/api/households"),
        ("PUT", "/api/households/demo-00"),
        ("POST", "/api/preview"),
        ("POST", "/api/households/demo-00/visits"),
        ("POST", "/api/households/demo-00/cases"),
    ] {
        for (ct, body) in [
            ("application/json", b"{not json".to_vec()),
            ("application/json", b"[1, 2, 3]".to_vec()),
            ("application/json", br#"{"info.village": 7}"#.to_vec()),
            ("text/plain", b"{}".to_vec()),
            ("application/json", vec![0xff, 0xfe, 0x00]),
        ] {
            let (status, res) = f.send(method, uri, ct, body.clone()).await;
            assert!(status.is_client_error(), "{method} {uri} {ct}: {status}");
            assert!(
                message(&res).contains("请求内容无效"),
                "{method} {uri}: {res}"
            );
        }
    }
    assert_eq!(f.snapshot(), before);
}

#[tokio::test]
async fn bad_visits_cases_and_steps_are_refused() {
    let f = Fixture::new();
    let before = f.snapshot();
    let visit = |extra: Value| {
        let mut v = json!({"date": "2026-01-05", "visitor": "测试员", "mode": "in_person"});
        for (k, val) in extra.as_object().cloned().unwrap_or_default() {
            v[k] = val;
        }
        v
    };
    let bad_visits = [
        (visit(json!({"date": "2026-02-30"})), "有效日期"),
        (visit(json!({"date": "2999-01-01"})), "不能晚于今天"),
        (visit(json!({"mode": "carrier pigeon"})), "走访方式"),
        (visit(json!({"visitor": "  "})), "走访人"),
        (visit(json!({"photos": ["0".repeat(64)]})), "附件"),
        (visit(json!({"photos": ["../../etc/passwd"]})), "附件"),
        (visit(json!({"surprise": 1})), "请求内容无效"),
    ];
    for (body, needle) in bad_visits {
        let (status, res) = f
            .json("POST", "/api/households/demo-00/visits", body.clone())
            .await;
        assert!(status.is_client_error(), "{body}: {status}");
        assert!(message(&res).contains(needle), "{body}: {res}");
    }
    // An unknown kind, none at all; and demo-01 has a C-grade house: an exit is refused with
    // the reason. (The form offers only the kinds that fit the household's status, but the API
    // takes any: a case may rightly race a status change, see `authority::kind_fits`.)
    for (household, kind, why) in [
        ("demo-00", "promotion", "动态管理类型"),
        ("demo-00", "", "请选择事项类型"),
        ("demo-01", "exit", "住房安全有保障"),
    ] {
        let path = format!("/api/households/{household}/cases");
        let (status, res) = f.json("POST", &path, json!({ "kind": kind })).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{kind}");
        assert!(message(&res).contains(why), "{res}");
    }
    let (status, _) = f
        .json("POST", "/api/households/nope/visits", visit(json!({})))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = f
        .json("POST", "/api/households/..%2Fetc/visits", visit(json!({})))
        .await;
    assert!(status.is_client_error());
    assert_eq!(f.snapshot(), before);

    // A step out of order, on a real case.
    let (status, res) = f
        .json(
            "POST",
            "/api/households/demo-00/cases",
            json!({"kind": "relapse", "reason": "因病"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{res}");
    let case = res["redirect"]
        .as_str()
        .unwrap_or_default()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    // Dated the day the case was proposed (the write model refuses a step before it).
    let today = chrono::Local::now().date_naive().to_string();
    let step =
        |name: &str| json!({"step": name, "outcome": "passed", "date": today, "actor": "王队长"});
    let uri = format!("/api/households/demo-00/cases/{case}/steps");
    let (status, res) = f.json("POST", &uri, step("county_decision")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(message(&res).contains("之前须先完成"), "{res}");
    let (status, res) = f.json("POST", &uri, step("home_check")).await;
    assert_eq!(status, StatusCode::CREATED, "{res}");
}

#[tokio::test]
async fn uploads_must_be_real_small_images() {
    let f = Fixture::new();
    for (content_type, body, why) in [
        ("text/plain", b"hello".to_vec(), "JPEG 或 PNG"),
        ("image/jpeg", b"\x89PNG but not really".to_vec(), "损坏"),
    ] {
        let (status, res) = f.send("POST", "/api/attachments", content_type, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{content_type}");
        assert!(message(&res).contains(why), "{res}");
    }
    let (status, res) = f
        .send(
            "POST",
            "/api/attachments",
            "image/jpeg",
            vec![0xff; 3 * 1024 * 1024],
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{res}");
    // A 2000-pixel-wide PNG header: too large to sync as it is.
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.extend_from_slice(&2000u32.to_be_bytes());
    png.extend_from_slice(&10u32.to_be_bytes());
    png.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
    let (status, res) = f.send("POST", "/api/attachments", "image/png", png).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(message(&res).contains("1600"), "{res}");
    let (status, _) = f
        .send(
            "POST",
            &format!("/api/attachments/{}/original", "a".repeat(64)),
            "image/png",
            vec![1],
        )
        .await;
    assert!(status.is_client_error());
}

#[tokio::test]
async fn a_household_reads_back_as_its_page_shows_it() {
    let f = Fixture::new();
    let (status, h) = f.json("GET", "/api/households/demo-00", Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{h}");
    let household = &h["household"];
    assert_eq!(household["id"], "demo-00");
    let phone = household["info"]["phone"].as_str().expect("phone");
    assert_eq!(phone, "139****5678", "phones masked as on the page");
    for m in household["members"].as_object().expect("members").values() {
        if let Some(id) = m["id_number"].as_str() {
            assert_eq!(id.len(), 18);
            assert_eq!(&id[4..14], "**********", "ID numbers masked: {id}");
        }
    }
    let year = h["year"].as_i64().expect("an assessment year");
    assert_eq!(
        h["assessment"]["standard"]["year"]
            .as_i64()
            .map(|y| y <= year),
        Some(true)
    );
    // The demo year has no line of its own: the 2020 line is carried on, and says so.
    assert!(
        h["assessment"]["notice"]
            .as_str()
            .is_some_and(|n| n.contains("沿用 2020 年标准")),
        "{}",
        h["assessment"]
    );
    assert!(h["findings"].is_array() && h["conflicts"].is_array());

    let (status, body) = f.json("GET", "/api/households/no-such", Value::Null).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("找不到")),
        "{body}"
    );
}

/// A household created here by mistake goes away before it is synced; a draft goes with it.
#[tokio::test]
async fn a_new_household_not_yet_synced_can_be_withdrawn() {
    let f = Fixture::new();
    let (status, res) = f
        .json(
            "POST",
            "/api/households",
            json!({"info.village": "三合村", "m.k1.name": "误建", "m.k1.relation": "head"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{res}");
    let id = res["redirect"]
        .as_str()
        .and_then(|r| r.strip_prefix("/h/"))
        .expect("redirect")
        .to_owned();
    let withdraw = format!("/api/households/{id}/withdraw");
    let (status, res) = f.json("POST", &withdraw, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let (status, _) = f
        .json("GET", &format!("/api/households/{id}"), Value::Null)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!f.snapshot().iter().any(|h| h.contains("误建")));
}
