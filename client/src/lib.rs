//! The field client: an offline store of household documents, a roster import, a command line
//! and a local web UI for phones.

pub mod demo;
pub mod import;
pub mod roster_gen;
pub mod store;
pub mod sync;
pub mod web;
