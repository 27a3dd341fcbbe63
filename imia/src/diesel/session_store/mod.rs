//! An actix-session store keeping sessions server-side in a database table.

use std::{
    collections::HashMap,
    fmt,
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use ::diesel::{
    deserialize::FromSql,
    serialize::ToSql,
    sql_types::{BigInt, HasSqlType, Text},
};
use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError, generate_session_key};
use actix_web::cookie::time::Duration as Ttl;
use diesel_async::RunQueryDsl as _;

mod builder;
mod json;
mod sql;

pub use self::builder::DieselSessionStoreBuilder;
use self::sql::{Bind, IndexRow, StateRow, Statements};
use super::connection::{Backend, query_error};
use crate::{
    crypto::unix_now,
    deadline,
    error::ProviderError,
    provider::hash_token,
    session_state::index_entry,
    sessions::{SessionIndex, SessionInfo, is_handle},
};

type Db<C> = <C as diesel_async::AsyncConnectionCore>::Backend;

/// The default session table: the one [`migrations::run`](super::migrations::run) creates.
const DEFAULT_TABLE: &str = "imia_sessions";

// Session state keys that carry a login: a session that vanished during a request is never
// re-created with them (see `DieselSessionStore`, "Logout races").
use crate::session_state::is_login_entry as is_auth_key;

/// Keeps actix-session's session state in a database table, through the same diesel-async
/// [`Pool`](super::Pool) as the [`DieselProvider`](super::DieselProvider): SQLite, PostgreSQL,
/// MySQL or MariaDB.
///
/// Unlike a cookie store, a server-side store can end a session: logout
/// ([`Session::purge`](actix_session::Session::purge)) deletes its row, so a copied or replayed
/// cookie is worth nothing afterwards.
///
/// - **Table.** `key_hash CHAR(64) PRIMARY KEY, state TEXT, expires_at BIGINT` (Unix seconds),
///   indexed on `expires_at`; created by [`migrations::run`](super::migrations::run),
///   [`sessions_sql`](super::migrations::sessions_sql) or [`DieselSessionStore::create_table`].
///   The default name is `imia_sessions`.
/// - **Keys.** 64 random alphanumeric characters (actix-session's
///   [`generate_session_key`], from a CSPRNG). The table holds only their SHA-256
///   ([`hash_token`]), so a leaked table or backup yields no usable session ids. The state is
///   stored as a JSON object of strings.
/// - **Expiry.** Each write sets `expires_at` to now plus the session TTL; expired rows are
///   never loaded, updated or extended. One save in 256 (configurable) also deletes the expired
///   rows; call [`DieselSessionStore::delete_expired`] from a periodic task instead if you
///   prefer.
/// - **Failures.** A database or pool failure, or an operation slower than the timeout (10 s by
///   default), is an error: actix-session then answers an opaque 500, never an anonymous
///   request. An unknown, malformed or expired key is no session.
///
/// # Logout races
///
/// When a request changes a session whose row is gone (a concurrent logout purged it, or it
/// expired), the store does not re-create it under its old key, nor copy the login into a new
/// one: it starts a new session, under a new key, with the other values but without the
/// authentication keys (`_auth_*`, `_impersonat*`). A slow request that began before a logout
/// therefore cannot bring the login back. actix-session's Redis store re-creates the full state
/// in that case.
///
/// # Examples
///
/// ```no_run
/// # #[cfg(feature = "sqlite")] {
/// use actix_session::SessionMiddleware;
/// use actix_web::{App, HttpServer, cookie::Key};
/// use imia::diesel::{DieselSessionStore, PoolOptions, SqliteConnection, migrations, sqlite_pool};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let pool = sqlite_pool("app.sqlite3", &PoolOptions::default())?;
/// migrations::run(&mut *pool.get().await?).await?;
///
/// let store = DieselSessionStore::<SqliteConnection>::builder(pool)
///     .table("imia_sessions")
///     .cleanup_every(1024)
///     .build()?;
/// let key = Key::generate(); // load a stable key from your configuration instead
///
/// HttpServer::new(move || App::new().wrap(SessionMiddleware::new(store.clone(), key.clone())))
///     .bind(("127.0.0.1", 8080))?
///     .run()
///     .await?;
/// # Ok(())
/// # }
/// # }
/// ```
///
/// # Errors
///
/// Every [`SessionStore`] method fails when the database cannot be reached or refuses the
/// statement, or when it takes longer than the [timeout](DieselSessionStoreBuilder::timeout).
/// [`load`](SessionStore::load) answers [`LoadError::Deserialization`] for a stored state that
/// is not a JSON object of strings (actix-session then starts an empty session).
pub struct DieselSessionStore<C: Backend> {
    pool: C::Pool,
    config: Arc<Config>,
    saves: Arc<AtomicU64>,
}

impl<C: Backend> Clone for DieselSessionStore<C> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            config: Arc::clone(&self.config),
            saves: Arc::clone(&self.saves),
        }
    }
}

impl<C: Backend> fmt::Debug for DieselSessionStore<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the pool: its manager holds the database URL, password included.
        f.debug_struct("DieselSessionStore")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

struct Config {
    table: String,
    timeout: Duration,
    cleanup_every: u64,
    sql: Statements,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("table", &self.table)
            .field("timeout", &self.timeout)
            .field("cleanup_every", &self.cleanup_every)
            .finish_non_exhaustive()
    }
}

impl<C> DieselSessionStore<C>
where
    C: Backend,
    Db<C>: HasSqlType<Text> + HasSqlType<BigInt>,
    String: ToSql<Text, Db<C>> + FromSql<Text, Db<C>>,
    i64: ToSql<BigInt, Db<C>>,
{
    /// Creates this store's table (and its `expires_at` index) when it is missing, with
    /// [`sessions_sql`](super::migrations::sessions_sql). Useful with a custom table name;
    /// [`migrations::run`](super::migrations::run) already creates `imia_sessions`.
    ///
    /// # Errors
    ///
    /// When the database cannot be reached or refuses the statements.
    pub async fn create_table(&self) -> anyhow::Result<()> {
        let sql = super::migrations::sessions_sql(C::DIALECT, &self.config.table);
        self.within("create its table", async {
            let mut conn = C::checkout(&self.pool).await?;
            conn.batch_execute(&sql).await.map_err(query_error)
        })
        .await
    }

    /// Deletes the expired sessions and returns how many there were.
    ///
    /// # Errors
    ///
    /// When the database cannot be reached or refuses the statement.
    pub async fn delete_expired(&self) -> anyhow::Result<u64> {
        let now = unix_now();
        let deleted = self
            .within("delete expired sessions", async {
                let mut conn = C::checkout(&self.pool).await?;
                self.config
                    .sql
                    .purge
                    .with(vec![Bind::Int(now)])
                    .execute(&mut *conn)
                    .await
                    .map_err(query_error)
            })
            .await?;
        Ok(u64::try_from(deleted).unwrap_or(u64::MAX))
    }

    /// Runs one database operation under the timeout, turning its failure into an error that
    /// names the operation (and logging it: actix-session answers an opaque 500).
    async fn within<T>(
        &self,
        op: &'static str,
        work: impl Future<Output = Result<T, ProviderError>>,
    ) -> anyhow::Result<T> {
        let work = async {
            work.await.map_err(|err| match err {
                ProviderError::Unavailable(source) | ProviderError::Backend(source) => {
                    anyhow::Error::from_boxed(source).context(format!("the session store could not {op}"))
                }
                other => anyhow::Error::new(other).context(format!("the session store could not {op}")),
            })
        };
        let result = deadline::within(self.config.timeout, work, |elapsed| {
            anyhow::Error::new(elapsed).context(format!(
                "the session store could not {op} within {:?}",
                self.config.timeout
            ))
        })
        .await;
        if let Err(err) = &result {
            tracing::error!(table = %self.config.table, error.display = %format!("{err:#}"), "session store failure");
        }
        result
    }

    /// An index operation under the timeout: a late one is [`ProviderError::Unavailable`].
    async fn index_op<T>(
        &self,
        op: &'static str,
        work: impl Future<Output = Result<T, ProviderError>>,
    ) -> Result<T, ProviderError> {
        let result = deadline::within(self.config.timeout, work, |elapsed| {
            ProviderError::Unavailable(Box::new(elapsed))
        })
        .await;
        if let Err(err) = &result {
            tracing::error!(table = %self.config.table, op, error.display = %err, "session index failure");
        }
        result
    }

    /// Inserts a new session and returns its key.
    async fn insert(&self, state: &HashMap<String, String>, ttl: &Ttl) -> anyhow::Result<SessionKey> {
        let key = generate_session_key();
        let (hash, body, expires) = (hash_token(key.as_ref()), json::encode(state), expiry(ttl));
        let mut binds = vec![Bind::Text(hash), Bind::Text(body), Bind::Int(expires)];
        binds.extend(index_binds(state));
        self.within("save a session", async {
            let mut conn = C::checkout(&self.pool).await?;
            (self.config.sql.insert)
                .with(binds)
                .execute(&mut *conn)
                .await
                .map_err(query_error)
        })
        .await?;
        self.maybe_clean_up().await;
        Ok(key)
    }

    /// Every `cleanup_every`th save, deletes the expired rows; a failure is only logged.
    async fn maybe_clean_up(&self) {
        let every = self.config.cleanup_every;
        if every == 0 || !(self.saves.fetch_add(1, Ordering::Relaxed) + 1).is_multiple_of(every) {
            return;
        }
        match self.delete_expired().await {
            Ok(deleted) => tracing::debug!(table = %self.config.table, deleted, "deleted expired sessions"),
            Err(err) => tracing::warn!(
                table = %self.config.table,
                error.display = %format!("{err:#}"),
                "could not delete expired sessions; the request goes on"
            ),
        }
    }
}

impl<C> SessionStore for DieselSessionStore<C>
where
    C: Backend,
    Db<C>: HasSqlType<Text> + HasSqlType<BigInt>,
    String: ToSql<Text, Db<C>> + FromSql<Text, Db<C>>,
    i64: ToSql<BigInt, Db<C>>,
{
    async fn load(&self, session_key: &SessionKey) -> Result<Option<HashMap<String, String>>, LoadError> {
        let key = session_key.as_ref();
        if !is_well_formed(key) {
            return Ok(None);
        }
        let (hash, now) = (hash_token(key), unix_now());
        let rows = self
            .within("load a session", async {
                let mut conn = C::checkout(&self.pool).await?;
                (self.config.sql.load)
                    .with(vec![Bind::Text(hash), Bind::Int(now)])
                    .load::<StateRow>(&mut *conn)
                    .await
                    .map_err(query_error)
            })
            .await
            .map_err(LoadError::Other)?;
        match rows.into_iter().next() {
            None => Ok(None),
            Some(row) => json::decode(&row.state).map(Some).map_err(|err| {
                LoadError::Deserialization(anyhow::Error::new(err).context("unreadable session state in the store"))
            }),
        }
    }

    async fn save(&self, session_state: HashMap<String, String>, ttl: &Ttl) -> Result<SessionKey, SaveError> {
        self.insert(&session_state, ttl).await.map_err(SaveError::Other)
    }

    async fn update(
        &self,
        session_key: SessionKey,
        session_state: HashMap<String, String>,
        ttl: &Ttl,
    ) -> Result<SessionKey, UpdateError> {
        let (hash, body, expires, now) = (
            hash_token(session_key.as_ref()),
            json::encode(&session_state),
            expiry(ttl),
            unix_now(),
        );
        let mut binds = vec![Bind::Text(body), Bind::Int(expires)];
        binds.extend(index_binds(&session_state));
        binds.extend([Bind::Text(hash), Bind::Int(now)]);
        let updated = self
            .within("update a session", async {
                let mut conn = C::checkout(&self.pool).await?;
                (self.config.sql.update)
                    .with(binds)
                    .execute(&mut *conn)
                    .await
                    .map_err(query_error)
            })
            .await
            .map_err(UpdateError::Other)?;
        if updated > 0 {
            return Ok(session_key);
        }
        // The session ended during this request (a logout purged it, or it expired). Never
        // re-create it, and never carry its login into the new one.
        let before = session_state.len();
        let state: HashMap<String, String> = session_state
            .into_iter()
            .filter(|(name, _)| !is_auth_key(name))
            .collect();
        tracing::info!(
            table = %self.config.table,
            dropped_auth_keys = before - state.len(),
            "the session ended during the request; its other changes go to a new session, without the login"
        );
        self.insert(&state, ttl).await.map_err(UpdateError::Other)
    }

    async fn update_ttl(&self, session_key: &SessionKey, ttl: &Ttl) -> anyhow::Result<()> {
        let (hash, expires, now) = (hash_token(session_key.as_ref()), expiry(ttl), unix_now());
        self.within("extend a session", async {
            let mut conn = C::checkout(&self.pool).await?;
            (self.config.sql.touch)
                .with(vec![Bind::Int(expires), Bind::Text(hash), Bind::Int(now)])
                .execute(&mut *conn)
                .await
                .map_err(query_error)
        })
        .await
        .map(drop)
    }

    async fn delete(&self, session_key: &SessionKey) -> anyhow::Result<()> {
        let hash = hash_token(session_key.as_ref());
        self.within("delete a session", async {
            let mut conn = C::checkout(&self.pool).await?;
            self.config
                .sql
                .delete
                .with(vec![Bind::Text(hash)])
                .execute(&mut *conn)
                .await
                .map_err(query_error)
        })
        .await
        .map(drop)
    }
}

/// The per-user index columns of a session state: the login's user id, handle, login time, last
/// use, address and user agent; empty for a session without a login.
fn index_binds(state: &HashMap<String, String>) -> [Bind; 6] {
    match index_entry(state) {
        Some(entry) => [
            Bind::Text(entry.user_id),
            Bind::Text(entry.meta.handle),
            Bind::Int(entry.meta.created_at),
            Bind::Int(entry.last_seen_at),
            Bind::Text(entry.meta.ip.unwrap_or_default()),
            Bind::Text(entry.meta.user_agent.unwrap_or_default()),
        ],
        None => [
            Bind::Text(String::new()),
            Bind::Text(String::new()),
            Bind::Int(0),
            Bind::Int(0),
            Bind::Text(String::new()),
            Bind::Text(String::new()),
        ],
    }
}

/// The per-user index lives in the session table: the login columns of each row.
impl<C> SessionIndex for DieselSessionStore<C>
where
    C: Backend,
    Db<C>: HasSqlType<Text> + HasSqlType<BigInt>,
    String: ToSql<Text, Db<C>> + FromSql<Text, Db<C>>,
    i64: ToSql<BigInt, Db<C>> + FromSql<BigInt, Db<C>>,
{
    async fn sessions(&self, user_id: &str) -> Result<Vec<SessionInfo>, ProviderError> {
        let binds = vec![Bind::Text(user_id.to_owned()), Bind::Int(unix_now())];
        let rows = self
            .index_op("list sessions", async {
                let mut conn = C::checkout(&self.pool).await?;
                (self.config.sql.list)
                    .with(binds)
                    .load::<IndexRow>(&mut *conn)
                    .await
                    .map_err(query_error)
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                SessionInfo::new(row.handle, row.created_at / 1000, row.last_seen_at / 1000)
                    .ip(Some(row.ip))
                    .user_agent(Some(row.user_agent))
            })
            .collect())
    }

    async fn end_session(&self, user_id: &str, id: &str) -> Result<bool, ProviderError> {
        if !is_handle(id) || user_id.is_empty() {
            return Ok(false);
        }
        let binds = vec![Bind::Text(user_id.to_owned()), Bind::Text(id.to_owned())];
        let deleted = self
            .index_op("end a session", async {
                let mut conn = C::checkout(&self.pool).await?;
                (self.config.sql.end_one)
                    .with(binds)
                    .execute(&mut *conn)
                    .await
                    .map_err(query_error)
            })
            .await?;
        Ok(deleted > 0)
    }

    async fn end_sessions(&self, user_id: &str, except: Option<&str>) -> Result<u64, ProviderError> {
        if user_id.is_empty() {
            return Ok(0);
        }
        let binds = vec![
            Bind::Text(user_id.to_owned()),
            Bind::Text(except.unwrap_or_default().to_owned()),
        ];
        let deleted = self
            .index_op("end sessions", async {
                let mut conn = C::checkout(&self.pool).await?;
                (self.config.sql.end_others)
                    .with(binds)
                    .execute(&mut *conn)
                    .await
                    .map_err(query_error)
            })
            .await?;
        Ok(u64::try_from(deleted).unwrap_or(u64::MAX))
    }
}

/// Whether `key` looks like a key this store issues: 64 ASCII letters and digits.
fn is_well_formed(key: &str) -> bool {
    key.len() == 64 && key.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// When a session written now with `ttl` expires, in Unix seconds.
fn expiry(ttl: &Ttl) -> i64 {
    unix_now().saturating_add(ttl.whole_seconds())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_issued_keys_are_well_formed() {
        assert!(is_well_formed(generate_session_key().as_ref()));
        assert!(!is_well_formed(""));
        assert!(!is_well_formed(&"a".repeat(63)));
        assert!(!is_well_formed(&"a".repeat(65)));
        assert!(!is_well_formed(&format!("{}-", "a".repeat(63))));
        assert!(!is_well_formed(&format!("{}é", "a".repeat(62))));
    }

    #[test]
    fn auth_keys_are_recognised() {
        for name in [
            "_auth_user_id",
            "_auth_user_hash",
            "_auth_anything",
            "_impersonator",
            "_impersonated_id",
        ] {
            assert!(is_auth_key(name), "{name}");
        }
        for name in [
            "auth_user_id",
            "cart",
            "_csrf",
            "user_id",
            "impersonator",
            "x_auth_user_id",
        ] {
            assert!(!is_auth_key(name), "{name}");
        }
    }

    #[test]
    fn expiry_saturates() {
        assert_eq!(expiry(&Ttl::MAX), i64::MAX);
        assert!(expiry(&Ttl::MIN) < 0);
        let now = unix_now();
        assert!((now + 59..=now + 61).contains(&expiry(&Ttl::seconds(60))));
    }
}
