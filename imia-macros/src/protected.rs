//! `#[protected]`: check authentication and scopes before a handler runs.

use proc_macro2::{Delimiter, Group, Span, TokenStream, TokenTree};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::{Error, FnArg, Item, ItemFn, LitStr, Path, ReturnType, spanned::Spanned};

use crate::attr::{Errors, default_crate};

#[derive(Default)]
struct Args {
    all: Vec<String>,
    any: Vec<String>,
    krate: Option<Path>,
    fresh: bool,
    second_factor: bool,
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
            "fresh" | "second_factor" => {
                let flag = if key == "fresh" {
                    &mut out.fresh
                } else {
                    &mut out.second_factor
                };
                if *flag {
                    return Err(meta.error(format_args!("duplicate `{key}`")));
                }
                if !meta.input.is_empty() && !meta.input.peek(syn::Token![,]) {
                    return Err(meta.error(format_args!("`{key}` takes no value: write `{key}` alone")));
                }
                *flag = true;
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
                    "unknown argument `{}`; expected `scopes = \"...\"`, `any = \"...\"`, `fresh`, `second_factor` or `crate = \"...\"`",
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
            // Re-emit the item untouched beside the error, so that it stays the only one.
            let err = misplaced(&item).into_compile_error();
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

/// The error for `#[protected]` on an item that is not a function with a body. It points at the
/// item's head (`struct Handler`, `impl Api`, `const LIMIT`, ...), not at the attribute nor across
/// a whole block, and says what the item is.
fn misplaced(item: &TokenStream) -> Error {
    let (head, what) = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Const(i)) => {
            let (vis, token, ident) = (&i.vis, &i.const_token, &i.ident);
            (quote!(#vis #token #ident), "a constant")
        }
        Ok(Item::Enum(i)) => {
            let (vis, token, ident) = (&i.vis, &i.enum_token, &i.ident);
            (quote!(#vis #token #ident), "an enum")
        }
        Ok(Item::ExternCrate(i)) => {
            let (vis, extern_token, crate_token, ident) = (&i.vis, &i.extern_token, &i.crate_token, &i.ident);
            (quote!(#vis #extern_token #crate_token #ident), "an `extern crate`")
        }
        Ok(Item::ForeignMod(i)) => {
            let (unsafety, abi) = (&i.unsafety, &i.abi);
            (quote!(#unsafety #abi), "an `extern` block")
        }
        Ok(Item::Impl(i)) => {
            let (unsafety, token, self_ty) = (&i.unsafety, &i.impl_token, &i.self_ty);
            (quote!(#unsafety #token #self_ty), "an impl block")
        }
        Ok(Item::Macro(i)) => {
            let (path, bang, ident) = (&i.mac.path, &i.mac.bang_token, &i.ident);
            (quote!(#path #bang #ident), "a macro")
        }
        Ok(Item::Mod(i)) => {
            let (vis, token, ident) = (&i.vis, &i.mod_token, &i.ident);
            (quote!(#vis #token #ident), "a module")
        }
        Ok(Item::Static(i)) => {
            let (vis, token, mutability, ident) = (&i.vis, &i.static_token, &i.mutability, &i.ident);
            (quote!(#vis #token #mutability #ident), "a static")
        }
        Ok(Item::Struct(i)) => {
            let (vis, token, ident) = (&i.vis, &i.struct_token, &i.ident);
            (quote!(#vis #token #ident), "a struct")
        }
        Ok(Item::Trait(i)) => {
            let (vis, unsafety, token, ident) = (&i.vis, &i.unsafety, &i.trait_token, &i.ident);
            (quote!(#vis #unsafety #token #ident), "a trait")
        }
        Ok(Item::TraitAlias(i)) => {
            let (vis, token, ident) = (&i.vis, &i.trait_token, &i.ident);
            (quote!(#vis #token #ident), "a trait alias")
        }
        Ok(Item::Type(i)) => {
            let (vis, token, ident) = (&i.vis, &i.type_token, &i.ident);
            (quote!(#vis #token #ident), "a type alias")
        }
        Ok(Item::Union(i)) => {
            let (vis, token, ident) = (&i.vis, &i.union_token, &i.ident);
            (quote!(#vis #token #ident), "a union")
        }
        Ok(Item::Use(i)) => {
            let (vis, token, tree) = (&i.vis, &i.use_token, &i.tree);
            (quote!(#vis #token #tree), "a `use` declaration")
        }
        // A function without a body, as in a trait: `async fn handler();`.
        _ => match syn::parse2::<syn::TraitItemFn>(item.clone()) {
            Ok(f) if f.default.is_none() => (f.sig.to_token_stream(), "a function without a body"),
            _ => return Error::new_spanned(item, "#[protected] goes on an async handler function"),
        },
    };
    Error::new_spanned(
        head,
        format!("#[protected] goes on an async handler function, not on {what}"),
    )
}

/// The most elements actix-web implements `FromRequest` for in a tuple (`(A,)` to
/// `(A, ..., P)` in actix-web 4). Longer argument lists are extracted as nested tuples.
const MAX_TUPLE: usize = 16;

/// Builds the tuple type to extract and the pattern that takes it apart, nesting tuples of at
/// most [`MAX_TUPLE`] elements so that any number of arguments can be extracted at once, in
/// order, as actix extracts a handler's arguments.
fn extraction_tuple(parts: Vec<(TokenStream, TokenStream)>, span: Span) -> (TokenStream, TokenStream) {
    if parts.len() <= MAX_TUPLE {
        let (tys, pats): (Vec<_>, Vec<_>) = parts.into_iter().unzip();
        let tuple = |items: Vec<TokenStream>| {
            let mut group = Group::new(Delimiter::Parenthesis, quote_spanned!(span=> #(#items,)*));
            group.set_span(span);
            TokenTree::Group(group).into()
        };
        return (tuple(tys), tuple(pats));
    }
    let mut groups = Vec::new();
    let mut parts = parts.into_iter().peekable();
    while parts.peek().is_some() {
        groups.push(extraction_tuple(parts.by_ref().take(MAX_TUPLE).collect(), span));
    }
    extraction_tuple(groups, span)
}

/// Gives every token of `tokens` the span `span`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tt| {
            if let TokenTree::Group(g) = &tt {
                let mut group = Group::new(g.delimiter(), respan(g.stream(), span));
                group.set_span(span);
                tt = TokenTree::Group(group);
            } else {
                tt.set_span(span);
            }
            tt
        })
        .collect()
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
    // The expansion is a safe Rust function: it would silently drop either.
    if let Some(u) = &sig.unsafety {
        errors.spanned(u.span, "#[protected] handlers cannot be `unsafe fn`");
    }
    if let Some(abi) = &sig.abi {
        errors.push(Error::new_spanned(
            abi,
            "#[protected] handlers cannot be `extern` functions",
        ));
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
    // Plain `#[protected]` expands as it always has; the login requirements use their own call.
    let check = if args.fresh || args.second_factor {
        let (fresh, second_factor) = (args.fresh, args.second_factor);
        quote!(#private::require_login(&__imia_req, &[#(#all),*], &[#(#any),*], #fresh, #second_factor))
    } else {
        quote!(#private::require(&__imia_req, &[#(#all),*], &[#(#any),*]))
    };

    let attrs = &func.attrs;
    let vis = &func.vis;
    let ident = &sig.ident;
    let generics = &sig.generics;
    let output_ty = match &sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => quote!(#ty),
    };
    let output_span = match &sig.output {
        ReturnType::Default => sig.ident.span(),
        ReturnType::Type(_, ty) => ty.span(),
    };

    let mut parts = Vec::new();
    let mut call_args = Vec::new();
    for (i, arg) in sig.inputs.iter().enumerate() {
        if let FnArg::Typed(pat_ty) = arg {
            let name = format_ident!("__imia_arg{}", i);
            let ty = &pat_ty.ty;
            parts.push((quote!(#ty), quote!(#name)));
            call_args.push(name);
        }
    }
    let inner_inputs = &sig.inputs;
    let block = &func.block;
    let inner = format_ident!("__imia_{}", ident);
    let req = format_ident!("__imia_req");
    let payload = format_ident!("__imia_payload");
    let wrapped_output = quote_spanned! {output_span=>
        #private::Either<#output_ty, #private::HttpResponse>
    };
    let inner_where = &generics.where_clause;

    // The scopes are checked first, from the request head alone; only then are the handler's
    // own extractors built and run, all together as actix would, on the real request and
    // payload (so app-level extractor configs apply). A refused request never reaches them,
    // and its body is never read.
    let (outer_inputs, extract, outer_where) = if parts.is_empty() {
        (quote!(#req: #private::HttpRequest), quote!(), quote!(#inner_where))
    } else {
        // An argument that is no extractor is reported at the argument list.
        let args_span = sig.paren_token.span.join();
        let (tuple, pattern) = extraction_tuple(parts, args_span);
        let extract_fn = respan(quote!(#private::extract), args_span);
        let extract_call = quote_spanned!(args_span=> #extract_fn::<#tuple>(&#req, #payload).await);
        // A generic handler's extractors are checked where it is instantiated, as actix checks
        // a plain handler's: the bound goes in the where clause.
        let outer_where = if generics.params.is_empty() {
            quote!(#inner_where)
        } else {
            let mut clause = generics.where_clause.clone().unwrap_or_else(|| syn::WhereClause {
                where_token: Default::default(),
                predicates: Default::default(),
            });
            clause
                .predicates
                .push(syn::parse2(quote!(#tuple: #private::FromRequest))?);
            quote!(#clause)
        };
        (
            quote!(#req: #private::HttpRequest, #payload: #private::Payload),
            quote! {
                let #pattern = match #extract_call {
                    ::core::result::Result::Ok(__imia_args) => __imia_args,
                    ::core::result::Result::Err(__imia_res) => return #private::Either::Right(__imia_res),
                };
            },
            outer_where,
        )
    };

    Ok(quote! {
        #(#attrs)*
        #vis async fn #ident #generics (#outer_inputs) -> #wrapped_output #outer_where {
            #[allow(clippy::too_many_arguments)]
            async fn #inner #generics (#inner_inputs) -> #output_ty #inner_where #block

            if let ::core::option::Option::Some(__imia_denied) = #check {
                return #private::Either::Right(__imia_denied);
            }
            #extract
            #private::Either::Left(#inner(#(#call_args),*).await)
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

    #[test]
    fn misplaced_attributes_say_what_they_are_on() {
        for (item, what) in [
            ("const A: u8 = 1;", "a constant"),
            ("pub enum A { B }", "an enum"),
            ("extern crate a;", "an `extern crate`"),
            ("unsafe extern \"C\" {}", "an `extern` block"),
            ("unsafe impl<T> A for B<T> { fn f() {} }", "an impl block"),
            ("macro_rules! a { () => {} }", "a macro"),
            ("mod a {}", "a module"),
            ("static mut A: u8 = 1;", "a static"),
            ("struct A;", "a struct"),
            ("pub unsafe trait A {}", "a trait"),
            ("trait A = B;", "a trait alias"),
            ("type A = B;", "a type alias"),
            ("union A { b: u8 }", "a union"),
            ("use a::b;", "a `use` declaration"),
            ("async fn handler(&self) -> u8;", "a function without a body"),
        ] {
            let err = misplaced(&item.parse().unwrap()).to_string();
            assert_eq!(
                err,
                format!("#[protected] goes on an async handler function, not on {what}"),
                "{item}"
            );
        }
        // Anything else: the plain message.
        let err = misplaced(&quote!(let x = 1;)).to_string();
        assert_eq!(err, "#[protected] goes on an async handler function");
    }

    #[test]
    fn long_argument_lists_are_extracted_as_nested_tuples() {
        let span = proc_macro2::Span::call_site();
        let parts = |n: usize| -> Vec<(TokenStream, TokenStream)> {
            (0..n)
                .map(|i| {
                    let ty = format_ident!("T{}", i);
                    let pat = format_ident!("a{}", i);
                    (quote!(#ty), quote!(#pat))
                })
                .collect()
        };
        let shape = |n| {
            let (ty, pat) = extraction_tuple(parts(n), span);
            (ty.to_string().replace(' ', ""), pat.to_string().replace(' ', ""))
        };
        assert_eq!(shape(1), ("(T0,)".to_owned(), "(a0,)".to_owned()));
        let (ty, _) = shape(MAX_TUPLE);
        assert_eq!(ty.matches(',').count(), MAX_TUPLE, "flat up to the limit: {ty}");
        assert!(!ty[1..].contains('('), "{ty}");
        // One more: a tuple of a full tuple and the rest, still in order.
        let (ty, pat) = shape(MAX_TUPLE + 1);
        assert!(ty.starts_with("((T0,T1,") && ty.ends_with(",T15,),(T16,),)"), "{ty}");
        assert!(pat.ends_with(",a15,),(a16,),)"), "{pat}");
        // No tuple anywhere has more elements than actix implements `FromRequest` for.
        let (ty, _) = shape(MAX_TUPLE * MAX_TUPLE + 1);
        let mut depth = Vec::new();
        for c in ty.chars() {
            match c {
                '(' => depth.push(0),
                ')' => assert!(depth.pop().unwrap() <= MAX_TUPLE, "{ty}"),
                ',' => *depth.last_mut().unwrap() += 1,
                _ => {}
            }
        }
        for i in 0..=MAX_TUPLE * MAX_TUPLE {
            assert!(ty.contains(&format!("T{i},")), "T{i} missing");
        }
    }
}
