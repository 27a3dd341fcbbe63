//! A per-user session index in Redis, kept by a wrapper around any actix-session store (above
//! all actix-session's own `RedisSessionStore`).

use std::{collections::HashMap, fmt, time::Duration};

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration as Ttl;
use redis::AsyncCommands as _;

use super::{SessionIndex, SessionInfo, is_handle};
use crate::{
    deadline,
    error::ProviderError,
    provider::hash_token,
    session_state::{IndexEntry, index_entry},
    throttle::redis::{pool_error, redis_error},
};

/// What keys start with unless configured: `imia:sessions:`.
const DEFAULT_PREFIX: &str = "imia:sessions:";

/// Wraps a session store (actix-session's `RedisSessionStore`, say) and keeps a per-user index
/// of its login sessions in Redis, so that [`Auth`](crate::Auth) can list and end them.
///
/// Use it in place of the store it wraps, and give it (a clone) to
/// [`LoginManagerBuilder::sessions`](crate::login::LoginManagerBuilder::sessions). Every server
/// that shares the Redis shares the index.
///
/// For each login session it keeps, under its prefix (`imia:sessions:` by default):
///
/// - `s:<handle>`: a hash with the user's id, the session key (Redis already holds the session
///   under its key, so this exposes nothing new), the login time, the last use, the address
///   and the user agent;
/// - `k:<SHA-256 of the key>`: the session's handle, to find it from the key;
/// - `u:<user id>`: a sorted set of the user's handles, by login time.
///
/// Each entry expires with its session. Entries of sessions that expired are dropped from the
/// user's set when it is listed.
///
/// # Examples
///
/// ```no_run
/// # async fn set_up() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// use actix_session::storage::CookieSessionStore; // RedisSessionStore in a real deployment
/// use imia::{sessions::RedisSessionIndex, throttle::RedisThrottle};
///
/// let pool = RedisThrottle::redis_pool("redis://127.0.0.1:6379")?;
/// let store = RedisSessionIndex::new(CookieSessionStore::default(), pool);
/// // SessionMiddleware::new(store.clone(), key), and LoginManager::builder(..).sessions(store)
/// # let _ = store;
/// # Ok(())
/// # }
/// ```
pub struct RedisSessionIndex<S> {
    inner: std::sync::Arc<S>,
    pool: deadpool_redis::Pool,
    prefix: String,
    timeout: Duration,
}

impl<S> Clone for RedisSessionIndex<S> {
    fn clone(&self) -> Self {
        Self {
            inner: std::sync::Arc::clone(&self.inner),
            pool: self.pool.clone(),
            prefix: self.prefix.clone(),
            timeout: self.timeout,
        }
    }
}

impl<S> fmt::Debug for RedisSessionIndex<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSessionIndex")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<S> RedisSessionIndex<S> {
    /// Keeps the index of `inner`'s login sessions in the Redis behind `pool` (see
    /// [`RedisThrottle::redis_pool`](crate::throttle::RedisThrottle::redis_pool)), each
    /// operation limited to 10 seconds.
    pub fn new(inner: S, pool: deadpool_redis::Pool) -> Self {
        Self {
            inner: std::sync::Arc::new(inner),
            pool,
            prefix: DEFAULT_PREFIX.to_owned(),
            timeout: Duration::from_secs(10),
        }
    }

    /// Keys start with `prefix` (default `imia:sessions:`): give apps sharing one Redis
    /// different prefixes.
    #[must_use]
    pub fn prefix(mut self, prefix: &str) -> Self {
        prefix.clone_into(&mut self.prefix);
        self
    }

    /// The longest an index operation may take (default 10 seconds); a slower one fails as
    /// [`ProviderError::Unavailable`].
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn session_key(&self, handle: &str) -> String {
        format!("{}s:{handle}", self.prefix)
    }

    fn key_key(&self, key: &SessionKey) -> String {
        format!("{}k:{}", self.prefix, hash_token(key.as_ref()))
    }

    fn user_key(&self, user_id: &str) -> String {
        format!("{}u:{user_id}", self.prefix)
    }

    /// Runs `work` on a pooled connection under the timeout.
    async fn with_conn<T, F>(&self, work: impl FnOnce(deadpool_redis::Connection) -> F) -> Result<T, ProviderError>
    where
        F: Future<Output = Result<T, redis::RedisError>>,
    {
        deadline::within(
            self.timeout,
            async {
                let conn = self.pool.get().await.map_err(pool_error)?;
                work(conn).await.map_err(redis_error)
            },
            ProviderError::unavailable,
        )
        .await
    }

    /// Records (or refreshes) the login session stored under `key`.
    async fn record(&self, key: &SessionKey, entry: IndexEntry, ttl: &Ttl) -> Result<(), ProviderError> {
        let ttl_ms = u64::try_from(ttl.whole_milliseconds()).unwrap_or(0).max(1);
        let (session, by_key, user) = (
            self.session_key(&entry.meta.handle),
            self.key_key(key),
            self.user_key(&entry.user_id),
        );
        let fields = [
            ("user", entry.user_id.clone()),
            ("key", key.as_ref().to_owned()),
            ("created", entry.meta.created_at.to_string()),
            ("seen", entry.last_seen_at.to_string()),
            ("ip", entry.meta.ip.clone().unwrap_or_default()),
            ("ua", entry.meta.user_agent.clone().unwrap_or_default()),
        ];
        let handle = entry.meta.handle.clone();
        let created = entry.meta.created_at;
        self.with_conn(|mut conn| async move {
            redis::pipe()
                .atomic()
                .hset_multiple(&session, &fields)
                .ignore()
                .pexpire(&session, ttl_ms as i64)
                .ignore()
                .set(&by_key, &handle)
                .ignore()
                .pexpire(&by_key, ttl_ms as i64)
                .ignore()
                .zadd(&user, &handle, created)
                .ignore()
                .pexpire(&user, ttl_ms as i64)
                .ignore()
                .query_async::<()>(&mut conn)
                .await
        })
        .await
    }

    /// Drops the index entry of the session stored under `key`, if it still points there.
    async fn forget(&self, key: &SessionKey) -> Result<(), ProviderError> {
        let by_key = self.key_key(key);
        let handle: Option<String> = self
            .with_conn(|mut conn| async move { conn.get(&by_key).await })
            .await?;
        let by_key = self.key_key(key);
        let Some(handle) = handle else {
            return Ok(());
        };
        let session = self.session_key(&handle);
        let owner: (Option<String>, Option<String>) = {
            let session = session.clone();
            self.with_conn(|mut conn| async move {
                redis::pipe()
                    .hget(&session, "user")
                    .hget(&session, "key")
                    .query_async(&mut conn)
                    .await
            })
            .await?
        };
        let prefix_user = owner.0.map(|user| self.user_key(&user));
        let still_here = owner.1.as_deref() == Some(key.as_ref());
        self.with_conn(|mut conn| async move {
            let mut pipe = redis::pipe();
            pipe.del(&by_key).ignore();
            // A renewed session keeps its handle under a new key: leave that record alone.
            if still_here {
                pipe.del(&session).ignore();
                if let Some(user) = &prefix_user {
                    pipe.zrem(user, &handle).ignore();
                }
            }
            pipe.query_async::<()>(&mut conn).await
        })
        .await
    }

    /// The stored hash of session `handle`: `(user, key, created, seen, ip, ua)` fields.
    async fn entry(&self, handle: &str) -> Result<HashMap<String, String>, ProviderError> {
        let session = self.session_key(handle);
        self.with_conn(|mut conn| async move { conn.hgetall(&session).await })
            .await
    }
}

impl<S: SessionStore> RedisSessionIndex<S> {
    /// Ends the session `handle` of `user_id`: deletes it from the store and the index.
    async fn end(&self, user_id: &str, handle: &str) -> Result<bool, ProviderError> {
        let entry = self.entry(handle).await?;
        if entry.get("user").map(String::as_str) != Some(user_id) {
            return Ok(false);
        }
        if let Some(key) = entry.get("key").and_then(|k| SessionKey::try_from(k.clone()).ok()) {
            self.inner
                .delete(&key)
                .await
                .map_err(|err| ProviderError::Backend(err.into()))?;
            self.forget(&key).await?;
        }
        let (session, user, handle) = (self.session_key(handle), self.user_key(user_id), handle.to_owned());
        self.with_conn(|mut conn| async move {
            redis::pipe()
                .del(&session)
                .ignore()
                .zrem(&user, &handle)
                .ignore()
                .query_async::<()>(&mut conn)
                .await
        })
        .await?;
        Ok(true)
    }

    /// Records `state` under `key` when it is a login session, else drops any record of `key`.
    async fn index(&self, key: &SessionKey, state: &HashMap<String, String>, ttl: &Ttl) -> anyhow::Result<()> {
        match index_entry(state) {
            Some(entry) => self.record(key, entry, ttl).await?,
            None => self.forget(key).await?,
        }
        Ok(())
    }
}

impl<S: SessionStore> SessionStore for RedisSessionIndex<S> {
    async fn load(&self, session_key: &SessionKey) -> Result<Option<HashMap<String, String>>, LoadError> {
        self.inner.load(session_key).await
    }

    async fn save(&self, session_state: HashMap<String, String>, ttl: &Ttl) -> Result<SessionKey, SaveError> {
        let key = self.inner.save(session_state.clone(), ttl).await?;
        self.index(&key, &session_state, ttl).await.map_err(SaveError::Other)?;
        Ok(key)
    }

    async fn update(
        &self,
        session_key: SessionKey,
        session_state: HashMap<String, String>,
        ttl: &Ttl,
    ) -> Result<SessionKey, UpdateError> {
        let old = session_key.as_ref().to_owned();
        let key = self.inner.update(session_key, session_state.clone(), ttl).await?;
        if key.as_ref() != old
            && let Ok(old) = SessionKey::try_from(old)
        {
            self.forget(&old).await.map_err(|e| UpdateError::Other(e.into()))?;
        }
        self.index(&key, &session_state, ttl)
            .await
            .map_err(UpdateError::Other)?;
        Ok(key)
    }

    async fn update_ttl(&self, session_key: &SessionKey, ttl: &Ttl) -> anyhow::Result<()> {
        self.inner.update_ttl(session_key, ttl).await?;
        let ttl_ms = ttl.whole_milliseconds().max(1) as i64;
        let by_key = self.key_key(session_key);
        let handle: Option<String> = {
            let by_key = by_key.clone();
            self.with_conn(|mut conn| async move { conn.get(&by_key).await })
                .await?
        };
        if let Some(handle) = handle {
            let session = self.session_key(&handle);
            self.with_conn(|mut conn| async move {
                redis::pipe()
                    .pexpire(&session, ttl_ms)
                    .ignore()
                    .pexpire(&by_key, ttl_ms)
                    .ignore()
                    .query_async::<()>(&mut conn)
                    .await
            })
            .await?;
        }
        Ok(())
    }

    async fn delete(&self, session_key: &SessionKey) -> anyhow::Result<()> {
        self.inner.delete(session_key).await?;
        self.forget(session_key).await?;
        Ok(())
    }
}

impl<S: SessionStore + Send + Sync + 'static> SessionIndex for RedisSessionIndex<S> {
    async fn sessions(&self, user_id: &str) -> Result<Vec<SessionInfo>, ProviderError> {
        let user = self.user_key(user_id);
        let handles: Vec<String> = {
            let user = user.clone();
            self.with_conn(|mut conn| async move { conn.zrevrange(&user, 0, -1).await })
                .await?
        };
        let mut sessions = Vec::with_capacity(handles.len());
        let mut gone = Vec::new();
        for handle in handles {
            let entry = self.entry(&handle).await?;
            if entry.get("user").map(String::as_str) != Some(user_id) {
                gone.push(handle);
                continue;
            }
            let number = |field: &str| entry.get(field).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
            sessions.push(
                SessionInfo::new(handle, number("created") / 1000, number("seen") / 1000)
                    .ip(entry.get("ip").cloned())
                    .user_agent(entry.get("ua").cloned()),
            );
        }
        if !gone.is_empty() {
            // Sessions that expired: their hashes are gone, their handles linger in the set.
            self.with_conn(|mut conn| async move { conn.zrem::<_, _, ()>(&user, gone).await })
                .await?;
        }
        Ok(sessions)
    }

    async fn end_session(&self, user_id: &str, id: &str) -> Result<bool, ProviderError> {
        if !is_handle(id) || user_id.is_empty() {
            return Ok(false);
        }
        self.end(user_id, id).await
    }

    async fn end_sessions(&self, user_id: &str, except: Option<&str>) -> Result<u64, ProviderError> {
        let mut ended = 0;
        for session in self.sessions(user_id).await? {
            if Some(session.id.as_str()) != except && self.end(user_id, &session.id).await? {
                ended += 1;
            }
        }
        Ok(ended)
    }
}
