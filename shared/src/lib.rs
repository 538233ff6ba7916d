//! Zoufang's shared core: the domain model, the household CRDT document, the rules, and the
//! wire types of the sync protocol. No I/O: the client and the server do that.

pub mod authority;
pub mod codes;
pub mod cursors;
pub mod deflate;
pub mod demo;
pub mod doc;
pub mod fields;
pub mod ids;
pub mod limits;
pub mod mask;
pub mod model;
pub mod money;
pub mod rng;
pub mod rounds;
pub mod rules;
mod serde_text;
#[cfg(feature = "shutdown")]
pub mod shutdown;
pub mod term;
pub mod wire;

pub use codes::CodeList;
