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
//! # Which throttle
//!
//! | throttle | counts | feature |
//! |---|---|---|
//! | [`InMemoryThrottle`] | in this process: behind several servers each keeps its own counts | always |
//! | [`RedisThrottle`] | in Redis, shared by every server | `redis` |
//! | [`DieselThrottle`](crate::diesel::DieselThrottle) | in a database table (SQLite, PostgreSQL, MySQL/MariaDB), shared by every server | `diesel` and a backend |
//!
//! All three take the same [`ThrottlePolicy`] and apply it the same way:
//!
//! - **What counts**: a failed password check (wrong password, unknown or inactive user, no
//!   usable password). A refused (locked) attempt is not counted, so it does not extend the lock;
//!   neither is an attempt that ended in an error (the user store or the hasher failed).
//! - **The window slides**: an attempt is allowed while fewer than `max` failures happened in
//!   the last `window`. A lock therefore ends when the oldest of the last `max` failures is
//!   `window` old; one more failure then locks again until the next oldest is.
//! - **A success** clears the username's failures, never the address's.
//! - Usernames are compared case-insensitively.
//!
//! The shared throttles also count attempts *in flight*: [`allow`](LoginThrottle::allow) takes a
//! place in the limit at once (in one atomic step with the check), which the attempt's
//! [`failed`](LoginThrottle::failed) turns into a failure and its
//! [`succeeded`](LoginThrottle::succeeded) gives back. So any number of parallel attempts, on
//! any number of servers, gets at most `max` through a window. A place whose attempt never
//! reports back (the user store failed, the client went away) is given back after
//! [`in_flight`](ThrottlePolicy::in_flight) (30 seconds by default). [`InMemoryThrottle`]
//! counts failures only: attempts running at the same time can each pass its check before
//! the others have failed.
//!
//! # When the store fails
//!
//! Every method returns a `Result`. A shared throttle whose store cannot answer (unreachable,
//! slower than its timeout) returns [`ProviderError::Unavailable`]: the login then answers 503
//! ([`LoginError::Provider`](crate::login::LoginError::Provider)), HTTP Basic 503 too, whatever
//! the password was. The lock is never silently opened, and a store failure never looks like
//! a wrong password.
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
#[cfg(feature = "redis")]
pub(crate) mod redis;
#[cfg(any(feature = "redis", feature = "diesel"))]
pub(crate) mod shared;

pub use self::memory::{DEFAULT_THROTTLE_CAPACITY, InMemoryThrottle};
#[cfg(feature = "redis")]
pub use self::redis::RedisThrottle;

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
/// [`InMemoryThrottle`] counts in process memory; [`RedisThrottle`] and
/// [`DieselThrottle`](crate::diesel::DieselThrottle) count in a store that several servers
/// share. `Arc<T>` is a throttle too, so one throttle can serve the login form and HTTP Basic.
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
    /// An allowed attempt that ended without a verdict: its request was cancelled (the client
    /// went away) or failed on the way (a store error). Throttles that hold a place for attempts
    /// in flight give it back; the default does nothing.
    fn abandoned(&self, attempt: Attempt<'_>) -> impl Future<Output = Result<(), ProviderError>> {
        let _ = attempt;
        async { Ok(()) }
    }
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
    fn abandoned(&self, attempt: Attempt<'_>) -> impl Future<Output = Result<(), ProviderError>> {
        (**self).abandoned(attempt)
    }
}

/// A [`LoginThrottle`] behind a box, as kept by the login manager and the Basic authenticator.
pub(crate) trait DynThrottle: Send + Sync {
    fn allow_dyn<'a>(&'a self, attempt: Attempt<'a>) -> LocalBoxFuture<'a, Result<bool, ProviderError>>;
    fn failed_dyn<'a>(&'a self, attempt: Attempt<'a>) -> LocalBoxFuture<'a, Result<(), ProviderError>>;
    fn succeeded_dyn<'a>(&'a self, attempt: Attempt<'a>) -> LocalBoxFuture<'a, Result<(), ProviderError>>;
    fn abandoned_dyn<'a>(&'a self, attempt: Attempt<'a>) -> LocalBoxFuture<'a, Result<(), ProviderError>>;
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
    fn abandoned_dyn<'a>(&'a self, attempt: Attempt<'a>) -> LocalBoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(self.abandoned(attempt))
    }
}

/// What a throttle said of an attempt about to check a password.
pub(crate) enum Admission {
    /// No throttle: nothing to report.
    Unthrottled,
    /// Allowed: report the verdict through the reservation.
    Allowed(Reservation),
    /// Refused: the attempt must fail like a wrong password.
    Refused,
}

impl Admission {
    /// Asks `throttle`, if there is one, to allow `attempt`.
    pub(crate) async fn ask(
        throttle: Option<&Arc<dyn DynThrottle>>,
        attempt: Attempt<'_>,
    ) -> Result<Self, ProviderError> {
        let Some(throttle) = throttle else {
            return Ok(Self::Unthrottled);
        };
        Ok(if throttle.allow_dyn(attempt).await? {
            Self::Allowed(Reservation::new(throttle, attempt))
        } else {
            Self::Refused
        })
    }

    /// Whether the throttle refused the attempt.
    pub(crate) fn is_refused(&self) -> bool {
        matches!(self, Self::Refused)
    }

    /// Reports a failed password check.
    pub(crate) async fn failed(self) -> Result<(), ProviderError> {
        match self {
            Self::Allowed(reservation) => reservation.failed().await,
            Self::Unthrottled | Self::Refused => Ok(()),
        }
    }

    /// Reports a successful password check.
    pub(crate) async fn succeeded(self) -> Result<(), ProviderError> {
        match self {
            Self::Allowed(reservation) => reservation.succeeded().await,
            Self::Unthrottled | Self::Refused => Ok(()),
        }
    }

    /// Gives the place back without a verdict: a right password that is not a login yet (a
    /// second factor must follow), which neither counts as a failure nor resets the counters.
    #[cfg_attr(not(feature = "two-factor"), allow(dead_code))]
    pub(crate) async fn abandon(self) -> Result<(), ProviderError> {
        match self {
            Self::Allowed(reservation) => reservation.abandon().await,
            Self::Unthrottled | Self::Refused => Ok(()),
        }
    }
}

/// The place an allowed attempt holds in a throttle until it reports a verdict
/// ([`LoginThrottle::failed`] or [`LoginThrottle::succeeded`]). Dropped without one (the
/// request was cancelled, or failed on the way), it tells the throttle the attempt was
/// [abandoned](LoginThrottle::abandoned), in a task of its own, so that an attempt a client
/// walked away from does not keep its place until it lapses.
pub(crate) struct Reservation {
    throttle: Arc<dyn DynThrottle>,
    username: String,
    addr: Option<std::net::IpAddr>,
    armed: bool,
}

impl Reservation {
    /// The place `attempt` was just allowed in `throttle`.
    pub(crate) fn new(throttle: &Arc<dyn DynThrottle>, attempt: Attempt<'_>) -> Self {
        Self {
            throttle: Arc::clone(throttle),
            username: attempt.username.to_owned(),
            addr: attempt.addr,
            armed: true,
        }
    }

    fn attempt(&self) -> Attempt<'_> {
        Attempt {
            username: &self.username,
            addr: self.addr,
        }
    }

    /// Reports a failed password check.
    pub(crate) async fn failed(mut self) -> Result<(), ProviderError> {
        self.armed = false;
        self.throttle.failed_dyn(self.attempt()).await
    }

    /// Reports a successful password check.
    pub(crate) async fn succeeded(mut self) -> Result<(), ProviderError> {
        self.armed = false;
        self.throttle.succeeded_dyn(self.attempt()).await
    }

    /// Gives the place back without a verdict.
    #[cfg_attr(not(feature = "two-factor"), allow(dead_code))]
    pub(crate) async fn abandon(mut self) -> Result<(), ProviderError> {
        self.armed = false;
        self.throttle.abandoned_dyn(self.attempt()).await
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (throttle, username, addr) = (
            Arc::clone(&self.throttle),
            std::mem::take(&mut self.username),
            self.addr,
        );
        let release = async move {
            let attempt = Attempt {
                username: &username,
                addr,
            };
            if let Err(err) = throttle.abandoned_dyn(attempt).await {
                tracing::warn!(error.display = %err, "could not give an abandoned attempt's place back; it lapses");
            }
        };
        // Only on an actix (tokio local) runtime; elsewhere, or while it shuts down, the place
        // lapses by itself after the throttle's in-flight timeout.
        if actix_rt::System::try_current().is_some() {
            let spawned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| actix_rt::spawn(release)));
            if spawned.is_err() {
                tracing::debug!("no runtime to give an abandoned attempt's place back; it lapses");
            }
        }
    }
}

/// How long an attempt that a shared throttle allowed holds its place unless configured: 30
/// seconds.
pub const DEFAULT_IN_FLIGHT: Duration = Duration::from_secs(30);

/// The limits of a login throttle, the same for [`InMemoryThrottle`], [`RedisThrottle`] and
/// [`DieselThrottle`](crate::diesel::DieselThrottle): at most `max` failures per username
/// (case-insensitive) and/or per client address within a sliding window. See [the
/// module](self) for exactly what counts. A policy without limits allows everything.
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    username: Option<(usize, Duration)>,
    address: Option<(usize, Duration)>,
    in_flight: Duration,
    burst: usize,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            username: None,
            address: None,
            in_flight: DEFAULT_IN_FLIGHT,
            burst: 0,
        }
    }
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

    /// How long an attempt that a shared throttle allowed holds its place in the limits while
    /// it has neither failed nor succeeded (default [`DEFAULT_IN_FLIGHT`]). Longer than a
    /// login can take (the user store's timeout plus a password hash); an attempt that ends in
    /// an error gives its place back only then. [`InMemoryThrottle`] does not count attempts in
    /// flight.
    #[must_use]
    pub fn in_flight(mut self, timeout: Duration) -> Self {
        self.in_flight = timeout;
        self
    }

    /// How many attempts a shared throttle lets be in flight beyond what is left of a limit
    /// (default 0). With 0, at most `max` password checks of one username are failed or under
    /// way within a window, so `max + 1` simultaneous *correct* logins of one user (parallel tabs,
    /// a script) find the limit full. A burst of `n` lets `n` more attempts start while no
    /// limit has been reached, at the price of up to `max + n` guesses per window for an
    /// attacker who sends them all at once. A reached limit refuses every attempt, whatever the
    /// burst. [`InMemoryThrottle`] does not count attempts in flight.
    #[must_use]
    pub fn burst(mut self, n: usize) -> Self {
        self.burst = n;
        self
    }

    /// The burst allowance of attempts in flight (see [`burst`](Self::burst)).
    pub fn burst_allowance(&self) -> usize {
        self.burst
    }

    /// The per-username limit: `(max, window)`.
    pub fn username_limit(&self) -> Option<(usize, Duration)> {
        self.username
    }

    /// The per-address limit: `(max, window)`.
    pub fn address_limit(&self) -> Option<(usize, Duration)> {
        self.address
    }

    /// How long an allowed attempt holds its place in a shared throttle.
    pub fn in_flight_timeout(&self) -> Duration {
        self.in_flight
    }
}
