//! Real database servers for the tests: where they are, and a fresh database per test.
//!
//! URLs come from the environment, with the defaults of the development and CI machines:
//!
//! | variable | default |
//! |---|---|
//! | `IMIA_TEST_POSTGRES_URL` | `postgres://postgres@127.0.0.1:5432/test` |
//! | `IMIA_TEST_MYSQL_URL` | `mysql://root@127.0.0.1:3306/test` |
//! | `IMIA_TEST_REDIS_URL` | `redis://127.0.0.1:6379` |
//!
//! A test that needs a server which does not answer skips with a printed reason, except under
//! `CI=true`, where it fails: CI must prove the backends.

#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};

/// The PostgreSQL server's URL (a database that exists and that we may create others from).
pub(crate) fn postgres_url() -> String {
    std::env::var("IMIA_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// The MySQL/MariaDB server's URL.
pub(crate) fn mysql_url() -> String {
    std::env::var("IMIA_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

/// The Redis server's URL.
pub(crate) fn redis_url() -> String {
    std::env::var("IMIA_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A pool of connections to the test Redis that answered a `PING`, or `None` (skipped outside
/// CI, a failure under it) when Redis does not answer.
#[cfg(feature = "redis")]
pub(crate) async fn redis_pool() -> Option<deadpool_redis::Pool> {
    let pool = imia::throttle::RedisThrottle::redis_pool(&redis_url()).unwrap();
    let ping = async {
        let mut conn = pool.get().await.map_err(|e| e.to_string())?;
        ::redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map_err(|e| e.to_string())
    };
    match ping.await {
        Ok(_) => Some(pool),
        Err(e) => unavailable("Redis", e),
    }
}

/// Whether we run under CI, where a missing server is a failure.
pub(crate) fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Reports a server that does not answer: a panic under CI, a printed skip elsewhere. Returns
/// `None` so that tests can `let Some(x) = ... else { return };`.
pub(crate) fn unavailable<T>(what: &str, err: impl std::fmt::Display) -> Option<T> {
    assert!(!under_ci(), "{what} is not reachable under CI=true: {err}");
    eprintln!("SKIPPED: {what} is not reachable ({err}); set its URL or start it to run this test");
    None
}

/// A name unique to this test process and call: `imia_t_<pid>_<n>_<tag>`.
pub(crate) fn unique_name(tag: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "imia_t_{}_{}_{tag}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Whether a name made by [`unique_name`] belongs to a process that has ended (its databases
/// and files are then left over from an earlier run and may be dropped).
pub(crate) fn is_stale(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("imia_t_") else {
        return false;
    };
    let Some(pid) = rest.split('_').next().and_then(|p| p.parse::<u32>().ok()) else {
        return false;
    };
    pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Replaces the database name (the last path segment) of a URL.
pub(crate) fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let base = match base.rfind('/') {
        Some(i) if i > base.find("//").map_or(0, |j| j + 1) => &base[..i],
        _ => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// Creates a fresh PostgreSQL database for one test and returns its URL (dropped by the next
/// run's cleanup of stale `imia_t_` databases, never by a running test).
#[cfg(feature = "postgres")]
pub(crate) async fn fresh_postgres(tag: &str) -> Option<String> {
    use diesel_async::{AsyncConnection as _, AsyncPgConnection, SimpleAsyncConnection as _};
    let admin_url = postgres_url();
    let mut admin = match AsyncPgConnection::establish(&admin_url).await {
        Ok(c) => c,
        Err(e) => return unavailable("PostgreSQL", e),
    };
    // Drop what earlier, finished runs left behind.
    #[derive(diesel::QueryableByName)]
    struct Db {
        #[diesel(sql_type = diesel::sql_types::Text)]
        datname: String,
    }
    let existing: Vec<Db> = diesel_async::RunQueryDsl::load(
        diesel::sql_query("SELECT datname FROM pg_database WHERE datname LIKE 'imia_t_%'"),
        &mut admin,
    )
    .await
    .unwrap_or_default();
    for db in existing.into_iter().filter(|d| is_stale(&d.datname)) {
        let _ = admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", db.datname))
            .await;
    }
    let name = unique_name(tag);
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create a test database");
    Some(with_database(&admin_url, &name))
}

/// Creates a fresh MySQL/MariaDB database for one test and returns its URL.
#[cfg(feature = "mysql")]
pub(crate) async fn fresh_mysql(tag: &str) -> Option<String> {
    use diesel_async::{AsyncConnection as _, AsyncMysqlConnection, SimpleAsyncConnection as _};
    let admin_url = mysql_url();
    let mut admin = match AsyncMysqlConnection::establish(&admin_url).await {
        Ok(c) => c,
        Err(e) => return unavailable("MySQL/MariaDB", e),
    };
    // Drop what earlier, finished runs left behind.
    #[derive(diesel::QueryableByName)]
    struct Db {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
    }
    let existing: Vec<Db> = diesel_async::RunQueryDsl::load(
        diesel::sql_query(
            "SELECT CAST(SCHEMA_NAME AS CHAR) AS name FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'imia\\_t\\_%'",
        ),
        &mut admin,
    )
    .await
    .unwrap_or_default();
    for db in existing.into_iter().filter(|d| is_stale(&d.name)) {
        let _ = admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {}", db.name))
            .await;
    }
    let name = unique_name(tag);
    admin
        .batch_execute(&format!(
            "CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        ))
        .await
        .expect("create a test database");
    Some(with_database(&admin_url, &name))
}

/// A fresh SQLite file for one test (in the system's temporary directory).
#[cfg(feature = "sqlite")]
pub(crate) fn fresh_sqlite(tag: &str) -> String {
    let dir = std::env::temp_dir();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_stale(&name) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    let path = dir.join(format!("{}.sqlite3", unique_name(tag)));
    let _ = std::fs::remove_file(&path);
    path.to_string_lossy().into_owned()
}

#[test]
fn stale_names_belong_to_ended_processes() {
    assert!(!is_stale(&unique_name("x")));
    assert!(is_stale("imia_t_4000000000_1_x"));
    assert!(!is_stale("other_1_2"));
}

#[test]
fn database_names_are_replaced() {
    assert_eq!(with_database("postgres://u@h:1/test", "x"), "postgres://u@h:1/x");
    assert_eq!(
        with_database("mysql://root@127.0.0.1:3306/test?ssl=false", "x"),
        "mysql://root@127.0.0.1:3306/x?ssl=false"
    );
    assert_eq!(with_database("postgres://u@h:1", "x"), "postgres://u@h:1/x");
}
