//! Run with
//!
//! ```not_rust
//! cargo run -p imia-examples --bin multiple
//! ```
//!
//! Several authenticators in one chain, tried in order: the actix-session cookie session, a
//! bearer token, an API key. Only `/app`, `/api` and the login page are covered; browsers that
//! open `/app` anonymously are sent to `/login?next=…`, API clients get a 401.
//!
//! | route | who |
//! |---|---|
//! | `GET /public` | everyone (not covered by the middleware) |
//! | `GET /login`, `POST /login`, `POST /logout` | everyone |
//! | `GET /app` | a user; browsers are redirected to the login page |
//! | `GET /api/me` | a user; 401 otherwise |
//! | `GET /api/admin` | a user with the `admin` scope; 401 or 403 otherwise |
//!
//! ```not_rust
//! curl -i http://127.0.0.1:8000/app
//! # HTTP/1.1 303 See Other
//! # location: /login?next=%2Fapp
//! curl -i -H 'Accept: application/json' http://127.0.0.1:8000/app
//! # HTTP/1.1 401 Unauthorized
//! # www-authenticate: Bearer
//! curl -H 'Authorization: Bearer token-user1' http://127.0.0.1:8000/api/admin
//! # {"admin":"User1"}
//! curl -i 'http://127.0.0.1:8000/api/admin?apikey=token-user2'
//! # HTTP/1.1 403 Forbidden
//! curl -c jar -d 'username=user1@example.com&password=password1' http://127.0.0.1:8000/login
//! curl -b jar http://127.0.0.1:8000/app
//! ```
//!
//! Or open <http://127.0.0.1:8000/app> in a browser. The users, passwords and tokens are listed
//! in [`imia_examples::demo_users`]. Set `PORT` to listen elsewhere than 8000.

use actix_session::{SessionMiddleware, storage::CookieSessionStore};
use actix_web::{
    App, HttpRequest, HttpResponse, HttpServer,
    cookie::Key,
    http::header::{self, HeaderValue},
    web,
};
use imia::{
    Authentication, CurrentUser, Fallback, SecretKey, UserLike as _,
    authenticator::{ApiKeyAuthenticator, SessionAuthenticator, TokenAuthenticator},
    login::{LoginError, LoginManager},
    password::InsecurePlaintextVerifier,
    protected,
    provider::InMemoryProvider,
    redirect::safe_next,
};
use imia_examples::{User, escape_html};
use serde::Deserialize;

/// Where a successful login goes when it has no (safe) `next`.
const HOME: &str = "/app";

/// INSECURE, for this example only: passwords are stored and compared in plain text. Real apps
/// store password hashes and verify them with a password hasher (argon2id).
const VERIFIER: InsecurePlaintextVerifier = InsecurePlaintextVerifier;

type Logins = web::Data<LoginManager<InMemoryProvider<User>, InsecurePlaintextVerifier>>;

/// `GET /`: links to the other pages.
async fn index() -> HttpResponse {
    html(
        "imia example",
        r#"<ul>
<li><a href="/public">/public</a>: for everyone</li>
<li><a href="/app">/app</a>: log in first</li>
<li><a href="/login">/login</a></li>
</ul>"#,
    )
}

/// `GET /public`: not covered by the middleware, so nobody is ever authenticated here.
async fn public() -> HttpResponse {
    html("Public", "<p>Anyone can read this page.</p>")
}

/// The `next` query parameter of the login page.
#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

/// `GET /login`: the login form. The page is covered by the middleware (so that it knows who is
/// logged in) but never redirected: `Option<CurrentUser<_>>` is `None` for anonymous visitors.
async fn login_page(user: Option<CurrentUser<User>>, query: web::Query<NextQuery>) -> HttpResponse {
    let next = query.next.as_deref().and_then(safe_next).unwrap_or(HOME);
    let status = match &user {
        Some(user) => format!("<p>You are logged in as {}.</p>{LOGOUT_FORM}", escape_html(&user.name)),
        None => String::from("<p>You are not logged in.</p>"),
    };
    html("Log in", &format!("{status}{}", login_form(next)))
}

/// The fields of the login form.
#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    next: String,
}

/// `POST /login`: checks the password; on success the session is renewed and holds the user.
async fn login(req: HttpRequest, logins: Logins, form: web::Form<LoginForm>) -> actix_web::Result<HttpResponse> {
    let LoginForm {
        username,
        password,
        next,
    } = form.into_inner();
    let next = safe_next(&next).unwrap_or(HOME);
    match logins.login(&req, &username, &password).await {
        Ok(_) => {
            // `safe_next` guarantees a local path of visible ASCII: a valid header value.
            let location = HeaderValue::from_str(next).unwrap_or(HeaderValue::from_static(HOME));
            Ok(HttpResponse::SeeOther()
                .insert_header((header::LOCATION, location))
                .finish())
        }
        // The same answer for an unknown user, a wrong password, an inactive user...
        Err(LoginError::InvalidCredentials) => {
            let body = format!("<p>Wrong e-mail or password.</p>{}", login_form(next));
            Ok(with_html(HttpResponse::Unauthorized(), "Log in", &body))
        }
        Err(other) => Err(other.into()),
    }
}

/// `POST /logout`: ends the session.
async fn logout(req: HttpRequest) -> HttpResponse {
    imia::login::logout(&req);
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/login"))
        .finish()
}

/// `GET /app`: for users only; the middleware redirects anonymous browsers to the login page.
async fn app(user: CurrentUser<User>) -> HttpResponse {
    let body = format!("<p>Hello, {}!</p>{LOGOUT_FORM}", escape_html(&user.name));
    html("App", &body)
}

/// `GET /api/me`: the authenticated user as JSON.
async fn api_me(user: CurrentUser<User>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "id": user.id(),
        "name": user.name,
        "scopes": user.scopes,
    }))
}

/// `GET /api/admin`: needs the `admin` scope. `#[protected]` answers 401 (or the login
/// redirect) for anonymous requests and 403 for users without the scope.
#[protected(scopes = "admin")]
async fn api_admin(user: CurrentUser<User>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "admin": user.name }))
}

const LOGOUT_FORM: &str = r#"<form method="post" action="/logout"><button>Log out</button></form>"#;

fn login_form(next: &str) -> String {
    format!(
        r#"<form method="post" action="/login">
<input type="hidden" name="next" value="{}">
<label>E-mail <input name="username" type="email" autocomplete="username" required></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button>Log in</button>
</form>"#,
        escape_html(next)
    )
}

fn html(title: &str, body: &str) -> HttpResponse {
    with_html(HttpResponse::Ok(), title, body)
}

fn with_html(mut builder: actix_web::HttpResponseBuilder, title: &str, body: &str) -> HttpResponse {
    builder.content_type("text/html; charset=utf-8").body(format!(
        "<!doctype html>\n<title>{}</title>\n<h1>{}</h1>\n{body}\n",
        escape_html(title),
        escape_html(title)
    ))
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let users = InMemoryProvider::new(imia_examples::demo_users());
    // A fresh secret on every start: sessions end when the server restarts. Real apps load a
    // 64-byte secret from their configuration (see the demo).
    let secret = SecretKey::generate();

    let auth = Authentication::builder()
        // First one with credentials wins: a session cookie, then `Authorization: Bearer …`,
        // then `?apikey=…` / `X-Api-Key`.
        .authenticators((
            SessionAuthenticator::new(users.clone(), secret.clone()),
            TokenAuthenticator::bearer(users.clone()),
            ApiKeyAuthenticator::new(users.clone()),
        ))
        // Only these paths are authenticated and protected. Segment-aware prefixes: `/app`
        // covers `/app/settings`, not `/application`. The login page is covered so that it
        // knows who is logged in; the fallback never applies to it.
        .include("/app")
        .include("/api")
        .include("/login")
        // Anonymous browsers go to `/login?next=<where they were>` (303); API clients (an
        // `Authorization` header, or `Accept: application/json`) get 401 instead.
        .login_url("/login")
        .fallback(Fallback::Redirect)
        .build()?;

    // The session cookie is signed with a key derived from the same secret.
    let key = Key::derive_from(secret.as_bytes());
    let logins = web::Data::new(LoginManager::new(users, VERIFIER, secret));

    let listener = imia_examples::bind_from_env()?;
    HttpServer::new(move || {
        App::new()
            .app_data(logins.clone())
            // The last `wrap` is the outermost: the session is loaded before `Authentication`
            // runs.
            .wrap(auth.clone())
            // `CookieSessionStore` keeps the whole session in the (encrypted) cookie: nothing to
            // run beside the example, but a logout cannot revoke a copy of the cookie taken
            // before it. Server-side stores (Redis) can.
            .wrap(
                SessionMiddleware::builder(CookieSessionStore::default(), key.clone())
                    // Plain HTTP on 127.0.0.1 for the example; keep the default (`Secure`
                    // cookies) behind HTTPS.
                    .cookie_secure(false)
                    .build(),
            )
            .route("/", web::get().to(index))
            .route("/public", web::get().to(public))
            .route("/login", web::get().to(login_page))
            .route("/login", web::post().to(login))
            .route("/logout", web::post().to(logout))
            .route("/app", web::get().to(app))
            .route("/api/me", web::get().to(api_me))
            .route("/api/admin", web::get().to(api_admin))
    })
    .listen(listener)?
    .run()
    .await?;
    Ok(())
}
