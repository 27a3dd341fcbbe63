//! The tables imia's Diesel backends use, created at start-up.
//!
//! [`run`] creates what is missing (`CREATE TABLE IF NOT EXISTS`), so it is safe to call on every
//! start. The statements are plain SQL, one dialect per backend; copy them into your own
//! migration tool if you prefer ([`users_sql`], [`sessions_sql`], [`remember_sql`],
//! [`throttle_sql`], [`two_factor_sql`], [`links_sql`]).
//!
//! The reference `users` table:
//!
//! | column | type | notes |
//! |---|---|---|
//! | `id` | integer primary key, auto-increment | |
//! | `email` | text, unique | the username |
//! | `display_name` | text, nullable | |
//! | `password_hash` | text, nullable | a PHC string; `NULL`: no usable password |
//! | `scopes` | text, default `''` | space-separated |
//! | `api_token` | text, nullable, unique | the token, or its SHA-256 when tokens are hashed |
//! | `is_active` | boolean, default true | |
//! | `security_stamp` | text, default `''` | rotated to end every session of the user ([`UserLike::security_stamp`](crate::UserLike::security_stamp)) |
//! | `email_verified` | boolean, default true | whether the address is verified ([`UserLike::is_verified`](crate::UserLike::is_verified)): `false` for an account made by sign-up until its link is used; rows made before the column (or by hand) are verified |
//!
//! Tables made by an earlier version gain the columns added since (`users.security_stamp`,
//! `users.email_verified`, `imia_remember_tokens.binding`, the session index columns of `imia_sessions`) at the next [`run`]: it looks each one up in the database's
//! catalogue and adds what is missing, so it stays safe on every start.

use super::{
    connection::{Backend, Dialect},
    statement::Statement,
};
use crate::error::ProviderError;

/// The `CREATE TABLE` statements for the reference users table `table` in `dialect`.
///
/// For your own migration tool; [`run`] executes them at start-up instead.
///
/// ```
/// use imia::diesel::{Dialect, migrations::users_sql};
///
/// let sql = users_sql(Dialect::Postgres, "users");
/// assert!(sql.contains("CREATE TABLE IF NOT EXISTS users"));
/// assert!(sql.contains("BIGSERIAL PRIMARY KEY"));
/// ```
pub fn users_sql(dialect: Dialect, table: &str) -> String {
    let id = match dialect {
        Dialect::Postgres => "BIGSERIAL PRIMARY KEY",
        _ => "INTEGER PRIMARY KEY AUTOINCREMENT",
    };
    match dialect {
        Dialect::Sqlite | Dialect::Postgres => format!(
            "CREATE TABLE IF NOT EXISTS {table} (
                id {id},
                email TEXT NOT NULL UNIQUE,
                display_name TEXT,
                password_hash TEXT,
                scopes TEXT NOT NULL DEFAULT '',
                api_token TEXT UNIQUE,
                is_active BOOLEAN NOT NULL DEFAULT TRUE,
                security_stamp TEXT NOT NULL DEFAULT '',
                email_verified BOOLEAN NOT NULL DEFAULT TRUE
            );"
        ),
        Dialect::Mysql => format!(
            "CREATE TABLE IF NOT EXISTS {table} (
                id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                email VARCHAR(255) NOT NULL UNIQUE,
                display_name VARCHAR(255),
                password_hash VARCHAR(512),
                scopes TEXT NOT NULL,
                api_token VARCHAR(255) UNIQUE,
                is_active BOOLEAN NOT NULL DEFAULT TRUE,
                security_stamp VARCHAR(64) NOT NULL DEFAULT '',
                email_verified BOOLEAN NOT NULL DEFAULT TRUE
            ) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;"
        ),
    }
}

/// The `CREATE TABLE` statements for the session table `table` of
/// [`DieselSessionStore`](super::DieselSessionStore) in `dialect`.
///
/// Sessions are stored under the SHA-256 of their key (a leaked table holds no usable session
/// ids), with their state as JSON and their expiry as Unix seconds. Login sessions also fill the
/// per-user index columns ([`SessionIndex`](crate::sessions::SessionIndex)): the user's id, the
/// session's opaque handle, the login time and the last use (Unix milliseconds), the client's
/// address and user agent.
pub fn sessions_sql(dialect: Dialect, table: &str) -> String {
    let (create, user_index) = sessions_sql_parts(dialect, table);
    match user_index {
        Some(index) => format!("{create}\n            {index}"),
        None => create,
    }
}

/// The session table's `CREATE TABLE` (with its indexes where the dialect declares them
/// inline), and apart the `user_id` index where it is a statement of its own: [`run`] creates
/// that one after adding the index columns to a table an earlier version made.
fn sessions_sql_parts(dialect: Dialect, table: &str) -> (String, Option<String>) {
    // An index name is never schema-qualified: `app.sessions` gets `app_sessions_expires_at`.
    let prefix = table.replace('.', "_");
    let index_columns = SESSION_INDEX_COLUMNS
        .iter()
        .map(|name| format!("{name} {}", session_index_column(dialect, name)))
        .collect::<Vec<_>>()
        .join(",\n                ");
    match dialect {
        Dialect::Sqlite | Dialect::Postgres => (
            format!(
                "CREATE TABLE IF NOT EXISTS {table} (
                key_hash CHAR(64) PRIMARY KEY,
                state TEXT NOT NULL,
                expires_at BIGINT NOT NULL,
                {index_columns}
            );
            CREATE INDEX IF NOT EXISTS {prefix}_expires_at ON {table} (expires_at);"
            ),
            Some(format!(
                "CREATE INDEX IF NOT EXISTS {prefix}_user_id ON {table} (user_id);"
            )),
        ),
        Dialect::Mysql => (
            format!(
                "CREATE TABLE IF NOT EXISTS {table} (
                key_hash CHAR(64) NOT NULL PRIMARY KEY,
                state MEDIUMTEXT NOT NULL,
                expires_at BIGINT NOT NULL,
                {index_columns},
                INDEX {prefix}_expires_at (expires_at),
                INDEX {prefix}_user_id (user_id)
            ) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;"
            ),
            None,
        ),
    }
}

/// The per-user index columns of the session table, in order.
const SESSION_INDEX_COLUMNS: [&str; 6] = ["user_id", "handle", "created_at", "last_seen_at", "ip", "user_agent"];

/// The definition of the session index column `name` in `dialect`.
fn session_index_column(dialect: Dialect, name: &str) -> &'static str {
    match (dialect, name) {
        (_, "created_at" | "last_seen_at") => "BIGINT NOT NULL DEFAULT 0",
        (Dialect::Mysql, "user_agent") => "VARCHAR(512) NOT NULL DEFAULT ''",
        (Dialect::Mysql, "ip") => "VARCHAR(64) NOT NULL DEFAULT ''",
        (Dialect::Mysql, _) => "VARCHAR(255) NOT NULL DEFAULT ''",
        _ => "TEXT NOT NULL DEFAULT ''",
    }
}

/// The `CREATE TABLE` statements for the remember-me token table `table` of
/// [`DieselRememberStore`](super::DieselRememberStore) in `dialect`. Validators are stored as
/// their SHA-256 only; `binding` ties each token to the password and security stamp it was
/// issued under (a keyed MAC, never the hash).
pub fn remember_sql(dialect: Dialect, table: &str) -> String {
    let index = table.replace('.', "_");
    let columns = "selector VARCHAR(32) NOT NULL PRIMARY KEY,
                validator_hash VARCHAR(64) NOT NULL,
                previous_hash VARCHAR(64) NOT NULL DEFAULT '',
                rotated_at BIGINT NOT NULL,
                user_id VARCHAR(255) NOT NULL,
                series VARCHAR(32) NOT NULL,
                expires_at BIGINT NOT NULL,
                binding VARCHAR(64) NOT NULL DEFAULT ''";
    match dialect {
        Dialect::Sqlite | Dialect::Postgres => format!(
            "CREATE TABLE IF NOT EXISTS {table} (
                {columns}
            );
            CREATE INDEX IF NOT EXISTS {index}_user_id ON {table} (user_id);
            CREATE INDEX IF NOT EXISTS {index}_expires_at ON {table} (expires_at);"
        ),
        Dialect::Mysql => format!(
            "CREATE TABLE IF NOT EXISTS {table} (
                {columns},
                INDEX {index}_user_id (user_id),
                INDEX {index}_expires_at (expires_at)
            ) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;"
        ),
    }
}

/// The `CREATE TABLE` statements for the login throttle table `table` of
/// [`DieselThrottle`](super::DieselThrottle) in `dialect`. Rows are keyed by an HMAC of the
/// username or address (never the username as typed); `failures` and `pending` hold Unix
/// milliseconds, `expires_at` when the row holds nothing any more (Unix milliseconds).
///
/// ```
/// use imia::diesel::{Dialect, migrations::throttle_sql};
///
/// let sql = throttle_sql(Dialect::Mysql, "imia_login_throttle");
/// assert!(sql.contains("CREATE TABLE IF NOT EXISTS imia_login_throttle"));
/// assert!(sql.contains("key_hash VARCHAR(64) NOT NULL PRIMARY KEY"));
/// ```
pub fn throttle_sql(dialect: Dialect, table: &str) -> String {
    let index = format!("{}_expires_at", table.replace('.', "_"));
    match dialect {
        Dialect::Sqlite | Dialect::Postgres => format!(
            "CREATE TABLE IF NOT EXISTS {table} (
                key_hash VARCHAR(64) NOT NULL PRIMARY KEY,
                failures TEXT NOT NULL,
                pending TEXT NOT NULL,
                expires_at BIGINT NOT NULL
            );
            CREATE INDEX IF NOT EXISTS {index} ON {table} (expires_at);"
        ),
        // MEDIUMTEXT: a TEXT holds about 4,600 times, fewer than a generous per-address limit.
        Dialect::Mysql => format!(
            "CREATE TABLE IF NOT EXISTS {table} (
                key_hash VARCHAR(64) NOT NULL PRIMARY KEY,
                failures MEDIUMTEXT NOT NULL,
                pending MEDIUMTEXT NOT NULL,
                expires_at BIGINT NOT NULL,
                INDEX {index} (expires_at)
            ) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;"
        ),
    }
}

/// The `CREATE TABLE` statements for the second-factor table `table` of
/// `DieselTwoFactorStore` (feature `two-factor`) in `dialect`: one row per user, with the TOTP
/// secret sealed (never usable as stored), whether it is enabled, the last accepted time step,
/// the recovery codes as space-separated keyed hashes, the code attempts since the last reset,
/// and when the enrolment began (Unix seconds).
///
/// ```
/// use imia::diesel::{Dialect, migrations::two_factor_sql};
///
/// let sql = two_factor_sql(Dialect::Sqlite, "imia_two_factor");
/// assert!(sql.contains("CREATE TABLE IF NOT EXISTS imia_two_factor"));
/// assert!(two_factor_sql(Dialect::Mysql, "imia_two_factor").contains("user_id VARCHAR(255) NOT NULL PRIMARY KEY"));
/// ```
pub fn two_factor_sql(dialect: Dialect, table: &str) -> String {
    let (user_id, charset) = match dialect {
        Dialect::Mysql => ("VARCHAR(255)", " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"),
        Dialect::Sqlite | Dialect::Postgres => ("TEXT", ""),
    };
    format!(
        "CREATE TABLE IF NOT EXISTS {table} (
                user_id {user_id} NOT NULL PRIMARY KEY,
                secret TEXT NOT NULL,
                enabled BOOLEAN NOT NULL DEFAULT FALSE,
                last_step BIGINT NOT NULL DEFAULT 0,
                recovery_codes TEXT NOT NULL,
                attempts BIGINT NOT NULL DEFAULT 0,
                created_at BIGINT NOT NULL
            ){charset};"
    )
}

/// The `CREATE TABLE` statements for the single-use link table `table` of `DieselLinkStore`
/// (feature `account`) in `dialect`: the selector (the key), the SHA-256 of the validator, the
/// purpose, the user, what the link carries (a new address), what it is bound to (a keyed MAC
/// of the password hash and security stamp), and its expiry and issue times (Unix seconds).
///
/// ```
/// use imia::diesel::{Dialect, migrations::links_sql};
///
/// let sql = links_sql(Dialect::Postgres, "imia_links");
/// assert!(sql.contains("CREATE TABLE IF NOT EXISTS imia_links"));
/// assert!(links_sql(Dialect::Mysql, "imia_links").contains("selector VARCHAR(64) NOT NULL PRIMARY KEY"));
/// ```
pub fn links_sql(dialect: Dialect, table: &str) -> String {
    let (key, short, charset) = match dialect {
        Dialect::Mysql => (
            "VARCHAR(64)",
            "VARCHAR(255)",
            " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
        ),
        Dialect::Sqlite | Dialect::Postgres => ("TEXT", "TEXT", ""),
    };
    format!(
        "CREATE TABLE IF NOT EXISTS {table} (
                selector {key} NOT NULL PRIMARY KEY,
                validator_hash {key} NOT NULL,
                purpose VARCHAR(32) NOT NULL,
                user_id {short} NOT NULL,
                payload TEXT NOT NULL,
                binding {key} NOT NULL,
                expires_at BIGINT NOT NULL,
                created_at BIGINT NOT NULL
            ){charset};"
    )
}

/// Where [`run`] and [`run_named`] create the tables: a pool (`&pool`: one connection is taken
/// from it for the duration) or a connection you hold (`&mut conn`).
pub trait MigrationTarget {
    /// Creates the tables (named as given) through this target.
    #[doc(hidden)]
    fn migrate(
        self,
        users: &str,
        sessions: &str,
        remember: &str,
        throttle: &str,
    ) -> impl Future<Output = Result<(), ProviderError>>;
}

impl<C: Backend> MigrationTarget for &mut C {
    fn migrate(
        self,
        users: &str,
        sessions: &str,
        remember: &str,
        throttle: &str,
    ) -> impl Future<Output = Result<(), ProviderError>> {
        migrate_connection(self, users, sessions, remember, throttle)
    }
}

macro_rules! pool_target {
    ($(#[$cfg:meta])* $conn:ty) => {
        $(#[$cfg])*
        impl MigrationTarget for &super::Pool<$conn> {
            async fn migrate(
                self,
                users: &str,
                sessions: &str,
                remember: &str,
                throttle: &str,
            ) -> Result<(), ProviderError> {
                let mut conn = <$conn as Backend>::checkout(self).await?;
                migrate_connection(&mut *conn, users, sessions, remember, throttle).await
            }
        }
    };
}

pool_target!(
    #[cfg(feature = "sqlite")]
    super::SqliteConnection
);
pool_target!(
    #[cfg(feature = "postgres")]
    diesel_async::AsyncPgConnection
);
pool_target!(
    #[cfg(feature = "mysql")]
    diesel_async::AsyncMysqlConnection
);

/// Creates the reference `users` table, the `imia_sessions` table, the
/// `imia_remember_tokens` table, the `imia_login_throttle` table and, with the feature
/// `two-factor`, the `imia_two_factor` table, with the feature `account` the `imia_links`
/// table, when they are missing, and adds the columns later
/// versions use to tables an earlier version made. Give it the pool (`&pool`) or a connection
/// (`&mut conn`).
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "sqlite")] {
/// use imia::diesel::{Backend, PoolOptions, SqliteConnection, migrations, sqlite_pool};
///
/// # actix_rt::System::new().block_on(async {
/// let options = PoolOptions { max_size: 1, ..PoolOptions::default() }; // one in-memory database
/// let pool = sqlite_pool(":memory:", &options).unwrap();
/// migrations::run(&pool).await.unwrap();
/// migrations::run(&pool).await.unwrap(); // safe on every start
/// let mut conn = <SqliteConnection as Backend>::checkout(&pool).await.unwrap();
/// migrations::run(&mut *conn).await.unwrap(); // or on a connection you hold
/// # });
/// # }
/// ```
///
/// # Errors
///
/// [`ProviderError`] when the database is unreachable or refuses the statements.
pub async fn run(target: impl MigrationTarget) -> Result<(), ProviderError> {
    target
        .migrate(
            "users",
            "imia_sessions",
            "imia_remember_tokens",
            super::throttle::DEFAULT_TABLE,
        )
        .await
}

/// Like [`run`], with other table names (plain identifiers). The second-factor table (feature
/// `two-factor`) keeps its name, `imia_two_factor`, and the link table (feature `account`)
/// `imia_links`; for others, create them with [`two_factor_sql`] and [`links_sql`].
///
/// # Errors
///
/// [`ProviderError`] when a name is not an identifier, or the database refuses the statements.
pub async fn run_named(
    target: impl MigrationTarget,
    users: &str,
    sessions: &str,
    remember: &str,
    throttle: &str,
) -> Result<(), ProviderError> {
    target.migrate(users, sessions, remember, throttle).await
}

async fn migrate_connection<C: Backend>(
    conn: &mut C,
    users: &str,
    sessions: &str,
    remember: &str,
    throttle: &str,
) -> Result<(), ProviderError> {
    for name in [users, sessions, remember, throttle] {
        if !super::provider::is_identifier(name) {
            return Err(ProviderError::backend(format!("not a plain SQL table name: {name:?}")));
        }
    }
    let (create_sessions, sessions_user_index) = sessions_sql_parts(C::DIALECT, sessions);
    let sql = format!(
        "{}\n{}\n{}\n{}",
        users_sql(C::DIALECT, users),
        create_sessions,
        remember_sql(C::DIALECT, remember),
        throttle_sql(C::DIALECT, throttle)
    );
    #[cfg(feature = "two-factor")]
    let sql = format!(
        "{sql}\n{}",
        two_factor_sql(C::DIALECT, super::two_factor_store::DEFAULT_TABLE)
    );
    #[cfg(feature = "account")]
    let sql = format!("{sql}\n{}", links_sql(C::DIALECT, super::link_store::DEFAULT_TABLE));
    diesel_async::SimpleAsyncConnection::batch_execute(conn, &sql)
        .await
        .map_err(super::connection::query_error)?;
    let stamp = match C::DIALECT {
        Dialect::Mysql => "VARCHAR(64) NOT NULL DEFAULT ''",
        _ => "TEXT NOT NULL DEFAULT ''",
    };
    add_missing_column(conn, users, "security_stamp", stamp).await?;
    // Rows made before sign-up existed are verified: the default.
    add_missing_column(conn, users, "email_verified", "BOOLEAN NOT NULL DEFAULT TRUE").await?;
    add_missing_column(conn, remember, "binding", "VARCHAR(64) NOT NULL DEFAULT ''").await?;
    // The per-user session index (this version): columns and an index on `user_id`.
    let mut added_user_id = false;
    for name in SESSION_INDEX_COLUMNS {
        let added = add_missing_column(conn, sessions, name, session_index_column(C::DIALECT, name)).await?;
        added_user_id |= added && name == "user_id";
    }
    let user_index = match sessions_user_index {
        Some(index) => Some(index), // `IF NOT EXISTS`: safe on every start
        // MySQL declares it in `CREATE TABLE`; an older table gets it with its column.
        None if added_user_id => Some(format!(
            "CREATE INDEX {}_user_id ON {sessions} (user_id)",
            sessions.replace('.', "_")
        )),
        None => None,
    };
    if let Some(index) = user_index {
        C::execute(conn, Statement::default().sql(index))
            .await
            .map_err(super::connection::query_error)?;
    }
    Ok(())
}

/// Adds `column` to `table` unless the database's catalogue already lists it; whether it added
/// it. `table` is a checked identifier, optionally qualified by its schema.
async fn add_missing_column<C: Backend>(
    conn: &mut C,
    table: &str,
    column: &str,
    definition: &str,
) -> Result<bool, ProviderError> {
    let (schema, name) = match table.split_once('.') {
        Some((schema, name)) => (Some(schema), name),
        None => (None, table),
    };
    let lookup = match C::DIALECT {
        Dialect::Sqlite => {
            let statement = Statement::default()
                .sql("SELECT COUNT(*) AS n FROM pragma_table_info(")
                .text(name);
            let statement = match schema {
                Some(schema) => statement.sql(", ").text(schema),
                None => statement,
            };
            statement.sql(") WHERE name = ").text(column)
        }
        Dialect::Postgres | Dialect::Mysql => {
            let current = if C::DIALECT == Dialect::Postgres {
                "current_schema()"
            } else {
                "DATABASE()"
            };
            let statement =
                Statement::default().sql("SELECT COUNT(*) AS n FROM information_schema.columns WHERE table_schema = ");
            let statement = match schema {
                Some(schema) => statement.text(schema),
                None => statement.sql(current),
            };
            statement
                .sql(" AND table_name = ")
                .text(name)
                .sql(" AND column_name = ")
                .text(column)
        }
    };
    let present = C::count(conn, lookup).await.map_err(super::connection::query_error)?;
    if present > 0 {
        return Ok(false);
    }
    tracing::info!(table, column, "adding a column that this version of imia uses");
    let alter = Statement::default().sql(format!("ALTER TABLE {table} ADD COLUMN {column} {definition}"));
    C::execute(conn, alter).await.map_err(super::connection::query_error)?;
    Ok(true)
}
