//! Where the demo keeps sessions: its database (the default), Redis, or the cookie itself.

use std::collections::HashMap;

use actix_session::storage::{CookieSessionStore, LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration;
use imia::{
    diesel::{DieselSessionStore, DieselThrottle},
    error::ProviderError,
    sessions::{SessionIndex, SessionInfo},
    throttle::{Attempt, LoginThrottle},
};

use super::users::DemoPool;

/// A session store chosen at start-up.
#[non_exhaustive]
pub enum DemoStore {
    /// Server-side, in the demo's SQLite database.
    Sqlite(DieselSessionStore<imia::diesel::SqliteConnection>),
    /// Server-side, in PostgreSQL.
    #[cfg(feature = "postgres")]
    Postgres(DieselSessionStore<diesel_async::AsyncPgConnection>),
    /// Server-side, in MySQL or MariaDB.
    #[cfg(feature = "mysql")]
    Mysql(DieselSessionStore<diesel_async::AsyncMysqlConnection>),
    /// Server-side, in Redis, with the per-user session index beside it.
    #[cfg(feature = "redis")]
    Redis(RedisStore),
    /// In the cookie itself (signed and encrypted): nothing server-side to revoke.
    Cookie(CookieSessionStore),
}

impl std::fmt::Debug for DemoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DemoStore")
    }
}

/// How to make the store for each server worker.
#[derive(Clone)]
#[non_exhaustive]
pub enum StoreChoice {
    /// The demo's database.
    Database(DemoPool),
    /// Redis.
    #[cfg(feature = "redis")]
    Redis(RedisStore),
    /// The cookie.
    Cookie,
}

impl std::fmt::Debug for StoreChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Database(_) => "Database",
            #[cfg(feature = "redis")]
            Self::Redis(_) => "Redis",
            Self::Cookie => "Cookie",
        })
    }
}

/// Where the demo counts failed logins: its database, or Redis (`REDIS_URL`). Either way a
/// lockout survives a restart and holds on every server that shares the store.
#[non_exhaustive]
pub enum DemoThrottle {
    /// In the SQLite database.
    Sqlite(DieselThrottle<imia::diesel::SqliteConnection>),
    /// In PostgreSQL.
    #[cfg(feature = "postgres")]
    Postgres(DieselThrottle<diesel_async::AsyncPgConnection>),
    /// In MySQL or MariaDB.
    #[cfg(feature = "mysql")]
    Mysql(DieselThrottle<diesel_async::AsyncMysqlConnection>),
    /// In Redis.
    #[cfg(feature = "redis")]
    Redis(imia::throttle::RedisThrottle),
}

macro_rules! each_throttle {
    ($self:expr, $t:ident => $body:expr) => {
        match $self {
            DemoThrottle::Sqlite($t) => $body,
            #[cfg(feature = "postgres")]
            DemoThrottle::Postgres($t) => $body,
            #[cfg(feature = "mysql")]
            DemoThrottle::Mysql($t) => $body,
            #[cfg(feature = "redis")]
            DemoThrottle::Redis($t) => $body,
        }
    };
}

impl LoginThrottle for DemoThrottle {
    async fn allow(&self, attempt: Attempt<'_>) -> Result<bool, ProviderError> {
        each_throttle!(self, t => t.allow(attempt).await)
    }

    async fn failed(&self, attempt: Attempt<'_>) -> Result<(), ProviderError> {
        each_throttle!(self, t => t.failed(attempt).await)
    }

    async fn succeeded(&self, attempt: Attempt<'_>) -> Result<(), ProviderError> {
        each_throttle!(self, t => t.succeeded(attempt).await)
    }

    async fn abandoned(&self, attempt: Attempt<'_>) -> Result<(), ProviderError> {
        each_throttle!(self, t => t.abandoned(attempt).await)
    }
}

impl std::fmt::Debug for DemoThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DemoThrottle")
    }
}

/// actix-session's Redis store, wrapped in the per-user session index kept in the same Redis.
#[cfg(feature = "redis")]
pub type RedisStore = imia::sessions::RedisSessionIndex<actix_session::storage::RedisSessionStore>;

/// The per-user session index of the demo's store: in the database, or in Redis (the cookie
/// store keeps none: its sessions cannot be listed, but "end all others" works through the
/// security stamp).
#[derive(Clone)]
#[non_exhaustive]
pub enum DemoIndex {
    /// In the SQLite session table.
    Sqlite(DieselSessionStore<imia::diesel::SqliteConnection>),
    /// In the PostgreSQL session table.
    #[cfg(feature = "postgres")]
    Postgres(DieselSessionStore<diesel_async::AsyncPgConnection>),
    /// In the MySQL or MariaDB session table.
    #[cfg(feature = "mysql")]
    Mysql(DieselSessionStore<diesel_async::AsyncMysqlConnection>),
    /// In Redis, beside the sessions.
    #[cfg(feature = "redis")]
    Redis(RedisStore),
}

macro_rules! each_index {
    ($self:expr, $s:ident => $body:expr) => {
        match $self {
            DemoIndex::Sqlite($s) => $body,
            #[cfg(feature = "postgres")]
            DemoIndex::Postgres($s) => $body,
            #[cfg(feature = "mysql")]
            DemoIndex::Mysql($s) => $body,
            #[cfg(feature = "redis")]
            DemoIndex::Redis($s) => $body,
        }
    };
}

impl SessionIndex for DemoIndex {
    async fn sessions(&self, user_id: &str) -> Result<Vec<SessionInfo>, ProviderError> {
        each_index!(self, s => s.sessions(user_id).await)
    }

    async fn end_session(&self, user_id: &str, id: &str) -> Result<bool, ProviderError> {
        each_index!(self, s => s.end_session(user_id, id).await)
    }

    async fn end_sessions(&self, user_id: &str, except: Option<&str>) -> Result<u64, ProviderError> {
        each_index!(self, s => s.end_sessions(user_id, except).await)
    }
}

impl std::fmt::Debug for DemoIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DemoIndex")
    }
}

impl StoreChoice {
    /// The session index, when the store keeps one.
    pub fn index(&self) -> Option<DemoIndex> {
        match self {
            Self::Database(DemoPool::Sqlite(pool)) => Some(DemoIndex::Sqlite(DieselSessionStore::new(pool.clone()))),
            #[cfg(feature = "postgres")]
            Self::Database(DemoPool::Postgres(pool)) => {
                Some(DemoIndex::Postgres(DieselSessionStore::new(pool.clone())))
            }
            #[cfg(feature = "mysql")]
            Self::Database(DemoPool::Mysql(pool)) => Some(DemoIndex::Mysql(DieselSessionStore::new(pool.clone()))),
            #[cfg(feature = "redis")]
            Self::Redis(store) => Some(DemoIndex::Redis(store.clone())),
            Self::Cookie => None,
        }
    }

    /// A store for one worker.
    ///
    /// # Errors
    ///
    /// When the database session store cannot be configured.
    pub fn store(&self) -> Result<DemoStore, imia::error::ProviderError> {
        Ok(match self {
            Self::Database(DemoPool::Sqlite(pool)) => DemoStore::Sqlite(DieselSessionStore::new(pool.clone())),
            #[cfg(feature = "postgres")]
            Self::Database(DemoPool::Postgres(pool)) => DemoStore::Postgres(DieselSessionStore::new(pool.clone())),
            #[cfg(feature = "mysql")]
            Self::Database(DemoPool::Mysql(pool)) => DemoStore::Mysql(DieselSessionStore::new(pool.clone())),
            #[cfg(feature = "redis")]
            Self::Redis(store) => DemoStore::Redis(store.clone()),
            Self::Cookie => DemoStore::Cookie(CookieSessionStore::default()),
        })
    }
}

macro_rules! each {
    ($self:expr, $s:ident => $body:expr) => {
        match $self {
            DemoStore::Sqlite($s) => $body,
            #[cfg(feature = "postgres")]
            DemoStore::Postgres($s) => $body,
            #[cfg(feature = "mysql")]
            DemoStore::Mysql($s) => $body,
            #[cfg(feature = "redis")]
            DemoStore::Redis($s) => $body,
            DemoStore::Cookie($s) => $body,
        }
    };
}

impl SessionStore for DemoStore {
    async fn load(&self, key: &SessionKey) -> Result<Option<HashMap<String, String>>, LoadError> {
        each!(self, s => s.load(key).await)
    }

    async fn save(&self, state: HashMap<String, String>, ttl: &Duration) -> Result<SessionKey, SaveError> {
        each!(self, s => s.save(state, ttl).await)
    }

    async fn update(
        &self,
        key: SessionKey,
        state: HashMap<String, String>,
        ttl: &Duration,
    ) -> Result<SessionKey, UpdateError> {
        each!(self, s => s.update(key, state, ttl).await)
    }

    async fn update_ttl(&self, key: &SessionKey, ttl: &Duration) -> Result<(), anyhow::Error> {
        each!(self, s => s.update_ttl(key, ttl).await)
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), anyhow::Error> {
        each!(self, s => s.delete(key).await)
    }
}
