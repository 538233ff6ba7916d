//! The JSON APIs of machines: field devices (`device`). The review API of county systems lives
//! beside the review pages (`crate::web::api`), whose sessions and access rules it shares.

pub mod device;
