//! A deadline for any actix-session store.

use std::{collections::HashMap, fmt, future::Future, time::Duration};

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration as Ttl;

/// Wraps a session store so that every operation fails after a deadline instead of hanging.
///
/// A store that cannot answer (Redis restarting, a network partition) otherwise holds every
/// request with a session cookie until the client gives up. With this wrapper the request fails
/// closed, quickly: actix-session answers an opaque 500, never an anonymous page.
///
/// A deadline bounds each request; it cannot repair the store behind it. actix-session's
/// `RedisSessionStore::new` keeps a single redis-rs `ConnectionManager`, which (redis 0.32)
/// stops reconnecting once one reconnection attempt failed while Redis was down: every request
/// with a session then fails closed after the deadline until the application restarts. Build
/// the Redis store from a pool instead (`RedisSessionStore::builder_pooled`, actix-session's
/// `redis-pool` feature, with create and recycle timeouts on the `deadpool-redis` pool): it
/// opens new connections once Redis is back.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use actix_session::{SessionMiddleware, storage::CookieSessionStore};
/// use actix_web::cookie::Key;
/// use imia::TimeoutSessionStore;
///
/// let store = TimeoutSessionStore::new(CookieSessionStore::default(), Duration::from_secs(2));
/// let sessions = SessionMiddleware::new(store, Key::generate());
/// # let _ = sessions;
/// ```
pub struct TimeoutSessionStore<S> {
    inner: S,
    timeout: Duration,
}

impl<S> TimeoutSessionStore<S> {
    /// `inner`, with every operation limited to `timeout`.
    pub fn new(inner: S, timeout: Duration) -> Self {
        Self { inner, timeout }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S: Clone> Clone for TimeoutSessionStore<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            timeout: self.timeout,
        }
    }
}

impl<S> fmt::Debug for TimeoutSessionStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeoutSessionStore")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<S> TimeoutSessionStore<S> {
    async fn within<T, E>(
        &self,
        op: &'static str,
        work: impl Future<Output = Result<T, E>>,
        wrap: fn(anyhow::Error) -> E,
    ) -> Result<T, E> {
        crate::deadline::within(self.timeout, work, |_| {
            tracing::error!(op, timeout = ?self.timeout, "the session store did not answer in time");
            wrap(anyhow::anyhow!(
                "the session store did not {op} within {:?}",
                self.timeout
            ))
        })
        .await
    }
}

impl<S: SessionStore> SessionStore for TimeoutSessionStore<S> {
    async fn load(&self, key: &SessionKey) -> Result<Option<HashMap<String, String>>, LoadError> {
        self.within("load a session", self.inner.load(key), LoadError::Other)
            .await
    }

    async fn save(&self, state: HashMap<String, String>, ttl: &Ttl) -> Result<SessionKey, SaveError> {
        self.within("save a session", self.inner.save(state, ttl), SaveError::Other)
            .await
    }

    async fn update(
        &self,
        key: SessionKey,
        state: HashMap<String, String>,
        ttl: &Ttl,
    ) -> Result<SessionKey, UpdateError> {
        self.within(
            "update a session",
            self.inner.update(key, state, ttl),
            UpdateError::Other,
        )
        .await
    }

    async fn update_ttl(&self, key: &SessionKey, ttl: &Ttl) -> Result<(), anyhow::Error> {
        self.within("extend a session", self.inner.update_ttl(key, ttl), |e| e)
            .await
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), anyhow::Error> {
        self.within("delete a session", self.inner.delete(key), |e| e).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store that never answers.
    struct Stuck;

    impl SessionStore for Stuck {
        async fn load(&self, _: &SessionKey) -> Result<Option<HashMap<String, String>>, LoadError> {
            std::future::pending().await
        }
        async fn save(&self, _: HashMap<String, String>, _: &Ttl) -> Result<SessionKey, SaveError> {
            std::future::pending().await
        }
        async fn update(&self, _: SessionKey, _: HashMap<String, String>, _: &Ttl) -> Result<SessionKey, UpdateError> {
            std::future::pending().await
        }
        async fn update_ttl(&self, _: &SessionKey, _: &Ttl) -> Result<(), anyhow::Error> {
            std::future::pending().await
        }
        async fn delete(&self, _: &SessionKey) -> Result<(), anyhow::Error> {
            std::future::pending().await
        }
    }

    #[test]
    fn a_stuck_store_fails_after_the_deadline() {
        actix_rt::System::new().block_on(async {
            let store = TimeoutSessionStore::new(Stuck, Duration::from_millis(20));
            let key = SessionKey::try_from("a".repeat(64)).unwrap();
            assert!(matches!(store.load(&key).await, Err(LoadError::Other(_))));
            assert!(matches!(
                store.save(HashMap::new(), &Ttl::seconds(1)).await,
                Err(SaveError::Other(_))
            ));
            assert!(store.delete(&key).await.is_err());
        });
    }
}
