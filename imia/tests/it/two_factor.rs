//! Second factors through the library's own API: the pending login and its rules, HTTP Basic,
//! `SecondFactorUser` and `#[protected(second_factor)]`, `#[protected(fresh)]`.

use std::time::Duration;

use actix_session::{SessionMiddleware, storage::CookieSessionStore};
use actix_web::{App, HttpResponse, ResponseError as _, cookie::Key, test as atest, web};
use imia::{
    Auth, Authentication, SecondFactorUser, UserLike, UserToken,
    authenticator::{BasicAuthenticator, SessionAuthenticator},
    login::{LoginError, LoginManager, LoginOptions},
    password::InsecurePlaintextVerifier,
    protected,
    provider::{InMemoryProvider, UserProvider as _},
    two_factor::{InMemoryTwoFactorStore, TotpSecret, TwoFactor, TwoFactorError},
};
use serde::Deserialize;

use crate::common::{Reply, basic, get, secret, send};

#[derive(Clone, Debug, UserLike)]
struct Member {
    id: String,
    username: String,
    password_hash: String,
    security_stamp: String,
}

const ANN: &str = "ann";

fn users() -> InMemoryProvider<Member> {
    InMemoryProvider::new([Member {
        id: ANN.into(),
        username: ANN.into(),
        password_hash: "pw".into(),
        security_stamp: "s".into(),
    }])
}

#[derive(Deserialize)]
struct Form {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    next: String,
}

async fn login(mut auth: Auth<Member>, form: web::Form<Form>) -> HttpResponse {
    let options = LoginOptions::new().next(&form.next);
    match auth.login_with(&form.username, &form.password, options).await {
        Ok(_) => HttpResponse::Ok().body("in"),
        Err(LoginError::SecondFactorRequired) => HttpResponse::Accepted().body("code"),
        Err(err) => err.error_response(),
    }
}

async fn code(mut auth: Auth<Member>, form: web::Form<Form>) -> HttpResponse {
    match auth.complete_login(&form.code).await {
        Ok(done) => HttpResponse::Ok().body(done.next.unwrap_or_default()),
        Err(err) => err.error_response(),
    }
}

async fn enrol(auth: Auth<Member>) -> HttpResponse {
    match auth.begin_two_factor().await {
        Ok(enrolment) => HttpResponse::Ok().body(enrolment.secret_base32()),
        Err(err) => err.error_response(),
    }
}

async fn confirm(mut auth: Auth<Member>, form: web::Form<Form>) -> HttpResponse {
    match auth.confirm_two_factor(&form.code).await {
        Ok(codes) => HttpResponse::Ok().body(codes.as_slice().join(" ")),
        Err(err) => err.error_response(),
    }
}

async fn pending(auth: Auth<Member>) -> HttpResponse {
    HttpResponse::Ok().body(auth.has_pending_login().to_string())
}

async fn whoami(token: UserToken) -> HttpResponse {
    HttpResponse::Ok().body(format!("{} {}", token.state(), token.passed_second_factor()))
}

async fn strict(user: SecondFactorUser<Member>) -> HttpResponse {
    HttpResponse::Ok().body(user.id.clone())
}

#[protected(second_factor)]
async fn macro_strict() -> HttpResponse {
    HttpResponse::Ok().body("strict")
}

#[protected(fresh)]
async fn macro_fresh() -> HttpResponse {
    HttpResponse::Ok().body("fresh")
}

#[derive(Clone)]
struct Setup {
    users: InMemoryProvider<Member>,
    two_factor: TwoFactor,
    manager: LoginManager<InMemoryProvider<Member>, InsecurePlaintextVerifier>,
}

fn setup(ttl: Duration) -> Setup {
    let users = users();
    let two_factor = TwoFactor::new(InMemoryTwoFactorStore::new(), &secret()).pending_ttl(ttl);
    let manager = LoginManager::builder(users.clone(), InsecurePlaintextVerifier, secret())
        .two_factor(two_factor.clone())
        .build();
    Setup {
        users,
        two_factor,
        manager,
    }
}

/// Basic is configured without `second_factor`: it finds them through the registered `Logins`.
fn app(s: Setup) -> TestApp!() {
    App::new()
        .app_data(s.manager.handle())
        .wrap(Authentication::new((
            SessionAuthenticator::new(s.users.clone(), secret()),
            BasicAuthenticator::new(s.users.clone(), InsecurePlaintextVerifier),
        )))
        .wrap(SessionMiddleware::builder(CookieSessionStore::default(), Key::from(&[7; 64])).build())
        .route("/login", web::post().to(login))
        .route("/code", web::post().to(code))
        .route("/enrol", web::post().to(enrol))
        .route("/confirm", web::post().to(confirm))
        .route("/pending", web::get().to(pending))
        .route("/whoami", web::get().to(whoami))
        .route("/strict", web::get().to(strict))
        .route("/macro-strict", web::get().to(macro_strict))
        .route("/macro-fresh", web::get().to(macro_fresh))
}

fn post(uri: &str, fields: &[(&str, &str)], cookie: Option<&str>) -> atest::TestRequest {
    let req = atest::TestRequest::post().uri(uri).set_form(fields);
    match cookie {
        Some(cookie) => req.insert_header(("Cookie", cookie.to_owned())),
        None => req,
    }
}

fn with(req: atest::TestRequest, cookie: &str) -> atest::TestRequest {
    req.insert_header(("Cookie", cookie.to_owned()))
}

fn cookie(r: &Reply) -> String {
    r.all("set-cookie")
        .into_iter()
        .find(|c| c.starts_with("id="))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .expect("a session cookie")
}

fn text(r: &Reply) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

fn now_code(secret: &TotpSecret, offset: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    secret.code_at((now + offset * 30) as u64)
}

/// Logs Ann in and enrols her: her secret, and the fresh session that enrolled.
async fn enrolled<S, B>(app: &S) -> (TotpSecret, String)
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let r = send(app, post("/login", &[("username", ANN), ("password", "pw")], None)).await;
    assert_eq!(text(&r), "in", "{}", r.status);
    let session = cookie(&r);
    let r = send(app, post("/enrol", &[], Some(&session))).await;
    assert_eq!(r.status, 200);
    let secret = TotpSecret::from_base32(&text(&r)).unwrap();
    let r = send(
        app,
        post("/confirm", &[("code", &now_code(&secret, 0))], Some(&session)),
    )
    .await;
    assert_eq!(r.status, 200);
    let session = r
        .all("set-cookie")
        .into_iter()
        .find(|c| c.starts_with("id="))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .unwrap_or(session);
    (secret, session)
}

#[actix_web::test]
async fn the_second_factor_is_required_and_marks_the_login() {
    let s = setup(Duration::from_secs(300));
    let app = atest::init_service(app(s.clone())).await;
    let (secret, enrolled_session) = enrolled(&app).await;
    assert_eq!(
        text(&send(&app, with(get("/whoami"), &enrolled_session)).await),
        "authenticated true",
        "confirming the enrolment proves the factor"
    );
    let r = send(
        &app,
        post(
            "/login",
            &[("username", ANN), ("password", "pw"), ("next", "/x?y=1")],
            None,
        ),
    )
    .await;
    assert_eq!((r.status.as_u16(), text(&r)), (202, "code".to_owned()));
    let pending_cookie = cookie(&r);
    assert_eq!(text(&send(&app, with(get("/pending"), &pending_cookie)).await), "true");
    assert_eq!(
        text(&send(&app, with(get("/whoami"), &pending_cookie)).await),
        "anonymous false"
    );
    assert_eq!(send(&app, with(get("/strict"), &pending_cookie)).await.status, 401);

    let r = send(
        &app,
        post("/code", &[("code", &now_code(&secret, 1))], Some(&pending_cookie)),
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), text(&r)),
        (200, "/x?y=1".to_owned()),
        "the kept next"
    );
    let session = cookie(&r);
    assert_ne!(session, pending_cookie);
    assert_eq!(
        text(&send(&app, with(get("/whoami"), &session)).await),
        "authenticated true"
    );
    assert_eq!(text(&send(&app, with(get("/strict"), &session)).await), ANN);
    assert_eq!(send(&app, with(get("/macro-strict"), &session)).await.status, 200);
    assert_eq!(text(&send(&app, with(get("/pending"), &session)).await), "false");
}

#[actix_web::test]
async fn a_login_without_a_second_factor_is_refused_where_one_is_required() {
    let s = setup(Duration::from_secs(300));
    let app = atest::init_service(app(s.clone())).await;
    // No second factor enrolled: one step, and 403 on the strict routes.
    let r = send(&app, post("/login", &[("username", ANN), ("password", "pw")], None)).await;
    let session = cookie(&r);
    assert_eq!(
        text(&send(&app, with(get("/whoami"), &session)).await),
        "authenticated false"
    );
    assert_eq!(send(&app, with(get("/strict"), &session)).await.status, 403);
    assert_eq!(send(&app, with(get("/macro-strict"), &session)).await.status, 403);
    assert_eq!(send(&app, with(get("/macro-fresh"), &session)).await.status, 200);
    assert_eq!(send(&app, get("/macro-strict")).await.status, 401);
    assert_eq!(send(&app, get("/macro-fresh")).await.status, 401);
    // HTTP Basic authenticates, but no second factor was passed.
    let basic_ann = basic(ANN, "pw");
    let r = send(&app, get("/strict").insert_header(("Authorization", basic_ann.clone()))).await;
    assert_eq!(r.status, 403);
    let r = send(&app, get("/whoami").insert_header(("Authorization", basic_ann))).await;
    assert_eq!(text(&r), "authenticated false");
}

#[actix_web::test]
async fn http_basic_finds_the_second_factors_through_the_registered_logins() {
    let s = setup(Duration::from_secs(300));
    let app = atest::init_service(app(s.clone())).await;
    let (_, _) = enrolled(&app).await;
    let right = send(&app, get("/whoami").insert_header(("Authorization", basic(ANN, "pw")))).await;
    let wrong = send(
        &app,
        get("/whoami").insert_header(("Authorization", basic(ANN, "nope"))),
    )
    .await;
    assert_eq!((right.status.as_u16(), wrong.status.as_u16()), (401, 401));
    assert_eq!(right.all("www-authenticate"), wrong.all("www-authenticate"));
    // Configured explicitly, without a registered `Logins`: the same.
    let explicit = atest::init_service(
        App::new()
            .wrap(Authentication::new(
                BasicAuthenticator::new(s.users.clone(), InsecurePlaintextVerifier).second_factor(s.two_factor.clone()),
            ))
            .route("/whoami", web::get().to(whoami)),
    )
    .await;
    let r = send(
        &explicit,
        get("/whoami").insert_header(("Authorization", basic(ANN, "pw"))),
    )
    .await;
    assert_eq!(r.status, 401);
}

#[actix_web::test]
async fn an_expired_pending_login_is_gone() {
    let s = setup(Duration::ZERO);
    let app = atest::init_service(app(s.clone())).await;
    let (secret, _) = enrolled(&app).await;
    let r = send(&app, post("/login", &[("username", ANN), ("password", "pw")], None)).await;
    assert_eq!(r.status, 202);
    let pending_cookie = cookie(&r);
    assert_eq!(text(&send(&app, with(get("/pending"), &pending_cookie)).await), "false");
    let r = send(
        &app,
        post("/code", &[("code", &now_code(&secret, 1))], Some(&pending_cookie)),
    )
    .await;
    assert_eq!(r.status, 401, "no pending login");
}

#[actix_web::test]
async fn a_password_change_between_the_steps_ends_the_pending_login() {
    let s = setup(Duration::from_secs(300));
    let app = atest::init_service(app(s.clone())).await;
    let (secret, _) = enrolled(&app).await;
    let r = send(&app, post("/login", &[("username", ANN), ("password", "pw")], None)).await;
    let pending_cookie = cookie(&r);
    let ann = s.users.find_by_id(ANN).await.unwrap().unwrap();
    assert!(s.users.update_password_hash(&ann, "new").await.unwrap());
    let r = send(
        &app,
        post("/code", &[("code", &now_code(&secret, 1))], Some(&pending_cookie)),
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(text(&send(&app, with(get("/pending"), &cookie(&r))).await), "false");
    // A copy of the cookie-store session still holds the pending login: refused all the same.
    let r = send(
        &app,
        post("/code", &[("code", &now_code(&secret, 1))], Some(&pending_cookie)),
    )
    .await;
    assert_eq!(r.status, 401);
}

#[actix_web::test]
async fn the_old_login_api_reports_the_second_step_too() {
    let s = setup(Duration::from_secs(300));
    let app = atest::init_service(app(s.clone())).await;
    enrolled(&app).await;
    let req = atest::TestRequest::default().to_http_request();
    // Outside the middleware, straight on the manager: a right password is not a login.
    let result = s.manager.login(&req, ANN, "pw").await;
    assert!(matches!(result, Err(LoginError::SecondFactorRequired)), "{result:?}");
    assert_eq!(LoginError::SecondFactorRequired.status_code(), 401);
    let wrong = s.manager.login(&req, ANN, "nope").await;
    assert!(matches!(wrong, Err(LoginError::InvalidCredentials)));
    // Without a pending login in this request's session.
    let other = atest::TestRequest::default().to_http_request();
    assert!(matches!(
        s.manager.complete_login(&other, "123456").await,
        Err(TwoFactorError::NoPendingLogin)
    ));
}
