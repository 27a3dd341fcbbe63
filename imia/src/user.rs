//! The user model: what imia needs to know about your users.

use std::{any::Any, borrow::Cow, sync::Arc};

/// A user that imia can authenticate.
///
/// Implement it by hand, or derive it with `#[derive(UserLike)]` (feature `macros`). Only
/// [`id`](UserLike::id) is required; every other method has a default that suits a user without a
/// password, without scopes and always active.
///
/// The string methods return [`Cow`] so that a field can be lent without copying
/// (`Cow::Borrowed(&self.email)`) while a computed value (an integer id) is returned owned
/// (`self.id.to_string().into()`).
///
/// # Examples
///
/// ```
/// use std::borrow::Cow;
/// use imia::UserLike;
///
/// struct User {
///     id: i64,
///     email: String,
///     password_hash: String,
///     scopes: Vec<String>,
/// }
///
/// impl UserLike for User {
///     fn id(&self) -> Cow<'_, str> {
///         self.id.to_string().into()
///     }
///     fn username(&self) -> Option<Cow<'_, str>> {
///         Some(Cow::Borrowed(&self.email))
///     }
///     fn hashed_password(&self) -> &str {
///         &self.password_hash
///     }
///     fn scopes(&self) -> Vec<String> {
///         self.scopes.clone()
///     }
/// }
///
/// let user = User { id: 7, email: "ann@example.com".into(), password_hash: String::new(), scopes: vec![] };
/// assert_eq!(user.id(), "7");
/// assert_eq!(user.display_name(), "ann@example.com"); // falls back to the username
/// assert!(user.is_active());
/// ```
pub trait UserLike: Send + Sync + 'static {
    /// The user's identifier in its canonical string form.
    ///
    /// It is what the session stores and what [`UserProvider::find_by_id`](crate::provider::UserProvider::find_by_id)
    /// receives back, so it must round-trip: `find_by_id(&user.id())` finds this user.
    fn id(&self) -> Cow<'_, str>;

    /// The name shown to people. Defaults to the [username](UserLike::username), else the id.
    fn display_name(&self) -> Cow<'_, str> {
        self.username().unwrap_or_else(|| self.id())
    }

    /// The name the user logs in with (often an email address), if the model has one.
    fn username(&self) -> Option<Cow<'_, str>> {
        None
    }

    /// The stored password hash (a PHC string). Empty means the user has no usable password:
    /// password authentication then always fails for this user.
    fn hashed_password(&self) -> &str {
        ""
    }

    /// Replaces the stored password hash of this value; `false` when the type cannot (the
    /// default). Providers that keep users in memory store password changes and rehashes through
    /// it ([`InMemoryProvider`](crate::provider::InMemoryProvider)); database providers write the
    /// column instead. `#[derive(UserLike)]` writes the password-hash field.
    ///
    /// ```
    /// use std::borrow::Cow;
    /// use imia::UserLike;
    ///
    /// struct User { id: u32, hash: String }
    ///
    /// impl UserLike for User {
    ///     fn id(&self) -> Cow<'_, str> { self.id.to_string().into() }
    ///     fn hashed_password(&self) -> &str { &self.hash }
    ///     fn set_hashed_password(&mut self, hash: &str) -> bool {
    ///         hash.clone_into(&mut self.hash);
    ///         true
    ///     }
    /// }
    ///
    /// let mut user = User { id: 1, hash: "$argon2id$old".into() };
    /// assert!(user.set_hashed_password("$argon2id$new"));
    /// assert_eq!(user.hashed_password(), "$argon2id$new");
    /// ```
    fn set_hashed_password(&mut self, hash: &str) -> bool {
        let _ = hash;
        false
    }

    /// The user's security stamp: an opaque value (a random string, or a counter) that changes
    /// whenever every session of the user must end: when remember-me detects a stolen token, and
    /// when you log the user out everywhere. It is folded into the session fingerprint (and into
    /// remember-me tokens), which is checked on every request, so rotating it ends every session
    /// at its next request, on every session store, the cookie store included.
    ///
    /// Empty (the default) means the user has no stamp: sessions are then bound to the password
    /// hash alone, and nothing but a password change can end them all. Keep one in a column (the
    /// reference `users` table has `security_stamp`) and let the provider rotate it
    /// ([`UserProvider::rotate_security_stamp`](crate::provider::UserProvider::rotate_security_stamp)).
    /// `#[derive(UserLike)]` reads a field named `security_stamp`, or one marked
    /// `#[imia(security_stamp)]`.
    ///
    /// ```
    /// use std::borrow::Cow;
    /// use imia::UserLike;
    ///
    /// #[derive(Clone)]
    /// struct User { id: u32, stamp: String }
    ///
    /// impl UserLike for User {
    ///     fn id(&self) -> Cow<'_, str> { self.id.to_string().into() }
    ///     fn security_stamp(&self) -> Cow<'_, str> { Cow::Borrowed(&self.stamp) }
    ///     fn set_security_stamp(&mut self, stamp: String) -> bool {
    ///         self.stamp = stamp;
    ///         true
    ///     }
    /// }
    ///
    /// let mut user = User { id: 1, stamp: "a".into() };
    /// assert!(user.set_security_stamp("b".into()));
    /// assert_eq!(user.security_stamp(), "b");
    /// ```
    fn security_stamp(&self) -> Cow<'_, str> {
        Cow::Borrowed("")
    }

    /// Replaces the security stamp of this value; `false` when the type keeps none (the
    /// default). Providers that keep users in memory rotate stamps through it; database
    /// providers write the column instead.
    fn set_security_stamp(&mut self, stamp: String) -> bool {
        let _ = stamp;
        false
    }

    /// The user's API token as stored (plain, or hashed when the provider hashes tokens), if the
    /// model keeps one. [`InMemoryProvider`](crate::provider::InMemoryProvider) indexes it.
    fn api_token(&self) -> Option<&str> {
        None
    }

    /// The scopes (permissions) granted to the user.
    fn scopes(&self) -> Vec<String> {
        Vec::new()
    }

    /// Whether the user holds `scope`. Override it when the scopes can be checked without
    /// building a vector (the derive does).
    fn has_scope(&self, scope: &str) -> bool {
        self.scopes().iter().any(|s| s == scope)
    }

    /// Whether the user may authenticate at all. An inactive user never authenticates, by any
    /// means: imia checks this after every authenticator.
    fn is_active(&self) -> bool {
        true
    }

    /// Whether the user's e-mail address is verified (default: `true`). An unverified user
    /// cannot log in with a password ([`LoginError::Unverified`](crate::login::LoginError::Unverified)
    /// after a right one) nor through HTTP Basic, until the verification link is used (see
    /// [`account`](crate::account)). `#[derive(UserLike)]` reads a `bool` field named
    /// `email_verified` (or marked `#[imia(verified)]`).
    fn is_verified(&self) -> bool {
        true
    }
}

/// A type-erased user, as kept by a [`UserToken`](crate::UserToken).
pub(crate) trait ErasedUser: UserLike {
    fn as_any(&self) -> &(dyn Any + Send + Sync);
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

impl<T: UserLike> ErasedUser for T {
    fn as_any(&self) -> &(dyn Any + Send + Sync) {
        self
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Minimal(u32);
    impl UserLike for Minimal {
        fn id(&self) -> Cow<'_, str> {
            self.0.to_string().into()
        }
    }

    #[test]
    fn defaults_describe_a_passwordless_scopeless_active_user() {
        let u = Minimal(3);
        assert_eq!(u.id(), "3");
        assert_eq!(u.display_name(), "3");
        assert_eq!(u.username(), None);
        assert_eq!(u.hashed_password(), "");
        assert_eq!(u.api_token(), None);
        assert_eq!(u.security_stamp(), "");
        assert!(!Minimal(4).set_security_stamp("x".into()));
        assert!(u.scopes().is_empty());
        assert!(!u.has_scope("admin"));
        assert!(u.is_active());
    }

    #[test]
    fn erased_user_downcasts_to_its_type() {
        let u: Arc<dyn ErasedUser> = Arc::new(Minimal(5));
        assert_eq!(u.as_any().downcast_ref::<Minimal>().map(|m| m.0), Some(5));
        assert!(u.clone().into_any().downcast::<Minimal>().is_ok());
        assert!(u.into_any().downcast::<String>().is_err());
    }
}
