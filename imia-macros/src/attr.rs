//! Helpers shared by the macros: the crate path and error accumulation.

use proc_macro2::Span;
use syn::{Error, Path};

/// The path generated code uses to reach imia: `::imia` unless `crate = "..."` says otherwise.
pub(crate) fn default_crate() -> Path {
    syn::parse_quote!(::imia)
}

/// Collects errors so that one pass reports all of them (serde's `Ctxt`).
#[derive(Default)]
pub(crate) struct Errors(Option<Error>);

impl Errors {
    pub(crate) fn push(&mut self, err: Error) {
        match &mut self.0 {
            Some(first) => first.combine(err),
            None => self.0 = Some(err),
        }
    }

    pub(crate) fn spanned(&mut self, span: Span, msg: impl std::fmt::Display) {
        self.push(Error::new(span, msg));
    }

    pub(crate) fn finish(self) -> Result<(), Error> {
        self.0.map_or(Ok(()), Err)
    }
}
