//! Password resets through single-use links, with the library's own types: one answer for
//! every address, links used once, bound to the password, and every session ended.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use actix_session::{SessionMiddleware, storage::CookieSessionStore};
use actix_web::{App, HttpRequest, HttpResponse, ResponseError as _, cookie::Key, test as atest, web};
use futures_util::future::join_all;
use imia::{
    Auth, Authentication, UserLike, UserToken,
    account::{AccountError, AccountMail, Accounts, InMemoryLinkStore, LinkStore, LinkToken},
    authenticator::SessionAuthenticator,
    error::ProviderError,
    login::LoginManager,
    mail::{MailError, Mailer, Message, Outbox},
    password::InsecurePlaintextVerifier,
    provider::InMemoryProvider,
};
use serde::Deserialize;

use crate::common::{get, secret, send};

#[derive(Clone, Debug, UserLike)]
struct Member {
    id: String,
    email: String,
    password_hash: String,
    security_stamp: String,
}

type Users = InMemoryProvider<Member>;
type Flows = Accounts<Users, InsecurePlaintextVerifier>;

/// Keeps the messages it is given.
#[derive(Default, Clone)]
struct Recorder(Arc<Mutex<Vec<String>>>);

impl Mailer for Recorder {
    async fn send(&self, message: Message) -> Result<(), MailError> {
        self.0
            .lock()
            .unwrap()
            .push(String::from_utf8_lossy(&message.formatted()).into_owned());
        Ok(())
    }
}

impl Recorder {
    fn messages(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    /// The token of the last reset link mailed to `to`.
    fn reset_token(&self, to: &str) -> Option<String> {
        self.messages()
            .iter()
            .rev()
            .find(|m| m.contains(&format!("To: {to}")))
            .and_then(|m| {
                let at = m.find("/password/reset/")? + "/password/reset/".len();
                Some(m[at..].split_whitespace().next()?.to_owned())
            })
    }
}

/// Counts the link store's calls.
#[derive(Default)]
struct Counting {
    inner: InMemoryLinkStore,
    calls: AtomicUsize,
}

impl Counting {
    fn tick(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
    }
}

impl LinkStore for Counting {
    async fn insert(&self, token: &LinkToken) -> Result<(), ProviderError> {
        self.tick();
        self.inner.insert(token).await
    }
    async fn find(&self, selector: &str) -> Result<Option<LinkToken>, ProviderError> {
        self.tick();
        self.inner.find(selector).await
    }
    async fn consume(&self, selector: &str, validator_hash: &str) -> Result<bool, ProviderError> {
        self.tick();
        self.inner.consume(selector, validator_hash).await
    }
    async fn delete_user(
        &self,
        user_id: &str,
        purpose: Option<&str>,
        keep: Option<&str>,
    ) -> Result<u64, ProviderError> {
        self.tick();
        self.inner.delete_user(user_id, purpose, keep).await
    }
    async fn delete_expired(&self, now: i64) -> Result<u64, ProviderError> {
        self.tick();
        self.inner.delete_expired(now).await
    }
}

#[derive(Clone)]
struct Setup {
    users: Users,
    flows: Flows,
    mail: Recorder,
    outbox: Outbox,
    links: Arc<Counting>,
}

fn setup(reset_ttl: Duration) -> Setup {
    let users = InMemoryProvider::new([Member {
        id: "1".into(),
        email: "ann@example.com".into(),
        password_hash: "old-password".into(),
        security_stamp: "s".into(),
    }]);
    let logins = LoginManager::new(users.clone(), InsecurePlaintextVerifier, secret());
    let mail = Recorder::default();
    let outbox = Outbox::new(mail.clone());
    let links = Arc::new(Counting::default());
    let flows = Accounts::builder(
        logins,
        Arc::clone(&links),
        outbox.clone(),
        AccountMail::new("Test <no-reply@example.com>", "https://app.example").unwrap(),
    )
    .reset_ttl(reset_ttl)
    .build();
    Setup {
        users,
        flows,
        mail,
        outbox,
        links,
    }
}

#[derive(Deserialize)]
struct Form {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

async fn forgot(req: HttpRequest, flows: web::Data<Flows>, form: web::Form<Form>) -> HttpResponse {
    match flows.request_password_reset(&req, &form.email).await {
        Ok(()) => HttpResponse::Ok().body("check your mail"),
        Err(err) => err.error_response(),
    }
}

async fn reset(
    req: HttpRequest,
    flows: web::Data<Flows>,
    token: web::Path<String>,
    form: web::Form<Form>,
) -> HttpResponse {
    match flows.reset_password(&req, &token, &form.password).await {
        Ok(()) => HttpResponse::SeeOther().insert_header(("Location", "/login")).finish(),
        Err(err) => err.error_response(),
    }
}

async fn login(mut auth: Auth<Member>, form: web::Form<Form>) -> HttpResponse {
    match auth.login(&form.email, &form.password).await {
        Ok(_) => HttpResponse::Ok().body("in"),
        Err(err) => err.error_response(),
    }
}

async fn whoami(token: UserToken) -> HttpResponse {
    HttpResponse::Ok().body(token.state().to_string())
}

fn app(s: Setup) -> TestApp!() {
    App::new()
        .app_data(web::Data::new(s.flows.clone()))
        .app_data(s.flows.logins().handle())
        .wrap(Authentication::new(SessionAuthenticator::new(
            s.users.clone(),
            secret(),
        )))
        .wrap(SessionMiddleware::builder(CookieSessionStore::default(), Key::from(&[5; 64])).build())
        .route("/forgot", web::post().to(forgot))
        .route("/reset/{token}", web::post().to(reset))
        .route("/login", web::post().to(login))
        .route("/whoami", web::get().to(whoami))
}

fn post(uri: &str, fields: &[(&str, &str)]) -> atest::TestRequest {
    atest::TestRequest::post().uri(uri).set_form(fields)
}

async fn delivered(outbox: &Outbox) {
    while outbox.held() > 0 {
        actix_rt::task::yield_now().await;
    }
}

#[actix_web::test]
async fn every_address_gets_the_same_answer_after_the_same_work() {
    let s = setup(Duration::from_secs(3600));
    let app = atest::init_service(app(s.clone())).await;
    let mut answers = Vec::new();
    let mut calls = Vec::new();
    for email in ["ann@example.com", "nobody@example.com", "not an address"] {
        let before = s.links.calls.load(Ordering::SeqCst);
        let r = send(&app, post("/forgot", &[("email", email)])).await;
        answers.push((r.status, r.body.clone()));
        calls.push(s.links.calls.load(Ordering::SeqCst) - before);
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0], answers[2]);
    assert_eq!(calls[0], calls[1], "known and unknown addresses: the same store work");
    delivered(&s.outbox).await;
    let messages = s.mail.messages();
    assert_eq!(messages.len(), 1, "only the account gets mail: {messages:?}");
    assert!(messages[0].contains("To: ann@example.com"));
    assert!(messages[0].contains("https://app.example/password/reset/"));
}

#[actix_web::test]
async fn a_reset_link_works_once_and_ends_every_session() {
    let s = setup(Duration::from_secs(3600));
    let app = atest::init_service(app(s.clone())).await;
    let r = send(
        &app,
        post("/login", &[("email", "ann@example.com"), ("password", "old-password")]),
    )
    .await;
    let session = r
        .all("set-cookie")
        .into_iter()
        .find(|c| c.starts_with("id="))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .unwrap();
    send(&app, post("/forgot", &[("email", "Ann@Example.com")])).await;
    delivered(&s.outbox).await;
    let token = s.mail.reset_token("ann@example.com").expect("a reset link");
    // A weak password: refused, the link still works.
    let r = send(&app, post(&format!("/reset/{token}"), &[("password", "short")])).await;
    assert_eq!(r.status, 400);
    let r = send(
        &app,
        post(&format!("/reset/{token}"), &[("password", "a new password")]),
    )
    .await;
    assert_eq!(r.status, 303);
    // Used: refused; the old password is gone, the new one works; the old session is over.
    let again = send(&app, post(&format!("/reset/{token}"), &[("password", "another one!")])).await;
    assert_eq!(again.status, 400);
    let old = send(
        &app,
        post("/login", &[("email", "ann@example.com"), ("password", "old-password")]),
    )
    .await;
    assert_eq!(old.status, 401);
    let new = send(
        &app,
        post(
            "/login",
            &[("email", "ann@example.com"), ("password", "a new password")],
        ),
    )
    .await;
    assert_eq!(new.status, 200);
    let r = send(&app, get("/whoami").insert_header(("Cookie", session))).await;
    assert_eq!(&r.body[..], b"anonymous");
}

#[actix_web::test]
async fn superseded_expired_malformed_and_rebound_links_are_refused() {
    let s = setup(Duration::from_secs(3600));
    let app = atest::init_service(app(s.clone())).await;
    send(&app, post("/forgot", &[("email", "ann@example.com")])).await;
    delivered(&s.outbox).await;
    let first = s.mail.reset_token("ann@example.com").unwrap();
    send(&app, post("/forgot", &[("email", "ann@example.com")])).await;
    delivered(&s.outbox).await;
    let second = s.mail.reset_token("ann@example.com").unwrap();
    assert_ne!(first, second);
    let r = send(
        &app,
        post(&format!("/reset/{first}"), &[("password", "a new password")]),
    )
    .await;
    assert_eq!(r.status, 400, "superseded by the newer request");
    for bad in ["x", "a.b", "%00", &"a".repeat(300)] {
        let r = send(&app, post(&format!("/reset/{bad}"), &[("password", "a new password")])).await;
        assert!(r.status == 400 || r.status == 404, "{bad}: {}", r.status);
    }
    // The password changes another way: the outstanding link dies with it.
    let ann = imia::provider::UserProvider::find_by_id(&s.users, "1")
        .await
        .unwrap()
        .unwrap();
    imia::provider::UserProvider::update_password_hash(&s.users, &ann, "changed elsewhere")
        .await
        .unwrap();
    let r = send(
        &app,
        post(&format!("/reset/{second}"), &[("password", "a new password")]),
    )
    .await;
    assert_eq!(r.status, 400, "bound to the password it was issued under");
    // Expired at once.
    let expired = setup(Duration::ZERO);
    let app = atest::init_service(self::app(expired.clone())).await;
    send(&app, post("/forgot", &[("email", "ann@example.com")])).await;
    delivered(&expired.outbox).await;
    let token = expired.mail.reset_token("ann@example.com").unwrap();
    let r = send(
        &app,
        post(&format!("/reset/{token}"), &[("password", "a new password")]),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(matches!(
        expired.flows.check_reset_link(&token).await,
        Err(AccountError::InvalidLink)
    ));
}

#[actix_web::test]
async fn one_link_used_by_many_requests_at_once_resets_once() {
    let s = setup(Duration::from_secs(3600));
    let app = atest::init_service(app(s.clone())).await;
    send(&app, post("/forgot", &[("email", "ann@example.com")])).await;
    delivered(&s.outbox).await;
    let token = s.mail.reset_token("ann@example.com").unwrap();
    let uri = format!("/reset/{token}");
    let replies = join_all((0..10).map(|i| {
        let password = format!("new password {i}");
        let req = post(&uri, &[("password", password.as_str())]);
        send(&app, req)
    }))
    .await;
    let succeeded = replies.iter().filter(|r| r.status == 303).count();
    assert_eq!(
        succeeded,
        1,
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert!(replies.iter().all(|r| r.status == 303 || r.status == 400));
}

#[actix_web::test]
async fn reset_requests_are_throttled_per_address_without_a_different_answer() {
    use imia::login::InMemoryThrottle;
    let s = setup(Duration::from_secs(3600));
    let flows = Accounts::builder(
        s.flows.logins().clone(),
        InMemoryLinkStore::new(),
        s.outbox.clone(),
        AccountMail::new("Test <no-reply@example.com>", "https://app.example").unwrap(),
    )
    .throttle(InMemoryThrottle::new().per_username(2, Duration::from_secs(900)))
    .build();
    let req = atest::TestRequest::default().to_http_request();
    for _ in 0..4 {
        flows.request_password_reset(&req, "ann@example.com").await.unwrap();
    }
    // Another address has a budget of its own.
    flows.request_password_reset(&req, "bob@example.com").await.unwrap();
    delivered(&s.outbox).await;
    let to_ann = s
        .mail
        .messages()
        .iter()
        .filter(|m| m.contains("To: ann@example.com"))
        .count();
    assert_eq!(to_ann, 2, "two links, then nothing: the same answer every time");
}
