//! What the peers would send for the same work: a whole-record uploader (ODK Collect, CommCare:
//! each edited questionnaire sent whole, gzip JSON, one HTTP POST each) posting to a tiny sink
//! server, and the limit — the edits alone, compressed, in one round trip.

use std::io::{Read, Write};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::post;
use flate2::Compression;
use tokio::task::JoinHandle;

use crate::Res;
use crate::link::{Link, LinkCounts};

/// A server that takes whole-record submissions: unzips and parses each, answers 201.
pub struct Sink {
    pub url: String,
    task: JoinHandle<()>,
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn submit(body: Bytes) -> StatusCode {
    let mut json = Vec::new();
    let parsed = flate2::read::GzDecoder::new(&body[..])
        .read_to_end(&mut json)
        .ok()
        .and_then(|_| serde_json::from_slice::<serde_json::Value>(&json).ok());
    match parsed {
        Some(v) if v.is_object() => StatusCode::CREATED,
        _ => StatusCode::BAD_REQUEST,
    }
}

impl Sink {
    pub async fn start() -> Res<Sink> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("sink: bind: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("sink: address: {e}"))?;
        let app = Router::new().route("/submission", post(submit));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Sink {
            url: format!("http://{addr}"),
            task,
        })
    }
}

pub fn gzip(bytes: &[u8]) -> Res<Vec<u8>> {
    let mut z = flate2::write::GzEncoder::new(Vec::new(), Compression::default());
    z.write_all(bytes).map_err(|e| format!("gzip: {e}"))?;
    z.finish().map_err(|e| format!("gzip: {e}"))
}

pub fn deflate_best(bytes: &[u8]) -> Res<Vec<u8>> {
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), Compression::best());
    z.write_all(bytes).map_err(|e| format!("deflate: {e}"))?;
    z.finish().map_err(|e| format!("deflate: {e}"))
}

/// Posts each gzip body to the sink through `link`, one after another as a submission queue
/// empties; what crossed the link and how long it took.
pub async fn upload_whole(link: &Link, bodies: &[Vec<u8>]) -> Res<(LinkCounts, f64)> {
    let client = reqwest::Client::builder()
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let before = link.counts();
    let t = Instant::now();
    for body in bodies {
        let res = client
            .post(format!("{}/submission", link.url))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::CONTENT_ENCODING, "gzip")
            .body(body.clone())
            .send()
            .await
            .map_err(|e| format!("whole-record upload: {e}"))?;
        if res.status() != reqwest::StatusCode::CREATED {
            return Err(format!(
                "whole-record upload: sink answered {}",
                res.status()
            ));
        }
        res.bytes()
            .await
            .map_err(|e| format!("whole-record upload: {e}"))?;
    }
    Ok((link.counts() - before, t.elapsed().as_secs_f64()))
}
