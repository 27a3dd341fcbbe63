//! User providers: where users come from.
//!
//! A [`UserProvider`] loads users by id (sessions, impersonation), by username (HTTP Basic,
//! login forms) and by token (API keys, bearer tokens). imia ships [`InMemoryProvider`]; the
//! Diesel providers come behind the `diesel` features. Write your own by implementing the trait.

use std::{future::Future, sync::Arc};

use crate::{error::ProviderError, user::UserLike};

mod memory;

pub use memory::{InMemoryProvider, InMemoryProviderBuilder};

/// The SHA-256 of an API token, in lower-case hex: what providers that store tokens hashed
/// keep, so that a leaked table leaks no usable tokens.
///
/// ```
/// assert_eq!(
///     imia::provider::hash_token("abc"),
///     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
/// );
/// ```
pub fn hash_token(token: &str) -> String {
    use sha2::{Digest as _, Sha256};
    hex(&Sha256::digest(token.as_bytes()))
}

pub(crate) use crate::crypto::hex;

/// The result of a provider lookup: `Ok(None)` is "no such user", `Err` is a failure.
pub type ProviderResult<U> = Result<Option<U>, ProviderError>;

/// Loads users for the authenticators.
///
/// Every method answers `Ok(Some(user))`, `Ok(None)` (no such user) or `Err` (the store
/// failed: the request then fails closed with an opaque 500/503, it is never treated as "no
/// user"). Providers return users whatever their [`is_active`](UserLike::is_active) flag: imia
/// itself refuses inactive users.
///
/// The futures need not be `Send`: actix-web runs each request on one thread.
///
/// # Examples
///
/// A provider over a fixed list, written by hand:
///
/// ```
/// use std::borrow::Cow;
/// use imia::{UserLike, error::ProviderError, provider::UserProvider};
///
/// #[derive(Clone)]
/// struct User { id: String, email: String }
///
/// impl UserLike for User {
///     fn id(&self) -> Cow<'_, str> { Cow::Borrowed(&self.id) }
///     fn username(&self) -> Option<Cow<'_, str>> { Some(Cow::Borrowed(&self.email)) }
/// }
///
/// struct Users(Vec<User>);
///
/// impl UserProvider for Users {
///     type User = User;
///
///     async fn find_by_id(&self, id: &str) -> Result<Option<User>, ProviderError> {
///         Ok(self.0.iter().find(|u| u.id == id).cloned())
///     }
///     async fn find_by_username(&self, username: &str) -> Result<Option<User>, ProviderError> {
///         Ok(self.0.iter().find(|u| u.email == username).cloned())
///     }
///     async fn find_by_token(&self, _token: &str) -> Result<Option<User>, ProviderError> {
///         Ok(None) // this app has no API tokens
///     }
/// }
///
/// # actix_rt::System::new().block_on(async {
/// let users = Users(vec![User { id: "1".into(), email: "ann@example.com".into() }]);
/// let found = users.find_by_username("ann@example.com").await.unwrap();
/// assert_eq!(found.map(|u| u.id), Some("1".to_string()));
/// # });
/// ```
pub trait UserProvider: Send + Sync + 'static {
    /// The user type this provider loads.
    type User: UserLike;

    /// Finds a user by the canonical string form of its id ([`UserLike::id`]).
    fn find_by_id(&self, id: &str) -> impl Future<Output = ProviderResult<Self::User>>;

    /// Finds a user by the name they log in with.
    fn find_by_username(&self, username: &str) -> impl Future<Output = ProviderResult<Self::User>>;

    /// Finds a user by an API or bearer token presented on the request.
    fn find_by_token(&self, token: &str) -> impl Future<Output = ProviderResult<Self::User>>;

    /// Stores a new password hash for `user` (used to rehash on login when the hashing
    /// parameters changed). Returns whether the provider stored it; the default stores nothing.
    fn update_password_hash(
        &self,
        user: &Self::User,
        new_hash: &str,
    ) -> impl Future<Output = Result<bool, ProviderError>> {
        let _ = (user, new_hash);
        async { Ok(false) }
    }

    /// Gives the user with id `user_id` a new random [security
    /// stamp](UserLike::security_stamp) ([`new_security_stamp`]), which ends every session of
    /// that user at its next request and refuses every remember-me token issued before. Returns
    /// whether the provider stored it (`false`: this provider keeps no stamps, the default; or
    /// no such user).
    ///
    /// imia calls it when remember-me detects a stolen token; call it yourself to log a user
    /// out everywhere.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::borrow::Cow;
    /// use imia::{UserLike, provider::{InMemoryProvider, UserProvider}};
    ///
    /// #[derive(Clone, UserLike)]
    /// struct User { id: u32, security_stamp: String }
    ///
    /// # actix_rt::System::new().block_on(async {
    /// let users = InMemoryProvider::new([User { id: 1, security_stamp: "first".into() }]);
    /// assert!(users.rotate_security_stamp("1").await.unwrap());
    /// let stamp = users.find_by_id("1").await.unwrap().unwrap().security_stamp;
    /// assert_ne!(stamp, "first");
    /// assert!(!users.rotate_security_stamp("2").await.unwrap()); // no such user
    /// # });
    /// ```
    fn rotate_security_stamp(&self, user_id: &str) -> impl Future<Output = Result<bool, ProviderError>> {
        let _ = user_id;
        async { Ok(false) }
    }
}

/// A new account, as [`UserRegistry::create_user`] receives it.
#[derive(Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewUser<'a> {
    /// The e-mail address, which is also the username.
    pub email: &'a str,
    /// The display name.
    pub name: &'a str,
    /// The password hash (a PHC string).
    pub password_hash: &'a str,
}

impl<'a> NewUser<'a> {
    /// A new account.
    pub fn new(email: &'a str, name: &'a str, password_hash: &'a str) -> Self {
        Self {
            email,
            name,
            password_hash,
        }
    }
}

impl std::fmt::Debug for NewUser<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("email", &self.email)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A user store that can create accounts and change their addresses: what sign-up with e-mail
/// verification needs ([`account`](crate::account)). The Diesel provider implements it.
pub trait UserRegistry: UserProvider {
    /// Creates an account, unverified ([`UserLike::is_verified`] is `false`), with no scopes and
    /// a fresh security stamp. `Ok(None)`, nothing created, when the address is taken.
    fn create_user(&self, user: NewUser<'_>) -> impl Future<Output = ProviderResult<Self::User>>;

    /// Marks the user's address verified; whether there was such a user.
    fn mark_verified(&self, user_id: &str) -> impl Future<Output = Result<bool, ProviderError>>;

    /// Changes the user's address (and username) to `email`, verified; `false` when there is no
    /// such user or another account has that address.
    fn change_email(&self, user_id: &str, email: &str) -> impl Future<Output = Result<bool, ProviderError>>;
}

/// A fresh security stamp: 128 random bits from the operating system, base64url (22
/// characters).
///
/// # Errors
///
/// [`ProviderError::Backend`] when the operating system has no randomness to give.
///
/// ```
/// let a = imia::provider::new_security_stamp().unwrap();
/// assert_eq!(a.len(), 22);
/// assert_ne!(a, imia::provider::new_security_stamp().unwrap());
/// ```
pub fn new_security_stamp() -> Result<String, ProviderError> {
    crate::crypto::random_b64url(16).map_err(|e| ProviderError::backend(e.to_string()))
}

impl<P: UserProvider> UserProvider for Arc<P> {
    type User = P::User;

    fn find_by_id(&self, id: &str) -> impl Future<Output = ProviderResult<Self::User>> {
        (**self).find_by_id(id)
    }

    fn find_by_username(&self, username: &str) -> impl Future<Output = ProviderResult<Self::User>> {
        (**self).find_by_username(username)
    }

    fn find_by_token(&self, token: &str) -> impl Future<Output = ProviderResult<Self::User>> {
        (**self).find_by_token(token)
    }

    fn update_password_hash(
        &self,
        user: &Self::User,
        new_hash: &str,
    ) -> impl Future<Output = Result<bool, ProviderError>> {
        (**self).update_password_hash(user, new_hash)
    }

    fn rotate_security_stamp(&self, user_id: &str) -> impl Future<Output = Result<bool, ProviderError>> {
        (**self).rotate_security_stamp(user_id)
    }
}
