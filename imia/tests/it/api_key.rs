//! API keys in the query string or a header.

use actix_web::{http::header::HeaderValue, test as atest};
use imia::{Authentication, authenticator::ApiKeyAuthenticator};

use crate::common::*;

fn auth() -> Authentication {
    Authentication::new(ApiKeyAuthenticator::new(users()))
}

#[actix_web::test]
async fn query_parameter_and_header_authenticate() {
    let app = atest::init_service(auth_app(auth())).await;
    assert_eq!(send(&app, get("/?apikey=root-token")).await.id(), "root@localhost");
    for name in ["X-Api-Key", "x-api-key", "X-API-KEY"] {
        assert_eq!(
            send(&app, get("/").insert_header((name, "root-token"))).await.id(),
            "root@localhost"
        );
    }
}

#[actix_web::test]
async fn query_parameter_is_percent_decoded() {
    let provider = imia::provider::InMemoryProvider::from_map([("user1@example.com", ROOT)]);
    let app = atest::init_service(auth_app(Authentication::new(ApiKeyAuthenticator::new(provider)))).await;
    assert_eq!(
        send(&app, get("/?apikey=user1%40example.com")).await.id(),
        "root@localhost"
    );
    assert_eq!(
        send(&app, get("/?apikey=user1@example.com")).await.id(),
        "root@localhost"
    );
}

#[actix_web::test]
async fn a_non_empty_query_parameter_wins_over_the_header() {
    let app = atest::init_service(auth_app(auth())).await;
    let r = send(&app, get("/?apikey=root-token").insert_header(("X-Api-Key", "bad"))).await;
    assert_eq!(r.id(), "root@localhost");
    let r = send(&app, get("/?apikey=bad").insert_header(("X-Api-Key", "root-token"))).await;
    assert_eq!(r.status, 401);
}

#[actix_web::test]
async fn empty_values_fall_back_and_never_reach_the_provider() {
    let counting = CountingProvider::new();
    let app = atest::init_service(auth_app(Authentication::new(ApiKeyAuthenticator::new(
        counting.clone(),
    ))))
    .await;
    let r = send(&app, get("/?apikey=").insert_header(("X-Api-Key", "customer-token"))).await;
    assert_eq!(r.id(), "customer@localhost");
    assert_eq!(send(&app, get("/?apikey=")).await.id(), serde_json::Value::Null);
    assert_eq!(
        send(&app, get("/").insert_header(("X-Api-Key", ""))).await.id(),
        serde_json::Value::Null
    );
    assert_eq!(send(&app, get("/")).await.id(), serde_json::Value::Null);
    assert_eq!(*counting.keys.lock().unwrap(), ["customer-token"]);
}

#[actix_web::test]
async fn unknown_and_inactive_keys_get_401() {
    let app = atest::init_service(auth_app(auth())).await;
    assert_eq!(send(&app, get("/?apikey=nope")).await.status, 401);
    assert_eq!(send(&app, get("/?apikey=disabled-token")).await.status, 401);
    assert_eq!(
        send(&app, get("/").insert_header(("X-Api-Key", "nope"))).await.status,
        401
    );
}

#[actix_web::test]
async fn ambiguous_or_malformed_keys_are_400() {
    let app = atest::init_service(auth_app(auth())).await;
    let long = format!("/?apikey={}", "a".repeat(9000));
    for uri in [
        "/?apikey=bad&apikey=root-token",
        "/?apikey=root-token&apikey=root-token",
        long.as_str(),
    ] {
        assert_eq!(send(&app, get(uri)).await.status, 400, "{uri}");
    }
    let r = send(
        &app,
        get("/")
            .append_header(("X-Api-Key", "root-token"))
            .append_header(("X-Api-Key", "customer-token")),
    )
    .await;
    assert_eq!(r.status, 400);
    let r = send(
        &app,
        get("/").insert_header(("X-Api-Key", HeaderValue::from_bytes(b"\xffkey").unwrap())),
    )
    .await;
    assert_eq!(r.status, 400);
}

#[actix_web::test]
async fn names_are_configurable_and_sources_switchable() {
    let auth = Authentication::new(ApiKeyAuthenticator::new(users()).query_param("key").header("X-Token"));
    let app = atest::init_service(auth_app(auth)).await;
    assert_eq!(send(&app, get("/?key=root-token")).await.id(), "root@localhost");
    assert_eq!(
        send(&app, get("/").insert_header(("X-Token", "root-token"))).await.id(),
        "root@localhost"
    );
    assert_eq!(
        send(&app, get("/?apikey=root-token")).await.id(),
        serde_json::Value::Null
    );
    assert_eq!(
        send(&app, get("/").insert_header(("X-Api-Key", "root-token")))
            .await
            .id(),
        serde_json::Value::Null
    );

    let header_only = Authentication::new(ApiKeyAuthenticator::new(users()).without_query_param());
    let app = atest::init_service(auth_app(header_only)).await;
    assert_eq!(
        send(&app, get("/?apikey=root-token")).await.id(),
        serde_json::Value::Null
    );
    assert_eq!(
        send(&app, get("/").insert_header(("X-Api-Key", "root-token")))
            .await
            .id(),
        "root@localhost"
    );

    let query_only = Authentication::new(ApiKeyAuthenticator::new(users()).without_header());
    let app = atest::init_service(auth_app(query_only)).await;
    assert_eq!(
        send(&app, get("/").insert_header(("X-Api-Key", "root-token")))
            .await
            .id(),
        serde_json::Value::Null
    );
}
