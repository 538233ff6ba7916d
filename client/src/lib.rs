//! The field client: an offline store of household documents, a roster import, a command line
//! and a local web UI for phones.

pub mod import;
pub mod store;
pub mod web;
