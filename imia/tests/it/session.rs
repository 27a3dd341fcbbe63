//! Session authentication on actix-session.

use actix_session::{Session, SessionMiddleware, storage::CookieSessionStore};
use actix_web::{App, HttpResponse, cookie::Key, test as atest, web};
use imia::{
    Authentication,
    authenticator::{ApiKeyAuthenticator, SessionAuthenticator},
};

use crate::common::*;

async fn store_number(session: Session) -> actix_web::Result<HttpResponse> {
    session.insert("_auth_user_id", 42)?;
    Ok(HttpResponse::Ok().finish())
}

fn sessions(key: &Key) -> SessionMiddleware<CookieSessionStore> {
    SessionMiddleware::new(CookieSessionStore::default(), key.clone())
}

fn session_app(key: Key) -> TestApp!() {
    App::new()
        .wrap(Authentication::new((
            SessionAuthenticator::new(users(), secret()),
            ApiKeyAuthenticator::new(users()),
        )))
        .wrap(sessions(&key))
        .route("/number", web::post().to(store_number))
        .default_service(web::to(whoami))
}

fn session_cookie(r: &Reply) -> Option<String> {
    r.all("set-cookie")
        .into_iter()
        .find(|c| c.starts_with("id="))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

#[actix_web::test]
async fn the_user_in_the_session_is_authenticated() {
    let key = Key::generate();
    let app = atest::init_service(session_app(key.clone())).await;
    let cookie = session_for(sessions(&key), &ROOT).await;
    let r = send(&app, get("/whoami").insert_header(("Cookie", cookie))).await;
    assert_eq!(r.id(), "root@localhost");
    assert_eq!(r.json()["state"], "authenticated");
}

#[actix_web::test]
async fn a_session_marked_remembered_authenticates_as_remembered() {
    let key = Key::generate();
    let app = atest::init_service(session_app(key.clone())).await;
    let cookie = imia::testing::SessionLogin::new(&CUSTOMER, &secret())
        .remembered(true)
        .cookie(sessions(&key))
        .await
        .expect("a session cookie");
    let r = send(&app, get("/whoami").cookie(cookie)).await;
    assert_eq!(r.id(), "customer@localhost");
    assert_eq!(r.json()["state"], "remembered");
}

#[actix_web::test]
async fn a_session_for_an_unknown_or_inactive_user_is_purged_and_anonymous() {
    let key = Key::generate();
    let app = atest::init_service(session_app(key.clone())).await;
    for user in [GHOST, DISABLED] {
        let id = user.id;
        let cookie = session_for(sessions(&key), &user).await;
        let r = send(&app, get("/whoami").insert_header(("Cookie", cookie))).await;
        assert_eq!(r.id(), serde_json::Value::Null, "{id}");
        let removal = r
            .all("set-cookie")
            .into_iter()
            .find(|c| c.starts_with("id="))
            .expect("the cookie is removed");
        assert!(
            removal.contains("Max-Age=0") || removal.contains("expires=Thu, 01 Jan 1970"),
            "{removal}"
        );
    }
}

#[actix_web::test]
async fn a_session_without_the_right_fingerprint_is_purged_and_anonymous() {
    async fn no_fingerprint(session: Session) -> actix_web::Result<HttpResponse> {
        session.insert("_auth_user_id", "root@localhost")?;
        Ok(HttpResponse::Ok().finish())
    }
    async fn wrong_fingerprint(session: Session) -> actix_web::Result<HttpResponse> {
        session.insert("_auth_user_id", "root@localhost")?;
        // Keyed with another secret: what a forged or foreign session would hold.
        let other = imia::SecretKey::from_bytes(&[1; 32]).unwrap();
        session.insert("_auth_user_hash", other.fingerprint(ROOT.password))?;
        Ok(HttpResponse::Ok().finish())
    }
    let app = atest::init_service(
        session_app(Key::generate())
            .route("/nofp", web::post().to(no_fingerprint))
            .route("/wrongfp", web::post().to(wrong_fingerprint)),
    )
    .await;
    for uri in ["/nofp", "/wrongfp"] {
        let stored = send(&app, atest::TestRequest::post().uri(uri)).await;
        let cookie = session_cookie(&stored).unwrap();
        let r = send(&app, get("/whoami").insert_header(("Cookie", cookie))).await;
        assert_eq!(r.id(), serde_json::Value::Null, "{uri}");
    }
}

#[actix_web::test]
async fn a_stale_session_does_not_block_other_credentials() {
    let key = Key::generate();
    let app = atest::init_service(session_app(key.clone())).await;
    let cookie = session_for(sessions(&key), &GHOST).await;
    let r = send(
        &app,
        get("/whoami?apikey=customer-token").insert_header(("Cookie", cookie)),
    )
    .await;
    assert_eq!(r.id(), "customer@localhost");
}

#[actix_web::test]
async fn an_unreadable_session_value_is_anonymous_not_an_error() {
    let key = Key::generate();
    let app = atest::init_service(session_app(key.clone())).await;
    let stored = send(&app, atest::TestRequest::post().uri("/number")).await;
    let cookie = session_cookie(&stored).unwrap();
    let r = send(&app, get("/whoami").insert_header(("Cookie", cookie))).await;
    assert_eq!(r.id(), serde_json::Value::Null);
}

#[actix_web::test]
async fn a_forged_cookie_is_anonymous() {
    let key = Key::generate();
    let app = atest::init_service(session_app(key.clone())).await;
    let cookie = session_for(sessions(&key), &ROOT).await;
    // The same session signed with another key is not accepted.
    let other = atest::init_service(session_app(Key::generate())).await;
    let r = send(&other, get("/whoami").insert_header(("Cookie", cookie))).await;
    assert_eq!(r.id(), serde_json::Value::Null);
    let r = send(&app, get("/whoami").insert_header(("Cookie", "id=garbage"))).await;
    assert_eq!(r.id(), serde_json::Value::Null);
}

#[actix_web::test]
async fn without_session_middleware_the_session_authenticator_finds_nothing() {
    let app = atest::init_service(
        App::new()
            .wrap(Authentication::new((
                SessionAuthenticator::new(users(), secret()),
                ApiKeyAuthenticator::new(users()),
            )))
            .default_service(web::to(whoami)),
    )
    .await;
    assert_eq!(send(&app, get("/")).await.id(), serde_json::Value::Null);
    assert_eq!(send(&app, get("/?apikey=root-token")).await.id(), "root@localhost");
}
