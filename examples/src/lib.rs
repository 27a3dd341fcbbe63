//! Shared pieces of the imia examples.
#![forbid(unsafe_code)]
