//! Remember-me: restore, rotation, grace window, theft detection, expiry, revocation.

use std::time::Duration;

use actix_session::{SessionMiddleware, storage::CookieSessionStore};
use actix_web::{App, HttpRequest, HttpResponse, ResponseError, cookie::Key, test as atest, web};
use imia::{
    Authentication,
    authenticator::SessionAuthenticator,
    login::{LoginManager, logout},
    provider::UserProvider as _,
    remember::{InMemoryRememberStore, RememberMe, RememberStore as _},
};

use crate::common::*;

type Remember = RememberMe<Store, InMemoryRememberStore>;
type Manager = LoginManager<Store, CountingVerifier>;

#[derive(serde::Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    remember_me: Option<String>,
}

async fn login(
    req: HttpRequest,
    form: web::Form<LoginForm>,
    logins: web::Data<Manager>,
    remember: web::Data<Remember>,
) -> HttpResponse {
    match logins.login(&req, &form.username, &form.password).await {
        Ok(token) => {
            if form.remember_me.is_some() {
                let user = token.user::<User>().expect("a User").clone();
                if let Err(err) = remember.remember(&req, &user).await {
                    return imia::error::AuthError::from(err).error_response();
                }
            }
            HttpResponse::Ok().body("ok")
        }
        Err(err) => err.error_response(),
    }
}

async fn do_logout(req: HttpRequest, remember: web::Data<Remember>) -> HttpResponse {
    let _ = remember.forget(&req).await;
    logout(&req);
    HttpResponse::Ok().body("bye")
}

#[derive(serde::Deserialize)]
struct PasswordForm {
    current: String,
    new: String,
}

async fn change_password(
    req: HttpRequest,
    user: imia::CurrentUser<User>,
    form: web::Form<PasswordForm>,
    logins: web::Data<Manager>,
) -> HttpResponse {
    match logins.change_password(&req, &user, &form.current, &form.new).await {
        Ok(()) => HttpResponse::Ok().body("changed"),
        Err(err) => err.error_response(),
    }
}

#[derive(Clone)]
struct Setup {
    users: Store,
    store: InMemoryRememberStore,
    remember: Remember,
}

fn setup(grace: Duration) -> Setup {
    let users = Store::new();
    let store = InMemoryRememberStore::new();
    let remember = RememberMe::new(users.clone(), store.clone(), secret()).grace(grace);
    Setup { users, store, remember }
}

fn remember_app(s: Setup) -> TestApp!() {
    let logins: Manager = LoginManager::builder(s.users.clone(), CountingVerifier::default(), secret())
        .remember_me(s.remember.clone())
        .build();
    App::new()
        .app_data(web::Data::new(logins))
        .app_data(web::Data::new(s.remember.clone()))
        .wrap(Authentication::new((
            SessionAuthenticator::new(s.users.clone(), secret()),
            s.remember.clone(),
        )))
        .wrap(SessionMiddleware::new(
            CookieSessionStore::default(),
            Key::from(&[5; 64]),
        ))
        .route("/login", web::post().to(login))
        .route("/logout", web::post().to(do_logout))
        .route("/password", web::post().to(change_password))
        .route(
            "/sensitive",
            web::post().to(|user: imia::FreshUser<User>| async move { HttpResponse::Ok().body(user.name) }),
        )
        .default_service(web::to(whoami))
}

fn cookie(r: &Reply, name: &str) -> Option<String> {
    r.all("set-cookie")
        .into_iter()
        .find(|c| c.starts_with(&format!("{name}=")) && !c.contains("Max-Age=0"))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

fn cleared(r: &Reply, name: &str) -> bool {
    r.all("set-cookie")
        .into_iter()
        .any(|c| c.starts_with(&format!("{name}=")) && c.contains("Max-Age=0"))
}

fn form(uri: &str, body: &str) -> atest::TestRequest {
    atest::TestRequest::post()
        .uri(uri)
        .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
        .set_payload(body.to_owned())
}

const ROOT_LOGIN: &str = "username=root%40localhost&password=pa%24%24word&remember_me=1";

#[actix_web::test]
async fn a_remembered_login_restores_a_session_and_rotates_the_token() {
    let s = setup(Duration::from_secs(5));
    let app = atest::init_service(remember_app(s.clone())).await;
    let r = send(&app, form("/login", ROOT_LOGIN)).await;
    let set = r
        .all("set-cookie")
        .into_iter()
        .find(|c| c.starts_with("imia_remember="))
        .unwrap()
        .to_owned();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.contains("Path=/") && set.contains("Max-Age="),
        "{set}"
    );
    assert!(set.contains("Secure"), "Secure by default: {set}");
    let remember = cookie(&r, "imia_remember").unwrap();
    assert_eq!(s.store.len(), 1);

    // Only the remember-me cookie: a new session, state "remembered", a rotated token.
    let r = send(&app, get("/whoami").insert_header(("Cookie", remember.clone()))).await;
    assert_eq!(r.id(), "root@localhost");
    assert_eq!(r.json()["state"], "remembered");
    let session = cookie(&r, "id").expect("a new session");
    let rotated = cookie(&r, "imia_remember").expect("a rotated token");
    assert_ne!(rotated, remember);
    assert_eq!(rotated.split(':').next(), remember.split(':').next(), "same selector");

    // The restored session stays "remembered" (not fresh) for its life.
    let r = send(&app, get("/whoami").insert_header(("Cookie", session))).await;
    assert_eq!(r.json()["state"], "remembered");
    assert!(
        cookie(&r, "imia_remember").is_none(),
        "no rotation while the session lives"
    );

    // A fresh password login is "authenticated" again.
    let r = send(&app, form("/login", "username=root%40localhost&password=pa%24%24word")).await;
    let fresh = cookie(&r, "id").unwrap();
    assert_eq!(
        send(&app, get("/whoami").insert_header(("Cookie", fresh))).await.json()["state"],
        "authenticated"
    );
}

#[actix_web::test]
async fn plain_http_development_opts_out_of_secure_explicitly() {
    let mut s = setup(Duration::from_secs(5));
    s.remember = RememberMe::new(s.users.clone(), s.store.clone(), secret()).secure(false);
    let app = atest::init_service(remember_app(s)).await;
    let r = send(&app, form("/login", ROOT_LOGIN)).await;
    let set = r
        .all("set-cookie")
        .into_iter()
        .find(|c| c.starts_with("imia_remember="))
        .unwrap()
        .to_owned();
    assert!(!set.contains("Secure"), "{set}");
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax"), "{set}");
}

#[actix_web::test]
async fn parallel_requests_with_one_cookie_all_get_in_during_the_grace_window() {
    let s = setup(Duration::from_secs(5));
    let app = atest::init_service(remember_app(s.clone())).await;
    let remember = cookie(&send(&app, form("/login", ROOT_LOGIN)).await, "imia_remember").unwrap();
    let requests = (0..16).map(|_| {
        let req = get("/whoami").insert_header(("Cookie", remember.clone())).to_request();
        atest::call_service(&app, req)
    });
    let responses = futures_util::future::join_all(requests).await;
    for resp in responses {
        assert_eq!(resp.status(), 200);
        let body: serde_json::Value = serde_json::from_slice(&atest::read_body(resp).await).unwrap();
        assert_eq!(body["state"], "remembered");
    }
    assert_eq!(s.store.len(), 1, "no theft was detected");
    // The old validator keeps working until the window ends.
    assert_eq!(
        send(&app, get("/whoami").insert_header(("Cookie", remember)))
            .await
            .json()["state"],
        "remembered"
    );
}

#[actix_web::test]
async fn an_old_validator_after_the_window_revokes_everything() {
    let s = setup(Duration::from_secs(5));
    let app = atest::init_service(remember_app(s.clone())).await;
    let c1 = cookie(&send(&app, form("/login", ROOT_LOGIN)).await, "imia_remember").unwrap();
    let other_device = cookie(&send(&app, form("/login", ROOT_LOGIN)).await, "imia_remember").unwrap();
    let c2 = cookie(
        &send(&app, get("/").insert_header(("Cookie", c1.clone()))).await,
        "imia_remember",
    )
    .unwrap();
    // Pretend the rotation happened a minute ago.
    let selector = c1
        .trim_start_matches("imia_remember=")
        .split(':')
        .next()
        .unwrap()
        .to_owned();
    let mut token = s.store.find(&selector).await.unwrap().unwrap();
    token.rotated_at -= 60;
    s.store.insert(&token).await.unwrap();

    let r = send(&app, get("/whoami").insert_header(("Cookie", c1))).await;
    assert_eq!(r.json()["state"], "anonymous");
    assert!(cleared(&r, "imia_remember"));
    assert!(s.store.is_empty(), "every token of the user is revoked");
    for c in [c2, other_device] {
        assert_eq!(
            send(&app, get("/whoami").insert_header(("Cookie", c))).await.json()["state"],
            "anonymous"
        );
    }
}

#[actix_web::test]
async fn a_wrong_validator_for_a_known_selector_is_theft() {
    let s = setup(Duration::from_secs(5));
    let app = atest::init_service(remember_app(s.clone())).await;
    let c1 = cookie(&send(&app, form("/login", ROOT_LOGIN)).await, "imia_remember").unwrap();
    let (selector, _) = c1.split_once(':').unwrap();
    let forged = format!("{selector}:{}", "A".repeat(43));
    let r = send(&app, get("/whoami").insert_header(("Cookie", forged))).await;
    assert_eq!(r.json()["state"], "anonymous");
    assert!(s.store.is_empty());
}

#[actix_web::test]
async fn bad_cookies_expired_tokens_and_disabled_users_are_anonymous_and_cleared() {
    let s = setup(Duration::from_secs(5));
    let app = atest::init_service(remember_app(s.clone())).await;
    for bad in [
        "imia_remember=garbage",
        "imia_remember=",
        &format!("imia_remember={}", "x".repeat(5000)),
    ] {
        let r = send(&app, get("/whoami").insert_header(("Cookie", bad.to_owned()))).await;
        assert_eq!(r.status, 200, "{bad}");
        assert_eq!(r.json()["state"], "anonymous");
    }
    let unknown = format!("imia_remember={}:{}", "B".repeat(22), "C".repeat(43));
    let r = send(&app, get("/whoami").insert_header(("Cookie", unknown))).await;
    assert_eq!(r.json()["state"], "anonymous");
    assert!(cleared(&r, "imia_remember"));

    // Expired.
    let c = cookie(&send(&app, form("/login", ROOT_LOGIN)).await, "imia_remember").unwrap();
    let selector = c
        .trim_start_matches("imia_remember=")
        .split(':')
        .next()
        .unwrap()
        .to_owned();
    let mut token = s.store.find(&selector).await.unwrap().unwrap();
    token.expires_at = 1;
    s.store.insert(&token).await.unwrap();
    let r = send(&app, get("/whoami").insert_header(("Cookie", c))).await;
    assert_eq!(r.json()["state"], "anonymous");
    assert!(cleared(&r, "imia_remember"));
    assert!(s.store.find(&selector).await.unwrap().is_none());

    // Disabled user.
    let c = cookie(
        &send(
            &app,
            form(
                "/login",
                "username=customer%40localhost&password=customer%3Apass%3Aword&remember_me=1",
            ),
        )
        .await,
        "imia_remember",
    )
    .unwrap();
    s.users.users.insert(User {
        active: false,
        ..CUSTOMER
    });
    let r = send(&app, get("/whoami").insert_header(("Cookie", c))).await;
    assert_eq!(r.json()["state"], "anonymous");
    assert!(s.store.is_empty());
}

#[actix_web::test]
async fn logout_revokes_the_token_and_clears_the_cookie() {
    let s = setup(Duration::from_secs(5));
    let app = atest::init_service(remember_app(s.clone())).await;
    let r = send(&app, form("/login", ROOT_LOGIN)).await;
    let (session, remember) = (cookie(&r, "id").unwrap(), cookie(&r, "imia_remember").unwrap());
    let r = send(
        &app,
        atest::TestRequest::post()
            .uri("/logout")
            .insert_header(("Cookie", format!("{session}; {remember}"))),
    )
    .await;
    assert!(cleared(&r, "imia_remember"));
    assert!(s.store.is_empty());
    assert_eq!(
        send(&app, get("/whoami").insert_header(("Cookie", remember)))
            .await
            .json()["state"],
        "anonymous"
    );
}

#[actix_web::test]
async fn a_password_change_revokes_every_token() {
    let s = setup(Duration::from_secs(5));
    let app = atest::init_service(remember_app(s.clone())).await;
    let laptop = cookie(&send(&app, form("/login", ROOT_LOGIN)).await, "imia_remember").unwrap();
    let r = send(&app, form("/login", ROOT_LOGIN)).await;
    let session = cookie(&r, "id").unwrap();
    assert_eq!(s.store.len(), 2);
    let r = send(
        &app,
        form("/password", "current=pa%24%24word&new=n3w").insert_header(("Cookie", session)),
    )
    .await;
    assert_eq!(r.body, "changed");
    assert!(s.store.is_empty());
    assert_eq!(
        send(&app, get("/whoami").insert_header(("Cookie", laptop)))
            .await
            .json()["state"],
        "anonymous"
    );
    // Restore the fixture user for other tests sharing nothing: users() is per setup.
    assert!(s.users.find_by_id("root@localhost").await.unwrap().is_some());
}

#[actix_web::test]
async fn remember_me_never_overrides_a_logged_in_session() {
    let s = setup(Duration::from_secs(5));
    let app = atest::init_service(remember_app(s.clone())).await;
    let root_remember = cookie(&send(&app, form("/login", ROOT_LOGIN)).await, "imia_remember").unwrap();
    let r = send(
        &app,
        form(
            "/login",
            "username=customer%40localhost&password=customer%3Apass%3Aword",
        ),
    )
    .await;
    let customer_session = cookie(&r, "id").unwrap();
    let r = send(
        &app,
        get("/whoami").insert_header(("Cookie", format!("{customer_session}; {root_remember}"))),
    )
    .await;
    assert_eq!(r.id(), "customer@localhost");
    assert!(cookie(&r, "imia_remember").is_none(), "the token is not rotated");
}

/// What every remember-me store must do.
async fn store_suite<S: imia::remember::RememberStore>(store: &S) {
    use imia::remember::RememberToken;
    let token = |selector: &str, user: &str, expires_at: i64| RememberToken {
        selector: selector.to_owned(),
        validator_hash: format!("hash-{selector}"),
        previous_hash: None,
        rotated_at: 100,
        user_id: user.to_owned(),
        series: format!("series-{selector}"),
        expires_at,
        binding: format!("binding-{selector}"),
    };
    let far = 4_000_000_000;
    store.insert(&token("sel-a", "u1", far)).await.unwrap();
    store.insert(&token("sel-b", "u1", far)).await.unwrap();
    store.insert(&token("sel-c", "u2", far)).await.unwrap();
    store.insert(&token("sel-old", "u2", 50)).await.unwrap();
    assert_eq!(store.find("sel-a").await.unwrap(), Some(token("sel-a", "u1", far)));
    assert_eq!(store.find("nope").await.unwrap(), None);

    // Rotation is a compare-and-swap that keeps the previous hash.
    assert!(store.rotate("sel-a", "hash-sel-a", "hash-2", 200).await.unwrap());
    assert!(!store.rotate("sel-a", "hash-sel-a", "hash-3", 201).await.unwrap());
    assert!(!store.rotate("nope", "x", "y", 1).await.unwrap());
    let rotated = store.find("sel-a").await.unwrap().unwrap();
    assert_eq!(rotated.validator_hash, "hash-2");
    assert_eq!(rotated.previous_hash.as_deref(), Some("hash-sel-a"));
    assert_eq!(rotated.rotated_at, 200);
    assert_eq!(rotated.series, "series-sel-a");

    // Many rotations of one token at once: exactly one wins.
    let attempts = (0..8).map(|i| {
        let new = format!("race-{i}");
        async move { store.rotate("sel-b", "hash-sel-b", &new, 300).await.unwrap() }
    });
    let wins = futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .filter(|w| *w)
        .count();
    assert_eq!(wins, 1);

    assert_eq!(store.delete_expired(1_000).await.unwrap(), 1);
    assert!(store.find("sel-old").await.unwrap().is_none());
    assert_eq!(store.delete_user("u1").await.unwrap(), 2);
    assert!(store.find("sel-a").await.unwrap().is_none());
    assert!(store.find("sel-c").await.unwrap().is_some());
    store.delete("sel-c").await.unwrap();
    assert!(store.find("sel-c").await.unwrap().is_none());
}

#[actix_web::test]
async fn in_memory_remember_store_passes_the_suite() {
    store_suite(&InMemoryRememberStore::new()).await;
}

#[cfg(feature = "diesel")]
mod diesel_stores {
    use imia::diesel::{Backend, DieselRememberStore, PoolOptions, migrations};

    use super::store_suite;

    async fn migrated<C: Backend>(pool: &C::Pool) {
        let mut conn = C::checkout(pool).await.expect("a connection");
        migrations::run(&mut *conn).await.expect("the tables");
    }

    #[cfg(feature = "sqlite")]
    #[actix_web::test]
    async fn sqlite() {
        use imia::diesel::{SqliteConnection, sqlite_pool};
        let pool = sqlite_pool(&crate::servers::fresh_sqlite("remember"), &PoolOptions::default()).unwrap();
        migrated::<SqliteConnection>(&pool).await;
        store_suite(&DieselRememberStore::<SqliteConnection>::new(pool)).await;
    }

    #[cfg(feature = "postgres")]
    #[actix_web::test]
    async fn postgres() {
        use diesel_async::AsyncPgConnection;
        let Some(url) = crate::servers::fresh_postgres("remember").await else {
            return;
        };
        let pool = imia::diesel::postgres_pool(&url, &PoolOptions::default()).unwrap();
        migrated::<AsyncPgConnection>(&pool).await;
        store_suite(&DieselRememberStore::<AsyncPgConnection>::new(pool)).await;
    }

    #[cfg(feature = "mysql")]
    #[actix_web::test]
    async fn mysql() {
        use diesel_async::AsyncMysqlConnection;
        let Some(url) = crate::servers::fresh_mysql("remember").await else {
            return;
        };
        let pool = imia::diesel::mysql_pool(&url, &PoolOptions::default()).unwrap();
        migrated::<AsyncMysqlConnection>(&pool).await;
        store_suite(&DieselRememberStore::<AsyncMysqlConnection>::new(pool)).await;
    }

    #[test]
    fn table_names_are_checked() {
        #[cfg(feature = "sqlite")]
        {
            let pool = imia::diesel::sqlite_pool(":memory:", &PoolOptions::default()).unwrap();
            assert!(
                DieselRememberStore::<imia::diesel::SqliteConnection>::with_table(pool.clone(), "x; DROP").is_err()
            );
            assert!(DieselRememberStore::<imia::diesel::SqliteConnection>::with_table(pool, "app.tokens").is_ok());
        }
    }
}

#[actix_web::test]
async fn sensitive_actions_need_a_fresh_login() {
    let s = setup(Duration::from_secs(5));
    let app = atest::init_service(remember_app(s.clone())).await;
    let r = send(&app, form("/login", ROOT_LOGIN)).await;
    let (fresh, remember) = (cookie(&r, "id").unwrap(), cookie(&r, "imia_remember").unwrap());
    let ok = send(
        &app,
        atest::TestRequest::post()
            .uri("/sensitive")
            .insert_header(("Cookie", fresh)),
    )
    .await;
    assert_eq!(ok.body, "Root");
    let restored = send(&app, get("/").insert_header(("Cookie", remember))).await;
    let remembered = cookie(&restored, "id").unwrap();
    let r = send(
        &app,
        atest::TestRequest::post()
            .uri("/sensitive")
            .insert_header(("Cookie", remembered)),
    )
    .await;
    assert_eq!(r.status, 401);
}
