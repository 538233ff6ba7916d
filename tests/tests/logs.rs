//! No personal data in logs or URLs. A whole story — households whose members have known ID
//! numbers, phones and a bank account entered on devices and synced; reviewers of every kind
//! reading the report, rosters, households, conflicts, checks and spot checks and following
//! every link of those pages, downloading exports, deciding and settling on the pages and
//! through the API; the field devices syncing the decisions back — runs against a server that
//! logs at `debug`. Then every line the server logged, everything the field client printed on
//! stderr, every URL requested or redirected to and every link and form target of every page
//! is searched for those ID numbers, phones and bank accounts (and the password): none may
//! hold one.

use std::collections::{BTreeSet, VecDeque};

use reqwest::StatusCode;
use serde_json::json;
use zoufang_e2e::access::{SHILI, UrlLog, Web, XIAOWAN, county, hrefs, links};
use zoufang_e2e::{ServerProcess, TEST_PASSWORD, TestDb};

/// Follows every same-site link from `start`, breadth first, up to `max` pages; returns how
/// many were fetched. Every link seen goes into the session's URL log.
async fn crawl(web: &Web, start: &str, max: usize) -> usize {
    let mut seen = BTreeSet::new();
    let mut queue = VecDeque::from([start.to_owned()]);
    let mut fetched = 0;
    while let Some(path) = queue.pop_front() {
        if fetched >= max {
            break;
        }
        let path = path.split('#').next().unwrap_or("").to_owned();
        if path.is_empty() || !path.starts_with('/') || !seen.insert(path.clone()) {
            continue;
        }
        let a = web.get(&path).await;
        fetched += 1;
        assert!(!a.status.is_server_error(), "{path}: {}", a.status);
        let is_html = a
            .header("content-type")
            .is_some_and(|c| c.starts_with("text/html"));
        if !is_html {
            continue;
        }
        let html = a.text();
        if let Ok(mut urls) = web.urls.lock() {
            urls.extend(links(&html));
        }
        queue.extend(hrefs(&html));
    }
    fetched
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_data_never_reaches_logs_or_urls() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().expect("dir");
    let log = dir.path().join("server.log");
    let server = ServerProcess::start_logged(&db.url, &log, "debug").await;
    let county = county(
        server,
        &[
            ("leader", "team_leader", SHILI),
            ("admin", "admin", "530921"),
        ],
    )
    .await;
    let url = county.server.url.clone();
    let (own, other) = (&county.shili, &county.xiaowan);
    let urls = UrlLog::default();

    // Every kind of reviewer signs in on the login page and follows every link.
    let tr = Web::login_page(&url, "tr_a", &urls).await;
    let cs = Web::login_page(&url, "county", &urls).await;
    let leader = Web::login_page(&url, "leader", &urls).await;
    let admin = Web::login_page(&url, "admin", &urls).await;
    let surveyor = Web::login_page(&url, "field_a", &urls).await;
    let mut pages = 0;
    for (w, max) in [
        (&tr, 150),
        (&cs, 150),
        (&leader, 60),
        (&admin, 60),
        (&surveyor, 40),
    ] {
        pages += crawl(w, "/report", max).await;
        for start in ["/conflicts", "/checks", &format!("/spot?township={SHILI}")] {
            pages += crawl(w, start, 20).await;
        }
    }
    for p in [
        format!("/export/roster?area={SHILI}&format=csv"),
        format!("/export/roster?area={SHILI}&format=xlsx"),
        format!("/export/report?area={SHILI}&format=xlsx"),
    ] {
        assert_eq!(tr.get(&p).await.status, StatusCode::OK, "{p}");
    }

    // Decisions and settlements on the pages …
    let a = tr
        .post_decision(&own.id, &own.cases[0], "township_review", "passed", "")
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.text());
    for (case, step) in [
        (&own.cases[1], "county_decision"),
        (&own.cases[2], "announcement"),
    ] {
        let a = cs.post_decision(&own.id, case, step, "passed", "").await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{step}: {}", a.text());
    }
    let a = leader
        .post_settle(&own.id, &own.conflicts[0], "pick:1", None)
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.text());
    // living.house_area_m2: a number typed for a number field.
    let a = tr
        .post_settle(&own.id, &own.conflicts[6], "typed", Some("85"))
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.text());
    let a = cs
        .post_spot_check(SHILI, &own.id, "problem", "户主不在家")
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.text());
    for w in [&tr, &cs, &leader] {
        pages += crawl(w, &format!("/households/{}?done=decided", own.id), 5).await;
    }
    // … and through the API, in the other township.
    let tr_b = Web::login_api(&url, "tr_b", &urls).await;
    for p in [
        format!("/api/review/report?area={XIAOWAN}"),
        format!("/api/review/roster?area={XIAOWAN}"),
        format!("/api/review/households/{}", other.id),
        format!("/api/review/conflicts?area={XIAOWAN}"),
    ] {
        assert_eq!(tr_b.get(&p).await.status, StatusCode::OK, "{p}");
    }
    let a = tr_b
        .post_json(
            "/api/review/decide",
            &json!({ "household": other.id, "case": other.cases[0], "step": "township_review",
                     "outcome": "returned", "comment": "请补充收入证明" }),
        )
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.text());
    let a = tr_b
        .post_json(
            "/api/review/settle",
            &json!({ "household": other.id, "path": other.conflicts[0], "value": "9" }),
        )
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.text());

    // The field teams take the decisions home; what the client prints on stderr is kept.
    let mut client_stderr = String::new();
    for d in &county.devices {
        for args in [&["--json", "sync"][..], &["list"][..], &["sync"][..]] {
            let (status, out, err) = d.run(args).await;
            assert!(status.success(), "zoufang {args:?}: {err}");
            if args[0] == "--json" {
                let report: serde_json::Value = serde_json::from_str(&out).expect("sync report");
                assert!(
                    report["pulled_changes"].as_u64().unwrap_or(0) > 0,
                    "the decisions reach the device: {report}"
                );
            }
            client_stderr.push_str(&err);
        }
    }
    county.server.kill().await;

    // Now search.
    let mut secrets: Vec<String> = own.personal_data();
    secrets.extend(other.personal_data());
    secrets.push(TEST_PASSWORD.to_owned());
    assert!(secrets.iter().all(|s| s.len() >= 11), "{secrets:?}");
    let log_text = std::fs::read_to_string(&log).expect("the server's log");
    let lines: Vec<String> = log_text.lines().map(strip_ansi).collect();
    assert!(
        lines.iter().any(|l| l.contains("DEBUG"))
            && lines.iter().any(|l| l.contains("review login")),
        "the log was captured at debug level: {} lines",
        lines.len()
    );
    let urls = urls.lock().map(|u| u.clone()).unwrap_or_default();
    let mut hits = Vec::new();
    for s in &secrets {
        hits.extend(
            lines
                .iter()
                .filter(|l| l.contains(s.as_str()))
                .map(|l| format!("server log: {l}")),
        );
        hits.extend(
            urls.iter()
                .filter(|u| u.contains(s.as_str()))
                .map(|u| format!("URL: {u}")),
        );
        hits.extend(
            client_stderr
                .lines()
                .filter(|l| l.contains(s.as_str()))
                .map(|l| format!("client stderr: {l}")),
        );
    }
    println!(
        "searched {} log lines, {} URLs, {} bytes of client stderr ({pages} pages crawled) for {} values: {} hits",
        lines.len(),
        urls.len(),
        client_stderr.len(),
        secrets.len(),
        hits.len()
    );
    assert!(
        hits.is_empty(),
        "personal data leaked:\n{}",
        hits.join("\n")
    );
}
