//! Procedural macros for [imia](https://docs.rs/imia).
//!
//! This crate is re-exported by `imia` behind its `macros` feature (on by default); depend on
//! `imia` and write `use imia::{UserLike, protected};` rather than using this crate directly.
#![forbid(unsafe_code)]
