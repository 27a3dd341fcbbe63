//! `#[derive(UserLike)]` and `#[protected]` in a running app.

use std::{
    future::{Ready, ready},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use actix_session::{SessionMiddleware, storage::CookieSessionStore};
use actix_web::{
    App, FromRequest, HttpRequest, HttpResponse, Responder,
    cookie::Key,
    dev::Payload,
    error::{InternalError, PayloadError},
    get,
    http::header::ContentType,
    test as atest, web,
};
use imia::{
    Authentication, CurrentUser, Fallback, UserLike, UserToken,
    authenticator::{ApiKeyAuthenticator, SessionAuthenticator, TokenAuthenticator},
    protected,
    provider::{InMemoryProvider, UserProvider as _},
};

use crate::common::*;

#[derive(Clone, Debug, UserLike)]
struct Member {
    id: i64,
    email: String,
    name: Option<String>,
    password_hash: Option<String>,
    /// Space-separated, as a database column holds it.
    scopes: String,
    api_token: Option<String>,
    is_active: bool,
}

fn members() -> InMemoryProvider<Member> {
    let member = |id, email: &str, name: Option<&str>, scopes: &str, token: &str, active| Member {
        id,
        email: email.into(),
        name: name.map(Into::into),
        password_hash: None,
        scopes: scopes.into(),
        api_token: Some(token.into()),
        is_active: active,
    };
    InMemoryProvider::new([
        member(
            1,
            "root@example.com",
            Some("Root"),
            "admin billing:read",
            "t-root",
            true,
        ),
        member(2, "user@example.com", None, "", "t-user", true),
        member(
            3,
            "billing@example.com",
            Some("Bill"),
            "billing:read,billing:write",
            "t-bill",
            true,
        ),
        member(4, "gone@example.com", None, "admin", "t-gone", false),
    ])
}

#[test]
fn derive_reads_fields_by_name() {
    let m = Member {
        id: 7,
        email: "ann@example.com".into(),
        name: None,
        password_hash: None,
        scopes: "a, b c".into(),
        api_token: Some(String::new()),
        is_active: true,
    };
    assert_eq!(m.id(), "7");
    assert_eq!(m.username().as_deref(), Some("ann@example.com"));
    assert_eq!(
        m.display_name(),
        "ann@example.com",
        "no name: falls back to the username"
    );
    assert_eq!(m.hashed_password(), "");
    assert_eq!(m.scopes(), ["a", "b", "c"]);
    assert!(m.has_scope("b") && !m.has_scope("a,"));
    assert_eq!(m.api_token(), None, "an empty token is no token");
    assert!(m.is_active());
}

#[protected]
async fn members_only(user: CurrentUser<Member>) -> impl Responder {
    HttpResponse::Ok().body(format!("hello {}", user.display_name()))
}

#[protected(scopes = "admin")]
async fn admin_only(token: UserToken) -> HttpResponse {
    HttpResponse::Ok().body(format!("admin {}", token.display_name()))
}

#[protected(scopes = "billing:read", any = "admin billing:write")]
async fn billing(path: web::Path<u32>) -> Result<String, actix_web::Error> {
    let id = path.into_inner();
    if id == 0 {
        return Err(actix_web::error::ErrorNotFound("no invoice 0"));
    }
    Ok(format!("invoice {id}"))
}

#[get("/routed")]
#[protected(scopes = "admin")]
async fn routed() -> &'static str {
    "routed admin"
}

#[protected(any = "admin")]
#[get("/routed-above")]
async fn routed_above(req: actix_web::HttpRequest) -> String {
    format!("above {}", req.path())
}

fn app_with(auth: Authentication) -> TestApp!() {
    App::new()
        .wrap(auth)
        .route("/members", web::get().to(members_only))
        .service(web::resource("/admin").route(web::get().to(admin_only)))
        .route("/billing/{id}", web::get().to(billing))
        .service(routed)
        .service(routed_above)
}

fn api_auth(fallback: Fallback, login_url: Option<&str>) -> Authentication {
    let mut b = Authentication::builder()
        .authenticators((
            TokenAuthenticator::bearer(members()),
            ApiKeyAuthenticator::new(members()),
        ))
        .fallback(fallback);
    if let Some(url) = login_url {
        b = b.login_url(url);
    }
    b.build().unwrap()
}

#[actix_web::test]
async fn protected_answers_200_401_403() {
    let app = atest::init_service(app_with(api_auth(Fallback::Anonymous, None))).await;
    let cases: &[(&str, &str, u16, &str)] = &[
        ("/members", "", 401, ""),
        ("/members", "t-user", 200, "hello user@example.com"),
        ("/admin", "", 401, ""),
        ("/admin", "t-user", 403, ""),
        ("/admin", "t-root", 200, "admin Root"),
        ("/billing/7", "t-root", 200, "invoice 7"),
        ("/billing/7", "t-bill", 200, "invoice 7"),
        ("/billing/7", "t-user", 403, ""),
        ("/billing/0", "t-root", 404, "no invoice 0"),
        ("/routed", "t-root", 200, "routed admin"),
        ("/routed", "t-user", 403, ""),
        ("/routed", "", 401, ""),
        ("/routed-above", "t-root", 200, "above /routed-above"),
        ("/routed-above", "t-bill", 403, ""),
    ];
    for (uri, token, status, body) in cases {
        let mut req = get(uri);
        if !token.is_empty() {
            req = req.insert_header(("Authorization", format!("Bearer {token}")));
        }
        let r = send(&app, req).await;
        assert_eq!(r.status.as_u16(), *status, "{uri} as {token:?}");
        assert_eq!(r.body, body.as_bytes(), "{uri} as {token:?}");
        if *status == 401 {
            assert_eq!(r.all("www-authenticate"), ["Bearer"], "{uri}");
        }
    }
}

#[actix_web::test]
async fn protected_redirects_browsers_when_a_login_url_is_set() {
    for fallback in [Fallback::Anonymous, Fallback::Redirect] {
        let app = atest::init_service(app_with(api_auth(fallback, Some("/login")))).await;
        let r = send(&app, get("/admin?x=1").insert_header(("Accept", "text/html"))).await;
        assert_eq!(r.status, 303);
        assert_eq!(r.header("location"), Some("/login?next=%2Fadmin%3Fx%3D1"));
        let r = send(&app, get("/admin").insert_header(("Accept", "application/json"))).await;
        assert_eq!(r.status, 401);
        // Logged in without the scope: 403, never a redirect.
        let r = send(&app, get("/admin?apikey=t-user").insert_header(("Accept", "text/html"))).await;
        assert_eq!(r.status, 403);
    }
}

#[actix_web::test]
async fn protected_under_the_error_fallback() {
    let app = atest::init_service(app_with(api_auth(Fallback::Error, None))).await;
    assert_eq!(send(&app, get("/admin")).await.status, 401);
    assert_eq!(send(&app, get("/admin?apikey=t-user")).await.status, 403);
    assert_eq!(send(&app, get("/admin?apikey=t-root")).await.status, 200);
}

#[actix_web::test]
async fn inactive_users_are_anonymous_to_protected_handlers() {
    let app = atest::init_service(app_with(api_auth(Fallback::Anonymous, None))).await;
    // The token belongs to an inactive user: rejected by the middleware itself.
    assert_eq!(send(&app, get("/admin?apikey=t-gone")).await.status, 401);
}

#[actix_web::test]
async fn protected_without_the_middleware_is_a_500() {
    let app = atest::init_service(App::new().service(web::resource("/admin").route(web::get().to(admin_only)))).await;
    let r = send(&app, get("/admin")).await;
    assert_eq!(r.status, 500);
    assert!(r.body.is_empty());
}

#[actix_web::test]
async fn protected_with_sessions() {
    let key = Key::generate();
    let sessions = || SessionMiddleware::new(CookieSessionStore::default(), key.clone());
    let app = atest::init_service(
        App::new()
            .wrap(Authentication::new(SessionAuthenticator::new(members(), secret())))
            .wrap(sessions())
            .route("/admin", web::get().to(admin_only)),
    )
    .await;
    let member = members().find_by_id("1").await.unwrap().unwrap();
    let cookie = imia::testing::login_cookie(sessions(), &member, &secret())
        .await
        .unwrap();
    let r = send(&app, get("/admin").cookie(cookie)).await;
    assert_eq!(r.body, "admin Root");
}

/// Counts the runs of the [`Audited`] extractor in one app.
#[derive(Clone, Default)]
struct ExtractorRuns(Arc<AtomicUsize>);

impl ExtractorRuns {
    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// An extractor with a side effect (think of an audit log or a rate-limit counter): it counts
/// its runs in the app's [`ExtractorRuns`].
struct Audited;

impl FromRequest for Audited {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        if let Some(runs) = req.app_data::<ExtractorRuns>() {
            runs.0.fetch_add(1, Ordering::SeqCst);
        }
        ready(Ok(Audited))
    }
}

#[derive(serde::Deserialize)]
struct NewInvoice {
    amount: u32,
}

#[protected(scopes = "billing:write")]
async fn create_invoice(_: Audited, invoice: web::Json<NewInvoice>) -> HttpResponse {
    HttpResponse::Created().body(format!("invoice of {}", invoice.amount))
}

/// `POST /invoices` behind `auth`; the returned counter says how often `Audited` ran.
fn invoice_app(auth: Authentication) -> (TestApp!(), ExtractorRuns) {
    let runs = ExtractorRuns::default();
    let app = App::new()
        .wrap(auth)
        .app_data(runs.clone())
        .route("/invoices", web::post().to(create_invoice));
    (app, runs)
}

/// A `POST /invoices` whose body is `body`, delivered by a stream that counts how often it is
/// read.
fn post_invoice(body: &'static str, headers: &[(&str, &str)]) -> (actix_http::Request, Arc<AtomicUsize>) {
    let reads = Arc::new(AtomicUsize::new(0));
    let stream = futures_util::stream::once({
        let reads = reads.clone();
        async move {
            reads.fetch_add(1, Ordering::SeqCst);
            Ok::<_, PayloadError>(web::Bytes::from_static(body.as_bytes()))
        }
    });
    let mut req = atest::TestRequest::post()
        .uri("/invoices")
        .insert_header(ContentType::json())
        .insert_header(("Content-Length", body.len()));
    for header in headers {
        req = req.insert_header(*header);
    }
    let payload: actix_http::BoxedPayloadStream = Box::pin(stream);
    let (req, _) = req
        .to_request()
        .replace_payload(actix_http::Payload::Stream { payload });
    (req, reads)
}

const MALFORMED: &str = r#"{"amount": "#;

#[actix_web::test]
async fn protected_refuses_anonymous_callers_before_any_extractor_runs() {
    let (app, runs) = invoice_app(api_auth(Fallback::Anonymous, Some("/login")));
    let app = atest::init_service(app).await;

    // An API client gets the 401 of the middleware, not serde's complaint about the body.
    let (req, reads) = post_invoice(MALFORMED, &[("Accept", "application/json")]);
    let r = send_request(&app, req).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.all("www-authenticate"), ["Bearer"]);
    assert!(r.body.is_empty(), "{:?}", r.body);

    // A browser is sent to the login page.
    let (req, browser_reads) = post_invoice(MALFORMED, &[("Accept", "text/html")]);
    let r = send_request(&app, req).await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/login?next=%2Finvoices"));

    assert_eq!(runs.count(), 0, "the handler's extractors never ran");
    assert_eq!(reads.load(Ordering::SeqCst), 0, "the body was never read");
    assert_eq!(browser_reads.load(Ordering::SeqCst), 0, "the body was never read");
}

#[actix_web::test]
async fn protected_forbids_a_user_without_the_scope_before_reading_the_body() {
    let (app, runs) = invoice_app(api_auth(Fallback::Anonymous, None));
    let app = atest::init_service(app).await;
    for token in ["t-user", "t-root"] {
        let (req, reads) = post_invoice(MALFORMED, &[("Authorization", &format!("Bearer {token}"))]);
        let r = send_request(&app, req).await;
        assert_eq!(r.status, 403, "{token}");
        assert!(r.body.is_empty(), "{token}: {:?}", r.body);
        assert_eq!(reads.load(Ordering::SeqCst), 0, "{token}: the body was never read");
    }
    assert_eq!(runs.count(), 0, "the handler's extractors never ran");
}

#[actix_web::test]
async fn protected_runs_the_extractors_for_allowed_callers() {
    let (app, runs) = invoice_app(api_auth(Fallback::Anonymous, None));
    let app = atest::init_service(app).await;
    let bill = [("Authorization", "Bearer t-bill")];

    // A malformed body: the 400 actix's `Json` extractor answers, as without the attribute.
    let (req, reads) = post_invoice(MALFORMED, &bill);
    let r = send_request(&app, req).await;
    assert_eq!(r.status, 400);
    assert!(
        String::from_utf8_lossy(&r.body).starts_with("Json deserialize error"),
        "{:?}",
        r.body
    );
    assert_eq!(reads.load(Ordering::SeqCst), 1);
    assert_eq!(runs.count(), 1);

    let (req, _) = post_invoice(r#"{"amount": 5}"#, &bill);
    let r = send_request(&app, req).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body, "invoice of 5");
    assert_eq!(runs.count(), 2);
}

#[actix_web::test]
async fn protected_keeps_the_apps_extractor_configs() {
    let app = App::new()
        .wrap(api_auth(Fallback::Anonymous, None))
        .app_data(web::JsonConfig::default().error_handler(|err, _| {
            InternalError::from_response(err, HttpResponse::UnprocessableEntity().body("bad invoice")).into()
        }))
        .route("/invoices", web::post().to(create_invoice));
    let app = atest::init_service(app).await;
    let (req, _) = post_invoice(MALFORMED, &[("Authorization", "Bearer t-bill")]);
    let r = send_request(&app, req).await;
    assert_eq!(r.status, 422);
    assert_eq!(r.body, "bad invoice");
    // Refused callers still get the refusal, not the app's JSON error.
    let (req, _) = post_invoice(MALFORMED, &[]);
    assert_eq!(send_request(&app, req).await.status, 401);
}

#[actix_web::test]
async fn derived_users_in_memory_store_password_changes() {
    let member = Member {
        id: 7,
        email: "m@example.com".into(),
        name: None,
        password_hash: None,
        scopes: String::new(),
        api_token: None,
        is_active: true,
    };
    let users = InMemoryProvider::new([member.clone()]);
    assert!(users.update_password_hash(&member, "$argon2id$new").await.unwrap());
    let stored = users.find_by_id("7").await.unwrap().unwrap();
    assert_eq!(stored.hashed_password(), "$argon2id$new");

    // A borrowed hash cannot be replaced: the provider says it stored nothing.
    #[derive(Clone, UserLike)]
    struct Fixed {
        id: u32,
        password_hash: &'static str,
    }
    let fixed = Fixed {
        id: 1,
        password_hash: "old",
    };
    let users = InMemoryProvider::new([fixed.clone()]);
    assert!(!users.update_password_hash(&fixed, "new").await.unwrap());
    assert_eq!(users.find_by_id("1").await.unwrap().unwrap().hashed_password(), "old");
}
