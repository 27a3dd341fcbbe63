//! Run with
//!
//! ```not_rust
//! cargo run -p imia-examples --bin quickstart
//! ```
//!
//! The quick start of the original Python imia: an in-memory user provider, an API key
//! authenticator, and one route that says who is asking.
//!
//! `InMemoryProvider::from_map` keys are API tokens: here, as in the original, the users'
//! e-mail addresses are their API keys, so knowing an address is enough to act as its user.
//! Fine for this demonstration; a real app gives each user a long random token.
//!
//! ```not_rust
//! curl http://127.0.0.1:8000/
//! # {"id":null,"name":"Anonymous"}
//! curl 'http://127.0.0.1:8000/?apikey=user1@example.com'
//! # {"id":"user1@example.com","name":"User1"}
//! curl -H 'X-Api-Key: user2@example.com' http://127.0.0.1:8000/
//! # {"id":"user2@example.com","name":"User2"}
//! curl -i 'http://127.0.0.1:8000/?apikey=nobody'
//! # HTTP/1.1 401 Unauthorized
//! ```
//!
//! Set `PORT` to listen elsewhere than 8000.

use actix_web::{App, HttpResponse, HttpServer, web};
use imia::{Authentication, UserToken, authenticator::ApiKeyAuthenticator, provider::InMemoryProvider};
use imia_examples::User;

/// `GET /`: who is making the request.
async fn whoami(token: UserToken) -> HttpResponse {
    HttpResponse::Ok().json(imia_examples::whoami_json(&token))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    // As in the original, the map key is at once the user's id, username and API key: each key
    // below IS an API token, and anyone who sends `?apikey=user1@example.com` is User1. That
    // reproduces the original's example; a real app gives its users random tokens instead.
    let users = InMemoryProvider::from_map([
        ("user1@example.com", User::new("user1@example.com", "User1")),
        ("user2@example.com", User::new("user2@example.com", "User2")),
    ]);
    // Reads `?apikey=…` or the `X-Api-Key` header. Without a key the request goes on as
    // anonymous; an unknown or malformed key is answered with 401 or 400.
    let auth = Authentication::new(ApiKeyAuthenticator::new(users));

    let listener = imia_examples::bind_from_env()?;
    HttpServer::new(move || App::new().wrap(auth.clone()).route("/", web::get().to(whoami)))
        .listen(listener)?
        .run()
        .await
}
