//! A user provider over a Diesel table.

use std::{fmt, marker::PhantomData, sync::Arc, time::Duration};

use ::diesel::{
    QueryResult, Selectable, SelectableHelper,
    backend::Backend as DieselBackend,
    expression::{AppearsOnTable, Expression, SelectableExpression, ValidGrouping, is_aggregate},
    helper_types::{AsSelect, IntoBoxed},
    query_builder::{AstPass, QueryFragment, QueryId},
    query_dsl::methods::{BoxedDsl, FilterDsl, LimitDsl, SelectDsl},
    serialize::ToSql,
    sql_types::{BigInt, Bool, HasSqlType, Text},
};
use diesel_async::{RunQueryDsl as _, methods::LoadQuery};
use futures_util::future::LocalBoxFuture;

use super::{
    connection::{Backend, Dialect, query_error},
    statement::Statement,
};
use crate::{
    deadline,
    error::{ConfigError, ProviderError},
    provider::{ProviderResult, UserProvider},
    user::UserLike,
};

/// How the id column is typed, so that lookups bind the right SQL type (and can use the index).
///
/// # Examples
///
/// ```no_run
/// # #[cfg(feature = "sqlite")] {
/// use diesel::prelude::*;
/// use imia::{UserLike, diesel::{DieselProvider, IdType, PoolOptions, SqliteConnection, sqlite_pool}};
///
/// diesel::table! {
///     members (handle) {
///         handle -> Text,
///         email -> Text,
///         api_token -> Nullable<Text>,
///     }
/// }
///
/// #[derive(Clone, Queryable, Selectable, UserLike)]
/// #[diesel(table_name = members)]
/// struct Member {
///     #[imia(id)]
///     handle: String,
///     email: String,
///     api_token: Option<String>,
/// }
///
/// let pool = sqlite_pool("app.sqlite3", &PoolOptions::default()).unwrap();
/// let members = DieselProvider::<SqliteConnection, Member>::for_table(pool, members::table)
///     .id_column("handle", IdType::Text) // the default, IdType::Integer, would find nobody by "ann"
///     .build()
///     .unwrap();
/// # let _ = members;
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum IdType {
    /// An integer column (`INTEGER`, `BIGINT`, `SERIAL`): ids that do not parse as an integer
    /// find nobody without a query. The default.
    #[default]
    Integer,
    /// A text column.
    Text,
    /// A UUID: a native `uuid` column on PostgreSQL, text elsewhere. Ids that are not UUIDs find
    /// nobody without a query.
    Uuid,
}

/// The `WHERE` condition of one lookup: SQL around one bound value. The column name comes from
/// trusted configuration (checked to be an identifier); the value is always bound.
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct Lookup(Statement);

impl Lookup {
    fn integer(column: &str, value: i64) -> Self {
        Self(Statement::default().sql(format!("{column} = ")).integer(value))
    }

    fn text(column: &str, value: String) -> Self {
        Self(Statement::default().sql(format!("{column} = ")).text(value))
    }

    fn text_lower(column: &str, value: String) -> Self {
        Self(
            Statement::default()
                .sql(format!("LOWER({column}) = LOWER("))
                .text(value)
                .sql(")"),
        )
    }

    fn uuid(column: &str, value: String, dialect: Dialect) -> Self {
        match dialect {
            Dialect::Postgres => Self(
                Statement::default()
                    .sql(format!("{column} = CAST("))
                    .text(value)
                    .sql(" AS uuid)"),
            ),
            _ => Self::text(column, value),
        }
    }
}

impl Expression for Lookup {
    type SqlType = Bool;
}

impl<QS> AppearsOnTable<QS> for Lookup {}

impl<QS> SelectableExpression<QS> for Lookup {}

impl<GB> ValidGrouping<GB> for Lookup {
    type IsAggregate = is_aggregate::Never;
}

impl QueryId for Lookup {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<DB> QueryFragment<DB> for Lookup
where
    DB: DieselBackend + HasSqlType<Text> + HasSqlType<BigInt>,
    String: ToSql<Text, DB>,
    i64: ToSql<BigInt, DB>,
{
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.0.walk_ast(out)
    }
}

type Loader<C, U> =
    Arc<dyn for<'c> Fn(&'c mut C, Lookup) -> LocalBoxFuture<'c, Result<Vec<U>, ::diesel::result::Error>> + Send + Sync>;

/// Loads users from a Diesel table through a diesel-async [`Pool`](super::Pool).
///
/// The user model derives `Queryable`, `Selectable` and [`UserLike`]; the provider looks users
/// up by their id, username and token columns (by default `id`, `email` and `api_token`, like
/// the original library's SQL providers), with no SQL to write. Give your own base query with
/// [`DieselProvider::for_query`] (a join, a `deleted_at IS NULL` filter) when the table alone
/// is not enough.
///
/// - Each lookup takes one pooled connection, asks for at most two rows, and answers
///   [`ProviderError::Ambiguous`] when a username or token matches more than one row.
/// - Usernames can match case-insensitively (`LOWER(col) = LOWER(?)`: add a matching
///   functional index, or store them lower-cased and keep the exact match).
/// - Tokens can be stored hashed ([`hash_token`](crate::provider::hash_token), SHA-256 in hex):
///   lookups then hash the presented token, so a leaked table leaks no usable API keys.
/// - A pool timeout or a lost connection is [`ProviderError::Unavailable`] (503), a failing
///   query [`ProviderError::Backend`] (500), a query slower than the timeout (10 s by default)
///   unavailable too: never "no user".
///
/// # Examples
///
/// ```no_run
/// # #[cfg(feature = "sqlite")] {
/// use diesel::prelude::*;
/// use imia::{UserLike, diesel::{DieselProvider, PoolOptions, SqliteConnection, sqlite_pool}};
///
/// diesel::table! {
///     users (id) {
///         id -> BigInt,
///         email -> Text,
///         password_hash -> Text,
///         scopes -> Text,
///         api_token -> Nullable<Text>,
///         is_active -> Bool,
///     }
/// }
///
/// #[derive(Clone, Queryable, Selectable, UserLike)]
/// #[diesel(table_name = users)]
/// struct User {
///     id: i64,
///     email: String,
///     password_hash: String,
///     scopes: String,
///     api_token: Option<String>,
///     is_active: bool,
/// }
///
/// let pool = sqlite_pool("app.sqlite3", &PoolOptions::default()).unwrap();
/// let users = DieselProvider::<SqliteConnection, User>::for_table(pool, users::table)
///     .case_insensitive_usernames(true)
///     .hashed_tokens(true)
///     .build()
///     .unwrap();
/// # let _ = users;
/// # }
/// ```
pub struct DieselProvider<C: Backend, U> {
    pool: C::Pool,
    loader: Loader<C, U>,
    config: Arc<Config>,
    _user: PhantomData<fn() -> U>,
}

impl<C: Backend, U> Clone for DieselProvider<C, U> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            loader: Arc::clone(&self.loader),
            config: Arc::clone(&self.config),
            _user: PhantomData,
        }
    }
}

impl<C: Backend, U> fmt::Debug for DieselProvider<C, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DieselProvider")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
struct Config {
    id_column: Arc<str>,
    id_type: IdType,
    username_column: Arc<str>,
    token_column: Arc<str>,
    case_insensitive: bool,
    hashed_tokens: bool,
    timeout: Duration,
    /// `(table, column)` where password hashes are written, if the provider may write them.
    password_update: Option<(Arc<str>, Arc<str>)>,
    /// `(table, column)` where security stamps are written, if the provider may rotate them.
    stamp_update: Option<(Arc<str>, Arc<str>)>,
}

/// Builds a [`DieselProvider`]; every setter documents its default.
#[must_use]
pub struct DieselProviderBuilder<C: Backend, U> {
    pool: C::Pool,
    loader: Loader<C, U>,
    config: Config,
}

impl<C: Backend, U> fmt::Debug for DieselProviderBuilder<C, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DieselProviderBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

type Db<C> = <C as diesel_async::AsyncConnectionCore>::Backend;

impl<C, U> DieselProvider<C, U>
where
    C: Backend,
    U: UserLike + Send,
{
    /// A provider over `table` (e.g. `users::table`), selecting the model's columns
    /// (`U: Selectable`).
    pub fn for_table<T>(pool: C::Pool, table: T) -> DieselProviderBuilder<C, U>
    where
        U: Selectable<Db<C>>,
        U::SelectExpression: QueryId,
        T: SelectDsl<AsSelect<U, Db<C>>> + Copy + Send + Sync + 'static,
        T::Output: BoxedDsl<'static, Db<C>>,
        IntoBoxed<'static, T::Output, Db<C>>: FilterDsl<Lookup, Output = IntoBoxed<'static, T::Output, Db<C>>>
            + LimitDsl<Output = IntoBoxed<'static, T::Output, Db<C>>>
            + for<'q> LoadQuery<'q, C, U>
            + 'static,
    {
        Self::for_query(pool, move || {
            BoxedDsl::internal_into_boxed(SelectDsl::select(table, U::as_select()))
        })
    }

    /// A provider over your own boxed base query, e.g.
    /// `|| users::table.filter(users::deleted_at.is_null()).select(User::as_select()).into_boxed()`.
    /// Lookups add their `WHERE` condition to it.
    pub fn for_query<F, Q>(pool: C::Pool, base: F) -> DieselProviderBuilder<C, U>
    where
        F: Fn() -> Q + Send + Sync + 'static,
        Q: FilterDsl<Lookup, Output = Q> + LimitDsl<Output = Q> + for<'q> LoadQuery<'q, C, U> + 'static,
    {
        let loader: Loader<C, U> = Arc::new(move |conn, lookup| {
            let query = base().filter(lookup).limit(2);
            Box::pin(query.load::<U>(conn))
        });
        DieselProviderBuilder {
            pool,
            loader,
            config: Config {
                id_column: "id".into(),
                id_type: IdType::Integer,
                username_column: "email".into(),
                token_column: "api_token".into(),
                case_insensitive: false,
                hashed_tokens: true,
                timeout: Duration::from_secs(10),
                password_update: None,
                stamp_update: None,
            },
        }
    }
}

impl<C: Backend, U> DieselProviderBuilder<C, U> {
    /// The id column and its type. Default: `id`, [`IdType::Integer`].
    pub fn id_column(mut self, column: &str, id_type: IdType) -> Self {
        self.config.id_column = column.into();
        self.config.id_type = id_type;
        self
    }

    /// The column users log in with. Default: `email`.
    pub fn username_column(mut self, column: &str) -> Self {
        self.config.username_column = column.into();
        self
    }

    /// The API token column. Default: `api_token`.
    pub fn token_column(mut self, column: &str) -> Self {
        self.config.token_column = column.into();
        self
    }

    /// Whether usernames match regardless of case (`LOWER(col) = LOWER(?)`). Default: `false`.
    pub fn case_insensitive_usernames(mut self, yes: bool) -> Self {
        self.config.case_insensitive = yes;
        self
    }

    /// Whether the token column holds [`hash_token`](crate::provider::hash_token) of each token
    /// (SHA-256 in hex) rather than the token itself. Default: `true`: lookups hash the
    /// presented token, so a leaked table (a backup, a read replica, an SQL injection elsewhere)
    /// leaks no usable API keys.
    ///
    /// `false` is an **opt-in to plaintext tokens**: the column then holds the tokens as they
    /// are sent, and anyone who can read it can act as every user who has one. Use it only for
    /// a table you cannot migrate yet; to migrate, store `hash_token(token)` in every row and
    /// drop the opt-in.
    pub fn hashed_tokens(mut self, yes: bool) -> Self {
        self.config.hashed_tokens = yes;
        self
    }

    /// How long one lookup (waiting for a connection included) may take before it fails as
    /// unavailable. Default: 10 seconds.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config.timeout = timeout;
        self
    }

    /// Lets the provider store new password hashes (password changes, rehashing on login) in
    /// `column` of `table`, the row found by the id column. Default: the provider stores none.
    pub fn password_column(mut self, table: &str, column: &str) -> Self {
        self.config.password_update = Some((table.into(), column.into()));
        self
    }

    /// Lets the provider rotate security stamps
    /// ([`UserProvider::rotate_security_stamp`]) in `column` of `table`, the row found by the id
    /// column: remember-me's theft detection and "log out everywhere" then end every session of
    /// the user. The model reads the same column as its
    /// [`security_stamp`](UserLike::security_stamp) (the reference `users` table and schema
    /// have `security_stamp`). Default: the provider rotates none.
    ///
    /// ```no_run
    /// # #[cfg(feature = "sqlite")] {
    /// use diesel::prelude::*;
    /// use imia::{UserLike, diesel::{DieselProvider, PoolOptions, SqliteConnection, schema::users, sqlite_pool}};
    ///
    /// #[derive(Clone, Queryable, Selectable, UserLike)]
    /// #[diesel(table_name = users)]
    /// struct User {
    ///     id: i64,
    ///     email: String,
    ///     password_hash: Option<String>,
    ///     security_stamp: String,
    /// }
    ///
    /// let pool = sqlite_pool("app.sqlite3", &PoolOptions::default()).unwrap();
    /// let users = DieselProvider::<SqliteConnection, User>::for_table(pool, users::table)
    ///     .password_column("users", "password_hash")
    ///     .security_stamp_column("users", "security_stamp")
    ///     .build()
    ///     .unwrap();
    /// # let _ = users;
    /// # }
    /// ```
    pub fn security_stamp_column(mut self, table: &str, column: &str) -> Self {
        self.config.stamp_update = Some((table.into(), column.into()));
        self
    }

    /// Checks the column names and builds the provider.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidIdentifier`] for a table or column name that is not a plain SQL
    /// identifier (letters, digits, `_`, optionally qualified as `table.column`).
    pub fn build(self) -> Result<DieselProvider<C, U>, ConfigError> {
        let writable = [&self.config.password_update, &self.config.stamp_update];
        let written = writable.iter().filter_map(|w| w.as_ref()).flat_map(|(t, c)| [t, c]);
        for column in [
            &self.config.id_column,
            &self.config.username_column,
            &self.config.token_column,
        ]
        .into_iter()
        .chain(written)
        {
            check_identifier("column", column)?;
        }
        Ok(DieselProvider {
            pool: self.pool,
            loader: self.loader,
            config: Arc::new(self.config),
            _user: PhantomData,
        })
    }
}

/// `Ok` when `name` is a plain identifier, else the configuration error naming it as a `what`.
pub(crate) fn check_identifier(what: &'static str, name: &str) -> Result<(), ConfigError> {
    if is_identifier(name) {
        Ok(())
    } else {
        Err(ConfigError::InvalidIdentifier {
            what,
            name: name.to_owned(),
        })
    }
}

/// Whether `s` is `ident` or `ident.ident` with ASCII letters, digits and `_`.
pub(crate) fn is_identifier(s: &str) -> bool {
    let part = |p: &str| {
        !p.is_empty()
            && !p.starts_with(|c: char| c.is_ascii_digit())
            && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let mut parts = s.split('.');
    let ok = parts.next().is_some_and(part);
    ok && parts.clone().count() <= 1 && parts.all(part)
}

/// Whether `s` is a UUID in its usual 8-4-4-4-12 hexadecimal form.
fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

impl<C: Backend, U: UserLike + Send> DieselProvider<C, U> {
    /// `UPDATE table SET column = value WHERE <id column> = id`; whether one row changed.
    async fn update_column(&self, table: &str, column: &str, value: &str, id: &str) -> Result<bool, ProviderError> {
        let statement = Statement::default()
            .sql(format!("UPDATE {table} SET {column} = "))
            .text(value)
            .sql(format!(" WHERE {} = ", self.config.id_column));
        let statement = match self.config.id_type {
            IdType::Integer => match id.parse::<i64>() {
                Ok(value) => statement.integer(value),
                Err(_) => return Ok(false),
            },
            IdType::Uuid if !is_uuid(id) => return Ok(false),
            IdType::Uuid if C::DIALECT == Dialect::Postgres => {
                statement.sql("CAST(").text(id.to_ascii_lowercase()).sql(" AS uuid)")
            }
            IdType::Text if id.contains('\0') => return Ok(false),
            IdType::Text | IdType::Uuid => statement.text(id.to_owned()),
        };
        let work = async {
            let mut conn = C::checkout(&self.pool).await?;
            C::execute(&mut conn, statement).await.map_err(query_error)
        };
        let changed = deadline::within(self.config.timeout, work, ProviderError::unavailable).await?;
        Ok(changed == 1)
    }

    async fn one(&self, lookup: Lookup, what: &'static str) -> ProviderResult<U> {
        let work = async {
            let mut conn = C::checkout(&self.pool).await?;
            (self.loader)(&mut conn, lookup).await.map_err(query_error)
        };
        let rows = deadline::within(self.config.timeout, work, ProviderError::unavailable).await?;
        let mut rows = rows.into_iter();
        match (rows.next(), rows.next()) {
            (None, _) => Ok(None),
            (Some(user), None) => Ok(Some(user)),
            (Some(_), Some(_)) => Err(ProviderError::Ambiguous(what)),
        }
    }
}

impl<C: Backend, U: UserLike + Send> UserProvider for DieselProvider<C, U> {
    type User = U;

    async fn find_by_id(&self, id: &str) -> ProviderResult<U> {
        let column = &self.config.id_column;
        let lookup = match self.config.id_type {
            IdType::Integer => match id.parse::<i64>() {
                Ok(value) => Lookup::integer(column, value),
                Err(_) => return Ok(None),
            },
            // No stored text holds NUL, and PostgreSQL refuses it in a parameter with an error.
            IdType::Text if id.contains('\0') => return Ok(None),
            IdType::Text => Lookup::text(column, id.to_owned()),
            IdType::Uuid if is_uuid(id) => Lookup::uuid(column, id.to_ascii_lowercase(), C::DIALECT),
            IdType::Uuid => return Ok(None),
        };
        self.one(lookup, "id").await
    }

    async fn update_password_hash(&self, user: &U, new_hash: &str) -> Result<bool, ProviderError> {
        match &self.config.password_update {
            Some((table, column)) => self.update_column(table, column, new_hash, &user.id()).await,
            None => Ok(false),
        }
    }

    async fn rotate_security_stamp(&self, user_id: &str) -> Result<bool, ProviderError> {
        match &self.config.stamp_update {
            Some((table, column)) => {
                let stamp = crate::provider::new_security_stamp()?;
                self.update_column(table, column, &stamp, user_id).await
            }
            None => Ok(false),
        }
    }

    async fn find_by_username(&self, username: &str) -> ProviderResult<U> {
        // A NUL cannot match (PostgreSQL would answer an error, and the login a 500).
        if username.is_empty() || username.contains('\0') {
            return Ok(None);
        }
        let column = &self.config.username_column;
        let lookup = if self.config.case_insensitive {
            Lookup::text_lower(column, username.to_owned())
        } else {
            Lookup::text(column, username.to_owned())
        };
        self.one(lookup, "username").await
    }

    async fn find_by_token(&self, token: &str) -> ProviderResult<U> {
        if token.is_empty() || token.contains('\0') {
            return Ok(None);
        }
        let value = if self.config.hashed_tokens {
            crate::provider::hash_token(token)
        } else {
            token.to_owned()
        };
        self.one(Lookup::text(&self.config.token_column, value), "token").await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        for ok in ["id", "email", "users.email", "api_token2", "_x"] {
            assert!(is_identifier(ok), "{ok}");
        }
        for bad in [
            "", "1a", "a b", "a;drop", "a.b.c", "a.", ".a", "\"a\"", "a-b", "LOWER(a)",
        ] {
            assert!(!is_identifier(bad), "{bad}");
        }
    }

    #[test]
    fn uuids() {
        assert!(is_uuid("67e55044-10b1-426f-9247-bb680e5fe0c8"));
        assert!(is_uuid("67E55044-10B1-426F-9247-BB680E5FE0C8"));
        assert!(!is_uuid("67e5504410b1426f9247bb680e5fe0c8"));
        assert!(!is_uuid("67e55044-10b1-426f-9247-bb680e5fe0c"));
        assert!(!is_uuid("x7e55044-10b1-426f-9247-bb680e5fe0c8"));
    }
}
