//! Areas, users and devices: imports, duplicates, disabling, enrollment, re-enrollment and
//! revocation.

use zoufang_server::storage::{Database, DbError, DeviceAuth, Role};

use crate::fixtures::{OTHER_TOWNSHIP, TOWNSHIP, VILLAGE, area, device, new_user};

crate::on_both_backends!(accounts_story, sqlite_accounts, pg_accounts, threads = 4);

/// The device enrolled with `token_hash`, if any.
async fn token<D: Database>(db: &D, token_hash: &str) -> Option<DeviceAuth> {
    db.device_by_token(token_hash).await.expect("look up")
}

pub async fn accounts_story<D: Database>(db: D) {
    let tree = [
        area("530921", "双江县", None, "county"),
        area(TOWNSHIP, "勐勐镇", Some("530921"), "township"),
        area(OTHER_TOWNSHIP, "勐库镇", Some("530921"), "township"),
        area(VILLAGE, "忙糯村", Some(TOWNSHIP), "village"),
    ];
    assert_eq!(db.upsert_areas(&tree).await.expect("import areas"), 4);
    let renamed = [area(VILLAGE, "忙糯村委会", Some(TOWNSHIP), "village")];
    assert_eq!(db.upsert_areas(&renamed).await.expect("re-import"), 1);
    let areas = db.areas().await.expect("areas");
    assert_eq!(
        areas.iter().map(|a| a.code.as_str()).collect::<Vec<_>>(),
        ["530921", TOWNSHIP, VILLAGE, OTHER_TOWNSHIP]
    );
    assert_eq!(areas[2], renamed[0]);
    assert_eq!(areas[0].parent, None);

    let alice = db
        .create_user(&new_user("alice", Role::Surveyor, &[VILLAGE]))
        .await
        .expect("create alice");
    let bob = db
        .create_user(&new_user(
            "bob",
            Role::TownshipReviewer,
            &[OTHER_TOWNSHIP, TOWNSHIP, TOWNSHIP],
        ))
        .await
        .expect("create bob");
    assert_ne!(alice, bob);
    let again = db
        .create_user(&new_user("alice", Role::Admin, &["530921"]))
        .await;
    assert!(matches!(again, Err(DbError::Duplicate)), "{again:?}");

    let found = db
        .user_by_name("alice")
        .await
        .expect("look up")
        .expect("alice exists");
    assert_eq!(found.id, alice);
    assert_eq!(found.display_name, "alice 同志");
    assert_eq!(found.password_hash, "$argon2id$v=19$fake$alice");
    assert_eq!(found.role, Role::Surveyor);
    assert!(!found.disabled);
    assert_eq!(found.areas, [VILLAGE]);
    assert!(db.user_by_name("nobody").await.expect("look up").is_none());

    db.set_user_disabled("bob", true).await.expect("disable");
    let missing = db.set_user_disabled("nobody", true).await;
    assert!(matches!(missing, Err(DbError::NotFound)), "{missing:?}");
    let users = db.users().await.expect("users");
    assert_eq!(users.len(), 2);
    assert_eq!(
        users[0], found,
        "the failed duplicate left alice as she was"
    );
    assert_eq!(users[1].username, "bob");
    assert_eq!(users[1].role, Role::TownshipReviewer);
    assert!(users[1].disabled);
    assert_eq!(users[1].areas, [TOWNSHIP, OTHER_TOWNSHIP]);

    // Devices: enroll, look up by token hash.
    let actor_a = "aa".repeat(16);
    let actor_b = "bb".repeat(16);
    // One expiry value: computing "in 30 days" twice may straddle a second.
    let first = device("phone-a", alice, &actor_a, "t1", 30);
    db.enroll_device(&first).await.expect("enroll");
    let auth = token(&db, "t1").await.expect("t1 is valid");
    assert_eq!(auth.device_id, "phone-a");
    assert_eq!(auth.actor, actor_a);
    assert_eq!(auth.expires_at, first.expires_at);
    assert!(!auth.revoked);
    assert_eq!(auth.user, found);
    assert!(token(&db, "t0").await.is_none());

    // The actor belongs to phone-a: no other device may claim it.
    let stolen = db
        .enroll_device(&device("phone-b", bob, &actor_a, "t9", 30))
        .await;
    assert!(matches!(stolen, Err(DbError::Duplicate)), "{stolen:?}");
    // Nor may another user take phone-a's enrollment over.
    let takeover = db
        .enroll_device(&device("phone-a", bob, &actor_b, "t9", 30))
        .await;
    assert!(matches!(takeover, Err(DbError::Duplicate)), "{takeover:?}");
    assert!(token(&db, "t9").await.is_none());

    // Re-enrollment replaces the token: the old one stops working.
    // One expiry value: computing "in 60 days" twice may straddle a second.
    let again = device("phone-a", alice, &actor_a, "t2", 60);
    db.enroll_device(&again).await.expect("re-enroll");
    assert!(token(&db, "t1").await.is_none());
    let auth = token(&db, "t2").await.expect("t2 is valid");
    assert_eq!(auth.expires_at, again.expires_at);

    // Revocation shows on the token; re-enrolling the revoked id is refused, a new id works.
    db.revoke_device("phone-a").await.expect("revoke");
    let auth = token(&db, "t2").await.expect("still known");
    assert!(auth.revoked);
    let missing = db.revoke_device("phone-z").await;
    assert!(matches!(missing, Err(DbError::NotFound)), "{missing:?}");
    let again = db
        .enroll_device(&device("phone-a", alice, &actor_a, "t3", 30))
        .await;
    assert!(matches!(again, Err(DbError::Revoked)), "{again:?}");
    assert!(token(&db, "t3").await.is_none());
    assert!(token(&db, "t2").await.expect("still known").revoked);
    let actor_c = "cc".repeat(16);
    db.enroll_device(&device("phone-c", alice, &actor_c, "t3", 30))
        .await
        .expect("enroll under a new id after revocation");
    let auth = token(&db, "t3").await.expect("t3 is valid");
    assert!(!auth.revoked);

    // A disabled user's device still resolves; the caller refuses it.
    db.enroll_device(&device("phone-b", bob, &actor_b, "t4", 30))
        .await
        .expect("enroll bob");
    let auth = token(&db, "t4").await.expect("t4 is valid");
    assert!(auth.user.disabled);
    assert_eq!(auth.user.areas, [TOWNSHIP, OTHER_TOWNSHIP]);
}
