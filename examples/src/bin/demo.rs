//! Run with
//!
//! ```not_rust
//! cargo run -p imia-examples --bin demo
//! ```
//!
//! The complete imia demo: a login form, sessions kept server-side in the same SQLite file as
//! the users, argon2id passwords, protected pages and a JSON API that takes sessions, HTTP
//! Basic, bearer tokens and API keys. Open <http://127.0.0.1:8000/login> and log in as
//! `root@example.com` / `password` (admin) or `user@example.com` / `password`.
//!
//! Environment: `PORT` (8000), `DATABASE_URL` (`imia-demo.sqlite3`; `postgres://` and
//! `mysql://` with the `postgres` / `mysql` features), `REDIS_URL` (sessions in Redis, with the
//! `redis` feature), `SESSION_STORE=cookie`, `IMIA_SECRET_KEY` (base64, at least 32 bytes),
//! `IMIA_COOKIE_SECURE=1`, `PUBLIC_ORIGIN` (`https://app.example`: the origin browsers use, behind
//! a proxy or a TLS terminator; unset, each request's own scheme and `Host`). See [`imia_examples::demo`] for the routes.

use actix_web::HttpServer;
use imia_examples::demo::{Demo, DemoConfig};

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    imia_examples::init_logging();
    let demo = Demo::new(DemoConfig::from_env()?).await?;
    let listener = imia_examples::bind_from_env()?;
    HttpServer::new(move || demo.app()).listen(listener)?.run().await?;
    Ok(())
}
