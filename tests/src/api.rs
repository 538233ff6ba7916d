//! The server's HTTP API spoken directly, as a hostile or broken client would: enrollments with
//! any device id and actor, sync bodies crafted byte by byte.

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use zoufang_shared::wire::{
    self, EnrollRequest, EnrollResponse, ErrorBody, PROTOCOL_VERSION, Push, SYNC_CONTENT_TYPE,
    SyncRequest, SyncResponse,
};

use crate::TEST_PASSWORD;

/// An HTTP response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub content_type: String,
    pub body: Vec<u8>,
    /// The `Retry-After` header, when there is one.
    pub retry_after: Option<String>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `{code, error}` body every API error must have, with a message for people in
    /// Chinese; panics (naming `what`) when the status is not `status` or the body is not that.
    pub fn expect_error(&self, status: StatusCode, what: &str) -> ErrorBody {
        assert_eq!(
            self.status,
            status,
            "{what}: expected HTTP {status}, got {} {}",
            self.status,
            self.text()
        );
        self.error_body(what)
    }

    /// As [`Self::expect_error`], for any 4xx status.
    pub fn expect_client_error(&self, what: &str) -> ErrorBody {
        assert!(
            self.status.is_client_error(),
            "{what}: expected a 4xx, got {} {}",
            self.status,
            self.text()
        );
        self.error_body(what)
    }

    fn error_body(&self, what: &str) -> ErrorBody {
        assert!(
            self.content_type.starts_with("application/json"),
            "{what}: the error body should be JSON, got {:?}: {}",
            self.content_type,
            self.text()
        );
        let body: ErrorBody = serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{what}: error body {:?}: {e}", self.text()));
        assert!(!body.code.is_empty(), "{what}: empty error code");
        assert!(
            has_chinese(&body.error),
            "{what}: the error message should be Chinese: {:?}",
            body.error
        );
        body
    }
}

/// Whether `s` holds a CJK ideograph.
pub fn has_chinese(s: &str) -> bool {
    s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .expect("HTTP client")
}

/// A response's `Content-Type` ("" when it has none).
pub fn content_type(res: &reqwest::Response) -> String {
    res.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// A response, read whole.
pub async fn read(res: reqwest::Response) -> Reply {
    let status = res.status();
    let content_type = content_type(&res);
    let retry_after = res
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = res.bytes().await.expect("response body").to_vec();
    Reply {
        status,
        content_type,
        body,
        retry_after,
    }
}

/// `POST /api/enroll` with a raw body.
pub async fn enroll_raw(server: &str, content_type: &str, body: Vec<u8>) -> Reply {
    let res = client()
        .post(format!("{server}/api/enroll"))
        .header(CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await
        .expect("POST /api/enroll");
    read(res).await
}

/// A device enrolled through the API rather than the client: the test picks its id and actor.
#[derive(Debug, Clone)]
pub struct ApiDevice {
    pub server: String,
    pub device_id: String,
    /// 16 bytes; the only actor this device may write under.
    pub actor: [u8; 16],
    pub token: String,
    pub enrollment: EnrollResponse,
    /// The scope key of the last answer, sent back as a device does.
    scope: std::sync::Arc<std::sync::Mutex<String>>,
}

pub fn actor_hex(actor: &[u8]) -> String {
    actor.iter().map(|b| format!("{b:02x}")).collect()
}

/// `POST /api/enroll` as JSON, with the test password.
pub async fn enroll(server: &str, username: &str, device_id: &str, actor_hex: &str) -> Reply {
    let body = serde_json::to_vec(&EnrollRequest {
        username: username.to_owned(),
        password: TEST_PASSWORD.to_owned(),
        device_id: device_id.to_owned(),
        device_name: format!("API {device_id}"),
        actor: actor_hex.to_owned(),
    })
    .expect("JSON");
    enroll_raw(server, "application/json", body).await
}

/// Where a device's pulls stand (protocol 6): a cursor per county, and a floor for the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullFrom {
    pub floor: i64,
    pub cursors: wire::Cursors,
}

impl PullFrom {
    /// Where `res` left the pulls.
    pub fn after(res: &SyncResponse) -> PullFrom {
        PullFrom {
            floor: res.cursor,
            cursors: res.cursors.clone(),
        }
    }
}

impl ApiDevice {
    /// Enrolls `device_id` writing under `actor` for `username`; panics unless that succeeds.
    pub async fn enroll(server: &str, username: &str, device_id: &str, actor: [u8; 16]) -> Self {
        let reply = enroll(server, username, device_id, &actor_hex(&actor)).await;
        assert_eq!(reply.status, StatusCode::OK, "enroll: {}", reply.text());
        let enrollment: EnrollResponse =
            serde_json::from_slice(&reply.body).expect("enroll response");
        ApiDevice {
            server: server.to_owned(),
            device_id: device_id.to_owned(),
            actor,
            token: enrollment.token.clone(),
            enrollment,
            scope: std::sync::Arc::default(),
        }
    }

    /// One sync request pulling from `cursor` in every county; panics unless the server
    /// answers 200 with a decodable response.
    pub async fn sync(&self, cursor: i64, pushes: Vec<Push>) -> SyncResponse {
        self.sync_from(
            &PullFrom {
                floor: cursor,
                ..PullFrom::default()
            },
            pushes,
        )
        .await
    }

    /// [`ApiDevice::sync`] from where an earlier answer left the pulls.
    pub async fn sync_from(&self, from: &PullFrom, pushes: Vec<Push>) -> SyncResponse {
        self.sync_paged(from, pushes, 8 << 20).await
    }

    /// [`ApiDevice::sync_from`] taking back at most about `max_pull_bytes`.
    pub async fn sync_paged(
        &self,
        from: &PullFrom,
        pushes: Vec<Push>,
        max_pull_bytes: u32,
    ) -> SyncResponse {
        let scope = self.scope.lock().map(|s| s.clone()).unwrap_or_default();
        let req = SyncRequest {
            protocol: PROTOCOL_VERSION,
            cursor: from.floor,
            cursors: from.cursors.clone(),
            scope,
            pushes,
            max_pull_bytes,
            ..SyncRequest::default()
        };
        let reply = self.post_raw(wire::encode(&req).expect("encode")).await;
        assert_eq!(reply.status, StatusCode::OK, "sync: {}", reply.text());
        let mut res: SyncResponse = wire::decode(&reply.body).expect("decode the sync response");
        res.unpack().expect("unpack the pulled changes");
        if let Ok(mut s) = self.scope.lock() {
            s.clone_from(&res.scope);
        }
        res
    }

    /// This device, talking to another server process of the same database.
    pub fn at(&self, server: &str) -> ApiDevice {
        ApiDevice {
            server: server.to_owned(),
            ..self.clone()
        }
    }

    /// `POST /api/sync` of `body` as it is (crafted or hostile bytes), with this device's token.
    pub async fn post_raw(&self, body: Vec<u8>) -> Reply {
        post_sync(
            &self.server,
            Some(&format!("Bearer {}", self.token)),
            Some(SYNC_CONTENT_TYPE),
            body,
        )
        .await
    }

    /// Pulls everything the server lets this device see, following pages.
    pub async fn pull_all(&self) -> Vec<wire::PulledChange> {
        self.pull_to_end().await.0
    }

    /// Every pull from the start to the end: the changes and where the pulls then stand.
    pub async fn pull_to_end(&self) -> (Vec<wire::PulledChange>, PullFrom) {
        let (mut from, mut all) = (PullFrom::default(), Vec::new());
        loop {
            let res = self.sync_from(&from, Vec::new()).await;
            from = PullFrom::after(&res);
            all.extend(res.pulled);
            if !res.more {
                return (all, from);
            }
        }
    }
}

/// `POST /api/sync` with whatever authorization, content type and body.
pub async fn post_sync(
    server: &str,
    authorization: Option<&str>,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Reply {
    let mut req = client().post(format!("{server}/api/sync")).body(body);
    if let Some(a) = authorization {
        req = req.header(AUTHORIZATION, a);
    }
    if let Some(ct) = content_type {
        req = req.header(CONTENT_TYPE, ct);
    }
    read(req.send().await.expect("POST /api/sync")).await
}

/// Sends `head` (the request line and headers, ending in an empty line) and then `body` over a
/// plain TCP connection, closing the sending side afterwards when `close` is set; reads the
/// answer at the same time, so an answer the server gives before it has read the whole body
/// (a 413, say) is seen even when the server then stops reading. Write errors after that are
/// expected and ignored.
pub async fn raw_request(server: &str, head: String, body: Vec<u8>, close: bool) -> Reply {
    let addr = server.trim_start_matches("http://").to_owned();
    let stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let (mut r, mut w) = stream.into_split();
    let writer = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        if w.write_all(head.as_bytes()).await.is_err() {
            return w;
        }
        for chunk in body.chunks(64 * 1024) {
            if w.write_all(chunk).await.is_err() {
                return w;
            }
        }
        if close {
            let _ = w.shutdown().await;
        }
        w
    });
    let mut answer = Vec::new();
    let read = async {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
            if complete(&answer) {
                break;
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), read)
        .await
        .expect("an answer within 60 s");
    writer.abort();
    parse_answer(&answer)
}

/// Whether `answer` holds a whole HTTP response with a `Content-Length`.
fn complete(answer: &[u8]) -> bool {
    let text = String::from_utf8_lossy(answer);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    header(head, "content-length")
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| body.len() >= n)
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}

fn parse_answer(answer: &[u8]) -> Reply {
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| {
            panic!(
                "no HTTP answer: {:?}",
                String::from_utf8_lossy(answer).into_owned()
            )
        });
    let head = String::from_utf8_lossy(&answer[..split]).into_owned();
    let body = &answer[split + 4..];
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or_else(|| panic!("bad status line: {head}"));
    let body = match header(&head, "content-length").and_then(|v| v.parse::<usize>().ok()) {
        Some(n) => body[..n.min(body.len())].to_vec(),
        None => body.to_vec(),
    };
    Reply {
        status,
        content_type: header(&head, "content-type").unwrap_or_default(),
        body,
        retry_after: header(&head, "retry-after"),
    }
}

/// The head of a `POST /api/sync` with a `Content-Length` of `length` (or chunked, for `None`).
pub fn sync_head(server: &str, token: Option<&str>, length: Option<usize>) -> String {
    let host = server.trim_start_matches("http://");
    let mut head = format!(
        "POST /api/sync HTTP/1.1\r\nHost: {host}\r\nContent-Type: {SYNC_CONTENT_TYPE}\r\n\
         Connection: close\r\n"
    );
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    match length {
        Some(n) => head.push_str(&format!("Content-Length: {n}\r\n")),
        None => head.push_str("Transfer-Encoding: chunked\r\n"),
    }
    head.push_str("\r\n");
    head
}

/// `bytes` in HTTP/1.1 chunked encoding, ending with the last chunk.
pub fn chunked(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 1000 + 16);
    for c in bytes.chunks(64 * 1024) {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// A household's document rebuilt from pulled changes, writing under `actor`.
pub fn doc_from(
    pulled: &[wire::PulledChange],
    household: &str,
    actor: zoufang_shared::doc::ActorId,
) -> zoufang_shared::doc::HouseholdDoc {
    use zoufang_shared::doc::{HouseholdDoc, IncomingChange};
    let changes: Vec<IncomingChange> = pulled
        .iter()
        .filter(|p| p.household == household)
        .map(|p| IncomingChange::decode(&p.change).expect("pulled change"))
        .collect();
    assert!(!changes.is_empty(), "{household} was not pulled");
    let mut doc = HouseholdDoc::empty(actor);
    doc.apply(changes).expect("apply pulled changes");
    doc
}

/// What the server answered for one household of a sync.
pub fn outcome<'a>(res: &'a SyncResponse, household: &str) -> &'a wire::PushOutcome {
    &res.results
        .iter()
        .find(|r| r.household == household)
        .unwrap_or_else(|| panic!("no result for {household}: {res:?}"))
        .outcome
}
