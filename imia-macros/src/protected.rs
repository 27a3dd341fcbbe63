//! `#[protected]`: check authentication and scopes before a handler runs.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::{Error, FnArg, ItemFn, LitStr, Path, ReturnType, spanned::Spanned};

use crate::attr::{Errors, default_crate};

#[derive(Default)]
struct Args {
    all: Vec<String>,
    any: Vec<String>,
    krate: Option<Path>,
}

fn parse_args(args: TokenStream) -> Result<Args, Error> {
    let mut out = Args::default();
    let mut seen_all = false;
    let mut seen_any = false;
    let parser = syn::meta::parser(|meta| {
        let key = meta.path.get_ident().map(ToString::to_string).unwrap_or_default();
        match key.as_str() {
            "scopes" | "any" => {
                let seen = if key == "scopes" { &mut seen_all } else { &mut seen_any };
                if *seen {
                    return Err(meta.error(format_args!("duplicate `{key}`")));
                }
                *seen = true;
                let lit: LitStr = meta.value()?.parse()?;
                let scopes = validate_scopes(&lit)?;
                if key == "scopes" {
                    out.all = scopes;
                } else {
                    out.any = scopes;
                }
                Ok(())
            }
            "crate" => {
                if out.krate.is_some() {
                    return Err(meta.error("duplicate `crate`"));
                }
                let lit: LitStr = meta.value()?.parse()?;
                out.krate = Some(lit.parse()?);
                Ok(())
            }
            _ => {
                let path = &meta.path;
                Err(meta.error(format_args!(
                    "unknown argument `{}`; expected `scopes = \"...\"`, `any = \"...\"` or `crate = \"...\"`",
                    quote!(#path).to_string().replace(' ', "")
                )))
            }
        }
    });
    syn::parse::Parser::parse2(parser, args)?;
    Ok(out)
}

/// Splits a scope list at spaces and checks each scope (RFC 6749 `scope-token` characters, no
/// commas, no duplicates).
fn validate_scopes(lit: &LitStr) -> Result<Vec<String>, Error> {
    let value = lit.value();
    let mut scopes: Vec<String> = Vec::new();
    let mut errors = Errors::default();
    if value.trim().is_empty() {
        return Err(Error::new(
            lit.span(),
            "empty scope list: name at least one scope, e.g. \"admin\"",
        ));
    }
    for scope in value.split(' ') {
        if scope.is_empty() {
            errors.spanned(lit.span(), "empty scope: separate scopes with single spaces");
        } else if let Some(bad) = scope
            .chars()
            .find(|c| !(c.is_ascii_graphic() && *c != '"' && *c != '\\' && *c != ','))
        {
            errors.spanned(
                lit.span(),
                format_args!(
                    "invalid character {bad:?} in scope {scope:?}: scopes are printable ASCII without quotes, backslashes or commas, separated by single spaces"
                ),
            );
        } else if scopes.iter().any(|s| s == scope) {
            errors.spanned(lit.span(), format_args!("duplicate scope {scope:?}"));
        } else {
            scopes.push(scope.to_owned());
        }
    }
    errors.finish().map(|()| scopes)
}

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let func: ItemFn = match syn::parse2(item.clone()) {
        Ok(func) => func,
        Err(_) => {
            let err = Error::new(
                proc_macro2::Span::call_site(),
                "#[protected] goes on an async handler function",
            )
            .into_compile_error();
            return quote!(#err #item);
        }
    };
    match generate(args, &func) {
        Ok(tokens) => tokens,
        // Re-emit the function untouched beside the error, so that its other uses still
        // type-check and the error stays the only one.
        Err(err) => {
            let err = err.into_compile_error();
            quote!(#err #func)
        }
    }
}

fn generate(args: TokenStream, func: &ItemFn) -> Result<TokenStream, Error> {
    let args = parse_args(args)?;
    let sig = &func.sig;
    let mut errors = Errors::default();
    if sig.asyncness.is_none() {
        errors.spanned(sig.fn_token.span, "#[protected] handlers must be `async fn`");
    }
    if let Some(c) = &sig.constness {
        errors.spanned(c.span, "#[protected] handlers cannot be `const fn`");
    }
    if let Some(receiver) = sig.receiver() {
        errors.spanned(
            receiver.span(),
            "#[protected] goes on free handler functions, not methods",
        );
    }
    if let Some(variadic) = &sig.variadic {
        errors.spanned(variadic.span(), "#[protected] handlers cannot be variadic");
    }
    errors.finish()?;

    let krate = args.krate.unwrap_or_else(default_crate);
    let private = quote!(#krate::__private);
    let all = &args.all;
    let any = &args.any;

    let attrs = &func.attrs;
    let vis = &func.vis;
    let ident = &sig.ident;
    let generics = &sig.generics;
    let where_clause = &generics.where_clause;
    let output_ty = match &sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => quote!(#ty),
    };
    let output_span = match &sig.output {
        ReturnType::Default => sig.ident.span(),
        ReturnType::Type(_, ty) => ty.span(),
    };

    let mut outer_args = Vec::new();
    let mut call_args = Vec::new();
    for (i, arg) in sig.inputs.iter().enumerate() {
        if let FnArg::Typed(pat_ty) = arg {
            let name = format_ident!("__imia_arg{}", i);
            let ty = &pat_ty.ty;
            outer_args.push(quote_spanned!(ty.span()=> #name: #ty));
            call_args.push(name);
        }
    }
    let inner_inputs = &sig.inputs;
    let block = &func.block;
    let inner = format_ident!("__imia_{}", ident);
    let req = format_ident!("__imia_req");
    let wrapped_output = quote_spanned! {output_span=>
        #private::Either<#output_ty, #private::HttpResponse>
    };

    Ok(quote! {
        #(#attrs)*
        #vis async fn #ident #generics (#req: #private::HttpRequest, #(#outer_args),*) -> #wrapped_output #where_clause {
            #[allow(clippy::too_many_arguments)]
            async fn #inner #generics (#inner_inputs) -> #output_ty #where_clause #block

            match #private::require(&#req, &[#(#all),*], &[#(#any),*]) {
                ::core::option::Option::None => #private::Either::Left(#inner(#(#call_args),*).await),
                ::core::option::Option::Some(denied) => #private::Either::Right(denied),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> LitStr {
        LitStr::new(s, proc_macro2::Span::call_site())
    }

    #[test]
    fn scopes_are_split_and_checked() {
        assert_eq!(
            validate_scopes(&lit("admin billing:read")).unwrap(),
            ["admin", "billing:read"]
        );
        for bad in ["", "  ", "a  b", "a b a", "a,b", "caf\u{e9}", "a\tb", "\"a\"", " a"] {
            assert!(validate_scopes(&lit(bad)).is_err(), "{bad:?}");
        }
    }
}
