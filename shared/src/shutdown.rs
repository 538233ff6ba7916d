//! The end of a long-running command (the server, the client's web UI): Ctrl-C, or SIGTERM
//! from a service manager, so that both stop the same way and let answers in flight finish.

/// Resolves on the first Ctrl-C or (on Unix) SIGTERM. A signal that cannot be listened for is
/// simply never awaited: the other one still ends the wait.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
