//! HTTP Basic authentication (RFC 7617).

use std::{fmt, sync::Arc, time::Duration};

use actix_web::HttpRequest;
use base64::{Engine as _, engine::general_purpose::STANDARD};

use super::{
    Authenticator, Challenge, Outcome, Rejection,
    basic_cache::VerifiedCache,
    header::{self, AuthHeader},
};
use crate::{
    error::AuthError,
    password::{PasswordError, PasswordVerifier, check_password, spend_one_check},
    provider::UserProvider,
    throttle::{Admission, Attempt, DynThrottle, LoginThrottle},
    user::UserLike,
};

/// The realm of the Basic challenge unless configured: `Protected access`.
pub const DEFAULT_REALM: &str = "Protected access";

/// Authenticates `Authorization: Basic <base64(username:password)>`.
///
/// Parsing follows RFC 7617: the scheme is case-insensitive, the payload is strict base64 and
/// UTF-8, and it splits at the *first* colon (passwords may contain `:`). Malformed headers
/// (bad base64, not UTF-8, no colon, control characters, over-long) are
/// [`Rejected`](Outcome::Rejected) as malformed; an empty username or password, an unknown or
/// inactive user, a user without a usable password and a wrong password are all rejected alike.
///
/// # Security
///
/// The password is verified exactly once per request whatever happens: against a dummy hash
/// when there is no user to check, so that response times do not reveal which usernames exist.
/// The one exception is opt-in: with a [verification cache](Self::verification_cache),
/// credentials verified a moment ago skip the hasher (see its trade-offs).
///
/// Basic checks passwords, so it must be throttled like the login form: give it the same
/// throttle ([`throttle`](Self::throttle)). A locked username then fails exactly like a wrong
/// password (same answer, the hasher still runs once, the cache is not consulted), and every
/// failed Basic attempt counts towards the lockout of the form login.
///
/// # Examples
///
/// ```
/// use std::borrow::Cow;
/// use imia::{
///     UserLike,
///     authenticator::BasicAuthenticator,
///     password::InsecurePlaintextVerifier,
///     provider::InMemoryProvider,
/// };
///
/// #[derive(Clone)]
/// struct User { email: &'static str, password: &'static str }
/// impl UserLike for User {
///     fn id(&self) -> Cow<'_, str> { self.email.into() }
///     fn username(&self) -> Option<Cow<'_, str>> { Some(self.email.into()) }
///     fn hashed_password(&self) -> &str { self.password }
/// }
///
/// let users = InMemoryProvider::new([User { email: "ann@example.com", password: "secret" }]);
/// let basic = BasicAuthenticator::new(users, InsecurePlaintextVerifier).realm("Staff");
/// # let _ = basic;
/// ```
pub struct BasicAuthenticator<P, V> {
    provider: P,
    verifier: V,
    challenge: Challenge,
    max_len: usize,
    cache: Option<VerifiedCache>,
    throttle: Option<Arc<dyn DynThrottle>>,
    #[cfg(feature = "two-factor")]
    second_factor: Option<crate::two_factor::TwoFactor>,
}

impl<P, V> BasicAuthenticator<P, V> {
    /// Authenticates users of `provider`, checking passwords with `verifier`; realm
    /// `Protected access`.
    pub fn new(provider: P, verifier: V) -> Self {
        Self {
            provider,
            verifier,
            challenge: Challenge::basic(DEFAULT_REALM),
            max_len: header::DEFAULT_MAX_CREDENTIAL_LEN,
            cache: None,
            throttle: None,
            #[cfg(feature = "two-factor")]
            second_factor: None,
        }
    }

    /// Throttles password guesses: give it an `Arc` of the throttle the
    /// [`LoginManager`](crate::login::LoginManager) uses, so that one lockout covers the login
    /// form and HTTP Basic (same usernames, same counters). Default: none.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// use imia::{UserLike, authenticator::BasicAuthenticator, password::Argon2Hasher, provider::InMemoryProvider, throttle::InMemoryThrottle};
    ///
    /// #[derive(Clone, UserLike)]
    /// struct User { id: u32, email: String, password_hash: String }
    ///
    /// let throttle = Arc::new(InMemoryThrottle::new().per_username(10, Duration::from_secs(300)));
    /// let users = InMemoryProvider::new(Vec::<User>::new());
    /// let basic = BasicAuthenticator::new(users, Argon2Hasher::default()).throttle(Arc::clone(&throttle));
    /// // ...and `LoginManager::builder(..).throttle(throttle)` for the form.
    /// # let _ = basic;
    /// ```
    #[must_use]
    pub fn throttle(mut self, throttle: impl LoginThrottle) -> Self {
        self.throttle = Some(Arc::new(throttle));
        self
    }

    /// Refuses users who have a second factor, exactly like a wrong password (a password alone
    /// is not enough for them), and counts the attempt towards the throttle like one (feature
    /// `two-factor`).
    ///
    /// Without this setting the authenticator uses the second factors of the app's
    /// [`Logins`](crate::login::Logins) handle, when one is registered with `App::app_data` (as
    /// [`Auth`](crate::Auth) needs): set it for apps that check passwords without one.
    #[cfg(feature = "two-factor")]
    #[must_use]
    pub fn second_factor(mut self, two_factor: crate::two_factor::TwoFactor) -> Self {
        self.second_factor = Some(two_factor);
        self
    }

    /// Sets the realm of the `WWW-Authenticate: Basic realm="…"` challenge (quoted safely).
    #[must_use]
    pub fn realm(mut self, realm: &str) -> Self {
        self.challenge = Challenge::basic(realm);
        self
    }

    /// Caps the `Authorization` header's length; longer ones are rejected before decoding.
    /// Default: [`DEFAULT_MAX_CREDENTIAL_LEN`](super::DEFAULT_MAX_CREDENTIAL_LEN).
    #[must_use]
    pub fn max_credential_len(mut self, len: usize) -> Self {
        self.max_len = len;
        self
    }

    /// Remembers successful verifications for `ttl` (at most one hour), up to `capacity` of
    /// them, so that a client repeating the same credentials on every request (what HTTP Basic
    /// clients do) pays for the password hash once per `ttl` instead of on every request.
    /// Default: no cache; every request verifies the password.
    ///
    /// What is cached is a tag, HMAC-SHA256 under a random key made for this authenticator, of
    /// the username, the password and the user's stored password hash: never the password, never
    /// the hash. On every request the user is still loaded from the provider (active, with a
    /// password), and the tag is recomputed with the hash it has *now*, then compared in constant
    /// time. So:
    /// - a wrong password is never cached (only verified credentials are);
    /// - a password change, a disabled or deleted user take effect on the next request, as long
    ///   as the provider returns the new state;
    /// - at `capacity` entries, expired entries are dropped first, then the oldest.
    ///
    /// The cache belongs to this authenticator: build the [`Authentication`](crate::Authentication)
    /// once, outside the `HttpServer::new` closure, so that every worker shares it.
    ///
    /// # Security
    ///
    /// The trade-offs of turning it on:
    /// - a provider that itself caches users (or a replica that lags) keeps an old password hash
    ///   valid for as long as it serves it; with an up-to-date provider nothing outlives a
    ///   password change;
    /// - the process memory holds, for up to `ttl`, values derived from valid passwords
    ///   (keyed HMAC tags, useless without the random key that sits beside them); a memory dump
    ///   of a running server is a worse leak than without the cache;
    /// - a hit answers faster than a full verification, which tells only someone who already
    ///   holds valid credentials that they were used recently.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{borrow::Cow, time::Duration};
    /// use actix_web::{App, HttpResponse, test, web};
    /// use imia::{
    ///     Authentication, Fallback, UserLike,
    ///     authenticator::BasicAuthenticator,
    ///     password::Argon2Hasher,
    ///     provider::InMemoryProvider,
    /// };
    ///
    /// #[derive(Clone)]
    /// struct User { email: &'static str, hash: String }
    /// impl UserLike for User {
    ///     fn id(&self) -> Cow<'_, str> { self.email.into() }
    ///     fn username(&self) -> Option<Cow<'_, str>> { Some(self.email.into()) }
    ///     fn hashed_password(&self) -> &str { &self.hash }
    /// }
    ///
    /// # actix_rt::System::new().block_on(async {
    /// let hasher = Argon2Hasher::builder().params(8, 1, 1).build().unwrap(); // fast, for the example
    /// let hash = hasher.hash("hunter2").await.unwrap();
    /// let users = InMemoryProvider::new([User { email: "ann@example.com", hash }]);
    ///
    /// // Built once and shared by every worker: one cache.
    /// let auth = Authentication::builder()
    ///     .authenticator(
    ///         BasicAuthenticator::new(users, hasher).verification_cache(10_000, Duration::from_secs(60)),
    ///     )
    ///     .fallback(Fallback::Error)
    ///     .build()
    ///     .unwrap();
    /// let app = test::init_service(
    ///     App::new().wrap(auth).route("/", web::get().to(HttpResponse::Ok)),
    /// )
    /// .await;
    ///
    /// // "ann@example.com:hunter2": verified with argon2 once, then from the cache.
    /// for _ in 0..3 {
    ///     let req = test::TestRequest::get()
    ///         .uri("/")
    ///         .insert_header(("Authorization", "Basic YW5uQGV4YW1wbGUuY29tOmh1bnRlcjI="))
    ///         .to_request();
    ///     assert_eq!(test::call_service(&app, req).await.status(), 200);
    /// }
    /// # });
    /// ```
    #[must_use]
    pub fn verification_cache(mut self, capacity: usize, ttl: Duration) -> Self {
        self.cache = Some(VerifiedCache::new(capacity, ttl));
        self
    }
}

impl<P, V: fmt::Debug> fmt::Debug for BasicAuthenticator<P, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicAuthenticator")
            .field("challenge", &self.challenge)
            .field("verifier", &self.verifier)
            .field("max_len", &self.max_len)
            .field("cache", &self.cache)
            .field("throttled", &self.throttle.is_some())
            .finish_non_exhaustive()
    }
}

/// A decoded `username:password` pair (what the fuzz targets and tests check the decoder by).
#[cfg(any(test, feature = "fuzzing"))]
#[derive(PartialEq, Eq)]
pub(crate) struct BasicCredentials {
    pub(crate) username: String,
    pub(crate) password: String,
}

#[cfg(any(test, feature = "fuzzing"))]
impl fmt::Debug for BasicCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Decodes the credentials that follow `Basic `, into owned strings.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn decode(payload: &[u8]) -> Result<BasicCredentials, Rejection> {
    let decoded = Decoded::from_base64(payload)?;
    let (username, password) = split(decoded.as_bytes())?;
    Ok(BasicCredentials {
        username: username.to_owned(),
        password: password.to_owned(),
    })
}

/// Decoded payloads up to this many bytes stay on the stack (or in the request's future).
const INLINE_LEN: usize = 256;

/// A base64-decoded Basic payload: inline when short (every usual credential), else on the heap.
// The inline variant is the point: usual credentials decode without allocating.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Decoded {
    Inline([u8; INLINE_LEN], usize),
    Heap(Vec<u8>),
}

impl Decoded {
    /// Decodes strict base64 (an empty payload is malformed too).
    pub(crate) fn from_base64(payload: &[u8]) -> Result<Self, Rejection> {
        const NOT_BASE64: Rejection = Rejection::malformed("Basic credentials are not base64");
        if payload.is_empty() {
            return Err(Rejection::malformed("Basic without credentials"));
        }
        if base64::decoded_len_estimate(payload.len()) <= INLINE_LEN {
            let mut buf = [0u8; INLINE_LEN];
            let len = STANDARD.decode_slice(payload, &mut buf).map_err(|_| NOT_BASE64)?;
            Ok(Self::Inline(buf, len))
        } else {
            STANDARD.decode(payload).map(Self::Heap).map_err(|_| NOT_BASE64)
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Inline(buf, len) => &buf[..*len],
            Self::Heap(bytes) => bytes,
        }
    }
}

/// Splits decoded credentials at the first colon, after checking they are UTF-8 without
/// control characters.
pub(crate) fn split(bytes: &[u8]) -> Result<(&str, &str), Rejection> {
    let text = std::str::from_utf8(bytes).map_err(|_| Rejection::malformed("Basic credentials are not UTF-8"))?;
    if text.chars().any(char::is_control) {
        return Err(Rejection::malformed("control characters in Basic credentials"));
    }
    text.split_once(':')
        .ok_or(Rejection::malformed("Basic credentials without a colon"))
}

/// A hasher failure while checking Basic credentials: 503 when saturated, else 500.
fn hasher_error(err: PasswordError) -> AuthError {
    match err {
        PasswordError::Busy => AuthError::unavailable(PasswordError::Busy),
        err => AuthError::internal(err),
    }
}

#[cfg(feature = "two-factor")]
impl<P: UserProvider, V> BasicAuthenticator<P, V> {
    /// Whether `user` has a second factor, by the configured second factors or the app's
    /// [`Logins`](crate::login::Logins). An unknown user is looked up too (under an empty id),
    /// so that the work done does not tell whether the account exists.
    async fn has_second_factor(&self, req: &HttpRequest, user: Option<&P::User>) -> Result<bool, AuthError> {
        let from_app;
        let two_factor = match &self.second_factor {
            Some(two_factor) => two_factor,
            None => {
                from_app = crate::login::Logins::<P::User>::of(req).and_then(|logins| logins.two_factor().cloned());
                match &from_app {
                    Some(two_factor) => two_factor,
                    None => return Ok(false),
                }
            }
        };
        let id = user.map(|u| u.id().into_owned()).unwrap_or_default();
        Ok(two_factor.is_enabled(&id).await? && user.is_some())
    }
}

impl<P, V> Authenticator for BasicAuthenticator<P, V>
where
    P: UserProvider,
    V: PasswordVerifier,
{
    type User = P::User;

    async fn authenticate(&self, req: &HttpRequest) -> Result<Outcome<P::User>, AuthError> {
        let payload = match header::credentials(req, "Basic", self.max_len) {
            AuthHeader::Absent => return Ok(Outcome::NoCredentials),
            AuthHeader::Malformed(reason) => return Ok(Outcome::Rejected(Rejection::malformed(reason))),
            AuthHeader::Credentials(payload) => payload,
        };
        let decoded = match Decoded::from_base64(payload) {
            Ok(decoded) => decoded,
            Err(rejection) => return Ok(Outcome::Rejected(rejection)),
        };
        let (username, password) = match split(decoded.as_bytes()) {
            Ok(creds) => creds,
            Err(rejection) => return Ok(Outcome::Rejected(rejection)),
        };
        if username.is_empty() || password.is_empty() {
            return Ok(Outcome::Rejected(Rejection::invalid("empty username or password")));
        }
        let attempt = Attempt {
            username,
            addr: req.peer_addr().map(|a| a.ip()),
        };
        let admission = Admission::ask(self.throttle.as_ref(), attempt).await?;
        if admission.is_refused() {
            // Locked: answered like a wrong password, after the same work.
            spend_one_check(&self.verifier, password).await.map_err(hasher_error)?;
            return Ok(Outcome::Rejected(Rejection::invalid("wrong password")));
        }
        let user = self.provider.find_by_username(username).await?;
        #[cfg(feature = "two-factor")]
        if self.has_second_factor(req, user.as_ref()).await? {
            // A password alone is not enough: answered and counted like a wrong one, after the
            // same work, whether the password was right or not.
            spend_one_check(&self.verifier, password).await.map_err(hasher_error)?;
            admission.failed().await?;
            return Ok(Outcome::Rejected(Rejection::invalid("wrong password")));
        }
        let usable = user
            .as_ref()
            .filter(|u| u.is_active() && u.is_verified() && !u.hashed_password().is_empty());
        // Verified a moment ago with the hash the user has now: no need to hash again.
        let tag = match (&self.cache, usable) {
            (Some(cache), Some(u)) => {
                let tag = cache.tag(username, password, u.hashed_password());
                if cache.contains(&tag) {
                    // A success like any other: a shared throttle gives back the place
                    // `allow` took.
                    admission.succeeded().await?;
                    return Ok(super::accept(user, "unknown user"));
                }
                Some(tag)
            }
            _ => None,
        };
        let matched = check_password(&self.verifier, user.as_ref(), password)
            .await
            .map_err(hasher_error)?;
        if matched {
            admission.succeeded().await?;
        } else {
            admission.failed().await?;
        }
        if let (Some(cache), Some(tag), true) = (&self.cache, tag, matched) {
            cache.insert(tag);
        }
        Ok(match (usable.is_some(), matched) {
            (true, true) => super::accept(user, "unknown user"),
            (true, false) => Outcome::Rejected(Rejection::invalid("wrong password")),
            (false, _) => Outcome::Rejected(Rejection::invalid("unknown, inactive or passwordless user")),
        })
    }

    fn challenge(&self) -> Option<Challenge> {
        Some(self.challenge.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &[u8]) -> String {
        STANDARD.encode(s)
    }

    #[test]
    fn splits_at_the_first_colon() {
        let c = decode(b64(b"root@localhost:pa:ss:word").as_bytes()).unwrap();
        assert_eq!(c.username, "root@localhost");
        assert_eq!(c.password, "pa:ss:word");
    }

    #[test]
    fn keeps_empty_parts_for_the_caller() {
        let c = decode(b64(b"user:").as_bytes()).unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("user", ""));
        let c = decode(b64(b":pw").as_bytes()).unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("", "pw"));
    }

    #[test]
    fn unicode_is_fine() {
        let c = decode(b64("jürgen:pässwörd🔑".as_bytes()).as_bytes()).unwrap();
        assert_eq!(c.password, "pässwörd🔑");
    }

    #[test]
    fn malformed_payloads_are_rejected() {
        for bad in [
            "".to_string(),
            "abc".to_string(),                                   // bad padding
            "###".to_string(),                                   // not base64
            format!("{}!", b64(b"a:b")),                         // trailing junk
            b64(b"a:b").trim_end_matches('=').to_string() + "x", // not canonical
            b64(b"no-colon"),
            b64(b"\xff\xfe:x"), // not UTF-8
            b64(b"a\nb:c"),     // control character
            b64(b"a:b\x00"),
            "YTpi YTpi".to_string(), // space inside
        ] {
            let err = decode(bad.as_bytes()).expect_err(&bad);
            assert_eq!(err.kind(), super::super::RejectionKind::Malformed, "{bad}");
        }
    }

    mod cache {
        use std::{
            borrow::Cow,
            sync::{
                Arc,
                atomic::{AtomicUsize, Ordering},
            },
            time::Duration,
        };

        use actix_web::test::TestRequest;

        use super::*;
        use crate::{password::InsecurePlaintextVerifier, provider::InMemoryProvider};

        #[derive(Clone)]
        struct User {
            name: &'static str,
            hash: String,
            active: bool,
        }

        impl UserLike for User {
            fn id(&self) -> Cow<'_, str> {
                self.name.into()
            }
            fn username(&self) -> Option<Cow<'_, str>> {
                Some(self.name.into())
            }
            fn hashed_password(&self) -> &str {
                &self.hash
            }
            fn is_active(&self) -> bool {
                self.active
            }
        }

        fn ann(hash: &str, active: bool) -> User {
            User {
                name: "ann",
                hash: hash.to_owned(),
                active,
            }
        }

        #[derive(Clone, Debug, Default)]
        struct Counting(Arc<AtomicUsize>);

        impl PasswordVerifier for Counting {
            async fn verify(&self, password: &str, hash: &str) -> Result<bool, PasswordError> {
                self.0.fetch_add(1, Ordering::SeqCst);
                InsecurePlaintextVerifier.verify(password, hash).await
            }
            fn dummy_hash(&self) -> &str {
                "dummy"
            }
        }

        fn attempt<V: PasswordVerifier>(
            auth: &BasicAuthenticator<InMemoryProvider<User>, V>,
            credentials: &str,
        ) -> Outcome<User> {
            let req = TestRequest::default()
                .insert_header(("Authorization", format!("Basic {}", b64(credentials.as_bytes()))))
                .to_http_request();
            actix_rt::System::new()
                .block_on(auth.authenticate(&req))
                .expect("no provider or hasher failure")
        }

        fn setup(
            cached: bool,
        ) -> (
            InMemoryProvider<User>,
            BasicAuthenticator<InMemoryProvider<User>, Counting>,
            Counting,
        ) {
            let users = InMemoryProvider::new([ann("pw1", true)]);
            let counting = Counting::default();
            let mut auth = BasicAuthenticator::new(users.clone(), counting.clone());
            if cached {
                auth = auth.verification_cache(16, Duration::from_secs(60));
            }
            (users, auth, counting)
        }

        fn calls(c: &Counting) -> usize {
            c.0.load(Ordering::SeqCst)
        }

        #[test]
        fn a_hit_skips_the_hasher() {
            let (_, auth, counting) = setup(true);
            for _ in 0..3 {
                assert!(matches!(attempt(&auth, "ann:pw1"), Outcome::Authenticated(u) if u.name == "ann"));
            }
            assert_eq!(calls(&counting), 1);
        }

        #[test]
        fn without_the_cache_every_request_verifies() {
            let (_, auth, counting) = setup(false);
            for _ in 0..3 {
                assert!(matches!(attempt(&auth, "ann:pw1"), Outcome::Authenticated(_)));
            }
            assert_eq!(calls(&counting), 3);
        }

        #[test]
        fn a_wrong_password_is_never_cached() {
            let (_, auth, counting) = setup(true);
            for _ in 0..2 {
                assert!(matches!(attempt(&auth, "ann:wrong"), Outcome::Rejected(_)));
            }
            assert_eq!(calls(&counting), 2);
            // A cached right password does not let a wrong one in either.
            assert!(matches!(attempt(&auth, "ann:pw1"), Outcome::Authenticated(_)));
            assert!(matches!(attempt(&auth, "ann:wrong"), Outcome::Rejected(_)));
            assert!(matches!(attempt(&auth, "ann:pw1x"), Outcome::Rejected(_)));
            assert_eq!(calls(&counting), 5);
        }

        #[test]
        fn a_password_change_invalidates_the_entry() {
            let (users, auth, counting) = setup(true);
            assert!(matches!(attempt(&auth, "ann:pw1"), Outcome::Authenticated(_)));
            users.insert(ann("pw2", true));
            assert!(matches!(attempt(&auth, "ann:pw1"), Outcome::Rejected(_)));
            assert_eq!(calls(&counting), 2, "the old password went to the hasher again");
            assert!(matches!(attempt(&auth, "ann:pw2"), Outcome::Authenticated(_)));
            assert!(matches!(attempt(&auth, "ann:pw2"), Outcome::Authenticated(_)));
            assert_eq!(calls(&counting), 3);
        }

        #[test]
        fn disabled_or_deleted_users_are_refused_despite_the_entry() {
            let (users, auth, _) = setup(true);
            assert!(matches!(attempt(&auth, "ann:pw1"), Outcome::Authenticated(_)));
            users.insert(ann("pw1", false));
            assert!(matches!(attempt(&auth, "ann:pw1"), Outcome::Rejected(_)));
            users.remove("ann");
            assert!(matches!(attempt(&auth, "ann:pw1"), Outcome::Rejected(_)));
        }

        #[test]
        fn debug_shows_the_bounds_only() {
            let (_, auth, _) = setup(true);
            let dbg = format!("{auth:?}");
            assert!(dbg.contains("capacity: 16") && dbg.contains("ttl: 60s"), "{dbg}");
        }
    }

    #[test]
    fn long_payloads_decode_on_the_heap_alike() {
        let long = format!("{}:{}", "u".repeat(300), "p".repeat(300));
        let c = decode(b64(long.as_bytes()).as_bytes()).unwrap();
        assert_eq!((c.username.len(), c.password.len()), (300, 300));
        assert!(matches!(
            Decoded::from_base64(b64(long.as_bytes()).as_bytes()),
            Ok(Decoded::Heap(_))
        ));
        assert!(matches!(
            Decoded::from_base64(b64(b"a:b").as_bytes()),
            Ok(Decoded::Inline(..))
        ));
        let bad = format!("{}!", b64(long.as_bytes()));
        assert!(Decoded::from_base64(bad.as_bytes()).is_err());
    }

    #[test]
    fn debug_redacts_the_password() {
        let c = decode(b64(b"ann:hunter2").as_bytes()).unwrap();
        let dbg = format!("{c:?}");
        assert!(dbg.contains("ann") && !dbg.contains("hunter2"), "{dbg}");
    }
}
