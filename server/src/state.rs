//! What every handler shares: the database (and the one reports are read from), the settings,
//! the admission of heavy requests and the failed logins of this process.

use std::sync::Arc;

use crate::config::Config;
use crate::heavy::Heavy;
use crate::ratelimit::LoginLimiter;

pub struct AppState<D> {
    pub db: D,
    /// Where reports are counted: `db` itself, or a streaming standby of it
    /// (`serve --read-database`), so that a county's report does not load the primary that
    /// merges the evening's syncs. It may lag the primary by the replication delay.
    pub reports: D,
    pub config: Config,
    /// Admission of heavy requests (`crate::heavy`).
    pub heavy: Arc<Heavy>,
    /// Syncs answering their pull after handing their heavy slot on: as many at once as there
    /// are heavy slots, the others wait (they hold a connection and their push results only).
    pub pulls: tokio::sync::Semaphore,
    /// Failed password checks (`crate::auth::login`).
    pub logins: LoginLimiter,
}

impl<D: Clone> AppState<D> {
    pub fn new(db: D, config: Config) -> Self {
        let heavy = Heavy::new(config.limits.heavy_concurrency, config.limits.heavy_queue);
        let pulls = tokio::sync::Semaphore::new(config.limits.heavy_concurrency.max(1));
        AppState {
            reports: db.clone(),
            db,
            config,
            heavy: Arc::new(heavy),
            pulls,
            logins: LoginLimiter::default(),
        }
    }

    /// Reports are counted on `reports` (a read-only standby) instead of the primary.
    pub fn with_reports(mut self, reports: D) -> Self {
        self.reports = reports;
        self
    }
}

pub type Shared<D> = Arc<AppState<D>>;
