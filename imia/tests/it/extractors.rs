//! `UserToken`, `CurrentUser<U>`, `Option<CurrentUser<U>>` and `require_scopes`.

use actix_web::{App, HttpRequest, HttpResponse, ResponseError, test as atest, web};
use imia::{
    Authentication, CurrentUser, UserToken,
    authenticator::{ApiKeyAuthenticator, TokenAuthenticator},
    require_scopes,
};

use crate::common::*;

async fn me(user: CurrentUser<User>) -> HttpResponse {
    HttpResponse::Ok().body(format!("{} ({})", user.name, user.token().state()))
}

async fn maybe(user: Option<CurrentUser<User>>) -> HttpResponse {
    HttpResponse::Ok().body(user.map_or("nobody".to_owned(), |u| u.name.to_owned()))
}

async fn token_only(token: UserToken) -> HttpResponse {
    HttpResponse::Ok().body(token.display_name().into_owned())
}

async fn admin(req: HttpRequest) -> HttpResponse {
    match require_scopes(&req, &["admin"], &[]) {
        Ok(token) => HttpResponse::Ok().body(format!("admin {}", token.display_name())),
        Err(denied) => denied.error_response(),
    }
}

struct NotTheUser;
impl imia::UserLike for NotTheUser {
    fn id(&self) -> std::borrow::Cow<'_, str> {
        "x".into()
    }
}

async fn wrong_type(user: CurrentUser<NotTheUser>) -> HttpResponse {
    HttpResponse::Ok().body(user.token().display_name().into_owned())
}

macro_rules! routes {
    ($app:expr) => {
        $app.route("/me", web::get().to(me))
            .route("/maybe", web::get().to(maybe))
            .route("/token", web::get().to(token_only))
            .route("/admin", web::get().to(admin))
            .route("/wrong", web::get().to(wrong_type))
    };
}

#[actix_web::test]
async fn extractors_without_the_middleware_answer_500_and_never_panic() {
    let app = atest::init_service(routes!(App::new())).await;
    for uri in ["/me", "/token", "/admin", "/wrong"] {
        let r = send(&app, get(uri)).await;
        assert_eq!(r.status, 500, "{uri}");
        assert!(r.body.is_empty(), "{uri}: {:?}", r.body);
    }
    // Option<_> swallows the error (actix's rule for optional extractors); it is still logged.
    assert_eq!(send(&app, get("/maybe")).await.body, "nobody");
}

#[actix_web::test]
async fn current_user_for_authenticated_and_anonymous_requests() {
    let auth = Authentication::new((TokenAuthenticator::bearer(users()), ApiKeyAuthenticator::new(users())));
    let app = atest::init_service(routes!(App::new().wrap(auth))).await;
    assert_eq!(
        send(&app, get("/me?apikey=root-token")).await.body,
        "Root (authenticated)"
    );
    let r = send(&app, get("/me")).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.all("www-authenticate"), ["Bearer"]);
    assert_eq!(send(&app, get("/maybe")).await.body, "nobody");
    assert_eq!(send(&app, get("/maybe?apikey=customer-token")).await.body, "Customer");
    assert_eq!(send(&app, get("/token")).await.body, "Anonymous");
    assert_eq!(send(&app, get("/wrong?apikey=root-token")).await.status, 500);
}

#[actix_web::test]
async fn current_user_redirects_browsers_when_a_login_url_is_set() {
    let auth = Authentication::builder()
        .authenticators((TokenAuthenticator::bearer(users()), ApiKeyAuthenticator::new(users())))
        .login_url("/login")
        .build()
        .unwrap();
    let app = atest::init_service(routes!(App::new().wrap(auth))).await;
    let r = send(&app, get("/me").insert_header(("Accept", "text/html"))).await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/login?next=%2Fme"));
    let r = send(&app, get("/me").insert_header(("Accept", "application/json"))).await;
    assert_eq!(r.status, 401);
    // The middleware itself still lets anonymous requests through (Fallback::Anonymous).
    assert_eq!(send(&app, get("/token")).await.body, "Anonymous");
}

#[actix_web::test]
async fn require_scopes_separates_401_from_403() {
    let app = atest::init_service(routes!(
        App::new().wrap(Authentication::new(ApiKeyAuthenticator::new(users())))
    ))
    .await;
    assert_eq!(send(&app, get("/admin?apikey=root-token")).await.body, "admin Root");
    assert_eq!(send(&app, get("/admin?apikey=customer-token")).await.status, 403);
    assert_eq!(send(&app, get("/admin")).await.status, 401);
}

#[actix_web::test]
async fn extractors_read_a_token_a_test_puts_on_the_request() {
    use imia::testing::{TestRequestExt as _, TestUser};

    let app = atest::init_service(routes!(App::new())).await;
    let resp = atest::call_service(&app, get("/me").to_request().acting_as(UserToken::remembered(CUSTOMER))).await;
    assert_eq!(atest::read_body(resp).await, "Customer (remembered)");
    let resp = atest::call_service(
        &app,
        get("/admin").to_request().acting_as(UserToken::authenticated(ROOT)),
    )
    .await;
    assert_eq!(atest::read_body(resp).await, "admin Root");
    let resp = atest::call_service(
        &app,
        get("/admin").to_request().acting_as(UserToken::authenticated(CUSTOMER)),
    )
    .await;
    assert_eq!(resp.status(), 403);
    let resp = atest::call_service(&app, get("/me").to_request().acting_as(UserToken::anonymous())).await;
    assert_eq!(resp.status(), 401);
    let resp = atest::call_service(&app, get("/wrong").to_request().acting_as(TestUser::new("x"))).await;
    assert_eq!(resp.status(), 500, "a user of another type than the extractor's");

    // Under the middleware, the middleware decides who the user is.
    let app = atest::init_service(routes!(
        App::new().wrap(Authentication::new(ApiKeyAuthenticator::new(users())))
    ))
    .await;
    let resp = atest::call_service(
        &app,
        get("/token").to_request().acting_as(UserToken::authenticated(ROOT)),
    )
    .await;
    assert_eq!(atest::read_body(resp).await, "Anonymous");
}
