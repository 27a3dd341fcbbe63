//! Micro-benchmarks of imia's hot paths: header parsing, path patterns, the authenticators
//! alone and behind the middleware, the session fingerprint, scope checks.
//!
//! ```not_rust
//! cd bench && cargo bench --bench micro            # everything
//! cd bench && cargo bench --bench micro -- parse/  # one group
//! ```

use std::{
    borrow::Cow,
    future::Future,
    hint::black_box,
    pin::pin,
    task::{Context, Poll, Waker},
    time::Duration,
};

use actix_session::{SessionMiddleware, storage::CookieSessionStore};
use actix_web::{
    App, HttpMessage as _, HttpRequest, HttpResponse,
    cookie::Key,
    dev::{Service, ServiceResponse},
    http::header::{HeaderMap, HeaderName, HeaderValue},
    test as atest, web,
};
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime};
use imia::{
    Authentication, Fallback, PathPattern, SecretKey, UserLike, UserToken,
    authenticator::{
        ApiKeyAuthenticator, Authenticator, BasicAuthenticator, Outcome, SessionAuthenticator, TokenAuthenticator,
    },
    fuzzing,
    password::{Argon2Hasher, InsecurePlaintextVerifier},
    provider::{InMemoryProvider, UserProvider as _},
};

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

const TOKEN: &str = "tok-0042-5c0e8d1f9a7b4e2c";
const USERNAME: &str = "user0042@example.com";
/// `user0042@example.com:correct horse battery staple`
const BASIC: &str = "dXNlcjAwNDJAZXhhbXBsZS5jb206Y29ycmVjdCBob3JzZSBiYXR0ZXJ5IHN0YXBsZQ==";
const PASSWORD: &str = "correct horse battery staple";

fn users(hash: &str) -> InMemoryProvider<User> {
    InMemoryProvider::new((0..1000).map(|i| User {
        id: format!("{i}"),
        email: format!("user{i:04}@example.com"),
        password_hash: hash.to_owned(),
        api_token: format!("tok-{i:04}-5c0e8d1f9a7b4e2c"),
        scopes: vec!["read".to_owned(), format!("tenant:{}", i % 10)],
    }))
}

/// Polls a future that completes without waiting (in-memory providers, plaintext verifier).
fn now<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the future waited"),
    }
}

fn parsing(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    let bearer = format!("Bearer {TOKEN}");
    g.bench_function("authorization_bearer", |b| {
        b.iter(|| fuzzing::authorization(black_box(bearer.as_bytes()), "Bearer", 8192))
    });
    g.bench_function("token_bearer", |b| {
        b.iter(|| fuzzing::token(black_box(bearer.as_bytes()), "Bearer", 8192))
    });
    let token = format!("token {TOKEN}");
    g.bench_function("token_scheme_token", |b| {
        b.iter(|| fuzzing::token(black_box(token.as_bytes()), "Token", 8192))
    });
    g.bench_function("basic_decode_owned", |b| {
        b.iter(|| fuzzing::basic_decode(black_box(BASIC.as_bytes())))
    });
    let mut headers = HeaderMap::new();
    headers.insert(HeaderName::from_static("x-api-key"), HeaderValue::from_static(TOKEN));
    headers.insert(HeaderName::from_static("accept"), HeaderValue::from_static("*/*"));
    let name = HeaderName::from_static("x-api-key");
    g.bench_function("api_key_header", |b| {
        b.iter(|| fuzzing::api_key_from_header(black_box(&headers), &name, 8192))
    });
    let query = format!("page=2&sort=name&apikey={TOKEN}");
    g.bench_function("api_key_query_owned", |b| {
        b.iter(|| fuzzing::api_key_from_query(black_box(&query), "apikey", 8192))
    });
    g.finish();
}

fn paths(c: &mut Criterion) {
    let mut g = c.benchmark_group("paths");
    let prefix = PathPattern::from("/api/v1");
    let exact = PathPattern::exact("/api/v1/users/42");
    let regex = PathPattern::regex(r"/api/v\d+/users/\d+").expect("a valid regex");
    let path = "/api/v1/users/42";
    g.bench_function("prefix", |b| b.iter(|| prefix.matches(black_box(path))));
    g.bench_function("exact", |b| b.iter(|| exact.matches(black_box(path))));
    g.bench_function("regex", |b| b.iter(|| regex.matches(black_box(path))));
    g.bench_function("is_ambiguous", |b| {
        b.iter(|| fuzzing::is_ambiguous(black_box("/api/v1/users/42"), black_box(path)))
    });
    let many: Vec<PathPattern> = [
        "/static",
        "/health",
        "/metrics",
        "/login",
        "/logout",
        "/public",
        "/assets",
        "/favicon.ico",
    ]
    .into_iter()
    .map(PathPattern::from)
    .collect();
    g.bench_function("eight_prefixes_miss", |b| {
        b.iter(|| many.iter().any(|p| p.matches(black_box(path))))
    });
    g.finish();
}

fn authenticators(c: &mut Criterion) {
    let mut g = c.benchmark_group("authenticator");
    let provider = users("correct horse battery staple");

    let bearer = TokenAuthenticator::bearer(provider.clone());
    let req = atest::TestRequest::default()
        .insert_header(("Authorization", format!("Bearer {TOKEN}")))
        .to_http_request();
    g.bench_function("bearer", |b| b.iter(|| now(bearer.authenticate(black_box(&req)))));

    let api_key = ApiKeyAuthenticator::new(provider.clone());
    let req = atest::TestRequest::default()
        .insert_header(("X-Api-Key", TOKEN))
        .to_http_request();
    g.bench_function("api_key_header", |b| {
        b.iter(|| now(api_key.authenticate(black_box(&req))))
    });
    let req = atest::TestRequest::get()
        .uri(&format!("/x?apikey={TOKEN}"))
        .to_http_request();
    g.bench_function("api_key_query", |b| {
        b.iter(|| now(api_key.authenticate(black_box(&req))))
    });

    let basic = BasicAuthenticator::new(provider.clone(), InsecurePlaintextVerifier);
    let req = atest::TestRequest::default()
        .insert_header(("Authorization", format!("Basic {BASIC}")))
        .to_http_request();
    g.bench_function("basic_plaintext_verifier", |b| {
        b.iter(|| now(basic.authenticate(black_box(&req))))
    });

    // The cache hit path with a real argon2 hash: verified once, then served from the cache.
    let rt = actix_rt::System::new();
    let hasher = Argon2Hasher::default();
    let hash = rt.block_on(hasher.hash(PASSWORD)).expect("hashing works");
    let cached = BasicAuthenticator::new(users(&hash), hasher).verification_cache(1000, Duration::from_secs(3600));
    let first = rt.block_on(cached.authenticate(&req)).expect("no failure");
    assert!(matches!(first, Outcome::Authenticated(_)));
    g.bench_function("basic_argon2_cache_hit", |b| {
        b.iter(|| now(cached.authenticate(black_box(&req))))
    });

    let none = atest::TestRequest::default().to_http_request();
    g.bench_function("bearer_no_credentials", |b| {
        b.iter(|| now(bearer.authenticate(black_box(&none))))
    });
    g.finish();
}

fn session(c: &mut Criterion) {
    let mut g = c.benchmark_group("session");
    let secret = SecretKey::from_bytes(&[7; 64]).expect("64 bytes");
    let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$2nXhXh8bEJ1sNpqEYwUjH0v2u1n9pS8gQ3xO6tYbJ5U";
    let stored = secret.fingerprint(hash);
    g.bench_function("fingerprint", |b| b.iter(|| secret.fingerprint(black_box(hash))));
    g.bench_function("fingerprint_matches", |b| {
        b.iter(|| secret.fingerprint_matches(black_box(hash), black_box(&stored)))
    });
    g.finish();
}

fn scopes(c: &mut Criterion) {
    let mut g = c.benchmark_group("scopes");
    let user = User {
        id: "42".into(),
        email: USERNAME.into(),
        password_hash: String::new(),
        api_token: TOKEN.into(),
        scopes: vec!["read".into(), "tenant:2".into()],
    };
    let token = UserToken::authenticated(user);
    g.bench_function("has_scope", |b| b.iter(|| token.has_scope(black_box("read"))));
    let req: HttpRequest = atest::TestRequest::default().to_http_request();
    req.extensions_mut().insert(token.clone());
    g.bench_function("require_scopes", |b| {
        b.iter(|| imia::require_scopes(black_box(&req), &["read"], &[]).is_ok())
    });
    g.bench_function("protected_expansion", |b| {
        b.iter(|| imia::__private::require(black_box(&req), &["read"], &[]).is_none())
    });
    g.finish();
}

async fn hello() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"status":"ok"}"#)
}

#[imia::protected(scopes = "read")]
async fn hello_protected() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"status":"ok"}"#)
}

/// Finds no credentials, at no cost.
struct NoCredentials;

impl Authenticator for NoCredentials {
    type User = Cheap;

    async fn authenticate(&self, _: &HttpRequest) -> Result<Outcome<Cheap>, imia::error::AuthError> {
        Ok(Outcome::NoCredentials)
    }
}

/// A user that costs nothing to make.
struct Cheap;

impl UserLike for Cheap {
    fn id(&self) -> Cow<'_, str> {
        Cow::Borrowed("cheap")
    }
}

/// Authenticates every request as [`Cheap`].
struct CheapUserAuthenticator;

impl Authenticator for CheapUserAuthenticator {
    type User = Cheap;

    async fn authenticate(&self, _: &HttpRequest) -> Result<Outcome<Cheap>, imia::error::AuthError> {
        Ok(Outcome::Authenticated(Cheap))
    }
}

fn auth(authenticator: impl Authenticator) -> Authentication {
    Authentication::builder()
        .authenticator(authenticator)
        .fallback(Fallback::Error)
        .build()
        .expect("a valid configuration")
}

/// Whole requests through `actix_web::test` services: the middleware's cost over a bare app.
/// `GET uri`.
fn get(uri: &str) -> atest::TestRequest {
    atest::TestRequest::get().uri(uri)
}

/// `GET uri` with the bench user's bearer token.
fn bearer_get(uri: &str) -> actix_http::Request {
    get(uri)
        .insert_header(("Authorization", format!("Bearer {TOKEN}")))
        .to_request()
}

/// Benchmarks `app` answering a request made afresh by `request` each time; the answer must be
/// a 200, so a misconfigured row fails instead of measuring a refusal.
fn bench_ok<S, B>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    rt: &actix_rt::SystemRunner,
    app: &S,
    request: impl Fn() -> actix_http::Request,
) where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    g.bench_function(name, |b| {
        b.iter(|| {
            rt.block_on(async {
                let status = atest::call_service(app, request()).await.status();
                assert_eq!(status, 200, "{name}");
            })
        })
    });
}

fn middleware(c: &mut Criterion) {
    let mut g = c.benchmark_group("middleware");
    let rt = actix_rt::System::new();
    let provider = users("correct horse battery staple");

    let bare = rt.block_on(atest::init_service(App::new().route("/hello", web::get().to(hello))));
    bench_ok(&mut g, "bare_app", &rt, &bare, || get("/hello").to_request());

    // The same request as the bearer rows, so that only the middleware differs.
    bench_ok(&mut g, "bare_app_with_header", &rt, &bare, || bearer_get("/hello"));

    let bearer = rt.block_on(atest::init_service(
        App::new()
            .wrap(auth(TokenAuthenticator::bearer(provider.clone())))
            .route("/hello", web::get().to(hello))
            .route("/scoped", web::get().to(hello_protected)),
    ));
    for (name, uri) in [("bearer", "/hello"), ("bearer_protected", "/scoped")] {
        bench_ok(&mut g, name, &rt, &bearer, || bearer_get(uri));
    }

    // The middleware's own cost: an authenticator that finds nothing, one that finds a user
    // that costs nothing to make.
    let noop = rt.block_on(atest::init_service(
        App::new()
            .wrap(Authentication::new(NoCredentials))
            .route("/hello", web::get().to(hello)),
    ));
    let cheap = rt.block_on(atest::init_service(
        App::new()
            .wrap(auth(CheapUserAuthenticator))
            .route("/hello", web::get().to(hello)),
    ));
    for (name, app) in [("noop_authenticator", &noop), ("cheap_user_authenticator", &cheap)] {
        bench_ok(&mut g, name, &rt, app, || bearer_get("/hello"));
    }

    // The peer doing the same job: actix-web-httpauth with the same lookup and clone.
    let peer_users: std::sync::Arc<std::collections::HashMap<String, User>> = std::sync::Arc::new(
        (0..1000)
            .map(|i| {
                let u = User {
                    id: format!("{i}"),
                    email: format!("user{i:04}@example.com"),
                    password_hash: String::new(),
                    api_token: format!("tok-{i:04}-5c0e8d1f9a7b4e2c"),
                    scopes: vec!["read".to_owned(), format!("tenant:{}", i % 10)],
                };
                (u.api_token.clone(), u)
            })
            .collect(),
    );
    let httpauth =
        rt.block_on(
            atest::init_service(
                App::new()
                    .app_data(web::Data::from(peer_users))
                    .wrap(actix_web_httpauth::middleware::HttpAuthentication::bearer(
                        |req: actix_web::dev::ServiceRequest,
                         creds: actix_web_httpauth::extractors::bearer::BearerAuth| async move {
                            let found = req
                                .app_data::<web::Data<std::collections::HashMap<String, User>>>()
                                .and_then(|users| users.get(creds.token()).cloned());
                            match found {
                                Some(user) => {
                                    req.extensions_mut().insert(user);
                                    Ok(req)
                                }
                                None => Err((actix_web::error::ErrorUnauthorized("unknown"), req)),
                            }
                        },
                    ))
                    .route("/hello", web::get().to(hello)),
            ),
        );
    bench_ok(&mut g, "httpauth_bearer_peer", &rt, &httpauth, || bearer_get("/hello"));

    // A chain of three where the last one finds the user: API key and Basic find nothing first.
    let chain = rt.block_on(atest::init_service(
        App::new()
            .wrap(
                Authentication::builder()
                    .authenticators((
                        ApiKeyAuthenticator::new(provider.clone()),
                        BasicAuthenticator::new(provider.clone(), InsecurePlaintextVerifier),
                        TokenAuthenticator::bearer(provider.clone()),
                    ))
                    .fallback(Fallback::Error)
                    .build()
                    .expect("valid"),
            )
            .route("/hello", web::get().to(hello)),
    ));
    bench_ok(&mut g, "chain_of_three_bearer_last", &rt, &chain, || {
        bearer_get("/hello")
    });

    // An exclude list: the public path skips the chain, the private one runs it.
    let excluded = rt.block_on(atest::init_service(
        App::new()
            .wrap(
                Authentication::builder()
                    .authenticator(TokenAuthenticator::bearer(provider.clone()))
                    .exclude("/static")
                    .exclude("/health")
                    .exclude("/public")
                    .fallback(Fallback::Error)
                    .build()
                    .expect("valid"),
            )
            .route("/public/hello", web::get().to(hello)),
    ));
    bench_ok(&mut g, "excluded_path", &rt, &excluded, || {
        get("/public/hello").to_request()
    });

    // Sessions: log in once, replay the cookie.
    let secret = SecretKey::from_bytes(&[7; 64]).expect("64 bytes");
    let key = Key::derive_from(secret.as_bytes());
    let login_secret = secret.clone();
    let login_users = provider.clone();
    let app = rt.block_on(atest::init_service(
        App::new()
            .wrap(
                Authentication::builder()
                    .authenticator(SessionAuthenticator::new(provider.clone(), secret.clone()))
                    .login_url("/login")
                    .fallback(Fallback::Error)
                    .build()
                    .expect("valid"),
            )
            .wrap(
                SessionMiddleware::builder(CookieSessionStore::default(), key)
                    .cookie_secure(false)
                    .build(),
            )
            .route("/hello", web::get().to(hello))
            .route(
                "/login",
                web::post().to(move |req: HttpRequest| {
                    let (users, secret) = (login_users.clone(), login_secret.clone());
                    async move {
                        let user = users.find_by_username(USERNAME).await.ok().flatten().expect("the user");
                        imia::login::login_user(&req, user, &secret).expect("login");
                        HttpResponse::Ok().finish()
                    }
                }),
            ),
    ));
    let cookie = rt.block_on(async {
        let res = atest::call_service(&app, atest::TestRequest::post().uri("/login").to_request()).await;
        res.response().cookies().next().expect("a session cookie").into_owned()
    });
    // actix-session alone, with a session of the same size: what the session rows pay anyway.
    let session_only = rt.block_on(atest::init_service(
        App::new()
            .wrap(
                SessionMiddleware::builder(CookieSessionStore::default(), Key::derive_from(secret.as_bytes()))
                    .cookie_secure(false)
                    .build(),
            )
            .route("/hello", web::get().to(hello))
            .route(
                "/login",
                web::post().to(|session: actix_session::Session| async move {
                    session.insert("_auth_user_id", "42").expect("insert");
                    session.insert("_auth_user_hash", "0".repeat(64)).expect("insert");
                    HttpResponse::Ok().finish()
                }),
            ),
    ));
    let only_cookie = rt.block_on(async {
        let res = atest::call_service(&session_only, atest::TestRequest::post().uri("/login").to_request()).await;
        res.response().cookies().next().expect("a session cookie").into_owned()
    });
    bench_ok(&mut g, "session_middleware_only", &rt, &session_only, || {
        get("/hello").cookie(only_cookie.clone()).to_request()
    });
    bench_ok(&mut g, "session_cookie", &rt, &app, || {
        get("/hello").cookie(cookie.clone()).to_request()
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
}

criterion_group! {
    name = benches;
    config = config();
    targets = parsing, paths, authenticators, session, scopes, middleware
}
criterion_main!(benches);

// Keeps the user type's unused-field lint quiet: every field is read through `UserLike`.
#[allow(dead_code)]
fn _fields(u: &User) -> (&str, Cow<'_, str>) {
    (&u.api_token, u.id())
}
