//! HTTP Basic (RFC 7617).

use actix_web::{http::header::HeaderValue, test as atest};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use imia::{
    Authentication, Fallback,
    authenticator::{ApiKeyAuthenticator, BasicAuthenticator},
};

use crate::common::*;

fn basic_app_auth(verifier: CountingVerifier) -> Authentication {
    Authentication::new(BasicAuthenticator::new(users(), verifier))
}

#[actix_web::test]
async fn correct_credentials_authenticate() {
    let app = atest::init_service(auth_app(basic_app_auth(CountingVerifier::default()))).await;
    let r = send(
        &app,
        get("/").insert_header(("Authorization", basic("root@localhost", "pa$$word"))),
    )
    .await;
    assert_eq!(r.id(), "root@localhost");
    assert_eq!(r.json()["name"], "Root");
}

#[actix_web::test]
async fn scheme_is_case_insensitive_and_spaces_may_repeat() {
    let app = atest::init_service(auth_app(basic_app_auth(CountingVerifier::default()))).await;
    let b64 = STANDARD.encode("root@localhost:pa$$word");
    for header in [format!("basic {b64}"), format!("BASIC {b64}"), format!("Basic   {b64}")] {
        let r = send(&app, get("/").insert_header(("Authorization", header.clone()))).await;
        assert_eq!(r.id(), "root@localhost", "{header}");
    }
}

#[actix_web::test]
async fn passwords_may_contain_colons() {
    let app = atest::init_service(auth_app(basic_app_auth(CountingVerifier::default()))).await;
    let r = send(
        &app,
        get("/").insert_header(("Authorization", basic("customer@localhost", "customer:pass:word"))),
    )
    .await;
    assert_eq!(r.id(), "customer@localhost");
}

#[actix_web::test]
async fn no_header_is_anonymous_unless_the_fallback_says_otherwise() {
    let app = atest::init_service(auth_app(basic_app_auth(CountingVerifier::default()))).await;
    assert_eq!(send(&app, get("/")).await.id(), serde_json::Value::Null);

    let auth = Authentication::builder()
        .authenticator(BasicAuthenticator::new(users(), CountingVerifier::default()))
        .fallback(Fallback::Error)
        .build()
        .unwrap();
    let app = atest::init_service(auth_app(auth)).await;
    let r = send(&app, get("/")).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"Protected access\""));
    assert!(r.body.is_empty());
    // Another scheme is not Basic's business: the fallback answers.
    let r = send(&app, get("/").insert_header(("Authorization", "Bearer x"))).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"Protected access\""));
}

#[actix_web::test]
async fn every_invalid_credential_gets_the_same_401_and_one_verification() {
    let verifier = CountingVerifier::default();
    let app = atest::init_service(auth_app(basic_app_auth(verifier.clone()))).await;
    let mut answers = Vec::new();
    for (user, password) in [
        ("root@localhost", "wrong"),        // wrong password
        ("nobody@localhost", "pa$$word"),   // unknown user
        ("disabled@localhost", "pa$$word"), // inactive user, right password
        ("nopass@localhost", ""),           // empty password
        ("nopass@localhost", "anything"),   // user without a usable password
        ("ROOT@localhost", "pa$$word"),     // usernames are exact here
    ] {
        let before = verifier.count();
        let r = send(&app, get("/").insert_header(("Authorization", basic(user, password)))).await;
        assert_eq!(r.status, 401, "{user}:{password}");
        assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"Protected access\""));
        let verifications = verifier.count() - before;
        if password.is_empty() {
            assert_eq!(verifications, 0, "empty passwords are refused before any lookup");
        } else {
            assert_eq!(verifications, 1, "{user}: the hasher runs exactly once");
        }
        answers.push((r.status, r.all("www-authenticate").join("|"), r.body.clone()));
    }
    assert!(
        answers.windows(2).all(|w| w[0] == w[1]),
        "identical answers: {answers:?}"
    );
}

#[actix_web::test]
async fn malformed_headers_are_400_never_500() {
    let app = atest::init_service(auth_app(basic_app_auth(CountingVerifier::default()))).await;
    let huge = format!(
        "Basic {}",
        STANDARD.encode(format!("root@localhost:{}", "x".repeat(10_000)))
    );
    let cases: Vec<HeaderValue> = vec![
        HeaderValue::from_static("Basic"),
        HeaderValue::from_static("Basic abc"),
        HeaderValue::from_static("Basic ###"),
        HeaderValue::from_str(&format!("Basic {}", STANDARD.encode("no-colon"))).unwrap(),
        HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(b"\xff\xfe:pw"))).unwrap(),
        HeaderValue::from_str(&format!("Basic {}!", STANDARD.encode("root@localhost:pa$$word"))).unwrap(),
        HeaderValue::from_bytes(b"Basic \xff\xfe").unwrap(),
        HeaderValue::from_str(&huge).unwrap(),
    ];
    for value in cases {
        let r = send(&app, get("/").insert_header(("Authorization", value.clone()))).await;
        assert_eq!(r.status, 400, "{value:?}");
        assert!(r.body.is_empty());
    }
}

#[actix_web::test]
async fn lookalike_schemes_are_not_basic() {
    let app = atest::init_service(auth_app(basic_app_auth(CountingVerifier::default()))).await;
    let b64 = STANDARD.encode("root@localhost:pa$$word");
    for header in [format!("BasicX{b64}"), format!("Basic\t{b64}"), b64.clone()] {
        let r = send(&app, get("/").insert_header(("Authorization", header.clone()))).await;
        assert_eq!(r.id(), serde_json::Value::Null, "{header}");
    }
}

#[actix_web::test]
async fn duplicate_authorization_headers_are_rejected() {
    let app = atest::init_service(auth_app(basic_app_auth(CountingVerifier::default()))).await;
    let r = send(
        &app,
        get("/")
            .append_header(("Authorization", basic("customer@localhost", "customer:pass:word")))
            .append_header(("Authorization", basic("root@localhost", "pa$$word"))),
    )
    .await;
    assert_eq!(r.status, 400);
}

#[actix_web::test]
async fn custom_realm_is_quoted() {
    let auth = Authentication::builder()
        .authenticator(BasicAuthenticator::new(users(), CountingVerifier::default()).realm("Staff \"only\""))
        .fallback(Fallback::Error)
        .build()
        .unwrap();
    let app = atest::init_service(auth_app(auth)).await;
    let r = send(&app, get("/")).await;
    assert_eq!(r.header("www-authenticate"), Some(r#"Basic realm="Staff \"only\"""#));
}

#[actix_web::test]
async fn excluded_paths_never_challenge() {
    let auth = Authentication::builder()
        .authenticators((
            BasicAuthenticator::new(users(), CountingVerifier::default()),
            ApiKeyAuthenticator::new(users()),
        ))
        .exclude("/public")
        .fallback(Fallback::Error)
        .build()
        .unwrap();
    let app = atest::init_service(auth_app(auth)).await;
    let r = send(&app, get("/public")).await;
    assert_eq!(r.status, 200);
    assert!(r.header("www-authenticate").is_none());
    let r = send(&app, get("/public").insert_header(("Authorization", "Basic ###"))).await;
    assert_eq!(r.status, 200, "excluded paths do not even parse credentials");
}
