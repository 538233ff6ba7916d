//! The server's own Automerge actor: it loads and merges documents, and writes reviewers'
//! decisions and settlements. At the bottom so that reindexing, review and sync share it.

use zoufang_shared::doc::ActorId;

/// The server's actor; no device may write under it.
pub fn server_actor() -> ActorId {
    ActorId::from(*b"zoufang-server\0\0")
}
