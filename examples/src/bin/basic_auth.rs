//! Run with
//!
//! ```not_rust
//! cargo run -p imia-examples --bin basic_auth
//! ```
//!
//! HTTP Basic authentication (RFC 7617) on every path: anonymous requests get a 401 with a
//! `WWW-Authenticate: Basic realm="Protected access"` challenge, so a browser shows its login
//! dialog.
//!
//! ```not_rust
//! curl -u 'user1@example.com:password1' http://127.0.0.1:8000/
//! # {"id":"user1@example.com","name":"User1"}
//! curl -u 'user2@example.com:pass:word2' http://127.0.0.1:8000/   # splits at the first colon
//! # {"id":"user2@example.com","name":"User2"}
//! curl -i http://127.0.0.1:8000/
//! # HTTP/1.1 401 Unauthorized
//! # www-authenticate: Basic realm="Protected access"
//! ```
//!
//! The users are listed in [`imia_examples::demo_users`]. Set `PORT` to listen elsewhere than
//! 8000.

use actix_web::{App, HttpResponse, HttpServer, web};
use imia::{
    Authentication, Fallback, UserToken, authenticator::BasicAuthenticator, password::InsecurePlaintextVerifier,
    provider::InMemoryProvider,
};

/// `GET /`: who is making the request (always a user: anonymous requests never get here).
async fn whoami(token: UserToken) -> HttpResponse {
    HttpResponse::Ok().json(imia_examples::whoami_json(&token))
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let users = InMemoryProvider::new(imia_examples::demo_users());

    // INSECURE, for this example only: `InsecurePlaintextVerifier` compares the offered
    // password with a password stored in plain text. Real apps store password hashes and
    // verify them with a password hasher (argon2id).
    let basic = BasicAuthenticator::new(users, InsecurePlaintextVerifier);

    // `Fallback::Error`: nobody authenticated on a covered path (here: every path) means
    // 401 + `WWW-Authenticate: Basic realm="Protected access"`.
    let auth = Authentication::builder()
        .authenticator(basic)
        .fallback(Fallback::Error)
        .build()?;

    let listener = imia_examples::bind_from_env()?;
    HttpServer::new(move || App::new().wrap(auth.clone()).route("/", web::get().to(whoami)))
        .listen(listener)?
        .run()
        .await?;
    Ok(())
}
