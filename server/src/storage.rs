//! The server's storage: the traits and types of `zoufang_storage`. The backend behind them is
//! picked by the binaries (`zoufang_storage_any::AnyDb`); the application is generic over the
//! traits and never names a backend.

pub use zoufang_storage::*;

pub use zoufang_shared::CodeList;
