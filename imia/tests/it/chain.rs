//! The authenticator chain and the middleware's fallbacks.

use actix_web::{HttpResponse, test as atest, web};
use imia::{
    Authentication, Fallback, OnRejected,
    authenticator::{ApiKeyAuthenticator, BasicAuthenticator, Outcome, TokenAuthenticator, from_fn},
    error::ConfigError,
};
use serde_json::json;

use crate::common::*;

#[actix_web::test]
async fn every_request_gets_a_token_anonymous_by_default() {
    let app = atest::init_service(auth_app(Authentication::new(ApiKeyAuthenticator::new(users())))).await;
    let r = send(&app, get("/anything")).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"id": null, "name": "Anonymous", "state": "anonymous", "scopes": []})
    );
}

#[actix_web::test]
async fn first_authenticator_that_finds_a_user_wins() {
    let app = atest::init_service(auth_app(Authentication::new((
        ApiKeyAuthenticator::new(users()),
        TokenAuthenticator::new(users(), "Token"),
    ))))
    .await;
    // Either credential works alone.
    assert_eq!(send(&app, get("/?apikey=root-token")).await.id(), "root@localhost");
    let r = send(&app, get("/").insert_header(("Authorization", "Token customer-token"))).await;
    assert_eq!(r.id(), "customer@localhost");
    // Both: the first in the chain decides.
    let r = send(
        &app,
        get("/?apikey=root-token").insert_header(("Authorization", "Token customer-token")),
    )
    .await;
    assert_eq!(r.id(), "root@localhost");
    assert_eq!(r.json()["state"], "authenticated");
}

#[actix_web::test]
async fn later_authenticators_do_not_run_after_a_match() {
    let counting = CountingProvider::new();
    let app = atest::init_service(auth_app(Authentication::new((
        ApiKeyAuthenticator::new(users()),
        TokenAuthenticator::bearer(counting.clone()),
    ))))
    .await;
    let r = send(
        &app,
        get("/?apikey=root-token").insert_header(("Authorization", "Bearer customer-token")),
    )
    .await;
    assert_eq!(r.id(), "root@localhost");
    assert_eq!(counting.count(), 0);
}

#[actix_web::test]
async fn rejected_credentials_stop_the_chain_with_a_401() {
    let app = atest::init_service(auth_app(Authentication::new((
        TokenAuthenticator::bearer(users()),
        ApiKeyAuthenticator::new(users()),
    ))))
    .await;
    // A wrong bearer token does not fall through to a valid API key.
    let r = send(
        &app,
        get("/?apikey=root-token").insert_header(("Authorization", "Bearer wrong")),
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.all("www-authenticate"), ["Bearer"]);
    assert!(r.body.is_empty());
}

#[actix_web::test]
async fn rejected_credentials_can_mean_anonymous_like_the_original() {
    let auth = Authentication::builder()
        .authenticators((TokenAuthenticator::bearer(users()), ApiKeyAuthenticator::new(users())))
        .on_rejected(OnRejected::Anonymous)
        .build()
        .unwrap();
    let app = atest::init_service(auth_app(auth)).await;
    let r = send(&app, get("/").insert_header(("Authorization", "Bearer wrong"))).await;
    assert_eq!(r.id(), serde_json::Value::Null);
    let r = send(&app, get("/?apikey=nope")).await;
    assert_eq!(r.id(), serde_json::Value::Null);
}

#[actix_web::test]
async fn basic_first_in_the_chain_does_not_block_api_keys() {
    let app = atest::init_service(auth_app(Authentication::new((
        BasicAuthenticator::new(users(), CountingVerifier::default()),
        ApiKeyAuthenticator::new(users()),
    ))))
    .await;
    assert_eq!(send(&app, get("/?apikey=root-token")).await.id(), "root@localhost");
    assert_eq!(send(&app, get("/")).await.id(), serde_json::Value::Null);
}

#[actix_web::test]
async fn error_fallback_answers_401_with_every_challenge() {
    let auth = Authentication::builder()
        .authenticators((
            BasicAuthenticator::new(users(), CountingVerifier::default()),
            TokenAuthenticator::bearer(users()),
            ApiKeyAuthenticator::new(users()),
        ))
        .fallback(Fallback::Error)
        .build()
        .unwrap();
    let app = atest::init_service(auth_app(auth)).await;
    let r = send(&app, get("/app")).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.all("www-authenticate"),
        ["Basic realm=\"Protected access\"", "Bearer"]
    );
    assert!(r.body.is_empty());
    // Authenticated requests pass.
    assert_eq!(send(&app, get("/app?apikey=root-token")).await.id(), "root@localhost");
    // Browsers get the 401 too under Fallback::Error.
    let r = send(&app, get("/app").insert_header(("Accept", "text/html"))).await;
    assert_eq!(r.status, 401);
}

#[actix_web::test]
async fn redirect_fallback_sends_browsers_to_login_with_next() {
    let auth = Authentication::builder()
        .authenticator(ApiKeyAuthenticator::new(users()))
        .authenticator(TokenAuthenticator::bearer(users()))
        .login_url("/login")
        .fallback(Fallback::Redirect)
        .build()
        .unwrap();
    let app = atest::init_service(auth_app(auth)).await;
    let r = send(&app, get("/app?tab=2").insert_header(("Accept", "text/html"))).await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/login?next=%2Fapp%3Ftab%3D2"));
    assert!(r.body.is_empty());
    // API clients get 401 with challenges instead.
    let r = send(&app, get("/app").insert_header(("Accept", "application/json"))).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.all("www-authenticate"), ["Bearer"]);
    // The login page itself is never redirected (no loop).
    let r = send(&app, get("/login?next=%2Fapp")).await;
    assert_eq!(r.status, 200);
    // Authenticated requests pass.
    assert_eq!(send(&app, get("/app?apikey=root-token")).await.id(), "root@localhost");
}

#[actix_web::test]
async fn redirect_for_a_post_uses_303() {
    let auth = Authentication::builder()
        .authenticator(ApiKeyAuthenticator::new(users()))
        .login_url("/login")
        .fallback(Fallback::Redirect)
        .build()
        .unwrap();
    let app = atest::init_service(auth_app(auth)).await;
    let r = send(&app, atest::TestRequest::post().uri("/app/save")).await;
    assert_eq!(r.status, 303, "303 makes the browser GET the login page, not re-POST");
    assert_eq!(r.header("location"), Some("/login?next=%2Fapp%2Fsave"));
}

#[actix_web::test]
async fn nothing_fallback_lets_anonymous_requests_through() {
    let auth = Authentication::builder()
        .authenticator(ApiKeyAuthenticator::new(users()))
        .fallback(Fallback::Anonymous)
        .build()
        .unwrap();
    let app = atest::init_service(auth_app(auth)).await;
    assert_eq!(send(&app, get("/app")).await.id(), serde_json::Value::Null);
}

#[test]
fn include_and_exclude_together_is_a_configuration_error() {
    let err = Authentication::builder()
        .authenticator(ApiKeyAuthenticator::new(users()))
        .include("/a")
        .exclude("/b")
        .build()
        .unwrap_err();
    assert!(matches!(err, ConfigError::IncludeAndExclude));
    assert_eq!(err.to_string(), "include and exclude patterns are mutually exclusive");
}

#[test]
fn redirect_without_login_url_is_a_configuration_error() {
    let err = Authentication::builder()
        .authenticator(ApiKeyAuthenticator::new(users()))
        .fallback(Fallback::Redirect)
        .build()
        .unwrap_err();
    assert!(matches!(err, ConfigError::MissingLoginUrl));
}

#[actix_web::test]
async fn provider_failures_fail_closed_with_opaque_5xx() {
    for (unavailable, status) in [(false, 500), (true, 503)] {
        let app = atest::init_service(auth_app(Authentication::new((
            ApiKeyAuthenticator::new(BrokenProvider { unavailable }),
            ApiKeyAuthenticator::new(users()),
        ))))
        .await;
        let r = send(&app, get("/?apikey=root-token")).await;
        assert_eq!(r.status, status);
        assert!(r.body.is_empty(), "no details leak: {:?}", r.body);
        // Without credentials the broken provider is never asked.
        assert_eq!(send(&app, get("/")).await.status, 200);
    }
}

#[actix_web::test]
async fn inactive_users_never_authenticate_even_through_custom_authenticators() {
    let always_disabled = from_fn(|_req| async { Ok(Outcome::Authenticated(DISABLED)) });
    let app = atest::init_service(auth_app(Authentication::new((
        always_disabled,
        ApiKeyAuthenticator::new(users()),
    ))))
    .await;
    let r = send(&app, get("/?apikey=root-token")).await;
    assert_eq!(r.status, 401);
}

#[actix_web::test]
async fn custom_closure_authenticators_work_in_a_chain() {
    let header = from_fn(|req: actix_web::HttpRequest| async move {
        Ok(match req.headers().get("x-user") {
            Some(v) if v == "root" => Outcome::Authenticated(ROOT),
            _ => Outcome::NoCredentials,
        })
    });
    let app = atest::init_service(auth_app(Authentication::new((
        header,
        ApiKeyAuthenticator::new(users()),
    ))))
    .await;
    assert_eq!(
        send(&app, get("/").insert_header(("x-user", "root"))).await.id(),
        "root@localhost"
    );
    assert_eq!(
        send(&app, get("/?apikey=customer-token")).await.id(),
        "customer@localhost"
    );
}

#[actix_web::test]
async fn preflight_can_be_let_through_the_fallback() {
    // The default service stands for a CORS layer inside the middleware: it answers preflights
    // with `Access-Control-Allow-Origin` (a handler's own answer would be replaced by the 401).
    for (allow, status) in [(true, 204), (false, 401)] {
        let auth = Authentication::builder()
            .authenticator(TokenAuthenticator::bearer(users()))
            .fallback(Fallback::Error)
            .allow_preflight(allow)
            .build()
            .unwrap();
        let app = atest::init_service(actix_web::App::new().wrap(auth).default_service(web::to(|| async {
            HttpResponse::NoContent()
                .insert_header(("Access-Control-Allow-Origin", "https://client.example"))
                .finish()
        })))
        .await;
        let req = atest::TestRequest::default()
            .method(actix_web::http::Method::OPTIONS)
            .uri("/api")
            .insert_header(("Origin", "https://client.example"))
            .insert_header(("Access-Control-Request-Method", "GET"));
        assert_eq!(send(&app, req).await.status, status);
        // A plain OPTIONS without the preflight header is not exempt.
        let plain = atest::TestRequest::default()
            .method(actix_web::http::Method::OPTIONS)
            .uri("/api");
        assert_eq!(send(&app, plain).await.status, 401);
    }
}

#[actix_web::test]
async fn middleware_on_a_scope_protects_only_that_scope() {
    let auth = Authentication::builder()
        .authenticator(ApiKeyAuthenticator::new(users()))
        .fallback(Fallback::Error)
        .build()
        .unwrap();
    let app = atest::init_service(
        actix_web::App::new()
            .service(web::scope("/api").wrap(auth).default_service(web::to(whoami)))
            .route("/public", web::get().to(|| async { HttpResponse::Ok().body("public") })),
    )
    .await;
    assert_eq!(send(&app, get("/api/me")).await.status, 401);
    assert_eq!(
        send(&app, get("/api/me?apikey=root-token")).await.id(),
        "root@localhost"
    );
    assert_eq!(send(&app, get("/public")).await.status, 200);
}
