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

use std::{
    collections::{HashMap, VecDeque},
    fmt,
    future::Future,
    net::IpAddr,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use futures_util::future::LocalBoxFuture;

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
/// # Examples
///
/// ```
/// use std::{collections::HashMap, sync::Mutex};
/// use imia::throttle::{Attempt, LoginThrottle};
///
/// /// At most three failures per username, ever (a real one would expire them).
/// #[derive(Default)]
/// struct ThreeStrikes(Mutex<HashMap<String, u32>>);
///
/// impl LoginThrottle for ThreeStrikes {
///     async fn allow(&self, attempt: Attempt<'_>) -> bool {
///         self.0.lock().unwrap().get(attempt.username).is_none_or(|n| *n < 3)
///     }
///     async fn failed(&self, attempt: Attempt<'_>) {
///         *self.0.lock().unwrap().entry(attempt.username.to_owned()).or_default() += 1;
///     }
///     async fn succeeded(&self, attempt: Attempt<'_>) {
///         self.0.lock().unwrap().remove(attempt.username);
///     }
/// }
///
/// # actix_rt::System::new().block_on(async {
/// let throttle = ThreeStrikes::default();
/// let attempt = Attempt { username: "ann", addr: None };
/// for _ in 0..3 {
///     throttle.failed(attempt).await;
/// }
/// assert!(!throttle.allow(attempt).await);
/// # });
/// ```
pub trait LoginThrottle: Send + Sync + 'static {
    /// Whether this attempt may proceed.
    fn allow(&self, attempt: Attempt<'_>) -> impl Future<Output = bool>;
    /// Records a failed attempt.
    fn failed(&self, attempt: Attempt<'_>) -> impl Future<Output = ()>;
    /// Records a successful login (which may reset the counters).
    fn succeeded(&self, attempt: Attempt<'_>) -> impl Future<Output = ()>;
}

impl<T: LoginThrottle> LoginThrottle for Arc<T> {
    fn allow(&self, attempt: Attempt<'_>) -> impl Future<Output = bool> {
        (**self).allow(attempt)
    }
    fn failed(&self, attempt: Attempt<'_>) -> impl Future<Output = ()> {
        (**self).failed(attempt)
    }
    fn succeeded(&self, attempt: Attempt<'_>) -> impl Future<Output = ()> {
        (**self).succeeded(attempt)
    }
}

/// A [`LoginThrottle`] behind a box, as kept by the login manager and the Basic authenticator.
pub(crate) trait DynThrottle: Send + Sync {
    fn allow_dyn<'a>(&'a self, attempt: Attempt<'a>) -> LocalBoxFuture<'a, bool>;
    fn failed_dyn<'a>(&'a self, attempt: Attempt<'a>) -> LocalBoxFuture<'a, ()>;
    fn succeeded_dyn<'a>(&'a self, attempt: Attempt<'a>) -> LocalBoxFuture<'a, ()>;
}

impl<T: LoginThrottle> DynThrottle for T {
    fn allow_dyn<'a>(&'a self, attempt: Attempt<'a>) -> LocalBoxFuture<'a, bool> {
        Box::pin(self.allow(attempt))
    }
    fn failed_dyn<'a>(&'a self, attempt: Attempt<'a>) -> LocalBoxFuture<'a, ()> {
        Box::pin(self.failed(attempt))
    }
    fn succeeded_dyn<'a>(&'a self, attempt: Attempt<'a>) -> LocalBoxFuture<'a, ()> {
        Box::pin(self.succeeded(attempt))
    }
}

/// How many usernames and addresses an [`InMemoryThrottle`] tracks unless configured: 100,000.
pub const DEFAULT_THROTTLE_CAPACITY: usize = 100_000;

/// An in-memory [`LoginThrottle`]: at most `max` failures per username (case-insensitive)
/// and/or per client address within a sliding window. Per-process: behind several servers,
/// each keeps its own counts.
///
/// # Memory bound
///
/// It tracks at most [`capacity`](Self::capacity) usernames and addresses
/// ([`DEFAULT_THROTTLE_CAPACITY`] by default; each entry holds the key and up to `max`
/// timestamps). When a failure for a new key finds it full, entries whose failures have all
/// left their window are dropped first; if it is still full, the eighth of the entries whose
/// last failure is oldest is dropped, so that a flood of distinct usernames costs amortised
/// constant work per attempt. What that means: someone who can make `capacity` failed attempts
/// with distinct usernames faster than the window can reset the *oldest* counters early. Each
/// of those attempts costs them a full password hash, and a per-address limit
/// ([`per_address`](Self::per_address)) makes the flood come from many addresses; size the
/// capacity above the number of distinct usernames you expect to be attacked within a window.
///
/// ```
/// use std::time::Duration;
/// use imia::throttle::InMemoryThrottle;
///
/// // 10 failures per username in 5 minutes; addresses unlimited.
/// let throttle = InMemoryThrottle::new().per_username(10, Duration::from_secs(300));
/// # let _ = throttle;
/// ```
pub struct InMemoryThrottle {
    username: Option<(usize, Duration)>,
    address: Option<(usize, Duration)>,
    capacity: usize,
    failures: Mutex<HashMap<ThrottleKey, VecDeque<Instant>>>,
}

impl Default for InMemoryThrottle {
    fn default() -> Self {
        Self {
            username: None,
            address: None,
            capacity: DEFAULT_THROTTLE_CAPACITY,
            failures: Mutex::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ThrottleKey {
    Username(String),
    Address(IpAddr),
}

impl InMemoryThrottle {
    /// A throttle that limits nothing until configured.
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

    /// The most usernames and addresses tracked at once (at least 8). Default:
    /// [`DEFAULT_THROTTLE_CAPACITY`]. See [the memory bound](Self#memory-bound) for what happens
    /// when it is reached.
    #[must_use]
    pub fn capacity(mut self, entries: usize) -> Self {
        self.capacity = entries.max(8);
        self
    }

    /// How many usernames and addresses are tracked now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn keys(&self, attempt: Attempt<'_>) -> Vec<(ThrottleKey, usize, Duration)> {
        let mut keys = Vec::with_capacity(2);
        if let Some((max, window)) = self.username {
            keys.push((ThrottleKey::Username(attempt.username.to_lowercase()), max, window));
        }
        if let (Some((max, window)), Some(addr)) = (self.address, attempt.addr) {
            keys.push((ThrottleKey::Address(addr), max, window));
        }
        keys
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ThrottleKey, VecDeque<Instant>>> {
        self.failures.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The window of a key's kind.
    fn window(&self, key: &ThrottleKey) -> Duration {
        let limit = match key {
            ThrottleKey::Username(_) => self.username,
            ThrottleKey::Address(_) => self.address,
        };
        limit.map_or(Duration::ZERO, |(_, window)| window)
    }

    /// Makes room for one new key: expired entries first, then the oldest eighth.
    fn make_room(&self, map: &mut HashMap<ThrottleKey, VecDeque<Instant>>, now: Instant) {
        map.retain(|key, times| {
            let window = self.window(key);
            times.back().is_some_and(|t| now.duration_since(*t) < window)
        });
        if map.len() < self.capacity {
            return;
        }
        let mut last: Vec<Instant> = map.values().filter_map(|times| times.back().copied()).collect();
        let evict = (self.capacity / 8).max(1).min(last.len());
        let (_, cutoff, _) = last.select_nth_unstable(evict - 1);
        let cutoff = *cutoff;
        let mut dropped = 0;
        map.retain(|_, times| {
            let old = dropped < evict && times.back().is_none_or(|t| *t <= cutoff);
            dropped += usize::from(old);
            !old
        });
        tracing::warn!(
            capacity = self.capacity,
            dropped,
            "login throttle is full of recent failures; dropping the oldest counters"
        );
    }
}

impl fmt::Debug for InMemoryThrottle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryThrottle")
            .field("per_username", &self.username)
            .field("per_address", &self.address)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl LoginThrottle for InMemoryThrottle {
    async fn allow(&self, attempt: Attempt<'_>) -> bool {
        let now = Instant::now();
        let map = self.lock();
        self.keys(attempt).into_iter().all(|(key, max, window)| {
            map.get(&key)
                .is_none_or(|times| times.iter().filter(|t| now.duration_since(**t) < window).count() < max)
        })
    }

    async fn failed(&self, attempt: Attempt<'_>) {
        let now = Instant::now();
        let mut map = self.lock();
        for (key, max, window) in self.keys(attempt) {
            if map.len() >= self.capacity && !map.contains_key(&key) {
                self.make_room(&mut map, now);
            }
            let times = map.entry(key).or_default();
            times.retain(|t| now.duration_since(*t) < window);
            times.push_back(now);
            while times.len() > max.max(1) {
                times.pop_front();
            }
        }
    }

    async fn succeeded(&self, attempt: Attempt<'_>) {
        if self.username.is_some() {
            let key = ThrottleKey::Username(attempt.username.to_lowercase());
            let mut map = self.lock();
            map.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(username: &str) -> Attempt<'_> {
        Attempt { username, addr: None }
    }

    fn block<F: Future>(f: F) -> F::Output {
        actix_rt::System::new().block_on(f)
    }

    #[test]
    fn throttle_locks_after_max_failures_per_username() {
        block(async {
            let t = InMemoryThrottle::new().per_username(3, Duration::from_secs(60));
            for _ in 0..3 {
                assert!(t.allow(attempt("Ann")).await);
                t.failed(attempt("Ann")).await;
            }
            assert!(!t.allow(attempt("ann")).await, "usernames are case-insensitive");
            assert!(t.allow(attempt("bob")).await, "other usernames are unaffected");
        });
    }

    #[test]
    fn throttle_window_slides() {
        block(async {
            let t = InMemoryThrottle::new().per_username(1, Duration::from_millis(30));
            t.failed(attempt("ann")).await;
            assert!(!t.allow(attempt("ann")).await);
            std::thread::sleep(Duration::from_millis(40));
            assert!(t.allow(attempt("ann")).await);
        });
    }

    #[test]
    fn throttle_per_address() {
        block(async {
            let t = InMemoryThrottle::new().per_address(2, Duration::from_secs(60));
            let addr = Some(IpAddr::from([10, 0, 0, 1]));
            for name in ["a", "b"] {
                t.failed(Attempt { username: name, addr }).await;
            }
            assert!(!t.allow(Attempt { username: "c", addr }).await);
            let other = Some(IpAddr::from([10, 0, 0, 2]));
            assert!(
                t.allow(Attempt {
                    username: "c",
                    addr: other
                })
                .await
            );
            assert!(
                t.allow(Attempt {
                    username: "c",
                    addr: None
                })
                .await
            );
        });
    }

    #[test]
    fn a_shared_throttle_counts_every_holder() {
        block(async {
            let shared = Arc::new(InMemoryThrottle::new().per_username(2, Duration::from_secs(60)));
            let (form, basic) = (Arc::clone(&shared), Arc::clone(&shared));
            form.failed(attempt("ann")).await;
            basic.failed(attempt("ann")).await;
            assert!(!form.allow(attempt("ann")).await);
            assert!(!basic.allow(attempt("ann")).await);
        });
    }

    #[test]
    fn memory_is_bounded_and_the_newest_counters_survive() {
        block(async {
            let t = InMemoryThrottle::new()
                .per_username(3, Duration::from_secs(600))
                .capacity(1_000);
            // The victim's username is locked first...
            for _ in 0..3 {
                t.failed(attempt("victim")).await;
            }
            // ...then a flood of distinct usernames passes the capacity many times over.
            for i in 0..10_000 {
                t.failed(attempt(&format!("flood-{i}"))).await;
                assert!(t.len() <= 1_000, "{} entries after {i} usernames", t.len());
            }
            assert!(
                t.len() > 1_000 - 1_000 / 8 - 1,
                "evicting keeps most entries: {}",
                t.len()
            );
            // The most recent failures are still counted; the oldest were dropped.
            for _ in 0..2 {
                t.failed(attempt("flood-9999")).await;
            }
            assert!(!t.allow(attempt("flood-9999")).await);
            assert!(t.allow(attempt("flood-0")).await, "the oldest counters went first");
            assert!(
                t.allow(attempt("victim")).await,
                "documented: a flood resets the oldest locks"
            );
        });
    }

    #[test]
    fn expired_entries_go_before_live_ones() {
        block(async {
            let t = InMemoryThrottle::new()
                .per_username(1, Duration::from_millis(20))
                .per_address(1, Duration::from_secs(600))
                .capacity(8);
            for i in 0..7 {
                t.failed(attempt(&format!("old-{i}"))).await;
            }
            let addr = Some(IpAddr::from([10, 0, 0, 9]));
            t.failed(Attempt { username: "x", addr }).await;
            assert_eq!(t.len(), 8);
            std::thread::sleep(Duration::from_millis(30));
            t.failed(attempt("new")).await;
            // The expired usernames were dropped; the address, still in its window, stayed.
            assert!(!t.allow(Attempt { username: "y", addr }).await);
            assert!(!t.allow(attempt("new")).await);
            assert!(t.len() <= 3, "{}", t.len());
        });
    }
}
