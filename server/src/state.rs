//! What every handler shares: the database, the settings, the admission of heavy requests.

use std::sync::Arc;

use crate::config::Config;
use crate::heavy::Heavy;

pub struct AppState<D> {
    pub db: D,
    pub config: Config,
    /// Admission of heavy requests (`crate::heavy`).
    pub heavy: Arc<Heavy>,
}

impl<D> AppState<D> {
    pub fn new(db: D, config: Config) -> Self {
        let heavy = Heavy::new(config.limits.heavy_concurrency, config.limits.heavy_queue);
        AppState {
            db,
            config,
            heavy: Arc::new(heavy),
        }
    }
}

pub type Shared<D> = Arc<AppState<D>>;
