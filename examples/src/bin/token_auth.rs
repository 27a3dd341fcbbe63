//! Run with
//!
//! ```not_rust
//! cargo run -p imia-examples --bin token_auth
//! ```
//!
//! Token authentication with two schemes in one chain: `Authorization: Bearer <token>`
//! (RFC 6750) and `Authorization: Token <token>`. `/` is open to everyone; `/me` needs a user,
//! which the [`CurrentUser`] extractor enforces.
//!
//! ```not_rust
//! curl http://127.0.0.1:8000/
//! # {"id":null,"name":"Anonymous"}
//! curl -H 'Authorization: Bearer token-user1' http://127.0.0.1:8000/me
//! # {"id":"user1@example.com","name":"User1","scopes":["admin"]}
//! curl -H 'Authorization: Token token-user2' http://127.0.0.1:8000/me
//! # {"id":"user2@example.com","name":"User2","scopes":[]}
//! curl -i http://127.0.0.1:8000/me
//! # HTTP/1.1 401 Unauthorized
//! # www-authenticate: Bearer
//! # www-authenticate: Token
//! ```
//!
//! The users and their tokens are listed in [`imia_examples::demo_users`]. Set `PORT` to listen
//! elsewhere than 8000.

use actix_web::{App, HttpResponse, HttpServer, web};
use imia::{
    Authentication, CurrentUser, UserLike as _, UserToken, authenticator::TokenAuthenticator,
    provider::InMemoryProvider,
};
use imia_examples::User;

/// `GET /`: who is making the request, anonymous included.
async fn whoami(token: UserToken) -> HttpResponse {
    HttpResponse::Ok().json(imia_examples::whoami_json(&token))
}

/// `GET /me`: the authenticated user. Anonymous requests never reach the body: the extractor
/// answers 401 with a challenge for each scheme of the chain.
async fn me(user: CurrentUser<User>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "id": user.id(),
        "name": user.name,
        "scopes": user.scopes,
    }))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let users = InMemoryProvider::new(imia_examples::demo_users());

    // Tried in order; each ignores `Authorization` headers of the other's scheme. A malformed
    // token answers 400, an unknown one 401.
    let auth = Authentication::new((
        TokenAuthenticator::bearer(users.clone()),
        TokenAuthenticator::new(users, "Token"),
    ));

    let listener = imia_examples::bind_from_env()?;
    HttpServer::new(move || {
        App::new()
            .wrap(auth.clone())
            .route("/", web::get().to(whoami))
            .route("/me", web::get().to(me))
    })
    .listen(listener)?
    .run()
    .await
}
