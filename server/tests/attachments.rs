//! Attachment uploads: resumable by offset, deduplicated by hash, verified on completion; an
//! unfinished upload is its device's own, within a quota, until it expires.

mod common;

use common::{open, with_pg, with_sqlite};
use sha2::{Digest, Sha256};
use zoufang_server::attachments::{
    UploadError, Uploader, missing, missing_for, upload_chunk, upload_chunk_for,
};
use zoufang_server::storage::Database;
use zoufang_storage_any::AnyDb;

fn hash(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn device(id: &str) -> Uploader<'_> {
    Uploader {
        device_id: id,
        quota: 16 * 1024 * 1024,
        expiry_hours: 24,
    }
}

/// Where `up`'s upload of `h` resumes; `None` once the server has it.
async fn offset(db: &AnyDb, up: &Uploader<'_>, h: &str) -> Option<i64> {
    missing_for(db, up, &[h.to_owned()])
        .await
        .expect("status")
        .pop()
        .map(|s| s.offset)
}

async fn on_both<F, Fut>(test: F)
where
    F: Fn(AnyDb) -> Fut + Copy + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    with_sqlite(|url| async move { test(open(&url).await).await }).await;
    with_pg(|url| async move { test(open(&url).await).await }).await;
}

#[tokio::test]
async fn an_interrupted_upload_resumes_where_it_stopped() {
    on_both(|db| async move {
        let a = device("dev-a");
        let photo: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
        let h = hash(&photo);
        let total = photo.len() as i64;
        assert_eq!(offset(&db, &a, &h).await, Some(0));
        let first = upload_chunk_for(&db, &a, &h, "image/jpeg", total, 0, &photo[..300_000])
            .await
            .expect("first chunk");
        assert_eq!((first.offset, first.complete), (300_000, false));
        // The connection drops; the device asks where to resume.
        assert_eq!(offset(&db, &a, &h).await, Some(300_000));
        // A chunk at the wrong place is refused with the right place.
        match upload_chunk_for(&db, &a, &h, "image/jpeg", total, 0, &photo[..100]).await {
            Err(UploadError::WrongOffset(s)) => assert_eq!(s.offset, 300_000),
            other => panic!("expected a wrong offset, got {other:?}"),
        }
        let done = upload_chunk_for(&db, &a, &h, "image/jpeg", total, 300_000, &photo[300_000..])
            .await
            .expect("last chunk");
        assert!(done.complete);
        assert_eq!(offset(&db, &a, &h).await, None);
        // A retried last chunk, or the same photo from another device: nothing changes.
        let again = upload_chunk_for(&db, &a, &h, "image/jpeg", total, 0, &photo[..100])
            .await
            .expect("duplicate");
        assert!(again.complete);
        let other = upload_chunk_for(&db, &device("dev-b"), &h, "image/jpeg", total, 0, &[1])
            .await
            .expect("another device");
        assert!(other.complete);
        let stored = db.attachment(&h).await.expect("read").expect("stored");
        assert_eq!(stored.bytes, photo);
    })
    .await;
}

#[tokio::test]
async fn bytes_that_do_not_match_their_name_are_discarded() {
    on_both(|db| async move {
        let a = device("dev-a");
        let real = vec![1u8; 1000];
        let h = hash(&real);
        let err = upload_chunk_for(&db, &a, &h, "image/png", 1000, 0, &[2u8; 1000])
            .await
            .expect_err("corrupt");
        assert!(matches!(err, UploadError::Corrupt));
        assert_eq!(offset(&db, &a, &h).await, Some(0));
        upload_chunk_for(&db, &a, &h, "image/png", 1000, 0, &real)
            .await
            .expect("the real bytes");
    })
    .await;
}

/// The examiner's reproduction: the hash is public, so another device announces the photo
/// first. Its bytes neither block the owner's upload nor end up in it.
#[tokio::test]
async fn another_devices_partial_upload_neither_blocks_nor_mixes() {
    on_both(|db| async move {
        let (a, b) = (device("dev-a"), device("dev-b"));
        let photo: Vec<u8> = (0..600_000u32).map(|i| (i % 241) as u8).collect();
        let h = hash(&photo);
        let total = photo.len() as i64;
        let squat = upload_chunk_for(&db, &b, &h, "image/jpeg", 4 * 1024 * 1024, 0, &[0])
            .await
            .expect("B's byte is B's own business");
        assert_eq!(squat.offset, 1);
        // A is told its own offset, not B's.
        assert_eq!(offset(&db, &a, &h).await, Some(0));
        assert_eq!(offset(&db, &b, &h).await, Some(1));
        let half = upload_chunk_for(&db, &a, &h, "image/jpeg", total, 0, &photo[..300_000])
            .await
            .expect("A's first half");
        assert_eq!(half.offset, 300_000);
        // B's next chunk lands in B's upload, not A's.
        let b_next = upload_chunk_for(&db, &b, &h, "image/jpeg", 4 * 1024 * 1024, 1, &[9; 10])
            .await
            .expect("B's second chunk");
        assert_eq!(b_next.offset, 11);
        let done = upload_chunk_for(&db, &a, &h, "image/jpeg", total, 300_000, &photo[300_000..])
            .await
            .expect("A completes");
        assert!(done.complete);
        assert_eq!(
            db.attachment(&h)
                .await
                .expect("read")
                .expect("stored")
                .bytes,
            photo
        );
        // B's partial is gone; B is now told the server has it.
        assert!(
            db.upload_received("dev-b", &h)
                .await
                .expect("read")
                .is_none()
        );
        assert_eq!(offset(&db, &b, &h).await, None);
        let late = upload_chunk_for(&db, &b, &h, "image/jpeg", 4 * 1024 * 1024, 11, &[9; 10])
            .await
            .expect("B's late chunk");
        assert!(late.complete);
    })
    .await;
}

#[tokio::test]
async fn a_devices_unfinished_uploads_stay_within_its_quota() {
    on_both(|db| async move {
        let a = Uploader {
            device_id: "dev-a",
            quota: 1_000_000,
            expiry_hours: 24,
        };
        let one: Vec<u8> = vec![3u8; 600_000];
        let two: Vec<u8> = vec![4u8; 600_000];
        let (h1, h2) = (hash(&one), hash(&two));
        upload_chunk_for(&db, &a, &h1, "image/png", 600_000, 0, &one[..1000])
            .await
            .expect("the first upload starts");
        // Declared sizes count: 600 000 + 600 000 is over 1 000 000, however little came.
        let err = upload_chunk_for(&db, &a, &h2, "image/png", 600_000, 0, &two[..10])
            .await
            .expect_err("over quota");
        assert!(matches!(err, UploadError::OverQuota { .. }), "{err:?}");
        assert!(
            db.upload_received("dev-a", &h2)
                .await
                .expect("read")
                .is_none()
        );
        // Another device has a quota of its own.
        upload_chunk_for(
            &db,
            &device("dev-b"),
            &h2,
            "image/png",
            600_000,
            0,
            &two[..10],
        )
        .await
        .expect("another device's quota");
        // The begun upload can always finish; then there is room again.
        upload_chunk_for(&db, &a, &h1, "image/png", 600_000, 1000, &one[1000..])
            .await
            .expect("the first upload finishes");
        let second = upload_chunk_for(&db, &a, &h2, "image/png", 600_000, 0, &two)
            .await
            .expect("room again");
        assert!(second.complete);
    })
    .await;
}

#[tokio::test]
async fn an_unfinished_upload_expires() {
    on_both(|db| async move {
        let photo = vec![5u8; 2000];
        let h = hash(&photo);
        let a = device("dev-a");
        upload_chunk_for(&db, &a, &h, "image/png", 2000, 0, &photo[..1000])
            .await
            .expect("half");
        let done = vec![6u8; 10];
        upload_chunk_for(&db, &a, &hash(&done), "image/png", 10, 0, &done)
            .await
            .expect("a complete one");
        // With no hours to live, what is unfinished has expired: not reported, then deleted.
        // (Past the clock's resolution first: SQLite keeps milliseconds.)
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let hasty = Uploader {
            expiry_hours: 0,
            ..a
        };
        assert_eq!(offset(&db, &hasty, &h).await, Some(0));
        assert_eq!(
            db.expire_uploads(chrono::Utc::now()).await.expect("expire"),
            1
        );
        assert!(
            db.upload_received("dev-a", &h)
                .await
                .expect("read")
                .is_none()
        );
        assert!(db.attachment(&hash(&done)).await.expect("read").is_some());
    })
    .await;
}

/// Imports (sync bundles) upload on no device's behalf, whole files in one call.
#[tokio::test]
async fn an_upload_on_no_devices_behalf() {
    on_both(|db| async move {
        let photo = vec![7u8; 1500];
        let h = hash(&photo);
        assert_eq!(
            missing(&db, std::slice::from_ref(&h))
                .await
                .expect("status")[0]
                .offset,
            0
        );
        let done = upload_chunk(&db, &h, "image/png", 1500, 0, &photo)
            .await
            .expect("stored");
        assert!(done.complete);
        assert!(missing(&db, &[h]).await.expect("status").is_empty());
    })
    .await;
}

#[tokio::test]
async fn bad_uploads_are_refused() {
    on_both(|db| async move {
        let a = device("dev-a");
        let h = hash(b"x");
        for (hash, mime, total, offset, chunk) in [
            ("not-a-hash", "image/png", 1, 0, vec![1u8]),
            (h.as_str(), "text/html", 1, 0, vec![1u8]),
            (h.as_str(), "image/png", 50 * 1024 * 1024, 0, vec![1u8]),
            (h.as_str(), "image/png", 4 * 1024 * 1024 + 1, 0, vec![1u8]),
            (h.as_str(), "image/png", 1, 0, vec![]),
            (h.as_str(), "image/png", 1, 0, vec![1u8, 2]),
            (h.as_str(), "image/png", 1, -1, vec![1u8]),
        ] {
            assert!(
                upload_chunk_for(&db, &a, hash, mime, total, offset, &chunk)
                    .await
                    .is_err(),
                "{hash} {mime} {total} {offset}"
            );
        }
        assert!(missing_for(&db, &a, &["../etc".to_owned()]).await.is_err());
    })
    .await;
}
