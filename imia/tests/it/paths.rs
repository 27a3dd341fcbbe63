//! Include/exclude patterns against the path the router dispatches on.

use actix_web::{HttpResponse, test as atest, web};
use imia::{Authentication, Fallback, PathPattern, UserToken, authenticator::ApiKeyAuthenticator, error::ConfigError};

use crate::common::*;

fn protected_admin_app(auth: Authentication) -> TestApp!() {
    async fn secret(token: UserToken) -> HttpResponse {
        HttpResponse::Ok().body(format!("admin area for {}", token.display_name()))
    }
    actix_web::App::new()
        .wrap(auth)
        .route("/admin", web::get().to(secret))
        .route("/admin/{tail:.*}", web::get().to(secret))
        .route("/administrator", web::get().to(whoami))
        .route("/public", web::get().to(whoami))
        .route("/public/{tail:.*}", web::get().to(whoami))
        .default_service(web::to(whoami))
}

fn include_admin() -> Authentication {
    Authentication::builder()
        .authenticator(ApiKeyAuthenticator::new(users()))
        .include("/admin")
        .fallback(Fallback::Error)
        .build()
        .unwrap()
}

#[actix_web::test]
async fn include_covers_only_matching_paths() {
    let app = atest::init_service(protected_admin_app(include_admin())).await;
    assert_eq!(send(&app, get("/admin")).await.status, 401);
    assert_eq!(send(&app, get("/admin/users")).await.status, 401);
    assert_eq!(send(&app, get("/admin?apikey=root-token")).await.status, 200);
    // Segment-aware: /administrator is not under /admin.
    assert_eq!(send(&app, get("/administrator")).await.status, 200);
    // Outside the included paths no authenticator runs: anonymous even with a valid key.
    assert_eq!(
        send(&app, get("/public?apikey=root-token")).await.id(),
        serde_json::Value::Null
    );
}

#[actix_web::test]
async fn percent_encoding_does_not_bypass_an_include() {
    let app = atest::init_service(protected_admin_app(include_admin())).await;
    for uri in [
        "/%61dmin",
        "/%61%64%6d%69%6e/users",
        "/admin%2Fusers",
        "/%2e%2e/admin",
        "/public/..%2Fadmin",
    ] {
        let r = send(&app, get(uri)).await;
        assert_ne!(r.status, 200, "{uri} reached a handler anonymously: {:?}", r.body);
    }
}

#[actix_web::test]
async fn query_and_host_cannot_change_what_is_protected() {
    let auth = Authentication::builder()
        .authenticator(ApiKeyAuthenticator::new(users()))
        .exclude("/public")
        .fallback(Fallback::Error)
        .build()
        .unwrap();
    let app = atest::init_service(protected_admin_app(auth)).await;
    assert_eq!(send(&app, get("/public")).await.status, 200);
    assert_eq!(send(&app, get("/admin?x=/public")).await.status, 401);
    assert_eq!(
        send(&app, get("/admin").insert_header(("Host", "x/public")))
            .await
            .status,
        401
    );
}

#[actix_web::test]
async fn exclusions_never_cover_ambiguous_paths() {
    let auth = Authentication::builder()
        .authenticator(ApiKeyAuthenticator::new(users()))
        .exclude("/public")
        .fallback(Fallback::Error)
        .build()
        .unwrap();
    let app = atest::init_service(protected_admin_app(auth)).await;
    for uri in [
        "/public/../admin",
        "/public/%2e%2e/admin",
        "/public%2F..%2Fadmin",
        "/public;x/../admin",
        "/public//admin",
        "/public-admin",
        "/publicity",
    ] {
        assert_eq!(send(&app, get(uri)).await.status, 401, "{uri}");
    }
    assert_eq!(send(&app, get("/public/page")).await.status, 200);
    assert_eq!(send(&app, get("/public/")).await.status, 200);
}

#[actix_web::test]
async fn excluded_paths_are_anonymous_even_with_credentials() {
    let auth = Authentication::builder()
        .authenticator(ApiKeyAuthenticator::new(users()))
        .exclude("/public")
        .build()
        .unwrap();
    let app = atest::init_service(protected_admin_app(auth)).await;
    assert_eq!(
        send(&app, get("/public?apikey=root-token")).await.id(),
        serde_json::Value::Null
    );
    assert_eq!(send(&app, get("/other?apikey=root-token")).await.id(), "root@localhost");
}

#[actix_web::test]
async fn regex_patterns_are_anchored() {
    let auth = Authentication::builder()
        .authenticator(ApiKeyAuthenticator::new(users()))
        .include(PathPattern::regex(r"/admin/\d+").unwrap())
        .fallback(Fallback::Error)
        .build()
        .unwrap();
    let app = atest::init_service(protected_admin_app(auth)).await;
    assert_eq!(send(&app, get("/admin/42")).await.status, 401);
    assert_eq!(send(&app, get("/admin/42/edit")).await.status, 200);
    assert_eq!(send(&app, get("/x/admin/42")).await.status, 200);
}

/// Patterns written for the Python original (a bare name, a regex passed as a prefix) would
/// protect nothing: building the middleware fails and says what to write instead.
#[test]
fn patterns_that_cannot_be_paths_are_config_errors() {
    let build = |include: bool, pattern: PathPattern| {
        let builder = Authentication::builder().authenticator(ApiKeyAuthenticator::new(users()));
        if include {
            builder.include(pattern)
        } else {
            builder.exclude(pattern)
        }
        .build()
    };
    for (include, pattern, advice) in [
        (true, "app2", r#"use "/app2""#),
        (false, "^/admin", r#"use "/admin""#),
        (true, "^/api/.*", r#"use "/api""#),
        (false, "static", r#"use "/static""#),
        (true, r"/users/\d+", "PathPattern::regex"),
    ] {
        match build(include, pattern.into()) {
            Err(err @ ConfigError::InvalidPattern { .. }) => {
                let message = err.to_string();
                assert!(message.contains(&format!("{pattern:?}")), "{message}");
                assert!(message.contains(advice), "{message}");
            }
            other => panic!("{pattern:?} built: {other:?}"),
        }
    }
    assert!(matches!(
        build(true, PathPattern::exact("login")),
        Err(ConfigError::InvalidPattern { .. })
    ));
    // What the messages advise builds.
    assert!(build(true, "/app2".into()).is_ok());
    assert!(build(false, "/admin".into()).is_ok());
    assert!(build(true, PathPattern::regex(r"/users/\d+").unwrap()).is_ok());
    // A regex that cannot match a path is refused when it is made.
    assert!(matches!(
        PathPattern::regex("^admin"),
        Err(ConfigError::InvalidPattern { .. })
    ));
}
