//! End to end: the example binaries of `imia-examples`, started on free ports and driven over
//! real sockets (and, for the demo, in a real browser), one module per example or scenario. One
//! test binary, so the suite links once and the examples are built once for all of it.
//!
//! | module | what runs |
//! |---|---|
//! | [`harness`] | the harness itself: finding, starting and stopping example binaries |
//! | [`quickstart`] | the `quickstart` example |
//! | [`basic_auth`] | the `basic_auth` example |
//! | [`token_auth`] | the `token_auth` example |
//! | [`multiple`] | the `multiple` example, with a cookie jar |
//! | [`scale`] | two demo processes sharing PostgreSQL and Redis; a Redis outage |
//! | [`browser`] | the demo in headless Chromium through chromedriver |
//! | [`mail`] | the SMTP mailer against a real SMTP server (aiosmtpd) |
//!
//! Tests that need a server, a program or the browser skip without it, except under `CI=true`,
//! where they fail ([`imia_tests::require`]).

mod basic_auth;
mod browser;
mod harness;
mod mail;
mod multiple;
mod quickstart;
mod scale;
mod token_auth;
