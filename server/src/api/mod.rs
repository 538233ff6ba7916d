//! The JSON APIs: of field devices (`device`), and of county systems and scripts reading and
//! deciding what supervisors do on the review pages (`review`), whose sessions and errors it
//! shares with those pages (`crate::web`).

pub mod device;
pub mod review;
