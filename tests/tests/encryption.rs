//! Encryption at rest, end to end: after a day's work on a device (roster import, edits with
//! phone and income, a photo through the web UI, a sync), no file in its data directory holds a
//! name, a resident ID number, a phone number, an income or the photo's bytes.

use std::path::Path;

use serde_json::Value;
use zoufang_e2e::{ClientProcess, ServerProcess, TestDb, couple_roster, photos};

const HOUSEHOLD: &str = "hh-530921100201001";
const PHONE: &str = "13987654321";
const WAGE: &str = "8765432";

fn roster() -> String {
    couple_roster(
        ("字秀兰", "女", "19690214", "022"),
        ("鲁永福", "男", "19670930", "011"),
    )
}

/// A JPEG whose header says 64×48 and whose body is bytes found nowhere else.
fn jpeg() -> Vec<u8> {
    let mut j = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
    j.extend_from_slice(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
    j.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x11, 0x08, 0x00, 48, 0x00, 64, 0x03]);
    j.extend_from_slice(&[0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01]);
    // A deterministic, non-repeating body (an LCG), so any 32-byte window is distinctive.
    let mut x: u32 = 0x2545_f491;
    j.extend((0..20_000).map(|_| {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (x >> 24) as u8
    }));
    j.extend_from_slice(&[0xFF, 0xD9]);
    j
}

/// Every needle found in the files under `dir` (recursively), as "file: needle".
fn found_in(dir: &Path, needles: &[(String, Vec<u8>)]) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let bytes = std::fs::read(&path).expect("read file");
            for (label, needle) in needles {
                if bytes.windows(needle.len()).any(|w| w == needle.as_slice()) {
                    hits.push(format!("{}: {label}", path.display()));
                }
            }
        }
    }
    hits
}

/// What must not be readable: the household's names, ID numbers, phone and incomes as the
/// export shows them, and a slice of the photo.
fn needles(export: &Value, photo: &[u8]) -> Vec<(String, Vec<u8>)> {
    let h = zoufang_e2e::exported_household(export, HOUSEHOLD);
    let mut texts: Vec<String> = vec![PHONE.into(), WAGE.into()];
    for m in h["members"].as_object().expect("members").values() {
        texts.push(m["name"].as_str().expect("name").into());
        texts.push(m["id_number"].as_str().expect("id number").into());
    }
    for (_, year) in h["incomes"].as_object().expect("incomes") {
        for v in year.as_object().expect("income year").values() {
            let text = match v {
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.clone(),
                _ => continue,
            };
            // Amounts long enough not to occur by chance.
            if text.len() >= 5 {
                texts.push(text);
            }
        }
    }
    let mut all: Vec<(String, Vec<u8>)> = texts
        .into_iter()
        .map(|t| (t.clone(), t.into_bytes()))
        .collect();
    all.push(("the photo".into(), photo[200..232].to_vec()));
    all
}

#[tokio::test]
async fn a_copied_data_directory_reveals_no_personal_data() {
    let db = TestDb::sqlite();
    let (_server, device) = ServerProcess::start_with_surveyor(&db.url, &["530921100"]).await;

    // The roster file is the user's input, not the store: it lives elsewhere.
    let input = tempfile::tempdir().expect("input dir");
    let csv = input.path().join("roster.csv");
    std::fs::write(&csv, roster()).expect("csv");
    device.ok(&["import", &csv.display().to_string()]).await;
    device.ok(&["edit", HOUSEHOLD, "info.phone", PHONE]).await;
    device
        .ok(&["edit", HOUSEHOLD, "incomes.2026.wage", WAGE])
        .await;

    let photo = jpeg();
    let ui = ClientProcess::start(device.data.path()).await;
    let http = reqwest::Client::new();
    let uploaded = photos::upload(&http, &ui.url, "image/jpeg", photo.clone()).await;
    let hash = &uploaded["hash"];
    photos::record_visit(&http, &ui.url, HOUSEHOLD, "2026-11-20", "张调查", &[hash]).await;
    // Killed, as a phone's battery dies: the WAL still holds the photo. A copy of the
    // directory as it is then is scanned too.
    ui.kill().await;
    let killed = tempfile::tempdir().expect("snapshot dir");
    let mut wal = false;
    for entry in std::fs::read_dir(device.data.path()).expect("data dir") {
        let path = entry.expect("entry").path();
        wal |= path.to_string_lossy().ends_with("-wal");
        std::fs::copy(&path, killed.path().join(path.file_name().expect("name"))).expect("copy");
    }
    assert!(wal, "the killed UI left no WAL to look into");

    let report = device.sync().await;
    assert_eq!(report["accepted"], 1, "{report}");
    assert_eq!(report["attachments_uploaded"], 1, "{report}");

    let export = device.export().await;
    let needles = needles(&export, &photo);
    assert!(needles.len() >= 7, "{needles:?}");

    // The scan itself finds these needles where they are in clear: the roster file holds the
    // names and ID numbers, a plain SQLite file written with them holds them all.
    let control = tempfile::tempdir().expect("control dir");
    std::fs::copy(&csv, control.path().join("roster.csv")).expect("copy");
    let plain = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}?mode=rwc",
        control.path().join("plain.db").display()
    ))
    .await
    .expect("plain db");
    sqlx::query("CREATE TABLE t (v BLOB)")
        .execute(&plain)
        .await
        .expect("table");
    for (_, n) in &needles {
        sqlx::query("INSERT INTO t VALUES (?)")
            .bind(n.as_slice())
            .execute(&plain)
            .await
            .expect("insert");
    }
    plain.close().await;
    let control_hits = found_in(control.path(), &needles);
    assert!(
        control_hits.len() > needles.len(),
        "the scan misses data in clear: {control_hits:?}"
    );

    let files: Vec<String> = std::fs::read_dir(device.data.path())
        .expect("data dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(files.iter().any(|f| f == "zoufang.db"), "{files:?}");
    let mut hits = found_in(device.data.path(), &needles);
    hits.extend(found_in(killed.path(), &needles));
    assert!(
        hits.is_empty(),
        "personal data in clear: {hits:?} (files {files:?})"
    );
}
