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
//! a proxy or a TLS terminator; unset, each request's own scheme and `Host`), `MAIL_DIR`
//! (`imia-demo-mail`: account e-mails as `.eml` files) or `SMTP_URL` (`smtp://127.0.0.1:2525`).
//! See [`imia_examples::demo`] for the routes.

use actix_web::HttpServer;
use imia_examples::demo::{Demo, DemoConfig, mail::DemoMail};

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    imia_examples::init_logging();
    let config = DemoConfig::from_env()?;
    let listener = imia_examples::bind_from_env()?;
    // Mailed links point to the public origin, else to the address the demo listens on.
    let mail = DemoMail::from_env(Some(listener.local_addr()?), config.public_origin.as_deref())?;
    let demo = Demo::with_mail(config, mail).await?;
    HttpServer::new(move || demo.app()).listen(listener)?.run().await?;
    Ok(())
}
