//! Procedural macros for [imia](https://docs.rs/imia): `#[derive(UserLike)]` and `#[protected]`.
//!
//! This crate is re-exported by `imia` behind its `macros` feature (on by default); depend on
//! `imia` and write `use imia::{UserLike, protected};` rather than using this crate directly.
//! The macros' documentation, with examples, lives on those re-exports.
#![forbid(unsafe_code)]

use proc_macro::TokenStream;

mod attr;
mod protected;
mod user_like;

/// Implements `imia::UserLike` for a struct from its fields. See the documentation of
/// `imia::UserLike` (the derive) for the attributes.
#[proc_macro_derive(UserLike, attributes(imia))]
pub fn derive_user_like(input: TokenStream) -> TokenStream {
    debug("derive(UserLike)", user_like::expand(input.into())).into()
}

/// Requires an authenticated user (and scopes) before an actix-web handler runs. See the
/// documentation of `imia::protected`.
#[proc_macro_attribute]
pub fn protected(args: TokenStream, item: TokenStream) -> TokenStream {
    debug("#[protected]", protected::expand(args.into(), item.into())).into()
}

/// Prints the expansion to stderr when `IMIA_MACROS_DEBUG` is set, for bug reports.
fn debug(what: &str, tokens: proc_macro2::TokenStream) -> proc_macro2::TokenStream {
    if std::env::var_os("IMIA_MACROS_DEBUG").is_some() {
        eprintln!("imia-macros {what} expansion:\n{tokens}");
    }
    tokens
}
