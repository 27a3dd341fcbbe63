//! HTTP-level tests of imia: one binary, files by concern.

mod api_key;
mod basic;
mod chain;
mod common;
mod extractors;
#[cfg(all(feature = "macros", feature = "session"))]
mod macros;
mod paths;
#[cfg(feature = "session")]
mod session;
mod token;
