//! The adversarial suite's fault injection: stores, databases and providers fail under a real
//! server, over real sockets, and every request fails closed.
//!
//! Each case checks a protected route, a public (excluded) route and the login endpoint, and
//! asserts the documented answer of SECURITY.md ("Failing closed"): an opaque 500/503 with an
//! empty body, no redirect to the login page, no anonymous access, no cookie that logs anyone
//! in; the server keeps serving, and recovers once the fault is gone, without a restart.
//!
//! | module | fault |
//! |---|---|
//! | `provider` | the user provider fails (unavailable, broken); the password hasher is busy or broken |
//! | `stores` | the session store cannot save after a login; remember-me rotation cannot write |
//! | `redis` | a private `redis-server` is stopped, restarted, silenced, or holds garbage |
//! | `database` | PostgreSQL and MariaDB connections are cut, silenced or killed under the pool |
//!
//! Real servers: `redis-server` (on the `PATH`), PostgreSQL (`IMIA_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`) and MariaDB/MySQL (`IMIA_TEST_MYSQL_URL`, default
//! `mysql://root@127.0.0.1:3306/test`). A missing one skips its tests with a printed reason,
//! except under `CI=true`, where it fails them.

mod common;
mod database;
mod provider;
mod redis;
mod stores;
