//! `#[derive(UserLike)]`, in three steps:
//!
//! 1. [`parse`] reads the struct and its `#[imia(...)]` attributes into a [`Model`]: what the
//!    source says, nothing decided yet.
//! 2. [`validate`] decides which field plays which role (attributes first, then the field names
//!    of [`Role::default_names`]), rejects conflicts and a missing id, and gives a [`Plan`].
//! 3. [`expand`] writes `impl UserLike` from the plan.
//!
//! [`derive`] runs the three; on an error it emits the error beside a stub impl ([`fallback`]).

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
    Verified,
}

impl Role {
    const ALL: [Role; 9] = [
        Role::Id,
        Role::Username,
        Role::Password,
        Role::Scopes,
        Role::DisplayName,
        Role::Active,
        Role::Token,
        Role::Stamp,
        Role::Verified,
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
            Role::Verified => "verified",
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
            Role::Verified => &["email_verified"],
        }
    }
}

/// The struct as written: its fields and what its `#[imia(...)]` attributes say. Nothing is
/// decided yet: which field plays which role is [`validate`]'s business.
struct Model {
    ident: Ident,
    generics: syn::Generics,
    shape: Shape,
    container: ContainerAttrs,
    fields: Vec<FieldModel>,
}

/// The kind of struct, for the message about a missing id.
#[derive(Clone, Copy)]
enum Shape {
    Named,
    Tuple,
    Unit,
}

/// What the struct's own `#[imia(...)]` attributes say.
#[derive(Default)]
struct ContainerAttrs {
    krate: Option<Path>,
    display_name: Option<Ident>,
    scopes_with: Option<Path>,
    active_with: Option<Path>,
    /// The keys that could not be read, in source order.
    invalid: Vec<Error>,
}

impl ContainerAttrs {
    /// Whether a struct attribute computes `role`, so that no field can play it.
    fn computes(&self, role: Role) -> bool {
        match role {
            Role::DisplayName => self.display_name.is_some(),
            Role::Scopes => self.scopes_with.is_some(),
            Role::Active => self.active_with.is_some(),
            _ => false,
        }
    }
}

/// One field and what its `#[imia(...)]` attributes say.
struct FieldModel {
    member: Member,
    ty: Type,
    /// Each `#[imia(...)]` attribute of the field, as its keys in source order. An attribute is
    /// read up to its first mistake, which ends it as a [`FieldKey::Invalid`].
    attrs: Vec<Vec<FieldKey>>,
}

impl FieldModel {
    /// The field's name; `None` in a tuple struct.
    fn name(&self) -> Option<&Ident> {
        match &self.member {
            Member::Named(ident) => Some(ident),
            Member::Unnamed(_) => None,
        }
    }
}

/// One key of a field's `#[imia(...)]` attribute.
enum FieldKey {
    /// `#[imia(id)]`, `#[imia(password)]`, ...: the field plays this role. The span is the key's.
    Role(Role, Span),
    /// `#[imia(skip)]`: the field takes no role by its name.
    Skip,
    /// A key that could not be read, reported in its place among the others.
    Invalid(Error),
}

/// A field chosen for a role.
struct FieldRef {
    member: Member,
    ty: Type,
}

/// The validated input of [`expand`]: every role decided, an id among them.
struct Plan {
    ident: Ident,
    generics: syn::Generics,
    krate: Path,
    roles: Vec<(Role, FieldRef)>,
    display_name_method: Option<Ident>,
    scopes_with: Option<Path>,
    active_with: Option<Path>,
}

impl Plan {
    fn field(&self, role: Role) -> Option<&FieldRef> {
        self.roles.iter().find(|(r, _)| *r == role).map(|(_, f)| f)
    }
}

/// `#[derive(UserLike)]`: parse, validate, expand. On an error, the error comes with a stub impl
/// (see [`fallback`]).
pub(crate) fn derive(input: TokenStream) -> TokenStream {
    let input: DeriveInput = match syn::parse2(input) {
        Ok(input) => input,
        Err(err) => return err.into_compile_error(),
    };
    match parse(&input).and_then(validate) {
        Ok(plan) => expand(&plan),
        Err(err) => {
            let fallback = fallback(&input);
            let err = err.into_compile_error();
            quote!(#err #fallback)
        }
    }
}

/// Reads the struct into a [`Model`]. Fails only for what is not a struct; keys that cannot be
/// read (unknown, misplaced, malformed, given twice on the struct) are kept in the model, in
/// their place, for [`validate`] to report with the rest.
fn parse(input: &DeriveInput) -> Result<Model, Error> {
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
    let shape = match fields {
        Fields::Named(_) => Shape::Named,
        Fields::Unnamed(_) => Shape::Tuple,
        Fields::Unit => Shape::Unit,
    };
    Ok(Model {
        ident: input.ident.clone(),
        generics: input.generics.clone(),
        shape,
        container: parse_container(input),
        fields: fields
            .iter()
            .enumerate()
            .map(|(index, field)| parse_field(index, field))
            .collect(),
    })
}

fn parse_container(input: &DeriveInput) -> ContainerAttrs {
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
            out.invalid.push(err);
        }
    }
    out
}

fn parse_field(index: usize, field: &syn::Field) -> FieldModel {
    let member = match &field.ident {
        Some(ident) => Member::Named(ident.clone()),
        None => Member::Unnamed(syn::Index::from(index)),
    };
    let mut attrs = Vec::new();
    for attr in field.attrs.iter().filter(|a| a.path().is_ident("imia")) {
        let mut keys = Vec::new();
        let result = attr.parse_nested_meta(|meta| {
            let key = meta.path.get_ident().map(ToString::to_string).unwrap_or_default();
            if key == "skip" {
                keys.push(FieldKey::Skip);
                return Ok(());
            }
            let Some(role) = Role::from_key(&key) else {
                let hint = if ["crate", "scopes_with", "active_with"].contains(&key.as_str()) {
                    format!("`{key}` goes on the struct, not on a field")
                } else {
                    format!(
                        "unknown imia attribute `{}`; expected one of `id`, `username`, `password`, `scopes`, `display_name`, `active`, `token`, `security_stamp`, `verified`, `skip`",
                        path_text(&meta.path)
                    )
                };
                return Err(meta.error(hint));
            };
            // Kept even when a value follows, so that the value is the only mistake reported.
            keys.push(FieldKey::Role(role, meta.path.span()));
            if meta.input.peek(syn::Token![=]) || meta.input.peek(syn::token::Paren) {
                return Err(meta.error(format_args!("`#[imia({key})]` takes no value")));
            }
            Ok(())
        });
        if let Err(err) = result {
            keys.push(FieldKey::Invalid(err));
        }
        attrs.push(keys);
    }
    FieldModel {
        member,
        ty: field.ty.clone(),
        attrs,
    }
}

fn path_text(path: &Path) -> String {
    quote!(#path).to_string().replace(' ', "")
}

/// Decides which field plays which role, in this order:
///
/// 1. the fields' role attributes (`#[imia(id)]`, ...), rejecting a role claimed twice or also
///    computed by a struct attribute;
/// 2. for each role still unplayed and not computed by a struct attribute, the first of its
///    [`Role::default_names`] that names a field, unless that field is `#[imia(skip)]` or
///    already plays a role by attribute;
/// 3. an id is required.
///
/// Every mistake is reported at once, in source order; within one attribute, reading stops at
/// the first mistake, as parsing does. Field types are not checked here: [`expand`] spans the
/// generated code so that rustc reports a type that cannot play its role at the field's type.
fn validate(model: Model) -> Result<Plan, Error> {
    let Model {
        ident,
        generics,
        shape,
        mut container,
        mut fields,
    } = model;
    let mut errors = Errors::default();
    for err in std::mem::take(&mut container.invalid) {
        errors.push(err);
    }

    // 1. Roles given by attribute.
    let mut roles: Vec<(Role, FieldRef)> = Vec::new();
    let mut skipped = vec![false; fields.len()];
    let mut by_attribute = vec![false; fields.len()];
    for (index, field) in fields.iter_mut().enumerate() {
        for keys in std::mem::take(&mut field.attrs) {
            for key in keys {
                match key {
                    FieldKey::Invalid(err) => errors.push(err),
                    FieldKey::Skip => skipped[index] = true,
                    FieldKey::Role(role, span) => {
                        if let Some(conflict) = conflict(role, &roles, &container) {
                            errors.spanned(span, conflict);
                            // The rest of the attribute is not read, as after a parse error.
                            break;
                        }
                        roles.push((
                            role,
                            FieldRef {
                                member: field.member.clone(),
                                ty: field.ty.clone(),
                            },
                        ));
                        by_attribute[index] = true;
                    }
                }
            }
        }
    }

    // 2. Roles taken by field name.
    for role in Role::ALL {
        if container.computes(role) || roles.iter().any(|(r, _)| *r == role) {
            continue;
        }
        let candidate = role.default_names().iter().find_map(|name| {
            fields.iter().enumerate().find(|(index, field)| {
                field.name().is_some_and(|i| i == name) && !skipped[*index] && !by_attribute[*index]
            })
        });
        if let Some((_, field)) = candidate {
            roles.push((
                role,
                FieldRef {
                    member: field.member.clone(),
                    ty: field.ty.clone(),
                },
            ));
        }
    }

    // 3. An id.
    if !roles.iter().any(|(r, _)| *r == Role::Id) {
        let msg = match shape {
            Shape::Named => "`UserLike` needs an id: name a field `id`, or mark one with `#[imia(id)]`",
            Shape::Tuple => "a tuple struct needs `#[imia(id)]` on the field that holds the id",
            Shape::Unit => "`UserLike` cannot be derived for a unit struct: it needs an id field",
        };
        errors.spanned(ident.span(), msg);
    }
    errors.finish()?;

    Ok(Plan {
        ident,
        generics,
        krate: container.krate.unwrap_or_else(default_crate),
        roles,
        display_name_method: container.display_name,
        scopes_with: container.scopes_with,
        active_with: container.active_with,
    })
}

/// Why a field cannot take `role` by attribute, if it cannot.
fn conflict(role: Role, roles: &[(Role, FieldRef)], container: &ContainerAttrs) -> Option<String> {
    let key = role.key();
    if roles.iter().any(|(r, _)| *r == role) {
        return Some(format!("duplicate `#[imia({key})]`: only one field can be the {key}"));
    }
    let computed_by = match role {
        Role::DisplayName if container.computes(role) => {
            "the display name is already given by `#[imia(display_name = \"...\")]` on the struct"
        }
        Role::Scopes if container.computes(role) => {
            "the scopes are already given by `#[imia(scopes_with = \"...\")]` on the struct"
        }
        Role::Active if container.computes(role) => {
            "activity is already given by `#[imia(active_with = \"...\")]` on the struct"
        }
        _ => return None,
    };
    Some(computed_by.to_owned())
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

/// Writes `impl UserLike` from the plan. Each role's method reads its field through a trait of
/// `imia::__private` spanned at the field's type, so that a type that cannot play the role is
/// reported there, with the trait's explanation.
fn expand(plan: &Plan) -> TokenStream {
    let Plan { ident, krate, .. } = plan;
    let private = quote!(#krate::__private);
    let cow = quote!(::std::borrow::Cow);

    let id = plan.field(Role::Id).expect("validated: an id field exists");
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

    let username = plan.field(Role::Username).map(|f| {
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
    let display_name = if let Some(method) = &plan.display_name_method {
        Some(quote_spanned! {method.span()=>
            fn display_name(&self) -> #cow<'_, str> {
                ::core::convert::Into::<#cow<'_, str>>::into(Self::#method(self))
            }
        })
    } else {
        plan.field(Role::DisplayName).map(|f| {
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

    let password = plan.field(Role::Password).map(|f| {
        let value = str_field(f);
        let FieldRef { member, ty } = f;
        let setter = quote_spanned! {ty.span()=>
            <#ty as #private::HashField>::set_hash(&mut self.#member, hash)
        };
        quote! {
            fn hashed_password(&self) -> &str {
                ::core::option::Option::unwrap_or(#value, "")
            }
            fn set_hashed_password(&mut self, hash: &str) -> bool {
                #setter
            }
        }
    });

    let token = plan.field(Role::Token).map(|f| {
        let value = str_field(f);
        quote! {
            fn api_token(&self) -> ::core::option::Option<&str> {
                ::core::option::Option::filter(#value, |t| !t.is_empty())
            }
        }
    });

    let stamp = plan.field(Role::Stamp).map(|f| {
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

    let scopes = if let Some(path) = &plan.scopes_with {
        Some(quote_spanned! {path.span()=>
            fn scopes(&self) -> ::std::vec::Vec<::std::string::String> {
                #path(self)
            }
        })
    } else {
        plan.field(Role::Scopes).map(|FieldRef { member, ty }| {
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

    let active = if let Some(path) = &plan.active_with {
        Some(quote_spanned! {path.span()=>
            fn is_active(&self) -> bool {
                #path(self)
            }
        })
    } else {
        plan.field(Role::Active).map(|FieldRef { member, ty }| {
            quote_spanned! {ty.span()=>
                fn is_active(&self) -> bool {
                    <#ty as #private::ActiveField>::active(&self.#member)
                }
            }
        })
    };

    let verified = plan.field(Role::Verified).map(|FieldRef { member, ty }| {
        quote_spanned! {ty.span()=>
            fn is_verified(&self) -> bool {
                <#ty as #private::VerifiedField>::verified(&self.#member)
            }
        }
    });

    let (impl_generics, ty_generics, where_clause) = plan.generics.split_for_impl();
    let mut where_clause = where_clause.cloned().unwrap_or_else(|| syn::parse_quote!(where));
    if plan.generics.type_params().next().is_some() {
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
            #verified
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

    /// Parses and validates a struct.
    fn plan(src: &str) -> Result<Plan, Error> {
        parse(&syn::parse_str(src).expect("a struct")).and_then(validate)
    }

    /// The field playing each role, by name or index.
    fn roles(src: &str) -> Vec<(Role, String)> {
        let plan = plan(src).unwrap_or_else(|err| panic!("{src}: {err}"));
        Role::ALL
            .into_iter()
            .filter_map(|role| {
                let member = &plan.field(role)?.member;
                Some((role, quote!(#member).to_string()))
            })
            .collect()
    }

    fn role_of(src: &str, role: Role) -> Option<String> {
        roles(src).into_iter().find(|(r, _)| *r == role).map(|(_, f)| f)
    }

    /// The messages of the errors, in the order they are reported.
    fn messages(src: &str) -> Vec<String> {
        match plan(src) {
            Ok(_) => Vec::new(),
            Err(err) => err.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn every_role_is_taken_by_attribute_or_by_name() {
        let by_attribute = roles(
            "struct U { #[imia(id)] a: u8, #[imia(username)] b: u8, #[imia(password)] c: u8, #[imia(scopes)] d: u8,
             #[imia(display_name)] e: u8, #[imia(active)] f: u8, #[imia(token)] g: u8, #[imia(security_stamp)] h: u8,
             #[imia(verified)] i: u8 }",
        );
        let fields: Vec<_> = by_attribute.iter().map(|(_, f)| f.as_str()).collect();
        assert_eq!(fields, ["a", "b", "c", "d", "e", "f", "g", "h", "i"]);
        assert_eq!(by_attribute.len(), Role::ALL.len());

        for role in Role::ALL {
            for name in role.default_names() {
                let id = if role == Role::Id { "" } else { "id: u8," };
                let src = format!("struct U {{ {id} {name}: u8 }}");
                assert_eq!(role_of(&src, role).as_deref(), Some(*name), "{src}");
            }
        }
    }

    /// The table in the derive's documentation lists, for each role, exactly the names taken.
    #[test]
    fn the_documented_names_are_the_names_taken() {
        let docs = include_str!("lib.rs");
        for role in Role::ALL {
            let attribute = format!("| `#[imia({})]` |", role.key());
            let row = docs
                .lines()
                .find(|line| line.starts_with("/// |") && line.contains(&attribute))
                .unwrap_or_else(|| panic!("no row for {attribute} in the derive's documentation"));
            let cell = row.split(&attribute).nth(1).and_then(|rest| rest.split(" | ").next());
            let names: Vec<_> = cell
                .unwrap_or_default()
                .split(", ")
                .map(|name| name.trim().trim_matches('`'))
                .collect();
            assert_eq!(names, role.default_names(), "{row}");
        }
    }

    #[test]
    fn the_first_listed_name_wins() {
        let src = "struct U { id: u8, password: u8, hashed_password: u8, password_hash: u8, email: u8, username: u8,
                   name: u8, display_name: u8, active: u8, is_active: u8, token: u8, api_token: u8 }";
        let fields: Vec<_> = roles(src).into_iter().map(|(_, f)| f).collect();
        assert_eq!(
            fields,
            [
                "id",
                "username",
                "password_hash",
                "display_name",
                "is_active",
                "api_token"
            ]
        );
        assert_eq!(
            role_of("struct U { id: u8, password: u8, hashed_password: u8 }", Role::Password).as_deref(),
            Some("hashed_password")
        );
    }

    #[test]
    fn a_field_named_password_is_the_password_hash_unless_told_otherwise() {
        assert_eq!(
            role_of("struct U { id: u8, password: String }", Role::Password).as_deref(),
            Some("password")
        );
        // Opt out: no password at all.
        assert_eq!(
            role_of("struct U { id: u8, #[imia(skip)] password: String }", Role::Password),
            None
        );
        // Be explicit: the marked field, whatever the other names.
        assert_eq!(
            role_of(
                "struct U { id: u8, password: String, password_hash: String, #[imia(password)] digest: String }",
                Role::Password
            )
            .as_deref(),
            Some("digest")
        );
    }

    #[test]
    fn a_field_with_a_role_by_attribute_takes_no_other_by_name() {
        let src = "struct U { #[imia(id)] email: String, #[imia(password)] token: String }";
        assert_eq!(roles(src).len(), 2, "{:?}", roles(src));
    }

    #[test]
    fn struct_attributes_keep_fields_from_their_roles() {
        let src = "#[imia(display_name = \"m\", scopes_with = \"f\", active_with = \"g\")]
                   struct U { id: u8, name: String, scopes: String, active: bool }";
        let plan = plan(src).unwrap();
        assert_eq!(plan.roles.len(), 1);
        assert!(plan.display_name_method.is_some() && plan.scopes_with.is_some() && plan.active_with.is_some());
    }

    #[test]
    fn tuple_fields_take_roles_only_by_attribute() {
        assert_eq!(
            roles("struct U(#[imia(id)] u8, String, #[imia(password)] String);"),
            [(Role::Id, "0".to_owned()), (Role::Password, "2".to_owned())]
        );
    }

    #[test]
    fn every_mistake_is_reported_in_source_order() {
        let src = "#[imia(nope)] struct U { #[imia(id)] #[imia(id)] a: u8, #[imia(bogus)] b: u8,
                   #[imia(username)] #[imia(username)] c: String }";
        let errors = messages(src);
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[0].starts_with("unknown imia attribute `nope`"), "{errors:?}");
        assert!(errors[1].starts_with("duplicate `#[imia(id)]`"), "{errors:?}");
        assert!(errors[2].starts_with("unknown imia attribute `bogus`"), "{errors:?}");
        assert!(errors[3].starts_with("duplicate `#[imia(username)]`"), "{errors:?}");
    }

    #[test]
    fn a_mistake_ends_its_attribute() {
        // `id` after the mistake is not read, so the id is missing too.
        let errors = messages("#[imia(display_name = \"m\")] struct U { #[imia(display_name, id)] n: String }");
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].starts_with("the display name is already given"), "{errors:?}");
        assert!(errors[1].starts_with("`UserLike` needs an id"), "{errors:?}");
        // A value is reported, but the role it follows is kept: no "needs an id".
        assert_eq!(
            messages("struct U { #[imia(id = \"pk\")] pk: u8 }"),
            ["`#[imia(id)]` takes no value"]
        );
    }

    #[test]
    fn only_structs_with_an_id_are_users() {
        for (src, message) in [
            ("enum U { A }", "`UserLike` can only be derived for structs, not enums"),
            (
                "struct U;",
                "`UserLike` cannot be derived for a unit struct: it needs an id field",
            ),
            (
                "struct U(String);",
                "a tuple struct needs `#[imia(id)]` on the field that holds the id",
            ),
            (
                "struct U { #[imia(skip)] id: u8 }",
                "`UserLike` needs an id: name a field `id`, or mark one with `#[imia(id)]`",
            ),
        ] {
            assert_eq!(messages(src), [message], "{src}");
        }
    }

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
