//! One load-test server per workload, picked by name. `bench/run.sh` starts it, drives it with
//! `wrk` and compares it with the `baseline` workload.
//!
//! ```not_rust
//! bench-server <workload> <port>
//! bench-server --list         # the workloads
//! bench-server --credentials  # the bench user's token, username and password
//! ```
//!
//! Every workload answers `GET /hello` with the same small JSON body. Session workloads also
//! have `POST /login` (logs the bench user in and sets the session cookie the script replays).
//! Every server runs one actix worker.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use actix_identity::{Identity, IdentityExt as _, IdentityMiddleware};
use actix_session::{SessionMiddleware, storage::CookieSessionStore};
use actix_web::{
    App, Error, HttpMessage as _, HttpRequest, HttpResponse, HttpServer, cookie::Key, dev::ServiceRequest,
    error::ErrorUnauthorized, web,
};
use actix_web_grants::{GrantsMiddleware, authorities::AttachAuthorities as _};
use actix_web_httpauth::{extractors::bearer::BearerAuth, middleware::HttpAuthentication};
use imia::{
    Authentication, Fallback, SecretKey, UserLike,
    authenticator::{ApiKeyAuthenticator, BasicAuthenticator, SessionAuthenticator, TokenAuthenticator},
    password::Argon2Hasher,
    provider::InMemoryProvider,
};

/// The body every workload answers with.
const BODY: &str = r#"{"status":"ok","service":"bench"}"#;
/// How many users the providers hold (the bench user is one of them).
const USERS: usize = 1000;
/// The bench user's credentials, as the script sends them.
const USERNAME: &str = "user0042@example.com";
const PASSWORD: &str = "correct horse battery staple";
const TOKEN: &str = "tok-0042-5c0e8d1f9a7b4e2c";
/// A fixed key, so that cookies are reproducible across runs (benchmarks only).
const SECRET: &[u8; 64] = b"imia-bench-secret-key-not-for-production-0123456789abcdefghijklm";

/// The workloads, in the order the script runs them.
const WORKLOADS: &[&str] = &[
    "baseline",
    // A reference, not a contender: actix-session's cookie store alone, no authentication.
    "actix-session-only",
    "imia-apikey",
    "imia-apikey-protected",
    "imia-bearer",
    "imia-bearer-protected",
    "imia-basic-argon2",
    "imia-basic-argon2-protected",
    "imia-basic-cached",
    "imia-basic-cached-protected",
    "imia-session",
    "imia-session-protected",
    "httpauth-bearer",
    "httpauth-bearer-grants",
    "identity-session",
    "identity-session-grants",
];

/// The user model shared by every workload.
#[derive(Clone, UserLike)]
struct User {
    #[imia(id)]
    id: String,
    #[imia(username)]
    email: String,
    #[imia(password)]
    password_hash: String,
    #[imia(token)]
    api_token: String,
    #[imia(scopes)]
    scopes: Vec<String>,
}

fn users(password_hash: &str) -> Vec<User> {
    (0..USERS)
        .map(|i| User {
            id: format!("{i}"),
            email: format!("user{i:04}@example.com"),
            password_hash: password_hash.to_owned(),
            api_token: format!("tok-{i:04}-5c0e8d1f9a7b4e2c"),
            scopes: vec!["read".to_owned(), format!("tenant:{}", i % 10)],
        })
        .collect()
}

/// The peers' user store: the same users behind the same kind of lock-free-read map.
#[derive(Clone)]
struct PeerUsers {
    by_token: Arc<HashMap<String, User>>,
    by_id: Arc<HashMap<String, User>>,
}

impl PeerUsers {
    fn new(users: &[User]) -> Self {
        Self {
            by_token: Arc::new(users.iter().map(|u| (u.api_token.clone(), u.clone())).collect()),
            by_id: Arc::new(users.iter().map(|u| (u.id.clone(), u.clone())).collect()),
        }
    }
}

async fn hello() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(BODY)
}

#[imia::protected(scopes = "read")]
async fn hello_protected() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(BODY)
}

#[actix_web_grants::protect("read")]
async fn hello_grants() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(BODY)
}

/// imia's session login: the bench user, fingerprint and all.
async fn imia_login(
    req: HttpRequest,
    users: web::Data<InMemoryProvider<User>>,
    secret: web::Data<SecretKey>,
) -> HttpResponse {
    use imia::provider::UserProvider as _;
    match users.find_by_username(USERNAME).await {
        Ok(Some(user)) => match imia::login::login_user(&req, user, &secret) {
            Ok(_) => HttpResponse::Ok().content_type("application/json").body(BODY),
            Err(_) => HttpResponse::InternalServerError().finish(),
        },
        _ => HttpResponse::InternalServerError().finish(),
    }
}

/// A session as big as imia's (a user id and a 64-character fingerprint), without imia.
async fn session_only_login(session: actix_session::Session) -> HttpResponse {
    let stored = session
        .insert("_auth_user_id", "42")
        .and_then(|()| session.insert("_auth_user_hash", "0".repeat(64)));
    match stored {
        Ok(()) => HttpResponse::Ok().content_type("application/json").body(BODY),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}

/// actix-identity's login for the same user.
async fn identity_login(req: HttpRequest) -> HttpResponse {
    match Identity::login(&req.extensions(), "42".to_owned()) {
        Ok(_) => HttpResponse::Ok().content_type("application/json").body(BODY),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}

/// actix-identity's handler: read the id, load the user, answer (401 when either is missing).
async fn identity_hello(id: Option<Identity>, users: web::Data<PeerUsers>) -> HttpResponse {
    let Some(Ok(id)) = id.map(|i| i.id()) else {
        return HttpResponse::Unauthorized().finish();
    };
    match users.by_id.get(&id) {
        Some(_user) => HttpResponse::Ok().content_type("application/json").body(BODY),
        None => HttpResponse::Unauthorized().finish(),
    }
}

/// actix-web-httpauth's validator: the same in-memory lookup, the user put on the request.
async fn bearer_validator(
    req: ServiceRequest,
    credentials: BearerAuth,
) -> Result<ServiceRequest, (Error, ServiceRequest)> {
    let found = req
        .app_data::<web::Data<PeerUsers>>()
        .and_then(|users| users.by_token.get(credentials.token()).cloned());
    match found {
        Some(user) => {
            req.extensions_mut().insert(user);
            Ok(req)
        }
        None => Err((ErrorUnauthorized("unknown token"), req)),
    }
}

/// The same, also attaching the scopes for actix-web-grants.
async fn bearer_validator_grants(
    req: ServiceRequest,
    credentials: BearerAuth,
) -> Result<ServiceRequest, (Error, ServiceRequest)> {
    let found = req
        .app_data::<web::Data<PeerUsers>>()
        .and_then(|users| users.by_token.get(credentials.token()).cloned());
    match found {
        Some(user) => {
            req.attach(user.scopes.clone());
            req.extensions_mut().insert(user);
            Ok(req)
        }
        None => Err((ErrorUnauthorized("unknown token"), req)),
    }
}

/// actix-web-grants' extractor over actix-identity: load the user, give its scopes (none for
/// anonymous requests, such as the login itself; `#[protect]` then answers 403).
async fn identity_scopes(req: &ServiceRequest) -> Result<HashSet<String>, Error> {
    let Some(id) = req.get_identity().ok().and_then(|id| id.id().ok()) else {
        return Ok(HashSet::new());
    };
    req.app_data::<web::Data<PeerUsers>>()
        .and_then(|users| users.by_id.get(&id))
        .map(|user| user.scopes.iter().cloned().collect())
        .ok_or_else(|| ErrorUnauthorized("unknown user"))
}

fn session(key: &Key) -> SessionMiddleware<CookieSessionStore> {
    SessionMiddleware::builder(CookieSessionStore::default(), key.clone())
        .cookie_secure(false)
        .build()
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let workload = args.next().unwrap_or_default();
    if workload == "--credentials" {
        // What the load script sends, as shell assignments.
        println!("TOKEN={TOKEN}");
        println!("USERNAME={USERNAME}");
        println!("PASSWORD='{PASSWORD}'");
        return Ok(());
    }
    if workload == "--list" {
        for w in WORKLOADS {
            println!("{w}");
        }
        return Ok(());
    }
    if !WORKLOADS.contains(&workload.as_str()) {
        eprintln!(
            "usage: bench-server <workload> <port>; workloads: {}",
            WORKLOADS.join(" ")
        );
        std::process::exit(2);
    }
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(8088);
    actix_web::rt::System::new().block_on(serve(workload, port))
}

/// Runs one actix worker on loopback with the given app factory.
macro_rules! serve {
    ($port:expr, $factory:expr) => {{
        let server = HttpServer::new($factory).workers(1).bind(("127.0.0.1", $port))?;
        println!("listening on 127.0.0.1:{}", $port);
        server.run().await
    }};
}

async fn serve(workload: String, port: u16) -> std::io::Result<()> {
    let secret = SecretKey::from_bytes(SECRET).expect("64 bytes");
    let cookie_key = Key::derive_from(secret.as_bytes());
    // One hasher for the process: the OWASP defaults, a queue long enough for the clients.
    let hasher = Argon2Hasher::builder()
        .max_queue(256)
        .build()
        .expect("valid argon2 parameters");
    let hash = if workload.contains("basic") {
        hasher.hash(PASSWORD).await.expect("hashing works")
    } else {
        // Never verified: only the Basic workloads look at passwords.
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$2nXhXh8bEJ1sNpqEYwUjH0v2u1n9pS8gQ3xO6tYbJ5U".to_owned()
    };
    let all = users(&hash);
    let provider = InMemoryProvider::new(all.clone());
    let peers = PeerUsers::new(&all);

    let protected = workload.ends_with("-protected");
    let handler = move || {
        if protected {
            web::get().to(hello_protected)
        } else {
            web::get().to(hello)
        }
    };
    let imia = imia_auth(&workload, &provider, &hasher, &secret);
    let data = move || {
        (
            web::Data::new(peers.clone()),
            web::Data::new(provider.clone()),
            web::Data::new(secret.clone()),
        )
    };
    match workload.as_str() {
        "baseline" => serve!(port, move || App::new().route("/hello", web::get().to(hello))),
        "actix-session-only" => serve!(port, move || {
            App::new()
                .wrap(session(&cookie_key))
                .route("/hello", web::get().to(hello))
                .route("/login", web::post().to(session_only_login))
        }),
        "imia-session" | "imia-session-protected" => serve!(port, move || {
            let (peers, users, secret) = data();
            App::new()
                .app_data(peers)
                .app_data(users)
                .app_data(secret)
                .wrap(imia.clone().expect("an imia workload"))
                .wrap(session(&cookie_key))
                .route("/hello", handler())
                .route("/login", web::post().to(imia_login))
        }),
        w if w.starts_with("imia-") => serve!(port, move || {
            App::new()
                .wrap(imia.clone().expect("an imia workload"))
                .route("/hello", handler())
        }),
        "httpauth-bearer" => serve!(port, move || {
            let (peers, _, _) = data();
            App::new()
                .app_data(peers)
                .wrap(HttpAuthentication::bearer(bearer_validator))
                .route("/hello", web::get().to(hello))
        }),
        "httpauth-bearer-grants" => serve!(port, move || {
            let (peers, _, _) = data();
            App::new()
                .app_data(peers)
                .wrap(HttpAuthentication::bearer(bearer_validator_grants))
                .route("/hello", web::get().to(hello_grants))
        }),
        "identity-session" => serve!(port, move || {
            let (peers, _, _) = data();
            App::new()
                .app_data(peers)
                .wrap(IdentityMiddleware::default())
                .wrap(session(&cookie_key))
                .route("/hello", web::get().to(identity_hello))
                .route("/login", web::post().to(identity_login))
        }),
        "identity-session-grants" => serve!(port, move || {
            let (peers, _, _) = data();
            App::new()
                .app_data(peers)
                .wrap(GrantsMiddleware::with_extractor(identity_scopes))
                .wrap(IdentityMiddleware::default())
                .wrap(session(&cookie_key))
                .route("/hello", web::get().to(hello_grants))
                .route("/login", web::post().to(identity_login))
        }),
        other => unreachable!("unknown workload {other}"),
    }
}

/// imia's middleware for an `imia-*` workload: one authenticator, 401 for anonymous requests.
fn imia_auth(
    workload: &str,
    provider: &InMemoryProvider<User>,
    hasher: &Argon2Hasher,
    secret: &SecretKey,
) -> Option<Authentication> {
    let p = provider.clone();
    let builder = Authentication::builder().fallback(Fallback::Error);
    let builder = match workload.trim_end_matches("-protected") {
        "imia-apikey" => builder.authenticator(ApiKeyAuthenticator::new(p)),
        "imia-bearer" => builder.authenticator(TokenAuthenticator::bearer(p)),
        "imia-basic-argon2" => builder.authenticator(BasicAuthenticator::new(p, hasher.clone())),
        "imia-basic-cached" => builder.authenticator(
            BasicAuthenticator::new(p, hasher.clone()).verification_cache(10_000, Duration::from_secs(60)),
        ),
        // The login page is exempt from the 401 fallback.
        "imia-session" => builder
            .authenticator(SessionAuthenticator::new(p, secret.clone()))
            .login_url("/login"),
        _ => return None,
    };
    Some(builder.build().expect("a valid configuration"))
}
