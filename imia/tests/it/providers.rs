//! The provider acceptance suite: one set of expectations, run against every provider
//! (in memory, SQLite, PostgreSQL, MySQL/MariaDB).

use ::diesel::prelude::*;
use actix_web::{App, test as atest, web};
use diesel_async::SimpleAsyncConnection as _;
use imia::{
    Authentication, UserLike,
    authenticator::{ApiKeyAuthenticator, TokenAuthenticator},
    diesel::{Backend, Dialect, DieselProvider, IdType, PoolOptions},
    error::ProviderError,
    provider::{InMemoryProvider, UserProvider, hash_token},
};

use crate::common::*;

::diesel::table! {
    members (id) {
        id -> BigInt,
        email -> Text,
        display_name -> Nullable<Text>,
        password_hash -> Nullable<Text>,
        scopes -> Text,
        api_token -> Nullable<Text>,
        is_active -> Bool,
    }
}

#[derive(Clone, Debug, PartialEq, Queryable, Selectable, UserLike)]
#[diesel(table_name = members)]
pub(crate) struct Member {
    id: i64,
    email: String,
    display_name: Option<String>,
    password_hash: Option<String>,
    scopes: String,
    api_token: Option<String>,
    is_active: bool,
}

/// id, email, display name, scopes, token, active
type SeedRow = (
    i64,
    &'static str,
    Option<&'static str>,
    &'static str,
    &'static str,
    bool,
);

const SEED: &[SeedRow] = &[
    (
        1,
        "root@example.com",
        Some("Root"),
        "admin billing:read",
        "root-token",
        true,
    ),
    (2, "Mixed.Case@Example.com", None, "", "user-token", true),
    (
        3,
        "disabled@example.com",
        Some("Disabled"),
        "admin",
        "disabled-token",
        false,
    ),
    (4, "twin@example.com", Some("Twin A"), "", "dup-token", true),
    (5, "twin@example.com", Some("Twin B"), "", "dup-token", true),
];

fn seed_members(hashed: bool) -> Vec<Member> {
    SEED.iter()
        .map(|(id, email, name, scopes, token, active)| Member {
            id: *id,
            email: (*email).into(),
            display_name: name.map(Into::into),
            password_hash: Some(format!("hash-of-{id}")),
            scopes: (*scopes).into(),
            api_token: Some(if hashed { hash_token(token) } else { (*token).into() }),
            is_active: *active,
        })
        .collect()
}

/// The table, without unique constraints so that duplicates can be tested.
fn create_sql(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Mysql => {
            "CREATE TABLE members (id BIGINT PRIMARY KEY, email VARCHAR(255) NOT NULL, display_name VARCHAR(255),
             password_hash VARCHAR(255), scopes TEXT NOT NULL, api_token VARCHAR(255), is_active BOOLEAN NOT NULL)
             CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;"
        }
        _ => {
            "CREATE TABLE members (id BIGINT PRIMARY KEY, email TEXT NOT NULL, display_name TEXT,
             password_hash TEXT, scopes TEXT NOT NULL, api_token TEXT, is_active BOOLEAN NOT NULL);"
        }
    }
}

fn insert_sql(hashed: bool) -> String {
    let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let rows: Vec<String> = seed_members(hashed)
        .iter()
        .map(|m| {
            format!(
                "({}, {}, {}, {}, {}, {}, {})",
                m.id,
                quote(&m.email),
                m.display_name.as_deref().map_or("NULL".into(), quote),
                m.password_hash.as_deref().map_or("NULL".into(), quote),
                quote(&m.scopes),
                m.api_token.as_deref().map_or("NULL".into(), quote),
                if m.is_active { "TRUE" } else { "FALSE" }
            )
        })
        .collect();
    format!("INSERT INTO members VALUES {};", rows.join(", "))
}

async fn prepare<C: Backend>(pool: &C::Pool, hashed: bool) {
    let mut conn = C::checkout(pool).await.expect("a connection to the test database");
    conn.batch_execute(create_sql(C::DIALECT))
        .await
        .expect("create the table");
    conn.batch_execute(&insert_sql(hashed)).await.expect("seed the table");
}

/// What a provider must do. `case_insensitive` says how it was configured.
async fn acceptance_suite<P>(provider: &P, case_insensitive: bool)
where
    P: UserProvider<User = Member>,
{
    // Hits.
    let root = provider.find_by_id("1").await.unwrap().expect("user 1 by id");
    assert_eq!(root.email, "root@example.com");
    assert_eq!(root.display_name(), "Root");
    assert!(root.has_scope("billing:read"));
    assert_eq!(
        provider
            .find_by_username("root@example.com")
            .await
            .unwrap()
            .map(|m| m.id),
        Some(1)
    );
    assert_eq!(
        provider.find_by_token("root-token").await.unwrap().map(|m| m.id),
        Some(1)
    );

    // Misses: never an error.
    assert_eq!(provider.find_by_id("999").await.unwrap(), None);
    assert_eq!(provider.find_by_id("not-a-number").await.unwrap(), None);
    assert_eq!(provider.find_by_id("").await.unwrap(), None);
    assert_eq!(provider.find_by_username("nobody@example.com").await.unwrap(), None);
    assert_eq!(provider.find_by_username("").await.unwrap(), None);
    assert_eq!(provider.find_by_token("no-such-token").await.unwrap(), None);
    assert_eq!(provider.find_by_token("").await.unwrap(), None);
    // Values are data, never SQL.
    assert_eq!(provider.find_by_username("' OR '1'='1").await.unwrap(), None);
    assert_eq!(provider.find_by_token("x' OR 'x'='x").await.unwrap(), None);

    // Case rules: tokens are always exact; usernames as configured.
    assert_eq!(provider.find_by_token("ROOT-TOKEN").await.unwrap(), None);
    let exact = provider.find_by_username("Mixed.Case@Example.com").await.unwrap();
    assert_eq!(exact.map(|m| m.id), Some(2));
    let folded = provider.find_by_username("mixed.case@example.com").await.unwrap();
    assert_eq!(folded.map(|m| m.id), case_insensitive.then_some(2));

    // Inactive users are returned as they are: imia, not the provider, refuses them.
    let disabled = provider
        .find_by_token("disabled-token")
        .await
        .unwrap()
        .expect("the disabled user");
    assert!(!disabled.is_active());

    // Duplicates are errors, not a random pick.
    assert!(matches!(
        provider.find_by_username("twin@example.com").await,
        Err(ProviderError::Ambiguous("username"))
    ));
    assert!(matches!(
        provider.find_by_token("dup-token").await,
        Err(ProviderError::Ambiguous("token"))
    ));
}

#[actix_web::test]
async fn in_memory_provider_passes_the_suite() {
    let exact = InMemoryProvider::new(seed_members(false));
    acceptance_suite(&exact, false).await;
    let folded = InMemoryProvider::builder().case_insensitive_usernames(true);
    let folded = seed_members(false).into_iter().fold(folded, |b, m| b.user(m)).build();
    acceptance_suite(&folded, true).await;
}

macro_rules! backend_suite {
    ($conn:ty, $plain:expr, $hashed:expr) => {{
        let plain = $plain;
        let hashed = $hashed;
        prepare::<$conn>(&plain, false).await;
        prepare::<$conn>(&hashed, true).await;
        // The plain table holds tokens as they are: an explicit opt-in.
        let exact = DieselProvider::<$conn, Member>::for_table(plain.clone(), members::table)
            .hashed_tokens(false)
            .build()
            .unwrap();
        acceptance_suite(&exact, false).await;
        let folded = DieselProvider::<$conn, Member>::for_table(plain.clone(), members::table)
            .case_insensitive_usernames(true)
            .hashed_tokens(false)
            .build()
            .unwrap();
        acceptance_suite(&folded, true).await;
        // Hashed tokens are the default.
        let hashed_provider = DieselProvider::<$conn, Member>::for_table(hashed.clone(), members::table)
            .build()
            .unwrap();
        acceptance_suite(&hashed_provider, false).await;
        // A hashed table does not answer to the stored hash itself.
        assert_eq!(
            hashed_provider.find_by_token(&hash_token("root-token")).await.unwrap(),
            None
        );
        // A custom base query: only active members.
        let active_only = DieselProvider::<$conn, Member>::for_query(plain.clone(), || {
            members::table
                .filter(members::is_active.eq(true))
                .select(Member::as_select())
                .into_boxed()
        })
        .hashed_tokens(false)
        .build()
        .unwrap();
        assert_eq!(active_only.find_by_token("disabled-token").await.unwrap(), None);
        assert_eq!(
            active_only.find_by_token("root-token").await.unwrap().map(|m| m.id),
            Some(1)
        );
        // Text ids: the same table looked up by e-mail as the id.
        let by_email = DieselProvider::<$conn, Member>::for_table(plain.clone(), members::table)
            .id_column("email", IdType::Text)
            .build()
            .unwrap();
        assert_eq!(
            by_email.find_by_id("root@example.com").await.unwrap().map(|m| m.id),
            Some(1)
        );
        // Password hashes are written only when the provider is told where.
        let root = exact.find_by_id("1").await.unwrap().unwrap();
        assert!(!exact.update_password_hash(&root, "new-hash").await.unwrap());
        let writer = DieselProvider::<$conn, Member>::for_table(plain.clone(), members::table)
            .password_column("members", "password_hash")
            .build()
            .unwrap();
        assert!(writer.update_password_hash(&root, "new-hash").await.unwrap());
        assert_eq!(
            writer.find_by_id("1").await.unwrap().unwrap().password_hash.as_deref(),
            Some("new-hash")
        );
        assert_eq!(
            writer.find_by_id("2").await.unwrap().unwrap().password_hash.as_deref(),
            Some("hash-of-2")
        );
        let ghost = Member {
            id: 999,
            ..root.clone()
        };
        assert!(
            !writer.update_password_hash(&ghost, "x").await.unwrap(),
            "no row, nothing stored"
        );
        // The table goes away: a backend error (500), never "no user".
        let mut conn = <$conn as Backend>::checkout(&plain).await.unwrap();
        conn.batch_execute("DROP TABLE members").await.unwrap();
        drop(conn);
        let err = exact.find_by_id("1").await.unwrap_err();
        assert!(matches!(err, ProviderError::Backend(_)), "{err:?}");
        assert_eq!(err.status(), 500);
    }};
}

#[test]
fn invalid_column_names_are_refused() {
    let pool = imia::diesel::sqlite_pool(":memory:", &PoolOptions::default()).unwrap();
    for bad in ["email; DROP TABLE x", "LOWER(email)", "", "a.b.c"] {
        let built = DieselProvider::<imia::diesel::SqliteConnection, Member>::for_table(pool.clone(), members::table)
            .username_column(bad)
            .build();
        assert!(
            matches!(built, Err(imia::error::ConfigError::InvalidIdentifier { what: "column", ref name }) if name == bad),
            "{bad:?}"
        );
    }
}

#[actix_web::test]
async fn sqlite_provider_passes_the_suite() {
    use imia::diesel::{SqliteConnection, sqlite_pool};
    let options = PoolOptions::default();
    backend_suite!(
        SqliteConnection,
        sqlite_pool(&crate::servers::fresh_sqlite("members"), &options).unwrap(),
        sqlite_pool(&crate::servers::fresh_sqlite("members_hashed"), &options).unwrap()
    );
}

#[cfg(feature = "postgres")]
#[actix_web::test]
async fn postgres_provider_passes_the_suite() {
    use diesel_async::AsyncPgConnection;
    use imia::diesel::postgres_pool;
    let options = PoolOptions::default();
    let Some(plain) = crate::servers::fresh_postgres("members").await else {
        return;
    };
    let Some(hashed) = crate::servers::fresh_postgres("members_hashed").await else {
        return;
    };
    backend_suite!(
        AsyncPgConnection,
        postgres_pool(&plain, &options).unwrap(),
        postgres_pool(&hashed, &options).unwrap()
    );
}

#[cfg(feature = "mysql")]
#[actix_web::test]
async fn mysql_provider_passes_the_suite() {
    use diesel_async::AsyncMysqlConnection;
    use imia::diesel::mysql_pool;
    let options = PoolOptions::default();
    let Some(plain) = crate::servers::fresh_mysql("members").await else {
        return;
    };
    let Some(hashed) = crate::servers::fresh_mysql("members_hashed").await else {
        return;
    };
    backend_suite!(
        AsyncMysqlConnection,
        mysql_pool(&plain, &options).unwrap(),
        mysql_pool(&hashed, &options).unwrap()
    );
}

/// Options for pools that must fail fast.
fn impatient() -> PoolOptions {
    PoolOptions {
        max_size: 2,
        wait_timeout: std::time::Duration::from_secs(2),
    }
}

async fn assert_unavailable<P: UserProvider>(provider: &P) {
    for result in [
        provider.find_by_id("1").await.map(|u| u.is_some()),
        provider.find_by_username("root@example.com").await.map(|u| u.is_some()),
        provider.find_by_token("root-token").await.map(|u| u.is_some()),
    ] {
        let err = result.expect_err("an unreachable database is an error, never 'no user'");
        assert!(matches!(err, ProviderError::Unavailable(_)), "{err:?}");
        assert_eq!(err.status(), 503);
    }
}

#[actix_web::test]
async fn unreachable_databases_are_unavailable_errors() {
    use imia::diesel::{SqliteConnection, sqlite_pool};
    let pool = sqlite_pool("/nonexistent-imia-dir/db.sqlite3", &impatient()).unwrap();
    assert_unavailable(
        &DieselProvider::<SqliteConnection, Member>::for_table(pool, members::table)
            .build()
            .unwrap(),
    )
    .await;
    #[cfg(feature = "postgres")]
    {
        let pool = imia::diesel::postgres_pool("postgres://postgres@127.0.0.1:1/test", &impatient()).unwrap();
        let p = DieselProvider::<diesel_async::AsyncPgConnection, Member>::for_table(pool, members::table);
        assert_unavailable(&p.build().unwrap()).await;
    }
    #[cfg(feature = "mysql")]
    {
        let pool = imia::diesel::mysql_pool("mysql://root@127.0.0.1:1/test", &impatient()).unwrap();
        let p = DieselProvider::<diesel_async::AsyncMysqlConnection, Member>::for_table(pool, members::table);
        assert_unavailable(&p.build().unwrap()).await;
    }
}

#[actix_web::test]
async fn diesel_provider_behind_the_middleware() {
    use imia::diesel::{SqliteConnection, sqlite_pool};
    let pool = sqlite_pool(&crate::servers::fresh_sqlite("http"), &PoolOptions::default()).unwrap();
    // Tokens stored hashed: the provider's default.
    prepare::<SqliteConnection>(&pool, true).await;
    let members = DieselProvider::<SqliteConnection, Member>::for_table(pool, members::table)
        .build()
        .unwrap();
    let app = atest::init_service(
        App::new()
            .wrap(Authentication::new((
                TokenAuthenticator::bearer(members.clone()),
                ApiKeyAuthenticator::new(members),
            )))
            .default_service(web::to(whoami)),
    )
    .await;
    assert_eq!(send(&app, get("/?apikey=root-token")).await.id(), "1");
    assert_eq!(
        send(&app, get("/").insert_header(("Authorization", "Bearer user-token")))
            .await
            .id(),
        "2"
    );
    assert_eq!(send(&app, get("/?apikey=disabled-token")).await.status, 401);
    assert_eq!(send(&app, get("/?apikey=dup-token")).await.status, 500);
    assert_eq!(send(&app, get("/")).await.id(), serde_json::Value::Null);

    let broken = imia::diesel::sqlite_pool("/nonexistent-imia-dir/db.sqlite3", &impatient()).unwrap();
    let broken = DieselProvider::<SqliteConnection, Member>::for_table(broken, members::table)
        .build()
        .unwrap();
    let app = atest::init_service(
        App::new()
            .wrap(Authentication::new(ApiKeyAuthenticator::new(broken)))
            .default_service(web::to(whoami)),
    )
    .await;
    let r = send(&app, get("/?apikey=root-token")).await;
    assert_eq!(r.status, 503);
    assert!(r.body.is_empty());
}

/// A user of the reference `users` table, with its security stamp.
#[derive(Clone, Debug, Queryable, Selectable, UserLike)]
#[diesel(table_name = imia::diesel::schema::users)]
pub(crate) struct Stamped {
    id: i64,
    email: String,
    password_hash: Option<String>,
    security_stamp: String,
}

/// The reference tables as an earlier version created them: no `users.security_stamp`, no
/// `imia_remember_tokens.binding`.
fn old_tables(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Mysql => {
            "CREATE TABLE users (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, email VARCHAR(255) NOT NULL UNIQUE,
                display_name VARCHAR(255), password_hash VARCHAR(512), scopes TEXT NOT NULL,
                api_token VARCHAR(255) UNIQUE, is_active BOOLEAN NOT NULL DEFAULT TRUE);
             CREATE TABLE imia_remember_tokens (selector VARCHAR(32) NOT NULL PRIMARY KEY,
                validator_hash VARCHAR(64) NOT NULL, previous_hash VARCHAR(64) NOT NULL DEFAULT '',
                rotated_at BIGINT NOT NULL, user_id VARCHAR(255) NOT NULL, series VARCHAR(32) NOT NULL,
                expires_at BIGINT NOT NULL);
             INSERT INTO users (email, password_hash, scopes) VALUES ('ann@example.com', 'h', '');"
        }
        Dialect::Postgres => {
            "CREATE TABLE users (id BIGSERIAL PRIMARY KEY, email TEXT NOT NULL UNIQUE, display_name TEXT,
                password_hash TEXT, scopes TEXT NOT NULL DEFAULT '', api_token TEXT UNIQUE,
                is_active BOOLEAN NOT NULL DEFAULT TRUE);
             CREATE TABLE imia_remember_tokens (selector VARCHAR(32) NOT NULL PRIMARY KEY,
                validator_hash VARCHAR(64) NOT NULL, previous_hash VARCHAR(64) NOT NULL DEFAULT '',
                rotated_at BIGINT NOT NULL, user_id VARCHAR(255) NOT NULL, series VARCHAR(32) NOT NULL,
                expires_at BIGINT NOT NULL);
             INSERT INTO users (email, password_hash, scopes) VALUES ('ann@example.com', 'h', '');"
        }
        _ => {
            "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, display_name TEXT,
                password_hash TEXT, scopes TEXT NOT NULL DEFAULT '', api_token TEXT UNIQUE,
                is_active BOOLEAN NOT NULL DEFAULT TRUE);
             CREATE TABLE imia_remember_tokens (selector VARCHAR(32) NOT NULL PRIMARY KEY,
                validator_hash VARCHAR(64) NOT NULL, previous_hash VARCHAR(64) NOT NULL DEFAULT '',
                rotated_at BIGINT NOT NULL, user_id VARCHAR(255) NOT NULL, series VARCHAR(32) NOT NULL,
                expires_at BIGINT NOT NULL);
             INSERT INTO users (id, email, password_hash, scopes) VALUES (1, 'ann@example.com', 'h', '');"
        }
    }
}

/// Tables of an earlier version gain the new columns (twice is harmless); stamps start empty,
/// rotate to fresh random values, and only where the provider is told which column holds them.
macro_rules! stamp_suite {
    ($conn:ty, $pool:expr) => {{
        let pool = $pool;
        let mut conn = <$conn as Backend>::checkout(&pool).await.expect("a connection");
        conn.batch_execute(old_tables(<$conn as Backend>::DIALECT))
            .await
            .expect("the old tables");
        imia::diesel::migrations::run(&mut *conn).await.expect("the upgrade");
        imia::diesel::migrations::run(&mut *conn)
            .await
            .expect("an upgrade twice is harmless");
        drop(conn);
        let plain = DieselProvider::<$conn, Stamped>::for_table(pool.clone(), imia::diesel::schema::users::table)
            .build()
            .unwrap();
        let ann = plain
            .find_by_username("ann@example.com")
            .await
            .unwrap()
            .expect("the old row");
        assert_eq!(ann.security_stamp(), "", "old rows start without a stamp");
        // The users table gained `email_verified`: old rows are verified.
        let registered =
            DieselProvider::<$conn, Registered>::for_table(pool.clone(), imia::diesel::schema::users::table)
                .build()
                .unwrap();
        let old = registered
            .find_by_username("ann@example.com")
            .await
            .unwrap()
            .expect("the old row, with the new column");
        assert!(old.email_verified && old.is_verified(), "old rows are verified");
        let id = ann.id();
        assert!(
            !plain.rotate_security_stamp(&id).await.unwrap(),
            "no stamp column configured"
        );
        let stamps = DieselProvider::<$conn, Stamped>::for_table(pool.clone(), imia::diesel::schema::users::table)
            .security_stamp_column("users", "security_stamp")
            .build()
            .unwrap();
        assert!(stamps.rotate_security_stamp(&id).await.unwrap());
        let first = stamps.find_by_id(&id).await.unwrap().unwrap().security_stamp;
        assert_eq!(first.len(), 22);
        assert!(stamps.rotate_security_stamp(&id).await.unwrap());
        assert_ne!(stamps.find_by_id(&id).await.unwrap().unwrap().security_stamp, first);
        assert!(!stamps.rotate_security_stamp("999").await.unwrap(), "no such user");
        assert!(!stamps.rotate_security_stamp("not-a-number").await.unwrap());
        // The remember-me table gained `binding`: a token round-trips with it.
        let tokens = imia::diesel::DieselRememberStore::<$conn>::new(pool.clone());
        let token = imia::remember::RememberToken {
            selector: "s".into(),
            validator_hash: "v".into(),
            previous_hash: None,
            rotated_at: 1,
            user_id: id.to_string(),
            series: "x".into(),
            expires_at: i64::MAX / 2,
            binding: "b".repeat(64),
        };
        imia::remember::RememberStore::insert(&tokens, &token).await.unwrap();
        assert_eq!(
            imia::remember::RememberStore::find(&tokens, "s").await.unwrap(),
            Some(token)
        );
    }};
}

#[test]
fn stamp_and_password_columns_must_be_identifiers() {
    let pool = imia::diesel::sqlite_pool(":memory:", &PoolOptions::default()).unwrap();
    let build = |table: &str, column: &str| {
        DieselProvider::<imia::diesel::SqliteConnection, Stamped>::for_table(
            pool.clone(),
            imia::diesel::schema::users::table,
        )
        .security_stamp_column(table, column)
        .build()
        .is_ok()
    };
    assert!(build("users", "security_stamp"));
    assert!(!build("users; DROP TABLE users", "security_stamp"));
    let table = imia::diesel::DieselRememberStore::<imia::diesel::SqliteConnection>::with_table(pool.clone(), "a b");
    assert!(matches!(
        table,
        Err(imia::error::ConfigError::InvalidIdentifier { what: "table", .. })
    ));
    assert!(!build("users", "stamp = 'x'"));
}

#[actix_web::test]
async fn sqlite_stamps_and_upgrades() {
    stamp_suite!(
        imia::diesel::SqliteConnection,
        imia::diesel::sqlite_pool(&crate::servers::fresh_sqlite("stamps"), &PoolOptions::default()).unwrap()
    );
}

#[cfg(feature = "postgres")]
#[actix_web::test]
async fn postgres_stamps_and_upgrades() {
    let Some(url) = crate::servers::fresh_postgres("stamps").await else {
        return;
    };
    stamp_suite!(
        diesel_async::AsyncPgConnection,
        imia::diesel::postgres_pool(&url, &PoolOptions::default()).unwrap()
    );
}

#[cfg(feature = "mysql")]
#[actix_web::test]
async fn mysql_stamps_and_upgrades() {
    let Some(url) = crate::servers::fresh_mysql("stamps").await else {
        return;
    };
    stamp_suite!(
        diesel_async::AsyncMysqlConnection,
        imia::diesel::mysql_pool(&url, &PoolOptions::default()).unwrap()
    );
}

/// A user of the reference `users` table as sign-up makes it.
#[derive(Clone, Debug, PartialEq, Queryable, Selectable, UserLike)]
#[diesel(table_name = imia::diesel::schema::users)]
pub(crate) struct Registered {
    id: i64,
    email: String,
    display_name: Option<String>,
    password_hash: Option<String>,
    scopes: String,
    is_active: bool,
    security_stamp: String,
    email_verified: bool,
}

/// Sign-up and address changes ([`UserRegistry`](imia::provider::UserRegistry)) on the
/// reference table that the migrations create.
macro_rules! registry_suite {
    ($conn:ty, $pool:expr) => {{
        use imia::{
            diesel::schema::users,
            provider::{NewUser, UserRegistry},
        };
        let pool = $pool;
        let mut conn = <$conn as Backend>::checkout(&pool).await.expect("a connection");
        imia::diesel::migrations::run(&mut *conn).await.expect("the tables");
        conn.batch_execute(
            "INSERT INTO users (email, password_hash, scopes) VALUES ('ann@example.com', 'h', 'admin');
             INSERT INTO users (email, password_hash, scopes, is_active) VALUES ('gone@example.com', 'h', '', FALSE);",
        )
        .await
        .expect("the seeded users");
        drop(conn);
        let count = || async {
            let mut conn = <$conn as Backend>::checkout(&pool).await.unwrap();
            diesel_async::RunQueryDsl::get_result::<i64>(users::table.count(), &mut *conn)
                .await
                .unwrap()
        };
        let full = |builder: imia::diesel::DieselProviderBuilder<$conn, Registered>| {
            builder
                .case_insensitive_usernames(true)
                .password_column("users", "password_hash")
                .security_stamp_column("users", "security_stamp")
                .verified_column("users", "email_verified")
                .display_name_column("display_name")
                .scopes_column("scopes")
                .active_column("is_active")
                .build()
                .unwrap()
        };
        let provider = full(DieselProvider::<$conn, Registered>::for_table(
            pool.clone(),
            users::table,
        ));
        let ann = provider.find_by_username("ann@example.com").await.unwrap().unwrap();
        assert!(ann.is_verified(), "rows made without the flag are verified");

        // Without the verified column: a clear error, nothing created.
        let unconfigured = DieselProvider::<$conn, Registered>::for_table(pool.clone(), users::table)
            .password_column("users", "password_hash")
            .build()
            .unwrap();
        for err in [
            unconfigured
                .create_user(NewUser::new("x@example.com", "X", "hash"))
                .await
                .map(|_| ())
                .unwrap_err(),
            unconfigured.mark_verified(&ann.id()).await.map(|_| ()).unwrap_err(),
            unconfigured
                .change_email(&ann.id(), "x@example.com")
                .await
                .map(|_| ())
                .unwrap_err(),
        ] {
            assert!(matches!(err, ProviderError::Backend(_)), "{err:?}");
            assert!(format!("{err:?}").contains("verified_column"), "{err:?}");
        }
        // Without the password column on the same table: an error too.
        let no_password = DieselProvider::<$conn, Registered>::for_table(pool.clone(), users::table)
            .verified_column("users", "email_verified")
            .build()
            .unwrap();
        let err = no_password
            .create_user(NewUser::new("x@example.com", "X", "hash"))
            .await
            .unwrap_err();
        assert!(format!("{err:?}").contains("password_column"), "{err:?}");
        assert_eq!(count().await, 2, "nothing created");

        // A new user: unverified, no scopes, active, a fresh stamp, found by its address.
        let bob = provider
            .create_user(NewUser::new("bob@example.com", "Bob", "hash-b"))
            .await
            .unwrap()
            .expect("a new user");
        assert!(!bob.is_verified() && !bob.email_verified);
        assert!(bob.scopes().is_empty() && bob.scopes.is_empty());
        assert!(bob.is_active());
        assert_eq!(bob.display_name(), "Bob");
        assert_eq!(bob.hashed_password(), "hash-b");
        assert_eq!(bob.security_stamp().len(), 22);
        assert_eq!(
            provider.find_by_username("bob@example.com").await.unwrap(),
            Some(bob.clone())
        );
        assert_eq!(provider.find_by_id(&bob.id()).await.unwrap(), Some(bob.clone()));
        assert_eq!(count().await, 3);
        // Another one gets another stamp.
        let carol = provider
            .create_user(NewUser::new("carol@example.com", "Carol", "hash-c"))
            .await
            .unwrap()
            .expect("a new user");
        assert_ne!(carol.security_stamp, bob.security_stamp);
        assert_ne!(carol.id, bob.id);

        // A taken address: `None`, nothing changed. Case-insensitively, as configured.
        for taken in ["ann@example.com", "ANN@example.com", "bob@example.com"] {
            let again = provider.create_user(NewUser::new(taken, "Mallory", "hash-m")).await;
            assert_eq!(again.unwrap(), None, "{taken}");
        }
        // A row the provider's query leaves out is still taken: the insert's unique violation.
        let active_only = full(DieselProvider::<$conn, Registered>::for_query(pool.clone(), || {
            users::table
                .filter(users::is_active.eq(true))
                .select(Registered::as_select())
                .into_boxed()
        }));
        assert_eq!(active_only.find_by_username("gone@example.com").await.unwrap(), None);
        let hidden = active_only
            .create_user(NewUser::new("gone@example.com", "Mallory", "hash-m"))
            .await;
        assert_eq!(hidden.unwrap(), None);
        assert_eq!(count().await, 4, "nothing created");
        let unchanged = provider.find_by_username("ann@example.com").await.unwrap();
        assert_eq!(unchanged, Some(ann.clone()));
        assert_eq!(provider.find_by_id(&bob.id()).await.unwrap(), Some(bob.clone()));

        // Verifying.
        assert!(provider.mark_verified(&bob.id()).await.unwrap());
        let verified = provider.find_by_id(&bob.id()).await.unwrap().unwrap();
        assert!(verified.is_verified());
        assert_eq!(
            Registered {
                email_verified: false,
                ..verified
            },
            bob,
            "nothing else changed"
        );
        assert!(provider.mark_verified(&bob.id()).await.unwrap(), "twice is harmless");
        assert!(!provider.mark_verified("999").await.unwrap(), "no such user");
        assert!(!provider.mark_verified("not-a-number").await.unwrap());
        assert!(
            !provider.find_by_id(&carol.id()).await.unwrap().unwrap().is_verified(),
            "only bob"
        );

        // Changing addresses: taken (by another user, in any case) is `false`, nothing changed.
        for taken in ["ann@example.com", "Ann@Example.com"] {
            assert!(!provider.change_email(&carol.id(), taken).await.unwrap(), "{taken}");
        }
        assert!(
            !active_only.change_email(&carol.id(), "gone@example.com").await.unwrap(),
            "a unique violation"
        );
        assert_eq!(provider.find_by_id(&carol.id()).await.unwrap(), Some(carol.clone()));
        assert!(
            !provider.change_email("999", "nobody@example.com").await.unwrap(),
            "no such user"
        );
        assert_eq!(provider.find_by_username("nobody@example.com").await.unwrap(), None);
        // A free address: the user's, verified; the old one finds nobody.
        assert!(
            provider
                .change_email(&carol.id(), "carol.new@example.com")
                .await
                .unwrap()
        );
        let moved = provider
            .find_by_username("carol.new@example.com")
            .await
            .unwrap()
            .expect("found by the new address");
        assert_eq!(moved.id, carol.id);
        assert!(moved.is_verified());
        assert_eq!(moved.security_stamp, carol.security_stamp);
        assert_eq!(provider.find_by_username("carol@example.com").await.unwrap(), None);
        // One's own address, in another case, is not taken.
        assert!(
            provider
                .change_email(&carol.id(), "Carol.New@example.com")
                .await
                .unwrap()
        );
        assert_eq!(
            provider.find_by_id(&carol.id()).await.unwrap().unwrap().email,
            "Carol.New@example.com"
        );
        assert_eq!(count().await, 4);
    }};
}

#[actix_web::test]
async fn sqlite_registers_users() {
    registry_suite!(
        imia::diesel::SqliteConnection,
        imia::diesel::sqlite_pool(&crate::servers::fresh_sqlite("registry"), &PoolOptions::default()).unwrap()
    );
}

#[cfg(feature = "postgres")]
#[actix_web::test]
async fn postgres_registers_users() {
    let Some(url) = crate::servers::fresh_postgres("registry").await else {
        return;
    };
    registry_suite!(
        diesel_async::AsyncPgConnection,
        imia::diesel::postgres_pool(&url, &PoolOptions::default()).unwrap()
    );
}

#[cfg(feature = "mysql")]
#[actix_web::test]
async fn mysql_registers_users() {
    let Some(url) = crate::servers::fresh_mysql("registry").await else {
        return;
    };
    registry_suite!(
        diesel_async::AsyncMysqlConnection,
        imia::diesel::mysql_pool(&url, &PoolOptions::default()).unwrap()
    );
}

#[test]
fn registration_columns_must_be_identifiers() {
    let pool = imia::diesel::sqlite_pool(":memory:", &PoolOptions::default()).unwrap();
    let builder = || {
        DieselProvider::<imia::diesel::SqliteConnection, Registered>::for_table(
            pool.clone(),
            imia::diesel::schema::users::table,
        )
    };
    assert!(builder().verified_column("users", "email_verified").build().is_ok());
    assert!(builder().verified_column("users x", "email_verified").build().is_err());
    assert!(builder().verified_column("users", "v = TRUE").build().is_err());
    assert!(builder().display_name_column("a; b").build().is_err());
    assert!(builder().scopes_column("'x'").build().is_err());
    assert!(builder().active_column("TRUE OR").build().is_err());
}
