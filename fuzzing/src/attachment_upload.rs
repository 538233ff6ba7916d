//! Photo and signature uploads: the client's check of an image (its type sniffed from the bytes
//! against the declared type, its size read from the header), and the server's resumable
//! chunked upload (hash, type, size limits, offsets, completion only on a matching digest).
//!
//! Input layout (every part optional; what is missing reads as zero):
//! - byte 0: bits 0–1 the declared type (JPEG, PNG, GIF, none), bits 2–3 the name (the body's
//!   SHA-256, another content's, not a hash, the body's in upper case), bit 4 an explicit total
//! - the total, 8 bytes little-endian, when bit 4 says so (else the body's length)
//! - one byte: the number of chunks (at most [`MAX_CHUNKS`])
//! - per chunk: a mode byte (bit 0: an explicit offset follows, 8 bytes; else the next offset),
//!   then its length (2 bytes): it carries the body's next bytes
//! - the rest: the image body

use std::sync::OnceLock;

use sha2::{Digest, Sha256};
use zoufang_client::store::{AttachmentError, image_size};
use zoufang_server::attachments::{UploadError, upload_chunk};
use zoufang_server::storage::{Backend, Database};
use zoufang_shared::wire::UploadState;
use zoufang_storage_any::sqlite::SqliteDb;

pub const MAX_CHUNKS: usize = 8;

pub fn run(data: &[u8]) {
    upload(data);
}

/// [`run`], returning the answer to the last chunk the server took (for the tests).
pub fn upload(data: &[u8]) -> Option<UploadState> {
    let mut input = Input(data);
    let flags = input.byte();
    let mime = ["image/jpeg", "image/png", "image/gif", ""][usize::from(flags & 3)];
    let explicit_total = (flags & 16 != 0).then(|| input.i64());
    let chunks: Vec<(Option<i64>, usize)> = (0..usize::from(input.byte()).min(MAX_CHUNKS))
        .map(|_| {
            let offset = (input.byte() & 1 == 1).then(|| input.i64());
            (offset, usize::from(input.u16()))
        })
        .collect();
    let body = input.0;

    client_check(body, mime);

    let hash = match (flags >> 2) & 3 {
        0 => hex(&Sha256::digest(body)),
        1 => hex(&Sha256::digest([body, b"other"].concat())),
        2 => String::from_utf8_lossy(body.get(..64).unwrap_or(body)).into_owned(),
        _ => hex(&Sha256::digest(body)).to_uppercase(),
    };
    let total = explicit_total.unwrap_or(body.len() as i64);
    server_upload(&hash, mime, total, &chunks, body)
}

/// The client accepts an image only when its bytes are of the declared type and its size reads.
fn client_check(body: &[u8], mime: &str) {
    match image_size(body, mime) {
        Ok(_) => {
            let sniffed = imagesize::image_type(body).expect("an accepted image has a type");
            let expected = match mime {
                "image/jpeg" => imagesize::ImageType::Jpeg,
                "image/png" => imagesize::ImageType::Png,
                other => panic!("accepted an image declared as {other:?}"),
            };
            assert_eq!(sniffed, expected);
        }
        Err(AttachmentError::UnsupportedType) => {
            assert!(mime != "image/jpeg" && mime != "image/png");
        }
        Err(AttachmentError::Unreadable) => {}
        Err(e) => panic!("image_size gave {e}"),
    }
}

/// Sends the chunks in order to a server database that holds no attachment yet.
fn server_upload(
    hash: &str,
    mime: &str,
    total: i64,
    chunks: &[(Option<i64>, usize)],
    body: &[u8],
) -> Option<UploadState> {
    let Server { runtime, db, .. } = server();
    runtime.block_on(async {
        // Each input starts with no attachment stored, so that a run depends on its input only.
        for sql in ["DELETE FROM attachments", "DELETE FROM attachment_uploads"] {
            sqlx::query(sql)
                .execute(db.pool())
                .await
                .expect("the attachment tables empty");
        }
        let mut next = 0i64;
        let mut taken = 0usize;
        let mut last = None;
        for &(offset, len) in chunks {
            let offset = offset.unwrap_or(next);
            let chunk = body.get(taken..).unwrap_or_default();
            let chunk = chunk.get(..len).unwrap_or(chunk);
            taken += chunk.len();
            match upload_chunk(db, hash, mime, total, offset, chunk).await {
                Ok(state) if state.complete => {
                    let stored = db
                        .attachment(hash)
                        .await
                        .expect("reads")
                        .expect("a completed upload is stored");
                    assert!(stored.complete);
                    assert_eq!(
                        hex(&Sha256::digest(&stored.bytes)),
                        hash,
                        "only what matches"
                    );
                    assert_eq!(stored.bytes.len() as i64, total);
                    assert_eq!(state.offset, total);
                    next = total;
                    last = Some(state);
                }
                Ok(state) => {
                    assert!(0 < state.offset && state.offset < total);
                    next = state.offset;
                    last = Some(state);
                }
                Err(UploadError::WrongOffset(state)) => {
                    assert!(0 <= state.offset && state.offset <= total.max(0));
                    next = state.offset;
                }
                Err(UploadError::Db(e)) => panic!("database error: {e}"),
                Err(_) => {}
            }
        }
        last
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

struct Server {
    runtime: tokio::runtime::Runtime,
    db: SqliteDb,
    _dir: tempfile::TempDir,
}

/// One server database per process, on a RAM disk where there is one (every chunk is a
/// synchronous commit).
fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm)
        } else {
            tempfile::tempdir()
        }
        .expect("a temporary directory");
        let path = dir.path().join("server.db");
        let db = runtime
            .block_on(SqliteDb::connect(&path.to_string_lossy()))
            .expect("the server database opens");
        Server {
            runtime,
            db,
            _dir: dir,
        }
    })
}

/// Reads the input front to back; past its end every value is zero.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0; N];
        let n = self.0.len().min(N);
        out[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        out
    }

    fn byte(&mut self) -> u8 {
        self.take::<1>()[0]
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.take())
    }

    fn i64(&mut self) -> i64 {
        i64::from_le_bytes(self.take())
    }
}
