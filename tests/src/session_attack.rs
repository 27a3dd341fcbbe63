//! Shared pieces of the adversarial suite's session, login, impersonation and concurrency
//! tests: fresh databases on the real PostgreSQL server and stores on the real Redis server
//! (what is missing skips or fails as [`crate::require`] says), starting the demo on a chosen
//! session store, reading and writing the server-side session state behind a cookie, and a few
//! request shapes.
//!
//! Everything is blocking I/O with bounded timeouts. Redis is spoken to through
//! [`redis_connection`]; SQLite and PostgreSQL through the `sqlite3` and `psql` clients.

use std::{
    io,
    net::SocketAddr,
    path::PathBuf,
    process::{Command, Stdio},
    sync::atomic::{AtomicUsize, Ordering},
};

use actix_web::cookie::{Cookie, CookieJar, Key};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use url::Url;

use crate::{
    faults::redis_connection,
    http::{Client, Request, Response},
    require,
    server::ExampleServer,
};

/// The secret key the adversarial suite gives the demo (base64 of 48 bytes), so that tests can
/// decrypt its session cookie and find the server-side state behind it.
pub const DEMO_SECRET: &str = "YWR2ZXJzYXJpYWwtc3VpdGUtc2VjcmV0LWtleS0wMTIzNDU2Nzg5YWJjZGVmZ2hp";
/// The demo's session cookie.
pub const SESSION_COOKIE: &str = "imia_session";
/// The demo's remember-me cookie.
pub const REMEMBER_COOKIE: &str = "imia_remember";
/// The password of every seeded demo user.
pub const PASSWORD: &str = "password";

/// A name unique to this process and call: `{prefix}_{pid}_{n}`.
pub fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("{prefix}_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// What the databases and files these helpers create are named after: `imia_sa_…`.
const NAMESPACE: &str = "imia_sa";

/// Whether `name` (`imia_sa_…_{pid}_{n}`, possibly with an extension) belongs to a test
/// process that has exited. Only where `/proc` tells; elsewhere nothing is stale.
fn is_stale(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or(name);
    let mut parts = stem.rsplit('_');
    let (Some(_n), Some(pid)) = (parts.next(), parts.next()) else {
        return false;
    };
    let proc = std::path::Path::new("/proc");
    stem.starts_with(NAMESPACE)
        && pid
            .parse::<u32>()
            .is_ok_and(|pid| proc.is_dir() && !proc.join(pid.to_string()).exists())
}

/// A fresh SQLite file path in the temporary directory (nothing there yet). Files left behind
/// by earlier test processes are removed.
pub fn temp_sqlite(prefix: &str) -> String {
    let dir = std::env::temp_dir();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries.flatten() {
            if entry.file_name().to_str().is_some_and(is_stale) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    let path: PathBuf = dir.join(format!("{}.sqlite3", unique(&format!("{NAMESPACE}_{prefix}"))));
    let _ = std::fs::remove_file(&path);
    path.to_string_lossy().into_owned()
}

/// Runs `sql` on the SQLite file `path` with the `sqlite3` client; its standard output.
///
/// # Errors
///
/// When the client is missing or the statement fails.
pub fn sqlite(path: &str, sql: &str) -> io::Result<String> {
    run(Command::new("sqlite3").args(["-batch", "-cmd", ".timeout 5000", path, sql]))
}

/// Runs `sql` on the PostgreSQL database `url` with `psql` (unaligned, tuples only); its output.
///
/// # Errors
///
/// When the client is missing or the statement fails.
pub fn psql(url: &str, sql: &str) -> io::Result<String> {
    run(Command::new("psql").args([url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql]))
}

fn run(cmd: &mut Command) -> io::Result<String> {
    let out = cmd.stdin(Stdio::null()).output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Whether the `sqlite3` client runs; when it does not, after [`require::skip_or_fail`].
pub fn have_sqlite3() -> bool {
    require::program("sqlite3", &["-version"])
}

/// A fresh database on the PostgreSQL server of [`require::postgres_url`] (made with `psql`,
/// named `imia_sa_{prefix}_…`); its URL, or `None` after [`require::skip_or_fail`] when the
/// server or `psql` is missing.
pub fn fresh_postgres(prefix: &str) -> Option<String> {
    let url = require::postgres_url();
    require::server(&url)?;
    // Databases of earlier, finished test processes go first.
    if let Ok(names) = psql(
        &url,
        &format!("SELECT datname FROM pg_database WHERE datname LIKE '{NAMESPACE}\\_%'"),
    ) {
        for stale in names.lines().filter(|n| is_stale(n)) {
            let _ = psql(&url, &format!("DROP DATABASE IF EXISTS {stale} WITH (FORCE)"));
        }
    }
    let name = unique(&format!("{NAMESPACE}_{prefix}"));
    let made = psql(&url, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .and_then(|_| psql(&url, &format!("CREATE DATABASE {name}")));
    if let Err(err) = made {
        return require::missing(format_args!("could not create a PostgreSQL database with psql: {err}"));
    }
    Some(require::with_database(&url, &name))
}

/// Drops a database made by [`fresh_postgres`] (given its URL) with `psql`; best effort, for
/// tests that clean up after themselves (later test processes drop what is left anyway).
pub fn drop_postgres(database_url: &str) {
    let name = Url::parse(database_url).map(|u| u.path().trim_start_matches('/').to_owned());
    if let Ok(name) = name.as_deref()
        && name.starts_with(NAMESPACE)
    {
        let _ = psql(
            &require::postgres_url(),
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        );
    }
}

/// Where the demo keeps sessions (users always live in the database named).
#[derive(Debug, Clone)]
pub enum Store {
    /// Server-side, in the SQLite file's `imia_sessions` table.
    Sqlite(String),
    /// Server-side, in the PostgreSQL database's `imia_sessions` table (users there too).
    Postgres(String),
    /// Server-side, in Redis at this URL; users in the SQLite file.
    Redis {
        /// The SQLite file of the users.
        sqlite: String,
        /// The Redis URL.
        url: String,
    },
    /// In the cookie; users in the SQLite file.
    Cookie(String),
}

impl Store {
    /// The SQLite file of the users, when they live in one.
    pub fn sqlite_path(&self) -> Option<&str> {
        match self {
            Self::Sqlite(path) | Self::Cookie(path) | Self::Redis { sqlite: path, .. } => Some(path),
            Self::Postgres(_) => None,
        }
    }

    /// Runs SQL on the users' database.
    ///
    /// # Errors
    ///
    /// When the client fails or the statement is refused.
    pub fn sql(&self, sql: &str) -> io::Result<String> {
        match self {
            Self::Postgres(url) => psql(url, sql),
            other => sqlite(other.sqlite_path().unwrap_or_default(), sql),
        }
    }
}

impl Store {
    /// The server-side state of the session `key` (whose SHA-256 hex is `key_hash`, as the
    /// database stores it), as the store holds it: a JSON object of JSON-encoded values.
    ///
    /// # Errors
    ///
    /// When the store cannot be read; always for the cookie store (nothing server-side).
    pub fn read_session(&self, key: &str, key_hash: &str) -> io::Result<Option<String>> {
        let found = match self {
            Self::Redis { url, .. } => {
                let value: Option<Vec<u8>> = redis::cmd("GET")
                    .arg(key)
                    .query(&mut redis_connection(url).map_err(io::Error::other)?)
                    .map_err(io::Error::other)?;
                return Ok(value.map(|v| String::from_utf8_lossy(&v).into_owned()));
            }
            Self::Cookie(_) => return Err(io::Error::other("the cookie store keeps nothing server-side")),
            _ => self.sql(&format!(
                "SELECT state FROM imia_sessions WHERE key_hash = '{key_hash}'"
            ))?,
        };
        Ok((!found.is_empty()).then_some(found))
    }

    /// Writes `state` (a JSON object of JSON-encoded values) as the server-side state of the
    /// session `key`, valid for an hour: what an attacker with write access to the store, or a
    /// bug elsewhere, could do.
    ///
    /// # Errors
    ///
    /// When the store cannot be written; always for the cookie store.
    pub fn write_session(&self, key: &str, key_hash: &str, state: &str) -> io::Result<()> {
        let expires = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            + 3600;
        let quoted = state.replace('\'', "''");
        match self {
            Self::Redis { url, .. } => {
                let mut redis = redis_connection(url).map_err(io::Error::other)?;
                match redis::cmd("SET").arg(key).arg(state).arg("EX").arg(3600).query(&mut redis) {
                    Ok(redis::Value::Okay) => Ok(()),
                    Ok(other) => Err(io::Error::other(format!("SET answered {other:?}"))),
                    Err(err) => Err(io::Error::other(err)),
                }
            }
            Self::Cookie(_) => Err(io::Error::other("the cookie store keeps nothing server-side")),
            Self::Postgres(_) => self
                .sql(&format!(
                    "INSERT INTO imia_sessions (key_hash, state, expires_at) VALUES ('{key_hash}', '{quoted}', {expires}) \
                     ON CONFLICT (key_hash) DO UPDATE SET state = EXCLUDED.state, expires_at = EXCLUDED.expires_at"
                ))
                .map(drop),
            Self::Sqlite(_) => self
                .sql(&format!(
                    "INSERT OR REPLACE INTO imia_sessions (key_hash, state, expires_at) VALUES ('{key_hash}', '{quoted}', {expires})"
                ))
                .map(drop),
        }
    }
}

/// Starts the demo binary on `store`, with [`DEMO_SECRET`].
///
/// # Panics
///
/// When the demo does not start.
pub fn start_demo(store: &Store) -> ExampleServer {
    try_start_demo(store, &[]).unwrap_or_else(|e| panic!("the demo starts on {store:?}: {e}"))
}

/// Starts the demo binary on `store`, with [`DEMO_SECRET`] and the variables `extra` (which
/// override the others). `PUBLIC_ORIGIN` is unset unless `extra` sets it.
///
/// # Errors
///
/// When the demo does not start (its output is in the error).
pub fn try_start_demo(store: &Store, extra: &[(&str, &str)]) -> io::Result<ExampleServer> {
    // Empty is unset for the demo: the caller's environment does not leak into the test.
    let mut env: Vec<(&str, String)> = vec![
        ("IMIA_SECRET_KEY", DEMO_SECRET.to_owned()),
        ("PUBLIC_ORIGIN", String::new()),
    ];
    match store {
        Store::Sqlite(path) => env.push(("DATABASE_URL", path.clone())),
        Store::Postgres(url) => env.push(("DATABASE_URL", url.clone())),
        Store::Redis { sqlite, url } => {
            env.push(("DATABASE_URL", sqlite.clone()));
            env.push(("REDIS_URL", url.clone()));
            env.push(("SESSION_STORE", "redis".to_owned()));
        }
        Store::Cookie(path) => {
            env.push(("DATABASE_URL", path.clone()));
            env.push(("SESSION_STORE", "cookie".to_owned()));
        }
    }
    env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    ExampleServer::start_with_env("demo", &vars)
}

/// The SQLite store, or `None` after [`require::skip_or_fail`] when the `sqlite3` client is
/// missing.
pub fn sqlite_store(prefix: &str) -> Option<Store> {
    have_sqlite3().then(|| Store::Sqlite(temp_sqlite(prefix)))
}

/// The PostgreSQL store on a fresh database, or `None` after [`require::skip_or_fail`].
pub fn postgres_store(prefix: &str) -> Option<Store> {
    fresh_postgres(prefix).map(Store::Postgres)
}

/// The Redis store on the server of [`require::redis_url`], or `None` after
/// [`require::skip_or_fail`] when Redis or `sqlite3` is missing.
pub fn redis_store(prefix: &str) -> Option<Store> {
    let url = require::redis_url();
    require::server(&url)?;
    have_sqlite3().then(|| Store::Redis {
        sqlite: temp_sqlite(prefix),
        url,
    })
}

/// Every server-side store reachable here, each with fresh data.
pub fn server_side_stores(prefix: &str) -> Vec<Store> {
    [sqlite_store(prefix), postgres_store(prefix), redis_store(prefix)]
        .into_iter()
        .flatten()
        .collect()
}

/// The session key inside a session cookie value sealed (`Private`) with a key derived from the
/// base64 `secret`, as actix-session and the demo seal it.
pub fn session_key(cookie_value: &str, secret: &str) -> Option<String> {
    let master = STANDARD.decode(secret).ok()?;
    let key = Key::derive_from(&master);
    let mut jar = CookieJar::new();
    // Cookie values travel percent-encoded.
    let value = percent_encoding::percent_decode_str(cookie_value).decode_utf8_lossy();
    jar.add_original(Cookie::new(SESSION_COOKIE, value.into_owned()));
    jar.private(&key).get(SESSION_COOKIE).map(|c| c.value().to_owned())
}

/// Seals `session_key` into a cookie value the way the demo does.
pub fn seal_session_key(session_key: &str, secret: &str) -> Option<String> {
    let master = STANDARD.decode(secret).ok()?;
    let key = Key::derive_from(&master);
    let mut jar = CookieJar::new();
    jar.private_mut(&key)
        .add(Cookie::new(SESSION_COOKIE, session_key.to_owned()));
    jar.get(SESSION_COOKIE).map(|c| {
        c.encoded()
            .stripped()
            .to_string()
            .split_once('=')
            .map_or_else(String::new, |(_, v)| v.to_owned())
    })
}

/// A same-origin form POST, as a browser sends it from the app's own page.
pub fn post_form(target: &str, fields: &[(&str, &str)]) -> Request {
    Request::post(target).form(fields)
}

/// Logs `client` in as `user` with `password` (and "remember me" when asked); the response.
///
/// # Panics
///
/// When the server does not answer.
pub fn try_login(client: &mut Client, user: &str, password: &str, remember: bool) -> Response {
    let mut fields = vec![("username", user), ("password", password)];
    if remember {
        fields.push(("remember_me", "1"));
    }
    client.send(&post_form("/login", &fields)).expect("the login answers")
}

/// Logs `client` in as `user` with the seeded password and asserts it worked.
///
/// # Panics
///
/// When the login fails.
pub fn login(client: &mut Client, user: &str) {
    let resp = try_login(client, user, PASSWORD, false);
    assert_eq!(resp.status, 303, "login as {user}: {}", resp.text());
}

/// `GET /whoami` for `client`: `(state, username)`.
///
/// # Panics
///
/// When the server does not answer JSON.
pub fn whoami(client: &mut Client) -> (String, Option<String>) {
    let resp = client.send(&Request::get("/whoami")).expect("whoami answers");
    assert_eq!(resp.status, 200, "whoami: {}", resp.text());
    let json = resp.json().expect("whoami answers JSON");
    (
        json["state"].as_str().unwrap_or_default().to_owned(),
        json["username"].as_str().map(str::to_owned),
    )
}

/// A client for `addr` holding only the given cookies.
pub fn client_with(addr: SocketAddr, cookies: &[(&str, &str)]) -> Client {
    let mut client = Client::new(addr);
    for (name, value) in cookies {
        client.jar_mut().insert(*name, *value);
    }
    client
}

/// The live (not removal) value a response sets for cookie `name`: the first
/// [`Response::set_cookies`] entry of that name that is not a removal.
pub fn set_cookie(resp: &Response, name: &str) -> Option<String> {
    resp.set_cookies()
        .into_iter()
        .find(|c| c.name() == name && !crate::http::is_removal(c))
        .map(|c| c.value().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_of_exited_processes_are_stale() {
        let mine = unique(&format!("{NAMESPACE}_x"));
        assert!(!is_stale(&mine));
        assert!(!is_stale(&format!("{mine}.sqlite3")));
        assert!(!is_stale("imia_scale_1_2"));
        assert!(!is_stale("other_4000000_1.sqlite3"));
        if std::path::Path::new("/proc").is_dir() {
            // Beyond the largest pid Linux hands out.
            assert!(is_stale(&format!("{NAMESPACE}_x_4194305_0.sqlite3-wal")));
        }
    }

    #[test]
    fn sealed_session_keys_round_trip() {
        let sealed = seal_session_key("abc", DEMO_SECRET).unwrap();
        assert_ne!(sealed, "abc");
        assert_eq!(session_key(&sealed, DEMO_SECRET).as_deref(), Some("abc"));
        assert_eq!(session_key("abc", DEMO_SECRET), None);
    }
}
