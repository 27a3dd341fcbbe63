//! [`InMemoryThrottle`]: failure counts in process memory.

use std::{
    collections::{HashMap, VecDeque},
    fmt,
    net::IpAddr,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

use super::{Attempt, LoginThrottle, ThrottlePolicy};
use crate::error::ProviderError;

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
    policy: ThrottlePolicy,
    capacity: usize,
    failures: Mutex<HashMap<ThrottleKey, VecDeque<Instant>>>,
}

impl Default for InMemoryThrottle {
    fn default() -> Self {
        Self {
            policy: ThrottlePolicy::default(),
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

    /// A throttle applying `policy` (the same policy the shared throttles take).
    pub fn with_policy(policy: ThrottlePolicy) -> Self {
        Self {
            policy,
            ..Self::default()
        }
    }

    /// At most `max` failures per username within `window`
    /// ([`ThrottlePolicy::per_username`]).
    #[must_use]
    pub fn per_username(mut self, max: usize, window: Duration) -> Self {
        self.policy = self.policy.per_username(max, window);
        self
    }

    /// At most `max` failures per client address within `window`
    /// ([`ThrottlePolicy::per_address`]).
    #[must_use]
    pub fn per_address(mut self, max: usize, window: Duration) -> Self {
        self.policy = self.policy.per_address(max, window);
        self
    }

    /// The limits it applies.
    pub fn policy(&self) -> &ThrottlePolicy {
        &self.policy
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
        if let Some((max, window)) = self.policy.username_limit() {
            keys.push((ThrottleKey::Username(attempt.username.to_lowercase()), max, window));
        }
        if let (Some((max, window)), Some(addr)) = (self.policy.address_limit(), attempt.addr) {
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
            ThrottleKey::Username(_) => self.policy.username_limit(),
            ThrottleKey::Address(_) => self.policy.address_limit(),
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
            .field("per_username", &self.policy.username_limit())
            .field("per_address", &self.policy.address_limit())
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl LoginThrottle for InMemoryThrottle {
    async fn allow(&self, attempt: Attempt<'_>) -> Result<bool, ProviderError> {
        let now = Instant::now();
        let map = self.lock();
        Ok(self.keys(attempt).into_iter().all(|(key, max, window)| {
            map.get(&key)
                .is_none_or(|times| times.iter().filter(|t| now.duration_since(**t) < window).count() < max)
        }))
    }

    async fn failed(&self, attempt: Attempt<'_>) -> Result<(), ProviderError> {
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
        Ok(())
    }

    async fn succeeded(&self, attempt: Attempt<'_>) -> Result<(), ProviderError> {
        if self.policy.username_limit().is_some() {
            let key = ThrottleKey::Username(attempt.username.to_lowercase());
            let mut map = self.lock();
            map.remove(&key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::{future::Future, sync::Arc};

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
                assert!(t.allow(attempt("Ann")).await.unwrap());
                t.failed(attempt("Ann")).await.unwrap();
            }
            assert!(
                !t.allow(attempt("ann")).await.unwrap(),
                "usernames are case-insensitive"
            );
            assert!(t.allow(attempt("bob")).await.unwrap(), "other usernames are unaffected");
        });
    }

    #[test]
    fn throttle_window_slides() {
        block(async {
            let t = InMemoryThrottle::new().per_username(1, Duration::from_millis(30));
            t.failed(attempt("ann")).await.unwrap();
            assert!(!t.allow(attempt("ann")).await.unwrap());
            std::thread::sleep(Duration::from_millis(40));
            assert!(t.allow(attempt("ann")).await.unwrap());
        });
    }

    #[test]
    fn throttle_per_address() {
        block(async {
            let t = InMemoryThrottle::new().per_address(2, Duration::from_secs(60));
            let addr = Some(IpAddr::from([10, 0, 0, 1]));
            for name in ["a", "b"] {
                t.failed(Attempt { username: name, addr }).await.unwrap();
            }
            assert!(!t.allow(Attempt { username: "c", addr }).await.unwrap());
            let other = Some(IpAddr::from([10, 0, 0, 2]));
            assert!(
                t.allow(Attempt {
                    username: "c",
                    addr: other
                })
                .await
                .unwrap()
            );
            assert!(
                t.allow(Attempt {
                    username: "c",
                    addr: None
                })
                .await
                .unwrap()
            );
        });
    }

    #[test]
    fn a_shared_throttle_counts_every_holder() {
        block(async {
            let shared = Arc::new(InMemoryThrottle::new().per_username(2, Duration::from_secs(60)));
            let (form, basic) = (Arc::clone(&shared), Arc::clone(&shared));
            form.failed(attempt("ann")).await.unwrap();
            basic.failed(attempt("ann")).await.unwrap();
            assert!(!form.allow(attempt("ann")).await.unwrap());
            assert!(!basic.allow(attempt("ann")).await.unwrap());
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
                t.failed(attempt("victim")).await.unwrap();
            }
            // ...then a flood of distinct usernames passes the capacity many times over.
            for i in 0..10_000 {
                t.failed(attempt(&format!("flood-{i}"))).await.unwrap();
                assert!(t.len() <= 1_000, "{} entries after {i} usernames", t.len());
            }
            assert!(
                t.len() > 1_000 - 1_000 / 8 - 1,
                "evicting keeps most entries: {}",
                t.len()
            );
            // The most recent failures are still counted; the oldest were dropped.
            for _ in 0..2 {
                t.failed(attempt("flood-9999")).await.unwrap();
            }
            assert!(!t.allow(attempt("flood-9999")).await.unwrap());
            assert!(
                t.allow(attempt("flood-0")).await.unwrap(),
                "the oldest counters went first"
            );
            assert!(
                t.allow(attempt("victim")).await.unwrap(),
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
                t.failed(attempt(&format!("old-{i}"))).await.unwrap();
            }
            let addr = Some(IpAddr::from([10, 0, 0, 9]));
            t.failed(Attempt { username: "x", addr }).await.unwrap();
            assert_eq!(t.len(), 8);
            std::thread::sleep(Duration::from_millis(30));
            t.failed(attempt("new")).await.unwrap();
            // The expired usernames were dropped; the address, still in its window, stayed.
            assert!(!t.allow(Attempt { username: "y", addr }).await.unwrap());
            assert!(!t.allow(attempt("new")).await.unwrap());
            assert!(t.len() <= 3, "{}", t.len());
        });
    }
}
