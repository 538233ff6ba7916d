//! How a command fails: a typed error that keeps its causes, printed for the operator.

use std::net::SocketAddr;
use std::path::PathBuf;

use zoufang_server::config::ConfigError;
use zoufang_server::storage::DbError;

/// Why a command failed. The message is what the operator reads after 错误:; the causes it
/// does not already name follow, one per line.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("无法打开数据库:{0}")]
    Connect(#[source] DbError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("无法读取 {}:{source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("无法写入 {}:{source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("无法监听 {addr}:{source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("无法读取密码:{0}")]
    Password(#[source] std::io::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Bundle(#[from] zoufang_server::bundles::ImportError),
    #[error(transparent)]
    Edit(#[from] zoufang_server::server_edit::EditError),
    #[error(transparent)]
    Hash(#[from] argon2::password_hash::Error),
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),
    #[error(transparent)]
    Code(#[from] zoufang_shared::codes::UnknownCode),
    #[error(transparent)]
    Standards(#[from] zoufang_shared::rules::standards::StandardsError),
    #[error(transparent)]
    Backup(#[from] crate::backup::BackupError),
    #[error(transparent)]
    AreaCsv(#[from] zoufang_server::areas::AreaCsvError),
    /// A refusal in the operator's terms (no such user, an unknown area code).
    #[error("{0}")]
    Refused(String),
}

pub fn refused(message: impl Into<String>) -> CliError {
    CliError::Refused(message.into())
}

/// The error and its causes, each cause on its own line unless a message above already said it.
pub fn report(e: &CliError) {
    eprintln!("错误:{e}");
    let mut said = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let text = c.to_string();
        if !said.contains(&text) {
            eprintln!("  原因:{text}");
            said.push_str(&text);
        }
        cause = c.source();
    }
}
