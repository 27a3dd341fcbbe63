//! `Authorization: <scheme> <token>`.

use actix_web::{http::header::HeaderValue, test as atest};
use imia::{Authentication, Fallback, authenticator::TokenAuthenticator};

use crate::common::*;

#[actix_web::test]
async fn token_scheme_authenticates_by_token() {
    let app = atest::init_service(auth_app(Authentication::new(TokenAuthenticator::new(users(), "Token")))).await;
    for header in ["Token root-token", "token root-token", "TOKEN   root-token"] {
        let r = send(&app, get("/").insert_header(("Authorization", header))).await;
        assert_eq!(r.id(), "root@localhost", "{header}");
    }
}

#[actix_web::test]
async fn bearer_preset() {
    let app = atest::init_service(auth_app(Authentication::new(TokenAuthenticator::bearer(users())))).await;
    for header in ["Bearer root-token", "bearer root-token", "BEARER root-token"] {
        assert_eq!(
            send(&app, get("/").insert_header(("Authorization", header))).await.id(),
            "root@localhost"
        );
    }
}

#[actix_web::test]
async fn custom_schemes_work() {
    let app = atest::init_service(auth_app(Authentication::new(TokenAuthenticator::new(
        users(),
        "X-Robot",
    ))))
    .await;
    let r = send(
        &app,
        get("/").insert_header(("Authorization", "x-robot customer-token")),
    )
    .await;
    assert_eq!(r.id(), "customer@localhost");
}

#[actix_web::test]
async fn other_schemes_and_bare_values_are_anonymous() {
    let app = atest::init_service(auth_app(Authentication::new(TokenAuthenticator::new(users(), "Token")))).await;
    for header in [
        "Bearer root-token",
        "root-token",
        "",
        "Token\troot-token",
        "Tokenroot-token",
    ] {
        let r = send(&app, get("/").insert_header(("Authorization", header))).await;
        assert_eq!(r.id(), serde_json::Value::Null, "{header:?}");
    }
}

#[actix_web::test]
async fn unknown_tokens_and_inactive_users_get_401_with_the_challenge() {
    let app = atest::init_service(auth_app(Authentication::new(
        TokenAuthenticator::bearer(users()).realm("api"),
    )))
    .await;
    for header in ["Bearer nope", "Bearer disabled-token"] {
        let r = send(&app, get("/").insert_header(("Authorization", header))).await;
        assert_eq!(r.status, 401, "{header}");
        assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"api\""));
        assert!(r.body.is_empty());
    }
}

#[actix_web::test]
async fn malformed_tokens_are_400_never_500() {
    let counting = CountingProvider::new();
    let app = atest::init_service(auth_app(Authentication::new(TokenAuthenticator::new(
        counting.clone(),
        "Token",
    ))))
    .await;
    let long = format!("Token {}", "a".repeat(9000));
    let cases: Vec<HeaderValue> = vec![
        HeaderValue::from_static("Token"),
        HeaderValue::from_static("Token a b"),
        HeaderValue::from_static("Token a=b"),
        HeaderValue::from_static("Token ab,cd"),
        HeaderValue::from_static("Token \"quoted\""),
        HeaderValue::from_bytes(b"Token \xc3\xa9t\xc3\xa9").unwrap(),
        HeaderValue::from_bytes(b"Token \xff").unwrap(),
        HeaderValue::from_str(&long).unwrap(),
    ];
    for value in cases {
        let r = send(&app, get("/").insert_header(("Authorization", value.clone()))).await;
        assert_eq!(r.status, 400, "{value:?}");
    }
    assert_eq!(counting.count(), 0, "malformed tokens never reach the provider");
}

#[actix_web::test]
async fn duplicate_authorization_headers_are_rejected() {
    let app = atest::init_service(auth_app(Authentication::new(TokenAuthenticator::bearer(users())))).await;
    let r = send(
        &app,
        get("/")
            .append_header(("Authorization", "Bearer customer-token"))
            .append_header(("Authorization", "Bearer root-token")),
    )
    .await;
    assert_eq!(r.status, 400);
}

#[actix_web::test]
async fn error_fallback_challenges_with_the_scheme() {
    let auth = Authentication::builder()
        .authenticators((
            TokenAuthenticator::new(users(), "Token"),
            TokenAuthenticator::bearer(users()),
        ))
        .fallback(Fallback::Error)
        .build()
        .unwrap();
    let app = atest::init_service(auth_app(auth)).await;
    let r = send(&app, get("/")).await;
    assert_eq!(r.all("www-authenticate"), ["Token", "Bearer"]);
}
