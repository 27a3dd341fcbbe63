//! Impersonation: the permission matrix, stateful and stateless flows, session binding.

use actix_session::{SessionMiddleware, storage::CookieSessionStore};
use actix_web::{App, HttpRequest, HttpResponse, ResponseError, cookie::Key, test as atest, web};
use imia::{
    Authentication, UserToken,
    authenticator::{ApiKeyAuthenticator, SessionAuthenticator},
    impersonation::{self, Impersonation, ImpersonationGuard},
    provider::InMemoryProvider,
};
use serde_json::json;

use crate::common::*;

const STAFF: User = User {
    id: "staff@localhost",
    name: "Staff",
    password: "pw",
    token: Some("staff-token"),
    scopes: &["admin", "auth:impersonate_others"],
    active: true,
};

fn people() -> InMemoryProvider<User> {
    InMemoryProvider::new([STAFF, ROOT, CUSTOMER, DISABLED])
}

async fn identity(token: UserToken) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "id": token.id(),
        "state": token.state().as_str(),
        "original_id": token.original_id(),
        "scopes": token.scopes(),
    }))
}

async fn start(
    req: HttpRequest,
    imp: web::Data<Impersonation<InMemoryProvider<User>>>,
    id: web::Path<String>,
) -> HttpResponse {
    match imp.start(&req, &id).await {
        Ok(_) => HttpResponse::SeeOther().insert_header(("Location", "/app")).finish(),
        Err(err) => err.error_response(),
    }
}

async fn exit(req: HttpRequest) -> HttpResponse {
    impersonation::stop(&req);
    HttpResponse::SeeOther().insert_header(("Location", "/app")).finish()
}

fn sessions() -> SessionMiddleware<CookieSessionStore> {
    SessionMiddleware::new(CookieSessionStore::default(), Key::from(&[8; 64]))
}

fn imp_app(users: InMemoryProvider<User>, imp: Impersonation<InMemoryProvider<User>>) -> TestApp!() {
    App::new()
        .app_data(web::Data::new(imp.clone()))
        .wrap(imp)
        .wrap(Authentication::new((
            SessionAuthenticator::new(users.clone(), secret()),
            ApiKeyAuthenticator::new(users),
        )))
        .wrap(sessions())
        .route("/impersonate/exit", web::post().to(exit))
        .route("/impersonate/{id}", web::post().to(start))
        .route(
            "/logout",
            web::post().to(|req: HttpRequest| async move {
                imia::login::logout(&req);
                HttpResponse::Ok().finish()
            }),
        )
        .default_service(web::to(identity))
}

fn session_of(r: &Reply) -> Option<String> {
    r.all("set-cookie")
        .into_iter()
        .find(|c| c.starts_with("id=") && !c.contains("Max-Age=0"))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

fn post(uri: &str, cookie: Option<&str>) -> atest::TestRequest {
    let req = atest::TestRequest::post().uri(uri);
    match cookie {
        Some(c) => req.insert_header(("Cookie", c.to_owned())),
        None => req,
    }
}

fn with(uri: &str, cookie: &str) -> atest::TestRequest {
    get(uri).insert_header(("Cookie", cookie.to_owned()))
}

#[actix_web::test]
async fn the_permission_matrix() {
    let users = people();
    let app = atest::init_service(imp_app(users.clone(), Impersonation::new(users))).await;
    let staff = session_for(sessions(), &STAFF).await;
    let customer = session_for(sessions(), &CUSTOMER).await;
    let cases = [
        (&staff, "customer@localhost", 303),
        (&staff, "staff@localhost", 403),    // oneself
        (&staff, "disabled@localhost", 403), // inactive
        (&staff, "root@localhost", 403),     // holds a scope the impersonator lacks
        (&staff, "nobody@localhost", 403),   // unknown: the same answer
        (&customer, "staff@localhost", 403), // no impersonation scope
    ];
    for (cookie, target, status) in cases {
        let r = send(&app, post(&format!("/impersonate/{target}"), Some(cookie))).await;
        assert_eq!(r.status.as_u16(), status, "{target}");
        if status == 403 {
            assert!(r.body.is_empty());
            assert!(session_of(&r).is_none(), "{target}: no change of identity");
        }
    }
    // Anonymous: refused.
    assert_eq!(
        send(&app, post("/impersonate/customer@localhost", None)).await.status,
        403
    );
}

#[actix_web::test]
async fn stateful_impersonation_until_exit() {
    let users = people();
    let app = atest::init_service(imp_app(users.clone(), Impersonation::new(users))).await;
    let staff = session_for(sessions(), &STAFF).await;
    let r = send(&app, post("/impersonate/customer@localhost", Some(&staff))).await;
    assert_eq!(r.status, 303);
    let during = session_of(&r).expect("the session id is renewed");
    assert_ne!(during, staff);
    for _ in 0..2 {
        let me = send(&app, with("/whoami", &during)).await.json();
        assert_eq!(
            me,
            json!({"id": "customer@localhost", "state": "impersonated", "original_id": "staff@localhost", "scopes": []})
        );
    }
    // Nesting is refused while impersonating.
    assert_eq!(
        send(&app, post("/impersonate/customer@localhost", Some(&during)))
            .await
            .status,
        403
    );
    let r = send(&app, post("/impersonate/exit", Some(&during))).await;
    let after = session_of(&r).expect("renewed again");
    assert_ne!(after, during);
    let me = send(&app, with("/whoami", &after)).await.json();
    assert_eq!(me["id"], "staff@localhost");
    assert_eq!(me["state"], "authenticated");
}

#[actix_web::test]
async fn losing_the_permission_ends_the_impersonation_at_once() {
    let users = people();
    let app = atest::init_service(imp_app(users.clone(), Impersonation::new(users.clone()))).await;
    let staff = session_for(sessions(), &STAFF).await;
    let during = session_of(&send(&app, post("/impersonate/customer@localhost", Some(&staff))).await).unwrap();
    users.insert(User {
        scopes: &["admin"],
        ..STAFF
    });
    let r = send(&app, with("/whoami", &during)).await;
    assert_eq!(r.json()["id"], "staff@localhost");
    assert_eq!(r.json()["state"], "authenticated");
    // Even with the scope back, the stored impersonation is gone.
    users.insert(STAFF);
    let during = session_of(&r).unwrap_or(during);
    assert_eq!(
        send(&app, with("/whoami", &during)).await.json()["state"],
        "authenticated"
    );
}

#[actix_web::test]
async fn logout_ends_the_impersonation() {
    let users = people();
    let app = atest::init_service(imp_app(users.clone(), Impersonation::new(users))).await;
    let staff = session_for(sessions(), &STAFF).await;
    let during = session_of(&send(&app, post("/impersonate/customer@localhost", Some(&staff))).await).unwrap();
    send(&app, post("/logout", Some(&during))).await;
    let again = session_for(sessions(), &STAFF).await;
    assert_eq!(
        send(&app, with("/whoami", &again)).await.json()["state"],
        "authenticated"
    );
}

#[actix_web::test]
async fn a_stored_impersonation_of_another_user_is_ignored_and_removed() {
    async fn forge(session: actix_session::Session) -> actix_web::Result<HttpResponse> {
        session.insert(
            "_impersonated_user_id",
            json!({"original": "staff@localhost", "target": "customer@localhost"}),
        )?;
        Ok(HttpResponse::Ok().finish())
    }
    let users = people();
    let app =
        atest::init_service(imp_app(users.clone(), Impersonation::new(users)).route("/forge", web::post().to(forge)))
            .await;
    // A customer's session that claims to be the staff's impersonation.
    let customer = session_for(sessions(), &CUSTOMER).await;
    let forged = session_of(&send(&app, post("/forge", Some(&customer))).await).unwrap();
    let r = send(&app, with("/whoami", &forged)).await;
    assert_eq!(r.json()["id"], "customer@localhost");
    assert_eq!(r.json()["state"], "authenticated");
    // Malformed values too.
    async fn garbage(session: actix_session::Session) -> actix_web::Result<HttpResponse> {
        session.insert("_impersonated_user_id", "customer@localhost")?;
        Ok(HttpResponse::Ok().finish())
    }
    let users = people();
    let app = atest::init_service(
        imp_app(users.clone(), Impersonation::new(users)).route("/garbage", web::post().to(garbage)),
    )
    .await;
    let staff = session_for(sessions(), &STAFF).await;
    let bad = session_of(&send(&app, post("/garbage", Some(&staff))).await).unwrap();
    assert_eq!(send(&app, with("/whoami", &bad)).await.json()["state"], "authenticated");
}

#[actix_web::test]
async fn stateless_impersonation_is_opt_in_and_for_one_request() {
    let users = people();
    let off = atest::init_service(imp_app(users.clone(), Impersonation::new(users.clone()))).await;
    let r = send(
        &off,
        get("/whoami?apikey=staff-token&_impersonate=customer%40localhost"),
    )
    .await;
    assert_eq!(r.json()["state"], "authenticated");

    let on = atest::init_service(imp_app(users.clone(), Impersonation::new(users).stateless(true))).await;
    let r = send(&on, get("/whoami?apikey=staff-token&_impersonate=customer%40localhost")).await;
    assert_eq!(r.json()["id"], "customer@localhost");
    assert_eq!(r.json()["original_id"], "staff@localhost");
    assert_eq!(
        send(&on, get("/whoami?apikey=staff-token")).await.json()["state"],
        "authenticated"
    );
    // Refused attempts continue as the real user.
    for target in ["root@localhost", "nobody", ""] {
        let r = send(&on, get(&format!("/whoami?apikey=staff-token&_impersonate={target}"))).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["id"], "staff@localhost", "{target}");
    }
    let r = send(&on, get("/whoami?apikey=customer-token&_impersonate=root%40localhost")).await;
    assert_eq!(r.json()["id"], "customer@localhost");
    // Anonymous requests cannot impersonate.
    let r = send(&on, get("/whoami?_impersonate=customer%40localhost")).await;
    assert_eq!(r.json()["state"], "anonymous");
}

#[actix_web::test]
async fn exit_by_query_ends_a_stateful_impersonation() {
    let users = people();
    let app = atest::init_service(imp_app(users.clone(), Impersonation::new(users).stateless(true))).await;
    let staff = session_for(sessions(), &STAFF).await;
    let during = session_of(&send(&app, post("/impersonate/customer@localhost", Some(&staff))).await).unwrap();
    let r = send(&app, with("/whoami?_impersonate=__exit__", &during)).await;
    assert_eq!(r.json()["id"], "staff@localhost");
    let after = session_of(&r).unwrap();
    assert_eq!(
        send(&app, with("/whoami", &after)).await.json()["state"],
        "authenticated"
    );
}

struct Always;

impl ImpersonationGuard for Always {
    async fn allow(&self, _req: &HttpRequest, _real: &UserToken) -> bool {
        true
    }
}

struct Never;

impl ImpersonationGuard for Never {
    async fn allow(&self, _req: &HttpRequest, _real: &UserToken) -> bool {
        false
    }
}

#[actix_web::test]
async fn guards_only_restrict() {
    let users = people();
    // A permissive guard lets neither anonymous nor unscoped users impersonate.
    let app = atest::init_service(imp_app(
        users.clone(),
        Impersonation::new(users.clone()).guard(Always).stateless(true),
    ))
    .await;
    assert_eq!(
        send(&app, get("/whoami?_impersonate=customer%40localhost"))
            .await
            .json()["state"],
        "anonymous"
    );
    let r = send(
        &app,
        get("/whoami?apikey=customer-token&_impersonate=staff%40localhost"),
    )
    .await;
    assert_eq!(r.json()["id"], "customer@localhost");
    // A refusing guard stops even a permitted user.
    let app = atest::init_service(imp_app(
        users.clone(),
        Impersonation::new(users).guard(Never).stateless(true),
    ))
    .await;
    let r = send(
        &app,
        get("/whoami?apikey=staff-token&_impersonate=customer%40localhost"),
    )
    .await;
    assert_eq!(r.json()["id"], "staff@localhost");
}

/// Collects `imia::impersonation` events: their `event`, `impersonator.id` and `target.id`.
#[derive(Clone, Default)]
struct Audit(std::sync::Arc<std::sync::Mutex<Vec<std::collections::BTreeMap<String, String>>>>);

thread_local! {
    /// The collector of the test running on this thread, if it wants events.
    static AUDIT: std::cell::RefCell<Option<Audit>> = const { std::cell::RefCell::new(None) };
}

/// A process-wide layer that hands `imia::impersonation` events to the current thread's
/// [`Audit`]. It is installed as the global default once: a thread-local subscriber
/// (`set_default`) races with other test threads registering the same callsites while no
/// subscriber wants them, which can cache "never" for a callsite and lose its event.
struct ToThreadAudit;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for ToThreadAudit {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Fields(std::collections::BTreeMap<String, String>);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.insert(
                    field.name().to_owned(),
                    format!("{value:?}").trim_matches('"').to_owned(),
                );
            }
        }
        if event.metadata().target() != "imia::impersonation" {
            return;
        }
        AUDIT.with(|audit| {
            if let Some(audit) = audit.borrow().as_ref() {
                let mut fields = Fields(Default::default());
                event.record(&mut fields);
                audit.0.lock().unwrap().push(fields.0);
            }
        });
    }
}

/// Stops collecting when dropped.
struct Capturing;

impl Drop for Capturing {
    fn drop(&mut self) {
        AUDIT.with(|audit| audit.borrow_mut().take());
    }
}

impl Audit {
    /// Collects the events of the current thread until the returned guard is dropped.
    fn capture() -> (Self, Capturing) {
        static INSTALLED: std::sync::Once = std::sync::Once::new();
        INSTALLED.call_once(|| {
            use tracing_subscriber::layer::SubscriberExt as _;
            tracing::subscriber::set_global_default(tracing_subscriber::registry().with(ToThreadAudit))
                .expect("no other global subscriber in this test binary");
        });
        let audit = Self::default();
        AUDIT.with(|slot| *slot.borrow_mut() = Some(audit.clone()));
        (audit, Capturing)
    }
}

#[actix_web::test]
async fn every_start_stop_and_refusal_is_an_audit_event_with_both_ids() {
    let (audit, _capturing) = Audit::capture();
    let users = people();
    let app = atest::init_service(imp_app(users.clone(), Impersonation::new(users))).await;
    let staff = session_for(sessions(), &STAFF).await;
    send(&app, post("/impersonate/root@localhost", Some(&staff))).await;
    let during = session_of(&send(&app, post("/impersonate/customer@localhost", Some(&staff))).await).unwrap();
    send(&app, post("/impersonate/exit", Some(&during))).await;
    let events = audit.0.lock().unwrap().clone();
    let summary: Vec<(String, String, String)> = events
        .iter()
        .map(|e| {
            let get = |k: &str| e.get(k).cloned().unwrap_or_default();
            (get("event"), get("impersonator.id"), get("target.id"))
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "refused".to_owned(),
                "staff@localhost".to_owned(),
                "root@localhost".to_owned()
            ),
            (
                "start".to_owned(),
                "staff@localhost".to_owned(),
                "customer@localhost".to_owned()
            ),
            (
                "stop".to_owned(),
                "staff@localhost".to_owned(),
                "customer@localhost".to_owned()
            ),
        ]
    );
}
