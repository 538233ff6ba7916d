//! The store's encryption: a store written before encryption is migrated with nothing left in
//! clear, and a crash at any step of a migration or a passphrase change leaves a store that a
//! passphrase opens, with its data.

use std::path::Path;

use rusqlite::Connection;
use zoufang_shared::ids::HouseholdId;
use zoufang_shared::model::Member;

use super::crypt::{KEY_FILE, PENDING_KEY_FILE, REWRITE_FILE};
use super::*;

const OLD: &str = "246810";
const NEW: &str = "新的口令-2026";
const NAME: &str = "字秀兰";
const PHOTO: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10\0\0\0\x10\x08\x02\0\0\0\0\0\0\0-distinctive-photo-bytes-0123456789";

fn id_number() -> String {
    zoufang_shared::demo::id_number("19690214", "022")
}

/// A store in `dir` under `passphrase` with a household (a named member with an ID number)
/// and a photo.
fn filled(dir: &Path, passphrase: &str) -> Store {
    let mut store = Store::create(dir, passphrase).expect("create");
    store.init("zhang", "张调查").expect("init");
    store
        .create_household(&HouseholdId("hh-1".into()), |e| {
            e.add_member(&Member {
                name: NAME.into(),
                id_number: Some(id_number()),
                ..Member::default()
            })?;
            Ok(())
        })
        .expect("household");
    store.put_attachment(PHOTO, "image/png").expect("photo");
    store
}

fn contents(store: &Store) -> (String, Option<(String, Vec<u8>)>) {
    let h = store
        .household(&HouseholdId("hh-1".into()))
        .expect("household");
    let photo = store
        .attachment(&attachments::content_hash(PHOTO))
        .expect("photo");
    (serde_json::to_string(&h).expect("json"), photo)
}

/// Whether any file in `dir` holds the name, the ID number or the photo in clear.
fn in_clear(dir: &Path) -> Vec<String> {
    let id = id_number();
    let needles: [&[u8]; 3] = [NAME.as_bytes(), id.as_bytes(), &PHOTO[24..]];
    let mut hits = Vec::new();
    for entry in std::fs::read_dir(dir).expect("dir") {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("read");
        for n in needles {
            if bytes.windows(n.len()).any(|w| w == n) {
                hits.push(path.display().to_string());
            }
        }
    }
    hits
}

/// Every file in `dir` with its bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut all: Vec<_> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| {
            let p = e.expect("entry").path();
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            (name, std::fs::read(&p).expect("read"))
        })
        .collect();
    all.sort();
    all
}

fn copy_dir(from: &Path, to: &Path) {
    for (name, bytes) in files(from) {
        std::fs::write(to.join(name), bytes).expect("copy");
    }
}

/// A store as written before encryption: `filled`'s data, decrypted into a plaintext file
/// with no key file, and an extra setting only in its WAL, as a killed process leaves it.
fn plaintext_store(dir: &Path) -> (String, Option<(String, Vec<u8>)>) {
    let source = tempfile::tempdir().expect("dir");
    let store = filled(source.path(), OLD);
    let expected = contents(&store);
    let plain = dir.join(DB_FILE);
    store
        .conn
        .execute(
            "ATTACH DATABASE ?1 AS plain KEY ''",
            [plain.to_str().expect("utf-8")],
        )
        .expect("attach");
    store
        .conn
        .query_row("SELECT sqlcipher_export('plain')", [], |_| Ok(()))
        .expect("export");
    store
        .conn
        .pragma_update(Some("plain"), "user_version", migrations::CURRENT_VERSION)
        .expect("version");
    store
        .conn
        .execute("DETACH DATABASE plain", [])
        .expect("detach");
    drop(store);

    let conn = Connection::open(&plain).expect("plain");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    conn.pragma_update(None, "wal_autocheckpoint", 0)
        .expect("no checkpoint");
    conn.execute(
        "INSERT INTO settings(key, value) VALUES ('only_in_wal', ?1)",
        [NAME],
    )
    .expect("setting");
    // Copied while the connection is open: the WAL is not folded in, as after a kill.
    let killed = tempfile::tempdir().expect("dir");
    copy_dir(dir, killed.path());
    drop(conn);
    for entry in std::fs::read_dir(dir).expect("dir") {
        std::fs::remove_file(entry.expect("entry").path()).expect("clear");
    }
    copy_dir(killed.path(), dir);
    expected
}

#[test]
fn a_plaintext_store_is_encrypted_on_first_unlock() {
    let dir = tempfile::tempdir().expect("dir");
    let expected = plaintext_store(dir.path());
    assert!(dir.path().join(format!("{DB_FILE}-wal")).exists());
    assert!(!in_clear(dir.path()).is_empty(), "the scan sees plaintext");
    assert!(Store::needs_passphrase_setup(dir.path()).expect("check"));

    let store = Store::unlock(dir.path(), OLD).expect("migrate");
    assert_eq!(contents(&store), expected);
    assert_eq!(
        store.setting("only_in_wal").expect("setting").as_deref(),
        Some(NAME)
    );
    drop(store);
    assert!(dir.path().join(KEY_FILE).exists());
    assert!(!dir.path().join(REWRITE_FILE).exists());
    assert_eq!(in_clear(dir.path()), Vec::<String>::new());
    assert!(!Store::needs_passphrase_setup(dir.path()).expect("check"));
    assert!(matches!(
        Store::unlock(dir.path(), "another passphrase"),
        Err(StoreError::WrongPassphrase)
    ));
    let again = Store::unlock(dir.path(), OLD).expect("reopen");
    assert_eq!(contents(&again), expected);
}

/// Killed after the key file was written, before the encrypted copy replaced the plaintext:
/// the next unlock with the same passphrase finishes; another passphrase changes nothing.
#[test]
fn an_interrupted_migration_is_finished_with_its_passphrase() {
    let dir = tempfile::tempdir().expect("dir");
    let expected = plaintext_store(dir.path());
    let (header, _) = KeyHeader::new(OLD).expect("header");
    header.write(&dir.path().join(KEY_FILE)).expect("key file");
    // A partial copy.
    std::fs::write(dir.path().join(REWRITE_FILE), b"partial").expect("partial copy");

    let before = files(dir.path());
    assert!(matches!(
        Store::unlock(dir.path(), "another passphrase"),
        Err(StoreError::WrongPassphrase)
    ));
    assert_eq!(
        files(dir.path()),
        before,
        "a wrong passphrase moved nothing"
    );

    let store = Store::unlock(dir.path(), OLD).expect("finish");
    assert_eq!(contents(&store), expected);
    drop(store);
    assert_eq!(in_clear(dir.path()), Vec::<String>::new());
}

#[test]
fn a_wrong_passphrase_touches_no_file() {
    let dir = tempfile::tempdir().expect("dir");
    drop(filled(dir.path(), OLD));
    let before = files(dir.path());
    for wrong in ["246811", "", "x"] {
        assert!(matches!(
            Store::unlock(dir.path(), wrong),
            Err(StoreError::WrongPassphrase)
        ));
    }
    assert_eq!(files(dir.path()), before);
}

#[test]
fn a_damaged_file_under_the_right_passphrase_is_moved_aside() {
    let dir = tempfile::tempdir().expect("dir");
    drop(filled(dir.path(), OLD));
    let db = dir.path().join(DB_FILE);
    let mut bytes = std::fs::read(&db).expect("db");
    for b in &mut bytes[16..4096] {
        *b = !*b;
    }
    std::fs::write(&db, &bytes).expect("damage");
    assert!(matches!(
        Store::unlock(dir.path(), "wrong passphrase"),
        Err(StoreError::WrongPassphrase)
    ));
    assert!(db.exists(), "a wrong passphrase never moves the file");
    match Store::unlock(dir.path(), OLD) {
        Err(StoreError::Corrupt { moved_to }) => {
            assert_eq!(std::fs::read(&moved_to).expect("kept"), bytes);
            let key_copy = format!("{}.key", moved_to.display());
            assert_eq!(
                std::fs::read(key_copy).expect("its key file kept with it"),
                std::fs::read(dir.path().join(KEY_FILE)).expect("key file")
            );
        }
        other => panic!("expected Corrupt, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn changing_the_passphrase_rewrites_the_store() {
    let dir = tempfile::tempdir().expect("dir");
    let mut store = filled(dir.path(), OLD);
    let expected = contents(&store);
    let old_db = std::fs::read(dir.path().join(DB_FILE)).expect("db");
    assert!(matches!(
        store.change_passphrase("12345"),
        Err(StoreError::WeakPassphrase)
    ));
    store.change_passphrase(NEW).expect("change");
    assert_eq!(contents(&store), expected, "usable after the change");
    drop(store);
    assert_ne!(std::fs::read(dir.path().join(DB_FILE)).expect("db"), old_db);
    assert!(!dir.path().join(PENDING_KEY_FILE).exists());
    assert!(!dir.path().join(REWRITE_FILE).exists());
    assert!(matches!(
        Store::unlock(dir.path(), OLD),
        Err(StoreError::WrongPassphrase)
    ));
    assert_eq!(
        contents(&Store::unlock(dir.path(), NEW).expect("new")),
        expected
    );
    assert_eq!(in_clear(dir.path()), Vec::<String>::new());
}

/// The states a crash can leave a passphrase change in, built from the files before and after
/// it: each opens with one of the passphrases, with all the data, and ends as a plain store.
#[test]
fn an_interrupted_passphrase_change_is_finished_or_undone() {
    let before = tempfile::tempdir().expect("dir");
    let expected = contents(&filled(before.path(), OLD));
    let after = tempfile::tempdir().expect("dir");
    copy_dir(before.path(), after.path());
    Store::unlock(after.path(), OLD)
        .expect("open")
        .change_passphrase(NEW)
        .expect("change");
    let read = |d: &tempfile::TempDir, name: &str| std::fs::read(d.path().join(name)).expect(name);
    let (old_db, old_key) = (read(&before, DB_FILE), read(&before, KEY_FILE));
    let (new_db, new_key) = (read(&after, DB_FILE), read(&after, KEY_FILE));

    // Files present; a case: a state, the passphrase typed, and the passphrase the store has
    // afterwards (None: refused, nothing changed).
    type State<'a> = &'a [(&'a str, &'a [u8])];
    let copy_done: State = &[
        (DB_FILE, &old_db),
        (KEY_FILE, &old_key),
        (PENDING_KEY_FILE, &new_key),
        (REWRITE_FILE, &new_db),
    ];
    let db_replaced: State = &[
        (DB_FILE, &new_db),
        (KEY_FILE, &old_key),
        (PENDING_KEY_FILE, &new_key),
    ];
    let partial_copy: State = &[
        (DB_FILE, &old_db),
        (KEY_FILE, &old_key),
        (REWRITE_FILE, b"partial"),
    ];
    let cases: &[(State, &str, Option<&str>)] = &[
        (partial_copy, OLD, Some(OLD)),
        (partial_copy, NEW, None),
        (copy_done, OLD, Some(OLD)),
        (copy_done, NEW, Some(NEW)),
        (db_replaced, NEW, Some(NEW)),
        (db_replaced, OLD, None),
    ];
    for (i, (state, passphrase, outcome)) in cases.iter().enumerate() {
        let dir = tempfile::tempdir().expect("dir");
        for (name, bytes) in *state {
            std::fs::write(dir.path().join(name), bytes).expect("state");
        }
        let untouched = files(dir.path());
        match (Store::unlock(dir.path(), passphrase), outcome) {
            (Ok(store), Some(_)) => assert_eq!(contents(&store), expected, "case {i}"),
            (Err(StoreError::WrongPassphrase | StoreError::PassphraseChanged), None) => {
                assert_eq!(files(dir.path()), untouched, "case {i}: files moved");
                continue;
            }
            (got, _) => panic!("case {i}: {:?}", got.map(|_| ())),
        }
        let settled = outcome.expect("opened");
        assert!(!dir.path().join(PENDING_KEY_FILE).exists(), "case {i}");
        assert_eq!(
            contents(&Store::unlock(dir.path(), settled).expect("settled")),
            expected,
            "case {i}"
        );
    }
}
