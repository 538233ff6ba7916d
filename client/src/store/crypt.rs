//! Encryption at rest: the whole store file (and so its WAL) is SQLCipher, keyed with a raw
//! 256-bit key derived from the user's passphrase or PIN by Argon2id.
//!
//! The key file (`zoufang.key`, plaintext JSON next to the database) holds what derivation needs
//! and nothing secret: the Argon2id parameters, a random salt and a check value. The derivation
//! yields 64 bytes: the first half keys the database, the second half is the check, so a wrong
//! passphrase is told from a damaged database before the database is touched (and the "move a
//! corrupt file aside" path never runs on a wrong passphrase). The check reveals nothing the
//! encrypted file does not: either lets an attacker test guesses, each at Argon2id's cost.
//!
//! Rewriting the database under a new key (migrating a plaintext store, changing the
//! passphrase) goes through a complete copy (`sqlcipher_export`), fsynced, then an atomic
//! rename, so a crash at any point leaves a database some passphrase opens (see
//! [`super::Store::change_passphrase`] and [`super::Store::unlock`]).

use std::io::Write;
use std::path::Path;

use argon2::{Algorithm, Argon2, Params, Version};
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::StoreError;
use super::households::hex;

/// The key file, next to the database.
pub const KEY_FILE: &str = "zoufang.key";
/// A key file for a passphrase change under way (see `Store::change_passphrase`).
pub(super) const PENDING_KEY_FILE: &str = "zoufang.key.new";
/// The database rewritten under a new key, before it replaces the old one.
pub(super) const REWRITE_FILE: &str = "zoufang.db.rewrite";

/// Shortest passphrase accepted: six characters, so a six-digit PIN is the floor.
pub const MIN_PASSPHRASE_CHARS: usize = 6;

/// Argon2id cost of one derivation: 64 MiB, 6 passes, one lane: about 0.2 s of CPU (0.3 s
/// wall for a whole `zoufang list` on the busy 2-core development VM). Every guess at the
/// passphrase costs an attacker the same.
const M_COST_KIB: u32 = 64 * 1024;
const T_COST: u32 = 6;
const P_COST: u32 = 1;

const FORMAT: &str = "zoufang-key";
const VERSION: u32 = 1;

/// The database key: only ever in memory, wiped when dropped.
#[derive(Clone)]
pub struct DbKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for DbKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DbKey(…)")
    }
}

impl DbKey {
    /// SQLCipher's raw-key literal, `x'<64 hex digits>'` (no key derivation of its own).
    pub(super) fn literal(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("x'{}'", hex(self.0.as_ref())))
    }
}

/// The key file's contents.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(super) struct KeyHeader {
    format: String,
    version: u32,
    kdf: String,
    m_cost_kib: u32,
    t_cost: u32,
    p_cost: u32,
    salt: String,
    check: String,
}

impl KeyHeader {
    /// A new header for `passphrase` (fresh salt), and the key it derives.
    pub(super) fn new(passphrase: &str) -> Result<(KeyHeader, DbKey), StoreError> {
        check_strength(passphrase)?;
        let salt: Vec<u8> = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()]
            .iter()
            .flat_map(|u| *u.as_bytes())
            .collect();
        let mut header = KeyHeader {
            format: FORMAT.into(),
            version: VERSION,
            kdf: "argon2id".into(),
            m_cost_kib: M_COST_KIB,
            t_cost: T_COST,
            p_cost: P_COST,
            salt: hex(&salt),
            check: String::new(),
        };
        let (key, check) = header.derive(passphrase)?;
        header.check = hex(check.as_ref());
        Ok((header, key))
    }

    /// The key `passphrase` derives, if it is the passphrase this header was made for.
    pub(super) fn unlock(&self, passphrase: &str) -> Result<DbKey, StoreError> {
        let (key, check) = self.derive(passphrase)?;
        if hex(check.as_ref()) == self.check {
            Ok(key)
        } else {
            Err(StoreError::WrongPassphrase)
        }
    }

    fn derive(&self, passphrase: &str) -> Result<(DbKey, Zeroizing<[u8; 32]>), StoreError> {
        let invalid = || StoreError::KeyFileInvalid;
        if self.format != FORMAT || self.version != VERSION || self.kdf != "argon2id" {
            return Err(invalid());
        }
        let salt = unhex(&self.salt).ok_or_else(invalid)?;
        let params = Params::new(self.m_cost_kib, self.t_cost, self.p_cost, Some(64))
            .map_err(|_| invalid())?;
        let mut out = Zeroizing::new([0u8; 64]);
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(passphrase.as_bytes(), &salt, out.as_mut())
            .map_err(|_| invalid())?;
        let mut key = Zeroizing::new([0u8; 32]);
        let mut check = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&out[..32]);
        check.copy_from_slice(&out[32..]);
        Ok((DbKey(key), check))
    }

    /// Reads a key file; `None` when there is none.
    pub(super) fn read(path: &Path) -> Result<Option<KeyHeader>, StoreError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|_| StoreError::KeyFileInvalid),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StoreError::Io {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Writes the key file atomically and durably.
    pub(super) fn write(&self, path: &Path) -> Result<(), StoreError> {
        let json = serde_json::to_vec_pretty(self).map_err(|_| StoreError::KeyFileInvalid)?;
        write_durably(path, &json)
    }
}

/// Writes `bytes` to `path` atomically and durably: a crash leaves the old file or the new.
pub(super) fn write_durably(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let io = |source| StoreError::Io {
        path: tmp.clone(),
        source,
    };
    let mut file = std::fs::File::create(&tmp).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    drop(file);
    rename_durably(&tmp, path)
}

fn check_strength(passphrase: &str) -> Result<(), StoreError> {
    if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(StoreError::WeakPassphrase);
    }
    Ok(())
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

/// `from` replaces `to` atomically; the directory is fsynced so the rename survives power loss.
pub(super) fn rename_durably(from: &Path, to: &Path) -> Result<(), StoreError> {
    std::fs::rename(from, to).map_err(|source| StoreError::Io {
        path: to.to_owned(),
        source,
    })?;
    sync_dir(to)
}

fn sync_dir(file: &Path) -> Result<(), StoreError> {
    let dir = file.parent().unwrap_or(Path::new("."));
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| StoreError::Io {
            path: dir.to_owned(),
            source,
        })
}

/// Removes a file that may not exist.
pub(super) fn remove_if_present(path: &Path) -> Result<(), StoreError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StoreError::Io {
            path: path.to_owned(),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// A database written before encryption: SQLite's plaintext header, or an empty file.
pub(super) fn is_plaintext(db: &Path) -> Result<bool, StoreError> {
    use std::io::Read;
    let mut head = [0u8; 16];
    let n = std::fs::File::open(db)
        .and_then(|mut f| f.read(&mut head))
        .map_err(|source| StoreError::Io {
            path: db.to_owned(),
            source,
        })?;
    Ok(n == 0 || head == *b"SQLite format 3\0")
}

/// Copies everything `src` holds into a new database at `dst` encrypted under `key`, and
/// fsyncs it. `src` leaves WAL mode first: that folds its WAL into the file (so the copy has
/// it and no WAL is left to be mistaken for the new file's) and fails while another connection,
/// a running `zoufang serve` say, has the database open.
pub(super) fn rewrite(src: &Connection, dst: &Path, key: &DbKey) -> Result<(), StoreError> {
    remove_if_present(dst)?;
    let mode: String = src
        .query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))
        .map_err(|e| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                StoreError::InUse
            }
            _ => e.into(),
        })?;
    if !mode.eq_ignore_ascii_case("delete") {
        return Err(StoreError::InUse);
    }
    let path = dst.to_str().ok_or_else(|| StoreError::Io {
        path: dst.to_owned(),
        source: std::io::Error::other("path is not UTF-8"),
    })?;
    src.execute(
        "ATTACH DATABASE ?1 AS rewrite KEY ?2",
        rusqlite::params![path, key.literal().as_str()],
    )?;
    let copied = (|| -> Result<(), StoreError> {
        src.query_row("SELECT sqlcipher_export('rewrite')", [], |_| Ok(()))?;
        let version: i64 = src.query_row("PRAGMA main.user_version", [], |r| r.get(0))?;
        src.pragma_update(Some("rewrite"), "user_version", version)?;
        Ok(())
    })();
    src.execute("DETACH DATABASE rewrite", [])?;
    copied?;
    std::fs::File::open(dst)
        .and_then(|f| f.sync_all())
        .map_err(|source| StoreError::Io {
            path: dst.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_tells_a_wrong_passphrase() {
        let (header, key) = KeyHeader::new("246810").expect("header");
        let again = header.unlock("246810").expect("right passphrase");
        assert_eq!(key.literal(), again.literal());
        assert!(matches!(
            header.unlock("246811"),
            Err(StoreError::WrongPassphrase)
        ));
    }

    #[test]
    fn short_passphrases_are_refused() {
        assert!(matches!(
            KeyHeader::new("12345"),
            Err(StoreError::WeakPassphrase)
        ));
    }

    #[test]
    fn hex_round_trips() {
        assert_eq!(
            unhex(&hex(&[0, 1, 0xab, 0xff])),
            Some(vec![0, 1, 0xab, 0xff])
        );
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
    }
}
