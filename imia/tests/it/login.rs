//! The login flow: LoginManager, logout, password changes, throttling, CSRF.

use std::{sync::atomic::Ordering, time::Duration};

use actix_session::{SessionMiddleware, storage::CookieSessionStore};
use actix_web::{App, HttpRequest, HttpResponse, ResponseError, cookie::Key, test as atest, web};
use imia::{
    Authentication, CurrentUser,
    authenticator::SessionAuthenticator,
    csrf::SameOrigin,
    login::{InMemoryThrottle, LoginError, LoginGuard, LoginManager, logout},
};
use serde::Deserialize;

use crate::common::*;

type Manager = LoginManager<Store, CountingVerifier>;

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

async fn login(req: HttpRequest, form: web::Form<LoginForm>, logins: web::Data<Manager>) -> HttpResponse {
    match logins.login(&req, &form.username, &form.password).await {
        Ok(token) => HttpResponse::Ok().body(format!("welcome {}", token.display_name())),
        Err(LoginError::InvalidCredentials) => HttpResponse::Ok().body("Invalid username or password."),
        Err(other) => other.error_response(),
    }
}

async fn do_logout(req: HttpRequest) -> HttpResponse {
    logout(&req);
    HttpResponse::Ok().body("bye")
}

#[derive(Deserialize)]
struct PasswordForm {
    current: String,
    new: String,
}

async fn change_password(
    req: HttpRequest,
    user: CurrentUser<User>,
    form: web::Form<PasswordForm>,
    logins: web::Data<Manager>,
) -> HttpResponse {
    match logins.change_password(&req, &user, &form.current, &form.new).await {
        Ok(()) => HttpResponse::Ok().body("changed"),
        Err(err) => err.error_response(),
    }
}

fn login_app(manager: Manager, key: Key) -> TestApp!() {
    let store = manager.provider().clone();
    App::new()
        .app_data(web::Data::new(manager))
        .wrap(Authentication::new(SessionAuthenticator::new(store, secret())))
        .wrap(SessionMiddleware::new(CookieSessionStore::default(), key))
        .route("/login", web::post().to(login))
        .route("/logout", web::post().to(do_logout))
        .route("/password", web::post().to(change_password))
        .default_service(web::to(whoami))
}

fn cookie_of(r: &Reply) -> Option<String> {
    r.all("set-cookie")
        .into_iter()
        .find(|c| c.starts_with("id=") && !c.contains("Max-Age=0"))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

fn form(uri: &str, body: &str) -> atest::TestRequest {
    atest::TestRequest::post()
        .uri(uri)
        .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
        .set_payload(body.to_owned())
}

#[actix_web::test]
async fn login_establishes_a_session_that_authenticates_later_requests() {
    let manager = LoginManager::new(Store::new(), CountingVerifier::default(), secret());
    let app = atest::init_service(login_app(manager, Key::generate())).await;
    let r = send(&app, form("/login", "username=root%40localhost&password=pa%24%24word")).await;
    assert_eq!(r.body, "welcome Root");
    let cookie = cookie_of(&r).expect("a session cookie");
    let r = send(&app, get("/whoami").insert_header(("Cookie", cookie))).await;
    assert_eq!(r.id(), "root@localhost");
}

#[actix_web::test]
async fn every_failure_is_identical_and_costs_one_verification() {
    let store = Store::new();
    let hasher = CountingVerifier::default();
    let manager = LoginManager::new(store.clone(), hasher.clone(), secret());
    let app = atest::init_service(login_app(manager, Key::generate())).await;
    let mut answers = Vec::new();
    for body in [
        "username=root%40localhost&password=wrong",
        "username=nobody%40localhost&password=pa%24%24word",
        "username=disabled%40localhost&password=pa%24%24word",
        "username=nopass%40localhost&password=anything",
        "username=ROOT%40localhost&password=pa%24%24word",
    ] {
        let before = hasher.count();
        let r = send(&app, form("/login", body)).await;
        assert_eq!(hasher.count() - before, 1, "{body}: exactly one verification");
        assert!(cookie_of(&r).is_none(), "{body}: no session established");
        answers.push((r.status, r.body.clone()));
    }
    // Missing fields: the same answer without touching the provider or the hasher.
    let (lookups, verifications) = (store.lookups.load(Ordering::SeqCst), hasher.count());
    for body in [
        "",
        "username=root%40localhost",
        "password=pa%24%24word",
        "username=&password=",
    ] {
        let r = send(&app, form("/login", body)).await;
        answers.push((r.status, r.body.clone()));
    }
    assert_eq!(store.lookups.load(Ordering::SeqCst), lookups);
    assert_eq!(hasher.count(), verifications);
    assert!(
        answers.windows(2).all(|w| w[0] == w[1]),
        "identical answers: {answers:?}"
    );
}

#[actix_web::test]
async fn login_renews_the_session_id_and_the_old_cookie_stays_anonymous() {
    async fn visit(session: actix_session::Session) -> actix_web::Result<HttpResponse> {
        session.insert("cart", "3 apples")?;
        Ok(HttpResponse::Ok().finish())
    }
    let manager = LoginManager::new(Store::new(), CountingVerifier::default(), secret());
    let app = atest::init_service(login_app(manager, Key::generate()).route("/visit", web::post().to(visit))).await;
    let pre = cookie_of(&send(&app, atest::TestRequest::post().uri("/visit")).await).unwrap();
    let r = send(
        &app,
        form("/login", "username=root%40localhost&password=pa%24%24word").insert_header(("Cookie", pre.clone())),
    )
    .await;
    let post = cookie_of(&r).unwrap();
    assert_ne!(pre, post, "a new session id at login");
    let r = send(&app, get("/whoami").insert_header(("Cookie", pre))).await;
    assert_eq!(
        r.id(),
        serde_json::Value::Null,
        "the pre-login cookie never becomes a login"
    );
}

#[actix_web::test]
async fn a_password_change_ends_other_sessions_and_keeps_this_one() {
    let manager = LoginManager::new(Store::new(), CountingVerifier::default(), secret());
    let app = atest::init_service(login_app(manager, Key::generate())).await;
    let creds = "username=root%40localhost&password=pa%24%24word";
    let a = cookie_of(&send(&app, form("/login", creds)).await).unwrap();
    let b = cookie_of(&send(&app, form("/login", creds)).await).unwrap();

    let wrong = send(
        &app,
        form("/password", "current=nope&new=n3w").insert_header(("Cookie", a.clone())),
    )
    .await;
    assert_eq!(wrong.status, 401);
    let r = send(
        &app,
        form("/password", "current=pa%24%24word&new=n3w").insert_header(("Cookie", a.clone())),
    )
    .await;
    assert_eq!(r.body, "changed");
    let a2 = cookie_of(&r).expect("the changing session is renewed");
    assert_ne!(a, a2);

    assert_eq!(
        send(&app, get("/whoami").insert_header(("Cookie", a2))).await.id(),
        "root@localhost"
    );
    assert_eq!(
        send(&app, get("/whoami").insert_header(("Cookie", b))).await.id(),
        serde_json::Value::Null
    );
    // The new password works, the old one does not.
    assert_eq!(
        send(&app, form("/login", "username=root%40localhost&password=n3w"))
            .await
            .body,
        "welcome Root"
    );
    assert_eq!(
        send(&app, form("/login", creds)).await.body,
        "Invalid username or password."
    );
}

#[actix_web::test]
async fn a_disabled_or_deleted_user_is_anonymous_on_the_next_request() {
    let store = Store::new();
    let manager = LoginManager::new(store.clone(), CountingVerifier::default(), secret());
    let app = atest::init_service(login_app(manager, Key::generate())).await;
    let cookie = cookie_of(
        &send(
            &app,
            form(
                "/login",
                "username=customer%40localhost&password=customer%3Apass%3Aword",
            ),
        )
        .await,
    )
    .unwrap();
    assert_eq!(
        send(&app, get("/").insert_header(("Cookie", cookie.clone())))
            .await
            .id(),
        "customer@localhost"
    );
    store.users.insert(User {
        active: false,
        ..CUSTOMER
    });
    assert_eq!(
        send(&app, get("/").insert_header(("Cookie", cookie.clone())))
            .await
            .id(),
        serde_json::Value::Null
    );
    store.users.insert(CUSTOMER);
    let cookie = cookie_of(
        &send(
            &app,
            form(
                "/login",
                "username=customer%40localhost&password=customer%3Apass%3Aword",
            ),
        )
        .await,
    )
    .unwrap();
    store.users.remove("customer@localhost");
    assert_eq!(
        send(&app, get("/").insert_header(("Cookie", cookie))).await.id(),
        serde_json::Value::Null
    );
}

#[actix_web::test]
async fn throttled_usernames_fail_like_wrong_passwords() {
    let hasher = CountingVerifier::default();
    let manager = LoginManager::builder(Store::new(), hasher.clone(), secret())
        .throttle(InMemoryThrottle::new().per_username(3, Duration::from_secs(300)))
        .build();
    let app = atest::init_service(login_app(manager, Key::generate())).await;
    let wrong = send(&app, form("/login", "username=root%40localhost&password=bad")).await;
    for _ in 0..2 {
        send(&app, form("/login", "username=root%40localhost&password=bad")).await;
    }
    let before = hasher.count();
    let locked = send(&app, form("/login", "username=root%40localhost&password=pa%24%24word")).await;
    assert_eq!(
        hasher.count() - before,
        1,
        "a locked attempt still costs one verification"
    );
    assert_eq!((locked.status, locked.body.clone()), (wrong.status, wrong.body.clone()));
    assert!(cookie_of(&locked).is_none());
    // Other usernames are unaffected.
    let other = send(
        &app,
        form(
            "/login",
            "username=customer%40localhost&password=customer%3Apass%3Aword",
        ),
    )
    .await;
    assert_eq!(other.body, "welcome Customer");
}

struct ClosedForMaintenance;

impl LoginGuard<User> for ClosedForMaintenance {
    async fn check(&self, _req: &HttpRequest, username: &str, _user: Option<&User>) -> Result<(), actix_web::Error> {
        if username.ends_with("@localhost") {
            Err(actix_web::error::ErrorServiceUnavailable("maintenance"))
        } else {
            Ok(())
        }
    }
}

#[actix_web::test]
async fn guards_run_before_the_password_check_and_answer_with_their_error() {
    let hasher = CountingVerifier::default();
    let manager = LoginManager::builder(Store::new(), hasher.clone(), secret())
        .guard(ClosedForMaintenance)
        .build();
    let app = atest::init_service(login_app(manager, Key::generate())).await;
    let r = send(&app, form("/login", "username=root%40localhost&password=pa%24%24word")).await;
    assert_eq!(r.status, 503);
    assert_eq!(hasher.count(), 0);
}

/// A hasher whose stored hashes all "need a rehash".
#[derive(Clone, Default)]
struct Upgrading(CountingVerifier);

impl imia::password::PasswordVerifier for Upgrading {
    async fn verify(&self, password: &str, hash: &str) -> Result<bool, imia::password::PasswordError> {
        let stored = hash.strip_prefix("v2:").unwrap_or(hash);
        self.0.verify(password, stored).await
    }
}

impl imia::password::PasswordHasher for Upgrading {
    async fn hash(&self, password: &str) -> Result<String, imia::password::PasswordError> {
        Ok(format!("v2:{password}"))
    }
    fn needs_rehash(&self, hash: &str) -> bool {
        !hash.starts_with("v2:")
    }
}

#[actix_web::test]
async fn outdated_hashes_are_rehashed_on_login_and_the_session_survives() {
    let store = Store::new();
    let manager = LoginManager::new(store.clone(), Upgrading::default(), secret());
    let app = atest::init_service(
        App::new()
            .app_data(web::Data::new(manager.clone()))
            .wrap(Authentication::new(SessionAuthenticator::new(store.clone(), secret())))
            .wrap(SessionMiddleware::new(CookieSessionStore::default(), Key::generate()))
            .route(
                "/login",
                web::post().to(|req: HttpRequest, form: web::Form<LoginForm>, m: web::Data<LoginManager<Store, Upgrading>>| async move {
                    match m.login(&req, &form.username, &form.password).await {
                        Ok(_) => HttpResponse::Ok().body("ok"),
                        Err(e) => e.error_response(),
                    }
                }),
            )
            .default_service(web::to(whoami)),
    )
    .await;
    let r = send(&app, form("/login", "username=root%40localhost&password=pa%24%24word")).await;
    assert_eq!(r.body, "ok");
    assert_eq!(
        *store.updates.lock().unwrap(),
        [("root@localhost".to_owned(), "v2:pa$$word".to_owned())]
    );
    let cookie = cookie_of(&r).unwrap();
    assert_eq!(
        send(&app, get("/").insert_header(("Cookie", cookie))).await.id(),
        "root@localhost"
    );
    // Next login: already current, no rehash.
    send(&app, form("/login", "username=root%40localhost&password=pa%24%24word")).await;
    assert_eq!(store.updates.lock().unwrap().len(), 1);
}

#[actix_web::test]
async fn logout_makes_the_request_and_the_session_anonymous() {
    let manager = LoginManager::new(Store::new(), CountingVerifier::default(), secret());
    let app = atest::init_service(login_app(manager, Key::generate())).await;
    let cookie =
        cookie_of(&send(&app, form("/login", "username=root%40localhost&password=pa%24%24word")).await).unwrap();
    let r = send(
        &app,
        atest::TestRequest::post()
            .uri("/logout")
            .insert_header(("Cookie", cookie.clone())),
    )
    .await;
    let removal = r
        .all("set-cookie")
        .into_iter()
        .find(|c| c.starts_with("id="))
        .expect("the cookie is removed");
    assert!(removal.contains("Max-Age=0") || removal.contains("1970"), "{removal}");
}

#[actix_web::test]
async fn cross_site_posts_are_refused() {
    let manager = LoginManager::new(Store::new(), CountingVerifier::default(), secret());
    let app = atest::init_service(login_app(manager, Key::generate()).wrap(SameOrigin::new())).await;
    let creds = "username=root%40localhost&password=pa%24%24word";
    let cases: &[(&[(&str, &str)], u16)] = &[
        (&[("Origin", "http://evil.example")], 403),
        (&[("Origin", "null")], 403),
        (&[("Sec-Fetch-Site", "cross-site")], 403),
        (&[("Origin", "http://localhost:8080"), ("Host", "localhost:8080")], 200),
        (&[("Sec-Fetch-Site", "same-origin")], 200),
        (&[], 200),
    ];
    for (headers, status) in cases {
        let req = headers
            .iter()
            .fold(form("/login", creds), |r, (k, v)| r.insert_header((*k, *v)));
        let r = send(&app, req).await;
        assert_eq!(r.status.as_u16(), *status, "{headers:?}");
        if *status == 403 {
            assert!(cookie_of(&r).is_none());
        }
    }
}

#[actix_web::test]
async fn a_burst_of_parallel_logins_queues_and_all_succeed() {
    use imia::password::Argon2Hasher;
    // Real argon2id (small parameters), two at a time, the default queue of 64.
    let hasher = Argon2Hasher::builder()
        .params(1024, 2, 1)
        .max_concurrent(2)
        .build()
        .unwrap();
    let hash = hasher.hash("burst-password").await.unwrap();
    let store = Store::new();
    store.users.insert(User {
        password: Box::leak(hash.into_boxed_str()),
        ..ROOT
    });
    let manager = LoginManager::new(store, hasher, secret());
    let app =
        atest::init_service(
            App::new()
                .app_data(web::Data::new(manager))
                .wrap(SessionMiddleware::new(CookieSessionStore::default(), Key::generate()))
                .route(
                    "/login",
                    web::post().to(
                        |req: HttpRequest,
                         form: web::Form<LoginForm>,
                         m: web::Data<LoginManager<Store, Argon2Hasher>>| async move {
                            match m.login(&req, &form.username, &form.password).await {
                                Ok(_) => HttpResponse::Ok().body("ok"),
                                Err(e) => e.error_response(),
                            }
                        },
                    ),
                ),
        )
        .await;
    let attempts = (0..36).map(|_| {
        let req = form("/login", "username=root%40localhost&password=burst-password").to_request();
        atest::call_service(&app, req)
    });
    let statuses: Vec<u16> = futures_util::future::join_all(attempts)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
}
