//! Throttling password guesses: one throttle for every place a password is checked.
//!
//! A [`LoginThrottle`] counts failed password checks and refuses further ones for a while.
//! Give the *same* throttle (an [`Arc`] of it) to the
//! [`LoginManager`](crate::login::LoginManager) and to the
//! [`BasicAuthenticator`](crate::authenticator::BasicAuthenticator): a username locked by failed
//! form logins is then locked for HTTP Basic too, and failed Basic attempts count towards the
//! lockout of the form. Otherwise Basic would be a second, unthrottled way to guess passwords.
//!
//! A locked attempt fails exactly like a wrong password, and the password hasher still runs once
//! for it (against a dummy hash), so neither the answer nor its timing tells that the lock is
//! what refused it.
//!
//! [`InMemoryThrottle`] applies a [`ThrottlePolicy`]: at most `max` failed checks per username
//! (case-insensitive) and/or per client address within a sliding window; a success clears the
//! username's failures.
//!
//! # When the store fails
//!
//! Every method returns a `Result`. A throttle whose store cannot answer returns a
//! [`ProviderError`] ([`ProviderError::Unavailable`] when unreachable): the login then answers
//! 503 ([`LoginError::Provider`](crate::login::LoginError::Provider)), HTTP Basic 503 too,
//! whatever the password was. The lock is never silently opened, and a store failure never
//! looks like a wrong password.
//!
//! # Examples
//!
//! ```
//! use std::{sync::Arc, time::Duration};
//! use imia::{
//!     SecretKey, UserLike,
//!     authenticator::BasicAuthenticator,
//!     login::LoginManager,
//!     password::Argon2Hasher,
//!     provider::InMemoryProvider,
//!     throttle::InMemoryThrottle,
//! };
//!
//! #[derive(Clone, UserLike)]
//! struct User { id: u32, email: String, password_hash: String }
//!
//! let users = InMemoryProvider::new(Vec::<User>::new());
//! let hasher = Argon2Hasher::default();
//! // 10 failures per username within 5 minutes, by form or Basic in any mix.
//! let throttle = Arc::new(InMemoryThrottle::new().per_username(10, Duration::from_secs(300)));
//! let logins = LoginManager::builder(users.clone(), hasher.clone(), SecretKey::generate())
//!     .throttle(Arc::clone(&throttle))
//!     .build();
//! let basic = BasicAuthenticator::new(users, hasher).throttle(throttle);
//! # let _ = (logins, basic);
//! ```

use std::{future::Future, net::IpAddr, sync::Arc, time::Duration};

use futures_util::future::LocalBoxFuture;

use crate::error::ProviderError;

mod memory;

pub use self::memory::{DEFAULT_THROTTLE_CAPACITY, InMemoryThrottle};

/// Who is trying to log in, for throttling: what a [`LoginThrottle`] is asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt<'a> {
    /// The username as typed.
    pub username: &'a str,
    /// The client's address, when known.
    pub addr: Option<IpAddr>,
}

/// Limits password checks. A locked attempt fails exactly like a wrong password.
///
/// [`InMemoryThrottle`] counts in process memory; implement this trait over a shared store
/// (Redis, the database) when several servers must share the counts. `Arc<T>` is a throttle
/// too, so one throttle can serve the login form and HTTP Basic.
///
/// # Errors
///
/// Each method fails with a [`ProviderError`] when the throttle's store cannot answer. The
/// callers in imia answer the request with that error (503 for
/// [`ProviderError::Unavailable`], 500 otherwise) instead of checking the password: a throttle
/// that cannot count must not open the lock, and must not answer like a wrong password either.
///
/// # Examples
///
/// ```
/// use std::{collections::HashMap, sync::Mutex};
/// use imia::{error::ProviderError, throttle::{Attempt, LoginThrottle}};
///
/// /// At most three failures per username, ever (a real one would expire them).
/// #[derive(Default)]
/// struct ThreeStrikes(Mutex<HashMap<String, u32>>);
///
/// impl LoginThrottle for ThreeStrikes {
///     async fn allow(&self, attempt: Attempt<'_>) -> Result<bool, ProviderError> {
///         Ok(self.0.lock().unwrap().get(attempt.username).is_none_or(|n| *n < 3))
///     }
///     async fn failed(&self, attempt: Attempt<'_>) -> Result<(), ProviderError> {
///         *self.0.lock().unwrap().entry(attempt.username.to_owned()).or_default() += 1;
///         Ok(())
///     }
///     async fn succeeded(&self, attempt: Attempt<'_>) -> Result<(), ProviderError> {
///         self.0.lock().unwrap().remove(attempt.username);
///         Ok(())
///     }
/// }
///
/// # actix_rt::System::new().block_on(async {
/// let throttle = ThreeStrikes::default();
/// let attempt = Attempt { username: "ann", addr: None };
/// for _ in 0..3 {
///     throttle.failed(attempt).await.unwrap();
/// }
/// assert!(!throttle.allow(attempt).await.unwrap());
/// # });
/// ```
pub trait LoginThrottle: Send + Sync + 'static {
    /// Whether this attempt may proceed.
    fn allow(&self, attempt: Attempt<'_>) -> impl Future<Output = Result<bool, ProviderError>>;
    /// Records a failed attempt.
    fn failed(&self, attempt: Attempt<'_>) -> impl Future<Output = Result<(), ProviderError>>;
    /// Records a successful login (which may reset the counters).
    fn succeeded(&self, attempt: Attempt<'_>) -> impl Future<Output = Result<(), ProviderError>>;
}

impl<T: LoginThrottle> LoginThrottle for Arc<T> {
    fn allow(&self, attempt: Attempt<'_>) -> impl Future<Output = Result<bool, ProviderError>> {
        (**self).allow(attempt)
    }
    fn failed(&self, attempt: Attempt<'_>) -> impl Future<Output = Result<(), ProviderError>> {
        (**self).failed(attempt)
    }
    fn succeeded(&self, attempt: Attempt<'_>) -> impl Future<Output = Result<(), ProviderError>> {
        (**self).succeeded(attempt)
    }
}

/// A [`LoginThrottle`] behind a box, as kept by the login manager and the Basic authenticator.
pub(crate) trait DynThrottle: Send + Sync {
    fn allow_dyn<'a>(&'a self, attempt: Attempt<'a>) -> LocalBoxFuture<'a, Result<bool, ProviderError>>;
    fn failed_dyn<'a>(&'a self, attempt: Attempt<'a>) -> LocalBoxFuture<'a, Result<(), ProviderError>>;
    fn succeeded_dyn<'a>(&'a self, attempt: Attempt<'a>) -> LocalBoxFuture<'a, Result<(), ProviderError>>;
}

impl<T: LoginThrottle> DynThrottle for T {
    fn allow_dyn<'a>(&'a self, attempt: Attempt<'a>) -> LocalBoxFuture<'a, Result<bool, ProviderError>> {
        Box::pin(self.allow(attempt))
    }
    fn failed_dyn<'a>(&'a self, attempt: Attempt<'a>) -> LocalBoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(self.failed(attempt))
    }
    fn succeeded_dyn<'a>(&'a self, attempt: Attempt<'a>) -> LocalBoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(self.succeeded(attempt))
    }
}

/// The limits of a login throttle, taken by every throttle so that one configuration means the
/// same everywhere: at most `max` failures per username (case-insensitive) and/or per client
/// address within a sliding window. A policy without limits allows everything.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use imia::throttle::{InMemoryThrottle, ThrottlePolicy};
///
/// // 10 failures per username and 100 per address, each within 5 minutes.
/// let policy = ThrottlePolicy::new()
///     .per_username(10, Duration::from_secs(300))
///     .per_address(100, Duration::from_secs(300));
/// assert_eq!(policy.username_limit(), Some((10, Duration::from_secs(300))));
/// let throttle = InMemoryThrottle::with_policy(policy);
/// assert_eq!(throttle.policy(), &policy);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThrottlePolicy {
    username: Option<(usize, Duration)>,
    address: Option<(usize, Duration)>,
}

impl ThrottlePolicy {
    /// A policy that limits nothing until configured.
    pub fn new() -> Self {
        Self::default()
    }

    /// At most `max` failures per username within `window`.
    #[must_use]
    pub fn per_username(mut self, max: usize, window: Duration) -> Self {
        self.username = Some((max, window));
        self
    }

    /// At most `max` failures per client address within `window`.
    #[must_use]
    pub fn per_address(mut self, max: usize, window: Duration) -> Self {
        self.address = Some((max, window));
        self
    }

    /// The per-username limit: `(max, window)`.
    pub fn username_limit(&self) -> Option<(usize, Duration)> {
        self.username
    }

    /// The per-address limit: `(max, window)`.
    pub fn address_limit(&self) -> Option<(usize, Duration)> {
        self.address
    }
}
