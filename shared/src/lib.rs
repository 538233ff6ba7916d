//! Zoufang's shared core: the domain model, the household CRDT document, the rules, and (later)
//! the wire types. No I/O: the client and the server do that.

pub mod codes;
pub mod demo;
pub mod doc;
pub mod ids;
pub mod model;
pub mod money;
pub mod rules;

pub use codes::CodeList;
