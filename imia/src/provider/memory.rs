//! A user provider over users kept in memory.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, PoisonError, RwLock},
};

use super::{ProviderResult, UserProvider};
use crate::{error::ProviderError, user::UserLike};

/// Users kept in memory, indexed by id, username and API token.
///
/// Good for tests, prototypes and small fixed sets of service accounts. Cloning shares the same
/// users; [`insert`](Self::insert) and [`remove`](Self::remove) change them for every clone.
///
/// A username or token that belongs to more than one user makes the lookup fail with
/// [`ProviderError::Ambiguous`] rather than pick one.
///
/// # Examples
///
/// ```
/// use std::borrow::Cow;
/// use imia::{UserLike, provider::{InMemoryProvider, UserProvider}};
///
/// #[derive(Clone)]
/// struct User { id: u32, email: &'static str, token: &'static str }
///
/// impl UserLike for User {
///     fn id(&self) -> Cow<'_, str> { self.id.to_string().into() }
///     fn username(&self) -> Option<Cow<'_, str>> { Some(self.email.into()) }
///     fn api_token(&self) -> Option<&str> { Some(self.token) }
/// }
///
/// let users = InMemoryProvider::builder()
///     .user(User { id: 1, email: "ann@example.com", token: "t-ann" })
///     .case_insensitive_usernames(true)
///     .build();
///
/// # actix_rt::System::new().block_on(async {
/// assert!(users.find_by_id("1").await.unwrap().is_some());
/// assert!(users.find_by_username("ANN@example.com").await.unwrap().is_some());
/// assert!(users.find_by_token("t-ann").await.unwrap().is_some());
/// assert!(users.find_by_token("T-ANN").await.unwrap().is_none()); // tokens are exact
/// # });
/// ```
pub struct InMemoryProvider<U> {
    index: Arc<RwLock<Index<U>>>,
}

impl<U> Clone for InMemoryProvider<U> {
    fn clone(&self) -> Self {
        Self {
            index: Arc::clone(&self.index),
        }
    }
}

impl<U> fmt::Debug for InMemoryProvider<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let index = self.index.read().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("InMemoryProvider")
            .field("users", &index.users.len())
            .field("case_insensitive_usernames", &index.case_insensitive)
            .finish_non_exhaustive()
    }
}

struct Index<U> {
    /// Users by primary key: their id, or the map key for [`InMemoryProvider::from_map`].
    users: HashMap<String, U>,
    /// Username → primary keys (more than one means ambiguous).
    usernames: HashMap<String, Vec<String>>,
    /// Token → primary keys.
    tokens: HashMap<String, Vec<String>>,
    case_insensitive: bool,
}

impl<U> Index<U> {
    fn new(case_insensitive: bool) -> Self {
        Self {
            users: HashMap::new(),
            usernames: HashMap::new(),
            tokens: HashMap::new(),
            case_insensitive,
        }
    }

    fn username_key(&self, username: &str) -> String {
        if self.case_insensitive {
            username.to_lowercase()
        } else {
            username.to_owned()
        }
    }

    fn unlink(&mut self, key: &str) {
        for map in [&mut self.usernames, &mut self.tokens] {
            map.retain(|_, keys| {
                keys.retain(|k| k != key);
                !keys.is_empty()
            });
        }
    }

    fn lookup(&self, map: &HashMap<String, Vec<String>>, what: &'static str, key: &str) -> ProviderResult<&U> {
        match map.get(key).map(Vec::as_slice) {
            None | Some([]) => Ok(None),
            Some([one]) => Ok(self.users.get(one)),
            Some(_) => Err(ProviderError::Ambiguous(what)),
        }
    }
}

impl<U: UserLike> Index<U> {
    /// Indexes `user` under `key`, by its username and token, plus the extra aliases.
    fn insert(&mut self, key: String, user: U, aliases: bool) {
        self.unlink(&key);
        let mut usernames = Vec::new();
        let mut tokens = Vec::new();
        if aliases {
            // The original's single map: the key serves all three lookups.
            usernames.push(self.username_key(&key));
            tokens.push(key.clone());
        }
        if let Some(name) = user.username() {
            usernames.push(self.username_key(&name));
        }
        if let Some(token) = user.api_token().filter(|t| !t.is_empty()) {
            tokens.push(token.to_owned());
        }
        for (map, names) in [(&mut self.usernames, usernames), (&mut self.tokens, tokens)] {
            for name in names {
                let keys = map.entry(name).or_default();
                if !keys.contains(&key) {
                    keys.push(key.clone());
                }
            }
        }
        self.users.insert(key, user);
    }

    fn add_token(&mut self, token: String, key: String) {
        let keys = self.tokens.entry(token).or_default();
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
}

impl<U: UserLike + Clone> InMemoryProvider<U> {
    /// A provider over `users`, indexed by [`id`](UserLike::id),
    /// [`username`](UserLike::username) and [`api_token`](UserLike::api_token).
    pub fn new(users: impl IntoIterator<Item = U>) -> Self {
        users
            .into_iter()
            .fold(Self::builder(), InMemoryProviderBuilder::user)
            .build()
    }

    /// A provider the way the Python original built it: one map whose key serves as the id, the
    /// username **and the API token** of its user at once (plus each user's own username and
    /// token, if any).
    ///
    /// # Security
    ///
    /// Every key is an API token: anyone who sends it (`Authorization: Bearer <key>`,
    /// `?apikey=<key>`, `X-Api-Key`) is logged in as that user by the token and API-key
    /// authenticators. In the original library the keys were e-mail addresses, which makes
    /// every e-mail address a password. Use it with unguessable keys, or for tests; for users
    /// identified by e-mail, use [`new`](Self::new) or the [builder](Self::builder), whose
    /// tokens are only the users' own [`api_token`](UserLike::api_token)s.
    ///
    /// ```
    /// use std::borrow::Cow;
    /// use imia::{UserLike, provider::{InMemoryProvider, UserProvider}};
    ///
    /// #[derive(Clone)]
    /// struct User { id: &'static str, name: &'static str }
    /// impl UserLike for User {
    ///     fn id(&self) -> Cow<'_, str> { self.id.into() }
    ///     fn display_name(&self) -> Cow<'_, str> { self.name.into() }
    /// }
    ///
    /// let users = InMemoryProvider::from_map([
    ///     ("user1@example.com", User { id: "user1@example.com", name: "User1" }),
    /// ]);
    /// # actix_rt::System::new().block_on(async {
    /// // The key is a token: whoever sends "user1@example.com" as an API key is User1.
    /// let by_token = users.find_by_token("user1@example.com").await.unwrap();
    /// assert_eq!(by_token.map(|u| u.name), Some("User1"));
    /// # });
    /// ```
    pub fn from_map<K: Into<String>>(map: impl IntoIterator<Item = (K, U)>) -> Self {
        let mut index = Index::new(false);
        for (key, user) in map {
            index.insert(key.into(), user, true);
        }
        Self {
            index: Arc::new(RwLock::new(index)),
        }
    }

    /// Starts a builder, for options and extra tokens.
    pub fn builder() -> InMemoryProviderBuilder<U> {
        InMemoryProviderBuilder {
            users: Vec::new(),
            tokens: Vec::new(),
            case_insensitive: false,
        }
    }

    /// Adds `user`, or replaces the user with the same id (its old username and token stop
    /// working). Every clone of this provider sees the change.
    pub fn insert(&self, user: U) {
        let key = user.id().into_owned();
        self.write().insert(key, user, false);
    }

    /// Adds an extra API token for the user with id `user_id`.
    pub fn add_token(&self, token: impl Into<String>, user_id: impl Into<String>) {
        self.write().add_token(token.into(), user_id.into());
    }

    /// Removes the user with id `user_id` (and its usernames and tokens). Returns it if present.
    pub fn remove(&self, user_id: &str) -> Option<U> {
        let mut index = self.write();
        index.unlink(user_id);
        index.users.remove(user_id)
    }

    /// How many users are kept.
    pub fn len(&self) -> usize {
        self.read().users.len()
    }

    /// Whether no user is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Index<U>> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // matters for lookups, so a poisoned lock is still usable.
        self.index.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Index<U>> {
        self.index.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<U: UserLike + Clone> UserProvider for InMemoryProvider<U> {
    type User = U;

    async fn find_by_id(&self, id: &str) -> ProviderResult<U> {
        Ok(self.read().users.get(id).cloned())
    }

    async fn find_by_username(&self, username: &str) -> ProviderResult<U> {
        let index = self.read();
        let key = index.username_key(username);
        Ok(index.lookup(&index.usernames, "username", &key)?.cloned())
    }

    async fn find_by_token(&self, token: &str) -> ProviderResult<U> {
        if token.is_empty() {
            return Ok(None);
        }
        let index = self.read();
        Ok(index.lookup(&index.tokens, "token", token)?.cloned())
    }

    /// Stores the hash through [`UserLike::set_hashed_password`]: `false` when the user type
    /// cannot store one, or the user is gone.
    async fn update_password_hash(&self, user: &U, new_hash: &str) -> Result<bool, ProviderError> {
        Ok(self
            .write()
            .users
            .get_mut(user.id().as_ref())
            .is_some_and(|stored| stored.set_hashed_password(new_hash)))
    }

    /// Rotates the stamp through [`UserLike::set_security_stamp`]: `false` when the user type
    /// keeps no stamp.
    async fn rotate_security_stamp(&self, user_id: &str) -> Result<bool, ProviderError> {
        let stamp = super::new_security_stamp()?;
        Ok(self
            .write()
            .users
            .get_mut(user_id)
            .is_some_and(|user| user.set_security_stamp(stamp)))
    }
}

/// Builds an [`InMemoryProvider`].
#[must_use]
pub struct InMemoryProviderBuilder<U> {
    users: Vec<U>,
    tokens: Vec<(String, String)>,
    case_insensitive: bool,
}

/// Shows counts only, like the provider: never the users or their tokens.
impl<U> fmt::Debug for InMemoryProviderBuilder<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryProviderBuilder")
            .field("users", &self.users.len())
            .field("tokens", &self.tokens.len())
            .field("case_insensitive_usernames", &self.case_insensitive)
            .finish()
    }
}

impl<U: UserLike + Clone> InMemoryProviderBuilder<U> {
    /// Adds a user.
    pub fn user(mut self, user: U) -> Self {
        self.users.push(user);
        self
    }

    /// Adds an API token for the user with id `user_id` (besides the user's own
    /// [`api_token`](UserLike::api_token)).
    pub fn token(mut self, token: impl Into<String>, user_id: impl Into<String>) -> Self {
        self.tokens.push((token.into(), user_id.into()));
        self
    }

    /// Whether usernames match regardless of case (Unicode lower-casing). Default: `false`.
    pub fn case_insensitive_usernames(mut self, yes: bool) -> Self {
        self.case_insensitive = yes;
        self
    }

    /// Builds the provider.
    pub fn build(self) -> InMemoryProvider<U> {
        let mut index = Index::new(self.case_insensitive);
        for user in self.users {
            index.insert(user.id().into_owned(), user, false);
        }
        for (token, id) in self.tokens {
            index.add_token(token, id);
        }
        InMemoryProvider {
            index: Arc::new(RwLock::new(index)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    #[test]
    fn the_builder_never_shows_tokens_or_users() {
        let builder = InMemoryProvider::builder()
            .user(User {
                id: 1,
                email: "ann@example.com".into(),
                token: Some("secret-token".into()),
            })
            .token("extra-secret-token", "1");
        let dbg = format!("{builder:?}");
        assert!(dbg.contains("tokens: 1"), "{dbg}");
        assert!(!dbg.contains("secret-token") && !dbg.contains("ann@"), "{dbg}");
    }

    #[derive(Clone, Debug, PartialEq)]
    struct User {
        id: u32,
        email: String,
        token: Option<String>,
    }

    impl UserLike for User {
        fn id(&self) -> Cow<'_, str> {
            self.id.to_string().into()
        }
        fn username(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(&self.email))
        }
        fn api_token(&self) -> Option<&str> {
            self.token.as_deref()
        }
    }

    fn user(id: u32, email: &str, token: Option<&str>) -> User {
        User {
            id,
            email: email.into(),
            token: token.map(Into::into),
        }
    }

    fn block<F: std::future::Future>(f: F) -> F::Output {
        actix_rt::System::new().block_on(f)
    }

    #[test]
    fn finds_by_id_username_and_token() {
        let p = InMemoryProvider::new([user(1, "a@x", Some("ta")), user(2, "b@x", None)]);
        block(async {
            assert_eq!(p.find_by_id("1").await.unwrap().unwrap().email, "a@x");
            assert_eq!(p.find_by_id("01").await.unwrap(), None);
            assert_eq!(p.find_by_username("b@x").await.unwrap().unwrap().id, 2);
            assert_eq!(p.find_by_username("B@x").await.unwrap(), None);
            assert_eq!(p.find_by_token("ta").await.unwrap().unwrap().id, 1);
            assert_eq!(p.find_by_token("").await.unwrap(), None);
            assert_eq!(p.find_by_token("nope").await.unwrap(), None);
        });
    }

    #[test]
    fn duplicate_usernames_and_tokens_are_errors() {
        let p = InMemoryProvider::new([user(1, "a@x", Some("t")), user(2, "a@x", Some("t"))]);
        block(async {
            assert!(matches!(
                p.find_by_username("a@x").await,
                Err(ProviderError::Ambiguous("username"))
            ));
            assert!(matches!(
                p.find_by_token("t").await,
                Err(ProviderError::Ambiguous("token"))
            ));
            assert!(p.find_by_id("1").await.unwrap().is_some());
        });
    }

    #[test]
    fn case_insensitive_usernames_fold_both_sides() {
        let p = InMemoryProvider::builder()
            .user(user(1, "Ann@Example.com", None))
            .case_insensitive_usernames(true)
            .build();
        block(async {
            assert!(p.find_by_username("ann@example.COM").await.unwrap().is_some());
        });
    }

    #[test]
    fn insert_replaces_and_unlinks_old_names() {
        let p = InMemoryProvider::new([user(1, "old@x", Some("old"))]);
        let clone = p.clone();
        p.insert(user(1, "new@x", Some("new")));
        block(async {
            assert_eq!(clone.find_by_username("old@x").await.unwrap(), None);
            assert_eq!(clone.find_by_token("old").await.unwrap(), None);
            assert!(clone.find_by_username("new@x").await.unwrap().is_some());
            assert!(clone.find_by_token("new").await.unwrap().is_some());
        });
        assert_eq!(p.len(), 1);
        assert!(p.remove("1").is_some());
        assert!(p.is_empty());
    }

    #[test]
    fn extra_tokens_point_at_users() {
        let p = InMemoryProvider::builder()
            .user(user(1, "a@x", None))
            .token("extra", "1")
            .build();
        p.add_token("more", "1");
        block(async {
            assert_eq!(p.find_by_token("extra").await.unwrap().unwrap().id, 1);
            assert_eq!(p.find_by_token("more").await.unwrap().unwrap().id, 1);
        });
    }

    #[test]
    fn stamps_rotate_only_for_types_that_keep_them() {
        #[derive(Clone)]
        struct Stamped(String);
        impl UserLike for Stamped {
            fn id(&self) -> Cow<'_, str> {
                "s".into()
            }
            fn security_stamp(&self) -> Cow<'_, str> {
                Cow::Borrowed(&self.0)
            }
            fn set_security_stamp(&mut self, stamp: String) -> bool {
                self.0 = stamp;
                true
            }
        }
        block(async {
            let p = InMemoryProvider::new([Stamped(String::new())]);
            assert!(p.rotate_security_stamp("s").await.unwrap());
            let first = p.find_by_id("s").await.unwrap().unwrap().0;
            assert_eq!(first.len(), 22);
            assert!(p.rotate_security_stamp("s").await.unwrap());
            assert_ne!(p.find_by_id("s").await.unwrap().unwrap().0, first);
            assert!(!p.rotate_security_stamp("nobody").await.unwrap());
            let plain = InMemoryProvider::new([user(1, "a@x", None)]);
            assert!(
                !plain.rotate_security_stamp("1").await.unwrap(),
                "this type keeps no stamp"
            );
        });
    }

    #[test]
    fn from_map_key_serves_every_lookup() {
        let p = InMemoryProvider::from_map([("root@localhost", user(9, "r@x", None))]);
        block(async {
            assert_eq!(p.find_by_id("root@localhost").await.unwrap().unwrap().id, 9);
            assert_eq!(p.find_by_username("root@localhost").await.unwrap().unwrap().id, 9);
            assert_eq!(p.find_by_token("root@localhost").await.unwrap().unwrap().id, 9);
            assert_eq!(p.find_by_username("r@x").await.unwrap().unwrap().id, 9);
        });
    }
}
