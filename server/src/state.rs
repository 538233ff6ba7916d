//! What every handler shares: the database, the settings, the admission of heavy requests and
//! the failed logins of this process.

use std::sync::Arc;

use crate::config::Config;
use crate::heavy::Heavy;
use crate::ratelimit::LoginLimiter;

pub struct AppState<D> {
    pub db: D,
    pub config: Config,
    /// Admission of heavy requests (`crate::heavy`).
    pub heavy: Arc<Heavy>,
    /// Failed password checks (`crate::auth::login`).
    pub logins: LoginLimiter,
}

impl<D> AppState<D> {
    pub fn new(db: D, config: Config) -> Self {
        let heavy = Heavy::new(config.limits.heavy_concurrency, config.limits.heavy_queue);
        AppState {
            db,
            config,
            heavy: Arc::new(heavy),
            logins: LoginLimiter::default(),
        }
    }
}

pub type Shared<D> = Arc<AppState<D>>;
