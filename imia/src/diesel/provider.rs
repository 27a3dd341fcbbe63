//! A user provider over a Diesel table.

use std::{fmt, marker::PhantomData, sync::Arc, time::Duration};

use ::diesel::{
    QueryResult, Selectable, SelectableHelper,
    backend::Backend as DieselBackend,
    expression::{AppearsOnTable, Expression, SelectableExpression, ValidGrouping, is_aggregate},
    helper_types::{AsSelect, IntoBoxed},
    query_builder::{AstPass, QueryFragment, QueryId},
    query_dsl::methods::{BoxedDsl, FilterDsl, LimitDsl, SelectDsl},
    result::{DatabaseErrorKind, Error as DieselError},
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
    provider::{NewUser, ProviderResult, UserProvider, UserRegistry},
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
/// - It writes only the columns it is told about: password hashes
///   ([`password_column`](DieselProviderBuilder::password_column)), security stamps
///   ([`security_stamp_column`](DieselProviderBuilder::security_stamp_column)) and, for sign-up
///   and address changes ([`UserRegistry`]), the verified flag
///   ([`verified_column`](DieselProviderBuilder::verified_column)).
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
    /// `(table, column)` of the verified flag, if the provider may register users
    /// ([`UserRegistry`]): new rows go into this table.
    verified_update: Option<(Arc<str>, Arc<str>)>,
    /// The columns (of the verified flag's table) that `create_user` also fills, if any.
    display_name_column: Option<Arc<str>>,
    scopes_column: Option<Arc<str>>,
    active_column: Option<Arc<str>>,
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
                verified_update: None,
                display_name_column: None,
                scopes_column: None,
                active_column: None,
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

    /// Lets the provider register users and change their addresses ([`UserRegistry`]): `column`
    /// of `table` is the flag that says whether a user's e-mail address is verified (the
    /// reference `users` table has `email_verified`). Default: none, and the provider's
    /// [`UserRegistry`] methods fail with a [`ProviderError::Backend`] that says so, rather than
    /// create users whose address nobody checked.
    ///
    /// Users are your model: the provider writes the flag, the model reads it, as a `bool` field
    /// named `email_verified` (or marked `#[imia(verified)]`) for `#[derive(UserLike)]`
    /// ([`UserLike::is_verified`]); an unverified user cannot log in.
    ///
    /// - [`create_user`](UserRegistry::create_user) inserts one row into `table`: the address
    ///   in the [username column](Self::username_column), the hash in the
    ///   [password column](Self::password_column) (required, in the same table), `FALSE` here,
    ///   a fresh stamp in the [stamp column](Self::security_stamp_column) when there is one,
    ///   and the name, `''` and `TRUE` in the [display name](Self::display_name_column),
    ///   [scopes](Self::scopes_column) and [active](Self::active_column) columns when they are
    ///   configured (other columns take their defaults). It answers `Ok(None)` when the
    ///   address is taken: found by [`find_by_username`](UserProvider::find_by_username) first
    ///   (so case-insensitive usernames are honoured), and any unique violation of the insert.
    ///   Then it loads the new user by its username, through the provider's own query.
    /// - [`mark_verified`](UserRegistry::mark_verified) sets the flag, the row found by the id
    ///   column.
    /// - [`change_email`](UserRegistry::change_email) sets the username column and the flag;
    ///   `false` when the address belongs to another user (as above) or there is no such user.
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
    ///     display_name: Option<String>,
    ///     password_hash: Option<String>,
    ///     scopes: String,
    ///     is_active: bool,
    ///     email_verified: bool, // is_verified()
    ///     security_stamp: String,
    /// }
    ///
    /// let pool = sqlite_pool("app.sqlite3", &PoolOptions::default()).unwrap();
    /// let users = DieselProvider::<SqliteConnection, User>::for_table(pool, users::table)
    ///     .password_column("users", "password_hash")
    ///     .security_stamp_column("users", "security_stamp")
    ///     .verified_column("users", "email_verified")
    ///     .display_name_column("display_name")
    ///     .scopes_column("scopes")
    ///     .active_column("is_active")
    ///     .build()
    ///     .unwrap();
    /// # let _ = users;
    /// # }
    /// ```
    pub fn verified_column(mut self, table: &str, column: &str) -> Self {
        self.config.verified_update = Some((table.into(), column.into()));
        self
    }

    /// The column of the [verified flag's table](Self::verified_column) where
    /// [`create_user`](UserRegistry::create_user) writes the new user's name. Default: none
    /// (the name is not stored).
    pub fn display_name_column(mut self, column: &str) -> Self {
        self.config.display_name_column = Some(column.into());
        self
    }

    /// The column of the [verified flag's table](Self::verified_column) where
    /// [`create_user`](UserRegistry::create_user) writes the new user's scopes: none (`''`).
    /// Default: none (the column's default applies).
    pub fn scopes_column(mut self, column: &str) -> Self {
        self.config.scopes_column = Some(column.into());
        self
    }

    /// The column of the [verified flag's table](Self::verified_column) where
    /// [`create_user`](UserRegistry::create_user) writes that the new user is active (`TRUE`).
    /// Default: none (the column's default applies).
    pub fn active_column(mut self, column: &str) -> Self {
        self.config.active_column = Some(column.into());
        self
    }

    /// Checks the column names and builds the provider.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidIdentifier`] for a table or column name that is not a plain SQL
    /// identifier (letters, digits, `_`, optionally qualified as `table.column`).
    pub fn build(self) -> Result<DieselProvider<C, U>, ConfigError> {
        let writable = [
            &self.config.password_update,
            &self.config.stamp_update,
            &self.config.verified_update,
        ];
        let written = writable.iter().filter_map(|w| w.as_ref()).flat_map(|(t, c)| [t, c]);
        let registered = [
            &self.config.display_name_column,
            &self.config.scopes_column,
            &self.config.active_column,
        ];
        for column in [
            &self.config.id_column,
            &self.config.username_column,
            &self.config.token_column,
        ]
        .into_iter()
        .chain(written)
        .chain(registered.into_iter().flatten())
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
            .text(value);
        match self.update_by_id(statement, id).await? {
            Ok(changed) => Ok(changed),
            Err(err) => Err(query_error(err)),
        }
    }

    /// Runs `statement` (an `UPDATE ... SET ...`) with ` WHERE <id column> = id` appended;
    /// whether one row changed, or the query's own error (for the caller to read).
    async fn update_by_id(&self, statement: Statement, id: &str) -> Result<QueryResult<bool>, ProviderError> {
        let statement = statement.sql(format!(" WHERE {} = ", self.config.id_column));
        let statement = match self.config.id_type {
            IdType::Integer => match id.parse::<i64>() {
                Ok(value) => statement.integer(value),
                Err(_) => return Ok(Ok(false)),
            },
            IdType::Uuid if !is_uuid(id) => return Ok(Ok(false)),
            IdType::Uuid if C::DIALECT == Dialect::Postgres => {
                statement.sql("CAST(").text(id.to_ascii_lowercase()).sql(" AS uuid)")
            }
            IdType::Text if id.contains('\0') => return Ok(Ok(false)),
            IdType::Text | IdType::Uuid => statement.text(id.to_owned()),
        };
        let work = async {
            let mut conn = C::checkout(&self.pool).await?;
            Ok(C::execute(&mut conn, statement).await.map(|changed| changed == 1))
        };
        deadline::within(self.config.timeout, work, ProviderError::unavailable).await
    }

    async fn one(&self, lookup: Lookup, what: &'static str) -> ProviderResult<U> {
        let work = async {
            let mut conn = C::checkout(&self.pool).await?;
            (self.loader)(&mut conn, lookup).await.map_err(query_error)
        };
        let rows = deadline::within(self.config.timeout, work, ProviderError::unavailable).await?;
        single(rows, what)
    }

    /// The username lookup, as configured.
    fn username_lookup(&self, username: &str) -> Lookup {
        let column = &self.config.username_column;
        if self.config.case_insensitive {
            Lookup::text_lower(column, username.to_owned())
        } else {
            Lookup::text(column, username.to_owned())
        }
    }

    /// The verified flag's `(table, column)`, which [`UserRegistry`] needs, or the error that
    /// says how to configure it.
    fn verified_target(&self, method: &str) -> Result<(&str, &str), ProviderError> {
        match &self.config.verified_update {
            Some((table, column)) => Ok((&**table, &**column)),
            None => Err(ProviderError::backend(format!(
                "DieselProvider::{method} needs the column of the verified flag: configure \
                 DieselProviderBuilder::verified_column (e.g. `.verified_column(\"users\", \"email_verified\")`)"
            ))),
        }
    }

    /// Whether `email` already names a user other than `except` (an id), as the username
    /// lookup sees it: a match, or several.
    async fn address_taken(&self, email: &str, except: Option<&str>) -> Result<bool, ProviderError> {
        match self.find_by_username(email).await {
            Ok(None) => Ok(false),
            Ok(Some(user)) => Ok(except.is_none_or(|id| !same_id(&user.id(), id, self.config.id_type))),
            Err(ProviderError::Ambiguous(_)) => Ok(true),
            Err(err) => Err(err),
        }
    }
}

/// The one row of a lookup, `None`, or [`ProviderError::Ambiguous`] when there are several.
fn single<U>(rows: Vec<U>, what: &'static str) -> ProviderResult<U> {
    let mut rows = rows.into_iter();
    match (rows.next(), rows.next()) {
        (None, _) => Ok(None),
        (Some(user), None) => Ok(Some(user)),
        (Some(_), Some(_)) => Err(ProviderError::Ambiguous(what)),
    }
}

/// Whether two ids name the same user (UUIDs regardless of case).
fn same_id(a: &str, b: &str, id_type: IdType) -> bool {
    match id_type {
        IdType::Uuid => a.eq_ignore_ascii_case(b),
        IdType::Integer | IdType::Text => a == b,
    }
}

/// A column name as an `INSERT` column list or an `UPDATE ... SET` takes it: without the table
/// it may be qualified with (`users.email` is `email`).
fn unqualified(column: &str) -> &str {
    column.rsplit('.').next().unwrap_or(column)
}

/// Whether a query failed on a unique constraint (PostgreSQL, SQLite, and MySQL/MariaDB through
/// diesel-async all report it so).
fn is_unique_violation(err: &DieselError) -> bool {
    matches!(err, DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _))
}

/// Refuses what no address can be: empty, or holding a NUL (which PostgreSQL refuses with an
/// error, and which no stored username holds).
fn check_address(method: &str, email: &str) -> Result<(), ProviderError> {
    if email.is_empty() || email.contains('\0') {
        return Err(ProviderError::backend(format!(
            "DieselProvider::{method}: {email:?} is not an address that can be stored"
        )));
    }
    Ok(())
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
        self.one(self.username_lookup(username), "username").await
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

/// Needs [`DieselProviderBuilder::verified_column`] (and, for `create_user`,
/// [`password_column`](DieselProviderBuilder::password_column) on the same table): see there
/// for what each method writes.
impl<C: Backend, U: UserLike + Send> UserRegistry for DieselProvider<C, U> {
    async fn create_user(&self, user: NewUser<'_>) -> ProviderResult<U> {
        let (table, verified) = self.verified_target("create_user")?;
        let password = match &self.config.password_update {
            Some((password_table, column)) if **password_table == *table => column,
            _ => {
                return Err(ProviderError::backend(format!(
                    "DieselProvider::create_user needs DieselProviderBuilder::password_column on the \
                     verified flag's table, {table}"
                )));
            }
        };
        let stamp = match &self.config.stamp_update {
            None => None,
            Some((stamp_table, column)) if **stamp_table == *table => {
                Some((column, crate::provider::new_security_stamp()?))
            }
            Some((stamp_table, _)) => {
                return Err(ProviderError::backend(format!(
                    "DieselProvider::create_user writes one row of {table}, but the security stamp \
                     column is in {stamp_table}"
                )));
            }
        };
        check_address("create_user", user.email)?;
        if user.name.contains('\0') || user.password_hash.contains('\0') {
            return Err(ProviderError::backend(
                "DieselProvider::create_user: a name or hash holding NUL cannot be stored",
            ));
        }
        // Taken as the username lookup sees it (case-insensitively when so configured); the
        // insert's unique violation covers the race, and rows the base query leaves out.
        if self.address_taken(user.email, None).await? {
            return Ok(None);
        }

        enum Value<'v> {
            Text(&'v str),
            Sql(&'static str),
        }
        let mut values = vec![
            (&*self.config.username_column, Value::Text(user.email)),
            (&**password, Value::Text(user.password_hash)),
            (verified, Value::Sql("FALSE")),
        ];
        if let Some(column) = &self.config.display_name_column {
            values.push((&**column, Value::Text(user.name)));
        }
        if let Some(column) = &self.config.scopes_column {
            values.push((&**column, Value::Text("")));
        }
        if let Some(column) = &self.config.active_column {
            values.push((&**column, Value::Sql("TRUE")));
        }
        if let Some((column, stamp)) = &stamp {
            values.push((&***column, Value::Text(stamp)));
        }
        let columns: Vec<&str> = values.iter().map(|(column, _)| unqualified(column)).collect();
        let mut insert = Statement::default().sql(format!("INSERT INTO {table} ({}) VALUES (", columns.join(", ")));
        for (n, (_, value)) in values.iter().enumerate() {
            if n > 0 {
                insert = insert.sql(", ");
            }
            insert = match value {
                Value::Text(text) => insert.text(*text),
                Value::Sql(sql) => insert.sql(*sql),
            };
        }
        let insert = insert.sql(")");

        let lookup = self.username_lookup(user.email);
        let work = async {
            let mut conn = C::checkout(&self.pool).await?;
            match C::execute(&mut conn, insert).await {
                Ok(_) => {}
                Err(err) if is_unique_violation(&err) => return Ok(None),
                Err(err) => return Err(query_error(err)),
            }
            (self.loader)(&mut conn, lookup).await.map(Some).map_err(query_error)
        };
        let Some(rows) = deadline::within(self.config.timeout, work, ProviderError::unavailable).await? else {
            return Ok(None);
        };
        match single(rows, "username")? {
            Some(created) => Ok(Some(created)),
            None => Err(ProviderError::backend(
                "DieselProvider::create_user: the new user is not found by its username (does the \
                 provider's query leave it out?)",
            )),
        }
    }

    async fn mark_verified(&self, user_id: &str) -> Result<bool, ProviderError> {
        let (table, verified) = self.verified_target("mark_verified")?;
        let statement = Statement::default().sql(format!("UPDATE {table} SET {} = TRUE", unqualified(verified)));
        self.update_by_id(statement, user_id).await?.map_err(query_error)
    }

    async fn change_email(&self, user_id: &str, email: &str) -> Result<bool, ProviderError> {
        let (table, verified) = self.verified_target("change_email")?;
        check_address("change_email", email)?;
        if self.address_taken(email, Some(user_id)).await? {
            return Ok(false);
        }
        let statement = Statement::default()
            .sql(format!(
                "UPDATE {table} SET {} = ",
                unqualified(&self.config.username_column)
            ))
            .text(email)
            .sql(format!(", {} = TRUE", unqualified(verified)));
        match self.update_by_id(statement, user_id).await? {
            Ok(changed) => Ok(changed),
            Err(err) if is_unique_violation(&err) => Ok(false),
            Err(err) => Err(query_error(err)),
        }
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
