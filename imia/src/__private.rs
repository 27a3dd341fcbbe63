//! Support for the code that `imia-macros` generates. Not a public API: it may change in any
//! release.

use std::{
    borrow::Cow,
    collections::{BTreeSet, HashSet},
    fmt::Display,
    rc::Rc,
    sync::Arc,
};

pub use actix_web::{Either, FromRequest, HttpRequest, HttpResponse, ResponseError, web::Payload};

/// What `#[protected]` calls before the handler's body: `None` to go on, or the answer.
#[inline]
pub fn require(req: &HttpRequest, all: &[&str], any: &[&str]) -> Option<HttpResponse> {
    match crate::extract::require_scopes(req, all, any) {
        Ok(_) => None,
        Err(err) => {
            crate::middleware::log_error(&err);
            Some(err.error_response())
        }
    }
}

/// What `#[protected(fresh, second_factor)]` calls before the handler's body: [`require`], and
/// a fresh login and/or a second factor when asked for.
#[inline]
pub fn require_login(
    req: &HttpRequest,
    all: &[&str],
    any: &[&str],
    fresh: bool,
    second_factor: bool,
) -> Option<HttpResponse> {
    let requirements = crate::extract::LoginRequirements { fresh, second_factor };
    match crate::extract::require_login(req, all, any, requirements) {
        Ok(_) => None,
        Err(err) => {
            crate::middleware::log_error(&err);
            Some(err.error_response())
        }
    }
}

/// What `#[protected]` calls once [`require`] let a request through: runs the handler's own
/// extractors (a tuple of them) on the request and its payload, and answers an extraction
/// failure exactly as actix would have (`HttpResponse::from_error`).
#[inline]
pub async fn extract<T: FromRequest>(req: &HttpRequest, payload: Payload) -> Result<T, HttpResponse> {
    let mut payload = payload.into_inner();
    T::from_request(req, &mut payload)
        .await
        .map_err(HttpResponse::from_error)
}

/// A field that can serve as the user id.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a user id",
    label = "the id field must implement `Display` (integers, strings, UUIDs)",
    note = "or implement `UserLike` by hand"
)]
pub trait IdField {
    /// The canonical string form.
    fn id_cow(&self) -> Cow<'_, str>;
}

impl<T: Display + ?Sized> IdField for T {
    #[inline]
    fn id_cow(&self) -> Cow<'_, str> {
        Cow::Owned(self.to_string())
    }
}

/// A string-like field (username, display name, token, password hash), possibly optional.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a string field imia can read",
    label = "expected `String`, `&str`, `Box<str>`, `Cow<str>` or an `Option` of one"
)]
pub trait StrField {
    /// The value, `None` when absent.
    fn str_field(&self) -> Option<&str>;
}

macro_rules! str_field {
    ($($ty:ty),*) => {$(
        impl StrField for $ty {
            #[inline]
            fn str_field(&self) -> Option<&str> {
                Some(self)
            }
        }
    )*};
}

str_field!(String, str, Box<str>, Rc<str>, Arc<str>, Cow<'_, str>);

impl StrField for &str {
    #[inline]
    fn str_field(&self) -> Option<&str> {
        Some(self)
    }
}

impl<T: StrField> StrField for Option<T> {
    #[inline]
    fn str_field(&self) -> Option<&str> {
        self.as_ref().and_then(StrField::str_field)
    }
}

/// A string field that can take a new security stamp, possibly optional.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot hold a security stamp",
    label = "expected `String`, `Box<str>`, `Arc<str>`, `Rc<str>`, `Cow<str>` or an `Option` of one"
)]
pub trait StampField {
    /// Replaces the value.
    fn set_stamp(&mut self, stamp: String);
}

macro_rules! stamp_field {
    ($($ty:ty),*) => {$(
        impl StampField for $ty {
            #[inline]
            fn set_stamp(&mut self, stamp: String) {
                *self = stamp.into();
            }
        }
    )*};
}

stamp_field!(String, Box<str>, Rc<str>, Arc<str>, Cow<'_, str>);

impl<T: StampField + From<String>> StampField for Option<T> {
    #[inline]
    fn set_stamp(&mut self, stamp: String) {
        *self = Some(T::from(stamp));
    }
}

/// A string field that may take a new password hash: owned strings can (`true`), a borrowed
/// `&str` cannot (`false`: the provider then keeps the old hash), possibly optional.
pub trait HashField {
    /// Replaces the value with `hash`; whether it could.
    fn set_hash(&mut self, hash: &str) -> bool;
}

macro_rules! hash_field {
    ($($ty:ty),*) => {$(
        impl HashField for $ty {
            #[inline]
            fn set_hash(&mut self, hash: &str) -> bool {
                *self = hash.into();
                true
            }
        }
    )*};
}

hash_field!(String, Box<str>, Rc<str>, Arc<str>);

impl HashField for Cow<'_, str> {
    #[inline]
    fn set_hash(&mut self, hash: &str) -> bool {
        *self = Cow::Owned(hash.to_owned());
        true
    }
}

impl HashField for &str {
    #[inline]
    fn set_hash(&mut self, _: &str) -> bool {
        false
    }
}

impl<T: HashField + Default> HashField for Option<T> {
    #[inline]
    fn set_hash(&mut self, hash: &str) -> bool {
        let mut value = T::default();
        let set = value.set_hash(hash);
        if set {
            *self = Some(value);
        }
        set
    }
}

/// A field that holds scopes: a list, a set, or a string separated by spaces or commas (what a
/// database column holds), possibly optional.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot hold scopes",
    label = "expected `Vec<String>`, a set of `String`, a space- or comma-separated `String`, or an `Option` of one",
    note = "or point `#[imia(scopes_with = \"...\")]` at a function"
)]
pub trait ScopesField {
    /// The scopes as a vector.
    fn scopes_vec(&self) -> Vec<String>;
    /// Whether `scope` is one of them.
    fn has(&self, scope: &str) -> bool;
}

fn split_scopes(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
}

macro_rules! string_scopes {
    ($($ty:ty),*) => {$(
        impl ScopesField for $ty {
            fn scopes_vec(&self) -> Vec<String> {
                split_scopes(self).map(str::to_owned).collect()
            }
            #[inline]
            fn has(&self, scope: &str) -> bool {
                split_scopes(self).any(|s| s == scope)
            }
        }
    )*};
}

string_scopes!(String, str, Box<str>);

macro_rules! list_scopes {
    ($($ty:ty),*) => {$(
        impl ScopesField for $ty {
            fn scopes_vec(&self) -> Vec<String> {
                self.iter().map(|s| AsRef::<str>::as_ref(s).to_owned()).collect()
            }
            #[inline]
            fn has(&self, scope: &str) -> bool {
                self.iter().any(|s| AsRef::<str>::as_ref(s) == scope)
            }
        }
    )*};
}

list_scopes!(
    Vec<String>,
    Vec<&'static str>,
    [String],
    Box<[String]>,
    HashSet<String>,
    BTreeSet<String>
);

impl<T: ScopesField> ScopesField for Option<T> {
    fn scopes_vec(&self) -> Vec<String> {
        self.as_ref().map(ScopesField::scopes_vec).unwrap_or_default()
    }
    #[inline]
    fn has(&self, scope: &str) -> bool {
        self.as_ref().is_some_and(|s| s.has(scope))
    }
}

/// A field that says whether the user is active.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot say whether a user is active",
    label = "expected `bool` or `Option<bool>` (where `None` means inactive)"
)]
pub trait ActiveField {
    /// Whether the user is active.
    fn active(&self) -> bool;
}

impl ActiveField for bool {
    #[inline]
    fn active(&self) -> bool {
        *self
    }
}

impl ActiveField for Option<bool> {
    #[inline]
    fn active(&self) -> bool {
        self.unwrap_or(false)
    }
}

/// A field that says whether the user's e-mail address is verified.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot say whether a user's address is verified",
    label = "expected `bool` or `Option<bool>` (where `None` means unverified)"
)]
pub trait VerifiedField {
    /// Whether the address is verified.
    fn verified(&self) -> bool;
}

impl VerifiedField for bool {
    #[inline]
    fn verified(&self) -> bool {
        *self
    }
}

impl VerifiedField for Option<bool> {
    #[inline]
    fn verified(&self) -> bool {
        self.unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_strings_split_on_spaces_and_commas() {
        let s = String::from(" admin, billing:read\twrite,,");
        assert_eq!(s.scopes_vec(), ["admin", "billing:read", "write"]);
        assert!(s.has("billing:read"));
        assert!(!s.has(""));
        assert!(!s.has("admin,"));
        let none: Option<String> = None;
        assert!(none.scopes_vec().is_empty());
        assert!(!none.has("admin"));
        assert!(vec!["a".to_string()].has("a"));
    }

    #[test]
    fn string_fields() {
        assert_eq!(String::from("x").str_field(), Some("x"));
        assert_eq!(Some(String::from("x")).str_field(), Some("x"));
        assert_eq!(None::<String>.str_field(), None);
        assert_eq!(42u64.id_cow(), "42");
        assert!(!None::<bool>.active());
        assert!(Some(true).active());
        assert!(!None::<bool>.verified());
        assert!(true.verified() && Some(true).verified());
    }
}
