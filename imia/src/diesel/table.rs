//! The table behind one of imia's Diesel stores: the pool it is reached through, its name, and
//! the deadline on each operation.

use std::{fmt, sync::Arc, time::Duration};

use ::diesel::result::Error as DieselError;
use diesel_async::{RunQueryDsl as _, methods::LoadQuery};

use super::{
    connection::{Backend, query_error},
    statement::Statement,
};
use crate::{
    deadline,
    error::{ConfigError, ProviderError},
};

/// The plumbing a Diesel store shares with the others: where its table is, and how a statement
/// reaches it.
///
/// Each operation takes a connection from the pool for itself. [`execute`](Self::execute) and
/// [`load`](Self::load) run under the table's deadline (10 seconds, checkout included); a store
/// that puts several steps under one deadline wraps them in [`within`](Self::within) and uses
/// the `_now` variants inside. A late operation, a pool timeout or a lost connection is
/// [`ProviderError::Unavailable`], another query failure [`ProviderError::Backend`]
/// (see [`query_error`]).
///
/// The name is a checked identifier (see [`named`](Self::named)), so stores write it into their
/// SQL as it is; values always go in as bound parameters of a [`Statement`].
pub(crate) struct Table<C: Backend> {
    pool: C::Pool,
    name: Arc<str>,
    timeout: Duration,
}

impl<C: Backend> Clone for Table<C> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            name: Arc::clone(&self.name),
            timeout: self.timeout,
        }
    }
}

/// The name and the timeout; not the pool, whose manager holds the database URL, password
/// included.
impl<C: Backend> fmt::Debug for Table<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.debug_struct(f, "Table").finish_non_exhaustive()
    }
}

impl<C: Backend> Table<C> {
    /// The table `default_name`, which the caller vouches for (a constant, created by
    /// [`migrations::run`](super::migrations::run)), each operation limited to 10 seconds.
    pub(crate) fn new(pool: C::Pool, default_name: &str) -> Self {
        Self {
            pool,
            name: default_name.into(),
            timeout: Duration::from_secs(10),
        }
    }

    /// The table `name`, each operation limited to 10 seconds.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidIdentifier`] (naming a `table`) when `name` is not a plain
    /// identifier (optionally `schema.table`).
    pub(crate) fn named(pool: C::Pool, name: &str) -> Result<Self, ConfigError> {
        super::provider::check_identifier("table", name)?;
        Ok(Self::new(pool, name))
    }

    /// Its name, to write into SQL.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The pool its connections come from.
    #[allow(dead_code, reason = "for stores that take connections themselves")]
    pub(crate) fn pool(&self) -> &C::Pool {
        &self.pool
    }

    /// A [`fmt::DebugStruct`] named `store` with the fields `table` (the name) and `timeout`,
    /// for a store's `Debug`; add its own fields, then finish it (non-exhaustive: the pool is
    /// left out).
    pub(crate) fn debug_struct<'a, 'b>(&self, f: &'a mut fmt::Formatter<'b>, store: &str) -> fmt::DebugStruct<'a, 'b> {
        let mut debug = f.debug_struct(store);
        debug.field("table", &self.name).field("timeout", &self.timeout);
        debug
    }

    /// `work`'s result, or [`ProviderError::Unavailable`] once the timeout has passed (`work`
    /// is then dropped).
    pub(crate) async fn within<T>(
        &self,
        work: impl Future<Output = Result<T, ProviderError>>,
    ) -> Result<T, ProviderError> {
        deadline::within(self.timeout, work, ProviderError::unavailable).await
    }

    /// Executes `statement` on a pooled connection under the timeout, and returns the number
    /// of rows it changed.
    pub(crate) async fn execute(&self, statement: Statement) -> Result<usize, ProviderError> {
        self.within(self.execute_now(statement)).await
    }

    /// Like [`execute`](Self::execute), without a deadline of its own.
    pub(crate) async fn execute_now(&self, statement: Statement) -> Result<usize, ProviderError> {
        self.execute_raw(statement).await?.map_err(query_error)
    }

    /// Like [`execute_now`](Self::execute_now), keeping diesel's error (to tell a unique
    /// violation, say); only a failed checkout is a [`ProviderError`].
    pub(crate) async fn execute_raw(&self, statement: Statement) -> Result<Result<usize, DieselError>, ProviderError> {
        let mut conn = C::checkout(&self.pool).await?;
        Ok(C::execute(&mut conn, statement).await)
    }

    /// The rows `statement` selects, on a pooled connection under the timeout.
    pub(crate) async fn load<Row>(&self, statement: Statement) -> Result<Vec<Row>, ProviderError>
    where
        Row: Send,
        Statement: LoadQuery<'static, C, Row>,
    {
        self.within(self.load_now(statement)).await
    }

    /// Like [`load`](Self::load), without a deadline of its own.
    pub(crate) async fn load_now<Row>(&self, statement: Statement) -> Result<Vec<Row>, ProviderError>
    where
        Row: Send,
        Statement: LoadQuery<'static, C, Row>,
    {
        let mut conn = C::checkout(&self.pool).await?;
        statement.load::<Row>(&mut *conn).await.map_err(query_error)
    }
}

/// Declares a store over a [`Table`]: the struct (with the docs given), its `Clone` and `Debug`
/// (the table and the timeout, never the pool), `new(pool)` on the default table, and
/// `with_table(pool, name)` on another, created with the migration function named.
macro_rules! table_store {
    (
        $(#[$meta:meta])*
        pub struct $store:ident keeps $what:literal in $default:literal made by $sql:literal;
    ) => {
        $(#[$meta])*
        pub struct $store<C: $crate::diesel::Backend> {
            table: $crate::diesel::table::Table<C>,
        }

        impl<C: $crate::diesel::Backend> Clone for $store<C> {
            fn clone(&self) -> Self {
                Self {
                    table: self.table.clone(),
                }
            }
        }

        impl<C: $crate::diesel::Backend> ::std::fmt::Debug for $store<C> {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                self.table.debug_struct(f, stringify!($store)).finish_non_exhaustive()
            }
        }

        impl<C: $crate::diesel::Backend> $store<C> {
            #[doc = concat!($what, " in `", $default, "`, each operation limited to 10 seconds.")]
            pub fn new(pool: C::Pool) -> Self {
                Self {
                    table: $crate::diesel::table::Table::new(pool, $default),
                }
            }

            #[doc = concat!(
                $what,
                " in another table (a plain identifier; create it with [`migrations::",
                $sql,
                "`](super::migrations::",
                $sql,
                ")).\n\n# Errors\n\n[`ConfigError::InvalidIdentifier`](crate::error::ConfigError::InvalidIdentifier) \
                 when `table` is not a plain identifier."
            )]
            pub fn with_table(pool: C::Pool, table: &str) -> Result<Self, $crate::error::ConfigError> {
                Ok(Self {
                    table: $crate::diesel::table::Table::named(pool, table)?,
                })
            }
        }
    };
}

pub(crate) use table_store;
