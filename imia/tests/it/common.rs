//! Users, providers and helpers shared by the HTTP tests.

use std::{
    borrow::Cow,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use actix_web::{
    App, Error, HttpResponse,
    body::MessageBody,
    dev::{Service, ServiceResponse},
    http::StatusCode,
    test as atest, web,
};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use imia::{
    UserLike, UserToken,
    error::ProviderError,
    password::{InsecurePlaintextVerifier, PasswordError, PasswordVerifier},
    provider::{InMemoryProvider, ProviderResult, UserProvider},
};
use serde_json::{Value, json};

/// The secret key of the test apps.
pub(crate) fn secret() -> imia::SecretKey {
    imia::SecretKey::from_bytes(&[42; 32]).unwrap()
}

/// The `name=value` of a session cookie that logs `user` in through `sessions` (built like the
/// app's), with the fingerprint a real login writes. A user the app does not know gets a session
/// too: that is how a stale session looks.
#[cfg(feature = "session")]
pub(crate) async fn session_for<S>(sessions: actix_session::SessionMiddleware<S>, user: &User) -> String
where
    S: actix_session::storage::SessionStore + 'static,
{
    let cookie = imia::testing::login_cookie(sessions, user, &secret())
        .await
        .expect("a session cookie");
    format!("{}={}", cookie.name(), cookie.value())
}

#[derive(Clone, Debug)]
pub(crate) struct User {
    pub(crate) id: &'static str,
    pub(crate) name: &'static str,
    pub(crate) password: &'static str,
    pub(crate) token: Option<&'static str>,
    pub(crate) scopes: &'static [&'static str],
    pub(crate) active: bool,
}

impl UserLike for User {
    fn id(&self) -> Cow<'_, str> {
        self.id.into()
    }
    fn display_name(&self) -> Cow<'_, str> {
        self.name.into()
    }
    fn username(&self) -> Option<Cow<'_, str>> {
        Some(self.id.into())
    }
    fn hashed_password(&self) -> &str {
        self.password
    }
    fn api_token(&self) -> Option<&str> {
        self.token
    }
    fn scopes(&self) -> Vec<String> {
        self.scopes.iter().map(|s| s.to_string()).collect()
    }
    fn is_active(&self) -> bool {
        self.active
    }
}

pub(crate) const ROOT: User = User {
    id: "root@localhost",
    name: "Root",
    password: "pa$$word",
    token: Some("root-token"),
    scopes: &["admin", "billing:read"],
    active: true,
};

pub(crate) const CUSTOMER: User = User {
    id: "customer@localhost",
    name: "Customer",
    password: "customer:pass:word",
    token: Some("customer-token"),
    scopes: &[],
    active: true,
};

pub(crate) const DISABLED: User = User {
    id: "disabled@localhost",
    name: "Disabled",
    password: "pa$$word",
    token: Some("disabled-token"),
    scopes: &["admin"],
    active: false,
};

pub(crate) const NO_PASSWORD: User = User {
    id: "nopass@localhost",
    name: "NoPass",
    password: "",
    token: None,
    scopes: &[],
    active: true,
};

/// A user no provider knows.
pub(crate) const GHOST: User = User {
    id: "ghost@localhost",
    name: "Ghost",
    password: "",
    token: None,
    scopes: &[],
    active: true,
};

pub(crate) fn users() -> InMemoryProvider<User> {
    InMemoryProvider::new([ROOT, CUSTOMER, DISABLED, NO_PASSWORD])
}

/// The identity a handler saw, as JSON.
pub(crate) async fn whoami(token: UserToken) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "id": token.id(),
        "name": token.display_name(),
        "state": token.state().as_str(),
        "scopes": token.scopes(),
    }))
}

/// An app with `auth` wrapped around `/{tail:.*}` answering [`whoami`].
pub(crate) fn auth_app(auth: imia::Authentication) -> TestApp!() {
    App::new().wrap(auth).default_service(web::to(whoami))
}

pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: actix_web::http::header::HeaderMap,
    pub(crate) body: actix_web::web::Bytes,
}

impl Reply {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    pub(crate) fn id(&self) -> Value {
        assert_eq!(self.status, 200, "expected 200, body {:?}", self.body);
        self.json()["id"].clone()
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    pub(crate) fn all(&self, name: &str) -> Vec<&str> {
        self.headers.get_all(name).map(|v| v.to_str().unwrap()).collect()
    }
}

pub(crate) async fn send<S, B>(app: &S, req: atest::TestRequest) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = Error>,
    B: MessageBody,
{
    send_request(app, req.to_request()).await
}

/// [`send`] for a request built by hand (with a payload of its own, say).
pub(crate) async fn send_request<S, B>(app: &S, req: actix_http::Request) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = Error>,
    B: MessageBody,
{
    let resp = atest::call_service(app, req).await;
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = atest::read_body(resp).await;
    Reply { status, headers, body }
}

pub(crate) fn get(uri: &str) -> atest::TestRequest {
    atest::TestRequest::get().uri(uri)
}

pub(crate) fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

/// A provider that always fails.
#[derive(Clone)]
pub(crate) struct BrokenProvider {
    pub(crate) unavailable: bool,
}

impl BrokenProvider {
    fn err(&self) -> ProviderError {
        let io = std::io::Error::other("connection to db:5432 refused (password=hunter2)");
        if self.unavailable {
            ProviderError::unavailable(io)
        } else {
            ProviderError::backend(io)
        }
    }
}

impl UserProvider for BrokenProvider {
    type User = User;

    async fn find_by_id(&self, _: &str) -> ProviderResult<User> {
        Err(self.err())
    }
    async fn find_by_username(&self, _: &str) -> ProviderResult<User> {
        Err(self.err())
    }
    async fn find_by_token(&self, _: &str) -> ProviderResult<User> {
        Err(self.err())
    }
}

/// A provider that counts lookups (and remembers the last key) before delegating.
#[derive(Clone)]
pub(crate) struct CountingProvider {
    pub(crate) inner: InMemoryProvider<User>,
    pub(crate) calls: Arc<AtomicUsize>,
    pub(crate) keys: Arc<std::sync::Mutex<Vec<String>>>,
}

impl CountingProvider {
    pub(crate) fn new() -> Self {
        Self {
            inner: users(),
            calls: Arc::default(),
            keys: Arc::default(),
        }
    }

    fn note(&self, key: &str) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.keys.lock().unwrap().push(key.to_owned());
    }

    pub(crate) fn count(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl UserProvider for CountingProvider {
    type User = User;

    async fn find_by_id(&self, id: &str) -> ProviderResult<User> {
        self.note(id);
        self.inner.find_by_id(id).await
    }
    async fn find_by_username(&self, username: &str) -> ProviderResult<User> {
        self.note(username);
        self.inner.find_by_username(username).await
    }
    async fn find_by_token(&self, token: &str) -> ProviderResult<User> {
        self.note(token);
        self.inner.find_by_token(token).await
    }
}

/// A password verifier that counts verifications.
#[derive(Clone, Default)]
pub(crate) struct CountingVerifier {
    pub(crate) calls: Arc<AtomicUsize>,
}

impl CountingVerifier {
    pub(crate) fn count(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl imia::password::PasswordHasher for CountingVerifier {
    async fn hash(&self, password: &str) -> Result<String, PasswordError> {
        Ok(password.to_owned())
    }
}

impl PasswordVerifier for CountingVerifier {
    async fn verify(&self, password: &str, hash: &str) -> Result<bool, PasswordError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        InsecurePlaintextVerifier.verify(password, hash).await
    }

    fn dummy_hash(&self) -> &str {
        "dummy-hash-that-matches-nothing"
    }
}

/// In-memory users that can store new password hashes, counting lookups.
#[derive(Clone)]
pub(crate) struct Store {
    pub(crate) users: InMemoryProvider<User>,
    pub(crate) lookups: Arc<AtomicUsize>,
    pub(crate) updates: Arc<std::sync::Mutex<Vec<(String, String)>>>,
}

impl Store {
    pub(crate) fn new() -> Self {
        Self {
            users: users(),
            lookups: Arc::default(),
            updates: Arc::default(),
        }
    }
}

impl UserProvider for Store {
    type User = User;

    async fn find_by_id(&self, id: &str) -> ProviderResult<User> {
        self.users.find_by_id(id).await
    }
    async fn find_by_username(&self, username: &str) -> ProviderResult<User> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.users.find_by_username(username).await
    }
    async fn find_by_token(&self, token: &str) -> ProviderResult<User> {
        self.users.find_by_token(token).await
    }
    async fn update_password_hash(&self, user: &User, new_hash: &str) -> Result<bool, imia::error::ProviderError> {
        self.updates
            .lock()
            .unwrap()
            .push((user.id.to_owned(), new_hash.to_owned()));
        // The test users hold &'static str passwords: leak the new one (tests only).
        let mut updated = user.clone();
        updated.password = Box::leak(new_hash.to_owned().into_boxed_str());
        self.users.insert(updated);
        Ok(true)
    }
}
