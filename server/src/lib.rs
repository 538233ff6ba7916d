//! The central server: accounts and areas, device enrollment, and the sync endpoint that merges
//! every device's household documents.

pub mod actor;
pub mod api;
pub mod app;
pub mod areas;
pub mod attachments;
pub mod auth;
pub mod bundles;
pub mod config;
pub mod demo;
pub mod error;
pub mod export;
pub mod heavy;
pub mod openapi;
pub mod projection;
pub mod ratelimit;
pub mod report;
pub mod review;
pub mod schema;
pub mod serve;
pub mod server_edit;
pub mod spot_check;
pub mod standards;
pub mod state;
pub mod storage;
pub mod sync;
pub mod web;
