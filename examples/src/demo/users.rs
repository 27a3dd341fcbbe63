//! The demo's users: the reference `users` table, its model, and a provider over whichever
//! database `DATABASE_URL` names.

use std::borrow::Cow;

use diesel::prelude::*;
use imia::{
    diesel::{DieselProvider, PoolOptions},
    error::ProviderError,
    password::Argon2Hasher,
    provider::{ProviderResult, UserProvider, UserRegistry, hash_token},
    remember::{RememberStore, RememberToken},
};

pub use imia::diesel::schema;
use schema::users;

/// A user of the demo: one row of `users`.
#[derive(Clone, Queryable, Selectable, imia::UserLike)]
#[diesel(table_name = users)]
#[imia(display_name = "name")]
pub struct DemoUser {
    /// The primary key.
    pub id: i64,
    /// The e-mail address: the username.
    pub email: String,
    /// The name shown on pages, if set.
    #[imia(skip)]
    pub display_name: Option<String>,
    /// A PHC argon2id string.
    pub password_hash: Option<String>,
    /// Space-separated scopes.
    pub scopes: String,
    /// The SHA-256 of the API token (tokens are stored hashed).
    pub api_token: Option<String>,
    /// Whether the user may log in.
    pub is_active: bool,
    /// Rotated to end every session of the user (remember-me theft detection).
    pub security_stamp: String,
    /// Whether the address is verified (seeded users are): an unverified user cannot log in.
    pub email_verified: bool,
}

impl DemoUser {
    /// The display name, else the e-mail address.
    pub fn name(&self) -> Cow<'_, str> {
        match &self.display_name {
            Some(name) if !name.is_empty() => Cow::Borrowed(name),
            _ => Cow::Borrowed(&self.email),
        }
    }
}

impl std::fmt::Debug for DemoUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoUser")
            .field("id", &self.id)
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

#[derive(Insertable)]
#[diesel(table_name = users)]
struct NewUser<'a> {
    email: &'a str,
    display_name: Option<&'a str>,
    password_hash: Option<&'a str>,
    scopes: &'a str,
    api_token: Option<&'a str>,
    is_active: bool,
}

/// The seeded users: (email, display name, scopes, API token, active). All have the password
/// `password`.
pub const SEED: &[(&str, &str, &str, &str, bool)] = &[
    (
        "root@example.com",
        "Root",
        "admin auth:impersonate_others",
        "root-token",
        true,
    ),
    ("user@example.com", "User", "", "user-token", true),
    ("disabled@example.com", "Disabled", "", "disabled-token", false),
];

/// The password of every seeded user.
pub const SEED_PASSWORD: &str = "password";

/// The demo's users, in whichever database `DATABASE_URL` names.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum DemoUsers {
    /// SQLite (the default).
    Sqlite(DieselProvider<imia::diesel::SqliteConnection, DemoUser>),
    /// PostgreSQL.
    #[cfg(feature = "postgres")]
    Postgres(DieselProvider<diesel_async::AsyncPgConnection, DemoUser>),
    /// MySQL or MariaDB.
    #[cfg(feature = "mysql")]
    Mysql(DieselProvider<diesel_async::AsyncMysqlConnection, DemoUser>),
}

macro_rules! each {
    ($self:expr, $p:ident => $body:expr) => {
        match $self {
            DemoUsers::Sqlite($p) => $body,
            #[cfg(feature = "postgres")]
            DemoUsers::Postgres($p) => $body,
            #[cfg(feature = "mysql")]
            DemoUsers::Mysql($p) => $body,
        }
    };
}

impl UserProvider for DemoUsers {
    type User = DemoUser;

    async fn find_by_id(&self, id: &str) -> ProviderResult<DemoUser> {
        each!(self, p => p.find_by_id(id).await)
    }

    async fn find_by_username(&self, username: &str) -> ProviderResult<DemoUser> {
        each!(self, p => p.find_by_username(username).await)
    }

    async fn find_by_token(&self, token: &str) -> ProviderResult<DemoUser> {
        each!(self, p => p.find_by_token(token).await)
    }

    async fn update_password_hash(&self, user: &DemoUser, new_hash: &str) -> Result<bool, ProviderError> {
        each!(self, p => p.update_password_hash(user, new_hash).await)
    }

    async fn rotate_security_stamp(&self, user_id: &str) -> Result<bool, ProviderError> {
        each!(self, p => p.rotate_security_stamp(user_id).await)
    }
}

/// Sign-up: new accounts go into the same `users` table, unverified until their link is used.
impl UserRegistry for DemoUsers {
    async fn create_user(&self, user: imia::provider::NewUser<'_>) -> ProviderResult<DemoUser> {
        each!(self, p => p.create_user(user).await)
    }

    async fn mark_verified(&self, user_id: &str) -> Result<bool, ProviderError> {
        each!(self, p => p.mark_verified(user_id).await)
    }

    async fn change_email(&self, user_id: &str, email: &str) -> Result<bool, ProviderError> {
        each!(self, p => p.change_email(user_id, email).await)
    }
}

/// The demo's remember-me tokens, in the same database as its users.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum DemoTokens {
    /// SQLite.
    Sqlite(imia::diesel::DieselRememberStore<imia::diesel::SqliteConnection>),
    /// PostgreSQL.
    #[cfg(feature = "postgres")]
    Postgres(imia::diesel::DieselRememberStore<diesel_async::AsyncPgConnection>),
    /// MySQL or MariaDB.
    #[cfg(feature = "mysql")]
    Mysql(imia::diesel::DieselRememberStore<diesel_async::AsyncMysqlConnection>),
}

macro_rules! each_store {
    ($self:expr, $s:ident => $body:expr) => {
        match $self {
            DemoTokens::Sqlite($s) => $body,
            #[cfg(feature = "postgres")]
            DemoTokens::Postgres($s) => $body,
            #[cfg(feature = "mysql")]
            DemoTokens::Mysql($s) => $body,
        }
    };
}

impl RememberStore for DemoTokens {
    async fn insert(&self, token: &RememberToken) -> Result<(), ProviderError> {
        each_store!(self, s => s.insert(token).await)
    }

    async fn find(&self, selector: &str) -> Result<Option<RememberToken>, ProviderError> {
        each_store!(self, s => s.find(selector).await)
    }

    async fn rotate(
        &self,
        selector: &str,
        current_hash: &str,
        new_hash: &str,
        now: i64,
    ) -> Result<bool, ProviderError> {
        each_store!(self, s => s.rotate(selector, current_hash, new_hash, now).await)
    }

    async fn delete(&self, selector: &str) -> Result<(), ProviderError> {
        each_store!(self, s => s.delete(selector).await)
    }

    async fn delete_user(&self, user_id: &str) -> Result<u64, ProviderError> {
        each_store!(self, s => s.delete_user(user_id).await)
    }

    async fn delete_expired(&self, now: i64) -> Result<u64, ProviderError> {
        each_store!(self, s => s.delete_expired(now).await)
    }
}

impl DemoPool {
    /// The login throttle in this database (table `imia_login_throttle`).
    pub fn throttle(&self, secret: &imia::SecretKey, policy: imia::throttle::ThrottlePolicy) -> super::DemoThrottle {
        use imia::diesel::DieselThrottle;
        match self {
            Self::Sqlite(pool) => super::DemoThrottle::Sqlite(DieselThrottle::new(pool.clone(), secret, policy)),
            #[cfg(feature = "postgres")]
            Self::Postgres(pool) => super::DemoThrottle::Postgres(DieselThrottle::new(pool.clone(), secret, policy)),
            #[cfg(feature = "mysql")]
            Self::Mysql(pool) => super::DemoThrottle::Mysql(DieselThrottle::new(pool.clone(), secret, policy)),
        }
    }

    /// Second factors in the same database (table `imia_two_factor`), their secrets sealed
    /// under `secret`.
    pub fn two_factor(&self, secret: &imia::SecretKey) -> imia::two_factor::TwoFactor {
        use imia::{diesel::DieselTwoFactorStore, two_factor::TwoFactor};
        match self {
            Self::Sqlite(pool) => TwoFactor::new(
                DieselTwoFactorStore::<imia::diesel::SqliteConnection>::new(pool.clone()),
                secret,
            ),
            #[cfg(feature = "postgres")]
            Self::Postgres(pool) => TwoFactor::new(
                DieselTwoFactorStore::<diesel_async::AsyncPgConnection>::new(pool.clone()),
                secret,
            ),
            #[cfg(feature = "mysql")]
            Self::Mysql(pool) => TwoFactor::new(
                DieselTwoFactorStore::<diesel_async::AsyncMysqlConnection>::new(pool.clone()),
                secret,
            ),
        }
    }

    /// The remember-me token store in the same database.
    pub fn tokens(&self) -> DemoTokens {
        match self {
            Self::Sqlite(pool) => DemoTokens::Sqlite(imia::diesel::DieselRememberStore::new(pool.clone())),
            #[cfg(feature = "postgres")]
            Self::Postgres(pool) => DemoTokens::Postgres(imia::diesel::DieselRememberStore::new(pool.clone())),
            #[cfg(feature = "mysql")]
            Self::Mysql(pool) => DemoTokens::Mysql(imia::diesel::DieselRememberStore::new(pool.clone())),
        }
    }
}

/// The pool of the demo's database, for the session store.
#[derive(Clone)]
#[non_exhaustive]
pub enum DemoPool {
    /// SQLite.
    Sqlite(imia::diesel::Pool<imia::diesel::SqliteConnection>),
    /// PostgreSQL.
    #[cfg(feature = "postgres")]
    Postgres(imia::diesel::Pool<diesel_async::AsyncPgConnection>),
    /// MySQL or MariaDB.
    #[cfg(feature = "mysql")]
    Mysql(imia::diesel::Pool<diesel_async::AsyncMysqlConnection>),
}

impl std::fmt::Debug for DemoPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DemoPool")
    }
}

/// Connects to `database_url`, creates the tables, seeds the users and returns the provider
/// and the pool.
///
/// `postgres://` and `mysql://` URLs need the crate's `postgres` / `mysql` features; anything
/// else is a SQLite file path (`sqlite://` prefix optional).
///
/// # Errors
///
/// When the database cannot be reached, the schema cannot be created, or the URL names a
/// backend this build lacks.
pub async fn connect(
    database_url: &str,
    hasher: &Argon2Hasher,
) -> Result<(DemoUsers, DemoPool), Box<dyn std::error::Error + Send + Sync>> {
    let options = PoolOptions::default();
    macro_rules! setup {
        ($conn:ty, $pool:expr, $variant:ident) => {{
            let pool = $pool;
            {
                let mut conn = <$conn as imia::diesel::Backend>::checkout(&pool).await?;
                imia::diesel::migrations::run(&mut *conn).await?;
            }
            let provider = DieselProvider::<$conn, DemoUser>::for_table(pool.clone(), users::table)
                .case_insensitive_usernames(true)
                .password_column("users", "password_hash")
                .security_stamp_column("users", "security_stamp")
                .verified_column("users", "email_verified")
                .display_name_column("display_name")
                .scopes_column("scopes")
                .active_column("is_active")
                .build()?;
            for (email, name, scopes, token, active) in SEED {
                if provider.find_by_username(email).await?.is_some() {
                    continue;
                }
                let hash = hasher.hash(SEED_PASSWORD).await?;
                let token = hash_token(token);
                let row = NewUser {
                    email,
                    display_name: Some(name),
                    password_hash: Some(&hash),
                    scopes,
                    api_token: Some(&token),
                    is_active: *active,
                };
                let mut conn = <$conn as imia::diesel::Backend>::checkout(&pool).await?;
                diesel_async::RunQueryDsl::execute(diesel::insert_into(users::table).values(&row), &mut *conn).await?;
                tracing::info!(email, "seeded demo user");
            }
            (DemoUsers::$variant(provider), DemoPool::$variant(pool))
        }};
    }

    if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        #[cfg(feature = "postgres")]
        return Ok(setup!(
            diesel_async::AsyncPgConnection,
            imia::diesel::postgres_pool(database_url, &options)?,
            Postgres
        ));
        #[cfg(not(feature = "postgres"))]
        return Err("DATABASE_URL is a PostgreSQL URL: build with `--features postgres`".into());
    }
    if database_url.starts_with("mysql://") {
        #[cfg(feature = "mysql")]
        return Ok(setup!(
            diesel_async::AsyncMysqlConnection,
            imia::diesel::mysql_pool(database_url, &options)?,
            Mysql
        ));
        #[cfg(not(feature = "mysql"))]
        return Err("DATABASE_URL is a MySQL URL: build with `--features mysql`".into());
    }
    let path = sqlite_path(database_url);
    Ok(setup!(
        imia::diesel::SqliteConnection,
        imia::diesel::sqlite_pool(path, &options)?,
        Sqlite
    ))
}

/// The file a SQLite `DATABASE_URL` names: a plain path, or `sqlite://path` / `sqlite:path`.
fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url)
}

#[cfg(test)]
mod tests {
    use imia::UserLike as _;

    use super::*;

    #[test]
    fn sqlite_urls() {
        assert_eq!(sqlite_path("imia-demo.sqlite3"), "imia-demo.sqlite3");
        assert_eq!(sqlite_path("sqlite:///tmp/x.db"), "/tmp/x.db");
        assert_eq!(sqlite_path("sqlite://x.db"), "x.db");
        assert_eq!(sqlite_path("sqlite:x.db"), "x.db");
    }

    #[test]
    fn display_name_falls_back_to_the_email() {
        let mut u = DemoUser {
            id: 1,
            email: "a@example.com".into(),
            display_name: None,
            password_hash: None,
            scopes: "admin x".into(),
            api_token: None,
            is_active: true,
            security_stamp: String::new(),
            email_verified: true,
        };
        assert_eq!(u.display_name(), "a@example.com");
        u.display_name = Some("A".into());
        assert_eq!(u.display_name(), "A");
        assert_eq!(u.username().as_deref(), Some("a@example.com"));
        assert!(u.has_scope("x"));
        assert!(!format!("{u:?}").contains("admin"));
    }
}
