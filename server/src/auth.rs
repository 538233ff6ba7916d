//! Passwords (argon2id), logins, the review pages' sessions, and device tokens.
//!
//! A token is 256 random bits shown once, at enrollment; the server keeps only its SHA-256, so a
//! stolen database holds no usable token. Password hashing is deliberately slow, so it runs on
//! threads of its own ([`on_checker`]), never on the async threads.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use axum::http::StatusCode;
use chrono::{DateTime, SecondsFormat, Utc};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::ratelimit::{LoginLimiter, Outcome, retry_after_secs, throttled_message};
use crate::storage::{Database, DbError, User};

pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::encode_b64(uuid::Uuid::new_v4().as_bytes())?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// Whether `password` hashes to `phc`, computed in this thread's Argon2 memory, which stays
/// allocated for the next check (see [`on_checker`] for why). The steps are the crate's own
/// `PasswordVerifier`'s, with `hash_password_into_with_memory` in place of the allocating call;
/// the outputs are compared in constant time (`password_hash::Output`).
pub fn verify_password(password: &str, phc: &str) -> bool {
    thread_local! {
        static MEMORY: std::cell::RefCell<Vec<argon2::Block>> =
            const { std::cell::RefCell::new(Vec::new()) };
    }
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        argon2::Algorithm::try_from(hash.algorithm),
        argon2::Params::try_from(&hash),
    ) else {
        return false;
    };
    let Ok(version) = hash.version.map(argon2::Version::try_from).transpose() else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let blocks = params.block_count();
    let argon = Argon2::new(algorithm, version.unwrap_or_default(), params);
    let mut out = vec![0u8; expected.len()];
    let hashed = MEMORY.with_borrow_mut(|memory| {
        if memory.len() < blocks {
            memory.resize(blocks, argon2::Block::default());
        }
        argon.hash_password_into_with_memory(
            password.as_bytes(),
            salt,
            &mut out,
            &mut memory[..blocks],
        )
    });
    hashed.is_ok() && argon2::password_hash::Output::new(&out).is_ok_and(|o| o == expected)
}

/// Whether `password` is the password of `phc` (a user's stored hash), checked on a password
/// thread. Without a user the password is checked against a dummy hash anyway, so an unknown
/// username takes as long to refuse as a wrong password and names cannot be probed by timing.
pub async fn check_password(password: &str, phc: Option<&str>) -> bool {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let known = phc.map(str::to_owned);
    let password = password.to_owned();
    let ok = on_checker(move || {
        let phc = match &known {
            Some(p) => p.as_str(),
            None => {
                DUMMY.get_or_init(|| hash_password("not anyone's password").unwrap_or_default())
            }
        };
        verify_password(&password, phc) && known.is_some()
    })
    .await;
    ok.unwrap_or(false)
}

/// Threads that run Argon2id checks: one per core, two to four (a check is CPU-bound; logins
/// are throttled and admitted as heavy work, so the queue stays short).
///
/// Each check needs 19 MiB of Argon2 memory. Allocated and freed per check, glibc kept every
/// freed block resident (having freed one that large, it raises its mmap threshold and later
/// blocks come from heap arenas): the server grew by 19 MiB per login, 150 MB after 8
/// enrollments. Each of these few long-lived threads keeps its one block
/// ([`verify_password`]), so the memory is bounded by their number.
async fn on_checker<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    type Job = Box<dyn FnOnce() + Send>;
    static QUEUE: std::sync::OnceLock<std::sync::mpsc::Sender<Job>> = std::sync::OnceLock::new();
    let queue = QUEUE.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4));
        for i in 0..threads {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("password-{i}"))
                .spawn(move || {
                    loop {
                        // The lock is held only while waiting for the next job.
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        match job {
                            // A panicking job drops its answer (the caller reads a refusal);
                            // the thread lives on for the next.
                            Ok(job) => {
                                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                            }
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password thread");
            }
        }
        tx
    });
    let (done, answer) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = done.send(f());
    });
    queue.send(job).ok()?;
    answer.await.ok()
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

/// Why a login was refused.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Too many failed attempts for the username or the address: the password was not checked.
    #[error("too many failed attempts")]
    Throttled(Duration),
    /// An unknown user or a wrong password: one answer for both, so names cannot be probed.
    #[error("wrong username or password")]
    Denied,
    /// The right password of a disabled account.
    #[error("account disabled")]
    Disabled,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl LoginError {
    /// The review logins answer a disabled account as a wrong password: only a device, whose
    /// user must know why enrollment failed, is told.
    pub fn disabled_as_denied(self) -> Self {
        match self {
            LoginError::Disabled => LoginError::Denied,
            e => e,
        }
    }
}

impl From<LoginError> for ApiError {
    fn from(e: LoginError) -> Self {
        match e {
            LoginError::Throttled(wait) => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                throttled_message(wait),
            )
            .retry_after(retry_after_secs(wait)),
            LoginError::Denied => ApiError::unauthorized("用户名或密码错误"),
            LoginError::Disabled => ApiError::unauthorized("该账号已停用,请联系管理员"),
            LoginError::Db(e) => e.into(),
        }
    }
}

/// The one door of every password check (the review form, the review API, a device's
/// enrollment): throttled per username and per address (`crate::ratelimit`), the password
/// verified on the blocking pool, the outcome recorded. The user, when the password is right
/// and the account active.
pub async fn login<D: Database>(
    limiter: &LoginLimiter,
    db: &D,
    username: &str,
    password: &str,
    ip: Option<IpAddr>,
) -> Result<User, LoginError> {
    let attempt = limiter
        .begin(Some(username), ip, Instant::now())
        .map_err(|wait| {
            tracing::warn!(
                wait_s = retry_after_secs(wait),
                "login refused: too many failed attempts"
            );
            LoginError::Throttled(wait)
        })?;
    let user = match known_user(db, username).await {
        Ok(user) => user,
        Err(e) => {
            limiter.finish(attempt, Outcome::NotChecked);
            return Err(e.into());
        }
    };
    // Checked for an unknown user too (`check_password`): refusing one must take as long.
    let phc = user.as_ref().map(|u| u.password_hash.as_str());
    let right = check_password(password, phc).await;
    let Some(user) = user.filter(|_| right) else {
        limiter.finish(attempt, Outcome::Failed);
        return Err(LoginError::Denied);
    };
    if user.disabled {
        limiter.finish(attempt, Outcome::Failed);
        return Err(LoginError::Disabled);
    }
    limiter.finish(attempt, Outcome::Succeeded);
    Ok(user)
}

/// A review session just opened: the token for the cookie (the server keeps only its hash) and
/// the anti-forgery token every write must send back.
pub struct Opened {
    pub user: User,
    pub token: String,
    pub csrf: String,
}

/// Checks a password ([`login`], throttled) and opens a session of `hours`; the same answer
/// for an unknown user, a wrong password and a disabled account, so names cannot be probed.
/// Sessions that expired are forgotten on the way.
pub async fn open_session<D: Database>(
    limiter: &LoginLimiter,
    db: &D,
    username: &str,
    password: &str,
    ip: Option<IpAddr>,
    hours: i64,
) -> Result<Opened, LoginError> {
    let user = login(limiter, db, username, password, ip)
        .await
        .map_err(LoginError::disabled_as_denied)?;
    let token = new_token();
    let csrf = new_token();
    let now = Utc::now();
    // Whole seconds and `Z`: one fixed width, so the stored times compare as text.
    let stamp = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    db.delete_sessions_before(&stamp(now)).await?;
    db.create_session(
        &token_hash(&token),
        user.id,
        &csrf,
        &stamp(now + chrono::Duration::hours(hours)),
    )
    .await?;
    tracing::info!(user = %user.username, "review login");
    Ok(Opened { user, token, csrf })
}

/// The signed-in user of a session cookie's token, with the session's anti-forgery token.
pub struct Session {
    pub user: User,
    pub csrf: String,
    /// What the server keeps of the token: how the session is closed.
    pub token_hash: String,
}

/// The session `token` opened, while it has not expired and its account is active.
pub async fn session<D: Database>(db: &D, token: &str) -> Result<Option<Session>, DbError> {
    let token_hash = token_hash(token);
    let Some(session) = db.session(&token_hash).await? else {
        return Ok(None);
    };
    let expired = DateTime::parse_from_rfc3339(&session.expires_at)
        .map(|t| t < Utc::now())
        .unwrap_or(true);
    if expired {
        return Ok(None);
    }
    Ok(db
        .user_by_name(&session.username)
        .await?
        .filter(|u| !u.disabled)
        .map(|user| Session {
            user,
            csrf: session.csrf,
            token_hash,
        }))
}

/// Ends the session whose token hashes to `token_hash` (a logout).
pub async fn close_session<D: Database>(db: &D, token_hash: &str) -> Result<(), DbError> {
    db.delete_session(token_hash).await
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

    /// The thread-memory verifier agrees with the crate's own on hashes of other parameters
    /// and versions, and refuses what the crate refuses.
    #[test]
    fn the_reused_memory_verifies_as_the_crate_does() {
        use argon2::password_hash::PasswordVerifier;
        let salt = SaltString::encode_b64(b"sixteen byte slt").expect("salt");
        for (algorithm, version, m) in [
            (argon2::Algorithm::Argon2id, argon2::Version::V0x13, 64),
            (argon2::Algorithm::Argon2i, argon2::Version::V0x10, 8),
            (argon2::Algorithm::Argon2id, argon2::Version::V0x13, 19_456),
        ] {
            let params = argon2::Params::new(m, 1, 1, None).expect("params");
            let argon = Argon2::new(algorithm, version, params);
            let phc = argon
                .hash_password("口令".as_bytes(), &salt)
                .expect("hash")
                .to_string();
            let parsed = PasswordHash::new(&phc).expect("phc");
            for attempt in ["口令", "口令 ", ""] {
                let crate_says = Argon2::default()
                    .verify_password(attempt.as_bytes(), &parsed)
                    .is_ok();
                assert_eq!(
                    verify_password(attempt, &phc),
                    crate_says,
                    "{phc} {attempt:?}"
                );
            }
            assert!(verify_password("口令", &phc));
        }
        let phc = hash_password("口令").expect("hash");
        let cut = &phc[..phc.len() - 4];
        assert!(!verify_password("口令", cut), "a shortened hash");
    }

    #[tokio::test]
    async fn checks_run_on_the_password_threads() {
        let h = hash_password("正确的密码").expect("hash");
        assert!(check_password("正确的密码", Some(&h)).await);
        assert!(!check_password("错误的密码", Some(&h)).await);
        assert!(
            !check_password("正确的密码", None).await,
            "no account, no login"
        );
        let name = on_checker(|| std::thread::current().name().map(str::to_owned)).await;
        assert!(
            name.flatten().is_some_and(|n| n.starts_with("password-")),
            "not on the caller's thread"
        );
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
