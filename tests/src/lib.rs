//! Helpers for imia's cross-crate tests.
#![forbid(unsafe_code)]
