//! The `Auth` extractor: one handle for logging in, remembering, logging out (here and
//! everywhere) and changing the password, configured once with `LoginManager::handle`.

use std::borrow::Cow;

use actix_session::{SessionMiddleware, storage::CookieSessionStore};
use actix_web::{App, HttpResponse, ResponseError, cookie::Key, test as atest, web};
use imia::{
    Auth, Authentication, UserLike,
    authenticator::SessionAuthenticator,
    impersonation::Impersonation,
    login::{LoginError, LoginManager, Logins},
    password::InsecurePlaintextVerifier,
    provider::InMemoryProvider,
    remember::{InMemoryRememberStore, RememberMe},
};
use serde::Deserialize;

use crate::common::{Reply, get, secret, send};

#[derive(Clone, Debug)]
struct Member {
    id: String,
    password_hash: String,
    security_stamp: String,
    scopes: Vec<String>,
}

impl UserLike for Member {
    fn id(&self) -> Cow<'_, str> {
        Cow::Borrowed(&self.id)
    }
    fn username(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Borrowed(&self.id))
    }
    fn hashed_password(&self) -> &str {
        &self.password_hash
    }
    fn set_hashed_password(&mut self, hash: &str) -> bool {
        hash.clone_into(&mut self.password_hash);
        true
    }
    fn security_stamp(&self) -> Cow<'_, str> {
        Cow::Borrowed(&self.security_stamp)
    }
    fn set_security_stamp(&mut self, stamp: String) -> bool {
        self.security_stamp = stamp;
        true
    }
    fn scopes(&self) -> Vec<String> {
        self.scopes.clone()
    }
}

fn member(id: &str, password: &str, scopes: &[&str]) -> Member {
    Member {
        id: id.into(),
        password_hash: password.into(),
        security_stamp: "initial".into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
    }
}

type Users = InMemoryProvider<Member>;

#[derive(Deserialize)]
struct Credentials {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    remember: Option<String>,
}

async fn login(mut auth: Auth<Member>, form: web::Form<Credentials>) -> HttpResponse {
    match auth.login(&form.username, &form.password).await {
        Ok(token) => {
            let name = token.display_name().into_owned();
            if form.remember.is_some()
                && let Err(err) = auth.remember().await
            {
                return err.error_response();
            }
            assert_eq!(
                auth.user().map(|u| u.id.as_str()),
                Some(name.as_str()),
                "the handle sees the login"
            );
            HttpResponse::Ok().body(format!("welcome {name}"))
        }
        Err(err) => err.error_response(),
    }
}

async fn logout(mut auth: Auth<Member>) -> HttpResponse {
    match auth.logout().await {
        Ok(()) => {
            assert!(!auth.is_authenticated());
            HttpResponse::Ok().body("bye")
        }
        Err(err) => err.error_response(),
    }
}

async fn logout_everywhere(mut auth: Auth<Member>) -> HttpResponse {
    match auth.logout_everywhere().await {
        Ok(()) => HttpResponse::Ok().body("bye everywhere"),
        Err(err) => err.error_response(),
    }
}

#[derive(Deserialize)]
struct PasswordForm {
    current: String,
    new: String,
}

async fn change_password(auth: Auth<Member>, form: web::Form<PasswordForm>) -> HttpResponse {
    match auth.change_password(&form.current, &form.new).await {
        Ok(()) => HttpResponse::Ok().body("changed"),
        Err(err) => err.error_response(),
    }
}

async fn me(auth: Auth<Member>) -> HttpResponse {
    HttpResponse::Ok().body(auth.user().map_or_else(|| "anonymous".to_owned(), |u| u.id.clone()))
}

#[derive(Clone)]
struct Setup {
    users: Users,
    tokens: InMemoryRememberStore,
    remember: bool,
    register: bool,
}

impl Setup {
    fn new() -> Self {
        Self {
            users: InMemoryProvider::new([
                member("ada", "secret-a", &[imia::impersonation::DEFAULT_SCOPE]),
                member("bob", "secret-b", &[]),
            ]),
            tokens: InMemoryRememberStore::new(),
            remember: true,
            register: true,
        }
    }
}

/// The test app for `setup`, on sessions sealed with `key`.
fn app(setup: Setup, key: Key) -> TestApp!() {
    {
        let remember = RememberMe::new(setup.users.clone(), setup.tokens.clone(), secret()).secure(false);
        let mut logins = LoginManager::builder(setup.users.clone(), InsecurePlaintextVerifier, secret());
        if setup.remember {
            logins = logins.remember_me(remember.clone());
        }
        let logins = logins.build();
        let mut app = App::new();
        if setup.register {
            app = app.app_data(logins.handle());
        }
        let staff = Impersonation::new(setup.users.clone());
        app.app_data(web::Data::new(staff.clone()))
            .wrap(staff)
            .wrap(Authentication::new((
                SessionAuthenticator::new(setup.users.clone(), secret()),
                remember,
            )))
            .wrap(SessionMiddleware::new(CookieSessionStore::default(), key))
            .route("/login", web::post().to(login))
            .route("/logout", web::post().to(logout))
            .route("/logout/everywhere", web::post().to(logout_everywhere))
            .route("/password", web::post().to(change_password))
            .route("/impersonate", web::post().to(impersonate))
            .route("/admin/end/{id}", web::post().to(end_sessions_of))
            .route("/me", web::get().to(me))
    }
}

/// An administrator's action: the handle alone (no `Auth`) ends another user's sessions.
async fn end_sessions_of(logins: Logins<Member>, id: web::Path<String>) -> HttpResponse {
    match logins.end_every_session(&id).await {
        Ok(()) => HttpResponse::Ok().body("ended"),
        Err(err) => err.error_response(),
    }
}

async fn impersonate(req: actix_web::HttpRequest, staff: web::Data<Impersonation<Users>>) -> HttpResponse {
    match staff.start(&req, "bob").await {
        Ok(_) => HttpResponse::Ok().body("as bob"),
        Err(err) => err.error_response(),
    }
}

fn form(uri: &str, body: &str) -> atest::TestRequest {
    atest::TestRequest::post()
        .uri(uri)
        .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
        .set_payload(body.to_owned())
}

/// The `name=value` pairs of the cookies a reply sets (removals left out), joined for a
/// `Cookie` header.
fn cookies_of(r: &Reply) -> String {
    r.all("set-cookie")
        .into_iter()
        .filter(|c| !c.contains("Max-Age=0"))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ")
}

fn session_of(r: &Reply) -> String {
    r.all("set-cookie")
        .into_iter()
        .find(|c| c.starts_with("id=") && !c.contains("Max-Age=0"))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .expect("a session cookie")
}

async fn who<S, B>(app: &S, cookie: &str) -> String
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let reply = send(app, get("/me").insert_header(("Cookie", cookie.to_owned()))).await;
    String::from_utf8(reply.body.to_vec()).expect("UTF-8")
}

#[actix_web::test]
async fn login_and_logout_through_the_handle() {
    let setup = Setup::new();
    let app = atest::init_service(app(setup.clone(), Key::generate())).await;
    assert_eq!(who(&app, "").await, "anonymous", "anonymous requests extract fine");

    let wrong = send(&app, form("/login", "username=ada&password=nope")).await;
    assert_eq!(wrong.status, 401);
    let r = send(&app, form("/login", "username=ada&password=secret-a")).await;
    assert_eq!(r.body, "welcome ada");
    let session = session_of(&r);
    assert_eq!(who(&app, &session).await, "ada");

    let r = send(&app, form("/logout", "").insert_header(("Cookie", session.clone()))).await;
    assert_eq!(r.body, "bye");
    assert!(
        r.all("set-cookie")
            .iter()
            .any(|c| c.starts_with("id=") && c.contains("Max-Age=0")),
        "the session cookie is removed: {:?}",
        r.all("set-cookie")
    );
}

#[actix_web::test]
async fn remember_issues_a_token_and_logout_revokes_it() {
    let setup = Setup::new();
    let app = atest::init_service(app(setup.clone(), Key::generate())).await;
    let r = send(&app, form("/login", "username=ada&password=secret-a&remember=1")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(setup.tokens.len(), 1, "one token stored");
    let cookies = cookies_of(&r);
    assert!(cookies.contains("imia_remember="), "{cookies}");

    let r = send(&app, form("/logout", "").insert_header(("Cookie", cookies))).await;
    assert_eq!(r.body, "bye");
    assert_eq!(setup.tokens.len(), 0, "the token is revoked at logout");
    assert!(
        r.all("set-cookie")
            .iter()
            .any(|c| c.starts_with("imia_remember=") && c.contains("Max-Age=0")),
        "the remember-me cookie is cleared"
    );
}

#[actix_web::test]
async fn remember_without_a_configured_remember_me_is_an_error_not_a_silent_no() {
    let mut setup = Setup::new();
    setup.remember = false;
    let app = atest::init_service(app(setup.clone(), Key::generate())).await;
    let r = send(&app, form("/login", "username=ada&password=secret-a&remember=1")).await;
    assert_eq!(r.status, 500);
}

#[actix_web::test]
async fn logout_everywhere_ends_every_session_and_token_of_the_user_only() {
    let setup = Setup::new();
    let app = atest::init_service(app(setup.clone(), Key::generate())).await;
    let laptop = session_of(&send(&app, form("/login", "username=ada&password=secret-a")).await);
    let phone = cookies_of(&send(&app, form("/login", "username=ada&password=secret-a&remember=1")).await);
    let other = session_of(&send(&app, form("/login", "username=bob&password=secret-b")).await);
    assert_eq!(setup.tokens.len(), 1);

    let r = send(
        &app,
        form("/logout/everywhere", "").insert_header(("Cookie", laptop.clone())),
    )
    .await;
    assert_eq!(r.body, "bye everywhere");
    assert_eq!(who(&app, &laptop).await, "anonymous", "this session ends");
    assert_eq!(
        who(&app, &phone).await,
        "anonymous",
        "the other session ends, and its remember-me cookie does not log it back in"
    );
    assert_eq!(setup.tokens.len(), 0, "every token of the user is revoked");
    assert_eq!(who(&app, &other).await, "bob", "other users stay logged in");
    // The password still works: logging out everywhere is not a lockout.
    let r = send(&app, form("/login", "username=ada&password=secret-a")).await;
    assert_eq!(who(&app, &session_of(&r)).await, "ada");
}

#[actix_web::test]
async fn an_administrator_ends_another_users_sessions_and_keeps_their_own() {
    let setup = Setup::new();
    let app = atest::init_service(app(setup.clone(), Key::generate())).await;
    let admin = session_of(&send(&app, form("/login", "username=ada&password=secret-a")).await);
    let bob = cookies_of(&send(&app, form("/login", "username=bob&password=secret-b&remember=1")).await);
    let r = send(
        &app,
        form("/admin/end/bob", "").insert_header(("Cookie", admin.clone())),
    )
    .await;
    assert_eq!(r.body, "ended");
    assert_eq!(
        who(&app, &bob).await,
        "anonymous",
        "bob's session and remember-me token end"
    );
    assert_eq!(setup.tokens.len(), 0);
    assert_eq!(who(&app, &admin).await, "ada", "the administrator stays logged in");
    let unknown = send(&app, form("/admin/end/nobody", "").insert_header(("Cookie", admin))).await;
    assert_eq!(
        unknown.status, 500,
        "an unknown user cannot be logged out: said, not ignored"
    );
}

#[actix_web::test]
async fn change_password_keeps_this_session_and_ends_the_others() {
    let setup = Setup::new();
    let app = atest::init_service(app(setup.clone(), Key::generate())).await;
    let a = session_of(&send(&app, form("/login", "username=bob&password=secret-b")).await);
    let b = session_of(&send(&app, form("/login", "username=bob&password=secret-b")).await);

    let wrong = send(
        &app,
        form("/password", "current=nope&new=n3w").insert_header(("Cookie", a.clone())),
    )
    .await;
    assert_eq!(wrong.status, 401);
    let r = send(
        &app,
        form("/password", "current=secret-b&new=n3w").insert_header(("Cookie", a.clone())),
    )
    .await;
    assert_eq!(r.body, "changed", "{}", r.status);
    assert_eq!(
        who(&app, &session_of(&r)).await,
        "bob",
        "this session is renewed and stays"
    );
    assert_eq!(who(&app, &b).await, "anonymous", "the other one ends");

    let anonymous = send(&app, form("/password", "current=n3w&new=x")).await;
    assert_eq!(anonymous.status, 401, "nobody to change the password of");
}

#[actix_web::test]
async fn no_password_change_while_impersonating() {
    let setup = Setup::new();
    let app = atest::init_service(app(setup.clone(), Key::generate())).await;
    let admin = session_of(&send(&app, form("/login", "username=ada&password=secret-a")).await);
    let r = send(&app, form("/impersonate", "").insert_header(("Cookie", admin.clone()))).await;
    assert_eq!(r.body, "as bob");
    let admin = cookies_of(&r)
        .split("; ")
        .find(|c| c.starts_with("id="))
        .map_or(admin, str::to_owned);
    assert_eq!(who(&app, &admin).await, "bob");

    let r = send(
        &app,
        form("/password", "current=secret-b&new=taken").insert_header(("Cookie", admin.clone())),
    )
    .await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    assert_eq!(
        who(&app, &admin).await,
        "bob",
        "the administrator's session is untouched"
    );
    let r = send(&app, form("/login", "username=bob&password=secret-b")).await;
    assert_eq!(r.body, "welcome bob", "bob's password is unchanged");
}

#[actix_web::test]
async fn a_handle_that_is_not_registered_is_a_logged_500() {
    let mut setup = Setup::new();
    setup.register = false;
    let app = atest::init_service(app(setup.clone(), Key::generate())).await;
    let r = send(&app, form("/login", "username=ada&password=secret-a")).await;
    assert_eq!(r.status, 500);
}

#[actix_web::test]
async fn errors_of_the_handle_answer_with_their_status() {
    assert_eq!(LoginError::Impersonating.error_response().status(), 403);
}

/// With `max_sessions(2)`, a third login ends the user's least recently used session.
#[cfg(feature = "sqlite")]
#[actix_web::test]
async fn a_session_limit_ends_the_least_recently_used_session() {
    use imia::diesel::{DieselSessionStore, PoolOptions, SqliteConnection, migrations, sqlite_pool};

    let path = crate::servers::fresh_sqlite("max_sessions");
    let pool = sqlite_pool(&path, &PoolOptions::default()).unwrap();
    migrations::run(&pool).await.unwrap();
    let store = DieselSessionStore::<SqliteConnection>::new(pool);
    let setup = Setup::new();
    let logins = LoginManager::builder(setup.users.clone(), InsecurePlaintextVerifier, secret())
        .sessions(store.clone())
        .max_sessions(2)
        .build();
    let app = atest::init_service(
        App::new()
            .app_data(logins.handle())
            .wrap(Authentication::new(SessionAuthenticator::new(
                setup.users.clone(),
                secret(),
            )))
            .wrap(SessionMiddleware::new(store, Key::generate()))
            .route("/login", web::post().to(login))
            .route("/me", web::get().to(me)),
    )
    .await;
    let first = session_of(&send(&app, form("/login", "username=bob&password=secret-b")).await);
    let second = session_of(&send(&app, form("/login", "username=bob&password=secret-b")).await);
    assert_eq!(who(&app, &first).await, "bob");
    let third = session_of(&send(&app, form("/login", "username=bob&password=secret-b")).await);
    assert_eq!(
        who(&app, &first).await,
        "anonymous",
        "the least recently used one ended"
    );
    assert_eq!(who(&app, &second).await, "bob");
    assert_eq!(who(&app, &third).await, "bob");
}
