//! A login throttle in a database table, shared by every server on the database.

use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use ::diesel::{
    QueryableByName,
    deserialize::FromSql,
    result::{DatabaseErrorKind, Error as DieselError},
    serialize::ToSql,
    sql_types::{BigInt, HasSqlType, Text},
};
use diesel_async::RunQueryDsl as _;

mod rules;

use self::rules::{Entries, apply};
use super::{
    connection::{Backend, Dialect, query_error},
    statement::Statement,
};
use crate::{
    SecretKey, deadline,
    error::{ConfigError, ProviderError},
    throttle::{
        Attempt, LoginThrottle, ThrottlePolicy,
        shared::{Counter, KeyMaker, millis, now_millis},
    },
};

type Db<C> = <C as diesel_async::AsyncConnectionCore>::Backend;

/// The table [`migrations::run`](super::migrations::run) creates for the throttle.
pub(crate) const DEFAULT_TABLE: &str = "imia_login_throttle";

/// How many times a transaction that lost a deadlock is tried in all.
const TRIES: usize = 3;

/// A [`LoginThrottle`] counting in a database table, so that every server on the database
/// shares one count: the same [`ThrottlePolicy`], and the same verdicts, as
/// [`InMemoryThrottle`](crate::throttle::InMemoryThrottle), and attempts in flight count too
/// (see [the throttle module](crate::throttle#which-throttle)). SQLite, PostgreSQL, MySQL and
/// MariaDB, through the same [`Pool`](super::Pool) as the provider.
///
/// - **Table.** One row per username and per address (by default `imia_login_throttle`,
///   created by [`migrations::run`](super::migrations::run),
///   [`throttle_sql`](super::migrations::throttle_sql) or [`create_table`](Self::create_table)):
///   `key_hash VARCHAR(64) PRIMARY KEY`, `failures` and `pending` (the times of the recent
///   failures and of the attempts in flight, comma-separated Unix milliseconds), `expires_at
///   BIGINT` (Unix milliseconds after which the row holds nothing), indexed.
/// - **Keys.** `key_hash` is an HMAC of the lower-cased username (or of the address) under a
///   key derived from the app's [`SecretKey`]: the table never holds a username as typed, which
///   may be a password typed into the wrong field. Give every server the same secret, or they
///   count apart.
/// - **Atomic.** Each operation is one transaction that first locks the rows it counts on (an
///   upsert: `INSERT ... ON CONFLICT DO UPDATE` on PostgreSQL, `ON DUPLICATE KEY UPDATE` on
///   MySQL; SQLite's `BEGIN IMMEDIATE` takes the database's write lock), in the order of their
///   keys. Parallel attempts on several servers are therefore counted one by one, and never get
///   more than `max` through a window. A transaction that loses a deadlock is tried again.
/// - **Expiry.** A row whose entries have all expired is deleted when next touched; one write in
///   256 (see [`cleanup_every`](Self::cleanup_every)) also deletes every expired row, and
///   [`purge_expired`](Self::purge_expired) does it on demand.
/// - **Failures.** An unreachable database, a pool timeout, lock contention past the database's
///   own wait, or an operation slower than the [timeout](Self::timeout) (10 seconds by default)
///   is [`ProviderError::Unavailable`]: the login answers 503 instead of checking the password.
///   An operation abandoned at its timeout takes its connection out of the pool, so that its
///   locks end with it.
/// - **Clock.** Times come from each server's clock: keep the servers' clocks synchronised.
///
/// # Examples
///
/// ```no_run
/// # #[cfg(feature = "postgres")] {
/// use std::{sync::Arc, time::Duration};
/// use diesel_async::AsyncPgConnection;
/// use imia::{
///     SecretKey,
///     diesel::{DieselThrottle, PoolOptions, migrations, postgres_pool},
///     throttle::ThrottlePolicy,
/// };
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let secret = SecretKey::from_base64(&std::env::var("IMIA_SECRET_KEY")?)?;
/// let pool = postgres_pool("postgres://app@db.internal/app", &PoolOptions::default())?;
/// migrations::run(&pool).await?; // creates imia_login_throttle, among others
/// let policy = ThrottlePolicy::new()
///     .per_username(10, Duration::from_secs(300))
///     .per_address(100, Duration::from_secs(300));
/// let throttle = Arc::new(DieselThrottle::<AsyncPgConnection>::new(pool, &secret, policy));
/// // LoginManager::builder(..).throttle(Arc::clone(&throttle)), BasicAuthenticator::throttle(throttle)
/// # let _ = throttle;
/// # Ok(())
/// # }
/// # }
/// ```
pub struct DieselThrottle<C: Backend> {
    pool: C::Pool,
    keys: KeyMaker,
    policy: ThrottlePolicy,
    config: Arc<Config>,
    writes: Arc<AtomicU64>,
}

struct Config {
    table: String,
    timeout: Duration,
    cleanup_every: u64,
}

impl<C: Backend> Clone for DieselThrottle<C> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            keys: self.keys.clone(),
            policy: self.policy,
            config: Arc::clone(&self.config),
            writes: Arc::clone(&self.writes),
        }
    }
}

impl<C: Backend> fmt::Debug for DieselThrottle<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the pool: its manager holds the database URL, password included.
        f.debug_struct("DieselThrottle")
            .field("policy", &self.policy)
            .field("table", &self.config.table)
            .field("timeout", &self.config.timeout)
            .field("cleanup_every", &self.config.cleanup_every)
            .finish_non_exhaustive()
    }
}

impl<C: Backend> DieselThrottle<C> {
    /// A throttle applying `policy`, counting in `imia_login_throttle` under keys made with
    /// `secret` (the app's key: the same on every server), each operation limited to 10 seconds.
    pub fn new(pool: C::Pool, secret: &SecretKey, policy: ThrottlePolicy) -> Self {
        Self {
            pool,
            keys: KeyMaker::new(secret),
            policy,
            config: Arc::new(Config {
                table: DEFAULT_TABLE.to_owned(),
                timeout: Duration::from_secs(10),
                cleanup_every: 256,
            }),
            writes: Arc::default(),
        }
    }

    fn configure(mut self, change: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config {
            table: self.config.table.clone(),
            timeout: self.config.timeout,
            cleanup_every: self.config.cleanup_every,
        };
        change(&mut config);
        self.config = Arc::new(config);
        self
    }

    /// Counts in another table (a plain identifier, optionally `schema.table`; create it with
    /// [`create_table`](Self::create_table) or
    /// [`throttle_sql`](super::migrations::throttle_sql)).
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidIdentifier`] when `table` is not a plain identifier.
    pub fn table(self, table: &str) -> Result<Self, ConfigError> {
        super::provider::check_identifier("table", table)?;
        Ok(self.configure(|config| config.table = table.to_owned()))
    }

    /// The longest an operation may take, checkout included (default 10 seconds); a slower one
    /// fails as [`ProviderError::Unavailable`].
    #[must_use]
    pub fn timeout(self, timeout: Duration) -> Self {
        self.configure(|config| config.timeout = timeout)
    }

    /// Every `writes`th write (of this throttle and its clones) also deletes the expired rows
    /// (default 256; 0: never, call [`purge_expired`](Self::purge_expired) yourself).
    #[must_use]
    pub fn cleanup_every(self, writes: u64) -> Self {
        self.configure(|config| config.cleanup_every = writes)
    }

    /// The limits it applies.
    pub fn policy(&self) -> &ThrottlePolicy {
        &self.policy
    }

    async fn within<T>(&self, work: impl Future<Output = Result<T, ProviderError>>) -> Result<T, ProviderError> {
        deadline::within(self.config.timeout, work, ProviderError::unavailable).await
    }
}

/// One row of the throttle table.
#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    key_hash: String,
    #[diesel(sql_type = Text)]
    failures: String,
    #[diesel(sql_type = Text)]
    pending: String,
    #[diesel(sql_type = BigInt)]
    expires_at: i64,
}

/// What an operation asks of the rows it locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    Allow,
    Failed,
    Succeeded,
    Abandoned,
}

impl<C> DieselThrottle<C>
where
    C: Backend,
    Db<C>: HasSqlType<Text> + HasSqlType<BigInt>,
    String: ToSql<Text, Db<C>> + FromSql<Text, Db<C>>,
    i64: ToSql<BigInt, Db<C>> + FromSql<BigInt, Db<C>>,
{
    /// Creates this throttle's table (and its `expires_at` index) when it is missing, with
    /// [`throttle_sql`](super::migrations::throttle_sql). Useful with a custom table name;
    /// [`migrations::run`](super::migrations::run) already creates `imia_login_throttle`.
    ///
    /// # Errors
    ///
    /// When the database cannot be reached or refuses the statements.
    pub async fn create_table(&self) -> Result<(), ProviderError> {
        let sql = super::migrations::throttle_sql(C::DIALECT, &self.config.table);
        self.within(async {
            let mut conn = C::checkout(&self.pool).await?;
            diesel_async::SimpleAsyncConnection::batch_execute(&mut *conn, &sql)
                .await
                .map_err(query_error)
        })
        .await
    }

    /// Deletes the rows whose failures and attempts in flight have all expired, and returns
    /// how many there were.
    ///
    /// ```no_run
    /// # #[cfg(feature = "sqlite")] {
    /// use imia::{SecretKey, diesel::{DieselThrottle, PoolOptions, SqliteConnection, sqlite_pool}, throttle::ThrottlePolicy};
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    /// let pool = sqlite_pool("app.sqlite3", &PoolOptions::default())?;
    /// let throttle = DieselThrottle::<SqliteConnection>::new(pool, &SecretKey::generate(), ThrottlePolicy::new());
    /// let deleted = throttle.purge_expired().await?; // from a periodic task, say
    /// # let _ = deleted;
    /// # Ok(())
    /// # }
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// When the database cannot be reached or refuses the statement.
    pub async fn purge_expired(&self) -> Result<u64, ProviderError> {
        let statement = Statement::default()
            .sql(format!("DELETE FROM {} WHERE expires_at <= ", self.config.table))
            .integer(now_millis());
        let deleted = self
            .within(async {
                let mut conn = C::checkout(&self.pool).await?;
                C::execute(&mut conn, statement).await.map_err(query_error)
            })
            .await?;
        Ok(u64::try_from(deleted).unwrap_or(u64::MAX))
    }

    /// Runs `op` for the counters of `attempt`; for [`Op::Allow`], whether it is allowed.
    ///
    /// On an actix runtime the operation runs in a task of its own, to completion even when the
    /// request that asked is cancelled (its client went away): an SQLite operation dropped
    /// half-way panics in diesel-async's sync wrapper, and a place `allow` took for a request
    /// that never hears of it is given back at once instead of lapsing.
    async fn run(&self, op: Op, attempt: Attempt<'_>) -> Result<bool, ProviderError> {
        let counters = self.keys.counters(&self.policy, attempt);
        if counters.is_empty() {
            return Ok(true);
        }
        if actix_rt::System::try_current().is_none() {
            return self.run_counters(op, &counters).await;
        }
        let this = self.clone();
        let (answer, asked) = tokio::sync::oneshot::channel();
        actix_rt::spawn(async move {
            let result = this.run_counters(op, &counters).await;
            if let Err(Ok(true)) = answer.send(result)
                && op == Op::Allow
                && let Err(err) = this.run_counters(Op::Abandoned, &counters).await
            {
                tracing::warn!(error.display = %err, "could not give a cancelled attempt's place back; it lapses");
            }
        });
        asked
            .await
            .unwrap_or_else(|_| Err(ProviderError::unavailable("the login throttle's task ended")))
    }

    /// Runs `op` for `counters` in the database.
    async fn run_counters(&self, op: Op, counters: &[Counter]) -> Result<bool, ProviderError> {
        let counters = counters.to_vec();
        let now = now_millis();
        let (allowed, wrote) = self
            .within(async {
                let mut conn = Held::<C>::new(C::checkout(&self.pool).await?);
                let mut tries = 0;
                loop {
                    tries += 1;
                    match self.transaction(&mut conn, op, &counters, now).await {
                        Err(err) if tries < TRIES && lost_a_deadlock(&err) => {
                            tracing::debug!(table = %self.config.table, "login throttle: a deadlock, trying again");
                        }
                        other => break other.map_err(throttle_error),
                    }
                }
            })
            .await?;
        if wrote {
            self.maybe_clean_up().await;
        }
        Ok(allowed)
    }

    /// One try of `op` in a transaction: `(allowed, wrote)`.
    async fn transaction(
        &self,
        conn: &mut Held<C>,
        op: Op,
        counters: &[Counter],
        now: i64,
    ) -> Result<(bool, bool), DieselError> {
        C::begin_write(conn.connection()).await?;
        conn.open = true;
        let result = self.locked(conn.connection(), op, counters, now).await;
        type Tm<C> = <C as diesel_async::AsyncConnection>::TransactionManager;
        let ended = if result.is_ok() {
            <Tm<C> as diesel_async::TransactionManager<C>>::commit_transaction(conn.connection()).await
        } else {
            <Tm<C> as diesel_async::TransactionManager<C>>::rollback_transaction(conn.connection()).await
        };
        // A connection whose transaction could not end is dropped by the pool at its next
        // checkout (its transaction manager reports it broken).
        conn.open = false;
        let outcome = result?;
        ended?;
        Ok(outcome)
    }

    /// Inside the transaction: locks the counters' rows, reads them, writes what changed.
    async fn locked(&self, conn: &mut C, op: Op, counters: &[Counter], now: i64) -> Result<(bool, bool), DieselError> {
        let table = &self.config.table;
        for counter in counters {
            let lock = match C::DIALECT {
                Dialect::Postgres => Statement::default()
                    .sql(format!(
                        "INSERT INTO {table} AS t (key_hash, failures, pending, expires_at) VALUES ("
                    ))
                    .text(counter.key.clone())
                    .sql(", '', '', 0) ON CONFLICT (key_hash) DO UPDATE SET expires_at = t.expires_at"),
                Dialect::Mysql => Statement::default()
                    .sql(format!(
                        "INSERT INTO {table} (key_hash, failures, pending, expires_at) VALUES ("
                    ))
                    .text(counter.key.clone())
                    .sql(", '', '', 0) ON DUPLICATE KEY UPDATE expires_at = expires_at"),
                // The transaction holds the database's write lock already.
                Dialect::Sqlite => Statement::default()
                    .sql(format!(
                        "INSERT INTO {table} (key_hash, failures, pending, expires_at) VALUES ("
                    ))
                    .text(counter.key.clone())
                    .sql(", '', '', 0) ON CONFLICT (key_hash) DO NOTHING"),
            };
            C::execute(conn, lock).await?;
        }
        let mut select = Statement::default().sql(format!(
            "SELECT key_hash, failures, pending, expires_at FROM {table} WHERE key_hash IN ("
        ));
        for (i, counter) in counters.iter().enumerate() {
            select = select.sql(if i == 0 { "" } else { ", " }).text(counter.key.clone());
        }
        select = select.sql(if C::DIALECT == Dialect::Sqlite {
            ")"
        } else {
            ") FOR UPDATE"
        });
        let rows: Vec<Row> = select.load::<Row>(conn).await?;

        let in_flight = millis(self.policy.in_flight_timeout());
        let mut before = Vec::with_capacity(counters.len());
        let mut entries = Vec::with_capacity(counters.len());
        for counter in counters {
            let row = rows.iter().find(|row| row.key_hash == counter.key);
            let stored = row.map_or_else(Entries::default, |row| Entries::parse(&row.failures, &row.pending));
            before.push((stored.clone(), row.map_or(0, |row| row.expires_at)));
            entries.push(stored);
        }
        let allowed = apply(op, counters, &mut entries, now, in_flight);
        let mut wrote = false;
        for ((counter, after), (stored, expires_at)) in counters.iter().zip(&entries).zip(&before) {
            let new_expiry = after.expires_at(counter.window, in_flight);
            let write = if after.is_empty() {
                Statement::default()
                    .sql(format!("DELETE FROM {table} WHERE key_hash = "))
                    .text(counter.key.clone())
            } else if after != stored || new_expiry != *expires_at {
                Statement::default()
                    .sql(format!("UPDATE {table} SET failures = "))
                    .text(after.failures_text())
                    .sql(", pending = ")
                    .text(after.pending_text())
                    .sql(", expires_at = ")
                    .integer(new_expiry)
                    .sql(" WHERE key_hash = ")
                    .text(counter.key.clone())
            } else {
                continue;
            };
            C::execute(conn, write).await?;
            wrote = true;
        }
        Ok((allowed, wrote))
    }

    /// Every `cleanup_every`th write, deletes the expired rows; a failure is only logged.
    async fn maybe_clean_up(&self) {
        let every = self.config.cleanup_every;
        if every == 0 || !(self.writes.fetch_add(1, Ordering::Relaxed) + 1).is_multiple_of(every) {
            return;
        }
        match self.purge_expired().await {
            Ok(deleted) => tracing::debug!(table = %self.config.table, deleted, "deleted expired login throttle rows"),
            Err(err) => tracing::warn!(
                table = %self.config.table,
                error.display = %err,
                "could not delete expired login throttle rows; the request goes on"
            ),
        }
    }
}

impl<C> LoginThrottle for DieselThrottle<C>
where
    C: Backend,
    Db<C>: HasSqlType<Text> + HasSqlType<BigInt>,
    String: ToSql<Text, Db<C>> + FromSql<Text, Db<C>>,
    i64: ToSql<BigInt, Db<C>> + FromSql<BigInt, Db<C>>,
{
    async fn allow(&self, attempt: Attempt<'_>) -> Result<bool, ProviderError> {
        self.run(Op::Allow, attempt).await
    }

    async fn failed(&self, attempt: Attempt<'_>) -> Result<(), ProviderError> {
        self.run(Op::Failed, attempt).await.map(drop)
    }

    async fn succeeded(&self, attempt: Attempt<'_>) -> Result<(), ProviderError> {
        self.run(Op::Succeeded, attempt).await.map(drop)
    }

    async fn abandoned(&self, attempt: Attempt<'_>) -> Result<(), ProviderError> {
        self.run(Op::Abandoned, attempt).await.map(drop)
    }
}

/// A pooled connection that, dropped inside a transaction (its operation timed out), leaves
/// the pool for good: closing it ends the transaction and its locks at once, where back in the
/// pool it would hold them until its next checkout.
struct Held<C: Backend> {
    guard: Option<C::Guard>,
    open: bool,
}

impl<C: Backend> Held<C> {
    fn new(guard: C::Guard) -> Self {
        Self {
            guard: Some(guard),
            open: false,
        }
    }

    fn connection(&mut self) -> &mut C {
        self.guard.as_mut().expect("held until dropped")
    }
}

impl<C: Backend> Drop for Held<C> {
    fn drop(&mut self) {
        if let (true, Some(guard)) = (self.open, self.guard.take()) {
            tracing::warn!("login throttle: a transaction was abandoned; closing its connection");
            C::discard(guard);
        }
    }
}

/// Whether the database chose this transaction as a deadlock's victim (worth another try).
fn lost_a_deadlock(err: &DieselError) -> bool {
    match err {
        DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => true,
        DieselError::DatabaseError(_, info) => info.message().to_ascii_lowercase().contains("deadlock"),
        _ => false,
    }
}

/// Lock contention the database gave up on is the store being unavailable now; anything else
/// maps as for every Diesel store.
fn throttle_error(err: DieselError) -> ProviderError {
    let contended = match &err {
        DieselError::DatabaseError(_, info) => {
            let message = info.message().to_ascii_lowercase();
            ["deadlock", "database is locked", "lock wait timeout", "lock timeout"]
                .iter()
                .any(|m| message.contains(m))
        }
        _ => false,
    } || lost_a_deadlock(&err);
    if contended {
        ProviderError::unavailable(err)
    } else {
        query_error(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlocks_are_tried_again_and_contention_is_unavailable() {
        #[derive(Debug)]
        struct Message(&'static str);
        impl ::diesel::result::DatabaseErrorInformation for Message {
            fn message(&self) -> &str {
                self.0
            }
            fn details(&self) -> Option<&str> {
                None
            }
            fn hint(&self) -> Option<&str> {
                None
            }
            fn table_name(&self) -> Option<&str> {
                None
            }
            fn column_name(&self) -> Option<&str> {
                None
            }
            fn constraint_name(&self) -> Option<&str> {
                None
            }
            fn statement_position(&self) -> Option<i32> {
                None
            }
        }
        let db = |kind, message| DieselError::DatabaseError(kind, Box::new(Message(message)));
        let deadlock = db(
            DatabaseErrorKind::Unknown,
            "Deadlock found when trying to get lock; try restarting transaction",
        );
        assert!(lost_a_deadlock(&deadlock));
        assert!(lost_a_deadlock(&db(
            DatabaseErrorKind::SerializationFailure,
            "could not serialize"
        )));
        let locked = db(DatabaseErrorKind::Unknown, "database is locked");
        assert!(!lost_a_deadlock(&locked));
        for err in [deadlock, locked] {
            assert!(matches!(throttle_error(err), ProviderError::Unavailable(_)));
        }
        let syntax = db(DatabaseErrorKind::Unknown, "syntax error");
        assert!(matches!(throttle_error(syntax), ProviderError::Backend(_)));
    }
}
