//! Where remember-me tokens are kept: the token, the store trait, the in-memory store.

use std::{
    collections::HashMap,
    fmt,
    future::Future,
    sync::{Arc, Mutex, PoisonError},
};

use crate::error::ProviderError;

/// One remember-me token as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct RememberToken {
    /// Looks the token up; sent in the cookie.
    pub selector: String,
    /// SHA-256 (hex) of the current validator.
    pub validator_hash: String,
    /// SHA-256 (hex) of the validator it replaced, accepted during the grace window.
    pub previous_hash: Option<String>,
    /// When the validator last rotated (Unix seconds).
    pub rotated_at: i64,
    /// The user's id.
    pub user_id: String,
    /// The series: constant across rotations of one login.
    pub series: String,
    /// When the token expires (Unix seconds).
    pub expires_at: i64,
    /// What the token is bound to: a keyed MAC (hex) of the user's password hash and security
    /// stamp when it was issued. Never the hash itself. A token whose binding no longer matches
    /// the user is refused and deleted.
    pub binding: String,
}

impl fmt::Debug for RememberToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RememberToken")
            .field("user_id", &self.user_id)
            .field("series", &self.series)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Keeps remember-me tokens. Rotation must be atomic: two requests rotating the same token at
/// once must not both succeed.
///
/// imia ships [`InMemoryRememberStore`] and, with a Diesel backend, `DieselRememberStore`.
/// Implement it for another store (Redis: a hash per selector and a set per user; rotate with a
/// compare-and-set script).
///
/// # Examples
///
/// A store that delegates to another and counts rotations:
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use imia::{error::ProviderError, remember::{InMemoryRememberStore, RememberStore, RememberToken}};
///
/// #[derive(Default)]
/// struct Counted { inner: InMemoryRememberStore, rotations: AtomicU64 }
///
/// impl RememberStore for Counted {
///     async fn insert(&self, token: &RememberToken) -> Result<(), ProviderError> {
///         self.inner.insert(token).await
///     }
///     async fn find(&self, selector: &str) -> Result<Option<RememberToken>, ProviderError> {
///         self.inner.find(selector).await
///     }
///     async fn rotate(&self, selector: &str, current: &str, new: &str, now: i64) -> Result<bool, ProviderError> {
///         let rotated = self.inner.rotate(selector, current, new, now).await?;
///         if rotated {
///             self.rotations.fetch_add(1, Ordering::Relaxed);
///         }
///         Ok(rotated)
///     }
///     async fn delete(&self, selector: &str) -> Result<(), ProviderError> {
///         self.inner.delete(selector).await
///     }
///     async fn delete_user(&self, user_id: &str) -> Result<u64, ProviderError> {
///         self.inner.delete_user(user_id).await
///     }
///     async fn delete_expired(&self, now: i64) -> Result<u64, ProviderError> {
///         self.inner.delete_expired(now).await
///     }
/// }
/// # let _ = Counted::default();
/// ```
pub trait RememberStore: Send + Sync + 'static {
    /// Stores a new token.
    fn insert(&self, token: &RememberToken) -> impl Future<Output = Result<(), ProviderError>>;
    /// Finds a token by selector.
    fn find(&self, selector: &str) -> impl Future<Output = Result<Option<RememberToken>, ProviderError>>;
    /// Replaces the validator hash with `new_hash` (keeping the old one as the previous hash)
    /// if it is still `current_hash`; returns whether it did.
    fn rotate(
        &self,
        selector: &str,
        current_hash: &str,
        new_hash: &str,
        now: i64,
    ) -> impl Future<Output = Result<bool, ProviderError>>;
    /// Deletes one token.
    fn delete(&self, selector: &str) -> impl Future<Output = Result<(), ProviderError>>;
    /// Deletes every token of a user; returns how many.
    fn delete_user(&self, user_id: &str) -> impl Future<Output = Result<u64, ProviderError>>;
    /// Deletes the tokens expired at `now`; returns how many.
    fn delete_expired(&self, now: i64) -> impl Future<Output = Result<u64, ProviderError>>;
}

/// Remember-me tokens in memory (one process; lost at restart). For tests and single-server
/// apps. Cloning shares the tokens.
///
/// # Examples
///
/// ```
/// use imia::remember::{InMemoryRememberStore, RememberStore, RememberToken};
///
/// # actix_rt::System::new().block_on(async {
/// let store = InMemoryRememberStore::new();
/// let token = RememberToken {
///     selector: "sel".into(),
///     validator_hash: "h1".into(),
///     previous_hash: None,
///     rotated_at: 0,
///     user_id: "7".into(),
///     series: "s".into(),
///     expires_at: i64::MAX,
///     binding: "mac-of-the-password".into(),
/// };
/// store.insert(&token).await.unwrap();
/// assert!(store.rotate("sel", "h1", "h2", 1).await.unwrap());
/// assert!(!store.rotate("sel", "h1", "h3", 2).await.unwrap()); // already rotated: atomic
/// assert_eq!(store.find("sel").await.unwrap().unwrap().previous_hash.as_deref(), Some("h1"));
/// assert_eq!(store.delete_user("7").await.unwrap(), 1);
/// assert!(store.is_empty());
/// # });
/// ```
#[derive(Clone, Default)]
pub struct InMemoryRememberStore {
    tokens: Arc<Mutex<HashMap<String, RememberToken>>>,
}

impl fmt::Debug for InMemoryRememberStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryRememberStore")
            .field("tokens", &self.lock().len())
            .finish()
    }
}

impl InMemoryRememberStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, RememberToken>> {
        self.tokens.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many tokens are kept.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no token is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl RememberStore for InMemoryRememberStore {
    async fn insert(&self, token: &RememberToken) -> Result<(), ProviderError> {
        self.lock().insert(token.selector.clone(), token.clone());
        Ok(())
    }

    async fn find(&self, selector: &str) -> Result<Option<RememberToken>, ProviderError> {
        Ok(self.lock().get(selector).cloned())
    }

    async fn rotate(
        &self,
        selector: &str,
        current_hash: &str,
        new_hash: &str,
        now: i64,
    ) -> Result<bool, ProviderError> {
        let mut tokens = self.lock();
        match tokens.get_mut(selector) {
            Some(token) if token.validator_hash == current_hash => {
                token.previous_hash = Some(std::mem::replace(&mut token.validator_hash, new_hash.to_owned()));
                token.rotated_at = now;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn delete(&self, selector: &str) -> Result<(), ProviderError> {
        self.lock().remove(selector);
        Ok(())
    }

    async fn delete_user(&self, user_id: &str) -> Result<u64, ProviderError> {
        let mut tokens = self.lock();
        let before = tokens.len();
        tokens.retain(|_, t| t.user_id != user_id);
        Ok((before - tokens.len()) as u64)
    }

    async fn delete_expired(&self, now: i64) -> Result<u64, ProviderError> {
        let mut tokens = self.lock();
        let before = tokens.len();
        tokens.retain(|_, t| t.expires_at > now);
        Ok((before - tokens.len()) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_memory_rotation_is_compare_and_swap() {
        actix_rt::System::new().block_on(async {
            let store = InMemoryRememberStore::new();
            let token = RememberToken {
                selector: "s".into(),
                validator_hash: "h1".into(),
                previous_hash: None,
                rotated_at: 0,
                user_id: "u".into(),
                series: "x".into(),
                expires_at: 100,
                binding: String::new(),
            };
            store.insert(&token).await.unwrap();
            assert!(store.rotate("s", "h1", "h2", 5).await.unwrap());
            assert!(
                !store.rotate("s", "h1", "h3", 6).await.unwrap(),
                "the second rotation loses"
            );
            let now = store.find("s").await.unwrap().unwrap();
            assert_eq!(
                (
                    now.validator_hash.as_str(),
                    now.previous_hash.as_deref(),
                    now.rotated_at
                ),
                ("h2", Some("h1"), 5)
            );
            assert_eq!(store.delete_expired(100).await.unwrap(), 1);
            assert!(store.is_empty());
        });
    }
}
