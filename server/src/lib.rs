//! The central server: accounts and areas, device enrollment, and the sync endpoint that merges
//! every device's household documents.

pub mod attachments;
pub mod auth;
pub mod bundles;
pub mod config;
pub mod http;
pub mod server_edit;
pub mod storage;
pub mod sync;
