//! The application under fault, its switchable parts, and the checks every case shares.

use std::{
    borrow::Cow,
    collections::HashMap,
    fmt,
    sync::{
        Arc, Mutex, OnceLock, PoisonError,
        atomic::{AtomicU8, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use actix_session::{
    SessionMiddleware,
    config::CookieContentSecurity,
    storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError, generate_session_key},
};
use actix_web::{
    App, HttpRequest, HttpResponse, ResponseError as _,
    body::MessageBody,
    cookie::{Key, time::Duration as Ttl},
    dev::{Service as _, ServiceFactory, ServiceRequest, ServiceResponse},
    web,
};
use imia::{
    Authentication, Fallback, SecretKey, TimeoutSessionStore, UserLike, UserToken,
    authenticator::{ApiKeyAuthenticator, BasicAuthenticator, SessionAuthenticator, TokenAuthenticator},
    error::ProviderError,
    login::{Attempt, InMemoryThrottle, LoginError, LoginManager, LoginThrottle},
    password::{Argon2Hasher, InsecurePlaintextVerifier, PasswordError, PasswordHasher, PasswordVerifier},
    provider::{InMemoryProvider, ProviderResult, UserProvider},
    remember::{InMemoryRememberStore, RememberMe, RememberStore, RememberToken},
};
use imia_tests::{
    http::{Client, Request, Response, is_removal},
    live::LiveServer,
};
use serde::Deserialize;
use tracing::Instrument as _;

/// The session cookie's name.
pub(crate) const SESSION: &str = "sid";
/// The remember-me cookie's name.
pub(crate) const REMEMBER: &str = "remember";
/// The one message a failed login shows.
pub(crate) const LOGIN_FAILED: &str = "Invalid e-mail or password.";
/// The user every case logs in as: username, password (plain text), API token.
pub(crate) const ANN: (&str, &str, &str) = ("ann@example.com", "correct horse", "tok-ann");
/// Failures per username that the login throttle allows.
pub(crate) const THROTTLE_MAX: usize = 3;

/// A name unique to this process and call, for databases and tables.
pub(crate) fn unique(tag: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "imia_af_{}_{}_{tag}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

// ---------------------------------------------------------------------------------------------
// Captured logs: one global subscriber for the whole binary (the servers run on threads of
// their own, so a thread-local one would not see their events). Every request of a fixture's
// application runs in a span carrying the fixture's log marker, and each captured event keeps
// the marker of the span it happened in: a test counts only its own application's warnings,
// whatever the tests running beside it in this process log.

/// The span field that carries a fixture's log marker.
const LOG_MARKER_FIELD: &str = "log_marker";

#[derive(Debug, Clone)]
pub(crate) struct Logged {
    pub(crate) level: tracing::Level,
    pub(crate) text: String,
    /// The log marker of the application whose request logged it, if any.
    pub(crate) marker: Option<String>,
}

fn log() -> &'static Mutex<Vec<Logged>> {
    static LOG: OnceLock<Mutex<Vec<Logged>>> = OnceLock::new();
    LOG.get_or_init(|| Mutex::new(Vec::new()))
}

struct Capture;

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        use fmt::Write as _;
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

/// A span's log marker, kept in the span's extensions.
struct Marker(String);

struct FindMarker(Option<String>);

impl tracing::field::Visit for FindMarker {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == LOG_MARKER_FIELD {
            self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        if field.name() == LOG_MARKER_FIELD {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

impl<S> tracing_subscriber::Layer<S> for Capture
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut marker = FindMarker(None);
        attrs.record(&mut marker);
        if let (Some(marker), Some(span)) = (marker.0, ctx.span(id)) {
            span.extensions_mut().insert(Marker(marker));
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        let level = *event.metadata().level();
        if level > tracing::Level::WARN {
            return;
        }
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        let marker = ctx
            .event_scope(event)
            .and_then(|mut spans| spans.find_map(|span| span.extensions().get::<Marker>().map(|m| m.0.clone())));
        log().lock().unwrap_or_else(PoisonError::into_inner).push(Logged {
            level,
            text: fields.0,
            marker,
        });
    }
}

/// Starts capturing warnings and errors of every thread (once per process).
pub(crate) fn capture_logs() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        use tracing_subscriber::layer::SubscriberExt as _;
        let subscriber = tracing_subscriber::registry().with(Capture);
        let _ = tracing::subscriber::set_global_default(subscriber);
        tracing::callsite::rebuild_interest_cache();
    });
}

/// How many warnings whose text contains `needle` the requests of the application with this
/// log marker ([`Fixture::log_marker`]) logged.
pub(crate) fn warnings(marker: &str, needle: &str) -> usize {
    log()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter(|l| l.level == tracing::Level::WARN && l.marker.as_deref() == Some(marker) && l.text.contains(needle))
        .count()
}

// ---------------------------------------------------------------------------------------------
// Switchable faults.

/// What a switchable part does now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Fault {
    /// Works.
    None = 0,
    /// Fails as unavailable (a provider's 503, a hasher's busy queue).
    Unavailable = 1,
    /// Fails otherwise (a provider's 500, a hasher's internal error).
    Broken = 2,
    /// Never answers (only the session store honours it; elsewhere it fails as broken).
    Hang = 3,
}

/// A fault switch shared between a test and the application it serves.
#[derive(Debug, Clone, Default)]
pub(crate) struct Switch(Arc<AtomicU8>);

impl Switch {
    pub(crate) fn set(&self, fault: Fault) {
        self.0.store(fault as u8, Ordering::SeqCst);
    }

    pub(crate) fn get(&self) -> Fault {
        match self.0.load(Ordering::SeqCst) {
            1 => Fault::Unavailable,
            2 => Fault::Broken,
            3 => Fault::Hang,
            _ => Fault::None,
        }
    }

    fn provider_error(&self) -> Option<ProviderError> {
        let io = std::io::Error::other("injected: connection to db.internal:5432 lost (password=hunter2)");
        match self.get() {
            Fault::None => None,
            Fault::Unavailable => Some(ProviderError::unavailable(io)),
            Fault::Broken | Fault::Hang => Some(ProviderError::backend(io)),
        }
    }
}

/// A user of the in-memory application; the "hash" is the password (plain-text verifier).
#[derive(Clone)]
pub(crate) struct User {
    pub(crate) email: String,
    pub(crate) password: String,
    pub(crate) token: String,
}

impl UserLike for User {
    fn id(&self) -> Cow<'_, str> {
        Cow::Borrowed(&self.email)
    }
    fn username(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Borrowed(&self.email))
    }
    fn hashed_password(&self) -> &str {
        &self.password
    }
    fn api_token(&self) -> Option<&str> {
        Some(&self.token)
    }
}

pub(crate) fn ann() -> User {
    User {
        email: ANN.0.into(),
        password: ANN.1.into(),
        token: ANN.2.into(),
    }
}

/// A provider that fails every lookup while its switch is on, and counts lookups.
#[derive(Clone)]
pub(crate) struct FlakyProvider<P> {
    pub(crate) inner: P,
    pub(crate) fault: Switch,
    pub(crate) lookups: Arc<AtomicUsize>,
}

impl<P> FlakyProvider<P> {
    pub(crate) fn new(inner: P) -> Self {
        Self {
            inner,
            fault: Switch::default(),
            lookups: Arc::default(),
        }
    }

    fn check(&self) -> Result<(), ProviderError> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.fault.provider_error().map_or(Ok(()), Err)
    }
}

impl<P: UserProvider> UserProvider for FlakyProvider<P> {
    type User = P::User;

    async fn find_by_id(&self, id: &str) -> ProviderResult<P::User> {
        self.check()?;
        self.inner.find_by_id(id).await
    }
    async fn find_by_username(&self, username: &str) -> ProviderResult<P::User> {
        self.check()?;
        self.inner.find_by_username(username).await
    }
    async fn find_by_token(&self, token: &str) -> ProviderResult<P::User> {
        self.check()?;
        self.inner.find_by_token(token).await
    }
}

pub(crate) fn memory_users() -> FlakyProvider<InMemoryProvider<User>> {
    FlakyProvider::new(InMemoryProvider::new([ann()]))
}

/// The plain-text verifier (or a real argon2 hasher), failing while its switch is on: busy
/// (503) or broken (500).
#[derive(Debug, Clone, Default)]
pub(crate) struct FlakyHasher {
    pub(crate) fault: Switch,
    pub(crate) argon2: Option<Argon2Hasher>,
}

impl PasswordVerifier for FlakyHasher {
    async fn verify(&self, password: &str, hash: &str) -> Result<bool, PasswordError> {
        match self.fault.get() {
            Fault::None => match &self.argon2 {
                Some(argon2) => argon2.verify(password, hash).await,
                None => InsecurePlaintextVerifier.verify(password, hash).await,
            },
            Fault::Unavailable => Err(PasswordError::Busy),
            Fault::Broken | Fault::Hang => Err(PasswordError::Failed("injected hasher failure".into())),
        }
    }
}

impl PasswordHasher for FlakyHasher {
    async fn hash(&self, password: &str) -> Result<String, PasswordError> {
        match &self.argon2 {
            Some(argon2) => argon2.hash(password).await,
            None => Ok(password.to_owned()),
        }
    }
}

/// The in-memory throttle, counting what it is told.
#[derive(Clone)]
pub(crate) struct CountingThrottle {
    inner: Arc<InMemoryThrottle>,
    pub(crate) failures: Arc<AtomicUsize>,
    pub(crate) successes: Arc<AtomicUsize>,
}

impl CountingThrottle {
    pub(crate) fn new() -> Self {
        Self {
            inner: Arc::new(InMemoryThrottle::new().per_username(THROTTLE_MAX, Duration::from_secs(300))),
            failures: Arc::default(),
            successes: Arc::default(),
        }
    }

    pub(crate) fn failures(&self) -> usize {
        self.failures.load(Ordering::SeqCst)
    }
}

impl LoginThrottle for CountingThrottle {
    async fn allow(&self, attempt: Attempt<'_>) -> Result<bool, ProviderError> {
        self.inner.allow(attempt).await
    }
    async fn failed(&self, attempt: Attempt<'_>) -> Result<(), ProviderError> {
        self.failures.fetch_add(1, Ordering::SeqCst);
        self.inner.failed(attempt).await
    }
    async fn succeeded(&self, attempt: Attempt<'_>) -> Result<(), ProviderError> {
        self.successes.fetch_add(1, Ordering::SeqCst);
        self.inner.succeeded(attempt).await
    }
}

/// A server-side session store in memory whose operations fail while their switch is on.
#[derive(Clone, Default)]
pub(crate) struct FlakySessions {
    pub(crate) sessions: Arc<Mutex<HashMap<String, HashMap<String, String>>>>,
    /// Fails `load`.
    pub(crate) load_fault: Switch,
    /// Fails `save`, `update` and `update_ttl`.
    pub(crate) write_fault: Switch,
}

impl FlakySessions {
    async fn down(switch: &Switch, op: &str) -> Option<anyhow::Error> {
        match switch.get() {
            Fault::None => None,
            Fault::Hang => std::future::pending().await,
            _ => Some(anyhow::anyhow!("injected: the session store cannot {op}")),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, HashMap<String, String>>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The stored sessions that hold a login.
    pub(crate) fn logged_in(&self) -> usize {
        self.lock().values().filter(|s| s.contains_key("_auth_user_id")).count()
    }
}

impl SessionStore for FlakySessions {
    async fn load(&self, key: &SessionKey) -> Result<Option<HashMap<String, String>>, LoadError> {
        if let Some(e) = Self::down(&self.load_fault, "load").await {
            return Err(LoadError::Other(e));
        }
        Ok(self.lock().get(key.as_ref()).cloned())
    }

    async fn save(&self, state: HashMap<String, String>, _: &Ttl) -> Result<SessionKey, SaveError> {
        if let Some(e) = Self::down(&self.write_fault, "save").await {
            return Err(SaveError::Other(e));
        }
        let key = generate_session_key();
        self.lock().insert(key.as_ref().to_owned(), state);
        Ok(key)
    }

    async fn update(
        &self,
        key: SessionKey,
        state: HashMap<String, String>,
        ttl: &Ttl,
    ) -> Result<SessionKey, UpdateError> {
        if let Some(e) = Self::down(&self.write_fault, "update").await {
            return Err(UpdateError::Other(e));
        }
        let state = {
            let mut sessions = self.lock();
            match sessions.get_mut(key.as_ref()) {
                Some(slot) => {
                    *slot = state;
                    return Ok(key);
                }
                None => state,
            }
        };
        self.save(state, ttl).await.map_err(|e| UpdateError::Other(e.into()))
    }

    async fn update_ttl(&self, _: &SessionKey, _: &Ttl) -> Result<(), anyhow::Error> {
        Self::down(&self.write_fault, "extend").await.map_or(Ok(()), Err)
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), anyhow::Error> {
        self.lock().remove(key.as_ref());
        Ok(())
    }
}

/// A remember-me store whose lookups or rotations fail while their switch is on.
#[derive(Clone)]
pub(crate) struct FlakyTokens<S> {
    pub(crate) inner: S,
    pub(crate) find_fault: Switch,
    pub(crate) rotate_fault: Switch,
}

impl<S> FlakyTokens<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self {
            inner,
            find_fault: Switch::default(),
            rotate_fault: Switch::default(),
        }
    }
}

impl<S: RememberStore> RememberStore for FlakyTokens<S> {
    async fn insert(&self, token: &RememberToken) -> Result<(), ProviderError> {
        self.inner.insert(token).await
    }
    async fn find(&self, selector: &str) -> Result<Option<RememberToken>, ProviderError> {
        if let Some(e) = self.find_fault.provider_error() {
            return Err(e);
        }
        self.inner.find(selector).await
    }
    async fn rotate(&self, selector: &str, current: &str, new: &str, now: i64) -> Result<bool, ProviderError> {
        if let Some(e) = self.rotate_fault.provider_error() {
            return Err(e);
        }
        self.inner.rotate(selector, current, new, now).await
    }
    async fn delete(&self, selector: &str) -> Result<(), ProviderError> {
        self.inner.delete(selector).await
    }
    async fn delete_user(&self, user_id: &str) -> Result<u64, ProviderError> {
        self.inner.delete_user(user_id).await
    }
    async fn delete_expired(&self, now: i64) -> Result<u64, ProviderError> {
        self.inner.delete_expired(now).await
    }
}

pub(crate) fn memory_tokens() -> FlakyTokens<InMemoryRememberStore> {
    FlakyTokens::new(InMemoryRememberStore::new())
}

// ---------------------------------------------------------------------------------------------
// The application.

/// Everything the application is made of, shared with the test.
#[derive(Clone)]
pub(crate) struct Fixture<P, S, R> {
    pub(crate) users: P,
    pub(crate) store: S,
    pub(crate) tokens: R,
    pub(crate) hasher: FlakyHasher,
    pub(crate) throttle: CountingThrottle,
    pub(crate) secret: SecretKey,
    /// The session store's deadline ([`TimeoutSessionStore`]).
    pub(crate) store_timeout: Duration,
    /// Unique to this fixture: the requests of its application log under it (see [`warnings`]).
    pub(crate) log_marker: String,
}

impl<P, S, R> Fixture<P, S, R> {
    pub(crate) fn new(users: P, store: S, tokens: R) -> Self {
        Self {
            users,
            store,
            tokens,
            hasher: FlakyHasher::default(),
            throttle: CountingThrottle::new(),
            secret: SecretKey::from_bytes(&[7u8; 64]).expect("a 64-byte key"),
            store_timeout: Duration::from_secs(1),
            log_marker: unique("log"),
        }
    }
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    remember: Option<String>,
}

fn who(route: &str, token: &UserToken) -> String {
    format!("{route}:{}:{}", token.id().unwrap_or_default(), token.state().as_str())
}

async fn public(token: UserToken) -> HttpResponse {
    HttpResponse::Ok().body(who("public", &token))
}

async fn protected(token: UserToken) -> HttpResponse {
    if token.is_anonymous() {
        // Under the redirect fallback this never runs for anonymous users: if it does, the
        // middleware let an anonymous request through.
        return HttpResponse::Ok().body("ANONYMOUS-LEAK");
    }
    HttpResponse::Ok().body(who("app", &token))
}

async fn me(token: UserToken) -> HttpResponse {
    HttpResponse::Ok().body(who("me", &token))
}

async fn login_page() -> HttpResponse {
    HttpResponse::Ok().body("login form")
}

async fn login<P, R>(
    req: HttpRequest,
    logins: web::Data<LoginManager<P, FlakyHasher>>,
    remember: web::Data<RememberMe<P, R>>,
    form: web::Form<LoginForm>,
) -> HttpResponse
where
    P: UserProvider,
    P::User: Clone,
    R: RememberStore,
{
    match logins.login(&req, &form.username, &form.password).await {
        Ok(token) => {
            if form.remember.is_some()
                && let Some(user) = token.user::<P::User>()
                && let Err(err) = remember.remember(&req, user).await
            {
                tracing::error!(error.display = %err, "could not issue a remember-me token");
            }
            HttpResponse::SeeOther().insert_header(("Location", "/app")).finish()
        }
        Err(LoginError::InvalidCredentials) => HttpResponse::Ok().body(LOGIN_FAILED),
        Err(other) => other.error_response(),
    }
}

/// Serves [`app`] for `fx` on a real loopback socket.
pub(crate) fn serve<P, S, R>(fx: &Fixture<P, S, R>) -> LiveServer
where
    P: UserProvider + Clone + Send + 'static,
    P::User: Clone,
    S: SessionStore + Clone + Send + 'static,
    R: RememberStore + Clone + Send + 'static,
{
    let fx = fx.clone();
    LiveServer::start(move || app(&fx)).expect("the server starts")
}

/// The application: `/public` (excluded from authentication), `/app` (session or remember-me;
/// browsers are sent to `/login`), `/api/me` (session, remember-me, Basic, Bearer, API key; 401
/// without credentials), `GET`/`POST /login`.
#[allow(clippy::type_complexity)]
pub(crate) fn app<P, S, R>(
    fx: &Fixture<P, S, R>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody + use<P, S, R>>,
        Error = actix_web::Error,
        InitError = (),
    > + use<P, S, R>,
>
where
    P: UserProvider + Clone,
    P::User: Clone,
    S: SessionStore + Clone + 'static,
    R: RememberStore + Clone,
{
    let remember = RememberMe::new(fx.users.clone(), fx.tokens.clone(), fx.secret.clone()).cookie_name(REMEMBER);
    let logins = LoginManager::builder(fx.users.clone(), fx.hasher.clone(), fx.secret.clone())
        .throttle(fx.throttle.clone())
        .remember_me(remember.clone())
        .build();
    let session = || SessionAuthenticator::new(fx.users.clone(), fx.secret.clone());
    let pages = Authentication::builder()
        .authenticators((session(), remember.clone()))
        .exclude("/public")
        .exclude("/api")
        .login_url("/login")
        .fallback(imia::Fallback::Redirect)
        .build()
        .expect("a valid configuration");
    let api = Authentication::builder()
        .authenticators((
            session(),
            remember.clone(),
            BasicAuthenticator::new(fx.users.clone(), fx.hasher.clone()),
            TokenAuthenticator::bearer(fx.users.clone()),
            ApiKeyAuthenticator::new(fx.users.clone()),
        ))
        .fallback(Fallback::Error)
        .build()
        .expect("a valid configuration");
    let store = TimeoutSessionStore::new(fx.store.clone(), fx.store_timeout);
    let sessions = SessionMiddleware::builder(store, Key::derive_from(fx.secret.as_bytes()))
        .cookie_name(SESSION.to_owned())
        .cookie_secure(false)
        .cookie_content_security(CookieContentSecurity::Private)
        .build();
    let marker = fx.log_marker.clone();
    App::new()
        .app_data(web::Data::new(logins))
        .app_data(web::Data::new(remember))
        .service(web::scope("/api").wrap(api).route("/me", web::get().to(me)))
        .route("/public", web::get().to(public))
        .route("/app", web::get().to(protected))
        .service(
            web::resource("/login")
                .route(web::get().to(login_page))
                .route(web::post().to(login::<P, R>)),
        )
        .wrap(pages)
        .wrap(sessions)
        .wrap_fn(move |req, srv| {
            // Outermost: whatever the session middleware and imia log runs in this span.
            let span = tracing::info_span!("test_app", log_marker = marker.as_str());
            srv.call(req).instrument(span)
        })
}

// ---------------------------------------------------------------------------------------------
// Requests and checks.

pub(crate) fn login_request(remember: bool) -> Request {
    let mut fields = vec![("username", ANN.0), ("password", ANN.1)];
    if remember {
        fields.push(("remember", "1"));
    }
    Request::post("/login").form(&fields)
}

/// Logs Ann in through `client` (optionally with remember-me) and checks that it worked.
pub(crate) fn log_in(client: &mut Client, remember: bool) {
    let resp = client.send(&login_request(remember)).expect("the login answers");
    assert_eq!(resp.status, 303, "login: {resp:?}");
    assert!(client.jar().get(SESSION).is_some(), "a session cookie: {resp:?}");
    if remember {
        assert!(client.jar().get(REMEMBER).is_some(), "a remember-me cookie: {resp:?}");
    }
}

pub(crate) fn basic() -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", ANN.0, ANN.1))
    )
}

/// A request for `target` carrying only this cookie.
pub(crate) fn with_cookie(target: &str, name: &str, value: &str) -> Request {
    Request::get(target).header("Cookie", format!("{name}={value}"))
}

/// Every way of presenting Ann's credentials to `/api/me` without a session, by name.
pub(crate) fn credential_requests() -> Vec<(&'static str, Request)> {
    vec![
        ("basic", Request::get("/api/me").header("Authorization", basic())),
        (
            "bearer",
            Request::get("/api/me").header("Authorization", format!("Bearer {}", ANN.2)),
        ),
        ("api key query", Request::get(format!("/api/me?apikey={}", ANN.2))),
        ("api key header", Request::get("/api/me").header("X-Api-Key", ANN.2)),
    ]
}

/// The cookies a response sets with a non-empty value (that is, not removals).
pub(crate) fn cookies_set(resp: &Response) -> Vec<String> {
    resp.set_cookies()
        .iter()
        .filter(|c| !is_removal(c))
        .map(|c| c.name().to_owned())
        .collect()
}

/// Words that must never reach a client from inside the server.
const LEAKS: [&str; 8] = [
    "injected",
    "hunter2",
    "db.internal",
    "session store",
    "password",
    "Invalid",
    "error",
    "panicked",
];

/// An opaque server-side failure: 500 or 503 (or exactly `status`), an empty body, no redirect,
/// no cookie that logs anyone in, and no anonymous page.
#[track_caller]
pub(crate) fn assert_fails_closed(resp: &Response, status: Option<u16>, context: &str) {
    match status {
        Some(expected) => assert_eq!(resp.status, expected, "{context}: {resp:?}"),
        None => assert!(
            resp.status == 500 || resp.status == 503,
            "{context}: a 500 or 503, got {resp:?}"
        ),
    }
    assert!(resp.body.is_empty(), "{context}: an opaque (empty) body, got {resp:?}");
    let text = resp.text();
    for leak in LEAKS {
        assert!(!text.contains(leak), "{context}: {leak:?} leaked: {resp:?}");
    }
    assert!(resp.header("location").is_none(), "{context}: no redirect: {resp:?}");
    assert!(
        resp.header("www-authenticate").is_none(),
        "{context}: no challenge (it would hide the outage as a credential problem): {resp:?}"
    );
    let set = cookies_set(resp);
    assert!(set.is_empty(), "{context}: no cookie may be set on a failure: {set:?}");
}

/// A request served for Ann on `route` (`app`, `me`).
#[track_caller]
pub(crate) fn assert_served_for_ann(resp: &Response, route: &str, context: &str) {
    assert_eq!(resp.status, 200, "{context}: {resp:?}");
    let body = resp.text();
    assert!(
        body.starts_with(&format!("{route}:{}:", ANN.0)),
        "{context}: served for Ann on {route}, got {body:?}"
    );
}

/// Sends `req` until `done` accepts the response or `within` passes; the last response.
pub(crate) fn eventually(
    within: Duration,
    mut send: impl FnMut() -> std::io::Result<Response>,
    done: impl Fn(&Response) -> bool,
) -> Option<Response> {
    let deadline = Instant::now() + within;
    let mut last = None;
    while Instant::now() < deadline {
        if let Ok(resp) = send() {
            if done(&resp) {
                return Some(resp);
            }
            last = Some(resp);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if let Some(resp) = &last {
        eprintln!("last response: {resp:?}");
    }
    None
}

/// Sends `req` and checks the answer took less than `limit`.
#[track_caller]
pub(crate) fn timed(limit: Duration, send: impl FnOnce() -> std::io::Result<Response>, context: &str) -> Response {
    let started = Instant::now();
    let resp = send().unwrap_or_else(|e| panic!("{context}: an answer, not {e}"));
    let took = started.elapsed();
    assert!(took < limit, "{context}: answered after {took:?}, more than {limit:?}");
    resp
}
