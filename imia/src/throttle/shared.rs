//! What the shared throttles (Redis, Diesel) have in common: the keys they store counts under,
//! and their clock.

use std::{
    fmt,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use hmac::{Hmac, Mac as _};
use sha2::{Digest as _, Sha256};

use super::{Attempt, ThrottlePolicy};
use crate::{SecretKey, crypto::hex};

/// Makes the stored key of a username or an address: a keyed hash (HMAC-SHA256 under a key
/// derived from the app's [`SecretKey`]), never the username as typed (people type passwords
/// into that field) nor the address. Every server with the same secret makes the same keys.
#[derive(Clone)]
pub(crate) struct KeyMaker {
    mac: Hmac<Sha256>,
}

impl fmt::Debug for KeyMaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyMaker(<redacted>)")
    }
}

/// One limit that applies to an attempt: the stored key it is counted under, and the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Counter {
    /// 64 lower-case hex characters.
    pub(crate) key: String,
    pub(crate) max: usize,
    pub(crate) window: Duration,
    /// The username's counter: a success clears it (the address's only gives back a place).
    pub(crate) clears_on_success: bool,
    /// Attempts allowed in flight beyond the limit's remainder ([`ThrottlePolicy::burst`]).
    pub(crate) burst: usize,
}

impl KeyMaker {
    pub(crate) fn new(secret: &SecretKey) -> Self {
        let mut derive = Sha256::new();
        derive.update(b"imia.throttle.key");
        derive.update(secret.as_bytes());
        let key: [u8; 32] = derive.finalize().into();
        Self {
            mac: <Hmac<Sha256>>::new_from_slice(&key).expect("HMAC takes keys of any length"),
        }
    }

    fn key(&self, kind: &[u8], value: &[u8]) -> String {
        let mut mac = self.mac.clone();
        mac.update(kind);
        mac.update(b"\0");
        mac.update(value);
        hex(&mac.finalize().into_bytes())
    }

    /// The counters `policy` applies to `attempt`, in the order of their keys (so that stores
    /// which lock them, lock them in one order). Usernames are case-insensitive, as in
    /// [`InMemoryThrottle`](super::InMemoryThrottle).
    pub(crate) fn counters(&self, policy: &ThrottlePolicy, attempt: Attempt<'_>) -> Vec<Counter> {
        let mut counters = Vec::with_capacity(2);
        if let Some((max, window)) = policy.username_limit() {
            counters.push(Counter {
                key: self.key(b"username", attempt.username.to_lowercase().as_bytes()),
                max,
                window,
                clears_on_success: true,
                burst: policy.burst_allowance(),
            });
        }
        if let (Some((max, window)), Some(addr)) = (policy.address_limit(), attempt.addr) {
            counters.push(Counter {
                key: self.key(b"address", addr.to_string().as_bytes()),
                max,
                window,
                clears_on_success: false,
                burst: policy.burst_allowance(),
            });
        }
        counters.sort_by(|a, b| a.key.cmp(&b.key));
        counters
    }
}

/// Now, in Unix milliseconds (the shared throttles' clock: keep the servers' clocks in sync).
pub(crate) fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
}

/// A duration in whole milliseconds, at least 1 (a store's expiry of 0 would delete at once).
pub(crate) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    #[test]
    fn keys_are_keyed_hashes_of_the_lower_cased_username_and_of_the_address() {
        let secret = SecretKey::from_bytes(&[7; 32]).unwrap();
        let keys = KeyMaker::new(&secret);
        let policy = ThrottlePolicy::new()
            .per_username(3, Duration::from_secs(60))
            .per_address(5, Duration::from_secs(30));
        let addr = Some(IpAddr::from([10, 0, 0, 1]));
        let a = keys.counters(&policy, Attempt { username: "Ann", addr });
        let b = keys.counters(&policy, Attempt { username: "aNN", addr });
        assert_eq!(a, b, "usernames are case-insensitive");
        assert_eq!(a.len(), 2);
        assert!(a[0].key < a[1].key, "sorted by key");
        for counter in &a {
            assert_eq!(counter.key.len(), 64);
            assert!(!counter.key.contains("ann") && !counter.key.contains("10.0.0.1"));
        }
        let user = a.iter().find(|c| c.clears_on_success).unwrap();
        assert_eq!((user.max, user.window), (3, Duration::from_secs(60)));
        // Another secret, other keys; the same secret on another server, the same keys.
        let other = KeyMaker::new(&SecretKey::from_bytes(&[8; 32]).unwrap());
        assert_ne!(other.counters(&policy, Attempt { username: "ann", addr }), a);
        assert_eq!(
            KeyMaker::new(&secret).counters(&policy, Attempt { username: "ann", addr }),
            a
        );
        // A username that reads like an address is still another key.
        let spoof = keys.counters(
            &policy,
            Attempt {
                username: "10.0.0.1",
                addr: None,
            },
        );
        assert!(a.iter().all(|c| c.key != spoof[0].key));
        assert!(!format!("{keys:?}").contains(&secret.to_base64()));
    }

    #[test]
    fn only_configured_limits_apply() {
        let keys = KeyMaker::new(&SecretKey::from_bytes(&[7; 32]).unwrap());
        let addr = Some(IpAddr::from([10, 0, 0, 1]));
        assert!(
            keys.counters(&ThrottlePolicy::new(), Attempt { username: "a", addr })
                .is_empty()
        );
        let by_address = ThrottlePolicy::new().per_address(1, Duration::from_secs(1));
        assert!(
            keys.counters(
                &by_address,
                Attempt {
                    username: "a",
                    addr: None
                }
            )
            .is_empty()
        );
        assert_eq!(keys.counters(&by_address, Attempt { username: "a", addr }).len(), 1);
    }

    #[test]
    fn milliseconds_are_at_least_one() {
        assert_eq!(millis(Duration::ZERO), 1);
        assert_eq!(millis(Duration::from_micros(1_500)), 1);
        assert_eq!(millis(Duration::from_secs(2)), 2_000);
        assert_eq!(millis(Duration::MAX), i64::MAX);
        assert!(now_millis() > 1_600_000_000_000);
    }
}
