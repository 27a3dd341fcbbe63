//! Helpers for imia's cross-crate and end-to-end tests.
//!
//! - [`attack`]: users, a provider and a password hasher that count what reaches them, and
//!   handlers that say which route served a request, for the adversarial suite.
//! - [`http`]: a small blocking HTTP/1.1 client over [`std::net::TcpStream`]. It sends the
//!   request target, method and headers exactly as given (no normalisation, no encoding), so
//!   tests can send the odd requests that real clients refuse to build, and reads any response
//!   framing a server may use (`Content-Length`, chunked, or until the connection closes).
//! - [`webdriver`]: a minimal W3C WebDriver client driving headless Chromium through
//!   `chromedriver`, for browser tests.
//! - [`live`]: serves an actix-web application in-process on a real loopback socket, so tests
//!   can share state with it (counters, switchable faults) and still send raw bytes.
//! - [`faults`]: a TCP proxy that can be cut or silenced, a private `redis-server` to stop and
//!   restart, and blocking Redis connections, for fault-injection tests.
//! - [`require`]: the servers, programs and browser tests need, and the one rule for when one
//!   is missing: the test fails under `CI=true`, and is skipped with a printed reason elsewhere.
//! - [`session_attack`]: fresh databases on the real PostgreSQL server and stores on the real
//!   Redis server, the demo on each session store, and reading or forging the server-side state
//!   behind a session cookie, for the adversarial session, login, impersonation and concurrency
//!   tests.
//! - [`serial`]: a lock for the few tests that measure the test process as a whole.
//! - [`smtp`]: a real SMTP server (aiosmtpd) on a free port, and the messages it received.
//! - [`server`]: starts an example binary of `imia-examples` on a free port, waits until it
//!   answers, and kills it when dropped.
//!
//! Everything here is blocking std I/O with bounded timeouts, for plain `#[test]` functions.
//!
//! ```no_run
//! use imia_tests::{http::Request, server::ExampleServer};
//!
//! let server = ExampleServer::start("quickstart").expect("the quickstart example starts");
//! let resp = server.send(&Request::get("/?apikey=user1@example.com")).unwrap();
//! assert_eq!(resp.status, 200);
//! assert_eq!(resp.json().unwrap()["name"], "User1");
//! ```
#![forbid(unsafe_code)]

pub mod attack;
pub mod faults;
pub mod http;
pub mod live;
pub mod require;
pub mod serial;
pub mod server;
pub mod session_attack;
pub mod smtp;
pub mod webdriver;
