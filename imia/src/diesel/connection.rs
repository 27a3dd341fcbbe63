//! Pools, backends and error mapping.
// With the `diesel` feature but no backend there is nothing to connect to yet.
#![cfg_attr(
    not(any(feature = "sqlite", feature = "postgres", feature = "mysql")),
    allow(unused_imports, dead_code)
)]

use std::{future::Future, ops::DerefMut, time::Duration};

use diesel_async::{
    AsyncConnection,
    pooled_connection::{AsyncDieselConnectionManager, PoolError as ManagerError, deadpool},
};

use super::statement::Statement;
use crate::error::{BoxError, ProviderError};

/// A deadpool pool of diesel-async connections.
pub type Pool<C> = deadpool::Pool<C>;

/// SQLite through diesel-async's wrapper for synchronous connections: queries run on tokio's
/// blocking threads, never on an actix worker.
#[cfg(feature = "sqlite")]
pub type SqliteConnection =
    diesel_async::sync_connection_wrapper::SyncConnectionWrapper<::diesel::sqlite::SqliteConnection>;

/// The SQL dialect of a backend, for the statements imia writes itself (migrations, the session
/// store).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Dialect {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL and MariaDB.
    Mysql,
}

impl Dialect {
    /// The placeholder for the `n`th bound parameter (from 1): `$n` for PostgreSQL, else `?`.
    #[deprecated(since = "0.2.0", note = "internal to the statements imia writes")]
    #[doc(hidden)]
    pub fn placeholder(self, n: usize) -> String {
        self.parameter(n)
    }

    /// The placeholder for the `n`th bound parameter (from 1): `$n` for PostgreSQL, else `?`.
    pub(crate) fn parameter(self, n: usize) -> String {
        match self {
            Self::Postgres => format!("${n}"),
            Self::Sqlite | Self::Mysql => "?".to_owned(),
        }
    }
}

/// A diesel-async connection type that imia supports: it knows its dialect and how to take a
/// connection from its pool.
pub trait Backend: AsyncConnection + Send + 'static {
    /// Its SQL dialect.
    const DIALECT: Dialect;
    /// The pool connections come from: [`Pool<Self>`].
    type Pool: Clone + Send + Sync + 'static;
    /// A connection taken from the pool, returned to it on drop.
    type Guard: DerefMut<Target = Self>;

    /// Takes a connection, waiting as long as the pool's timeout allows.
    fn checkout(pool: &Self::Pool) -> impl Future<Output = Result<Self::Guard, ProviderError>>;

    /// Executes a statement of imia's own, returning the number of rows changed.
    #[doc(hidden)]
    fn execute(conn: &mut Self, statement: Statement) -> impl Future<Output = ::diesel::QueryResult<usize>>;

    /// Runs a statement of imia's own that selects one integer column named `n`, and returns
    /// it (`0` for no row).
    #[doc(hidden)]
    fn count(conn: &mut Self, statement: Statement) -> impl Future<Output = ::diesel::QueryResult<i64>>;

    /// Opens a transaction that is going to write. SQLite takes its write lock at once
    /// (`BEGIN IMMEDIATE`), so that two such transactions never both read and then wait on each
    /// other to write.
    #[doc(hidden)]
    fn begin_write(conn: &mut Self) -> impl Future<Output = ::diesel::QueryResult<()>> {
        <Self::TransactionManager as diesel_async::TransactionManager<Self>>::begin_transaction(conn)
    }

    /// Takes a connection out of its pool for good, and drops (closes) it: for a connection
    /// abandoned inside a transaction, whose locks must not wait in the pool for its next
    /// checkout.
    #[doc(hidden)]
    fn discard(guard: Self::Guard) {
        drop(guard);
    }
}

/// One row of a `SELECT ... AS n` statement.
#[derive(::diesel::QueryableByName)]
struct CountRow {
    #[diesel(sql_type = ::diesel::sql_types::BigInt)]
    n: i64,
}

macro_rules! backend {
    ($(#[$cfg:meta])* $conn:ty, $dialect:expr) => {
        backend!($(#[$cfg])* $conn, $dialect, begin_default);
    };
    ($(#[$cfg:meta])* $conn:ty, $dialect:expr, $begin:ident) => {
        $(#[$cfg])*
        impl Backend for $conn {
            const DIALECT: Dialect = $dialect;
            type Pool = Pool<$conn>;
            type Guard = deadpool::Object<$conn>;

            async fn checkout(pool: &Self::Pool) -> Result<Self::Guard, ProviderError> {
                pool.get().await.map_err(pool_error)
            }

            async fn execute(conn: &mut Self, statement: Statement) -> ::diesel::QueryResult<usize> {
                diesel_async::RunQueryDsl::execute(statement, conn).await
            }

            async fn count(conn: &mut Self, statement: Statement) -> ::diesel::QueryResult<i64> {
                let rows: Vec<CountRow> = diesel_async::RunQueryDsl::load(statement, conn).await?;
                Ok(rows.first().map_or(0, |row| row.n))
            }

            async fn begin_write(conn: &mut Self) -> ::diesel::QueryResult<()> {
                $begin(conn).await
            }

            fn discard(guard: Self::Guard) {
                drop(deadpool::Object::take(guard));
            }
        }
    };
}

/// `BEGIN`, through the connection's transaction manager.
#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
async fn begin_default<C: AsyncConnection>(conn: &mut C) -> ::diesel::QueryResult<()> {
    <C::TransactionManager as diesel_async::TransactionManager<C>>::begin_transaction(conn).await
}

/// `BEGIN IMMEDIATE`, through the transaction manager of the SQLite connection inside.
#[cfg(feature = "sqlite")]
async fn begin_immediate(conn: &mut SqliteConnection) -> ::diesel::QueryResult<()> {
    conn.spawn_blocking(|inner| {
        ::diesel::connection::AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")
    })
    .await
}

backend!(
    #[cfg(feature = "sqlite")]
    SqliteConnection,
    Dialect::Sqlite,
    begin_immediate
);
backend!(
    #[cfg(feature = "postgres")]
    diesel_async::AsyncPgConnection,
    Dialect::Postgres
);
backend!(
    #[cfg(feature = "mysql")]
    diesel_async::AsyncMysqlConnection,
    Dialect::Mysql
);

/// Pool settings. The defaults suit a small service: 8 connections, and a 5-second wait for a
/// connection before the request fails with 503.
///
/// ```
/// use std::time::Duration;
/// use imia::diesel::PoolOptions;
///
/// let options = PoolOptions { max_size: 16, wait_timeout: Duration::from_secs(2) };
/// let defaults = PoolOptions::default();
/// assert_eq!((defaults.max_size, defaults.wait_timeout), (8, Duration::from_secs(5)));
/// # let _ = options;
/// ```
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// The most connections the pool opens.
    pub max_size: usize,
    /// How long a request waits for a free connection, for a new one to open, and for a pooled
    /// one to pass its health check.
    pub wait_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_size: 8,
            wait_timeout: Duration::from_secs(5),
        }
    }
}

fn build<C>(manager: AsyncDieselConnectionManager<C>, options: &PoolOptions) -> Result<Pool<C>, BoxError>
where
    AsyncDieselConnectionManager<C>: ::deadpool::managed::Manager,
{
    Pool::builder(manager)
        .max_size(options.max_size.max(1))
        .wait_timeout(Some(options.wait_timeout))
        .create_timeout(Some(options.wait_timeout))
        // Recycling checks a pooled connection with a query: a server that went silent would
        // otherwise hold every checkout (and the pool's slot) forever.
        .recycle_timeout(Some(options.wait_timeout))
        .runtime(::deadpool::Runtime::Tokio1)
        .build()
        .map_err(Into::into)
}

/// A pool of SQLite connections to `path` (a file, created if missing, or `:memory:` for one
/// private database per connection: use `max_size = 1` then).
///
/// Each connection gets `journal_mode = WAL`, `busy_timeout = 5000` and `foreign_keys = ON`.
///
/// # Examples
///
/// ```
/// use imia::diesel::{Backend, PoolOptions, SqliteConnection, sqlite_pool};
///
/// # actix_rt::System::new().block_on(async {
/// let path = std::env::temp_dir().join(format!("imia-doc-pool-{}.sqlite3", std::process::id()));
/// let pool = sqlite_pool(path.to_str().unwrap(), &PoolOptions::default()).unwrap();
/// let conn = <SqliteConnection as Backend>::checkout(&pool).await.unwrap(); // opens the file
/// drop((conn, pool));
/// # for suffix in ["", "-wal", "-shm"] { let _ = std::fs::remove_file(format!("{}{suffix}", path.display())); }
/// # });
/// ```
///
/// # Errors
///
/// When the pool cannot be configured; connections open lazily, so a bad path shows up as
/// [`ProviderError::Unavailable`] on first use (or from [`migrations`](super::migrations)).
#[cfg(feature = "sqlite")]
pub fn sqlite_pool(path: &str, options: &PoolOptions) -> Result<Pool<SqliteConnection>, BoxError> {
    use diesel_async::{SimpleAsyncConnection as _, pooled_connection::ManagerConfig};
    use futures_util::FutureExt as _;

    let mut config = ManagerConfig::default();
    config.custom_setup = Box::new(|url| {
        let url = url.to_owned();
        async move {
            let mut conn = SqliteConnection::establish(&url).await?;
            conn.batch_execute("PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;")
                .await
                .map_err(::diesel::ConnectionError::CouldntSetupConfiguration)?;
            Ok(conn)
        }
        .boxed()
    });
    build(AsyncDieselConnectionManager::new_with_config(path, config), options)
}

/// A pool of PostgreSQL connections to `url` (`postgres://user@host:port/db`).
///
/// # Errors
///
/// When the pool cannot be configured; connections open lazily.
#[cfg(feature = "postgres")]
pub fn postgres_pool(url: &str, options: &PoolOptions) -> Result<Pool<diesel_async::AsyncPgConnection>, BoxError> {
    build(AsyncDieselConnectionManager::new(url), options)
}

/// A pool of MySQL or MariaDB connections to `url` (`mysql://user:password@host:port/db`).
///
/// # Errors
///
/// When the pool cannot be configured; connections open lazily.
#[cfg(feature = "mysql")]
pub fn mysql_pool(url: &str, options: &PoolOptions) -> Result<Pool<diesel_async::AsyncMysqlConnection>, BoxError> {
    build(AsyncDieselConnectionManager::new(url), options)
}

/// A pool failure: the database cannot be reached now.
pub(crate) fn pool_error(err: deadpool::PoolError) -> ProviderError {
    match err {
        deadpool::PoolError::Backend(ManagerError::QueryError(e)) => query_error(e),
        other => ProviderError::unavailable(other),
    }
}

/// A query failure: unavailable when the connection broke, else a backend error.
pub(crate) fn query_error(err: ::diesel::result::Error) -> ProviderError {
    use ::diesel::result::{DatabaseErrorKind, Error};
    match err {
        Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _) | Error::BrokenTransactionManager => {
            ProviderError::unavailable(err)
        }
        other => ProviderError::backend(other),
    }
}
