//! [`DieselSessionStoreBuilder`]: the table, the timeout and the cleanup frequency.

use std::{fmt, sync::Arc, time::Duration};

use super::{Config, DEFAULT_TABLE, DieselSessionStore, sql::Statements};
use crate::diesel::connection::Backend;

/// Builds a [`DieselSessionStore`]; every setter documents its default.
#[must_use]
pub struct DieselSessionStoreBuilder<C: Backend> {
    pool: C::Pool,
    table: String,
    timeout: Duration,
    cleanup_every: u64,
}

impl<C: Backend> fmt::Debug for DieselSessionStoreBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DieselSessionStoreBuilder")
            .field("table", &self.table)
            .field("timeout", &self.timeout)
            .field("cleanup_every", &self.cleanup_every)
            .finish_non_exhaustive()
    }
}

impl<C: Backend> DieselSessionStoreBuilder<C> {
    /// The session table: a plain SQL identifier, optionally qualified (`schema.table`).
    /// Default: `imia_sessions`.
    pub fn table(mut self, table: &str) -> Self {
        table.clone_into(&mut self.table);
        self
    }

    /// How long one operation (waiting for a connection included) may take before it fails.
    /// Default: 10 seconds.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Deletes the expired sessions once every `saves` new sessions (after the save, within
    /// the same request; a failure is logged and does not fail the request). `0` turns this
    /// off: then call [`DieselSessionStore::delete_expired`] yourself. Default: 256.
    pub fn cleanup_every(mut self, saves: u64) -> Self {
        self.cleanup_every = saves;
        self
    }

    /// Checks the table name and builds the store.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidIdentifier`](crate::error::ConfigError::InvalidIdentifier) when the
    /// table name is not a plain SQL identifier.
    pub fn build(self) -> Result<DieselSessionStore<C>, crate::error::ConfigError> {
        crate::diesel::provider::check_identifier("table", &self.table)?;
        let sql = Statements::new(C::DIALECT, &self.table);
        Ok(DieselSessionStore {
            pool: self.pool,
            config: Arc::new(Config {
                table: self.table,
                timeout: self.timeout,
                cleanup_every: self.cleanup_every,
                sql,
            }),
            saves: Arc::default(),
        })
    }
}

impl<C: Backend> DieselSessionStore<C> {
    /// A store over the `imia_sessions` table of `pool`, with the default settings.
    pub fn new(pool: C::Pool) -> Self {
        Self::builder(pool)
            .build()
            .unwrap_or_else(|_| unreachable!("the default table name is an identifier"))
    }

    /// A builder, to choose the table, the timeout and the cleanup frequency.
    pub fn builder(pool: C::Pool) -> DieselSessionStoreBuilder<C> {
        DieselSessionStoreBuilder {
            pool,
            table: DEFAULT_TABLE.to_owned(),
            timeout: Duration::from_secs(10),
            cleanup_every: 256,
        }
    }
}
