//! Server settings: defaults, then an optional TOML file, then the environment, then flags —
//! each later source wins, so an operator's `ZOUFANG_…` variable beats a stale file.

use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;
use zoufang_shared::wire::MAX_ATTACHMENT_BYTES;

/// `Debug` is written by hand: the database URL's password and the spot-check salt are secrets,
/// and a settings dump in a log must not carry them.
#[derive(Clone)]
pub struct Config {
    /// `postgres://…`, or an SQLite file path (the default: one file next to the server).
    pub database: String,
    /// A read-only copy of `database` (a PostgreSQL streaming standby) that reports are counted
    /// on; `None`: reports read `database`.
    pub read_database: Option<String>,
    pub listen: SocketAddr,
    /// Lifetime of a device token.
    pub token_days: i64,
    /// Largest compressed sync body accepted.
    pub max_sync_bytes: usize,
    /// Shortest 村内公示 before the township check may pass a case (seeds: 5–7 days).
    pub publicity_min_days: i64,
    /// A registered household not visited for this many days is flagged (helpers visit weekly).
    pub no_visit_days: i64,
    /// Lifetime of a review-page login.
    pub session_hours: i64,
    /// Mixed into the spot-check draw's seed: a county secret makes the daily sample
    /// unpredictable to townships yet reproducible by the county.
    pub spot_check_salt: String,
    /// The address users reach the server at (`https://…` behind a TLS proxy): with https the
    /// session cookie is marked `Secure`.
    pub public_url: Option<String>,
    /// What one request may make the server do; see [`Limits`].
    pub limits: Limits,
}

/// Bounds on the work one request may cause, so one device cannot stall the server. Each has a
/// file key of the same name; the README's limits table lists them.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Households in one sync request.
    pub max_households_per_push: usize,
    /// Changes of one household in one push (devices send more over several rounds).
    pub max_changes_per_household: usize,
    /// Operations in one change.
    pub max_ops_per_change: usize,
    /// Bytes a sync body may inflate to (the inflater stops there).
    pub max_inflated_bytes: u64,
    /// Bytes of unfinished photo uploads one device may hold.
    pub max_upload_bytes_in_progress: i64,
    /// Hours after which an unfinished upload is dropped.
    pub upload_expiry_hours: i64,
    /// Seconds to receive a request's headers.
    pub header_timeout_secs: u64,
    /// Seconds to receive a request's body.
    pub body_timeout_secs: u64,
    /// Seconds a request may take in all before it is answered 503.
    pub request_deadline_secs: u64,
    /// Open connections; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// Heavy jobs (merges, document loads, histories, exports, password hashes) run at once.
    pub heavy_concurrency: usize,
    /// Heavy jobs waiting for a slot; beyond it the server answers 503 with `Retry-After`.
    pub heavy_queue: usize,
}

impl Limits {
    /// Refuses settings under which honest work could never succeed (a zero timeout, a quota
    /// smaller than one photo, uploads expiring at once): better a server that will not start
    /// than one that answers every device with an error.
    pub fn check(&self) -> Result<(), ConfigError> {
        let positive = [
            (
                "max_households_per_push",
                self.max_households_per_push as u64,
            ),
            (
                "max_changes_per_household",
                self.max_changes_per_household as u64,
            ),
            ("max_ops_per_change", self.max_ops_per_change as u64),
            ("max_inflated_bytes", self.max_inflated_bytes),
            (
                "upload_expiry_hours",
                self.upload_expiry_hours.max(0) as u64,
            ),
            ("header_timeout_secs", self.header_timeout_secs),
            ("body_timeout_secs", self.body_timeout_secs),
            ("request_deadline_secs", self.request_deadline_secs),
            ("max_connections", self.max_connections as u64),
            ("heavy_concurrency", self.heavy_concurrency as u64),
        ];
        if let Some((key, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(ConfigError::Limit {
                key,
                message: "must be at least 1".into(),
            });
        }
        if self.max_upload_bytes_in_progress < MAX_ATTACHMENT_BYTES {
            return Err(ConfigError::Limit {
                key: "max_upload_bytes_in_progress",
                message: format!("must hold one whole photo ({MAX_ATTACHMENT_BYTES} bytes)"),
            });
        }
        Ok(())
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_households_per_push: 5_000,
            max_changes_per_household: 1_000,
            max_ops_per_change: 10_000,
            max_inflated_bytes: 64 * 1024 * 1024,
            max_upload_bytes_in_progress: 16 * 1024 * 1024,
            upload_expiry_hours: 24,
            header_timeout_secs: 10,
            body_timeout_secs: 60,
            request_deadline_secs: 120,
            max_connections: 1_024,
            // The merges are CPU: one slot per core, at least two so a slow one never blocks all.
            // Two per core kept the cores busier in W3 (a sync also waits on its commit and its
            // pull: 1,859–2,080 merges/s against 1,602–1,787) but let ten hostile devices'
            // maximal syncs hold twice the memory and push twice the data, and an honest sync
            // among them took 177 s (tests/tests/hostile/load.rs bounds it at 120 s).
            heavy_concurrency: std::thread::available_parallelism()
                .map_or(2, |n| n.get())
                .clamp(2, 16),
            heavy_queue: 64,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database: "zoufang-server.db".into(),
            read_database: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 8090)),
            token_days: 90,
            max_sync_bytes: 16 * 1024 * 1024,
            publicity_min_days: 5,
            no_visit_days: 14,
            session_hours: 12,
            spot_check_salt: String::new(),
            public_url: None,
            limits: Limits::default(),
        }
    }
}

/// The file's keys; all optional. No `Debug`: it holds the same secrets as [`Config`].
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    database: Option<String>,
    read_database: Option<String>,
    listen: Option<SocketAddr>,
    token_days: Option<i64>,
    max_sync_bytes: Option<usize>,
    publicity_min_days: Option<i64>,
    no_visit_days: Option<i64>,
    session_hours: Option<i64>,
    spot_check_salt: Option<String>,
    public_url: Option<String>,
    limits: Option<Limits>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: String,
        source: toml::de::Error,
    },
    #[error("{name}: {message}")]
    Env { name: &'static str, message: String },
    #[error("[limits] {key}: {message}")]
    Limit { key: &'static str, message: String },
}

/// Values given on the command line (clap reads flags only; env is applied here, in order).
#[derive(Default, Clone)]
pub struct Overrides {
    pub database: Option<String>,
    pub read_database: Option<String>,
    pub listen: Option<SocketAddr>,
}

impl std::fmt::Debug for Overrides {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Overrides")
            .field("database", &self.database.as_deref().map(redacted_url))
            .field(
                "read_database",
                &self.read_database.as_deref().map(redacted_url),
            )
            .field("listen", &self.listen)
            .finish()
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let salt = if self.spot_check_salt.is_empty() {
            ""
        } else {
            REDACTED
        };
        f.debug_struct("Config")
            .field("database", &redacted_url(&self.database))
            .field(
                "read_database",
                &self.read_database.as_deref().map(redacted_url),
            )
            .field("listen", &self.listen)
            .field("token_days", &self.token_days)
            .field("max_sync_bytes", &self.max_sync_bytes)
            .field("publicity_min_days", &self.publicity_min_days)
            .field("no_visit_days", &self.no_visit_days)
            .field("session_hours", &self.session_hours)
            .field("spot_check_salt", &salt)
            .field("public_url", &self.public_url)
            .field("limits", &self.limits)
            .finish()
    }
}

const REDACTED: &str = "<redacted>";

/// A database setting fit for logs: the password of a URL's user (`postgres://user:pw@host`)
/// and a `password=` query parameter, which sqlx also reads, replaced. An SQLite path holds
/// no secret and is shown as is.
pub fn redacted_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:{REDACTED}@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => {
                        format!("{k}={REDACTED}")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

impl Config {
    /// Whether users reach the server over https (a `public_url` starting with it).
    pub fn behind_tls(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.to_ascii_lowercase().starts_with("https://"))
    }

    pub fn load(file: Option<&Path>, flags: &Overrides) -> Result<Config, ConfigError> {
        let mut c = Config::default();
        if let Some(path) = file {
            let shown = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: shown.clone(),
                source,
            })?;
            let f: FileConfig = toml::from_str(&text).map_err(|source| ConfigError::Parse {
                path: shown,
                source,
            })?;
            c.database = f.database.unwrap_or(c.database);
            c.read_database = f.read_database.or(c.read_database);
            c.listen = f.listen.unwrap_or(c.listen);
            c.token_days = f.token_days.unwrap_or(c.token_days);
            c.max_sync_bytes = f.max_sync_bytes.unwrap_or(c.max_sync_bytes);
            c.publicity_min_days = f.publicity_min_days.unwrap_or(c.publicity_min_days);
            c.no_visit_days = f.no_visit_days.unwrap_or(c.no_visit_days);
            c.session_hours = f.session_hours.unwrap_or(c.session_hours);
            c.spot_check_salt = f.spot_check_salt.unwrap_or(c.spot_check_salt);
            c.public_url = f.public_url.or(c.public_url);
            c.limits = f.limits.unwrap_or(c.limits);
        }
        if let Ok(v) = std::env::var("ZOUFANG_DATABASE_URL") {
            c.database = v;
        }
        if let Ok(v) = std::env::var("ZOUFANG_READ_DATABASE_URL") {
            c.read_database = Some(v);
        }
        if let Ok(v) = std::env::var("ZOUFANG_PUBLIC_URL") {
            c.public_url = Some(v);
        }
        if let Ok(v) = std::env::var("ZOUFANG_LISTEN") {
            c.listen = v.parse().map_err(|e| ConfigError::Env {
                name: "ZOUFANG_LISTEN",
                message: format!("{e}"),
            })?;
        }
        if let Some(v) = &flags.database {
            c.database = v.clone();
        }
        if let Some(v) = &flags.read_database {
            c.read_database = Some(v.clone());
        }
        if let Some(v) = flags.listen {
            c.listen = v;
        }
        c.limits.check()?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("server.toml");
        std::fs::write(&path, text).expect("write");
        Config::load(Some(&path), &Overrides::default())
    }

    #[test]
    fn limits_under_which_nothing_could_succeed_are_refused_at_start() {
        assert!(
            load("[limits]\nheavy_queue = 0\n").is_ok(),
            "no line is a choice"
        );
        for (text, key) in [
            ("[limits]\nupload_expiry_hours = 0\n", "upload_expiry_hours"),
            ("[limits]\nheader_timeout_secs = 0\n", "header_timeout_secs"),
            ("[limits]\nheavy_concurrency = 0\n", "heavy_concurrency"),
            (
                "[limits]\nmax_upload_bytes_in_progress = 1048576\n",
                "max_upload_bytes_in_progress",
            ),
        ] {
            match load(text) {
                Err(ConfigError::Limit { key: k, .. }) => assert_eq!(k, key),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn debug_output_carries_no_password_or_salt() {
        let config = Config {
            database: "postgres://zoufang:s3cret-pw@db.example:5432/zoufang?sslmode=require&password=other-secret".into(),
            read_database: Some("postgres://reader:standby-pw@standby.example/zoufang".into()),
            spot_check_salt: "county-salt-xyz".into(),
            ..Config::default()
        };
        let shown = format!("{config:?}");
        for secret in ["s3cret-pw", "other-secret", "county-salt-xyz", "standby-pw"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        for kept in [
            "zoufang:<redacted>@db.example:5432/zoufang",
            "sslmode=require",
            "limits",
        ] {
            assert!(shown.contains(kept), "{kept} not in {shown}");
        }
        let flags = Overrides {
            database: Some(config.database.clone()),
            read_database: config.read_database.clone(),
            listen: None,
        };
        let flags = format!("{flags:?}");
        assert!(!flags.contains("s3cret-pw") && !flags.contains("standby-pw"));
        assert_eq!(redacted_url("/srv/zoufang.db"), "/srv/zoufang.db");
        assert_eq!(
            redacted_url("postgres://zoufang@localhost/zoufang"),
            "postgres://zoufang@localhost/zoufang"
        );
    }
}
