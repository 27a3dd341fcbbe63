//! Shared pieces of the adversarial suite: users, a provider and a password hasher that count
//! what reaches them, handlers that say which route served a request and for whom, and checks
//! for "refused cleanly".
//!
//! The counters are shared (`Arc`) between the test and the application it serves through
//! [`crate::live::LiveServer`], so a test can prove that a malformed credential never reached
//! the user store or the password hasher.
//!
//! ```
//! use imia_tests::attack::{CountingProvider, Victim};
//!
//! let users = CountingProvider::new([Victim::new("ann", "pw").token("t-ann")]);
//! assert_eq!(users.calls(), 0);
//! ```

use std::{
    borrow::Cow,
    fmt,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use actix_web::{HttpRequest, HttpResponse};
use imia::{
    UserLike, UserToken,
    password::{Argon2Hasher, PasswordError, PasswordHasher, PasswordVerifier},
    provider::{InMemoryProvider, ProviderResult, UserProvider},
};

use crate::http::Response;

/// A user of the applications under attack.
#[derive(Clone, PartialEq, Eq)]
pub struct Victim {
    /// Id, and the username it logs in with.
    pub id: String,
    /// The stored password hash (or plain text, with a plain-text verifier).
    pub password: String,
    /// The API/bearer token, if any.
    pub token: Option<String>,
    /// Whether the account is active.
    pub active: bool,
}

impl Victim {
    /// An active user `id` whose stored password (hash) is `password`, without a token.
    pub fn new(id: &str, password: &str) -> Self {
        Self {
            id: id.to_owned(),
            password: password.to_owned(),
            token: None,
            active: true,
        }
    }

    /// With this API/bearer token.
    #[must_use]
    pub fn token(mut self, token: &str) -> Self {
        self.token = Some(token.to_owned());
        self
    }

    /// Disabled.
    #[must_use]
    pub fn inactive(mut self) -> Self {
        self.active = false;
        self
    }
}

impl fmt::Debug for Victim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Victim").field("id", &self.id).finish_non_exhaustive()
    }
}

impl UserLike for Victim {
    fn id(&self) -> Cow<'_, str> {
        Cow::Borrowed(&self.id)
    }
    fn username(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Borrowed(&self.id))
    }
    fn hashed_password(&self) -> &str {
        &self.password
    }
    fn api_token(&self) -> Option<&str> {
        self.token.as_deref()
    }
    fn is_active(&self) -> bool {
        self.active
    }
}

/// Which lookup a provider call was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// [`UserProvider::find_by_id`].
    Id,
    /// [`UserProvider::find_by_username`].
    Username,
    /// [`UserProvider::find_by_token`].
    Token,
}

/// An in-memory provider that records every lookup (kind and key) before answering.
#[derive(Clone)]
pub struct CountingProvider {
    inner: InMemoryProvider<Victim>,
    seen: Arc<Mutex<Vec<(Lookup, String)>>>,
}

impl CountingProvider {
    /// Serves these users.
    pub fn new(users: impl IntoIterator<Item = Victim>) -> Self {
        Self {
            inner: InMemoryProvider::new(users),
            seen: Arc::default(),
        }
    }

    /// How many lookups reached the provider so far.
    pub fn calls(&self) -> usize {
        self.seen.lock().expect("not poisoned").len()
    }

    /// Every lookup so far, in order.
    pub fn seen(&self) -> Vec<(Lookup, String)> {
        self.seen.lock().expect("not poisoned").clone()
    }

    /// The longest key any lookup carried, in bytes.
    pub fn longest_key(&self) -> usize {
        self.seen
            .lock()
            .expect("not poisoned")
            .iter()
            .map(|(_, k)| k.len())
            .max()
            .unwrap_or(0)
    }

    fn note(&self, lookup: Lookup, key: &str) {
        self.seen.lock().expect("not poisoned").push((lookup, key.to_owned()));
    }
}

impl fmt::Debug for CountingProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CountingProvider")
            .field("calls", &self.calls())
            .finish_non_exhaustive()
    }
}

impl UserProvider for CountingProvider {
    type User = Victim;

    async fn find_by_id(&self, id: &str) -> ProviderResult<Victim> {
        self.note(Lookup::Id, id);
        self.inner.find_by_id(id).await
    }
    async fn find_by_username(&self, username: &str) -> ProviderResult<Victim> {
        self.note(Lookup::Username, username);
        self.inner.find_by_username(username).await
    }
    async fn find_by_token(&self, token: &str) -> ProviderResult<Victim> {
        self.note(Lookup::Token, token);
        self.inner.find_by_token(token).await
    }
}

/// An argon2id hasher (fast parameters unless given one) that counts what it is asked and what
/// it actually computed.
///
/// - `verify_calls`/`hash_calls`: every call, refused or not;
/// - `computed`: calls that ran argon2 (they returned a result rather than
///   [`PasswordError::TooLong`], which [`Argon2Hasher`] answers before any work);
/// - `longest_password`: the longest password that was actually hashed, in bytes.
#[derive(Clone)]
pub struct CountingHasher {
    inner: Argon2Hasher,
    verify_calls: Arc<AtomicUsize>,
    hash_calls: Arc<AtomicUsize>,
    computed: Arc<AtomicUsize>,
    longest: Arc<AtomicUsize>,
}

/// The cheap argon2id parameters of the suite (m = 64 KiB, t = 1, p = 1): the code paths are
/// the real ones, only the cost is small.
pub fn fast_argon2() -> Argon2Hasher {
    Argon2Hasher::builder()
        .params(64, 1, 1)
        .build()
        .expect("valid parameters")
}

impl CountingHasher {
    /// Counts around [`fast_argon2`].
    pub fn new() -> Self {
        Self::wrap(fast_argon2())
    }

    /// Counts around `inner`.
    pub fn wrap(inner: Argon2Hasher) -> Self {
        Self {
            inner,
            verify_calls: Arc::default(),
            hash_calls: Arc::default(),
            computed: Arc::default(),
            longest: Arc::default(),
        }
    }

    /// Calls to `verify`.
    pub fn verify_calls(&self) -> usize {
        self.verify_calls.load(Ordering::SeqCst)
    }

    /// Calls to `hash`.
    pub fn hash_calls(&self) -> usize {
        self.hash_calls.load(Ordering::SeqCst)
    }

    /// Calls that ran argon2.
    pub fn computed(&self) -> usize {
        self.computed.load(Ordering::SeqCst)
    }

    /// The longest password argon2 ran on, in bytes.
    pub fn longest_password(&self) -> usize {
        self.longest.load(Ordering::SeqCst)
    }

    /// Hashes `password` (for seeding users), without counting.
    ///
    /// # Panics
    ///
    /// When hashing fails.
    pub fn seed_hash(&self, password: &str) -> String {
        actix_rt::System::new()
            .block_on(self.inner.hash(password))
            .expect("hashing a seed password")
    }

    fn note<T>(&self, password: &str, result: &Result<T, PasswordError>) {
        if !matches!(result, Err(PasswordError::TooLong)) {
            self.computed.fetch_add(1, Ordering::SeqCst);
            self.longest.fetch_max(password.len(), Ordering::SeqCst);
        }
    }
}

impl Default for CountingHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for CountingHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CountingHasher")
            .field("verify_calls", &self.verify_calls())
            .field("hash_calls", &self.hash_calls())
            .field("computed", &self.computed())
            .finish_non_exhaustive()
    }
}

impl PasswordVerifier for CountingHasher {
    async fn verify(&self, password: &str, hash: &str) -> Result<bool, PasswordError> {
        self.verify_calls.fetch_add(1, Ordering::SeqCst);
        let result = self.inner.verify(password, hash).await;
        self.note(password, &result);
        result
    }

    fn dummy_hash(&self) -> &str {
        self.inner.dummy_hash()
    }
}

impl PasswordHasher for CountingHasher {
    async fn hash(&self, password: &str) -> Result<String, PasswordError> {
        self.hash_calls.fetch_add(1, Ordering::SeqCst);
        let result = self.inner.hash(password).await;
        self.note(password, &result);
        result
    }

    fn needs_rehash(&self, hash: &str) -> bool {
        self.inner.needs_rehash(hash)
    }
}

/// The body a [`served`] handler answers: `served <route> as <user id or "anonymous">`.
pub fn served_body(route: &str, who: &str) -> String {
    format!("served {route} as {who}")
}

/// A handler that answers 200 with [`served_body`], naming `route` and the request's identity,
/// so a test knows where the router dispatched a request and who it was served to.
pub fn served(route: &'static str) -> impl Fn(HttpRequest, UserToken) -> std::future::Ready<HttpResponse> + Clone {
    move |_req, token| {
        let who = token.id().map_or_else(|| "anonymous".to_owned(), |id| id.into_owned());
        std::future::ready(HttpResponse::Ok().body(served_body(route, &who)))
    }
}

/// Which handler served `resp` and for whom, read from a [`served`] body: `None` when no such
/// handler answered (the middleware or actix itself did).
pub fn served_by(resp: &Response) -> Option<(String, String)> {
    if resp.status != 200 {
        return None;
    }
    let text = resp.text();
    let rest = text.strip_prefix("served ")?;
    let (route, who) = rest.split_once(" as ")?;
    Some((route.to_owned(), who.to_owned()))
}

/// Asserts that `resp` refuses credentials cleanly: 400 with an empty body, or 401 with at
/// least one `WWW-Authenticate` challenge and an empty body. Never a 5xx, never a handler.
///
/// # Panics
///
/// When it does not.
pub fn assert_refused(resp: &Response, context: &dyn fmt::Debug) {
    assert!(
        resp.status == 400 || resp.status == 401,
        "{context:?}: expected 400 or 401, got {resp:?}"
    );
    if resp.status == 401 {
        assert!(
            !resp.header_all("www-authenticate").is_empty(),
            "{context:?}: a 401 without a challenge: {resp:?}"
        );
    }
    assert!(resp.body.is_empty(), "{context:?}: a refusal with a body: {resp:?}");
}
