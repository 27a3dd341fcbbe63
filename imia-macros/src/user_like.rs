//! `#[derive(UserLike)]`: parse, validate, expand.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::{
    Data, DeriveInput, Error, Fields, GenericArgument, Ident, LitStr, Member, Path, PathArguments, Type,
    spanned::Spanned,
};

use crate::attr::{Errors, default_crate};

/// The roles a field can play, in the order they are reported.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    Id,
    Username,
    Password,
    Scopes,
    DisplayName,
    Active,
    Token,
    Stamp,
}

impl Role {
    const ALL: [Role; 8] = [
        Role::Id,
        Role::Username,
        Role::Password,
        Role::Scopes,
        Role::DisplayName,
        Role::Active,
        Role::Token,
        Role::Stamp,
    ];

    fn key(self) -> &'static str {
        match self {
            Role::Id => "id",
            Role::Username => "username",
            Role::Password => "password",
            Role::Scopes => "scopes",
            Role::DisplayName => "display_name",
            Role::Active => "active",
            Role::Token => "token",
            Role::Stamp => "security_stamp",
        }
    }

    fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.key() == key)
    }

    /// Field names that take the role when no field is marked for it, in priority order.
    fn default_names(self) -> &'static [&'static str] {
        match self {
            Role::Id => &["id"],
            Role::Username => &["username", "email"],
            Role::Password => &["password_hash", "hashed_password", "password"],
            Role::Scopes => &["scopes"],
            Role::DisplayName => &["display_name", "name"],
            Role::Active => &["is_active", "active"],
            Role::Token => &["api_token", "token"],
            Role::Stamp => &["security_stamp"],
        }
    }
}

/// A field chosen for a role.
struct FieldRef {
    member: Member,
    ty: Type,
}

/// The parsed and validated input.
struct UserLikeInput {
    ident: Ident,
    generics: syn::Generics,
    krate: Path,
    roles: Vec<(Role, FieldRef)>,
    display_name_method: Option<Ident>,
    scopes_with: Option<Path>,
    active_with: Option<Path>,
}

impl UserLikeInput {
    fn field(&self, role: Role) -> Option<&FieldRef> {
        self.roles.iter().find(|(r, _)| *r == role).map(|(_, f)| f)
    }
}

pub(crate) fn expand(input: TokenStream) -> TokenStream {
    let input: DeriveInput = match syn::parse2(input) {
        Ok(input) => input,
        Err(err) => return err.into_compile_error(),
    };
    match parse(&input) {
        Ok(parsed) => generate(&parsed),
        Err(err) => {
            let fallback = fallback(&input);
            let err = err.into_compile_error();
            quote!(#err #fallback)
        }
    }
}

#[derive(Default)]
struct ContainerAttrs {
    krate: Option<Path>,
    display_name: Option<Ident>,
    scopes_with: Option<Path>,
    active_with: Option<Path>,
}

fn parse_container(input: &DeriveInput, errors: &mut Errors) -> ContainerAttrs {
    let mut out = ContainerAttrs::default();
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("imia")) {
        let result = attr.parse_nested_meta(|meta| {
            let key = meta.path.get_ident().map(ToString::to_string).unwrap_or_default();
            let dup = |present: bool| {
                if present {
                    Err(meta.error(format_args!("duplicate imia attribute `{key}`")))
                } else {
                    Ok(())
                }
            };
            match key.as_str() {
                "crate" => {
                    dup(out.krate.is_some())?;
                    let lit: LitStr = meta.value()?.parse()?;
                    out.krate = Some(lit.parse()?);
                }
                "display_name" => {
                    dup(out.display_name.is_some())?;
                    let lit: LitStr = meta.value()?.parse()?;
                    out.display_name = Some(lit.parse().map_err(|_| {
                        Error::new(
                            lit.span(),
                            "`display_name` names a method of this type, e.g. \"full_name\"",
                        )
                    })?);
                }
                "scopes_with" => {
                    dup(out.scopes_with.is_some())?;
                    let lit: LitStr = meta.value()?.parse()?;
                    out.scopes_with = Some(lit.parse()?);
                }
                "active_with" => {
                    dup(out.active_with.is_some())?;
                    let lit: LitStr = meta.value()?.parse()?;
                    out.active_with = Some(lit.parse()?);
                }
                _ if Role::from_key(&key).is_some() || key == "skip" => {
                    return Err(meta.error(format_args!("`#[imia({key})]` goes on a field, not on the struct")));
                }
                _ => {
                    return Err(meta.error(format_args!(
                        "unknown imia attribute `{}`; expected `crate`, `display_name`, `scopes_with` or `active_with`",
                        path_text(&meta.path)
                    )));
                }
            }
            Ok(())
        });
        if let Err(err) = result {
            errors.push(err);
        }
    }
    out
}

fn path_text(path: &Path) -> String {
    quote!(#path).to_string().replace(' ', "")
}

fn parse(input: &DeriveInput) -> Result<UserLikeInput, Error> {
    let mut errors = Errors::default();
    let fields = match &input.data {
        Data::Struct(data) => &data.fields,
        Data::Enum(data) => {
            return Err(Error::new(
                data.enum_token.span,
                "`UserLike` can only be derived for structs, not enums",
            ));
        }
        Data::Union(data) => {
            return Err(Error::new(
                data.union_token.span,
                "`UserLike` can only be derived for structs, not unions",
            ));
        }
    };
    let container = parse_container(input, &mut errors);

    // Explicit roles, and fields excluded from the defaults.
    let mut explicit: Vec<(Role, FieldRef, Span)> = Vec::new();
    let mut skipped: Vec<Member> = Vec::new();
    for (index, field) in fields.iter().enumerate() {
        let member = match &field.ident {
            Some(ident) => Member::Named(ident.clone()),
            None => Member::Unnamed(syn::Index::from(index)),
        };
        for attr in field.attrs.iter().filter(|a| a.path().is_ident("imia")) {
            let result = attr.parse_nested_meta(|meta| {
                let key = meta.path.get_ident().map(ToString::to_string).unwrap_or_default();
                if key == "skip" {
                    skipped.push(member.clone());
                    return Ok(());
                }
                let Some(role) = Role::from_key(&key) else {
                    let hint = if ["crate", "scopes_with", "active_with"].contains(&key.as_str()) {
                        format!("`{key}` goes on the struct, not on a field")
                    } else {
                        format!(
                            "unknown imia attribute `{}`; expected one of `id`, `username`, `password`, `scopes`, `display_name`, `active`, `token`, `security_stamp`, `skip`",
                            path_text(&meta.path)
                        )
                    };
                    return Err(meta.error(hint));
                };
                if explicit.iter().any(|(r, _, _)| *r == role) {
                    return Err(meta.error(format_args!("duplicate `#[imia({key})]`: only one field can be the {key}")));
                }
                if role == Role::DisplayName && container.display_name.is_some() {
                    return Err(meta.error("the display name is already given by `#[imia(display_name = \"...\")]` on the struct"));
                }
                if role == Role::Scopes && container.scopes_with.is_some() {
                    return Err(meta.error("the scopes are already given by `#[imia(scopes_with = \"...\")]` on the struct"));
                }
                if role == Role::Active && container.active_with.is_some() {
                    return Err(meta.error("activity is already given by `#[imia(active_with = \"...\")]` on the struct"));
                }
                explicit.push((
                    role,
                    FieldRef {
                        member: member.clone(),
                        ty: field.ty.clone(),
                    },
                    meta.path.span(),
                ));
                // Reported after the role is recorded, so that the mistake is the only error.
                if meta.input.peek(syn::Token![=]) || meta.input.peek(syn::token::Paren) {
                    return Err(meta.error(format_args!("`#[imia({key})]` takes no value")));
                }
                Ok(())
            });
            if let Err(err) = result {
                errors.push(err);
            }
        }
    }

    // Defaults by field name for the roles nobody claimed.
    let mut roles: Vec<(Role, FieldRef)> = explicit.into_iter().map(|(r, f, _)| (r, f)).collect();
    let claimed: Vec<Member> = roles.iter().map(|(_, f)| f.member.clone()).collect();
    for role in Role::ALL {
        let given_by_container = match role {
            Role::DisplayName => container.display_name.is_some(),
            Role::Scopes => container.scopes_with.is_some(),
            Role::Active => container.active_with.is_some(),
            _ => false,
        };
        if given_by_container || roles.iter().any(|(r, _)| *r == role) {
            continue;
        }
        let candidate = role.default_names().iter().find_map(|name| {
            fields.iter().find(|f| {
                f.ident.as_ref().is_some_and(|i| i == name)
                    && !skipped.iter().any(|m| matches!(m, Member::Named(i) if i == name))
                    && !claimed.iter().any(|m| matches!(m, Member::Named(i) if i == name))
            })
        });
        if let Some(field) = candidate {
            roles.push((
                role,
                FieldRef {
                    member: Member::Named(field.ident.clone().expect("named field")),
                    ty: field.ty.clone(),
                },
            ));
        }
    }

    if !roles.iter().any(|(r, _)| *r == Role::Id) {
        let msg = match fields {
            Fields::Named(_) => "`UserLike` needs an id: name a field `id`, or mark one with `#[imia(id)]`",
            Fields::Unnamed(_) => "a tuple struct needs `#[imia(id)]` on the field that holds the id",
            Fields::Unit => "`UserLike` cannot be derived for a unit struct: it needs an id field",
        };
        errors.spanned(input.ident.span(), msg);
    }
    errors.finish()?;

    Ok(UserLikeInput {
        ident: input.ident.clone(),
        generics: input.generics.clone(),
        krate: container.krate.unwrap_or_else(default_crate),
        roles,
        display_name_method: container.display_name,
        scopes_with: container.scopes_with,
        active_with: container.active_with,
    })
}

/// Whether `ty` is a string type that can be lent as `&str` without a conversion.
fn is_plain_string(ty: &Type) -> bool {
    match ty {
        Type::Reference(r) => is_plain_string(&r.elem),
        Type::Path(p) if p.qself.is_none() => {
            let Some(last) = p.path.segments.last() else {
                return false;
            };
            match last.ident.to_string().as_str() {
                "String" | "str" => matches!(last.arguments, PathArguments::None),
                "Box" | "Rc" | "Arc" | "Cow" => match &last.arguments {
                    PathArguments::AngleBracketed(args) => args
                        .args
                        .iter()
                        .any(|a| matches!(a, GenericArgument::Type(Type::Path(t)) if t.path.is_ident("str"))),
                    _ => false,
                },
                _ => false,
            }
        }
        _ => false,
    }
}

fn generate(input: &UserLikeInput) -> TokenStream {
    let UserLikeInput { ident, krate, .. } = input;
    let private = quote!(#krate::__private);
    let cow = quote!(::std::borrow::Cow);

    let id = input.field(Role::Id).expect("validated: an id field exists");
    let id_body = {
        let FieldRef { member, ty } = id;
        if is_plain_string(ty) {
            quote_spanned!(ty.span()=> #cow::Borrowed(::core::convert::AsRef::<str>::as_ref(&self.#member)))
        } else {
            quote_spanned!(ty.span()=> <#ty as #private::IdField>::id_cow(&self.#member))
        }
    };

    let str_field = |f: &FieldRef| {
        let FieldRef { member, ty } = f;
        quote_spanned!(ty.span()=> <#ty as #private::StrField>::str_field(&self.#member))
    };

    let username = input.field(Role::Username).map(|f| {
        let value = str_field(f);
        quote! {
            fn username(&self) -> ::core::option::Option<#cow<'_, str>> {
                ::core::option::Option::map(#value, #cow::Borrowed)
            }
        }
    });

    let fallback_name = quote! {
        match <Self as #krate::UserLike>::username(self) {
            ::core::option::Option::Some(name) => name,
            ::core::option::Option::None => <Self as #krate::UserLike>::id(self),
        }
    };
    let display_name = if let Some(method) = &input.display_name_method {
        Some(quote_spanned! {method.span()=>
            fn display_name(&self) -> #cow<'_, str> {
                ::core::convert::Into::<#cow<'_, str>>::into(Self::#method(self))
            }
        })
    } else {
        input.field(Role::DisplayName).map(|f| {
            let value = str_field(f);
            quote! {
                fn display_name(&self) -> #cow<'_, str> {
                    match #value {
                        ::core::option::Option::Some(name) if !name.is_empty() => #cow::Borrowed(name),
                        _ => #fallback_name,
                    }
                }
            }
        })
    };

    let password = input.field(Role::Password).map(|f| {
        let value = str_field(f);
        quote! {
            fn hashed_password(&self) -> &str {
                ::core::option::Option::unwrap_or(#value, "")
            }
        }
    });

    let token = input.field(Role::Token).map(|f| {
        let value = str_field(f);
        quote! {
            fn api_token(&self) -> ::core::option::Option<&str> {
                ::core::option::Option::filter(#value, |t| !t.is_empty())
            }
        }
    });

    let stamp = input.field(Role::Stamp).map(|f| {
        let value = str_field(f);
        let FieldRef { member, ty } = f;
        let setter = quote_spanned! {ty.span()=>
            <#ty as #private::StampField>::set_stamp(&mut self.#member, stamp)
        };
        quote! {
            fn security_stamp(&self) -> #cow<'_, str> {
                #cow::Borrowed(::core::option::Option::unwrap_or(#value, ""))
            }
            fn set_security_stamp(&mut self, stamp: ::std::string::String) -> bool {
                #setter;
                true
            }
        }
    });

    let scopes = if let Some(path) = &input.scopes_with {
        Some(quote_spanned! {path.span()=>
            fn scopes(&self) -> ::std::vec::Vec<::std::string::String> {
                #path(self)
            }
        })
    } else {
        input.field(Role::Scopes).map(|FieldRef { member, ty }| {
            quote_spanned! {ty.span()=>
                fn scopes(&self) -> ::std::vec::Vec<::std::string::String> {
                    <#ty as #private::ScopesField>::scopes_vec(&self.#member)
                }
                fn has_scope(&self, scope: &str) -> bool {
                    <#ty as #private::ScopesField>::has(&self.#member, scope)
                }
            }
        })
    };

    let active = if let Some(path) = &input.active_with {
        Some(quote_spanned! {path.span()=>
            fn is_active(&self) -> bool {
                #path(self)
            }
        })
    } else {
        input.field(Role::Active).map(|FieldRef { member, ty }| {
            quote_spanned! {ty.span()=>
                fn is_active(&self) -> bool {
                    <#ty as #private::ActiveField>::active(&self.#member)
                }
            }
        })
    };

    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let mut where_clause = where_clause.cloned().unwrap_or_else(|| syn::parse_quote!(where));
    if input.generics.type_params().next().is_some() {
        where_clause
            .predicates
            .push(syn::parse_quote!(Self: ::core::marker::Send + ::core::marker::Sync + 'static));
    }

    quote! {
        #[automatically_derived]
        impl #impl_generics #krate::UserLike for #ident #ty_generics #where_clause {
            fn id(&self) -> #cow<'_, str> {
                #id_body
            }
            #display_name
            #username
            #password
            #token
            #stamp
            #scopes
            #active
        }
    }
}

/// A stub impl emitted beside a compile error, so that one mistake gives one error and not a
/// cascade of "`UserLike` is not implemented" where the type is used.
fn fallback(input: &DeriveInput) -> TokenStream {
    let ident = &input.ident;
    let krate = input
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("imia"))
        .find_map(|a| {
            let mut found = None;
            let _ = a.parse_nested_meta(|meta| {
                if meta.path.is_ident("crate") {
                    let lit: LitStr = meta.value()?.parse()?;
                    found = lit.parse::<Path>().ok();
                } else if meta.input.peek(syn::Token![=]) {
                    let _: LitStr = meta.value()?.parse()?;
                }
                Ok(())
            });
            found
        })
        .unwrap_or_else(default_crate);
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    quote! {
        #[automatically_derived]
        #[allow(unreachable_code)]
        impl #impl_generics #krate::UserLike for #ident #ty_generics #where_clause {
            fn id(&self) -> ::std::borrow::Cow<'_, str> {
                ::core::unreachable!("the UserLike derive failed to compile")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_strings_are_recognised() {
        for ty in [
            "String",
            "std::string::String",
            "&str",
            "&'static str",
            "Box<str>",
            "Cow<'a, str>",
            "Arc<str>",
        ] {
            assert!(is_plain_string(&syn::parse_str(ty).unwrap()), "{ty}");
        }
        for ty in ["i64", "Uuid", "Option<String>", "Vec<String>", "Box<String>"] {
            assert!(!is_plain_string(&syn::parse_str(ty).unwrap()), "{ty}");
        }
    }
}
