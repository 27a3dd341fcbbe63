//! The adversarial suite: attacks on imia and the demo over real sockets, one module per
//! concern. One test binary, so the suite links once and the demo binary is built once for all
//! of it.
//!
//! | module | what is attacked |
//! |---|---|
//! | [`headers`] | credential parsing: hostile `Authorization` headers and API keys |
//! | [`paths`] | URL protection: raw request targets against include/exclude patterns |
//! | [`limits`] | sizes and passwords: what is too big is refused early; passwords compared as typed |
//! | [`login`] | failed logins look alike; cross-site requests are refused; no caching |
//! | [`redirects`] | hostile `next` values and login redirects |
//! | [`sessions`] | fixation, replay, and sessions ending with the password or the user |
//! | [`impersonation`] | who may act as whom, and forged session entries |
//! | [`concurrency`] | a logout racing slow requests, parallel logins, one remember-me cookie at once |
//! | [`faults`] | stores, databases and providers fail under a real server: fail closed, recover |
//!
//! The tests run in parallel threads of this one process. What they share is kept apart:
//! in-process servers, proxies, databases, files and names are per test; captured logs are told
//! apart by a marker per application ([`faults`]); a test that measures the process as a whole
//! takes [`imia_tests::serial`]'s lock. Tests that need a server, a program or the browser
//! skip without it, except under `CI=true`, where they fail ([`imia_tests::require`]).

mod concurrency;
mod faults;
mod headers;
mod impersonation;
mod limits;
mod login;
mod paths;
mod redirects;
mod sessions;
