//! Passwords (argon2id) and device tokens.
//!
//! A token is 256 random bits shown once, at enrollment; the server keeps only its SHA-256, so a
//! stolen database holds no usable token. Password hashing is deliberately slow, so it runs on
//! the blocking pool, never on the async threads.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sha2::{Digest, Sha256};

use crate::storage::{Database, DbError, User};

pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::encode_b64(uuid::Uuid::new_v4().as_bytes())?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Whether `password` is the password of `phc` (a user's stored hash), checked on the blocking
/// pool. Without a user the password is checked against a dummy hash anyway, so an unknown
/// username takes as long to refuse as a wrong password and names cannot be probed by timing.
pub async fn check_password(password: &str, phc: Option<&str>) -> bool {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let known = phc.is_some();
    let phc = match phc {
        Some(p) => p.to_owned(),
        None => DUMMY
            .get_or_init(|| hash_password("not anyone's password").unwrap_or_default())
            .clone(),
    };
    let password = password.to_owned();
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &phc))
        .await
        .unwrap_or(false);
    ok && known
}

/// The account a login names (trimmed), if any. A name holding a NUL names nobody: no account
/// has one, and PostgreSQL would refuse it in the query.
pub async fn known_user<D: Database>(db: &D, username: &str) -> Result<Option<User>, DbError> {
    let name = username.trim();
    if name.contains('\0') {
        return Ok(None);
    }
    db.user_by_name(name).await
}

/// A fresh bearer token: 64 hex digits from two random UUIDs' 244 random bits.
pub fn new_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `area` lies inside one of `scope` (area codes are hierarchical prefixes).
pub fn in_scope(scope: &[String], area: &str) -> bool {
    !area.is_empty()
        && scope
            .iter()
            .any(|s| !s.is_empty() && area.starts_with(s.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_themselves() {
        let h = hash_password("正确的密码").expect("hash");
        assert!(verify_password("正确的密码", &h));
        assert!(!verify_password("错误的密码", &h));
        assert!(!verify_password("x", "not a phc string"));
    }

    #[test]
    fn scope_is_a_prefix_of_the_area_code() {
        let scope = vec!["530921100".to_owned()];
        assert!(in_scope(&scope, "530921100201"));
        assert!(!in_scope(&scope, "530921200201"));
        assert!(!in_scope(&scope, ""));
        assert!(!in_scope(&[String::new()], "530921100201"));
    }
}
