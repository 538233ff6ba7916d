//! Photos as a field device takes them: uploaded through the client's UI API and attached to
//! a visit, as the phone does.

use serde_json::{Value, json};

/// A tiny PNG of `width`×`height` (its header is all the client checks), padded with `padding`
/// bytes: past 256 KiB it takes more than one upload chunk.
pub fn png(width: u32, height: u32, padding: usize) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.extend_from_slice(&width.to_be_bytes());
    png.extend_from_slice(&height.to_be_bytes());
    png.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
    png.extend(std::iter::repeat_n(7u8, padding));
    png
}

/// `POST /api/attachments` on the client UI at `ui`: the client's answer (with the `hash`).
pub async fn upload(http: &reqwest::Client, ui: &str, content_type: &str, body: Vec<u8>) -> Value {
    http.post(format!("{ui}/api/attachments"))
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await
        .expect("upload")
        .json()
        .await
        .expect("upload answer")
}

/// Records an in-person visit to `household` on `date` by `visitor` with `photos` (their
/// hashes) through the client UI at `ui`; it must succeed.
pub async fn record_visit(
    http: &reqwest::Client,
    ui: &str,
    household: &str,
    date: &str,
    visitor: &str,
    photos: &[&Value],
) {
    let visit = http
        .post(format!("{ui}/api/households/{household}/visits"))
        .json(&json!({
            "date": date, "visitor": visitor, "mode": "in_person",
            "photos": photos,
        }))
        .send()
        .await
        .expect("visit");
    assert!(
        visit.status().is_success(),
        "{}",
        visit.text().await.unwrap_or_default()
    );
}
