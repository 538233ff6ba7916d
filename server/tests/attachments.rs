//! Attachment uploads: resumable by offset, deduplicated by hash, verified on completion.

use sha2::{Digest, Sha256};
use zoufang_server::attachments::{UploadError, missing, upload_chunk};
use zoufang_server::storage::sqlite::SqliteDb;

fn hash(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn db() -> (tempfile::TempDir, SqliteDb) {
    let dir = tempfile::tempdir().expect("dir");
    let db = SqliteDb::connect(&dir.path().join("s.db").display().to_string())
        .await
        .expect("db");
    (dir, db)
}

#[tokio::test]
async fn an_interrupted_upload_resumes_where_it_stopped() {
    let (_dir, db) = db().await;
    let photo: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
    let h = hash(&photo);
    let total = photo.len() as i64;
    assert_eq!(
        missing(&db, std::slice::from_ref(&h))
            .await
            .expect("status")[0]
            .offset,
        0
    );
    let first = upload_chunk(&db, &h, "image/jpeg", total, 0, &photo[..300_000])
        .await
        .expect("first chunk");
    assert_eq!((first.offset, first.complete), (300_000, false));
    // The connection drops; the device asks where to resume.
    let state = &missing(&db, std::slice::from_ref(&h))
        .await
        .expect("status")[0];
    assert_eq!(state.offset, 300_000);
    // A chunk at the wrong place is refused with the right place.
    match upload_chunk(&db, &h, "image/jpeg", total, 0, &photo[..100]).await {
        Err(UploadError::WrongOffset(s)) => assert_eq!(s.offset, 300_000),
        other => panic!("expected a wrong offset, got {other:?}"),
    }
    let done = upload_chunk(&db, &h, "image/jpeg", total, 300_000, &photo[300_000..])
        .await
        .expect("last chunk");
    assert!(done.complete);
    assert!(
        missing(&db, std::slice::from_ref(&h))
            .await
            .expect("status")
            .is_empty()
    );
    // A retried last chunk, or the same photo from another device: nothing changes.
    let again = upload_chunk(&db, &h, "image/jpeg", total, 0, &photo[..100])
        .await
        .expect("duplicate");
    assert!(again.complete);
}

#[tokio::test]
async fn bytes_that_do_not_match_their_name_are_discarded() {
    let (_dir, db) = db().await;
    let real = vec![1u8; 1000];
    let h = hash(&real);
    let err = upload_chunk(&db, &h, "image/png", 1000, 0, &[2u8; 1000])
        .await
        .expect_err("corrupt");
    assert!(matches!(err, UploadError::Corrupt));
    assert_eq!(
        missing(&db, std::slice::from_ref(&h))
            .await
            .expect("status")[0]
            .offset,
        0
    );
    upload_chunk(&db, &h, "image/png", 1000, 0, &real)
        .await
        .expect("the real bytes");
}

#[tokio::test]
async fn bad_uploads_are_refused() {
    let (_dir, db) = db().await;
    let h = hash(b"x");
    for (hash, mime, total, offset, chunk) in [
        ("not-a-hash", "image/png", 1, 0, vec![1u8]),
        (h.as_str(), "text/html", 1, 0, vec![1u8]),
        (h.as_str(), "image/png", 50 * 1024 * 1024, 0, vec![1u8]),
        (h.as_str(), "image/png", 1, 0, vec![]),
        (h.as_str(), "image/png", 1, 0, vec![1u8, 2]),
        (h.as_str(), "image/png", 1, -1, vec![1u8]),
    ] {
        assert!(
            upload_chunk(&db, hash, mime, total, offset, &chunk)
                .await
                .is_err(),
            "{hash} {mime} {total} {offset}"
        );
    }
    assert!(missing(&db, &["../etc".to_owned()]).await.is_err());
}
