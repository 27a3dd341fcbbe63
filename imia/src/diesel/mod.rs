//! Diesel (diesel-async) backends: a user provider, a session store, a remember-me token store,
//! a login throttle ([`DieselThrottle`]), a second-factor store (`DieselTwoFactorStore`, feature
//! `two-factor`), a single-use link store (`DieselLinkStore`, feature `account`), and their
//! migrations.
//!
//! | feature | connection | pool helper |
//! |---|---|---|
//! | `sqlite` | [`SqliteConnection`]: diesel's SQLite behind diesel-async's sync wrapper; SQLite is compiled in | [`sqlite_pool`] |
//! | `postgres` | [`diesel_async::AsyncPgConnection`] (tokio-postgres, no libpq) | [`postgres_pool`] |
//! | `mysql` | [`diesel_async::AsyncMysqlConnection`] (mysql_async, MySQL and MariaDB) | [`mysql_pool`] |
//!
//! Connections come from a deadpool [`Pool`]: one pooled connection per lookup, never a pool
//! per request, and no blocking of actix workers (SQLite runs on tokio's blocking threads).
//! Pool timeouts and lost connections are [`ProviderError::Unavailable`](crate::error::ProviderError::Unavailable)
//! (503), query failures [`ProviderError::Backend`](crate::error::ProviderError::Backend) (500).

mod connection;
#[cfg(feature = "account")]
mod link_store;
pub mod migrations;
mod provider;
#[cfg(feature = "session")]
mod remember_store;
pub mod schema;
#[cfg(feature = "session")]
mod session_store;
mod statement;
// The plumbing the table-backed stores share; each of them needs `session`.
#[cfg(feature = "session")]
mod table;
mod throttle;
#[cfg(feature = "two-factor")]
mod two_factor_store;

#[cfg(feature = "mysql")]
pub use connection::mysql_pool;
#[cfg(feature = "postgres")]
pub use connection::postgres_pool;
pub use connection::{Backend, Dialect, Pool, PoolOptions};
#[cfg(feature = "sqlite")]
pub use connection::{SqliteConnection, sqlite_pool};
#[cfg(feature = "account")]
pub use link_store::DieselLinkStore;
pub use provider::{DieselProvider, DieselProviderBuilder, IdType};
#[cfg(feature = "session")]
pub use remember_store::DieselRememberStore;
#[cfg(feature = "session")]
pub use session_store::{DieselSessionStore, DieselSessionStoreBuilder};
pub use throttle::DieselThrottle;
#[cfg(feature = "two-factor")]
pub use two_factor_store::DieselTwoFactorStore;
