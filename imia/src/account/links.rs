//! Single-use links: a password reset, an address to verify, a new address to confirm.

use std::{
    collections::HashMap,
    fmt,
    future::Future,
    sync::{Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use futures_util::future::LocalBoxFuture;

use crate::{crypto::constant_time_eq, error::ProviderError, provider::hash_token};

/// What a link is for. A link of one purpose is never accepted for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Purpose {
    /// Setting a new password (1 hour by default); bound to the password it was issued under.
    PasswordReset,
    /// Proving a new account's address (24 hours by default).
    VerifyEmail,
    /// Confirming a new address for an account (24 hours by default); carries the new address.
    ChangeEmail,
}

impl Purpose {
    /// The stored name: `reset`, `verify` or `change-email`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PasswordReset => "reset",
            Self::VerifyEmail => "verify",
            Self::ChangeEmail => "change-email",
        }
    }

    /// How long a link of this purpose lives by default.
    pub const fn default_ttl(self) -> Duration {
        match self {
            Self::PasswordReset => Duration::from_secs(60 * 60),
            Self::VerifyEmail | Self::ChangeEmail => Duration::from_secs(24 * 60 * 60),
        }
    }
}

/// A link as its store keeps it: never the link itself, only the SHA-256 of its secret part.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LinkToken {
    /// The public half of the link, looked up.
    pub selector: String,
    /// The SHA-256 (hex) of the secret half.
    pub validator_hash: String,
    /// [`Purpose::as_str`].
    pub purpose: String,
    /// The user the link is for.
    pub user_id: String,
    /// What the link carries (the new address of an address change; else empty).
    pub payload: String,
    /// A keyed MAC of the user's password hash and security stamp when the link was issued (a
    /// reset link is refused once the password changed); empty when not bound.
    pub binding: String,
    /// When the link stops working, in Unix seconds.
    pub expires_at: i64,
    /// When it was issued, in Unix seconds.
    pub created_at: i64,
}

impl LinkToken {
    /// A link record. For implementations of [`LinkStore`].
    pub fn new(
        selector: impl Into<String>,
        validator_hash: impl Into<String>,
        purpose: impl Into<String>,
        user_id: impl Into<String>,
        expires_at: i64,
    ) -> Self {
        Self {
            selector: selector.into(),
            validator_hash: validator_hash.into(),
            purpose: purpose.into(),
            user_id: user_id.into(),
            payload: String::new(),
            binding: String::new(),
            expires_at,
            created_at: 0,
        }
    }
}

impl fmt::Debug for LinkToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkToken")
            .field("selector", &self.selector)
            .field("purpose", &self.purpose)
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// The two halves of a link's token: `selector.validator` in the URL.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct LinkSecret {
    pub(crate) selector: String,
    pub(crate) validator: String,
}

impl fmt::Debug for LinkSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkSecret")
            .field("selector", &self.selector)
            .finish_non_exhaustive()
    }
}

/// The longest link token accepted (a real one is 22 + 1 + 43 characters).
const MAX_TOKEN_LEN: usize = 128;

impl LinkSecret {
    /// A new token: a 128-bit selector and a 256-bit validator from the CSPRNG.
    pub(crate) fn generate() -> Result<Self, ProviderError> {
        let (selector, validator) = crate::remember::new_secret_pair()?;
        Ok(Self { selector, validator })
    }

    /// The token as it goes into a URL.
    pub(crate) fn to_token(&self) -> String {
        format!("{}.{}", self.selector, self.validator)
    }

    /// A token from a URL: `None` unless it is two base64url halves of sane length.
    pub(crate) fn parse(token: &str) -> Option<Self> {
        if token.len() > MAX_TOKEN_LEN {
            return None;
        }
        let (selector, validator) = token.split_once('.')?;
        let base64url =
            |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        (base64url(selector) && base64url(validator)).then(|| Self {
            selector: selector.to_owned(),
            validator: validator.to_owned(),
        })
    }

    /// The stored form of the validator.
    pub(crate) fn validator_hash(&self) -> String {
        hash_token(&self.validator)
    }

    /// Whether `stored` is this token's, in constant time.
    pub(crate) fn matches(&self, stored: &LinkToken) -> bool {
        constant_time_eq(self.validator_hash().as_bytes(), stored.validator_hash.as_bytes())
    }
}

/// Keeps single-use links.
///
/// [`consume`](Self::consume) is one atomic step (a conditional delete): of two requests using
/// one link at once, one succeeds. Implemented in memory ([`InMemoryLinkStore`]) and in a
/// database table (the Diesel `DieselLinkStore`, features `sqlite`, `postgres`, `mysql`).
pub trait LinkStore: Send + Sync + 'static {
    /// Stores a new link.
    fn insert(&self, token: &LinkToken) -> impl Future<Output = Result<(), ProviderError>>;

    /// The link with this selector, whatever its state.
    fn find(&self, selector: &str) -> impl Future<Output = Result<Option<LinkToken>, ProviderError>>;

    /// Uses the link up: deletes it when its selector and validator hash are these, and
    /// answers whether it did (`false`: someone used it first, or it was never there).
    fn consume(&self, selector: &str, validator_hash: &str) -> impl Future<Output = Result<bool, ProviderError>>;

    /// Deletes the user's links of `purpose` (every purpose when `None`) but the one with
    /// selector `keep`; how many.
    fn delete_user(
        &self,
        user_id: &str,
        purpose: Option<&str>,
        keep: Option<&str>,
    ) -> impl Future<Output = Result<u64, ProviderError>>;

    /// Deletes the links expired at `now` (Unix seconds); how many.
    fn delete_expired(&self, now: i64) -> impl Future<Output = Result<u64, ProviderError>>;
}

impl<S: LinkStore> LinkStore for std::sync::Arc<S> {
    fn insert(&self, token: &LinkToken) -> impl Future<Output = Result<(), ProviderError>> {
        S::insert(self, token)
    }

    fn find(&self, selector: &str) -> impl Future<Output = Result<Option<LinkToken>, ProviderError>> {
        S::find(self, selector)
    }

    fn consume(&self, selector: &str, validator_hash: &str) -> impl Future<Output = Result<bool, ProviderError>> {
        S::consume(self, selector, validator_hash)
    }

    fn delete_user(
        &self,
        user_id: &str,
        purpose: Option<&str>,
        keep: Option<&str>,
    ) -> impl Future<Output = Result<u64, ProviderError>> {
        S::delete_user(self, user_id, purpose, keep)
    }

    fn delete_expired(&self, now: i64) -> impl Future<Output = Result<u64, ProviderError>> {
        S::delete_expired(self, now)
    }
}

/// Links in memory: for tests and single-process development.
#[derive(Default)]
pub struct InMemoryLinkStore {
    links: Mutex<HashMap<String, LinkToken>>,
}

impl fmt::Debug for InMemoryLinkStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryLinkStore")
            .field("links", &self.lock().len())
            .finish()
    }
}

impl InMemoryLinkStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, LinkToken>> {
        self.links.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many links are stored.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

impl LinkStore for InMemoryLinkStore {
    async fn insert(&self, token: &LinkToken) -> Result<(), ProviderError> {
        self.lock().insert(token.selector.clone(), token.clone());
        Ok(())
    }

    async fn find(&self, selector: &str) -> Result<Option<LinkToken>, ProviderError> {
        Ok(self.lock().get(selector).cloned())
    }

    async fn consume(&self, selector: &str, validator_hash: &str) -> Result<bool, ProviderError> {
        let mut links = self.lock();
        let matches = links
            .get(selector)
            .is_some_and(|t| constant_time_eq(t.validator_hash.as_bytes(), validator_hash.as_bytes()));
        if matches {
            links.remove(selector);
        }
        Ok(matches)
    }

    async fn delete_user(
        &self,
        user_id: &str,
        purpose: Option<&str>,
        keep: Option<&str>,
    ) -> Result<u64, ProviderError> {
        let mut links = self.lock();
        let before = links.len();
        links.retain(|selector, t| {
            t.user_id != user_id || purpose.is_some_and(|p| p != t.purpose) || keep == Some(selector.as_str())
        });
        Ok((before - links.len()) as u64)
    }

    async fn delete_expired(&self, now: i64) -> Result<u64, ProviderError> {
        let mut links = self.lock();
        let before = links.len();
        links.retain(|_, t| t.expires_at > now);
        Ok((before - links.len()) as u64)
    }
}

/// The object-safe form of [`LinkStore`].
pub(crate) trait DynLinkStore: Send + Sync + 'static {
    fn insert_dyn<'a>(&'a self, token: &'a LinkToken) -> LocalBoxFuture<'a, Result<(), ProviderError>>;
    fn find_dyn<'a>(&'a self, selector: &'a str) -> LocalBoxFuture<'a, Result<Option<LinkToken>, ProviderError>>;
    fn consume_dyn<'a>(
        &'a self,
        selector: &'a str,
        validator_hash: &'a str,
    ) -> LocalBoxFuture<'a, Result<bool, ProviderError>>;
    fn delete_user_dyn<'a>(
        &'a self,
        user_id: &'a str,
        purpose: Option<&'a str>,
        keep: Option<&'a str>,
    ) -> LocalBoxFuture<'a, Result<u64, ProviderError>>;
    fn delete_expired_dyn(&self, now: i64) -> LocalBoxFuture<'_, Result<u64, ProviderError>>;
}

impl<S: LinkStore> DynLinkStore for S {
    fn insert_dyn<'a>(&'a self, token: &'a LinkToken) -> LocalBoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(self.insert(token))
    }

    fn find_dyn<'a>(&'a self, selector: &'a str) -> LocalBoxFuture<'a, Result<Option<LinkToken>, ProviderError>> {
        Box::pin(self.find(selector))
    }

    fn consume_dyn<'a>(
        &'a self,
        selector: &'a str,
        validator_hash: &'a str,
    ) -> LocalBoxFuture<'a, Result<bool, ProviderError>> {
        Box::pin(self.consume(selector, validator_hash))
    }

    fn delete_user_dyn<'a>(
        &'a self,
        user_id: &'a str,
        purpose: Option<&'a str>,
        keep: Option<&'a str>,
    ) -> LocalBoxFuture<'a, Result<u64, ProviderError>> {
        Box::pin(self.delete_user(user_id, purpose, keep))
    }

    fn delete_expired_dyn(&self, now: i64) -> LocalBoxFuture<'_, Result<u64, ProviderError>> {
        Box::pin(self.delete_expired(now))
    }
}

/// Checks that `store` behaves as [`LinkStore`] says, with `user` (and `user` followed by
/// `-other`) as users who have no links yet: for a store of your own, as imia checks its own.
///
/// # Examples
///
/// ```
/// # actix_rt::System::new().block_on(async {
/// use imia::{account::InMemoryLinkStore, testing::check_link_store};
///
/// check_link_store(&InMemoryLinkStore::new(), "42").await;
/// # });
/// ```
///
/// # Panics
///
/// When the store fails or misbehaves.
pub async fn check_store_contract(store: &impl LinkStore, user: &str) {
    let other = format!("{user}-other");
    let link = |selector: &str, purpose: Purpose, user: &str, expires_at: i64| {
        let mut token = LinkToken::new(selector, hash_token(selector), purpose.as_str(), user, expires_at);
        token.payload = "new@example.com".into();
        token.binding = "b".repeat(64);
        token.created_at = 1;
        token
    };
    let a = link(&format!("{user}-a"), Purpose::PasswordReset, user, 100);
    let b = link(&format!("{user}-b"), Purpose::PasswordReset, user, 200);
    let c = link(&format!("{user}-c"), Purpose::VerifyEmail, user, 300);
    let d = link(&format!("{user}-d"), Purpose::PasswordReset, &other, 400);
    for token in [&a, &b, &c, &d] {
        store.insert(token).await.unwrap();
    }
    assert_eq!(store.find(&a.selector).await.unwrap().as_ref(), Some(&a));
    assert_eq!(store.find("nope").await.unwrap(), None);
    // Consumed once, with the right hash only.
    assert!(!store.consume(&a.selector, &hash_token("wrong")).await.unwrap());
    assert!(store.consume(&a.selector, &a.validator_hash).await.unwrap());
    assert!(!store.consume(&a.selector, &a.validator_hash).await.unwrap());
    assert_eq!(store.find(&a.selector).await.unwrap(), None);
    // Superseding: the user's other links of the purpose go; the kept one, other purposes and
    // other users stay.
    let e = link(&format!("{user}-e"), Purpose::PasswordReset, user, 500);
    store.insert(&e).await.unwrap();
    assert_eq!(
        store
            .delete_user(user, Some(Purpose::PasswordReset.as_str()), Some(&e.selector))
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.find(&b.selector).await.unwrap(), None);
    assert!(store.find(&e.selector).await.unwrap().is_some());
    assert!(store.find(&c.selector).await.unwrap().is_some());
    assert!(store.find(&d.selector).await.unwrap().is_some());
    // Expiry.
    assert_eq!(store.delete_expired(300).await.unwrap(), 1, "c expired at 300");
    assert_eq!(store.find(&c.selector).await.unwrap(), None);
    // Every purpose.
    assert_eq!(store.delete_user(user, None, None).await.unwrap(), 1);
    assert_eq!(store.delete_user(&other, None, None).await.unwrap(), 1);
    assert_eq!(store.find(&d.selector).await.unwrap(), None);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_parse_strictly() {
        let secret = LinkSecret::generate().unwrap();
        let token = secret.to_token();
        assert_eq!(LinkSecret::parse(&token), Some(secret.clone()));
        for bad in ["", ".", "a.", ".b", "a.b.c", "a b.c", "a/b.c", &"a".repeat(200)] {
            assert_eq!(LinkSecret::parse(bad), None, "{bad:?}");
        }
        let mut stored = LinkToken::new(&secret.selector, secret.validator_hash(), "reset", "1", 0);
        assert!(secret.matches(&stored));
        stored.validator_hash = hash_token("other");
        assert!(!secret.matches(&stored));
        assert!(!format!("{secret:?}").contains(&secret.validator));
    }

    #[actix_rt::test]
    async fn in_memory_store_keeps_the_contract() {
        check_store_contract(&InMemoryLinkStore::new(), "42").await;
    }
}
