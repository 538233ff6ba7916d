//! The local web UI (work in progress).

use std::net::SocketAddr;
use std::path::PathBuf;

/// Options of `zoufang serve`.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Data directory of the store.
    pub data: PathBuf,
    /// Address to listen on (127.0.0.1 by default: the UI is for this device).
    pub addr: SocketAddr,
    /// Seed demo households (and a demo user) when the store is empty.
    pub demo: bool,
}

/// Runs the web UI until Ctrl-C / SIGTERM. Prints the URL it listens on once ready.
pub async fn serve(options: ServeOptions) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let _ = options;
    Err("the web UI is not built yet".into())
}
