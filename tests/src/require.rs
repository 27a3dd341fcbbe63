//! What the tests need from the machine, and the one rule for when it is missing.
//!
//! Some tests need real servers (PostgreSQL, MariaDB/MySQL, Redis), programs (`psql`,
//! `sqlite3`, `redis-server`) or a browser (`chromium` and `chromedriver`). When one is
//! missing, the test calls [`skip_or_fail`] (or [`missing`], or a helper built on them such as
//! [`server`]) and returns:
//!
//! - under `CI=true` (exactly `true`) the call panics, so the test **fails**: CI provides
//!   everything, and a green run must never hide tests that did not run;
//! - elsewhere it prints `SKIPPED: <reason>` to standard error and the test returns early.
//!
//! No test decides this on its own: every such decision goes through [`skip_or_fail`].
//!
//! The servers' URLs come from the environment, with defaults for a local machine:
//! [`postgres_url`], [`mysql_url`] and [`redis_url`].
//!
//! ```no_run
//! use imia_tests::require;
//!
//! fn a_test_that_needs_redis() {
//!     let Some(addr) = require::server(&require::redis_url()) else { return };
//!     // … talk to Redis at `addr`.
//! }
//! ```

use std::{
    fmt,
    net::{SocketAddr, TcpStream},
    process::{Command, Stdio},
    time::Duration,
};

use url::Url;

/// The variable that says the tests run under CI: `CI`, where only the value `true` counts.
pub const CI_ENV: &str = "CI";

/// The variable naming the PostgreSQL server: `IMIA_TEST_POSTGRES_URL`.
pub const POSTGRES_URL_ENV: &str = "IMIA_TEST_POSTGRES_URL";
/// The variable naming the MariaDB/MySQL server: `IMIA_TEST_MYSQL_URL`.
pub const MYSQL_URL_ENV: &str = "IMIA_TEST_MYSQL_URL";
/// The variable naming the Redis server: `IMIA_TEST_REDIS_URL`.
pub const REDIS_URL_ENV: &str = "IMIA_TEST_REDIS_URL";

/// How long [`reachable`] waits for a TCP connection: 2 seconds.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether the tests run under CI (`CI=true`, exactly), where something missing fails a test
/// instead of skipping it.
pub fn under_ci() -> bool {
    std::env::var(CI_ENV).is_ok_and(|v| v == "true")
}

/// Reports that something the calling test needs is missing: under `CI=true` a panic (the
/// test fails), elsewhere `SKIPPED: <why>` on standard error (the caller then returns).
///
/// # Panics
///
/// Under `CI=true`.
#[track_caller]
pub fn skip_or_fail(why: impl fmt::Display) {
    assert!(!under_ci(), "required under {CI_ENV}=true: {why}");
    eprintln!("SKIPPED: {why}");
}

/// [`skip_or_fail`], then `None`: for helpers that hand a test what it needs, or nothing.
///
/// # Panics
///
/// Under `CI=true`.
#[track_caller]
pub fn missing<T>(why: impl fmt::Display) -> Option<T> {
    skip_or_fail(why);
    None
}

fn env_or(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_owned())
}

/// [`POSTGRES_URL_ENV`], default `postgres://postgres@127.0.0.1:5432/test`.
pub fn postgres_url() -> String {
    env_or(POSTGRES_URL_ENV, "postgres://postgres@127.0.0.1:5432/test")
}

/// [`MYSQL_URL_ENV`], default `mysql://root@127.0.0.1:3306/test`.
pub fn mysql_url() -> String {
    env_or(MYSQL_URL_ENV, "mysql://root@127.0.0.1:3306/test")
}

/// [`REDIS_URL_ENV`], default `redis://127.0.0.1:6379`.
pub fn redis_url() -> String {
    env_or(REDIS_URL_ENV, "redis://127.0.0.1:6379")
}

/// The port a server URL means when it names none: PostgreSQL's 5432, MySQL's 3306, Redis's
/// 6379 (by scheme), else the scheme's well-known port, if any.
pub fn default_port(url: &Url) -> Option<u16> {
    match url.scheme() {
        "postgres" | "postgresql" => Some(5432),
        "mysql" | "mariadb" => Some(3306),
        "redis" | "rediss" => Some(6379),
        _ => url.port_or_known_default(),
    }
}

/// The socket address of the server a URL such as `postgres://user@host:5432/db` or
/// `redis://host/0` names (resolving its host), with [`default_port`] when it names none.
pub fn socket_addr(url: &str) -> Option<SocketAddr> {
    let url = Url::parse(url).ok()?;
    url.socket_addrs(|| default_port(&url)).ok()?.into_iter().next()
}

/// Whether a TCP connection to the server of `url` succeeds within [`CONNECT_TIMEOUT`].
pub fn reachable(url: &str) -> bool {
    socket_addr(url).is_some_and(|addr| TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).is_ok())
}

/// The address of the server of `url` when it accepts connections; otherwise `None` after
/// [`skip_or_fail`] (so a failure under `CI=true`).
///
/// # Panics
///
/// Under `CI=true`, when the server is not reachable.
#[track_caller]
pub fn server(url: &str) -> Option<SocketAddr> {
    match socket_addr(url) {
        None => missing(format_args!("{url} names no server address")),
        Some(addr) if TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).is_ok() => Some(addr),
        Some(addr) => missing(format_args!("the server of {url} is not reachable at {addr}")),
    }
}

/// `url` naming the database `name` instead of its own, and no query.
///
/// # Panics
///
/// When `url` is not a URL.
pub fn with_database(url: &str, name: &str) -> String {
    let mut url = Url::parse(url).unwrap_or_else(|e| panic!("{url} is not a URL: {e}"));
    url.set_path(name);
    url.set_query(None);
    url.into()
}

/// `url` with its host and port replaced by `addr` (say, to go through a proxy).
///
/// # Panics
///
/// When `url` is not a URL with a host.
pub fn with_address(url: &str, addr: SocketAddr) -> String {
    let mut url = Url::parse(url).unwrap_or_else(|e| panic!("{url} is not a URL: {e}"));
    url.set_ip_host(addr.ip())
        .and_then(|()| url.set_port(Some(addr.port())))
        .unwrap_or_else(|()| panic!("{url} has no host to replace"));
    url.into()
}

/// Whether `program` runs with `args` and exits successfully; when it does not, after
/// [`skip_or_fail`].
///
/// # Panics
///
/// Under `CI=true`, when it does not run.
#[track_caller]
pub fn program(program: &str, args: &[&str]) -> bool {
    let runs = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !runs {
        skip_or_fail(format_args!("`{program}` is not installed or does not run"));
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses_come_from_urls() {
        let addr = |url: &str| socket_addr(url).map(|a| a.to_string());
        assert_eq!(
            addr("postgres://postgres@127.0.0.1:5432/test").as_deref(),
            Some("127.0.0.1:5432")
        );
        assert_eq!(addr("postgres://u:p@127.0.0.1/test").as_deref(), Some("127.0.0.1:5432"));
        assert_eq!(addr("mysql://root@127.0.0.1/test").as_deref(), Some("127.0.0.1:3306"));
        assert_eq!(addr("redis://127.0.0.1").as_deref(), Some("127.0.0.1:6379"));
        assert_eq!(addr("redis://127.0.0.1:6380/2").as_deref(), Some("127.0.0.1:6380"));
        assert_eq!(addr("redis://[::1]:6380").as_deref(), Some("[::1]:6380"));
        assert_eq!(addr("not a url"), None);
    }

    #[test]
    fn urls_are_rewritten() {
        let url = "postgres://u:p@db.example:5432/test?sslmode=disable";
        assert_eq!(with_database(url, "other"), "postgres://u:p@db.example:5432/other");
        let proxy: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        assert_eq!(
            with_address(&with_database(url, "x"), proxy),
            "postgres://u:p@127.0.0.1:4000/x"
        );
        assert_eq!(with_address("redis://127.0.0.1", proxy), "redis://127.0.0.1:4000");
    }
}
